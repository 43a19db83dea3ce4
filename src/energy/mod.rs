//! Token X Energy at the in-store POS: fuel orders the pump's 1000TR posted to Token's cloud,
//! picked by plate, locked, paid on the card terminal and handed back with the slip data so the
//! 1000TR fiscalises them — or unlocked when the payment fails. docs/ENERGY.md (client part).
//!
//! - [`api`]: the order API as values, with the one mapping table of assumed paths and fields
//!   ([`api::wire`]).
//! - [`Orders`]: the client — list, get, lock, unlock, pay, state, and the forecourt flow
//!   [`Orders::sell`] — over the TokenX Connect HTTP client (same token cache, re-auth on
//!   401, 429 honoured) on a small runtime of its own.
//!
//! The rules are code:
//! - **No payment without a held lock**: [`Orders::pay`] takes a [`Lock`], which only
//!   [`Orders::lock`] makes, and refuses it once its time has run out locally (the lock is
//!   never extended before paying — an expired lock is reported, never paid blindly).
//! - **A failed or abandoned payment ends in an unlock** ([`Orders::sell`]); a card payment the
//!   order cannot take any more (lock expired, paid at the pump) is reversed on the card
//!   terminal and reported.
//! - **A crash between lock and pay** is found in the journal ([`Orders::recover`]): the card
//!   payment known approved → the order is paid with its slip; otherwise it is unlocked.
//! - **A payment is idempotent by the caller's payment id** (journal + the cloud's replay); a
//!   lost answer is resolved by re-reading the order and re-sending the same payment id.

pub mod api;
mod config;

pub use api::{LockGrant, Order, OrderFilter, OrderState, Tender, UnlockReason};
pub use config::{
    EnergyConfig, ENV_COMPLETE_WAIT, ENV_CURRENCY, ENV_LOCK_TTL, ENV_TERMINAL, ENV_URL,
};

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fiscal::tokenx::api::{ApiError, Endpoints};
use crate::fiscal::tokenx::client::Client;
use crate::fiscal::tokenx::CallError;
#[cfg(feature = "journal")]
use crate::journal::{self, Begin, Journal, Kind, Outcome};
use crate::pay::{PayError, PaymentRequest, PaymentResult, Terminal};
use crate::runtime::BackendRuntime;
use api::{wire, EnergyOp};

/// Why an Energy call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnergyError {
    /// Bad configuration (URL, terminal id, credentials, journal).
    Config(String),
    /// Bad input from the caller (ids, plate, payment id).
    InvalidInput(String),
    /// The cloud answered with an error: HTTP code, the cloud's `status` code and its
    /// `description` (e.g. 409 / 1018 locked by another terminal, 409 / 1105 not open).
    Cloud {
        http: u16,
        code: i64,
        description: String,
    },
    /// No order matches (plate or id).
    NotFound(String),
    /// Several open orders match the plate: pick one by order id or pump.
    Ambiguous(String),
    /// The lock ran out (or was lost) before the payment: nothing was paid.
    LockExpired(String),
    /// The cloud cannot be reached; nothing was sent.
    Unreachable(String),
    /// The request may have reached the cloud but the answer is lost (the journal keeps it in
    /// doubt; [`Orders::recover`] resolves it).
    InDoubt(String),
    /// The cloud's answer could not be read.
    Protocol(String),
    /// The journal failed (nothing was sent).
    Journal(String),
    /// The object is closed.
    Closed,
}

impl EnergyError {
    /// The cloud's status code, for a [`EnergyError::Cloud`].
    pub fn code(&self) -> Option<i64> {
        match self {
            EnergyError::Cloud { code, .. } => Some(*code),
            _ => None,
        }
    }

    fn from_call(e: CallError) -> EnergyError {
        match e {
            CallError::Api(ApiError::Api {
                http,
                status,
                description,
                ..
            }) if http < 500 => EnergyError::Cloud {
                http,
                code: status,
                description,
            },
            CallError::Api(ApiError::Malformed { http, detail }) if http < 500 => {
                EnergyError::Protocol(format!("HTTP {http}: {detail}"))
            }
            e @ CallError::Api(_) => EnergyError::InDoubt(e.to_string()),
            CallError::Network { sent: true, detail } => EnergyError::InDoubt(detail),
            CallError::Network {
                sent: false,
                detail,
            } => EnergyError::Unreachable(detail),
        }
    }
}

impl fmt::Display for EnergyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnergyError::Config(e) => write!(f, "configuration error: {e}"),
            EnergyError::InvalidInput(e) => write!(f, "invalid input: {e}"),
            EnergyError::Cloud {
                http,
                code,
                description,
            } => write!(
                f,
                "Token X Energy answered HTTP {http}, status {code}: {description:?}"
            ),
            EnergyError::NotFound(e) => write!(f, "not found: {e}"),
            EnergyError::Ambiguous(e) => write!(f, "ambiguous: {e}"),
            EnergyError::LockExpired(e) => write!(f, "lock expired: {e}"),
            EnergyError::Unreachable(e) => write!(f, "Token X Energy unreachable: {e}"),
            EnergyError::InDoubt(e) => write!(f, "outcome unknown: {e}"),
            EnergyError::Protocol(e) => write!(f, "unreadable answer: {e}"),
            EnergyError::Journal(e) => write!(f, "journal: {e}"),
            EnergyError::Closed => write!(f, "the Orders object is closed"),
        }
    }
}

impl std::error::Error for EnergyError {}

/// A lock this terminal holds on an order: the only way to pay it ([`Orders::pay`]).
#[derive(Debug, Clone)]
pub struct Lock {
    /// The order as read just before locking (amount, plate, pump).
    pub order: Order,
    pub grant: LockGrant,
    /// The sale's payment id, when the lock was taken for one.
    pub payment_id: Option<String>,
    /// Local deadline (the TTL asked for, counted from before the lock request).
    deadline: Instant,
    journal_id: Option<i64>,
}

