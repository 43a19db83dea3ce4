#!/usr/bin/env bash
# Link IntegrationHubCpp.dll (the vendor-compatible Windows DLL) from libokclink.a built with
# `--features vendor-abi` for a *-pc-windows-gnu target.
# usage: scripts/link-vendor-windows.sh <i686|x86_64> path/to/libokclink.a out/IntegrationHubCpp.dll "native libs"
#
# src/ffi/vendor_win.def exports exactly the vendor's nine undecorated names (on i686 the
# cdecl symbols are `_name` in the archive; the .def maps them to plain `name`). libgcc is
# linked statically, so the DLL needs only system DLLs (KERNEL32, OLEAUT32, ...).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
arch=$1
archive=$2
out=$3
native=${4:--lkernel32 -lntdll -luserenv -lws2_32 -ldbghelp -loleaut32 -lbcrypt -ladvapi32}
# Folders of the windows-targets import libraries (-lwindows.0.NN.N) named in $native.
native="$("$root/scripts/windows-libdirs.sh" "$arch") $native"
cc="${arch}-w64-mingw32-gcc"
prefix=""
[ "$arch" = i686 ] && prefix="_"
undef=()
while read -r sym; do
  [ -n "$sym" ] && undef+=("-Wl,-u,${prefix}${sym}")
done < "$root/src/ffi/vendor.exports"
extra=()
# i686: no stdcall @N decoration anywhere in the export table.
[ "$arch" = i686 ] && extra+=(-Wl,--kill-at)
# shellcheck disable=SC2086
"$cc" -shared -o "$out" \
  "$root/src/ffi/vendor_win.def" \
  -static-libgcc -Wl,--gc-sections -Wl,--no-insert-timestamp \
  "${extra[@]}" "${undef[@]}" \
  "$archive" \
  $native
