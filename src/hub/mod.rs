//! The connection runtime: one [`Hub`] per `createCommunication`, reader/writer/dispatcher
//! threads, discovery and reconnect, callbacks from one dispatcher thread, never under a lock.
//!
//! Public API (stable; `src/ffi` and the CLI build on it):
//! - [`Hub::new`] never blocks; discovery and the handshake run in the background.
//! - vendor semantics: [`Hub::send_basket`] → [`SendOutcome`], [`Hub::fiscal_info`],
//!   [`Hub::active_device_index`] (−1/0/1), state replay on `set_device_state_callback`,
//!   `(false, "")` on loss, serialIn(9, "Device is not connected") on ACK timeout.
//!
//! Configuration: [`Config`] (`src/config.rs`, the one parser: defaults ← JSON ← env).
//! [`connector_for`] (USB/serial report "not available" in builds without them), the
//! [`text`] module (cp1254 ⇄ UTF-8, from `okclink-wire`), `impl Drop for Hub` (= `close`).
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

use std::sync::Arc;
use std::time::Duration;

use crate::transport::Connector;

mod log;
mod runtime;

pub use crate::config::{Config, ConfigError, LogLevel, TextEncoding, TransportSpec};
pub use okclink_wire::text;

use runtime::{Cmd, Job, Shared};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::Instant;

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
    TooLarge { len: usize, max: usize },
    NoDevice,
    Timeout,
    Closed,
    Config(String),
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
        }
    }
}

impl std::error::Error for HubError {}

impl From<ConfigError> for HubError {
    fn from(e: ConfigError) -> HubError {
        HubError::Config(e.0)
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
