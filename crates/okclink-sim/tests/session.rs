//! Host and device state machines against each other, with an injected clock.

use okclink_sim::identity::DeviceIdentity;
use okclink_wire::device::{DeviceConfig, DeviceEvent, DeviceSession};
use okclink_wire::message::tag;
use okclink_wire::session::{HostConfig, HostEvent, HostPhase, HostSession, SendResult};
use okclink_wire::DeviceModel;
use std::time::{Duration, Instant};

struct Pair {
    host: HostSession,
    dev: DeviceSession,
    now: Instant,
    host_events: Vec<HostEvent>,
    dev_requests: Vec<(u16, Vec<u8>)>,
    wire_to_dev: Vec<Vec<u8>>,
}

impl Pair {
    fn new(model: DeviceModel, hello_race: bool) -> Pair {
        let serial = if model == DeviceModel::X30tr {
            "AV0000000121"
        } else {
            "AT0000531911"
        };
        let id = DeviceIdentity::generate(model, serial).unwrap();
        let mut dc = DeviceConfig::new(model, serial, id.message);
        dc.hello_ok_after_keyshare = hello_race;
        let mut p = Pair {
            host: HostSession::new(HostConfig::new("YourCompanyName", model)),
            dev: DeviceSession::new(dc),
            now: Instant::now(),
            host_events: vec![],
            dev_requests: vec![],
            wire_to_dev: vec![],
        };
        p.host.start(p.now);
        p.pump();
        p
    }

    /// Move messages both ways until both sides are quiet.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(e) = self.host.poll_event() {
                moved = true;
                match e {
                    HostEvent::Send(m) => {
                        self.wire_to_dev.push(m.clone());
                        self.dev.on_message(&m)
                    }
                    HostEvent::Log(..) => {}
                    other => self.host_events.push(other),
                }
            }
            while let Some(e) = self.dev.poll_event() {
                moved = true;
                match e {
                    DeviceEvent::Send(m) => self.host.on_message(self.now, &m),
                    DeviceEvent::Request(t, v) => self.dev_requests.push((t, v)),
                    _ => {}
                }
            }
            if !moved {
                break;
            }
        }
    }

    fn take_host_events(&mut self) -> Vec<HostEvent> {
        std::mem::take(&mut self.host_events)
    }
}

