"""Build glue for the okclink Python package (the metadata is in pyproject.toml).

* The version is the Rust crate's (``version`` in the repository's top ``Cargo.toml``, or
  ``OKC_VERSION`` set by ``scripts/dist.sh``); ``okclink.__version__`` must agree (checked by
  ``.ci/test-packages.sh``). From an unpacked sdist without the repository it falls back to
  ``okclink.__version__``.
* ``pip install ./bindings/python`` builds a pure-Python wheel: bring your own native library
  (``OKCLINK_LIBRARY``), as before.
* ``scripts/dist.sh`` builds the platform wheels: it stages the package with the prebuilt
  native library (``okclink/libokclink.so`` or ``okclink/okclink.dll``) and the ``okc``
  binary (``okclink/bin/okc[.exe]``) and sets ``OKC_WHEEL_PLAT`` (``linux_x86_64``,
  ``win_amd64``, ``win32``); the wheel is then tagged ``py3-none-PLAT`` (the library is loaded
  with ctypes, so one wheel serves every CPython 3 version) and gets the ``okc`` command.
  The Linux wheel is retagged manylinux by ``auditwheel repair``.
"""

import os
import re
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent
PLAT = os.environ.get("OKC_WHEEL_PLAT", "")


def crate_version() -> str:
    if os.environ.get("OKC_VERSION"):
        return os.environ["OKC_VERSION"]
    cargo = HERE.parent.parent / "Cargo.toml"
    if cargo.is_file():
        m = re.search(r'^\[package\]\s*$.*?^version\s*=\s*"([^"]+)"', cargo.read_text("utf-8"), re.M | re.S)
        if m:
            return m.group(1)
    init = (HERE / "okclink" / "__init__.py").read_text("utf-8")
    return re.search(r'^__version__ = "([^"]+)"', init, re.M).group(1)


# "scripts" is dynamic in pyproject.toml: only the platform wheels have the okc command.
kwargs = {"version": crate_version(), "entry_points": {}}

if PLAT:
    # setuptools >= 70.1 (its own bdist_wheel); only the platform-wheel build needs it.
    from setuptools.command.bdist_wheel import bdist_wheel
    from setuptools.dist import Distribution

    exe = ".exe" if PLAT.startswith("win") else ""
    for f in (HERE / "okclink" / "bin" / f"okc{exe}",):
        if not f.is_file():
            raise SystemExit(f"OKC_WHEEL_PLAT={PLAT} but {f} is missing (scripts/dist.sh stages it)")

    class PlatformWheel(bdist_wheel):
        def finalize_options(self) -> None:
            super().finalize_options()
            self.root_is_pure = False  # native code inside: platlib, not purelib

        def get_tag(self):
            return "py3", "none", PLAT

    class BinaryDistribution(Distribution):
        def has_ext_modules(self) -> bool:
            return True  # the package goes to platlib (the wheel's root), as auditwheel wants

    kwargs["cmdclass"] = {"bdist_wheel": PlatformWheel}
    kwargs["distclass"] = BinaryDistribution
    kwargs["entry_points"] = {"console_scripts": ["okc = okclink._cli:main"]}

setup(**kwargs)
