"""End-to-end tests of the Python binding against `okc sim` over loopback TCP."""

from __future__ import annotations

import ctypes
import json
import threading
import uuid

import pytest

import okclink
from okclink import _native

# A basket the simulator sells (X30TR: payments inside the basket).
def sale_basket(basket_id: str) -> okclink.Basket:
    return okclink.Basket(
        basket_id=basket_id,
        document_type=0,
        items=[
            okclink.Item("ÇAYKUR RİZE ÇAY", price=1500, quantity=2000, section_no=1, tax_percent=1000),
            okclink.Item("SİMİT", price=1000, quantity=1000, section_no=1, tax_percent=1000),
        ],
        payment_items=[okclink.PaymentItem(4000, type=1, description="Nakit")],
    )


# The simulator answers a payment type it does not know with the 300TR's cp1254 text
# "Geçersiz ödeme tipi" (WIRE.md, samples/README.md); the binding must hand it over as str.
REJECT_TEXT = "Geçersiz ödeme tipi"


def reject_basket(basket_id: str) -> dict:
    return {
        "basketID": basket_id,
        "items": [{"name": "ÇAY", "price": 1500, "quantity": 1000, "sectionNo": 1, "taxPercent": 1000, "type": 0}],
        "paymentItems": [{"amount": 1500, "description": "Bilinmeyen", "type": 99}],
    }


def test_version_is_loaded():
    v = okclink.version()
    assert v and v[0].isdigit(), v


def test_full_sale(hub: okclink.Hub):
    serial = hub.wait_connected(timeout=10)
    assert serial, "device serial must not be empty"
    assert hub.active_device_index == 0
    assert hub.device_model == "X30TR"
    # The connection event is queued (replayed on callback registration or delivered live;
    # it may trail wait_connected, which returns from the runtime's own state).
    first = hub.next_event(timeout=5)
    assert first == okclink.DeviceState(True, serial)
    assert hub.device_state == okclink.DeviceState(True, serial)

    info = hub.fiscal_info(timeout=5)
    assert isinstance(info, okclink.FiscalInfo)
    assert info.section_count == len(info.sections) > 0
    assert all(isinstance(s, okclink.Section) and s.section_no > 0 for s in info.sections)
    assert info.raw["sections"][0]["sectionNo"] == info.sections[0].section_no
    fresh = hub.fiscal_info_json()
    assert json.loads(fresh) == info.raw
    assert hub.last_fiscal_info_json() == fresh
    assert hub.last_fiscal_info() == info

    bid = str(uuid.uuid4())
    sale = hub.sell(sale_basket(bid), timeout=30)
    assert isinstance(sale, okclink.SaleInfo)
    assert sale.ok and sale.status == 0
    assert sale.basket_id == bid
    assert sale.payment_count == 1
    assert len(sale.payment_items) == 1
    pay = sale.payment_items[0]
    assert pay.type == 1
    assert pay.amount == pytest.approx(4000)
    assert sale.receipt_no > 0

    # The same type-3 document went through the general event queue as well.
    seen = [ev for ev in hub.events(timeout=2) if isinstance(ev, okclink.SerialIn)]
    sale_events = [ev for ev in seen if ev.type == okclink.SALE_INFO and isinstance(ev.json(), dict)]
    assert sale_events, seen
    assert sale_events[0].json()["basketID"] == bid
    assert sale_events[0].json()["status"] == 0


def test_second_sale_and_handlers(hub: okclink.Hub):
    got = []
    hub.on_serial_in = lambda t, v: got.append((t, v))
    hub.wait_connected(timeout=10)
    for _ in range(2):
        bid = str(uuid.uuid4())
        sale = hub.sell(sale_basket(bid).to_dict(), timeout=30)
        assert sale.ok and sale.basket_id == bid
        assert any(t == 3 and bid in v for t, v in got)


