#!/usr/bin/env bash
# Tools for the native-surface tests (.ci/test-ffi.sh) and scripts/dist.sh:
# Rust Windows targets, mingw-w64 (cross C compilers + binutils), cbindgen (header check),
# wine64 (runs the x64 Windows test program), valgrind, g++.
set -euo pipefail
rustup target add i686-pc-windows-gnu x86_64-pc-windows-gnu
pkgs=(gcc-mingw-w64-x86-64 gcc-mingw-w64-i686 binutils-mingw-w64-x86-64 binutils-mingw-w64-i686
      cbindgen wine wine64 valgrind g++ binutils pkg-config python3)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ ! -f /var/lib/okclink-apt-updated ]; then
    apt-get update -qq && touch /var/lib/okclink-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