impl Lock {
    /// Time left before the lock runs out (by the local clock; zero = expired).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    pub fn to_json(&self) -> Value {
        let mut v = self.grant.to_json();
        v["remainingMs"] = json!(self.remaining().as_millis() as u64);
        v["amount"] = json!(self.order.amount);
        v["plate"] = json!(self.order.plate);
        v
    }
}

/// The order after an accepted payment.
#[derive(Debug, Clone)]
pub struct Paid {
    pub payment_id: String,
    pub order: Order,
    /// The answer was replayed from the journal (this payment id was paid before).
    pub replayed: bool,
}

/// How a sale ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SellState {
    /// Paid, and the 1000TR completed the order (receipt in `order.receipt`).
    Completed,
    /// Paid, not completed within the wait (the 1000TR is offline or slow): it completes the
    /// order when it is back; nothing to do at the POS.
    Paid,
    /// Not paid; the order is free again (or was closed at the pump).
    Unlocked,
}

impl SellState {
    pub fn as_str(self) -> &'static str {
        match self {
            SellState::Completed => "completed",
            SellState::Paid => "paid",
            SellState::Unlocked => "unlocked",
        }
    }
}

/// What happened to the card payment of a sale that did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardOutcome {
    /// Never approved (declined, aborted, failed): no money moved.
    NotApproved,
    /// Approved, then reversed on the terminal because the order could not take it.
    Reversed,
    /// Approved and NOT reversed (the reversal failed): refund the customer by hand.
    NeedsRefund,
    /// Unknown (the terminal could not say): check the terminal before charging again.
    Unknown,
}

impl CardOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CardOutcome::NotApproved => "not_approved",
            CardOutcome::Reversed => "reversed",
            CardOutcome::NeedsRefund => "needs_refund",
            CardOutcome::Unknown => "unknown",
        }
    }
}

/// The result of [`Orders::sell`].
#[derive(Debug, Clone)]
pub struct SellOutcome {
    pub state: SellState,
    /// Why unlocked (or why only paid): `declined: …`, `LOCK_EXPIRED`, `PAID_AT_PUMP`, …
    pub reason: Option<String>,
    /// The order as last read.
    pub order: Order,
    pub payment_id: String,
    /// The card terminal's result, when there was one.
    pub payment: Option<PaymentResult>,
    /// For an unlocked sale: what became of the card payment.
    pub card: Option<CardOutcome>,
}

impl SellOutcome {
    /// What `okc energy sell --json` prints last and `okc_energy_sell` hands out.
    pub fn to_json(&self) -> Value {
        json!({
            "state": self.state.as_str(),
            "reason": self.reason,
            "orderId": self.order.id,
            "plate": self.order.plate,
            "amount": self.order.amount,
            "orderState": self.order.state.as_str(),
            "paymentId": self.payment_id,
            "card": self.card.map(CardOutcome::as_str),
            "receipt": self.order.receipt,
            "order": self.order.to_json(),
            "payment": self.payment.as_ref().map(PaymentResult::to_json),
        })
    }
}

/// How an order is picked for a sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// The one OPEN order with this plate (spaces and case ignored).
    Plate(String),
    /// This order.
    Order(String),
}

/// What [`Orders::recover`] did with one journal entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovered {
    pub order_id: String,
    pub payment_id: Option<String>,
    /// `completed` / `paid` (the card payment was approved: the order is paid), `unlocked`,
    /// `released` (nothing held any more: expired, paid elsewhere), `pending` (cannot decide
    /// now: kept for the next recovery).
    pub action: String,
    pub detail: String,
}

impl Recovered {
    pub fn to_json(&self) -> Value {
        json!({"orderId": self.order_id, "paymentId": self.payment_id,
               "action": self.action, "detail": self.detail})
    }
}

/// The card reference of a payment id: itself when it is a valid terminal reference (1–32
/// letters, digits, `-_.`), else without its `-` (a UUID's 32 hex digits).
pub fn card_reference(payment_id: &str) -> Result<String, EnergyError> {
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    if ok(payment_id) {
        return Ok(payment_id.to_string());
    }
    let short: String = payment_id.chars().filter(|c| *c != '-').collect();
    if ok(&short) {
        return Ok(short);
    }
    Err(EnergyError::InvalidInput(format!(
        "payment id {payment_id:?}: 1-32 letters, digits, '-', '_', '.' (or a UUID)"
    )))
}

/// A card result as `PaymentResult::to_json` wrote it (`okc pay --json`, `okc_pay_payment`):
/// the fields the slip needs.
pub fn card_result_from_json(v: &Value) -> Result<PaymentResult, String> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let lines = |k: &str| -> Vec<String> {
        v.get("receipts")
            .and_then(|r| r.get(k))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|l| l.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let approved = v
        .get("approved")
        .and_then(Value::as_bool)
        .ok_or("the card result has no \"approved\"")?;
    Ok(PaymentResult {
        approved,
        kind: s("kind").unwrap_or_else(|| "payment".into()),
        reason: s("reason"),
        amount: v.get("amount").and_then(Value::as_i64).unwrap_or(0),
        currency: s("currency").unwrap_or_default(),
        masked_pan: s("maskedPan"),
        brand: s("brand"),
        entry_mode: s("entryMode"),
        approval_code: s("approvalCode"),
        transaction_id: s("transactionId"),
        timestamp: s("timestamp"),
        reference: s("reference").unwrap_or_default(),
        merchant_receipt: lines("merchant"),
        customer_receipt: lines("customer"),
        signature_required: false,
        raw: String::new(),
    })
}

/// A fresh payment id (UUID v4 without dashes: valid as a card reference too).
pub fn new_payment_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn check_id(what: &str, id: &str) -> Result<(), EnergyError> {
    if id.trim().is_empty() || id.len() > 256 || id.chars().any(char::is_control) {
        return Err(EnergyError::InvalidInput(format!(
            "{what} must be 1-256 printable characters"
        )));
    }
    Ok(())
}

/// What the card terminal knows about a reference.
enum CardStatus {
    Approved(Box<PaymentResult>),
    NotApproved,
    Unknown(String),
}

