//! Token X Energy on the cloud simulator: a branch's forecourt (pumps, each with its pump
//! ÖKC, the 1000TR), the fuel orders the pumps create, exclusive locks with a TTL, payments
//! from the market POS (idempotent by `paymentId`), the 1000TR completing paid orders, and
//! the faults of the forecourt. Served by the same server as TokenX Connect (same tokens,
//! envelope, request log, webhooks); every guessed name and code is in
//! [`super::energy_assumptions`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::Method;
use serde_json::{json, Value};

use super::api::{self, err, reply, Call, Reply};
use super::device::{self, Hook};
use super::energy_assumptions as e;
use super::Shared;

/// A virtual market terminal (the in-store POS's id at Token).
#[derive(Debug, Clone)]
pub struct EnergyTerminal {
    pub id: String,
    /// The branch it is paired with (it sees and may take that branch's orders only).
    pub branch_id: String,
    /// Owning client id; `None` = usable by any client.
    pub client_id: Option<String>,
}

/// The Energy part of the simulator's configuration.
#[derive(Debug, Clone)]
pub struct EnergyConfig {
    /// The forecourt's branch (default "BR-0001").
    pub branch_id: String,
    /// Pumps 1…N (default 8), each with its own 1000TR.
    pub pumps: u32,
    /// Virtual market terminals (default `VT00000000001` and `VT00000000002`, branch BR-0001).
    pub terminals: Vec<EnergyTerminal>,
    /// Lock TTL when the lock call names none (default 120 s).
    pub lock_ttl: Duration,
    /// Time from an accepted payment to the 1000TR completing the order (default 500 ms);
    /// `None` = only [`super::CloudSim::complete_order`] / the control call completes.
    pub complete_delay: Option<Duration>,
    /// Orders whose fuelling is finished when the simulator starts.
    pub fuel: Vec<Fuelling>,
    pub faults: EnergyFaults,
}

impl Default for EnergyConfig {
    fn default() -> Self {
        EnergyConfig {
            branch_id: "BR-0001".into(),
            pumps: e::DEFAULT_PUMPS,
            terminals: e::DEFAULT_MARKET_TERMINALS
                .iter()
                .map(|id| EnergyTerminal {
                    id: id.to_string(),
                    branch_id: "BR-0001".into(),
                    client_id: None,
                })
                .collect(),
            lock_ttl: Duration::from_secs(e::DEFAULT_LOCK_TTL_SECS),
            complete_delay: Some(Duration::from_millis(e::DEFAULT_COMPLETE_DELAY_MS)),
            fuel: Vec::new(),
            faults: EnergyFaults::default(),
        }
    }
}

/// Energy fault switches, changeable at run time ([`super::CloudSim::set_energy_faults`]).
/// Expired tokens (401) are [`super::CloudSim::expire_tokens`]; a 429 on every endpoint is
/// [`super::CloudFaults::throttle_next`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnergyFaults {
    /// The 1000TRs are offline: paid orders stay PAID (completion waits for them), and
    /// pay-at-pump / complete control calls fail.
    pub pump_offline: bool,
    /// The next N accepted payments are committed, then the connection is cut without an
    /// answer (the POS sees a network error; a resend with the same `paymentId` replays).
    pub drop_payment_reply: u32,
    /// The next N payment calls by a lock holder find the lock TTL run out just before they
    /// arrived (the lock is released, `ORDER_UNLOCKED` reason TIMEOUT, the call gets 1005).
    pub expire_lock_on_payment: u32,
    /// After each of the next N successful locks, the customer pays at the pump: the order
    /// is COMPLETED at once (the POS's lock is void; its payment gets 1105).
    pub pay_at_pump_on_lock: u32,
    /// The next N order-list calls answer 429 with `Retry-After`.
    pub throttle_list: u32,
    /// `Retry-After` seconds of those replies (default 1).
    pub retry_after_secs: u32,
}

impl Default for EnergyFaults {
    fn default() -> Self {
        EnergyFaults {
            pump_offline: false,
            drop_payment_reply: 0,
            expire_lock_on_payment: 0,
            pay_at_pump_on_lock: 0,
            throttle_list: 0,
            retry_after_secs: 1,
        }
    }
}

/// What a pump sold: the plate, where, and two of quantity / unit price / amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fuelling {
    pub plate: String,
    /// `None` = the lowest-numbered free pump.
    pub pump_no: Option<u32>,
    /// Nozzle (and so the product, see [`e::PRODUCTS`]); default 1 (Motorin).
    pub nozzle_no: u32,
    /// Overrides the nozzle's product name.
    pub product_name: Option<String>,
    /// Kuruş per litre; default the nozzle's price.
    pub unit_price: Option<i64>,
    /// Litres ×1000; when `None`, `amount × 1000 / unitPrice` rounded.
    pub quantity: Option<i64>,
    /// Kuruş; when `None`, `quantity × unitPrice / 1000` rounded. Given, it is the order's
    /// amount as is (a pre-set amount fill: the pump stops at the amount).
    pub amount: Option<i64>,
}

impl Fuelling {
    /// A pre-set amount fill of Motorin (nozzle 1) on the next free pump (`okc sim-cloud --fuel`).
    pub fn amount(plate: &str, kurus: i64) -> Fuelling {
        Fuelling {
            plate: plate.to_string(),
            pump_no: None,
            nozzle_no: 1,
            product_name: None,
            unit_price: None,
            quantity: None,
            amount: Some(kurus),
        }
    }

    /// A fill of `quantity` litres ×1000 at `unit_price` kuruş on the next free pump.
    pub fn litres(plate: &str, quantity: i64, unit_price: i64) -> Fuelling {
        Fuelling {
            quantity: Some(quantity),
            unit_price: Some(unit_price),
            amount: None,
            ..Fuelling::amount(plate, 0)
        }
    }

