"""The ``okc`` command of the platform wheels: runs the ``okc`` binary shipped in the package.

The binary sits in ``okclink/bin/`` (next to the library it shares the grafted libraries of a
manylinux wheel with); this launcher is what pip puts on ``PATH`` (``bin/okc``, or
``Scripts\\okc.exe`` on Windows). Arguments, standard streams and the exit code pass through
unchanged.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import List, Optional


def binary() -> str:
    """Path of the bundled ``okc`` binary (which may be missing in a source install)."""
    name = "okc.exe" if sys.platform.startswith("win") else "okc"
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", name)


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    exe = binary()
    if not os.path.isfile(exe):
        sys.stderr.write(
            f"okc: {exe} is not part of this installation (a platform wheel of okclink ships it; "
            "from a checkout use `cargo install --path crates/okc`)\n"
        )
        return 127
    if sys.platform.startswith("win"):
        try:
            return subprocess.call([exe] + args)
        except KeyboardInterrupt:
            return 130
    os.execv(exe, [exe] + args)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())
