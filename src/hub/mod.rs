//! The connection runtime: one [`Hub`] per `createCommunication`, reader/writer/dispatcher
//! threads, discovery and reconnect, callbacks from one dispatcher thread, never under a lock.
//!
//! Public API (stable; `src/ffi` and the CLI build on it):
//! - [`Hub::new`] never blocks; discovery and the handshake run in the background.
//! - vendor semantics: [`Hub::send_basket`] → [`SendOutcome`], [`Hub::fiscal_info`],
//!   [`Hub::active_device_index`] (−1/0/1), state replay on `set_device_state_callback`,
//!   `(false, "")` on loss, serialIn(9, "Device is not connected") on ACK timeout.
//!
//! Additions beyond the first contract (all additive): [`Config::from_env`] /
//! [`Config::from_vars`] (`OKC_TRANSPORT`, `OKC_LOG_DIR`, `OKC_LOG_LEVEL`, `OKC_ENCODING`),
//! [`Config::handshake_timeout`], [`TransportSpec::parse`] / [`TransportSpec::parse_list`],
//! [`connector_for`] (USB/serial report "not available" until their connectors land),
//! [`LogLevel::parse`], the [`text`] module (cp1254 ⇄ UTF-8), `impl Drop for Hub` (= `close`).
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
//! - Threads: see `runtime.rs` (session thread + separate callback thread, and why).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::transport::Connector;

mod log;
mod runtime;
pub mod text;

use runtime::{Cmd, Job, Shared};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::Instant;

/// Callback for device data: `(type, value)`; value is UTF-8 (device cp1254 bytes converted).
pub type SerialInFn = Box<dyn Fn(i32, &str) + Send + Sync + 'static>;
/// Callback for device state: `(connected, fiscal serial or "")`.
pub type DeviceStateFn = Box<dyn Fn(bool, &str) + Send + Sync + 'static>;

/// How text crosses the wire. Devices speak cp1254 (WIRE §15.2, samples); callers speak UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    /// Outgoing UTF-8 text is sent as Windows-1254; incoming non-UTF-8 bytes are read as cp1254.
    Cp1254,
    /// Outgoing text is sent as UTF-8 unchanged; incoming non-UTF-8 bytes are still read as cp1254.
    Utf8,
}

/// Where to look for devices.
#[derive(Clone)]
pub enum TransportSpec {
    /// X30TR over USB Android Open Accessory.
    Usb,
    /// 300TR over FTDI serial.
    Serial,
    /// A simulator (or a USB-over-TCP bridge) at `host:port`; carries exactly the USB bytes.
    Tcp(String),
    /// Any connector (in-memory simulator, tests).
    Custom(Arc<dyn Connector>),
}

impl std::fmt::Debug for TransportSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportSpec::Usb => write!(f, "usb"),
            TransportSpec::Serial => write!(f, "serial"),
            TransportSpec::Tcp(a) => write!(f, "tcp://{a}"),
            TransportSpec::Custom(c) => write!(f, "custom({})", c.name()),
        }
    }
}

/// Configuration of one [`Hub`]. `Config::new(company)` gives the vendor's defaults.
#[derive(Debug, Clone)]
pub struct Config {
    pub company_name: String,
    pub transports: Vec<TransportSpec>,
    /// getFiscalInfo wait (WIRE §7.1: 5000 ms).
    pub fiscal_timeout: Duration,
    /// 300TR ACK wait (WIRE §7.4: 2 s).
    pub ack_timeout: Duration,
    /// Upper bound of disconnect/delete (vendor: unbounded; ours: 2 s).
    pub disconnect_timeout: Duration,
    /// Log folder; `None` disables file logging. Default `./logs` (vendor location).
    pub log_dir: Option<PathBuf>,
    pub log_level: LogLevel,
    pub text_encoding: TextEncoding,
    /// Largest basket/payment JSON accepted from callers (default 1 MiB).
    pub max_payload: usize,
    /// Largest message (one decoded TLV) accepted from a device (default 1 MiB). Apart from
    /// `max_payload`: a small caller limit must not refuse a device's fiscal info or
    /// certificate. A message over it is refused; a waiting `fiscal_info` gets
    /// [`HubError::ReceiveTooLarge`] at once.
    pub max_receive: usize,
    /// A link whose handshake (Hello → certificate → key share → "OK") does not complete in
    /// this time is closed and discovery retries with back-off (vendor: waits forever).
    /// Also applies to a re-handshake the device asked for (type 8). Default 5 s.
    pub handshake_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

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
        }
    }
}

