//! Native surfaces: the `okc_*` C API ([`okc`]), the vendor-compatible Windows exports
//! (`vendor_win`, feature `vendor-abi`) and the shared machinery every export uses:
//! panic catching, the per-thread last error, the registry of live handles and the
//! registry of strings handed out to callers.
//!
//! This is the only module of the crate with `unsafe` and `extern` code.
//!
//! Handles are *not* pointers to memory: they are opaque numbers taken from a counter
//! that never repeats (see [`Registry`]). A handle is looked up in the registry before
//! any use, so a NULL, destroyed or foreign handle gives an error code and is never
//! dereferenced.
//!
//! The Linux vendor ABI (`libIntegrationHub.so`) is a C++ shim (`src/ffi/vendor_linux.cpp`,
//! compiled by `build.rs` and bundled into `libokclink.a`) over the `okc_*` functions;
//! `scripts/link-vendor-linux.sh` links it into a shared object that exports exactly the
//! vendor's nine names.

#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use once_cell::sync::Lazy;
use parking_lot::Mutex;

use crate::hub::{Hub, HubError};

pub mod okc;
#[cfg(all(windows, feature = "vendor-abi"))]
pub mod vendor_win;

pub use okc::OkcStatus;

/// Largest config JSON accepted by `okc_create` (64 KiB).
pub const MAX_CONFIG_LEN: usize = 64 * 1024;

/// An error on its way out of an export: a status code plus the text for `okc_last_error`.
#[derive(Debug, Clone)]
pub(crate) struct FfiError {
    pub status: OkcStatus,
    pub message: String,
}

impl FfiError {
    pub fn new(status: OkcStatus, message: impl Into<String>) -> FfiError {
        FfiError {
            status,
            message: message.into(),
        }
    }
}

impl From<HubError> for FfiError {
    fn from(e: HubError) -> FfiError {
        let status = match e {
            HubError::InvalidJson(_) => OkcStatus::OKC_ERR_INVALID_JSON,
            HubError::TooLarge { .. } => OkcStatus::OKC_ERR_TOO_LARGE,
            HubError::NoDevice => OkcStatus::OKC_ERR_NO_DEVICE,
            HubError::Timeout => OkcStatus::OKC_ERR_TIMEOUT,
            HubError::Closed => OkcStatus::OKC_ERR_CLOSED,
            HubError::Config(_) => OkcStatus::OKC_ERR_CONFIG,
            HubError::ReceiveTooLarge { .. } => OkcStatus::OKC_ERR_TOO_LARGE,
            HubError::Resource(_) => OkcStatus::OKC_ERR_RESOURCE,
        };
        FfiError::new(status, e.to_string())
    }
}

pub(crate) type FfiResult<T> = Result<T, FfiError>;

// ---------------------------------------------------------------------------------------
// Last error (per thread)

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
    static INJECT_PANIC: Cell<bool> = const { Cell::new(false) };
    /// Handle whose callback is running on this thread (0 = none).
    static IN_CALLBACK: Cell<usize> = const { Cell::new(0) };
}

