//! The `okc_pay_*` C API: the payment front ([`crate::pay`]) for C, C++, Delphi, VB6,
//! Python and .NET callers. Same conventions as `okc_*`: opaque handles from a counter that
//! never repeats (a NULL, closed or foreign handle is an error code, never dereferenced),
//! `OkcStatus` results, `okc_last_error` texts, strings freed with `okc_string_free`, no
//! panic crosses the boundary. Results are the normalised JSON of
//! [`PaymentResult::to_json`](crate::pay::PaymentResult::to_json).

use std::collections::HashMap;
use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::{Duration, Instant};

use once_cell::sync::Lazy;
use parking_lot::{Condvar, Mutex};

use super::{clear_out, OkcStatus};
use crate::ffi::{
    cstring_lossy, give_string, guard_status, read_utf8, FfiError, FfiResult, MAX_CONFIG_LEN,
};
use crate::pay::{self, PayError, PaymentRequest, PaymentResult, TerminalConfig, TerminalEvent};

/// Opaque payment-terminal handle: validated on every call (NULL, closed or foreign handles
/// give `OKC_ERR_BAD_HANDLE` and are never dereferenced).
pub struct OkcPay {
    _private: [u8; 0],
}

/// Terminal event callback: `(user_data, event_json)`, on the library's event thread, never
/// under a lock; `event_json` is valid only during the call. The return value answers a
/// signature question (`{"event":"signature",…}`): 1 accept, 0 refuse, anything else no
/// answer (the configured `signature` policy applies); it is ignored for other events.
pub type OkcPayEventFn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, event_json: *const c_char) -> i32>;

/// Whether the event callback may still start (and whether one runs now).
struct Gate {
    closed: bool,
    running: bool,
}

struct PayEntry {
    terminal: pay::Terminal,
    gate: Arc<(Mutex<Gate>, Condvar)>,
}

struct PayRegistry {
    next: usize,
    live: HashMap<usize, Arc<PayEntry>>,
}

const PAY_BASE: usize = 0x0D0D_0000;
const PAY_STEP: usize = 0x10;

static PAYS: Lazy<Mutex<PayRegistry>> = Lazy::new(|| {
    Mutex::new(PayRegistry {
        next: PAY_BASE,
        live: HashMap::new(),
    })
});

fn bad(msg: String) -> FfiError {
    FfiError::new(OkcStatus::OKC_ERR_BAD_HANDLE, msg)
}

fn lookup(h: *mut OkcPay) -> FfiResult<Arc<PayEntry>> {
    let id = h as usize;
    if id == 0 {
        return Err(bad("handle is NULL".into()));
    }
    let r = PAYS.lock();
    if let Some(e) = r.live.get(&id) {
        return Ok(e.clone());
    }
    if id >= PAY_BASE && id < r.next && (id - PAY_BASE) % PAY_STEP == 0 {
        Err(bad(format!("terminal handle {id:#x} was already closed")))
    } else {
        Err(bad(format!(
            "{id:#x} is not a terminal handle of this library"
        )))
    }
}

/// Run `f` with the terminal behind a handle (the `okc_energy_*` family pays through it).
#[cfg_attr(not(feature = "energy"), allow(dead_code))]
pub(crate) fn with_terminal<T>(
    h: *mut OkcPay,
    f: impl FnOnce(&pay::Terminal) -> T,
) -> FfiResult<T> {
    let e = lookup(h)?;
    Ok(f(&e.terminal))
}

impl From<PayError> for FfiError {
    fn from(e: PayError) -> FfiError {
        let status = match &e {
            PayError::Config(_) => OkcStatus::OKC_ERR_CONFIG,
            PayError::InvalidInput(_) => OkcStatus::OKC_ERR_INVALID_ARGUMENT,
            PayError::Unreachable(_) => OkcStatus::OKC_ERR_NO_DEVICE,
            PayError::Refused { .. } => OkcStatus::OKC_ERR_REJECTED,
            PayError::OutcomeUnknown(_) => OkcStatus::OKC_ERR_OUTCOME_UNKNOWN,
            PayError::Unsupported(_) => OkcStatus::OKC_ERR_UNSUPPORTED,
            PayError::Protocol(_) => OkcStatus::OKC_ERR_IO,
            PayError::Closed => OkcStatus::OKC_ERR_CLOSED,
        };
        FfiError::new(status, e.to_string())
    }
}