    /// On pump `n`.
    pub fn on_pump(mut self, n: u32) -> Fuelling {
        self.pump_no = Some(n);
        self
    }
}

/// Order life cycle (§4): OPEN → LOCKED → PAID → COMPLETED, LOCKED → OPEN on unlock or
/// TTL expiry, OPEN / LOCKED → COMPLETED when paid at the pump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderState {
    Open,
    Locked,
    Paid,
    Completed,
}

impl OrderState {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Open => e::STATE_OPEN,
            OrderState::Locked => e::STATE_LOCKED,
            OrderState::Paid => e::STATE_PAID,
            OrderState::Completed => e::STATE_COMPLETED,
        }
    }

    fn parse(s: &str) -> Option<OrderState> {
        [
            OrderState::Open,
            OrderState::Locked,
            OrderState::Paid,
            OrderState::Completed,
        ]
        .into_iter()
        .find(|o| o.as_str().eq_ignore_ascii_case(s))
    }
}

/// A fuel order as the cloud holds it.
#[derive(Debug, Clone)]
pub struct EnergyOrder {
    pub id: String,
    pub plate: String,
    pub pump_no: u32,
    pub nozzle_no: u32,
    pub product_name: String,
    /// Kuruş.
    pub amount: i64,
    /// Litres ×1000.
    pub quantity: i64,
    /// Kuruş per litre.
    pub unit_price: i64,
    pub branch_id: String,
    /// The pump's 1000TR.
    pub pump_terminal_id: String,
    pub state: OrderState,
    /// Market terminal holding the live lock.
    pub locked_by: Option<String>,
    pub lock_token: Option<String>,
    /// Who paid: the market terminal, or the pump's 1000TR when paid at the pump.
    pub paid_by: Option<String>,
    pub paid_at_pump: bool,
    /// `paymentId` of the accepted payment and its body.
    pub payment_id: Option<String>,
    pub payment: Option<Value>,
    /// Payments accepted for this order (never more than 1 if the rules hold).
    pub payments_accepted: u32,
    /// Resends of the accepted payment answered with the stored reply.
    pub payment_replays: u32,
    /// `{receiptNo, zNo, fiscalSerial, UUID, completedAt}` once COMPLETED.
    pub receipt: Option<Value>,
}

pub(crate) struct OrderRec {
    public: EnergyOrder,
    lock_expires: Option<Instant>,
    lock_expires_at: Option<String>,
    created_at: String,
    updated_at: String,
}

/// An accepted payment, for replays: who sent what, and the reply.
struct StoredPayment {
    order_id: String,
    terminal: String,
    body: Value,
    http: u16,
    reply: Value,
}

pub(crate) struct EnergyState {
    branch_id: String,
    pumps: u32,
    terminals: Vec<EnergyTerminal>,
    lock_ttl: Duration,
    complete_delay: Option<Duration>,
    faults: EnergyFaults,
    orders: Vec<OrderRec>,
    payments: HashMap<String, StoredPayment>,
    /// Next receipt number per pump.
    next_receipt: HashMap<u32, i64>,
}

impl EnergyState {
    pub(crate) fn new(c: &EnergyConfig) -> EnergyState {
        EnergyState {
            branch_id: c.branch_id.clone(),
            pumps: c.pumps,
            terminals: c.terminals.clone(),
            lock_ttl: c.lock_ttl,
            complete_delay: c.complete_delay,
            faults: c.faults.clone(),
            orders: Vec::new(),
            payments: HashMap::new(),
            next_receipt: HashMap::new(),
        }
    }

    fn find(&self, id: &str) -> Option<usize> {
        self.orders.iter().position(|o| o.public.id == id)
    }
}

type St = device::State;

// ---------------------------------------------------------------------------------------
// Time, JSON

fn rfc3339_at(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    device::rfc3339_millis(d.as_secs() as i64, d.subsec_millis())
}

fn summary_json(r: &OrderRec) -> Value {
    let o = &r.public;
    json!({
        "orderId": o.id,
        "plate": o.plate,
        "pumpNo": o.pump_no,
        "nozzleNo": o.nozzle_no,
        "productName": o.product_name,
        "amount": o.amount,
        "quantity": o.quantity,
        "unitPrice": o.unit_price,
        "state": o.state.as_str(),
        "isLocked": o.locked_by.is_some(),
        "lockedBy": o.locked_by,
        "createdAt": r.created_at,
    })
}

fn order_json(r: &OrderRec) -> Value {
    let o = &r.public;
    let mut v = summary_json(r);
    let extra = json!({
        "pumpTerminalId": o.pump_terminal_id,
        "branchId": o.branch_id,
        "sectionNo": e::FUEL_SECTION_NO,
        "taxPercent": e::FUEL_TAX_PERCENT,
        "items": [{
            "name": o.product_name,
            "price": o.unit_price,
            "quantity": o.quantity,
            "sectionNo": e::FUEL_SECTION_NO,
            "taxPercent": e::FUEL_TAX_PERCENT,
            "unit": e::FUEL_UNIT,
        }],
        "lockExpiresAt": r.lock_expires_at,
        "paymentId": o.payment_id,
        "paidBy": o.paid_by,
        "receipt": o.receipt,
        "updatedAt": r.updated_at,
    });
    if let (Some(m), Value::Object(x)) = (v.as_object_mut(), extra) {
        m.extend(x);
    }
    v
}

fn lock_json(r: &OrderRec) -> Value {
    json!({
        "orderId": r.public.id,
        "lockedBy": r.public.locked_by,
        "lockToken": r.public.lock_token,
        "lockExpiresAt": r.lock_expires_at,
    })
}

