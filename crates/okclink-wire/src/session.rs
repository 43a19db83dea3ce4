//! Host (POS) and device (ÖKC) session state machines (WIRE.md §4.4, §6, §7).
//!
//! Sans-IO: feed received messages with `on_message`, API calls with the methods, and time
//! with `on_tick(now)`; drain bytes to send and typed events with `poll_event`. The clock is
//! whatever `Instant`s the caller passes in, so tests can run hours of protocol time at once.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cert::{self, CertInfo, CertPolicy};
use super::message::{
    accept_serial, accept_usb, build_message, peek_data_tag, tag, Tlv, TAG_END, TAG_START,
};
use super::pipeline::{Key, DEFAULT_MAX_PLAINTEXT};
use crate::DeviceModel;

/// The version string the vendor sends in the device-info request.
pub const VENDOR_VERSION: &str = "2.5.0.1";
/// The hello payload (and the signed challenge).
pub const HELLO: &[u8] = b"asdfg";
/// The acknowledgement value devices and hosts exchange.
pub const OK: &[u8] = b"OK";
/// Text of the serialIn(9, …) the host generates when a 300TR does not answer the ACK.
pub const DEVICE_NOT_CONNECTED: &str = "Device is not connected";

/// Log severity of [`HostEvent::Log`] / [`DeviceEvent::Log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

/// Where session keys come from. The session never draws randomness itself: the caller
/// injects the source ([`KeySource::os`] in the runtime, a fixed sequence in tests).
#[derive(Clone)]
pub struct KeySource(Arc<dyn Fn() -> Key + Send + Sync>);

impl KeySource {
    /// 32 random digits from the operating system's CSPRNG ([`Key::random_session`]).
    pub fn os() -> KeySource {
        KeySource(Arc::new(Key::random_session))
    }
    /// Any generator (tests: fixed keys to compare bytes with vectors).
    pub fn from_fn(f: impl Fn() -> Key + Send + Sync + 'static) -> KeySource {
        KeySource(Arc::new(f))
    }
    fn next(&self) -> Key {
        (self.0)()
    }
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySource")
    }
}

/// Host configuration. `HostConfig::new(company, model)` gives the vendor's values.
#[derive(Debug, Clone)]
pub struct HostConfig {
    pub company_name: String,
    pub model: DeviceModel,
    /// Decide the model from the certificate (ECDSA P-384 → X30TR, RSA → 300TR) instead of
    /// trusting `model` (links that cannot tell, e.g. TCP without `?model=`).
    pub detect_model: bool,
    pub fiscal_timeout: Duration,
    pub ack_timeout: Duration,
    pub disconnect_timeout: Duration,
    /// The handshake (Hello → certificate → key share → "OK") must complete within this,
    /// also a re-handshake the device asked for (type 8); else the session closes
    /// (vendor: waits forever). `None` (the default, as the vendor) = wait forever; the
    /// runtime sets 5 s.
    pub handshake_timeout: Option<Duration>,
    pub cert_policy: CertPolicy,
    pub max_plaintext: usize,
    pub version: String,
    /// Source of session keys (randomness is injected, never drawn by the session).
    pub keys: KeySource,
}

impl HostConfig {
    pub fn new(company_name: &str, model: DeviceModel) -> Self {
        HostConfig {
            company_name: company_name.to_string(),
            model,
            detect_model: false,
            fiscal_timeout: Duration::from_millis(5000),
            ack_timeout: Duration::from_millis(2000),
            disconnect_timeout: Duration::from_millis(2000),
            handshake_timeout: None,
            cert_policy: CertPolicy::Vendor,
            max_plaintext: DEFAULT_MAX_PLAINTEXT,
            version: VENDOR_VERSION.to_string(),
            keys: KeySource::os(),
        }
    }
}

/// Where the host session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostPhase {
    /// Hello sent, waiting for the certificate.
    AwaitCert,
    /// Key share sent (session key in use), waiting for its "OK".
    AwaitKeyAck,
    /// State 1: baskets and payments may be sent.
    Active,
    /// Disconnect sent, waiting for the device's type 7.
    Closing,
    /// Finished; the link should be closed.
    Closed,
}

