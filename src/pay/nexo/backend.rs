//! The nexo back end over HTTP: the session (`session.rs`) driven by a reqwest client on a
//! small tokio runtime of its own (`okc-nexo`), and — in full integration — the POS listener
//! (axum) that answers the terminal's display, print, signature, event and address requests.
//!
//! Exactly once: a payment's answer that is lost (connection dropped, read timeout) is
//! recovered with `TransactionStatus` (MessageReference = the payment's ServiceID) until the
//! terminal gives the outcome; the payment is never sent again while it may still complete.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::msg::{
    self, AbortRequest, Amount, ErrorCondition, LoginRequest, LogoutRequest, MessageCategory,
    MessageReference, PaymentRequest as NexoPayment, PaymentResponse, PaymentType, Request,
    ResponseBody, ResultCode, ReversalReason, ReversalRequest, SaleToPoiRequest, SaleToPoiResponse,
    TransactionId, TransactionStatusRequest,
};
use super::receipt::{decode_receipt, ReceiptKind};
use super::session::{assumptions, busy_delay, Session, SessionConfig, SessionError, Verdict};
use crate::pay::{
    EventFn, PayError, PaymentBackend, PaymentRequest, PaymentResult, Reconciled, TerminalEvent,
    Track, TxKind, Unfinished,
};
use crate::runtime::BackendRuntime;

/// How the signature question is answered when the application does not (or has no callback).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignaturePolicy {
    /// Accept (Swedbank: "always approve").
    Confirm,
    /// Refuse.
    Refuse,
}

/// Where the terminal is and how we talk to it (`nexo+http://HOST:PORT[?poiid=…&saleid=…]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NexoTarget {
    /// `HOST:PORT` of the terminal.
    pub address: String,
    pub poi_id: String,
    pub sale_id: String,
}

impl std::str::FromStr for NexoTarget {
    type Err = String;
    fn from_str(s: &str) -> Result<NexoTarget, String> {
        let t = s.trim();
        let rest = t.strip_prefix("nexo+http://").ok_or_else(|| {
            format!("{t:?}: a nexo terminal is nexo+http://HOST:PORT[?poiid=…&saleid=…]")
        })?;
        let (addr, query) = rest.split_once('?').unwrap_or((rest, ""));
        let addr = addr.trim_end_matches('/');
        if addr.is_empty() || !addr.contains(':') || addr.contains('/') {
            return Err(format!("{t:?}: expected HOST:PORT after nexo+http://"));
        }
        let mut target = NexoTarget {
            address: addr.to_string(),
            poi_id: "okclink-pos".into(),
            sale_id: "okclink".into(),
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if v.is_empty() || v.len() > 32 || !v.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!(
                    "{t:?}: {k} needs a value of 1-32 visible characters"
                ));
            }
            match k {
                "poiid" => target.poi_id = v.to_string(),
                "saleid" => target.sale_id = v.to_string(),
                o => return Err(format!("{t:?}: unknown parameter {o:?} (poiid, saleid)")),
            }
        }
        Ok(target)
    }
}

/// Settings of a nexo terminal.
#[derive(Clone)]
pub struct NexoSettings {
    pub target: NexoTarget,
    /// `IP:PORT` of the POS listener (full integration); None = client-only.
    pub listener: Option<String>,
    pub signature: SignaturePolicy,
    pub events: Option<EventFn>,
    /// Software identification sent at login.
    pub application_name: String,
    /// The daily maintenance logout (local seconds after midnight); None = only on request.
    pub maintenance_at: Option<u32>,
}

/// One job for the event thread: the event and, for a signature question, where to answer.
type EventJob = (TerminalEvent, Option<mpsc::Sender<Option<bool>>>);

struct Inner {
    url: Mutex<String>,
    http: reqwest::Client,
    session: Mutex<Session>,
    /// One payment / refund / reversal at a time.
    money: tokio::sync::Mutex<()>,
    /// The Service request in flight (category, ServiceID), for Abort.
    inflight: Mutex<Option<(MessageCategory, String)>>,
    /// The caller's reference → the payment's ServiceID (for status by reference).
    by_reference: Mutex<Vec<(String, String)>>,
    /// The last approved transaction (for a reversal).
    last_approved: Mutex<Option<(TransactionId, i64, String)>>,
    events: Option<mpsc::Sender<EventJob>>,
    signature: SignaturePolicy,
    app_name: String,
    listener_addr: Mutex<Option<SocketAddr>>,
    /// Logged out with MaintenanceAllowed: log in again when the terminal ends maintenance.
    in_maintenance: std::sync::atomic::AtomicBool,
}

/// The nexo [`PaymentBackend`].
pub struct NexoBackend {
    inner: Arc<Inner>,
    /// `HOST:PORT` as configured (the journal's scope: stays when the terminal moves).
    address: String,
    rt: BackendRuntime,
    stop: Arc<tokio::sync::Notify>,
}

fn now_local() -> chrono::DateTime<chrono::Local> {
    chrono::Local::now()
}

fn stamp() -> String {
    now_local().format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
}

fn seconds_of_day() -> u32 {
    use chrono::Timelike;
    now_local().num_seconds_from_midnight()
}

/// From `now` to the next `at` (both seconds after midnight): 1 s … 24 h (never 0, so a
/// window that just fired is not fired again).
pub(crate) fn until_time_of_day(now: u32, at: u32) -> Duration {
    const DAY: u32 = 24 * 3600;
    let d = (at % DAY + DAY - now % DAY) % DAY;
    Duration::from_secs(u64::from(if d == 0 { DAY } else { d }))
}

