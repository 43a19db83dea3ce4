//! One asynchronous bulk IN transfer on libusb's raw API, behind a safe type ([`BulkIn`]).
//!
//! Why hand-written: `rusb` 0.9 only has synchronous transfers, and the crates that add
//! asynchronous ones (`rusb-async` 0.0.1-alpha: a pool polled by the caller, which runs the
//! event loop itself; `nusb`: a libusb replacement) do not fit a link whose reader waits on a
//! condition variable while one shared thread runs `libusb_handle_events_timeout_completed`.
//! The few raw calls needed are small enough to keep here, next to the crate's other `unsafe`.
//!
//! Life of the transfer: allocated and submitted by [`BulkIn::start`]; its completion callback
//! (run by whichever thread handles libusb events, normally the connector's event thread)
//! appends the bytes to a queue and resubmits it at once, so a bulk IN is always waiting in the
//! kernel and a reader waiting in [`BulkIn::wait`] makes no libusb call. The callback does not
//! resubmit when the queue is above its high-water mark (back-pressure: the device is NAKed as
//! with a synchronous reader that stops reading), after an error, or once [`BulkIn::cancel`]
//! was called; `wait` resubmits in the first two cases. The transfer and its buffer are freed
//! only after libusb has given the transfer back (the callback has run); if that never happens
//! within a generous bound they are leaked rather than freed under libusb's feet.

#![allow(unsafe_code)]

use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusb::constants::{
    LIBUSB_ERROR_NO_DEVICE, LIBUSB_TRANSFER_CANCELLED, LIBUSB_TRANSFER_COMPLETED,
    LIBUSB_TRANSFER_ERROR, LIBUSB_TRANSFER_NO_DEVICE, LIBUSB_TRANSFER_OVERFLOW,
    LIBUSB_TRANSFER_STALL, LIBUSB_TRANSFER_TIMED_OUT,
};
use rusb::ffi;
use rusb::{Context, DeviceHandle};

/// Why the bulk IN ended for good.
pub(crate) const GONE_NO_DEVICE: &str = "usb device gone (no device)";
pub(crate) const GONE_STALL: &str = "usb bulk IN stalled";

