//! The payment front: "take this amount by card, give me the authorisation and the receipt;
//! refund, reverse, abort, status" — one API ([`Terminal`]) over the card-terminal back ends
//! ([`PaymentBackend`]; Swedbank Pay PAX over nexo Retailer 3.1, GP tom over its Cloud API),
//! chosen by configuration (`nexo+http://HOST:PORT`, `gptom+https://HOST?tid=TID`).
//!
//! The front owns what every back end gets for free: input checks (amount, currency,
//! reference), the exactly-once rule per caller reference — kept in the journal
//! (docs/PAYMENTS.md § Journal), so also across restarts: a reference already answered
//! returns its recorded result, never a second charge — the start-up recovery of operations
//! left unfinished, the delivery of results until the application confirms them, and the
//! event callback (display texts, print requests, signature questions, maintenance), delivered on
//! one thread, never under a lock.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

#[cfg(feature = "journal")]
mod front;
pub mod gptom;
pub mod journal;
pub mod nexo;

pub use journal::{Pending, PendingState, Reconciled, Track, Unfinished};

/// What the caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxKind {
    Payment,
    Refund,
    Reversal,
}

impl TxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TxKind::Payment => "payment",
            TxKind::Refund => "refund",
            TxKind::Reversal => "reversal",
        }
    }
}

/// A payment or refund request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    /// Amount in minor units (cents, öre, kuruş), > 0.
    pub amount: i64,
    /// ISO 4217 alphabetic code, e.g. `SEK`, `EUR`.
    pub currency: String,
    /// The caller's reference: the idempotency key (1–32 characters: letters, digits, `-_.`).
    pub reference: String,
}

/// The normalised result of a payment, refund, reversal or status query.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PaymentResult {
    pub approved: bool,
    /// `payment`, `refund` or `reversal`.
    pub kind: String,
    /// Why not approved (the terminal's condition and text), or None.
    pub reason: Option<String>,
    /// Authorised amount in minor units (0 when not approved).
    pub amount: i64,
    pub currency: String,
    pub masked_pan: Option<String>,
    pub brand: Option<String>,
    pub entry_mode: Option<String>,
    pub approval_code: Option<String>,
    /// The terminal's transaction id and time stamp (needed for a reversal).
    pub transaction_id: Option<String>,
    pub timestamp: Option<String>,
    /// The caller's reference.
    pub reference: String,
    pub merchant_receipt: Vec<String>,
    pub customer_receipt: Vec<String>,
    /// The merchant copy must be signed.
    pub signature_required: bool,
    /// The terminal's whole response (audit).
    pub raw: String,
}

impl PaymentResult {
    /// The result as one JSON object (what `okc pay --json` prints last and `okc_pay_*` hands
    /// out).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "approved": self.approved,
            "kind": self.kind,
            "reason": self.reason,
            "amount": self.amount,
            "currency": self.currency,
            "maskedPan": self.masked_pan,
            "brand": self.brand,
            "entryMode": self.entry_mode,
            "approvalCode": self.approval_code,
            "transactionId": self.transaction_id,
            "timestamp": self.timestamp,
            "reference": self.reference,
            "signatureRequired": self.signature_required,
            "receipts": {
                "merchant": self.merchant_receipt,
                "customer": self.customer_receipt,
            },
            "raw": self.raw,
        })
    }
}

/// What the terminal shows or asks while it works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminalEvent {
    /// Text on the terminal's display (one entry per line).
    Display(Vec<String>),
    /// The terminal asks the POS to print (e.g. the merchant copy to sign).
    Print {
        document: String,
        lines: Vec<String>,
    },
    /// The terminal asks the cashier to confirm the customer's signature; the callback's
    /// answer (true = accept) is sent back.
    SignatureConfirmation { question: Vec<String> },
    /// Maintenance and other terminal events (`SaleAdmin`, `BeginMaintenance`, …).
    Notification {
        event: String,
        details: Option<String>,
    },
    /// The terminal announced a new address (`IP:PORT`); the back end uses it from now on.
    AddressChanged(String),
    /// The library logged out of or into the terminal on its own (maintenance: the daily
    /// window, a `SaleAdmin` request, the terminal's `EndMaintenance`).
    Session { logged_in: bool, reason: String },
}