/// The simulator's view of an order (control API): the order plus what only it knows.
fn sim_json(r: &OrderRec) -> Value {
    let mut v = order_json(r);
    v["lockToken"] = json!(r.public.lock_token);
    v["paidAtPump"] = json!(r.public.paid_at_pump);
    v["paymentsAccepted"] = json!(r.public.payments_accepted);
    v["paymentReplays"] = json!(r.public.payment_replays);
    v
}

// ---------------------------------------------------------------------------------------
// Webhooks

/// One hook per registered client that may use a market terminal of `branch`.
fn hooks(
    st: &St,
    branch: &str,
    terminal: &str,
    order: &str,
    op: &'static str,
    data: Value,
) -> Vec<Hook> {
    let mut clients: Vec<&String> = st
        .settings
        .keys()
        .filter(|c| {
            st.energy.terminals.iter().any(|t| {
                t.branch_id == branch && t.client_id.as_deref().map_or(true, |o| o == c.as_str())
            })
        })
        .collect();
    clients.sort();
    clients
        .into_iter()
        .map(|c| Hook {
            client_id: c.clone(),
            terminal_id: terminal.to_string(),
            branch_id: branch.to_string(),
            basket_id: order.to_string(),
            operation: op,
            data: data.clone(),
        })
        .collect()
}

fn send(sh: &Arc<Shared>, hs: Vec<Hook>) {
    for h in hs {
        device::send_webhook(sh, h);
    }
}

// ---------------------------------------------------------------------------------------
// State changes (under the state lock; they return the webhooks to send after it)

/// Release lock of order `i` (state back to OPEN) with `reason`.
fn release(st: &mut St, i: usize, reason: Option<&str>) -> Vec<Hook> {
    let r = &mut st.energy.orders[i];
    let Some(by) = r.public.locked_by.take() else {
        return Vec::new();
    };
    r.public.lock_token = None;
    r.lock_expires = None;
    r.lock_expires_at = None;
    if r.public.state == OrderState::Locked {
        r.public.state = OrderState::Open;
    }
    r.updated_at = device::now_rfc3339();
    let (branch, id) = (r.public.branch_id.clone(), r.public.id.clone());
    let data = json!({"orderId": id, "lockedBy": by, "reason": reason});
    hooks(st, &branch, &by, &id, e::HOOK_UNLOCKED, data)
}

/// Every lock whose TTL ran out goes back to OPEN (`ORDER_UNLOCKED` reason TIMEOUT).
fn sweep(st: &mut St) -> Vec<Hook> {
    let now = Instant::now();
    let expired: Vec<usize> = st
        .energy
        .orders
        .iter()
        .enumerate()
        .filter(|(_, r)| r.lock_expires.is_some_and(|t| t <= now))
        .map(|(i, _)| i)
        .collect();
    expired
        .into_iter()
        .flat_map(|i| release(st, i, Some("TIMEOUT")))
        .collect()
}

fn receipt(st: &mut St, i: usize) -> Value {
    let pump = st.energy.orders[i].public.pump_no;
    let no = st
        .energy
        .next_receipt
        .entry(pump)
        .or_insert(e::FIRST_RECEIPT_NO);
    let receipt_no = *no;
    *no += 1;
    json!({
        "receiptNo": receipt_no,
        "zNo": e::PUMP_Z_NO,
        "fiscalSerial": st.energy.orders[i].public.pump_terminal_id,
        "UUID": uuid::Uuid::new_v4().to_string(),
        "completedAt": device::now_rfc3339(),
    })
}

fn completed_hook(st: &St, i: usize) -> Vec<Hook> {
    let r = &st.energy.orders[i];
    hooks(
        st,
        &r.public.branch_id,
        &r.public.pump_terminal_id,
        &r.public.id,
        e::HOOK_COMPLETED,
        order_json(r),
    )
}

/// The 1000TR completes PAID order `id`; `None` if it is offline or the order is not PAID.
fn complete_locked(st: &mut St, id: &str) -> Option<Vec<Hook>> {
    if st.energy.faults.pump_offline {
        return None;
    }
    let i = st.energy.find(id)?;
    if st.energy.orders[i].public.state != OrderState::Paid {
        return None;
    }
    let rc = receipt(st, i);
    let r = &mut st.energy.orders[i];
    r.public.state = OrderState::Completed;
    r.public.receipt = Some(rc);
    r.updated_at = device::now_rfc3339();
    Some(completed_hook(st, i))
}

/// The customer pays at the pump: OPEN or LOCKED → COMPLETED (a lock is voided).
fn pay_at_pump_locked(st: &mut St, id: &str) -> Option<Vec<Hook>> {
    let mut hs = sweep(st);
    if st.energy.faults.pump_offline {
        return None;
    }
    let i = st.energy.find(id)?;
    if !matches!(
        st.energy.orders[i].public.state,
        OrderState::Open | OrderState::Locked
    ) {
        return None;
    }
    hs.extend(release(st, i, Some(e::REASON_PAID_AT_PUMP)));
    let rc = receipt(st, i);
    let r = &mut st.energy.orders[i];
    r.public.state = OrderState::Completed;
    r.public.paid_at_pump = true;
    r.public.paid_by = Some(r.public.pump_terminal_id.clone());
    r.public.receipt = Some(rc);
    r.updated_at = device::now_rfc3339();
    hs.extend(completed_hook(st, i));
    Some(hs)
}

fn expire_lock_locked(st: &mut St, id: &str) -> Option<Vec<Hook>> {
    let mut hs = sweep(st);
    let i = st.energy.find(id)?;
    if st.energy.orders[i].public.state != OrderState::Locked {
        return None;
    }
    hs.extend(release(st, i, Some("TIMEOUT")));
    Some(hs)
}

fn busy(st: &St, pump: u32) -> bool {
    st.energy
        .orders
        .iter()
        .any(|o| o.public.pump_no == pump && o.public.state != OrderState::Completed)
}

