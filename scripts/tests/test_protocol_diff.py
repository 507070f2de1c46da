#!/usr/bin/env python3
"""Unit tests of scripts/protocol-diff.py on two small schema trees written per test.

Run: python3 -m unittest discover -s scripts/tests   (tests/update_codex.rs runs it)
"""

import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(os.path.dirname(HERE), "protocol-diff.py")
spec = importlib.util.spec_from_file_location("protocol_diff", SCRIPT)
protocol_diff = importlib.util.module_from_spec(spec)
spec.loader.exec_module(protocol_diff)


def union(methods):
    return {"oneOf": [{"type": "object",
                       "properties": {"method": {"type": "string", "enum": [m]}}}
                      for m in methods]}


def write_tree(root, stable, experimental, notifications, server_requests, definitions):
    for flavour, client in (("stable", stable), ("experimental", stable + experimental)):
        d = os.path.join(root, flavour)
        os.makedirs(d)
        for name, methods in (("ClientRequest.json", client),
                              ("ServerNotification.json", notifications),
                              ("ServerRequest.json", server_requests)):
            with open(os.path.join(d, name), "w") as f:
                json.dump(union(methods), f)
    bundle = {"definitions": {"InitializeParams": {"type": "object"}, "v2": definitions}}
    with open(os.path.join(root, "experimental", protocol_diff.BUNDLE), "w") as f:
        json.dump(bundle, f)


OLD_DEFS = {
    "ThreadStartParams": {"type": "object", "required": ["cwd"],
                          "properties": {"cwd": {"type": "string"},
                                         "model": {"type": ["string", "null"]},
                                         "legacy": {"type": "boolean"}}},
    "Sandbox": {"type": "string", "enum": ["read-only", "workspace-write"]},
    "Display": {"oneOf": [{"type": "object", "properties": {"mode": {"enum": ["show"]}}},
                          {"type": "object", "properties": {"mode": {"enum": ["hide"]}}}]},
    "Gone": {"type": "object"},
}
NEW_DEFS = {
    "ThreadStartParams": {"type": "object", "required": ["cwd", "model"],
                          "properties": {"cwd": {"type": "string"},
                                         "model": {"type": "string"},
                                         "effort": {"type": "string"}}},
    "Sandbox": {"type": "string", "enum": ["read-only", "workspace-write", "isolated"]},
    "Display": {"oneOf": [{"type": "object", "properties": {"mode": {"enum": ["show"]}}},
                          {"type": "object", "properties": {"mode": {"enum": ["block"]}}}]},
    "Fresh": {"type": "object"},
}


class ProtocolDiff(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.old = os.path.join(self.tmp.name, "old")
        self.new = os.path.join(self.tmp.name, "new")
        write_tree(self.old, ["thread/start", "currentTime/read", "thread/revert"],
                   ["thread/search"], ["turn/started"], ["item/tool/call"], OLD_DEFS)
        write_tree(self.new, ["thread/start", "thread/revert", "thread/search"],
                   ["modelProvider/list"], ["turn/started", "turn/moderationMetadata"], [],
                   NEW_DEFS)

    def tearDown(self):
        self.tmp.cleanup()

    def test_every_kind_of_change_is_named(self):
        lines = protocol_diff.diff(self.old, self.new)
        expected = [
            "client request added: modelProvider/list (experimental)",
            "client request removed: currentTime/read (was stable)",
            "client request now stable: thread/search (was experimental)",
            "notification added: turn/moderationMetadata (stable)",
            "server request removed: item/tool/call (was stable)",
            "type added: Fresh",
            "type removed: Gone",
            "variant added: Display: mode=block",
            "variant removed: Display: mode=hide",
            "value added: Sandbox: 'isolated'",
            "field added: ThreadStartParams.effort",
            "field removed: ThreadStartParams.legacy",
            'field changed: ThreadStartParams.model: {"type":["string","null"]} -> {"type":"string"}',
            "field now required: ThreadStartParams.model",
        ]
        self.assertEqual(lines, expected)

    def test_the_reverse_diff_names_the_opposite_changes(self):
        lines = protocol_diff.diff(self.new, self.old)
        self.assertIn("client request added: currentTime/read (stable)", lines)
        self.assertIn("field now optional: ThreadStartParams.model", lines)
        self.assertIn("value removed: Sandbox: 'isolated'", lines)

    def test_identical_trees_print_no_protocol_changes(self):
        self.assertEqual(protocol_diff.diff(self.old, self.old), [])
        out = subprocess.run([sys.executable, SCRIPT, self.old, self.old], check=True,
                             stdout=subprocess.PIPE, text=True).stdout
        self.assertEqual(out.strip(), "protocol-diff: no protocol changes")

    def test_the_command_prints_a_count_and_one_line_per_change(self):
        out = subprocess.run([sys.executable, SCRIPT, self.old, self.new], check=True,
                             stdout=subprocess.PIPE, text=True).stdout.splitlines()
        self.assertEqual(out[0], "protocol-diff: 14 protocol change(s):")
        self.assertIn("  type removed: Gone", out)

    def test_a_missing_directory_is_an_error_naming_it(self):
        missing = os.path.join(self.tmp.name, "nope")
        run = subprocess.run([sys.executable, SCRIPT, self.old, missing],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertNotEqual(run.returncode, 0)
        self.assertIn(missing, run.stderr)


if __name__ == "__main__":
    unittest.main()
