//! The cloud's state (terminals, baskets, client settings, logs), the simulated devices
//! that finish baskets, and webhook delivery.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::assumptions as a;
use super::{
    BasketState, CloudBasket, CloudConfig, CloudFaults, CloudRequest, CloudTerminal, DeviceOutcome,
    Shared, WebhookDelivery,
};

pub(crate) struct Terminal {
    pub(crate) cfg: CloudTerminal,
    /// Next receipt number (counts up from 1 per terminal).
    pub(crate) next_receipt: i64,
    pub(crate) z_no: i64,
    pub(crate) next_txn: i64,
}

pub(crate) struct BasketRec {
    pub(crate) public: CloudBasket,
    pub(crate) client_id: String,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    pub(crate) deleted_at: Option<String>,
    pub(crate) sale: Option<Value>,
}

pub(crate) struct Settings {
    pub(crate) callback_url: String,
    pub(crate) callback_auth: Option<String>,
}

pub(crate) struct State {
    pub(crate) faults: CloudFaults,
    pub(crate) outcome: DeviceOutcome,
    pub(crate) device_delay: Duration,
    pub(crate) terminals: Vec<Terminal>,
    pub(crate) baskets: Vec<BasketRec>,
    index: HashMap<String, usize>,
    pub(crate) settings: HashMap<String, Settings>,
    pub(crate) requests: Vec<CloudRequest>,
    pub(crate) webhooks: Vec<WebhookDelivery>,
    pub(crate) issued_jti: Vec<String>,
    pub(crate) expired_jti: HashSet<String>,
    /// Token X Energy: the forecourt and its orders.
    pub(crate) energy: super::energy::EnergyState,
}

impl State {
    pub(crate) fn new(c: &CloudConfig) -> State {
        State {
            faults: c.faults.clone(),
            outcome: c.device_outcome,
            device_delay: c.device_delay,
            terminals: c
                .terminals
                .iter()
                .map(|t| Terminal {
                    cfg: t.clone(),
                    next_receipt: 1,
                    z_no: 1,
                    next_txn: 1,
                })
                .collect(),
            baskets: Vec::new(),
            index: HashMap::new(),
            settings: HashMap::new(),
            requests: Vec::new(),
            webhooks: Vec::new(),
            issued_jti: Vec::new(),
            expired_jti: HashSet::new(),
            energy: super::energy::EnergyState::new(&c.energy),
        }
    }

    pub(crate) fn find(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    pub(crate) fn insert(&mut self, rec: BasketRec) {
        self.index.insert(rec.public.id.clone(), self.baskets.len());
        self.baskets.push(rec);
    }

    pub(crate) fn terminal(&self, id: &str) -> Option<&Terminal> {
        self.terminals.iter().find(|t| t.cfg.id == id)
    }

    /// The open instant basket of a terminal.
    pub(crate) fn open_instant(&self, terminal: &str) -> Option<&BasketRec> {
        self.baskets.iter().find(|b| {
            b.public.instant
                && b.public.state == BasketState::Open
                && b.public.terminal_id.as_deref() == Some(terminal)
        })
    }
}

/// `true` when `client` may use terminal `t`.
pub(crate) fn usable_by(t: &CloudTerminal, client: &str) -> bool {
    t.client_id.as_deref().map_or(true, |c| c == client)
}

// ---------------------------------------------------------------------------------------
// Time

pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Now as RFC 3339 UTC with milliseconds, e.g. `2025-03-10T08:42:18.640Z`.
pub(crate) fn now_rfc3339() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339_millis(d.as_secs() as i64, d.subsec_millis())
}

pub(crate) fn rfc3339_millis(secs: i64, millis: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

// ---------------------------------------------------------------------------------------
// Basket arithmetic and records

fn int(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f.round() as i64))
            .unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

fn apply_adjust(base: i64, adj: Option<&Value>, line: bool) -> i64 {
    let Some(adj) = adj.filter(|v| v.is_object()) else {
        return base;
    };
    let amount = if int(adj.get("type")) == 1 {
        (base * int(adj.get("value")) + a::ADJUST_PERCENT_SCALE / 2) / a::ADJUST_PERCENT_SCALE
    } else if line && adj.get("totalValue").is_some() {
        int(adj.get("totalValue"))
    } else {
        int(adj.get("value"))
    };
    if int(adj.get("discountOrSurcharge")) == 1 {
        base + amount
    } else {
        base - amount
    }
}

