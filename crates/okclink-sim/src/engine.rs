//! [`Simulator`]: a sans-IO simulated ÖKC (bytes in → bytes out, time passed in).

use std::collections::VecDeque;
use std::time::Instant;

use super::fiscal::{self, texts, Basket, FiscalData, Receipt, ReceiptPayment, Request};
use super::{DeviceIdentity, SimConfig};
use okclink_wire::device::{DeviceConfig, DeviceEvent, DevicePhase, DeviceSession};
use okclink_wire::message::{build_message, decode_tlvs, peek_data_tag, tag, TAG_END, TAG_START};
use okclink_wire::pipeline::Key;
use okclink_wire::session::OK;
use okclink_wire::DeviceModel;

/// What the `junk_every` fault writes before a message: no `00 31` start, so a stream
/// reader discards it ("A packet is not starting with a valid tlv start").
pub const JUNK: &[u8] = b"\xde\xad\xbe\xef";

/// One message type + payload the device received (decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub tag: u16,
    pub payload: Vec<u8>,
}

/// A receipt the device produced (a finished sale, cancelled sale or voided receipt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleRecord {
    pub receipt: Receipt,
    /// Total of the basket (kuruş).
    pub total: i64,
    /// The type-3 payload (cp1254 JSON).
    pub sale_info: Vec<u8>,
    /// How many times it was sent.
    pub sends: u32,
    /// The host acknowledged it with type 3 "OK".
    pub acked: bool,
}

/// A receipt being filled: basket accepted, not yet paid / printed.
#[derive(Debug, Clone)]
struct Open {
    basket: Basket,
    paid: Vec<fiscal::Payment>,
}

#[derive(Debug, Clone)]
enum Job {
    /// An application request whose processing delay ran out, with the link epoch it
    /// arrived on.
    Request(u16, Vec<u8>, u64),
    /// The operator finished the open sale (X30TR: customer paid at the device).
    Complete,
}

/// Counters for tests and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Messages handed out by `poll_output` (after faults).
    pub sent: u64,
    /// Messages received (including undecodable ones).
    pub received: u64,
    /// Received messages the device could not decode.
    pub undecodable: u64,
    pub dropped: u64,
    /// Host messages the device ignored (`lose_incoming_every`).
    pub lost_incoming: u64,
    /// Junk chunks written (`junk_every`).
    pub junk: u64,
    /// Messages written in two pieces (`split_every`).
    pub split: u64,
    pub duplicated: u64,
    pub corrupted: u64,
    /// Sale-info (type 3 data) transmissions, first sends and re-sends.
    pub sale_info_sends: u64,
    /// Completed handshakes (key share acknowledged).
    pub handshakes: u64,
    pub reconnect_requests: u64,
    pub vanished: u64,
}

/// A simulated X30TR or 300TR. Feed host messages with [`Simulator::on_message`], time
/// with [`Simulator::on_tick`], and send what [`Simulator::poll_output`] yields (whole
/// messages, except the half message of the vanish fault).
pub struct Simulator {
    cfg: SimConfig,
    identity: DeviceIdentity,
    fiscal: FiscalData,
    dev: DeviceSession,
    out: VecDeque<Vec<u8>>,
    jobs: Vec<(Instant, Job)>,
    received: Vec<Received>,
    sales: Vec<SaleRecord>,
    /// Indices into `sales` of receipts not yet acknowledged, oldest first.
    unacked: VecDeque<usize>,
    /// Host "OK"s still to come for copies of already acknowledged sale infos: the host
    /// answers every copy it receives, so after the first "OK" for a re-sent sale info the
    /// remaining ones must not acknowledge the next receipt.
    stale_oks: u32,
    /// Copies of the oldest unacknowledged sale info that reached the current link intact
    /// (fault duplicates included, dropped and corrupted ones not): each earns a host "OK".
    front_copies: u32,
    /// The wire bytes of the sale info being sent, so `emit` can count its copies.
    sale_msg: Option<Vec<u8>>,
    resend_at: Option<Instant>,
    open: Option<Open>,
    receipt_no: u32,
    txn_no: u32,
    /// Count of messages sent since the key share (the fault counters' base).
    app_count: u32,
    /// Count of host messages received since the key share.
    in_count: u32,
    connected: bool,
    vanished: bool,
    /// Replies being produced for a host that is gone: dropped.
    muting: bool,
    /// Incremented by every `link_reset`.
    epoch: u64,
    stats: SimStats,
    logs: VecDeque<String>,
}