def test_rejected_basket_text_is_utf8(hub: okclink.Hub):
    hub.wait_connected(timeout=10)
    with pytest.raises(okclink.BasketRejectedError) as ei:
        hub.sell(reject_basket(str(uuid.uuid4())), timeout=30)
    err = ei.value
    assert err.reply_type == okclink.BASKET_REPLY
    assert str(err) == REJECT_TEXT
    assert isinstance(err.message, str)
    # correct decoding, not mojibake of the cp1254 bytes
    assert "ç" in err.message and "ö" in err.message
    assert "\ufffd" not in err.message and "Ã" not in err.message

    # the raw serialIn value in the event queue is the same text
    texts = [ev.value for ev in hub.events(timeout=1) if isinstance(ev, okclink.SerialIn) and ev.type == 1]
    assert REJECT_TEXT in texts


def test_invalid_json_and_utf8_are_typed(hub: okclink.Hub):
    hub.wait_connected(timeout=10)
    with pytest.raises(okclink.InvalidJsonError) as ei:
        hub.send_basket("{not json")
    assert ei.value.status == _native.OKC_ERR_INVALID_JSON
    assert isinstance(ei.value, ValueError)
    with pytest.raises(okclink.InvalidJsonError):
        hub.send_payment('{"amount": 100,')
    with pytest.raises(okclink.InvalidUtf8Error) as eu:
        hub.send_basket(b'{"note": "\xff\xfe"}')
    assert eu.value.status == _native.OKC_ERR_INVALID_UTF8
    with pytest.raises(okclink.PayloadTooLargeError):
        hub.send_basket(json.dumps({"note": "x" * (2 << 20)}))
    # the hub is still fine afterwards
    assert hub.active_device_index == 0


def test_closed_handle(sim, hub_factory):
    hub = hub_factory([sim.transport])
    hub.wait_connected(timeout=10)
    raw = hub._handle
    hub.close()
    hub.close()  # idempotent
    assert hub.closed
    with pytest.raises(okclink.ClosedError):
        hub.send_basket(sale_basket("x"))
    with pytest.raises(okclink.ClosedError):
        hub.fiscal_info()
    with pytest.raises(okclink.ClosedError):
        _ = hub.active_device_index
    # events queued before the close can still be drained; then the iterator ends
    drained = list(hub.events(timeout=1))
    assert all(isinstance(ev, (okclink.DeviceState, okclink.SerialIn)) for ev in drained)
    with pytest.raises(okclink.ClosedError):
        hub.next_event(timeout=0.1)
    # The library itself rejects the stale pointer (no use-after-free).
    lib = _native.load()
    assert lib.okc_send_basket(raw, b"{}") == _native.OKC_ERR_BAD_HANDLE
    assert lib.okc_active_device_index(raw) == -1
    assert lib.okc_destroy(raw) in (_native.OKC_ERR_BAD_HANDLE, _native.OKC_OK)
    assert _native.last_error(lib) != ""


def test_handler_exception_is_contained(sim, hub_factory, caplog):
    calls = []

    def bad_state(connected, serial):
        calls.append((connected, serial))
        raise RuntimeError("customer bug")

    hub = hub_factory([sim.transport], on_device_state=bad_state)
    serial = hub.wait_connected(timeout=10)
    ev = hub.next_event(timeout=5)
    assert ev == okclink.DeviceState(True, serial)
    assert (True, serial) in calls
    assert any("customer bug" in r.getMessage() or r.exc_info for r in caplog.records)
    # still fully working
    assert hub.fiscal_info(timeout=5).sections


def test_disconnect_and_reconnect(hub: okclink.Hub):
    serial = hub.wait_connected(timeout=10)
    hub.disconnect()
    assert hub.active_device_index == -1
    states = [ev for ev in hub.events(timeout=2) if isinstance(ev, okclink.DeviceState)]
    assert okclink.DeviceState(False, "") in states
    with pytest.raises(okclink.NoDeviceError):
        hub.send_basket(sale_basket("x"))
    hub.reconnect()
    assert hub.wait_connected(timeout=10) == serial
    assert hub.active_device_index == 0
    assert hub.sell(sale_basket(str(uuid.uuid4())), timeout=30).ok


