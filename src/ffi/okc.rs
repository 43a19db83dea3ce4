//! The `okc_*` C API (contract: `docs/C-API.md`; header: `include/okclink.h`, generated
//! from this file by cbindgen). All strings are UTF-8 and NUL-terminated. Every function
//! catches panics, validates its handle in the registry and never crashes on bad input.

#![allow(unsafe_code)]
#![allow(non_camel_case_types)]

use super::vendor::{self, SendKind};
use super::{
    cstring_lossy, give_bytes, give_string, guard, guard_status, last_error_ptr, lookup,
    opt_timeout, read_bytes, read_utf8, register, set_last_error, take_string, CallbackScope,
    FfiError, FfiResult, HubEntry, UserData, MAX_CONFIG_LEN,
};
use crate::config::VendorText;
use crate::hub::{Config, Hub, SendOutcome};
use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::time::Duration;

/// The `okc_pay_*` family (card terminals), in `src/ffi/pay.rs`.
#[path = "pay.rs"]
pub mod pay;

/// The `okc_energy_*` family (Token X Energy fuel orders), in `src/ffi/energy.rs`.
#[cfg(feature = "energy")]
#[path = "energy.rs"]
pub mod energy;

/// Opaque connection object. A handle is validated on every call: NULL, destroyed or
/// foreign handles give `OKC_ERR_BAD_HANDLE` and are never dereferenced.
pub struct OkcHub {
    _private: [u8; 0],
}

/// Status codes (`int32_t`). Values ≥ 0 are success.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OkcStatus {
    OKC_OK = 0,
    /// send_basket/payment: handed to the device (vendor "1").
    OKC_ACCEPTED = 1,
    /// okc_pay_*: the terminal answered and did not approve (declined, aborted, signature
    /// refused); the result JSON says why.
    OKC_PAY_DECLINED = 2,
    /// okc_energy_sell: not paid; the order was released (unlocked). The result JSON says why
    /// (`reason`) and what became of the card payment (`card`).
    OKC_ENERGY_UNLOCKED = 3,
    /// okc_energy_sell: paid, but the pump's 1000TR has not completed the order yet (offline):
    /// it does when it is back; nothing to do at the POS.
    OKC_ENERGY_PAID = 4,
    /// A required pointer argument was NULL.
    OKC_ERR_NULL = -1,
    /// Handle NULL, already destroyed, or not ours.
    OKC_ERR_BAD_HANDLE = -2,
    OKC_ERR_INVALID_UTF8 = -3,
    OKC_ERR_INVALID_JSON = -4,
    /// Caller payload over `max_payload_bytes` (default 1 MiB; config JSON: 64 KiB), or a
    /// device message over `max_receive_bytes` (default 1 MiB) was refused.
    OKC_ERR_TOO_LARGE = -5,
    /// No active (handshaken) device.
    OKC_ERR_NO_DEVICE = -6,
    OKC_ERR_TIMEOUT = -7,
    /// 300TR did not answer the type-11 ACK (vendor -1); serialIn(9, ...) was delivered.
    OKC_ERR_ACK_TIMEOUT = -8,
    /// The object is shutting down.
    OKC_ERR_CLOSED = -9,
    /// Bad config JSON, unknown key or unknown transport.
    OKC_ERR_CONFIG = -10,
    OKC_ERR_IO = -11,
    /// Out of a system resource, e.g. `okc_create` could not start a thread.
    OKC_ERR_RESOURCE = -12,
    /// A cloud back end refused the request; `okc_last_error` has its HTTP status, the
    /// cloud's status code and description.
    OKC_ERR_REJECTED = -13,
    /// The configured back end does not offer this call (e.g. `send_payment` on the cloud).
    OKC_ERR_UNSUPPORTED = -14,
    /// A payment's answer was lost and the terminal did not tell its outcome in time: it may
    /// have been charged. Never pay again blindly; ask `okc_pay_status` later.
    OKC_ERR_OUTCOME_UNKNOWN = -15,
    /// A bad argument value (amount, currency, reference).
    OKC_ERR_INVALID_ARGUMENT = -16,
    /// The journal file cannot be used (corrupt, locked, read-only, newer): the message
    /// names the file and what to do (docs/JOURNAL.md).
    OKC_ERR_JOURNAL = -17,
    /// The journal knows no such id (e.g. `okc_confirm` of a basketID with no sale info).
    OKC_ERR_NOT_FOUND = -18,
    OKC_ERR_PANIC = -98,
    OKC_ERR_INTERNAL = -99,
}

