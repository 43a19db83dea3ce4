//! The in-process device: mem_connector + SimControl, with the hub over its links.

mod e2e_support;
mod sim_common;

use std::time::Duration;

use e2e_support::{
    falses, garbage_in_log, hub_on, hub_with, log_dir, sale_infos, test_config, trues, wait_until,
    Ev,
};
use okclink::hub::text::decode_device_text;
use okclink::hub::{HubError, LogLevel, SendOutcome, TransportSpec};
use okclink::proto::message::tag;
use okclink::transport::{DeviceModel, Incoming, LinkError};
use okclink_sim::{mem_connector, Faults, SimConfig};
use sim_common::BASKET_X30TR;

const T: Duration = Duration::from_secs(10);

fn basket_x30tr() -> &'static str {
    std::str::from_utf8(BASKET_X30TR).unwrap()
}

#[test]
fn both_models_handshake_and_sell_over_the_in_memory_link() {
    for (cfg, basket, payment) in [
        (SimConfig::x30tr(), basket_x30tr(), None),
        (
            SimConfig::t300tr_immediate(),
            r#"{"basketID":"b-300","items":[{"price":2500,"quantity":2000,"sectionNo":2}]}"#,
            Some(r#"{"amount":5000,"description":"Nakit","type":1}"#),
        ),
    ] {
        let model = cfg.model;
        let serial = cfg.serial.clone();
        let (conn, ctl) = mem_connector(cfg);
        let link = conn.connect(Duration::from_millis(100)).unwrap().unwrap();
        assert_eq!(link.model(), model);
        drop(link);
        let (hub, rec) = hub_on(TransportSpec::Custom(conn));
        assert_eq!(hub.wait_connected(T).as_deref(), Some(serial.as_str()));
        assert!(ctl.is_connected());
        let expect = match model {
            DeviceModel::X30tr => okclink_sim::fiscal::FISCAL_X30TR,
            DeviceModel::T300tr => okclink_sim::fiscal::FISCAL_300TR,
        };
        assert_eq!(hub.fiscal_info(None).unwrap(), decode_device_text(expect));
        assert_eq!(hub.send_basket(basket).unwrap(), SendOutcome::Accepted);
        if let Some(p) = payment {
            rec.wait_for("basket status", |e| {
                e.iter()
                    .any(|e| matches!(e, Ev::Serial(1, v) if v.starts_with('{')))
            });
            assert_eq!(hub.send_payment(p).unwrap(), SendOutcome::Accepted);
        }
        let ev = rec.wait_for("sale info", |e| !sale_infos(e).is_empty());
        let j = &sale_infos(&ev)[0];
        assert_eq!(j["status"], 0);
        assert_eq!(j["receiptNo"], 1);
        // The host's OK reaches the device.
        wait_until("sale acked", || {
            ctl.sales().first().is_some_and(|s| s.acked)
        });
        assert_eq!(ctl.sales_count(), 1);
        assert_eq!(ctl.sales()[0].sends, 1);
        let types = ctl.received_types();
        assert_eq!(&types[..3], &[4, 6, 0]);
        assert_eq!(*types.last().unwrap(), 3);
        hub.close();
    }
}

#[test]
fn unplug_means_gone_and_no_device_until_plugged_again() {
    let (conn, ctl) = mem_connector(SimConfig::x30tr());
    let (hub, rec) = hub_on(TransportSpec::Custom(conn.clone()));
    assert!(hub.wait_connected(T).is_some());
    ctl.unplug();
    rec.wait_for("gone", |e| e.contains(&Ev::State(false, String::new())));
    assert_eq!(hub.active_device_index(), -1);
    assert!(conn.connect(T).unwrap().is_none());
    assert!(!ctl.is_plugged());
    ctl.plug();
    rec.wait_for("identified again", |e| trues(e) == 2);
    assert_eq!(ctl.stats().handshakes, 2);
    assert_eq!(ctl.links_opened(), 2);
}

/// Read `link`'s reader until it reports the link gone.
fn until_gone(r: &mut dyn okclink::transport::LinkReader) -> LinkError {
    let end = std::time::Instant::now() + T;
    loop {
        assert!(std::time::Instant::now() < end, "link never went away");
        match r.recv(Duration::from_millis(50)) {
            Ok(Incoming::Idle) | Ok(Incoming::Message(_)) | Ok(Incoming::Garbage(_)) => {}
            Err(e) => return e,
        }
    }
}

#[test]
fn a_new_link_replaces_the_old_one() {
    let (conn, ctl) = mem_connector(SimConfig::t300tr_immediate());
    let (hub, rec) = hub_on(TransportSpec::Custom(conn.clone()));
    assert!(hub.wait_connected(T).is_some());
    // Another host takes the device: its link replaces the hub's ...
    let (mut other, _w) = conn.connect(T).unwrap().unwrap().split();
    rec.wait_for("the hub's link gone", |e| falses(e) == 1);
    // ... and the hub's next link replaces that one in turn, with a new handshake.
    assert!(matches!(until_gone(other.as_mut()), LinkError::Gone(_)));
    rec.wait_for("identified again", |e| trues(e) == 2);
    assert_eq!(ctl.stats().handshakes, 2);
    assert_eq!(ctl.links_opened(), 3);
}

#[test]
fn vanish_mid_message_drops_the_link_and_unplugs() {
    let dir = log_dir("sim-mem-vanish");
    let (conn, ctl) = mem_connector(SimConfig::x30tr());
    let mut c = test_config(TransportSpec::Custom(conn.clone()));
    c.log_dir = Some(dir.clone());
    c.log_level = LogLevel::Debug;
    let (hub, rec) = hub_with(c);
    assert!(hub.wait_connected(T).is_some());
    ctl.set_faults(Faults {
        vanish_mid_message: true,
        ..Faults::default()
    });
    // The half message never became a message: no fiscal info.
    assert_eq!(hub.fiscal_info(None), Err(HubError::NoDevice));
    rec.wait_for("gone", |e| falses(e) == 1);
    assert!(!ctl.is_plugged());
    assert_eq!(ctl.stats().vanished, 1);
    assert!(conn.connect(T).unwrap().is_none());
    ctl.plug();
    assert!(hub.wait_connected(T).is_some());
    assert_eq!(
        hub.fiscal_info(None).unwrap(),
        decode_device_text(okclink_sim::fiscal::FISCAL_X30TR)
    );
    hub.close();
    // ... and no garbage either.
    assert!(garbage_in_log(&dir).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn control_reconnect_request_makes_the_host_redo_the_handshake() {
    let (conn, ctl) = mem_connector(SimConfig::x30tr());
    let (hub, rec) = hub_on(TransportSpec::Custom(conn));
    assert!(hub.wait_connected(T).is_some());
    rec.wait_for("identified", |e| trues(e) == 1);
    ctl.request_reconnect();
    rec.wait_for("identified again", |e| trues(e) == 2);
    assert_eq!(ctl.stats().handshakes, 2);
    assert_eq!(ctl.stats().reconnect_requests, 1);
    assert_eq!(ctl.received_types().iter().filter(|&&t| t == 4).count(), 2);
}

#[test]
fn a_receipt_printed_while_unplugged_reaches_the_next_host() {
    let mut cfg = SimConfig::x30tr();
    cfg.sale_delay = Duration::from_millis(1500);
    let (conn, ctl) = mem_connector(cfg);
    let (hub, rec) = hub_on(TransportSpec::Custom(conn));
    assert!(hub.wait_connected(T).is_some());
    assert_eq!(
        hub.send_basket(basket_x30tr()).unwrap(),
        SendOutcome::Accepted
    );
    wait_until("basket at the device", || ctl.received_types().contains(&1));
    ctl.unplug();
    rec.wait_for("gone", |e| falses(e) == 1);
    assert!(sale_infos(&rec.events()).is_empty());
    wait_until("receipt printed", || ctl.sales_count() > 0);
    assert_eq!(ctl.sales_count(), 1);
    assert_eq!(ctl.sales()[0].sends, 0);
    ctl.plug();
    rec.wait_for("sale info", |e| !sale_infos(e).is_empty());
    wait_until("sale acked", || ctl.sales()[0].acked);
    assert_eq!(ctl.sales()[0].sends, 1);
}

#[test]
fn unplug_for_and_replug_after_vanish_plug_the_device_back_in() {
    let mut cfg = SimConfig::t300tr_immediate();
    cfg.replug_after = Some(Duration::from_millis(100));
    cfg.faults.vanish_mid_message = true;
    let (conn, ctl) = mem_connector(cfg);
    let (hub, rec) = hub_on(TransportSpec::Custom(conn));
    assert!(hub.wait_connected(T).is_some());
    assert_eq!(hub.fiscal_info(None), Err(HubError::NoDevice));
    rec.wait_for("gone", |e| falses(e) == 1);
    // Plugged back in by the device itself; the hub finds it again.
    rec.wait_for("identified again", |e| trues(e) == 2);
    assert!(ctl.is_plugged());
    ctl.unplug_for(Duration::from_millis(100));
    rec.wait_for("gone again", |e| falses(e) == 2);
    rec.wait_for("identified a third time", |e| trues(e) == 3);
    assert!(ctl.is_plugged());
    assert_eq!(ctl.stats().handshakes, 3);
}

#[test]
fn junk_on_the_stream_is_garbage_for_the_host_reader() {
    let dir = log_dir("sim-mem-junk");
    let (conn, ctl) = mem_connector(SimConfig::x30tr());
    let mut c = test_config(TransportSpec::Custom(conn));
    c.log_dir = Some(dir.clone());
    let (hub, _rec) = hub_with(c);
    assert!(hub.wait_connected(T).is_some());
    ctl.set_faults(Faults {
        junk_every: Some(1),
        ..Faults::default()
    });
    assert!(hub.fiscal_info(None).is_ok());
    wait_until("type 60 at the device", || {
        ctl.received_types().contains(&tag::ERROR)
    });
    let e = ctl
        .received()
        .into_iter()
        .find(|r| r.tag == tag::ERROR)
        .unwrap();
    assert_eq!(
        e.payload,
        okclink::proto::message::text::NOT_START.as_bytes()
    );
    hub.close();
    let garbage = garbage_in_log(&dir);
    assert!(!garbage.is_empty());
    assert!(garbage
        .iter()
        .all(|g| g == okclink::proto::message::text::NOT_START));
    let _ = std::fs::remove_dir_all(&dir);
}
