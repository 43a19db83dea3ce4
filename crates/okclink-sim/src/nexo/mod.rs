//! A Swedbank Pay PAX terminal speaking nexo Retailer 3.1 XML over HTTP (LAN mode): the
//! terminal's HTTP server, its login / payment state machine, stored responses for
//! TransactionStatus, reversals, Swedbank's Base64-JSON receipts, the terminal's own calls
//! to the POS listener (full integration), a request log and switchable faults. Every
//! guess is in [`assumptions`].
//!
//! # Wire behaviour
//!
//! `POST /EPASSaleToPOI/3.1` with a `SaleToPOIRequest` (`MessageHeader` first, then the
//! body element `{MessageCategory}Request`; prolog and namespaces accepted). The XML is
//! read strictly: unknown elements or elements out of XSD order → `Failure/MessageFormat`.
//! Answers: 200 + `SaleToPOIResponse` (header echoed with `MessageType="Response"`, no
//! `ProtocolVersion`), or 204 for `AbortRequest`.
//!
//! States: logged out → (Login) idle → in progress → busy for
//! [`NexoConfig::busy_after_payment`] after every PaymentResponse → idle.
//! - Login is accepted in any state and resets the terminal (an unfinished payment is
//!   aborted unless its authorisation is already under way).
//! - Anything but Login while logged out → `Failure/NotAllowed`.
//! - A POIID other than the session's → `Failure/Refusal`.
//! - During the busy window, anything but Login and Abort → `Failure/Busy`.
//! - While a request is in progress, anything but Abort, Login and TransactionStatus →
//!   `Failure/Busy` ([`NexoFaults::reject_overlapping`]).
//!
//! Services: Login, Logout, Payment (Normal / Refund), Abort, TransactionStatus (empty =
//! the last Payment/Reversal response of this POIID + SaleID; with `MessageReference` = by
//! ServiceID; running → Busy; found → `RepeatedMessageResponse` holding the original
//! `MessageHeader` and body, Swedbank's form), Reversal (only the last transaction, if it
//! succeeded and is not yet reversed), Display / Input / Print / Admin from the POS
//! (Success).
//!
//! # The terminal as a client of the POS listener
//!
//! When the POS logged in with more than `PrinterReceipt` in `SaleCapabilities` and
//! [`NexoConfig::pos_listener`] is set, a payment streams `DisplayRequest`s (Present card,
//! Enter PIN, Authorizing, Approved / Declined); a [`PaymentOutcome::Signature`] payment
//! also sends the merchant receipt as a `PrintRequest` and (with `CashierInput`) asks
//! `InputRequest GetConfirmation`: true → approved, false → Failure/Refusal. Control calls
//! send `EventNotification`s ([`NexoSim::request_maintenance`]; a maintenance logout then
//! brings BeginMaintenance / EndMaintenance) and the address push `TransmitRequest`
//! ([`NexoSim::push_address`]). The POS's answers are checked (204 for Display, Print,
//! Event, Transmit; 200 + `InputResponse` for the InputRequest); departures are recorded in
//! [`NexoListenerCall::violation`].

pub mod assumptions;
mod listener;
mod receipt;
mod server;
mod xml;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use crate::killable::ConnKill;
use crate::killable::HttpServer;

/// What the simulated card holder / issuer does with a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// Approved with PIN.
    Approve,
    /// Declined by the issuer: Failure/Refusal, with receipts (response code ≠ "00").
    Decline,
    /// Approved with signature as CVM: the merchant receipt has `SignatureBlock` true; in
    /// full integration the terminal prints it to the POS and asks the cashier to confirm.
    Signature,
}

/// Fault switches, changeable at run time ([`NexoSim::set_faults`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NexoFaults {
    /// One-shot: the next successful Login answers Failure/Busy "POI Terminal Temporarily
    /// Unavailable: New Poi ID detected, updating parameters" (the session is not opened).
    pub busy_after_login_once: bool,
    /// One-shot: the next payment's TCP connection is closed without an answer part-way
    /// through; the payment still completes and is stored (TransactionStatus finds it).
    pub drop_socket_mid_payment: bool,
    /// Every answer is held this long (a slow terminal).
    pub slow_response: Duration,
    /// The real rule: a second request while one is in progress gets Failure/Busy (except
    /// Abort, Login, TransactionStatus). `false`: it waits for the first one instead.
    pub reject_overlapping: bool,
}

impl Default for NexoFaults {
    fn default() -> Self {
        NexoFaults {
            busy_after_login_once: false,
            drop_socket_mid_payment: false,
            slow_response: Duration::ZERO,
            reject_overlapping: true,
        }
    }
}

