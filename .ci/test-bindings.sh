#!/usr/bin/env bash
# Language bindings, each running full sales against `okc sim` on a loopback port (and card
# payments against `okc sim-terminal --nexo`):
#   python  pip-installs bindings/python into a venv, runs its pytest suite and the example
#   csharp  builds IntegrationHub.dll with mcs, runs tests/SaleTest.exe and the example under mono,
#           and tests/PayTest.exe against `okc sim-terminal --nexo` (card payments) and
#           `okc sim-cloud --fuel` (Energy orders)
#   delphi  builds the OkcLink unit's tests and example with fpc -Mdelphi and runs them (the
#           payment test against `okc sim-terminal --nexo` and `okc sim-cloud --fuel`)
# Needs .ci/install-bindings.sh. Builds the crate (debug) unless OKC_SKIP_BUILD=1.
# Paths (override via env): CARGO_TARGET_DIR (default ./target), OKC_PROFILE (debug|release),
# OKCLINK_LIB_DIR (dir of libokclink.so), OKC_BIN (the okc CLI).
# Optional: BINDINGS="python csharp delphi" to run a subset.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

TGT=${CARGO_TARGET_DIR:-$ROOT/target}
PROFILE=${OKC_PROFILE:-debug}
if [ "${OKC_SKIP_BUILD:-0}" != 1 ]; then
  if [ "$PROFILE" = release ]; then cargo build --release --lib --bin okc; else cargo build --lib --bin okc; fi
fi
LIBDIR=${OKCLINK_LIB_DIR:-$TGT/$PROFILE}
OKC_BIN=${OKC_BIN:-$TGT/$PROFILE/okc}
LIB=$LIBDIR/libokclink.so
for f in "$LIB" "$OKC_BIN"; do
  [ -e "$f" ] || { echo "missing $f (run cargo build, or set OKCLINK_LIB_DIR / OKC_BIN)" >&2; exit 1; }
done
export OKC_BIN OKCLINK_LIBRARY=$LIB
unset OKC_TRANSPORT

