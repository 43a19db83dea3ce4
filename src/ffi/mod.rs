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

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use once_cell::sync::Lazy;
use parking_lot::{Condvar, Mutex};

use crate::hub::{Hub, HubError};

#[cfg(feature = "usb")]
pub(crate) mod libusb_async;
pub mod okc;
pub(crate) mod vendor;
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
            HubError::Rejected { .. } => OkcStatus::OKC_ERR_REJECTED,
            HubError::Unsupported(_) => OkcStatus::OKC_ERR_UNSUPPORTED,
            HubError::InDoubt(_) => OkcStatus::OKC_ERR_OUTCOME_UNKNOWN,
            HubError::Journal(_) => OkcStatus::OKC_ERR_JOURNAL,
            HubError::NotFound(_) => OkcStatus::OKC_ERR_NOT_FOUND,
        };
        FfiError::new(status, e.to_string())
    }
}

pub(crate) type FfiResult<T> = Result<T, FfiError>;

// ---------------------------------------------------------------------------------------
// Last error (per thread)
//
// Every access to thread-local storage goes through `try_with`: a host may call the library
// from a pthread-key or C++ `thread_local` destructor, after this thread's Rust thread-locals
// with destructors are destroyed, and `with` would then panic inside an `extern "C"` function
// (an abort). The thread-locals here have no destructor at all (const-initialised, no `Drop`):
// they stay usable for as long as the thread runs code, and nothing is registered (or leaked)
// when a thread's first call happens while it exits.

thread_local! {
    /// The last error text, NUL-terminated, cut to fit at a char boundary.
    static LAST_ERROR: RefCell<[u8; LAST_ERROR_LEN]> = const { RefCell::new([0; LAST_ERROR_LEN]) };
    #[cfg(feature = "test-hooks")]
    static INJECT_PANIC: Cell<bool> = const { Cell::new(false) };
    /// Handle whose callback is running on this thread (0 = none).
    static IN_CALLBACK: Cell<usize> = const { Cell::new(0) };
}

/// Room for the last error text (with its NUL); longer texts are cut.
pub const LAST_ERROR_LEN: usize = 1024;

/// Returned by `okc_last_error` if the thread's storage cannot be reached at all.
const NO_ERROR_TEXT: &CStr = c"(okclink: the last error text is not available on this thread)";

pub(crate) fn set_last_error(message: &str) {
    let text = escape_nul(message);
    let _ = LAST_ERROR.try_with(|e| {
        if let Ok(mut buf) = e.try_borrow_mut() {
            let mut n = text.len().min(LAST_ERROR_LEN - 1);
            while !text.is_char_boundary(n) {
                n -= 1;
            }
            buf[..n].copy_from_slice(&text.as_bytes()[..n]);
            buf[n] = 0;
        }
    });
}

/// Pointer to this thread's last error text: the thread's own buffer, rewritten by the next
/// failing call on this thread. Never NULL, never unwinds (also during thread exit).
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR
        .try_with(|e| e.as_ptr() as *const c_char)
        .unwrap_or(NO_ERROR_TEXT.as_ptr())
}

