"""okclink — Python bindings for the open Token Integration Hub replacement.

Pure ctypes over the ``okc_*`` C API of ``libokclink`` (docs/C-API.md)::

    import okclink

    with okclink.Hub("My Shop", transports=["usb", "serial"]) as hub:
        serial = hub.wait_connected(timeout=30)
        info = hub.fiscal_info()
        sale = hub.sell(okclink.Basket(
            items=[okclink.Item("ÇAY", price=1500, section_no=1, tax_percent=1000)],
            payment_items=[okclink.PaymentItem(1500, type=1, description="Nakit")],
        ))
        print(sale.receipt_no, sale.ok)

The native library is looked up in ``OKCLINK_LIBRARY`` (file or directory), next to this
package, then by the system loader.
"""

from .errors import (
    AckTimeoutError,
    BadHandleError,
    BasketRejectedError,
    ClosedError,
    CloudRejectedError,
    ConfigError,
    InternalError,
    InvalidArgumentError,
    InvalidJsonError,
    InvalidUtf8Error,
    JournalError,
    NoDeviceError,
    NotFoundError,
    NullArgumentError,
    OkcError,
    OkcIOError,
    OkcTimeoutError,
    OutcomeUnknownError,
    PayloadTooLargeError,
    ResourceError,
    UnsupportedError,
)
from .hub import (
    BASKET_REPLY,
    NOT_CONNECTED,
    PAYMENT_REPLY,
    SALE_INFO,
    DeviceState,
    Event,
    Hub,
    SerialIn,
    version,
)
from .pay import Terminal
from .energy import Orders
from .models import (
    Basket,
    Currency,
    FiscalInfo,
    Item,
    PaymentItem,
    Plu,
    ReceiptPayment,
    SaleInfo,
    Section,
)

__version__ = "0.1.0"

__all__ = [
    "AckTimeoutError",
    "BadHandleError",
    "BasketRejectedError",
    "ClosedError",
    "CloudRejectedError",
    "ConfigError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidJsonError",
    "InvalidUtf8Error",
    "JournalError",
    "NoDeviceError",
    "NotFoundError",
    "NullArgumentError",
    "OkcError",
    "OkcIOError",
    "OkcTimeoutError",
    "OutcomeUnknownError",
    "PayloadTooLargeError",
    "ResourceError",
    "UnsupportedError",
    "BASKET_REPLY",
    "NOT_CONNECTED",
    "PAYMENT_REPLY",
    "SALE_INFO",
    "DeviceState",
    "Event",
    "Hub",
    "SerialIn",
    "Terminal",
    "Orders",
    "version",
    "Basket",
    "Currency",
    "FiscalInfo",
    "Item",
    "PaymentItem",
    "Plu",
    "ReceiptPayment",
    "SaleInfo",
    "Section",
]
