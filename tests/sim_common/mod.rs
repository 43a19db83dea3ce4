//! Shared helpers of the simulator tests: a HostSession driving a sans-IO Simulator with a
//! virtual clock.
#![allow(dead_code)]

/// A decoded device message: its data TLVs as (type, payload).
pub type Decoded = Vec<(u16, Vec<u8>)>;
/// Host → device filter.
pub type Deliver = Box<dyn FnMut(&[u8], &Key) -> bool>;

use std::time::{Duration, Instant};

use okclink::proto::message::{decode_tlvs, TAG_END, TAG_START};
use okclink::proto::pipeline::Key;
use okclink::proto::session::{HostConfig, HostEvent, HostSession, SendResult};
use okclink_sim::{SimConfig, Simulator};

/// Decode a device message with `key`, falling back to the default key. `None` if neither
/// works (corrupted / half message).
pub fn decode(key: &Key, m: &[u8]) -> Option<Vec<(u16, Vec<u8>)>> {
    for k in [key, &Key::DEFAULT] {
        let d = decode_tlvs(k, m, 1 << 22);
        if d.error.is_none() && d.tlvs.last().is_some_and(|t| t.tag == TAG_END) {
            return Some(
                d.tlvs
                    .into_iter()
                    .filter(|t| t.tag != TAG_START && t.tag != TAG_END)
                    .map(|t| (t.tag, t.value))
                    .collect(),
            );
        }
    }
    None
}

/// Host + simulator with a virtual clock; messages move instantly.
pub struct Rig {
    pub host: HostSession,
    pub sim: Simulator,
    pub now: Instant,
    /// Host events other than Send/Log.
    pub events: Vec<HostEvent>,
    /// Host log lines.
    pub host_logs: Vec<String>,
    /// Every device message as (type, payload) pairs; `None` for undecodable ones.
    pub from_dev: Vec<Option<Decoded>>,
    /// Raw device messages.
    pub raw_from_dev: Vec<Vec<u8>>,
    /// Host → device filter: return false to lose the message.
    pub deliver: Deliver,
    /// Device → host byte stream re-assembly (as the stream transports do).
    pub splitter: okclink::proto::stream::MessageSplitter,
    /// What the splitter rejected.
    pub garbage: Vec<&'static str>,
}

impl Rig {
    pub fn new(cfg: SimConfig) -> Rig {
        let model = cfg.model;
        let now = Instant::now();
        let mut r = Rig {
            host: HostSession::new(HostConfig::new("YourCompanyName", model)),
            sim: Simulator::new(cfg),
            now,
            events: vec![],
            host_logs: vec![],
            from_dev: vec![],
            raw_from_dev: vec![],
            deliver: Box::new(|_, _| true),
            splitter: okclink::proto::stream::MessageSplitter::new(1 << 22),
            garbage: vec![],
        };
        r.host.start(now);
        r.pump();
        r
    }

    pub fn x30tr() -> Rig {
        Rig::new(SimConfig::x30tr())
    }
    pub fn t300tr() -> Rig {
        Rig::new(SimConfig::t300tr_immediate())
    }

    /// A new host session (call `sim.link_reset()` first for a new link); events are
    /// cleared.
    pub fn new_host(&mut self) {
        self.splitter.clear();
        self.events.clear();
        self.host = HostSession::new(HostConfig::new("YourCompanyName", self.sim.model()));
        self.host.start(self.now);
        self.pump();
    }

    /// Move messages both ways until both sides are quiet.
    pub fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(e) = self.host.poll_event() {
                match e {
                    HostEvent::Send(m) => {
                        moved = true;
                        let key = *self.host.key();
                        if (self.deliver)(&m, &key) {
                            self.sim.on_message(self.now, &m);
                        }
                    }
                    HostEvent::Log(_, s) => self.host_logs.push(s),
                    other => self.events.push(other),
                }
            }
            while let Some(m) = self.sim.poll_output() {
                moved = true;
                self.from_dev.push(decode(self.host.key(), &m));
                self.raw_from_dev.push(m.clone());
                self.splitter.push(&m);
                while let Some(r) = self.splitter.next_message() {
                    match r {
                        Ok(m) => self.host.on_message(self.now, &m),
                        Err(t) => {
                            self.garbage.push(t);
                            self.host.garbage(t);
                        }
                    }
                }
            }
            if !moved {
                break;
            }
        }
    }

    /// Advance the virtual clock by `d` in steps, firing both sides' timers.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = [self.sim.next_deadline(), self.host.next_deadline()]
                .into_iter()
                .flatten()
                .filter(|&t| t <= end)
                .min();
            match next {
                Some(t) => {
                    self.now = t.max(self.now);
                    self.sim.on_tick(self.now);
                    self.host.on_tick(self.now);
                    self.pump();
                }
                None => break,
            }
        }
        self.now = end;
        self.sim.on_tick(self.now);
        self.host.on_tick(self.now);
        self.pump();
    }

    /// Device messages as (type, payload), flattened, from index `from` on.
    pub fn dev_msgs_since(&self, from: usize) -> Vec<(u16, Vec<u8>)> {
        self.from_dev[from..]
            .iter()
            .flatten()
            .flat_map(|v| v.iter().cloned())
            .collect()
    }

    pub fn take_events(&mut self) -> Vec<HostEvent> {
        std::mem::take(&mut self.events)
    }

    /// Send a basket/payment (`t` = 1 or 10) through the host session.
    pub fn send_data(&mut self, op: u64, t: u16, payload: &[u8]) {
        self.host.send_data(self.now, op, t, payload);
        self.pump();
    }

    /// serialIn(t, …) values the host delivered.
    pub fn serial_in(&self, t: u16) -> Vec<Vec<u8>> {
        self.events
            .iter()
            .filter_map(|e| match e {
                HostEvent::SerialIn(tt, v) if *tt == t => Some(v.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn send_results(&self) -> Vec<(u64, SendResult)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                HostEvent::SendDone(op, r) => Some((*op, *r)),
                _ => None,
            })
            .collect()
    }
}

/// The X30TR basket of `samples/basket-x30tr.json` (1000 kuruş, paid 1000 cash).
pub const BASKET_X30TR: &[u8] = br#"{
  "basketID": "00000000-0000-4000-8000-000000000001",
  "documentType": 9008,
  "customerInfo": {"taxID": "11111111111"},
  "items": [
    {"name": "HARNESS ITEM", "price": 1000, "quantity": 1000, "sectionNo": 1, "taxPercent": 1000, "type": 0}
  ],
  "paymentItems": [
    {"amount": 1000, "description": "Cash", "type": 1}
  ]
}"#;

/// Parse a sale info (cp1254) as JSON.
pub fn sale_json(v: &[u8]) -> serde_json::Value {
    let s = okclink_sim::fiscal::decode_text(v);
    serde_json::from_str(&s).expect("sale info is JSON")
}