/// The configuration keys of `okc_pay_open`.
fn config_from_json(json: Option<&str>) -> Result<TerminalConfig, String> {
    let mut cfg = TerminalConfig::new(&std::env::var("OKC_TERMINAL").unwrap_or_default());
    // GP tom credentials: `OKC_GPTOM_*` first, the JSON keys below override them.
    cfg.gptom = crate::pay::gptom::GptomConfig::from_env()?;
    // The journal: "journal" (a path or "off") ← $OKC_JOURNAL ← the default beside the logs
    // ("log_dir" ← $OKC_LOG_DIR ← ./logs; an empty / null log_dir, which only switches the
    // log file off, keeps ./logs), named after application_name.
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let mut journal: Option<Option<std::path::PathBuf>> =
        env("OKC_JOURNAL").map(|v| pay::parse_journal_setting(&v));
    let mut log_dir = env("OKC_LOG_DIR")
        .filter(|v| !v.trim().eq_ignore_ascii_case("none"))
        .map(std::path::PathBuf::from);
    if let Some(text) = json.filter(|s| !s.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("config JSON: {e}"))?;
        let obj = v.as_object().ok_or("config JSON: expected an object")?;
        for (k, v) in obj {
            let s = || {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("config JSON: {k}: expected a string"))
            };
            match k.as_str() {
                "terminal" => cfg.terminal = s()?,
                "journal" => {
                    journal = Some(match v {
                        serde_json::Value::Null => None,
                        _ => pay::parse_journal_setting(&s()?),
                    })
                }
                "log_dir" => {
                    log_dir = v
                        .as_str()
                        .filter(|d| !d.trim().is_empty())
                        .map(std::path::PathBuf::from)
                }
                "listener" => cfg.listener = Some(s()?),
                "application_name" => cfg.application_name = s()?,
                "maintenance" => {
                    cfg.maintenance_at = crate::pay::parse_time_of_day(&s()?)
                        .map_err(|e| format!("config JSON: maintenance: {e}"))?
                }
                "signature" => {
                    cfg.signature_confirm = match s()?.as_str() {
                        "confirm" => true,
                        "refuse" => false,
                        o => {
                            return Err(format!(
                                "config JSON: signature: {o:?} (confirm or refuse)"
                            ))
                        }
                    }
                }
                "gptom_in_progress_limit_ms" => {
                    let n = v
                        .as_u64()
                        .map(|n| n.to_string())
                        .or_else(|| v.as_str().map(str::to_string))
                        .ok_or_else(|| format!("config JSON: {k}: expected a number"))?;
                    cfg.gptom
                        .set(k, &n)
                        .map_err(|e| format!("config JSON: {k}: {e}"))?
                }
                "username" | "password" | "basic" | "token_url" | "refresh_url" => cfg
                    .gptom
                    .set(k, &s()?)
                    .map_err(|e| format!("config JSON: {k}: {e}"))?,
                o => {
                    return Err(format!(
                        "config JSON: unknown field {o:?} (known: terminal, listener, signature, application_name, maintenance, journal, log_dir, username, password, basic, token_url, refresh_url, gptom_in_progress_limit_ms)"
                    ))
                }
            }
        }
    }
    if cfg.terminal.trim().is_empty() {
        return Err("no terminal: \"terminal\" in the config or $OKC_TERMINAL".into());
    }
    cfg.journal = journal.unwrap_or_else(|| {
        pay::default_journal(
            log_dir.as_deref().unwrap_or(std::path::Path::new("./logs")),
            &cfg.application_name,
        )
    });
    Ok(cfg)
}