def test_no_device(hub_factory):
    from conftest import free_port

    hub = hub_factory([f"tcp://127.0.0.1:{free_port()}"])  # nobody listens there
    assert hub.active_device_index == -1
    assert hub.device_model is None
    with pytest.raises(okclink.NoDeviceError):
        hub.send_basket(sale_basket("x"))
    with pytest.raises(okclink.NoDeviceError):
        hub.fiscal_info(timeout=1)
    with pytest.raises(okclink.OkcTimeoutError):
        hub.wait_connected(timeout=0.3)


def test_bad_config_is_typed():
    with pytest.raises(okclink.ConfigError):
        okclink.Hub("x", transports=["carrier-pigeon://nowhere"])


def test_close_from_inside_callback(sim, hub_factory):
    closed = threading.Event()
    ready = threading.Event()
    holder = {}

    def on_state(connected, _serial):
        if connected and ready.wait(5):
            holder["hub"].close()  # must neither deadlock nor crash
            closed.set()

    hub = hub_factory([sim.transport], queue_events=False, on_device_state=on_state)
    holder["hub"] = hub
    ready.set()
    assert closed.wait(10)
    assert hub.closed
    with pytest.raises(okclink.ClosedError):
        hub.send_basket("{}")


def test_cancelled_sale_is_reported(sim_factory, hub_factory):
    sim = sim_factory("--cancel-sales")
    hub = hub_factory([sim.transport])
    hub.wait_connected(timeout=10)
    bid = str(uuid.uuid4())
    sale = hub.sell(sale_basket(bid), timeout=30)
    assert sale.basket_id == bid
    assert sale.status == -1
    assert not sale.ok


def test_device_lost_during_sale(sim_factory, hub_factory):
    sim = sim_factory("--sale-delay-ms", "5000")
    hub = hub_factory([sim.transport])
    hub.wait_connected(timeout=10)
    result = {}
    accepted = threading.Event()
    real_send = hub.send_basket

    def send_and_flag(doc):
        real_send(doc)  # raises unless the device took the basket
        accepted.set()

    hub.send_basket = send_and_flag  # sell() sends through it

    def run():
        try:
            result["sale"] = hub.sell(sale_basket(str(uuid.uuid4())), timeout=30)
        except Exception as e:  # noqa: BLE001 — inspected below
            result["error"] = e

    t = threading.Thread(target=run)
    t.start()
    assert accepted.wait(10), result
    # the device has the basket and is "printing" (5 s); now it goes away
    sim.proc.kill()
    sim.proc.wait()
    t.join(20)
    assert not t.is_alive()
    assert isinstance(result.get("error"), okclink.NoDeviceError), result
    assert hub.active_device_index == -1
    with pytest.raises(okclink.NoDeviceError):
        hub.send_basket(sale_basket("x"))


# ----------------------------------------------------------------------------- 300TR


def basket_300tr(basket_id: str) -> okclink.Basket:
    b = sale_basket(basket_id)
    b.payment_items = None  # the 300TR takes payments separately (type 10)
    return b


@pytest.fixture
def hub300(sim_factory, hub_factory):
    sim = sim_factory("--model", "300tr")
    hub = hub_factory([sim.transport + "?model=300tr"])
    hub.wait_connected(timeout=10)
    return hub


def test_300tr_sale_with_separate_payments(hub300: okclink.Hub):
    assert hub300.active_device_index == 1
    assert hub300.device_model == "300TR"
    info = hub300.fiscal_info(timeout=5)
    assert info.sections
    bid = str(uuid.uuid4())
    sale = hub300.sell(
        basket_300tr(bid),
        payments=[okclink.PaymentItem(1000, type=3, description="Kredi Kartı"), {"amount": 3000, "description": "Nakit", "type": 1}],
        timeout=30,
    )
    assert sale.ok and sale.basket_id == bid
    assert sale.payment_count == 2
    assert [(p.type, p.amount) for p in sale.payment_items] == [(3, 1000.0), (1, 3000.0)]
    replies = [ev for ev in hub300.events(timeout=1) if isinstance(ev, okclink.SerialIn)]
    assert [ev.type for ev in replies if ev.type in (1, 10)] == [1, 10, 10]


