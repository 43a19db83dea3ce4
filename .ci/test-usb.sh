#!/usr/bin/env bash
# USB AOA transport through the real libusb against phones emulated by umockdev, and the serial
# transport's FTDI discovery through emulated sysfs (tests/umockdev/fixture.py wraps each test
# binary; these tests are #[ignore]d in a plain cargo test).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for t in usb_umockdev serial_umockdev; do
bin=$(cargo test --test "$t" --no-run --message-format=json 2>/dev/null |
  /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == sys.argv[1] and m.get("executable"):
        print(m["executable"])
' "$t")
if [ -z "$bin" ]; then
  echo "could not build tests/$t.rs" >&2
  cargo test --test "$t" --no-run
  exit 1
fi
echo "--- $t (inside tests/umockdev/fixture.py)"
timeout 600 umockdev-wrapper /usr/bin/python3 tests/umockdev/fixture.py -- \
  "$bin" --ignored --test-threads=1 --nocapture || status=1
done
exit $status