impl TerminalEvent {
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            TerminalEvent::Display(l) => json!({"event": "display", "lines": l}),
            TerminalEvent::Print { document, lines } => {
                json!({"event": "print", "document": document, "lines": lines})
            }
            TerminalEvent::SignatureConfirmation { question } => {
                json!({"event": "signature", "question": question})
            }
            TerminalEvent::Notification { event, details } => {
                json!({"event": "notification", "name": event, "details": details})
            }
            TerminalEvent::AddressChanged(a) => json!({"event": "address", "address": a}),
            TerminalEvent::Session { logged_in, reason } => {
                json!({"event": "session", "loggedIn": logged_in, "reason": reason})
            }
        }
    }
}

/// The application's event callback: the return value answers a
/// [`TerminalEvent::SignatureConfirmation`] (`Some(true)` accept, `Some(false)` refuse, `None`
/// no answer: the configured policy applies); ignored for other events.
pub type EventFn = Arc<dyn Fn(&TerminalEvent) -> Option<bool> + Send + Sync>;

/// Errors of the payment API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayError {
    /// Bad configuration (terminal URL, listener address, …).
    Config(String),
    /// Bad input from the caller (amount, currency, reference).
    InvalidInput(String),
    /// The terminal cannot be reached (nothing was sent, or it certainly did not arrive).
    Unreachable(String),
    /// The terminal refused the request itself (not a decline: e.g. logged out, wrong
    /// POIID, busy beyond the retries, reversal of a transaction that is not the last).
    Refused {
        condition: String,
        text: String,
    },
    /// The outcome of a payment is unknown after recovery gave up: it may have been
    /// charged. Never pay again for this reference blindly; ask `status` later.
    OutcomeUnknown(String),
    /// The configured back end does not offer this call.
    Unsupported(String),
    /// The terminal's answer could not be read.
    Protocol(String),
    Closed,
}

impl fmt::Display for PayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayError::Config(e) => write!(f, "configuration error: {e}"),
            PayError::InvalidInput(e) => write!(f, "invalid input: {e}"),
            PayError::Unreachable(e) => write!(f, "terminal unreachable: {e}"),
            PayError::Refused { condition, text } => {
                write!(f, "refused by the terminal ({condition}): {text}")
            }
            PayError::OutcomeUnknown(e) => write!(f, "outcome unknown: {e}"),
            PayError::Unsupported(e) => write!(f, "not supported by this terminal: {e}"),
            PayError::Protocol(e) => write!(f, "terminal protocol error: {e}"),
            PayError::Closed => write!(f, "the terminal object is closed"),
        }
    }
}

impl std::error::Error for PayError {}