/// Data callback: `(user_data, type, value)`; `value` is UTF-8, valid only during the call.
pub type OkcSerialInFn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, msg_type: i32, value_utf8: *const c_char)>;

/// State callback: `(user_data, connected, fiscal serial or "")`, valid only during the call.
pub type OkcDeviceStateFn = Option<
    unsafe extern "C" fn(user_data: *mut c_void, connected: bool, serial_utf8: *const c_char),
>;

/// Vendor-layer data callback: `(user_data, type, text, len)`. `text` holds `len` bytes in
/// the handle's `vendor_text` encoding (UTF-8 or Windows-1254), never a NUL among them, and
/// is NUL-terminated too; valid only during the call.
pub type OkcVendorSerialInFn = Option<
    unsafe extern "C" fn(user_data: *mut c_void, msg_type: i32, text: *const c_char, len: usize),
>;

/// Vendor-layer state callback: `(user_data, connected, serial, len)`, the serial as in
/// [`OkcVendorSerialInFn`].
pub type OkcVendorDeviceStateFn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        connected: bool,
        serial: *const c_char,
        len: usize,
    ),
>;

// ---------------------------------------------------------------------------------------
// Config

/// Build a [`Config`] from the `okc_create` JSON (None = defaults): defaults ← JSON ←
/// environment, the one parser of `src/config.rs` (keys and variables: docs/C-API.md).
pub fn config_from_json(json: Option<&str>) -> Result<Config, String> {
    Config::load(json).map_err(|e| e.0)
}

/// Create a hub from a [`Config`] and register it; returns the handle value.
pub(crate) fn create_handle(config: Config) -> FfiResult<usize> {
    let max_payload = config.max_payload;
    let close_bound = config.disconnect_timeout;
    let vendor_text = config.vendor_text;
    register(|id| {
        let hub = Hub::new(config)?;
        Ok(HubEntry {
            id,
            hub,
            max_payload,
            close_bound,
            vendor_text,
        })
    })
}

fn handle_of(hub: *mut OkcHub) -> usize {
    hub as usize
}

fn send_status(r: SendOutcome) -> FfiResult<OkcStatus> {
    match r {
        SendOutcome::Accepted => Ok(OkcStatus::OKC_ACCEPTED),
        SendOutcome::AckTimeout => Err(FfiError::new(
            OkcStatus::OKC_ERR_ACK_TIMEOUT,
            "device did not acknowledge (type 11) before the send",
        )),
        SendOutcome::NoDevice => Err(FfiError::new(
            OkcStatus::OKC_ERR_NO_DEVICE,
            "no active device",
        )),
    }
}

fn null_out(what: &str) -> FfiError {
    FfiError::new(OkcStatus::OKC_ERR_NULL, format!("{what} is NULL"))
}

