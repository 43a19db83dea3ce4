//! The `okc_energy_*` C API: Token X Energy fuel orders ([`crate::energy::Orders`]) for C,
//! C++, Delphi, Python and .NET callers. Same conventions as `okc_*` / `okc_pay_*`: opaque
//! handles from a counter that never repeats, `OkcStatus` results, `okc_last_error` texts
//! (a cloud refusal names its HTTP code, the cloud's status code and description), strings
//! freed with `okc_string_free`, no panic crosses the boundary. Results are JSON.

use std::collections::HashMap;
use std::ffi::c_char;
use std::sync::Arc;

use once_cell::sync::Lazy;
use parking_lot::Mutex;

use super::pay::{with_terminal, OkcPay};
use super::{clear_out, OkcStatus};
use crate::energy::{
    card_result_from_json, EnergyConfig, EnergyError, OrderFilter, OrderState, Orders, Pick,
    SellState, Tender, UnlockReason,
};
use crate::ffi::{give_string, guard_status, read_utf8, FfiError, FfiResult, MAX_CONFIG_LEN};

/// Opaque Energy orders handle (NULL, closed or foreign handles give `OKC_ERR_BAD_HANDLE`).
pub struct OkcEnergy {
    _private: [u8; 0],
}

struct Registry {
    next: usize,
    live: HashMap<usize, Arc<Orders>>,
}

const BASE: usize = 0x0E0E_0000;
const STEP: usize = 0x10;

static ENERGY: Lazy<Mutex<Registry>> = Lazy::new(|| {
    Mutex::new(Registry {
        next: BASE,
        live: HashMap::new(),
    })
});

fn lookup(h: *mut OkcEnergy) -> FfiResult<Arc<Orders>> {
    let id = h as usize;
    let bad = |m: String| FfiError::new(OkcStatus::OKC_ERR_BAD_HANDLE, m);
    if id == 0 {
        return Err(bad("handle is NULL".into()));
    }
    let r = ENERGY.lock();
    if let Some(e) = r.live.get(&id) {
        return Ok(e.clone());
    }
    if id >= BASE && id < r.next && (id - BASE) % STEP == 0 {
        Err(bad(format!("energy handle {id:#x} was already closed")))
    } else {
        Err(bad(format!(
            "{id:#x} is not an energy handle of this library"
        )))
    }
}

impl From<EnergyError> for FfiError {
    fn from(e: EnergyError) -> FfiError {
        let status = match &e {
            EnergyError::Config(_) => OkcStatus::OKC_ERR_CONFIG,
            EnergyError::InvalidInput(_) | EnergyError::Ambiguous(_) => {
                OkcStatus::OKC_ERR_INVALID_ARGUMENT
            }
            EnergyError::Cloud { .. } | EnergyError::LockExpired(_) => OkcStatus::OKC_ERR_REJECTED,
            EnergyError::NotFound(_) => OkcStatus::OKC_ERR_NOT_FOUND,
            EnergyError::Unreachable(_) => OkcStatus::OKC_ERR_NO_DEVICE,
            EnergyError::InDoubt(_) => OkcStatus::OKC_ERR_OUTCOME_UNKNOWN,
            EnergyError::Protocol(_) => OkcStatus::OKC_ERR_IO,
            EnergyError::Journal(_) => OkcStatus::OKC_ERR_JOURNAL,
            EnergyError::Closed => OkcStatus::OKC_ERR_CLOSED,
        };
        FfiError::new(status, e.to_string())
    }
}

/// # Safety
/// `p` must be NULL or NUL-terminated.
unsafe fn opt_str<'a>(p: *const c_char, max: usize, what: &str) -> FfiResult<Option<&'a str>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: caller contract.
    let s = unsafe { read_utf8(p, max, what) }?;
    Ok(Some(s).filter(|s| !s.trim().is_empty()))
}

/// # Safety
/// `out` must be writable (checked by `clear_out` before).
unsafe fn put(out: *mut *mut c_char, v: &serde_json::Value) {
    // SAFETY: caller contract.
    unsafe { *out = give_string(&v.to_string()) };
}

