//! Transports: each one only moves whole protocol messages (WIRE.md §4).
//!
//! A [`Connector`] finds/opens a device and yields a [`Link`]; a link is split into a
//! reader (owned by the hub's reader thread) and a writer (owned by the writer thread).
//! Framing inside a transport: USB = one bulk transfer per message (re-assembled by TLV
//! lengths if a device ever splits one), serial = the WIRE §4.3 re-assembler, TCP and the
//! in-memory pair = the same byte stream a USB bulk pipe would carry, split by TLV lengths.

use std::fmt;
use std::time::Duration;

pub mod mem;
#[cfg(feature = "serial")]
pub mod serial;
pub mod tcp;
#[cfg(feature = "usb")]
pub mod usb;

pub use okclink_wire::DeviceModel;

/// Errors a transport reports. `Gone` means the device vanished (unplug, EOF, ENODEV):
/// the hub ends the session and goes back to discovery.
#[derive(Debug)]
pub enum LinkError {
    /// The device is gone (unplugged, peer closed, LIBUSB_ERROR_NO_DEVICE, EOF).
    Gone(String),
    /// A transient I/O error; the operation may be retried.
    Io(String),
    /// A write did not complete within its timeout (after retries).
    Timeout,
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Gone(s) => write!(f, "device gone: {s}"),
            LinkError::Io(s) => write!(f, "i/o error: {s}"),
            LinkError::Timeout => write!(f, "write timed out"),
        }
    }
}

impl std::error::Error for LinkError {}

/// What one `recv` produced.
#[derive(Debug)]
pub enum Incoming {
    /// One whole message (start TLV, data TLV(s), end TLV) as raw wire bytes.
    Message(Vec<u8>),
    /// Bytes that could not be framed (serial: invalid data tag; stream: absurd length).
    /// The host answers with a type-60 error carrying this text once active.
    Garbage(&'static str),
    /// Nothing arrived within the timeout; the link is still fine.
    Idle,
}

/// Reading half of an open link; owned by exactly one thread.
pub trait LinkReader: Send {
    /// Wait up to `timeout` for the next whole message.
    fn recv(&mut self, timeout: Duration) -> Result<Incoming, LinkError>;
    /// The longest `recv` the runtime's reader should make: a `recv` that is woken by the
    /// writer half's `close` (TCP shutdown, USB transfer cancel) may block long, costing
    /// nothing while a device idles; one that is not must come back often enough for the
    /// reader to notice a stop (default 100 ms).
    fn wait_slice(&self) -> Duration {
        Duration::from_millis(100)
    }
}

/// Writing half of an open link; owned by exactly one thread.
pub trait LinkWriter: Send {
    /// Write one whole message (retrying as the transport sees fit).
    fn send(&mut self, message: &[u8]) -> Result<(), LinkError>;
    /// Release the device (close handle, release interface). Idempotent.
    fn close(&mut self);
}

/// An open connection to one device.
pub trait Link: Send {
    fn model(&self) -> DeviceModel;
    /// Human-readable description for logs ("usb 18d1:2d00 bus 1 addr 7", "tcp 127.0.0.1:7700").
    fn describe(&self) -> String;
    /// Whether the model is only a guess the certificate must settle (ECDSA P-384 → X30TR,
    /// RSA → 300TR): a TCP link without `?model=`.
    fn detect_model(&self) -> bool {
        false
    }
    fn split(self: Box<Self>) -> (Box<dyn LinkReader>, Box<dyn LinkWriter>);
}

/// Finds and opens devices of one kind. Called repeatedly by the hub's discovery loop.
pub trait Connector: Send + Sync {
    /// Short name for logs ("usb", "serial", "tcp://127.0.0.1:7700").
    fn name(&self) -> String;
    /// Try once to find and open a device, blocking at most `budget`.
    /// `Ok(None)` = no device present right now.
    fn connect(&self, budget: Duration) -> Result<Option<Box<dyn Link>>, LinkError>;
    /// How long the discovery loop should wait before the next `connect` attempt.
    fn poll_interval(&self) -> Duration {
        Duration::from_millis(250)
    }
}