/// An out-pointer's common start: NULL is an error, else `*out` is set to NULL so every
/// early return leaves it so.
///
/// # Safety
/// `out` must be NULL or writable.
unsafe fn clear_out<T>(out: *mut *mut T, what: &str) -> Result<(), FfiError> {
    if out.is_null() {
        return Err(null_out(what));
    }
    // SAFETY: checked non-NULL; writable by the caller's contract.
    unsafe { *out = std::ptr::null_mut() };
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Exports

/// Library version, a static string (e.g. "0.1.0"). Never NULL.
#[no_mangle]
pub extern "C" fn okc_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

/// Text of the last failure on the calling thread ("" if none; cut to 1023 bytes). Never
/// NULL; valid until the next failing call on this thread. Also callable while the thread
/// exits (from a pthread-key or C++ `thread_local` destructor).
#[no_mangle]
pub extern "C" fn okc_last_error() -> *const c_char {
    last_error_ptr()
}

/// Free a string returned by the library. NULL is ignored; a pointer the library did not
/// hand out is ignored and recorded in `okc_last_error`. A freed string's memory is held
/// back until 1024 more strings (or 4 MiB of them) have been freed, so a second free within
/// that window is recognised and ignored too; after it, a stale pointer may be the address
/// of a newer string and would free that one (see docs/C-API.md).
#[no_mangle]
pub extern "C" fn okc_string_free(s: *mut c_char) {
    guard(
        "okc_string_free",
        |_| (),
        || {
            if !s.is_null() && !take_string(s) {
                set_last_error(
                    "okc_string_free: pointer not returned by okclink, or already freed; ignored",
                );
            }
            Ok(())
        },
    )
}

/// Create a connection object. `config_json` may be NULL (defaults); keys (all optional):
/// `company_name`, `transports` (["usb","serial","tcp://host:port"]), `fiscal_timeout_ms`,
/// `ack_timeout_ms`, `disconnect_timeout_ms`, `handshake_timeout_ms`, `log_dir` ("" or null disables file logs),
/// `log_level` (error|warn|info|debug), `text_encoding` (cp1254|utf8), `max_payload_bytes`
/// (largest basket/payment JSON accepted from the caller, default 1 MiB), `max_receive_bytes`
/// (largest message accepted from the device, 16 KiB to 64 MiB, default 1 MiB), `vendor_text`
/// (utf8|cp1254: device text of the `okc_vendor_*` functions, default utf8).
/// Unknown keys are an error (OKC_ERR_CONFIG); a thread that cannot be started is
/// OKC_ERR_RESOURCE. The `OKC_TRANSPORT` environment variable, when set, overrides
/// `transports`. Never blocks. On failure `*out` is set to NULL.
///
/// # Safety
/// `config_json` must be NULL or a NUL-terminated string; `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn okc_create(
    config_json: *const c_char,
    out: *mut *mut OkcHub,
) -> OkcStatus {
    guard_status("okc_create", || {
        // SAFETY: the caller's contract: `out` is NULL or writable.
        unsafe { clear_out(out, "out") }?;
        let json = if config_json.is_null() {
            None
        } else {
            // SAFETY: caller contract.
            Some(unsafe { read_utf8(config_json, MAX_CONFIG_LEN, "config_json") }?)
        };
        let config =
            config_from_json(json).map_err(|e| FfiError::new(OkcStatus::OKC_ERR_CONFIG, e))?;
        let id = create_handle(config)?;
        // SAFETY: as above.
        unsafe { *out = id as *mut OkcHub };
        Ok(OkcStatus::OKC_OK)
    })
}

/// Destroy a connection object: disconnect, stop every thread. Bounded (the configured
/// disconnect timeout plus a small margin), idempotent (a destroyed handle gives OKC_OK
/// again), and no callback runs after it returns: also a destroy that finds another destroy
/// of the same handle still closing waits for it. May be called from inside a callback (it
/// then returns without waiting for that callback to end).
#[no_mangle]
pub extern "C" fn okc_destroy(hub: *mut OkcHub) -> OkcStatus {
    guard_status("okc_destroy", || {
        super::destroy(handle_of(hub))?;
        Ok(OkcStatus::OKC_OK)
    })
}

/// Set (or clear with NULL) the data callback.
#[no_mangle]
pub extern "C" fn okc_set_serial_in_callback(
    hub: *mut OkcHub,
    cb: OkcSerialInFn,
    user_data: *mut c_void,
) -> OkcStatus {
    guard_status("okc_set_serial_in_callback", || {
        let e = lookup(handle_of(hub))?;
        let id = e.id;
        let ud = UserData(user_data);
        let boxed = cb.map(|f| -> crate::hub::SerialInFn {
            Box::new(move |t: i32, v: &str| {
                let c = cstring_lossy(v);
                let _scope = CallbackScope::enter(id);
                // SAFETY: the caller registered `f` for exactly this call shape.
                unsafe { f(ud.get(), t, c.as_ptr()) }
            })
        });
        e.hub.set_serial_in_callback(boxed);
        Ok(OkcStatus::OKC_OK)
    })
}