/// Identifies a basket/payment call so its result can be matched.
pub type OpId = u64;

/// Result of a basket or payment hand-over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendResult {
    /// Handed to the link (vendor 1).
    Sent,
    /// 300TR did not answer the ACK in time (vendor −1); `SerialIn(9, …)` precedes this.
    AckTimeout,
    /// The session is not active (vendor: dropped / 0).
    NotActive,
}

/// What the host session wants done or reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostEvent {
    /// Write this whole message to the link.
    Send(Vec<u8>),
    /// The key share was acknowledged: state 1, active device index = model index.
    Active,
    /// `deviceStateCallback(true, serial)` (raw device bytes).
    Identified(Vec<u8>),
    /// `serialInCallback(tag, value)` (raw device bytes).
    SerialIn(u16, Vec<u8>),
    /// Fiscal info answer: `Ok(fresh)` or, after the timeout, `Err(last stored value)`.
    FiscalInfo(Result<Vec<u8>, Vec<u8>>),
    /// A basket/payment call finished.
    SendDone(OpId, SendResult),
    /// The certificate verified (details for logs).
    CertificateOk(CertInfo),
    /// A device message was refused for its size (over `max_plaintext`): a caller waiting
    /// for an answer should hear so instead of timing out.
    RefusedTooLarge,
    /// The session is over (disconnect answered or timed out, or a fatal check failed):
    /// close the link and report `(false, "")`.
    Closed,
    Log(Level, String),
}

/// The sale infos already delivered, newest last: devices re-send a sale info until it is
/// acknowledged — within a session and again on the next link after a reconnect — and each
/// must reach the POS once. The one duplicate filter of the project: a [`HostSession`] uses
/// it during its link, and the runtime hands the same ring from one session to the next
/// ([`HostSession::take_sales`] / [`HostSession::with_sales`]).
#[derive(Debug, Clone, Default)]
pub struct SaleRing {
    recent: VecDeque<Vec<u8>>,
}

impl SaleRing {
    /// How many delivered sale infos are remembered.
    pub const CAPACITY: usize = 64;

    /// Record `value`; `true` if it was not among the last [`SaleRing::CAPACITY`] ones.
    pub fn first_time(&mut self, value: &[u8]) -> bool {
        if self.recent.iter().any(|s| s == value) {
            return false;
        }
        if self.recent.len() == Self::CAPACITY {
            self.recent.pop_front();
        }
        self.recent.push_back(value.to_vec());
        true
    }

    pub fn len(&self) -> usize {
        self.recent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recent.is_empty()
    }
}

struct PendingAck {
    op: OpId,
    message: Vec<u8>,
    deadline: Instant,
}

/// Where the session is, with what only that phase has (its timers, its pending work).
/// [`HostSession::phase`] shows it as the plain [`HostPhase`].
enum Phase {
    /// Hello sent; the handshake must complete by `deadline` (None: no limit).
    AwaitCert {
        deadline: Option<Instant>,
    },
    /// Key share sent (session key in use), waiting for its "OK", same `deadline`.
    AwaitKeyAck {
        deadline: Option<Instant>,
    },
    /// State 1. 300TR: the baskets/payments waiting for their ACK, oldest first.
    Active {
        acks: VecDeque<PendingAck>,
    },
    /// DISCONNECT sent; closes at `deadline` at the latest. ACKs still pending are kept.
    Closing {
        deadline: Instant,
        acks: VecDeque<PendingAck>,
    },
    Closed,
}

impl Phase {
    fn public(&self) -> HostPhase {
        match self {
            Phase::AwaitCert { .. } => HostPhase::AwaitCert,
            Phase::AwaitKeyAck { .. } => HostPhase::AwaitKeyAck,
            Phase::Active { .. } => HostPhase::Active,
            Phase::Closing { .. } => HostPhase::Closing,
            Phase::Closed => HostPhase::Closed,
        }
    }

    fn acks(&mut self) -> Option<&mut VecDeque<PendingAck>> {
        match self {
            Phase::Active { acks } | Phase::Closing { acks, .. } => Some(acks),
            _ => None,
        }
    }

