//! The wired back end's host core: everything about talking to an ÖKC that spans links, as a
//! plain value with no threads, no I/O, no clock and no randomness of its own.
//!
//! The driver (`super`) feeds it link events (`link_opened`, `on_message`, `on_garbage`,
//! `link_lost`), API calls (`send_data`, `request_fiscal`, `disconnect`, `shutdown`) and time
//! (`handle_timeout` at `poll_timeout`), and drains three outputs:
//! - [`HostCore::poll_transmit`]: bytes to write to a link, or a link to close;
//! - [`HostCore::poll_timeout`]: when to call `handle_timeout` next (the session's one timer
//!   table: handshake, fiscal info, 300TR ACKs, disconnect);
//! - [`HostCore::poll_event`]: callbacks to queue, replies to API calls (with the order they
//!   must keep relative to the callbacks: [`ReplyOrder`]), state the API reads directly, logs.
//!
//! What it owns: the [`HostSession`] of the open link (one at a time; a link is known by its
//! generation number so events of an old link are ignored), the sale-info duplicate filter
//! that spans links ([`SaleRing`], handed from each session to the next), the API calls
//! waiting for the link, and the "announced" state that decides whether a lost link is
//! reported as `(false, "")`.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use okclink_wire::session::{
    HostConfig, HostEvent, HostPhase, HostSession, KeySource, Level, OpId, SaleRing, SendResult,
};
use okclink_wire::text::{decode_device_bytes, decode_device_text};
use okclink_wire::DeviceModel;

use crate::config::LogLevel;
use crate::fiscal::{HubError, SendOutcome};

/// Identifies one opened link; events carrying an older generation are ignored.
pub type LinkGen = u64;

/// What the core needs to know (a subset of [`crate::config::Config`], plus injected
/// randomness).
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub company_name: String,
    pub fiscal_timeout: Duration,
    pub ack_timeout: Duration,
    pub disconnect_timeout: Duration,
    pub handshake_timeout: Duration,
    /// Largest plaintext accepted from the device.
    pub max_receive: usize,
    pub keys: KeySource,
}

impl CoreConfig {
    fn host_config(&self, model: DeviceModel, detect_model: bool) -> HostConfig {
        let mut h = HostConfig::new(&self.company_name, model);
        h.detect_model = detect_model;
        h.fiscal_timeout = self.fiscal_timeout;
        h.ack_timeout = self.ack_timeout;
        // Keep a margin inside the caller's bound for teardown and the state callback.
        h.disconnect_timeout = self
            .disconnect_timeout
            .saturating_sub(self.disconnect_timeout / 5)
            .max(Duration::from_millis(1));
        h.handshake_timeout = Some(self.handshake_timeout);
        h.max_plaintext = self.max_receive;
        h.keys = self.keys.clone();
        h
    }
}

/// Work for the link threads.
#[derive(Debug, PartialEq, Eq)]
pub enum Transmit {
    /// Write this whole message to link `gen`.
    Data(LinkGen, Vec<u8>),
    /// Stop the reader and writer of link `gen` and release the device.
    Close(LinkGen),
}

/// When a reply may reach its caller relative to the callbacks queued before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyOrder {
    /// At once.
    Now,
    /// Only after every callback queued before it has run: `serialIn(9, …)` before the ACK
    /// timeout result, `(false, "")` before `disconnect` returns. (When the caller *is* the
    /// callback thread it cannot wait for itself: the driver replies at once then.)
    AfterQueuedCallbacks,
}

/// The answer to one API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Send(SendOutcome),
    Fiscal(Result<String, HubError>),
    Disconnected,
}

/// What the driver must do or report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreEvent {
    /// Queue `deviceStateCallback(connected, serial)`.
    State(bool, String),
    /// Queue `serialInCallback(type, value)`.
    SerialIn(i32, String),
    /// Answer API call `op`.
    Reply {
        op: OpId,
        reply: Reply,
        order: ReplyOrder,
    },
    /// The active device index changed (−1 none, 0 X30TR, 1 300TR).
    ActiveIndex(i32),
    /// The device's serial (`None`: no device).
    Serial(Option<String>),
    /// The last fiscal info received changed (`""` after a disconnect).
    FiscalStored(String),
    /// Link `gen` is finished; `became_active` tells discovery whether to back off.
    LinkClosed {
        gen: LinkGen,
        became_active: bool,
    },
    Log(LogLevel, String),
}