/// Open an Energy client (no network yet). `config_json` (may be NULL): `energy_url`
/// (`http(s)://HOST/BASE`, default `$OKC_ENERGY_URL`), `energy_terminal` (the virtual
/// terminal id, `$OKC_ENERGY_TERMINAL`), `tokenx_client_id` / `tokenx_client_secret`
/// (`$OKC_TOKENX_CLIENT_ID` / `_SECRET`), `journal` (path or `off`, `$OKC_JOURNAL`; default
/// beside `log_dir`), `energy_lock_ttl_s`, `energy_currency`, `energy_complete_wait_ms`, and
/// the other `okc_create` keys (`tokenx_auth_url`, `log_dir`, `company_name`, …). The
/// environment wins over the JSON. On failure `*out` is NULL.
///
/// # Safety
/// `config_json` must be NULL or NUL-terminated; `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn okc_energy_open(
    config_json: *const c_char,
    out: *mut *mut OkcEnergy,
) -> OkcStatus {
    guard_status("okc_energy_open", || {
        // SAFETY: the caller's contract.
        unsafe { clear_out(out, "out") }?;
        // SAFETY: caller contract.
        let json = unsafe { opt_str(config_json, MAX_CONFIG_LEN, "config_json") }?;
        let cfg = EnergyConfig::load(json)?;
        let orders = Orders::open(cfg)?;
        let id = {
            let mut r = ENERGY.lock();
            let id = r.next;
            r.next = r.next.checked_add(STEP).unwrap_or(BASE);
            r.live.insert(id, Arc::new(orders));
            id
        };
        // SAFETY: checked writable.
        unsafe { *out = id as *mut OkcEnergy };
        Ok(OkcStatus::OKC_OK)
    })
}

/// Close an Energy handle (idempotent for a closed handle). A call running on another thread
/// finishes first.
#[no_mangle]
pub extern "C" fn okc_energy_close(h: *mut OkcEnergy) -> OkcStatus {
    guard_status("okc_energy_close", || {
        let e = ENERGY.lock().live.remove(&(h as usize));
        match e {
            Some(o) => {
                o.close();
                Ok(OkcStatus::OKC_OK)
            }
            None => match lookup(h) {
                Err(e) if e.message.contains("already closed") => Ok(OkcStatus::OKC_OK),
                Err(e) => Err(e),
                Ok(_) => Ok(OkcStatus::OKC_OK),
            },
        }
    })
}

/// The order summaries as a JSON array. `filter_json` (may be NULL: every order):
/// `{"status": "OPEN,LOCKED", "plate": "34ABC123", "pumpNo": 3, "mine": true}`.
///
/// # Safety
/// `filter_json` must be NULL or NUL-terminated; `result_json` writable.
#[no_mangle]
pub unsafe extern "C" fn okc_energy_list(
    h: *mut OkcEnergy,
    filter_json: *const c_char,
    result_json: *mut *mut c_char,
) -> OkcStatus {
    guard_status("okc_energy_list", || {
        // SAFETY: caller contract.
        unsafe { clear_out(result_json, "result_json") }?;
        let o = lookup(h)?;
        // SAFETY: caller contract.
        let f = unsafe { opt_str(filter_json, MAX_CONFIG_LEN, "filter_json") }?;
        let mut filter = OrderFilter::default();
        if let Some(text) = f {
            let bad = |m: String| FfiError::new(OkcStatus::OKC_ERR_INVALID_JSON, m);
            let v: serde_json::Value =
                serde_json::from_str(text).map_err(|e| bad(format!("filter_json: {e}")))?;
            if let Some(s) = v.get("status").and_then(|s| s.as_str()) {
                for part in s.split(',').filter(|p| !p.trim().is_empty()) {
                    filter.states.push(OrderState::parse(part).ok_or_else(|| {
                        FfiError::new(
                            OkcStatus::OKC_ERR_INVALID_ARGUMENT,
                            format!("status {part:?}: OPEN, LOCKED, PAID or COMPLETED"),
                        )
                    })?);
                }
            }
            filter.plate = v.get("plate").and_then(|p| p.as_str()).map(str::to_string);
            filter.pump_no = v
                .get("pumpNo")
                .and_then(|p| p.as_u64())
                .and_then(|n| u32::try_from(n).ok());
            filter.locked_by_me = v.get("mine").and_then(|m| m.as_bool()).unwrap_or(false);
        }
        let l = o.list(&filter)?;
        let v = serde_json::Value::Array(l.iter().map(|x| x.to_json()).collect());
        // SAFETY: checked writable.
        unsafe { put(result_json, &v) };
        Ok(OkcStatus::OKC_OK)
    })
}

/// One order as JSON.
///
/// # Safety
/// `order_id` must be NUL-terminated; `order_json` writable.
#[no_mangle]
pub unsafe extern "C" fn okc_energy_get(
    h: *mut OkcEnergy,
    order_id: *const c_char,
    order_json: *mut *mut c_char,
) -> OkcStatus {
    guard_status("okc_energy_get", || {
        // SAFETY: caller contract.
        unsafe { clear_out(order_json, "order_json") }?;
        let o = lookup(h)?;
        // SAFETY: caller contract.
        let id = unsafe { read_utf8(order_id, 256, "order_id") }?;
        let ord = o.get(id)?;
        // SAFETY: checked writable.
        unsafe { put(order_json, &ord.to_json()) };
        Ok(OkcStatus::OKC_OK)
    })
}