/// Set (or clear with NULL) the state callback; the last known state is replayed at once
/// (vendor behaviour), on the dispatcher thread, in order with live events.
#[no_mangle]
pub extern "C" fn okc_set_device_state_callback(
    hub: *mut OkcHub,
    cb: OkcDeviceStateFn,
    user_data: *mut c_void,
) -> OkcStatus {
    guard_status("okc_set_device_state_callback", || {
        let e = lookup(handle_of(hub))?;
        let id = e.id;
        let ud = UserData(user_data);
        let boxed = cb.map(|f| -> crate::hub::DeviceStateFn {
            Box::new(move |connected: bool, serial: &str| {
                let c = cstring_lossy(serial);
                let _scope = CallbackScope::enter(id);
                // SAFETY: the caller registered `f` for exactly this call shape.
                unsafe { f(ud.get(), connected, c.as_ptr()) }
            })
        });
        e.hub.set_device_state_callback(boxed);
        Ok(OkcStatus::OKC_OK)
    })
}

/// Send a basket (protocol type 1). Returns OKC_ACCEPTED, or an error
/// (OKC_ERR_NO_DEVICE, OKC_ERR_ACK_TIMEOUT, OKC_ERR_INVALID_JSON, OKC_ERR_TOO_LARGE, ...).
/// JSON nested deeper than 64 levels of arrays/objects is OKC_ERR_INVALID_JSON.
///
/// # Safety
/// `json` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn okc_send_basket(hub: *mut OkcHub, json: *const c_char) -> OkcStatus {
    guard_status("okc_send_basket", || {
        let e = lookup(handle_of(hub))?;
        // SAFETY: caller contract.
        let s = unsafe { read_utf8(json, e.max_payload, "json") }?;
        send_status(e.hub.send_basket(s)?)
    })
}

/// Confirm that the application has the sale info of `basket_id` (with the configuration
/// `"confirm": "explicit"`; otherwise a sale info is confirmed when the serialIn callback
/// returns): it is not delivered again after a restart. OKC_OK, OKC_ERR_NOT_FOUND (no sale
/// info recorded for it), OKC_ERR_UNSUPPORTED (`"journal": "off"`), OKC_ERR_JOURNAL.
///
/// # Safety
/// `basket_id` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn okc_confirm(hub: *mut OkcHub, basket_id: *const c_char) -> OkcStatus {
    guard_status("okc_confirm", || {
        let e = lookup(handle_of(hub))?;
        // SAFETY: caller contract.
        let id = unsafe { read_utf8(basket_id, 1024, "basket_id") }?;
        e.hub.confirm(id)?;
        Ok(OkcStatus::OKC_OK)
    })
}

/// Send a payment or void (protocol type 10). Same results as `okc_send_basket`.
///
/// # Safety
/// `json` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn okc_send_payment(hub: *mut OkcHub, json: *const c_char) -> OkcStatus {
    guard_status("okc_send_payment", || {
        let e = lookup(handle_of(hub))?;
        // SAFETY: caller contract.
        let s = unsafe { read_utf8(json, e.max_payload, "json") }?;
        send_status(e.hub.send_payment(s)?)
    })
}

/// Request fiscal info and wait up to `timeout_ms` (< 0 = configured default, 5000 ms).
/// On OKC_OK `*out` is a fresh JSON string to free with `okc_string_free`; otherwise
/// `*out` is NULL (OKC_ERR_NO_DEVICE, OKC_ERR_TIMEOUT, OKC_ERR_TOO_LARGE when the answer was
/// over `max_receive_bytes`, ...). A NUL byte in device text is delivered as `\u0000`.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn okc_get_fiscal_info(
    hub: *mut OkcHub,
    timeout_ms: i32,
    out: *mut *mut c_char,
) -> OkcStatus {
    guard_status("okc_get_fiscal_info", || {
        // SAFETY: the caller's contract: `out` is NULL or writable.
        unsafe { clear_out(out, "out") }?;
        let e = lookup(handle_of(hub))?;
        let s = e.hub.fiscal_info(opt_timeout(timeout_ms))?;
        // SAFETY: as above.
        unsafe { *out = give_string(&s) };
        Ok(OkcStatus::OKC_OK)
    })
}