WORK=$(mktemp -d)
SIM_PID=
cleanup() {
  if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_sim [sim options]: a fresh simulator; sets SIM_PORT and SIM_PID, exports OKC_TRANSPORT.
start_sim() {
  stop_sim
  SIM_PORT=$(free_port)
  "$OKC_BIN" sim --listen "127.0.0.1:$SIM_PORT" "$@" >"$WORK/sim-$SIM_PORT.log" 2>&1 &
  SIM_PID=$!
  for _ in $(seq 1 200); do
    if ! kill -0 "$SIM_PID" 2>/dev/null; then cat "$WORK/sim-$SIM_PORT.log" >&2; echo "okc sim exited" >&2; return 1; fi
    # its own "listening on" line, not a probe connection (a connection opened and dropped
    # right before the real one can upset the simulator's next session)
    if grep -q "listening on" "$WORK/sim-$SIM_PORT.log"; then
      export OKC_TRANSPORT="tcp://127.0.0.1:$SIM_PORT"
      return 0
    fi
    sleep 0.05
  done
  echo "okc sim did not listen on $SIM_PORT" >&2
  return 1
}
stop_sim() {
  if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; SIM_PID=; fi
  unset OKC_TRANSPORT
}

# start_terminal [sim-terminal options]: a fresh `okc sim-terminal --nexo` on a free loopback
# port (short payment and Busy times); sets TERMINAL_URL (nexo+http://127.0.0.1:PORT) once it
# printed its "listening on" line. Several may run at once; stop_terminals ends them all.
TERMINAL_PIDS=()
start_terminal() {
  local port log pid
  port=$(free_port)
  log=$WORK/terminal-$port.log
  "$OKC_BIN" sim-terminal --nexo --listen "127.0.0.1:$port" --payment-ms 100 --busy-ms 200 "$@" >"$log" 2>&1 &
  pid=$!
  TERMINAL_PIDS+=("$pid")
  for _ in $(seq 1 200); do
    if ! kill -0 "$pid" 2>/dev/null; then cat "$log" >&2; echo "okc sim-terminal exited" >&2; return 1; fi
    if grep -qs "^listening on" "$log"; then
      TERMINAL_URL="nexo+http://127.0.0.1:$port"
      return 0
    fi
    sleep 0.05
  done
  echo "okc sim-terminal did not listen on $port" >&2
  return 1
}
stop_terminals() {
  local pid
  for pid in ${TERMINAL_PIDS[@]+"${TERMINAL_PIDS[@]}"}; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  TERMINAL_PIDS=()
}
# The terminals of the payment tests (PayTest.cs, OkcPayTest.pas), exported as OKC_TEST_*:
# TERMINAL approves, DECLINE declines, SIGNATURE asks the POS listener OKC_TEST_LISTENER to
# confirm the signature, SLOW takes 3 s per payment (abort).
start_pay_terminals() {
  start_terminal
  export OKC_TEST_TERMINAL=$TERMINAL_URL
  start_terminal --outcome decline
  export OKC_TEST_DECLINE=$TERMINAL_URL
  OKC_TEST_LISTENER=127.0.0.1:$(free_port)
  export OKC_TEST_LISTENER
  start_terminal --outcome signature --pos-listener "http://$OKC_TEST_LISTENER/EPASSaleToPOI/3.1"
  export OKC_TEST_SIGNATURE=$TERMINAL_URL
  start_terminal --payment-ms 3000
  export OKC_TEST_SLOW=$TERMINAL_URL
}

# start_cloud: a fresh `okc sim-cloud` with two fuelled orders (34ABC123 152340 kuruş, 06XYZ42
# 50000) for the Energy tests of the payment test programs; exports OKC_TEST_ENERGY_URL
# (credentials demo/demo, virtual terminals VT00000000001 and VT00000000002). Stopped with the
# terminals.
start_cloud() {
  local port log pid
  port=$(free_port)
  log=$WORK/cloud-$port.log
  "$OKC_BIN" sim-cloud --listen "127.0.0.1:$port" --fuel 34ABC123:152340 --fuel 06XYZ42:50000 \
    --complete-delay-ms 100 >"$log" 2>&1 &
  pid=$!
  TERMINAL_PIDS+=("$pid")
  for _ in $(seq 1 200); do
    if ! kill -0 "$pid" 2>/dev/null; then cat "$log" >&2; echo "okc sim-cloud exited" >&2; return 1; fi
    if grep -qs "listening on" "$log"; then
      export OKC_TEST_ENERGY_URL="http://127.0.0.1:$port"
      return 0
    fi
    sleep 0.05
  done
  echo "okc sim-cloud did not listen on $port" >&2
  return 1
}

status=0
want() { [[ " ${BINDINGS:-python csharp delphi} " == *" $1 "* ]]; }
# section NAME FUNC: runs FUNC in a subshell with errexit active (it is not, inside `( ) ||`).
section() {
  set +e
  (
    set -e
    trap 'stop_sim; stop_terminals' EXIT
    "$2"
  )
  local rc=$?
  set -e
  if [ $rc -ne 0 ]; then echo "$1 bindings: FAILED"; status=1; else echo "$1 bindings: ok"; fi
}

test_python() {
  echo "--- python"
  PY=python3
  if python3 -m venv --system-site-packages "$WORK/venv" >/dev/null 2>&1; then
    PY=$WORK/venv/bin/python
    # from a copy (setuptools writes build/ and *.egg-info next to the sources); offline when
    # the venv has setuptools (Python <= 3.11), else pip fetches it from PyPI
    cp -r "$ROOT/bindings/python" "$WORK/pysrc"
    rm -rf "$WORK/pysrc/build" "$WORK/pysrc"/*.egg-info
    "$PY" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation "$WORK/pysrc" 2>/dev/null \
      || "$PY" -m pip install -q --disable-pip-version-check "$WORK/pysrc"
    "$PY" -c 'import pytest' 2>/dev/null || "$PY" -m pip install -q --disable-pip-version-check 'pytest>=7'
  else
    echo "(no venv module: testing the source tree)"
    export PYTHONPATH=$ROOT/bindings/python
  fi
  cd "$WORK"
  "$PY" -m pytest -v -p no:cacheprovider "$ROOT/bindings/python/tests"
  start_sim
  "$PY" "$ROOT/examples/python/sale.py"
  stop_sim
}
if want python; then section python test_python; fi

test_csharp() {
  echo "--- csharp"
  OUT=$WORK/cs
  mkdir -p "$OUT"
  mcs -nologo -target:library -codepage:utf8 -warnaserror+ -out:"$OUT/IntegrationHub.dll" \
    bindings/csharp/IntegrationHub.cs bindings/csharp/Terminal.cs bindings/csharp/Orders.cs
  cp bindings/csharp/IntegrationHub.dll.config "$OUT/"
  mcs -nologo -codepage:utf8 -warnaserror+ -r:"$OUT/IntegrationHub.dll" -r:System.Core.dll -out:"$OUT/SaleTest.exe" bindings/csharp/tests/SaleTest.cs
  mcs -nologo -codepage:utf8 -warnaserror+ -r:"$OUT/IntegrationHub.dll" -r:System.Core.dll -out:"$OUT/Sale300Test.exe" bindings/csharp/tests/Sale300Test.cs
  mcs -nologo -codepage:utf8 -warnaserror+ -r:"$OUT/IntegrationHub.dll" -r:System.Core.dll -out:"$OUT/PayTest.exe" bindings/csharp/tests/PayTest.cs
  # The example uses only the vendor surface: compile it against a stand-in of the vendor's
  # 2.5.0.1 assembly, then run it with ours in place (binary drop-in check).
  mkdir -p "$OUT/vendor"
  mcs -nologo -target:library -out:"$OUT/vendor/IntegrationHub.dll" bindings/csharp/tests/VendorSurfaceStub.cs
  mcs -nologo -codepage:utf8 -r:"$OUT/vendor/IntegrationHub.dll" -out:"$OUT/Sale.exe" examples/csharp/Sale.cs
  cd "$OUT"
  export LD_LIBRARY_PATH=$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  start_sim
  timeout 180 mono SaleTest.exe
  start_sim --model 300tr
  OKC_TRANSPORT="$OKC_TRANSPORT?model=300tr" timeout 180 mono Sale300Test.exe
  start_sim --model 300tr --ignore-ack
  OKC_TRANSPORT="$OKC_TRANSPORT?model=300tr" timeout 120 mono Sale300Test.exe ignore-ack
  start_sim
  timeout 120 mono Sale.exe
  stop_sim
  start_pay_terminals
  start_cloud
  timeout 180 mono PayTest.exe
  stop_terminals
}
if want csharp; then section csharp test_csharp; fi

test_delphi() {
  echo "--- delphi (fpc -Mdelphi)"
  OUT=$WORK/fpc
  mkdir -p "$OUT"
  for src in bindings/delphi/tests/OkcSaleTest.pas bindings/delphi/tests/OkcPayTest.pas examples/delphi/OkcSale.pas; do
    fpc -Mdelphi -vew -Fubindings/delphi -Fl"$LIBDIR" -FU"$OUT" -FE"$OUT" "$src" >"$OUT/build.log" 2>&1 \
      || { cat "$OUT/build.log"; exit 1; }
  done
  cd "$OUT"
  export LD_LIBRARY_PATH=$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  start_sim
  timeout 180 ./OkcSaleTest
  start_sim --model 300tr
  OKC_TRANSPORT="$OKC_TRANSPORT?model=300tr" timeout 120 ./OkcSaleTest 300tr
  start_sim
  timeout 120 ./OkcSale
  stop_sim
  start_pay_terminals
  start_cloud
  timeout 180 ./OkcPayTest
  stop_terminals
}
if want delphi; then section delphi test_delphi; fi

exit $status
