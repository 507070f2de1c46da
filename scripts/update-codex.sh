#!/usr/bin/env bash
# The weekly chore in one command: move the SDK to a new codex release.
#
#   scripts/update-codex.sh VERSION        e.g. scripts/update-codex.sh 0.172.0
#
# Steps, in order (stops at the first failure, saying which):
#   1. install @openai/codex@VERSION side by side (scripts/install-codex.sh VERSION);
#   2. regenerate schemas/stable and schemas/experimental from its
#      `app-server generate-json-schema [--experimental]` (the old ones are kept for step 7);
#   3. move the pin, when VERSION is newer than it: the default of scripts/install-codex.sh,
#      MAX_CODEX_VERSION in crates/codex-runtime/src/runtime/versions.rs, the window of
#      scripts/test-matrix.sh and scripts/gen-versions.py (VERSION is appended as its newest
#      column), and the pinned version named in README.md, docs/GUIDE.md, scripts/test.sh and
#      the crate docs (every phrase that must change is listed below; a missing one is an error);
#   4. write VERSION's method table (scripts/gen-versions.py tables VERSION), then
#      docs/COMPATIBILITY.md and the compiled method table (scripts/gen-versions.py docs);
#   5. regenerate the protocol crate (scripts/gen-protocol.py);
#   6. run the drift checks: scripts/check-schemas.sh, scripts/check-protocol.sh,
#      scripts/gen-versions.py check VERSION;
#   7. print what changed in the protocol between the old and the new schemas (methods, types
#      and fields added, removed or changed: scripts/protocol-diff.py), then the files changed.
#
# VERSION equal to the pin regenerates everything and moves nothing: on a clean tree it changes
# no file and reports "no protocol changes". A VERSION older than the pin is refused. Review
# and commit the result (and run scripts/test.sh) yourself.
set -euo pipefail
export LC_ALL=C
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { echo "update-codex: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$#" -eq 1 ] || die "usage: scripts/update-codex.sh VERSION (e.g. 0.172.0)"
VERSION="$1"
[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "VERSION must be X.Y.Z, got '$VERSION'"

# The pin is the default of install-codex.sh.
PIN="$(sed -n 's/^VERSION="\${1:-\${CODEX_VERSION:-\([0-9.]*\)}}"$/\1/p' scripts/install-codex.sh)"
[[ "$PIN" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "cannot read the pinned version from scripts/install-codex.sh"
newest="$(printf '%s\n%s\n' "$PIN" "$VERSION" | sort -V | tail -n 1)"
if [ "$VERSION" != "$PIN" ] && [ "$newest" = "$PIN" ]; then
  die "codex $VERSION is older than the pin $PIN: moving the pin back is not supported"
fi
say "pin: $PIN -> $VERSION"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# Every file this script may write, fingerprinted now and at the end to list what changed.
OUTPUTS=(schemas crates/codex-runtime-protocol/src/generated docs/COMPATIBILITY.md
         crates/codex-runtime/src/runtime/method_table.rs crates/codex-runtime/src/runtime/versions.rs
         scripts/install-codex.sh scripts/test-matrix.sh scripts/gen-versions.py scripts/test.sh
         README.md docs/GUIDE.md crates/codex-runtime/src/lib.rs crates/codex-runtime-protocol/src/lib.rs)
fingerprint() { find "${OUTPUTS[@]}" -type f -exec sha1sum {} + 2>/dev/null | sort -k 2; }
fingerprint >"$TMP/before"

say "1/7 installing codex $VERSION"
BIN="$(scripts/install-codex.sh "$VERSION")" || die "step 1 failed: codex $VERSION could not be installed"
"$BIN" --version >&2

say "2/7 regenerating schemas/ from codex $VERSION"
mkdir -p "$TMP/old"
cp -R schemas/stable schemas/experimental "$TMP/old/"
"$BIN" app-server generate-json-schema --out "$TMP/new-stable" >/dev/null \
  || die "step 2 failed: generate-json-schema"
"$BIN" app-server generate-json-schema --experimental --out "$TMP/new-experimental" >/dev/null \
  || die "step 2 failed: generate-json-schema --experimental"
rm -rf schemas/stable schemas/experimental
mv "$TMP/new-stable" schemas/stable
mv "$TMP/new-experimental" schemas/experimental

if [ "$VERSION" = "$PIN" ]; then
  say "3/7 codex $VERSION is the pin already: nothing to move"
else
  say "3/7 moving the pin to $VERSION"
  python3 - "$PIN" "$VERSION" <<'PY' || die "step 3 failed: the pin was not moved everywhere (see above)"
import re
import sys

old, new = sys.argv[1], sys.argv[2]
o = re.escape(old)
nt = "(" + ", ".join(new.split(".")) + ")"
# (file, pattern, replacement): every place the pin is written. Each must match.
EDITS = [
    ("scripts/install-codex.sh", r"CODEX_VERSION:-" + o + r"\}", "CODEX_VERSION:-" + new + "}"),
    ("scripts/install-codex.sh", r"@openai/codex@" + o, "@openai/codex@" + new),
    ("crates/codex-runtime/src/runtime/versions.rs",
     r"MAX_CODEX_VERSION: CodexVersion = \(\d+, \d+, \d+\);",
     "MAX_CODEX_VERSION: CodexVersion = " + nt + ";"),
    ("scripts/test-matrix.sh", r"(WINDOW=\([0-9. ]*)" + o + r"\)", r"\g<1>" + old + " " + new + ")"),
    ("scripts/gen-versions.py", r'(WINDOW = \[[0-9.", ]*)"' + o + r'"\]',
     r'\g<1>"' + old + '", "' + new + '"]'),
    ("scripts/test.sh", r"@openai/codex@" + o, "@openai/codex@" + new),
    ("scripts/test.sh", r"\.\. " + o + r"\)", ".. " + new + ")"),
    ("README.md", r"`codex` " + o, "`codex` " + new),
    ("README.md", r"to " + o + r"\*\* \(pinned: " + o + r"\)", "to " + new + "** (pinned: " + new + ")"),
    ("README.md", r"(\d+\.\d+\.\d+) and " + o, r"\1, " + old + " and " + new),
    ("README.md", r"JSON Schemas codex " + o, "JSON Schemas codex " + new),
    ("docs/GUIDE.md", r"pins codex " + o, "pins codex " + new),
    ("docs/GUIDE.md", r"to " + o + r"; the end-to-end", "to " + new + "; the end-to-end"),
    ("docs/GUIDE.md", r"(\d+\.\d+\.\d+) and " + o, r"\1, " + old + " and " + new),
    ("crates/codex-runtime/src/lib.rs", r"pinned to codex " + o + r" \(supports (\d+\.\d+\.\d+) to " + o,
     "pinned to codex " + new + r" (supports \1 to " + new),
    ("crates/codex-runtime-protocol/src/lib.rs", r"pinned " + o, "pinned " + new),
]
failed = False
texts = {}
for path, pattern, repl in EDITS:
    text = texts.get(path)
    if text is None:
        with open(path) as f:
            text = f.read()
    text, n = re.subn(pattern, repl, text, count=1)
    if n == 0:
        print(f"update-codex:   {path}: no match for /{pattern}/: edit it by hand", file=sys.stderr)
        failed = True
    texts[path] = text
if failed:
    sys.exit(1)
for path, text in texts.items():
    with open(path, "w") as f:
        f.write(text)
    print(f"update-codex:   {path}", file=sys.stderr)
PY
fi

say "4/7 method table of $VERSION, docs/COMPATIBILITY.md and the compiled table"
python3 scripts/gen-versions.py tables "$VERSION" || die "step 4 failed: gen-versions.py tables $VERSION"
python3 scripts/gen-versions.py docs || die "step 4 failed: gen-versions.py docs"

say "5/7 regenerating the protocol crate"
python3 scripts/gen-protocol.py || die "step 5 failed: gen-protocol.py"

say "6/7 drift checks"
scripts/check-schemas.sh || die "step 6 failed: check-schemas.sh"
scripts/check-protocol.sh || die "step 6 failed: check-protocol.sh"
python3 scripts/gen-versions.py check "$VERSION" || die "step 6 failed: gen-versions.py check $VERSION"

say "7/7 what changed in the protocol ($PIN -> $VERSION)"
python3 scripts/protocol-diff.py "$TMP/old" schemas || die "step 7 failed: protocol-diff.py"
fingerprint >"$TMP/after"
changed="$(join -1 2 -2 2 -a 1 -a 2 -e MISSING -o 0,1.1,2.1 "$TMP/before" "$TMP/after" \
  | awk '$2 != $3 {print "  " $1}')"
if [ -z "$changed" ]; then
  say "no file changed"
else
  say "files changed (review them, run scripts/test.sh, commit):"
  printf '%s\n' "$changed" >&2
fi