/// Lock an order for this terminal (exclusive, journalled): `*lock_json` =
/// `{orderId, lockedBy, lockToken, lockExpiresAt, remainingMs, amount, plate}`. `payment_id`
/// (may be NULL): the sale's payment id, so a crash before the payment is resolved with the
/// card terminal (`okc_energy_recover`). OKC_ERR_REJECTED: e.g. status 1018 (locked by
/// another terminal) or 1105 (the order is not open) in `okc_last_error`.
///
/// # Safety
/// `order_id` must be NUL-terminated, `payment_id` NULL or NUL-terminated; `lock_json`
/// writable.
#[no_mangle]
pub unsafe extern "C" fn okc_energy_lock(
    h: *mut OkcEnergy,
    order_id: *const c_char,
    payment_id: *const c_char,
    lock_json: *mut *mut c_char,
) -> OkcStatus {
    guard_status("okc_energy_lock", || {
        // SAFETY: caller contract.
        unsafe { clear_out(lock_json, "lock_json") }?;
        let o = lookup(h)?;
        // SAFETY: caller contract.
        let id = unsafe { read_utf8(order_id, 256, "order_id") }?;
        // SAFETY: caller contract.
        let pid = unsafe { opt_str(payment_id, 256, "payment_id") }?;
        let l = match pid {
            Some(p) => o.lock_sale(id, p),
            None => o.lock(id),
        }?;
        // SAFETY: checked writable.
        unsafe { put(lock_json, &l.to_json()) };
        Ok(OkcStatus::OKC_OK)
    })
}

/// Unlock an order this terminal holds; `reason` (may be NULL: `CANCELLED`):
/// `PAYMENT_FAILED`, `CANCELLED` or `TIMEOUT`. `*order_json` = the order afterwards.
///
/// # Safety
/// `order_id` must be NUL-terminated, `reason` NULL or NUL-terminated; `order_json` writable.
#[no_mangle]
pub unsafe extern "C" fn okc_energy_unlock(
    h: *mut OkcEnergy,
    order_id: *const c_char,
    reason: *const c_char,
    order_json: *mut *mut c_char,
) -> OkcStatus {
    guard_status("okc_energy_unlock", || {
        // SAFETY: caller contract.
        unsafe { clear_out(order_json, "order_json") }?;
        let o = lookup(h)?;
        // SAFETY: caller contract.
        let id = unsafe { read_utf8(order_id, 256, "order_id") }?;
        // SAFETY: caller contract.
        let reason = match unsafe { opt_str(reason, 64, "reason") }? {
            None => UnlockReason::Cancelled,
            Some(r) => UnlockReason::parse(r).ok_or_else(|| {
                FfiError::new(
                    OkcStatus::OKC_ERR_INVALID_ARGUMENT,
                    format!("reason {r:?}: PAYMENT_FAILED, CANCELLED or TIMEOUT"),
                )
            })?,
        };
        let ord = o.unlock_id(id, reason)?;
        // SAFETY: checked writable.
        unsafe { put(order_json, &ord.to_json()) };
        Ok(OkcStatus::OKC_OK)
    })
}

/// Pay an order: lock it (or take this terminal's lock again) and send the payment,
/// idempotent by `payment_id`. `card_result_json` (may be NULL: cash) = an approved card
/// result as `okc_pay_payment` gave it (its slip data go to the cloud). `*result_json` =
/// `{paymentId, replayed, order}`. A refused payment unlocks the order again.
///
/// # Safety
/// `order_id`, `payment_id` must be NUL-terminated, `card_result_json` NULL or
/// NUL-terminated; `result_json` writable.
#[no_mangle]
pub unsafe extern "C" fn okc_energy_pay(
    h: *mut OkcEnergy,
    order_id: *const c_char,
    payment_id: *const c_char,
    card_result_json: *const c_char,
    result_json: *mut *mut c_char,
) -> OkcStatus {
    guard_status("okc_energy_pay", || {
        // SAFETY: caller contract.
        unsafe { clear_out(result_json, "result_json") }?;
        let o = lookup(h)?;
        // SAFETY: caller contract.
        let id = unsafe { read_utf8(order_id, 256, "order_id") }?;
        // SAFETY: caller contract.
        let pid = unsafe { read_utf8(payment_id, 256, "payment_id") }?;
        // SAFETY: caller contract.
        let tender = match unsafe { opt_str(card_result_json, MAX_CONFIG_LEN, "card_result_json") }?
        {
            None => Tender::Cash,
            Some(text) => {
                let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
                    FfiError::new(
                        OkcStatus::OKC_ERR_INVALID_JSON,
                        format!("card_result_json: {e}"),
                    )
                })?;
                Tender::Card(Box::new(card_result_from_json(&v).map_err(|e| {
                    FfiError::new(OkcStatus::OKC_ERR_INVALID_ARGUMENT, e)
                })?))
            }
        };
        let lock = o.lock_sale(id, pid)?;
        let paid = match o.pay(&lock, pid, &tender) {
            Ok(p) => p,
            Err(e) => {
                if !matches!(e, EnergyError::InDoubt(_)) {
                    let _ = o.unlock(lock, UnlockReason::PaymentFailed);
                }
                return Err(e.into());
            }
        };
        let v = serde_json::json!({"paymentId": paid.payment_id, "replayed": paid.replayed,
                                   "order": paid.order.to_json()});
        // SAFETY: checked writable.
        unsafe { put(result_json, &v) };
        Ok(OkcStatus::OKC_OK)
    })
}

