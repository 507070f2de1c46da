#!/usr/bin/env bash
# The end-to-end core suite against every codex of the supported window (docs/COMPATIBILITY.md).
# Builds the test binaries once, then runs them per version with CODEX_BIN pointing at that
# version (installed side by side by scripts/install-codex.sh VERSION). Also checks that the
# committed method tables (schemas/versions/) and docs/COMPATIBILITY.md match what each codex
# emits. scripts/test.sh calls this.
#
#   scripts/test-matrix.sh [VERSION...]     (default: the whole window, then npm's `latest`)
#
# With no VERSION given, the suite also runs against the npm registry's `latest` codex
# (`npm view @openai/codex dist-tags.latest`) when it is newer than the pin (the window's newest
# version): the SDK accepts such a codex as untested, and this is how a new release is caught
# before users hit it. A failure there names the version ("codex X (npm latest, untested)
# failed"). When the registry cannot be reached, the script says so and goes on.
# CODEX_MATRIX_LATEST=0 skips that step; `scripts/test-matrix.sh --latest-check` only prints
# what the registry says (and whether the step would run), then exits.
#
# The suite: quick_run; Session ask / ask_stream / interrupt / resume / fork, approvals and hooks
# (e2e_session); steer/revert/compact (e2e_session_lifecycle); the raw runtime and the AppServer
# example (e2e_runtime); attach over a Unix socket (e2e_attach); remote attach over ws://
# (e2e_remote); the method gate (versions); the codex-flow Code Mode step (code_mode_codex); and
# every top-level example (scripts/run-examples.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# The tested window, oldest first; its last entry is the pin (scripts/update-codex.sh moves it).
WINDOW=(0.150.0 0.160.0 0.163.0 0.166.0 0.169.0 0.171.0)
PIN="${WINDOW[${#WINDOW[@]}-1]}"
LATEST_CHECK_ONLY=0
if [ "${1:-}" = "--latest-check" ]; then
  LATEST_CHECK_ONLY=1
  shift
fi
VERSIONS=("$@")
CHECK_LATEST="${CODEX_MATRIX_LATEST:-1}"
if [ "${#VERSIONS[@]}" -eq 0 ]; then
  VERSIONS=("${WINDOW[@]}")
else
  CHECK_LATEST=0
fi

# True when version $1 is newer than version $2 (X.Y.Z, compared numerically).
newer_than() {
  [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -n 1)" = "$1" ]
}

# The npm registry's `latest` codex when it is newer than the pin (else nothing), saying why.
LATEST=""
if [ "$CHECK_LATEST" != 0 ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "test-matrix: npm is not installed: cannot check the registry's latest codex; going on with the window" >&2
  elif ! latest="$(timeout 60 npm view @openai/codex dist-tags.latest 2>/dev/null)" || [ -z "$latest" ]; then
    echo "test-matrix: the npm registry is unreachable (npm view @openai/codex dist-tags.latest failed): the latest codex is not checked; going on with the window" >&2
  elif ! [[ "$latest" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
    echo "test-matrix: the npm registry's latest codex is '$latest', not X.Y.Z: not checked; going on with the window" >&2
  elif newer_than "$latest" "$PIN"; then
    LATEST="$latest"
    echo "test-matrix: npm latest is codex $LATEST, newer than the pin $PIN: the suite runs against it too (untested)" >&2
  else
    echo "test-matrix: npm latest is codex $latest, not newer than the pin $PIN: no untested codex to run (skipped)" >&2
  fi
fi
if [ "$LATEST_CHECK_ONLY" = 1 ]; then
  exit 0
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

if [ -n "$LATEST" ]; then
  start=$SECONDS
  if ! bin="$(scripts/install-codex.sh "$LATEST")"; then
    echo "test-matrix: codex $LATEST (npm latest, untested) failed: it could not be installed" >&2
    exit 1
  fi
  echo "test-matrix: codex $LATEST (npm latest, untested) ($bin)" >&2
  if ! CODEX_BIN="$bin" cargo test "${SUITE[@]}" -- "${SKIP[@]}" \
      || ! CODEX_VERSION="$LATEST" scripts/run-examples.sh; then
    echo "test-matrix: codex $LATEST (npm latest, untested) failed; the window ${WINDOW[*]} passed" >&2
    exit 1
  fi
  echo "test-matrix: codex $LATEST (npm latest, untested) passed in $((SECONDS - start)) s" >&2
fi