fn fuel_locked(st: &mut St, f: &Fuelling) -> Result<(String, Vec<Hook>), String> {
    let plate: String = f
        .plate
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect();
    if plate.is_empty() {
        return Err("a plate is required".into());
    }
    let pumps = st.energy.pumps;
    let pump = match f.pump_no {
        Some(n) if n == 0 || n > pumps => return Err(format!("no pump {n} (pumps 1–{pumps})")),
        Some(n) if busy(st, n) => return Err(format!("pump {n} has an unfinished order")),
        Some(n) => n,
        None => (1..=pumps)
            .find(|&n| !busy(st, n))
            .ok_or("every pump has an unfinished order")?,
    };
    let (_, default_name, default_price) = e::PRODUCTS
        .iter()
        .find(|(n, _, _)| *n == f.nozzle_no)
        .ok_or_else(|| format!("no nozzle {}", f.nozzle_no))?;
    let unit_price = f.unit_price.unwrap_or(*default_price);
    if unit_price <= 0 {
        return Err("unitPrice must be positive".into());
    }
    let div_round = |a: i64, b: i64| (a + b / 2).div_euclid(b);
    let (quantity, amount) = match (f.quantity, f.amount) {
        (Some(q), Some(a)) => (q, a),
        (Some(q), None) => (q, div_round(q * unit_price, 1000)),
        (None, Some(a)) => (div_round(a * 1000, unit_price), a),
        (None, None) => return Err("a quantity (litres) or an amount is required".into()),
    };
    if quantity <= 0 || amount <= 0 {
        return Err("quantity and amount must be positive".into());
    }
    let now = device::now_rfc3339();
    let id = uuid::Uuid::new_v4().to_string();
    let rec = OrderRec {
        public: EnergyOrder {
            id: id.clone(),
            plate,
            pump_no: pump,
            nozzle_no: f.nozzle_no,
            product_name: f
                .product_name
                .clone()
                .unwrap_or_else(|| default_name.to_string()),
            amount,
            quantity,
            unit_price,
            branch_id: st.energy.branch_id.clone(),
            pump_terminal_id: e::pump_terminal_id(pump),
            state: OrderState::Open,
            locked_by: None,
            lock_token: None,
            paid_by: None,
            paid_at_pump: false,
            payment_id: None,
            payment: None,
            payments_accepted: 0,
            payment_replays: 0,
            receipt: None,
        },
        lock_expires: None,
        lock_expires_at: None,
        created_at: now.clone(),
        updated_at: now,
    };
    let hs = hooks(
        st,
        &rec.public.branch_id,
        &rec.public.pump_terminal_id,
        &id,
        e::HOOK_CREATED,
        order_json(&rec),
    );
    st.energy.orders.push(rec);
    Ok((id, hs))
}

// ---------------------------------------------------------------------------------------
// Timers

/// Release the lock of `id` once its TTL ran out (a no-op if it was extended or released).
fn schedule_expiry(sh: &Arc<Shared>, at: Instant) {
    let sh2 = sh.clone();
    sh.rt.spawn(async move {
        tokio::time::sleep_until(at.into()).await;
        let hs = sweep(&mut sh2.state.lock());
        send(&sh2, hs);
    });
}

/// The 1000TR completes PAID order `id` after `delay`, or once it is back online.
fn schedule_completion(sh: &Arc<Shared>, id: String, delay: Duration) {
    let sh2 = sh.clone();
    sh.rt.spawn(async move {
        tokio::time::sleep(delay).await;
        loop {
            let hs = {
                let mut st = sh2.state.lock();
                match st
                    .energy
                    .find(&id)
                    .map(|i| st.energy.orders[i].public.state)
                {
                    Some(OrderState::Paid) => {}
                    _ => return,
                }
                complete_locked(&mut st, &id)
            };
            match hs {
                Some(hs) => return send(&sh2, hs),
                None => tokio::time::sleep(Duration::from_millis(25)).await,
            }
        }
    });
}

// ---------------------------------------------------------------------------------------
// Rust API (for `CloudSim`)

pub(crate) fn fuel(sh: &Arc<Shared>, f: &Fuelling) -> Result<String, String> {
    let (id, hs) = fuel_locked(&mut sh.state.lock(), f)?;
    send(sh, hs);
    Ok(id)
}

pub(crate) fn pay_at_pump(sh: &Arc<Shared>, id: &str) -> bool {
    let hs = pay_at_pump_locked(&mut sh.state.lock(), id);
    hs.map(|hs| send(sh, hs)).is_some()
}

pub(crate) fn expire_lock(sh: &Arc<Shared>, id: &str) -> bool {
    let hs = expire_lock_locked(&mut sh.state.lock(), id);
    hs.map(|hs| send(sh, hs)).is_some()
}

pub(crate) fn complete(sh: &Arc<Shared>, id: &str) -> bool {
    let hs = {
        let mut st = sh.state.lock();
        let mut hs = sweep(&mut st);
        complete_locked(&mut st, id).map(|c| {
            hs.extend(c);
            hs
        })
    };
    hs.map(|hs| send(sh, hs)).is_some()
}

/// Every order (expired locks released first), in creation order.
pub(crate) fn orders(sh: &Arc<Shared>) -> Vec<EnergyOrder> {
    let (list, hs) = {
        let mut st = sh.state.lock();
        let hs = sweep(&mut st);
        let list = st.energy.orders.iter().map(|r| r.public.clone()).collect();
        (list, hs)
    };
    send(sh, hs);
    list
}

pub(crate) fn faults(sh: &Shared) -> EnergyFaults {
    sh.state.lock().energy.faults.clone()
}

pub(crate) fn set_faults(sh: &Shared, f: EnergyFaults) {
    sh.state.lock().energy.faults = f;
}

pub(crate) fn set_lock_ttl(sh: &Shared, ttl: Duration) {
    sh.state.lock().energy.lock_ttl = ttl;
}

