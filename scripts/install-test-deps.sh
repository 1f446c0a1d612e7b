#!/usr/bin/env bash
# System packages the tests need: a real browser and its driver, CJK fonts for screenshots,
# and Debian's redis-server for the external-Redis path. Installs only what is missing.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
[ -x /usr/bin/redis-server ] || need+=(redis-server)
# (not `fc-list | grep -q`: grep exits at the first match, fc-list dies of SIGPIPE and
# pipefail turns that into a failure, so the fonts were "missing" on every run)
fc-list 2>/dev/null | grep -ci "Noto Sans CJK" >/dev/null || need+=(fonts-noto-cjk)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing: ${need[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi
