#!/usr/bin/env bash
# Print -L flags for the import libraries that the windows-targets crates ship
# (windows_i686_gnu / windows_x86_64_gnu: libwindows.0.NN.N.a). rustc's
# --print native-static-libs names them (-lwindows.0.52.0) but not their folder, so a
# manual link of libokclink.a needs these. usage: scripts/windows-libdirs.sh <i686|x86_64>
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
arch=$1
cd "$root"
cargo metadata --format-version 1 --filter-platform "${arch}-pc-windows-gnu" 2>/dev/null |
  python3 -c '
import json, os, sys
arch = sys.argv[1]
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == "windows_%s_gnu" % arch:
        d = os.path.join(os.path.dirname(p["manifest_path"]), "lib")
        if os.path.isdir(d):
            print("-L" + d)
' "$arch" | sort -u | tr '\n' ' '