pub(crate) fn set_complete_delay(sh: &Shared, d: Option<Duration>) {
    sh.state.lock().energy.complete_delay = d;
}

// ---------------------------------------------------------------------------------------
// HTTP API

pub(crate) enum Route {
    List,
    Get(String),
    Lock(String),
    Unlock(String),
    Payment(String),
}

pub(crate) fn route(method: &Method, path: &str) -> Option<Route> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let [v1, energy, rest @ ..] = segs.as_slice() else {
        return None;
    };
    if [*v1, *energy] != e::PATH_PREFIX {
        return None;
    }
    let m = method.as_str();
    match rest {
        [o] if *o == e::PATH_ORDERS && m == "GET" => Some(Route::List),
        [o, id] if *o == e::PATH_ORDERS && !id.is_empty() && m == "GET" => {
            Some(Route::Get(id.to_string()))
        }
        [o, id, op] if *o == e::PATH_ORDERS && !id.is_empty() && m == "POST" => {
            let id = id.to_string();
            match *op {
                x if x == e::PATH_LOCK => Some(Route::Lock(id)),
                x if x == e::PATH_UNLOCK => Some(Route::Unlock(id)),
                x if x == e::PATH_PAYMENT => Some(Route::Payment(id)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The order-list 429 fault (in front of auth, like a gateway).
pub(crate) fn throttled(sh: &Shared, r: &Route) -> Option<Reply> {
    if !matches!(r, Route::List) {
        return None;
    }
    let mut st = sh.state.lock();
    let f = &mut st.energy.faults;
    if f.throttle_list == 0 {
        return None;
    }
    f.throttle_list -= 1;
    let mut rep = err(super::assumptions::THROTTLED);
    rep.retry_after = Some(f.retry_after_secs);
    Some(rep)
}

fn ok((http, status, d): (u16, i64, &str), result: Value) -> Reply {
    reply(http, status, d, Some(result))
}

pub(crate) fn api(sh: &Arc<Shared>, c: &Call, client: &str, r: Route) -> Reply {
    let Some(terminal) = api::context(sh, c)[0].clone() else {
        return err(e::NO_TERMINAL);
    };
    let mut schedule = None;
    let (rep, hs) = {
        let mut st = sh.state.lock();
        let mut hs = sweep(&mut st);
        let paired = st
            .energy
            .terminals
            .iter()
            .find(|t| t.id == terminal && t.client_id.as_deref().map_or(true, |o| o == client));
        let rep = match paired.map(|t| t.branch_id.clone()) {
            None => err(e::NOT_PAIRED),
            Some(branch) => {
                let mut cx = Cx {
                    st: &mut st,
                    terminal: &terminal,
                    branch: &branch,
                    hooks: &mut hs,
                    schedule: &mut schedule,
                };
                match r {
                    Route::List => cx.list(c),
                    Route::Get(id) => cx.get(&id),
                    Route::Lock(id) => cx.lock(c, &id),
                    Route::Unlock(id) => cx.unlock(c, &id),
                    Route::Payment(id) => cx.payment(c, &id),
                }
            }
        };
        (rep, hs)
    };
    send(sh, hs);
    match schedule {
        Some(Timer::Expiry(at)) => schedule_expiry(sh, at),
        Some(Timer::Completion(id, d)) => schedule_completion(sh, id, d),
        None => {}
    }
    rep
}

enum Timer {
    Expiry(Instant),
    Completion(String, Duration),
}

/// One Energy call under the state lock: the caller's terminal and branch, the webhooks and
/// timer it leaves behind.
struct Cx<'a> {
    st: &'a mut St,
    terminal: &'a str,
    branch: &'a str,
    hooks: &'a mut Vec<Hook>,
    schedule: &'a mut Option<Timer>,
}

/// A query value, percent-decoded (`+` as space).
fn query(c: &Call, name: &str) -> Option<String> {
    let raw = c.query_param(name)?;
    let b = raw.as_bytes();
    let hex = |i: usize| {
        b.get(i..i + 2)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok())
    };
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], hex(i + 1)) {
            (b'%', Some(x)) => {
                out.push(x);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (x, _) => out.push(x),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn norm_plate(p: &str) -> String {
    p.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

fn int(v: Option<&Value>) -> Option<i64> {
    v.and_then(Value::as_i64)
}

impl Cx<'_> {
    /// Index of order `id` of the caller's branch (404 / 403).
    fn order(&self, id: &str) -> Result<usize, Reply> {
        let i = self.st.energy.find(id).ok_or_else(|| err(e::NO_ORDER))?;
        if self.st.energy.orders[i].public.branch_id != self.branch {
            return Err(err(e::NOT_PAIRED));
        }
        Ok(i)
    }

    fn locked_by_other(&self, i: usize) -> Option<Reply> {
        let r = &self.st.energy.orders[i];
        let by = r.public.locked_by.as_deref()?;
        (by != self.terminal).then(|| {
            let (http, status, d) = e::LOCKED_BY_OTHER;
            reply(
                http,
                status,
                d,
                Some(json!({
                    "orderId": r.public.id,
                    "lockedBy": by,
                    "lockExpiresAt": r.lock_expires_at,
                })),
            )
        })
    }

    fn list(&mut self, c: &Call) -> Reply {
        let states = match query(c, e::Q_STATUS) {
            None => None,
            Some(s) => {
                let parsed: Option<Vec<OrderState>> =
                    s.split(',').map(|x| OrderState::parse(x.trim())).collect();
                match parsed {
                    Some(v) => Some(v),
                    None => return err(e::BAD_BODY),
                }
            }
        };
        let pump = match query(c, e::Q_PUMP) {
            None => None,
            Some(p) => match p.trim().parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => return err(e::BAD_BODY),
            },
        };
        let plate = query(c, e::Q_PLATE).map(|p| norm_plate(&p));
        let locked_by = query(c, e::Q_LOCKED_BY).map(|l| {
            if l.eq_ignore_ascii_case(e::LOCKED_BY_ME) {
                self.terminal.to_string()
            } else {
                l
            }
        });
        let list: Vec<Value> = self
            .st
            .energy
            .orders
            .iter()
            .filter(|r| r.public.branch_id == self.branch)
            .filter(|r| {
                states
                    .as_ref()
                    .map_or(true, |s| s.contains(&r.public.state))
            })
            .filter(|r| pump.map_or(true, |p| r.public.pump_no == p))
            .filter(|r| plate.as_ref().map_or(true, |p| r.public.plate == *p))
            .filter(|r| {
                locked_by
                    .as_ref()
                    .map_or(true, |l| r.public.locked_by.as_ref() == Some(l))
            })
            .map(summary_json)
            .collect();
        ok(e::OK_LIST, Value::Array(list))
    }

    fn get(&mut self, id: &str) -> Reply {
        match self.order(id) {
            Ok(i) => ok(e::OK_GET, order_json(&self.st.energy.orders[i])),
            Err(r) => r,
        }
    }

    fn lock(&mut self, c: &Call, id: &str) -> Reply {
        let i = match self.order(id) {
            Ok(i) => i,
            Err(r) => return r,
        };
        let mut ttl = self.st.energy.lock_ttl;
        if !c.body.iter().all(u8::is_ascii_whitespace) {
            let Some(body) = c.json() else {
                return err(e::BAD_BODY);
            };
            match body.get("lockTtlSec") {
                None | Some(Value::Null) => {}
                Some(v) => match v.as_u64() {
                    Some(n) if (1..=e::MAX_LOCK_TTL_SECS).contains(&n) => {
                        ttl = Duration::from_secs(n)
                    }
                    _ => return err(e::BAD_BODY),
                },
            }
        }
        if matches!(
            self.st.energy.orders[i].public.state,
            OrderState::Paid | OrderState::Completed
        ) {
            return err(e::NOT_OPEN);
        }
        if let Some(r) = self.locked_by_other(i) {
            return r;
        }
        let at = Instant::now() + ttl;
        let at_str = rfc3339_at(SystemTime::now() + ttl);
        let r = &mut self.st.energy.orders[i];
        let fresh = r.public.locked_by.is_none();
        if fresh {
            r.public.locked_by = Some(self.terminal.to_string());
            r.public.lock_token = Some(uuid::Uuid::new_v4().to_string());
            r.public.state = OrderState::Locked;
        }
        r.lock_expires = Some(at);
        r.lock_expires_at = Some(at_str.clone());
        r.updated_at = device::now_rfc3339();
        let rep = ok(e::OK_LOCK, lock_json(r));
        *self.schedule = Some(Timer::Expiry(at));
        if fresh {
            let data = json!({"orderId": id, "lockedBy": self.terminal, "lockExpiresAt": at_str});
            let hs = hooks(
                self.st,
                self.branch,
                self.terminal,
                id,
                e::HOOK_LOCKED,
                data,
            );
            self.hooks.extend(hs);
        }
        if self.st.energy.faults.pay_at_pump_on_lock > 0 {
            self.st.energy.faults.pay_at_pump_on_lock -= 1;
            if let Some(hs) = pay_at_pump_locked(self.st, id) {
                self.hooks.extend(hs);
            }
        }
        rep
    }

    fn unlock(&mut self, c: &Call, id: &str) -> Reply {
        let i = match self.order(id) {
            Ok(i) => i,
            Err(r) => return r,
        };
        let Some(body) = c.json() else {
            return err(e::BAD_BODY);
        };
        let token = match body.get("lockToken") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return err(e::BAD_BODY),
        };
        let reason = match body.get("reason") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if e::UNLOCK_REASONS.contains(&s.as_str()) => Some(s.clone()),
            Some(_) => return err(e::BAD_BODY),
        };
        match self.st.energy.orders[i].public.state {
            OrderState::Paid | OrderState::Completed => return err(e::NOT_OPEN),
            OrderState::Open => return ok(e::OK_UNLOCK, order_json(&self.st.energy.orders[i])),
            OrderState::Locked => {}
        }
        if let Some(r) = self.locked_by_other(i) {
            return r;
        }
        if token.is_none() || token != self.st.energy.orders[i].public.lock_token {
            return err(e::NO_VALID_LOCK);
        }
        let hs = release(self.st, i, reason.as_deref());
        self.hooks.extend(hs);
        ok(e::OK_UNLOCK, order_json(&self.st.energy.orders[i]))
    }

    fn payment(&mut self, c: &Call, id: &str) -> Reply {
        let i = match self.order(id) {
            Ok(i) => i,
            Err(r) => return r,
        };
        let Some(body) = c.json() else {
            return err(e::BAD_BODY);
        };
        let Some(pid) = body
            .get("paymentId")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string)
        else {
            return err(e::BAD_BODY);
        };
        if let Some(p) = self.st.energy.payments.get(&pid) {
            if p.order_id == id && p.terminal == self.terminal && p.body == body {
                let (http, v) = (p.http, p.reply.clone());
                self.st.energy.orders[i].public.payment_replays += 1;
                return Reply {
                    http,
                    body: v,
                    retry_after: None,
                    drop: false,
                };
            }
            return err(e::DUPLICATE_PAYMENT);
        }
        let Some(amount) = int(body.get("amount")) else {
            return err(e::BAD_BODY);
        };
        let token = match body.get("lockToken") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return err(e::BAD_BODY),
        };
        let Some(items) = body
            .get("paymentItems")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
        else {
            return err(e::BAD_BODY);
        };
        let mut items_total = 0i64;
        let mut card = false;
        for it in items {
            let (Some(ty), Some(a)) = (int(it.get("type")), int(it.get("amount"))) else {
                return err(e::BAD_BODY);
            };
            if !e::PAYMENT_TYPES.contains(&ty) || a <= 0 {
                return err(e::BAD_BODY);
            }
            card |= ty == e::PAYMENT_TYPE_CARD;
            items_total += a;
        }
        if card && !body.get("slip").is_some_and(Value::is_object) {
            return err(e::BAD_BODY);
        }
        if matches!(
            self.st.energy.orders[i].public.state,
            OrderState::Paid | OrderState::Completed
        ) {
            return err(e::NOT_OPEN);
        }
        if self.st.energy.orders[i].public.locked_by.as_deref() == Some(self.terminal)
            && self.st.energy.faults.expire_lock_on_payment > 0
        {
            self.st.energy.faults.expire_lock_on_payment -= 1;
            let hs = release(self.st, i, Some("TIMEOUT"));
            self.hooks.extend(hs);
        }
        if let Some(r) = self.locked_by_other(i) {
            return r;
        }
        let o = &self.st.energy.orders[i].public;
        if o.state != OrderState::Locked || token.is_none() || token != o.lock_token {
            return err(e::NO_VALID_LOCK);
        }
        if amount != o.amount || items_total != amount {
            return err(e::AMOUNT_MISMATCH);
        }
        // Commit.
        let r = &mut self.st.energy.orders[i];
        r.public.locked_by = None;
        r.public.lock_token = None;
        r.lock_expires = None;
        r.lock_expires_at = None;
        r.public.state = OrderState::Paid;
        r.public.paid_by = Some(self.terminal.to_string());
        r.public.payment_id = Some(pid.clone());
        r.public.payment = Some(body.clone());
        r.public.payments_accepted += 1;
        r.updated_at = device::now_rfc3339();
        let result = json!({"paymentId": pid, "order": order_json(r)});
        let mut rep = ok(e::OK_PAYMENT, result);
        self.st.energy.payments.insert(
            pid,
            StoredPayment {
                order_id: id.to_string(),
                terminal: self.terminal.to_string(),
                body,
                http: rep.http,
                reply: rep.body.clone(),
            },
        );
        if let Some(d) = self.st.energy.complete_delay {
            *self.schedule = Some(Timer::Completion(id.to_string(), d));
        }
        if self.st.energy.faults.drop_payment_reply > 0 {
            self.st.energy.faults.drop_payment_reply -= 1;
            rep.drop = true;
        }
        rep
    }
}

