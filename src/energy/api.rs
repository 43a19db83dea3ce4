//! The Token X Energy order API as values (sans-IO): the operations as HTTP requests, the
//! order / lock / payment shapes, the payment body built from a card result. No sockets, no
//! clock: [`super::Orders`] moves these values over the TokenX Connect HTTP client (same auth,
//! envelope and status codes).
//!
//! **Token has not published this API.** Every path, header, query, field name, state name,
//! reason and status code below is an assumption of the design in docs/ENERGY-FACTS.md §3–§4
//! and lives in [`wire`], the one mapping table: correct it there once Token shares the real
//! specification, and nothing else changes.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::fiscal::tokenx::api::{Endpoints, Method, Request};
use crate::pay::PaymentResult;

/// THE mapping table: everything about the wire format that Token does not document.
/// [assumption] on every line; sources and reasoning in docs/ENERGY-FACTS.md.
pub mod wire {
    use std::time::Duration;

    // ---- Paths, under `OKC_ENERGY_URL` (the base; `{id}` = the order id, percent-encoded).
    /// "Get Order Summary List" (S-E step 2). Alternative to try against the real cloud:
    /// `/v1/order/summary` (the older Token "store" API's naming).
    pub const PATH_ORDERS: &str = "/v1/energy/orders";
    /// "Get Order" (S-E step 3). Alternative: `/v1/order/{id}`.
    pub const PATH_ORDER: &str = "/v1/energy/orders/{id}";
    /// Lock (S-E step 4). Alternative: `/v1/order/{id}/lock`.
    pub const PATH_LOCK: &str = "/v1/energy/orders/{id}/lock";
    /// Unlock (S-E step 5, payment failed).
    pub const PATH_UNLOCK: &str = "/v1/energy/orders/{id}/unlock";
    /// Payment with the customer slip data (S-E step 5, payment succeeded). Answers 201.
    pub const PATH_PAYMENT: &str = "/v1/energy/orders/{id}/payment";

    // ---- Context header: the virtual market-terminal id Token hands out (Connect's kebab-case
    // spelling, as `terminal-id` of TokenX Connect).
    pub const HEADER_TERMINAL: &str = "terminal-id";

    // ---- Query of the summary list.
    /// Comma-separated states; none = all.
    pub const Q_STATUS: &str = "status";
    /// The plate (the cloud ignores spaces and case).
    pub const Q_PLATE: &str = "plate";
    pub const Q_PUMP: &str = "pumpNo";
    /// Orders locked by a terminal; [`LOCKED_BY_ME`] = the calling one (crash recovery, §4).
    pub const Q_LOCKED_BY: &str = "lockedBy";
    pub const LOCKED_BY_ME: &str = "me";

    // ---- Order summary and order fields (amounts in kuruş, quantities in litres ×1000).
    pub const F_ORDER_ID: &str = "orderId";
    pub const F_PLATE: &str = "plate";
    pub const F_PUMP_NO: &str = "pumpNo";
    pub const F_NOZZLE_NO: &str = "nozzleNo";
    pub const F_PRODUCT_NAME: &str = "productName";
    pub const F_AMOUNT: &str = "amount";
    pub const F_QUANTITY: &str = "quantity";
    pub const F_UNIT_PRICE: &str = "unitPrice";
    pub const F_STATE: &str = "state";
    pub const F_IS_LOCKED: &str = "isLocked";
    pub const F_LOCKED_BY: &str = "lockedBy";
    pub const F_CREATED_AT: &str = "createdAt";
    /// The order only (not in the summary):
    pub const F_PUMP_TERMINAL_ID: &str = "pumpTerminalId";
    pub const F_BRANCH_ID: &str = "branchId";
    pub const F_SECTION_NO: &str = "sectionNo";
    pub const F_TAX_PERCENT: &str = "taxPercent";
    pub const F_ITEMS: &str = "items";
    /// `{receiptNo, zNo, fiscalSerial, UUID, completedAt}` once COMPLETED, else null.
    pub const F_RECEIPT: &str = "receipt";
    pub const F_LOCK_EXPIRES_AT: &str = "lockExpiresAt";
    pub const F_PAYMENT_ID: &str = "paymentId";
    /// The market terminal that paid, or the 1000TR's serial when paid at the pump.
    pub const F_PAID_BY: &str = "paidBy";
    pub const F_UPDATED_AT: &str = "updatedAt";