/// A transport failure: whether the request may have reached the terminal.
enum Sent {
    /// Never left (connection refused, DNS).
    No(String),
    /// May have arrived (timeout, connection lost mid-way).
    Maybe(String),
    /// Arrived and answered, but the answer is unreadable (bad XML, oversize): the request's
    /// effect is unknown, as for `Maybe`.
    Garbled(String),
}

impl Sent {
    /// The error when the request's effect does not matter (login, status, logout).
    fn into_error(self) -> PayError {
        match self {
            Sent::No(e) | Sent::Maybe(e) => PayError::Unreachable(e),
            Sent::Garbled(e) => PayError::Protocol(e),
        }
    }
}

impl Inner {
    fn emit(&self, e: TerminalEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send((e, None));
        }
    }

    /// POST one request; Ok(None) for 204.
    async fn post(
        &self,
        req: &SaleToPoiRequest,
        timeout: Duration,
    ) -> Result<Option<SaleToPoiResponse>, Sent> {
        let url = format!("http://{}/EPASSaleToPOI/3.1", self.url.lock());
        let body = msg::write_request(req);
        let resp = self
            .http
            .post(&url)
            .header("content-type", "application/xml; charset=utf-8")
            .timeout(timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    Sent::No(format!("cannot connect to {url}: {e}"))
                } else {
                    Sent::Maybe(format!("{url}: {e}"))
                }
            })?;
        let status = resp.status().as_u16();
        // Read at most MAX_XML_BYTES: a terminal (or anything else on that port) cannot make
        // us buffer more.
        let mut resp = resp;
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| Sent::Maybe(format!("{url}: answer lost: {e}")))?
        {
            if bytes.len() + chunk.len() > msg::MAX_XML_BYTES {
                return Err(Sent::Garbled(format!(
                    "{url}: answer larger than {} bytes",
                    msg::MAX_XML_BYTES
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        if status == 204 {
            return Ok(None);
        }
        if status != 200 {
            return Err(Sent::Maybe(format!("{url}: HTTP {status}")));
        }
        msg::read_response(&bytes)
            .map(Some)
            .map_err(|e| Sent::Garbled(format!("{url}: unreadable answer: {e}")))
    }

    /// Log in (Busy → wait and retry).
    async fn login(&self) -> Result<(), PayError> {
        for attempt in 0.. {
            let req = {
                let mut s = self.session.lock();
                s.begin_login(seconds_of_day());
                let caps = s.capabilities();
                s.request(Request::Login(LoginRequest {
                    date_time: stamp(),
                    operator_language: assumptions::OPERATOR_LANGUAGE.into(),
                    operator_id: None,
                    shift_number: None,
                    provider_identification: "okclink".into(),
                    application_name: self.app_name.clone(),
                    software_version: env!("CARGO_PKG_VERSION").into(),
                    sale_capabilities: caps,
                }))
                .expect("login is always allowed")
            };
            let resp = match self.post(&req, assumptions::REQUEST_TIMEOUT).await {
                Ok(Some(r)) => r,
                Ok(None) => return Err(PayError::Protocol("login answered 204".into())),
                Err(s) => return Err(s.into_error()),
            };
            let verdict = self.session.lock().on_response(&resp);
            let logged_in = self.session.lock().is_logged_in();
            match verdict {
                Verdict::Busy => match busy_delay(attempt) {
                    Some(d) => tokio::time::sleep(d).await,
                    None => return Err(refused(&resp, "login")),
                },
                _ if logged_in => return Ok(()),
                _ => return Err(refused(&resp, "login")),
            }
        }
        unreachable!()
    }

    async fn ensure_login(&self) -> Result<(), PayError> {
        if self.session.lock().is_logged_in() {
            return Ok(());
        }
        self.login().await
    }

    /// Send `body` as a Service request with the Busy / NotAllowed rules; the final answer.
    async fn service(
        &self,
        make: &(dyn Fn() -> Request + Send + Sync),
        timeout: Duration,
        track: Option<&Track>,
    ) -> Result<(SaleToPoiRequest, Result<Option<SaleToPoiResponse>, Sent>), PayError> {
        self.ensure_login().await?;
        let mut relogged = false;
        let mut attempt = 0;
        loop {
            let asked = self.session.lock().request(make());
            let req = match asked {
                Ok(r) => r,
                Err(SessionError::NotLoggedIn) => {
                    self.login().await?;
                    continue;
                }
                Err(SessionError::Outstanding(what)) => {
                    return Err(PayError::Refused {
                        condition: "Busy".into(),
                        text: format!("another request is outstanding ({what})"),
                    })
                }
            };
            let sid = req.header.service_id.clone().unwrap_or_default();
            if let Some(t) = track {
                // The journal's `sent`, before the request leaves (an error: do not send).
                if let Err(e) = t.sent(&format!("{SERVICE_ID_HANDLE}{sid}")) {
                    self.session.lock().finished(&sid);
                    return Err(e);
                }
            }
            *self.inflight.lock() = Some((req.header.message_category.clone(), sid.clone()));
            let r = self.post(&req, timeout).await;
            *self.inflight.lock() = None;
            let verdict = match &r {
                Ok(Some(resp)) => self.session.lock().on_response(resp),
                _ => {
                    self.session.lock().finished(&sid);
                    Verdict::Final
                }
            };
            match verdict {
                Verdict::Busy => match busy_delay(attempt) {
                    Some(d) => {
                        attempt += 1;
                        tokio::time::sleep(d).await;
                    }
                    None => return Ok((req, r)),
                },
                Verdict::LoginNeeded if !relogged => {
                    relogged = true;
                    self.login().await?;
                }
                _ => return Ok((req, r)),
            }
        }
    }

    async fn pay(
        &self,
        kind: TxKind,
        r: &PaymentRequest,
        track: &Track,
    ) -> Result<PaymentResult, PayError> {
        let _one = self.money.lock().await;
        let stamp0 = stamp();
        let (reference, currency, amount) = (r.reference.clone(), r.currency.clone(), r.amount);
        let make = move || {
            Request::Payment(NexoPayment {
                sale_transaction_id: TransactionId {
                    transaction_id: reference.clone(),
                    time_stamp: stamp0.clone(),
                },
                token_requested: false,
                sale_to_acquirer_data: None,
                currency: currency.clone(),
                requested_amount: Amount(amount, 2),
                cash_back_amount: None,
                payment_type: if kind == TxKind::Refund {
                    PaymentType::Refund
                } else {
                    PaymentType::Normal
                },
                card_acquisition_reference: None,
            })
        };
        let (req, answer) = self
            .service(&make, assumptions::PAYMENT_TIMEOUT, Some(track))
            .await?;
        let sid = req.header.service_id.clone().unwrap_or_default();
        self.by_reference
            .lock()
            .push((r.reference.clone(), sid.clone()));
        let resp = match answer {
            Ok(Some(resp)) => resp,
            Ok(None) => return Err(PayError::Protocol("payment answered 204".into())),
            Err(Sent::No(e)) => return Err(PayError::Unreachable(e)),
            Err(Sent::Maybe(e) | Sent::Garbled(e)) => self.recover(&sid, &e).await?,
        };
        mark_effect(track, &resp);
        let result = self.result_of(kind, &r.reference, &resp)?;
        if result.approved {
            if let (Some(id), Some(ts)) = (&result.transaction_id, &result.timestamp) {
                *self.last_approved.lock() = Some((
                    TransactionId {
                        transaction_id: id.clone(),
                        time_stamp: ts.clone(),
                    },
                    result.amount,
                    result.currency.clone(),
                ));
            }
        }
        Ok(result)
    }

    /// The payment's answer was lost: ask TransactionStatus until the terminal knows.
    async fn recover(&self, service_id: &str, why: &str) -> Result<SaleToPoiResponse, PayError> {
        let deadline = Instant::now() + assumptions::RECOVERY_LIMIT;
        let mut last = why.to_string();
        loop {
            if Instant::now() >= deadline {
                return Err(PayError::OutcomeUnknown(format!(
                    "the payment's answer was lost ({why}) and the terminal did not tell its \
                     outcome within {} s (last: {last}); ask the status later, never pay again blindly",
                    assumptions::RECOVERY_LIMIT.as_secs()
                )));
            }
            let sid = service_id.to_string();
            let (sale, poi) = {
                let s = self.session.lock();
                (s.config().sale_id.clone(), s.config().poi_id.clone())
            };
            let ask = {
                let mut s = self.session.lock();
                s.request(Request::TransactionStatus(TransactionStatusRequest {
                    reference: Some(MessageReference {
                        category: Some(MessageCategory::Payment),
                        service_id: Some(sid.clone()),
                        sale_id: Some(sale),
                        poi_id: Some(poi),
                    }),
                }))
            };
            let ask = match ask {
                Ok(a) => a,
                Err(_) => {
                    self.login().await.ok();
                    tokio::time::sleep(assumptions::RECOVERY_INTERVAL).await;
                    continue;
                }
            };
            match self.post(&ask, assumptions::REQUEST_TIMEOUT).await {
                Ok(Some(resp)) => {
                    let verdict = self.session.lock().on_response(&resp);
                    if let ResponseBody::TransactionStatus(t) = &resp.body {
                        if t.response.result == ResultCode::Success {
                            if let Some((h, body)) = &t.repeated {
                                if h.service_id.as_deref() == Some(service_id) {
                                    return Ok(SaleToPoiResponse {
                                        header: h.clone(),
                                        body: (**body).clone(),
                                    });
                                }
                            }
                            last = "the terminal's last transaction is another one".into();
                        } else if t.response.error_condition == Some(ErrorCondition::NotFound) {
                            // The terminal never reached a result for it: nothing was charged.
                            return Ok(not_found_payment(&resp, service_id));
                        } else {
                            last = format!("{:?}", t.response.error_condition);
                        }
                    }
                    if verdict == Verdict::LoginNeeded {
                        self.login().await.ok();
                    }
                }
                Ok(None) => last = "TransactionStatus answered 204".into(),
                Err(Sent::No(e) | Sent::Maybe(e) | Sent::Garbled(e)) => last = e,
            }
            tokio::time::sleep(assumptions::RECOVERY_INTERVAL).await;
        }
    }

    fn result_of(
        &self,
        kind: TxKind,
        reference: &str,
        resp: &SaleToPoiResponse,
    ) -> Result<PaymentResult, PayError> {
        let raw = msg::write_response(resp);
        match &resp.body {
            ResponseBody::Payment(p) => Ok(payment_result(kind, reference, p, raw)),
            ResponseBody::Reversal(r) => {
                let mut out = PaymentResult {
                    approved: r.response.result == ResultCode::Success,
                    kind: TxKind::Reversal.as_str().into(),
                    reason: reason(&r.response),
                    reference: reference.to_string(),
                    transaction_id: r
                        .poi_transaction_id
                        .as_ref()
                        .map(|t| t.transaction_id.clone()),
                    timestamp: r.poi_transaction_id.as_ref().map(|t| t.time_stamp.clone()),
                    raw,
                    ..Default::default()
                };
                receipts_into(&mut out, &r.receipts);
                Ok(out)
            }
            other => Err(PayError::Protocol(format!(
                "expected a payment answer, got {}",
                body_name(other)
            ))),
        }
    }
}

fn body_name(b: &ResponseBody) -> String {
    match b {
        ResponseBody::Other(n, _) => n.clone(),
        other => format!("{other:?}")
            .split(['(', ' '])
            .next()
            .unwrap_or("?")
            .to_string(),
    }
}

fn reason(r: &msg::Response) -> Option<String> {
    if r.result == ResultCode::Success {
        return None;
    }
    let cond = r
        .error_condition
        .as_ref()
        .map(|c| format!("{c:?}"))
        .unwrap_or_else(|| "Failure".into());
    Some(match &r.additional_response {
        Some(t) if !t.is_empty() => format!("{cond}: {t}"),
        _ => cond,
    })
}

fn refused(resp: &SaleToPoiResponse, what: &str) -> PayError {
    let r = super::session::response_of(&resp.body);
    PayError::Refused {
        condition: r
            .and_then(|r| r.error_condition.as_ref())
            .map(|c| format!("{c:?}"))
            .unwrap_or_else(|| "Failure".into()),
        text: r
            .and_then(|r| r.additional_response.clone())
            .unwrap_or_else(|| format!("{what} refused")),
    }
}

/// How a request's ServiceID is kept as its journal handle (`ServiceID 123456`).
const SERVICE_ID_HANDLE: &str = "ServiceID ";

/// How long the start-up recovery (and a call with a reference left in doubt) asks the
/// terminal about one request before it stays in doubt: 20 s (the payment itself is over
/// by then; a terminal that is off is not waited for as long as [`assumptions::RECOVERY_LIMIT`]).
const RECONCILE_LIMIT: Duration = Duration::from_secs(20);

/// Tell the journal what a final answer means when it is not a card's result: the terminal
/// refused the request without effect (busy, not logged in, a format error: `failed`, the
/// reference may be used again), or had no record of it after a lost answer (`not sent`).
fn mark_effect(track: &Track, resp: &SaleToPoiResponse) {
    let Some(r) = super::session::response_of(&resp.body) else {
        return;
    };
    if r.result == ResultCode::Success {
        return;
    }
    let why = reason(r).unwrap_or_default();
    match &r.error_condition {
        Some(ErrorCondition::NotFound) => track.not_sent(&why),
        Some(
            ErrorCondition::Busy
            | ErrorCondition::NotAllowed
            | ErrorCondition::LoggedOut
            | ErrorCondition::MessageFormat
            | ErrorCondition::UnavailableService
            | ErrorCondition::InProgress,
        ) => track.failed(&why),
        _ => {}
    }
}

/// A declined result for a payment the terminal has no record of.
fn not_found_payment(resp: &SaleToPoiResponse, _service_id: &str) -> SaleToPoiResponse {
    SaleToPoiResponse {
        header: resp.header.clone(),
        body: ResponseBody::Payment(PaymentResponse {
            response: msg::Response {
                result: ResultCode::Failure,
                error_condition: Some(ErrorCondition::NotFound),
                additional_response: Some(
                    "the terminal has no record of the payment: not charged".into(),
                ),
            },
            sale_transaction_id: None,
            poi_transaction_id: None,
            payment_type: None,
            payment_brand: None,
            masked_pan: None,
            entry_mode: None,
            token: None,
            currency: None,
            authorized_amount: None,
            merchant_id: None,
            approval_code: None,
            receipts: Vec::new(),
        }),
    }
}

fn receipts_into(out: &mut PaymentResult, docs: &[msg::ReceiptDoc]) {
    for d in docs {
        if let Ok(r) = decode_receipt(d) {
            match r.kind {
                ReceiptKind::Customer => out.customer_receipt = r.lines,
                ReceiptKind::Merchant => {
                    out.signature_required |= r.signature_required;
                    out.merchant_receipt = r.lines
                }
            }
        }
    }
}

fn payment_result(
    kind: TxKind,
    reference: &str,
    p: &PaymentResponse,
    raw: String,
) -> PaymentResult {
    let approved = p.response.result == ResultCode::Success;
    let mut out = PaymentResult {
        approved,
        kind: kind.as_str().into(),
        reason: reason(&p.response),
        amount: if approved {
            p.authorized_amount.as_ref().map_or(0, |a| a.0)
        } else {
            0
        },
        currency: p.currency.clone().unwrap_or_default(),
        masked_pan: p.masked_pan.clone(),
        brand: p.payment_brand.clone(),
        entry_mode: p.entry_mode.clone(),
        approval_code: p.approval_code.clone(),
        transaction_id: p
            .poi_transaction_id
            .as_ref()
            .map(|t| t.transaction_id.clone()),
        timestamp: p.poi_transaction_id.as_ref().map(|t| t.time_stamp.clone()),
        reference: reference.to_string(),
        raw,
        ..Default::default()
    };
    receipts_into(&mut out, &p.receipts);
    out
}

impl NexoBackend {
    /// Start the runtime (and the POS listener in full integration). No request is sent
    /// before the first call.
    pub fn start(s: NexoSettings) -> Result<NexoBackend, PayError> {
        let rt = BackendRuntime::new("okc-nexo")
            .map_err(|e| PayError::Config(format!("cannot start the nexo runtime: {e}")))?;
        let handle = rt.handle().clone();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .no_proxy()
            .build()
            .map_err(|e| PayError::Config(format!("cannot build the HTTP client: {e}")))?;
        let events = s.events.clone().map(|cb| {
            let (tx, rx) = mpsc::channel::<EventJob>();
            std::thread::Builder::new()
                .name("okc-pay-events".into())
                .spawn(move || {
                    for (e, answer) in rx {
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(&e)))
                            .unwrap_or(None);
                        if let Some(a) = answer {
                            let _ = a.send(r);
                        }
                    }
                })
                .map(|_| tx)
        });
        let events = match events {
            Some(Ok(tx)) => Some(tx),
            Some(Err(e)) => return Err(PayError::Config(format!("cannot start a thread: {e}"))),
            None => None,
        };
        let inner = Arc::new(Inner {
            url: Mutex::new(s.target.address.clone()),
            http,
            session: Mutex::new(Session::new(SessionConfig {
                sale_id: s.target.sale_id.clone(),
                poi_id: s.target.poi_id.clone(),
                full_integration: s.listener.is_some(),
            })),
            money: tokio::sync::Mutex::new(()),
            inflight: Mutex::new(None),
            by_reference: Mutex::new(Vec::new()),
            last_approved: Mutex::new(None),
            events,
            signature: s.signature,
            app_name: s.application_name.clone(),
            listener_addr: Mutex::new(None),
            in_maintenance: std::sync::atomic::AtomicBool::new(false),
        });
        let stop = Arc::new(tokio::sync::Notify::new());
        if let Some(listen) = &s.listener {
            let l = handle
                .block_on(tokio::net::TcpListener::bind(listen.as_str()))
                .map_err(|e| {
                    PayError::Config(format!("POS listener cannot listen on {listen}: {e}"))
                })?;
            *inner.listener_addr.lock() = l.local_addr().ok();
            let app = listener::router(inner.clone());
            let stop2 = stop.clone();
            handle.spawn(async move {
                let _ = axum::serve(l, app)
                    .with_graceful_shutdown(async move { stop2.notified().await })
                    .await;
            });
        }
        if let Some(at) = s.maintenance_at {
            let (i, stop3) = (inner.clone(), stop.clone());
            handle.spawn(async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(until_time_of_day(seconds_of_day(), at)) => {}
                        _ = stop3.notified() => return,
                    }
                    i.maintenance_logout("the daily maintenance window").await;
                }
            });
        }
        Ok(NexoBackend {
            inner,
            address: s.target.address.clone(),
            rt,
            stop,
        })
    }

    /// Run `fut` on the runtime and wait for it (a payment waits for the customer; every
    /// request below has its own HTTP timeout).
    fn run<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = Result<T, PayError>> + Send + 'static,
    ) -> Result<T, PayError> {
        self.rt.run(fut, None).unwrap_or(Err(PayError::Closed))
    }
}

