//! The ÖKC device simulator: the device side of the same protocol engine
//! ([`okclink_wire::device::DeviceSession`]) plus a fiscal "application" that behaves like
//! the real X30TR / 300TR (real logs: `tests/data/protocol/samples/`).
//!
//! API contract (the hub, the CLI and the tests build on it):
//! - [`SimConfig`]: model, serial, identity, processing delay, faults.
//! - [`Simulator::new`] + [`Simulator::on_message`] / [`Simulator::poll_output`] /
//!   [`Simulator::on_tick`]: a sans-IO device (bytes in → bytes out), for tests and benches.
//! - [`mem_connector`]: an in-process device reachable through a [`okclink::transport::Connector`]
//!   (in-memory link pair, device served by a background thread), with a [`SimControl`]
//!   handle to unplug/replug, inject faults and inspect what the device received.
//! - [`serve_tcp`]: `okc sim --listen ADDR`; the stream carries exactly the USB bytes; one
//!   host at a time, a second one is refused and never knocks off the first.
//! - `serve_pty` (unix): `okc sim --pty`; the same byte stream on a pseudo-terminal, as
//!   the 300TR's serial port.
//! - [`CloudSim`] (module [`cloud`]): `okc sim-cloud`; the TokenX Connect cloud (Token's REST
//!   API, webhooks, one simulated device per terminal, request log, faults) on its own tokio
//!   runtime, and on the same server Token X Energy (a forecourt's fuel orders: lock, pay,
//!   the pump ÖKC completing; its faults).
//! - [`NexoSim`] (module [`nexo`]): `okc sim-terminal --nexo`; a Swedbank Pay PAX terminal
//!   (nexo Retailer 3.1 XML over HTTP: login, payments, abort, TransactionStatus, reversal,
//!   receipts, the terminal's calls to the POS listener, request log, faults).
//! - [`GptomSim`] (module [`gptom`]): `okc sim-terminal --gptom`; Global Payments' GP tom
//!   Cloud API (OAuth tokens, TRANSACTION / BATCH tasks, one simulated device per TID with a
//!   FIFO queue, automatic / assisted mode and scriptable outcomes, request log, faults).
//!
//! Argument parsing and file reading (`okc sim …`, `okc sim-cloud …`) live in the `okc` crate.
//!
//! Behaviour per model (WIRE §16.1 and the real logs in `samples/`):
//!
//! | | X30TR | 300TR |
//! |---|---|---|
//! | hello "OK" (type 4) | yes | no |
//! | trailing "OK" after data (types 0, 2, 3) | yes | no |
//! | accepted basket (type 1) | `"OK"`, then the sale info when "paid" | `{"basketID":…,"status":0}`, receipt stays open |
//! | payments | inside the basket (none = cash at the device) | type 10 each, answered `{"basketID":…,"status":0}`; sale info once paid |
//! | ACK (type 11) | answered with an empty type 11 | answered with an empty type 11 |
//! | rejected basket/payment | cp1254 error text of the same type | same |
//!
//! A void (`{"isVoid":true}` as type 1 or 10) closes the open receipt with status 99.
//! The sale info (type 3) is re-sent every [`SimConfig::sale_resend_interval`] until the
//! host answers type 3 "OK", across reconnects too (receipt state survives a link drop).
//! Amounts in the sale info are floats of the same kuruş value the basket carried.
//!
//! Choices where the samples are silent (marked "ours" in [`fiscal::texts`]):
//! - Error texts other than the two real 300TR ones are the simulator's own Turkish texts,
//!   cp1254-encoded like the real ones; the X30TR answers rejected baskets the same way
//!   (the real X30TR was only seen accepting).
//! - The 300TR answers each accepted payment (type 10) with `{"basketID":…,"status":0}`
//!   (no real payment reply was ever captured); non-cash payments may not exceed what is
//!   left to pay, cash may (change).
//! - An X30TR basket without payment items is paid in cash at the device.
//! - Receipt `status`: 0 completed, -1 cancelled at the device ([`Faults::cancel_sales`]),
//!   99 voided (`isVoid`), following the customer code quoted in DROP-IN §5.3.
//! - X30TR payment `id`s: cash 1, card 0 (real), food card 2, open account 3 (ours).
//! - A basket or payment that arrived before the link dropped is still carried out (its
//!   reply is lost); the resulting sale info goes to the next host.

#![forbid(unsafe_code)]

use std::time::Duration;