    // ---- Order states.
    pub const STATE_OPEN: &str = "OPEN";
    pub const STATE_LOCKED: &str = "LOCKED";
    pub const STATE_PAID: &str = "PAID";
    pub const STATE_COMPLETED: &str = "COMPLETED";

    // ---- Lock and unlock bodies / lock result (`{orderId, lockedBy, lockToken, lockExpiresAt}`).
    pub const F_LOCK_TTL: &str = "lockTtlSec";
    pub const F_LOCK_TOKEN: &str = "lockToken";
    pub const F_REASON: &str = "reason";
    /// Unlock reasons.
    pub const REASON_PAYMENT_FAILED: &str = "PAYMENT_FAILED";
    pub const REASON_CANCELLED: &str = "CANCELLED";
    pub const REASON_TIMEOUT: &str = "TIMEOUT";
    /// Lock time the client asks for (the design's default; the cloud accepts 1–3600 s).
    pub const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(120);
    pub const MAX_LOCK_TTL: Duration = Duration::from_secs(3600);

    // ---- Payment body `{paymentId, lockToken, amount, paymentItems[], slip}`; the items in
    // TokenX Connect's `paymentItems` names (one mapper serves both), the answer
    // `{paymentId, order}`.
    pub const F_PAYMENT_ITEMS: &str = "paymentItems";
    pub const F_ITEM_TYPE: &str = "type";
    pub const F_ITEM_AMOUNT: &str = "amount";
    pub const F_ITEM_OPERATOR: &str = "operatorId";
    pub const F_ITEM_BATCH: &str = "BatchNo";
    pub const F_ITEM_TXN: &str = "TxnNo";
    pub const F_ITEM_DESCRIPTION: &str = "description";
    pub const F_SLIP: &str = "slip";
    pub const F_PAYMENT_ORDER: &str = "order";
    /// Connect's payment types: 1 cash, 3 credit card.
    pub const PAY_TYPE_CASH: i64 = 1;
    pub const PAY_TYPE_CARD: i64 = 3;
    pub const CARD_DESCRIPTION: &str = "Kredi kartı";
    pub const CASH_DESCRIPTION: &str = "Nakit";
    /// Bank / acquirer id of the card item: not known from a nexo or GP tom result; 0.
    pub const CARD_OPERATOR_ID: i64 = 0;
    // Slip fields.
    pub const S_MASKED_PAN: &str = "maskedPan";
    pub const S_AUTH_CODE: &str = "authCode";
    /// Filled with the card terminal's transaction id (nexo has no RRN of its own).
    pub const S_RRN: &str = "rrn";
    pub const S_STAN: &str = "stan";
    pub const S_BATCH_NO: &str = "batchNo";
    pub const S_BANK_TERMINAL_ID: &str = "bankTerminalId";
    pub const S_BANK_MERCHANT_ID: &str = "bankMerchantId";
    pub const S_INSTALLMENT: &str = "installment";
    pub const S_TRANSACTION_DATE: &str = "transactionDate";
    pub const S_SLIP_LINES: &str = "slipLines";
    /// Beside the design's slip fields: the card brand (not in the design; harmless extra).
    pub const S_BRAND: &str = "brand";

    // ---- Status codes (Connect's reused where the meaning fits; HTTP 409 for conflicts).
    pub const CODE_UNKNOWN_ORDER: i64 = 1006;
    /// A live lock held by another terminal (`result {orderId, lockedBy, lockExpiresAt}`).
    pub const CODE_LOCKED_BY_OTHER: i64 = 1018;
    /// The order is not OPEN / LOCKED any more (PAID, COMPLETED — e.g. paid at the pump).
    pub const CODE_NOT_OPEN: i64 = 1105;
    /// Pay or unlock without one's own live lock (expired, wrong token): legacy "Locked
    /// Transaction".
    pub const CODE_NO_LOCK: i64 = 1005;
    pub const CODE_AMOUNT_MISMATCH: i64 = 1103;
    pub const CODE_BAD_BODY: i64 = 1013;
    /// A known `paymentId` with another body, order or terminal.
    pub const CODE_DUPLICATE_PAYMENT: i64 = 1007;

    // ---- Timing (Connect integrator practice, §4).
    /// HTTP timeout of one call (20–30 s).
    pub const HTTP_TIMEOUT: Duration = Duration::from_secs(20);
    /// How often a sale asks whether the 1000TR completed the order, and for how long.
    pub const COMPLETE_POLL: Duration = Duration::from_millis(250);
    pub const COMPLETE_WAIT: Duration = Duration::from_secs(10);
    /// Resends of a payment whose answer was lost (same paymentId: replayed, never paid twice).
    pub const PAYMENT_RESENDS: u32 = 3;
}