/// The last fiscal info received in this session ("" after a disconnect or if none yet),
/// without asking the device. `*out` is freed with `okc_string_free`.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn okc_last_fiscal_info(
    hub: *mut OkcHub,
    out: *mut *mut c_char,
) -> OkcStatus {
    guard_status("okc_last_fiscal_info", || {
        // SAFETY: the caller's contract: `out` is NULL or writable.
        unsafe { clear_out(out, "out") }?;
        let e = lookup(handle_of(hub))?;
        let s = e.hub.last_fiscal_info();
        // SAFETY: as above.
        unsafe { *out = give_string(&s) };
        Ok(OkcStatus::OKC_OK)
    })
}

/// -1 no device, 0 X30TR, 1 300TR; -1 for a bad handle (see `okc_last_error`).
#[no_mangle]
pub extern "C" fn okc_active_device_index(hub: *mut OkcHub) -> i32 {
    guard(
        "okc_active_device_index",
        |_| -1,
        || Ok(lookup(handle_of(hub))?.hub.active_device_index()),
    )
}

/// Restart discovery after `okc_disconnect` (vendor `reconnect`).
#[no_mangle]
pub extern "C" fn okc_reconnect(hub: *mut OkcHub) -> OkcStatus {
    guard_status("okc_reconnect", || {
        lookup(handle_of(hub))?.hub.reconnect();
        Ok(OkcStatus::OKC_OK)
    })
}

/// Vendor `deleteCommunication` semantics: send DISCONNECT, close the device, deliver
/// `(false, "")`, stop discovery until `okc_reconnect`. Bounded; the object stays usable.
#[no_mangle]
pub extern "C" fn okc_disconnect(hub: *mut OkcHub) -> OkcStatus {
    guard_status("okc_disconnect", || {
        lookup(handle_of(hub))?.hub.disconnect();
        Ok(OkcStatus::OKC_OK)
    })
}

/// Wait up to `timeout_ms` (negative = 0) until a device is active and identified.
/// OKC_OK and, if `serial_out` is not NULL, the fiscal serial in `*serial_out`
/// (free with `okc_string_free`); OKC_ERR_TIMEOUT otherwise.
///
/// # Safety
/// `serial_out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn okc_wait_connected(
    hub: *mut OkcHub,
    timeout_ms: i32,
    serial_out: *mut *mut c_char,
) -> OkcStatus {
    guard_status("okc_wait_connected", || {
        if !serial_out.is_null() {
            // SAFETY: checked non-NULL.
            unsafe { *serial_out = std::ptr::null_mut() };
        }
        let e = lookup(handle_of(hub))?;
        let t = Duration::from_millis(timeout_ms.max(0) as u64);
        match e.hub.wait_connected(t) {
            Some(serial) => {
                if !serial_out.is_null() {
                    // SAFETY: as above.
                    unsafe { *serial_out = give_string(&serial) };
                }
                Ok(OkcStatus::OKC_OK)
            }
            None => Err(FfiError::new(
                OkcStatus::OKC_ERR_TIMEOUT,
                "no device connected in time",
            )),
        }
    })
}

// ---------------------------------------------------------------------------------------
// Vendor semantics (`okc_vendor_*`): the rules of the vendor's nine functions, decided here
// once (src/ffi/vendor.rs); the vendor-compatible layers only marshal around them.

/// Largest company name `okc_vendor_create` accepts (bytes), as much as a config JSON.
const VENDOR_MAX_COMPANY: usize = MAX_CONFIG_LEN;

