#!/usr/bin/env python3
"""Prints what changed in the app-server protocol between two schema trees.

Usage: scripts/protocol-diff.py OLD_SCHEMAS NEW_SCHEMAS

Each tree is what `codex app-server generate-json-schema [--experimental]` writes, as committed
under schemas/: `stable/` and `experimental/`, each with ClientRequest.json,
ServerNotification.json, ServerRequest.json, and `experimental/` with the bundle
codex_app_server_protocol.schemas.json. Printed, one line each, sorted:

  methods       client requests, server notifications and server requests added, removed, or
                moved between stable and experimental-only
  types         definitions of the bundle added or removed
  fields        properties added or removed, made required or optional, or whose schema
                changed; enum values and union variants added or removed

Prints "no protocol changes" when the two trees say the same. Exit status 0 either way (1 on
unreadable input). Used by scripts/update-codex.sh; tested by scripts/tests/test_protocol_diff.py.
Python 3 stdlib only; deterministic.
"""

import json
import os
import sys

KINDS = (
    ("client request", "ClientRequest.json"),
    ("notification", "ServerNotification.json"),
    ("server request", "ServerRequest.json"),
)
BUNDLE = "codex_app_server_protocol.schemas.json"


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        sys.exit(f"protocol-diff: cannot read {path}: {err}")


def methods(path):
    """The method names of a ClientRequest/ServerNotification/ServerRequest union."""
    j = load(path)
    if j is None:
        return set()
    out = set()
    for branch in j.get("oneOf", []):
        enum = branch.get("properties", {}).get("method", {}).get("enum", [])
        out.update(enum)
    return out


def surface(root):
    """{kind: {method: "stable" | "experimental"}} of one tree."""
    out = {}
    for kind, name in KINDS:
        stable = methods(os.path.join(root, "stable", name))
        experimental = methods(os.path.join(root, "experimental", name))
        table = {m: "experimental" for m in experimental}
        table.update({m: "stable" for m in stable})
        out[kind] = table
    return out


def definitions(root):
    """The bundle's definitions (the v2 ones win over the top-level ones of the same name)."""
    j = load(os.path.join(root, "experimental", BUNDLE))
    if j is None:
        return {}
    top = dict(j.get("definitions", {}))
    defs = dict(top.pop("v2", {}))
    for k, v in top.items():
        defs.setdefault(k, v)
    return defs


def canon(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def short(value, limit=100):
    """`canon(value)`, cut to `limit` characters (long schemas would flood the report)."""
    text = canon(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def variants(d):
    """Labels of a union's branches: a tag value, a $ref, a single-key object, or the shape."""
    out = set()
    for key in ("oneOf", "anyOf"):
        for b in d.get(key, []):
            props = b.get("properties", {})
            label = None
            for tag in ("type", "method", "mode", "kind"):
                enum = props.get(tag, {}).get("enum")
                if isinstance(enum, list) and len(enum) == 1:
                    label = f"{tag}={enum[0]}"
                    break
            if label is None and "$ref" in b:
                label = b["$ref"].rsplit("/", 1)[-1]
            if label is None and b.get("type") == "object" and len(props) == 1:
                label = next(iter(props))
            if label is None and "enum" in b:
                for v in b["enum"]:
                    out.add(f"value {v!r}")
                continue
            out.add(label or canon(b))
    return out


def compare_definition(name, old, new):
    lines = []
    op, np_ = old.get("properties", {}), new.get("properties", {})
    oreq, nreq = set(old.get("required", [])), set(new.get("required", []))
    for p in sorted(set(np_) - set(op)):
        lines.append(f"field added: {name}.{p}{' (required)' if p in nreq else ''}")
    for p in sorted(set(op) - set(np_)):
        lines.append(f"field removed: {name}.{p}")
    for p in sorted(set(op) & set(np_)):
        if canon(op[p]) != canon(np_[p]):
            lines.append(f"field changed: {name}.{p}: {short(op[p])} -> {short(np_[p])}")
        if p in nreq and p not in oreq:
            lines.append(f"field now required: {name}.{p}")
        if p in oreq and p not in nreq:
            lines.append(f"field now optional: {name}.{p}")
    oe, ne = old.get("enum", []), new.get("enum", [])
    for v in sorted(set(map(str, ne)) - set(map(str, oe))):
        lines.append(f"value added: {name}: {v!r}")
    for v in sorted(set(map(str, oe)) - set(map(str, ne))):
        lines.append(f"value removed: {name}: {v!r}")
    ov, nv = variants(old), variants(new)
    for v in sorted(nv - ov):
        lines.append(f"variant added: {name}: {v}")
    for v in sorted(ov - nv):
        lines.append(f"variant removed: {name}: {v}")
    if not lines and canon(old) != canon(new):
        lines.append(f"type changed: {name}")
    return lines


def diff(old_root, new_root):
    """The change lines, sorted within each section."""
    lines = []
    old_s, new_s = surface(old_root), surface(new_root)
    for kind, _ in KINDS:
        o, n = old_s[kind], new_s[kind]
        for m in sorted(set(n) - set(o)):
            lines.append(f"{kind} added: {m} ({n[m]})")
        for m in sorted(set(o) - set(n)):
            lines.append(f"{kind} removed: {m} (was {o[m]})")
        for m in sorted(set(o) & set(n)):
            if o[m] != n[m]:
                lines.append(f"{kind} now {n[m]}: {m} (was {o[m]})")
    old_d, new_d = definitions(old_root), definitions(new_root)
    for name in sorted(set(new_d) - set(old_d)):
        lines.append(f"type added: {name}")
    for name in sorted(set(old_d) - set(new_d)):
        lines.append(f"type removed: {name}")
    for name in sorted(set(old_d) & set(new_d)):
        lines += compare_definition(name, old_d[name], new_d[name])
    return lines


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    for root in argv[1:]:
        if not os.path.isdir(root):
            sys.exit(f"protocol-diff: {root} is not a directory")
    lines = diff(argv[1], argv[2])
    if not lines:
        print("protocol-diff: no protocol changes")
    else:
        print(f"protocol-diff: {len(lines)} protocol change(s):")
        for line in lines:
            print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