/// What [`BulkIn::wait`] saw.
#[derive(Debug)]
pub(crate) enum InWait {
    /// Bytes received since the last call (one or more transfers, in order).
    Data(Vec<u8>),
    /// Nothing within the timeout.
    Idle,
    /// [`InWaker::wake`] was called (the caller re-checks its own flags).
    Woken,
    /// [`BulkIn::cancel`] was called: no more data will come.
    Cancelled,
    /// The device is gone or the endpoint stalled ([`GONE_NO_DEVICE`], [`GONE_STALL`]).
    Gone(&'static str),
    /// A transfer error (reported once; the next `wait` submits again).
    Failed(String),
}

struct State {
    data: Vec<u8>,
    /// libusb owns the transfer (submitted, callback not yet run).
    in_flight: bool,
    /// `cancel` was called: never submit again.
    cancelled: bool,
    /// Not in flight although it should be (queue full, error): `wait` submits it again.
    resubmit: bool,
    ended: Option<&'static str>,
    failed: Option<String>,
    woken: bool,
}

struct Inner {
    state: Mutex<State>,
    cv: Condvar,
    calls: Arc<AtomicU64>,
    high_water: usize,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The transfer and its buffer; only ever touched by the thread that owns the state lock or by
/// libusb (while `in_flight`).
struct Raw {
    transfer: NonNull<ffi::libusb_transfer>,
    buffer: NonNull<[u8]>,
    /// `Arc::into_raw` of the `Inner` the callback sees as `user_data`.
    user_data: *const Inner,
}

// SAFETY: the pointers are only dereferenced under the rules above (libusb is thread-safe
// for submit/cancel; the buffer is read only in the callback, when libusb has returned it).
unsafe impl Send for Raw {}
// SAFETY: as above; `&Raw` only gives access to the pointer values.
unsafe impl Sync for Raw {}

/// A bulk IN endpoint read through one always-submitted asynchronous transfer.
pub(crate) struct BulkIn {
    inner: Arc<Inner>,
    raw: Raw,
    /// Keeps the device handle open for as long as the transfer exists.
    handle: Arc<DeviceHandle<Context>>,
}

/// Wakes a thread blocked in [`BulkIn::wait`]; cheap to clone and to drop on any thread.
#[derive(Clone)]
pub(crate) struct InWaker(Arc<Inner>);

impl InWaker {
    pub(crate) fn wake(&self) {
        let mut st = self.0.lock();
        st.woken = true;
        self.0.cv.notify_all();
    }
}

fn code_text(rc: c_int) -> String {
    format!("libusb error {rc}")
}

/// Submit the transfer (state lock held, so the callback cannot run for it meanwhile on
/// another thread before `in_flight` is set). Counts one libusb call.
fn submit(inner: &Inner, st: &mut State, transfer: *mut ffi::libusb_transfer) {
    inner.calls.fetch_add(1, Ordering::Relaxed);
    // SAFETY: `transfer` was filled by `BulkIn::start` and is not in flight (`in_flight` is
    // false, or we are in its completion callback, where libusb has handed it back).
    let rc = unsafe { ffi::libusb_submit_transfer(transfer) };
    st.resubmit = false;
    if rc == 0 {
        st.in_flight = true;
    } else {
        st.in_flight = false;
        if rc == LIBUSB_ERROR_NO_DEVICE {
            st.ended = Some(GONE_NO_DEVICE);
        } else {
            st.failed = Some(format!("submit: {}", code_text(rc)));
            st.resubmit = true;
        }
    }
}

extern "system" fn on_complete(transfer: *mut ffi::libusb_transfer) {
    // A panic must not unwind into C; nothing below is expected to panic.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: libusb passes back the transfer filled in `start`; its fields are ours
        // until it is submitted again. `user_data` points to an `Inner` kept alive by
        // `BulkIn` until this callback has run (see `Drop for BulkIn`).
        let (status, actual, buffer, inner) = unsafe {
            let t = &*transfer;
            (
                t.status,
                t.actual_length.max(0) as usize,
                t.buffer,
                &*(t.user_data as *const Inner),
            )
        };
        let mut st = inner.lock();
        match status {
            LIBUSB_TRANSFER_COMPLETED if actual > 0 => {
                // SAFETY: libusb wrote `actual_length` (≤ length) bytes into our buffer and
                // has handed it back.
                let bytes = unsafe { std::slice::from_raw_parts(buffer, actual) };
                st.data.extend_from_slice(bytes);
            }
            LIBUSB_TRANSFER_COMPLETED | LIBUSB_TRANSFER_TIMED_OUT | LIBUSB_TRANSFER_CANCELLED => {}
            LIBUSB_TRANSFER_NO_DEVICE => st.ended = Some(GONE_NO_DEVICE),
            LIBUSB_TRANSFER_STALL => st.ended = Some(GONE_STALL),
            LIBUSB_TRANSFER_OVERFLOW => st.failed = Some("overflow".into()),
            LIBUSB_TRANSFER_ERROR => st.failed = Some("transfer error".into()),
            other => st.failed = Some(format!("transfer status {other}")),
        }
        st.in_flight = false;
        if !st.cancelled && st.ended.is_none() {
            if st.failed.is_none() && st.data.len() < inner.high_water {
                submit(inner, &mut st, transfer);
            } else {
                st.resubmit = true;
            }
        }
        inner.cv.notify_all();
    }));
}

