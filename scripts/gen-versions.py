#!/usr/bin/env python3
"""Per-version method tables and docs/COMPATIBILITY.md, from the schemas each codex emits.

Usage:
  scripts/gen-versions.py tables [VERSION...]   run each codex's `app-server generate-json-schema`
                                                 (stable and --experimental; the binary comes from
                                                 scripts/install-codex.sh VERSION) and write
                                                 schemas/versions/<VERSION>.json
  scripts/gen-versions.py docs                  write docs/COMPATIBILITY.md and the SDK's compiled
                                                 table (crates/codex-runtime/src/runtime/
                                                 method_table.rs) from schemas/versions/
  scripts/gen-versions.py check [VERSION...]    fail when the committed tables or the doc differ
                                                 from what the above would write

A table is compact (a few KB): the client methods (stable and experimental-only), server
notifications and server requests of that version, plus a fingerprint of a few notable shapes.
The SDK compiles the tables into one static array (crates/codex-runtime/src/runtime/
method_table.rs, written here: one row per method with a bit per version, so nothing is parsed
or allocated at run time) to refuse, before sending, a method the connected codex does not have. Python 3 stdlib only; deterministic.
"""

import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLES = os.path.join(ROOT, "schemas", "versions")
DOC = os.path.join(ROOT, "docs", "COMPATIBILITY.md")
RUST_TABLE = os.path.join(ROOT, "crates", "codex-runtime", "src", "runtime", "method_table.rs")
# The supported window, oldest first. Keep in sync with MIN/MAX_CODEX_VERSION in
# runtime/versions.rs (a unit test there checks that the compiled table holds every JSON table
# under schemas/versions/, and that its first and last versions are the window's ends).
WINDOW = ["0.150.0", "0.160.0", "0.163.0", "0.166.0", "0.169.0", "0.171.0"]

# Notable shapes: (label, definition, how to fingerprint it).
#   props: the sorted property names of an object; tags: the tag values of a tagged union;
#   enum: the values of a string enum; prop:NAME: whether the object has that property.
SHAPES = [
    ("initialize params", "InitializeParams", "props"),
    ("initialize result", "InitializeResponse", "props"),
    ("thread/start params", "ThreadStartParams", "props"),
    ("turn/start params", "TurnStartParams", "props"),
    ("ThreadItem types", "ThreadItem", "tags:type"),
    ("agentMessage moderation.display", "AgentMessageDisplay", "kind"),
    ("ThreadListParams.includedThreadIds", "ThreadListParams", "prop:includedThreadIds"),
    ("AccountUpdatedNotification.reason", "AccountUpdatedNotification", "prop:reason"),
    ("McpServerStatus.environmentId", "McpServerStatus", "prop:environmentId"),
    ("CodexErrorInfo values", "CodexErrorInfo", "enum"),
    ("command approval params", "CommandExecutionRequestApprovalParams", "props"),
]

# Methods named in the doc's table (the rest are counted, and listed in the tables).
NOTABLE = [
    "thread/start", "thread/resume", "thread/fork", "thread/revert", "thread/search",
    "thread/search/stream", "thread/realtime/list", "turn/start", "turn/steer", "turn/interrupt",
    "command/exec", "modelProvider/default/set", "modelProvider/list", "currentTime/read",
    "thread/search/partial", "item/commandExecution/requestApproval",
    "item/fileChange/requestApproval", "item/permissions/requestApproval",
]


def die(msg):
    print(f"gen-versions: {msg}", file=sys.stderr)
    sys.exit(1)


