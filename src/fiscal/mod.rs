//! The fiscal front: one [`Hub`] per `createCommunication` — "print this basket, tell me the
//! receipt" — served by a back end chosen by configuration ([`FiscalBackend`]; today the
//! wired ÖKC over USB / serial / TCP, `wired`). The front owns what every back end gets for
//! free: input checks (size, JSON), the callbacks and their order (one dispatcher thread,
//! never under a lock, re-entrant; `dispatch`), the device-state replay, `close`, the log.
//!
//! Vendor semantics: [`Hub::send_basket`] → [`SendOutcome`] (1 / −1 / 0), [`Hub::fiscal_info`],
//! [`Hub::active_device_index`] (−1/0/1), state replay on `set_device_state_callback`,
//! `(false, "")` on loss, serialIn(9, "Device is not connected") on a 300TR ACK timeout.
//!
//! Semantics chosen where the vendor's are broken or unspecified:
//! - The state replay of `set_device_state_callback` runs on the dispatcher thread, queued
//!   in order with live events (never on the caller's thread, never twice to one callback).
//! - `send_basket`/`send_payment`: 300TR waits for the ACK (≤ `ack_timeout`); on timeout the
//!   serialIn(9) callback has run before `AckTimeout` is returned (when called from inside a
//!   callback it runs after that callback returns). During a handshake (also a device-asked
//!   re-handshake) the result is `NoDevice` (vendor: 1 although nothing was sent).
//! - `disconnect` delivers `(false, "")` before it returns (unless called from inside a
//!   callback: then right after that callback). `close` from inside a callback does not
//!   deliver it (no callback may start after `close` returns).
//! - A sale info is delivered once even if the device re-sends it on a later link.
//! - A panic in any worker thread is caught: the link is reported lost (`(false, "")`) and
//!   discovery reconnects (`supervise`).
//!
//! Configuration: [`Config`] (`src/config.rs`, the one parser: defaults ← JSON ← env).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::transport::Connector;

mod dispatch;
#[cfg(feature = "journal")]
mod journal;
mod log;
pub(crate) mod supervise;
pub mod tokenx;
pub mod wired;

pub use crate::config::{Config, ConfigError, LogLevel, TextEncoding, TransportSpec};
pub use okclink_wire::text;
#[cfg(feature = "test-hooks")]
pub use supervise::hooks;

use dispatch::Dispatcher;
use log::Logger;
use supervise::Threads;

/// Callback for device data: `(type, value)`; value is UTF-8 (device cp1254 bytes converted).
pub type SerialInFn = Box<dyn Fn(i32, &str) + Send + Sync + 'static>;
/// Callback for device state: `(connected, fiscal serial or "")`.
pub type DeviceStateFn = Box<dyn Fn(bool, &str) + Send + Sync + 'static>;

/// Result of `send_basket` / `send_payment`, with the vendor's integer codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// Handed to the device (vendor 1).
    Accepted,
    /// 300TR did not answer the ACK request; serialIn(9, "Device is not connected") was delivered (vendor −1).
    AckTimeout,
    /// No active device (vendor Linux 0).
    NoDevice,
}

impl SendOutcome {
    pub fn vendor_code(self) -> i32 {
        match self {
            SendOutcome::Accepted => 1,
            SendOutcome::AckTimeout => -1,
            SendOutcome::NoDevice => 0,
        }
    }
}

/// Errors of the Rust API (the C API maps them to `OkcStatus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubError {
    InvalidJson(String),
    TooLarge {
        len: usize,
        max: usize,
    },
    NoDevice,
    Timeout,
    Closed,
    Config(String),
    /// The device sent a message over [`Config::max_receive`]; it was refused.
    ReceiveTooLarge {
        max: usize,
    },
    /// A system resource ran out (e.g. no thread could be started).
    Resource(String),
    /// A cloud back end refused the request: HTTP status, the cloud's status code and its
    /// description (with the meaning from the status table).
    Rejected {
        http: u16,
        code: i64,
        message: String,
    },
    /// The configured back end does not offer this call (e.g. `sendPayment` on the cloud).
    Unsupported(String),
    /// The journal knows this `basketID` as sent with no result yet (in doubt): it is not
    /// sent again; its sale info is delivered when the device or cloud reports it.
    InDoubt(String),
    /// The journal file could not be used (what and what to do: docs/JOURNAL.md § Errors).
    Journal(String),
    /// An id the journal does not know (e.g. `confirm` of a basketID with no sale info).
    NotFound(String),
}

