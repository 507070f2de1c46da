#!/usr/bin/env bash
# Every check, as CI runs it (.ci/run calls exactly this). Installs what it needs itself: the
# pinned codex (from the npm registry, into .tools/), the crates (from crates.io) and a
# PostgreSQL server for the store tests (scripts/ensure-postgres.sh).
#
#   scripts/test.sh
#
# Steps: pinned codex, schema and generated-code drift, rustfmt, clippy (-D warnings),
# codex-runtime built alone with each feature, rustdoc (-D warnings), every
# test and doctest of the workspace (the real codex + the bundled mock model), the protocol's
# experimental surface, and every example run offline.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n==> %s\n' "$*" >&2; }

step "installing the pinned codex (@openai/codex@0.171.0)"
CODEX_BIN="$(scripts/install-codex.sh)"
export CODEX_BIN
"$CODEX_BIN" --version >&2

step "PostgreSQL for the store tests (DATABASE_URL, else 127.0.0.1:5432, else a throwaway cluster)"
DATABASE_URL="$(scripts/ensure-postgres.sh)"
export DATABASE_URL
trap 'scripts/ensure-postgres.sh stop' EXIT

# Tests run offline against the bundled mock model: never send a real key anywhere.
unset OPENAI_API_KEY CODEX_API_KEY

step "headless Chromium for the browser test"
scripts/ensure-chromium.sh

step "schemas/ match the pinned codex"
scripts/check-schemas.sh

step "generated protocol code matches schemas/"
scripts/check-protocol.sh

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

# A workspace build unifies features, so a missing #[cfg] shows only when a crate is built alone.
step "codex-runtime alone: no features, then each feature by itself (what a user's build sees)"
for feature in "" attach remote cron persistence web artifact tools experimental; do
  echo "features: ${feature:-(none)}" >&2
  cargo check -p codex-runtime --no-default-features ${feature:+--features "$feature"}
done
cargo check -p codex-automation --no-default-features
for feature in "" sqlite http-client server cli tools; do
  echo "codex-flow features: ${feature:-(none)}" >&2
  cargo check -p codex-flow --no-default-features ${feature:+--features "$feature"}
done
# A program that only dispatches events pays for no server, HTTP client, database or CLI.
if cargo tree -p codex-flow -e normal --prefix none | grep -E '^(clap|axum|reqwest|tokio-postgres|postgres) '; then
  echo "codex-flow's default features pull in the crates above" >&2
  exit 1
fi
cargo check -p codex-runtime-protocol

step "cargo doc --workspace --no-deps with warnings denied"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --lib

step "cargo test --workspace (unit, integration, end-to-end on the real codex, doctests)"
cargo test --workspace

step "end-to-end core suite on every codex of the window (0.150.0 .. 0.171.0)"
scripts/test-matrix.sh

step "experimental protocol surface"
cargo test -p codex-runtime-protocol --features experimental

if [ -x scripts/run-examples.sh ]; then
  step "examples, offline"
  scripts/run-examples.sh
fi

step "all checks passed"
