"""The Pythonic wrapper: :class:`Hub` (one ``okc_create`` handle)."""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

from . import _native as n
from .errors import BasketRejectedError, ClosedError, NoDeviceError, OkcTimeoutError, error_for
from .models import Document, FiscalInfo, SaleInfo, to_json

log = logging.getLogger("okclink")

# serialIn types (DROP-IN.md §5.1)
BASKET_REPLY = 1
SALE_INFO = 3
NOT_CONNECTED = 9
PAYMENT_REPLY = 10

DEVICE_MODELS = {0: "X30TR", 1: "300TR"}


@dataclass(frozen=True)
class SerialIn:
    """Data from the device (vendor ``serialInCallback(type, value)``)."""

    type: int
    value: str

    def json(self) -> Any:
        """The value parsed as JSON, or ``None`` when it is plain text (e.g. a cp1254 error message)."""
        try:
            return json.loads(self.value)
        except ValueError:
            return None


@dataclass(frozen=True)
class DeviceState:
    """Device (dis)connection (vendor ``deviceStateCallback(isConnected, id)``); ``serial`` is "" on loss."""

    connected: bool
    serial: str


Event = Union[SerialIn, DeviceState]
SerialInHandler = Callable[[int, str], None]
DeviceStateHandler = Callable[[bool, str], None]

_CLOSED = object()


def version() -> str:
    """Version of the loaded native library."""
    raw = n.load().okc_version()
    return raw.decode("utf-8") if raw else ""


def _encode_doc(doc: Document) -> bytes:
    if isinstance(doc, bytes):
        return doc  # passed through unchanged: the library validates UTF-8 and JSON
    return to_json(doc).encode("utf-8")