impl std::fmt::Display for HubError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HubError::InvalidJson(e) => write!(f, "invalid JSON: {e}"),
            HubError::TooLarge { len, max } => {
                write!(f, "payload of {len} bytes exceeds the limit of {max} bytes")
            }
            HubError::NoDevice => write!(f, "no active device"),
            HubError::Timeout => write!(f, "timed out"),
            HubError::Closed => write!(f, "the connection object is closed"),
            HubError::Config(e) => write!(f, "configuration error: {e}"),
            HubError::ReceiveTooLarge { max } => write!(
                f,
                "the device sent a message larger than the receive limit of {max} bytes \
                 (max_receive_bytes); it was refused"
            ),
            HubError::Resource(e) => write!(f, "out of resources: {e}"),
            HubError::Rejected {
                http,
                code,
                message,
            } => write!(
                f,
                "refused by the cloud (HTTP {http}, status {code}): {message}"
            ),
            HubError::Unsupported(e) => write!(f, "not supported by this back end: {e}"),
            HubError::InDoubt(e) => write!(f, "outcome unknown, not sent again: {e}"),
            HubError::Journal(e) => write!(f, "journal: {e}"),
            HubError::NotFound(e) => write!(f, "not found: {e}"),
        }
    }
}

impl std::error::Error for HubError {}

impl From<ConfigError> for HubError {
    fn from(e: ConfigError) -> HubError {
        HubError::Config(e.0)
    }
}