impl PaymentBackend for NexoBackend {
    fn pay(&self, kind: TxKind, req: &PaymentRequest) -> Result<PaymentResult, PayError> {
        self.pay_tracked(kind, req, &Track::none())
    }

    fn pay_tracked(
        &self,
        kind: TxKind,
        req: &PaymentRequest,
        track: &Track,
    ) -> Result<PaymentResult, PayError> {
        let inner = self.inner.clone();
        let (req, track) = (req.clone(), track.clone());
        self.run(async move { inner.pay(kind, &req, &track).await })
    }

    fn reverse_last(&self) -> Result<PaymentResult, PayError> {
        self.reverse_tracked(None, &Track::none())
    }

    fn reverse_tracked(
        &self,
        original: Option<&PaymentResult>,
        track: &Track,
    ) -> Result<PaymentResult, PayError> {
        let inner = self.inner.clone();
        let track = track.clone();
        let original = original.and_then(|o| {
            Some((
                TransactionId {
                    transaction_id: o.transaction_id.clone()?,
                    time_stamp: o.timestamp.clone()?,
                },
                o.amount,
                o.currency.clone(),
            ))
        });
        self.run(async move { inner.reverse(original, &track).await })
    }

    fn scope(&self) -> String {
        let s = self.inner.session.lock();
        format!("{}@{}", s.config().poi_id, self.address)
    }

