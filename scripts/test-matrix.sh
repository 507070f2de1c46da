#!/usr/bin/env bash
# The end-to-end core suite against every codex of the supported window (docs/COMPATIBILITY.md).
# Builds the test binaries once, then runs them per version with CODEX_BIN pointing at that
# version (installed side by side by scripts/install-codex.sh VERSION). Also checks that the
# committed method tables (schemas/versions/) and docs/COMPATIBILITY.md match what each codex
# emits. scripts/test.sh calls this.
#
#   scripts/test-matrix.sh [VERSION...]     (default: the whole window)
#
# The suite: quick_run; Session ask / ask_stream / interrupt / resume / fork, approvals and hooks
# (e2e_session); steer/revert/compact (e2e_session_lifecycle); the raw runtime and the AppServer
# example (e2e_runtime); attach over a Unix socket (e2e_attach); remote attach over ws://
# (e2e_remote); the method gate (versions); the codex-flow Code Mode step (code_mode_codex); and
# every top-level example (scripts/run-examples.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VERSIONS=("$@")
if [ "${#VERSIONS[@]}" -eq 0 ]; then
  VERSIONS=(0.150.0 0.160.0 0.163.0 0.166.0 0.169.0 0.171.0)
fi
# One cargo invocation over the workspace: the same feature unification as `cargo test
# --workspace` in scripts/test.sh, so nothing is rebuilt for the matrix.
SUITE=(--workspace --test quick_run --test e2e_session --test e2e_session_lifecycle
       --test e2e_runtime --test e2e_attach --test e2e_remote --test versions
       --test code_mode_codex --test tools_e2e --test tools_errors --test tools_isolation)
# The 2,000-request flood measures the SDK, not codex compatibility: it runs once, in the main
# `cargo test --workspace`.
SKIP=(--skip two_thousand_concurrent_requests)

echo "test-matrix: method tables and docs/COMPATIBILITY.md match each codex" >&2
python3 scripts/gen-versions.py check "${VERSIONS[@]}"

echo "test-matrix: building the suite once" >&2
cargo test "${SUITE[@]}" --no-run

for v in "${VERSIONS[@]}"; do
  bin="$(scripts/install-codex.sh "$v")"
  start=$SECONDS
  echo "test-matrix: codex $v ($bin)" >&2
  CODEX_BIN="$bin" cargo test "${SUITE[@]}" -- "${SKIP[@]}"
  # The README's examples, unchanged, offline on the mock model.
  CODEX_VERSION="$v" scripts/run-examples.sh
  echo "test-matrix: codex $v passed in $((SECONDS - start)) s" >&2
done
echo "test-matrix: all of ${VERSIONS[*]} passed" >&2
