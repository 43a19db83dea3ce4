//! okclink — an open, byte-compatible replacement for the Token Integration Hub library.
//!
//! Layers: [`proto`] (the sans-IO wire protocol, crate `okclink-wire`), [`transport`] (moves
//! whole messages), [`hub`] (connection runtime), `ffi` (C and vendor ABIs, the only module
//! with `unsafe`). The device simulator is the separate crate `okclink-sim`, the command
//! line the crate `okc`: neither is part of the shipped library.

#![deny(unsafe_code)]

pub use okclink_wire as proto;

pub mod config;
#[cfg(feature = "energy")]
pub mod energy;
pub mod ffi;
pub mod fiscal;
pub mod hub;
#[cfg(feature = "journal")]
pub mod journal;
pub mod pay;
#[cfg(any(feature = "tokenx", feature = "nexo", feature = "gptom"))]
pub(crate) mod runtime;
pub mod transport;