/// Simulator configuration.
#[derive(Debug, Clone)]
pub struct NexoConfig {
    /// `POISerialNumber` in the LoginResponse.
    pub poi_serial: String,
    /// From the PaymentRequest to its response (default 300 ms).
    pub payment_time: Duration,
    pub outcome: PaymentOutcome,
    /// The Busy window after every PaymentResponse (real terminal: about 3 s).
    pub busy_after_payment: Duration,
    /// The POS listener URL (the real terminal has it from its admin menu), e.g.
    /// `http://127.0.0.1:11000/EPASSaleToPOI/3.1`.
    pub pos_listener: Option<String>,
    pub faults: NexoFaults,
}

impl Default for NexoConfig {
    fn default() -> Self {
        NexoConfig {
            poi_serial: "1851234567".into(),
            payment_time: Duration::from_millis(300),
            outcome: PaymentOutcome::Approve,
            busy_after_payment: Duration::from_secs(3),
            pos_listener: None,
            faults: NexoFaults::default(),
        }
    }
}

/// One request the terminal received.
#[derive(Debug, Clone)]
pub struct NexoRequestLog {
    /// `MessageCategory` ("" when the header could not be read).
    pub category: String,
    pub message_type: String,
    pub service_id: Option<String>,
    /// The request body as received.
    pub body: String,
    /// 200, 204, 400 — or 0 when the connection was closed without an answer.
    pub http_status: u16,
    /// `Response@Result` of the answer, if it had one.
    pub result: Option<String>,
    pub error_condition: Option<String>,
    pub at: Instant,
}

/// One call the terminal made to the POS listener.
#[derive(Debug, Clone)]
pub struct NexoListenerCall {
    /// Display, Print, Input, Event, Transmit.
    pub category: String,
    pub body: String,
    /// The POS's HTTP status; `None` = no answer (refused, timed out).
    pub http_status: Option<u16>,
    pub response_body: String,
    /// A departure from the listener contract (spec §6), if any.
    pub violation: Option<String>,
    pub at: Instant,
}

/// One transaction the terminal carried out (or started: aborted ones are kept too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NexoTransaction {
    /// ServiceID of the request that made it.
    pub service_id: String,
    /// The POS's `SaleTransactionID@TransactionID` (for a reversal: the original's).
    pub sale_transaction_id: String,
    pub poi_transaction_id: String,
    /// Payment, Refund or Reversal.
    pub kind: String,
    pub amount_minor: i64,
    pub currency: String,
    pub approved: bool,
    pub reversed: bool,
    pub aborted: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub poi_id: String,
    pub sale_id: String,
    pub capabilities: Vec<String>,
}

impl Session {
    /// Full integration: the POS has a listener (more than `PrinterReceipt`).
    pub fn full_integration(&self) -> bool {
        self.capabilities.iter().any(|c| c != "PrinterReceipt")
    }
    pub fn cashier_input(&self) -> bool {
        self.capabilities.iter().any(|c| c == "CashierInput")
    }
}

/// The request in progress.
pub(crate) struct InProgress {
    pub id: u64,
    pub category: String,
    pub service_id: String,
    pub sale_id: String,
    pub poi_id: String,
    /// The authorisation is under way: an abort comes too late.
    pub committed: bool,
    pub aborted: bool,
    pub rebooted: bool,
    pub wake: Arc<tokio::sync::Notify>,
}

/// A stored response (for TransactionStatus).
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub poi_id: String,
    pub sale_id: String,
    pub service_id: String,
    pub category: String,
    /// The response's `MessageHeader` element.
    pub header: String,
    /// The response body element.
    pub body: String,
}

pub(crate) struct State {
    pub poi_serial: String,
    pub payment_time: Duration,
    pub outcome: PaymentOutcome,
    pub busy_after_payment: Duration,
    pub pos_listener: Option<String>,
    pub faults: NexoFaults,
    pub session: Option<Session>,
    /// The last session (also after logout), for events sent while logged out.
    pub last_session: Option<Session>,
    pub in_progress: Option<InProgress>,
    pub busy_until: Option<Instant>,
    pub stored: VecDeque<Stored>,
    pub transactions: Vec<NexoTransaction>,
    /// Index in `transactions` of the terminal's last Payment/Refund.
    pub last_tx: Option<usize>,
    pub requests: Vec<NexoRequestLog>,
    pub listener_calls: Vec<NexoListenerCall>,
    pub next_poi_tx: u64,
    pub next_approval: u32,
    pub next_receipt: u32,
    pub next_device_id: u64,
    pub next_run: u64,
    pub maintenance_requested: bool,
}

pub(crate) struct Shared {
    pub state: parking_lot::Mutex<State>,
    pub http: reqwest::Client,
    pub addr: SocketAddr,
}

/// A running terminal simulator (own tokio runtime, two worker threads). Dropping it stops it.
pub struct NexoSim {
    shared: Arc<Shared>,
    server: HttpServer,
}

