//! The 300TR serial transport with FTDI discovery through (emulated) sysfs: the umockdev
//! fixture shows an FTDI bridge 0403:6001 with /dev/ttyUSB1 (a pseudo-terminal relayed to the
//! simulator) next to another USB-serial adapter. Run by .ci/test-usb.sh inside the fixture.
#![cfg(all(feature = "serial", target_os = "linux"))]

#[path = "umockdev/ctl.rs"]
mod ctl;
mod e2e_support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ctl::Ctl;
use e2e_support::{hub_on, sale_infos, Ev};
use okclink::hub::{SendOutcome, TransportSpec};
use okclink::proto::message::tag;
use okclink::transport::serial::{SerialConfig, SerialConnector};
use okclink::transport::{Connector, DeviceModel, Incoming, LinkError};
use okclink_sim::{serve_tcp, SimConfig};
use serde_json::{json, Value};

#[test]
#[ignore = "needs the umockdev fixture: run .ci/test-usb.sh"]
fn ftdi_found_in_sysfs_carries_a_300tr_sale_and_unplug_ends_it() {
    let mut ctl = Ctl::new();
    let sim = serve_tcp("127.0.0.1:0", SimConfig::t300tr_immediate()).unwrap();
    // A Prolific adapter on ttyUSB0 (not ours), the 300TR's FTDI bridge on ttyUSB1.
    ctl.call(json!({"op": "add", "name": "prolific", "kind": "ftdi", "vid": 0x067b, "pid": 0x2303, "tty": 0}));
    ctl.call(
        json!({"op": "add", "name": "t300", "kind": "ftdi", "tty": 1,
                    "bulk": sim.local_addr().to_string()}),
    );
    let c = SerialConnector::new(SerialConfig::default());
    assert_eq!(c.find_port(), Some(PathBuf::from("/dev/ttyUSB1")));
    let link = c.connect(Duration::ZERO).unwrap().expect("FTDI port opens");
    assert_eq!(link.describe(), "serial /dev/ttyUSB1");
    assert_eq!(link.model(), DeviceModel::T300tr);
    drop(link);
    // The hub over that connector carries a sale.
    let (hub, rec) = hub_on(TransportSpec::Custom(Arc::new(SerialConnector::new(
        SerialConfig::default(),
    ))));
    assert_eq!(
        hub.wait_connected(Duration::from_secs(20)).as_deref(),
        Some("AT0000000001")
    );

    let basket = json!({
        "basketID": "00000000-0000-4000-8000-000000000301",
        "documentType": 9008,
        "items": [{"name": "FTDI ITEM", "price": 500, "quantity": 1000, "sectionNo": 1,
                   "taxPercent": 1000, "type": 0}],
        "paymentItems": []
    })
    .to_string();
    assert_eq!(hub.send_basket(&basket).unwrap(), SendOutcome::Accepted);
    rec.wait_for("basket reply", |e| {
        e.iter().any(|e| matches!(e, Ev::Serial(1, _)))
    });
    assert_eq!(
        hub.send_payment(r#"{"amount": 500, "description": "Cash", "type": 1}"#)
            .unwrap(),
        SendOutcome::Accepted
    );
    let ev = rec.wait_for("sale info", |e| !sale_infos(e).is_empty());
    assert_eq!(
        sale_infos(&ev)[0]["basketID"],
        json!("00000000-0000-4000-8000-000000000301")
    );
    assert_eq!(sim.sales_count(), 1);
    hub.close();

    // Unplug: the link ends, discovery no longer finds the port; replug: found again.
    let link = c.connect(Duration::ZERO).unwrap().expect("FTDI port opens");
    let (mut reader, mut writer) = link.split();
    ctl.call(json!({"op": "unplug", "name": "t300"}));
    let err = loop {
        match reader.recv(Duration::from_secs(5)) {
            Ok(Incoming::Idle) | Ok(Incoming::Message(_)) => continue,
            Ok(other) => panic!("{other:?}"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, LinkError::Gone(_)), "{err:?}");
    let removed = ctl.log("t300")["t"]["removed"].as_f64().unwrap();
    eprintln!(
        "PERF serial unplug -> LinkError::Gone (upper bound): {:.1} ms",
        (ctl.now() - removed) * 1000.0
    );
    writer.close();
    assert_eq!(c.find_port(), None);
    assert!(c.connect(Duration::ZERO).unwrap().is_none());
    // (umockdev cannot re-create a removed tty node, so the adapter comes back as ttyUSB2, as
    // Linux does when the old number is still held.)
    ctl.call(
        json!({"op": "add", "name": "t300b", "kind": "ftdi", "tty": 2,
                    "bulk": sim.local_addr().to_string()}),
    );
    assert_eq!(c.find_port(), Some(PathBuf::from("/dev/ttyUSB2")));
    let link = c
        .connect(Duration::ZERO)
        .unwrap()
        .expect("replugged port opens");
    assert_eq!(link.describe(), "serial /dev/ttyUSB2");
}

#[test]
#[ignore = "needs the umockdev fixture: run .ci/test-usb.sh"]
fn hub_over_serial_finds_the_300tr_sells_and_sees_the_unplug() {
    use okclink::hub::{Config, Hub, SendOutcome, TransportSpec};
    use std::sync::mpsc;

    let mut ctl = Ctl::new();
    let sim = serve_tcp("127.0.0.1:0", SimConfig::t300tr_immediate()).unwrap();
    // (tty numbers differ from the other test: umockdev cannot re-create a removed tty node)
    ctl.call(
        json!({"op": "add", "name": "t300", "kind": "ftdi", "tty": 5,
                    "bulk": sim.local_addr().to_string()}),
    );
    let mut config = Config::new("YourCompanyName");
    config.transports = vec![TransportSpec::Serial];
    config.log_dir = None;
    let hub = Hub::new(config).expect("createCommunication");
    let (state_tx, state_rx) = mpsc::channel::<(bool, String)>();
    hub.set_device_state_callback(Some(Box::new(move |c, s| {
        let _ = state_tx.send((c, s.to_string()));
    })));
    let (in_tx, in_rx) = mpsc::channel::<(i32, String)>();
    hub.set_serial_in_callback(Some(Box::new(move |t, v| {
        let _ = in_tx.send((t, v.to_string()));
    })));
    let next_state = |want: bool| loop {
        let (c, s) = state_rx
            .recv_timeout(Duration::from_secs(15))
            .expect("no deviceState callback");
        if c == want {
            return s;
        }
    };
    let next_in = |want: i32| loop {
        let (t, v) = in_rx
            .recv_timeout(Duration::from_secs(15))
            .expect("no serialIn callback");
        if t == want {
            return v;
        }
    };
    assert_eq!(next_state(true), "AT0000000001");
    assert_eq!(hub.active_device_index(), 1);

    let basket = json!({
        "basketID": "00000000-0000-4000-8000-000000000302",
        "documentType": 9008,
        "items": [{"name": "HUB ITEM", "price": 700, "quantity": 1000, "sectionNo": 1,
                   "taxPercent": 1000, "type": 0}],
        "paymentItems": []
    })
    .to_string();
    assert_eq!(hub.send_basket(&basket).unwrap(), SendOutcome::Accepted);
    let reply: Value = serde_json::from_str(&next_in(1)).unwrap();
    assert_eq!(reply["status"], json!(0));
    assert_eq!(
        hub.send_payment(r#"{"amount": 700, "description": "Cash", "type": 1}"#)
            .unwrap(),
        SendOutcome::Accepted
    );
    let info: Value = serde_json::from_str(&next_in(3)).unwrap();
    assert_eq!(
        info["basketID"],
        json!("00000000-0000-4000-8000-000000000302")
    );
    // The 300TR got an ACK request before the basket and before the payment.
    let types = sim.received_types();
    let pos = |t: u16| types.iter().position(|x| *x == t).unwrap();
    assert_eq!(types[pos(tag::BASKET) - 1], tag::ACK, "{types:?}");
    assert_eq!(types[pos(tag::PAYMENT) - 1], tag::ACK, "{types:?}");

    ctl.call(json!({"op": "unplug", "name": "t300"}));
    assert_eq!(next_state(false), "");
    let removed = ctl.log("t300")["t"]["removed"].as_f64().unwrap();
    eprintln!(
        "PERF hub: serial unplug -> deviceState(false): {:.1} ms",
        (ctl.now() - removed) * 1000.0
    );
    assert_eq!(hub.active_device_index(), -1);
    hub.close();
}
