#!/usr/bin/env bash
# The installable packages (issue 16): scripts/dist.sh builds dist/packages/, then each artifact
# is listed and asserted and installed into a clean place where it sells against the simulator:
#   wheel   file lists (native library + okc for linux/win_amd64/win32, py.typed, metadata,
#           manylinux tag), pip install into a fresh venv, `okc sim` from the venv's own okc and
#           examples/python/sale.py through the installed package, no OKCLINK_LIBRARY
#   nupkg   file list (lib/net45, runtimes/win-x86|win-x64|linux-x64/native), restored with
#           nuget into a scratch packages.config project, a C# program compiled against the
#           restored assembly sells under mono
#   deb     file list, dpkg -i on this machine, the vendor-style C++ program compiled with
#           plain `g++ … -lIntegrationHub` (installed header and library) sells against the
#           installed /usr/bin/okc sim; dpkg --purge afterwards
#   crates  cargo package of every member (verified: see below), cargo install --root TMP
#   every packaged library passes scripts/check-shipped.sh (no simulator / test hooks).
# Needs .ci/install-packages.sh, .ci/install-ffi.sh (mingw, Windows targets), root for dpkg.
# CI builds dist/ in the dev profile (OKC_DIST_PROFILE), as .ci/test-ffi.sh does. Prints
# per-step seconds and "packages: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tdir=${CARGO_TARGET_DIR:-$root/target}
tools=${OKC_PKG_TOOLS:-/opt/okclink-pkg-tools}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
pk=$root/dist/packages
work=$(mktemp -d /tmp/okc-packages.XXXXXX)
passed=0
failed=0
pids=()
deb_installed=0
t_start=$SECONDS
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  [ "$deb_installed" = 1 ] && dpkg --purge okclink >/dev/null 2>&1
  rm -rf "$work"
  # Build outputs of this suite (and the Windows cross-builds .ci/test-ffi.sh left for it),
  # not kept on a CI disk.
  if [ "${OKC_CI_LEAN:-0}" = 1 ]; then
    rm -rf "$tdir"/{i686,x86_64}-pc-windows-gnu "$tdir/package" "$root/dist/packages"
  fi
}
trap cleanup EXIT

