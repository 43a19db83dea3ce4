#!/usr/bin/env bash
# Build the drop-in packages into dist/:
#   dist/linux-x86_64/libIntegrationHub.so   vendor-compatible (replaces the vendor's .so)
#   dist/linux-x86_64/libokclink.so, libokclink.a, pkgconfig/{okclink,IntegrationHub}.pc
#   dist/windows-x86/IntegrationHubCpp.dll   vendor-compatible (replaces the vendor's DLL)
#   dist/windows-x64/IntegrationHubCpp.dll
#   dist/windows-{x86,x64}/okclink.dll       the okc_* C API for the language bindings
#   dist/include/okclink.h, IntegrationHubWrapper.h, IntegrationHubCpp.h
#   dist/INSTALL.md
#   dist/linux-x86_64/okc, dist/windows-{x86,x64}/okc.exe   the okc command (for the packages)
#   dist/packages/   wheels, nupkg, .deb, crates and SHA256SUMS (scripts/package.sh)
# Needs: cargo with the i686/x86_64-pc-windows-gnu targets and mingw-w64 (.ci/install-ffi.sh);
# for the packages the tools of .ci/install-packages.sh.
# Options (environment): OKC_DIST_PROFILE=release|dev (default release),
#   OKC_DIST_WINDOWS=0 to skip the Windows builds,
#   OKC_DIST_PACKAGES=0 for the libraries and headers only (no okc binaries, no packages),
#   OKC_DIST_CHECK_EXPORTS=0 to skip scripts/check-exports.sh (minutes on the large dev DLLs;
#   .ci/test-packages.sh, whose DLLs .ci/test-ffi.sh checked already),
#   OKC_WIN_FEATURES (default "vendor-abi,vendored-libusb").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
profile=${OKC_DIST_PROFILE:-release}
pdir=$profile
[ "$profile" = dev ] && pdir=debug
tdir=${CARGO_TARGET_DIR:-$root/target}
dist=$root/dist
win_features=${OKC_WIN_FEATURES:-vendor-abi,vendored-libusb}

packages=${OKC_DIST_PACKAGES:-1}
check_exports=${OKC_DIST_CHECK_EXPORTS:-1}
rm -rf "$dist"
mkdir -p "$dist/include" "$dist/linux-x86_64/pkgconfig"
cp include/okclink.h include/IntegrationHubWrapper.h include/IntegrationHubCpp.h "$dist/include/"
cp INSTALL.md "$dist/"

echo "== linux-x86_64"
cargo build --profile "$profile" --lib
if [ "$packages" != 0 ]; then
  cargo build --profile "$profile" -p okc --bin okc
  cp "$tdir/$pdir/okc" "$dist/linux-x86_64/okc"
  strip --strip-debug "$dist/linux-x86_64/okc"
fi
lin=$dist/linux-x86_64
scripts/link-vendor-linux.sh "$tdir/$pdir/libokclink.a" "$lin/libIntegrationHub.so"
cp "$tdir/$pdir/libokclink.so" "$tdir/$pdir/libokclink.a" "$lin/"
strip --strip-debug "$lin/libIntegrationHub.so" "$lin/libokclink.so" "$lin/libokclink.a"
[ "$check_exports" = 0 ] || scripts/check-exports.sh linux "$lin/libIntegrationHub.so"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
for pc in okclink IntegrationHub; do
  if [ "$pc" = okclink ]; then
    desc="okclink C API (okc_*) for Token ÖKC fiscal devices"
    libs="-L\${libdir} -lokclink"
  else
    desc="okclink's drop-in replacement of the vendor libIntegrationHub.so"
    libs="-L\${libdir} -lIntegrationHub"
  fi
  cat > "$lin/pkgconfig/$pc.pc" <<PC
prefix=\${pcfiledir}/..
libdir=\${prefix}
includedir=\${prefix}/../include

Name: $pc
Description: $desc
Version: $version
Libs: $libs
Cflags: -I\${includedir}
PC
done

if [ "${OKC_DIST_WINDOWS:-1}" != 0 ]; then
  for arch in i686 x86_64; do
    target=$arch-pc-windows-gnu
    out=$dist/windows-x64
    kind=win64
    if [ "$arch" = i686 ]; then out=$dist/windows-x86; kind=win32; fi
    echo "== $target"
    mkdir -p "$out"
    log=$(mktemp)
    cargo rustc --profile "$profile" --lib --target "$target" --features "$win_features" \
      --crate-type staticlib -- --print native-static-libs 2>&1 | tee "$log" | grep -vE '^\s*(Compiling|Fresh)' || true
    native=$(sed -n 's/.*native-static-libs: //p' "$log" | tail -1)
    rm -f "$log"
    archive=$tdir/$target/$pdir/libokclink.a
    [ -f "$archive" ] || { echo "build of $target failed"; exit 1; }
    scripts/link-vendor-windows.sh "$arch" "$archive" "$out/IntegrationHubCpp.dll" "$native"
    [ "$check_exports" = 0 ] || scripts/check-exports.sh "$kind" "$out/IntegrationHubCpp.dll"
    # okclink.dll: the same archive, exporting the okc_* API only.
    def=$(mktemp --suffix=.def)
    {
      echo "LIBRARY okclink.dll"
      echo "EXPORTS"
      sed -n 's/^[A-Za-z0-9_ ]*[ *]\(okc_[a-z_]*\)(.*/    \1/p' include/okclink.h
    } > "$def"
    prefix=""
    [ "$arch" = i686 ] && prefix="_"
    undef=$(sed -n 's/^    \(okc_.*\)/-Wl,-u,'"$prefix"'\1/p' "$def" | tr '\n' ' ')
    # shellcheck disable=SC2086
    "$arch-w64-mingw32-gcc" -shared -o "$out/okclink.dll" "$def" -static-libgcc \
      -Wl,--gc-sections -Wl,--no-insert-timestamp $undef "$archive" \
      $(scripts/windows-libdirs.sh "$arch") $native
    rm -f "$def"
    "$arch-w64-mingw32-strip" --strip-debug "$out/IntegrationHubCpp.dll" "$out/okclink.dll"
    if [ "$packages" != 0 ]; then
      # okc.exe for the Windows wheels (libusb built from source, as in the DLLs).
      cargo build --profile "$profile" -p okc --bin okc --target "$target" --features vendored-libusb 2>&1 |
        grep -vE '^\s*(Compiling|Fresh)' || true
      [ -f "$tdir/$target/$pdir/okc.exe" ] || { echo "okc.exe for $target failed"; exit 1; }
      cp "$tdir/$target/$pdir/okc.exe" "$out/okc.exe"
      "$arch-w64-mingw32-strip" --strip-debug "$out/okc.exe"
    fi
  done
fi

echo "== shipped code only (no simulator, fuzz harness, test hooks)"
shipped=("$lin/libIntegrationHub.so" "$lin/libokclink.so" "$lin/libokclink.a")
if [ "${OKC_DIST_WINDOWS:-1}" != 0 ]; then
  shipped+=("$dist"/windows-x86/*.dll "$dist"/windows-x64/*.dll)
fi
scripts/check-shipped.sh "${shipped[@]}"

if [ "$packages" != 0 ]; then
  scripts/package.sh
fi

echo "== dist/"
(cd "$dist" && find . -type f | sort | xargs ls -l)
