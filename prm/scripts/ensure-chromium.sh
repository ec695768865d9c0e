#!/usr/bin/env bash
# Browser tests drive Debian's Chromium through Playwright; install it (and a
# CJK font, so Chinese pages render as glyphs, not boxes) when missing.
set -euo pipefail
packages=()
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
command -v fc-list >/dev/null 2>&1 || packages+=(fontconfig)
if ! (command -v fc-list >/dev/null 2>&1 && fc-list :lang=zh | grep -q .); then
  packages+=(fonts-noto-cjk)
fi
[ ${#packages[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" != "0" ] && SUDO="sudo"
echo "Installing ${packages[*]} (Debian packages) for the browser tests…"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
