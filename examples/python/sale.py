#!/usr/bin/env python3
"""A complete sale with the okclink Python binding.

    pip install ./bindings/python
    okc sim --listen 127.0.0.1:7700 &                      # or a real X30TR / 300TR
    OKCLINK_LIBRARY=target/debug/libokclink.so OKC_TRANSPORT=tcp://127.0.0.1:7700 \
        python3 examples/python/sale.py

Without OKC_TRANSPORT the library looks for a device on USB and on serial ports.
Exit code 0 when the receipt was printed (sale info status 0).
"""

import logging
import sys
import uuid

import okclink

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")


def main() -> int:
    with okclink.Hub("Örnek Büfe", log_dir="./logs") as hub:
        hub.on_device_state = lambda up, serial: logging.info("device %s %s", "connected" if up else "gone", serial)
        serial = hub.wait_connected(timeout=30)
        logging.info("okclink %s, %s %s", okclink.version(), hub.device_model, serial)

        info = hub.fiscal_info()
        for s in info.sections:
            logging.info("section %d %-12s KDV %%%d", s.section_no, s.name, s.tax_percent // 100)
        section = info.sections[0].section_no if info.sections else 1

        basket = okclink.Basket(
            basket_id=str(uuid.uuid4()),
            items=[
                okclink.Item("ÇAY", price=1500, quantity=2000, section_no=section, tax_percent=1000),
                okclink.Item("SİMİT", price=1000, section_no=section, tax_percent=1000),
            ],
            payment_items=[okclink.PaymentItem(4000, type=1, description="Nakit")],
        )
        try:
            sale = hub.sell(basket, timeout=120)
        except okclink.BasketRejectedError as e:
            logging.error("device refused the basket: %s", e)
            return 2
        logging.info(
            "receipt %d (Z %d) status %d: %s, paid %s",
            sale.receipt_no,
            sale.z_no,
            sale.status,
            sale.message,
            ", ".join(f"{p.amount:g} {p.description}" for p in sale.payment_items),
        )
        return 0 if sale.ok else 1


if __name__ == "__main__":
    sys.exit(main())