pub(crate) fn set_last_error(message: &str) {
    let c = cstring_lossy(message);
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// Pointer to this thread's last error text; valid until the next failing call on this thread.
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// The last error text of this thread (for Rust callers and tests).
pub fn last_error() -> String {
    LAST_ERROR.with(|e| e.borrow().to_string_lossy().into_owned())
}

/// Make the next export called on this thread panic inside its guard (tests of the panic
/// barrier; never used by the library itself).
#[doc(hidden)]
pub fn inject_panic_once() {
    INJECT_PANIC.with(|p| p.set(true));
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// Run the body of an export: catch panics, record the error text, return a value.
/// `on_error` turns a failure into the export's return value.
pub(crate) fn guard<T>(
    name: &str,
    on_error: impl FnOnce(&FfiError) -> T,
    body: impl FnOnce() -> FfiResult<T>,
) -> T {
    let result = catch_unwind(AssertUnwindSafe(|| {
        if INJECT_PANIC.with(|p| p.replace(false)) {
            panic!("injected panic (test)");
        }
        body()
    }));
    let err = match result {
        Ok(Ok(v)) => return v,
        Ok(Err(e)) => e,
        Err(payload) => FfiError::new(
            OkcStatus::OKC_ERR_PANIC,
            format!("internal panic: {}", panic_text(&*payload)),
        ),
    };
    set_last_error(&format!("{name}: {}", err.message));
    on_error(&err)
}

/// [`guard`] for exports that return an [`OkcStatus`].
pub(crate) fn guard_status(name: &str, body: impl FnOnce() -> FfiResult<OkcStatus>) -> OkcStatus {
    guard(name, |e| e.status, body)
}

// ---------------------------------------------------------------------------------------
// Handles

/// What a live handle stands for.
pub(crate) struct HubEntry {
    pub id: usize,
    pub hub: Hub,
    pub max_payload: usize,
}

/// Live handles. Ids come from a counter that never repeats (`BASE + n * STEP`), so a
/// destroyed handle stays recognisable as "stale" and is never confused with a newer one.
pub(crate) struct Registry {
    next: usize,
    live: HashMap<usize, Arc<HubEntry>>,
}

const HANDLE_BASE: usize = 0x0C0C_0000;
const HANDLE_STEP: usize = 0x10;

static REGISTRY: Lazy<Mutex<Registry>> = Lazy::new(|| {
    Mutex::new(Registry {
        next: HANDLE_BASE,
        live: HashMap::new(),
    })
});

impl Registry {
    fn issued(&self, id: usize) -> bool {
        id >= HANDLE_BASE && id < self.next && (id - HANDLE_BASE) % HANDLE_STEP == 0
    }
}

pub(crate) fn register(make: impl FnOnce(usize) -> FfiResult<HubEntry>) -> FfiResult<usize> {
    // Reserve the id first so the hub can be built without holding the lock.
    let id = {
        let mut r = REGISTRY.lock();
        let id = r.next;
        r.next = r.next.checked_add(HANDLE_STEP).unwrap_or(HANDLE_BASE);
        id
    };
    let entry = Arc::new(make(id)?);
    REGISTRY.lock().live.insert(id, entry);
    Ok(id)
}

pub(crate) fn lookup(handle: usize) -> FfiResult<Arc<HubEntry>> {
    if handle == 0 {
        return Err(FfiError::new(
            OkcStatus::OKC_ERR_BAD_HANDLE,
            "handle is NULL",
        ));
    }
    let r = REGISTRY.lock();
    if let Some(e) = r.live.get(&handle) {
        return Ok(e.clone());
    }
    if r.issued(handle) {
        Err(FfiError::new(
            OkcStatus::OKC_ERR_BAD_HANDLE,
            format!("handle {handle:#x} was already destroyed"),
        ))
    } else {
        Err(FfiError::new(
            OkcStatus::OKC_ERR_BAD_HANDLE,
            format!("{handle:#x} is not a handle of this library"),
        ))
    }
}

/// Remove a handle and shut its hub down (bounded by the hub's disconnect timeout).
/// Returns `Ok(false)` if the handle had already been destroyed (idempotent).
pub(crate) fn destroy(handle: usize) -> FfiResult<bool> {
    if handle == 0 {
        return Err(FfiError::new(
            OkcStatus::OKC_ERR_BAD_HANDLE,
            "handle is NULL",
        ));
    }
    let entry = {
        let mut r = REGISTRY.lock();
        match r.live.remove(&handle) {
            Some(e) => e,
            None if r.issued(handle) => return Ok(false),
            None => {
                return Err(FfiError::new(
                    OkcStatus::OKC_ERR_BAD_HANDLE,
                    format!("{handle:#x} is not a handle of this library"),
                ))
            }
        }
    };
    entry.hub.close();
    if IN_CALLBACK.with(|c| c.get()) == handle {
        // Called from inside one of this hub's callbacks: the dispatcher thread is ours,
        // so the last reference must not be dropped (and threads joined) here.
        std::thread::Builder::new()
            .name("okc-release".into())
            .spawn(move || drop(entry))
            .map_err(|e| FfiError::new(OkcStatus::OKC_ERR_INTERNAL, e.to_string()))?;
    } else {
        drop(entry);
    }
    Ok(true)
}

/// Marks "a callback of `handle` runs on this thread" for its lifetime.
pub(crate) struct CallbackScope {
    prev: usize,
}

impl CallbackScope {
    pub fn enter(handle: usize) -> CallbackScope {
        CallbackScope {
            prev: IN_CALLBACK.with(|c| c.replace(handle)),
        }
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        IN_CALLBACK.with(|c| c.set(self.prev));
    }
}

/// Number of live handles (tests).
#[doc(hidden)]
pub fn live_handles() -> usize {
    REGISTRY.lock().live.len()
}

// ---------------------------------------------------------------------------------------
// Strings

/// Strings handed to callers, to be returned through `okc_string_free`. Tracking them makes
/// a double free or a foreign pointer an ignored call instead of heap corruption.
static OUT_STRINGS: Mutex<Option<HashSet<usize>>> = Mutex::new(None);

/// Text → C string; an interior NUL ends the text (C cannot see past it anyway).
pub(crate) fn cstring_lossy(s: &str) -> CString {
    let bytes = s.as_bytes();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    CString::new(&bytes[..end]).unwrap_or_default()
}

/// Hand a string to the caller (freed with `okc_string_free`).
pub(crate) fn give_string(s: &str) -> *mut c_char {
    let p = cstring_lossy(s).into_raw();
    OUT_STRINGS
        .lock()
        .get_or_insert_with(HashSet::new)
        .insert(p as usize);
    p
}

/// Free a string from [`give_string`]; `false` if it is not one (nothing is freed).
pub(crate) fn take_string(p: *mut c_char) -> bool {
    let known = OUT_STRINGS
        .lock()
        .as_mut()
        .is_some_and(|set| set.remove(&(p as usize)));
    if known {
        // SAFETY: `p` came from `CString::into_raw` in `give_string` and was removed from
        // the set above, so it is freed exactly once.
        drop(unsafe { CString::from_raw(p) });
    }
    known
}

/// Number of strings handed out and not yet freed (tests).
#[doc(hidden)]
pub fn outstanding_strings() -> usize {
    OUT_STRINGS.lock().as_ref().map_or(0, |s| s.len())
}

/// Read a NUL-terminated input string of at most `max` bytes as UTF-8.
/// The scan stops at `max + 1` bytes, so an oversized input is rejected without reading it all.
///
/// # Safety
/// `p` must be NULL or point to readable memory up to its NUL or `max + 1` bytes.
pub(crate) unsafe fn read_utf8<'a>(p: *const c_char, max: usize, what: &str) -> FfiResult<&'a str> {
    if p.is_null() {
        return Err(FfiError::new(
            OkcStatus::OKC_ERR_NULL,
            format!("{what} is NULL"),
        ));
    }
    let mut len = 0usize;
    // SAFETY: the caller guarantees readability up to the terminator or max + 1 bytes.
    while unsafe { *p.add(len) } != 0 {
        if len == max {
            return Err(FfiError::new(
                OkcStatus::OKC_ERR_TOO_LARGE,
                format!("{what} exceeds the limit of {max} bytes"),
            ));
        }
        len += 1;
    }
    // SAFETY: `len` bytes were just read.
    let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, len) };
    std::str::from_utf8(bytes).map_err(|e| {
        FfiError::new(
            OkcStatus::OKC_ERR_INVALID_UTF8,
            format!("{what} is not valid UTF-8: {e}"),
        )
    })
}

/// `timeout_ms < 0` → `None` (configured default).
pub(crate) fn opt_timeout(ms: i32) -> Option<Duration> {
    (ms >= 0).then(|| Duration::from_millis(ms as u64))
}

/// A caller's `void* user_data`, carried to the dispatcher thread untouched.
#[derive(Clone, Copy)]
pub(crate) struct UserData(pub *mut std::ffi::c_void);

// SAFETY: the library never dereferences it; it only hands it back to the caller's callback,
// which is documented to run on the dispatcher thread.
unsafe impl Send for UserData {}
unsafe impl Sync for UserData {}

impl UserData {
    pub fn get(self) -> *mut std::ffi::c_void {
        self.0
    }
}