/// A card-terminal back end. The front has checked the request; a back end never calls the
/// application except through the event sink it was given.
pub trait PaymentBackend: Send + Sync {
    /// Payment or refund; blocks until the terminal's answer (recovering a lost one).
    fn pay(&self, kind: TxKind, req: &PaymentRequest) -> Result<PaymentResult, PayError>;
    /// Reverse the last transaction (only the last, only if approved).
    fn reverse_last(&self) -> Result<PaymentResult, PayError>;
    /// Abort the payment in flight (from another thread); Ok when the terminal took it.
    fn abort(&self) -> Result<(), PayError>;
    /// The last transaction's result, or the one with this reference.
    fn status(&self, reference: Option<&str>) -> Result<PaymentResult, PayError>;
    /// Close the batch (settlement).
    fn batch_close(&self) -> Result<String, PayError>;
    fn login(&self) -> Result<(), PayError>;
    fn logout(&self, maintenance_allowed: bool) -> Result<(), PayError>;
    fn close(&self);
    /// The address of the POS listener, when the back end runs one.
    fn listener_addr(&self) -> Option<std::net::SocketAddr> {
        None
    }
    /// Where requests go, the journal's scope: nexo `POIID@HOST:PORT`, GP tom the TID.
    fn scope(&self) -> String {
        String::new()
    }
    /// [`PaymentBackend::pay`] with the journal's hook: `track.sent` right before the
    /// request leaves the process (an error there: do not send).
    fn pay_tracked(
        &self,
        kind: TxKind,
        req: &PaymentRequest,
        track: &Track,
    ) -> Result<PaymentResult, PayError> {
        track.sent("")?;
        self.pay(kind, req)
    }
    /// [`PaymentBackend::reverse_last`] with the journal's hook; `original` is the
    /// transaction to reverse as the journal recorded it (None: the back end finds it).
    fn reverse_tracked(
        &self,
        original: Option<&PaymentResult>,
        track: &Track,
    ) -> Result<PaymentResult, PayError> {
        let _ = original;
        track.sent("")?;
        self.reverse_last()
    }
    /// Ask the terminal about an operation the journal has without an answer. Never sends
    /// the operation itself.
    fn reconcile(&self, op: &Unfinished) -> Reconciled {
        let _ = op;
        Reconciled::Unknown("this terminal type cannot be asked about an earlier request".into())
    }
}

/// Check a request before any back end sees it.
pub fn check_request(req: &PaymentRequest) -> Result<(), PayError> {
    if req.amount <= 0 {
        return Err(PayError::InvalidInput(format!(
            "amount must be > 0 minor units (got {})",
            req.amount
        )));
    }
    if req.amount > 99_999_999_999 {
        return Err(PayError::InvalidInput("amount too large".into()));
    }
    if req.currency.len() != 3 || !req.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(PayError::InvalidInput(format!(
            "currency must be an ISO 4217 code like SEK or EUR (got {:?})",
            req.currency
        )));
    }
    if req.reference.is_empty()
        || req.reference.len() > 32
        || req.reference.starts_with(' ')
        || req.reference.ends_with(' ')
        || !req
            .reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_. ".contains(&b))
    {
        return Err(PayError::InvalidInput(format!(
            "reference must be 1-32 letters, digits, '-', '_', '.' or inner spaces (got {:?})",
            req.reference
        )));
    }
    Ok(())
}

/// One card terminal (the payment front).
pub struct Terminal {
    backend: Arc<dyn PaymentBackend>,
    /// Results by reference (this process; without a journal): the same reference is never
    /// charged twice.
    done: Mutex<HashMap<String, PaymentResult>>,
    /// References in flight (a second call with the same one waits for nothing: refused).
    busy: Arc<Mutex<Vec<String>>>,
    /// The journal (docs/PAYMENTS.md § Journal): write-ahead, idempotency across restarts,
    /// recovery at start, delivery until confirmed.
    #[cfg(feature = "journal")]
    journal: Option<front::JournalFront>,
}

impl Terminal {
    /// A front over `backend`, without a journal (references are remembered in memory only).
    pub fn with_backend(backend: Box<dyn PaymentBackend>) -> Terminal {
        Terminal {
            backend: Arc::from(backend),
            done: Mutex::new(HashMap::new()),
            busy: Arc::new(Mutex::new(Vec::new())),
            #[cfg(feature = "journal")]
            journal: None,
        }
    }

    /// A front over `backend` with `journal`: unfinished money entries of the back end's
    /// scope are reconciled in the background at once (a call waits for that first).
    #[cfg(feature = "journal")]
    pub fn with_journal(
        backend: Box<dyn PaymentBackend>,
        journal: Arc<crate::journal::Journal>,
    ) -> Terminal {
        let mut t = Terminal::with_backend(backend);
        t.journal = Some(front::JournalFront::start(
            journal,
            t.backend.clone(),
            t.busy.clone(),
        ));
        t
    }

    /// The journal file in use (None: off).
    #[cfg(feature = "journal")]
    pub fn journal_path(&self) -> Option<std::path::PathBuf> {
        self.journal.as_ref().map(|j| j.path())
    }

