//! The wired back end's sans-IO host core against the sans-IO simulator: no threads, no
//! sockets, virtual time. What spans links (the sale-info filter, the "announced" state),
//! the one timer table, the reply order and the injected key source are checked here
//! without any of the runtime's threads.

use std::time::{Duration, Instant};

use okclink::fiscal::wired::core::{
    CoreConfig, CoreEvent, HostCore, LinkGen, Reply, ReplyOrder, Transmit,
};
use okclink::fiscal::{HubError, SendOutcome};
use okclink::proto::message::{accept_usb, tag};
use okclink::proto::pipeline::Key;
use okclink::proto::session::KeySource;
use okclink::transport::DeviceModel;
use okclink_sim::{Faults, SimConfig, Simulator};

const SESSION_KEY: Key = Key(*b"00115663341140995977338038486879");

fn core_config() -> CoreConfig {
    CoreConfig {
        company_name: "core test".into(),
        fiscal_timeout: Duration::from_millis(5000),
        ack_timeout: Duration::from_millis(2000),
        disconnect_timeout: Duration::from_millis(2000),
        handshake_timeout: Duration::from_secs(5),
        max_receive: 1 << 20,
        keys: KeySource::from_fn(|| SESSION_KEY),
    }
}

/// A core and a simulated device joined by a perfect, instant link.
struct Rig {
    core: HostCore,
    sim: Simulator,
    now: Instant,
    gen: LinkGen,
    events: Vec<CoreEvent>,
    sent: Vec<Vec<u8>>,
    closed: Vec<LinkGen>,
}

impl Rig {
    fn new(sim: SimConfig) -> Rig {
        Rig {
            core: HostCore::new(core_config()),
            sim: Simulator::new(sim),
            now: Instant::now(),
            gen: 0,
            events: Vec::new(),
            sent: Vec::new(),
            closed: Vec::new(),
        }
    }

    fn open(&mut self) {
        self.gen += 1;
        let model = self.sim.model();
        assert!(self
            .core
            .link_opened(self.now, self.gen, model, false, "rig"));
        self.pump();
    }

    /// Move messages both ways until nothing moves.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(t) = self.core.poll_transmit() {
                moved = true;
                match t {
                    Transmit::Data(g, m) if g == self.gen && !self.closed.contains(&g) => {
                        self.sent.push(m.clone());
                        self.sim.on_message(self.now, &m);
                    }
                    Transmit::Data(..) => {}
                    Transmit::Close(g) => self.closed.push(g),
                }
            }
            while let Some(m) = self.sim.poll_output() {
                moved = true;
                if !self.closed.contains(&self.gen) {
                    self.core.on_message(self.now, self.gen, &m);
                }
            }
            while let Some(e) = self.core.poll_event() {
                moved = true;
                if !matches!(e, CoreEvent::Log(..)) {
                    self.events.push(e);
                }
            }
            if !moved {
                break;
            }
        }
    }

    /// Advance virtual time to `t` later, firing both sides' timers on the way.
    fn advance(&mut self, t: Duration) {
        let end = self.now + t;
        loop {
            let next = [self.core.poll_timeout(), self.sim.next_deadline()]
                .into_iter()
                .flatten()
                .filter(|d| *d <= end)
                .min();
            let Some(d) = next else { break };
            self.now = d.max(self.now);
            self.core.handle_timeout(self.now);
            self.sim.on_tick(self.now);
            self.pump();
        }
        self.now = end;
        self.pump();
    }

    fn take(&mut self) -> Vec<CoreEvent> {
        std::mem::take(&mut self.events)
    }
}