def codex_bin(version):
    out = subprocess.run([os.path.join(ROOT, "scripts", "install-codex.sh"), version],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    return out.strip().splitlines()[-1]


def methods(path):
    with open(path) as f:
        j = json.load(f)
    return sorted(o["properties"]["method"]["enum"][0] for o in j["oneOf"])


def definitions(bundle_path):
    with open(bundle_path) as f:
        top = json.load(f)["definitions"]
    defs = dict(top.pop("v2", {}))
    for k, v in top.items():
        defs.setdefault(k, v)
    return defs


def fingerprint(defs, name, how):
    d = defs.get(name)
    if d is None:
        return "absent"
    if how == "props":
        return ",".join(sorted(d.get("properties", {})))
    if how.startswith("prop:"):
        return "yes" if how[5:] in d.get("properties", {}) else "no"
    if how == "enum":
        vals = list(d.get("enum", []))
        for b in d.get("oneOf", []) + d.get("anyOf", []):
            vals += b.get("enum", [])
            vals += [k for k in b.get("properties", {}) if b.get("type") == "object"]
        return ",".join(sorted(set(vals)))
    if how.startswith("tags:"):
        tag = how[5:]
        vals = []
        for b in d.get("oneOf", []) + d.get("anyOf", []):
            vals += b.get("properties", {}).get(tag, {}).get("enum", [])
        return ",".join(sorted(vals))
    if how == "kind":
        for key in ("oneOf", "anyOf"):
            for tag in ("mode", "type", "kind"):
                vals = []
                for b in d.get(key, []):
                    vals += b.get("properties", {}).get(tag, {}).get("enum", [])
                if vals:
                    return f"union on {tag}: " + "/".join(vals)
        return "struct {" + " ".join(sorted(d.get("properties", {}))) + "}"
    die(f"unknown fingerprint {how}")


def table(version):
    binary = codex_bin(version)
    with tempfile.TemporaryDirectory() as tmp:
        for flavour, extra in (("stable", []), ("experimental", ["--experimental"])):
            subprocess.run([binary, "app-server", "generate-json-schema", *extra, "--out",
                            os.path.join(tmp, flavour)], check=True, stdout=subprocess.DEVNULL)
        s = lambda f: methods(os.path.join(tmp, "stable", f))
        e = lambda f: methods(os.path.join(tmp, "experimental", f))
        defs = definitions(os.path.join(tmp, "experimental", "codex_app_server_protocol.schemas.json"))
        out = {"version": version}
        for key, f in (("client_requests", "ClientRequest.json"),
                       ("notifications", "ServerNotification.json"),
                       ("server_requests", "ServerRequest.json")):
            stable = s(f)
            out[key] = {"stable": stable,
                        "experimental": sorted(set(e(f)) - set(stable))}
        out["shapes"] = {label: fingerprint(defs, name, how) for label, name, how in SHAPES}
    return json.dumps(out, indent=1, sort_keys=False) + "\n"


def load_tables():
    out = []
    for v in WINDOW:
        path = os.path.join(TABLES, f"{v}.json")
        if not os.path.exists(path):
            die(f"missing {path}: run scripts/gen-versions.py tables {v}")
        with open(path) as f:
            out.append(json.load(f))
    return out


def has(t, method):
    for key in ("client_requests", "notifications", "server_requests"):
        if method in t[key]["stable"]:
            return "yes"
        if method in t[key]["experimental"]:
            return "exp."
    return "-"


def shape_cell(prev, cur):
    """A shape cell: the full value first, then only what changed against the previous column."""
    if cur == prev:
        return "same"
    if prev is None or "," not in cur + prev or prev in ("absent", "no", "yes"):
        return "`" + cur.replace("|", "/") + "`" if len(cur) <= 70 else f"{len(cur.split(','))} entries"
    a, b = set(prev.split(",")), set(cur.split(","))
    diff = [f"+{x}" for x in sorted(b - a)] + [f"-{x}" for x in sorted(a - b)]
    return " ".join(f"`{d}`" for d in diff) or "reordered"


def docs():
    ts = load_tables()
    vs = [t["version"] for t in ts]
    lines = [
        "# Compatibility: codex versions × methods and shapes",
        "",
        "<!-- @generated by scripts/gen-versions.py docs from schemas/versions/*.json - do not edit -->",
        "",
        f"The SDK supports codex **{vs[0]} to {vs[-1]}** (pinned: {vs[-1]}), the tested window.",
        "",
        f"- **Older than {vs[0]}**: refused at `initialize` with `Error::UnsupportedVersion`, naming",
        "  the window, whatever the version policy.",
        f"- **Newer than {vs[-1]}** (a release the SDK was not tested with yet): accepted by default",
        "  (`VersionPolicy::AcceptNewer`), with a `tracing` warning. `Client::codex_version()` (also on",
        "  `Runtime` and `AppServer`) returns a `CodexVersionInfo` whose `is_untested()` is `true`, and",
        f"  methods are judged by the newest table ({vs[-1]}). `VersionPolicy::Strict`",
        "  (`ClientConfig::with_version_policy`, `RuntimeConfig::with_version_policy`) refuses it with",
        "  `Error::UnsupportedVersion` instead.",
        "",
        "A client method the connected codex does not have fails before sending with",
        "`Error::MethodUnavailable` (method and codex version; also when the method is",
        "experimental-only there and the experimental API is off). The tables under `schemas/versions/`",
        "come from each version's `codex app-server generate-json-schema [--experimental]`; every",
        "version below runs the end-to-end core suite in `scripts/test-matrix.sh`, which also runs it",
        "against the npm registry's `latest` codex whenever that is newer than the pin.",
        "",
        "Moving to a new release is one command, `scripts/update-codex.sh VERSION`: it installs the",
        "version, regenerates `schemas/`, the version tables, the generated protocol code and this",
        "page, moves the pin, runs the drift checks and prints what changed in the protocol",
        "(methods, types and fields added, removed or changed).",
        "",
        "`yes` = stable, `exp.` = only with `--experimental` / `experimentalApi`, `-` = absent.",
        "",
        "## Counts",
        "",
        "| | " + " | ".join(vs) + " |",
        "|---|" + "---|" * len(vs),
    ]
    for key, label in (("client_requests", "client methods"), ("notifications", "notifications"),
                       ("server_requests", "server requests")):
        lines.append(f"| {label} (stable / +exp.) | " + " | ".join(
            f"{len(t[key]['stable'])} / +{len(t[key]['experimental'])}" for t in ts) + " |")
    lines += ["", "## Notable methods", "", "| method | " + " | ".join(vs) + " |",
              "|---|" + "---|" * len(vs)]
    for m in NOTABLE:
        lines.append(f"| `{m}` | " + " | ".join(has(t, m) for t in ts) + " |")
    lines += ["", "## Methods that differ across the window", "",
              "| method | " + " | ".join(vs) + " |", "|---|" + "---|" * len(vs)]
    every = set()
    for t in ts:
        for key in ("client_requests", "notifications", "server_requests"):
            every |= set(t[key]["stable"]) | set(t[key]["experimental"])
    for m in sorted(every):
        row = [has(t, m) for t in ts]
        if len(set(row)) > 1:
            lines.append(f"| `{m}` | " + " | ".join(row) + " |")
    lines += ["", "## Shapes", "", "| shape | " + " | ".join(vs) + " |", "|---|" + "---|" * len(vs)]
    for label, _, _ in SHAPES:
        vals = [t["shapes"][label] for t in ts]
        cells, prev = [], None
        for v in vals:
            cells.append(shape_cell(prev, v))
            prev = v
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "`same` = unchanged from the previous column; `+x` / `-x` = entries added / removed against it.", ""]
    return "\n".join(lines)


