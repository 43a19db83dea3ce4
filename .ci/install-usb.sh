#!/usr/bin/env bash
# System packages for the USB transport and its umockdev tests (idempotent).
# libusb-1.0-0-dev + pkg-config: rusb links the system libusb-1.0 dynamically.
# umockdev + gir1.2-umockdev-1.0 + python3-gi: tests/umockdev/fixture.py (emulated phones).
set -euo pipefail
pkgs="libusb-1.0-0-dev pkg-config umockdev gir1.2-umockdev-1.0 python3-gi"
missing=""
for p in $pkgs; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
/usr/bin/python3 -c 'import gi; gi.require_version("UMockdev", "1.0"); from gi.repository import UMockdev' 
echo "usb test dependencies present"