def test_300tr_refuses_payments_inside_the_basket(hub300: okclink.Hub):
    with pytest.raises(okclink.BasketRejectedError) as ei:
        hub300.sell(sale_basket(str(uuid.uuid4())), timeout=30)
    assert str(ei.value) == "Ödemeleri ayrı ayrı göndermelisiniz"
    assert ei.value.reply_type == okclink.BASKET_REPLY


def test_300tr_refuses_unknown_payment_type(hub300: okclink.Hub):
    with pytest.raises(okclink.BasketRejectedError) as ei:
        hub300.sell(basket_300tr(str(uuid.uuid4())), payments=[{"amount": 4000, "type": 2}], timeout=30)
    assert str(ei.value) == REJECT_TEXT
    assert ei.value.reply_type == okclink.PAYMENT_REPLY
    # the receipt is still open: void it
    voided = hub300.void(timeout=30)
    assert voided.status == 99 and not voided.ok
    assert voided.payment_count == 0


def test_300tr_ack_timeout(sim_factory, hub_factory):
    sim = sim_factory("--model", "300tr", "--ignore-ack")
    hub = hub_factory([sim.transport + "?model=300tr"], ack_timeout_ms=300)
    hub.wait_connected(timeout=10)
    with pytest.raises(okclink.AckTimeoutError) as ei:
        hub.send_basket(basket_300tr(str(uuid.uuid4())))
    assert ei.value.status == _native.OKC_ERR_ACK_TIMEOUT
    nine = [ev for ev in hub.events(timeout=2) if isinstance(ev, okclink.SerialIn) and ev.type == okclink.NOT_CONNECTED]
    assert nine and nine[0].value == "Device is not connected"


def _sale_ids(hub, seconds: float) -> list:
    """basketIDs of the sale infos in ``hub``'s queue, until it is quiet for ``seconds``."""
    ids = []
    while True:
        try:
            ev = hub.next_event(timeout=seconds)
        except okclink.OkcTimeoutError:
            return ids
        if isinstance(ev, okclink.SerialIn) and ev.type == okclink.SALE_INFO:
            ids.append(ev.json()["basketID"])


def test_explicit_confirm_stops_redelivery_after_a_restart(sim, hub_factory, tmp_path):
    """With ``confirm="explicit"`` a sale info the application did not confirm is delivered
    again by the next hub on the same journal; once ``Hub.confirm`` marked it, it is not."""
    journal = str(tmp_path / "confirm.sqlite")
    first = hub_factory([sim.transport], journal=journal, confirm="explicit")
    first.wait_connected(timeout=10)
    sale = first.sell(sale_basket("PY-CONFIRM-1"), timeout=30)
    assert sale.ok and sale.basket_id == "PY-CONFIRM-1"
    with pytest.raises(okclink.NotFoundError):
        first.confirm("PY-NO-SUCH-BASKET")
    first.close()

    # Not confirmed: the next hub on the journal delivers it again.
    second = hub_factory([sim.transport], journal=journal, confirm="explicit")
    assert _sale_ids(second, 3) == ["PY-CONFIRM-1"]
    second.confirm("PY-CONFIRM-1")
    second.confirm("PY-CONFIRM-1")  # idempotent
    second.close()

    # Confirmed: the third hub sells a new basket and never delivers the first again.
    third = hub_factory([sim.transport], journal=journal, confirm="explicit")
    third.wait_connected(timeout=10)
    later = third.sell(sale_basket("PY-CONFIRM-2"), timeout=30)
    assert later.basket_id == "PY-CONFIRM-2"
    assert _sale_ids(third, 2) == ["PY-CONFIRM-2"]
    third.confirm("PY-CONFIRM-2")