    fn money(&self, kind: TxKind, req: &PaymentRequest) -> Result<PaymentResult, PayError> {
        check_request(req)?;
        if let Some(r) = self.done.lock().get(&req.reference) {
            return Ok(r.clone());
        }
        {
            let mut b = self.busy.lock();
            if b.contains(&req.reference) {
                return Err(PayError::InvalidInput(format!(
                    "reference {:?} is already in progress",
                    req.reference
                )));
            }
            b.push(req.reference.clone());
        }
        #[cfg(feature = "journal")]
        let r = match &self.journal {
            Some(j) => j.money(&*self.backend, kind, req),
            None => self.backend.pay(kind, req),
        };
        #[cfg(not(feature = "journal"))]
        let r = self.backend.pay(kind, req);
        self.busy.lock().retain(|x| x != &req.reference);
        #[cfg(feature = "journal")]
        let remember = self.journal.is_none();
        #[cfg(not(feature = "journal"))]
        let remember = true;
        if let (Ok(res), true) = (&r, remember) {
            self.done.lock().insert(req.reference.clone(), res.clone());
        }
        r
    }

    /// Take a payment. The same `reference` again returns the recorded result (with the
    /// journal: also after a restart; a reference whose outcome is still unknown is asked
    /// about first and never charged again).
    pub fn pay(&self, req: &PaymentRequest) -> Result<PaymentResult, PayError> {
        self.money(TxKind::Payment, req)
    }

    /// Refund to a card.
    pub fn refund(&self, req: &PaymentRequest) -> Result<PaymentResult, PayError> {
        self.money(TxKind::Refund, req)
    }

    /// Reverse the last transaction. With the journal: the last approved payment the journal
    /// has for this terminal, journalled as `reversal-of-REFERENCE` (asking again returns
    /// the recorded reversal).
    pub fn reverse_last(&self) -> Result<PaymentResult, PayError> {
        #[cfg(feature = "journal")]
        if let Some(j) = &self.journal {
            return j.reverse_last(&*self.backend);
        }
        self.backend.reverse_last()
    }

    pub fn abort(&self) -> Result<(), PayError> {
        self.backend.abort()
    }

    pub fn status(&self, reference: Option<&str>) -> Result<PaymentResult, PayError> {
        if let Some(r) = reference.and_then(|r| self.done.lock().get(r).cloned()) {
            return Ok(r);
        }
        #[cfg(feature = "journal")]
        if let (Some(j), Some(r)) = (&self.journal, reference) {
            if let Some(res) = j.recorded(r)? {
                return Ok(res);
            }
        }
        self.backend.status(reference)
    }

    /// The application has the result of `reference` safely: it is not offered again by
    /// [`Terminal::pending`] (also not after a restart). Idempotent. Without a journal: Ok
    /// (nothing is offered again anyway). A reference without a result → `InvalidInput`.
    pub fn confirm(&self, reference: &str) -> Result<(), PayError> {
        #[cfg(feature = "journal")]
        if let Some(j) = &self.journal {
            return j.confirm(reference);
        }
        let _ = reference;
        Ok(())
    }

    /// What the application has not confirmed, oldest first: results it may never have
    /// received (answered, unconfirmed — also from before a restart), operations still in
    /// doubt, and operations the start-up recovery found not sent (those once per process).
    /// Waits for the start-up recovery. Without a journal: empty.
    pub fn pending(&self) -> Result<Vec<Pending>, PayError> {
        #[cfg(feature = "journal")]
        if let Some(j) = &self.journal {
            return j.pending();
        }
        Ok(Vec::new())
    }

    /// Whether the journal's start-up recovery is over (calls wait for it; this does not):
    /// true at once without a journal or without unfinished operations.
    pub fn recovered(&self) -> bool {
        #[cfg(feature = "journal")]
        if let Some(j) = &self.journal {
            return j.is_recovered();
        }
        true
    }