fn basket(id: &str) -> Vec<u8> {
    format!(r#"{{"basketID":"{id}","items":[{{"name":"SU","price":500,"quantity":1000,"sectionNo":1,"taxPercent":1000,"type":0}}],"paymentItems":[{{"amount":500,"description":"Nakit","type":1}}]}}"#).into_bytes()
}

fn sale_infos(ev: &[CoreEvent]) -> usize {
    ev.iter()
        .filter(|e| matches!(e, CoreEvent::SerialIn(3, _)))
        .count()
}

#[test]
fn handshake_announces_the_device_with_the_injected_key() {
    let mut r = Rig::new(SimConfig::x30tr());
    r.open();
    let ev = r.take();
    assert!(ev.contains(&CoreEvent::ActiveIndex(0)), "{ev:?}");
    assert!(ev.contains(&CoreEvent::Serial(Some("AV0000000001".into()))));
    assert!(ev.contains(&CoreEvent::State(true, "AV0000000001".into())));
    // The key share carries the key the source gave (it travels under the default key).
    let share = r
        .sent
        .iter()
        .find_map(|m| {
            accept_usb(&Key::DEFAULT, m, 1 << 20)
                .ok()
                .and_then(|t| t.into_iter().find(|t| t.tag == tag::SHARE_KEY))
        })
        .expect("a key share");
    assert_eq!(share.value, SESSION_KEY.0.to_vec());
}

#[test]
fn a_sale_info_repeated_on_the_next_link_is_delivered_once() {
    let mut cfg = SimConfig::x30tr();
    // The device never hears the host's OK: it re-sends the sale info, on every link.
    cfg.faults = Faults {
        ignore_sale_ok: true,
        ..Faults::default()
    };
    cfg.sale_resend_interval = Duration::from_millis(100);
    let mut r = Rig::new(cfg);
    r.open();
    r.take();
    r.core.send_data(r.now, 1, tag::BASKET, &basket("b1"));
    r.pump();
    r.advance(Duration::from_millis(350));
    let ev = r.take();
    assert!(ev.contains(&CoreEvent::Reply {
        op: 1,
        reply: Reply::Send(SendOutcome::Accepted),
        order: ReplyOrder::Now
    }));
    assert_eq!(sale_infos(&ev), 1, "{ev:?}");
    assert!(r.sim.sales()[0].sends >= 3, "the device re-sent it");

    // The link drops; the device keeps the unacknowledged sale info for the next one.
    r.core.link_lost(r.gen, "unplugged");
    r.sim.link_reset();
    r.pump();
    let ev = r.take();
    assert!(ev.contains(&CoreEvent::State(false, String::new())));
    assert!(ev.contains(&CoreEvent::ActiveIndex(-1)));
    assert!(ev.contains(&CoreEvent::LinkClosed {
        gen: 1,
        became_active: true
    }));
    r.open();
    r.advance(Duration::from_millis(350));
    let ev = r.take();
    assert!(ev.contains(&CoreEvent::State(true, "AV0000000001".into())));
    assert_eq!(sale_infos(&ev), 0, "not delivered again: {ev:?}");
    // ... but acknowledged on the new link, every copy.
    let acks = r
        .sim
        .received()
        .iter()
        .filter(|m| m.tag == tag::SALE_INFO && m.payload == b"OK")
        .count();
    assert!(acks >= 5, "every copy acknowledged: {acks}");
}

#[test]
fn ack_timeout_is_answered_after_its_serial_in() {
    let mut cfg = SimConfig::t300tr();
    cfg.faults.ignore_ack = true;
    let mut r = Rig::new(cfg);
    r.open();
    r.take();
    r.core.send_data(r.now, 7, tag::BASKET, &basket("b7"));
    r.pump();
    assert!(r.take().is_empty(), "nothing until the ACK wait is over");
    r.advance(Duration::from_millis(2000));
    let ev = r.take();
    assert_eq!(
        ev,
        vec![
            CoreEvent::SerialIn(9, "Device is not connected".into()),
            CoreEvent::Reply {
                op: 7,
                reply: Reply::Send(SendOutcome::AckTimeout),
                order: ReplyOrder::AfterQueuedCallbacks
            },
        ]
    );
}

#[test]
fn a_silent_device_is_dropped_after_the_handshake_timeout_without_a_state_change() {
    let mut cfg = SimConfig::x30tr();
    cfg.faults.silent = true;
    let mut r = Rig::new(cfg);
    r.open();
    assert_eq!(
        r.core.poll_timeout(),
        Some(r.now + Duration::from_secs(5)),
        "the handshake timer is the one pending timer"
    );
    r.core.request_fiscal(r.now, 3);
    r.pump();
    r.advance(Duration::from_secs(5));
    let ev = r.take();
    assert_eq!(r.closed, vec![1], "the link is closed");
    assert!(ev.contains(&CoreEvent::LinkClosed {
        gen: 1,
        became_active: false
    }));
    assert!(
        !ev.iter().any(|e| matches!(e, CoreEvent::State(..))),
        "never announced, so no (false, \"\"): {ev:?}"
    );
    // A call made before the device was usable was answered at once.
    assert!(ev.contains(&CoreEvent::Reply {
        op: 3,
        reply: Reply::Fiscal(Err(HubError::NoDevice)),
        order: ReplyOrder::Now
    }));
}

#[test]
fn events_of_an_old_link_are_ignored_and_a_second_link_is_refused() {
    let mut r = Rig::new(SimConfig::x30tr());
    r.open();
    r.take();
    assert!(!r
        .core
        .link_opened(r.now, 99, DeviceModel::X30tr, false, "second"));
    assert_eq!(r.core.poll_transmit(), Some(Transmit::Close(99)));
    r.core.link_lost(42, "an old link");
    r.pump();
    assert!(r.take().is_empty());
    assert_eq!(r.core.link_gen(), Some(1));
}

#[test]
fn the_model_is_detected_from_the_certificate() {
    let mut r = Rig::new(SimConfig::t300tr());
    r.gen = 1;
    // The link claims X30TR but may not know: the RSA certificate says 300TR.
    assert!(r
        .core
        .link_opened(r.now, 1, DeviceModel::X30tr, true, "tcp"));
    r.pump();
    let ev = r.take();
    assert!(ev.contains(&CoreEvent::ActiveIndex(1)), "{ev:?}");
    assert!(ev.contains(&CoreEvent::State(true, "AT0000000001".into())));
}
