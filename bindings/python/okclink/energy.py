"""Token X Energy fuel orders at the shop counter (``okc_energy_*``, docs/ENERGY.md)."""

from __future__ import annotations

import ctypes
import json
import re
import threading
from typing import Any, Callable, Dict, List, Optional

from . import _native as n
from .errors import OkcError, error_for
from .pay import Terminal

Result = Dict[str, Any]


class Orders:
    """The orders of one virtual market terminal (``okc_energy_open``).

    Settings default to ``$OKC_ENERGY_URL``, ``$OKC_ENERGY_TERMINAL``,
    ``$OKC_TOKENX_CLIENT_ID`` / ``_SECRET`` and ``$OKC_JOURNAL``; keyword arguments are the
    JSON keys of ``okc_energy_open`` (``energy_url``, ``energy_terminal``, ``journal``, …).
    Errors raise :class:`okclink.OkcError` subclasses; a cloud refusal
    (:class:`okclink.CloudRejectedError`) carries the cloud's status code in ``code``
    (e.g. 1018 locked by another terminal, 1105 not open).
    """

    def __init__(self, url: Optional[str] = None, terminal_id: Optional[str] = None,
                 client_id: Optional[str] = None, client_secret: Optional[str] = None,
                 **settings: Any) -> None:
        self._lib = n.load()
        if not hasattr(self._lib, "okc_energy_open"):
            raise OSError("this okclink library has no Energy API (okc_energy_*)")
        cfg: Dict[str, Any] = dict(settings)
        for key, value in (("energy_url", url), ("energy_terminal", terminal_id),
                           ("tokenx_client_id", client_id), ("tokenx_client_secret", client_secret)):
            if value is not None:
                cfg[key] = value
        self._lock = threading.Lock()
        h = ctypes.c_void_p()
        self._check(self._lib.okc_energy_open(json.dumps(cfg).encode(), ctypes.byref(h)))
        self._h: Optional[int] = h.value

    def _check(self, status: int) -> int:
        if status < 0:
            msg = n.last_error(self._lib)
            err = error_for(status, msg)
            m = re.search(r"status (-?\d+)", msg)
            err.code = int(m.group(1)) if m else None  # type: ignore[attr-defined]
            raise err
        return status

    def _handle(self) -> int:
        if self._h is None:
            raise error_for(n.OKC_ERR_CLOSED, "the Orders object is closed")
        return self._h

    def _call(self, call: Callable[[ctypes.c_void_p], int]) -> Any:
        out = ctypes.c_void_p()
        st = call(out)
        text = n.take_string(self._lib, out)
        self._check(st)
        return json.loads(text)

    @staticmethod
    def _s(v: Optional[str]) -> Optional[bytes]:
        return v.encode() if v is not None else None

    def list(self, *, status: Optional[str] = None, plate: Optional[str] = None,
             pump: Optional[int] = None, mine: bool = False) -> List[Result]:
        """The order summaries; ``status`` e.g. ``"OPEN"`` or ``"OPEN,LOCKED"``."""
        f: Dict[str, Any] = {"mine": mine}
        if status is not None:
            f["status"] = status
        if plate is not None:
            f["plate"] = plate
        if pump is not None:
            f["pumpNo"] = pump
        return self._call(lambda out: self._lib.okc_energy_list(
            self._handle(), json.dumps(f).encode(), ctypes.byref(out)))

    def get(self, order_id: str) -> Result:
        return self._call(lambda out: self._lib.okc_energy_get(
            self._handle(), order_id.encode(), ctypes.byref(out)))

    def lock(self, order_id: str, payment_id: Optional[str] = None) -> Result:
        return self._call(lambda out: self._lib.okc_energy_lock(
            self._handle(), order_id.encode(), self._s(payment_id), ctypes.byref(out)))

    def unlock(self, order_id: str, reason: Optional[str] = None) -> Result:
        return self._call(lambda out: self._lib.okc_energy_unlock(
            self._handle(), order_id.encode(), self._s(reason), ctypes.byref(out)))

    def pay(self, order_id: str, payment_id: str, card_result: Optional[Result] = None) -> Result:
        """Pay an order: cash, or an approved card result of :meth:`okclink.Terminal.pay`."""
        card = json.dumps(card_result).encode() if card_result is not None else None
        return self._call(lambda out: self._lib.okc_energy_pay(
            self._handle(), order_id.encode(), payment_id.encode(), card, ctypes.byref(out)))

    def sell(self, terminal: Terminal, *, plate: Optional[str] = None,
             order_id: Optional[str] = None, payment_id: Optional[str] = None) -> Result:
        """The forecourt flow; the result's ``state`` is ``completed``, ``paid`` or ``unlocked``."""
        return self._call(lambda out: self._lib.okc_energy_sell(
            self._handle(), self._s(plate), self._s(order_id), terminal._handle(),
            self._s(payment_id), ctypes.byref(out)))

    def recover(self, terminal: Optional[Terminal] = None) -> List[Result]:
        """Resolve locks a crash left (journal)."""
        t = terminal._handle() if terminal is not None else None
        return self._call(lambda out: self._lib.okc_energy_recover(self._handle(), t, ctypes.byref(out)))

    def close(self) -> None:
        with self._lock:
            h, self._h = self._h, None
        if h is not None:
            self._lib.okc_energy_close(h)

    def __enter__(self) -> "Orders":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


__all__ = ["Orders", "OkcError"]