/// Open a card terminal. `config_json` (may be NULL): `terminal`
/// (`nexo+http://HOST:PORT[?poiid=…&saleid=…]` or `gptom+https://HOST?tid=TID[&master=1]`,
/// default `$OKC_TERMINAL`), `listener` (`IP:PORT` of the POS listener: full integration;
/// none = client-only), `signature` (`confirm` | `refuse`: the answer when the callback gives
/// none), `application_name`, `maintenance` (`HH:MM` local time of the daily logout that lets
/// the terminal update, default `03:00`; `off`: only when the terminal asks); GP tom:
/// `username`, `password`, `basic` (the client Basic value GP tom publishes), `token_url`,
/// `refresh_url` (defaults `$OKC_GPTOM_USERNAME`, `…_PASSWORD`, `…_BASIC`, `…_TOKEN_URL`,
/// `…_REFRESH_URL`), `gptom_in_progress_limit_ms` (a number: how long a task may run before
/// the outcome is unknown, default 300000; for tests against the simulator); `journal` (the
/// journal file, docs/PAYMENTS.md § Journal: a path, or `off` / null for none — tests only;
/// default `$OKC_JOURNAL`, else `LOG_DIR/okclink-journal-APPLICATION_NAME.sqlite`), `log_dir`
/// (where the default journal lives, default `$OKC_LOG_DIR`, else `./logs`). A journal that
/// cannot be opened fails the call with OKC_ERR_CONFIG and the journal's text (what to do).
/// Unfinished operations of the journal are asked about in the background (see
/// `okc_pay_pending`). `callback` (may be NULL) receives the terminal's events. Never talks to the terminal (the
/// first call logs in). On failure `*out` is NULL.
///
/// # Safety
/// `config_json` must be NULL or NUL-terminated; `out` must be NULL or writable;
/// `user_data` is handed back to `callback` untouched.
#[no_mangle]
pub unsafe extern "C" fn okc_pay_open(
    config_json: *const c_char,
    callback: OkcPayEventFn,
    user_data: *mut c_void,
    out: *mut *mut OkcPay,
) -> OkcStatus {
    guard_status("okc_pay_open", || {
        // SAFETY: the caller's contract: `out` is NULL or writable.
        unsafe { clear_out(out, "out") }?;
        let json = if config_json.is_null() {
            None
        } else {
            // SAFETY: caller contract.
            Some(unsafe { read_utf8(config_json, MAX_CONFIG_LEN, "config_json") }?)
        };
        let mut cfg =
            config_from_json(json).map_err(|e| FfiError::new(OkcStatus::OKC_ERR_CONFIG, e))?;
        let gate = Arc::new((
            Mutex::new(Gate {
                closed: false,
                running: false,
            }),
            Condvar::new(),
        ));
        if let Some(cb) = callback {
            let ud = user_data as usize;
            let g = gate.clone();
            cfg.events = Some(Arc::new(move |e: &TerminalEvent| {
                {
                    let mut s = g.0.lock();
                    if s.closed {
                        return None;
                    }
                    s.running = true;
                }
                let text = cstring_lossy(&e.to_json().to_string());
                // SAFETY: the caller's function with the caller's pointer; the text lives
                // until the call returns.
                let r =
                    std::panic::catch_unwind(|| unsafe { cb(ud as *mut c_void, text.as_ptr()) });
                g.0.lock().running = false;
                g.1.notify_all();
                match r {
                    Ok(1) => Some(true),
                    Ok(0) => Some(false),
                    _ => None,
                }
            }));
        }
        let terminal = pay::open(cfg)?;
        let id = {
            let mut r = PAYS.lock();
            let id = r.next;
            r.next = r.next.checked_add(PAY_STEP).unwrap_or(PAY_BASE);
            r.live.insert(id, Arc::new(PayEntry { terminal, gate }));
            id
        };
        // SAFETY: as above.
        unsafe { *out = id as *mut OkcPay };
        Ok(OkcStatus::OKC_OK)
    })
}

/// Close a terminal handle: stop its threads; no event callback starts after this returns
/// (a running one is waited for, up to 5 s, unless this is called from inside it).
/// Idempotent for a closed handle.
#[no_mangle]
pub extern "C" fn okc_pay_close(t: *mut OkcPay) -> OkcStatus {
    guard_status("okc_pay_close", || {
        let id = t as usize;
        let entry = {
            let mut r = PAYS.lock();
            match r.live.remove(&id) {
                Some(e) => e,
                None => {
                    drop(r);
                    return match lookup(t) {
                        Err(e) if e.message.contains("already closed") => Ok(OkcStatus::OKC_OK),
                        Err(e) => Err(e),
                        Ok(_) => Ok(OkcStatus::OKC_OK),
                    };
                }
            }
        };
        {
            let (m, cv) = &*entry.gate;
            let mut g = m.lock();
            g.closed = true;
            let on_event_thread = std::thread::current().name() == Some("okc-pay-events");
            let deadline = Instant::now() + Duration::from_secs(5);
            while g.running && !on_event_thread {
                if cv.wait_until(&mut g, deadline).timed_out() {
                    break;
                }
            }
        }
        entry.terminal.close();
        Ok(OkcStatus::OKC_OK)
    })
}

/// Hand `r` out and give its status: OKC_OK approved, OKC_PAY_DECLINED not.
///
/// # Safety
/// `out` must be writable (checked non-NULL by the caller).
unsafe fn result_out(r: PaymentResult, out: *mut *mut c_char) -> OkcStatus {
    let approved = r.approved;
    // SAFETY: caller contract.
    unsafe { *out = give_string(&r.to_json().to_string()) };
    if approved {
        OkcStatus::OKC_OK
    } else {
        OkcStatus::OKC_PAY_DECLINED
    }
}