/// Vendor `createCommunication`: `len` bytes of company name at `company` (NULL = ""; not
/// NUL-terminated; valid UTF-8 is taken as is, anything else is read as Windows-1254), the
/// vendor defaults, then the `OKC_*` environment. OKC_ERR_TOO_LARGE over 64 KiB,
/// OKC_ERR_CONFIG for a bad `OKC_*` value, OKC_ERR_RESOURCE. Never blocks; `*out` is NULL on
/// failure.
///
/// # Safety
/// `company` must be NULL or point to `len` readable bytes; `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn okc_vendor_create(
    company: *const c_char,
    len: usize,
    out: *mut *mut OkcHub,
) -> OkcStatus {
    guard_status("okc_vendor_create", || {
        // SAFETY: the caller's contract: `out` is NULL or writable.
        unsafe { clear_out(out, "out") }?;
        let name = if company.is_null() {
            std::borrow::Cow::Borrowed("")
        } else {
            // SAFETY: caller contract.
            let bytes = unsafe { read_bytes(company, len, VENDOR_MAX_COMPANY, "company") }?;
            vendor::caller_text(bytes)
        };
        let id = vendor::create(&name)?;
        // SAFETY: as above.
        unsafe { *out = id as *mut OkcHub };
        Ok(OkcStatus::OKC_OK)
    })
}

/// A vendor send: the vendor integer, the status in `*status_out`.
///
/// # Safety
/// As `okc_vendor_send_basket`.
unsafe fn vendor_send(
    name: &str,
    hub: *mut OkcHub,
    text: *const c_char,
    len: usize,
    status_out: *mut OkcStatus,
    kind: SendKind,
) -> i32 {
    let status = Cell::new(OkcStatus::OKC_ERR_INTERNAL);
    let code = guard(
        name,
        |e| {
            status.set(e.status);
            0
        },
        || {
            let e = lookup(handle_of(hub))?;
            // SAFETY: caller contract.
            let bytes = unsafe { read_bytes(text, len, e.max_payload, "text") }?;
            let r = vendor::send(&e, &vendor::caller_text(bytes), kind);
            let code = vendor::send_code(&r);
            match r.and_then(send_status) {
                Ok(st) => status.set(st),
                Err(err) => {
                    status.set(err.status);
                    set_last_error(&format!("{name}: {}", err.message));
                }
            }
            Ok(code)
        },
    );
    if !status_out.is_null() {
        // SAFETY: checked non-NULL; the caller provides a writable pointer.
        unsafe { *status_out = status.get() };
    }
    code
}

/// Vendor `sendBasket`: `len` bytes of JSON at `text` (not NUL-terminated; valid UTF-8 is
/// taken as is, anything else is read as Windows-1254; a NUL byte among them is refused).
/// Returns the vendor integer: 1 accepted, −1 ACK timeout (serialIn 9 was delivered), 0
/// anything else (no device, bad handle, bad JSON, too large, closed). If `status_out` is not
/// NULL it receives the `okc_send_basket` status (OKC_ACCEPTED, OKC_ERR_NO_DEVICE, ...);
/// every failure is also in `okc_last_error`.
///
/// # Safety
/// `text` must be NULL or point to `len` readable bytes; `status_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn okc_vendor_send_basket(
    hub: *mut OkcHub,
    text: *const c_char,
    len: usize,
    status_out: *mut OkcStatus,
) -> i32 {
    // SAFETY: caller contract, passed on.
    unsafe {
        vendor_send(
            "okc_vendor_send_basket",
            hub,
            text,
            len,
            status_out,
            SendKind::Basket,
        )
    }
}

/// Vendor `sendPayment`: as `okc_vendor_send_basket` (protocol type 10).
///
/// # Safety
/// As `okc_vendor_send_basket`.
#[no_mangle]
pub unsafe extern "C" fn okc_vendor_send_payment(
    hub: *mut OkcHub,
    text: *const c_char,
    len: usize,
    status_out: *mut OkcStatus,
) -> i32 {
    // SAFETY: caller contract, passed on.
    unsafe {
        vendor_send(
            "okc_vendor_send_payment",
            hub,
            text,
            len,
            status_out,
            SendKind::Payment,
        )
    }
}

