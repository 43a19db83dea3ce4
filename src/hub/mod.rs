//! The connection runtime: one [`Hub`] per `createCommunication`, reader/writer/dispatcher
//! threads, discovery and reconnect, callbacks from one dispatcher thread, never under a lock.
//!
//! Public API (stable; `src/ffi` and the CLI build on it):
//! - [`Hub::new`] never blocks; discovery and the handshake run in the background.
//! - vendor semantics: [`Hub::send_basket`] → [`SendOutcome`], [`Hub::fiscal_info`],
//!   [`Hub::active_device_index`] (−1/0/1), state replay on `set_device_state_callback`,
//!   `(false, "")` on loss, serialIn(9, "Device is not connected") on ACK timeout.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::transport::Connector;

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
    /// Largest payload accepted from callers and from devices (default 1 MiB).
    pub max_payload: usize,
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
pub struct Hub {
    _private: (),
}

impl Hub {
    pub fn new(_config: Config) -> Result<Hub, HubError> {
        todo!("hub runtime")
    }
    /// Set or clear the data callback.
    pub fn set_serial_in_callback(&self, _cb: Option<SerialInFn>) {
        todo!()
    }
    /// Set or clear the state callback; the last known state is replayed at once (vendor).
    pub fn set_device_state_callback(&self, _cb: Option<DeviceStateFn>) {
        todo!()
    }
    /// −1 no device, 0 X30TR, 1 300TR.
    pub fn active_device_index(&self) -> i32 {
        todo!()
    }
    /// Send a basket (type 1). JSON is validated and size-checked, then sent as configured text.
    pub fn send_basket(&self, _json: &str) -> Result<SendOutcome, HubError> {
        todo!()
    }
    /// Send a payment or void (type 10).
    pub fn send_payment(&self, _json: &str) -> Result<SendOutcome, HubError> {
        todo!()
    }
    /// Request fiscal info (type 2) and wait up to `timeout` (None = config). Fresh JSON, or
    /// `Err(NoDevice)` / `Err(Timeout)`; vendor shims then fall back to [`Hub::last_fiscal_info`].
    pub fn fiscal_info(&self, _timeout: Option<Duration>) -> Result<String, HubError> {
        todo!()
    }
    /// The last fiscal info received in this session ("" after a disconnect).
    pub fn last_fiscal_info(&self) -> String {
        todo!()
    }
    /// Wait until a device is active and identified; returns its serial.
    pub fn wait_connected(&self, _timeout: Duration) -> Option<String> {
        todo!()
    }
    /// Vendor `reconnect`: restart discovery if it was stopped by `disconnect`.
    pub fn reconnect(&self) {
        todo!()
    }
    /// Vendor `deleteCommunication`: send DISCONNECT, wait (bounded) for the reply, close the
    /// device, deliver `(false, "")`, stop discovery until `reconnect`. The object stays usable.
    pub fn disconnect(&self) {
        todo!()
    }
    /// Final shutdown: disconnect, stop every thread. Idempotent, bounded.
    pub fn close(&self) {
        todo!()
    }
}