// ---------------------------------------------------------------------------------------
// Control API (`/_sim/…`, no auth, not logged)

fn fuelling_from(body: &Value, pump: Option<u32>) -> Result<Fuelling, String> {
    let plate = body
        .get("plate")
        .and_then(Value::as_str)
        .ok_or("plate (string) is required")?;
    let num = |k: &str| body.get(k).filter(|v| !v.is_null());
    let int_of = |k: &str| -> Result<Option<i64>, String> {
        num(k)
            .map(|v| v.as_i64().ok_or(format!("{k} must be an integer")))
            .transpose()
    };
    let quantity = match (num("litres"), int_of("quantity")?) {
        (Some(l), _) => Some(
            l.as_f64()
                .map(|l| (l * 1000.0).round() as i64)
                .ok_or("litres must be a number")?,
        ),
        (None, q) => q,
    };
    Ok(Fuelling {
        plate: plate.to_string(),
        pump_no: pump,
        nozzle_no: int_of("nozzleNo")?.map_or(1, |n| n as u32),
        product_name: body
            .get("productName")
            .and_then(Value::as_str)
            .map(str::to_string),
        unit_price: int_of("unitPrice")?,
        quantity,
        amount: int_of("amount")?,
    })
}

fn faults_json(f: &EnergyFaults) -> Value {
    json!({
        "pumpOffline": f.pump_offline,
        "dropPaymentReply": f.drop_payment_reply,
        "expireLockOnPayment": f.expire_lock_on_payment,
        "payAtPumpOnLock": f.pay_at_pump_on_lock,
        "throttleList": f.throttle_list,
        "retryAfterSecs": f.retry_after_secs,
    })
}