/// Order life cycle: OPEN → LOCKED → PAID → COMPLETED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderState {
    Open,
    Locked,
    Paid,
    Completed,
}

impl OrderState {
    pub const ALL: [OrderState; 4] = [
        OrderState::Open,
        OrderState::Locked,
        OrderState::Paid,
        OrderState::Completed,
    ];

    /// The wire name ([`wire`]).
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Open => wire::STATE_OPEN,
            OrderState::Locked => wire::STATE_LOCKED,
            OrderState::Paid => wire::STATE_PAID,
            OrderState::Completed => wire::STATE_COMPLETED,
        }
    }

    pub fn parse(s: &str) -> Option<OrderState> {
        OrderState::ALL
            .into_iter()
            .find(|x| x.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl std::fmt::Display for OrderState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an order is unlocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnlockReason {
    /// The card payment failed (declined, aborted, terminal unreachable).
    PaymentFailed,
    /// The cashier cancelled.
    Cancelled,
    /// The POS gave up waiting (also: recovery after a crash).
    Timeout,
}

impl UnlockReason {
    pub fn as_str(self) -> &'static str {
        match self {
            UnlockReason::PaymentFailed => wire::REASON_PAYMENT_FAILED,
            UnlockReason::Cancelled => wire::REASON_CANCELLED,
            UnlockReason::Timeout => wire::REASON_TIMEOUT,
        }
    }

    pub fn parse(s: &str) -> Option<UnlockReason> {
        [
            UnlockReason::PaymentFailed,
            UnlockReason::Cancelled,
            UnlockReason::Timeout,
        ]
        .into_iter()
        .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// Filter of the summary list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    /// States (empty = all).
    pub states: Vec<OrderState>,
    pub plate: Option<String>,
    pub pump_no: Option<u32>,
    /// Only the orders this terminal has locked.
    pub locked_by_me: bool,
}

impl OrderFilter {
    /// The OPEN orders (what a cashier picks from), optionally of one plate.
    pub fn open(plate: Option<&str>) -> OrderFilter {
        OrderFilter {
            states: vec![OrderState::Open],
            plate: plate.map(str::to_string),
            ..OrderFilter::default()
        }
    }
}

/// An order of the summary list, or a whole order (then `order` has every field).
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub id: String,
    pub plate: String,
    pub pump_no: Option<u32>,
    pub nozzle_no: Option<u32>,
    pub product_name: Option<String>,
    /// Kuruş.
    pub amount: i64,
    /// Litres ×1000.
    pub quantity: Option<i64>,
    /// Kuruş per litre.
    pub unit_price: Option<i64>,
    pub state: OrderState,
    pub locked_by: Option<String>,
    pub lock_expires_at: Option<String>,
    pub payment_id: Option<String>,
    pub paid_by: Option<String>,
    /// The 1000TR's receipt once COMPLETED.
    pub receipt: Option<Value>,
    /// The cloud's JSON as received (every field, also those not named here).
    pub raw: Value,
}

fn str_of(v: &Value, k: &str) -> Option<String> {
    match v.get(k)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int_of(v: &Value, k: &str) -> Option<i64> {
    match v.get(k)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl Order {
    /// Read an order or summary (the `result` object, or one item of the list).
    pub fn from_value(v: &Value) -> Result<Order, String> {
        if !v.is_object() {
            return Err("an order is not a JSON object".into());
        }
        let id = str_of(v, wire::F_ORDER_ID)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("order without {}", wire::F_ORDER_ID))?;
        let state_text = str_of(v, wire::F_STATE).unwrap_or_default();
        let state = OrderState::parse(&state_text)
            .ok_or_else(|| format!("order {id}: unknown state {state_text:?}"))?;
        let amount = int_of(v, wire::F_AMOUNT)
            .ok_or_else(|| format!("order {id}: no {}", wire::F_AMOUNT))?;
        Ok(Order {
            plate: str_of(v, wire::F_PLATE).unwrap_or_default(),
            pump_no: int_of(v, wire::F_PUMP_NO).and_then(|n| u32::try_from(n).ok()),
            nozzle_no: int_of(v, wire::F_NOZZLE_NO).and_then(|n| u32::try_from(n).ok()),
            product_name: str_of(v, wire::F_PRODUCT_NAME),
            amount,
            quantity: int_of(v, wire::F_QUANTITY),
            unit_price: int_of(v, wire::F_UNIT_PRICE),
            state,
            locked_by: str_of(v, wire::F_LOCKED_BY).filter(|s| !s.is_empty()),
            lock_expires_at: str_of(v, wire::F_LOCK_EXPIRES_AT),
            payment_id: str_of(v, wire::F_PAYMENT_ID).filter(|s| !s.is_empty()),
            paid_by: str_of(v, wire::F_PAID_BY).filter(|s| !s.is_empty()),
            receipt: v.get(wire::F_RECEIPT).filter(|r| !r.is_null()).cloned(),
            raw: v.clone(),
            id,
        })
    }

    /// The order as the cloud sent it (what `okc energy get --json` prints).
    pub fn to_json(&self) -> Value {
        self.raw.clone()
    }
}

/// Parse the list's `result`.
pub fn parse_orders(result: &str) -> Result<Vec<Order>, String> {
    let v: Value = serde_json::from_str(result).map_err(|e| format!("order list: {e}"))?;
    let items = v.as_array().ok_or("the order list is not an array")?;
    items.iter().map(Order::from_value).collect()
}

/// Parse Get Order's or Unlock's `result`.
pub fn parse_order(result: &str) -> Result<Order, String> {
    let v: Value = serde_json::from_str(result).map_err(|e| format!("order: {e}"))?;
    Order::from_value(&v)
}

/// A lock granted by the cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockGrant {
    pub order_id: String,
    pub locked_by: String,
    pub lock_token: String,
    pub lock_expires_at: Option<String>,
}

impl LockGrant {
    pub fn to_json(&self) -> Value {
        json!({
            wire::F_ORDER_ID: self.order_id,
            wire::F_LOCKED_BY: self.locked_by,
            wire::F_LOCK_TOKEN: self.lock_token,
            wire::F_LOCK_EXPIRES_AT: self.lock_expires_at,
        })
    }
}

/// Parse Lock's `result`.
pub fn parse_lock(result: &str) -> Result<LockGrant, String> {
    let v: Value = serde_json::from_str(result).map_err(|e| format!("lock: {e}"))?;
    let token = str_of(&v, wire::F_LOCK_TOKEN)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("lock result without {}", wire::F_LOCK_TOKEN))?;
    Ok(LockGrant {
        order_id: str_of(&v, wire::F_ORDER_ID).unwrap_or_default(),
        locked_by: str_of(&v, wire::F_LOCKED_BY).unwrap_or_default(),
        lock_token: token,
        lock_expires_at: str_of(&v, wire::F_LOCK_EXPIRES_AT),
    })
}