    /// The phase's own timer: handshake limit, oldest ACK, or the disconnect bound.
    fn deadline(&self) -> Option<Instant> {
        match self {
            Phase::AwaitCert { deadline } | Phase::AwaitKeyAck { deadline } => *deadline,
            Phase::Active { acks } => acks.front().map(|a| a.deadline),
            Phase::Closing { deadline, acks } => Some(
                acks.front()
                    .map_or(*deadline, |a| a.deadline.min(*deadline)),
            ),
            Phase::Closed => None,
        }
    }
}

/// The POS side of one connection (created when a link opens; a new link = a new session).
pub struct HostSession {
    cfg: HostConfig,
    key: Key,
    phase: Phase,
    out: VecDeque<HostEvent>,
    serial: Option<Vec<u8>>,
    cert: Option<CertInfo>,
    fiscal: Vec<u8>,
    /// A `getFiscalInfo` is waiting (it may span phases: type 2 is allowed during the
    /// handshake too).
    fiscal_deadline: Option<Instant>,
    sales: SaleRing,
}

impl HostSession {
    /// A new session; call [`HostSession::start`] to send the Hello.
    pub fn new(cfg: HostConfig) -> Self {
        HostSession {
            cfg,
            key: Key::DEFAULT,
            phase: Phase::AwaitCert { deadline: None },
            out: VecDeque::new(),
            serial: None,
            cert: None,
            fiscal: Vec::new(),
            fiscal_deadline: None,
            sales: SaleRing::default(),
        }
    }

    /// A new session that continues the duplicate filter of an earlier one (same device,
    /// next link): a sale info delivered on the last link is not delivered again.
    pub fn with_sales(cfg: HostConfig, sales: SaleRing) -> Self {
        let mut s = HostSession::new(cfg);
        s.sales = sales;
        s
    }

    /// Hand the duplicate filter on to the next session (leaves an empty one here).
    pub fn take_sales(&mut self) -> SaleRing {
        std::mem::take(&mut self.sales)
    }

    pub fn phase(&self) -> HostPhase {
        self.phase.public()
    }
    pub fn is_active(&self) -> bool {
        matches!(self.phase, Phase::Active { .. })
    }
    pub fn key(&self) -> &Key {
        &self.key
    }
    pub fn model(&self) -> DeviceModel {
        self.cfg.model
    }
    /// Fiscal serial reported by the device, once identified.
    pub fn serial(&self) -> Option<&[u8]> {
        self.serial.as_deref()
    }
    /// Last fiscal info received (empty if none).
    pub fn last_fiscal_info(&self) -> &[u8] {
        &self.fiscal
    }

    /// Next output, if any.
    pub fn poll_event(&mut self) -> Option<HostEvent> {
        self.out.pop_front()
    }

    fn log(&mut self, level: Level, msg: impl Into<String>) {
        self.out.push_back(HostEvent::Log(level, msg.into()));
    }

    /// Queue a message like the vendor's `sendSerial` (§4.1): types 4, 6, 0, 2 always,
    /// everything else only while active. Returns whether it was queued.
    fn send(&mut self, t: u16, payload: &[u8]) -> bool {
        let allowed_inactive = matches!(
            t,
            tag::HELLO | tag::SHARE_KEY | tag::DEVICE_INFO | tag::FISCAL_INFO
        );
        let allowed = allowed_inactive
            || self.is_active()
            || (t == tag::DISCONNECT && matches!(self.phase, Phase::Closing { .. }));
        if !allowed {
            self.log(
                Level::Debug,
                format!("Request Type: {t} dropped (session not active)"),
            );
            return false;
        }
        let m = build_message(&self.key, t, payload);
        self.log(
            Level::Debug,
            format!("Request Type: {t} Enqueued {} bytes to write.", m.len()),
        );
        self.out.push_back(HostEvent::Send(m));
        true
    }