impl std::error::Error for HubError {}

impl Config {
    /// Vendor defaults: USB then serial, 5 s fiscal, 2 s ACK, 2 s disconnect bound,
    /// `./logs`, info level, cp1254, 1 MiB. `OKC_TRANSPORT` is NOT read here (see `from_env`).
    pub fn new(company_name: &str) -> Config {
        Config {
            company_name: company_name.to_string(),
            transports: vec![TransportSpec::Usb, TransportSpec::Serial],
            fiscal_timeout: Duration::from_millis(5000),
            ack_timeout: Duration::from_millis(2000),
            disconnect_timeout: Duration::from_millis(2000),
            log_dir: Some(PathBuf::from("./logs")),
            log_level: LogLevel::Info,
            text_encoding: TextEncoding::Cp1254,
            max_payload: 1 << 20,
            max_receive: crate::proto::pipeline::DEFAULT_MAX_PLAINTEXT,
            handshake_timeout: Duration::from_secs(5),
        }
    }
}

impl TransportSpec {
    /// Parse one transport: `usb`, `serial`, `tcp://host:port[?model=300tr]`.
    pub fn parse(s: &str) -> Result<TransportSpec, HubError> {
        let t = s.trim();
        match t.to_ascii_lowercase().as_str() {
            "usb" => return Ok(TransportSpec::Usb),
            "serial" => return Ok(TransportSpec::Serial),
            _ => {}
        }
        if let Some(rest) = t.strip_prefix("tcp://") {
            crate::transport::tcp::parse_address(rest).map_err(HubError::Config)?;
            return Ok(TransportSpec::Tcp(rest.to_string()));
        }
        Err(HubError::Config(format!(
            "unknown transport {t:?} (expected usb, serial or tcp://host:port)"
        )))
    }

    /// Parse a comma-separated list (the `OKC_TRANSPORT` syntax).
    pub fn parse_list(s: &str) -> Result<Vec<TransportSpec>, HubError> {
        let v: Vec<TransportSpec> = s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(TransportSpec::parse)
            .collect::<Result<_, _>>()?;
        if v.is_empty() {
            return Err(HubError::Config("empty transport list".into()));
        }
        Ok(v)
    }
}

/// The connector behind a transport spec. USB and serial are provided by their own modules
/// when built in (cargo features `usb`, `serial`, both default; docs/USB-SERIAL.md); without
/// them they report "not available" and the hub goes on without them.
pub fn connector_for(spec: &TransportSpec) -> Result<Arc<dyn Connector>, HubError> {
    match spec {
        TransportSpec::Custom(c) => Ok(c.clone()),
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
        #[cfg(not(feature = "serial"))]
        TransportSpec::Serial => Err(HubError::Config(
            "the serial transport is not available in this build".into(),
        )),
    }
}

impl Config {
    /// [`Config::new`] plus the environment: `OKC_TRANSPORT` (comma-separated list of
    /// `usb`, `serial`, `tcp://host:port[?model=300tr]`), `OKC_LOG_DIR` (empty or `none` =
    /// no log file), `OKC_LOG_LEVEL` (`error|warn|info|debug`), `OKC_ENCODING`
    /// (`cp1254|utf8`, outgoing text). Bad values are errors.
    pub fn from_env(company_name: &str) -> Result<Config, HubError> {
        // An empty OKC_LOG_DIR is a value (no log file); other empty variables are unset.
        let get = |k: &str| {
            std::env::var(k)
                .ok()
                .filter(|v| k == "OKC_LOG_DIR" || !v.trim().is_empty())
        };
        Config::from_vars(company_name, |k| get(k))
    }

