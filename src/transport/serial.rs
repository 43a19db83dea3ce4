//! FTDI serial transport for the 300TR (WIRE.md §9), on the `serialport` crate.
//!
//! - Discovery: an explicit path ([`SerialConfig::path`], e.g. one side of a pseudo-terminal
//!   pair in tests) or the first FTDI `0403:6001` port: on Linux from sysfs
//!   (`/sys/class/tty/ttyUSB*|ttyACM*`, walking up to the USB device's `idVendor`/`idProduct`),
//!   elsewhere from the `serialport` crate's port list (Windows SetupAPI, macOS IOKit).
//! - Port: 115200 8N1, raw, no flow control, opened exclusively.
//! - Receive: the vendor's re-assembler ([`SerialReassembler`], WIRE.md §4.3); an invalid data
//!   tag becomes [`Incoming::Garbage`] with the vendor text "Invalid TLV Data". The RECONNECT
//!   key reset, the RSA certificate check and ACK-before-basket live in the host session.
//! - Hot-plug by polling: the hub calls `connect` every [`SerialConfig::poll_interval`]
//!   (vendor: 1 s); a read error, end of file or the path vanishing ends the link.

use std::io::{ErrorKind, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serialport::{DataBits, FlowControl, Parity, SerialPort, StopBits};

use super::{Connector, DeviceModel, Incoming, Link, LinkError, LinkReader, LinkWriter};
use crate::proto::serial::{SerialEvent, SerialReassembler};

/// FTDI FT232R, the 300TR's USB-serial bridge.
pub const FTDI_VID: u16 = 0x0403;
pub const FTDI_PID: u16 = 0x6001;

#[derive(Debug, Clone)]
pub struct SerialConfig {
    /// Use this port instead of searching for the FTDI bridge.
    pub path: Option<PathBuf>,
    /// USB ids of the bridge to search for (default 0403:6001).
    pub vid: u16,
    pub pid: u16,
    /// Baud rate (default 115200; 8N1 always).
    pub baud: u32,
    /// Longest single wait inside one `recv` (bounds unplug detection; default 250 ms).
    pub read_slice: Duration,
    /// Timeout of one write attempt (default 2 s).
    pub write_timeout: Duration,
    /// Retries after a failed write attempt (default 3, as the vendor).
    pub write_retries: u32,
    /// Largest data-TLV ciphertext accepted by the re-assembler (default 1 MiB).
    pub max_cipher: usize,
    /// Discovery re-scan interval (default 250 ms; vendor 1 s).
    pub poll_interval: Duration,
    /// Root of sysfs for Linux discovery (default `/sys`; tests point it elsewhere).
    pub sysfs_root: PathBuf,
    /// Directory holding the device nodes (default `/dev`).
    pub dev_root: PathBuf,
}

impl Default for SerialConfig {
    fn default() -> Self {
        SerialConfig {
            path: None,
            vid: FTDI_VID,
            pid: FTDI_PID,
            baud: 115_200,
            read_slice: Duration::from_millis(250),
            write_timeout: Duration::from_secs(2),
            write_retries: 3,
            max_cipher: 1 << 20,
            poll_interval: Duration::from_millis(250),
            sysfs_root: PathBuf::from("/sys"),
            dev_root: PathBuf::from("/dev"),
        }
    }
}

/// Finds (or is told) the 300TR's port and opens it.
pub struct SerialConnector {
    cfg: SerialConfig,
}

impl SerialConnector {
    pub fn new(cfg: SerialConfig) -> Self {
        SerialConnector { cfg }
    }

    pub fn config(&self) -> &SerialConfig {
        &self.cfg
    }

    /// The port to open now: the configured path if it exists, else the first matching
    /// FTDI port.
    pub fn find_port(&self) -> Option<PathBuf> {
        match &self.cfg.path {
            Some(p) => p.exists().then(|| p.clone()),
            None => discover(&self.cfg),
        }
    }
}

/// Linux: scan sysfs like the vendor (`ttyUSB*`/`ttyACM*` whose USB device has the ids).
#[cfg(target_os = "linux")]
pub fn discover(cfg: &SerialConfig) -> Option<PathBuf> {
    let class = cfg.sysfs_root.join("class/tty");
    let mut names: Vec<String> = std::fs::read_dir(&class)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ttyUSB") || n.starts_with("ttyACM"))
        .collect();
    names.sort_by_key(|n| (n.len(), n.clone()));
    names.into_iter().find_map(|name| {
        let ids = usb_ids_of(&class.join(&name).join("device"))?;
        (ids == (cfg.vid, cfg.pid)).then(|| cfg.dev_root.join(&name))
    })
}

/// Other platforms: the `serialport` crate's port list.
#[cfg(not(target_os = "linux"))]
pub fn discover(cfg: &SerialConfig) -> Option<PathBuf> {
    let ports = serialport::available_ports().ok()?;
    ports.into_iter().find_map(|p| match p.port_type {
        serialport::SerialPortType::UsbPort(u) if u.vid == cfg.vid && u.pid == cfg.pid => {
            Some(PathBuf::from(p.port_name))
        }
        _ => None,
    })
}

/// Walk up from a tty's `device` link to the USB device directory and read its ids.
#[cfg(target_os = "linux")]
fn usb_ids_of(device: &std::path::Path) -> Option<(u16, u16)> {
    let mut dir = std::fs::canonicalize(device).ok()?;
    for _ in 0..4 {
        let v = std::fs::read_to_string(dir.join("idVendor"));
        let p = std::fs::read_to_string(dir.join("idProduct"));
        if let (Ok(v), Ok(p)) = (v, p) {
            let v = u16::from_str_radix(v.trim(), 16).ok()?;
            let p = u16::from_str_radix(p.trim(), 16).ok()?;
            return Some((v, p));
        }
        if !dir.pop() {
            break;
        }
    }
    None
}

impl Connector for SerialConnector {
    fn name(&self) -> String {
        match &self.cfg.path {
            Some(p) => format!("serial:{}", p.display()),
            None => "serial".into(),
        }
    }

    fn connect(&self, _budget: Duration) -> Result<Option<Box<dyn Link>>, LinkError> {
        let Some(path) = self.find_port() else {
            return Ok(None);
        };
        let name = path.to_string_lossy().into_owned();
        let port = serialport::new(name.as_str(), self.cfg.baud)
            .data_bits(DataBits::Eight)
            .parity(Parity::None)
            .stop_bits(StopBits::One)
            .flow_control(FlowControl::None)
            .timeout(self.cfg.read_slice)
            .open()
            .map_err(|e| LinkError::Io(format!("open {name}: {e}")))?;
        Ok(Some(Box::new(SerialLink {
            port,
            path,
            cfg: self.cfg.clone(),
        })))
    }

    fn poll_interval(&self) -> Duration {
        self.cfg.poll_interval
    }
}

/// An open 300TR port.
pub struct SerialLink {
    port: Box<dyn SerialPort>,
    path: PathBuf,
    cfg: SerialConfig,
}

impl Link for SerialLink {
    fn model(&self) -> DeviceModel {
        DeviceModel::T300tr
    }

    fn describe(&self) -> String {
        format!("serial {}", self.path.display())
    }

    fn split(self: Box<Self>) -> (Box<dyn LinkReader>, Box<dyn LinkWriter>) {
        let writer_port = self.port.try_clone().ok();
        let closed = Arc::new(AtomicBool::new(false));
        let reader = SerialReader {
            closed: closed.clone(),
            port: self.port,
            path: self.path,
            asm: SerialReassembler::new(self.cfg.max_cipher),
            buf: vec![0; 4096],
            slice: self.cfg.read_slice.max(Duration::from_millis(1)),
            gone: false,
        };
        let writer = SerialWriter {
            closed,
            port: writer_port,
            timeout: self.cfg.write_timeout.max(Duration::from_millis(1)),
            retries: self.cfg.write_retries,
        };
        (Box::new(reader), Box::new(writer))
    }
}

struct SerialReader {
    closed: Arc<AtomicBool>,
    port: Box<dyn SerialPort>,
    path: PathBuf,
    asm: SerialReassembler,
    buf: Vec<u8>,
    slice: Duration,
    gone: bool,
}

impl SerialReader {
    fn gone(&mut self, why: String) -> LinkError {
        self.gone = true;
        LinkError::Gone(why)
    }
}

impl LinkReader for SerialReader {
    fn recv(&mut self, timeout: Duration) -> Result<Incoming, LinkError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(ev) = self.asm.next_event() {
                return Ok(match ev {
                    SerialEvent::Message { bytes, .. } => Incoming::Message(bytes),
                    SerialEvent::Invalid(text) => Incoming::Garbage(text),
                });
            }
            if self.gone || self.closed.load(Ordering::SeqCst) {
                return Err(LinkError::Gone("serial port closed".into()));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Incoming::Idle);
            }
            if !self.path.exists() {
                return Err(self.gone(format!("{} vanished", self.path.display())));
            }
            let wait = (deadline - now)
                .min(self.slice)
                .max(Duration::from_millis(1));
            let _ = self.port.set_timeout(wait);
            match self.port.read(&mut self.buf) {
                Ok(0) => return Err(self.gone(format!("{}: end of file", self.path.display()))),
                Ok(n) => self.asm.push(&self.buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::TimedOut | ErrorKind::WouldBlock | ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(self.gone(format!("{}: {e}", self.path.display()))),
            }
        }
    }
}

struct SerialWriter {
    closed: Arc<AtomicBool>,
    port: Option<Box<dyn SerialPort>>,
    timeout: Duration,
    retries: u32,
}

impl LinkWriter for SerialWriter {
    fn send(&mut self, message: &[u8]) -> Result<(), LinkError> {
        let Some(port) = self.port.as_mut() else {
            return Err(LinkError::Gone("serial port closed".into()));
        };
        let _ = port.set_timeout(self.timeout);
        let mut off = 0;
        let mut failures = 0u32;
        while off < message.len() {
            match port.write(&message[off..]) {
                Ok(0) => return Err(LinkError::Gone("serial port: wrote nothing".into())),
                Ok(n) => off += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                    failures += 1;
                    if failures > self.retries {
                        return Err(LinkError::Timeout);
                    }
                }
                Err(e) => return Err(LinkError::Gone(format!("serial write: {e}"))),
            }
        }
        let _ = port.flush();
        Ok(())
    }

    fn close(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
        self.port = None;
    }
}
