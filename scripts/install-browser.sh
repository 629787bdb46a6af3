#!/usr/bin/env bash
# Headless Chromium for the board's browser test: Debian's chromium package (Playwright, pinned in
# requirements.txt, drives /usr/bin/chromium; it never downloads a browser of its own).
# Installs only as root with apt-get; otherwise says how, and the browser test is skipped (not under CI).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CHROMIUM="${PRODOPS_CHROMIUM:-/usr/bin/chromium}"
if [[ -x "$CHROMIUM" ]]; then
    exit 0
fi
if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    say "installing Debian's chromium for the browser test (about a minute)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null ||
        die "apt-get install chromium failed: install it by hand (or set PRODOPS_CHROMIUM to a Chromium binary)"
else
    say "no Chromium at $CHROMIUM: the browser test will be skipped; install it with: sudo apt-get install chromium"
fi
