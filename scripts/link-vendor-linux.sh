#!/usr/bin/env bash
# Link libIntegrationHub.so (the vendor-compatible Linux library) from libokclink.a.
# usage: scripts/link-vendor-linux.sh path/to/libokclink.a path/to/libIntegrationHub.so
#
# libokclink.a already holds the C++ shim (src/ffi/vendor_linux.cpp, compiled by build.rs).
# The version script exports exactly the vendor's nine names; everything else (okc_*, Rust
# std) stays local, so the library can live in one process with libokclink.so.
# -z nodelete: a dlclose() while hub threads still run cannot unmap their code.
# OKC_NATIVE_LIBS overrides the system libraries the Rust archive needs
# (see `cargo rustc --crate-type staticlib -- --print native-static-libs`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
archive=$1
out=$2
CXX=${CXX:-c++}
undef=()
while read -r sym; do
  [ -n "$sym" ] && undef+=("-Wl,-u,$sym")
done < "$root/src/ffi/vendor.exports"
# shellcheck disable=SC2086
"$CXX" -shared -o "$out" \
  -Wl,-soname,libIntegrationHub.so \
  -Wl,--version-script="$root/src/ffi/vendor_linux.map" \
  -Wl,-z,nodelete -Wl,--gc-sections \
  "${undef[@]}" \
  "$archive" \
  -Wl,--as-needed ${OKC_NATIVE_LIBS:--lusb-1.0 -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc}