/// # Safety
/// As for [`okc_pay_payment`].
unsafe fn money(
    name: &str,
    refund: bool,
    t: *mut OkcPay,
    amount: i64,
    currency: *const c_char,
    reference: *const c_char,
    out: *mut *mut c_char,
) -> OkcStatus {
    guard_status(name, || {
        // SAFETY: the caller's contract: `out` is NULL or writable.
        unsafe { clear_out(out, "result_json") }?;
        let e = lookup(t)?;
        // SAFETY: caller contract.
        let currency = unsafe { read_utf8(currency, 16, "currency") }?;
        // SAFETY: caller contract.
        let reference = unsafe { read_utf8(reference, 64, "reference") }?;
        let req = PaymentRequest {
            amount,
            currency: currency.to_string(),
            reference: reference.to_string(),
        };
        let r = if refund {
            e.terminal.refund(&req)
        } else {
            e.terminal.pay(&req)
        }?;
        // SAFETY: checked non-NULL.
        Ok(unsafe { result_out(r, out) })
    })
}

/// Take a payment of `amount` minor units (cents, öre) in `currency` (ISO 4217, e.g. "SEK")
/// with the caller's `reference` (1-32 of `A-Za-z0-9-_.`; the idempotency key: the same
/// reference again returns the recorded result, never a second charge). Blocks until the
/// terminal's answer; a lost answer is recovered by asking the terminal. OKC_OK approved,
/// OKC_PAY_DECLINED declined — both with `*result_json` (free with `okc_string_free`);
/// otherwise `*result_json` is NULL: OKC_ERR_NO_DEVICE (unreachable), OKC_ERR_REJECTED (the
/// terminal refused the request), OKC_ERR_OUTCOME_UNKNOWN (recovery gave up: never pay
/// again blindly), OKC_ERR_INVALID_ARGUMENT, …
///
/// # Safety
/// `currency` and `reference` must be NUL-terminated; `result_json` writable.
#[no_mangle]
pub unsafe extern "C" fn okc_pay_payment(
    t: *mut OkcPay,
    amount: i64,
    currency: *const c_char,
    reference: *const c_char,
    result_json: *mut *mut c_char,
) -> OkcStatus {
    // SAFETY: same contract.
    unsafe {
        money(
            "okc_pay_payment",
            false,
            t,
            amount,
            currency,
            reference,
            result_json,
        )
    }
}

/// Refund `amount` to a card; as [`okc_pay_payment`].
///
/// # Safety
/// As for [`okc_pay_payment`].
#[no_mangle]
pub unsafe extern "C" fn okc_pay_refund(
    t: *mut OkcPay,
    amount: i64,
    currency: *const c_char,
    reference: *const c_char,
    result_json: *mut *mut c_char,
) -> OkcStatus {
    // SAFETY: same contract.
    unsafe {
        money(
            "okc_pay_refund",
            true,
            t,
            amount,
            currency,
            reference,
            result_json,
        )
    }
}

/// Reverse the terminal's last transaction (only the last, only if approved); result as for
/// a payment.
///
/// # Safety
/// `result_json` must be writable.
#[no_mangle]
pub unsafe extern "C" fn okc_pay_reverse_last(
    t: *mut OkcPay,
    result_json: *mut *mut c_char,
) -> OkcStatus {
    guard_status("okc_pay_reverse_last", || {
        // SAFETY: the caller's contract: `result_json` is NULL or writable.
        unsafe { clear_out(result_json, "result_json") }?;
        let r = lookup(t)?.terminal.reverse_last()?;
        // SAFETY: checked non-NULL.
        Ok(unsafe { result_out(r, result_json) })
    })
}

/// The result of the payment with `reference` (NULL: the terminal's last transaction).
///
/// # Safety
/// `reference` must be NULL or NUL-terminated; `result_json` writable.
#[no_mangle]
pub unsafe extern "C" fn okc_pay_status(
    t: *mut OkcPay,
    reference: *const c_char,
    result_json: *mut *mut c_char,
) -> OkcStatus {
    guard_status("okc_pay_status", || {
        // SAFETY: the caller's contract: `result_json` is NULL or writable.
        unsafe { clear_out(result_json, "result_json") }?;
        let e = lookup(t)?;
        let reference = if reference.is_null() {
            None
        } else {
            // SAFETY: caller contract.
            Some(unsafe { read_utf8(reference, 64, "reference") }?)
        };
        let r = e.terminal.status(reference)?;
        // SAFETY: checked non-NULL.
        Ok(unsafe { result_out(r, result_json) })
    })
}