/// The last error text of this thread (for Rust callers and tests).
pub fn last_error() -> String {
    // SAFETY: `last_error_ptr` always returns a NUL-terminated string that stays valid until
    // the next failing call on this thread; it is copied at once.
    unsafe { CStr::from_ptr(last_error_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Make the next export called on this thread panic inside its guard (tests of the panic
/// barrier; never used by the library itself).
#[cfg(feature = "test-hooks")]
pub fn inject_panic_once() {
    let _ = INJECT_PANIC.try_with(|p| p.set(true));
}

use crate::fiscal::supervise::panic_text;

/// Run the body of an export: catch panics, record the error text, return a value.
/// `on_error` turns a failure into the export's return value. Nothing in here unwinds out:
/// recording the error text is behind the barrier too.
pub(crate) fn guard<T>(
    name: &str,
    on_error: impl FnOnce(&FfiError) -> T,
    body: impl FnOnce() -> FfiResult<T>,
) -> T {
    let result = catch_unwind(AssertUnwindSafe(|| {
        #[cfg(feature = "test-hooks")]
        if INJECT_PANIC.try_with(|p| p.replace(false)).unwrap_or(false) {
            panic!("injected panic (test)");
        }
        body()
    }));
    let err = match result {
        Ok(Ok(v)) => return v,
        Ok(Err(e)) => e,
        Err(payload) => {
            let text = catch_unwind(AssertUnwindSafe(|| panic_text(&*payload)))
                .unwrap_or_else(|_| "unprintable panic payload".to_string());
            // A payload whose destructor panics must not unwind from here either.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            FfiError::new(OkcStatus::OKC_ERR_PANIC, format!("internal panic: {text}"))
        }
    };
    let _ = catch_unwind(AssertUnwindSafe(|| {
        set_last_error(&format!("{name}: {}", err.message))
    }));
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
    /// Largest JSON accepted from the caller (`max_payload_bytes`).
    pub max_payload: usize,
    /// How long closing the hub may take (its disconnect timeout).
    pub close_bound: Duration,
    /// Encoding of device text the Linux vendor layer hands out (`vendor_text`).
    pub vendor_text: crate::config::VendorText,
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

/// Handles being destroyed and callbacks running, so that every `okc_destroy` of a handle
/// returns only once no callback of it can run (not just the first one). Lock order:
/// `REGISTRY` before `CALLBACKS`; `CALLBACKS` is never held while calling out.
struct CallbackState {
    /// Handle → how long its (first) destroy may take; present while `Hub::close` runs.
    closing: HashMap<usize, Duration>,
    /// Handle → callbacks of it running now (one dispatcher thread each: 0 or 1).
    running: HashMap<usize, usize>,
}

static CALLBACKS: Lazy<Mutex<CallbackState>> = Lazy::new(|| {
    Mutex::new(CallbackState {
        closing: HashMap::new(),
        running: HashMap::new(),
    })
});
static CALLBACKS_CHANGED: Condvar = Condvar::new();

/// Extra time a second `okc_destroy` waits beyond the first one's bound.
const DESTROY_MARGIN: Duration = Duration::from_millis(1000);

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

fn in_callback_of(handle: usize) -> bool {
    IN_CALLBACK.try_with(|c| c.get()).unwrap_or(0) == handle
}

/// Ends the "closing" mark of a handle (also if closing panics).
struct ClosingMark(usize);

impl Drop for ClosingMark {
    fn drop(&mut self) {
        CALLBACKS.lock().closing.remove(&self.0);
        CALLBACKS_CHANGED.notify_all();
    }
}

/// A destroy of a handle that another destroy is closing: wait until that one has finished
/// (which includes no callback of the handle running), bounded by the first one's bounds
/// plus a margin. From inside a callback of the handle it does not wait (it would wait for
/// itself).
fn wait_destroyed(handle: usize) {
    if in_callback_of(handle) {
        return;
    }
    let mut c = CALLBACKS.lock();
    let Some(bound) = c.closing.get(&handle).copied() else {
        return;
    };
    let deadline = Instant::now() + bound * 2 + DESTROY_MARGIN;
    while c.closing.contains_key(&handle) {
        if CALLBACKS_CHANGED.wait_until(&mut c, deadline).timed_out() {
            break;
        }
    }
}

/// Wait (at most `bound`) until no callback of `handle` runs.
fn wait_no_callback(handle: usize, bound: Duration) {
    let deadline = Instant::now() + bound;
    let mut c = CALLBACKS.lock();
    while c.running.contains_key(&handle) {
        if CALLBACKS_CHANGED.wait_until(&mut c, deadline).timed_out() {
            break;
        }
    }
}

/// Remove a handle and shut its hub down (bounded by the hub's disconnect timeout).
/// Returns `Ok(false)` if the handle had already been destroyed (idempotent); that call too
/// returns only once the first destroy has finished and no callback of the handle runs.
pub(crate) fn destroy(handle: usize) -> FfiResult<bool> {
    if handle == 0 {
        return Err(FfiError::new(
            OkcStatus::OKC_ERR_BAD_HANDLE,
            "handle is NULL",
        ));
    }
    let (entry, mark) = {
        let mut r = REGISTRY.lock();
        match r.live.remove(&handle) {
            Some(e) => {
                // Marked before the registry lock is released: a concurrent destroy sees
                // the handle either live or closing, never neither.
                CALLBACKS.lock().closing.insert(handle, e.close_bound);
                (e, ClosingMark(handle))
            }
            None if r.issued(handle) => {
                drop(r);
                wait_destroyed(handle);
                return Ok(false);
            }
            None => {
                return Err(FfiError::new(
                    OkcStatus::OKC_ERR_BAD_HANDLE,
                    format!("{handle:#x} is not a handle of this library"),
                ))
            }
        }
    };
    entry.hub.close();
    if in_callback_of(handle) {
        // Called from inside one of this hub's callbacks: the dispatcher thread is ours,
        // so the last reference must not be dropped (and threads joined) here. The handle
        // stays "closing" until that callback has returned, so a concurrent destroy from
        // another thread waits for it.
        // If no thread can be started, the closure (entry and mark) is dropped right here:
        // the hub is closed already, so that only releases memory.
        let bound = entry.close_bound;
        let _ = std::thread::Builder::new()
            .name("okc-release".into())
            .spawn(move || {
                wait_no_callback(handle, bound);
                drop(entry);
                drop(mark);
            });
    } else {
        drop(entry);
        drop(mark);
    }
    Ok(true)
}

/// Marks "a callback of `handle` runs on this thread" for its lifetime.
pub(crate) struct CallbackScope {
    handle: usize,
    prev: usize,
}

impl CallbackScope {
    pub fn enter(handle: usize) -> CallbackScope {
        *CALLBACKS.lock().running.entry(handle).or_insert(0) += 1;
        CallbackScope {
            handle,
            prev: IN_CALLBACK.try_with(|c| c.replace(handle)).unwrap_or(0),
        }
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        let _ = IN_CALLBACK.try_with(|c| c.set(self.prev));
        let mut c = CALLBACKS.lock();
        if let Some(n) = c.running.get_mut(&self.handle) {
            *n -= 1;
            if *n == 0 {
                c.running.remove(&self.handle);
            }
        }
        drop(c);
        CALLBACKS_CHANGED.notify_all();
    }
}

/// Number of live handles (tests).
#[cfg(feature = "test-hooks")]
pub fn live_handles() -> usize {
    REGISTRY.lock().live.len()
}

// ---------------------------------------------------------------------------------------
// Strings

/// Strings handed to callers, to be returned through `okc_string_free`.
///
/// Tracking them makes a foreign pointer an ignored call instead of heap corruption. A
/// string's memory is not given back to the allocator when it is freed but held in a
/// quarantine until [`QUARANTINE_STRINGS`] later strings or [`QUARANTINE_BYTES`] bytes of
/// them have been freed: while it is held no new string can get its address, so a second
/// free of it is recognised (it is not live) and ignored. Past that window the address may
/// belong to a newer live string, and a stale pointer cannot be told from it.
struct OutStrings {
    /// Address → capacity in bytes (with the NUL) of every string the caller holds.
    live: HashMap<usize, usize>,
    /// Freed strings still held: (address, bytes), oldest first.
    quarantine: VecDeque<(usize, usize)>,
    quarantine_bytes: usize,
}

/// Freed strings held back from the allocator (count).
pub const QUARANTINE_STRINGS: usize = 1024;
/// Freed strings held back from the allocator (bytes); a larger string is released at once.
pub const QUARANTINE_BYTES: usize = 4 << 20;

static OUT_STRINGS: Mutex<Option<OutStrings>> = Mutex::new(None);

/// A NUL in text for C becomes the six characters `\u0000` (the JSON escape): a C string
/// cannot carry it, and cutting the text there would hand out a silently truncated value.
pub(crate) fn escape_nul(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\\u0000"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Text → C string, whole: an interior NUL is written as `\u0000` (see [`escape_nul`]).
pub(crate) fn cstring_lossy(s: &str) -> CString {
    CString::new(escape_nul(s).into_owned()).unwrap_or_default()
}

/// Free a string from [`give_string`] (raw address).
fn release(addr: usize) {
    // SAFETY: `addr` came from `CString::into_raw` in `give_string` and has just been
    // removed from the tracking tables, so it is freed exactly once.
    drop(unsafe { CString::from_raw(addr as *mut c_char) });
}

/// Hand a string to the caller (freed with `okc_string_free`).
pub(crate) fn give_string(s: &str) -> *mut c_char {
    give_cstring(cstring_lossy(s))
}

/// Hand bytes without a NUL (e.g. Windows-1254 text) to the caller as a C string (freed with
/// `okc_string_free`); a NUL among them would end the string there, so callers escape it.
pub(crate) fn give_bytes(bytes: Vec<u8>) -> *mut c_char {
    give_cstring(CString::new(bytes).unwrap_or_default())
}

fn give_cstring(c: CString) -> *mut c_char {
    let bytes = c.as_bytes_with_nul().len();
    let p = c.into_raw();
    OUT_STRINGS
        .lock()
        .get_or_insert_with(|| OutStrings {
            live: HashMap::new(),
            quarantine: VecDeque::new(),
            quarantine_bytes: 0,
        })
        .live
        .insert(p as usize, bytes);
    p
}

/// Free a string from [`give_string`]; `false` if it is not a live one (nothing is freed).
pub(crate) fn take_string(p: *mut c_char) -> bool {
    let mut evicted = Vec::new();
    let known = {
        let mut g = OUT_STRINGS.lock();
        let Some(t) = g.as_mut() else { return false };
        match t.live.remove(&(p as usize)) {
            None => false,
            Some(bytes) if bytes > QUARANTINE_BYTES => {
                evicted.push(p as usize);
                true
            }
            Some(bytes) => {
                t.quarantine.push_back((p as usize, bytes));
                t.quarantine_bytes += bytes;
                while t.quarantine.len() > QUARANTINE_STRINGS
                    || t.quarantine_bytes > QUARANTINE_BYTES
                {
                    let Some((a, n)) = t.quarantine.pop_front() else {
                        break;
                    };
                    t.quarantine_bytes -= n;
                    evicted.push(a);
                }
                true
            }
        }
    };
    // Given back to the allocator outside the lock.
    for a in evicted {
        release(a);
    }
    known
}

/// Number of strings handed out and not yet freed (tests).
#[cfg(feature = "test-hooks")]
pub fn outstanding_strings() -> usize {
    OUT_STRINGS.lock().as_ref().map_or(0, |s| s.live.len())
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

/// Borrow `len` input bytes at `p` (a pointer + length from the vendor C++ layer), at most
/// `max` of them (the length is checked before anything is read).
///
/// # Safety
/// `p` must be NULL or point to `len` readable bytes that stay valid for `'a`.
pub(crate) unsafe fn read_bytes<'a>(
    p: *const c_char,
    len: usize,
    max: usize,
    what: &str,
) -> FfiResult<&'a [u8]> {
    if p.is_null() {
        return Err(FfiError::new(
            OkcStatus::OKC_ERR_NULL,
            format!("{what} is NULL"),
        ));
    }
    if len > max {
        return Err(FfiError::new(
            OkcStatus::OKC_ERR_TOO_LARGE,
            format!("{what} exceeds the limit of {max} bytes"),
        ));
    }
    // SAFETY: the caller guarantees `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(p as *const u8, len) })
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
