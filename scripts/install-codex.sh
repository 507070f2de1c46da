#!/usr/bin/env bash
# Installs a codex CLI from the npm registry into .tools/codex-<VERSION> (ignored by git) and
# prints the native binary's path on stdout. Skips the work when that version is already there.
# Progress goes to stderr so `BIN=$(scripts/install-codex.sh)` works.
#
#   scripts/install-codex.sh            the pinned @openai/codex@0.171.0 (or $CODEX_VERSION)
#   scripts/install-codex.sh 0.160.0    any other version, side by side (docs/COMPATIBILITY.md
#                                       lists the supported window)
set -euo pipefail
VERSION="${1:-${CODEX_VERSION:-0.171.0}}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${CODEX_INSTALL_DIR:-$ROOT/.tools/codex-$VERSION}"

native_bin() {
  local arch triple pkg
  arch="$(uname -m)"
  case "$arch" in
    x86_64|amd64) triple="x86_64-unknown-linux-musl"; pkg="codex-linux-x64" ;;
    aarch64|arm64) triple="aarch64-unknown-linux-musl"; pkg="codex-linux-arm64" ;;
    *) echo "install-codex: unsupported architecture $arch" >&2; exit 1 ;;
  esac
  # npm may nest the platform package under @openai/codex or hoist it; check both.
  for cand in \
    "$PREFIX/node_modules/@openai/$pkg/vendor/$triple/bin/codex" \
    "$PREFIX/node_modules/@openai/codex/node_modules/@openai/$pkg/vendor/$triple/bin/codex" \
    "$PREFIX/node_modules/@openai/codex/vendor/$triple/codex/codex"; do
    if [ -x "$cand" ]; then echo "$cand"; return 0; fi
  done
  return 1
}

installed_version() {
  local bin="$1"
  "$bin" --version 2>/dev/null | awk '{print $NF}'
}

if bin="$(native_bin)" && [ "$(installed_version "$bin")" = "$VERSION" ]; then
  echo "$bin"
  exit 0
fi

command -v npm >/dev/null 2>&1 || { echo "install-codex: npm is required (apt-get install nodejs npm)" >&2; exit 1; }
echo "install-codex: installing @openai/codex@$VERSION into $PREFIX" >&2
mkdir -p "$PREFIX"
npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error "@openai/codex@$VERSION" >&2

if ! bin="$(native_bin)"; then
  echo "install-codex: installed, but the native binary was not found under $PREFIX/node_modules" >&2
  exit 1
fi
got="$(installed_version "$bin")"
if [ "$got" != "$VERSION" ]; then
  echo "install-codex: expected codex $VERSION, found '$got' at $bin" >&2
  exit 1
fi
echo "$bin"
