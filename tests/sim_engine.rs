//! The sans-IO Simulator against the host session (virtual clock): handshakes, fiscal info,
//! sales on both models, rejected baskets, and every fault switch.

mod sim_common;

use std::time::Duration;

use okclink::proto::message::{tag, text};
use okclink::proto::session::{HostEvent, HostPhase, SendResult, DEVICE_NOT_CONNECTED};
use okclink_sim::fiscal::{FISCAL_300TR, FISCAL_X30TR};
use okclink_sim::{Faults, SimConfig};
use sim_common::{sale_json, Rig, BASKET_X30TR};

const OK: &[u8] = b"OK";

fn t(v: &[(u16, Vec<u8>)]) -> Vec<u16> {
    v.iter().map(|x| x.0).collect()
}

#[test]
fn x30tr_handshake_sends_hello_ok_and_trailing_oks() {
    let r = Rig::x30tr();
    assert_eq!(r.host.phase(), HostPhase::Active);
    assert_eq!(r.host.serial(), Some(&b"AV0000000001"[..]));
    let m = r.dev_msgs_since(0);
    assert_eq!(t(&m), vec![5, 4, 6, 0, 0]);
    assert_eq!(m[1].1, OK);
    assert_eq!(m[2].1, OK);
    assert_eq!(m[3].1, b"AV0000000001");
    assert_eq!(m[4].1, OK);
    assert_eq!(r.sim.received_types(), vec![4, 6, 0]);
    assert_eq!(r.sim.received()[0].payload, b"asdfg");
    assert_eq!(
        r.sim.received()[2].payload,
        br#"{"companyName":"YourCompanyName","version":"2.5.0.1"}"#
    );
    assert!(r
        .events
        .contains(&HostEvent::Identified(b"AV0000000001".to_vec())));
}

#[test]
fn t300tr_handshake_has_no_hello_ok_and_no_trailing_ok() {
    let r = Rig::t300tr();
    assert_eq!(r.host.phase(), HostPhase::Active);
    let m = r.dev_msgs_since(0);
    assert_eq!(t(&m), vec![5, 6, 0]);
    assert_eq!(m[2].1, b"AT0000000001");
    assert!(r
        .events
        .contains(&HostEvent::Identified(b"AT0000000001".to_vec())));
}

#[test]
fn fiscal_info_is_the_real_payload_of_each_model() {
    for (mut r, real, n) in [
        (Rig::x30tr(), FISCAL_X30TR, 2usize),
        (Rig::t300tr(), FISCAL_300TR, 1usize),
    ] {
        let mark = r.from_dev.len();
        r.host.request_fiscal_info(r.now);
        r.pump();
        let m = r.dev_msgs_since(mark);
        assert_eq!(m.len(), n);
        assert_eq!(m[0], (2, real.to_vec()));
        if n == 2 {
            assert_eq!(m[1], (2, OK.to_vec()));
        }
        assert!(r.events.contains(&HostEvent::FiscalInfo(Ok(real.to_vec()))));
    }
}

#[test]
fn x30tr_full_sale_ok_then_sale_info_until_host_ok() {
    let mut r = Rig::x30tr();
    let mark = r.from_dev.len();
    r.send_data(1, tag::BASKET, BASKET_X30TR);
    let m = r.dev_msgs_since(mark);
    // Basket "OK", then the sale info and its trailing "OK" (as in the Tria log).
    assert_eq!(t(&m), vec![1, 3, 3]);
    assert_eq!(m[0].1, OK);
    assert_eq!(m[2].1, OK);
    let j = sale_json(&m[1].1);
    assert_eq!(j["basketID"], "00000000-0000-4000-8000-000000000001");
    assert_eq!(j["documentType"], 9008);
    assert_eq!(j["receiptNo"], 1);
    assert_eq!(j["zNo"], 39);
    assert_eq!(j["status"], 0);
    assert_eq!(j["message"], "OK");
    assert_eq!(j["paymentCount"], 1);
    assert_eq!(j["paymentItems"][0]["amount"].as_f64(), Some(1000.0));
    assert_eq!(j["paymentItems"][0]["type"], 1);
    assert_eq!(j["paymentItems"][0]["description"], "Nakit");
    let uuid = j["UUID"].as_str().unwrap();
    assert_eq!(uuid.len(), 36);
    assert_eq!(&uuid[14..15], "4");
    // The float is written the way the device writes it.
    assert!(m[1].1.windows(14).any(|w| w == b"\"amount\":1000."));
    // The host delivered it once and acknowledged it; the device stopped re-sending.
    assert_eq!(r.serial_in(3), vec![m[1].1.clone()]);
    assert_eq!(r.sim.received().last().unwrap().tag, 3);
    assert_eq!(r.sim.received().last().unwrap().payload, OK);
    let s = &r.sim.sales()[0];
    assert!(s.acked);
    assert_eq!(s.sends, 1);
    r.advance(Duration::from_secs(5));
    assert_eq!(r.sim.sales()[0].sends, 1);
    assert_eq!(r.sim.stats().sale_info_sends, 1);
    // Receipt numbers increase.
    r.send_data(2, tag::BASKET, BASKET_X30TR);
    assert_eq!(sale_json(&r.serial_in(3)[1])["receiptNo"], 2);
}