    fn reconcile(&self, op: &Unfinished) -> Reconciled {
        let inner = self.inner.clone();
        let op = op.clone();
        self.run(async move { Ok(inner.reconcile(&op).await) })
            .unwrap_or_else(|e| Reconciled::Unknown(e.to_string()))
    }

    fn abort(&self) -> Result<(), PayError> {
        let inner = self.inner.clone();
        self.run(async move {
            let target = inner.inflight.lock().clone();
            let Some((category, sid)) = target else {
                return Err(PayError::Refused {
                    condition: "NotFound".into(),
                    text: "nothing to abort".into(),
                });
            };
            let req = {
                let mut s = inner.session.lock();
                let (sale, poi) = (s.config().sale_id.clone(), s.config().poi_id.clone());
                s.request(Request::Abort(AbortRequest {
                    category,
                    service_id: sid,
                    sale_id: sale,
                    poi_id: poi,
                    reason: assumptions::ABORT_REASON.into(),
                }))
                .map_err(|e| PayError::Refused {
                    condition: "NotAllowed".into(),
                    text: format!("{e:?}"),
                })?
            };
            match inner.post(&req, assumptions::REQUEST_TIMEOUT).await {
                Ok(None) => Ok(()),
                Ok(Some(resp)) => Err(refused(&resp, "abort")),
                Err(s) => Err(s.into_error()),
            }
        })
    }

