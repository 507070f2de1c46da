#!/usr/bin/env python3
"""Drives the real `codex app-server` over stdio and records every message both ways.

Each output line is `{"dir": "send"|"recv", "msg": <the JSON-RPC message>}`; responses are matched
to their request by id in the tests. See capture.sh for how it is invoked.
"""

import argparse
import base64
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

TIMEOUT = 60.0


class AppServer:
    def __init__(self, codex, home, cwd, log):
        env = dict(os.environ, CODEX_HOME=home, OPENAI_API_KEY="x", RUST_LOG="warn")
        self.proc = subprocess.Popen(
            [codex, "app-server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(os.path.join(home, "stderr.log"), "w"), cwd=cwd, env=env,
            start_new_session=True)
        self.log = log
        self.lines = queue.Queue()
        self.next_id = 1
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            self.lines.put(raw)
        self.lines.put(None)

    def send(self, msg):
        self.log.append({"dir": "send", "msg": msg})
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()

    def recv(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no message from codex in time")
        raw = self.lines.get(timeout=remaining)
        if raw is None:
            raise EOFError("codex app-server exited")
        msg = json.loads(raw)
        self.log.append({"dir": "recv", "msg": msg})
        return msg

    def handle_server_request(self, msg):
        method = msg["method"]
        if method == "item/commandExecution/requestApproval":
            result = {"decision": "accept"}
        elif method == "item/fileChange/requestApproval":
            result = {"decision": "accept"}
        elif method == "item/tool/requestUserInput":
            qs = msg["params"].get("questions", [])
            result = {"answers": {q["id"]: {"answers": ["yes"]} for q in qs}}
        else:
            self.send({"id": msg["id"], "error": {"code": -32601, "message": "not handled"}})
            return
        self.send({"id": msg["id"], "result": result})

    def request(self, method, params):
        rid = self.next_id
        self.next_id += 1
        self.send({"id": rid, "method": method, "params": params})
        deadline = time.monotonic() + TIMEOUT
        while True:
            msg = self.recv(deadline)
            if "method" in msg and "id" in msg:
                self.handle_server_request(msg)
            elif msg.get("id") == rid:
                if "error" in msg:
                    print(f"capture: {method} -> error {msg['error']}", file=sys.stderr)
                return msg

    def wait_notification(self, method):
        deadline = time.monotonic() + TIMEOUT
        while True:
            msg = self.recv(deadline)
            if "method" in msg and "id" in msg:
                self.handle_server_request(msg)
            elif msg.get("method") == method:
                return msg

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except Exception:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def write(path, log):
    with open(path, "w") as f:
        for entry in log:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    print(f"capture: {len(log)} messages -> {path}", file=sys.stderr)


def initialize(srv):
    srv.request("initialize", {"clientInfo": {"name": "codex-runtime-capture", "version": "0.1.0"},
                               "capabilities": {"experimentalApi": True}})
    srv.send({"method": "initialized"})


def basic(codex, work, out):
    home = os.path.join(work, "home-basic")
    cwd = os.path.join(work, "cwd-basic")
    for d in (home, cwd):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    log = []
    srv = AppServer(codex, home, cwd, log)
    try:
        initialize(srv)
        srv.request("model/list", {})
        srv.request("config/read", {"includeLayers": True, "cwd": cwd})
        srv.request("configRequirements/read", {})
        srv.request("account/read", {})
        srv.request("experimentalFeature/list", {})
        srv.request("skills/list", {"cwds": [cwd]})
        srv.request("mcpServerStatus/list", {})
        srv.request("command/exec", {"command": ["echo", "hello"], "cwd": cwd,
                                     "sandboxPolicy": {"type": "dangerFullAccess"}})
        srv.request("command/exec", {"command": ["sh", "-c", "echo out; echo err >&2; exit 3"], "cwd": cwd,
                                     "sandboxPolicy": {"type": "dangerFullAccess"}})
        f = os.path.join(cwd, "a.txt")
        srv.request("fs/writeFile", {"path": f, "dataBase64": base64.b64encode(b"hi\n").decode()})
        srv.request("fs/readFile", {"path": f})
        srv.request("fs/getMetadata", {"path": f})
        srv.request("fs/createDirectory", {"path": os.path.join(cwd, "d", "e"), "recursive": True})
        srv.request("fs/copy", {"sourcePath": f, "destinationPath": os.path.join(cwd, "d", "b.txt")})
        srv.request("fs/readDirectory", {"path": cwd})
        srv.request("fs/remove", {"path": os.path.join(cwd, "d"), "recursive": True})
        started = srv.request("thread/start", {"cwd": cwd})
        tid = started["result"]["thread"]["id"]
        srv.request("thread/name/set", {"threadId": tid, "name": "capture"})
        srv.request("thread/read", {"threadId": tid})
        srv.request("thread/loaded/list", {})
        srv.request("thread/list", {})
        srv.request("thread/start", {"cwd": cwd, "ephemeral": True, "approvalPolicy": "never",
                                     "sandbox": "read-only"})
    finally:
        srv.close()
    write(os.path.join(out, "basic.jsonl"), log)


SCENARIO = [
    {"kind": "deltas", "deltas": ["Hel", "lo ", "world"]},
    {"kind": "reasoning", "summary": ["Thinking about it."], "text": "Thought."},
    {"kind": "shell", "cmd": "echo from-shell"},
    {"kind": "text", "text": "Ran it."},
    {"kind": "apply_patch", "patch": "*** Add File: new.txt\n+hello\n"},
    {"kind": "text", "text": "Patched."},
    {"kind": "shell", "cmd": "echo approved"},
    {"kind": "text", "text": "Approved run done."},
    {"kind": "stall", "prefix_deltas": ["wait"]},
]


def turns(codex, mock, work, out):
    home = os.path.join(work, "home-turns")
    cwd = os.path.join(work, "cwd-turns")
    for d in (home, cwd):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    scen = os.path.join(work, "scenario.json")
    with open(scen, "w") as f:
        json.dump({"replies": SCENARIO, "fallback": {"kind": "text", "text": "fallback"}}, f)
    mock_proc = subprocess.Popen([mock, "--scenario", scen, "--write-codex-home", home,
                                  "--approval-policy", "never", "--sandbox-mode", "danger-full-access"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    log = []
    srv = None
    try:
        url = mock_proc.stdout.readline().decode().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"codex-mock-model did not print its url: {url!r}")
        srv = AppServer(codex, home, cwd, log)
        initialize(srv)
        tid = srv.request("thread/start", {"cwd": cwd})["result"]["thread"]["id"]

        def turn(text, **extra):
            srv.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": text}], **extra})
            return srv.wait_notification("turn/completed")

        turn("say hello")
        turn("think")
        turn("run a command")
        turn("patch", approvalPolicy="untrusted",
             sandboxPolicy={"type": "workspaceWrite", "writableRoots": [cwd], "networkAccess": False})
        turn("run again", approvalPolicy="untrusted",
             sandboxPolicy={"type": "workspaceWrite", "writableRoots": [cwd], "networkAccess": False})
        # A stalled turn, interrupted.
        r = srv.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "stall"}]})
        turn_id = r["result"]["turn"]["id"]
        srv.wait_notification("item/agentMessage/delta")
        srv.request("turn/interrupt", {"threadId": tid, "turnId": turn_id})
        srv.wait_notification("turn/completed")
        srv.request("thread/read", {"threadId": tid, "includeTurns": True})
        srv.request("thread/turns/list", {"threadId": tid})
        srv.request("thread/fork", {"threadId": tid})
        srv.request("thread/archive", {"threadId": tid})
        srv.request("thread/unarchive", {"threadId": tid})
    finally:
        if srv is not None:
            srv.close()
        os.killpg(mock_proc.pid, signal.SIGTERM)
        mock_proc.wait()
    write(os.path.join(out, "turns.jsonl"), log)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--codex", required=True)
    ap.add_argument("--mock", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    basic(a.codex, a.work, a.out)
    turns(a.codex, a.mock, a.work, a.out)


if __name__ == "__main__":
    main()