/// The session of the open link and what the core knows about it.
struct Link {
    gen: LinkGen,
    session: HostSession,
    /// `(true, serial)` was reported or the session became active: a loss reports `(false, "")`.
    announced: bool,
}

/// The wired host core (see the module documentation).
pub struct HostCore {
    cfg: CoreConfig,
    link: Option<Link>,
    /// The duplicate filter while no session holds it.
    sales: SaleRing,
    /// Send calls handed to the current link and not answered yet.
    sends: HashSet<OpId>,
    fiscal_waiters: Vec<OpId>,
    disconnect_waiters: Vec<OpId>,
    /// The fiscal info last reported through [`CoreEvent::FiscalStored`] (raw bytes).
    fiscal_seen: Vec<u8>,
    transmit: VecDeque<Transmit>,
    events: VecDeque<CoreEvent>,
}

fn map_level(l: Level) -> LogLevel {
    match l {
        Level::Error => LogLevel::Error,
        Level::Warn => LogLevel::Warn,
        Level::Info => LogLevel::Info,
        Level::Debug => LogLevel::Debug,
    }
}

impl HostCore {
    pub fn new(cfg: CoreConfig) -> HostCore {
        HostCore {
            cfg,
            link: None,
            sales: SaleRing::default(),
            sends: HashSet::new(),
            fiscal_waiters: Vec::new(),
            disconnect_waiters: Vec::new(),
            fiscal_seen: Vec::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// A fresh core that keeps the duplicate filter of `old` (recovery after a panic in the
    /// driver: whatever else `old` held is abandoned, its link closed by the caller).
    pub fn recover_from(old: &mut HostCore) -> HostCore {
        let sales = match old.link.as_mut() {
            Some(l) => l.session.take_sales(),
            None => std::mem::take(&mut old.sales),
        };
        let mut c = HostCore::new(old.cfg.clone());
        c.sales = sales;
        c
    }

    /// The open link's generation, if any.
    pub fn link_gen(&self) -> Option<LinkGen> {
        self.link.as_ref().map(|l| l.gen)
    }

    /// Whether the open link was announced (a loss must report `(false, "")`).
    pub fn announced(&self) -> bool {
        self.link.as_ref().is_some_and(|l| l.announced)
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmit.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<CoreEvent> {
        self.events.pop_front()
    }

    /// The next instant `handle_timeout` has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.link.as_ref().and_then(|l| l.session.next_deadline())
    }

    fn log(&mut self, level: LogLevel, msg: impl Into<String>) {
        self.events.push_back(CoreEvent::Log(level, msg.into()));
    }

    fn reply(&mut self, op: OpId, reply: Reply, order: ReplyOrder) {
        self.events.push_back(CoreEvent::Reply { op, reply, order });
    }

    /// A link opened. Returns `false` (and queues its `Close`) if another one is open.
    pub fn link_opened(
        &mut self,
        now: Instant,
        gen: LinkGen,
        model: DeviceModel,
        detect_model: bool,
        describe: &str,
    ) -> bool {
        if self.link.is_some() {
            self.transmit.push_back(Transmit::Close(gen));
            return false;
        }
        self.log(
            LogLevel::Info,
            format!("link open: {describe} ({model:?}); sending Hello"),
        );
        let cfg = self.cfg.host_config(model, detect_model);
        let mut session = HostSession::with_sales(cfg, std::mem::take(&mut self.sales));
        session.start(now);
        self.link = Some(Link {
            gen,
            session,
            announced: false,
        });
        self.pump();
        true
    }

    fn current(&mut self, gen: LinkGen) -> Option<&mut HostSession> {
        self.link
            .as_mut()
            .filter(|l| l.gen == gen)
            .map(|l| &mut l.session)
    }

    /// A whole message arrived on link `gen`.
    pub fn on_message(&mut self, now: Instant, gen: LinkGen, bytes: &[u8]) {
        if let Some(s) = self.current(gen) {
            s.on_message(now, bytes);
            self.pump();
        }
    }

    /// Bytes on link `gen` could not be framed (`reason` is the vendor's text).
    pub fn on_garbage(&mut self, gen: LinkGen, reason: &'static str) {
        if let Some(s) = self.current(gen) {
            s.garbage(reason);
            self.pump();
        }
    }

    /// Link `gen` is gone (unplug, EOF, I/O errors, a panic in its threads).
    pub fn link_lost(&mut self, gen: LinkGen, why: &str) {
        if self.current(gen).is_some() {
            self.log(LogLevel::Warn, format!("device lost: {why}"));
            if let Some(s) = self.current(gen) {
                s.link_lost();
            }
            self.pump();
        }
    }

    /// `sendBasket` (tag 1) / `sendPayment` (tag 10): `payload` is the wire text.
    pub fn send_data(&mut self, now: Instant, op: OpId, t: u16, payload: &[u8]) {
        match self.link.as_mut().filter(|l| l.session.is_active()) {
            None => self.reply(op, Reply::Send(SendOutcome::NoDevice), ReplyOrder::Now),
            Some(l) => {
                self.sends.insert(op);
                l.session.send_data(now, op, t, payload);
                self.pump();
            }
        }
    }

    /// `getFiscalInfo`: answered by a fresh value, `Timeout` or `NoDevice`.
    pub fn request_fiscal(&mut self, now: Instant, op: OpId) {
        match self.link.as_mut().filter(|l| l.session.is_active()) {
            None => self.reply(op, Reply::Fiscal(Err(HubError::NoDevice)), ReplyOrder::Now),
            Some(l) => {
                self.fiscal_waiters.push(op);
                l.session.request_fiscal_info(now);
                self.pump();
            }
        }
    }

    /// `deleteCommunication`: DISCONNECT, bounded wait, close; answered after `(false, "")`.
    pub fn disconnect(&mut self, now: Instant, op: OpId) {
        match self.link.as_mut() {
            None => {
                self.log(LogLevel::Info, "disconnect: active_device : -1");
                self.reply(op, Reply::Disconnected, ReplyOrder::AfterQueuedCallbacks);
            }
            Some(l) => {
                self.disconnect_waiters.push(op);
                l.session.disconnect(now);
                self.pump();
            }
        }
    }

    /// Final stop: the link is dropped at once, every waiting call answered.
    pub fn shutdown(&mut self) {
        if let Some(l) = self.link.as_mut() {
            l.session.link_lost();
        }
        self.pump();
        for op in std::mem::take(&mut self.disconnect_waiters) {
            self.reply(op, Reply::Disconnected, ReplyOrder::AfterQueuedCallbacks);
        }
    }

    /// Fire the timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(l) = self.link.as_mut() {
            if l.session.next_deadline().is_some_and(|d| d <= now) {
                l.session.on_tick(now);
                self.pump();
            }
        }
    }