    fn status(&self, reference: Option<&str>) -> Result<PaymentResult, PayError> {
        let inner = self.inner.clone();
        let reference = reference.map(str::to_string);
        self.run(async move {
            inner.ensure_login().await?;
            let sid = reference.as_ref().and_then(|r| {
                inner
                    .by_reference
                    .lock()
                    .iter()
                    .rev()
                    .find(|(x, _)| x == r)
                    .map(|(_, s)| s.clone())
            });
            if reference.is_some() && sid.is_none() {
                return Err(PayError::Refused {
                    condition: "NotFound".into(),
                    text: "no payment with this reference in this session".into(),
                });
            }
            let req = {
                let mut s = inner.session.lock();
                let (sale, poi) = (s.config().sale_id.clone(), s.config().poi_id.clone());
                s.request(Request::TransactionStatus(TransactionStatusRequest {
                    reference: sid.map(|service_id| MessageReference {
                        category: Some(MessageCategory::Payment),
                        service_id: Some(service_id),
                        sale_id: Some(sale),
                        poi_id: Some(poi),
                    }),
                }))
                .map_err(|e| PayError::Refused {
                    condition: "NotAllowed".into(),
                    text: format!("{e:?}"),
                })?
            };
            let resp = match inner.post(&req, assumptions::REQUEST_TIMEOUT).await {
                Ok(Some(r)) => r,
                Ok(None) => return Err(PayError::Protocol("status answered 204".into())),
                Err(s) => return Err(s.into_error()),
            };
            inner.session.lock().on_response(&resp);
            match &resp.body {
                ResponseBody::TransactionStatus(t) if t.response.result == ResultCode::Success => {
                    match &t.repeated {
                        Some((h, body)) => {
                            let orig = SaleToPoiResponse {
                                header: h.clone(),
                                body: (**body).clone(),
                            };
                            let kind = match &orig.body {
                                ResponseBody::Reversal(_) => TxKind::Reversal,
                                ResponseBody::Payment(p)
                                    if p.payment_type == Some(PaymentType::Refund) =>
                                {
                                    TxKind::Refund
                                }
                                _ => TxKind::Payment,
                            };
                            let r = reference.clone().unwrap_or_default();
                            inner.result_of(kind, &r, &orig)
                        }
                        None => Err(PayError::Protocol(
                            "status without the repeated answer".into(),
                        )),
                    }
                }
                _ => Err(refused(&resp, "status")),
            }
        })
    }

