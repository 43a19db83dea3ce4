#!/usr/bin/env bash
# USB AOA transport through the real libusb against phones emulated by umockdev
# (tests/umockdev/fixture.py wraps the test binary; the tests are #[ignore]d in plain cargo test).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(cargo test --test usb_umockdev --no-run --message-format=json 2>/dev/null |
  /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "usb_umockdev" and m.get("executable"):
        print(m["executable"])
')
if [ -z "$bin" ]; then
  echo "could not build tests/usb_umockdev.rs" >&2
  cargo test --test usb_umockdev --no-run
  exit 1
fi
timeout 600 umockdev-wrapper /usr/bin/python3 tests/umockdev/fixture.py -- \
  "$bin" --ignored --test-threads=1 --nocapture