    /// Like [`Config::from_env`] with an explicit variable lookup (testable).
    pub fn from_vars(
        company_name: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, HubError> {
        let mut c = Config::new(company_name);
        if let Some(t) = var("OKC_TRANSPORT") {
            c.transports = TransportSpec::parse_list(&t)?;
        }
        if let Some(d) = var("OKC_LOG_DIR") {
            let d = d.trim();
            c.log_dir = if d.eq_ignore_ascii_case("none") || d.is_empty() {
                None
            } else {
                Some(PathBuf::from(d))
            };
        }
        if let Some(l) = var("OKC_LOG_LEVEL") {
            c.log_level = LogLevel::parse(&l)?;
        }
        if let Some(e) = var("OKC_ENCODING") {
            c.text_encoding = match e.trim().to_ascii_lowercase().as_str() {
                "cp1254" | "windows-1254" => TextEncoding::Cp1254,
                "utf8" | "utf-8" => TextEncoding::Utf8,
                o => return Err(HubError::Config(format!("unknown encoding {o:?}"))),
            };
        }
        Ok(c)
    }
}

impl LogLevel {
    pub fn parse(s: &str) -> Result<LogLevel, HubError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "error" | "e" => Ok(LogLevel::Error),
            "warn" | "warning" | "w" => Ok(LogLevel::Warn),
            "info" | "i" => Ok(LogLevel::Info),
            "debug" | "d" => Ok(LogLevel::Debug),
            o => Err(HubError::Config(format!("unknown log level {o:?}"))),
        }
    }
}

/// One connection object (the vendor's `ConnectionWrapper`). Cheap to share: all methods take `&self`.
///
/// Contract (implemented in this module):
/// - `new` never blocks; discovery, AOA, handshake run on background threads.
/// - callbacks only on the dispatcher thread, never under a lock; may re-enter the API.
/// - `close` is bounded by `disconnect_timeout` + a small margin, idempotent, and no
///   callback starts after it returns (when called from inside a callback it does not
///   wait for that callback to finish).
///
/// Threads and why: see `src/hub/runtime.rs`. The device-state replay of
/// `set_device_state_callback` is delivered on the dispatcher thread (queued, in order with
/// the live events), not synchronously on the caller's thread like the vendor.
pub struct Hub {
    sh: Arc<Shared>,
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

/// Extra wait beyond a protocol timeout before an API call gives up on the session thread.
const REPLY_MARGIN: Duration = Duration::from_millis(1000);

impl Hub {
    pub fn new(config: Config) -> Result<Hub, HubError> {
        let mut connectors = Vec::new();
        let mut unavailable = Vec::new();
        for spec in &config.transports {
            match connector_for(spec) {
                Ok(c) => connectors.push(c),
                Err(HubError::Config(e))
                    if matches!(spec, TransportSpec::Usb | TransportSpec::Serial) =>
                {
                    unavailable.push(e)
                }
                Err(e) => return Err(e),
            }
        }
        let mut first_logs = vec![(
            LogLevel::Info,
            format!(
                "createCommunication: company {:?}, transports {:?}",
                config.company_name, config.transports
            ),
        )];
        first_logs.extend(unavailable.into_iter().map(|e| (LogLevel::Warn, e)));
        let sh = runtime::start(config, connectors, first_logs)?;
        Ok(Hub { sh })
    }

    fn is_closed(&self) -> bool {
        self.sh.closed.load(Ordering::SeqCst)
    }

    /// Set or clear the data callback. After it returns the old callback is not started again.
    pub fn set_serial_in_callback(&self, cb: Option<SerialInFn>) {
        let mut g = self.sh.gate.lock();
        g.serial = cb.map(Arc::new);
        drop(g);
        self.sh.logf(
            LogLevel::Info,
            "ConnectionWrapper",
            "Setting serialInCallback for device index: 0 / 1",
        );
    }

    /// Set or clear the state callback; the last known state is replayed at once (vendor),
    /// on the dispatcher thread.
    pub fn set_device_state_callback(&self, cb: Option<DeviceStateFn>) {
        let mut g = self.sh.gate.lock();
        let gen = g.next_gen;
        g.next_gen += 1;
        let has = cb.is_some();
        g.state = cb.map(|c| (gen, Arc::new(c)));
        drop(g);
        self.sh.logf(
            LogLevel::Info,
            "ConnectionWrapper",
            "Setting deviceStateCallback for device index: 0 / 1",
        );
        if has {
            let _ = self.sh.cb_tx.send(Job::Replay(gen));
        }
    }