    fn batch_close(&self) -> Result<String, PayError> {
        Err(PayError::Unsupported(
            "Swedbank Pay PAX terminals settle on their own; nexo has no batch close for them"
                .into(),
        ))
    }

    fn login(&self) -> Result<(), PayError> {
        let inner = self.inner.clone();
        self.run(async move { inner.login().await })
    }

    fn logout(&self, maintenance_allowed: bool) -> Result<(), PayError> {
        let inner = self.inner.clone();
        self.run(async move { inner.logout(maintenance_allowed).await })
    }

    fn listener_addr(&self) -> Option<SocketAddr> {
        *self.inner.listener_addr.lock()
    }

    fn close(&self) {
        self.stop.notify_waiters();
        self.rt.shutdown(Duration::from_secs(2));
    }
}

impl Inner {
    /// Reverse `original` (None: this process's last approved payment, else the terminal's
    /// last transaction).
    async fn reverse(
        &self,
        original: Option<(TransactionId, i64, String)>,
        track: &Track,
    ) -> Result<PaymentResult, PayError> {
        let _one = self.money.lock().await;
        let known = original.or_else(|| self.last_approved.lock().clone());
        let (original, amount, currency) = match known {
            Some(k) => k,
            // Not from this process: ask the terminal for its last transaction.
            None => self.last_from_terminal().await?,
        };
        let (sale, poi) = {
            let s = self.session.lock();
            (s.config().sale_id.clone(), s.config().poi_id.clone())
        };
        let make = move || {
            Request::Reversal(ReversalRequest {
                reason: ReversalReason::MerchantCancel,
                sale_id: sale.clone(),
                poi_id: poi.clone(),
                original: original.clone(),
            })
        };
        let (_req, answer) = self
            .service(&make, assumptions::REQUEST_TIMEOUT, Some(track))
            .await?;
        match answer {
            Ok(Some(resp)) => {
                mark_effect(track, &resp);
                let mut r = self.result_of(TxKind::Reversal, "", &resp)?;
                if r.approved {
                    *self.last_approved.lock() = None;
                    r.amount = amount;
                }
                r.currency = currency;
                Ok(r)
            }
            Ok(None) => Err(PayError::Protocol("reversal answered 204".into())),
            Err(Sent::No(e)) => Err(PayError::Unreachable(e)),
            Err(Sent::Maybe(e) | Sent::Garbled(e)) => Err(PayError::OutcomeUnknown(format!(
                "the reversal's answer was lost ({e}); ask the status"
            ))),
        }
    }

