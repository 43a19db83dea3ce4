"""Card payments: a thin wrapper of the ``okc_pay_*`` C API (docs/PAYMENTS.md).

    import okclink

    with okclink.Terminal("nexo+http://192.168.1.50:11000") as t:
        r = t.pay(1250, "SEK", reference="order-17")
        print(r["approved"], r["approvalCode"], r["receipts"]["customer"])
"""

from __future__ import annotations

import ctypes
import json
import threading
from typing import Any, Callable, Dict, Optional

from . import _native as n
from .errors import error_for

#: An event handler: ``handler(event_dict)``; for ``{"event": "signature", …}`` return True
#: (accept) or False (refuse); None leaves it to the ``signature`` policy.
EventHandler = Callable[[Dict[str, Any]], Optional[bool]]

Result = Dict[str, Any]


class Terminal:
    """One card terminal (``okc_pay_open``). Methods block until the terminal answers.

    ``pay`` / ``refund`` return the normalised result (``approved``, ``amount``,
    ``currency``, ``transactionId``, ``receipts``, …) whether approved or declined; errors
    (unreachable, refused, outcome unknown, bad input) raise :class:`okclink.OkcError`
    subclasses. The same ``reference`` again returns the recorded result (no second charge) —
    also after a restart: every payment is written to the journal before it is sent
    (``journal``: a file, or ``"off"`` for tests; default ``$OKC_JOURNAL``, else
    ``./logs/okclink-journal-APPLICATION_NAME.sqlite``). After opening, :meth:`pending` lists
    results the application has not confirmed yet (also from before a restart) and
    operations still in doubt; :meth:`confirm` each result once it is stored.

    GP tom (``gptom+https://HOST?tid=TID``) takes ``username``, ``password`` and ``basic``
    (defaults ``$OKC_GPTOM_USERNAME``, ``$OKC_GPTOM_PASSWORD``, ``$OKC_GPTOM_BASIC``).
    """

    def __init__(
        self,
        terminal: Optional[str] = None,
        *,
        listener: Optional[str] = None,
        signature: str = "confirm",
        application_name: str = "okclink-python",
        maintenance: Optional[str] = None,
        on_event: Optional[EventHandler] = None,
        username: Optional[str] = None,
        password: Optional[str] = None,
        basic: Optional[str] = None,
        token_url: Optional[str] = None,
        refresh_url: Optional[str] = None,
        gptom_in_progress_limit_ms: Optional[int] = None,
        journal: Optional[str] = None,
        log_dir: Optional[str] = None,
    ) -> None:
        self._lib = n.load()
        if not hasattr(self._lib, "okc_pay_open"):
            raise OSError("this okclink library has no payment API (okc_pay_*)")
        cfg: Dict[str, Any] = {"signature": signature, "application_name": application_name}
        if terminal is not None:
            cfg["terminal"] = terminal
        if listener is not None:
            cfg["listener"] = listener
        if maintenance is not None:  # "HH:MM" (daily logout for the terminal's updates) or "off"
            cfg["maintenance"] = maintenance
        # GP tom (gptom+https://HOST?tid=TID): the merchant login and the client Basic value
        # (Base64 or "client:secret"); unset ones come from $OKC_GPTOM_USERNAME, … .
        for key, value in (
            ("username", username),
            ("password", password),
            ("basic", basic),
            ("token_url", token_url),
            ("refresh_url", refresh_url),
        ):
            if value is not None:
                cfg[key] = value
        if journal is not None:  # a path, or "off" (tests only: a restart forgets references)
            cfg["journal"] = str(journal)
        if log_dir is not None:  # where the default journal lives
            cfg["log_dir"] = str(log_dir)
        if gptom_in_progress_limit_ms is not None:  # tests: shorten the 5 min IN_PROGRESS limit
            cfg["gptom_in_progress_limit_ms"] = int(gptom_in_progress_limit_ms)
        self.on_event = on_event
        self._lock = threading.Lock()

        def _cb(_ud: Any, text: bytes) -> int:
            try:
                event = json.loads(text.decode("utf-8", errors="replace"))
                handler = self.on_event
                answer = handler(event) if handler else None
                return 1 if answer is True else 0 if answer is False else -1
            except Exception:  # never let an exception cross into C
                return -1

        self._cb = n.PAY_EVENT_FN(_cb)  # kept alive as long as the handle
        h = ctypes.c_void_p()
        st = self._lib.okc_pay_open(json.dumps(cfg).encode(), self._cb, None, ctypes.byref(h))
        self._check(st)
        self._h: Optional[int] = h.value

    def _check(self, status: int) -> int:
        if status < 0:
            raise error_for(status, n.last_error(self._lib))
        return status

    def _handle(self) -> int:
        if self._h is None:
            raise error_for(n.OKC_ERR_CLOSED, "the terminal is closed")
        return self._h

    def _result(self, call: Callable[[ctypes.c_void_p], int]) -> Result:
        out = ctypes.c_void_p()
        st = call(out)
        text = n.take_string(self._lib, out)
        self._check(st)
        return json.loads(text)

    def pay(self, amount: int, currency: str, reference: str) -> Result:
        """Take ``amount`` minor units (cents, öre) in ``currency`` (ISO 4217)."""
        return self._result(
            lambda out: self._lib.okc_pay_payment(
                self._handle(), amount, currency.encode(), reference.encode(), ctypes.byref(out)
            )
        )

    def refund(self, amount: int, currency: str, reference: str) -> Result:
        return self._result(
            lambda out: self._lib.okc_pay_refund(
                self._handle(), amount, currency.encode(), reference.encode(), ctypes.byref(out)
            )
        )

    def reverse_last(self) -> Result:
        """Reverse the terminal's last transaction (only the last, only if approved)."""
        return self._result(lambda out: self._lib.okc_pay_reverse_last(self._handle(), ctypes.byref(out)))

    def status(self, reference: Optional[str] = None) -> Result:
        ref = reference.encode() if reference is not None else None
        return self._result(lambda out: self._lib.okc_pay_status(self._handle(), ref, ctypes.byref(out)))

    def batch_close(self) -> Result:
        """Close the terminal's batch (day end); the terminal's answer as a dict."""
        return self._result(lambda out: self._lib.okc_pay_batch_close(self._handle(), ctypes.byref(out)))

    def confirm(self, reference: str) -> None:
        """The application has stored the result of ``reference``: it is not offered again by
        :meth:`pending` (also not after a restart). Idempotent; a reference without a result
        raises :class:`okclink.InvalidArgumentError`."""
        self._check(self._lib.okc_pay_confirm(self._handle(), reference.encode()))

    def pending(self) -> list:
        """What the application has not confirmed, oldest first: dicts with ``reference``,
        ``kind``, ``state`` (``"answered"``: ``result`` holds it; ``"in_doubt"``: may have
        been charged, never pay it again blindly; ``"not_sent"``: found unfinished at start,
        nothing charged), ``reason`` and ``result``. Waits for the start-up recovery."""
        out = ctypes.c_void_p()
        st = self._lib.okc_pay_pending(self._handle(), ctypes.byref(out))
        text = n.take_string(self._lib, out)
        self._check(st)
        return json.loads(text)

    def abort(self) -> None:
        """Abort the payment in flight (from another thread)."""
        self._check(self._lib.okc_pay_abort(self._handle()))

    def login(self) -> None:
        self._check(self._lib.okc_pay_login(self._handle()))

    def logout(self, maintenance_allowed: bool = True) -> None:
        self._check(self._lib.okc_pay_logout(self._handle(), maintenance_allowed))

    @property
    def listener_address(self) -> Optional[str]:
        """``IP:PORT`` of the POS listener (full integration), else None."""
        out = ctypes.c_void_p()
        st = self._lib.okc_pay_listener_address(self._handle(), ctypes.byref(out))
        text = n.take_string(self._lib, out)
        return text if st == n.OKC_OK else None

    def close(self) -> None:
        with self._lock:
            h, self._h = self._h, None
        if h is not None:
            self._lib.okc_pay_close(h)

    def __enter__(self) -> "Terminal":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
