#!/usr/bin/env bash
# Native-surface tests that need more than cargo: the committed header is current (cbindgen),
# C and C++ programs under valgrind against libokclink.so / libIntegrationHub.so (no device, and
# a full sale against the simulator over TCP), the Windows DLLs cross-built with mingw-w64
# (export tables, __cdecl check on x86, an x64 C program under wine64 with and without a
# device), and scripts/dist.sh. Prints "ffi: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tdir=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d /tmp/okc-ffi.XXXXXX)
passed=0
failed=0
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  [ -n "${WINEPREFIX:-}" ] && wineserver -k 2>/dev/null
  rm -rf "$work"
  # The Windows cross-builds are not kept on a CI disk; when .ci/test-packages.sh runs after
  # this suite (scripts/test-all.sh) it reuses them for dist/ and deletes them itself.
  if [ "${OKC_CI_LEAN:-0}" = 1 ] && [ ! -f .ci/test-packages.sh ]; then
    rm -rf "$tdir"/{i686,x86_64}-pc-windows-gnu
  fi
}
trap cleanup EXIT

step() {
  local name=$1
  shift
  echo "--- ffi: $name"
  local t0=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    echo "--- ffi: $name: ok ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1))
    echo "--- ffi: $name: FAILED ($((SECONDS - t0)) s)"
    return 1
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Start the simulator on a free loopback port (extra arguments go to `okc sim`); sets SIM_PORT.
start_sim() {
  SIM_PORT=$(free_port)
  "$tdir/debug/okc" sim --listen "127.0.0.1:$SIM_PORT" "$@" > "$work/sim-$SIM_PORT.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$SIM_PORT") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "simulator did not start:"; cat "$work/sim-$SIM_PORT.log"
  return 1
}

expect_pass() { # command... ; the program's last line must be "PASS n checks"
  local out
  # Each run is a new POS installation with the same test baskets: a journal of its own
  # (the default one, beside ./logs, would answer a basketID sold by an earlier step from
  # the journal instead of printing it — docs/JOURNAL.md).
  local journal
  journal=$(mktemp -u "$work/journal-XXXXXX.sqlite")
  out=$(OKC_JOURNAL=${OKC_JOURNAL:-$journal} "$@" 2>&1)
  local rc=$?
  echo "$out" | tail -5
  [ $rc -eq 0 ] && echo "$out" | grep -q '^PASS [0-9]* checks'
}

# Leak check: "definitely lost" is an error. "Possibly lost" is not: the only such blocks are
# process-lifetime statics (the handle/string registries and lazy tables, whose hashbrown
# tables are referenced by interior pointers) and the std thread handle of the main thread.
vg() {
  valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --track-origins=no "$@"
}

header_is_current() {
  cbindgen --quiet --config cbindgen.toml --output include/okclink.h --verify src/ffi/okc.rs
}

build_linux() {
  cargo build --lib --bins -q &&
    scripts/link-vendor-linux.sh "$tdir/debug/libokclink.a" "$work/libIntegrationHub.so" &&
    scripts/check-exports.sh linux "$work/libIntegrationHub.so" &&
    gcc -std=c11 -Wall -Wextra -Werror -g -pthread -Iinclude tests/c/okc_api_test.c \
      -o "$work/okc_api_test" -L"$tdir/debug" -lokclink -Wl,-rpath,"$tdir/debug" &&
    g++ -std=c++11 -Wall -Wextra -Werror -g -pthread -Iinclude tests/c/vendor_linux_test.cpp \
      -o "$work/vendor_linux_test" -L"$work" -lIntegrationHub -Wl,-rpath,"$work" &&
    gcc -std=c11 -Wall -Wextra -Werror -g -pthread -Iinclude tests/c/okc_pay_test.c \
      -o "$work/okc_pay_test" -L"$tdir/debug" -lokclink -Wl,-rpath,"$tdir/debug"
}

closed() { echo "tcp://127.0.0.1:$(free_port)"; }