    /// Ask the terminal about a request the journal has without an answer: TransactionStatus
    /// by its ServiceID when the journal kept it, else the terminal's last transaction of
    /// this SaleID (ours when its SaleTransactionID is the reference). Never sends the
    /// request itself. Gives up after [`RECONCILE_LIMIT`].
    async fn reconcile(&self, op: &Unfinished) -> Reconciled {
        let _one = self.money.lock().await;
        let sid = op
            .handle
            .as_deref()
            .and_then(|h| h.strip_prefix(SERVICE_ID_HANDLE))
            .map(str::to_string);
        let category = if op.kind == TxKind::Reversal {
            MessageCategory::Reversal
        } else {
            MessageCategory::Payment
        };
        let by = match &sid {
            Some(s) => format!("TransactionStatus for ServiceID {s}"),
            None => "TransactionStatus for the terminal's last transaction".to_string(),
        };
        let deadline = Instant::now() + RECONCILE_LIMIT;
        let mut last = String::from("no answer yet");
        loop {
            if Instant::now() >= deadline {
                return Reconciled::Unknown(format!(
                    "{by}: the terminal did not tell the outcome within {} s (last: {last})",
                    RECONCILE_LIMIT.as_secs()
                ));
            }
            if let Err(e) = self.ensure_login().await {
                last = e.to_string();
                tokio::time::sleep(assumptions::RECOVERY_INTERVAL).await;
                continue;
            }
            let ask = {
                let mut s = self.session.lock();
                let (sale, poi) = (s.config().sale_id.clone(), s.config().poi_id.clone());
                s.request(Request::TransactionStatus(TransactionStatusRequest {
                    reference: sid.clone().map(|service_id| MessageReference {
                        category: Some(category.clone()),
                        service_id: Some(service_id),
                        sale_id: Some(sale),
                        poi_id: Some(poi),
                    }),
                }))
            };
            let Ok(ask) = ask else {
                self.login().await.ok();
                tokio::time::sleep(assumptions::RECOVERY_INTERVAL).await;
                continue;
            };
            match self.post(&ask, assumptions::REQUEST_TIMEOUT).await {
                Ok(Some(resp)) => {
                    let verdict = self.session.lock().on_response(&resp);
                    if let ResponseBody::TransactionStatus(t) = &resp.body {
                        if t.response.result == ResultCode::Success {
                            let Some((h, body)) = &t.repeated else {
                                return Reconciled::Unknown(format!(
                                    "{by}: the answer has no repeated response"
                                ));
                            };
                            let same_sale = match &**body {
                                ResponseBody::Payment(p) => p
                                    .sale_transaction_id
                                    .as_ref()
                                    .map(|x| x.transaction_id == op.reference),
                                _ => None,
                            };
                            let ours = match &sid {
                                Some(s) => {
                                    h.service_id.as_deref() == Some(s.as_str())
                                        && same_sale != Some(false)
                                }
                                None => match &**body {
                                    ResponseBody::Payment(_) => same_sale == Some(true),
                                    ResponseBody::Reversal(_) => op.kind == TxKind::Reversal,
                                    _ => false,
                                },
                            };
                            if !ours {
                                return Reconciled::Unknown(format!(
                                    "{by}: the terminal's transaction is another one (ours may                                      be older: check the terminal's journal)"
                                ));
                            }
                            let orig = SaleToPoiResponse {
                                header: h.clone(),
                                body: (**body).clone(),
                            };
                            return match self.result_of(op.kind, &op.reference, &orig) {
                                Ok(mut r) => {
                                    if op.kind == TxKind::Reversal && r.approved {
                                        r.amount = op.amount;
                                    }
                                    Reconciled::Answered(r)
                                }
                                Err(e) => Reconciled::Unknown(format!("{by}: {e}")),
                            };
                        }
                        match &t.response.error_condition {
                            Some(ErrorCondition::NotFound) => {
                                return Reconciled::NotSent(format!(
                                    "{by}: the terminal has no record of it (not charged)"
                                ))
                            }
                            c => last = format!("{c:?}"),
                        }
                    }
                    if verdict == Verdict::LoginNeeded {
                        self.login().await.ok();
                    }
                }
                Ok(None) => last = "TransactionStatus answered 204".into(),
                Err(Sent::No(e) | Sent::Maybe(e) | Sent::Garbled(e)) => last = e,
            }
            tokio::time::sleep(assumptions::RECOVERY_INTERVAL).await;
        }
    }

    /// The terminal's last transaction (TransactionStatus without a reference), when it is an
    /// approved payment: its POITransactionID.
    async fn last_from_terminal(&self) -> Result<(TransactionId, i64, String), PayError> {
        self.ensure_login().await?;
        let req = self
            .session
            .lock()
            .request(Request::TransactionStatus(TransactionStatusRequest {
                reference: None,
            }))
            .map_err(|e| PayError::Refused {
                condition: "Busy".into(),
                text: format!("{e:?}"),
            })?;
        let resp = match self.post(&req, assumptions::REQUEST_TIMEOUT).await {
            Ok(Some(r)) => r,
            Ok(None) => return Err(PayError::Protocol("status answered 204".into())),
            Err(s) => return Err(s.into_error()),
        };
        self.session.lock().on_response(&resp);
        if let ResponseBody::TransactionStatus(t) = &resp.body {
            if let Some((_, body)) = &t.repeated {
                if let ResponseBody::Payment(p) = &**body {
                    if p.response.result == ResultCode::Success {
                        if let Some(id) = &p.poi_transaction_id {
                            return Ok((
                                id.clone(),
                                p.authorized_amount.map_or(0, |a| a.0),
                                p.currency.clone().unwrap_or_default(),
                            ));
                        }
                    }
                }
            }
        }
        Err(PayError::Refused {
            condition: "NotFound".into(),
            text: "the terminal's last transaction is not an approved payment".into(),
        })
    }

    /// Log out with MaintenanceAllowed once no payment is in flight (the daily window, the
    /// terminal's SaleAdmin request); the next call, or the terminal's EndMaintenance, logs
    /// in again.
    async fn maintenance_logout(&self, why: &str) {
        let _one = self.money.lock().await;
        if !self.session.lock().is_logged_in() {
            return;
        }
        if self.logout(true).await.is_ok() {
            self.emit(TerminalEvent::Session {
                logged_in: false,
                reason: format!("logged out for the terminal's maintenance ({why})"),
            });
        }
    }

    /// The terminal ended its maintenance: log in again if we logged out for it.
    async fn maintenance_ended(&self) {
        use std::sync::atomic::Ordering;
        let _one = self.money.lock().await;
        if !self.in_maintenance.swap(false, Ordering::SeqCst) {
            return;
        }
        if self.ensure_login().await.is_ok() {
            self.emit(TerminalEvent::Session {
                logged_in: true,
                reason: "logged in again after the terminal's maintenance".into(),
            });
        }
    }