/// The basket total in kuruş: items (price × quantity/1000, line adjusts), the basket
/// adjust, plus `taxFreeAmount` (see [`a::ADJUST_PERCENT_SCALE`]).
pub(crate) fn basket_total(b: &Value) -> i64 {
    let mut total = 0;
    if let Some(items) = b.get("items").and_then(Value::as_array) {
        for it in items {
            let q = it.get("quantity").map(|q| int(Some(q))).unwrap_or(1000);
            let line = (int(it.get("price")) * q + 500).div_euclid(1000);
            total += apply_adjust(line, it.get("adjust"), true);
        }
    }
    apply_adjust(total, b.get("adjust"), false) + int(b.get("taxFreeAmount"))
}

pub(crate) fn payments(b: &Value) -> Vec<Value> {
    b.get("paymentItems")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

pub(crate) fn payment_total(b: &Value) -> i64 {
    payments(b).iter().map(|p| int(p.get("amount"))).sum()
}

/// The record of `GET /v1/basket/{id}` (fields of the official sample, in its order).
pub(crate) fn basket_json(r: &BasketRec) -> Value {
    let b = &r.public.body;
    let g = |k: &str| b.get(k).cloned().unwrap_or(Value::Null);
    let mut v = json!({
        "basketID": r.public.id,
        "createdAt": r.created_at,
        "updatedAt": r.updated_at,
        "deletedAt": r.deleted_at,
        "status": if r.public.state == BasketState::Open { a::BASKET_STATUS_OPEN } else { a::BASKET_STATUS_DONE },
        "clientId": r.client_id,
        "branchId": r.public.branch_id,
        "terminalId": r.public.terminal_id,
        "total": basket_total(b),
        "filter": g("filter"),
        "checkNumber": g("checkNumber"),
        "title": g("title"),
        "note": g("note"),
        "isLocked": r.public.locked_by.is_some(),
        "lockedBy": r.public.locked_by,
        "items": b.get("items").cloned().unwrap_or(json!([])),
        "paymentItems": b.get("paymentItems").cloned().unwrap_or(json!([])),
        "createInvoice": b.get("createInvoice").cloned().unwrap_or(json!(false)),
        "documentType": b.get("documentType").cloned().unwrap_or(json!(0)),
        "isVoid": b.get("isVoid").cloned().unwrap_or(json!(false)),
        "customerInfo": g("customerInfo"),
        "adjust": g("adjust"),
    });
    if let Some(s) = &r.sale {
        v["sale"] = s.clone();
    }
    v
}

/// An entry of `GET /v1/basket/open-basket`.
pub(crate) fn open_basket_json(r: &BasketRec) -> Value {
    let b = &r.public.body;
    let g = |k: &str| b.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "basketID": r.public.id,
        "checkNumber": g("checkNumber"),
        "filter": g("filter"),
        "total": basket_total(b),
        "branchId": r.public.branch_id,
        "title": g("title"),
        "isLocked": r.public.locked_by.is_some(),
        "createdAt": r.created_at,
        "lockedBy": r.public.locked_by,
    })
}

// ---------------------------------------------------------------------------------------
// The device

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    Complete,
    Cancel,
    Void,
}

/// A webhook to send once the state lock is released.
pub(crate) struct Hook {
    pub(crate) client_id: String,
    pub(crate) terminal_id: String,
    pub(crate) branch_id: String,
    /// The basket (or Energy order) id: `${basket-id}` and [`WebhookDelivery::basket_id`].
    pub(crate) basket_id: String,
    pub(crate) operation: &'static str,
    pub(crate) data: Value,
}

