//! Vendor-compatible Windows ABI (`IntegrationHubCpp.dll`, DROP-IN.md §1.4, WIRE.md §10.2):
//! the nine undecorated `__cdecl` exports, `const wchar_t*` in, `BSTR` out (`SysAllocString`
//! family; the caller frees with `SysFreeString`), `__stdcall` callbacks that receive a BSTR
//! owned by the library and freed right after the callback returns.
//!
//! Text is UTF-16 here and UTF-8 in the hub; the hub converts to Windows-1254 toward the
//! device explicitly (`Config::text_encoding`), never through the system ANSI code page.
//!
//! The vendor's rules (send code, fiscal-info fallback, the defaults of createCommunication)
//! are the ones of `src/ffi/vendor.rs`, shared with the Linux shim and the .NET assembly;
//! this file only converts UTF-16/BSTR and wraps the `__stdcall` callbacks.
//!
//! Fixes over the vendor (DROP-IN.md §7/§8): `getFiscalInfo` without a device returns an
//! empty BSTR (vendor: `(BSTR)-1`), `sendBasket`/`sendPayment` without a device return 0
//! (vendor: the handle's low bits), `deleteCommunication` is bounded and idempotent, bad
//! handles are ignored instead of dereferenced, and the DLL pins itself in memory on first
//! use so a `FreeLibrary` while hub threads run cannot unmap their code.
//!
//! Built only with `--features vendor-abi` for a Windows target; `scripts/dist.sh` links the
//! static library into `IntegrationHubCpp.dll` with `src/ffi/vendor_win.def` (exactly nine
//! exports). `extern "C"` is `__cdecl` on i686 (plain `ret`); `extern "system"` is `__stdcall`
//! on i686 and the one x64 convention elsewhere.

#![allow(unsafe_code)]
#![allow(non_snake_case)]

use std::ffi::c_void;
use std::ptr::null_mut;

use super::vendor::{self, SendKind};
use super::{escape_nul, guard, lookup, CallbackScope, FfiError, FfiResult, OkcStatus};

/// `BSTR`: a UTF-16 string allocated by `SysAllocString*`.
pub type Bstr = *mut u16;

/// `void (__stdcall *)(int type, BSTR value)`.
pub type SerialInCallback = Option<unsafe extern "system" fn(msg_type: i32, value: Bstr)>;
/// `void (__stdcall *)(bool isConnected, BSTR id)`; the bool is passed as a 32-bit 0/1.
pub type DeviceStateCallback = Option<unsafe extern "system" fn(connected: i32, id: Bstr)>;

#[link(name = "oleaut32")]
extern "system" {
    fn SysAllocStringLen(s: *const u16, len: u32) -> Bstr;
    fn SysFreeString(b: Bstr);
}

#[link(name = "kernel32")]
extern "system" {
    fn GetModuleHandleExW(flags: u32, name: *const u16, module: *mut *mut c_void) -> i32;
}

const GET_MODULE_HANDLE_EX_FLAG_PIN: u32 = 0x1;
const GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS: u32 = 0x4;

/// Largest company name accepted (UTF-16 units).
const MAX_COMPANY_UNITS: usize = 4096;

/// Keep this DLL loaded for the life of the process (hub threads run its code).
fn pin_module() {
    static PINNED: std::sync::Once = std::sync::Once::new();
    PINNED.call_once(|| {
        let mut module = null_mut();
        // SAFETY: FROM_ADDRESS takes any address inside the module; `module` is writable.
        unsafe {
            GetModuleHandleExW(
                GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_PIN,
                pin_module as *const () as *const u16,
                &mut module,
            );
        }
    });
}

/// UTF-16 → BSTR (never NULL: an empty string is an empty BSTR). A NUL in the text is
/// written as `\u0000`, as in the C API: callers read a BSTR as a C string.
fn bstr(s: &str) -> Bstr {
    let w: Vec<u16> = escape_nul(s).encode_utf16().collect();
    // SAFETY: `w` holds `w.len()` units; SysAllocStringLen copies them and adds the NUL.
    unsafe { SysAllocStringLen(w.as_ptr(), w.len() as u32) }
}

/// Read a NUL-terminated `wchar_t*` of at most `max` units as UTF-8 (lone surrogates become
/// U+FFFD). NULL gives `None`.
///
/// # Safety
/// `p` must be NULL or readable up to its NUL or `max + 1` units.
unsafe fn read_wide(p: *const u16, max: usize, what: &str) -> FfiResult<Option<String>> {
    if p.is_null() {
        return Ok(None);
    }
    let mut len = 0usize;
    // SAFETY: caller contract.
    while unsafe { *p.add(len) } != 0 {
        if len == max {
            return Err(FfiError::new(
                OkcStatus::OKC_ERR_TOO_LARGE,
                format!("{what} exceeds the limit of {max} UTF-16 units"),
            ));
        }
        len += 1;
    }
    // SAFETY: `len` units were just read.
    let units = unsafe { std::slice::from_raw_parts(p, len) };
    Ok(Some(String::from_utf16_lossy(units)))
}