impl BulkIn {
    /// Allocate a transfer of `buffer_len` bytes on `endpoint` (an IN endpoint of the claimed
    /// interface) and submit it. `calls` counts every libusb call made for it.
    pub(crate) fn start(
        handle: Arc<DeviceHandle<Context>>,
        endpoint: u8,
        buffer_len: usize,
        high_water: usize,
        calls: Arc<AtomicU64>,
    ) -> Result<BulkIn, String> {
        let len = c_int::try_from(buffer_len).map_err(|_| "bulk IN buffer too large")?;
        calls.fetch_add(1, Ordering::Relaxed);
        // SAFETY: plain allocation; a NULL result is handled.
        let transfer = NonNull::new(unsafe { ffi::libusb_alloc_transfer(0) })
            .ok_or("libusb_alloc_transfer failed")?;
        let buffer = NonNull::from(Box::leak(vec![0u8; buffer_len].into_boxed_slice()));
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                data: Vec::new(),
                in_flight: false,
                cancelled: false,
                resubmit: false,
                ended: None,
                failed: None,
                woken: false,
            }),
            cv: Condvar::new(),
            calls,
            high_water: high_water.max(buffer_len),
        });
        let user_data = Arc::into_raw(inner.clone());
        // SAFETY: `transfer` is a fresh transfer; the device handle, the buffer and `Inner`
        // outlive it (all owned by the returned `BulkIn`, freed only after the transfer).
        // Timeout 0 = none: the transfer waits in the kernel until data, cancel or unplug.
        unsafe {
            ffi::libusb_fill_bulk_transfer(
                transfer.as_ptr(),
                handle.as_raw(),
                endpoint,
                buffer.as_ptr() as *mut u8,
                len,
                on_complete,
                user_data as *mut c_void,
                0,
            );
        }
        let me = BulkIn {
            inner,
            raw: Raw {
                transfer,
                buffer,
                user_data,
            },
            handle,
        };
        {
            let mut st = me.inner.lock();
            submit(&me.inner, &mut st, me.raw.transfer.as_ptr());
            if let Some(e) = st.failed.take() {
                st.cancelled = true;
                return Err(e);
            }
            if let Some(e) = st.ended {
                st.cancelled = true;
                return Err(e.to_string());
            }
        }
        Ok(me)
    }

    pub(crate) fn waker(&self) -> InWaker {
        InWaker(self.inner.clone())
    }

    /// Wait up to `timeout` for data or an end, without any libusb call (except to submit the
    /// transfer again after back-pressure or an error).
    pub(crate) fn wait(&self, timeout: Duration) -> InWait {
        let deadline = Instant::now().checked_add(timeout);
        let mut st = self.inner.lock();
        loop {
            if !st.data.is_empty() {
                let data = std::mem::take(&mut st.data);
                if st.resubmit && st.failed.is_none() && !st.cancelled && st.ended.is_none() {
                    submit(&self.inner, &mut st, self.raw.transfer.as_ptr());
                }
                return InWait::Data(data);
            }
            if let Some(why) = st.ended {
                return InWait::Gone(why);
            }
            if st.cancelled {
                return InWait::Cancelled;
            }
            if let Some(e) = st.failed.take() {
                return InWait::Failed(e);
            }
            if st.woken {
                st.woken = false;
                return InWait::Woken;
            }
            if st.resubmit && !st.in_flight {
                submit(&self.inner, &mut st, self.raw.transfer.as_ptr());
                continue;
            }
            let now = Instant::now();
            let left = match deadline {
                Some(d) if d <= now => return InWait::Idle,
                Some(d) => d - now,
                None => Duration::from_secs(3600),
            };
            st = match self.inner.cv.wait_timeout(st, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Stop for good: cancel the pending transfer, wake the waiter, and wait up to `bound` for
    /// libusb to give the transfer back. True when it did (or it was not in flight).
    pub(crate) fn cancel(&self, bound: Duration) -> bool {
        let in_flight = {
            let mut st = self.inner.lock();
            st.cancelled = true;
            self.inner.cv.notify_all();
            st.in_flight
        };
        if in_flight {
            self.inner.calls.fetch_add(1, Ordering::Relaxed);
            // SAFETY: the transfer is valid (freed only in `drop`); cancelling a transfer that
            // completes meanwhile is allowed and just returns LIBUSB_ERROR_NOT_FOUND.
            let _ = unsafe { ffi::libusb_cancel_transfer(self.raw.transfer.as_ptr()) };
        }
        let end = Instant::now() + bound;
        let mut st = self.inner.lock();
        while st.in_flight {
            let now = Instant::now();
            if now >= end {
                return false;
            }
            st = match self.inner.cv.wait_timeout(st, end - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        true
    }
}

/// How long `drop` waits for libusb to give a cancelled transfer back before leaking it.
const RELEASE_BOUND: Duration = Duration::from_secs(5);

impl Drop for BulkIn {
    fn drop(&mut self) {
        if !self.cancel(RELEASE_BOUND) {
            // libusb still owns the transfer (no event handling any more?): leak the transfer,
            // its buffer, `Inner` and the device handle rather than free them under its feet.
            std::mem::forget(self.handle.clone());
            return;
        }
        self.inner.calls.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the transfer is not in flight (its callback has run and it was not submitted
        // again: `cancelled` is set), so it, its buffer and the callback's `Inner` reference
        // are ours alone; each is freed exactly once, here.
        unsafe {
            ffi::libusb_free_transfer(self.raw.transfer.as_ptr());
            drop(Box::from_raw(self.raw.buffer.as_ptr()));
            drop(Arc::from_raw(self.raw.user_data));
        }
    }
}