/// The sale data (webhook `data` and basket `sale`) of a completed receipt.
fn sale_data(basket: &CloudBasket, term: &mut Terminal) -> Value {
    let b = &basket.body;
    let mut pays = payments(b);
    if pays.is_empty() {
        pays.push(
            json!({"type": 1, "amount": basket_total(b), "description": "Nakit", "operatorId": 0}),
        );
    }
    let items: Vec<Value> = pays
        .iter()
        .map(|p| {
            let ty = int(p.get("type"));
            let card = ty != 1;
            let (batch, txn) = if card {
                let t = term.next_txn;
                term.next_txn += 1;
                (a::CARD_BATCH_NO, t)
            } else {
                (0, 0)
            };
            json!({
                "amount": int(p.get("amount")),
                "BatchNo": batch,
                "currencyId": a::CURRENCY_TRY,
                "description": p.get("description").cloned().unwrap_or(json!("")),
                "operatorId": int(p.get("operatorId")),
                "status": 0,
                "taxRate": 0,
                "TxnNo": txn,
                "type": ty,
            })
        })
        .collect();
    let receipt = term.next_receipt;
    term.next_receipt += 1;
    let invoice = if b.get("createInvoice").and_then(Value::as_bool) == Some(true) {
        format!("SIM{}{:09}", term.z_no, receipt)
    } else {
        String::new()
    };
    json!({
        "basketID": basket.id,
        "documentType": int(b.get("documentType")),
        "InstanceIdentifier": uuid::Uuid::new_v4().to_string(),
        "invoiceID": invoice,
        "isWayBill": b.get("isWayBill").and_then(Value::as_bool).unwrap_or(false),
        "message": "OK",
        "paymentCount": items.len(),
        "paymentItems": items,
        "receiptNo": receipt,
        "status": 0,
        "UUID": uuid::Uuid::new_v4().to_string(),
        "zNo": term.z_no,
    })
}

fn voided(mut sale: Value) -> Value {
    sale["status"] = json!(99);
    sale["receiptNo"] = json!(-1);
    sale["zNo"] = json!(-1);
    sale["message"] = json!(a::VOID_MESSAGE);
    sale
}

/// The terminal that finishes list basket `r`: the locking one, else the first list-mode
/// terminal of its branch, else the first terminal of its branch.
fn finishing_terminal(st: &State, r: &CloudBasket) -> Option<String> {
    if let Some(t) = &r.terminal_id {
        return Some(t.clone());
    }
    if let Some(t) = &r.locked_by {
        return Some(t.clone());
    }
    let branch = r.branch_id.as_deref()?;
    let of_branch = || st.terminals.iter().filter(|t| t.cfg.branch_id == branch);
    of_branch()
        .find(|t| !t.cfg.instant)
        .or_else(|| of_branch().next())
        .map(|t| t.cfg.id.clone())
}

/// Finish basket `id` on its device (under the lock); the webhook to send.
fn finish_locked(st: &mut State, id: &str, how: Finish) -> Option<Hook> {
    if st.faults.device_offline {
        return None;
    }
    let i = st.find(id)?;
    let state = st.baskets[i].public.state;
    let already_completed = state == BasketState::Completed && how == Finish::Void;
    if state != BasketState::Open && !already_completed {
        return None;
    }
    let tid = finishing_terminal(st, &st.baskets[i].public)?;
    let ti = st.terminals.iter().position(|t| t.cfg.id == tid)?;
    let data = if already_completed {
        voided(st.baskets[i].sale.clone().unwrap_or_default())
    } else {
        match how {
            Finish::Cancel => json!({
                "basketID": id,
                "documentType": int(st.baskets[i].public.body.get("documentType")),
                "message": "CANCELLED",
                "status": -1,
            }),
            Finish::Complete => sale_data(&st.baskets[i].public, &mut st.terminals[ti]),
            Finish::Void => voided(sale_data(&st.baskets[i].public, &mut st.terminals[ti])),
        }
    };
    let now = now_rfc3339();
    let rec = &mut st.baskets[i];
    rec.public.state = match how {
        Finish::Complete => BasketState::Completed,
        Finish::Cancel => BasketState::Cancelled,
        Finish::Void => BasketState::Voided,
    };
    rec.public.terminal_id = Some(tid.clone());
    rec.public.locked_by = None;
    rec.sale = Some(data.clone());
    rec.updated_at = now;
    Some(Hook {
        client_id: rec.client_id.clone(),
        branch_id: rec.public.branch_id.clone().unwrap_or_default(),
        terminal_id: tid,
        basket_id: id.to_string(),
        operation: "BASKET_COMPLETED",
        data,
    })
}

pub(crate) fn finish(sh: &Arc<Shared>, id: &str, how: Finish) -> bool {
    let hook = finish_locked(&mut sh.state.lock(), id, how);
    match hook {
        Some(h) => {
            send_webhook(sh, h);
            true
        }
        None => false,
    }
}