    /// −1 no device, 0 X30TR, 1 300TR.
    pub fn active_device_index(&self) -> i32 {
        self.sh.active_index.load(Ordering::SeqCst)
    }

    fn send_data(&self, tag: u16, json: &str) -> Result<SendOutcome, HubError> {
        if self.is_closed() {
            return Err(HubError::Closed);
        }
        let max = self.sh.cfg.max_payload;
        if json.len() > max {
            return Err(HubError::TooLarge {
                len: json.len(),
                max,
            });
        }
        check_json_shape(json)?;
        serde_json::from_str::<serde::de::IgnoredAny>(json)
            .map_err(|e| HubError::InvalidJson(e.to_string()))?;
        if self.active_device_index() < 0 {
            return Ok(SendOutcome::NoDevice);
        }
        let payload = text::encode_outgoing_json(json, self.sh.cfg.text_encoding);
        let (tx, rx) = channel();
        let from_cb = self.sh.on_callback_thread();
        self.sh
            .cmd_tx
            .send(Cmd::Send {
                tag,
                payload,
                reply: tx,
                from_cb,
            })
            .map_err(|_| HubError::Closed)?;
        match rx.recv_timeout(self.sh.cfg.ack_timeout + REPLY_MARGIN) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => Err(HubError::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(HubError::Closed),
        }
    }

    /// Send a basket (type 1). JSON is validated and size-checked, then sent as configured text.
    pub fn send_basket(&self, json: &str) -> Result<SendOutcome, HubError> {
        self.sh
            .logf(LogLevel::Info, "ConnectionWrapper", "sendBasket");
        self.send_data(crate::proto::message::tag::BASKET, json)
    }

    /// Send a payment or void (type 10).
    pub fn send_payment(&self, json: &str) -> Result<SendOutcome, HubError> {
        self.sh
            .logf(LogLevel::Info, "ConnectionWrapper", "sendPayment");
        self.send_data(crate::proto::message::tag::PAYMENT, json)
    }

    /// Request fiscal info (type 2) and wait up to `timeout` (None = config). Fresh JSON, or
    /// `Err(NoDevice)` / `Err(Timeout)`; vendor shims then fall back to [`Hub::last_fiscal_info`].
    pub fn fiscal_info(&self, timeout: Option<Duration>) -> Result<String, HubError> {
        if self.is_closed() {
            return Err(HubError::Closed);
        }
        if self.active_device_index() < 0 {
            return Err(HubError::NoDevice);
        }
        let (tx, rx) = channel();
        self.sh
            .cmd_tx
            .send(Cmd::Fiscal { reply: tx })
            .map_err(|_| HubError::Closed)?;
        match rx.recv_timeout(timeout.unwrap_or(self.sh.cfg.fiscal_timeout)) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => {
                self.sh.logf(
                    LogLevel::Warn,
                    "ConnectionWrapper",
                    "FISCAL_INFO fiscalReady: 0 (caller timeout)",
                );
                Err(HubError::Timeout)
            }
            Err(RecvTimeoutError::Disconnected) => Err(HubError::Closed),
        }
    }

    /// The last fiscal info received in this session ("" after a disconnect).
    pub fn last_fiscal_info(&self) -> String {
        self.sh.observed.lock().last_fiscal.clone()
    }

    /// Wait until a device is active and identified; returns its serial.
    pub fn wait_connected(&self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut o = self.sh.observed.lock();
        loop {
            if let Some(s) = &o.serial {
                if self.active_device_index() >= 0 {
                    return Some(s.clone());
                }
            }
            if self.is_closed() {
                return None;
            }
            if self
                .sh
                .observed_cond
                .wait_until(&mut o, deadline)
                .timed_out()
            {
                return o.serial.clone().filter(|_| self.active_device_index() >= 0);
            }
        }
    }

    /// Vendor `reconnect`: restart discovery if it was stopped by `disconnect`.
    pub fn reconnect(&self) {
        if self.is_closed() {
            return;
        }
        let mut st = self.sh.disc.lock();
        if !st.enabled {
            st.enabled = true;
            st.resume_at = None;
            self.sh.disc_cond.notify_all();
            drop(st);
            self.sh.logf(
                LogLevel::Info,
                "ConnectionWrapper",
                "hotplugThread restarted",
            );
        }
    }

