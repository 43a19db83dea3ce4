//! okclink — an open, byte-compatible replacement for the Token Integration Hub library.
//!
//! Layers: [`proto`] (sans-IO wire protocol), [`transport`] (moves whole messages),
//! [`hub`] (connection runtime), [`sim`] (device simulator), `ffi` (C and vendor ABIs).

pub mod ffi;
pub mod hub;
pub mod proto;
pub mod sim;
pub mod transport;