pub(crate) fn lock(sh: &Arc<Shared>, id: &str, terminal: &str) -> bool {
    let hook = {
        let mut st = sh.state.lock();
        if st.faults.device_offline {
            return false;
        }
        let Some(i) = st.find(id) else { return false };
        let Some(t) = st.terminal(terminal) else {
            return false;
        };
        let b = &st.baskets[i].public;
        let fits = match &b.terminal_id {
            Some(own) => own == terminal,
            None => b.branch_id.as_deref() == Some(t.cfg.branch_id.as_str()),
        };
        if !fits
            || b.state != BasketState::Open
            || b.locked_by.as_deref().is_some_and(|l| l != terminal)
        {
            return false;
        }
        let rec = &mut st.baskets[i];
        rec.public.locked_by = Some(terminal.to_string());
        rec.updated_at = now_rfc3339();
        Hook {
            client_id: rec.client_id.clone(),
            branch_id: rec.public.branch_id.clone().unwrap_or_default(),
            terminal_id: terminal.to_string(),
            basket_id: id.to_string(),
            operation: "BASKET_LOCKED",
            data: json!({"basketID": id, "lockedBy": terminal}),
        }
    };
    send_webhook(sh, hook);
    true
}

pub(crate) fn unlock(sh: &Arc<Shared>, id: &str) -> bool {
    let hook = {
        let mut st = sh.state.lock();
        if st.faults.device_offline {
            return false;
        }
        let Some(i) = st.find(id) else { return false };
        let rec = &mut st.baskets[i];
        let Some(by) = rec.public.locked_by.take() else {
            return false;
        };
        rec.updated_at = now_rfc3339();
        Hook {
            client_id: rec.client_id.clone(),
            branch_id: rec.public.branch_id.clone().unwrap_or_default(),
            terminal_id: by.clone(),
            basket_id: id.to_string(),
            operation: "BASKET_UNLOCKED",
            data: json!({"basketID": id, "lockedBy": by}),
        }
    };
    send_webhook(sh, hook);
    true
}

/// The device of an instant basket's terminal takes it after `delay` and finishes it per
/// the outcome in force then; while the device is offline it waits for it to return.
pub(crate) fn schedule_instant(sh: &Arc<Shared>, id: String, delay: Duration) {
    let sh2 = sh.clone();
    sh.rt.spawn(async move {
        tokio::time::sleep(delay).await;
        loop {
            let how = {
                let st = sh2.state.lock();
                match st.find(&id).map(|i| st.baskets[i].public.state) {
                    Some(BasketState::Open) => {}
                    _ => return,
                }
                if st.faults.device_offline {
                    None
                } else {
                    match st.outcome {
                        DeviceOutcome::Complete => Some(Finish::Complete),
                        DeviceOutcome::Cancel => Some(Finish::Cancel),
                        DeviceOutcome::Void => Some(Finish::Void),
                        DeviceOutcome::Manual => return,
                    }
                }
            };
            match how {
                Some(how) => {
                    finish(&sh2, &id, how);
                    return;
                }
                None => tokio::time::sleep(Duration::from_millis(25)).await,
            }
        }
    });
}

// ---------------------------------------------------------------------------------------
// Webhooks

fn callback_url(template: &str, h: &Hook) -> String {
    let branch_or_terminal = if h.terminal_id.is_empty() {
        &h.branch_id
    } else {
        &h.terminal_id
    };
    let [t, b, bt] = a::URL_PLACEHOLDERS;
    template
        .replace(t, &h.terminal_id)
        .replace(b, &h.basket_id)
        .replace(bt, branch_or_terminal)
}