/// The `basketID` of a basket or sale info JSON text (top level), if it has a non-empty
/// string one (a repeated key: the last one, as JSON parsers commonly read it).
pub fn basket_id_of(json: &str) -> Option<String> {
    let m: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json).ok()?;
    match m.get("basketID").or_else(|| m.get("basketId"))? {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Deepest nesting of arrays/objects accepted in a basket or payment (`{}` is 1 level).
pub const MAX_JSON_DEPTH: usize = 64;

/// Checks before the JSON parse: no NUL byte (a JSON text cannot hold one raw, and C callers
/// would have sent only the part before it), nesting at most [`MAX_JSON_DEPTH`] levels.
fn check_json_shape(json: &str) -> Result<(), HubError> {
    if json.contains('\0') {
        return Err(HubError::InvalidJson(
            "the text contains a NUL byte (write it as \\u0000 inside a string)".into(),
        ));
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for b in json.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(HubError::InvalidJson(format!(
                        "nesting deeper than {MAX_JSON_DEPTH} levels"
                    )));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The connector behind a transport spec. USB and serial are provided by their own modules
/// when built in (cargo features `usb`, `serial`, both default; docs/USB-SERIAL.md); without
/// them they report "not available" and the hub goes on without them.
pub fn connector_for(spec: &TransportSpec) -> Result<Arc<dyn Connector>, HubError> {
    match spec {
        TransportSpec::Custom(c) => Ok(c.clone()),
        TransportSpec::Tokenx(t) => Err(HubError::Config(format!(
            "{t:?} is a cloud back end, not a link (it cannot be combined with others)"
        ))),
        TransportSpec::Tcp(a) => Ok(Arc::new(
            crate::transport::tcp::TcpConnector::new(a).map_err(HubError::Config)?,
        )),
        #[cfg(feature = "usb")]
        TransportSpec::Usb => Ok(Arc::new(crate::transport::usb::UsbConnector::new(
            crate::transport::usb::UsbConfig::default(),
        ))),
        #[cfg(not(feature = "usb"))]
        TransportSpec::Usb => Err(HubError::Config(
            "the USB transport is not available in this build".into(),
        )),
        #[cfg(feature = "serial")]
        TransportSpec::Serial => Ok(Arc::new(crate::transport::serial::SerialConnector::new(
            crate::transport::serial::SerialConfig::default(),
        ))),
        #[cfg(feature = "serial")]
        TransportSpec::SerialPort(p) => {
            Ok(Arc::new(crate::transport::serial::SerialConnector::new(
                crate::transport::serial::SerialConfig {
                    path: Some(p.clone()),
                    ..Default::default()
                },
            )))
        }
        #[cfg(not(feature = "serial"))]
        TransportSpec::Serial | TransportSpec::SerialPort(_) => Err(HubError::Config(
            "the serial transport is not available in this build".into(),
        )),
    }
}

/// Which of the two data calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    /// `sendBasket`: a basket (or a void) to print (wire type 1).
    Basket,
    /// `sendPayment`: a payment or void for the open receipt (wire type 10).
    Payment,
}

/// What a back end learnt about a basket an earlier process left unfinished (the journal's
/// recovery at start, docs/JOURNAL.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconciled {
    /// The back end cannot ask (wired: the device re-sends an unacknowledged sale info by
    /// itself): it stays in doubt until the sale info comes.
    CannotAsk,
    /// The other side does not know it: it never arrived.
    NotThere,
    /// Known and still open: the back end tracks it now and delivers its sale info.
    Pending,
    /// Finished: this sale info (delivered through serialIn like a fresh one).
    Finished(String),
    /// Asking failed (network): stays in doubt.
    Unreachable(String),
}

/// What a back end gets from the front when it is created: where to report, where to log,
/// how to start threads.
pub struct BackendContext {
    pub(crate) config: Config,
    pub(crate) log: Arc<Logger>,
    pub(crate) events: Arc<Dispatcher>,
    pub(crate) threads: Threads,
}

/// A fiscal back end: the thing that actually reaches a fiscal device for a [`Hub`].
///
/// The front ([`Hub`]) has already checked every input (open object, size, JSON syntax)
/// before a back end sees it, and owns the callbacks: a back end never calls user code. It
/// reports through the dispatcher in its [`BackendContext`] — device state (`(true, serial)`
/// when a device is usable, `(false, "")` when it is lost), device data (`serialIn`; a sale
/// info exactly once, even if the device or cloud repeats it) — and answers calls that must
/// wait for those callbacks (a 300TR ACK timeout, `disconnect`) through the dispatcher's
/// "after the queued callbacks" rule. All methods are called from any thread, also from
/// inside a callback (the dispatcher thread: a back end must never wait for that thread
/// there), and must return within their documented bound. Wired: `wired::WiredBackend`
/// (USB / serial / TCP links, sans-IO core + supervised threads).
pub trait FiscalBackend: Send + Sync {
    /// Hand validated JSON (UTF-8) to the device: `Accepted` once it left (300TR: after its
    /// ACK), `AckTimeout` after `serialIn(9, …)` was delivered, `NoDevice` when none is
    /// usable. Bounded by the ACK timeout plus a margin.
    fn send(&self, kind: DataKind, json: &str) -> Result<SendOutcome, HubError>;
    /// Ask the device for its fiscal info and wait up to `timeout`: the fresh JSON, or
    /// `Timeout` / `NoDevice`.
    fn fiscal_info(&self, timeout: Duration) -> Result<String, HubError>;
    /// The last fiscal info received from the current device ("" if none), no I/O.
    fn last_fiscal_info(&self) -> String;
    /// −1 no usable device, 0 X30TR, 1 300TR (cloud back ends: the index of the device
    /// model they drive).
    fn active_device_index(&self) -> i32;
    /// Wait until a device is usable and identified; its serial.
    fn wait_connected(&self, timeout: Duration) -> Option<String>;
    /// Resume looking for a device after `disconnect`.
    fn reconnect(&self);
    /// Let go of the device in an orderly way and stop looking for one until `reconnect`;
    /// `(false, "")` has been delivered (or queued, when called from a callback) when this
    /// returns, or `deadline` passed.
    fn disconnect(&self, deadline: Instant);
    /// Stop every thread and release everything; report nothing more after this returns.
    /// Bounded by `deadline`.
    fn shutdown(&self, deadline: Instant);
    /// Ask the device / cloud about a basket (its `basketID` and JSON) that an earlier
    /// process recorded and maybe sent, with no result in the journal. Called once per such
    /// basket after start, from a background thread; may block (bounded by the back end's
    /// own request timeouts). `Pending`: the back end now tracks it and reports its sale
    /// info through serialIn as usual. Default: [`Reconciled::CannotAsk`].
    fn reconcile(&self, _basket_id: &str, _json: &str) -> Reconciled {
        Reconciled::CannotAsk
    }
}

/// The back end the configuration asks for.
fn backend_for(ctx: BackendContext) -> Result<Box<dyn FiscalBackend>, HubError> {
    if ctx
        .config
        .transports
        .iter()
        .any(|t| matches!(t, TransportSpec::Tokenx(_)))
    {
        #[cfg(feature = "tokenx")]
        return Ok(Box::new(tokenx::TokenxBackend::start(ctx)?));
        #[cfg(not(feature = "tokenx"))]
        return Err(HubError::Config(
            "the TokenX cloud back end is not available in this build (cargo feature tokenx)"
                .into(),
        ));
    }
    Ok(Box::new(wired::WiredBackend::start(ctx)?))
}

/// One connection object (the vendor's `ConnectionWrapper`). Cheap to share: all methods take
/// `&self`.
///
/// A full sale against the in-process simulator (crate `okclink-sim`):
///
/// ```
/// use std::sync::mpsc::channel;
/// use std::time::Duration;
/// use okclink::hub::{Config, Hub, SendOutcome, TransportSpec};
///
/// let (device, _control) = okclink_sim::mem_connector(okclink_sim::SimConfig::x30tr());
/// let mut config = Config::new("Example Ltd");
/// config.transports = vec![TransportSpec::Custom(device)];
/// config.log_dir = None;
/// let hub = Hub::new(config).unwrap();
/// let (tx, rx) = channel();
/// hub.set_serial_in_callback(Some(Box::new(move |t, v| {
///     if t == 3 {
///         let _ = tx.send(v.to_string()); // the sale info (receipt), type 3
///     }
/// })));
/// assert_eq!(hub.wait_connected(Duration::from_secs(10)).as_deref(), Some("AV0000000001"));
/// let basket = r#"{"basketID":"doc-1","items":[{"name":"ÇAY","price":500,"quantity":1000,"sectionNo":1,"taxPercent":1000,"type":0}],"paymentItems":[{"amount":500,"description":"Nakit","type":1}]}"#;
/// assert_eq!(hub.send_basket(basket), Ok(SendOutcome::Accepted));
/// let receipt = rx.recv_timeout(Duration::from_secs(10)).unwrap();
/// assert!(receipt.contains("doc-1"));
/// hub.close();
/// ```
///
/// Contract:
/// - `new` never blocks; discovery, AOA, handshake run on background threads.
/// - callbacks only on the dispatcher thread, never under a lock; may re-enter the API.
/// - `close` is bounded by `disconnect_timeout` + a small margin, idempotent, and no
///   callback starts after it returns (when called from inside a callback it does not
///   wait for that callback to finish).
pub struct Hub {
    max_payload: usize,
    disconnect_timeout: Duration,
    fiscal_timeout: Duration,
    log: Arc<Logger>,
    events: Arc<Dispatcher>,
    threads: Threads,
    backend: Arc<dyn FiscalBackend>,
    closed: AtomicBool,
    /// Set once the journal's start-up recovery is over (at once without one).
    recovered: Arc<AtomicBool>,
    #[cfg(feature = "journal")]
    journal: Option<Arc<journal::FiscalJournal>>,
}

impl Hub {
    pub fn new(config: Config) -> Result<Hub, HubError> {
        let log = Arc::new(Logger::new(config.log_dir.clone(), config.log_level));
        log.log(
            LogLevel::Info,
            "ConnectionWrapper",
            &format!(
                "createCommunication: company {:?}, transports {:?}",
                config.company_name, config.transports
            ),
        );
        let threads = Threads::new();
        #[cfg(feature = "journal")]
        let journal = match journal::FiscalJournal::open(&config, log.clone()) {
            Ok(j) => j.map(Arc::new),
            Err(e) => {
                log.log(LogLevel::Error, "ConnectionWrapper", &e.to_string());
                return Err(e);
            }
        };
        let events = Dispatcher::start(
            log.clone(),
            &threads,
            #[cfg(feature = "journal")]
            journal.clone(),
        )
        .map_err(|e| HubError::Resource(format!("cannot start a thread: {e}")))?;
        let ctx = BackendContext {
            config: config.clone(),
            log: log.clone(),
            events: events.clone(),
            threads: threads.clone(),
        };
        let backend: Arc<dyn FiscalBackend> = match backend_for(ctx) {
            Ok(b) => Arc::from(b),
            Err(e) => {
                events.close(Instant::now());
                return Err(e);
            }
        };
        let recovered = Arc::new(AtomicBool::new(true));
        #[cfg(feature = "journal")]
        if let Some(j) = &journal {
            Hub::start_recovery(j, &backend, &events, &log, &threads, &recovered);
        }
        Ok(Hub {
            max_payload: config.max_payload,
            disconnect_timeout: config.disconnect_timeout,
            fiscal_timeout: config.fiscal_timeout,
            log,
            events,
            threads,
            backend,
            closed: AtomicBool::new(false),
            recovered,
            #[cfg(feature = "journal")]
            journal,
        })
    }

    /// The journal's recovery at start, on a thread of its own (asking a cloud may take
    /// seconds; `new` never blocks): each basket an earlier process left unfinished is
    /// asked about through the back end; a finished one's sale info is recorded and
    /// delivered like a fresh one, one the other side does not know becomes "not sent"
    /// (the application may send it again), the rest stay in doubt.
    #[cfg(feature = "journal")]
    fn start_recovery(
        j: &Arc<journal::FiscalJournal>,
        backend: &Arc<dyn FiscalBackend>,
        events: &Arc<Dispatcher>,
        log: &Arc<Logger>,
        threads: &Threads,
        done: &Arc<AtomicBool>,
    ) {
        let open = j.unfinished_baskets();
        if open.is_empty() {
            return;
        }
        done.store(false, Ordering::SeqCst);
        let (j, backend, events) = (j.clone(), backend.clone(), events.clone());
        let finished = done.clone();
        let started = threads.spawn_supervised("okc-recovery", log.clone(), move |panicked| {
            if panicked.is_some() {
                // Over, if not well: what is left stays as the journal has it.
                finished.store(true, Ordering::SeqCst);
                return;
            }
            for e in &open {
                if j.settle_from_receipt(e) {
                    continue;
                }
                let r = backend.reconcile(&e.key, &e.request);
                j.reconciled(e, &r);
                if let Reconciled::Finished(sale) = r {
                    events.serial_in(3, sale);
                }
            }
            finished.store(true, Ordering::SeqCst);
        });
        if let Err(e) = started {
            done.store(true, Ordering::SeqCst);
            log.log(
                LogLevel::Warn,
                "Journal",
                &format!("recovery not started ({e}); unfinished baskets stay as they are"),
            );
        }
    }

    /// Whether the journal's start-up recovery is over: every basket an earlier process left
    /// unfinished has been asked about (and its state written) — true at once without a
    /// journal or without such baskets. A service reports itself ready only then.
    pub fn recovered(&self) -> bool {
        self.recovered.load(Ordering::SeqCst)
    }

    fn logf(&self, level: LogLevel, msg: &str) {
        self.log.log(level, "ConnectionWrapper", msg);
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Set or clear the data callback. After it returns the old callback is not started again.
    pub fn set_serial_in_callback(&self, cb: Option<SerialInFn>) {
        self.events.set_serial_in(cb);
        self.logf(
            LogLevel::Info,
            "Setting serialInCallback for device index: 0 / 1",
        );
    }

    /// Set or clear the state callback; the last known state is replayed at once (vendor),
    /// on the dispatcher thread.
    pub fn set_device_state_callback(&self, cb: Option<DeviceStateFn>) {
        self.events.set_state(cb);
        self.logf(
            LogLevel::Info,
            "Setting deviceStateCallback for device index: 0 / 1",
        );
    }

    /// −1 no device, 0 X30TR, 1 300TR.
    pub fn active_device_index(&self) -> i32 {
        self.backend.active_device_index()
    }

    fn send_data(&self, kind: DataKind, json: &str) -> Result<SendOutcome, HubError> {
        if self.is_closed() {
            return Err(HubError::Closed);
        }
        if json.len() > self.max_payload {
            return Err(HubError::TooLarge {
                len: json.len(),
                max: self.max_payload,
            });
        }
        check_json_shape(json)?;
        serde_json::from_str::<serde::de::IgnoredAny>(json)
            .map_err(|e| HubError::InvalidJson(e.to_string()))?;
        #[cfg(feature = "journal")]
        if let (DataKind::Basket, Some(j)) = (kind, &self.journal) {
            return self.send_journalled(j, json);
        }
        self.backend.send(kind, json)
    }

    /// A basket through the journal: a known `basketID` is answered from it, a new one is
    /// recorded before it leaves and its fate written after.
    #[cfg(feature = "journal")]
    fn send_journalled(
        &self,
        j: &journal::FiscalJournal,
        json: &str,
    ) -> Result<SendOutcome, HubError> {
        match j.begin_basket(json)? {
            journal::BasketStart::Untracked => self.backend.send(DataKind::Basket, json),
            journal::BasketStart::New(id) => {
                j.sending(id, json);
                supervise::crash_point("basket.before_send");
                let r = self.backend.send(DataKind::Basket, json);
                j.after_send(id, &r);
                r
            }
            journal::BasketStart::Answered { receipt, confirmed } => {
                if let (Some((id, sale)), false) = (receipt, confirmed) {
                    self.events.redeliver(id, sale);
                }
                Ok(SendOutcome::Accepted)
            }
        }
    }

    /// The sale info the journal holds for `basket_id` (None: none recorded, or no journal).
    /// For tools that must not send a known basket again (`okc send-basket`).
    pub fn recorded_sale(&self, basket_id: &str) -> Option<String> {
        #[cfg(feature = "journal")]
        if let Some(j) = &self.journal {
            return j.recorded_sale(basket_id);
        }
        let _ = basket_id;
        None
    }

    /// The application confirms it has the sale info of `basket_id` (with `"confirm":
    /// "explicit"`; harmless otherwise): it is not delivered again after a restart.
    pub fn confirm(&self, basket_id: &str) -> Result<(), HubError> {
        if self.is_closed() {
            return Err(HubError::Closed);
        }
        #[cfg(feature = "journal")]
        if let Some(j) = &self.journal {
            return j.confirm(basket_id);
        }
        let _ = basket_id;
        Err(HubError::Unsupported(
            "confirm needs the journal (\"journal\" is off)".into(),
        ))
    }

    /// Send a basket (type 1). JSON is validated and size-checked, then sent as configured text.
    pub fn send_basket(&self, json: &str) -> Result<SendOutcome, HubError> {
        self.logf(LogLevel::Info, "sendBasket");
        self.send_data(DataKind::Basket, json)
    }

    /// Send a payment or void (type 10).
    pub fn send_payment(&self, json: &str) -> Result<SendOutcome, HubError> {
        self.logf(LogLevel::Info, "sendPayment");
        self.send_data(DataKind::Payment, json)
    }

    /// Request fiscal info (type 2) and wait up to `timeout` (None = config). Fresh JSON, or
    /// `Err(NoDevice)` / `Err(Timeout)`; vendor shims then fall back to [`Hub::last_fiscal_info`].
    pub fn fiscal_info(&self, timeout: Option<Duration>) -> Result<String, HubError> {
        if self.is_closed() {
            return Err(HubError::Closed);
        }
        let r = self
            .backend
            .fiscal_info(timeout.unwrap_or(self.fiscal_timeout));
        if r == Err(HubError::Timeout) {
            self.logf(
                LogLevel::Warn,
                "FISCAL_INFO fiscalReady: 0 (caller timeout)",
            );
        }
        r
    }

    /// The last fiscal info received in this session ("" after a disconnect).
    pub fn last_fiscal_info(&self) -> String {
        self.backend.last_fiscal_info()
    }

    /// Wait until a device is active and identified; returns its serial.
    pub fn wait_connected(&self, timeout: Duration) -> Option<String> {
        if self.is_closed() {
            return None;
        }
        self.backend.wait_connected(timeout)
    }

    /// Vendor `reconnect`: restart discovery if it was stopped by `disconnect`.
    pub fn reconnect(&self) {
        if !self.is_closed() {
            self.backend.reconnect();
        }
    }

    /// Vendor `deleteCommunication`: send DISCONNECT, wait (bounded) for the reply, close the
    /// device, deliver `(false, "")`, stop discovery until `reconnect`. The object stays usable.
    pub fn disconnect(&self) {
        if self.is_closed() {
            return;
        }
        self.logf(LogLevel::Info, "deleteCommunication");
        self.backend
            .disconnect(Instant::now() + self.disconnect_timeout);
    }

    /// Final shutdown: disconnect, stop every thread. Idempotent; returns within
    /// `disconnect_timeout` even if the device never answers (a callback already running
    /// on the dispatcher is waited for at most until then; none starts afterwards).
    pub fn close(&self) {
        if self.is_closed() {
            return;
        }
        // The whole of close stays within `disconnect_timeout`: the DISCONNECT wait of the
        // session uses 80 % of it, the rest is for delivering (false, "") and stopping threads.
        let start = Instant::now();
        let bound = self.disconnect_timeout;
        let deadline = start + bound;
        self.logf(LogLevel::Info, "deleteCommunication");
        self.backend.disconnect(deadline - bound / 10);
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        self.backend.shutdown(deadline);
        let on_cb = self.events.on_callback_thread();
        self.events.close(deadline);
        let allowed = usize::from(on_cb);
        if !self.threads.wait(allowed, deadline) {
            self.logf(
                LogLevel::Warn,
                "some threads did not stop in time (they end on their own)",
            );
        }
        self.logf(LogLevel::Info, "connection object closed");
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.close();
    }
}