    /// Send the Hello (after the link opened; the vendor waits 100 ms first) and start the
    /// handshake timer. On a re-handshake (type 8) baskets still waiting for their ACK are
    /// answered `NotActive`: they were not sent.
    pub fn start(&mut self, now: Instant) {
        self.key = Key::DEFAULT;
        let old = std::mem::replace(
            &mut self.phase,
            Phase::AwaitCert {
                deadline: self.cfg.handshake_timeout.map(|t| now + t),
            },
        );
        if let Phase::Active { acks } | Phase::Closing { acks, .. } = old {
            for p in acks {
                self.out
                    .push_back(HostEvent::SendDone(p.op, SendResult::NotActive));
            }
        }
        self.send(tag::HELLO, HELLO);
    }

    /// Request fiscal info (type 2); answered by a `FiscalInfo` event (fresh or timed out).
    /// Unlike the vendor, an unsolicited type 2 received earlier does not satisfy it.
    pub fn request_fiscal_info(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Closing { .. } | Phase::Closed) {
            self.out
                .push_back(HostEvent::FiscalInfo(Err(self.fiscal.clone())));
            return;
        }
        self.send(tag::FISCAL_INFO, b"");
        let d = now + self.cfg.fiscal_timeout;
        self.fiscal_deadline = Some(self.fiscal_deadline.map_or(d, |x| x.min(d)));
    }

    /// Send a basket (type 1) or payment (type 10). X30TR: sent at once. 300TR: an ACK
    /// request (type 11) goes first and the data follows when the device answers it.
    pub fn send_data(&mut self, now: Instant, op: OpId, t: u16, payload: &[u8]) {
        if !self.is_active() {
            self.out
                .push_back(HostEvent::SendDone(op, SendResult::NotActive));
            return;
        }
        match self.cfg.model {
            DeviceModel::X30tr => {
                self.send(t, payload);
                self.out
                    .push_back(HostEvent::SendDone(op, SendResult::Sent));
            }
            DeviceModel::T300tr => {
                let message = build_message(&self.key, t, payload);
                self.send(tag::ACK, b"");
                let deadline = now + self.cfg.ack_timeout;
                if let Some(acks) = self.phase.acks() {
                    acks.push_back(PendingAck {
                        op,
                        message,
                        deadline,
                    });
                }
            }
        }
    }

    /// Start an orderly disconnect (`deleteCommunication`): type 7, then wait (bounded) for
    /// the device's type 7. Ends with `Closed`.
    pub fn disconnect(&mut self, now: Instant) {
        match &mut self.phase {
            Phase::Closed | Phase::Closing { .. } => {}
            Phase::Active { acks } => {
                let acks = std::mem::take(acks);
                self.phase = Phase::Closing {
                    deadline: now + self.cfg.disconnect_timeout,
                    acks,
                };
                self.log(Level::Info, "Sending DISCONNECT data");
                self.send(tag::DISCONNECT, b"");
            }
            _ => self.close(),
        }
    }

    /// The link is gone (unplug, EOF): fail everything pending and end.
    pub fn link_lost(&mut self) {
        if !matches!(self.phase, Phase::Closed) {
            self.close();
        }
    }

    fn close(&mut self) {
        let old = std::mem::replace(&mut self.phase, Phase::Closed);
        self.key = Key::DEFAULT;
        if self.fiscal_deadline.take().is_some() {
            self.out.push_back(HostEvent::FiscalInfo(Err(Vec::new())));
        }
        if let Phase::Active { acks } | Phase::Closing { acks, .. } = old {
            for p in acks {
                self.out
                    .push_back(HostEvent::SendDone(p.op, SendResult::NotActive));
            }
        }
        self.serial = None;
        self.fiscal.clear();
        self.out.push_back(HostEvent::Closed);
    }

    /// The earliest instant at which `on_tick` has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        [self.fiscal_deadline, self.phase.deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Advance time: fire the timeouts that have expired.
    pub fn on_tick(&mut self, now: Instant) {
        if self.fiscal_deadline.is_some_and(|d| now >= d) {
            self.fiscal_deadline = None;
            self.log(Level::Warn, "FISCAL_INFO fiscalReady: 0 (timeout)");
            self.out
                .push_back(HostEvent::FiscalInfo(Err(self.fiscal.clone())));
        }
        while let Some(p) = self.phase.acks().and_then(|a| {
            if a.front().is_some_and(|f| now >= f.deadline) {
                a.pop_front()
            } else {
                None
            }
        }) {
            self.log(Level::Warn, "ACK Timeout");
            self.out.push_back(HostEvent::SerialIn(
                9,
                DEVICE_NOT_CONNECTED.as_bytes().to_vec(),
            ));
            self.out
                .push_back(HostEvent::SendDone(p.op, SendResult::AckTimeout));
        }
        let step = match &self.phase {
            Phase::Closing { deadline, .. } if now >= *deadline => {
                self.log(
                    Level::Warn,
                    "no DISCONNECT reply from the device; closing anyway",
                );
                self.close();
                return;
            }
            Phase::AwaitCert { deadline: Some(d) } if now >= *d => {
                "step 2 of 3: no valid certificate after the Hello"
            }
            Phase::AwaitKeyAck { deadline: Some(d) } if now >= *d => {
                "step 3 of 3: the key share was not acknowledged"
            }
            _ => return,
        };
        self.log(
            Level::Warn,
            format!(
                "handshake not completed within {} ms ({step}): closing the link",
                self.cfg.handshake_timeout.unwrap_or_default().as_millis()
            ),
        );
        self.close();
    }

    /// A whole message arrived from the link.
    pub fn on_message(&mut self, now: Instant, bytes: &[u8]) {
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        // RECONNECT: reset to the default key before decoding, on every transport
        // (WIRE §4.3, §16.2).
        if peek_data_tag(bytes) == Some(tag::RECONNECT) && !self.key.is_default() {
            self.log(Level::Info, "RECONNECT received: key reset to default");
            self.key = Key::DEFAULT;
        }
        let accepted = match self.cfg.model {
            DeviceModel::X30tr => accept_usb(&self.key, bytes, self.cfg.max_plaintext),
            DeviceModel::T300tr => accept_serial(&self.key, bytes, self.cfg.max_plaintext),
        };
        match accepted {
            Ok(tlvs) => {
                for t in tlvs {
                    self.dispatch(now, t);
                }
            }
            Err(rej) => {
                // The hello-ack race (WIRE §6.1): the device's "OK" to the Hello, under the
                // default key, arrives after we switched to the session key. Recognise it
                // and drop it silently instead of logging an error.
                if !self.key.is_default() {
                    if let Ok(t) = accept_usb(&Key::DEFAULT, bytes, self.cfg.max_plaintext) {
                        if t.iter().all(|t| t.value == OK) {
                            self.log(
                                Level::Debug,
                                "late default-key \"OK\" ignored (hello-ack race)",
                            );
                            return;
                        }
                    }
                }
                if rej.text == super::message::text::TOO_LARGE {
                    self.out.push_back(HostEvent::RefusedTooLarge);
                }
                self.garbage(rej.text);
            }
        }
    }

    /// Bytes the transport could not frame (serial invalid tag, stream junk).
    pub fn garbage(&mut self, reason: &'static str) {
        self.log(Level::Error, format!("rejected incoming data: {reason}"));
        // Type 60 needs state 1, like the vendor: dropped during the handshake.
        self.send(tag::ERROR, reason.as_bytes());
    }

    fn dispatch(&mut self, now: Instant, t: Tlv) {
        let is_ok = t.value == OK;
        match t.tag {
            TAG_START | TAG_END => {}
            tag::RECONNECT => {
                self.log(Level::Info, "device asked to reconnect: new handshake");
                self.start(now);
            }
            tag::DISCONNECT => {
                if matches!(self.phase, Phase::Closing { .. }) {
                    self.log(Level::Info, "Disconnected");
                    self.close();
                }
            }
            tag::SHARE_KEY if is_ok => {
                if matches!(self.phase, Phase::AwaitKeyAck { .. }) {
                    self.phase = Phase::Active {
                        acks: VecDeque::new(),
                    };
                    self.log(Level::Info, "ConnectionState is 1 (Active)");
                    self.out.push_back(HostEvent::Active);
                    let req = device_info_request(&self.cfg.company_name, &self.cfg.version);
                    self.send(tag::DEVICE_INFO, &req);
                }
            }
            tag::ACK => {
                if let Some(p) = self.phase.acks().and_then(|a| a.pop_front()) {
                    self.out.push_back(HostEvent::Send(p.message));
                    self.out
                        .push_back(HostEvent::SendDone(p.op, SendResult::Sent));
                }
            }
            _ if is_ok => {}
            tag::CERTIFICATE => {
                if self.cfg.detect_model {
                    self.detect_model(&t.value);
                }
                match cert::verify_message(&t.value, self.cfg.model, &self.cfg.cert_policy) {
                    Ok(info) => {
                        self.log(
                            Level::Info,
                            format!("Certificate verified: subject {}", info.subject),
                        );
                        self.cert = Some(info.clone());
                        self.out.push_back(HostEvent::CertificateOk(info));
                        self.share_key();
                    }
                    Err(e) => {
                        self.log(
                            Level::Error,
                            format!("Certificate Verification Failed: {e}"),
                        );
                    }
                }
            }
            tag::FISCAL_INFO => {
                self.fiscal = t.value.clone();
                if self.fiscal_deadline.take().is_some() {
                    self.out.push_back(HostEvent::FiscalInfo(Ok(t.value)));
                }
            }
            tag::SALE_INFO => {
                // Devices re-send the sale info until acknowledged: deliver it once.
                if self.sales.first_time(&t.value) {
                    self.out
                        .push_back(HostEvent::SerialIn(tag::SALE_INFO, t.value));
                } else {
                    self.log(Level::Debug, "duplicate sale info acknowledged again");
                }
                self.send(tag::SALE_INFO, OK);
            }
            tag::DEVICE_INFO => {
                if let (CertPolicy::Strict { .. }, Some(c)) = (&self.cfg.cert_policy, &self.cert) {
                    if c.subject_serial.as_deref().map(str::as_bytes) != Some(&t.value[..]) {
                        self.log(
                            Level::Error,
                            "strict policy: certificate serial does not match the device serial",
                        );
                        self.close();
                        return;
                    }
                }
                self.serial = Some(t.value.clone());
                self.out.push_back(HostEvent::Identified(t.value));
            }
            tag::ERROR => {
                let v = String::from_utf8_lossy(&t.value).into_owned();
                self.log(Level::Warn, format!("Communication Error: {v}"));
            }
            other => self.out.push_back(HostEvent::SerialIn(other, t.value)),
        }
    }

    /// The X30TR signs with ECDSA P-384, the 300TR with RSA (WIRE §5.3): the certificate
    /// tells which device is on a link that could not.
    fn detect_model(&mut self, cert_message: &[u8]) {
        for m in [DeviceModel::X30tr, DeviceModel::T300tr] {
            if cert::verify_message(cert_message, m, &self.cfg.cert_policy).is_ok() {
                if m != self.cfg.model {
                    self.log(
                        Level::Info,
                        format!("device model detected from its certificate: {m:?}"),
                    );
                    self.cfg.model = m;
                }
                return;
            }
        }
    }

    fn share_key(&mut self) {
        let k = self.cfg.keys.next();
        // The key share itself travels under the default key; the session key is used
        // for both directions from the moment it is queued.
        self.key = Key::DEFAULT;
        self.send(tag::SHARE_KEY, k.as_bytes());
        self.key = k;
        let deadline = match self.phase {
            Phase::AwaitCert { deadline } | Phase::AwaitKeyAck { deadline } => deadline,
            _ => None,
        };
        self.phase = Phase::AwaitKeyAck { deadline };
    }
}

/// `{"companyName":…,"version":…}` with keys in alphabetical order like the vendor's
/// nlohmann dump. Non-ASCII is written as `\uXXXX` escapes: valid JSON for any device
/// parser and independent of code pages (the vendor fails outright for non-ASCII names).
pub fn device_info_request(company: &str, version: &str) -> Vec<u8> {
    let mut s = String::from("{\"companyName\":\"");
    json_escape_ascii(company, &mut s);
    s.push_str("\",\"version\":\"");
    json_escape_ascii(version, &mut s);
    s.push_str("\"}");
    s.into_bytes()
}

fn json_escape_ascii(v: &str, out: &mut String) {
    use std::fmt::Write;
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{:04x}", u);
                }
            }
            c => out.push(c),
        }
    }
}