/// Ask the terminal for the payment with `reference`: by reference, or — after a restart, when
/// the terminal session does not know it — the terminal's last transaction, if it carries
/// this reference (nexo `SaleTransactionID`).
fn card_status(t: &Terminal, reference: &str) -> CardStatus {
    match t.status(Some(reference)) {
        Ok(r) if r.approved => CardStatus::Approved(Box::new(r)),
        Ok(_) => CardStatus::NotApproved,
        Err(PayError::Refused { condition, .. }) if condition == "NotFound" => {
            match t.status(None) {
                Ok(mut r) => {
                    let ours = r.raw.contains(&format!("TransactionID=\"{reference}\""))
                        || r.reference == reference;
                    if ours && r.approved && r.kind == "payment" {
                        r.reference = reference.to_string();
                        CardStatus::Approved(Box::new(r))
                    } else {
                        CardStatus::NotApproved
                    }
                }
                Err(PayError::Refused { .. }) => CardStatus::NotApproved,
                Err(e) => CardStatus::Unknown(e.to_string()),
            }
        }
        Err(e) => CardStatus::Unknown(e.to_string()),
    }
}

/// The Token X Energy order client of one virtual market terminal.
pub struct Orders {
    rt: BackendRuntime,
    client: Arc<Client>,
    cfg: EnergyConfig,
    #[cfg(feature = "journal")]
    journal: Option<Arc<Journal>>,
}

impl fmt::Debug for Orders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Orders").field("config", &self.cfg).finish()
    }
}

/// The journal's record of a lock, as stored in its request.
#[cfg(feature = "journal")]
#[derive(Debug, Clone, Default)]
struct LockRecord {
    order_id: String,
    payment_id: Option<String>,
    card_reference: Option<String>,
    amount: i64,
}

impl Orders {
    /// A client (no network yet). Opens the journal when one is configured.
    pub fn open(cfg: EnergyConfig) -> Result<Orders, EnergyError> {
        cfg.check()?;
        let ep = Endpoints {
            api: cfg.url.clone(),
            auth: cfg
                .tokenx
                .auth_url
                .clone()
                .unwrap_or_else(|| cfg.url.clone()),
            settings: cfg.url.clone(),
        };
        let client = Client::new(
            ep,
            cfg.tokenx.client_id.clone(),
            cfg.tokenx.client_secret.clone(),
            cfg.tokenx.status_table,
            wire::HTTP_TIMEOUT,
        )
        .map_err(EnergyError::Config)?;
        let rt = BackendRuntime::new("okc-energy")
            .map_err(|e| EnergyError::Config(format!("cannot start a runtime: {e}")))?;
        #[cfg(feature = "journal")]
        let journal = match &cfg.journal {
            Some(p) => Some(Journal::shared(p).map_err(|e| EnergyError::Journal(e.to_string()))?),
            None => None,
        };
        Ok(Orders {
            rt,
            client: Arc::new(client),
            cfg,
            #[cfg(feature = "journal")]
            journal,
        })
    }

    pub fn config(&self) -> &EnergyConfig {
        &self.cfg
    }

    /// Auth requests sent so far (tests, diagnostics).
    pub fn auth_requests(&self) -> u64 {
        self.client.auth_requests()
    }

    fn call(&self, op: EnergyOp) -> Result<String, EnergyError> {
        let c = self.client.clone();
        // The client's own HTTP timeout and 429 budget bound the call.
        match self.rt.run(async move { c.call(&op).await }, None) {
            Ok(Ok(env)) => Ok(env.result),
            Ok(Err(e)) => Err(EnergyError::from_call(e)),
            Err(_) => Err(EnergyError::Closed),
        }
    }

    fn term(&self) -> String {
        self.cfg.terminal_id.clone()
    }

    /// Check the credentials now.
    pub fn authenticate(&self) -> Result<(), EnergyError> {
        let c = self.client.clone();
        match self.rt.run(async move { c.authenticate().await }, None) {
            Ok(r) => r.map_err(EnergyError::from_call),
            Err(_) => Err(EnergyError::Closed),
        }
    }

    /// Get Order Summary List.
    pub fn list(&self, filter: &OrderFilter) -> Result<Vec<Order>, EnergyError> {
        let r = self.call(EnergyOp::List {
            terminal: self.term(),
            filter: filter.clone(),
        })?;
        api::parse_orders(&r).map_err(EnergyError::Protocol)
    }

    /// Get Order.
    pub fn get(&self, order_id: &str) -> Result<Order, EnergyError> {
        check_id("the order id", order_id)?;
        let r = self.call(EnergyOp::Get {
            terminal: self.term(),
            id: order_id.to_string(),
        })?;
        api::parse_order(&r).map_err(EnergyError::Protocol)
    }

    /// The order's state.
    pub fn state(&self, order_id: &str) -> Result<OrderState, EnergyError> {
        self.get(order_id).map(|o| o.state)
    }

