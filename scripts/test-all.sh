#!/usr/bin/env bash
# Runs every test of the project: formatting and lints, the Rust test suite (protocol,
# simulator, runtime, C API), then each extra suite in .ci/test-*.sh (C/C++ drop-in programs,
# Windows DLLs under wine, .NET/Python/FreePascal bindings, USB through umockdev, serial
# over a pty). Installs what those suites need first (.ci/install-*.sh; apt, rustup targets).
# Prints one closing line "suites: N passed, M failed" and exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
passed=0
failed=0
failures=()

run() {
  local name=$1
  shift
  echo "=== $name: $*"
  local t0=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    echo "=== $name: ok ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "=== $name: FAILED ($((SECONDS - t0)) s)"
  fi
  echo "=== disk: $(df -Pm . | awk 'NR==2 {print $4}') MB free, target $(du -sm "${CARGO_TARGET_DIR:-target}" 2>/dev/null | cut -f1) MB"
}

# System packages and toolchains the extra suites need (idempotent; skipped when present).
if [ "${OKC_SKIP_INSTALL:-0}" != 1 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    if [ ! -f /var/lib/okclink-apt-updated ] ; then
      apt-get update -qq && touch /var/lib/okclink-apt-updated
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libusb-1.0-0-dev pkg-config >/dev/null
  fi
  for f in .ci/install-*.sh; do
    [ -f "$f" ] || continue
    run "install $(basename "$f" .sh)" bash "$f"
  done
fi

run fmt cargo fmt --all -- --check
run clippy cargo clippy --all-targets -- -D warnings
run "cargo test" cargo test --all-targets
run "doc tests" cargo test --doc

for f in .ci/test-*.sh; do
  [ -f "$f" ] || continue
  run "$(basename "$f" .sh)" bash "$f"
done

if [ "$failed" -gt 0 ]; then
  echo "failed suites: ${failures[*]}"
fi
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
