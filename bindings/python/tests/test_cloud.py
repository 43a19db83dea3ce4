"""The Python binding through the TokenX Connect cloud back end, against `okc sim-cloud` over
loopback: the same Hub API as on a cable; only the transport and the credentials differ."""

from __future__ import annotations

import uuid

import pytest

import okclink

TERMINAL = "AV00000000001"


@pytest.fixture
def cloud_factory(okc_server):
    def make(*args: str) -> str:
        port = okc_server(["sim-cloud"], "--user", "py:secret", *args)
        return f"tokenx+http://127.0.0.1:{port}?terminal-id={TERMINAL}"

    yield make


def cloud_hub(hub_factory, transport: str, secret: str = "secret") -> okclink.Hub:
    return hub_factory(
        [transport],
        tokenx_client_id="py",
        tokenx_client_secret=secret,
        tokenx_poll_after_ms=200,
    )


def basket(basket_id: str) -> okclink.Basket:
    return okclink.Basket(
        basket_id=basket_id,
        document_type=0,
        items=[okclink.Item("ÇAY", price=1500, quantity=2000, section_no=1, tax_percent=1000)],
        payment_items=[okclink.PaymentItem(3000, type=1, description="Nakit")],
    )


def test_a_sale_through_the_cloud(cloud_factory, hub_factory):
    hub = cloud_hub(hub_factory, cloud_factory("--device-delay-ms", "100"))
    assert hub.wait_connected(timeout=10) == TERMINAL
    assert hub.active_device_index == 0
    info = hub.fiscal_info(timeout=5)
    assert info.section_count == len(info.sections) > 0
    assert any(p.name == "POŞET" for p in info.plus)
    bid = str(uuid.uuid4())
    sale = hub.sell(basket(bid), timeout=20)
    assert sale.basket_id == bid
    assert sale.ok and sale.receipt_no >= 1
    with pytest.raises(okclink.UnsupportedError):
        hub.send_payment({"amount": 3000, "type": 1})


def test_refusals_and_bad_credentials(cloud_factory, hub_factory):
    transport = cloud_factory("--outcome", "manual")
    hub = cloud_hub(hub_factory, transport)
    assert hub.wait_connected(timeout=10) == TERMINAL
    hub.send_basket(basket(str(uuid.uuid4())))
    with pytest.raises(okclink.CloudRejectedError) as e:
        hub.send_basket(basket(str(uuid.uuid4())))
    assert "1100" in str(e.value)
    # Wrong secret: never connects (the auth call is refused), and says nothing secret.
    bad = cloud_hub(hub_factory, transport, secret="not-the-secret")
    with pytest.raises((okclink.OkcTimeoutError, okclink.NoDeviceError)):
        bad.wait_connected(timeout=1.5)
    with pytest.raises(okclink.NoDeviceError):
        bad.fiscal_info(timeout=1)