    pub fn batch_close(&self) -> Result<String, PayError> {
        self.backend.batch_close()
    }

    pub fn login(&self) -> Result<(), PayError> {
        self.backend.login()
    }

    pub fn logout(&self, maintenance_allowed: bool) -> Result<(), PayError> {
        self.backend.logout(maintenance_allowed)
    }

    pub fn close(&self) {
        self.backend.close();
    }

    /// Where the POS listener listens (full integration), e.g. to configure the terminal.
    pub fn listener_addr(&self) -> Option<std::net::SocketAddr> {
        self.backend.listener_addr()
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.backend.close();
    }
}

/// Default wait for the answer to a payment (the terminal waits for the customer).
pub const PAYMENT_WAIT: Duration = Duration::from_secs(180);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_of_day() {
        assert_eq!(parse_time_of_day("03:00"), Ok(Some(10800)));
        assert_eq!(parse_time_of_day(" 23:59:59 "), Ok(Some(86399)));
        assert_eq!(parse_time_of_day("OFF"), Ok(None));
        for bad in [
            "24:00",
            "3:00",
            "12:60",
            "12:00:60",
            "12",
            "ab:cd",
            "",
            "12:00:00:00",
        ] {
            assert!(parse_time_of_day(bad).is_err(), "{bad:?}");
        }
    }

    fn req(amount: i64, currency: &str, reference: &str) -> PaymentRequest {
        PaymentRequest {
            amount,
            currency: currency.into(),
            reference: reference.into(),
        }
    }

    #[test]
    fn requests_are_checked() {
        assert!(check_request(&req(100, "SEK", "r-1")).is_ok());
        assert!(check_request(&req(100, "CZK", "Invoice 37364FD")).is_ok());
        for bad in [
            req(0, "SEK", "r"),
            req(-5, "SEK", "r"),
            req(100, "sek", "r"),
            req(100, "SEKK", "r"),
            req(100, "SEK", ""),
            req(100, "SEK", "a/b"),
            req(100, "SEK", " ab"),
            req(100, "SEK", "ab "),
            req(100, "SEK", &"x".repeat(33)),
        ] {
            assert!(
                matches!(check_request(&bad), Err(PayError::InvalidInput(_))),
                "{bad:?}"
            );
        }
    }

    struct Counting(Arc<Mutex<u32>>);

    impl PaymentBackend for Counting {
        fn pay(&self, kind: TxKind, r: &PaymentRequest) -> Result<PaymentResult, PayError> {
            *self.0.lock() += 1;
            Ok(PaymentResult {
                approved: true,
                kind: kind.as_str().into(),
                amount: r.amount,
                currency: r.currency.clone(),
                reference: r.reference.clone(),
                ..Default::default()
            })
        }
        fn reverse_last(&self) -> Result<PaymentResult, PayError> {
            Err(PayError::Unsupported("x".into()))
        }
        fn abort(&self) -> Result<(), PayError> {
            Ok(())
        }
        fn status(&self, _: Option<&str>) -> Result<PaymentResult, PayError> {
            Err(PayError::Unsupported("x".into()))
        }
        fn batch_close(&self) -> Result<String, PayError> {
            Err(PayError::Unsupported("x".into()))
        }
        fn login(&self) -> Result<(), PayError> {
            Ok(())
        }
        fn logout(&self, _: bool) -> Result<(), PayError> {
            Ok(())
        }
        fn close(&self) {}
    }

    #[test]
    fn a_reference_is_charged_once() {
        let n = Arc::new(Mutex::new(0));
        let t = Terminal::with_backend(Box::new(Counting(n.clone())));
        let a = t.pay(&req(500, "EUR", "ref-1")).unwrap();
        let b = t.pay(&req(500, "EUR", "ref-1")).unwrap();
        assert_eq!(a, b);
        assert_eq!(t.status(Some("ref-1")).unwrap(), a);
        t.pay(&req(500, "EUR", "ref-2")).unwrap();
        assert_eq!(*n.lock(), 2);
    }
}