#[test]
fn x30tr_handshake_then_sale() {
    let mut p = Pair::new(DeviceModel::X30tr, false);
    assert_eq!(p.host.phase(), HostPhase::Active);
    let ev = p.take_host_events();
    assert!(matches!(ev[0], HostEvent::CertificateOk(_)));
    assert_eq!(ev[1], HostEvent::Active);
    assert_eq!(ev[2], HostEvent::Identified(b"AV0000000121".to_vec()));
    assert_eq!(ev.len(), 3);
    assert_eq!(p.host.key(), p.dev.key());
    assert!(p.host.key().is_digits());
    // The device saw the device-info request with the company name.
    assert_eq!(
        p.dev_requests[0],
        (
            0,
            br#"{"companyName":"YourCompanyName","version":"2.5.0.1"}"#.to_vec()
        )
    );

    // Fiscal info.
    p.host.request_fiscal_info(p.now);
    p.pump();
    assert_eq!(p.dev_requests.last().unwrap(), &(tag::FISCAL_INFO, vec![]));
    p.dev.answer(tag::FISCAL_INFO, br#"{"pluCount":0}"#);
    p.pump();
    assert_eq!(
        p.take_host_events(),
        vec![HostEvent::FiscalInfo(Ok(br#"{"pluCount":0}"#.to_vec()))]
    );

    // Basket → device gets it; device sends OK then sale info; host delivers once and acks.
    p.host.send_data(p.now, 7, tag::BASKET, br#"{"items":[]}"#);
    p.pump();
    assert_eq!(
        p.take_host_events(),
        vec![HostEvent::SendDone(7, SendResult::Sent)]
    );
    assert_eq!(
        p.dev_requests.last().unwrap(),
        &(tag::BASKET, br#"{"items":[]}"#.to_vec())
    );
    p.dev.send(tag::BASKET, b"OK");
    p.dev.send(tag::SALE_INFO, br#"{"receiptNo":1,"status":0}"#);
    p.dev.send(tag::SALE_INFO, br#"{"receiptNo":1,"status":0}"#); // re-sent (no OK yet)
    p.pump();
    assert_eq!(
        p.take_host_events(),
        vec![HostEvent::SerialIn(
            3,
            br#"{"receiptNo":1,"status":0}"#.to_vec()
        )]
    );
    let oks = p
        .dev_requests
        .iter()
        .filter(|r| **r == (3, b"OK".to_vec()))
        .count();
    assert_eq!(oks, 2, "every copy of the sale info is acknowledged");

    // Disconnect.
    p.host.disconnect(p.now);
    p.pump();
    assert_eq!(p.take_host_events(), vec![HostEvent::Closed]);
    assert_eq!(p.host.phase(), HostPhase::Closed);
    assert!(p.host.key().is_default() && p.dev.key().is_default());
}

#[test]
fn hello_ack_race_is_silent() {
    let p = Pair::new(DeviceModel::X30tr, true);
    assert_eq!(p.host.phase(), HostPhase::Active);
    // No type-60 was sent to the device and no error surfaced.
    assert!(p.dev_requests.iter().all(|(t, _)| *t != tag::ERROR));
    let wire_types: Vec<u16> = p
        .wire_to_dev
        .iter()
        .map(|m| okclink_wire::message::peek_data_tag(m).unwrap())
        .collect();
    assert_eq!(wire_types, vec![4, 6, 0]);
}

#[test]
fn t300tr_ack_before_basket_and_ack_timeout() {
    let mut p = Pair::new(DeviceModel::T300tr, false);
    assert_eq!(p.host.phase(), HostPhase::Active);
    p.take_host_events();
    p.host.send_data(p.now, 1, tag::BASKET, b"{}");
    p.pump();
    // Only the ACK request went out; the basket waits.
    assert_eq!(p.dev_requests.last().unwrap(), &(tag::ACK, vec![]));
    assert!(p.take_host_events().is_empty());
    p.dev.send(tag::ACK, b"");
    p.pump();
    assert_eq!(
        p.dev_requests.last().unwrap(),
        &(tag::BASKET, b"{}".to_vec())
    );
    assert_eq!(
        p.take_host_events(),
        vec![HostEvent::SendDone(1, SendResult::Sent)]
    );

    // No ACK answer: after 2 s, serialIn(9) then AckTimeout; the payment is never sent.
    p.host
        .send_data(p.now, 2, tag::PAYMENT, b"{\"isVoid\":true}");
    p.pump();
    assert_eq!(p.host.next_deadline(), Some(p.now + Duration::from_secs(2)));
    p.host.on_tick(p.now + Duration::from_millis(1999));
    p.pump();
    assert!(p.take_host_events().is_empty());
    p.host.on_tick(p.now + Duration::from_secs(2));
    p.pump();
    assert_eq!(
        p.take_host_events(),
        vec![
            HostEvent::SerialIn(9, b"Device is not connected".to_vec()),
            HostEvent::SendDone(2, SendResult::AckTimeout)
        ]
    );
    assert!(p.dev_requests.iter().all(|(t, _)| *t != tag::PAYMENT));
}

#[test]
fn fiscal_timeout_returns_last_value_and_disconnect_is_bounded() {
    let mut p = Pair::new(DeviceModel::X30tr, false);
    p.take_host_events();
    p.host.request_fiscal_info(p.now);
    p.pump();
    p.host.on_tick(p.now + Duration::from_secs(5));
    assert!(p.host.next_deadline().is_none());
    p.pump();
    assert_eq!(
        p.take_host_events(),
        vec![HostEvent::FiscalInfo(Err(vec![]))]
    );

    // Device that never answers the DISCONNECT: closed after the bound.
    p.host.disconnect(p.now);
    let sent = p.host.poll_event();
    assert!(matches!(sent, Some(HostEvent::Log(..))));
    while p.host.poll_event().is_some() {}
    p.host.on_tick(p.now + Duration::from_secs(2));
    let ev: Vec<_> = std::iter::from_fn(|| p.host.poll_event())
        .filter(|e| !matches!(e, HostEvent::Log(..)))
        .collect();
    assert_eq!(ev, vec![HostEvent::Closed]);
}

#[test]
fn device_reconnect_request_redoes_handshake() {
    let mut p = Pair::new(DeviceModel::X30tr, false);
    p.take_host_events();
    let old = *p.host.key();
    p.dev.request_reconnect();
    p.pump();
    assert_eq!(p.host.phase(), HostPhase::Active);
    assert_ne!(*p.host.key(), old);
    assert_eq!(p.host.key(), p.dev.key());
    let ev = p.take_host_events();
    assert!(ev.contains(&HostEvent::Identified(b"AV0000000121".to_vec())));
}

#[test]
fn corrupted_message_gets_type60_and_session_goes_on() {
    let mut p = Pair::new(DeviceModel::X30tr, false);
    p.take_host_events();
    let mut m = okclink_wire::message::build_message(p.dev.key(), 3, b"{\"receiptNo\":5}");
    let n = m.len();
    m[n - 30] ^= 0xff; // inside the data TLV ciphertext → CRC mismatch
    p.host.on_message(p.now, &m);
    p.pump();
    let err = p.dev_requests.last().unwrap();
    assert_eq!(err.0, tag::ERROR);
    assert_eq!(
        err.1,
        b"Check sum is not valid! Please check your communication.".to_vec()
    );
    assert_eq!(p.host.phase(), HostPhase::Active);
    assert!(p.take_host_events().is_empty());
}
