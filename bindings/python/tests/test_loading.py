"""Library lookup: OKCLINK_LIBRARY (file or directory) and a copy next to the package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import okclink
from conftest import LIBRARY

PROBE = "import okclink, sys; print(okclink.__file__); print(okclink.version())"


def _run(env_extra: dict, cwd: Path, pythonpath: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("OKCLINK_LIBRARY", "LD_LIBRARY_PATH")}
    env.update(env_extra)
    env["PYTHONPATH"] = pythonpath
    return subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_library_next_to_package(tmp_path: Path):
    assert LIBRARY is not None and LIBRARY.exists()
    pkg = tmp_path / "okclink"
    shutil.copytree(Path(okclink.__file__).parent, pkg, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    shutil.copy(LIBRARY, pkg / "libokclink.so")
    r = _run({}, tmp_path, str(tmp_path))
    assert r.returncode == 0, r.stderr
    first, ver = r.stdout.splitlines()[:2]
    assert first.startswith(str(pkg))
    assert ver == okclink.version()


def test_library_from_env_directory(tmp_path: Path):
    pkg = tmp_path / "src" / "okclink"
    shutil.copytree(Path(okclink.__file__).parent, pkg, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    libdir = tmp_path / "lib"
    libdir.mkdir()
    shutil.copy(LIBRARY, libdir / "libokclink.so")
    r = _run({"OKCLINK_LIBRARY": str(libdir)}, tmp_path, str(tmp_path / "src"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1] == okclink.version()


def test_missing_library_message(tmp_path: Path):
    pkg = tmp_path / "okclink"
    shutil.copytree(Path(okclink.__file__).parent, pkg, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    r = _run({"OKCLINK_LIBRARY": str(tmp_path / "nope.so")}, tmp_path, str(tmp_path))
    assert r.returncode != 0
    assert "OKCLINK_LIBRARY" in r.stderr and "nope.so" in r.stderr
