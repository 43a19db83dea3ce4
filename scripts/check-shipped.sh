#!/usr/bin/env bash
# Check that shipped native libraries carry only what a shop runs: no simulator
# (crate okclink-sim), no fuzz harness (okclink-wire's `fuzzing` feature) and no test hook
# (the `test-hooks` feature: panic injection, handle/string counters).
# Usage: scripts/check-shipped.sh FILE...        (ELF .so/.a or PE .dll)
#        scripts/check-shipped.sh --expect-fail FILE   (negative control: FILE must fail)
# Each file must show the wire crate's symbols (so the symbol table is really there to look
# at) and none of the forbidden ones.
set -uo pipefail
forbidden='okclink_sim|okclink_wire[0-9a-z_]*fuzzing|7okclink[0-9a-z_]*fuzzing|fuzzing[0-9]*usb_default|inject_panic_once|live_handles|outstanding_strings'
expect_fail=0
if [ "${1:-}" = --expect-fail ]; then expect_fail=1; shift; fi
status=0
for f in "$@"; do
  case "$f" in
    *i686*|*windows-x86/*) nm_tool=i686-w64-mingw32-nm ;;
    *.dll|*windows*) nm_tool=x86_64-w64-mingw32-nm ;;
    *) nm_tool=nm ;;
  esac
  syms=$("$nm_tool" -a "$f" 2>/dev/null)
  if ! grep -q 'okclink_wire' <<<"$syms"; then
    echo "$f: no okclink_wire symbols visible: cannot check it (stripped?)"
    status=1
    continue
  fi
  bad=$(grep -oE "$forbidden" <<<"$syms" | sort | uniq -c)
  if [ -n "$bad" ]; then
    echo "$f: contains code that must not ship:"
    echo "$bad"
    status=1
  else
    echo "$f: no simulator, fuzz harness or test hook"
  fi
done
if [ $expect_fail = 1 ]; then
  [ $status -ne 0 ] && { echo "(negative control rejected, as it must be)"; exit 0; }
  echo "negative control was not rejected: the check is blind"
  exit 1
fi
exit $status