step() {
  local name=$1
  shift
  echo "--- packages: $name"
  local t0=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    echo "--- packages: $name: ok ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1))
    echo "--- packages: $name: FAILED ($((SECONDS - t0)) s)"
    return 1
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_sim OKC_BINARY [sim options]: the simulator on a free loopback port, started from the
# given (installed) okc; sets SIM_PORT once it printed its "listening on" line.
start_sim() {
  local okc=$1
  shift
  SIM_PORT=$(free_port)
  "$okc" sim --listen "127.0.0.1:$SIM_PORT" "$@" >"$work/sim-$SIM_PORT.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do
    grep -qs "listening on" "$work/sim-$SIM_PORT.log" && return 0
    sleep 0.05
  done
  echo "simulator ($okc) did not start:"
  cat "$work/sim-$SIM_PORT.log"
  return 1
}

# zip_list FILE: the member names of a zip (wheel, nupkg), one a line.
zip_list() { python3 -c 'import sys, zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$1"; }
# has LIST PATTERN...: each grep -E pattern matches a line of LIST (a file).
has() {
  local list=$1 p
  shift
  for p in "$@"; do
    grep -qE "$p" "$list" || { echo "missing: $p"; return 1; }
  done
}

# The machine type of a PE file: i386 or x86-64.
pe_arch() { objdump -f "$1" | sed -n 's/.*file format pei-\(.*\)/\1/p'; }

dist() {
  # In CI the export tables of these very DLLs were checked by .ci/test-ffi.sh (its own build
  # and its run of scripts/dist.sh); checking them again costs ~2 min per dev DLL.
  local checks=1
  [ "${OKC_CI_LEAN:-0}" = 1 ] && checks=0
  OKC_DIST_CHECK_EXPORTS=${OKC_DIST_CHECK_EXPORTS:-$checks} OKC_DEB_COMPRESSION=${OKC_DEB_COMPRESSION:-gzip} \
    OKC_DIST_PROFILE=${OKC_DIST_PROFILE:-dev} scripts/dist.sh >"$work/dist.log" 2>&1 ||
    { tail -40 "$work/dist.log"; return 1; }
  sed -n '/== Python wheels/,/== dist\//p' "$work/dist.log" | grep -v '^== dist/'
  for f in linux-x86_64/libIntegrationHub.so windows-x86/IntegrationHubCpp.dll \
    windows-x64/IntegrationHubCpp.dll include/okclink.h include/IntegrationHubWrapper.h \
    linux-x86_64/pkgconfig/okclink.pc INSTALL.md linux-x86_64/okc windows-x86/okc.exe \
    windows-x64/okc.exe packages/SHA256SUMS; do
    [ -s "dist/$f" ] || { echo "dist/$f missing"; return 1; }
  done
  (cd "$pk" && sha256sum --quiet -c SHA256SUMS) && [ "$(wc -l <"$pk/SHA256SUMS")" = 9 ]
}

wheel_linux() { ls "$pk"/okclink-"$version"-py3-none-manylinux_*_x86_64.whl 2>/dev/null | head -1; }

wheel_contents() {
  local w lw
  lw=$(wheel_linux)
  [ -n "$lw" ] || { echo "no manylinux wheel in $pk:"; ls "$pk"; return 1; }
  echo "$(basename "$lw") $(du -k "$lw" | cut -f1) KiB"
  zip_list "$lw" >"$work/linux.txt"
  has "$work/linux.txt" '^okclink/libokclink\.so$' '^okclink/bin/okc$' '^okclink/py\.typed$' \
    '^okclink/_cli\.py$' '^okclink/hub\.py$' '^okclink\.libs/libusb-1.*\.so' '^okclink\.libs/libudev-.*\.so' \
    "^okclink-$version\.dist-info/entry_points\.txt$" || return 1
  ! grep -E '\.(dll|exe)$' "$work/linux.txt" || { echo "Windows files in the Linux wheel"; return 1; }
  # auditwheel agrees with the tag (a policy violation would print the offending library).
  "$tools/bin/auditwheel" show "$lw" >"$work/show.txt" 2>&1 || { cat "$work/show.txt"; return 1; }
  grep -E 'is consistent with the following platform tag|manylinux_2_[0-9]+_x86_64' "$work/show.txt" | head -2
  python3 - "$lw" "$version" <<'PY' || return 1
import sys, zipfile
w, version = sys.argv[1], sys.argv[2]
z = zipfile.ZipFile(w)
meta = z.read(f"okclink-{version}.dist-info/METADATA").decode()
wheel = z.read(f"okclink-{version}.dist-info/WHEEL").decode()
ep = z.read(f"okclink-{version}.dist-info/entry_points.txt").decode()
checks = {
    "version from the crate": f"Version: {version}\n" in meta,
    "license": "MIT OR Apache-2.0" in meta,
    "classifiers": "Classifier: Operating System :: Microsoft :: Windows" in meta
    and "Classifier: Typing :: Typed" in meta,
    "README as long description": "Description-Content-Type: text/markdown" in meta
    and "pip install okclink-" in meta,
    "platlib": "Root-Is-Purelib: false" in wheel,
    "okc entry point": "okc = okclink._cli:main" in ep,
    "okc executable": (z.getinfo("okclink/bin/okc").external_attr >> 16) & 0o111 != 0,
}
bad = [k for k, ok in checks.items() if not ok]
print("metadata:", "ok" if not bad else "FAILED " + ", ".join(bad))
sys.exit(1 if bad else 0)
PY
  for spec in win_amd64:x86-64 win32:i386; do
    local plat=${spec%%:*} arch=${spec#*:}
    w=$pk/okclink-$version-py3-none-$plat.whl
    [ -f "$w" ] || { echo "missing $w"; return 1; }
    echo "$(basename "$w") $(du -k "$w" | cut -f1) KiB"
    zip_list "$w" >"$work/$plat.txt"
    has "$work/$plat.txt" '^okclink/okclink\.dll$' '^okclink/bin/okc\.exe$' '^okclink/py\.typed$' \
      "^okclink-$version\.dist-info/entry_points\.txt$" || return 1
    ! grep -E '\.so$|bin/okc$' "$work/$plat.txt" || { echo "Linux files in $plat"; return 1; }
    mkdir -p "$work/x-$plat"
    (cd "$work/x-$plat" && python3 -m zipfile -e "$w" .) || return 1
    for f in okclink/okclink.dll okclink/bin/okc.exe; do
      [ "$(pe_arch "$work/x-$plat/$f")" = "$arch" ] || { echo "$plat: $f is $(pe_arch "$work/x-$plat/$f")"; return 1; }
    done
    grep -q "^Tag: py3-none-$plat$" "$work/x-$plat/okclink-$version.dist-info/WHEEL" || return 1
  done
}

py_sale() {
  local lw venv=$work/venv
  lw=$(wheel_linux)
  # A fresh venv (no system site-packages), installed from the wheel file alone.
  python3 -m venv "$venv" || return 1
  "$venv/bin/pip" install -q --disable-pip-version-check --no-index "$lw" || return 1
  [ -x "$venv/bin/okc" ] || { echo "the wheel did not install bin/okc"; return 1; }
  (
    cd "$work" || exit 1
    unset OKCLINK_LIBRARY LD_LIBRARY_PATH OKC_BIN
    "$venv/bin/okc" help >/dev/null || exit 1
    "$venv/bin/python" -c '
import okclink, okclink._native as n, sys
lib = n.load()._name
print("loaded", lib, "okclink", okclink.version(), "package", okclink.__version__)
sys.exit(0 if "/site-packages/okclink/" in lib else 1)' || exit 1
    start_sim "$venv/bin/okc" || exit 1
    OKC_TRANSPORT=tcp://127.0.0.1:$SIM_PORT timeout 120 "$venv/bin/python" "$root/examples/python/sale.py" 2>&1 | tail -3
    exit "${PIPESTATUS[0]}"
  )
}

nupkg_contents() {
  local n=$pk/OkcLink.IntegrationHub.$version.nupkg
  [ -f "$n" ] || { echo "missing $n"; return 1; }
  echo "$(basename "$n") $(du -k "$n" | cut -f1) KiB"
  zip_list "$n" >"$work/nupkg.txt"
  has "$work/nupkg.txt" '^OkcLink\.IntegrationHub\.nuspec$' '^lib/net45/IntegrationHub\.dll$' \
    '^runtimes/win-x86/native/okclink\.dll$' '^runtimes/win-x64/native/okclink\.dll$' \
    '^runtimes/linux-x64/native/libokclink\.so$' '^build/net45/OkcLink\.IntegrationHub\.targets$' || return 1
  mkdir -p "$work/nupkg"
  (cd "$work/nupkg" && python3 -m zipfile -e "$n" .) || return 1
  [ "$(pe_arch "$work/nupkg/runtimes/win-x86/native/okclink.dll")" = i386 ] &&
    [ "$(pe_arch "$work/nupkg/runtimes/win-x64/native/okclink.dll")" = x86-64 ] || { echo "wrong DLL bitness"; return 1; }
  # The managed assembly keeps the vendor's identity (drop-in): name IntegrationHub, 2.5.5.0.
  cat >"$work/AsmName.cs" <<'CS'
class AsmName { static void Main(string[] a) { System.Console.WriteLine(System.Reflection.AssemblyName.GetAssemblyName(a[0]).FullName); } }
CS
  mcs -nologo -out:"$work/AsmName.exe" "$work/AsmName.cs" || return 1
  local name
  name=$(mono "$work/AsmName.exe" "$work/nupkg/lib/net45/IntegrationHub.dll") || return 1
  echo "$name"
  [[ "$name" == "IntegrationHub, Version=2.5.5.0, Culture=neutral, PublicKeyToken=null" ]]
}

dotnet_sale() {
  local p=$work/cs
  mkdir -p "$p/bin"
  cat >"$p/packages.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<packages>
  <package id="OkcLink.IntegrationHub" version="$version" targetFramework="net45" />
</packages>
XML
  # Restored from the local folder only (no nuget.org), into the project's packages/.
  (cd "$p" && HOME=$work nuget restore packages.config -PackagesDirectory packages -Source "$pk" \
    -NonInteractive) >"$work/restore.log" 2>&1 || { cat "$work/restore.log"; return 1; }
  local pkg=$p/packages/OkcLink.IntegrationHub.$version
  [ -f "$pkg/lib/net45/IntegrationHub.dll" ] || { cat "$work/restore.log"; return 1; }
  mcs -nologo -codepage:utf8 -r:"$pkg/lib/net45/IntegrationHub.dll" -out:"$p/bin/Sale.exe" \
    examples/csharp/Sale.cs || return 1
  # What the package's build/net45 .targets does on a mono/Linux build: the reference and its
  # dllmap, and libokclink.so next to the program.
  cp "$pkg/lib/net45/IntegrationHub.dll" "$pkg/lib/net45/IntegrationHub.dll.config" \
    "$pkg/runtimes/linux-x64/native/libokclink.so" "$p/bin/"
  start_sim "$root/dist/linux-x86_64/okc" || return 1
  (cd "$p/bin" && unset LD_LIBRARY_PATH OKCLINK_LIBRARY &&
    OKC_TRANSPORT=tcp://127.0.0.1:$SIM_PORT timeout 120 mono Sale.exe) 2>&1 | tail -4
  [ "${PIPESTATUS[0]}" = 0 ]
}

deb_test() {
  local deb=$pk/okclink_${version}_amd64.deb ma=x86_64-linux-gnu
  [ -f "$deb" ] || { echo "missing $deb"; return 1; }
  echo "$(basename "$deb") $(du -k "$deb" | cut -f1) KiB"
  dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$work/deb.txt"
  has "$work/deb.txt" '^/usr/bin/okc$' "^/usr/lib/$ma/libIntegrationHub\.so$" \
    "^/usr/lib/$ma/libokclink\.so$" "^/usr/lib/$ma/pkgconfig/okclink\.pc$" \
    '^/usr/include/okclink\.h$' '^/usr/include/IntegrationHubWrapper\.h$' \
    '^/usr/lib/udev/rules\.d/51-okclink\.rules$' '^/usr/lib/systemd/system/okc\.service$' \
    '^/usr/share/doc/okclink/copyright$' || return 1
  ! grep -q '\.a$' "$work/deb.txt" || { echo "static library in the .deb"; return 1; }
  dpkg-deb -I "$deb" | grep -E '^ (Package|Version|Depends):'
  if [ "$(id -u)" != 0 ]; then echo "dpkg -i needs root"; return 1; fi
  if dpkg-query -W okclink >/dev/null 2>&1; then echo "an okclink package is installed already"; return 1; fi
  deb_installed=1
  dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; return 1; }
  # Shipped but not enabled (okc serve does not exist yet).
  [ -f /usr/lib/systemd/system/okc.service ] && ! ls /etc/systemd/system/*.wants/okc.service 2>/dev/null || return 1
  # (/lib is /usr/lib on a merged-/usr system)
  ldconfig -p | grep -qE "libIntegrationHub.so .*=> (/usr)?/lib/$ma/libIntegrationHub.so" ||
    { echo "libIntegrationHub.so is not in ld.so.cache"; return 1; }
  # The vendor's build line, nothing else: the installed header and library.
  (cd "$work" && g++ -std=c++11 -Wall -Wextra -Werror -pthread "$root/tests/c/vendor_linux_test.cpp" \
    -o vendor_linux_test -lIntegrationHub) || return 1
  ldd "$work/vendor_linux_test" | grep -qE "libIntegrationHub.so => (/usr)?/lib/$ma/libIntegrationHub.so" ||
    { ldd "$work/vendor_linux_test"; return 1; }
  # shellcheck disable=SC2046
  gcc -std=c11 -Wall -Werror -o "$work/okc_c" $(pkg-config --cflags okclink) -x c - $(pkg-config --libs okclink) <<'C' || return 1
#include <okclink.h>
#include <stdio.h>
int main(void) { printf("okc_version %s\n", okc_version()); return 0; }
C
  "$work/okc_c" || return 1
  start_sim /usr/bin/okc || return 1
  local out
  out=$(cd "$work" && unset LD_LIBRARY_PATH && OKC_TRANSPORT=tcp://127.0.0.1:$SIM_PORT timeout 120 ./vendor_linux_test sale 2>&1)
  local rc=$?
  echo "$out" | tail -3
  [ $rc = 0 ] && grep -q '^PASS [0-9]* checks' <<<"$out" || return 1
  dpkg --purge okclink >/dev/null || return 1
  deb_installed=0
  [ ! -e "/usr/lib/$ma/libIntegrationHub.so" ] && [ ! -e /usr/bin/okc ]
}

# scripts/check-shipped.sh on every library as packaged (the wheel's libokclink.so after
# auditwheel, the nupkg's three, the .deb's three).
packaged_shipped() {
  local d=$work/shipped f
  mkdir -p "$d/deb"
  for f in "$(wheel_linux)" "$pk/okclink-$version-py3-none-win32.whl" \
    "$pk/okclink-$version-py3-none-win_amd64.whl" "$pk/OkcLink.IntegrationHub.$version.nupkg"; do
    mkdir -p "$d/$(basename "$f")"
    (cd "$d/$(basename "$f")" && python3 -m zipfile -e "$f" .) || return 1
  done
  dpkg-deb -x "$pk/okclink_${version}_amd64.deb" "$d/deb" || return 1
  # check-shipped.sh picks the 32-bit nm by the path (windows-x86/ or i686).
  mkdir -p "$d/windows-x86"
  cp "$d/okclink-$version-py3-none-win32.whl/okclink/okclink.dll" "$d/windows-x86/okclink-wheel.dll"
  cp "$d/OkcLink.IntegrationHub.$version.nupkg/runtimes/win-x86/native/okclink.dll" "$d/windows-x86/okclink-nupkg.dll"
  scripts/check-shipped.sh "$d/$(basename "$(wheel_linux)")/okclink/libokclink.so" \
    "$d/windows-x86/okclink-wheel.dll" "$d/okclink-$version-py3-none-win_amd64.whl/okclink/okclink.dll" \
    "$d/windows-x86/okclink-nupkg.dll" "$d/OkcLink.IntegrationHub.$version.nupkg/runtimes/win-x64/native/okclink.dll" \
    "$d/OkcLink.IntegrationHub.$version.nupkg/runtimes/linux-x64/native/libokclink.so" \
    "$d"/deb/usr/lib/x86_64-linux-gnu/lib{IntegrationHub,okclink}.so
}

# The workspace's dev profile (Cargo.toml [profile.dev], which a packaged crate does not carry)
# as --config flags, so that verifying a .crate reuses the compiled dependencies.
dev_profile_config() {
  python3 - <<'PY'
import json, re, tomllib
def key(k):
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)
def emit(prefix, table):
    for k, v in table.items():
        if isinstance(v, dict):
            emit(prefix + [key(k)], v)
        else:
            print("--config")
            print(".".join(prefix + [key(k)]) + "=" + json.dumps(v))
emit(["profile", "dev"], tomllib.load(open("Cargo.toml", "rb"))["profile"]["dev"])
PY
}

crates_package() {
  # Every member packaged: metadata, readme, license files, no path dependency without a
  # version (cargo refuses those even with --no-verify), the file list of each .crate.
  cargo package --workspace --no-verify --allow-dirty >"$work/package.log" 2>&1 ||
    { tail -30 "$work/package.log"; return 1; }
  for c in okclink okclink-wire okclink-sim okc; do
    local f=$tdir/package/$c-$version.crate
    [ -f "$f" ] || { echo "missing $f"; return 1; }
    tar -tzf "$f" >"$work/$c.crate.txt"
    has "$work/$c.crate.txt" "^$c-$version/README\.md$" "^$c-$version/LICENSE-MIT$" \
      "^$c-$version/LICENSE-APACHE$" "^$c-$version/Cargo\.toml$" || return 1
    echo "  $c-$version.crate $(du -k "$f" | cut -f1) KiB, $(wc -l <"$work/$c.crate.txt") files"
  done
  # Verification unpacks each .crate and builds it alone, the other members resolved from
  # their .crate files, as crates.io would. All four take ~10 min more on 2 cores (their
  # dependencies are rebuilt with the feature sets of each crate alone), so CI
  # (OKC_CI_LEAN=1) verifies the leaf crate okclink-wire; OKC_VERIFY_CRATES="okclink
  # okclink-wire okclink-sim okc" (the default outside CI) verifies them all.
  local verify=${OKC_VERIFY_CRATES:-}
  if [ -z "$verify" ]; then
    if [ "${OKC_CI_LEAN:-0}" = 1 ]; then verify=okclink-wire; else verify="okclink okclink-wire okclink-sim okc"; fi
  fi
  local args=() cfg
  mapfile -t cfg < <(dev_profile_config)
  for c in $verify; do args+=(-p "$c"); done
  echo "  verifying: $verify"
  cargo package --allow-dirty "${cfg[@]}" "${args[@]}" >"$work/verify.log" 2>&1 ||
    { tail -30 "$work/verify.log"; return 1; }
  grep -E '^\s*(Verifying|Finished)' "$work/verify.log" | sed 's/^ */  /'
}

cargo_install() {
  # The README's `cargo install --path crates/okc`, into a scratch root. CI installs the dev
  # build (--debug: the workspace's compiled crates are reused; the release build is the same
  # code with other optimisation settings).
  local r=$work/cargo-root
  cargo install --locked --quiet --path crates/okc --root "$r" ${OKC_INSTALL_ARGS:---debug} || return 1
  [ -x "$r/bin/okc" ] || return 1
  (cd "$work" && "$r/bin/okc" demo 2>&1 | tail -2; exit "${PIPESTATUS[0]}")
}

# OKC_PACKAGES_REUSE_DIST=1 (local iteration only): test the dist/packages/ already built.
if [ "${OKC_PACKAGES_REUSE_DIST:-0}" = 1 ] && [ -f "$pk/SHA256SUMS" ]; then
  dist() { echo "(reusing dist/)"; }
fi
if step "scripts/dist.sh (libraries, okc binaries, wheels, nupkg, deb, crates, SHA256SUMS)" dist; then
  step "wheel contents (linux manylinux, win_amd64, win32) and metadata" wheel_contents
  step "Python: wheel in a fresh venv, its okc sim, a sale through the installed package" py_sale
  step "nupkg contents (lib/net45, runtimes/win-x86|win-x64|linux-x64/native)" nupkg_contents
  step ".NET: nuget restore into a scratch project, C# sale under mono" dotnet_sale
  step "deb: contents, dpkg -i, vendor C++ program (-lIntegrationHub) sells, dpkg --purge" deb_test
  step "every packaged library passes scripts/check-shipped.sh" packaged_shipped
fi
step "cargo package (each member crate; verified: see crates_package)" crates_package
step "cargo install --path crates/okc --root TMP, okc demo" cargo_install

echo "packages: $passed passed, $failed failed ($((SECONDS - t_start)) s)"
[ "$failed" -eq 0 ]