/// How to reach a terminal and behave with it.
#[derive(Clone)]
pub struct TerminalConfig {
    /// `nexo+http://HOST:PORT[?poiid=…&saleid=…]` (Swedbank Pay PAX, nexo over the LAN) or
    /// `gptom+https://HOST?tid=TID[&master=1]` (GP tom Cloud API).
    pub terminal: String,
    /// `IP:PORT` for the POS listener (full integration); None = client-only.
    pub listener: Option<String>,
    /// The signature answer when the application gives none.
    pub signature_confirm: bool,
    pub events: Option<EventFn>,
    /// Sent to the terminal at login.
    pub application_name: String,
    /// The daily maintenance logout (local time, seconds after midnight; None = only when the
    /// terminal asks). See [`DEFAULT_MAINTENANCE_AT`].
    pub maintenance_at: Option<u32>,
    /// GP tom credentials and endpoints (`gptom+…` terminals only); empty by default — fill
    /// it with [`gptom::GptomConfig::from_env`] (`OKC_GPTOM_*`) or by hand.
    pub gptom: gptom::GptomConfig,
    /// The journal file (docs/PAYMENTS.md § Journal); None = off (tests and in-memory use
    /// only: a restart then forgets every reference). [`TerminalConfig::new`] sets
    /// [`default_journal`]`("./logs", "okclink")`; the C API, the bindings and `okc` take
    /// `"journal"` / `$OKC_JOURNAL` (a path or `off`), else the default beside the logs
    /// (`log_dir` / `$OKC_LOG_DIR`, else `./logs`) named after `application_name`.
    pub journal: Option<std::path::PathBuf>,
}

/// The default journal file of the payment front: `Journal::default_path(log_dir,
/// application)` — beside the logs, one file per application name. None in a build without
/// the `journal` feature.
pub fn default_journal(log_dir: &std::path::Path, application: &str) -> Option<std::path::PathBuf> {
    #[cfg(feature = "journal")]
    return Some(crate::journal::Journal::default_path(log_dir, application));
    #[cfg(not(feature = "journal"))]
    {
        let _ = (log_dir, application);
        None
    }
}

/// `"journal"` / `$OKC_JOURNAL`: `off` (any case) → None, else the path.
pub fn parse_journal_setting(s: &str) -> Option<std::path::PathBuf> {
    let t = s.trim();
    if t.eq_ignore_ascii_case(journal::OFF) {
        None
    } else {
        Some(std::path::PathBuf::from(t))
    }
}

/// When the library logs out of an idle terminal with `MaintenanceAllowed` every day: 03:00
/// local time. Swedbank requires a maintenance logout of at least one hour a day; the hour is
/// our choice (a shop is closed then; a call during the window logs in again, so a sale at
/// that hour still works). `maintenance` = `"HH:MM"` or `"off"` in the configuration.
pub const DEFAULT_MAINTENANCE_AT: u32 = 3 * 3600;

/// `"HH:MM"`, `"HH:MM:SS"` → seconds after midnight; `"off"` → None.
pub fn parse_time_of_day(s: &str) -> Result<Option<u32>, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let bad = || format!("{t:?}: a time of day is HH:MM or HH:MM:SS (24 h), or \"off\"");
    let parts: Vec<&str> = t.split(':').collect();
    if !(2..=3).contains(&parts.len())
        || parts
            .iter()
            .any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    let n: Vec<u32> = parts.iter().map(|p| p.parse().unwrap_or(99)).collect();
    let (h, m, sec) = (n[0], n[1], n.get(2).copied().unwrap_or(0));
    if h > 23 || m > 59 || sec > 59 {
        return Err(bad());
    }
    Ok(Some(h * 3600 + m * 60 + sec))
}

impl TerminalConfig {
    pub fn new(terminal: &str) -> TerminalConfig {
        TerminalConfig {
            terminal: terminal.to_string(),
            listener: None,
            signature_confirm: true,
            events: None,
            application_name: "okclink".into(),
            maintenance_at: Some(DEFAULT_MAINTENANCE_AT),
            gptom: gptom::GptomConfig::default(),
            journal: default_journal(std::path::Path::new("./logs"), "okclink"),
        }
    }
}

