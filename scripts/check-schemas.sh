#!/usr/bin/env bash
# Fails (exit 1) when schemas/stable or schemas/experimental differ from what the pinned codex
# binary emits (`codex app-server generate-json-schema [--experimental]`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$("$ROOT/scripts/install-codex.sh")"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
"$BIN" app-server generate-json-schema --out "$TMP/stable" >/dev/null
"$BIN" app-server generate-json-schema --experimental --out "$TMP/experimental" >/dev/null
status=0
for flavour in stable experimental; do
  if ! diff -ru "$ROOT/schemas/$flavour" "$TMP/$flavour" >"$TMP/$flavour.diff"; then
    echo "check-schemas: schemas/$flavour differs from what $("$BIN" --version) emits:" >&2
    head -n 40 "$TMP/$flavour.diff" >&2
    status=1
  fi
done
if [ "$status" -ne 0 ]; then
  echo "check-schemas: regenerate with: \$BIN app-server generate-json-schema [--experimental] --out schemas/<flavour>" >&2
  exit 1
fi
echo "check-schemas: schemas/ match the pinned codex" >&2
