"""Fixtures: locate the built library and the `okc` CLI, run `okc sim` on a free loopback port.

Environment (all optional):
  OKCLINK_LIBRARY  path of libokclink.so (or its directory)
  OKC_BIN          path of the `okc` binary
  CARGO_TARGET_DIR cargo target dir (default: <repo>/target); debug, then release, is searched
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
try:  # the installed package (pip install bindings/python), else the source tree
    import okclink  # noqa: F401
except ImportError:
    sys.path.insert(0, str(HERE.parent))


def _target_dirs() -> list:
    base = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    return [base / "debug", base / "release"]


def _find(env: str, name: str) -> Optional[Path]:
    if os.environ.get(env):
        p = Path(os.environ[env])
        return p / name if p.is_dir() else p
    for d in _target_dirs():
        if (d / name).exists():
            return d / name
    return None


OKC_BIN = _find("OKC_BIN", "okc")
LIBRARY = _find("OKCLINK_LIBRARY", "libokclink.so")
if LIBRARY is not None:
    os.environ["OKCLINK_LIBRARY"] = str(LIBRARY)
# The tests choose transports explicitly; an inherited OKC_TRANSPORT would override them.
os.environ.pop("OKC_TRANSPORT", None)


def pytest_report_header(config):  # noqa: ARG001
    import okclink

    return [
        f"okclink package: {os.path.dirname(okclink.__file__)}",
        f"okclink library: {LIBRARY}",
        f"okc binary: {OKC_BIN}",
    ]


@pytest.fixture(autouse=True)
def _journal(tmp_path: Path, monkeypatch):
    """Every test's payment journal is its own file (never ./logs: references of an earlier
    run would be "known")."""
    path = tmp_path / "journal.sqlite"
    monkeypatch.setenv("OKC_JOURNAL", str(path))
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def okc_server(tmp_path: Path):
    """``start(command, *extra)`` runs ``okc COMMAND… --listen 127.0.0.1:PORT EXTRA…`` (a
    simulator), waits for its "listening on" line and returns PORT; stopped after the test."""
    procs = []

    def start(command: list, *extra: str) -> int:
        if OKC_BIN is None or not OKC_BIN.exists():
            pytest.fail("okc binary not found: run `cargo build` or set OKC_BIN")
        port = free_port()
        log = tmp_path / f"{command[0]}-{port}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [str(OKC_BIN), *command, "--listen", f"127.0.0.1:{port}", *extra],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        procs.append(proc)
        deadline = time.monotonic() + 20
        while "listening on" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"okc {command[0]} did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.05)
        return port

    yield start
    for p in procs:
        p.terminate()
        p.wait(5)


class Simulator:
    def __init__(self, proc: subprocess.Popen, port: int, log: Path):
        self.proc = proc
        self.port = port
        self.log = log

    @property
    def transport(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _start_sim(tmp_path: Path, args) -> Simulator:
    if OKC_BIN is None or not OKC_BIN.exists():
        pytest.fail("okc binary not found: run `cargo build` or set OKC_BIN")
    port = free_port()
    log = tmp_path / f"sim-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(OKC_BIN), "sim", "--listen", f"127.0.0.1:{port}", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    s = Simulator(proc, port, log)
    deadline = time.monotonic() + 20
    while True:
        if proc.poll() is not None:
            pytest.fail(f"okc sim exited with {proc.returncode}:\n{s.output()}")
        # Wait for the simulator's own "listening on" line rather than probing the port: a
        # connection that is opened and dropped right before the real one can upset the
        # simulator's next session.
        if "listening on" in s.output():
            break
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"okc sim did not listen on {port}:\n{s.output()}")
        time.sleep(0.05)
    return s


def _stop_sim(s: Simulator) -> None:
    if s.proc.poll() is None:
        s.proc.terminate()
        try:
            s.proc.wait(5)
        except subprocess.TimeoutExpired:
            s.proc.kill()
            s.proc.wait()


@pytest.fixture
def sim_factory(tmp_path: Path):
    """sim_factory(*extra_args) → a started `okc sim` with e.g. "--cancel-sales"."""
    sims = []

    def make(*args: str) -> Simulator:
        s = _start_sim(tmp_path, args)
        sims.append(s)
        return s

    yield make
    for s in sims:
        _stop_sim(s)


@pytest.fixture
def sim(sim_factory) -> Simulator:
    return sim_factory()


@pytest.fixture
def hub_factory(tmp_path: Path):
    import okclink

    hubs = []

    def make(transports, **kw) -> "okclink.Hub":
        kw.setdefault("log_dir", str(tmp_path / "logs"))
        h = okclink.Hub("okclink pytest", transports=transports, **kw)
        hubs.append(h)
        return h

    yield make
    for h in hubs:
        h.close()


@pytest.fixture
def hub(sim: Simulator, hub_factory):
    return hub_factory([sim.transport])
