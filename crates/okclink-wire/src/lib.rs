//! okclink-wire: the Token Integration Hub wire protocol (WIRE.md), sans-IO.
//!
//! No threads, no files, no sockets, no clock and no randomness of its own: bytes in, bytes
//! and events out, time (and, for the host session, the session-key source) passed in by the
//! caller. The runtime (`okclink`), the device simulator (`okclink-sim`), the CLI (`okc`) and
//! the fuzz targets all drive these same machines.
//!
//! Layers, bottom up: [`crc`] → [`frame`] (TLVs) → [`pipeline`] (zlib + AES-256-ECB) →
//! [`message`] (start/data/end, acceptance rules) → [`serial`] / [`stream`] (framing on a
//! byte stream) → [`cert`] (device certificates) → [`session`] (host machine) /
//! [`device`] (device machine). [`text`] is the one cp1254 ⇄ UTF-8 codec.

#![forbid(unsafe_code)]

pub mod cert;
pub mod crc;
pub mod device;
pub mod frame;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod message;
pub mod pipeline;
pub mod serial;
pub mod session;
pub mod stream;
pub mod text;

/// Which physical device family sits behind a link. Decides the certificate check
/// (ECDSA vs RSA), the ACK-before-basket rule and the active device index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceModel {
    /// Android-based X30TR over USB AOA (active device index 0).
    X30tr,
    /// 300TR over FTDI serial (active device index 1).
    T300tr,
}

impl DeviceModel {
    /// The vendor's `getActiveDeviceIndex` value for this model.
    pub fn index(self) -> i32 {
        match self {
            DeviceModel::X30tr => 0,
            DeviceModel::T300tr => 1,
        }
    }
}

impl std::str::FromStr for DeviceModel {
    type Err = String;
    /// `x30tr` / `x30`, `300tr` / `t300tr` / `300` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "x30tr" | "x30" => Ok(DeviceModel::X30tr),
            "300tr" | "t300tr" | "300" => Ok(DeviceModel::T300tr),
            m => Err(format!("unknown model {m:?} (x30tr or 300tr)")),
        }
    }
}