pub mod cloud;
mod engine;
pub mod fiscal;
pub mod gptom;
pub mod identity;
mod killable;
mod mem;
pub mod nexo;
#[cfg(unix)]
mod pty;
mod tcp;

pub use cloud::{
    BasketState, CloudBasket, CloudConfig, CloudFaults, CloudRequest, CloudSim, CloudTerminal,
    DeviceOutcome, EnergyConfig, EnergyFaults, EnergyOrder, EnergyTerminal, Fuelling, OrderState,
    WebhookDelivery,
};
pub use engine::{Received, SaleRecord, SimStats, Simulator, JUNK};
pub use gptom::{
    GptomAccount, GptomConfig, GptomFaults, GptomRequest, GptomSim, GptomTask, GptomTransaction,
    TaskKind, TaskMode, TaskOutcome, TaskState,
};
pub use nexo::{
    NexoConfig, NexoFaults, NexoListenerCall, NexoRequestLog, NexoSim, NexoTransaction,
    PaymentOutcome,
};

/// What a running simulator recorded, read under its lock. [`SimControl`] (in-process) and
/// [`SimServer`] (TCP) both dereference to it, so the inspection methods are written once.
pub struct SimRecords(parking_lot::Mutex<Simulator>);

impl SimRecords {
    pub(crate) fn new(sim: Simulator) -> SimRecords {
        SimRecords(parking_lot::Mutex::new(sim))
    }
    pub(crate) fn lock(&self) -> parking_lot::MutexGuard<'_, Simulator> {
        self.0.lock()
    }
    /// The fault switches in force.
    pub fn faults(&self) -> Faults {
        self.lock().faults().clone()
    }
    /// Everything the device received so far (decoded).
    pub fn received(&self) -> Vec<Received> {
        self.lock().received().to_vec()
    }
    /// Types of everything received so far.
    pub fn received_types(&self) -> Vec<u16> {
        self.lock().received_types()
    }
    /// Receipts produced so far.
    pub fn sales(&self) -> Vec<SaleRecord> {
        self.lock().sales().to_vec()
    }
    pub fn sales_count(&self) -> usize {
        self.lock().sales().len()
    }
    pub fn stats(&self) -> SimStats {
        self.lock().stats().clone()
    }
}
pub use identity::DeviceIdentity;
pub use mem::{mem_connector, SimControl};
#[cfg(unix)]
pub use pty::{serve_pty, PtyServer};
pub use tcp::{run_tcp_blocking, serve_tcp, SimServer, BUSY_GRACE};

use okclink_wire::DeviceModel;

/// Fault injection switches. All off by default.
///
/// The counted faults (`drop_every`, `duplicate_every`, `corrupt_every`) count the messages
/// the device sends after the key-share "OK" (the device-info serial is message 1, on the
/// X30TR its "OK" message 2, and so on); handshake messages are never touched. A count of
/// `Some(n)` hits messages n, 2n, 3n, …
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// The device never sends anything (not even its certificate).
    pub silent: bool,
    /// Drop every n-th message.
    pub drop_every: Option<u32>,
    /// Send every n-th message twice.
    pub duplicate_every: Option<u32>,
    /// Write 4 junk bytes ([`JUNK`], no `00 31`) before every n-th message.
    pub junk_every: Option<u32>,
    /// Write every n-th message in two pieces (a device splitting a message across USB
    /// transfers; stream readers must re-assemble it).
    pub split_every: Option<u32>,
    /// Lose every n-th message the host sends after the key share (the device never
    /// sees it; counted from the first host message after the key share).
    pub lose_incoming_every: Option<u32>,
    /// Flip a ciphertext byte of every n-th message's data TLV (the host sees a CRC error).
    pub corrupt_every: Option<u32>,
    /// X30TR: send the hello "OK" only after the key share arrived, so it reaches the host
    /// under the old (default) key after the switch (WIRE §6.1 race).
    pub hello_ok_after_keyshare: bool,
    /// Send a certificate whose signature does not verify.
    pub bad_certificate: bool,
    /// One-shot: the next fiscal info / basket reply / payment reply / sale info is cut in
    /// half and the device disappears (link dropped; in-process: unplugged).
    pub vanish_mid_message: bool,
    /// Never answer the 300TR ACK request (the host times out: "Device is not connected").
    pub ignore_ack: bool,
    /// Do not hear the host's sale-info "OK": the sale info is re-sent forever.
    pub ignore_sale_ok: bool,
    /// One-shot: the next basket is not processed; the device sends a RECONNECT (type 8).
    pub reconnect_on_basket: bool,
    /// The operator cancels every sale at the device: sale info with status -1.
    pub cancel_sales: bool,
}

