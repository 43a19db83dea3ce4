"""Typed exceptions; one class per ``OkcStatus`` error code (docs/C-API.md)."""

from __future__ import annotations

from typing import Dict, Optional, Type

from . import _native as n


class OkcError(Exception):
    """Base class of every okclink error. ``status`` is the ``OkcStatus`` code (negative)."""

    status: int = n.OKC_ERR_INTERNAL

    def __init__(self, message: str = "", status: Optional[int] = None):
        if status is not None:
            self.status = status
        self.message = message
        name = n.STATUS_NAMES.get(self.status, str(self.status))
        super().__init__(f"{message} ({name})" if message else name)


class NullArgumentError(OkcError, ValueError):
    status = n.OKC_ERR_NULL


class BadHandleError(OkcError):
    """The handle was NULL, already destroyed, or not created by this library."""

    status = n.OKC_ERR_BAD_HANDLE


class InvalidUtf8Error(OkcError, ValueError):
    status = n.OKC_ERR_INVALID_UTF8


class InvalidJsonError(OkcError, ValueError):
    status = n.OKC_ERR_INVALID_JSON


class PayloadTooLargeError(OkcError, ValueError):
    status = n.OKC_ERR_TOO_LARGE


class NoDeviceError(OkcError):
    """No active (handshaken) device."""

    status = n.OKC_ERR_NO_DEVICE


class OkcTimeoutError(OkcError, TimeoutError):
    status = n.OKC_ERR_TIMEOUT


class AckTimeoutError(OkcError):
    """A 300TR did not answer the pre-send ACK request (the vendor's -1 / serialIn 9)."""

    status = n.OKC_ERR_ACK_TIMEOUT


class ClosedError(OkcError):
    """The hub is closed (or shutting down)."""

    status = n.OKC_ERR_CLOSED


class ConfigError(OkcError, ValueError):
    status = n.OKC_ERR_CONFIG


class OkcIOError(OkcError, OSError):
    status = n.OKC_ERR_IO


class ResourceError(OkcError):
    """Out of a system resource, e.g. the hub's threads could not be started."""

    status = n.OKC_ERR_RESOURCE


class CloudRejectedError(OkcError):
    """A cloud back end (TokenX) refused the request; the message has the HTTP status, the
    cloud's status code and its description."""

    status = n.OKC_ERR_REJECTED


class UnsupportedError(OkcError):
    """The configured back end does not offer this call (e.g. send_payment on the cloud)."""

    status = n.OKC_ERR_UNSUPPORTED


class OutcomeUnknownError(OkcError):
    """A payment's answer was lost and the terminal did not tell its outcome in time: it may
    have been charged. Never pay again blindly; ask :meth:`okclink.Terminal.status` later."""

    status = n.OKC_ERR_OUTCOME_UNKNOWN


class InvalidArgumentError(OkcError, ValueError):
    """A bad amount, currency or reference."""

    status = n.OKC_ERR_INVALID_ARGUMENT


class JournalError(OkcError):
    """The journal file cannot be used (corrupt, locked, read-only, newer): the message names
    the file and what to do."""

    status = n.OKC_ERR_JOURNAL


class NotFoundError(OkcError, LookupError):
    """The journal (or the cloud) knows no such id, e.g. ``Hub.confirm`` of a basketID with no
    sale info."""

    status = n.OKC_ERR_NOT_FOUND


class InternalError(OkcError):
    status = n.OKC_ERR_INTERNAL


class BasketRejectedError(OkcError):
    """The device refused a basket or payment (reply text / status, or "Device is not connected")."""

    status = n.OKC_ERR_INTERNAL

    def __init__(self, message: str, reply_type: int, device_status: Optional[int] = None):
        self.reply_type = reply_type
        self.device_status = device_status
        super().__init__(message)

    def __str__(self) -> str:  # the device text itself, e.g. "Geçersiz ödeme tipi"
        return self.message


_BY_STATUS: Dict[int, Type[OkcError]] = {
    cls.status: cls
    for cls in (
        NullArgumentError,
        BadHandleError,
        InvalidUtf8Error,
        InvalidJsonError,
        PayloadTooLargeError,
        NoDeviceError,
        OkcTimeoutError,
        AckTimeoutError,
        ClosedError,
        ConfigError,
        OkcIOError,
        ResourceError,
        CloudRejectedError,
        UnsupportedError,
        OutcomeUnknownError,
        InvalidArgumentError,
        JournalError,
        NotFoundError,
        InternalError,
    )
}
_BY_STATUS[n.OKC_ERR_PANIC] = InternalError


def error_for(status: int, message: str = "") -> OkcError:
    """The exception instance for a (negative) ``OkcStatus``."""
    cls = _BY_STATUS.get(status, OkcError)
    return cls(message, status)
