#!/usr/bin/env bash
# Re-captures the transcripts in this directory from the real, pinned codex app-server.
# Usage: capture.sh            (builds codex-mock-model unless MOCK_BIN points at one)
# Writes basic.jsonl (methods that need no model) and turns.jsonl (turns against the mock model).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../../.." && pwd)"
CODEX_BIN="$("$ROOT/scripts/install-codex.sh")"
if [ -z "${MOCK_BIN:-}" ]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target/h-proto}"
  cargo build -q -p codex-mock-model --manifest-path "$ROOT/Cargo.toml"
  MOCK_BIN="$CARGO_TARGET_DIR/debug/codex-mock-model"
fi
# CODEX_HOME must not live under /tmp (codex refuses its helper aliases there).
WORK="$ROOT/target/protocol-capture"
exec python3 "$HERE/capture.py" --codex "$CODEX_BIN" --mock "$MOCK_BIN" --work "$WORK" --out "$HERE"
