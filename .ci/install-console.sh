#!/usr/bin/env bash
# System packages for the support console's browser test (.ci/test-console.sh): Debian's
# Chromium and its WebDriver server, chromedriver (idempotent; skipped when present).
set -euo pipefail
pkgs="chromium chromium-driver"
missing=""
for p in $pkgs; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "console test dependencies missing:$missing (install them as root with apt-get)" >&2
    exit 1
  fi
  echo "installing:$missing"
  apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
chromium --version
chromedriver --version
echo "console test dependencies present"