/// 300TR default: time from the last payment to the receipt (printing it).
pub const T300TR_SALE_DELAY: Duration = Duration::from_millis(1500);
/// 300TR default: sale-info re-send interval until the host's "OK".
pub const T300TR_RESEND_INTERVAL: Duration = Duration::from_secs(3);
/// X30TR default: sale-info re-send interval (the sale delay is 0: the X30TR's customer
/// pays at the device, the host waits for that anyway).
pub const X30TR_RESEND_INTERVAL: Duration = Duration::from_secs(1);

/// Simulator configuration. Start from [`SimConfig::x30tr`] or [`SimConfig::t300tr`].
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub model: DeviceModel,
    /// Fiscal serial: `AV…` (X30TR) or `AT…` (300TR).
    pub serial: String,
    /// Certificate + signature; `None` = generate one (P-384 X30TR, RSA-2048 300TR).
    pub identity: Option<DeviceIdentity>,
    /// The fiscal-info (type 2) payload served; defaults to the model's real one.
    pub fiscal_info: Vec<u8>,
    /// Delay before the device answers a fiscal-info, basket or payment request.
    pub processing_delay: Duration,
    /// Delay between the sale being fully paid and its receipt (sale info) — the time the
    /// customer spends at the device. X30TR: after the basket "OK"; 300TR: after the last payment.
    pub sale_delay: Duration,
    /// Interval of sale-info re-sends until the host's "OK".
    pub sale_resend_interval: Duration,
    /// Z report number written into receipts.
    pub z_no: u32,
    /// Number of the first receipt (then increasing).
    pub first_receipt_no: u32,
    /// Batch number written for card payments.
    pub batch_no: u32,
    pub faults: Faults,
    /// In-process device ([`mem_connector`]): after the vanish fault unplugged it, plug it
    /// back in after this long (`None` = stay unplugged until [`SimControl::plug`]).
    pub replug_after: Option<Duration>,
    /// Print the device's log lines to stderr.
    pub verbose: bool,
}

impl SimConfig {
    /// An X30TR with the real X30TR fiscal info.
    pub fn x30tr() -> SimConfig {
        SimConfig {
            model: DeviceModel::X30tr,
            serial: "AV0000000001".into(),
            identity: None,
            fiscal_info: fiscal::FISCAL_X30TR.to_vec(),
            processing_delay: Duration::ZERO,
            sale_delay: Duration::ZERO,
            sale_resend_interval: X30TR_RESEND_INTERVAL,
            z_no: 39,
            first_receipt_no: 1,
            batch_no: 16,
            faults: Faults::default(),
            replug_after: None,
            verbose: false,
        }
    }

    /// A 300TR with the real 300TR fiscal info, answering at a real device's pace: the
    /// receipt (sale info) follows the last payment after [`T300TR_SALE_DELAY`] and is
    /// re-sent every [`T300TR_RESEND_INTERVAL`] until the host's "OK".
    ///
    /// Why not 0 ms: with no sale delay the payment reply and the sale info reach the host
    /// in one serial read, which the vendor's own library mis-reads (and its delete then
    /// hangs); a real 300TR prints the receipt first. Tests that want speed set
    /// `sale_delay` / `sale_resend_interval` themselves.
    pub fn t300tr() -> SimConfig {
        SimConfig {
            model: DeviceModel::T300tr,
            serial: "AT0000000001".into(),
            fiscal_info: fiscal::FISCAL_300TR.to_vec(),
            z_no: 105,
            sale_delay: T300TR_SALE_DELAY,
            sale_resend_interval: T300TR_RESEND_INTERVAL,
            ..SimConfig::x30tr()
        }
    }

    /// A 300TR that prints at once (no sale delay, 1 s re-sends) — for tests and benches
    /// that step time themselves or count messages; [`SimConfig::t300tr`]'s paced defaults
    /// are for people and programs developed against the simulator.
    pub fn t300tr_immediate() -> SimConfig {
        SimConfig {
            sale_delay: Duration::ZERO,
            sale_resend_interval: Duration::from_secs(1),
            ..SimConfig::t300tr()
        }
    }

    /// Defaults for `model`.
    pub fn for_model(model: DeviceModel) -> SimConfig {
        match model {
            DeviceModel::X30tr => SimConfig::x30tr(),
            DeviceModel::T300tr => SimConfig::t300tr(),
        }
    }
}