    /// Vendor `deleteCommunication`: send DISCONNECT, wait (bounded) for the reply, close the
    /// device, deliver `(false, "")`, stop discovery until `reconnect`. The object stays usable.
    pub fn disconnect(&self) {
        if self.is_closed() {
            return;
        }
        self.disconnect_until(Instant::now() + self.sh.cfg.disconnect_timeout);
    }

    fn disconnect_until(&self, deadline: Instant) {
        self.sh
            .logf(LogLevel::Info, "ConnectionWrapper", "deleteCommunication");
        {
            let mut st = self.sh.disc.lock();
            st.enabled = false;
            self.sh.disc_cond.notify_all();
        }
        let (tx, rx) = channel();
        let from_cb = self.sh.on_callback_thread();
        if self
            .sh
            .cmd_tx
            .send(Cmd::Disconnect { reply: tx, from_cb })
            .is_err()
        {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if rx.recv_timeout(left) == Err(RecvTimeoutError::Timeout) {
            self.sh.logf(
                LogLevel::Warn,
                "ConnectionWrapper",
                "disconnect did not complete within its bound; returning anyway",
            );
        }
    }

    /// Final shutdown: disconnect, stop every thread. Idempotent; returns within
    /// `disconnect_timeout` even if the device never answers (a callback already running
    /// on the dispatcher is waited for at most until then; none starts afterwards).
    pub fn close(&self) {
        if self.sh.closed.load(Ordering::SeqCst) {
            return;
        }
        // The whole of close stays within `disconnect_timeout`: the DISCONNECT wait of the
        // session uses 80 % of it, the rest is for delivering (false, "") and stopping threads.
        let start = Instant::now();
        let bound = self.sh.cfg.disconnect_timeout;
        let deadline = start + bound;
        self.disconnect_until(deadline - bound / 10);
        if self.sh.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        {
            let mut st = self.sh.disc.lock();
            st.shutdown = true;
            self.sh.disc_cond.notify_all();
        }
        self.sh.observed_cond.notify_all();
        let (tx, rx) = channel();
        let _ = self.sh.cmd_tx.send(Cmd::Shutdown { reply: tx });
        let _ = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        let on_cb = self.sh.on_callback_thread();
        {
            let mut g = self.sh.gate.lock();
            g.closed = true;
            g.serial = None;
            g.state = None;
            if !on_cb {
                while g.running {
                    if self.sh.gate_cond.wait_until(&mut g, deadline).timed_out() {
                        break;
                    }
                }
            }
        }
        let _ = self.sh.cb_tx.send(Job::Stop);
        let allowed = usize::from(on_cb);
        if !self.sh.live.wait(allowed, deadline) {
            self.sh.logf(
                LogLevel::Warn,
                "ConnectionWrapper",
                "some threads did not stop in time (they end on their own)",
            );
        }
        self.sh.logf(
            LogLevel::Info,
            "ConnectionWrapper",
            "connection object closed",
        );
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_parsing() {
        let vars = |k: &str| match k {
            "OKC_TRANSPORT" => Some("tcp://127.0.0.1:7700, usb,tcp://h:1?model=300tr".to_string()),
            "OKC_LOG_DIR" => Some("none".to_string()),
            "OKC_LOG_LEVEL" => Some("debug".to_string()),
            "OKC_ENCODING" => Some("UTF-8".to_string()),
            _ => None,
        };
        let c = Config::from_vars("X", vars).unwrap();
        assert_eq!(
            format!("{:?}", c.transports),
            "[tcp://127.0.0.1:7700, usb, tcp://h:1?model=300tr]"
        );
        assert!(c.log_dir.is_none());
        assert_eq!(c.log_level, LogLevel::Debug);
        assert_eq!(c.text_encoding, TextEncoding::Utf8);
        let bad = Config::from_vars("X", |k| (k == "OKC_TRANSPORT").then(|| "ftp://x".into()));
        assert!(matches!(bad, Err(HubError::Config(_))));
        let def = Config::from_vars("X", |_| None).unwrap();
        assert_eq!(format!("{:?}", def.transports), "[usb, serial]");
        assert_eq!(def.text_encoding, TextEncoding::Cp1254);
        assert_eq!(def.log_dir, Some(PathBuf::from("./logs")));
    }
}