/// Parse Payment's `result` (`{paymentId, order}`): the order after the payment.
pub fn parse_payment(result: &str) -> Result<(String, Order), String> {
    let v: Value = serde_json::from_str(result).map_err(|e| format!("payment: {e}"))?;
    let order = v
        .get(wire::F_PAYMENT_ORDER)
        .ok_or_else(|| format!("payment result without {}", wire::F_PAYMENT_ORDER))?;
    Ok((
        str_of(&v, wire::F_PAYMENT_ID).unwrap_or_default(),
        Order::from_value(order)?,
    ))
}

/// How an order is paid: by card (the payment front's approved result = the slip), or cash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tender {
    Card(Box<PaymentResult>),
    Cash,
}

/// The payment body: `paymentId`, the lock token, the amount, one payment item and, for a
/// card, the slip built from the card terminal's result.
pub fn payment_body(payment_id: &str, lock_token: &str, amount: i64, tender: &Tender) -> Value {
    let mut body = Map::new();
    body.insert(wire::F_PAYMENT_ID.into(), json!(payment_id));
    body.insert(wire::F_LOCK_TOKEN.into(), json!(lock_token));
    body.insert(wire::F_AMOUNT.into(), json!(amount));
    let (ty, desc) = match tender {
        Tender::Card(_) => (wire::PAY_TYPE_CARD, wire::CARD_DESCRIPTION),
        Tender::Cash => (wire::PAY_TYPE_CASH, wire::CASH_DESCRIPTION),
    };
    let mut item = Map::new();
    item.insert(wire::F_ITEM_TYPE.into(), json!(ty));
    item.insert(wire::F_ITEM_AMOUNT.into(), json!(amount));
    item.insert(wire::F_ITEM_OPERATOR.into(), json!(wire::CARD_OPERATOR_ID));
    item.insert(wire::F_ITEM_DESCRIPTION.into(), json!(desc));
    if let Tender::Card(r) = tender {
        item.insert(wire::F_ITEM_TXN.into(), json!(r.transaction_id));
        let mut slip = Map::new();
        slip.insert(wire::S_MASKED_PAN.into(), json!(r.masked_pan));
        slip.insert(wire::S_AUTH_CODE.into(), json!(r.approval_code));
        slip.insert(wire::S_RRN.into(), json!(r.transaction_id));
        slip.insert(wire::S_STAN.into(), Value::Null);
        slip.insert(wire::S_BATCH_NO.into(), Value::Null);
        slip.insert(wire::S_BANK_TERMINAL_ID.into(), Value::Null);
        slip.insert(wire::S_BANK_MERCHANT_ID.into(), Value::Null);
        slip.insert(wire::S_INSTALLMENT.into(), json!(0));
        slip.insert(wire::S_TRANSACTION_DATE.into(), json!(r.timestamp));
        slip.insert(wire::S_SLIP_LINES.into(), json!(r.customer_receipt));
        slip.insert(wire::S_BRAND.into(), json!(r.brand));
        body.insert(wire::F_SLIP.into(), Value::Object(slip));
    }
    body.insert(
        wire::F_PAYMENT_ITEMS.into(),
        Value::Array(vec![Value::Object(item)]),
    );
    Value::Object(body)
}

