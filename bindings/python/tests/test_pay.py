"""The Python payment API (okclink.Terminal over okc_pay_*) against `okc sim-terminal --nexo`."""

from __future__ import annotations

import threading
import time

import pytest

import okclink

from conftest import free_port


@pytest.fixture
def terminal_factory(okc_server):
    def make(*args: str) -> str:
        port = okc_server(["sim-terminal", "--nexo"], "--payment-ms", "100", "--busy-ms", "200", *args)
        return f"nexo+http://127.0.0.1:{port}?poiid=PY-POS"

    yield make


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