    /// The one order a cashier means by `plate`: OPEN, or already locked by this terminal.
    pub fn find(&self, plate: &str) -> Result<Order, EnergyError> {
        let norm = |p: &str| {
            p.chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_uppercase()
        };
        if norm(plate).is_empty() {
            return Err(EnergyError::InvalidInput("empty plate".into()));
        }
        let all = self.list(&OrderFilter {
            states: vec![OrderState::Open, OrderState::Locked],
            plate: Some(plate.to_string()),
            ..OrderFilter::default()
        })?;
        let me = self.term();
        let mut hits: Vec<Order> = all
            .into_iter()
            .filter(|o| norm(&o.plate) == norm(plate))
            .filter(|o| o.state == OrderState::Open || o.locked_by.as_deref() == Some(me.as_str()))
            .collect();
        match hits.len() {
            0 => Err(EnergyError::NotFound(format!(
                "no open order for plate {plate:?}"
            ))),
            1 => Ok(hits.remove(0)),
            _ => Err(EnergyError::Ambiguous(format!(
                "{} open orders for plate {plate:?} (pumps {}): pick one by order id",
                hits.len(),
                hits.iter()
                    .map(|o| o.pump_no.map_or("?".into(), |n| n.to_string()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Lock an order for this terminal (exclusive; the lock runs out after the configured
    /// TTL). Recorded in the journal before the request.
    pub fn lock(&self, order_id: &str) -> Result<Lock, EnergyError> {
        self.lock_for(order_id, None)
    }

    /// Lock an order for a sale whose card payment uses `payment_id` (its card reference is
    /// [`card_reference`]): the journal then knows which card payment to ask about if the
    /// process dies before the order is paid or unlocked. For a POS that runs the card
    /// payment itself; [`Orders::sell`] does all of it.
    pub fn lock_sale(&self, order_id: &str, payment_id: &str) -> Result<Lock, EnergyError> {
        check_id("the payment id", payment_id)?;
        self.lock_for(order_id, Some(payment_id))
    }

    fn lock_for(&self, order_id: &str, payment_id: Option<&str>) -> Result<Lock, EnergyError> {
        check_id("the order id", order_id)?;
        let order = self.get(order_id)?;
        if matches!(order.state, OrderState::Paid | OrderState::Completed) {
            return Err(EnergyError::Cloud {
                http: 409,
                code: wire::CODE_NOT_OPEN,
                description: format!("the order is {} (not open)", order.state),
            });
        }
        let card_ref = payment_id.map(card_reference).transpose()?;
        let jid = self.journal_lock_begin(&order, payment_id, card_ref.as_deref())?;
        let started = Instant::now();
        let op = EnergyOp::Lock {
            terminal: self.term(),
            id: order_id.to_string(),
            ttl: Some(self.cfg.lock_ttl),
        };
        // The lock is idempotent for its holder (the same token again): a lost answer is
        // asked once more.
        let r = match self.call(op.clone()) {
            Err(EnergyError::InDoubt(_)) => self.call(op),
            r => r,
        };
        match r.and_then(|t| api::parse_lock(&t).map_err(EnergyError::Protocol)) {
            Ok(grant) => {
                self.journal_result(jid, &grant.to_json(), true);
                Ok(Lock {
                    order,
                    grant,
                    payment_id: payment_id.map(str::to_string),
                    deadline: started + self.cfg.lock_ttl,
                    journal_id: jid,
                })
            }
            Err(e) => {
                match &e {
                    EnergyError::InDoubt(why) => self.journal_in_doubt(jid, why),
                    _ => self.journal_not_sent(jid, &e.to_string()),
                }
                Err(e)
            }
        }
    }

    /// Unlock (only the holder may). A lock that is gone already (ran out, or the order was
    /// closed at the pump) counts as released: the order as it is now is returned.
    pub fn unlock(&self, lock: Lock, reason: UnlockReason) -> Result<Order, EnergyError> {
        let r = self.call(EnergyOp::Unlock {
            terminal: self.term(),
            id: lock.order.id.clone(),
            lock_token: lock.grant.lock_token.clone(),
            reason: Some(reason),
        });
        let out = match r {
            Ok(t) => api::parse_order(&t).map_err(EnergyError::Protocol),
            Err(EnergyError::Cloud { code, .. })
                if code == wire::CODE_NO_LOCK || code == wire::CODE_NOT_OPEN =>
            {
                self.get(&lock.order.id)
            }
            Err(e) => return Err(e),
        };
        if let Ok(o) = &out {
            if o.locked_by.as_deref() != Some(self.cfg.terminal_id.as_str())
                || o.state != OrderState::Locked
            {
                self.journal_release(lock.journal_id);
            }
        }
        out
    }

    /// Unlock an order this terminal holds, by id (support): the lock is taken again first
    /// (the holder gets its own token back), then released.
    pub fn unlock_id(&self, order_id: &str, reason: UnlockReason) -> Result<Order, EnergyError> {
        let o = self.get(order_id)?;
        if o.state == OrderState::Open {
            return Ok(o);
        }
        if o.locked_by.as_deref() != Some(self.cfg.terminal_id.as_str()) {
            return Err(EnergyError::Cloud {
                http: 409,
                code: if o.state == OrderState::Locked {
                    wire::CODE_LOCKED_BY_OTHER
                } else {
                    wire::CODE_NOT_OPEN
                },
                description: format!(
                    "the order is {} (locked by {:?}), not held by this terminal",
                    o.state, o.locked_by
                ),
            });
        }
        let lock = self.lock(order_id)?;
        self.unlock(lock, reason)
    }

    /// Pay a locked order: idempotent by `payment_id` (journal, and the cloud replays a known
    /// payment id). Refused without a call when the lock has run out by the local clock;
    /// a payment the cloud refuses because the lock ran out is [`EnergyError::LockExpired`].
    pub fn pay(&self, lock: &Lock, payment_id: &str, tender: &Tender) -> Result<Paid, EnergyError> {
        check_id("the payment id", payment_id)?;
        if let Tender::Card(r) = tender {
            if !r.approved {
                return Err(EnergyError::InvalidInput(
                    "a declined card payment cannot pay an order".into(),
                ));
            }
        }
        let body = api::payment_body(
            payment_id,
            &lock.grant.lock_token,
            lock.order.amount,
            tender,
        );
        // A payment recorded before (this process or an earlier one) is not sent blindly.
        let (jid, known) = self.journal_pay_begin(&lock.order.id, payment_id, &body)?;
        if let Some(res) = known {
            let (pid, order) = api::parse_payment(&res).map_err(EnergyError::Protocol)?;
            self.journal_release(lock.journal_id);
            return Ok(Paid {
                payment_id: pid,
                order,
                replayed: true,
            });
        }
        if lock.remaining().is_zero() && jid.is_none_or_new() {
            let e = EnergyError::LockExpired(format!(
                "the lock on order {} ran out before the payment; not paid",
                lock.order.id
            ));
            self.journal_pay_failed(jid.id(), &e);
            return Err(e);
        }
        let r = self.send_payment(&lock.order.id, &body, jid.id());
        if r.is_ok() {
            self.journal_release(lock.journal_id);
        }
        r
    }

    /// Send a payment body (also again, after a lost answer: the same paymentId is replayed
    /// by the cloud, never paid twice) and journal its result.
    fn send_payment(
        &self,
        order_id: &str,
        body: &Value,
        jid: Option<i64>,
    ) -> Result<Paid, EnergyError> {
        let op = EnergyOp::Pay {
            terminal: self.term(),
            id: order_id.to_string(),
            body: body.to_string(),
        };
        let payment_id = body[wire::F_PAYMENT_ID].as_str().unwrap_or_default();
        let mut last = String::new();
        for _ in 0..=wire::PAYMENT_RESENDS {
            match self.call(op.clone()) {
                Ok(t) => {
                    let (pid, order) = api::parse_payment(&t).map_err(EnergyError::Protocol)?;
                    self.journal_result(
                        jid,
                        &serde_json::from_str(&t).unwrap_or(Value::Null),
                        true,
                    );
                    return Ok(Paid {
                        payment_id: pid,
                        order,
                        replayed: false,
                    });
                }
                Err(EnergyError::InDoubt(why)) => {
                    // Lost answer: read the order before sending again (§4).
                    self.journal_in_doubt(jid, &why);
                    last = why;
                    match self.get(order_id) {
                        Ok(o)
                            if o.payment_id.as_deref() == Some(payment_id)
                                || o.state == OrderState::Locked
                                    && o.locked_by.as_deref()
                                        == Some(self.cfg.terminal_id.as_str()) =>
                        {
                            continue
                        }
                        Ok(o) => {
                            let e = refusal_for(&o);
                            self.journal_pay_failed(jid, &e);
                            return Err(e);
                        }
                        Err(_) => continue,
                    }
                }
                Err(e @ EnergyError::Unreachable(_)) => {
                    if last.is_empty() {
                        self.journal_pay_failed(jid, &e);
                        return Err(e);
                    }
                    last = e.to_string();
                }
                Err(EnergyError::Cloud { code, .. }) if code == wire::CODE_NO_LOCK => {
                    let e = EnergyError::LockExpired(format!(
                        "the lock on order {order_id} is gone (ran out mid-payment); not paid"
                    ));
                    self.journal_pay_failed(jid, &e);
                    return Err(e);
                }
                Err(e) => {
                    // A refusal after a lost answer may be our own payment seen from the
                    // order's side (1105: it is PAID — by us?).
                    if !last.is_empty() {
                        if let Ok(o) = self.get(order_id) {
                            if o.payment_id.as_deref() == Some(payment_id) {
                                let res = json!({ wire::F_PAYMENT_ID: payment_id,
                                                  wire::F_PAYMENT_ORDER: o.raw });
                                self.journal_result(jid, &res, true);
                                return Ok(Paid {
                                    payment_id: payment_id.to_string(),
                                    order: o,
                                    replayed: false,
                                });
                            }
                        }
                    }
                    self.journal_pay_failed(jid, &e);
                    return Err(e);
                }
            }
        }
        Err(EnergyError::InDoubt(format!(
            "payment {payment_id} of order {order_id}: no answer after {} tries ({last}); \
             the journal keeps it in doubt",
            wire::PAYMENT_RESENDS + 1
        )))
    }

    /// Lock `order_id` for `payment_id` (or re-take this terminal's lock) and pay it with
    /// `tender`; a payment that certainly failed unlocks the order again (`PAYMENT_FAILED`),
    /// one in doubt keeps the lock for [`Orders::recover`]. `okc energy pay` and `okc serve`.
    pub fn lock_and_pay(
        &self,
        order_id: &str,
        payment_id: &str,
        tender: &Tender,
    ) -> Result<Paid, EnergyError> {
        let l = self.lock_sale(order_id, payment_id)?;
        match self.pay(&l, payment_id, tender) {
            Ok(p) => Ok(p),
            Err(e) => {
                if !matches!(e, EnergyError::InDoubt(_)) {
                    let _ = self.unlock(l, UnlockReason::PaymentFailed);
                }
                Err(e)
            }
        }
    }

    /// Poll until the 1000TR completed the order, up to `wait`.
    pub fn wait_completed(&self, order_id: &str, wait: Duration) -> Result<Order, EnergyError> {
        let end = Instant::now() + wait;
        loop {
            let o = self.get(order_id)?;
            if o.state == OrderState::Completed || Instant::now() >= end {
                return Ok(o);
            }
            std::thread::sleep(wire::COMPLETE_POLL.min(end - Instant::now()));
        }
    }

    /// The forecourt flow: find the order (by plate or id) → lock → card payment on
    /// `terminal` (reference = `payment_id`, see [`card_reference`]) → pay the order with
    /// the slip → wait for the 1000TR; or unlock with the reason. Runs [`Orders::recover`]
    /// for this terminal's leftovers first.
    ///
    /// `Err` only when nothing was locked (not found, locked by another terminal, cloud
    /// unreachable…) or when the outcome is in doubt ([`EnergyError::InDoubt`]: the journal
    /// resolves it at the next [`Orders::recover`]).
    pub fn sell(
        &self,
        pick: &Pick,
        terminal: &Terminal,
        payment_id: Option<&str>,
    ) -> Result<SellOutcome, EnergyError> {
        let payment_id = payment_id
            .map(str::to_string)
            .unwrap_or_else(new_payment_id);
        check_id("the payment id", &payment_id)?;
        let reference = card_reference(&payment_id)?;
        let _ = self.recover(Some(terminal));
        let order_id = match pick {
            Pick::Order(id) => id.clone(),
            Pick::Plate(p) => self.find(p)?.id,
        };
        let lock = self.lock_for(&order_id, Some(&payment_id))?;
        let req = PaymentRequest {
            amount: lock.order.amount,
            currency: self.cfg.currency.clone(),
            reference: reference.clone(),
        };
        let card = match terminal.pay(&req) {
            Ok(r) => Ok(r),
            Err(PayError::OutcomeUnknown(why)) => match card_status(terminal, &reference) {
                CardStatus::Approved(r) => Ok(*r),
                CardStatus::NotApproved => Err((CardOutcome::NotApproved, why)),
                CardStatus::Unknown(e) => Err((CardOutcome::Unknown, format!("{why}; {e}"))),
            },
            Err(e) => Err((CardOutcome::NotApproved, e.to_string())),
        };
        let card = match card {
            Ok(r) if r.approved => r,
            Ok(r) => {
                let why = format!(
                    "declined: {}",
                    r.reason.clone().unwrap_or_else(|| "no reason given".into())
                );
                return self.end_unlocked(lock, payment_id, Some(r), CardOutcome::NotApproved, why);
            }
            Err((outcome, why)) => {
                return self.end_unlocked(lock, payment_id, None, outcome, format!("card: {why}"))
            }
        };
        match self.pay(&lock, &payment_id, &Tender::Card(Box::new(card.clone()))) {
            Ok(paid) => {
                let order = if paid.order.state == OrderState::Completed
                    || self.cfg.complete_wait.is_zero()
                {
                    paid.order
                } else {
                    self.wait_completed(&order_id, self.cfg.complete_wait)
                        .unwrap_or(paid.order)
                };
                let done = order.state == OrderState::Completed;
                Ok(SellOutcome {
                    state: if done {
                        SellState::Completed
                    } else {
                        SellState::Paid
                    },
                    reason: (!done).then(|| {
                        "paid; the pump's 1000TR has not completed the order yet (offline?)"
                            .to_string()
                    }),
                    order,
                    payment_id,
                    payment: Some(card),
                    card: None,
                })
            }
            Err(e @ EnergyError::InDoubt(_)) => Err(e),
            Err(e) => {
                // The order cannot take the approved card payment: give the money back.
                let why = match &e {
                    EnergyError::LockExpired(_) => "LOCK_EXPIRED".to_string(),
                    EnergyError::Cloud { code, .. } if *code == wire::CODE_NOT_OPEN => {
                        "ORDER_CLOSED (paid at the pump?)".to_string()
                    }
                    other => other.to_string(),
                };
                let outcome = match terminal.reverse_last() {
                    Ok(r) if r.approved => CardOutcome::Reversed,
                    _ => CardOutcome::NeedsRefund,
                };
                self.end_unlocked(lock, payment_id, Some(card), outcome, why)
            }
        }
    }

    fn end_unlocked(
        &self,
        lock: Lock,
        payment_id: String,
        payment: Option<PaymentResult>,
        card: CardOutcome,
        why: String,
    ) -> Result<SellOutcome, EnergyError> {
        let fallback = lock.order.clone();
        let order = match self.unlock(lock, UnlockReason::PaymentFailed) {
            Ok(o) => o,
            // The unlock failed (cloud gone): the lock runs out on its own; the journal
            // still holds it and the next recover() unlocks it.
            Err(_) => fallback,
        };
        Ok(SellOutcome {
            state: SellState::Unlocked,
            reason: Some(why),
            order,
            payment_id,
            payment,
            card: Some(card),
        })
    }

    /// Resolve this terminal's locks left by a crash (journal): the sale's card payment known
    /// approved (asked from `terminal` by its reference) → the order is paid with its slip;
    /// otherwise → unlocked. Without a terminal, locks of a card sale stay pending (they are
    /// not unlocked while the card payment's fate is unknown; the cloud's TTL still frees the
    /// order). Without a journal: nothing to do.
    pub fn recover(&self, terminal: Option<&Terminal>) -> Result<Vec<Recovered>, EnergyError> {
        #[cfg(feature = "journal")]
        {
            let Some(j) = &self.journal else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            for e in self.held_locks()? {
                // Released meanwhile (a sibling entry of the same order settled it).
                if j.get_id(e.id).ok().flatten().is_some_and(|x| x.confirmed()) {
                    continue;
                }
                out.push(self.recover_one(j, &e, terminal));
            }
            Ok(out)
        }
        #[cfg(not(feature = "journal"))]
        {
            let _ = terminal;
            Ok(Vec::new())
        }
    }

    #[cfg(feature = "journal")]
    fn recover_one(
        &self,
        j: &Journal,
        e: &journal::Entry,
        terminal: Option<&Terminal>,
    ) -> Recovered {
        let req: Value = serde_json::from_str(&e.request).unwrap_or(Value::Null);
        let rec = LockRecord {
            order_id: req["orderId"].as_str().unwrap_or_default().to_string(),
            payment_id: req["paymentId"].as_str().map(str::to_string),
            card_reference: req["cardReference"].as_str().map(str::to_string),
            amount: req["amount"].as_i64().unwrap_or(0),
        };
        let mut r = Recovered {
            order_id: rec.order_id.clone(),
            payment_id: rec.payment_id.clone(),
            action: "pending".into(),
            detail: String::new(),
        };
        let me = self.cfg.terminal_id.as_str();
        // The lock entry is finished (released) once the order is in a final state for us.
        let finish = |detail: &str| {
            if e.state.is_unfinished() {
                let _ = j.record_result(
                    e.id,
                    &json!({"recovered": detail}).to_string(),
                    Outcome::Success,
                );
            }
            let _ = j.confirm(e.id);
        };
        let order = match self.get(&rec.order_id) {
            Ok(o) => o,
            Err(EnergyError::Cloud { code, .. }) if code == wire::CODE_UNKNOWN_ORDER => {
                finish("the order is unknown to the cloud");
                r.action = "released".into();
                r.detail = "the order is unknown to the cloud".into();
                return r;
            }
            Err(err) => {
                r.detail = format!("cannot read the order: {err}");
                return r;
            }
        };
        // Paid by this sale already (the payment went through before the crash).
        if let Some(pid) = &rec.payment_id {
            if order.payment_id.as_deref() == Some(pid.as_str()) {
                if let Ok(Some(p)) = j.get(Kind::EnergyPay, pid) {
                    if p.state.is_unfinished() {
                        let res =
                            json!({ wire::F_PAYMENT_ID: pid, wire::F_PAYMENT_ORDER: order.raw });
                        let _ = j.record_result(p.id, &res.to_string(), Outcome::Success);
                    }
                }
                finish("paid before the restart");
                r.action = if order.state == OrderState::Completed {
                    "completed"
                } else {
                    "paid"
                }
                .into();
                r.detail = "the payment had reached the cloud before the restart".into();
                return r;
            }
        }
        let held_by_me =
            order.state == OrderState::Locked && order.locked_by.as_deref() == Some(me);
        if matches!(order.state, OrderState::Paid | OrderState::Completed) {
            // Closed elsewhere (at the pump): our lock is void.
            let card = match (terminal, &rec.card_reference) {
                (Some(t), Some(cref)) => match card_status(t, cref) {
                    CardStatus::Approved(_) => {
                        " — the card payment WAS approved: refund the customer"
                    }
                    CardStatus::NotApproved => "",
                    CardStatus::Unknown(_) => " — check the card terminal for this payment",
                },
                _ => "",
            };
            finish("closed elsewhere");
            r.action = "released".into();
            r.detail = format!(
                "the order was {} by {}{card}",
                order.state,
                order.paid_by.as_deref().unwrap_or("?")
            );
            return r;
        }
        // OPEN, or LOCKED (by us or another terminal). Was the card payment approved?
        let approved = match (&rec.card_reference, terminal) {
            (None, _) => None,
            (Some(cref), Some(t)) => match card_status(t, cref) {
                CardStatus::Approved(p) => Some(Some(p)),
                CardStatus::NotApproved => None,
                CardStatus::Unknown(why) => {
                    r.detail = format!("card terminal: {why}; ");
                    None
                }
            },
            (Some(_), None) => Some(None),
        };
        match approved {
            Some(None) => {
                r.detail = "a card sale: recover with the card terminal to decide".into();
                r
            }
            Some(Some(card)) => {
                // Money was taken: pay the order (locking it again: the holder gets its token
                // back; an order whose lock ran out is locked anew).
                let pid = rec.payment_id.clone().unwrap_or_default();
                let lock = match self.lock_again(&rec, e.id) {
                    Ok(l) => l,
                    Err(err) => {
                        r.detail = format!(
                            "the card payment was approved but the order cannot be locked: {err}; \
                             refund the customer or retry"
                        );
                        if !matches!(err, EnergyError::Cloud { .. }) {
                            return r;
                        }
                        finish("approved card, order taken by another terminal");
                        r.action = "released".into();
                        return r;
                    }
                };
                match self.pay(&lock, &pid, &Tender::Card(card)) {
                    Ok(p) => {
                        finish("paid by recovery");
                        let o = if self.cfg.complete_wait.is_zero() {
                            p.order
                        } else {
                            self.wait_completed(&rec.order_id, self.cfg.complete_wait)
                                .unwrap_or(p.order)
                        };
                        r.action = if o.state == OrderState::Completed {
                            "completed"
                        } else {
                            "paid"
                        }
                        .into();
                        r.detail = "the card payment was approved: the order is paid".into();
                    }
                    Err(err) => r.detail = format!("paying the order failed: {err}"),
                }
                r
            }
            None => {
                if held_by_me {
                    match self.lock_again(&rec, e.id) {
                        Ok(l) => match self.unlock(l, UnlockReason::Timeout) {
                            Ok(_) => {
                                finish("unlocked by recovery");
                                r.action = "unlocked".into();
                                r.detail.push_str("no approved card payment: unlocked");
                            }
                            Err(err) => r.detail.push_str(&format!("unlock failed: {err}")),
                        },
                        Err(err) => r.detail.push_str(&format!("re-lock failed: {err}")),
                    }
                } else {
                    finish("not held any more");
                    r.action = "released".into();
                    r.detail
                        .push_str("no approved card payment; the lock had run out");
                }
                r
            }
        }
    }

    /// Lock an order again for a journal entry being recovered (the entry itself is reused).
    #[cfg(feature = "journal")]
    fn lock_again(&self, rec: &LockRecord, jid: i64) -> Result<Lock, EnergyError> {
        let order = self.get(&rec.order_id)?;
        let started = Instant::now();
        let t = self.call(EnergyOp::Lock {
            terminal: self.term(),
            id: rec.order_id.clone(),
            ttl: Some(self.cfg.lock_ttl),
        })?;
        let grant = api::parse_lock(&t).map_err(EnergyError::Protocol)?;
        let _ = rec.amount;
        Ok(Lock {
            order,
            grant,
            payment_id: rec.payment_id.clone(),
            deadline: started + self.cfg.lock_ttl,
            journal_id: Some(jid),
        })
    }

    // ---- journal helpers (no-ops without a journal) ------------------------------------

    fn journal_lock_begin(
        &self,
        order: &Order,
        payment_id: Option<&str>,
        card_ref: Option<&str>,
    ) -> Result<Option<i64>, EnergyError> {
        #[cfg(feature = "journal")]
        if let Some(j) = &self.journal {
            let attempt = payment_id
                .map(str::to_string)
                .unwrap_or_else(|| format!("lock-{}", new_payment_id()));
            let key = format!("{}#{attempt}", order.id);
            let req = json!({"orderId": order.id, "paymentId": payment_id,
                             "cardReference": card_ref, "amount": order.amount,
                             "plate": order.plate,
                             "lockTtlSec": self.cfg.lock_ttl.as_secs()});
            let jerr = |e: journal::JournalError| EnergyError::Journal(e.to_string());
            return match j
                .begin(
                    Kind::EnergyLock,
                    &key,
                    &self.cfg.terminal_id,
                    &req.to_string(),
                )
                .map_err(jerr)?
            {
                Begin::New(id) => {
                    j.mark_sent(id).map_err(jerr)?;
                    Ok(Some(id))
                }
                // The same sale locking again (a retried sell with its payment id).
                Begin::Known(e) => Ok(Some(e.id)),
            };
        }
        let _ = (order, payment_id, card_ref);
        Ok(None)
    }

    /// Payment begin: `(entry, Some(stored result))` for a payment answered before.
    fn journal_pay_begin(
        &self,
        order_id: &str,
        payment_id: &str,
        body: &Value,
    ) -> Result<(PayEntry, Option<String>), EnergyError> {
        #[cfg(feature = "journal")]
        if let Some(j) = &self.journal {
            let jerr = |e: journal::JournalError| EnergyError::Journal(e.to_string());
            let req = json!({"orderId": order_id, "body": body});
            return match j.begin(
                Kind::EnergyPay,
                payment_id,
                &self.cfg.terminal_id,
                &req.to_string(),
            ) {
                Ok(Begin::New(id)) => {
                    j.mark_sent(id).map_err(jerr)?;
                    Ok((PayEntry::New(id), None))
                }
                Ok(Begin::Known(e)) if e.state.is_unfinished() => Ok((PayEntry::Again(e.id), None)),
                Ok(Begin::Known(e)) if e.outcome == Some(Outcome::Success) => {
                    Ok((PayEntry::Again(e.id), e.result))
                }
                Ok(Begin::Known(e)) => Err(EnergyError::InvalidInput(format!(
                    "payment id {payment_id:?} was used before ({})",
                    e.result.unwrap_or_default()
                ))),
                Err(journal::JournalError::Conflict { why, .. }) => Err(EnergyError::InvalidInput(
                    format!("payment id {payment_id:?} was used before with {why}"),
                )),
                Err(e) => Err(jerr(e)),
            };
        }
        let _ = (order_id, payment_id, body);
        Ok((PayEntry::None, None))
    }

    fn journal_result(&self, id: Option<i64>, result: &Value, success: bool) {
        #[cfg(feature = "journal")]
        if let (Some(j), Some(id)) = (&self.journal, id) {
            let o = if success {
                Outcome::Success
            } else {
                Outcome::Failed
            };
            let _ = j.record_result(id, &result.to_string(), o);
        }
        let _ = (id, result, success);
    }

    fn journal_pay_failed(&self, id: Option<i64>, e: &EnergyError) {
        self.journal_result(
            id,
            &json!({"error": e.to_string(), "code": e.code()}),
            false,
        );
    }

    fn journal_in_doubt(&self, id: Option<i64>, why: &str) {
        #[cfg(feature = "journal")]
        if let (Some(j), Some(id)) = (&self.journal, id) {
            let _ = j.mark_in_doubt(id, why);
        }
        let _ = (id, why);
    }

    fn journal_not_sent(&self, id: Option<i64>, why: &str) {
        #[cfg(feature = "journal")]
        if let (Some(j), Some(id)) = (&self.journal, id) {
            let _ = j.mark_not_sent(id, why);
        }
        let _ = (id, why);
    }

    /// The lock's life is over (unlocked, paid, closed elsewhere): its entry — and every other
    /// held lock entry of the same order of this terminal (a lock taken again by id, e.g. by
    /// `unlock_id` or the C API) — is confirmed.
    fn journal_release(&self, id: Option<i64>) {
        #[cfg(feature = "journal")]
        if let (Some(j), Some(id)) = (&self.journal, id) {
            let order_of = |e: &journal::Entry| {
                serde_json::from_str::<Value>(&e.request)
                    .ok()
                    .and_then(|v| v["orderId"].as_str().map(str::to_string))
            };
            let Ok(Some(this)) = j.get_id(id) else {
                return;
            };
            let order = order_of(&this);
            let mut all = self.held_locks().unwrap_or_default();
            if !all.iter().any(|e| e.id == id) {
                all.push(this);
            }
            for e in all
                .into_iter()
                .filter(|e| e.id == id || order_of(e) == order)
            {
                if e.state.is_unfinished() {
                    let _ = j.record_result(e.id, r#"{"released":true}"#, Outcome::Success);
                }
                let _ = j.confirm(e.id);
            }
        }
        let _ = id;
    }

    /// This terminal's lock entries that may still hold a lock: unfinished, or answered and
    /// not confirmed (released).
    #[cfg(feature = "journal")]
    fn held_locks(&self) -> Result<Vec<journal::Entry>, EnergyError> {
        let Some(j) = &self.journal else {
            return Ok(Vec::new());
        };
        let jerr = |e: journal::JournalError| EnergyError::Journal(e.to_string());
        let mut held: Vec<journal::Entry> = j
            .unfinished()
            .map_err(jerr)?
            .into_iter()
            .chain(j.undelivered().map_err(jerr)?)
            .filter(|e| e.kind == Kind::EnergyLock && e.scope == self.cfg.terminal_id)
            .filter(|e| e.outcome.is_none() || e.outcome == Some(Outcome::Success))
            .collect();
        held.sort_by_key(|e| e.id);
        held.dedup_by_key(|e| e.id);
        Ok(held)
    }

    /// Stop the runtime (idempotent; also on drop).
    pub fn close(&self) {
        self.rt.shutdown(Duration::from_secs(2));
    }
}

/// The payment's journal entry.
#[derive(Debug, Clone, Copy)]
enum PayEntry {
    None,
    New(i64),
    /// Known and unfinished (in doubt): sent again with the same payment id.
    Again(i64),
}

impl PayEntry {
    fn id(self) -> Option<i64> {
        match self {
            PayEntry::None => None,
            PayEntry::New(i) | PayEntry::Again(i) => Some(i),
        }
    }
    fn is_none_or_new(self) -> bool {
        !matches!(self, PayEntry::Again(_))
    }
}

/// The refusal a payment meets on an order that is no longer ours.
fn refusal_for(o: &Order) -> EnergyError {
    match o.state {
        OrderState::Paid | OrderState::Completed => EnergyError::Cloud {
            http: 409,
            code: wire::CODE_NOT_OPEN,
            description: format!("the order is {} (paid by {:?})", o.state, o.paid_by),
        },
        _ => EnergyError::LockExpired(format!(
            "the lock on order {} is gone (the order is {}); not paid",
            o.id, o.state
        )),
    }
}

impl Drop for Orders {
    fn drop(&mut self) {
        self.rt.shutdown(Duration::from_secs(1));
    }
}