    /// Turn the session's events into transmits, events and replies.
    fn pump(&mut self) {
        let mut closed = false;
        while let Some(l) = self.link.as_mut() {
            let gen = l.gen;
            let Some(ev) = l.session.poll_event() else {
                break;
            };
            match ev {
                HostEvent::Send(m) => self.transmit.push_back(Transmit::Data(gen, m)),
                HostEvent::Active => {
                    l.announced = true;
                    let index = l.session.model().index();
                    self.events.push_back(CoreEvent::ActiveIndex(index));
                }
                HostEvent::Identified(raw) => {
                    l.announced = true;
                    let serial = decode_device_bytes(raw);
                    self.log(LogLevel::Info, format!("device identified: {serial}"));
                    self.events
                        .push_back(CoreEvent::Serial(Some(serial.clone())));
                    self.events.push_back(CoreEvent::State(true, serial));
                }
                HostEvent::SerialIn(t, raw) => {
                    self.events
                        .push_back(CoreEvent::SerialIn(i32::from(t), decode_device_bytes(raw)));
                }
                HostEvent::FiscalInfo(r) => {
                    let gone = l.session.phase() == HostPhase::Closed;
                    let waiters = std::mem::take(&mut self.fiscal_waiters);
                    let reply = match r {
                        Ok(raw) => {
                            self.log(
                                LogLevel::Info,
                                format!("FISCAL_INFO fiscalReady: 1 ({} bytes)", raw.len()),
                            );
                            // Stored before the callers hear of it: `last_fiscal_info`
                            // right after `fiscal_info` returns gives the same value.
                            let text = decode_device_text(&raw);
                            if raw != self.fiscal_seen {
                                self.fiscal_seen = raw;
                                self.events.push_back(CoreEvent::FiscalStored(text.clone()));
                            }
                            Ok(text)
                        }
                        Err(_) if gone => Err(HubError::NoDevice),
                        Err(_) => Err(HubError::Timeout),
                    };
                    for op in waiters {
                        self.reply(op, Reply::Fiscal(reply.clone()), ReplyOrder::Now);
                    }
                }
                HostEvent::SendDone(op, r) => {
                    if self.sends.remove(&op) {
                        let (outcome, order) = match r {
                            SendResult::Sent => (SendOutcome::Accepted, ReplyOrder::Now),
                            SendResult::NotActive => (SendOutcome::NoDevice, ReplyOrder::Now),
                            // serialIn(9, …) is queued already: the caller hears of the
                            // timeout after its callback ran.
                            SendResult::AckTimeout => {
                                (SendOutcome::AckTimeout, ReplyOrder::AfterQueuedCallbacks)
                            }
                        };
                        self.reply(op, Reply::Send(outcome), order);
                    }
                }
                HostEvent::CertificateOk(info) => {
                    self.log(LogLevel::Debug, format!("certificate ok: {info:?}"));
                }
                HostEvent::Closed => closed = true,
                HostEvent::RefusedTooLarge => self.refused_too_large(),
                HostEvent::Log(level, msg) => self.log(map_level(level), msg),
            }
        }
        // An unsolicited type 2 updates the stored value too.
        if let Some(l) = self.link.as_ref() {
            let fresh = l.session.last_fiscal_info();
            if !fresh.is_empty() && fresh != self.fiscal_seen.as_slice() {
                self.fiscal_seen = fresh.to_vec();
                let text = decode_device_text(fresh);
                self.events.push_back(CoreEvent::FiscalStored(text));
            }
        }
        if closed {
            self.teardown();
        }
    }