/// Vendor `getFiscalInfo`: waits up to `timeout_ms` (< 0 = configured `fiscal_timeout_ms`)
/// and returns the fresh fiscal info; after OKC_ERR_TIMEOUT the last value received (as
/// `okc_last_fiscal_info`); "" with no device, a bad handle, or an answer over
/// `max_receive_bytes`. The text is UTF-8, or, with `vendor_text` true, in the handle's
/// `vendor_text` encoding (the Linux C++ layer); a NUL byte in it is written as `\u0000`.
/// Free it with `okc_string_free` (NULL only after an internal panic). If `status_out` is
/// not NULL it receives how the fresh request went (OKC_OK, OKC_ERR_TIMEOUT,
/// OKC_ERR_NO_DEVICE, OKC_ERR_BAD_HANDLE, ...).
///
/// # Safety
/// `status_out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn okc_vendor_fiscal_info(
    hub: *mut OkcHub,
    timeout_ms: i32,
    vendor_text: bool,
    status_out: *mut OkcStatus,
) -> *mut c_char {
    let status = Cell::new(OkcStatus::OKC_OK);
    let p = guard(
        "okc_vendor_fiscal_info",
        |e| {
            status.set(e.status);
            std::panic::catch_unwind(|| give_string("")).unwrap_or(std::ptr::null_mut())
        },
        || {
            let e = lookup(handle_of(hub))?;
            let (text, r) = vendor::fiscal_info(&e, opt_timeout(timeout_ms));
            if let Err(err) = r {
                status.set(err.status);
                set_last_error(&format!("okc_vendor_fiscal_info: {}", err.message));
            }
            let enc = if vendor_text {
                e.vendor_text
            } else {
                VendorText::Utf8
            };
            Ok(give_bytes(vendor::device_text_out(&text, enc)))
        },
    );
    if !status_out.is_null() {
        // SAFETY: checked non-NULL; the caller provides a writable pointer.
        unsafe { *status_out = status.get() };
    }
    p
}

/// Set (or clear with NULL) the data callback of a vendor layer: the value arrives as bytes
/// plus length in the handle's `vendor_text` encoding (UTF-8 by default, Windows-1254 with
/// `vendor_text` = cp1254), otherwise as `okc_set_serial_in_callback` (it replaces that one).
#[no_mangle]
pub extern "C" fn okc_vendor_set_serial_in_callback(
    hub: *mut OkcHub,
    cb: OkcVendorSerialInFn,
    user_data: *mut c_void,
) -> OkcStatus {
    guard_status("okc_vendor_set_serial_in_callback", || {
        let e = lookup(handle_of(hub))?;
        let (id, enc) = (e.id, e.vendor_text);
        let ud = UserData(user_data);
        let boxed = cb.map(|f| -> crate::hub::SerialInFn {
            Box::new(move |t: i32, v: &str| {
                let mut b = vendor::device_text_out(v, enc);
                let len = b.len();
                b.push(0);
                let _scope = CallbackScope::enter(id);
                // SAFETY: the caller registered `f` for exactly this call shape; `b` holds
                // `len` bytes and a NUL.
                unsafe { f(ud.get(), t, b.as_ptr() as *const c_char, len) }
            })
        });
        e.hub.set_serial_in_callback(boxed);
        Ok(OkcStatus::OKC_OK)
    })
}

/// Set (or clear with NULL) the state callback of a vendor layer: the serial arrives as in
/// `okc_vendor_set_serial_in_callback`; the last known state is replayed at once, on the
/// dispatcher thread (as `okc_set_device_state_callback`, which it replaces).
#[no_mangle]
pub extern "C" fn okc_vendor_set_device_state_callback(
    hub: *mut OkcHub,
    cb: OkcVendorDeviceStateFn,
    user_data: *mut c_void,
) -> OkcStatus {
    guard_status("okc_vendor_set_device_state_callback", || {
        let e = lookup(handle_of(hub))?;
        let (id, enc) = (e.id, e.vendor_text);
        let ud = UserData(user_data);
        let boxed = cb.map(|f| -> crate::hub::DeviceStateFn {
            Box::new(move |connected: bool, serial: &str| {
                let mut b = vendor::device_text_out(serial, enc);
                let len = b.len();
                b.push(0);
                let _scope = CallbackScope::enter(id);
                // SAFETY: as in okc_vendor_set_serial_in_callback.
                unsafe { f(ud.get(), connected, b.as_ptr() as *const c_char, len) }
            })
        });
        e.hub.set_device_state_callback(boxed);
        Ok(OkcStatus::OKC_OK)
    })
}
