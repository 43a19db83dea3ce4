"""The Python payment API (okclink.Terminal over okc_pay_*) against `okc sim-terminal --nexo`."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

import okclink

from conftest import OKC_BIN, free_port


@pytest.fixture
def terminal_factory(tmp_path: Path):
    procs = []

    def make(*args: str) -> str:
        if OKC_BIN is None or not OKC_BIN.exists():
            pytest.fail("okc binary not found: run `cargo build` or set OKC_BIN")
        port = free_port()
        log = tmp_path / f"terminal-{port}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [str(OKC_BIN), "sim-terminal", "--nexo", "--listen", f"127.0.0.1:{port}",
                 "--payment-ms", "100", "--busy-ms", "200", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        procs.append(proc)
        deadline = time.monotonic() + 20
        while "listening on" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"okc sim-terminal did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.05)
        return f"nexo+http://127.0.0.1:{port}?poiid=PY-POS"

    yield make
    for p in procs:
        p.terminate()
        p.wait(5)


def test_pay_again_and_reverse(terminal_factory):
    with okclink.Terminal(terminal_factory()) as t:
        r = t.pay(1250, "SEK", reference="py-1")
        assert r["approved"] is True and r["amount"] == 1250 and r["currency"] == "SEK"
        assert r["receipts"]["customer"], r
        assert t.pay(1250, "SEK", reference="py-1") == r  # recorded, not charged again
        time.sleep(0.3)
        rev = t.reverse_last()
        assert rev["kind"] == "reversal" and rev["approved"] is True
        with pytest.raises(okclink.InvalidArgumentError):
            t.pay(0, "SEK", reference="py-zero")


def test_decline_and_refused_signature(terminal_factory):
    with okclink.Terminal(terminal_factory("--outcome", "decline")) as t:
        r = t.pay(999, "SEK", reference="py-decline")
        assert r["approved"] is False and "Refusal" in r["reason"]
    port = free_port()
    url = terminal_factory("--outcome", "signature", "--pos-listener", f"http://127.0.0.1:{port}/EPASSaleToPOI/3.1")
    seen = []

    def on_event(e):
        seen.append(e["event"])
        return False if e["event"] == "signature" else None

    with okclink.Terminal(url, listener=f"127.0.0.1:{port}", on_event=on_event) as t:
        r = t.pay(500, "SEK", reference="py-sign")
        assert r["approved"] is False
    assert "signature" in seen and "display" in seen


def test_abort_from_another_thread(terminal_factory):
    url = terminal_factory("--payment-ms", "3000")
    with okclink.Terminal(url) as t:
        box = {}
        th = threading.Thread(target=lambda: box.setdefault("r", t.pay(700, "SEK", reference="py-abort")))
        th.start()
        time.sleep(0.6)
        t.abort()
        th.join(10)
        assert box["r"]["approved"] is False and "Aborted" in box["r"]["reason"]


def test_unreachable_terminal():
    with okclink.Terminal("nexo+http://127.0.0.1:9") as t:
        with pytest.raises(okclink.NoDeviceError):
            t.pay(100, "SEK", reference="py-unreach")


def test_maintenance_setting(terminal_factory):
    url = terminal_factory()
    for bad in ("25:00", "3:00", "soon"):
        with pytest.raises(okclink.ConfigError) as e:
            okclink.Terminal(url, maintenance=bad)
        assert "maintenance" in str(e.value)
    with okclink.Terminal(url, maintenance="off") as t:
        r = t.pay(1250, "SEK", reference="py-maint-off")
        assert r["approved"] is True and r["amount"] == 1250
    with okclink.Terminal(url, maintenance="02:30") as t:
        assert t.pay(700, "SEK", reference="py-maint-0230")["approved"] is True