class Hub:
    """One connection object (the vendor's ``createCommunication`` / ``POSCommunication``).

    Creating it never blocks: discovery and the device handshake run in the background.
    Use it as a context manager, or call :meth:`close`.

    Events arrive on the library's dispatcher thread. They are delivered to the optional
    ``on_serial_in`` / ``on_device_state`` handlers (exceptions raised there are logged and
    swallowed) and queued for :meth:`events` / :meth:`next_event`.

    Configuration keywords are the keys of the C API config (docs/C-API.md), e.g.
    ``transports=["tcp://127.0.0.1:7700"]``, ``fiscal_timeout_ms=5000``, ``log_dir="./logs"``,
    ``max_payload_bytes`` (largest basket/payment you send), ``max_receive_bytes`` (largest
    device message accepted, 16 KiB to 64 MiB); ``config`` takes a dict of further keys. ``OKC_TRANSPORT`` in the environment overrides
    ``transports``.
    """

    def __init__(
        self,
        company_name: str = "okclink",
        *,
        transports: Optional[Sequence[str]] = None,
        on_serial_in: Optional[SerialInHandler] = None,
        on_device_state: Optional[DeviceStateHandler] = None,
        queue_events: bool = True,
        max_queued_events: int = 10000,
        config: Optional[Dict[str, Any]] = None,
        **config_keys: Any,
    ) -> None:
        self._lib = n.load()
        cfg: Dict[str, Any] = {"company_name": company_name}
        if transports is not None:
            cfg["transports"] = list(transports)
        cfg.update(config or {})
        cfg.update(config_keys)
        self.company_name = company_name
        self.on_serial_in = on_serial_in
        self.on_device_state = on_device_state
        self._lock = threading.Lock()
        self._subs: List["queue.Queue[Any]"] = []
        self._events: Optional["queue.Queue[Any]"] = None
        if queue_events:
            self._events = queue.Queue(max_queued_events)
            self._subs.append(self._events)
        self._state: Optional[DeviceState] = None
        self._state_cond = threading.Condition(self._lock)

        handle = ctypes.c_void_p()
        status = self._lib.okc_create(
            json.dumps(cfg, ensure_ascii=False).encode("utf-8"), ctypes.byref(handle)
        )
        if status != n.OKC_OK:
            raise error_for(status, n.last_error(self._lib))
        if not handle.value:
            raise error_for(n.OKC_ERR_INTERNAL, "okc_create returned a NULL handle")
        self._handle: Optional[int] = handle.value
        # The ctypes thunks must outlive every native call of them: they are kept on the object
        # and only dropped after okc_destroy (which guarantees no callback runs afterwards).
        self._serial_thunk = n.SERIAL_IN_FN(self._on_serial_in)
        self._state_thunk = n.DEVICE_STATE_FN(self._on_device_state)
        try:
            self._check(self._lib.okc_set_serial_in_callback(self._handle, self._serial_thunk, None))
            self._check(
                self._lib.okc_set_device_state_callback(self._handle, self._state_thunk, None)
            )
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ plumbing

    def _h(self) -> int:
        h = self._handle
        if h is None:
            raise ClosedError("the hub is closed")
        return h

    def _check(self, status: int) -> int:
        if status < 0:
            raise error_for(status, n.last_error(self._lib))
        return status

    def _publish(self, ev: Any) -> None:
        with self._lock:
            subs = list(self._subs)
        for q in subs:
            try:
                q.put_nowait(ev)
            except queue.Full:
                log.warning("okclink: event queue full, dropping %r", ev)

    def _on_serial_in(self, _user: Any, typ: int, value: Optional[bytes]) -> None:
        try:
            text = value.decode("utf-8", errors="replace") if value is not None else ""
            ev = SerialIn(int(typ), text)
            handler = self.on_serial_in
            if handler is not None:
                try:
                    handler(ev.type, ev.value)
                except Exception:  # customer code must never take the dispatcher down
                    log.exception("okclink: exception in on_serial_in handler (ignored)")
            self._publish(ev)
        except BaseException:  # never let anything unwind into native code
            log.exception("okclink: internal error in serial-in callback")

    def _on_device_state(self, _user: Any, connected: bool, serial: Optional[bytes]) -> None:
        try:
            text = serial.decode("utf-8", errors="replace") if serial is not None else ""
            ev = DeviceState(bool(connected), text)
            with self._state_cond:
                self._state = ev
                self._state_cond.notify_all()
            handler = self.on_device_state
            if handler is not None:
                try:
                    handler(ev.connected, ev.serial)
                except Exception:
                    log.exception("okclink: exception in on_device_state handler (ignored)")
            self._publish(ev)
        except BaseException:
            log.exception("okclink: internal error in device-state callback")

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Disconnect and free the native object. Bounded (≤ 2 s), idempotent; no event or
        handler runs after it returns (unless called from inside a handler)."""
        with self._lock:
            h, self._handle = getattr(self, "_handle", None), None
        if h is None:
            return
        status = self._lib.okc_destroy(h)
        if status < 0 and status != n.OKC_ERR_BAD_HANDLE:
            log.warning("okclink: okc_destroy failed: %s", n.STATUS_NAMES.get(status, status))
        self._publish(_CLOSED)

    @property
    def closed(self) -> bool:
        return self._handle is None

    def __enter__(self) -> "Hub":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # ------------------------------------------------------------------ vendor operations

    @property
    def active_device_index(self) -> int:
        """-1 no device, 0 X30TR (USB), 1 300TR (serial)."""
        return int(self._lib.okc_active_device_index(self._h()))

    @property
    def device_model(self) -> Optional[str]:
        """"X30TR", "300TR" or ``None``."""
        return DEVICE_MODELS.get(self.active_device_index)

    @property
    def device_state(self) -> Optional[DeviceState]:
        """The last device state reported by the library (``None`` before the first one)."""
        return self._state

    def send_basket(self, basket: Document) -> None:
        """Hand a basket to the device (vendor ``sendBasket`` returning 1).

        Raises :class:`NoDeviceError`, :class:`AckTimeoutError`, :class:`InvalidJsonError`, …
        The outcome arrives as events (type 1 reply, type 3 sale info); see :meth:`sell`.
        """
        self._check(self._lib.okc_send_basket(self._h(), _encode_doc(basket)))

    def confirm(self, basket_id: str) -> None:
        """The application has the sale info of ``basket_id``: it is not delivered again after
        a restart (journal, configuration ``confirm="explicit"``; with the default
        ``"callback"`` a sale info is confirmed when the callback returns).

        Raises :class:`NotFoundError` when the journal has no sale info for it,
        :class:`UnsupportedError` with the journal off, :class:`JournalError`.
        """
        self._check(self._lib.okc_confirm(self._h(), basket_id.encode("utf-8")))

    def send_payment(self, payment: Document) -> None:
        """Send a payment or a void (``{"isVoid": true}``); 300TR only (vendor ``sendPayment``)."""
        self._check(self._lib.okc_send_payment(self._h(), _encode_doc(payment)))

    def fiscal_info_json(self, timeout: Optional[float] = None) -> str:
        """Request fiscal info and wait (``None`` = configured default, 5 s); raw JSON text."""
        ms = -1 if timeout is None else max(0, int(timeout * 1000))
        out = ctypes.c_void_p()
        status = self._lib.okc_get_fiscal_info(self._h(), ms, ctypes.byref(out))
        text = n.take_string(self._lib, out)
        self._check(status)
        return text

    def fiscal_info(self, timeout: Optional[float] = None) -> FiscalInfo:
        """Request fiscal info and wait; parsed into :class:`FiscalInfo`."""
        return FiscalInfo.from_json(self.fiscal_info_json(timeout))

    def last_fiscal_info_json(self) -> str:
        """The last fiscal info received in this session, without asking the device ("" if none)."""
        out = ctypes.c_void_p()
        status = self._lib.okc_last_fiscal_info(self._h(), ctypes.byref(out))
        text = n.take_string(self._lib, out)
        self._check(status)
        return text

    def last_fiscal_info(self) -> Optional[FiscalInfo]:
        """:meth:`last_fiscal_info_json` parsed, or ``None`` when there is none."""
        text = self.last_fiscal_info_json()
        return FiscalInfo.from_json(text) if text else None

    def wait_connected(self, timeout: float = 10.0) -> str:
        """Wait until a device is active and identified; returns its fiscal serial."""
        out = ctypes.c_void_p()
        status = self._lib.okc_wait_connected(
            self._h(), max(0, int(timeout * 1000)), ctypes.byref(out)
        )
        serial = n.take_string(self._lib, out)
        self._check(status)
        return serial

    def reconnect(self) -> None:
        """Vendor ``reconnect``: restart discovery after :meth:`disconnect`."""
        self._check(self._lib.okc_reconnect(self._h()))

    def disconnect(self) -> None:
        """Vendor ``deleteCommunication``: say goodbye to the device; the hub stays usable."""
        self._check(self._lib.okc_disconnect(self._h()))

    # ------------------------------------------------------------------ events

    @contextlib.contextmanager
    def subscribe(self, max_events: int = 10000) -> Iterator["queue.Queue[Any]"]:
        """A private queue receiving every event published while the ``with`` block runs."""
        q: "queue.Queue[Any]" = queue.Queue(max_events)
        with self._lock:
            self._subs.append(q)
        try:
            yield q
        finally:
            with self._lock:
                self._subs.remove(q)

    def next_event(self, timeout: Optional[float] = None) -> Event:
        """Next queued event; raises :class:`OkcTimeoutError` or :class:`ClosedError`."""
        if self._events is None:
            raise RuntimeError("event queueing is disabled (queue_events=False)")
        if self._handle is None and self._events.empty():
            raise ClosedError("the hub is closed")
        try:
            ev = self._events.get(timeout=timeout)
        except queue.Empty:
            raise OkcTimeoutError(f"no event within {timeout} s") from None
        if ev is _CLOSED:
            raise ClosedError("the hub is closed")
        return ev

    def events(self, timeout: Optional[float] = None) -> Iterator[Event]:
        """Iterate over queued events; stops when the hub closes or, with ``timeout``,
        when no event arrived for that many seconds."""
        while True:
            try:
                yield self.next_event(timeout)
            except (OkcTimeoutError, ClosedError):
                return

    # ------------------------------------------------------------------ high level

    def sell(
        self,
        basket: Document,
        payments: Optional[Sequence[Document]] = None,
        timeout: float = 60.0,
    ) -> SaleInfo:
        """Send a basket and wait for its sale info (type 3).

        X30TR: the payments go inside the basket (``paymentItems``). 300TR: send the basket
        without payments and pass them as ``payments``; each is sent with ``sendPayment``
        once the device accepted the previous step.

        Raises :class:`BasketRejectedError` when the device refuses the basket or a payment
        (its text, e.g. "Ödemeleri ayrı ayrı göndermelisiniz", or a non-zero status) or the
        library reports "Device is not connected" (type 9); :class:`NoDeviceError` if the
        device goes away; :class:`OkcTimeoutError` after ``timeout`` seconds. A returned
        :class:`SaleInfo` may still carry a non-zero ``status`` (-1 cancelled on the device,
        99 receipt voided): check ``sale.ok``.
        """
        body = _encode_doc(basket)
        want_id = ""
        try:
            parsed = json.loads(body.decode("utf-8"))
            if isinstance(parsed, dict) and isinstance(parsed.get("basketID"), str):
                want_id = parsed["basketID"]
        except ValueError:
            pass  # the library reports invalid JSON below
        deadline = time.monotonic() + timeout
        with self.subscribe() as q:
            self.send_basket(body)
            if payments:
                self._await_reply(q, BASKET_REPLY, deadline)
                for payment in payments:
                    self.send_payment(payment)
                    self._await_reply(q, PAYMENT_REPLY, deadline)
            return self._await_sale(q, want_id, deadline)

    def void(self, timeout: float = 60.0) -> SaleInfo:
        """Cancel the open receipt (300TR, ``{"isVoid": true}``) and wait for the closing sale
        info (status 99 "Fiş iptal edildi" on the simulator)."""
        deadline = time.monotonic() + timeout
        with self.subscribe() as q:
            self.send_payment(b'{"isVoid":true}')
            return self._await_sale(q, "", deadline)

    @staticmethod
    def _refusal(ev: SerialIn) -> Optional[BasketRejectedError]:
        if ev.type == NOT_CONNECTED:
            return BasketRejectedError(ev.value, ev.type)
        if ev.type in (BASKET_REPLY, PAYMENT_REPLY):
            doc = ev.json()
            if isinstance(doc, dict):
                st = doc.get("status", 0)
                if isinstance(st, int) and st != 0:
                    return BasketRejectedError(str(doc.get("message") or ev.value), ev.type, st)
            elif ev.value.strip() not in ("", "OK"):
                return BasketRejectedError(ev.value, ev.type)
        return None

    def _next_in(self, q: "queue.Queue[Any]", deadline: float) -> SerialIn:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise OkcTimeoutError("the device did not answer in time")
            try:
                ev = q.get(timeout=left)
            except queue.Empty:
                continue
            if ev is _CLOSED:
                raise ClosedError("the hub was closed while waiting for the device")
            if isinstance(ev, DeviceState):
                if not ev.connected:
                    raise NoDeviceError("the device disconnected during the sale")
                continue
            refusal = self._refusal(ev)
            if refusal is not None:
                raise refusal
            return ev

    def _await_reply(self, q: "queue.Queue[Any]", typ: int, deadline: float) -> SerialIn:
        while True:
            ev = self._next_in(q, deadline)
            if ev.type == typ:
                return ev

    def _await_sale(self, q: "queue.Queue[Any]", want_id: str, deadline: float) -> SaleInfo:
        while True:
            ev = self._next_in(q, deadline)
            if ev.type != SALE_INFO:
                continue
            doc = ev.json()
            if not isinstance(doc, dict):
                continue
            sale = SaleInfo.from_dict(doc)
            if want_id and sale.basket_id and sale.basket_id != want_id:
                continue
            return sale