def rust_table():
    """The SDK's compiled table: the tabled versions, then every method any table knows, sorted
    (Rust compares `str` bytewise, as Python's sort does on ASCII), with a stable and an
    experimental-only bit per version."""
    ts = load_tables()
    if len(ts) > 32:
        die("more than 32 tabled versions: widen the masks in method_table.rs")
    rows = {}
    for i, t in enumerate(ts):
        for key in ("client_requests", "notifications", "server_requests"):
            for flavour, slot in (("stable", 0), ("experimental", 1)):
                for m in t[key][flavour]:
                    if not m.isascii():
                        die(f"non-ASCII method {m!r} in {t['version']}")
                    rows.setdefault(m, [0, 0])[slot] |= 1 << i
    def ver(v):
        a, b, c = v.split(".")
        return f"({a}, {b}, {c})"
    lines = [
        "//! The per-version method tables, compiled in.",
        "//!",
        "//! @generated by `scripts/gen-versions.py docs` from `schemas/versions/*.json` - do not edit.",
        "//! `scripts/gen-versions.py check` (run by `scripts/test-matrix.sh`) and the unit tests in",
        "//! `versions.rs` fail when this file and the JSON tables differ.",
        "",
        "use super::versions::CodexVersion;",
        "",
        "/// The tabled versions, oldest first; bit `i` of a mask in [`METHODS`] is `VERSIONS[i]`.",
        f"pub(super) const VERSIONS: [CodexVersion; {len(ts)}] = [",
    ]
    lines += [f"    {ver(t['version'])}," for t in ts]
    lines += [
        "];",
        "",
        "/// Every method some table knows (client requests, notifications, server requests), sorted",
        "/// bytewise: `(method, stable in, experimental-only in)`, as version bit masks.",
        "#[rustfmt::skip] // generated: one row per line, whatever its length",
        "pub(super) const METHODS: &[(&str, u32, u32)] = &[",
    ]
    for m in sorted(rows):
        st, ex = rows[m]
        lines.append(f'    ("{m}", 0b{st:0{len(ts)}b}, 0b{ex:0{len(ts)}b}),')
    lines += ["];", ""]
    return "\n".join(lines)


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("tables", "docs", "check"):
        die(__doc__)
    cmd, versions = sys.argv[1], sys.argv[2:] or WINDOW
    os.makedirs(TABLES, exist_ok=True)
    if cmd == "tables":
        for v in versions:
            with open(os.path.join(TABLES, f"{v}.json"), "w") as f:
                f.write(table(v))
            print(f"gen-versions: wrote schemas/versions/{v}.json", file=sys.stderr)
    elif cmd == "docs":
        with open(DOC, "w") as f:
            f.write(docs())
        with open(RUST_TABLE, "w") as f:
            f.write(rust_table())
        print("gen-versions: wrote docs/COMPATIBILITY.md and "
              "crates/codex-runtime/src/runtime/method_table.rs", file=sys.stderr)
    else:
        bad = []
        for v in versions:
            with open(os.path.join(TABLES, f"{v}.json")) as f:
                if f.read() != table(v):
                    bad.append(f"schemas/versions/{v}.json")
        with open(DOC) as f:
            if f.read() != docs():
                bad.append("docs/COMPATIBILITY.md")
        with open(RUST_TABLE) as f:
            if f.read() != rust_table():
                bad.append("crates/codex-runtime/src/runtime/method_table.rs")
        if bad:
            die(f"out of date: {bad}; run scripts/gen-versions.py tables && scripts/gen-versions.py docs")
        print("gen-versions: version tables, docs/COMPATIBILITY.md and method_table.rs are up to date",
              file=sys.stderr)


if __name__ == "__main__":
    main()
