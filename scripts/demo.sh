#!/usr/bin/env bash
# The main job: one prompt through the SDK, end to end, on a fresh machine.
#
#   scripts/demo.sh ["your prompt"]
#
# With no OPENAI_API_KEY / CODEX_API_KEY it runs offline on the bundled mock model and says so;
# with a key it uses the real model. Installs the pinned codex itself.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CODEX_BIN="$(scripts/install-codex.sh)"
export CODEX_BIN
exec cargo run --quiet -p codex-runtime-cli --bin codex-runtime -- demo "$@"