impl Simulator {
    /// A device as configured. Without `cfg.identity` a fresh one is generated (cached per
    /// model and serial for the life of the process, RSA key generation being slow).
    pub fn new(cfg: SimConfig) -> Simulator {
        let identity = match &cfg.identity {
            Some(i) => i.clone(),
            None => DeviceIdentity::cached(cfg.model, &cfg.serial)
                .expect("generating a simulator identity"),
        };
        let fiscal = FiscalData::parse(&cfg.fiscal_info);
        let dev = DeviceSession::new(Self::device_config(&cfg, &identity));
        Simulator {
            receipt_no: cfg.first_receipt_no,
            txn_no: 0,
            identity,
            fiscal,
            dev,
            out: VecDeque::new(),
            jobs: Vec::new(),
            received: Vec::new(),
            sales: Vec::new(),
            unacked: VecDeque::new(),
            stale_oks: 0,
            front_copies: 0,
            sale_msg: None,
            resend_at: None,
            open: None,
            app_count: 0,
            in_count: 0,
            connected: false,
            vanished: false,
            muting: false,
            epoch: 0,
            stats: SimStats::default(),
            logs: VecDeque::new(),
            cfg,
        }
    }

    fn device_config(cfg: &SimConfig, identity: &DeviceIdentity) -> DeviceConfig {
        let cert = if cfg.faults.bad_certificate {
            identity.tampered().message
        } else {
            identity.message.clone()
        };
        let mut d = DeviceConfig::new(cfg.model, &cfg.serial, cert);
        d.hello_ok_after_keyshare = cfg.faults.hello_ok_after_keyshare;
        d
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }
    pub fn model(&self) -> DeviceModel {
        self.cfg.model
    }
    pub fn identity(&self) -> &DeviceIdentity {
        &self.identity
    }
    pub fn faults(&self) -> &super::Faults {
        &self.cfg.faults
    }

    /// Change the fault switches (takes effect for the next message; the certificate and
    /// hello switches at the next Hello).
    pub fn set_faults(&mut self, faults: super::Faults) {
        self.cfg.faults = faults;
        let d = Self::device_config(&self.cfg, &self.identity);
        let c = self.dev.config_mut();
        c.certificate_message = d.certificate_message;
        c.hello_ok_after_keyshare = d.hello_ok_after_keyshare;
    }

    /// Change the processing delay for requests arriving from now on.
    pub fn set_processing_delay(&mut self, d: std::time::Duration) {
        self.cfg.processing_delay = d;
    }

    /// Change the time between payment and receipt for sales paid from now on.
    pub fn set_sale_delay(&mut self, d: std::time::Duration) {
        self.cfg.sale_delay = d;
    }