impl NexoSim {
    /// Bind `listen` ("127.0.0.1:0" = any free port) and serve; returns once bound.
    pub fn start(config: NexoConfig, listen: &str) -> std::io::Result<NexoSim> {
        let (server, shared) = HttpServer::start(listen, "okc-nexo-sim", |addr, _| {
            let http = reqwest::Client::builder()
                .no_proxy()
                .timeout(assumptions::LISTENER_TIMEOUT)
                .build()
                .map_err(std::io::Error::other)?;
            let shared = Arc::new(Shared {
                state: parking_lot::Mutex::new(State {
                    poi_serial: config.poi_serial,
                    payment_time: config.payment_time,
                    outcome: config.outcome,
                    busy_after_payment: config.busy_after_payment,
                    pos_listener: config.pos_listener,
                    faults: config.faults,
                    session: None,
                    last_session: None,
                    in_progress: None,
                    busy_until: None,
                    stored: VecDeque::new(),
                    transactions: Vec::new(),
                    last_tx: None,
                    requests: Vec::new(),
                    listener_calls: Vec::new(),
                    next_poi_tx: assumptions::FIRST_POI_TRANSACTION_ID,
                    next_approval: assumptions::FIRST_APPROVAL_CODE,
                    next_receipt: 1,
                    next_device_id: 1,
                    next_run: 1,
                    maintenance_requested: false,
                }),
                http,
                addr,
            });
            Ok((shared.clone(), server::router(shared)))
        })?;
        Ok(NexoSim { shared, server })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://ADDR/EPASSaleToPOI/3.1`.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr(), server::PATH)
    }

    /// Every request received so far, in the order they were answered.
    pub fn requests(&self) -> Vec<NexoRequestLog> {
        self.shared.state.lock().requests.clone()
    }

    /// Every call made to the POS listener so far.
    pub fn listener_calls(&self) -> Vec<NexoListenerCall> {
        self.shared.state.lock().listener_calls.clone()
    }

    /// Every transaction so far (aborted ones included), oldest first.
    pub fn transactions(&self) -> Vec<NexoTransaction> {
        self.shared.state.lock().transactions.clone()
    }

    /// Outcome of payments started from now on.
    pub fn set_outcome(&self, o: PaymentOutcome) {
        self.shared.state.lock().outcome = o;
    }

    /// Duration of payments started from now on.
    pub fn set_payment_time(&self, d: Duration) {
        self.shared.state.lock().payment_time = d;
    }

    /// The Busy window after payments completed from now on.
    pub fn set_busy_after_payment(&self, d: Duration) {
        self.shared.state.lock().busy_after_payment = d;
    }

    pub fn set_faults(&self, f: NexoFaults) {
        self.shared.state.lock().faults = f;
    }

    pub fn faults(&self) -> NexoFaults {
        self.shared.state.lock().faults.clone()
    }

    pub fn set_pos_listener(&self, url: Option<String>) {
        self.shared.state.lock().pos_listener = url;
    }

    /// The terminal reboots: the session ends (logged out), the Busy window is gone and a
    /// payment in progress is lost (its connection is closed without an answer).
    pub fn reboot(&self) {
        let mut st = self.shared.state.lock();
        st.session = None;
        st.busy_until = None;
        if let Some(p) = st.in_progress.as_mut() {
            p.rebooted = true;
            p.wake.notify_one();
        }
    }

    /// The terminal asks for maintenance: EventNotification SaleAdmin with
    /// MaintenanceRequiredFlag to the POS listener; the next `LogoutRequest
    /// MaintenanceAllowed="true"` brings BeginMaintenance, then EndMaintenance. Returns once
    /// the POS answered (or the call failed); nothing is sent without a listener URL.
    pub fn request_maintenance(&self) {
        self.shared.state.lock().maintenance_requested = true;
        self.run_control(listener::send_maintenance_required(self.shared.clone()));
    }

    /// The address push (admin menu "Save"): TransmitRequest to the POS listener. Returns
    /// once the POS answered; nothing is sent without a listener URL.
    pub fn push_address(&self) {
        self.run_control(listener::send_address(self.shared.clone()));
    }

    fn run_control(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        let Some(rt) = self.server.runtime() else {
            return;
        };
        let (tx, rx) = std::sync::mpsc::channel();
        rt.spawn(async move {
            fut.await;
            let _ = tx.send(());
        });
        let _ = rx.recv_timeout(assumptions::LISTENER_TIMEOUT + Duration::from_secs(1));
    }

    /// A login session is open.
    pub fn logged_in(&self) -> bool {
        self.shared.state.lock().session.is_some()
    }

    /// Stop serving; the port is free when this returns (also done on drop).
    pub fn stop(self) {}
}