/// Path segment escaping for ids (anything but unreserved characters percent-encoded).
fn seg(id: &str) -> String {
    let mut s = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// Query value escaping.
fn q(v: &str) -> String {
    seg(v)
}

/// The operations of the Energy order API (each carries the virtual terminal id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnergyOp {
    /// Get Order Summary List.
    List {
        terminal: String,
        filter: OrderFilter,
    },
    /// Get Order.
    Get { terminal: String, id: String },
    Lock {
        terminal: String,
        id: String,
        ttl: Option<Duration>,
    },
    Unlock {
        terminal: String,
        id: String,
        lock_token: String,
        reason: Option<UnlockReason>,
    },
    /// Payment; `body` from [`payment_body`].
    Pay {
        terminal: String,
        id: String,
        body: String,
    },
}

impl EnergyOp {
    pub fn name(&self) -> &'static str {
        match self {
            EnergyOp::List { .. } => "Get Order Summary List",
            EnergyOp::Get { .. } => "Get Order",
            EnergyOp::Lock { .. } => "Lock Order",
            EnergyOp::Unlock { .. } => "Unlock Order",
            EnergyOp::Pay { .. } => "Order Payment",
        }
    }

    /// The request against `ep.api` (the `OKC_ENERGY_URL` base).
    pub fn request(&self, ep: &Endpoints) -> Request {
        let path = |p: &str, id: &str| format!("{}{}", ep.api, p.replace("{id}", &seg(id)));
        let (method, url, terminal, body) = match self {
            EnergyOp::List { terminal, filter } => {
                let mut qs: Vec<String> = Vec::new();
                if !filter.states.is_empty() {
                    let s: Vec<&str> = filter.states.iter().map(|s| s.as_str()).collect();
                    qs.push(format!("{}={}", wire::Q_STATUS, q(&s.join(","))));
                }
                if let Some(p) = filter.plate.as_deref().filter(|p| !p.trim().is_empty()) {
                    qs.push(format!("{}={}", wire::Q_PLATE, q(p.trim())));
                }
                if let Some(n) = filter.pump_no {
                    qs.push(format!("{}={n}", wire::Q_PUMP));
                }
                if filter.locked_by_me {
                    qs.push(format!("{}={}", wire::Q_LOCKED_BY, wire::LOCKED_BY_ME));
                }
                let mut url = format!("{}{}", ep.api, wire::PATH_ORDERS);
                if !qs.is_empty() {
                    url.push('?');
                    url.push_str(&qs.join("&"));
                }
                (Method::Get, url, terminal, None)
            }
            EnergyOp::Get { terminal, id } => {
                (Method::Get, path(wire::PATH_ORDER, id), terminal, None)
            }
            EnergyOp::Lock { terminal, id, ttl } => (
                Method::Post,
                path(wire::PATH_LOCK, id),
                terminal,
                Some(match ttl {
                    Some(t) => json!({ wire::F_LOCK_TTL: t.as_secs().max(1) }).to_string(),
                    None => "{}".to_string(),
                }),
            ),
            EnergyOp::Unlock {
                terminal,
                id,
                lock_token,
                reason,
            } => {
                let mut b = Map::new();
                b.insert(wire::F_LOCK_TOKEN.into(), json!(lock_token));
                if let Some(r) = reason {
                    b.insert(wire::F_REASON.into(), json!(r.as_str()));
                }
                (
                    Method::Post,
                    path(wire::PATH_UNLOCK, id),
                    terminal,
                    Some(Value::Object(b).to_string()),
                )
            }
            EnergyOp::Pay { terminal, id, body } => (
                Method::Post,
                path(wire::PATH_PAYMENT, id),
                terminal,
                Some(body.clone()),
            ),
        };
        Request {
            method,
            url,
            headers: vec![(wire::HEADER_TERMINAL, terminal.clone())],
            body,
        }
    }
}