pub(crate) fn send_webhook(sh: &Arc<Shared>, h: Hook) {
    let (url, auth, faults) = {
        let st = sh.state.lock();
        let Some(s) = st.settings.get(&h.client_id) else {
            return;
        };
        if s.callback_url.is_empty() {
            return;
        }
        (
            callback_url(&s.callback_url, &h),
            s.callback_auth.clone(),
            st.faults.clone(),
        )
    };
    if faults.drop_webhooks {
        return;
    }
    let body = json!({
        "terminalId": h.terminal_id,
        "clientId": h.client_id,
        "operation": h.operation,
        "operationDate": now_rfc3339(),
        "data": h.data,
    })
    .to_string();
    let copies = if faults.duplicate_webhooks { 2 } else { 1 };
    let sh2 = sh.clone();
    sh.rt.spawn(async move {
        if !faults.webhook_delay.is_zero() {
            tokio::time::sleep(faults.webhook_delay).await;
        }
        for _ in 0..copies {
            for attempt in 1..=faults.webhook_retries.saturating_add(1) {
                if attempt > 1 {
                    let n = (attempt - 2).min(16);
                    tokio::time::sleep(Duration::from_millis(a::WEBHOOK_BACKOFF_BASE_MS << n))
                        .await;
                }
                let mut req = sh2
                    .http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone());
                if let Some(v) = &auth {
                    req = req.header(a::WEBHOOK_AUTH_HEADER, v);
                }
                let status = match req.send().await {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        // Read the answer so the connection can be reused.
                        let _ = r.bytes().await;
                        Some(s)
                    }
                    Err(_) => None,
                };
                sh2.state.lock().webhooks.push(WebhookDelivery {
                    url: url.clone(),
                    authorization: auth.clone(),
                    operation: h.operation.to_string(),
                    basket_id: h.basket_id.clone(),
                    body: body.clone(),
                    attempt,
                    response_status: status,
                    at: Instant::now(),
                });
                if status.is_some_and(|s| (200..300).contains(&s)) {
                    break;
                }
            }
        }
    });
}

// ---------------------------------------------------------------------------------------
// Fiscal parameters

/// `GET /v1/fiscal-parameters` → `result` of terminal `terminal`: the four Turkish KDV
/// rates (20, 10, 1, 0 %) as sections with a few PLUs each.
pub(crate) fn fiscal_parameters(terminal: &str) -> Value {
    let plu = |no: i64, name: &str, price: i64, section: i64, barcode: &str| {
        json!({"pluNo": no, "name": name, "price": price, "sectionNo": section,
               "barcode": barcode, "unit": "C62"})
    };
    let section = |no: i64, name: &str, tax: i64, plus: Vec<Value>| {
        json!({"limit": 0, "name": name, "price": 0, "sectionNo": no, "status": 1,
               "taxPercent": tax, "type": 0, "plus": plus})
    };
    json!({
        "sections": [
            section(1, "GENEL %20", 2000, vec![
                plu(1, "Çakmak", 2500, 1, "8690000000011"),
                plu(2, "Şarj Kablosu", 14990, 1, "8690000000028"),
                plu(9, "POŞET", 25, 1, "8690000000097"),
            ]),
            section(2, "GIDA %10", 1000, vec![
                plu(3, "Döner Dürüm", 15000, 2, "8690000000035"),
                plu(4, "Ayran", 2500, 2, "8690000000042"),
                plu(5, "Türk Kahvesi", 6000, 2, "8690000000059"),
            ]),
            section(3, "TEMEL GIDA %1", 100, vec![
                plu(6, "Ekmek", 1000, 3, "8690000000066"),
                plu(7, "Süt 1 L", 3250, 3, "8690000000073"),
            ]),
            section(4, "İSTİSNA %0", 0, vec![
                plu(8, "Gazete", 1500, 4, "8690000000080"),
            ]),
        ],
        "receiptLimit": 990_000,
        "currencies": [
            {"id": 1, "name": "DOLAR", "rate": 473_452},
            {"id": 2, "name": "EURO", "rate": 512_318},
            {"id": 3, "name": "STERLİN", "rate": 601_975},
        ],
        "terminal": terminal,
        "createdAt": "2025-01-06T09:12:44.218Z",
        "updatedAt": "2025-08-21T07:30:05.913Z",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_millis(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(1_741_596_138, 640),
            "2025-03-10T08:42:18.640Z"
        );
        assert_eq!(rfc3339_millis(951_782_400, 5), "2000-02-29T00:00:00.005Z");
    }

    #[test]
    fn totals() {
        let b = json!({"items": [
            {"price": 15000, "quantity": 1000},
            {"price": 1000, "quantity": 1500, "adjust": {"type": 0, "discountOrSurcharge": 0, "value": 100}},
            {"price": 2000, "quantity": 2000, "adjust": {"type": 1, "discountOrSurcharge": 1, "value": 10}},
        ], "adjust": {"type": 0, "discountOrSurcharge": 0, "value": 400}});
        assert_eq!(basket_total(&b), 15000 + 1400 + 4400 - 400);
    }
}