/// Open the terminal the configuration names, and its journal (an error to open it is a
/// [`PayError::Config`] with the journal's text, which says what to do). The start-up
/// recovery runs in the background; no request is sent here.
pub fn open(cfg: TerminalConfig) -> Result<Terminal, PayError> {
    // A configuration that names no usable terminal fails before the journal is touched.
    check_terminal(&cfg)?;
    // The journal next: a terminal whose journal cannot be opened is not started at all.
    #[cfg(feature = "journal")]
    let journal = match &cfg.journal {
        Some(path) => Some(
            crate::journal::Journal::shared(path).map_err(|e| PayError::Config(e.to_string()))?,
        ),
        None => None,
    };
    #[cfg(not(feature = "journal"))]
    if let Some(path) = &cfg.journal {
        return Err(PayError::Config(format!(
            "journal {}: this build has no journal (cargo feature journal); set \"journal\": \"off\"",
            path.display()
        )));
    }
    let backend = open_backend(&cfg)?;
    #[cfg(feature = "journal")]
    if let Some(j) = journal {
        return Ok(Terminal::with_journal(backend, j));
    }
    Ok(Terminal::with_backend(backend))
}

/// The configuration's terminal, parsed without starting anything.
fn check_terminal(cfg: &TerminalConfig) -> Result<(), PayError> {
    let t = cfg.terminal.trim();
    #[cfg(feature = "nexo")]
    if t.starts_with("nexo+") {
        return t
            .parse::<nexo::backend::NexoTarget>()
            .map(|_| ())
            .map_err(PayError::Config);
    }
    #[cfg(feature = "gptom")]
    if t.starts_with("gptom+") {
        t.parse::<gptom::GptomTarget>().map_err(PayError::Config)?;
        return cfg.gptom.check().map_err(PayError::Config);
    }
    // Everything else is refused by open_backend before it starts anything.
    let _ = t;
    open_backend(cfg).map(|b| b.close())
}

fn open_backend(cfg: &TerminalConfig) -> Result<Box<dyn PaymentBackend>, PayError> {
    let t = cfg.terminal.trim();
    if t.starts_with("nexo+") {
        #[cfg(feature = "nexo")]
        {
            let target: nexo::backend::NexoTarget = t.parse().map_err(PayError::Config)?;
            let b = nexo::backend::NexoBackend::start(nexo::backend::NexoSettings {
                target,
                listener: cfg.listener.clone(),
                signature: if cfg.signature_confirm {
                    nexo::backend::SignaturePolicy::Confirm
                } else {
                    nexo::backend::SignaturePolicy::Refuse
                },
                events: cfg.events.clone(),
                application_name: cfg.application_name.clone(),
                maintenance_at: cfg.maintenance_at,
            })?;
            return Ok(Box::new(b));
        }
        #[cfg(not(feature = "nexo"))]
        return Err(PayError::Config(
            "the nexo back end is not available in this build (cargo feature nexo)".into(),
        ));
    }
    if t.starts_with("gptom+") {
        #[cfg(feature = "gptom")]
        {
            let target: gptom::GptomTarget = t.parse().map_err(PayError::Config)?;
            let b = gptom::backend::GptomBackend::start(gptom::backend::GptomSettings {
                target,
                config: cfg.gptom.clone(),
                events: cfg.events.clone(),
            })?;
            return Ok(Box::new(b));
        }
        #[cfg(not(feature = "gptom"))]
        return Err(PayError::Config(
            "the GP tom back end is not available in this build (cargo feature gptom)".into(),
        ));
    }
    Err(PayError::Config(format!(
        "unknown terminal {t:?} (expected nexo+http://HOST:PORT[?poiid=…&saleid=…] or \
         gptom+https://HOST?tid=TID[&master=1])"
    )))
}
