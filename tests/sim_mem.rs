//! The in-process device: mem_connector + SimControl with a HostSession over the link.

mod sim_common;

use std::time::Duration;

use okclink::proto::message::tag;
use okclink::proto::session::HostEvent;
use okclink::transport::DeviceModel;
use okclink_sim::{mem_connector, Faults, SimConfig};
use sim_common::{identified, sale_json, t300tr_immediate, LinkHost, BASKET_X30TR};

const T: Duration = Duration::from_secs(10);

fn fiscal_ok(ev: &[HostEvent]) -> Option<Vec<u8>> {
    ev.iter().find_map(|e| match e {
        HostEvent::FiscalInfo(Ok(v)) => Some(v.clone()),
        _ => None,
    })
}

#[test]
fn both_models_handshake_and_sell_over_the_in_memory_link() {
    for (cfg, basket, payment) in [
        (SimConfig::x30tr(), BASKET_X30TR, None),
        (
            t300tr_immediate(),
            &br#"{"basketID":"b-300","items":[{"price":2500,"quantity":2000,"sectionNo":2}]}"#[..],
            Some(&br#"{"amount":5000,"description":"Nakit","type":1}"#[..]),
        ),
    ] {
        let model = cfg.model;
        let serial = cfg.serial.clone();
        let (conn, ctl) = mem_connector(cfg);
        let link = conn.connect(Duration::from_millis(100)).unwrap().unwrap();
        assert_eq!(link.model(), model);
        let mut h = LinkHost::start(link, model);
        h.run_until(T, identified);
        assert_eq!(h.identified().unwrap(), serial.as_bytes());
        assert!(ctl.is_connected());
        h.host.request_fiscal_info(std::time::Instant::now());
        h.run_until(T, |e| fiscal_ok(e).is_some());
        let expect = match model {
            DeviceModel::X30tr => okclink_sim::fiscal::FISCAL_X30TR,
            DeviceModel::T300tr => okclink_sim::fiscal::FISCAL_300TR,
        };
        assert_eq!(fiscal_ok(&h.events).unwrap(), expect);
        h.host
            .send_data(std::time::Instant::now(), 1, tag::BASKET, basket);
        if let Some(p) = payment {
            h.run_until(T, |e| {
                e.iter()
                    .any(|e| matches!(e, HostEvent::SerialIn(1, v) if v.starts_with(b"{")))
            });
            h.host
                .send_data(std::time::Instant::now(), 2, tag::PAYMENT, p);
        }
        h.run_until(T, |e| {
            e.iter().any(|e| matches!(e, HostEvent::SerialIn(3, _)))
        });
        let j = sale_json(&h.serial_in(3)[0]);
        assert_eq!(j["status"], 0);
        assert_eq!(j["receiptNo"], 1);
        // The host's OK reaches the device.
        h.run_until(T, |_| ctl.sales().first().is_some_and(|s| s.acked));
        assert_eq!(ctl.sales_count(), 1);
        assert_eq!(ctl.sales()[0].sends, 1);
        let types = ctl.received_types();
        assert_eq!(&types[..3], &[4, 6, 0]);
        assert_eq!(*types.last().unwrap(), 3);
    }
}

#[test]
fn unplug_means_gone_and_no_device_until_plugged_again() {
    let (conn, ctl) = mem_connector(SimConfig::x30tr());
    let mut h = LinkHost::start(conn.connect(T).unwrap().unwrap(), DeviceModel::X30tr);
    h.run_until(T, identified);
    ctl.unplug();
    h.run_until(T, |_| false);
    assert!(h.gone);
    assert!(h.events.contains(&HostEvent::Closed));
    assert!(conn.connect(T).unwrap().is_none());
    assert!(!ctl.is_plugged());
    ctl.plug();
    let mut h = LinkHost::start(conn.connect(T).unwrap().unwrap(), DeviceModel::X30tr);
    h.run_until(T, identified);
    assert_eq!(ctl.stats().handshakes, 2);
    assert_eq!(ctl.links_opened(), 2);
}

#[test]
fn a_new_link_replaces_the_old_one() {
    let (conn, ctl) = mem_connector(t300tr_immediate());
    let mut a = LinkHost::start(conn.connect(T).unwrap().unwrap(), DeviceModel::T300tr);
    a.run_until(T, identified);
    let mut b = LinkHost::start(conn.connect(T).unwrap().unwrap(), DeviceModel::T300tr);
    b.run_until(T, identified);
    a.run_until(T, |_| false);
    assert!(a.gone);
    assert!(!b.gone);
    assert_eq!(ctl.stats().handshakes, 2);
}

#[test]
fn vanish_mid_message_drops_the_link_and_unplugs() {
    let (conn, ctl) = mem_connector(SimConfig::x30tr());
    let mut h = LinkHost::start(conn.connect(T).unwrap().unwrap(), DeviceModel::X30tr);
    h.run_until(T, identified);
    ctl.set_faults(Faults {
        vanish_mid_message: true,
        ..Faults::default()
    });
    h.host.request_fiscal_info(std::time::Instant::now());
    h.run_until(T, |_| false);
    assert!(h.gone);
    // The half message never became a message: no fiscal info, no garbage.
    assert!(fiscal_ok(&h.events).is_none());
    assert!(h.garbage.is_empty());
    assert!(!ctl.is_plugged());
    assert_eq!(ctl.stats().vanished, 1);
    assert!(conn.connect(T).unwrap().is_none());
    ctl.plug();
    let mut h = LinkHost::start(conn.connect(T).unwrap().unwrap(), DeviceModel::X30tr);
    h.run_until(T, identified);
    h.host.request_fiscal_info(std::time::Instant::now());
    h.run_until(T, |e| fiscal_ok(e).is_some());
}

#[test]
fn control_reconnect_request_makes_the_host_redo_the_handshake() {
    let (conn, ctl) = mem_connector(SimConfig::x30tr());
    let mut h = LinkHost::start(conn.connect(T).unwrap().unwrap(), DeviceModel::X30tr);
    h.run_until(T, identified);
    h.events.clear();
    ctl.request_reconnect();
    h.run_until(T, identified);
    assert_eq!(ctl.stats().handshakes, 2);
    assert_eq!(ctl.stats().reconnect_requests, 1);
    assert_eq!(ctl.received_types().iter().filter(|&&t| t == 4).count(), 2);
}

#[test]
fn a_receipt_printed_while_unplugged_reaches_the_next_host() {
    let mut cfg = SimConfig::x30tr();
    cfg.sale_delay = Duration::from_millis(1500);
    let (conn, ctl) = mem_connector(cfg);
    let mut h = LinkHost::start(conn.connect(T).unwrap().unwrap(), DeviceModel::X30tr);
    h.run_until(T, identified);
    h.host
        .send_data(std::time::Instant::now(), 1, tag::BASKET, BASKET_X30TR);
    h.run_until(T, |_| ctl.received_types().contains(&1));
    ctl.unplug();
    h.run_until(T, |_| false);
    assert!(h.serial_in(3).is_empty());
    let end = std::time::Instant::now() + T;
    while ctl.sales_count() == 0 {
        assert!(std::time::Instant::now() < end, "no receipt");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(ctl.sales_count(), 1);
    assert_eq!(ctl.sales()[0].sends, 0);
    ctl.plug();
    let mut h = LinkHost::start(conn.connect(T).unwrap().unwrap(), DeviceModel::X30tr);
    h.run_until(T, |e| {
        e.iter().any(|e| matches!(e, HostEvent::SerialIn(3, _)))
    });
    h.run_until(T, |_| ctl.sales()[0].acked);
    assert_eq!(ctl.sales()[0].sends, 1);
}

#[test]
fn unplug_for_and_replug_after_vanish_plug_the_device_back_in() {
    let mut cfg = t300tr_immediate();
    cfg.replug_after = Some(Duration::from_millis(100));
    cfg.faults.vanish_mid_message = true;
    let (conn, ctl) = mem_connector(cfg);
    let mut h = LinkHost::start(conn.connect(T).unwrap().unwrap(), DeviceModel::T300tr);
    h.run_until(T, identified);
    h.host.request_fiscal_info(std::time::Instant::now());
    h.run_until(T, |_| false);
    assert!(h.gone);
    let end = std::time::Instant::now() + T;
    while !ctl.is_plugged() {
        assert!(std::time::Instant::now() < end, "never plugged back in");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut h = LinkHost::start(conn.connect(T).unwrap().unwrap(), DeviceModel::T300tr);
    h.run_until(T, identified);
    ctl.unplug_for(Duration::from_millis(100));
    h.run_until(T, |_| false);
    assert!(h.gone);
    let end = std::time::Instant::now() + T;
    while !ctl.is_plugged() {
        assert!(std::time::Instant::now() < end, "never plugged back in");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut h = LinkHost::start(conn.connect(T).unwrap().unwrap(), DeviceModel::T300tr);
    h.run_until(T, identified);
    assert_eq!(ctl.stats().handshakes, 3);
}

#[test]
fn junk_on_the_stream_is_garbage_for_the_host_reader() {
    let (conn, ctl) = mem_connector(SimConfig::x30tr());
    let mut h = LinkHost::start(conn.connect(T).unwrap().unwrap(), DeviceModel::X30tr);
    h.run_until(T, identified);
    ctl.set_faults(Faults {
        junk_every: Some(1),
        ..Faults::default()
    });
    h.host.request_fiscal_info(std::time::Instant::now());
    h.run_until(T, |e| fiscal_ok(e).is_some());
    assert!(!h.garbage.is_empty());
    assert!(h
        .garbage
        .iter()
        .all(|g| *g == okclink::proto::message::text::NOT_START));
    h.run_until(T, |_| ctl.received_types().contains(&tag::ERROR));
    let e = ctl
        .received()
        .into_iter()
        .find(|r| r.tag == tag::ERROR)
        .unwrap();
    assert_eq!(
        e.payload,
        okclink::proto::message::text::NOT_START.as_bytes()
    );
}
