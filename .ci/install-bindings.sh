#!/usr/bin/env bash
# Toolchains for the language bindings' tests (.ci/test-bindings.sh): mono's C# compiler and
# runtime (.NET Framework 4.x profile), Free Pascal (compiler + RTL units), pytest.
# Idempotent and non-interactive.
set -euo pipefail

need=()
command -v mcs >/dev/null || need+=(mono-mcs)
command -v mono >/dev/null || need+=(mono-runtime)
command -v fpc >/dev/null || need+=(fp-compiler)
ls /usr/lib/*/fpc/*/units/*/rtl-objpas >/dev/null 2>&1 || need+=(fp-units-rtl)
if [ ${#need[@]} -gt 0 ]; then
  if [ ! -f /var/lib/okclink-apt-updated ]; then
    apt-get update -qq && touch /var/lib/okclink-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    mono-mcs mono-runtime fp-compiler fp-units-rtl >/dev/null
fi

python3 -m pip --version >/dev/null 2>&1 || { echo "python3 with pip is required" >&2; exit 1; }
python3 -c 'import pytest' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check 'pytest>=7'