    /// Everything received so far, decoded (type + payload; 49/50 left out).
    pub fn received(&self) -> &[Received] {
        &self.received
    }
    /// The types of everything received so far, in order.
    pub fn received_types(&self) -> Vec<u16> {
        self.received.iter().map(|r| r.tag).collect()
    }
    /// Receipts produced so far.
    pub fn sales(&self) -> &[SaleRecord] {
        &self.sales
    }
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }
    /// Whether the host finished the handshake on the current link.
    pub fn is_connected(&self) -> bool {
        self.connected
    }
    /// Whether an open receipt (basket accepted, not yet finished) exists.
    pub fn has_open_receipt(&self) -> bool {
        self.open.is_some()
    }
    /// The device's own log lines (most recent 1000).
    pub fn logs(&self) -> impl Iterator<Item = &str> {
        self.logs.iter().map(String::as_str)
    }
    /// The vanish fault fired: the driver must drop the link now (after sending what
    /// `poll_output` returned, the half message included). Cleared by `link_reset`.
    pub fn vanished(&self) -> bool {
        self.vanished
    }

    /// The link dropped (or a new one replaces it): forget the session key, keep the
    /// fiscal state (receipt numbers, unacknowledged sale infos, an open receipt).
    pub fn link_reset(&mut self) {
        self.dev.reset();
        self.epoch += 1;
        while self.dev.poll_event().is_some() {}
        self.out.clear();
        // Baskets and payments already received are still carried out (their replies are
        // lost with the link); a fiscal-info answer is pointless.
        self.jobs
            .retain(|(_, j)| !matches!(j, Job::Request(tag::FISCAL_INFO, ..)));
        self.connected = false;
        self.vanished = false;
        self.resend_at = None;
    }

    /// Ask the host to redo the handshake (type 8 under the default key).
    pub fn request_reconnect(&mut self) {
        self.stats.reconnect_requests += 1;
        self.connected = false;
        self.resend_at = None;
        self.dev.request_reconnect();
        self.pump(None);
    }

    fn log(&mut self, s: String) {
        if self.cfg.verbose {
            eprintln!("[sim {}] {s}", self.cfg.serial);
        }
        if self.logs.len() >= 1000 {
            self.logs.pop_front();
        }
        self.logs.push_back(s);
    }

    /// A whole message from the host.
    pub fn on_message(&mut self, now: Instant, bytes: &[u8]) {
        self.stats.received += 1;
        if self.vanished {
            return;
        }
        if self.connected {
            self.in_count += 1;
            let n = self.in_count;
            if self
                .cfg
                .faults
                .lose_incoming_every
                .is_some_and(|k| k > 0 && n % k == 0)
            {
                self.stats.lost_incoming += 1;
                self.log(format!("host message {n} lost (fault)"));
                return;
            }
        }
        self.record(bytes);
        self.dev.on_message(bytes);
        self.pump(Some(now));
    }

    /// Bytes the link could not frame (stream junk): only logged.
    pub fn on_garbage(&mut self, reason: &str) {
        self.stats.undecodable += 1;
        self.log(format!("garbage from host: {reason}"));
    }

    fn record(&mut self, bytes: &[u8]) {
        let limit = self.dev.config().max_plaintext;
        let mut d = decode_tlvs(self.dev.key(), bytes, limit);
        if d.error.is_some() && !self.dev.key().is_default() {
            let d2 = decode_tlvs(&Key::DEFAULT, bytes, limit);
            if d2.error.is_none() {
                d = d2;
            }
        }
        if d.error.is_some() {
            self.stats.undecodable += 1;
            return;
        }
        for t in d.tlvs {
            if t.tag != TAG_START && t.tag != TAG_END {
                self.received.push(Received {
                    tag: t.tag,
                    payload: t.value,
                });
            }
        }
    }

    /// Drain the device session's events. `now` is `None` when not driven by time (control).
    fn pump(&mut self, now: Option<Instant>) {
        while let Some(ev) = self.dev.poll_event() {
            match ev {
                DeviceEvent::Send(m) => self.emit(m),
                DeviceEvent::Connected => {
                    self.connected = true;
                    self.app_count = 0;
                    self.in_count = 0;
                    self.stats.handshakes += 1;
                    self.stale_oks = 0;
                    self.front_copies = 0;
                    self.log("key share acknowledged: connected".into());
                    if !self.unacked.is_empty() {
                        // Unacknowledged sale info from an earlier link: send it again soon.
                        self.resend_at = now.or(self.resend_at).or(Some(Instant::now()));
                    }
                }
                DeviceEvent::Disconnected => {
                    self.connected = false;
                    self.resend_at = None;
                    self.log("host disconnected (type 7)".into());
                }
                DeviceEvent::Log(_, s) => self.log(s),
                DeviceEvent::Request(t, v) => self.request(now.unwrap_or_else(Instant::now), t, v),
            }
        }
    }

    fn request(&mut self, now: Instant, t: u16, v: Vec<u8>) {
        match t {
            tag::DEVICE_INFO => {} // answered by the session
            tag::SALE_INFO if v == OK => {
                if self.cfg.faults.ignore_sale_ok {
                    self.log("sale-info OK ignored (fault)".into());
                    return;
                }
                if self.stale_oks > 0 {
                    self.stale_oks -= 1;
                    self.log("sale-info OK for an earlier copy".into());
                    return;
                }
                if let Some(i) = self.unacked.pop_front() {
                    self.sales[i].acked = true;
                    self.stale_oks = self.front_copies.saturating_sub(1);
                    self.front_copies = 0;
                    self.log(format!(
                        "sale info of receipt {} acknowledged",
                        self.sales[i].receipt.receipt_no
                    ));
                }
                self.resend_at = (!self.unacked.is_empty()).then_some(now);
            }
            tag::ACK => {
                if self.cfg.faults.ignore_ack {
                    self.log("ACK request ignored (fault)".into());
                } else {
                    // 300TR: an empty type 11 at once (the processing delay does not apply).
                    self.dev.send(tag::ACK, b"");
                    self.pump(Some(now));
                }
            }
            tag::ERROR => self.log(format!(
                "host reported an error: {}",
                String::from_utf8_lossy(&v)
            )),
            tag::FISCAL_INFO | tag::BASKET | tag::PAYMENT => {
                if self.cfg.faults.reconnect_on_basket && t == tag::BASKET {
                    self.cfg.faults.reconnect_on_basket = false;
                    self.log("basket dropped, asking the host to reconnect (fault)".into());
                    self.request_reconnect();
                    return;
                }
                if self.cfg.processing_delay.is_zero() {
                    self.process(now, t, v, self.epoch);
                } else {
                    self.jobs.push((
                        now + self.cfg.processing_delay,
                        Job::Request(t, v, self.epoch),
                    ));
                }
            }
            other => self.log(format!("type {other} ignored")),
        }
    }

    fn reply(&mut self, t: u16, payload: &[u8]) {
        self.dev.send(t, payload);
    }

    fn reply_error(&mut self, t: u16, text: &str) {
        self.log(format!("type {t} rejected: {text}"));
        self.dev.send(t, &fiscal::cp1254(text));
    }

    /// Carry out a request. Without a connected host (the link dropped while the request
    /// waited out its processing delay) the work is still done — a basket still becomes a
    /// receipt — but the replies are not sent.
    fn process(&mut self, now: Instant, t: u16, v: Vec<u8>, epoch: u64) {
        self.muting = !self.connected || epoch != self.epoch;
        self.process_inner(now, t, v);
        self.pump(Some(now));
        self.muting = false;
    }

    fn process_inner(&mut self, now: Instant, t: u16, v: Vec<u8>) {
        match t {
            tag::FISCAL_INFO => {
                let f = self.cfg.fiscal_info.clone();
                self.dev.answer(tag::FISCAL_INFO, &f);
            }
            tag::BASKET => match fiscal::check_basket(self.cfg.model, &self.fiscal, &v) {
                Err(e) => self.reply_error(t, e),
                Ok(Request::Void) => self.void(now, t),
                Ok(Request::Payment(_)) => unreachable!("check_basket returns no payments"),
                Ok(Request::Basket(b)) => {
                    if self.open.is_some() {
                        self.reply_error(t, texts::RECEIPT_OPEN);
                    } else {
                        self.log(format!(
                            "basket {:?} accepted, total {} kuruş",
                            b.basket_id, b.total
                        ));
                        match self.cfg.model {
                            DeviceModel::X30tr => {
                                self.reply(t, OK);
                                self.open = Some(Open {
                                    paid: b.payments.clone(),
                                    basket: b,
                                });
                                self.schedule_complete(now);
                            }
                            DeviceModel::T300tr => {
                                self.reply(t, &fiscal::basket_status_json(&b.basket_id, 0));
                                self.open = Some(Open {
                                    basket: b,
                                    paid: Vec::new(),
                                });
                            }
                        }
                    }
                }
            },
            tag::PAYMENT => match fiscal::check_payment(&v) {
                Err(e) => self.reply_error(t, e),
                Ok(Request::Void) => self.void(now, t),
                Ok(Request::Basket(_)) => unreachable!("check_payment returns no baskets"),
                Ok(Request::Payment(p)) => {
                    let Some(open) = self.open.as_mut() else {
                        self.reply_error(t, texts::NO_OPEN_RECEIPT);
                        return;
                    };
                    let paid: i64 = open.paid.iter().map(|p| p.amount).sum();
                    let left = open.basket.total - paid;
                    if left <= 0 || (p.kind != fiscal::PAY_CASH && p.amount > left) {
                        self.reply_error(t, texts::OVERPAYMENT);
                        return;
                    }
                    open.paid.push(p.clone());
                    let id = open.basket.basket_id.clone();
                    let done = p.amount >= left;
                    self.log(format!(
                        "payment {} kuruş type {} accepted, {} left",
                        p.amount,
                        p.kind,
                        (left - p.amount).max(0)
                    ));
                    self.reply(t, &fiscal::basket_status_json(&id, 0));
                    if done {
                        self.schedule_complete(now);
                    }
                }
            },
            _ => {}
        }
    }

    fn schedule_complete(&mut self, now: Instant) {
        if self.cfg.sale_delay.is_zero() {
            self.complete(now, None);
        } else {
            self.jobs.push((now + self.cfg.sale_delay, Job::Complete));
        }
    }

    fn void(&mut self, now: Instant, t: u16) {
        match &self.open {
            None => self.reply_error(t, texts::NO_OPEN_RECEIPT),
            Some(o) => {
                let id = o.basket.basket_id.clone();
                match self.cfg.model {
                    DeviceModel::X30tr => self.reply(t, OK),
                    DeviceModel::T300tr => self.reply(t, &fiscal::basket_status_json(&id, 0)),
                }
                self.jobs.retain(|(_, j)| !matches!(j, Job::Complete));
                self.complete(now, Some(99));
            }
        }
    }

    /// Close the open receipt: print it (status 0, or -1 with the cancel fault, or the
    /// given status) and start sending its sale info.
    fn complete(&mut self, now: Instant, status: Option<i32>) {
        let Some(open) = self.open.take() else {
            return;
        };
        let status = status.unwrap_or(if self.cfg.faults.cancel_sales { -1 } else { 0 });
        let mut paid = open.paid;
        if paid.is_empty() && status == 0 {
            // X30TR basket without payment items: the customer paid cash at the device.
            paid.push(fiscal::Payment {
                kind: fiscal::PAY_CASH,
                amount: open.basket.total,
            });
        }
        let payments = paid
            .iter()
            .map(|p| {
                let card = p.kind != fiscal::PAY_CASH;
                if card {
                    self.txn_no += 1;
                }
                ReceiptPayment {
                    kind: p.kind,
                    amount: p.amount,
                    txn_no: if card { self.txn_no } else { 0 },
                    batch_no: if card { self.cfg.batch_no } else { 0 },
                }
            })
            .collect();
        let receipt = Receipt {
            basket_id: open.basket.basket_id.clone(),
            document_type: open.basket.document_type,
            is_way_bill: open.basket.is_way_bill,
            payments,
            receipt_no: self.receipt_no,
            z_no: self.cfg.z_no,
            status,
            message: match status {
                0 => "OK".to_string(),
                99 => "Fiş iptal edildi".to_string(),
                _ => "Satış iptal edildi".to_string(),
            },
            uuid: fiscal::uuid_v4(),
        };
        self.receipt_no += 1;
        let sale_info = fiscal::sale_info_json(self.cfg.model, &receipt);
        self.log(format!(
            "receipt {} status {status} printed",
            receipt.receipt_no
        ));
        self.sales.push(SaleRecord {
            receipt,
            total: open.basket.total,
            sale_info,
            sends: 0,
            acked: false,
        });
        self.unacked.push_back(self.sales.len() - 1);
        if self.unacked.len() == 1 {
            self.resend_at = Some(now);
            self.send_sale_info(now);
        }
    }

    fn send_sale_info(&mut self, now: Instant) {
        if !self.connected {
            return;
        }
        let Some(&i) = self.unacked.front() else {
            self.resend_at = None;
            return;
        };
        let payload = self.sales[i].sale_info.clone();
        self.sales[i].sends += 1;
        self.stats.sale_info_sends += 1;
        // Replies queued before (possibly muted) go first; the sale info itself is not a
        // reply and goes to whichever host is connected now.
        self.pump(Some(now));
        let muting = std::mem::replace(&mut self.muting, false);
        self.sale_msg = Some(build_message(self.dev.key(), tag::SALE_INFO, &payload));
        self.dev.answer(tag::SALE_INFO, &payload);
        self.resend_at = Some(now + self.cfg.sale_resend_interval);
        self.pump(Some(now));
        self.sale_msg = None;
        self.muting = muting;
    }

    /// Advance time: run delayed requests and re-send an unacknowledged sale info.
    pub fn on_tick(&mut self, now: Instant) {
        if self.vanished {
            return;
        }
        while let Some(pos) = self
            .jobs
            .iter()
            .enumerate()
            .filter(|(_, (d, _))| *d <= now)
            .min_by_key(|(_, (d, _))| *d)
            .map(|(i, _)| i)
        {
            let (_, job) = self.jobs.remove(pos);
            match job {
                Job::Request(t, v, e) => self.process(now, t, v, e),
                Job::Complete => self.complete(now, None),
            }
        }
        if self.connected && self.resend_at.is_some_and(|d| d <= now) {
            self.send_sale_info(now);
        }
    }

    /// When `on_tick` next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let jobs = self.jobs.iter().map(|(d, _)| *d).min();
        let resend = if self.connected && !self.unacked.is_empty() {
            self.resend_at
        } else {
            None
        };
        [jobs, resend].into_iter().flatten().min()
    }

    /// The next piece to write to the link: a whole message, except with the `split_every`
    /// and `vanish_mid_message` faults (pieces) and `junk_every` (junk bytes).
    pub fn poll_output(&mut self) -> Option<Vec<u8>> {
        let m = self.out.pop_front()?;
        self.stats.sent += 1;
        Some(m)
    }

    /// Apply the output faults to one message of the device session.
    fn emit(&mut self, m: Vec<u8>) {
        if self.vanished {
            return;
        }
        if self.muting {
            self.log("reply dropped: no host connected".into());
            return;
        }
        let f = self.cfg.faults.clone();
        if f.silent {
            self.stats.dropped += 1;
            return;
        }
        if !self.connected || self.dev.phase() != DevicePhase::Connected {
            // Handshake messages are never dropped/duplicated/corrupted.
            self.out.push_back(m);
            return;
        }
        if f.vanish_mid_message
            && matches!(
                peek_data_tag(&m),
                Some(tag::BASKET | tag::FISCAL_INFO | tag::SALE_INFO | tag::PAYMENT)
            )
        {
            self.cfg.faults.vanish_mid_message = false;
            self.stats.vanished += 1;
            self.vanished = true;
            self.log("vanishing mid-message (fault)".into());
            let half = m.len() / 2;
            self.out.push_back(m[..half].to_vec());
            return;
        }
        let is_sale_info = self.sale_msg.as_deref() == Some(&m[..]);
        self.app_count += 1;
        let n = self.app_count;
        let hit = |e: Option<u32>| e.is_some_and(|k| k > 0 && n % k == 0);
        if hit(f.drop_every) {
            self.stats.dropped += 1;
            self.log(format!("message {n} dropped (fault)"));
            return;
        }
        let mut m = m;
        if hit(f.corrupt_every) {
            // Flip a byte of the data TLV's ciphertext: its CRC no longer matches.
            let at = 24 + 6;
            if m.len() > at {
                m[at] ^= 0xa5;
            }
            self.stats.corrupted += 1;
            self.log(format!("message {n} corrupted (fault)"));
        }
        if hit(f.junk_every) {
            // Bytes that cannot start a message, written before it.
            self.stats.junk += 1;
            self.log(format!("junk before message {n} (fault)"));
            self.out.push_back(JUNK.to_vec());
        }
        let copies = if hit(f.duplicate_every) {
            self.stats.duplicated += 1;
            self.log(format!("message {n} duplicated (fault)"));
            2
        } else {
            1
        };
        if is_sale_info && !hit(f.corrupt_every) {
            self.front_copies += copies;
        }
        let split = hit(f.split_every) && m.len() > 1;
        if split {
            self.stats.split += 1;
            self.log(format!("message {n} written in two pieces (fault)"));
        }
        for _ in 0..copies {
            if split {
                let cut = m.len() / 2;
                self.out.push_back(m[..cut].to_vec());
                self.out.push_back(m[cut..].to_vec());
            } else {
                self.out.push_back(m.clone());
            }
        }
    }
}