/// `void* createCommunication(const wchar_t* companyName)`. Never blocks; NULL on failure
/// (e.g. a malformed `OKC_TRANSPORT`), see the log.
///
/// # Safety
/// `company_name` must be NULL or a NUL-terminated UTF-16 string.
#[no_mangle]
pub unsafe extern "C" fn createCommunication(company_name: *const u16) -> *mut c_void {
    guard(
        "createCommunication",
        |_| null_mut(),
        || {
            pin_module();
            // SAFETY: caller contract.
            let name = unsafe { read_wide(company_name, MAX_COMPANY_UNITS, "companyName") }?;
            Ok(vendor::create(name.as_deref().unwrap_or(""))? as *mut c_void)
        },
    )
}

/// `void deleteCommunication(void*)`: vendor semantics (disconnect; the object stays usable
/// and `reconnect` restarts discovery). Bounded and idempotent.
#[no_mangle]
pub extern "C" fn deleteCommunication(h: *mut c_void) {
    guard(
        "deleteCommunication",
        |_| (),
        || {
            lookup(h as usize)?.hub.disconnect();
            Ok(())
        },
    )
}

/// `void reconnect(void*)`.
#[no_mangle]
pub extern "C" fn reconnect(h: *mut c_void) {
    guard(
        "reconnect",
        |_| (),
        || {
            lookup(h as usize)?.hub.reconnect();
            Ok(())
        },
    )
}

/// `int getActiveDeviceIndex(void*)`: −1 none, 0 X30TR, 1 300TR.
#[no_mangle]
pub extern "C" fn getActiveDeviceIndex(h: *mut c_void) -> i32 {
    guard(
        "getActiveDeviceIndex",
        |_| -1,
        || Ok(lookup(h as usize)?.hub.active_device_index()),
    )
}

fn send(name: &str, h: *mut c_void, json: *const u16, kind: SendKind) -> i32 {
    guard(
        name,
        |_| 0,
        || {
            let e = lookup(h as usize)?;
            // SAFETY: the caller passes a NUL-terminated UTF-16 string (or NULL).
            let text = unsafe { read_wide(json, e.max_payload, "jsonData") }?
                .ok_or_else(|| FfiError::new(OkcStatus::OKC_ERR_NULL, "jsonData is NULL"))?;
            let r = vendor::send(&e, &text, kind);
            if let Err(err) = &r {
                super::set_last_error(&format!("{name}: {}", err.message));
            }
            Ok(vendor::send_code(&r))
        },
    )
}

/// `int sendBasket(void*, const wchar_t*)`: 1 accepted, −1 ACK timeout (serialIn(9) fired),
/// 0 no device or bad input.
///
/// # Safety
/// `json` must be NULL or a NUL-terminated UTF-16 string.
#[no_mangle]
pub unsafe extern "C" fn sendBasket(h: *mut c_void, json: *const u16) -> i32 {
    send("sendBasket", h, json, SendKind::Basket)
}

/// `int sendPayment(void*, const wchar_t*)`: as `sendBasket`.
///
/// # Safety
/// `json` must be NULL or a NUL-terminated UTF-16 string.
#[no_mangle]
pub unsafe extern "C" fn sendPayment(h: *mut c_void, json: *const u16) -> i32 {
    send("sendPayment", h, json, SendKind::Payment)
}

/// `BSTR getFiscalInfo(void*)`: fresh fiscal info, the previous value after the timeout, or
/// an empty BSTR without a device. The caller frees it with `SysFreeString`.
#[no_mangle]
pub extern "C" fn getFiscalInfo(h: *mut c_void) -> Bstr {
    guard(
        "getFiscalInfo",
        |_| bstr(""),
        || {
            let e = lookup(h as usize)?;
            Ok(bstr(&vendor::fiscal_info(&e, None).0))
        },
    )
}

/// `void setSerialInCallback(void*, void (__stdcall*)(int, BSTR))`; NULL clears.
#[no_mangle]
pub extern "C" fn setSerialInCallback(h: *mut c_void, cb: SerialInCallback) {
    guard(
        "setSerialInCallback",
        |_| (),
        || {
            let e = lookup(h as usize)?;
            let id = e.id;
            e.hub
                .set_serial_in_callback(cb.map(|f| -> crate::hub::SerialInFn {
                    Box::new(move |t: i32, v: &str| {
                        let b = bstr(v);
                        {
                            let _scope = CallbackScope::enter(id);
                            // SAFETY: registered by the caller for this signature.
                            unsafe { f(t, b) };
                        }
                        // SAFETY: allocated above, the callee was told to copy it.
                        unsafe { SysFreeString(b) };
                    })
                }));
            Ok(())
        },
    )
}

/// `void setDeviceStateCallback(void*, void (__stdcall*)(bool, BSTR))`; NULL clears. The
/// last known state is replayed at once (vendor behaviour), on the dispatcher thread.
#[no_mangle]
pub extern "C" fn setDeviceStateCallback(h: *mut c_void, cb: DeviceStateCallback) {
    guard(
        "setDeviceStateCallback",
        |_| (),
        || {
            let e = lookup(h as usize)?;
            let id = e.id;
            e.hub
                .set_device_state_callback(cb.map(|f| -> crate::hub::DeviceStateFn {
                    Box::new(move |connected: bool, serial: &str| {
                        let b = bstr(serial);
                        {
                            let _scope = CallbackScope::enter(id);
                            // SAFETY: registered by the caller for this signature.
                            unsafe { f(connected as i32, b) };
                        }
                        // SAFETY: allocated above.
                        unsafe { SysFreeString(b) };
                    })
                }));
            Ok(())
        },
    )
}
