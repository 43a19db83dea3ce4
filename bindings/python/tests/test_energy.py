"""The Python Energy API (okclink.Orders over okc_energy_*) against `okc sim-cloud --fuel` and
`okc sim-terminal --nexo`."""

from __future__ import annotations

import json
import urllib.request

import pytest

import okclink

VT1 = "VT00000000001"
VT2 = "VT00000000002"


@pytest.fixture
def forecourt(okc_server, tmp_path):
    cloud = okc_server(["sim-cloud"], "--fuel", "34ABC123:152340", "--fuel", "06XYZ42:83780",
                       "--complete-delay-ms", "100")

    def orders(vt: str = VT1, **kw) -> okclink.Orders:
        return okclink.Orders(f"http://127.0.0.1:{cloud}", vt, "demo", "demo",
                              journal=str(tmp_path / f"journal-{vt}.sqlite"), **kw)

    def terminal(*args: str) -> okclink.Terminal:
        port = okc_server(["sim-terminal", "--nexo"], "--payment-ms", "100", "--busy-ms", "100", *args)
        return okclink.Terminal(f"nexo+http://127.0.0.1:{port}?poiid=PY-POS")

    def sim_order(order_id: str) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{cloud}/_sim/orders/{order_id}") as r:
            return json.loads(r.read())

    yield orders, terminal, sim_order


def test_list_and_get(forecourt):
    orders, _, _ = forecourt
    with orders() as o:
        all_open = o.list(status="OPEN")
        assert sorted(x["plate"] for x in all_open) == ["06XYZ42", "34ABC123"]
        one = o.list(plate="34abc123")
        assert len(one) == 1 and one[0]["amount"] == 152340
        assert o.get(one[0]["orderId"])["pumpTerminalId"]


def test_sell_approved_completes(forecourt):
    orders, terminal, sim_order = forecourt
    with orders() as o, terminal() as t:
        r = o.sell(t, plate="34ABC123")
        assert r["state"] == "completed", r
        assert r["receipt"] and r["payment"]["approved"] is True
        s = sim_order(r["orderId"])
        assert s["paymentsAccepted"] == 1 and s["state"] == "COMPLETED"


def test_sell_declined_unlocks(forecourt):
    orders, terminal, sim_order = forecourt
    with orders() as o, terminal("--outcome", "decline") as t:
        r = o.sell(t, plate="06XYZ42")
        assert r["state"] == "unlocked" and r["card"] == "not_approved", r
        assert r["reason"].startswith("declined")
        s = sim_order(r["orderId"])
        assert s["state"] == "OPEN" and s["paymentsAccepted"] == 0


def test_error_codes(forecourt):
    orders, _, _ = forecourt
    with orders(VT1) as a, orders(VT2) as b:
        oid = a.list(plate="34ABC123")[0]["orderId"]
        lock = a.lock(oid)
        assert lock["lockedBy"] == VT1 and lock["lockToken"]
        with pytest.raises(okclink.CloudRejectedError) as e:
            b.lock(oid)
        assert e.value.code == 1018
        with pytest.raises(okclink.OkcError) as nf:
            a.get("no-such-order")
        assert nf.value.code == 1006
        assert a.unlock(oid)["state"] == "OPEN"
        paid = b.pay(oid, "py-cash-1")
        assert paid["order"]["state"] == "PAID" and paid["replayed"] is False
        with pytest.raises(okclink.CloudRejectedError) as nc:
            a.lock(oid)
        assert nc.value.code == 1105
        assert a.recover() == []