#[cfg(feature = "tokenx")]
impl crate::fiscal::tokenx::client::Call for EnergyOp {
    fn name(&self) -> &'static str {
        EnergyOp::name(self)
    }
    fn request(&self, ep: &Endpoints) -> Request {
        EnergyOp::request(self, ep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep() -> Endpoints {
        Endpoints::single("http://h/base/")
    }

    #[test]
    fn requests() {
        let t = "VT1".to_string();
        let r = EnergyOp::List {
            terminal: t.clone(),
            filter: OrderFilter {
                states: vec![OrderState::Open, OrderState::Locked],
                plate: Some("34 ABC/1".into()),
                pump_no: Some(3),
                locked_by_me: true,
            },
        }
        .request(&ep());
        assert_eq!(r.method, Method::Get);
        assert_eq!(
            r.url,
            "http://h/base/v1/energy/orders?status=OPEN%2CLOCKED&plate=34%20ABC%2F1&pumpNo=3&lockedBy=me"
        );
        assert_eq!(r.headers, vec![("terminal-id", "VT1".to_string())]);
        let r = EnergyOp::Lock {
            terminal: t.clone(),
            id: "a/b".into(),
            ttl: Some(Duration::from_secs(30)),
        }
        .request(&ep());
        assert_eq!(r.url, "http://h/base/v1/energy/orders/a%2Fb/lock");
        assert_eq!(r.body.as_deref(), Some(r#"{"lockTtlSec":30}"#));
        let r = EnergyOp::Unlock {
            terminal: t,
            id: "o1".into(),
            lock_token: "tok".into(),
            reason: Some(UnlockReason::PaymentFailed),
        }
        .request(&ep());
        let b: Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
        assert_eq!(b, json!({"lockToken": "tok", "reason": "PAYMENT_FAILED"}));
    }

    #[test]
    fn card_payment_body() {
        let r = PaymentResult {
            approved: true,
            amount: 152340,
            masked_pan: Some("4543 96** **** 1234".into()),
            approval_code: Some("123456".into()),
            transaction_id: Some("T-9".into()),
            customer_receipt: vec!["line".into()],
            ..Default::default()
        };
        let b = payment_body("p1", "tok", 152340, &Tender::Card(Box::new(r)));
        assert_eq!(b["paymentItems"][0]["type"], 3);
        assert_eq!(b["paymentItems"][0]["amount"], 152340);
        assert_eq!(b["slip"]["authCode"], "123456");
        assert_eq!(b["slip"]["slipLines"][0], "line");
        let c = payment_body("p2", "tok", 100, &Tender::Cash);
        assert!(c.get("slip").is_none());
        assert_eq!(c["paymentItems"][0]["type"], 1);
    }

    #[test]
    fn orders_parse() {
        let o = parse_order(
            r#"{"orderId":"o1","plate":"34ABC123","pumpNo":3,"amount":152340,"state":"LOCKED","lockedBy":"VT1","receipt":null}"#,
        )
        .unwrap();
        assert_eq!(
            (o.state, o.pump_no, o.amount),
            (OrderState::Locked, Some(3), 152340)
        );
        assert_eq!(o.locked_by.as_deref(), Some("VT1"));
        assert!(o.receipt.is_none());
        assert!(parse_order(r#"{"orderId":"o1","state":"WEIRD","amount":1}"#).is_err());
        assert!(parse_orders("{}").is_err());
        let g =
            parse_lock(r#"{"orderId":"o1","lockedBy":"VT1","lockToken":"t","lockExpiresAt":"x"}"#)
                .unwrap();
        assert_eq!(g.lock_token, "t");
        assert!(parse_lock(r#"{"orderId":"o1"}"#).is_err());
    }
}