/// Drop the host's sale-info "OK"s on their way to the device while the flag is set.
fn lose_sale_oks(r: &mut Rig) -> std::rc::Rc<std::cell::Cell<bool>> {
    let lose = std::rc::Rc::new(std::cell::Cell::new(true));
    let l2 = lose.clone();
    r.deliver = Box::new(move |m, key| {
        let is_sale_ok = sim_common::decode(key, m)
            .is_some_and(|v| v.iter().any(|(t, p)| *t == 3 && p == b"OK"));
        !(is_sale_ok && l2.get())
    });
    lose
}

#[test]
fn sale_info_is_resent_every_interval_until_the_ok_arrives() {
    let mut r = Rig::x30tr();
    // Lose the host's type-3 "OK" until told otherwise.
    let lose = lose_sale_oks(&mut r);
    r.send_data(1, tag::BASKET, BASKET_X30TR);
    assert_eq!(r.sim.sales()[0].sends, 1);
    r.advance(Duration::from_millis(999));
    assert_eq!(r.sim.sales()[0].sends, 1);
    r.advance(Duration::from_millis(1));
    assert_eq!(r.sim.sales()[0].sends, 2);
    r.advance(Duration::from_secs(2));
    assert_eq!(r.sim.sales()[0].sends, 4);
    // The host passes the duplicates on only once.
    assert_eq!(r.serial_in(3).len(), 1);
    assert!(!r.sim.sales()[0].acked);
    lose.set(false);
    r.advance(Duration::from_secs(1));
    assert_eq!(r.sim.sales()[0].sends, 5);
    assert!(r.sim.sales()[0].acked);
    r.advance(Duration::from_secs(10));
    assert_eq!(r.sim.sales()[0].sends, 5);
}

#[test]
fn late_oks_for_resent_copies_do_not_acknowledge_the_next_receipt() {
    let mut r = Rig::x30tr();
    // Hold back the host's type-3 "OK"s: the first receipt is sent twice.
    let lose = lose_sale_oks(&mut r);
    r.send_data(1, tag::BASKET, BASKET_X30TR);
    r.advance(Duration::from_secs(1));
    assert_eq!(r.sim.sales()[0].sends, 2);
    r.send_data(2, tag::BASKET, BASKET_X30TR);
    assert_eq!(r.sim.sales().len(), 2);
    // Both copies' "OK"s now arrive, late and back to back.
    let ok = okclink::proto::message::build_message(r.host.key(), tag::SALE_INFO, OK);
    r.sim.on_message(r.now, &ok);
    r.sim.on_message(r.now, &ok);
    r.pump();
    assert!(r.sim.sales()[0].acked);
    // The second "OK" belonged to the first receipt's second copy, not to receipt 2.
    assert!(!r.sim.sales()[1].acked);
    lose.set(false);
    r.advance(Duration::from_secs(1));
    assert!(r.sim.sales()[1].acked);
    // Every receipt reached the host exactly once.
    let receipts: Vec<_> = r
        .serial_in(3)
        .iter()
        .map(|v| sale_json(v)["receiptNo"].as_u64().unwrap())
        .collect();
    assert_eq!(receipts, vec![1, 2]);
}

