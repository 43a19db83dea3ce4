//! The ÖKC device simulator: the device side of the same protocol engine
//! ([`crate::proto::device::DeviceSession`]) plus a fiscal "application" that behaves like
//! the real X30TR / 300TR in `../shared/protocol/samples/`.
//!
//! API contract (the hub, the CLI and the tests build on it):
//! - [`SimConfig`]: model, serial, identity, processing delay, faults.
//! - [`Simulator::new`] + [`Simulator::on_message`] / [`Simulator::poll_output`] /
//!   [`Simulator::on_tick`]: a sans-IO device (bytes in → bytes out), for tests and benches.
//! - [`mem_connector`]: an in-process device reachable through a [`crate::transport::Connector`]
//!   (in-memory link pair, device served by a background thread), with a [`SimControl`]
//!   handle to unplug/replug, inject faults and inspect what the device received.
//! - [`serve_tcp`]: `okc sim --listen ADDR`; the stream carries exactly the USB bytes.

pub mod identity;
