//! The host and device state machines complete a handshake and a sale for any interleaving
//! of their messages. The two directions are FIFO queues (a link never reorders); at each
//! step proptest picks which side delivers its next message, a clock tick, or the POS
//! starting the sale. Both models: X30TR (hello "OK", trailing "OK"s) and 300TR (ACK step).

use std::collections::VecDeque;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use okclink_sim::identity::DeviceIdentity;
use okclink_wire::device::{DeviceConfig, DeviceEvent, DevicePhase, DeviceSession};
use okclink_wire::message::tag;
use okclink_wire::session::{HostConfig, HostEvent, HostPhase, HostSession, Level, SendResult, OK};
use okclink_wire::DeviceModel;
use proptest::prelude::*;

const BASKET: &[u8] = br#"{"basketID":"a123ca24-ca2c-401c-8134-f0de2ec25c25","documentType":9008,"items":[{"name":"ILAC","price":1000,"quantity":1000,"sectionNo":2,"taxPercent":2000,"type":0}],"paymentItems":[{"amount":1000,"description":"Cash","type":1}]}"#;
const SALE_INFO: &[u8] =
    br#"{"basketID":"a123ca24-ca2c-401c-8134-f0de2ec25c25","receiptNo":17,"status":0}"#;
const BASKET_REPLY_300TR: &[u8] =
    br#"{"basketID":"a123ca24-ca2c-401c-8134-f0de2ec25c25","status":0}"#;
const OP: u64 = 42;

fn identity(model: DeviceModel) -> &'static DeviceIdentity {
    static X30: OnceLock<DeviceIdentity> = OnceLock::new();
    static T300: OnceLock<DeviceIdentity> = OnceLock::new();
    match model {
        DeviceModel::X30tr => {
            X30.get_or_init(|| DeviceIdentity::generate(model, "AV0000000121").unwrap())
        }
        DeviceModel::T300tr => {
            T300.get_or_init(|| DeviceIdentity::generate(model, "AT0000531911").unwrap())
        }
    }
}

fn serial_of(model: DeviceModel) -> &'static str {
    match model {
        DeviceModel::X30tr => "AV0000000121",
        DeviceModel::T300tr => "AT0000531911",
    }
}

#[derive(Debug, Clone)]
enum Step {
    /// The host's oldest undelivered message reaches the device.
    ToDevice,
    /// The device's oldest undelivered message reaches the host.
    ToHost,
    /// Time passes (kept below every host timeout in total).
    Tick(u64),
    /// The POS calls sendBasket (once, when the session is active).
    Sale,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => Just(Step::ToDevice),
        4 => Just(Step::ToHost),
        1 => (0u64..150).prop_map(Step::Tick),
        1 => Just(Step::Sale),
    ]
}

struct World {
    model: DeviceModel,
    host: HostSession,
    dev: DeviceSession,
    to_dev: VecDeque<Vec<u8>>,
    to_host: VecDeque<Vec<u8>>,
    start: Instant,
    now: Instant,
    sale_started: bool,
    host_events: Vec<HostEvent>,
    host_errors: Vec<String>,
    dev_requests: Vec<(u16, Vec<u8>)>,
    dev_connected: usize,
}

impl World {
    fn new(model: DeviceModel, hello_race: bool) -> World {
        let id = identity(model);
        let mut dc = DeviceConfig::new(model, serial_of(model), id.message.clone());
        dc.hello_ok_after_keyshare = hello_race;
        let now = Instant::now();
        let mut w = World {
            model,
            host: HostSession::new(HostConfig::new("YourCompanyName", model)),
            dev: DeviceSession::new(dc),
            to_dev: VecDeque::new(),
            to_host: VecDeque::new(),
            start: now,
            now,
            sale_started: false,
            host_events: vec![],
            host_errors: vec![],
            dev_requests: vec![],
            dev_connected: 0,
        };
        w.host.start(now);
        w.collect();
        w
    }

    /// Move every output of both machines into the queues / records; play the device's
    /// application (answers ACKs and baskets).
    fn collect(&mut self) {
        loop {
            let mut any = false;
            while let Some(e) = self.host.poll_event() {
                any = true;
                match e {
                    HostEvent::Send(m) => self.to_dev.push_back(m),
                    HostEvent::Log(Level::Error, s) => self.host_errors.push(s),
                    HostEvent::Log(..) => {}
                    other => self.host_events.push(other),
                }
            }
            while let Some(e) = self.dev.poll_event() {
                any = true;
                match e {
                    DeviceEvent::Send(m) => self.to_host.push_back(m),
                    DeviceEvent::Connected => self.dev_connected += 1,
                    DeviceEvent::Request(t, v) => {
                        self.dev_requests.push((t, v.clone()));
                        match t {
                            // 300TR answers the ACK request with an empty type 11.
                            tag::ACK => self.dev.send(tag::ACK, b""),
                            tag::BASKET => {
                                match self.model {
                                    DeviceModel::X30tr => self.dev.send(tag::BASKET, OK),
                                    DeviceModel::T300tr => {
                                        self.dev.send(tag::BASKET, BASKET_REPLY_300TR)
                                    }
                                }
                                self.dev.send(tag::SALE_INFO, SALE_INFO);
                            }
                            _ => {}
                        }
                    }
                    DeviceEvent::Log(..) | DeviceEvent::Disconnected => {}
                }
            }
            if !any {
                break;
            }
        }
    }

