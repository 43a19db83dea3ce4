//! Swedbank Pay PAX terminals over nexo Retailer 3.1 (XML over HTTP on the shop LAN).
//!
//! - `msg`: the nexo messages as typed values, written in XSD element order and read
//!   tolerantly (sans-IO).
//! - `receipt`: the Base64 JSON receipts decoded into printable lines.

#[cfg(feature = "nexo")]
pub mod backend;
pub mod msg;
pub mod receipt;
pub mod session;