/// The forecourt flow: the order of `plate` (or `order_id`; exactly one of them non-NULL) →
/// lock → card payment on `terminal` (an `okc_pay_open` handle) → pay the order with the slip
/// → wait for the pump's 1000TR; or unlock with the reason. `payment_id` (may be NULL: a
/// fresh one) is the idempotency key and, without `-`, the card reference. `*result_json` =
/// `{state, reason, orderId, plate, amount, orderState, paymentId, card, receipt, order,
/// payment}`. OKC_OK `state` completed; OKC_ENERGY_PAID paid, not completed by the 1000TR yet;
/// OKC_ENERGY_UNLOCKED not paid, the order released (`reason`, `card` say why and what became
/// of the card payment). Errors (`*result_json` NULL): OKC_ERR_NOT_FOUND (no open order for
/// the plate), OKC_ERR_REJECTED (e.g. 1018 locked by another terminal),
/// OKC_ERR_OUTCOME_UNKNOWN (in doubt: `okc_energy_recover` resolves it), …
///
/// # Safety
/// Strings NULL or NUL-terminated as described; `result_json` writable.
#[no_mangle]
pub unsafe extern "C" fn okc_energy_sell(
    h: *mut OkcEnergy,
    plate: *const c_char,
    order_id: *const c_char,
    terminal: *mut OkcPay,
    payment_id: *const c_char,
    result_json: *mut *mut c_char,
) -> OkcStatus {
    guard_status("okc_energy_sell", || {
        // SAFETY: caller contract.
        unsafe { clear_out(result_json, "result_json") }?;
        let o = lookup(h)?;
        // SAFETY: caller contract.
        let plate = unsafe { opt_str(plate, 64, "plate") }?;
        // SAFETY: caller contract.
        let order_id = unsafe { opt_str(order_id, 256, "order_id") }?;
        // SAFETY: caller contract.
        let pid = unsafe { opt_str(payment_id, 256, "payment_id") }?;
        let pick = match (plate, order_id) {
            (Some(p), None) => Pick::Plate(p.to_string()),
            (None, Some(id)) => Pick::Order(id.to_string()),
            _ => {
                return Err(FfiError::new(
                    OkcStatus::OKC_ERR_INVALID_ARGUMENT,
                    "give exactly one of plate and order_id",
                ))
            }
        };
        let out = with_terminal(terminal, |t| o.sell(&pick, t, pid))??;
        // SAFETY: checked writable.
        unsafe { put(result_json, &out.to_json()) };
        Ok(match out.state {
            SellState::Completed => OkcStatus::OKC_OK,
            SellState::Paid => OkcStatus::OKC_ENERGY_PAID,
            SellState::Unlocked => OkcStatus::OKC_ENERGY_UNLOCKED,
        })
    })
}

/// Resolve this terminal's locks a crash left (journal): the sale's card payment known
/// approved on `terminal` (may be NULL: card sales stay pending) → the order is paid;
/// otherwise unlocked. `*result_json` = an array of `{orderId, paymentId, action, detail}`
/// (`action`: completed, paid, unlocked, released, pending).
///
/// # Safety
/// `result_json` writable.
#[no_mangle]
pub unsafe extern "C" fn okc_energy_recover(
    h: *mut OkcEnergy,
    terminal: *mut OkcPay,
    result_json: *mut *mut c_char,
) -> OkcStatus {
    guard_status("okc_energy_recover", || {
        // SAFETY: caller contract.
        unsafe { clear_out(result_json, "result_json") }?;
        let o = lookup(h)?;
        let r = if terminal.is_null() {
            o.recover(None)?
        } else {
            with_terminal(terminal, |t| o.recover(Some(t)))??
        };
        let v = serde_json::Value::Array(r.iter().map(|x| x.to_json()).collect());
        // SAFETY: checked writable.
        unsafe { put(result_json, &v) };
        Ok(OkcStatus::OKC_OK)
    })
}
