#!/usr/bin/env bash
# Builds and runs every top-level example offline (API keys unset, so each one uses the bundled
# mock model) against the pinned codex. Stops at the first example that fails.
#
#   scripts/run-examples.sh            # all examples
#   scripts/run-examples.sh session    # only these
#
# Honours CARGO_TARGET_DIR. Each example gets at most EXAMPLE_TIMEOUT seconds (default 60).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

unset OPENAI_API_KEY CODEX_API_KEY
CODEX_BIN="$("$ROOT/scripts/install-codex.sh")"
export CODEX_BIN
TIMEOUT="${EXAMPLE_TIMEOUT:-60}"

if [ "$#" -gt 0 ]; then
  examples=("$@")
else
  examples=()
  for f in examples/*.rs; do
    examples+=("$(basename "$f" .rs)")
  done
fi

cargo build --quiet -p codex-runtime-suite --examples
BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/debug/examples"

for name in "${examples[@]}"; do
  echo "=== example: $name" >&2
  start=$(date +%s)
  if ! timeout --kill-after=5 "$TIMEOUT" "$BIN_DIR/$name"; then
    echo "=== example $name FAILED" >&2
    exit 1
  fi
  echo "=== example $name ok ($(( $(date +%s) - start ))s)" >&2
done
echo "all ${#examples[@]} examples ran offline" >&2
