#!/usr/bin/env bash
# Makes sure headless Chromium and its WebDriver (Debian's `chromium` + `chromium-driver`) are
# installed for the browser test (tests/web_browser.rs). Idempotent: does nothing when both are
# on PATH; installs them with apt-get when missing and running as root; fails otherwise.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  echo "chromium: $(chromium --version 2>/dev/null | head -1), chromedriver present" >&2
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "chromium/chromedriver missing and not root: install Debian's chromium and chromium-driver" >&2
  exit 1
fi
echo "installing chromium and chromium-driver with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium chromium-driver >&2
command -v chromium >/dev/null && command -v chromedriver >/dev/null
