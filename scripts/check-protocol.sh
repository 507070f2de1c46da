#!/usr/bin/env bash
# Fails (exit 1) when crates/codex-runtime-protocol/src/generated is not exactly what
# scripts/gen-protocol.py writes from the committed schemas/ (run the generator and commit).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
COMMITTED="$ROOT/crates/codex-runtime-protocol/src/generated"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
python3 "$ROOT/scripts/gen-protocol.py" --out "$TMP/generated"
if ! diff -ru "$COMMITTED" "$TMP/generated" >"$TMP/diff.txt"; then
  echo "check-protocol: the generated protocol code is out of date with schemas/ or the generator:" >&2
  head -n 60 "$TMP/diff.txt" >&2
  echo "check-protocol: run scripts/gen-protocol.py and commit crates/codex-runtime-protocol/src/generated" >&2
  exit 1
fi
echo "check-protocol: crates/codex-runtime-protocol/src/generated is up to date" >&2
