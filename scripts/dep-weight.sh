#!/usr/bin/env bash
# What `cargo add codex-runtime` costs a user: builds a new binary crate that depends only on
# this workspace's `codex-runtime` (default features) plus tokio, cold (its own empty target
# directory), and the same program on two published peers, in one run, one after the other:
#
#   - `codex-runtime` 0.6.2 from crates.io (a different project of the same name: codexus);
#   - `codex-app-server-sdk` 0.5.1 from crates.io.
#
# For each it prints the number of crates compiled (the `Compiling` lines of cargo) and the
# wall time of `cargo build` (debug, the default profile; the registry sources are fetched
# before the clock starts). Run on an otherwise idle machine: the times are wall-clock.
#
#   scripts/dep-weight.sh [--check]
#
# With --check it exits 1 when ours builds more than 70 crates or takes more than 1.5x the
# cold time of codex-runtime 0.6.2 (the targets of docs/PERFORMANCE.md, "Dependency weight").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHECK="${1:-}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

make_crate() { # name dependency-line
  local dir="$WORK/$1"
  mkdir -p "$dir/src"
  cat >"$dir/Cargo.toml" <<EOF
[package]
name = "weigh-$1"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
$2
tokio = { version = "1", features = ["macros", "rt-multi-thread"] }

[workspace]
EOF
  echo '#[tokio::main] async fn main() {}' >"$dir/src/main.rs"
}

weigh() { # name -> "crates seconds"
  local dir="$WORK/$1"
  (cd "$dir" && cargo fetch -q)
  local start end
  start=$(date +%s.%N)
  (cd "$dir" && CARGO_TARGET_DIR="$dir/target" cargo build --color never 2>"$dir/build.log")
  end=$(date +%s.%N)
  local crates
  crates=$(grep -c '^ *Compiling ' "$dir/build.log")
  printf '%s %.1f\n' "$crates" "$(echo "$end - $start" | bc)"
}

make_crate ours "codex-runtime = { path = \"$ROOT/crates/codex-runtime\" }"
make_crate codexus 'codex-runtime = "=0.6.2"'
make_crate appserversdk 'codex-app-server-sdk = "=0.5.1"'

read -r ours_n ours_s < <(weigh ours)
read -r cx_n cx_s < <(weigh codexus)
read -r as_n as_s < <(weigh appserversdk)

printf '%-32s %8s %10s\n' "crate (default features + tokio)" "crates" "cold build"
printf '%-32s %8s %9ss\n' "codex-runtime (this workspace)" "$ours_n" "$ours_s"
printf '%-32s %8s %9ss\n' "codex-runtime 0.6.2 (codexus)" "$cx_n" "$cx_s"
printf '%-32s %8s %9ss\n' "codex-app-server-sdk 0.5.1" "$as_n" "$as_s"
ratio=$(echo "scale=2; $ours_s / $cx_s" | bc)
echo "ours / codex-runtime 0.6.2: ${ratio}x (target <= 1.5x), $ours_n crates (target <= 70)"

if [ "$CHECK" = "--check" ]; then
  fail=0
  [ "$ours_n" -le 70 ] || { echo "dep-weight: $ours_n crates > 70" >&2; fail=1; }
  if [ "$(echo "$ratio > 1.5" | bc)" = 1 ]; then
    echo "dep-weight: cold build ${ratio}x > 1.5x" >&2
    fail=1
  fi
  exit "$fail"
fi