    /// Log out (Busy → wait and retry). Logged out already → Ok.
    async fn logout(&self, maintenance_allowed: bool) -> Result<(), PayError> {
        let mut attempt = 0;
        loop {
            if !self.session.lock().is_logged_in() {
                return Ok(());
            }
            let req = self
                .session
                .lock()
                .request(Request::Logout(LogoutRequest {
                    maintenance_allowed,
                }))
                .map_err(|e| PayError::Refused {
                    condition: "Busy".into(),
                    text: format!("{e:?}"),
                })?;
            let sid = req.header.service_id.clone().unwrap_or_default();
            let resp = match self.post(&req, assumptions::REQUEST_TIMEOUT).await {
                Ok(Some(resp)) => resp,
                Ok(None) => {
                    self.session.lock().finished(&sid);
                    return Err(PayError::Protocol("logout answered 204".into()));
                }
                Err(Sent::No(e)) => {
                    self.session.lock().finished(&sid);
                    return Err(PayError::Unreachable(e));
                }
                Err(Sent::Maybe(e) | Sent::Garbled(e)) => {
                    // It may have logged out: the next call logs in (a new login is allowed).
                    self.session.lock().logged_out();
                    return Err(PayError::Unreachable(e));
                }
            };
            let verdict = self.session.lock().on_response(&resp);
            if verdict == Verdict::Busy {
                match busy_delay(attempt) {
                    Some(d) => {
                        attempt += 1;
                        tokio::time::sleep(d).await;
                        continue;
                    }
                    None => return Err(refused(&resp, "logout")),
                }
            }
            // Success, or the terminal had no session for us (NotAllowed / LoggedOut).
            if self.session.lock().is_logged_in() {
                return Err(refused(&resp, "logout"));
            }
            self.session.lock().logged_out();
            self.in_maintenance
                .store(maintenance_allowed, std::sync::atomic::Ordering::SeqCst);
            return Ok(());
        }
    }
}

/// The POS listener: the terminal's requests in full integration.
mod listener {
    use std::sync::Arc;

    use axum::body::Bytes;
    use axum::extract::{DefaultBodyLimit, State};
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use axum::Router;

    use super::super::msg::{self, MessageType, Request, ResponseBody, ResultCode};
    use super::{Inner, SignaturePolicy};
    use crate::pay::TerminalEvent;

    pub(super) fn router(inner: Arc<Inner>) -> Router {
        Router::new()
            .route("/EPASSaleToPOI/3.1", axum::routing::post(handle))
            .route("/EPASSaleToPOI/3.1/", axum::routing::post(handle))
            .layer(DefaultBodyLimit::max(msg::MAX_XML_BYTES))
            .with_state(inner)
    }

    fn no_content() -> Response {
        StatusCode::NO_CONTENT.into_response()
    }

    async fn handle(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
        let req = match msg::read_request(&body) {
            Ok(r) => r,
            Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}")).into_response(),
        };
        match req.body {
            Request::Display(d) => {
                inner.emit(TerminalEvent::Display(d.lines));
                no_content()
            }
            Request::Print(p) => {
                inner.emit(TerminalEvent::Print {
                    document: p.document_qualifier,
                    lines: p.lines,
                });
                no_content()
            }
            Request::Event(e) => {
                inner.emit(TerminalEvent::Notification {
                    event: e.event_to_notify.clone(),
                    details: e.event_details.clone(),
                });
                if e.event_to_notify == "SaleAdmin" && e.maintenance_required == Some(true) {
                    // Maintenance: log out with MaintenanceAllowed (after a payment in
                    // flight); EndMaintenance (or the next call) logs in again.
                    let i = inner.clone();
                    tokio::spawn(async move {
                        i.maintenance_logout("the terminal asked (SaleAdmin)").await;
                    });
                } else if e.event_to_notify == "EndMaintenance" {
                    let i = inner.clone();
                    tokio::spawn(async move { i.maintenance_ended().await });
                }
                no_content()
            }
            Request::Transmit(t) => {
                if let Some(a) = t.terminal_address() {
                    *inner.url.lock() = a.clone();
                    inner.emit(TerminalEvent::AddressChanged(a));
                }
                no_content()
            }
            Request::Input(i) if i.input_command == "GetConfirmation" => {
                let answer = ask(&inner, i.question).await;
                let mut header = req.header.clone();
                header.message_type = MessageType::Response;
                header.protocol_version = None;
                let resp = msg::SaleToPoiResponse {
                    header,
                    body: ResponseBody::Input(msg::InputResponse {
                        confirmed: Some(answer),
                        result: msg::Response {
                            result: ResultCode::Success,
                            error_condition: None,
                            additional_response: None,
                        },
                    }),
                };
                (
                    StatusCode::OK,
                    [("content-type", "application/xml; charset=utf-8")],
                    msg::write_response(&resp),
                )
                    .into_response()
            }
            _ => no_content(),
        }
    }

    /// The signature question: the application's answer within the timeout, else the policy.
    async fn ask(inner: &Arc<Inner>, question: Vec<String>) -> bool {
        let policy = inner.signature == SignaturePolicy::Confirm;
        let Some(tx) = &inner.events else {
            return policy;
        };
        let (atx, arx) = std::sync::mpsc::channel();
        if tx
            .send((TerminalEvent::SignatureConfirmation { question }, Some(atx)))
            .is_err()
        {
            return policy;
        }
        tokio::task::spawn_blocking(move || {
            arx.recv_timeout(super::assumptions::SIGNATURE_ANSWER_TIMEOUT)
                .ok()
                .flatten()
        })
        .await
        .ok()
        .flatten()
        .unwrap_or(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::until_time_of_day;
    use std::time::Duration;

    #[test]
    fn the_next_window() {
        let h = 3600;
        assert_eq!(until_time_of_day(2 * h, 3 * h), Duration::from_secs(3600));
        // Past it today: tomorrow.
        assert_eq!(
            until_time_of_day(4 * h, 3 * h),
            Duration::from_secs(23 * 3600)
        );
        // Exactly now (it just fired): tomorrow, never zero.
        assert_eq!(
            until_time_of_day(3 * h, 3 * h),
            Duration::from_secs(24 * 3600)
        );
        assert_eq!(until_time_of_day(86399, 0), Duration::from_secs(1));
    }
}