#[test]
fn x30tr_split_payment_receipt() {
    let mut r = Rig::x30tr();
    let basket = br#"{"basketID":"020604202600001","documentType":0,"items":[{"name":"ETI GOFRET","pluNo":1,"price":500,"quantity":2000,"sectionNo":1,"taxPercent":2000,"type":0}],"paymentItems":[{"amount":900,"description":"Nakit","type":1},{"amount":100,"description":"Kredi","type":3}]}"#;
    r.send_data(1, tag::BASKET, basket);
    let si = r.serial_in(3);
    assert_eq!(si.len(), 1);
    let j = sale_json(&si[0]);
    assert_eq!(j["paymentCount"], 2);
    let p = &j["paymentItems"];
    assert_eq!(p[0]["amount"].as_f64(), Some(900.0));
    assert_eq!(p[0]["type"], 1);
    assert_eq!(p[0]["TxnNo"], 0);
    assert_eq!(p[0]["BatchNo"], 0);
    assert_eq!(p[1]["amount"].as_f64(), Some(100.0));
    assert_eq!(p[1]["type"], 3);
    assert_eq!(p[1]["TxnNo"], 1);
    assert_eq!(p[1]["BatchNo"], 16);
    assert_eq!(p[1]["status"], -1);
    // "Kredi Kartı" in cp1254, as the real device writes it.
    assert!(si[0].windows(13).any(|w| w == b"\"Kredi Kart\xfd\""));
    assert_eq!(r.sim.sales()[0].total, 1000);
}

#[test]
fn rejected_baskets_answer_cp1254_error_texts() {
    // 300TR: a basket with payment items.
    let mut r = Rig::t300tr();
    let mark = r.from_dev.len();
    r.send_data(1, tag::BASKET, BASKET_X30TR);
    let m = r.dev_msgs_since(mark);
    assert_eq!(m[0], (11, vec![]));
    assert_eq!(
        m[1],
        (
            1,
            b"\xd6demeleri ayr\xfd ayr\xfd g\xf6ndermelisiniz".to_vec()
        )
    );
    assert_eq!(m.len(), 2);
    assert_eq!(
        r.serial_in(1),
        vec![b"\xd6demeleri ayr\xfd ayr\xfd g\xf6ndermelisiniz".to_vec()]
    );
    assert!(r.sim.sales().is_empty());
    // Invalid payment type (X30TR basket).
    let mut r = Rig::x30tr();
    r.send_data(
        1,
        tag::BASKET,
        br#"{"items":[{"price":100,"sectionNo":1}],"paymentItems":[{"amount":100,"type":5}]}"#,
    );
    assert_eq!(r.serial_in(1), vec![b"Ge\xe7ersiz \xf6deme tipi".to_vec()]);
    // Payments short of the total, over the receipt limit, not JSON.
    r.send_data(
        2,
        tag::BASKET,
        br#"{"items":[{"price":1000,"sectionNo":1}],"paymentItems":[{"amount":900,"type":1}]}"#,
    );
    r.send_data(
        3,
        tag::BASKET,
        br#"{"items":[{"price":999999,"sectionNo":1}]}"#,
    );
    r.send_data(4, tag::BASKET, b"{\"items\":");
    let errs = r.serial_in(1);
    assert_eq!(errs.len(), 4);
    assert_eq!(
        errs[1],
        b"\xd6deme tutar\xfd sepet tutar\xfd ile uyu\xfemuyor".to_vec()
    );
    assert_eq!(errs[2], b"Fi\xfe limiti a\xfe\xfdld\xfd".to_vec());
    assert_eq!(errs[3], b"Ge\xe7ersiz sepet".to_vec());
    assert!(r.sim.sales().is_empty());
}