fn config_json(st: &EnergyState) -> Value {
    json!({
        "branchId": st.branch_id,
        "pumps": st.pumps,
        "terminals": st.terminals.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
        "lockTtlSec": st.lock_ttl.as_secs(),
        "completeDelayMs": st.complete_delay.map(|d| d.as_millis() as u64),
    })
}

/// `/_sim/` calls of the forecourt; `None` = not an Energy control path.
pub(crate) fn control(
    sh: &Arc<Shared>,
    method: &Method,
    segs: &[&str],
    body: &[u8],
) -> Option<(u16, Value)> {
    let json_body = || -> Result<Value, (u16, Value)> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(json!({}));
        }
        serde_json::from_slice::<Value>(body)
            .ok()
            .filter(Value::is_object)
            .ok_or((
                400,
                json!({"ok": false, "error": "body must be a JSON object"}),
            ))
    };
    let fuel_reply = |f: Result<Fuelling, String>| -> (u16, Value) {
        let f = match f {
            Ok(f) => f,
            Err(e) => return (400, json!({"ok": false, "error": e})),
        };
        match fuel(sh, &f) {
            Ok(id) => {
                let order = {
                    let st = sh.state.lock();
                    st.energy.find(&id).map(|i| sim_json(&st.energy.orders[i]))
                };
                (200, json!({"ok": true, "orderId": id, "order": order}))
            }
            Err(e) => (409, json!({"ok": false, "error": e})),
        }
    };
    let res = match (method.as_str(), segs) {
        ("POST", ["pumps", n, "fuel"]) => {
            let Ok(n) = n.parse::<u32>() else {
                return Some((404, json!({"ok": false, "error": "no such pump"})));
            };
            match json_body() {
                Ok(b) => fuel_reply(fuelling_from(&b, Some(n))),
                Err(r) => r,
            }
        }
        ("POST", ["fuel"]) => match json_body() {
            Ok(b) => fuel_reply(fuelling_from(&b, None)),
            Err(r) => r,
        },
        ("POST", ["orders", id, op]) => {
            let applied = match *op {
                "pay-at-pump" => pay_at_pump(sh, id),
                "expire-lock" => expire_lock(sh, id),
                "complete" => complete(sh, id),
                _ => return Some((404, json!({"ok": false, "error": "unknown operation"}))),
            };
            (200, json!({"ok": applied}))
        }
        ("GET", ["orders"]) => {
            orders(sh);
            let st = sh.state.lock();
            (
                200,
                Value::Array(st.energy.orders.iter().map(sim_json).collect()),
            )
        }
        ("GET", ["orders", id]) => {
            orders(sh);
            let st = sh.state.lock();
            match st.energy.find(id) {
                Some(i) => (200, sim_json(&st.energy.orders[i])),
                None => (404, json!({"ok": false, "error": "no such order"})),
            }
        }
        ("GET", ["energy", "faults"]) => (200, faults_json(&faults(sh))),
        ("POST", ["energy", "faults"]) => match json_body() {
            Err(r) => r,
            Ok(b) => {
                let mut st = sh.state.lock();
                let f = &mut st.energy.faults;
                let n = |k: &str, cur: u32| {
                    b.get(k)
                        .and_then(Value::as_u64)
                        .map_or(cur, |v| v.min(u64::from(u32::MAX)) as u32)
                };
                if let Some(v) = b.get("pumpOffline").and_then(Value::as_bool) {
                    f.pump_offline = v;
                }
                f.drop_payment_reply = n("dropPaymentReply", f.drop_payment_reply);
                f.expire_lock_on_payment = n("expireLockOnPayment", f.expire_lock_on_payment);
                f.pay_at_pump_on_lock = n("payAtPumpOnLock", f.pay_at_pump_on_lock);
                f.throttle_list = n("throttleList", f.throttle_list);
                f.retry_after_secs = n("retryAfterSecs", f.retry_after_secs);
                (200, faults_json(f))
            }
        },
        ("GET", ["energy", "config"]) => (200, config_json(&sh.state.lock().energy)),
        ("POST", ["energy", "config"]) => match json_body() {
            Err(r) => r,
            Ok(b) => {
                let mut st = sh.state.lock();
                if let Some(s) = b.get("lockTtlSec").and_then(Value::as_u64) {
                    st.energy.lock_ttl = Duration::from_secs(s.max(1));
                }
                match b.get("completeDelayMs") {
                    Some(Value::Null) => st.energy.complete_delay = None,
                    Some(v) => {
                        if let Some(ms) = v.as_u64() {
                            st.energy.complete_delay = Some(Duration::from_millis(ms));
                        }
                    }
                    None => {}
                }
                (200, config_json(&st.energy))
            }
        },
        _ => return None,
    };
    Some(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(query: &str) -> Call {
        Call {
            method: Method::GET,
            headers: Default::default(),
            query: query.into(),
            body: Vec::new(),
        }
    }

    #[test]
    fn routes() {
        let p = |m: Method, path: &str| match route(&m, path) {
            None => "none".to_string(),
            Some(Route::List) => "list".into(),
            Some(Route::Get(id)) => format!("get {id}"),
            Some(Route::Lock(id)) => format!("lock {id}"),
            Some(Route::Unlock(id)) => format!("unlock {id}"),
            Some(Route::Payment(id)) => format!("payment {id}"),
        };
        assert_eq!(p(Method::GET, "/v1/energy/orders"), "list");
        assert_eq!(p(Method::GET, "/v1/energy/orders/"), "list");
        assert_eq!(p(Method::GET, "/v1/energy/orders/o-1"), "get o-1");
        assert_eq!(p(Method::POST, "/v1/energy/orders/o-1/lock"), "lock o-1");
        assert_eq!(
            p(Method::POST, "/v1/energy/orders/o-1/unlock"),
            "unlock o-1"
        );
        assert_eq!(
            p(Method::POST, "/v1/energy/orders/o-1/payment"),
            "payment o-1"
        );
        for (m, path) in [
            (Method::POST, "/v1/energy/orders"),
            (Method::GET, "/v1/energy/orders/o-1/lock"),
            (Method::POST, "/v1/energy/orders/o-1/pay"),
            (Method::GET, "/v1/energy"),
            (Method::GET, "/v1/basket/o-1"),
            (Method::GET, "/v2/energy/orders"),
        ] {
            assert_eq!(p(m.clone(), path), "none", "{m} {path}");
        }
    }

    #[test]
    fn query_values_are_percent_decoded() {
        let c = call("plate=34%20abc+123&pumpNo=3&bad=%zz%4");
        assert_eq!(query(&c, "plate").as_deref(), Some("34 abc 123"));
        assert_eq!(query(&c, "pumpNo").as_deref(), Some("3"));
        assert_eq!(query(&c, "bad").as_deref(), Some("%zz%4"));
        assert_eq!(query(&c, "status"), None);
        assert_eq!(norm_plate(" 34 abc 123 "), "34ABC123");
    }

    #[test]
    fn states_parse_by_name() {
        for s in [
            OrderState::Open,
            OrderState::Locked,
            OrderState::Paid,
            OrderState::Completed,
        ] {
            assert_eq!(OrderState::parse(s.as_str()), Some(s));
        }
        assert_eq!(OrderState::parse("open"), Some(OrderState::Open));
        assert_eq!(OrderState::parse("CANCELLED"), None);
    }
}
