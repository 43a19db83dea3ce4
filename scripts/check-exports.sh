#!/usr/bin/env bash
# Check the export tables of the vendor-compatible libraries against the vendor's nine names
# (src/ffi/vendor.exports):
#   scripts/check-exports.sh linux   path/to/libIntegrationHub.so
#   scripts/check-exports.sh win32   path/to/IntegrationHubCpp.dll   (also: every export returns
#                                                                     with a plain `ret`, cdecl)
#   scripts/check-exports.sh win64   path/to/IntegrationHubCpp.dll
# Exits non-zero with a diff on any difference.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kind=$1
lib=$2
want=$(sort "$root/src/ffi/vendor.exports")
case "$kind" in
  linux)
    got=$(nm -D --defined-only "$lib" | awk 'NF == 3 && $2 != "A" { print $3 }' | sort)
    bad=$(nm -D --defined-only "$lib" | awk 'NF == 3 && $2 != "A" && $2 != "T"')
    if [ -n "$bad" ]; then echo "non-function exports: $bad"; exit 1; fi
    ;;
  win32 | win64)
    od=x86_64-w64-mingw32-objdump
    [ "$kind" = win32 ] && od=i686-w64-mingw32-objdump
    table=$($od -p "$lib" | sed -n '/\[Ordinal\/Name Pointer\] Table/,/^$/p')
    got=$(echo "$table" | awk '/^[[:space:]]*\[ *[0-9]+\]/ { print $NF }' | sort)
    # Same ordinals as the vendor (8..16 in alphabetical order).
    ords=$($od -p "$lib" | awk '/^Ordinal Base/ { print $NF }')
    if [ "$ords" != 8 ]; then echo "ordinal base is $ords, vendor's is 8"; exit 1; fi
    ;;
  *) echo "unknown kind $kind"; exit 2 ;;
esac
if [ "$got" != "$want" ]; then
  echo "export table of $lib differs from the vendor's nine names:"
  diff <(echo "$want") <(echo "$got") || true
  exit 1
fi
echo "$lib: exactly the vendor's nine exports"
if [ "$kind" = win32 ]; then
  # __cdecl: the caller pops the arguments, so no export may end in `ret $N`.
  dis=$(i686-w64-mingw32-objdump -d --no-show-raw-insn "$lib")
  for sym in $want; do
    body=$(awk -v s="<_${sym}>:" -v t="^<_${sym}@[0-9]+>:$" '$2 == s || $2 ~ t { on = 1; next } on && /^$/ { exit } on { print }' <<<"$dis")
    if [ -z "$body" ]; then echo "no code found for _$sym"; exit 1; fi
    if grep -qE '\sret\s+\$' <<<"$body"; then
      echo "_$sym pops its arguments (ret \$N): not __cdecl"; grep -E 'ret' <<<"$body"; exit 1
    fi
    if ! grep -qE '\sret\s*$|\sjmp\s' <<<"$body"; then
      echo "_$sym: no plain ret found"; exit 1
    fi
  done
  echo "$lib: every export returns with a plain ret (__cdecl)"
fi