c_nodevice() { OKC_TRANSPORT=$(closed) expect_pass vg "$work/okc_api_test" nodevice; }
cpp_nodevice() { (cd "$work" && OKC_TRANSPORT=$(closed) expect_pass vg ./vendor_linux_test nodevice); }
c_sale() { start_sim && OKC_TRANSPORT=tcp://127.0.0.1:$SIM_PORT expect_pass vg "$work/okc_api_test" sale; }
cpp_sale() {
  start_sim && (cd "$work" && OKC_TRANSPORT=tcp://127.0.0.1:$SIM_PORT expect_pass vg ./vendor_linux_test sale)
}
# Device text handed to the vendor C++ customer: UTF-8 by default, the vendor's Windows-1254
# bytes with OKC_VENDOR_TEXT=cp1254 (the program checks the bytes it receives).
cpp_text() {
  start_sim && (cd "$work" && OKC_TRANSPORT=tcp://127.0.0.1:$SIM_PORT expect_pass vg ./vendor_linux_test text utf8) &&
    start_sim && (cd "$work" && OKC_VENDOR_TEXT=cp1254 OKC_TRANSPORT=tcp://127.0.0.1:$SIM_PORT \
      expect_pass vg ./vendor_linux_test text cp1254)
}

# The same C and vendor C++ programs against the TokenX cloud simulator: only OKC_TRANSPORT
# (and the cloud credentials in the environment) differ from the cable.
start_cloud() {
  CLOUD_PORT=$(free_port)
  "$tdir/debug/okc" sim-cloud --listen "127.0.0.1:$CLOUD_PORT" --device-delay-ms 100 \
    > "$work/cloud-$CLOUD_PORT.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    grep -q "^listening on" "$work/cloud-$CLOUD_PORT.log" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "cloud simulator did not start:"; cat "$work/cloud-$CLOUD_PORT.log"
  return 1
}
cloud_env() (
  export OKC_TRANSPORT="tokenx+http://127.0.0.1:$CLOUD_PORT?terminal-id=AV00000000001" \
    OKC_TOKENX_CLIENT_ID=ffi-test OKC_TOKENX_CLIENT_SECRET=ffi-secret OKC_TOKENX_POLL_AFTER_MS=300
  "$@"
)
c_cloud_sale() { start_cloud && cloud_env expect_pass vg "$work/okc_api_test" sale; }
cpp_cloud_sale() { start_cloud && (cd "$work" && cloud_env expect_pass vg ./vendor_linux_test sale); }

# The okc_pay_* family from C against the nexo terminal simulator (full integration: the
# simulator calls the program's POS listener for the signature).
c_pay() {
  local tport lport
  tport=$(free_port) lport=$(free_port)
  "$tdir/debug/okc" sim-terminal --nexo --listen "127.0.0.1:$tport" --outcome signature \
    --payment-ms 200 --busy-ms 300 --pos-listener "http://127.0.0.1:$lport/EPASSaleToPOI/3.1" \
    > "$work/terminal-$tport.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    grep -q "^listening on" "$work/terminal-$tport.log" 2>/dev/null && break
    sleep 0.1
  done
  OKC_TERMINAL="nexo+http://127.0.0.1:$tport?poiid=C-POS" OKC_TEST_LISTENER="127.0.0.1:$lport" \
    expect_pass vg "$work/okc_pay_test"
}

# Regressions of issue 17 (each mode of tests/c/okc_api_test.c fails without its fix).
c_regressions_nodevice() {
  local m
  for m in threadexit strings depth nothread logdir; do
    echo "okc_api_test $m"
    OKC_TRANSPORT=$(closed) expect_pass vg "$work/okc_api_test" "$m" || return 1
  done
  # Under valgrind freed memory is not reused at once: the stale-free check needs the real allocator.
  echo "okc_api_test strings (without valgrind)"
  OKC_TRANSPORT=$(closed) expect_pass "$work/okc_api_test" strings || return 1
  echo "vendor_linux_test threadexit"
  (cd "$work" && OKC_TRANSPORT=$(closed) expect_pass vg ./vendor_linux_test threadexit)
}
c_regressions_sim() {
  # A fiscal info over the 16 KiB receive limit, and one with a NUL byte inside a string.
  python3 -c 'import json; print(json.dumps({"fiscal": "x" * 30000, "tail": 1}))' > "$work/fiscal-big.json"
  printf '{"a":"before\0after","tail":1}' > "$work/fiscal-nul.json"
  local spec
  for spec in "destroyrace|" "recvlimit|" "recvlimit|--model 300tr" \
    "recvrefuse|--fiscal-info $work/fiscal-big.json" "fiscalnul|--fiscal-info $work/fiscal-nul.json"; do
    local mode=${spec%%|*} args=${spec#*|} q=
    case $args in *300tr*) q='?model=300tr' ;; esac
    echo "okc_api_test $mode (okc sim $args)"
    # shellcheck disable=SC2086
    start_sim $args &&
      OKC_TRANSPORT="tcp://127.0.0.1:$SIM_PORT$q" expect_pass vg "$work/okc_api_test" "$mode" || return 1
  done
}

build_windows() {
  local arch
  for arch in i686 x86_64; do
    local log="$work/native-$arch.txt"
    cargo rustc -q --lib --target "$arch-pc-windows-gnu" --features vendor-abi,vendored-libusb \
      --crate-type staticlib -- --print native-static-libs > "$log" 2>&1 || { cat "$log"; return 1; }
    mkdir -p "$work/$arch"
    scripts/link-vendor-windows.sh "$arch" "$tdir/$arch-pc-windows-gnu/debug/libokclink.a" \
      "$work/$arch/IntegrationHubCpp.dll" "$(sed -n 's/.*native-static-libs: //p' "$log" | tail -1)" || return 1
  done
}

win_exports() {
  scripts/check-exports.sh win32 "$work/i686/IntegrationHubCpp.dll" &&
    scripts/check-exports.sh win64 "$work/x86_64/IntegrationHubCpp.dll" &&
    # The checker must reject a DLL whose exports are __stdcall (ret $N).
    i686-w64-mingw32-gcc -O1 -shared -o "$work/neg.dll" tests/c/stdcall_negative.c \
      src/ffi/vendor_win.def -Wl,--kill-at 2>/dev/null &&
    ! scripts/check-exports.sh win32 "$work/neg.dll" > "$work/neg.txt" 2>&1 &&
    grep -q 'not __cdecl' "$work/neg.txt"
}

wine_setup() {
  export WINEPREFIX="$work/wine" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
  timeout 300 wineboot -i > "$work/wineboot.log" 2>&1
  x86_64-w64-mingw32-gcc -O1 -Wall -Werror -o "$work/x86_64/vendor_win_test.exe" \
    tests/c/vendor_win_test.c -loleaut32 &&
    # Wine 8 lacks bcryptprimitives.dll (ProcessPrng, imported by Rust's std): a test stub.
    x86_64-w64-mingw32-gcc -shared -o "$work/x86_64/bcryptprimitives.dll" \
      tests/c/wine_bcryptprimitives.c -lbcrypt
}

wine_nodevice() {
  (cd "$work/x86_64" && rm -rf logs &&
    OKC_TRANSPORT=$(closed) expect_pass timeout 120 wine ./vendor_win_test.exe nodevice) &&
    # The vendor log location, and the UTF-16 company name arrived intact as text.
    grep -q 'company "Şirket İstanbul Ğıda"' "$work"/x86_64/logs/TokenIntegrationHub_*.log
}
wine_sale() {
  start_sim && (cd "$work/x86_64" && OKC_TRANSPORT=tcp://127.0.0.1:$SIM_PORT \
    expect_pass timeout 120 wine ./vendor_win_test.exe sale)
}
# The Windows DLL (rustls, tokio and all) through the TokenX cloud simulator.
wine_cloud_sale() {
  start_cloud && (cd "$work/x86_64" && cloud_env expect_pass timeout 120 wine ./vendor_win_test.exe sale)
}

dist() {
  # CI packages the dev builds made above (a release build of three targets would cost
  # ~10 min of the CI budget); `scripts/dist.sh` alone builds release.
  # Libraries and headers only: .ci/test-packages.sh builds and tests the packages.
  OKC_DIST_PACKAGES=0 OKC_DIST_PROFILE=${OKC_DIST_PROFILE:-dev} scripts/dist.sh > "$work/dist.log" 2>&1 ||
    { tail -30 "$work/dist.log"; return 1; }
  tail -16 "$work/dist.log"
  for f in linux-x86_64/libIntegrationHub.so windows-x86/IntegrationHubCpp.dll \
    windows-x64/IntegrationHubCpp.dll include/okclink.h include/IntegrationHubWrapper.h \
    linux-x86_64/pkgconfig/okclink.pc INSTALL.md; do
    [ -s "dist/$f" ] || { echo "dist/$f missing"; return 1; }
  done
  PKG_CONFIG_PATH=$root/dist/linux-x86_64/pkgconfig pkg-config --cflags --libs okclink IntegrationHub
}

# scripts/dist.sh checks its libraries with scripts/check-shipped.sh; the check must see what
# it looks for: the okc CLI (which embeds the simulator) and a test-hooks build must fail it.
shipped_check_can_fail() {
  cargo build -q --lib --features test-hooks &&
    scripts/check-shipped.sh --expect-fail "$tdir/debug/okc" &&
    scripts/check-shipped.sh --expect-fail "$tdir/debug/libokclink.a"
}

step "header is current (cbindgen --verify)" header_is_current
if step "build Linux libraries and C/C++ programs" build_linux; then
  step "C program, no device, valgrind" c_nodevice
  step "vendor C++ program, no device, valgrind" cpp_nodevice
  step "C program, sale against the simulator over TCP, valgrind" c_sale
  step "vendor C++ program (-lIntegrationHub), sale against the simulator over TCP, valgrind" cpp_sale
  step "vendor C++ program, device text UTF-8 / OKC_VENDOR_TEXT=cp1254, valgrind" cpp_text
  step "C program, sale through the TokenX cloud simulator, valgrind" c_cloud_sale
  step "vendor C++ program (-lIntegrationHub), sale through the TokenX cloud simulator, valgrind" cpp_cloud_sale
  step "C program, okc_pay_* against the nexo terminal simulator, valgrind" c_pay
  step "C/C++ programs, issue-17 regressions without a device, valgrind" c_regressions_nodevice
  step "C program, issue-17 regressions against the simulator over TCP, valgrind" c_regressions_sim
fi
win_clippy() {
  cargo clippy -q --lib --target x86_64-pc-windows-gnu --features vendor-abi,vendored-libusb -- -D warnings
}

step "clippy, Windows target with the vendor exports" win_clippy
if step "cross-build IntegrationHubCpp.dll (i686, x86_64)" build_windows; then
  step "DLL export tables and __cdecl" win_exports
  if step "wine64 setup" wine_setup; then
    step "x64 C program under wine64, no device" wine_nodevice
    step "x64 C program under wine64, sale against the simulator over TCP" wine_sale
    step "x64 C program under wine64, sale through the TokenX cloud simulator" wine_cloud_sale
  fi
fi
step "scripts/dist.sh" dist
step "the shipped-code check rejects the simulator and test hooks" shipped_check_can_fail

echo "ffi: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