    /// The session refused a device message for its size: say so (instead of letting a
    /// waiting `fiscal_info` time out).
    fn refused_too_large(&mut self) {
        let max = self.cfg.max_receive;
        self.log(
            LogLevel::Error,
            format!(
                "a device message over the receive limit ({max} bytes, max_receive_bytes) was refused"
            ),
        );
        for op in std::mem::take(&mut self.fiscal_waiters) {
            self.reply(
                op,
                Reply::Fiscal(Err(HubError::ReceiveTooLarge { max })),
                ReplyOrder::Now,
            );
        }
    }

    /// The session ended: release the link, report `(false, "")`, answer its calls.
    fn teardown(&mut self) {
        let Some(mut l) = self.link.take() else {
            return;
        };
        self.sales = l.session.take_sales();
        self.transmit.push_back(Transmit::Close(l.gen));
        self.events.push_back(CoreEvent::ActiveIndex(-1));
        self.events.push_back(CoreEvent::Serial(None));
        self.fiscal_seen.clear();
        self.events
            .push_back(CoreEvent::FiscalStored(String::new()));
        let mut sends: Vec<OpId> = self.sends.drain().collect();
        sends.sort_unstable();
        for op in sends {
            self.reply(op, Reply::Send(SendOutcome::NoDevice), ReplyOrder::Now);
        }
        for op in std::mem::take(&mut self.fiscal_waiters) {
            self.reply(op, Reply::Fiscal(Err(HubError::NoDevice)), ReplyOrder::Now);
        }
        self.log(LogLevel::Info, "ConnectionState is 0 (link closed)");
        if l.announced {
            self.events
                .push_back(CoreEvent::State(false, String::new()));
        }
        for op in std::mem::take(&mut self.disconnect_waiters) {
            self.reply(op, Reply::Disconnected, ReplyOrder::AfterQueuedCallbacks);
        }
        self.events.push_back(CoreEvent::LinkClosed {
            gen: l.gen,
            became_active: l.announced,
        });
    }
}