    fn apply(&mut self, s: &Step) {
        match s {
            Step::ToDevice => {
                if let Some(m) = self.to_dev.pop_front() {
                    self.dev.on_message(&m);
                }
            }
            Step::ToHost => {
                if let Some(m) = self.to_host.pop_front() {
                    self.host.on_message(self.now, &m);
                }
            }
            Step::Tick(ms) => {
                // Never reach the 2 s ACK / 5 s fiscal timeouts: this property is about
                // orderings, not about timeouts.
                let budget = Duration::from_millis(1500);
                let next = self.now + Duration::from_millis(*ms);
                if next - self.start < budget {
                    self.now = next;
                }
                self.host.on_tick(self.now);
            }
            Step::Sale => {
                if self.host.is_active() && !self.sale_started {
                    self.sale_started = true;
                    self.host.send_data(self.now, OP, tag::BASKET, BASKET);
                }
            }
        }
        self.collect();
    }

    /// After the chosen steps: start the sale if it has not been, deliver until quiet.
    fn finish(&mut self) {
        for _ in 0..200 {
            if !self.sale_started && self.host.is_active() {
                self.apply(&Step::Sale);
            }
            if self.to_dev.is_empty() && self.to_host.is_empty() && self.sale_started {
                return;
            }
            self.apply(&Step::ToDevice);
            self.apply(&Step::ToHost);
        }
        panic!("the machines never went quiet");
    }
}

fn run(model: DeviceModel, hello_race: bool, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut w = World::new(model, hello_race);
    for s in steps {
        w.apply(s);
    }
    w.finish();

    prop_assert_eq!(w.host.phase(), HostPhase::Active);
    prop_assert_eq!(w.dev.phase(), DevicePhase::Connected);
    prop_assert_eq!(w.host.key(), w.dev.key());
    prop_assert!(w.host.key().is_digits() && !w.host.key().is_default());
    prop_assert_eq!(w.dev_connected, 1);
    prop_assert_eq!(w.host_errors.clone(), Vec::<String>::new());
    prop_assert_eq!(w.host.serial(), Some(serial_of(model).as_bytes()));

    let ev = &w.host_events;
    let count = |f: &dyn Fn(&HostEvent) -> bool| ev.iter().filter(|e| f(e)).count();
    prop_assert_eq!(count(&|e| matches!(e, HostEvent::CertificateOk(_))), 1);
    prop_assert_eq!(count(&|e| *e == HostEvent::Active), 1);
    prop_assert_eq!(
        count(&|e| *e == HostEvent::Identified(serial_of(model).as_bytes().to_vec())),
        1
    );
    // The sale info reached the POS exactly once, and the send call succeeded once.
    prop_assert_eq!(
        count(&|e| *e == HostEvent::SerialIn(tag::SALE_INFO, SALE_INFO.to_vec())),
        1
    );
    prop_assert_eq!(
        count(&|e| matches!(e, HostEvent::SerialIn(..))),
        match model {
            DeviceModel::X30tr => 1,
            // The 300TR's basket reply JSON goes to serialIn(1, …) too.
            DeviceModel::T300tr => 2,
        }
    );
    prop_assert_eq!(count(&|e| matches!(e, HostEvent::SendDone(..))), 1);
    prop_assert!(ev.contains(&HostEvent::SendDone(OP, SendResult::Sent)));
    prop_assert!(!ev.iter().any(|e| matches!(e, HostEvent::Closed)));

    // The device got the device-info request, then exactly one basket and one sale-info "OK".
    let reqs = &w.dev_requests;
    prop_assert_eq!(
        &reqs[0],
        &(
            tag::DEVICE_INFO,
            br#"{"companyName":"YourCompanyName","version":"2.5.0.1"}"#.to_vec()
        )
    );
    let baskets: Vec<_> = reqs
        .iter()
        .filter(|(t, _)| *t == tag::BASKET)
        .cloned()
        .collect();
    prop_assert_eq!(baskets, vec![(tag::BASKET, BASKET.to_vec())]);
    let acks: Vec<_> = reqs
        .iter()
        .filter(|(t, _)| *t == tag::SALE_INFO)
        .cloned()
        .collect();
    prop_assert_eq!(acks, vec![(tag::SALE_INFO, OK.to_vec())]);
    let ack_reqs = reqs.iter().filter(|(t, _)| *t == tag::ACK).count();
    prop_assert_eq!(ack_reqs, if model == DeviceModel::T300tr { 1 } else { 0 });
    prop_assert!(!reqs.iter().any(|(t, _)| *t == tag::ERROR));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn x30tr_any_interleaving(steps in prop::collection::vec(step(), 0..60), race in any::<bool>()) {
        run(DeviceModel::X30tr, race, &steps)?;
    }

    #[test]
    fn t300tr_any_interleaving(steps in prop::collection::vec(step(), 0..60)) {
        run(DeviceModel::T300tr, false, &steps)?;
    }
}
