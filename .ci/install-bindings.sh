#!/usr/bin/env bash
# Toolchains for the language bindings' tests (.ci/test-bindings.sh): mono's C# compiler and
# runtime (.NET Framework 4.x profile), Free Pascal (compiler + RTL units), pytest, venv.
# Idempotent and non-interactive.
set -euo pipefail

apt_install() {
  if [ ! -f /var/lib/okclink-apt-updated ]; then
    apt-get update -qq && touch /var/lib/okclink-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

need=()
command -v mcs >/dev/null || need+=(mono-mcs)
command -v mono >/dev/null || need+=(mono-runtime)
command -v fpc >/dev/null || need+=(fp-compiler)
ls /usr/lib/*/fpc/*/units/*/rtl-objpas >/dev/null 2>&1 || need+=(fp-units-rtl)
if [ ${#need[@]} -gt 0 ]; then
  apt_install mono-mcs mono-runtime fp-compiler fp-units-rtl
fi

# pytest: pip where allowed, else Debian's package (PEP 668 "externally managed" system Python)
if ! python3 -c 'import pytest' 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check 'pytest>=7' 2>/dev/null || apt_install python3-pytest
fi
# venv (to test `pip install bindings/python`); Debian ships it separately
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv \
  || echo "python3-venv unavailable: the bindings test will use the source tree" >&2
