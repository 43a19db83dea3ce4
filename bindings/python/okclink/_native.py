"""Low-level ctypes declarations of the ``okc_*`` C API (docs/C-API.md).

Nothing here is meant for application code; use :class:`okclink.Hub`.

Library lookup order (first hit wins):

1. ``OKCLINK_LIBRARY`` — full path of the shared library file, or a directory holding it;
2. the package directory (a ``libokclink.so`` / ``okclink.dll`` / ``libokclink.dylib`` copied
   next to ``__init__.py``);
3. the system loader (``LD_LIBRARY_PATH``, ``PATH``, ``ctypes.util.find_library("okclink")``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
from typing import Optional

ENV_LIBRARY = "OKCLINK_LIBRARY"

if sys.platform.startswith("win"):
    LIB_FILE = "okclink.dll"
elif sys.platform == "darwin":
    LIB_FILE = "libokclink.dylib"
else:
    LIB_FILE = "libokclink.so"

# OkcStatus values (int32_t).
OKC_OK = 0
OKC_ACCEPTED = 1
OKC_ERR_NULL = -1
OKC_ERR_BAD_HANDLE = -2
OKC_ERR_INVALID_UTF8 = -3
OKC_ERR_INVALID_JSON = -4
OKC_ERR_TOO_LARGE = -5
OKC_ERR_NO_DEVICE = -6
OKC_ERR_TIMEOUT = -7
OKC_ERR_ACK_TIMEOUT = -8
OKC_ERR_CLOSED = -9
OKC_ERR_CONFIG = -10
OKC_ERR_IO = -11
OKC_ERR_RESOURCE = -12  # out of a system resource (okc_create could not start a thread)
OKC_ERR_REJECTED = -13  # a cloud back end refused the request (HTTP status, code, description)
OKC_ERR_UNSUPPORTED = -14  # the configured back end does not offer this call
OKC_ERR_OUTCOME_UNKNOWN = -15  # okc_pay_*: a payment's outcome is unknown (may be charged)
OKC_ERR_INVALID_ARGUMENT = -16  # okc_pay_*: bad amount, currency or reference
OKC_PAY_DECLINED = 2  # okc_pay_*: answered, not approved (the result says why)
OKC_ENERGY_UNLOCKED = 3  # okc_energy_sell: not paid, the order released (the result says why)
OKC_ENERGY_PAID = 4  # okc_energy_sell: paid, the pump's 1000TR has not completed it yet
OKC_ERR_JOURNAL = -17  # the journal file cannot be used
OKC_ERR_NOT_FOUND = -18  # no such order / id
OKC_ERR_PANIC = -98
OKC_ERR_INTERNAL = -99

STATUS_NAMES = {
    OKC_OK: "OKC_OK",
    OKC_ACCEPTED: "OKC_ACCEPTED",
    OKC_ERR_NULL: "OKC_ERR_NULL",
    OKC_ERR_BAD_HANDLE: "OKC_ERR_BAD_HANDLE",
    OKC_ERR_INVALID_UTF8: "OKC_ERR_INVALID_UTF8",
    OKC_ERR_INVALID_JSON: "OKC_ERR_INVALID_JSON",
    OKC_ERR_TOO_LARGE: "OKC_ERR_TOO_LARGE",
    OKC_ERR_NO_DEVICE: "OKC_ERR_NO_DEVICE",
    OKC_ERR_TIMEOUT: "OKC_ERR_TIMEOUT",
    OKC_ERR_ACK_TIMEOUT: "OKC_ERR_ACK_TIMEOUT",
    OKC_ERR_CLOSED: "OKC_ERR_CLOSED",
    OKC_ERR_CONFIG: "OKC_ERR_CONFIG",
    OKC_ERR_IO: "OKC_ERR_IO",
    OKC_ERR_RESOURCE: "OKC_ERR_RESOURCE",
    OKC_ERR_REJECTED: "OKC_ERR_REJECTED",
    OKC_ERR_UNSUPPORTED: "OKC_ERR_UNSUPPORTED",
    OKC_ERR_OUTCOME_UNKNOWN: "OKC_ERR_OUTCOME_UNKNOWN",
    OKC_ERR_INVALID_ARGUMENT: "OKC_ERR_INVALID_ARGUMENT",
    OKC_PAY_DECLINED: "OKC_PAY_DECLINED",
    OKC_ENERGY_UNLOCKED: "OKC_ENERGY_UNLOCKED",
    OKC_ENERGY_PAID: "OKC_ENERGY_PAID",
    OKC_ERR_JOURNAL: "OKC_ERR_JOURNAL",
    OKC_ERR_NOT_FOUND: "OKC_ERR_NOT_FOUND",
    OKC_ERR_PANIC: "OKC_ERR_PANIC",
    OKC_ERR_INTERNAL: "OKC_ERR_INTERNAL",
}

# typedef void (*OkcSerialInFn)(void *user_data, int32_t type, const char *value_utf8);
SERIAL_IN_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int32, ctypes.c_char_p)
# typedef void (*OkcDeviceStateFn)(void *user_data, bool connected, const char *serial_utf8);
DEVICE_STATE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_bool, ctypes.c_char_p)
# typedef int32_t (*OkcPayEventFn)(void *user_data, const char *event_json);
PAY_EVENT_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_char_p)


def _candidates() -> list:
    out = []
    env = os.environ.get(ENV_LIBRARY)
    if env:
        out.append(os.path.join(env, LIB_FILE) if os.path.isdir(env) else env)
    here = os.path.dirname(os.path.abspath(__file__))
    out.append(os.path.join(here, LIB_FILE))
    out.append(LIB_FILE)
    found = ctypes.util.find_library("okclink")
    if found:
        out.append(found)
    return out


def _declare(lib: ctypes.CDLL) -> None:
    c_int32, c_void_p, c_char_p = ctypes.c_int32, ctypes.c_void_p, ctypes.c_char_p
    pp_char = ctypes.POINTER(ctypes.c_void_p)  # char** — read as void* to free it ourselves

    lib.okc_version.argtypes = []
    lib.okc_version.restype = c_char_p
    lib.okc_last_error.argtypes = []
    lib.okc_last_error.restype = c_char_p
    lib.okc_string_free.argtypes = [c_void_p]
    lib.okc_string_free.restype = None

    lib.okc_create.argtypes = [c_char_p, ctypes.POINTER(c_void_p)]
    lib.okc_create.restype = c_int32
    lib.okc_destroy.argtypes = [c_void_p]
    lib.okc_destroy.restype = c_int32

    lib.okc_set_serial_in_callback.argtypes = [c_void_p, SERIAL_IN_FN, c_void_p]
    lib.okc_set_serial_in_callback.restype = c_int32
    lib.okc_set_device_state_callback.argtypes = [c_void_p, DEVICE_STATE_FN, c_void_p]
    lib.okc_set_device_state_callback.restype = c_int32

    lib.okc_send_basket.argtypes = [c_void_p, c_char_p]
    lib.okc_send_basket.restype = c_int32
    if hasattr(lib, "okc_confirm"):
        lib.okc_confirm.argtypes = [c_void_p, c_char_p]
        lib.okc_confirm.restype = c_int32
    lib.okc_send_payment.argtypes = [c_void_p, c_char_p]
    lib.okc_send_payment.restype = c_int32
    lib.okc_get_fiscal_info.argtypes = [c_void_p, c_int32, pp_char]
    lib.okc_get_fiscal_info.restype = c_int32
    lib.okc_last_fiscal_info.argtypes = [c_void_p, pp_char]
    lib.okc_last_fiscal_info.restype = c_int32
    lib.okc_active_device_index.argtypes = [c_void_p]
    lib.okc_active_device_index.restype = c_int32
    lib.okc_reconnect.argtypes = [c_void_p]
    lib.okc_reconnect.restype = c_int32
    lib.okc_disconnect.argtypes = [c_void_p]
    lib.okc_disconnect.restype = c_int32
    lib.okc_wait_connected.argtypes = [c_void_p, c_int32, pp_char]
    lib.okc_wait_connected.restype = c_int32

    # okc_pay_* (card terminals). An old library without them still loads: the payment API
    # then raises when used.
    if hasattr(lib, "okc_pay_open"):
        c_int64, c_bool = ctypes.c_int64, ctypes.c_bool
        lib.okc_pay_open.argtypes = [c_char_p, PAY_EVENT_FN, c_void_p, ctypes.POINTER(c_void_p)]
        lib.okc_pay_open.restype = c_int32
        lib.okc_pay_close.argtypes = [c_void_p]
        lib.okc_pay_close.restype = c_int32
        for name in ("okc_pay_payment", "okc_pay_refund"):
            f = getattr(lib, name)
            f.argtypes = [c_void_p, c_int64, c_char_p, c_char_p, pp_char]
            f.restype = c_int32
        lib.okc_pay_reverse_last.argtypes = [c_void_p, pp_char]
        lib.okc_pay_reverse_last.restype = c_int32
        lib.okc_pay_status.argtypes = [c_void_p, c_char_p, pp_char]
        lib.okc_pay_status.restype = c_int32
        lib.okc_pay_batch_close.argtypes = [c_void_p, pp_char]
        lib.okc_pay_batch_close.restype = c_int32
        lib.okc_pay_listener_address.argtypes = [c_void_p, pp_char]
        lib.okc_pay_listener_address.restype = c_int32
        for name in ("okc_pay_abort", "okc_pay_login"):
            f = getattr(lib, name)
            f.argtypes = [c_void_p]
            f.restype = c_int32
        lib.okc_pay_logout.argtypes = [c_void_p, c_bool]
        lib.okc_pay_logout.restype = c_int32
        # The journal's delivery API (newer libraries).
        if hasattr(lib, "okc_pay_confirm"):
            lib.okc_pay_confirm.argtypes = [c_void_p, c_char_p]
            lib.okc_pay_confirm.restype = c_int32
            lib.okc_pay_pending.argtypes = [c_void_p, pp_char]
            lib.okc_pay_pending.restype = c_int32

    # okc_energy_* (Token X Energy fuel orders); absent from a library built without them.
    if hasattr(lib, "okc_energy_open"):
        energy = {
            "okc_energy_open": [c_char_p, ctypes.POINTER(c_void_p)],
            "okc_energy_close": [c_void_p],
            "okc_energy_list": [c_void_p, c_char_p, pp_char],
            "okc_energy_get": [c_void_p, c_char_p, pp_char],
            "okc_energy_lock": [c_void_p, c_char_p, c_char_p, pp_char],
            "okc_energy_unlock": [c_void_p, c_char_p, c_char_p, pp_char],
            "okc_energy_pay": [c_void_p, c_char_p, c_char_p, c_char_p, pp_char],
            "okc_energy_sell": [c_void_p, c_char_p, c_char_p, c_void_p, c_char_p, pp_char],
            "okc_energy_recover": [c_void_p, c_void_p, pp_char],
        }
        for name, args in energy.items():
            f = getattr(lib, name)
            f.argtypes = args
            f.restype = c_int32


_lib: Optional[ctypes.CDLL] = None
_lib_lock = threading.Lock()


def load() -> ctypes.CDLL:
    """Load (once) and return the native library; raises :class:`OSError` with every path tried."""
    global _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        errors = []
        for cand in _candidates():
            if os.path.sep in cand and not os.path.exists(cand):
                errors.append(f"{cand}: not found")
                continue
            try:
                lib = ctypes.CDLL(cand)
            except OSError as e:
                errors.append(f"{cand}: {e}")
                continue
            _declare(lib)
            _lib = lib
            return lib
        raise OSError(
            "okclink native library not found; set OKCLINK_LIBRARY to the path of "
            f"{LIB_FILE} (tried: {'; '.join(errors)})"
        )


def take_string(lib: ctypes.CDLL, ptr: ctypes.c_void_p) -> str:
    """Copy a library-owned UTF-8 string into a ``str`` and free it with ``okc_string_free``."""
    if not ptr.value:
        return ""
    try:
        return ctypes.string_at(ptr.value).decode("utf-8", errors="replace")
    finally:
        lib.okc_string_free(ptr)


def last_error(lib: ctypes.CDLL) -> str:
    raw = lib.okc_last_error()
    return raw.decode("utf-8", errors="replace") if raw else ""