/// The application has stored the result of `reference` safely: it is not offered again by
/// `okc_pay_pending` (also not after a restart). Idempotent. OKC_ERR_INVALID_ARGUMENT when
/// the journal has no result for `reference`; OKC_OK without a journal (`"journal": "off"`).
///
/// # Safety
/// `reference` must be NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn okc_pay_confirm(t: *mut OkcPay, reference: *const c_char) -> OkcStatus {
    guard_status("okc_pay_confirm", || {
        let e = lookup(t)?;
        // SAFETY: caller contract.
        let reference = unsafe { read_utf8(reference, 64, "reference") }?;
        e.terminal.confirm(reference)?;
        Ok(OkcStatus::OKC_OK)
    })
}

/// What the application has not confirmed, as a JSON array (free with `okc_string_free`),
/// oldest first: `{"reference", "kind", "state": "answered"|"in_doubt"|"not_sent",
/// "reason", "result"}` — results it may never have received (also from before a restart;
/// `result` as `okc_pay_payment` gives it), operations still in doubt (may have been
/// charged: never pay them again blindly), operations the start-up recovery found not sent
/// (nothing charged; listed once). Call it after `okc_pay_open` (it waits for the start-up
/// recovery) and `okc_pay_confirm` each result once stored. `[]` without a journal.
///
/// # Safety
/// `out` must be writable.
#[no_mangle]
pub unsafe extern "C" fn okc_pay_pending(t: *mut OkcPay, out: *mut *mut c_char) -> OkcStatus {
    guard_status("okc_pay_pending", || {
        // SAFETY: the caller's contract: `out` is NULL or writable.
        unsafe { clear_out(out, "out") }?;
        let list = lookup(t)?.terminal.pending()?;
        let json = serde_json::Value::Array(list.iter().map(|p| p.to_json()).collect());
        // SAFETY: checked non-NULL.
        unsafe { *out = give_string(&json.to_string()) };
        Ok(OkcStatus::OKC_OK)
    })
}

/// Abort the payment in flight (call it from another thread than the one waiting in
/// `okc_pay_payment`, which then returns the aborted result).
#[no_mangle]
pub extern "C" fn okc_pay_abort(t: *mut OkcPay) -> OkcStatus {
    guard_status("okc_pay_abort", || {
        lookup(t)?.terminal.abort()?;
        Ok(OkcStatus::OKC_OK)
    })
}

/// Log in now (otherwise the first call does).
#[no_mangle]
pub extern "C" fn okc_pay_login(t: *mut OkcPay) -> OkcStatus {
    guard_status("okc_pay_login", || {
        lookup(t)?.terminal.login()?;
        Ok(OkcStatus::OKC_OK)
    })
}

/// Log out; `maintenance_allowed` lets the terminal update itself (needed at least an hour a
/// day).
#[no_mangle]
pub extern "C" fn okc_pay_logout(t: *mut OkcPay, maintenance_allowed: bool) -> OkcStatus {
    guard_status("okc_pay_logout", || {
        lookup(t)?.terminal.logout(maintenance_allowed)?;
        Ok(OkcStatus::OKC_OK)
    })
}

/// Close the batch (settlement); `*out` the terminal's report (free with
/// `okc_string_free`). Swedbank Pay PAX terminals settle on their own: OKC_ERR_UNSUPPORTED.
///
/// # Safety
/// `out` must be writable.
#[no_mangle]
pub unsafe extern "C" fn okc_pay_batch_close(t: *mut OkcPay, out: *mut *mut c_char) -> OkcStatus {
    guard_status("okc_pay_batch_close", || {
        // SAFETY: the caller's contract: `out` is NULL or writable.
        unsafe { clear_out(out, "out") }?;
        let s = lookup(t)?.terminal.batch_close()?;
        // SAFETY: checked non-NULL.
        unsafe { *out = give_string(&s) };
        Ok(OkcStatus::OKC_OK)
    })
}

/// The POS listener's bound address (`IP:PORT`, full integration), e.g. to configure the
/// terminal; OKC_ERR_UNSUPPORTED in client-only mode.
///
/// # Safety
/// `out` must be writable.
#[no_mangle]
pub unsafe extern "C" fn okc_pay_listener_address(
    t: *mut OkcPay,
    out: *mut *mut c_char,
) -> OkcStatus {
    guard_status("okc_pay_listener_address", || {
        // SAFETY: the caller's contract: `out` is NULL or writable.
        unsafe { clear_out(out, "out") }?;
        let a = lookup(t)?.terminal.listener_addr().ok_or_else(|| {
            FfiError::new(
                OkcStatus::OKC_ERR_UNSUPPORTED,
                "client-only: no POS listener (set \"listener\")",
            )
        })?;
        // SAFETY: checked non-NULL.
        unsafe { *out = give_string(&a.to_string()) };
        Ok(OkcStatus::OKC_OK)
    })
}