#[test]
fn t300tr_ack_basket_payments_and_void() {
    let mut r = Rig::t300tr();
    let basket = br#"{"basketID":"abfff7ba-3cfe-41bf-b46e-b4f48573304d","items":[{"name":"PLU1","pluNo":1,"price":100,"quantity":10000,"sectionNo":1,"taxPercent":2000,"type":0}]}"#;
    let mark = r.from_dev.len();
    r.send_data(1, tag::BASKET, basket);
    // ACK first (empty type 11 both ways), then the basket and its JSON status.
    let rx = r.sim.received_types();
    assert_eq!(&rx[rx.len() - 2..], &[11, 1]);
    assert_eq!(r.sim.received()[rx.len() - 2].payload, b"");
    let m = r.dev_msgs_since(mark);
    assert_eq!(
        m,
        vec![
            (11, vec![]),
            (
                1,
                br#"{"basketID":"abfff7ba-3cfe-41bf-b46e-b4f48573304d","status":0}"#.to_vec()
            )
        ]
    );
    assert_eq!(r.send_results(), vec![(1, SendResult::Sent)]);
    assert!(r.sim.has_open_receipt());
    // Wrong payment type, then 600 cash + 400 card.
    r.send_data(
        2,
        tag::PAYMENT,
        br#"{"amount":600,"description":"X","type":2}"#,
    );
    assert_eq!(r.serial_in(10), vec![b"Ge\xe7ersiz \xf6deme tipi".to_vec()]);
    r.send_data(
        3,
        tag::PAYMENT,
        br#"{"amount":600,"description":"Nakit","type":1}"#,
    );
    assert!(r.serial_in(3).is_empty());
    r.send_data(
        4,
        tag::PAYMENT,
        br#"{"amount":400,"description":"Kart","type":3}"#,
    );
    let tens = r.serial_in(10);
    assert_eq!(tens.len(), 3);
    assert_eq!(
        tens[1],
        br#"{"basketID":"abfff7ba-3cfe-41bf-b46e-b4f48573304d","status":0}"#.to_vec()
    );
    let si = r.serial_in(3);
    assert_eq!(si.len(), 1);
    let j = sale_json(&si[0]);
    assert_eq!(j["status"], 0);
    assert_eq!(j["zNo"], 105);
    assert_eq!(j["paymentCount"], 2);
    assert_eq!(j["paymentItems"][0]["amount"].as_f64(), Some(600.0));
    assert_eq!(j["paymentItems"][1]["amount"].as_f64(), Some(400.0));
    assert_eq!(j["paymentItems"][1]["taxRate"], -1);
    assert!(j.get("UUID").is_none(), "300TR receipts have no UUID");
    assert!(r.sim.sales()[0].acked);
    assert!(!r.sim.has_open_receipt());
    // A payment without an open receipt.
    r.send_data(5, tag::PAYMENT, br#"{"amount":100,"type":1}"#);
    assert_eq!(r.serial_in(10)[3], b"A\xe7\xfdk fi\xfe yok".to_vec());
    // Second basket, partly paid, then voided.
    r.send_data(6, tag::BASKET, basket);
    r.send_data(7, tag::PAYMENT, br#"{"amount":300,"type":1}"#);
    r.send_data(8, tag::PAYMENT, br#"{"isVoid":true}"#);
    let si = r.serial_in(3);
    assert_eq!(si.len(), 2);
    let j = sale_json(&si[1]);
    assert_eq!(j["status"], 99);
    assert_eq!(j["receiptNo"], 2);
    assert_eq!(j["paymentItems"][0]["amount"].as_f64(), Some(300.0));
    assert!(!r.sim.has_open_receipt());
    // No "OK" on the 300TR but the key-share reply.
    let oks: Vec<u16> = r
        .dev_msgs_since(0)
        .iter()
        .filter(|(_, p)| p == OK)
        .map(|x| x.0)
        .collect();
    assert_eq!(oks, vec![6]);
}

#[test]
fn processing_delay_holds_the_answer_back() {
    let mut cfg = SimConfig::x30tr();
    cfg.processing_delay = Duration::from_millis(300);
    let mut r = Rig::new(cfg);
    r.host.request_fiscal_info(r.now);
    r.pump();
    assert!(!r
        .events
        .iter()
        .any(|e| matches!(e, HostEvent::FiscalInfo(_))));
    r.advance(Duration::from_millis(299));
    assert!(!r
        .events
        .iter()
        .any(|e| matches!(e, HostEvent::FiscalInfo(_))));
    r.advance(Duration::from_millis(1));
    assert!(r
        .events
        .contains(&HostEvent::FiscalInfo(Ok(FISCAL_X30TR.to_vec()))));
}

#[test]
fn sale_delay_postpones_the_receipt() {
    let mut cfg = SimConfig::x30tr();
    cfg.sale_delay = Duration::from_secs(30);
    let mut r = Rig::new(cfg);
    r.send_data(1, tag::BASKET, BASKET_X30TR);
    assert!(r.serial_in(3).is_empty());
    assert!(r.sim.has_open_receipt());
    r.advance(Duration::from_secs(30));
    assert_eq!(r.serial_in(3).len(), 1);
}

fn with_faults(mut cfg: SimConfig, f: Faults) -> Rig {
    cfg.faults = f;
    Rig::new(cfg)
}

#[test]
fn fault_silent_device_never_answers() {
    let mut r = with_faults(
        SimConfig::x30tr(),
        Faults {
            silent: true,
            ..Faults::default()
        },
    );
    r.advance(Duration::from_secs(5));
    assert_eq!(r.host.phase(), HostPhase::AwaitCert);
    assert!(r.raw_from_dev.is_empty());
    assert_eq!(r.sim.received_types(), vec![4]);
}

#[test]
fn fault_bad_certificate_stops_the_handshake() {
    for cfg in [SimConfig::x30tr(), SimConfig::t300tr_immediate()] {
        let r = with_faults(
            cfg,
            Faults {
                bad_certificate: true,
                ..Faults::default()
            },
        );
        assert_eq!(r.host.phase(), HostPhase::AwaitCert);
        assert_eq!(r.sim.received_types(), vec![4]);
        assert!(r
            .host_logs
            .iter()
            .any(|l| l.contains("Certificate Verification Failed")));
    }
}

#[test]
fn fault_hello_ok_after_keyshare_is_the_race_the_host_survives() {
    let r = with_faults(
        SimConfig::x30tr(),
        Faults {
            hello_ok_after_keyshare: true,
            ..Faults::default()
        },
    );
    // Certificate, then (after the key share) the hello OK under the default key, then the
    // key-share OK under the session key.
    let m = r.dev_msgs_since(0);
    assert_eq!(t(&m), vec![5, 4, 6, 0, 0]);
    assert_eq!(r.host.phase(), HostPhase::Active);
    assert!(r.host_logs.iter().any(|l| l.contains("hello-ack race")));
    // The late OK is under the default key: the host's session key does not decode it.
    let late = &r.raw_from_dev[1];
    let d = okclink::proto::message::decode_tlvs(r.host.key(), late, 1 << 20);
    assert!(d.error.is_some());
}

#[test]
fn fault_drop_every_loses_messages() {
    // Message 1 after the key share is the device-info serial: dropped.
    let r = with_faults(
        SimConfig::t300tr_immediate(),
        Faults {
            drop_every: Some(1),
            ..Faults::default()
        },
    );
    assert_eq!(r.host.phase(), HostPhase::Active);
    assert_eq!(r.host.serial(), None);
    assert_eq!(r.sim.stats().dropped, 1);
    // X30TR, every 2nd: the serial's "OK" (2) and the fiscal info's "OK" (4) are lost.
    let mut r = with_faults(
        SimConfig::x30tr(),
        Faults {
            drop_every: Some(2),
            ..Faults::default()
        },
    );
    assert!(r.host.serial().is_some());
    r.host.request_fiscal_info(r.now);
    r.pump();
    assert_eq!(t(&r.dev_msgs_since(0)), vec![5, 4, 6, 0, 2]);
    assert_eq!(r.sim.stats().dropped, 2);
}

#[test]
fn fault_duplicate_every_sends_twice() {
    let mut r = with_faults(
        SimConfig::t300tr_immediate(),
        Faults {
            duplicate_every: Some(1),
            ..Faults::default()
        },
    );
    assert_eq!(t(&r.dev_msgs_since(0)), vec![5, 6, 0, 0]);
    let mark = r.from_dev.len();
    r.send_data(
        1,
        tag::BASKET,
        br#"{"items":[{"price":100,"sectionNo":1}]}"#,
    );
    r.send_data(2, tag::PAYMENT, br#"{"amount":100,"type":1}"#);
    // Each sale info arrives twice; the host delivers it once but acknowledges both.
    assert_eq!(
        t(&r.dev_msgs_since(mark)),
        vec![11, 11, 1, 1, 11, 11, 10, 10, 3, 3]
    );
    assert_eq!(r.serial_in(3).len(), 1);
    let oks = r
        .sim
        .received()
        .iter()
        .filter(|x| x.tag == 3 && x.payload == OK)
        .count();
    assert_eq!(oks, 2);
}

#[test]
fn fault_corrupt_every_makes_the_host_report_a_checksum_error() {
    let mut r = with_faults(
        SimConfig::x30tr(),
        Faults {
            corrupt_every: Some(3),
            ..Faults::default()
        },
    );
    // Message 3 after the key share is the fiscal info.
    assert!(r.host.serial().is_some());
    r.host.request_fiscal_info(r.now);
    r.pump();
    assert!(!r
        .events
        .iter()
        .any(|e| matches!(e, HostEvent::FiscalInfo(_))));
    let last = r.sim.received().last().unwrap().clone();
    assert_eq!(last.tag, tag::ERROR);
    assert_eq!(last.payload, text::CHECKSUM.as_bytes());
    assert_eq!(r.sim.stats().corrupted, 1);
}

#[test]
fn fault_vanish_cuts_a_message_in_half() {
    let mut r = with_faults(
        SimConfig::x30tr(),
        Faults {
            vanish_mid_message: true,
            ..Faults::default()
        },
    );
    assert_eq!(r.host.phase(), HostPhase::Active);
    let n = r.raw_from_dev.len();
    r.host.request_fiscal_info(r.now);
    r.pump();
    assert!(r.sim.vanished());
    assert_eq!(r.raw_from_dev.len(), n + 1);
    assert!(r.from_dev[n].is_none(), "half a message does not decode");
    // Nothing more comes out and nothing goes in until the link is reset.
    r.host.request_fiscal_info(r.now);
    r.pump();
    assert_eq!(r.raw_from_dev.len(), n + 1);
    // One-shot: after a new link the device works normally.
    r.sim.link_reset();
    assert!(!r.sim.faults().vanish_mid_message);
    r.new_host();
    r.host.request_fiscal_info(r.now);
    r.pump();
    assert!(r
        .events
        .contains(&HostEvent::FiscalInfo(Ok(FISCAL_X30TR.to_vec()))));
}

#[test]
fn fault_ignore_ack_makes_the_300tr_host_time_out() {
    let mut r = with_faults(
        SimConfig::t300tr_immediate(),
        Faults {
            ignore_ack: true,
            ..Faults::default()
        },
    );
    r.send_data(
        1,
        tag::BASKET,
        br#"{"items":[{"price":100,"sectionNo":1}]}"#,
    );
    r.advance(Duration::from_secs(3));
    assert_eq!(r.send_results(), vec![(1, SendResult::AckTimeout)]);
    assert_eq!(
        r.serial_in(9),
        vec![DEVICE_NOT_CONNECTED.as_bytes().to_vec()]
    );
    assert!(!r.sim.received_types().contains(&1));
}

#[test]
fn fault_ignore_sale_ok_resends_forever() {
    let mut r = with_faults(
        SimConfig::x30tr(),
        Faults {
            ignore_sale_ok: true,
            ..Faults::default()
        },
    );
    r.send_data(1, tag::BASKET, BASKET_X30TR);
    r.advance(Duration::from_secs(10));
    assert_eq!(r.sim.sales()[0].sends, 11);
    assert!(!r.sim.sales()[0].acked);
    assert_eq!(r.serial_in(3).len(), 1);
}

#[test]
fn fault_reconnect_on_basket_and_reconnect_request() {
    let mut r = with_faults(
        SimConfig::x30tr(),
        Faults {
            reconnect_on_basket: true,
            ..Faults::default()
        },
    );
    let mark = r.from_dev.len();
    r.send_data(1, tag::BASKET, BASKET_X30TR);
    // Type 8, then a whole new handshake.
    let m = r.dev_msgs_since(mark);
    assert_eq!(t(&m), vec![8, 5, 4, 6, 0, 0]);
    assert_eq!(r.sim.stats().handshakes, 2);
    assert_eq!(r.host.phase(), HostPhase::Active);
    assert!(r.sim.sales().is_empty());
    // One-shot: the next basket goes through.
    r.send_data(2, tag::BASKET, BASKET_X30TR);
    assert_eq!(r.sim.sales().len(), 1);
    // The control-driven request does the same.
    r.sim.request_reconnect();
    r.pump();
    assert_eq!(r.sim.stats().handshakes, 3);
    assert_eq!(r.sim.stats().reconnect_requests, 2);
}

#[test]
fn fault_cancel_sales_gives_status_minus_one() {
    let mut r = with_faults(
        SimConfig::x30tr(),
        Faults {
            cancel_sales: true,
            ..Faults::default()
        },
    );
    r.send_data(1, tag::BASKET, BASKET_X30TR);
    let j = sale_json(&r.serial_in(3)[0]);
    assert_eq!(j["status"], -1);
    assert_ne!(j["message"], "OK");
}

#[test]
fn unacknowledged_sale_info_is_resent_after_a_new_link() {
    let mut r = Rig::x30tr();
    r.deliver = Box::new(|m, key| {
        !sim_common::decode(key, m).is_some_and(|v| v.iter().any(|(t, _)| *t == 3))
    });
    r.send_data(1, tag::BASKET, BASKET_X30TR);
    assert!(!r.sim.sales()[0].acked);
    // The link drops; a new host connects.
    r.sim.link_reset();
    r.deliver = Box::new(|_, _| true);
    r.new_host();
    r.advance(Duration::from_millis(1));
    assert_eq!(r.serial_in(3).len(), 1);
    assert!(r.sim.sales()[0].acked);
    assert_eq!(r.sim.sales()[0].sends, 2);
}

#[test]
fn the_real_devices_certificates_complete_the_handshake() {
    for mut cfg in [SimConfig::x30tr(), SimConfig::t300tr_immediate()] {
        let id = okclink_sim::DeviceIdentity::real(cfg.model);
        cfg.identity = Some(id.clone());
        let r = Rig::new(cfg);
        assert_eq!(r.host.phase(), HostPhase::Active);
        assert_eq!(r.dev_msgs_since(0)[0], (tag::CERTIFICATE, id.message));
        assert!(r
            .events
            .iter()
            .any(|e| matches!(e, HostEvent::CertificateOk(_))));
    }
}

#[test]
fn disconnect_is_answered_and_a_new_hello_starts_over() {
    for cfg in [SimConfig::x30tr(), SimConfig::t300tr_immediate()] {
        let mut r = Rig::new(cfg);
        let mark = r.from_dev.len();
        r.host.disconnect(r.now);
        r.pump();
        assert_eq!(r.dev_msgs_since(mark), vec![(tag::DISCONNECT, OK.to_vec())]);
        assert_eq!(r.host.phase(), HostPhase::Closed);
        assert!(r.events.contains(&HostEvent::Closed));
        assert!(!r.sim.is_connected());
        assert_eq!(*r.sim.received_types().last().unwrap(), tag::DISCONNECT);
        // Same device, next session.
        r.new_host();
        assert_eq!(r.host.phase(), HostPhase::Active);
        assert_eq!(r.sim.stats().handshakes, 2);
    }
}

#[test]
fn a_basket_received_before_the_link_dropped_still_becomes_a_receipt() {
    let mut cfg = SimConfig::x30tr();
    cfg.processing_delay = Duration::from_millis(500);
    let mut r = Rig::new(cfg);
    r.send_data(1, tag::BASKET, BASKET_X30TR);
    r.host.request_fiscal_info(r.now);
    r.pump();
    r.sim.link_reset();
    let mark = r.from_dev.len();
    r.new_host();
    r.advance(Duration::from_millis(600));
    // The new host sees the handshake and the sale info, not the lost basket "OK" nor the
    // fiscal info asked on the old link.
    assert_eq!(t(&r.dev_msgs_since(mark)), vec![5, 4, 6, 0, 0, 3, 3]);
    assert_eq!(r.serial_in(3).len(), 1);
    assert!(r.sim.sales()[0].acked);
}

#[test]
fn fault_lose_incoming_every_ignores_host_messages() {
    // Host message 1 after the key share (the device-info request) gets through.
    let mut r = with_faults(
        SimConfig::x30tr(),
        Faults {
            lose_incoming_every: Some(2),
            ..Faults::default()
        },
    );
    assert!(r.host.serial().is_some());
    r.host.request_fiscal_info(r.now);
    r.pump();
    r.advance(Duration::from_secs(6));
    // Host message 2 = the fiscal-info request: lost, the host times out.
    assert!(r.events.contains(&HostEvent::FiscalInfo(Err(vec![]))));
    assert_eq!(r.sim.stats().lost_incoming, 1);
    assert_eq!(r.sim.received_types(), vec![4, 6, 0]);
}

#[test]
fn fault_junk_every_writes_bytes_that_cannot_start_a_message() {
    let mut r = with_faults(
        SimConfig::x30tr(),
        Faults {
            junk_every: Some(3),
            ..Faults::default()
        },
    );
    let n = r.raw_from_dev.len();
    r.host.request_fiscal_info(r.now);
    r.pump();
    // Junk, then the fiscal info (message 3 after the key share) and its OK.
    assert_eq!(r.raw_from_dev[n], okclink_sim::JUNK);
    assert!(r
        .events
        .contains(&HostEvent::FiscalInfo(Ok(FISCAL_X30TR.to_vec()))));
    assert_eq!(r.sim.stats().junk, 1);
    // The host's stream reader rejected the junk; the host answered with a type-60 error.
    assert_eq!(r.garbage, vec![text::NOT_START]);
    let e = r.sim.received().last().unwrap().clone();
    assert_eq!(
        (e.tag, e.payload),
        (tag::ERROR, text::NOT_START.as_bytes().to_vec())
    );
}

#[test]
fn fault_split_every_writes_messages_in_pieces_the_host_reassembles() {
    let mut r = with_faults(
        SimConfig::t300tr_immediate(),
        Faults {
            split_every: Some(1),
            ..Faults::default()
        },
    );
    assert!(r.host.serial().is_some());
    let n = r.raw_from_dev.len();
    r.host.request_fiscal_info(r.now);
    r.pump();
    // Two pieces, neither decodable alone; together the real fiscal info.
    assert_eq!(r.raw_from_dev.len(), n + 2);
    assert!(r.from_dev[n].is_none() && r.from_dev[n + 1].is_none());
    let whole = [r.raw_from_dev[n].clone(), r.raw_from_dev[n + 1].clone()].concat();
    assert_eq!(
        sim_common::decode(r.host.key(), &whole).unwrap(),
        vec![(2, FISCAL_300TR.to_vec())]
    );
    assert!(r
        .events
        .contains(&HostEvent::FiscalInfo(Ok(FISCAL_300TR.to_vec()))));
    assert!(r.garbage.is_empty());
    assert_eq!(r.sim.stats().split, 2);
}

#[test]
fn certificate_faults_set_at_run_time_apply_from_the_next_hello() {
    let mut r = Rig::x30tr();
    assert_eq!(r.host.phase(), HostPhase::Active);
    r.sim.set_faults(Faults {
        bad_certificate: true,
        ..Faults::default()
    });
    r.sim.request_reconnect();
    r.pump();
    assert_eq!(r.host.phase(), HostPhase::AwaitCert);
    assert!(r
        .host_logs
        .iter()
        .any(|l| l.contains("Certificate Verification Failed")));
    r.sim.set_faults(Faults::default());
    r.sim.request_reconnect();
    r.pump();
    assert_eq!(r.host.phase(), HostPhase::Active);
}

#[test]
fn duplicated_and_dropped_messages_lose_no_receipt() {
    // Duplicated sale infos earn the host's "OK" twice; together with dropped copies this
    // once let a stale "OK" acknowledge a receipt the host never saw.
    for (dup, drop) in [(2, 5), (2, 3), (3, 4), (1, 0)] {
        let mut r = with_faults(
            SimConfig::x30tr(),
            Faults {
                duplicate_every: Some(dup),
                drop_every: (drop > 0).then_some(drop),
                ..Faults::default()
            },
        );
        for i in 0..10u64 {
            let b = String::from_utf8(BASKET_X30TR.to_vec()).unwrap().replace(
                "00000000-0000-4000-8000-000000000001",
                &format!("00000000-0000-4000-8000-00000000000{i}"),
            );
            r.send_data(i, tag::BASKET, b.as_bytes());
        }
        r.advance(Duration::from_secs(30));
        assert!(
            r.sim.sales().iter().all(|s| s.acked),
            "dup {dup} drop {drop}"
        );
        let mut ids: Vec<String> = r
            .serial_in(3)
            .iter()
            .map(|v| sale_json(v)["basketID"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        assert_eq!(
            ids.len(),
            10,
            "dup {dup} drop {drop}: every receipt delivered once"
        );
        ids.dedup();
        assert_eq!(ids.len(), 10, "dup {dup} drop {drop}");
    }
}
