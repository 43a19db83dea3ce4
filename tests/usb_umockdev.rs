//! The USB AOA transport through the real libusb, against devices emulated by umockdev
//! (tests/umockdev/fixture.py). These tests need the fixture around the test binary, so they
//! are `#[ignore]`d in a plain `cargo test`; `.ci/test-usb.sh` runs them:
//!
//! ```text
//! umockdev-wrapper /usr/bin/python3 tests/umockdev/fixture.py -- \
//!     target/debug/deps/usb_umockdev-* --ignored --test-threads=1
//! ```
#![cfg(all(feature = "usb", target_os = "linux"))]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use okclink::proto::message::{build_message, tag};
use okclink::proto::pipeline::Key;
use okclink::transport::usb::{UsbConfig, UsbConnector};
use okclink::transport::{Connector, Incoming, Link, LinkError, LinkReader, LinkWriter};
use okclink_sim::{serve_tcp, SimConfig};
use serde_json::{json, Value};

#[path = "umockdev/ctl.rs"]
mod ctl;
use ctl::{shared, Ctl, Peer};
mod e2e_support;
use e2e_support::{hub_with, log_text, sale_infos, test_config, Ev, Recorder};
use okclink::hub::{Hub, LogLevel, SendOutcome, TransportSpec};

/// The control transfers the vendor sent to the phone, as "setup data" lines.
fn captured_control() -> Vec<String> {
    let text =
        std::fs::read_to_string(shared().join("protocol/vectors/captured-usb-aoa-control.txt"))
            .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut p = l.splitn(2, ' ');
            let setup = p.next().unwrap().trim().to_lowercase();
            let data = p.next().unwrap_or("").trim().to_lowercase();
            format!("{setup} {data}")
        })
        .collect()
}

fn cfg() -> UsbConfig {
    UsbConfig {
        write_timeout: Duration::from_millis(300),
        ..UsbConfig::default()
    }
}

fn hello() -> Vec<u8> {
    build_message(&Key::DEFAULT, tag::HELLO, b"asdfg")
}

fn ok_reply(t: u16) -> Vec<u8> {
    build_message(&Key::DEFAULT, t, b"OK")
}

fn connect(c: &UsbConnector, budget: Duration) -> Box<dyn Link> {
    match c.connect(budget) {
        Ok(Some(l)) => l,
        Ok(None) => panic!("no device found"),
        Err(e) => panic!("connect failed: {e}"),
    }
}

fn recv_message(r: &mut Box<dyn LinkReader>) -> Vec<u8> {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        match r.recv(Duration::from_millis(500)).expect("recv") {
            Incoming::Message(m) => return m,
            Incoming::Idle => continue,
            Incoming::Garbage(t) => panic!("garbage: {t}"),
        }
    }
    panic!("no message within 10 s");
}

fn read_exact(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut v = vec![0; n];
    s.read_exact(&mut v).unwrap();
    v
}

/// Exchange one message each way and check the bytes on both sides.
fn exchange(
    link: Box<dyn Link>,
    peer: &mut TcpStream,
) -> (Box<dyn LinkReader>, Box<dyn LinkWriter>) {
    let (mut r, mut w) = link.split();
    let h = hello();
    w.send(&h).expect("bulk OUT");
    assert_eq!(read_exact(peer, h.len()), h, "device received other bytes");
    let reply = ok_reply(tag::HELLO);
    peer.write_all(&reply).unwrap();
    assert_eq!(recv_message(&mut r), reply, "host received other bytes");
    (r, w)
}

#[test]
#[ignore = "needs the umockdev fixture: run .ci/test-usb.sh"]
fn aoa_switch_sends_vendor_requests_and_carries_messages() {
    let mut ctl = Ctl::new();
    let peer = Peer::new();
    ctl.call(json!({"op": "add", "name": "phone", "kind": "android", "bulk": peer.addr, "reenum_delay_ms": 150}));
    let c = UsbConnector::new(cfg());
    let link = connect(&c, Duration::from_secs(8));
    assert_eq!(link.model(), okclink::transport::DeviceModel::X30tr);
    assert!(
        link.describe().starts_with("usb 18d1:2d00"),
        "{}",
        link.describe()
    );
    // Byte for byte what the vendor library sent to the same emulated phone.
    assert_eq!(ctl.control("phone"), captured_control());
    let acc = ctl.log("phone.acc");
    assert_eq!(acc["present"], json!(true));
    // Nothing but bulk traffic goes to the accessory (identification is not repeated).
    assert_eq!(acc["control"], json!([]));
    let ioctls: Vec<String> = serde_json::from_value(acc["ioctls"].clone()).unwrap();
    assert!(
        ioctls
            .iter()
            .any(|i| i == "DISCONNECT_CLAIM" || i == "CLAIMINTERFACE"),
        "{ioctls:?}"
    );
    let mut s = peer.stream();
    let (_r, mut w) = exchange(link, &mut s);
    // Time from the accessory's appearance to the claimed interface (fixture clock).
    let t = ctl.log("phone.acc")["t"].clone();
    if let (Some(a), Some(cl)) = (t["added"].as_f64(), t["claimed"].as_f64()) {
        eprintln!(
            "PERF re-enumeration -> interface claimed: {:.1} ms",
            (cl - a) * 1000.0
        );
    }
    w.close();
}

#[test]
#[ignore = "needs the umockdev fixture: run .ci/test-usb.sh"]
fn device_already_in_accessory_mode_is_opened_without_requests() {
    let mut ctl = Ctl::new();
    let peer = Peer::new();
    ctl.call(
        json!({"op": "add", "name": "acc", "kind": "accessory", "pid": 0x2d01, "bulk": peer.addr}),
    );
    let mut s = peer.stream();
    let c = UsbConnector::new(cfg());
    let link = connect(&c, Duration::from_secs(3));
    assert!(
        link.describe().starts_with("usb 18d1:2d01"),
        "{}",
        link.describe()
    );
    let (_r, _w) = exchange(link, &mut s);
    assert_eq!(ctl.control("acc"), Vec::<String>::new());
}

#[test]
#[ignore = "needs the umockdev fixture: run .ci/test-usb.sh"]
fn decoys_are_left_alone() {
    let mut ctl = Ctl::new();
    // A keyboard (not on the allow-list) and a Google device that does not speak AOA.
    ctl.call(json!({"op": "add", "name": "kbd", "kind": "decoy", "vid": 0x046d, "pid": 0xc31c}));
    ctl.call(json!({"op": "add", "name": "pixel", "kind": "decoy", "vid": 0x18d1, "pid": 0x4ee2}));
    let c = UsbConnector::new(cfg());
    assert!(c.connect(Duration::from_millis(300)).unwrap().is_none());
    assert!(c.connect(Duration::from_millis(300)).unwrap().is_none());
    // Default allow-list: the keyboard and the root hub never see a request.
    assert_eq!(ctl.control("kbd"), Vec::<String>::new());
    assert_eq!(ctl.control("roothub"), Vec::<String>::new());
    // The Google device got exactly one GET_PROTOCOL, stalled it, and was not asked again.
    assert_eq!(ctl.control("pixel"), vec!["c033000000000200 ".to_string()]);

    // "Probe every device" (the vendor's behaviour) asks the keyboard once, never the hub.
    let all = UsbConnector::new(UsbConfig {
        probe_all: true,
        ..cfg()
    });
    assert!(all.connect(Duration::from_millis(300)).unwrap().is_none());
    assert!(all.connect(Duration::from_millis(300)).unwrap().is_none());
    assert_eq!(ctl.control("kbd"), vec!["c033000000000200 ".to_string()]);
    assert_eq!(ctl.control("roothub"), Vec::<String>::new());
}

#[test]
#[ignore = "needs the umockdev fixture: run .ci/test-usb.sh"]
fn a_device_that_never_reenumerates_is_backed_off() {
    let mut ctl = Ctl::new();
    ctl.call(json!({"op": "add", "name": "stuck", "kind": "android", "on_start": "stay"}));
    let c = UsbConnector::new(UsbConfig {
        reenumeration_timeout: Duration::from_millis(600),
        backoff_initial: Duration::from_secs(10),
        ..cfg()
    });
    let t0 = Instant::now();
    assert!(c.connect(Duration::from_secs(1)).unwrap().is_none());
    assert!(
        t0.elapsed() >= Duration::from_millis(600),
        "gave up before the re-enumeration window"
    );
    let once = captured_control();
    assert_eq!(ctl.control("stuck"), once);
    // Within the back-off the device is not switched again.
    assert!(c.connect(Duration::from_millis(200)).unwrap().is_none());
    assert_eq!(ctl.control("stuck").len(), once.len());
}

#[test]
#[ignore = "needs the umockdev fixture: run .ci/test-usb.sh"]
fn unplug_while_idle_ends_the_link_and_replug_reconnects() {
    let mut ctl = Ctl::new();
    let peer = Peer::new();
    ctl.call(json!({"op": "add", "name": "acc", "kind": "accessory", "bulk": peer.addr}));
    let mut s = peer.stream();
    let c = UsbConnector::new(cfg());
    let link = connect(&c, Duration::from_secs(3));
    let (mut r, mut w) = exchange(link, &mut s);
    // The reader is waiting in a bulk IN when the device goes away.
    let reader = std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            match r.recv(Duration::from_secs(5)) {
                Ok(Incoming::Idle) => continue,
                Ok(other) => panic!("unexpected {other:?}"),
                Err(e) => return e,
            }
        }
        panic!("unplug not seen");
    });
    std::thread::sleep(Duration::from_millis(200));
    ctl.call(json!({"op": "unplug", "name": "acc"}));
    let err = reader.join().unwrap();
    assert!(matches!(err, LinkError::Gone(_)), "{err:?}");
    let t_removed = ctl.log("acc")["t"]["removed"].as_f64().unwrap();
    let t_seen = ctl.now();
    eprintln!(
        "PERF unplug -> LinkError::Gone (upper bound): {:.1} ms",
        (t_seen - t_removed) * 1000.0
    );
    assert!(matches!(w.send(&hello()), Err(LinkError::Gone(_))));
    w.close();

    // Replug: the same connector finds it again.
    let peer2 = Peer::new();
    ctl.call(json!({"op": "add", "name": "acc2", "kind": "accessory", "bulk": peer2.addr}));
    let mut s2 = peer2.stream();
    let link = connect(&c, Duration::from_secs(3));
    let (_r, _w) = exchange(link, &mut s2);
}

#[test]
#[ignore = "needs the umockdev fixture: run .ci/test-usb.sh"]
fn unplug_mid_transfer_fails_the_pending_write() {
    let mut ctl = Ctl::new();
    let peer = Peer::new();
    // OUT transfers are never completed by this device, as if it stopped reading mid-sale.
    ctl.call(json!({"op": "add", "name": "acc", "kind": "accessory", "bulk": peer.addr, "out_mode": "hold"}));
    let _s = peer.stream();
    let c = UsbConnector::new(UsbConfig {
        write_timeout: Duration::from_secs(5),
        ..cfg()
    });
    let link = connect(&c, Duration::from_secs(3));
    let (_r, mut w) = link.split();
    let writer = std::thread::spawn(move || w.send(&hello()));
    std::thread::sleep(Duration::from_millis(300));
    ctl.call(json!({"op": "unplug", "name": "acc"}));
    let res = writer.join().unwrap();
    assert!(matches!(res, Err(LinkError::Gone(_))), "{res:?}");
    assert_eq!(ctl.log("acc")["out_urbs"], json!(1));
}

#[test]
#[ignore = "needs the umockdev fixture: run .ci/test-usb.sh"]
fn bulk_out_timeouts_are_retried_three_times() {
    let mut ctl = Ctl::new();
    let peer = Peer::new();
    ctl.call(json!({"op": "add", "name": "acc", "kind": "accessory", "bulk": peer.addr, "out_mode": "hold"}));
    let _s = peer.stream();
    let c = UsbConnector::new(UsbConfig {
        write_timeout: Duration::from_millis(100),
        ..cfg()
    });
    let link = connect(&c, Duration::from_secs(3));
    let (mut r, mut w) = link.split();
    assert!(matches!(w.send(&hello()), Err(LinkError::Timeout)));
    // One attempt + 3 retries, each cancelled by libusb (DISCARDURB) at its timeout.
    let log = ctl.log("acc");
    assert_eq!(log["out_urbs"], json!(4));
    let discards = log["ioctls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| *i == "DISCARDURB")
        .count();
    assert!(discards >= 4, "{log}");
    // A bulk IN timeout is just Idle; the link stays usable.
    assert!(matches!(
        r.recv(Duration::from_millis(100)),
        Ok(Incoming::Idle)
    ));
}

#[test]
#[ignore = "needs the umockdev fixture: run .ci/test-usb.sh"]
fn a_message_split_across_bulk_transfers_is_reassembled() {
    let mut ctl = Ctl::new();
    let peer = Peer::new();
    ctl.call(
        json!({"op": "add", "name": "acc", "kind": "accessory", "bulk": peer.addr, "in_chunk": 40}),
    );
    let mut s = peer.stream();
    let c = UsbConnector::new(cfg());
    let link = connect(&c, Duration::from_secs(3));
    let (mut r, _w) = link.split();
    let a = build_message(&Key::DEFAULT, tag::CERTIFICATE, &[b'x'; 700]);
    let b = ok_reply(tag::HELLO);
    let mut both = a.clone();
    both.extend_from_slice(&b);
    s.write_all(&both).unwrap();
    assert_eq!(recv_message(&mut r), a);
    assert_eq!(recv_message(&mut r), b);
}

/// The hub over the USB connector, logging into `dir`.
fn usb_hub(dir: &std::path::Path) -> (Hub, Recorder) {
    let mut config = test_config(TransportSpec::Custom(std::sync::Arc::new(
        UsbConnector::new(cfg()),
    )));
    config.fiscal_timeout = Duration::from_secs(10);
    config.ack_timeout = Duration::from_secs(2);
    config.disconnect_timeout = Duration::from_secs(2);
    config.log_dir = Some(dir.to_path_buf());
    config.log_level = LogLevel::Debug;
    hub_with(config)
}

#[test]
#[ignore = "needs the umockdev fixture: run .ci/test-usb.sh"]
fn aoa_switch_handshake_and_sale_against_the_simulator() {
    let mut ctl = Ctl::new();
    let sim = serve_tcp("127.0.0.1:0", SimConfig::x30tr()).unwrap();
    ctl.call(json!({"op": "add", "name": "phone", "kind": "android",
                    "bulk": sim.local_addr().to_string(), "reenum_delay_ms": 100}));
    let dir = e2e_support::log_dir("usb-aoa-sale");
    let (hub, rec) = usb_hub(&dir);
    let serial = hub.wait_connected(Duration::from_secs(18));
    let t_ident = ctl.now();
    assert_eq!(serial.as_deref(), Some("AV0000000001"));
    let added = ctl.log("phone.acc")["t"]["added"].as_f64().unwrap();
    eprintln!(
        "PERF re-enumeration -> identified (deviceState(true)): {:.1} ms",
        (t_ident - added) * 1000.0
    );

    assert_eq!(
        hub.fiscal_info(None).unwrap(),
        okclink::hub::text::decode_device_text(&SimConfig::x30tr().fiscal_info)
    );

    let basket =
        std::fs::read_to_string(shared().join("protocol/samples/basket-x30tr.json")).unwrap();
    assert_eq!(hub.send_basket(&basket).unwrap(), SendOutcome::Accepted);
    let ev = rec.wait_for("sale info", |e| !sale_infos(e).is_empty());
    let v = &sale_infos(&ev)[0];
    assert_eq!(v["basketID"], json!("00000000-0000-4000-8000-000000000001"));
    assert_eq!(v["status"], json!(0));

    hub.disconnect();
    assert_eq!(rec.events().last(), Some(&Ev::State(false, String::new())));
    assert_eq!(sim.sales_count(), 1);
    let types = sim.received_types();
    for t in [
        tag::HELLO,
        tag::SHARE_KEY,
        tag::DEVICE_INFO,
        tag::FISCAL_INFO,
        tag::BASKET,
        tag::SALE_INFO,
        tag::DISCONNECT,
    ] {
        assert!(types.contains(&t), "device never got type {t}: {types:?}");
    }
    hub.close();
    // The ECDSA certificate was accepted (the first thing the session reports).
    let log = log_text(&dir);
    assert!(log.contains("certificate ok"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "needs the umockdev fixture: run .ci/test-usb.sh"]
fn unplug_mid_sale_then_replug_finishes_the_sale() {
    let mut ctl = Ctl::new();
    let mut sc = SimConfig::x30tr();
    // The customer takes a while at the device: the cable is pulled before the receipt.
    sc.sale_delay = Duration::from_millis(1500);
    let sim = serve_tcp("127.0.0.1:0", sc).unwrap();
    let bulk = sim.local_addr().to_string();
    ctl.call(json!({"op": "add", "name": "acc", "kind": "accessory", "bulk": bulk}));
    let dir = e2e_support::log_dir("usb-unplug-mid-sale");
    let (hub, rec) = usb_hub(&dir);
    assert!(hub.wait_connected(Duration::from_secs(15)).is_some());
    let basket =
        std::fs::read_to_string(shared().join("protocol/samples/basket-x30tr.json")).unwrap();
    assert_eq!(hub.send_basket(&basket).unwrap(), SendOutcome::Accepted);
    // (The hub's writer thread carries it out: pull the cable once the device has it.)
    e2e_support::wait_until("basket at the device", || {
        sim.received_types().contains(&tag::BASKET)
    });

    ctl.call(json!({"op": "unplug", "name": "acc"}));
    rec.wait_for("link gone", |e| {
        e.contains(&Ev::State(false, String::new()))
    });
    assert!(sale_infos(&rec.events()).is_empty());

    // Replugged (same simulator, receipt state kept): the new session gets the sale info.
    ctl.call(json!({"op": "add", "name": "acc2", "kind": "accessory", "bulk": bulk}));
    let ev = rec.wait_for("sale info after the replug", |e| !sale_infos(e).is_empty());
    assert_eq!(
        e2e_support::trues(&ev),
        2,
        "delivered on the second session: {ev:?}"
    );
    let v = &sale_infos(&ev)[0];
    assert_eq!(v["basketID"], json!("00000000-0000-4000-8000-000000000001"));
    assert_eq!(sim.sales_count(), 1);
    hub.close();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "needs the umockdev fixture: run .ci/test-usb.sh"]
fn an_idle_connected_device_stays_usable() {
    let mut ctl = Ctl::new();
    let peer = Peer::new();
    ctl.call(json!({"op": "add", "name": "acc", "kind": "accessory", "bulk": peer.addr}));
    let mut s = peer.stream();
    let c = UsbConnector::new(cfg());
    let (mut r, mut w) = connect(&c, Duration::from_secs(3)).split();
    std::thread::sleep(Duration::from_millis(500));
    // Idle like a reader that blocks long: recv in 1 s waits, nothing arrives. CPU of this
    // thread and of the connector's event thread (the fixture is another process).
    let events = || {
        thread_cpu_ns()
            .into_iter()
            .filter(|(_, n, _)| n == "okc-usb-events")
            .map(|(_, _, ns)| ns)
            .sum::<u64>()
    };
    let this = || {
        let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
        s.split(' ').next().unwrap().parse::<u64>().unwrap()
    };
    let (e0, r0, t0) = (events(), this(), Instant::now());
    for _ in 0..3 {
        assert!(matches!(r.recv(Duration::from_secs(1)), Ok(Incoming::Idle)));
    }
    let (r1, e1) = (this(), events());
    let wall = t0.elapsed().as_secs_f64();
    let pct = |ns: u64| ns as f64 / 1e9 / wall * 100.0;
    eprintln!(
        "PERF idle connected device: event thread {:.4} %, reader blocked in recv {:.4} % of one core",
        pct(e1 - e0),
        pct(r1 - r0)
    );
    // Still fine afterwards.
    let h = hello();
    w.send(&h).unwrap();
    assert_eq!(read_exact(&mut s, h.len()), h);
    let reply = ok_reply(tag::HELLO);
    s.write_all(&reply).unwrap();
    assert_eq!(recv_message(&mut r), reply);
}

#[test]
#[ignore = "needs the umockdev fixture: run .ci/test-usb.sh"]
fn a_device_plugged_while_connect_waits_is_opened_through_hotplug() {
    let mut ctl = Ctl::new();
    let peer = Peer::new();
    let c = UsbConnector::new(UsbConfig {
        arrival_wait: Duration::from_secs(5),
        ..cfg()
    });
    assert!(c.connect(Duration::from_millis(50)).unwrap().is_none());
    assert!(c.uses_hotplug(), "libusb on Linux has hot-plug");
    let addr = peer.addr.clone();
    // Plug the device while connect is waiting for arrivals.
    let waiter = std::thread::spawn(move || {
        let t = Instant::now();
        let l = c.connect(Duration::from_secs(5)).unwrap();
        (l.map(|l| l.describe()), t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(200));
    ctl.call(json!({"op": "add", "name": "acc", "kind": "accessory", "bulk": addr}));
    let (found, _) = waiter.join().unwrap();
    assert!(found.expect("not found").starts_with("usb 18d1:2d00"));
    let t = ctl.log("acc")["t"].clone();
    eprintln!(
        "PERF plug -> interface claimed (hot-plug wait): {:.1} ms",
        (t["claimed"].as_f64().unwrap() - t["added"].as_f64().unwrap()) * 1000.0
    );
}

#[test]
#[ignore = "needs the umockdev fixture: run .ci/test-usb.sh"]
fn without_hotplug_discovery_polls() {
    let mut ctl = Ctl::new();
    let peer = Peer::new();
    let c = UsbConnector::new(UsbConfig {
        hotplug: false,
        ..cfg()
    });
    assert!(c.connect(Duration::from_millis(300)).unwrap().is_none());
    assert!(!c.uses_hotplug());
    assert_eq!(c.poll_interval(), Duration::from_millis(250));
    ctl.call(json!({"op": "add", "name": "phone", "kind": "android", "bulk": peer.addr}));
    let mut link = None;
    for _ in 0..40 {
        if let Some(l) = c.connect(Duration::from_secs(6)).unwrap() {
            link = Some(l);
            break;
        }
        std::thread::sleep(c.poll_interval());
    }
    let link = link.expect("polling never found the phone");
    assert_eq!(ctl.control("phone"), captured_control());
    let mut stream = peer.stream();
    let (_r, _w) = exchange(link, &mut stream);
}

#[test]
#[ignore = "needs the umockdev fixture: run .ci/test-usb.sh"]
fn a_slow_reenumeration_spans_two_connect_calls() {
    let mut ctl = Ctl::new();
    let peer = Peer::new();
    ctl.call(json!({"op": "add", "name": "phone", "kind": "android", "bulk": peer.addr, "reenum_delay_ms": 800}));
    let c = UsbConnector::new(cfg());
    // The hub's budget runs out before the accessory appears...
    assert!(c.connect(Duration::from_millis(300)).unwrap().is_none());
    assert_eq!(ctl.control("phone"), captured_control());
    // ...the next call keeps waiting for it instead of switching anything again.
    let link = connect(&c, Duration::from_secs(3));
    assert!(link.describe().starts_with("usb 18d1:2d00"));
    assert_eq!(ctl.control("phone"), captured_control());
    let t = ctl.log("phone.acc")["t"].clone();
    eprintln!(
        "PERF slow re-enumeration, accessory appears -> interface claimed: {:.1} ms",
        (t["claimed"].as_f64().unwrap() - t["added"].as_f64().unwrap()) * 1000.0
    );
    let mut s = peer.stream();
    let (_r, _w) = exchange(link, &mut s);
}

#[test]
#[ignore = "needs the umockdev fixture: run .ci/test-usb.sh"]
fn hub_over_usb_switches_the_phone_sells_and_follows_unplug_and_replug() {
    use okclink::hub::{Config, Hub, SendOutcome, TransportSpec};
    use std::sync::mpsc;

    let mut ctl = Ctl::new();
    let sim = serve_tcp("127.0.0.1:0", SimConfig::x30tr()).unwrap();
    let bulk = sim.local_addr().to_string();
    let mut config = Config::new("YourCompanyName");
    config.transports = vec![TransportSpec::Usb];
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
    assert_eq!(hub.active_device_index(), -1);

    // The phone is plugged in: the hub's USB connector switches it and runs the handshake.
    ctl.call(json!({"op": "add", "name": "phone", "kind": "android", "bulk": bulk}));
    assert_eq!(next_state(true), "AV0000000001");
    let t_true = ctl.now();
    let added = ctl.log("phone.acc")["t"]["added"].as_f64().unwrap();
    eprintln!(
        "PERF hub: re-enumeration -> deviceState(true): {:.1} ms",
        (t_true - added) * 1000.0
    );
    assert_eq!(hub.active_device_index(), 0);
    assert_eq!(ctl.control("phone"), captured_control());

    let fiscal = hub.fiscal_info(None).expect("fiscal info");
    assert!(serde_json::from_str::<Value>(&fiscal).is_ok(), "{fiscal}");
    let basket =
        std::fs::read_to_string(shared().join("protocol/samples/basket-x30tr.json")).unwrap();
    assert_eq!(hub.send_basket(&basket).unwrap(), SendOutcome::Accepted);
    let info = loop {
        let (t, v) = in_rx
            .recv_timeout(Duration::from_secs(15))
            .expect("no sale info");
        if t == 3 {
            break v;
        }
    };
    let v: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(v["basketID"], json!("00000000-0000-4000-8000-000000000001"));
    assert_eq!(sim.sales_count(), 1);

    // Cable pulled while idle: deviceState(false).
    ctl.call(json!({"op": "unplug", "name": "phone.acc"}));
    assert_eq!(next_state(false), "");
    let t_false = ctl.now();
    let removed = ctl.log("phone.acc")["t"]["removed"].as_f64().unwrap();
    eprintln!(
        "PERF hub: unplug -> deviceState(false): {:.1} ms",
        (t_false - removed) * 1000.0
    );
    assert_eq!(hub.active_device_index(), -1);

    // Plugged back (already in accessory mode): the hub reconnects by itself.
    ctl.call(json!({"op": "add", "name": "again", "kind": "accessory", "bulk": bulk}));
    assert_eq!(next_state(true), "AV0000000001");
    assert_eq!(ctl.control("again"), Vec::<String>::new());
    hub.close();
}

/// CPU time of each thread of this process (name, nanoseconds on a CPU), from
/// /proc/self/task/*/schedstat (nanosecond resolution, unlike the 10 ms ticks of /proc/*/stat).
fn thread_cpu_ns() -> Vec<(u64, String, u64)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let tid: u64 = e.file_name().to_string_lossy().parse().unwrap();
        let name = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        let sched = std::fs::read_to_string(e.path().join("schedstat")).unwrap_or_default();
        let ns = sched
            .split(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        out.push((tid, name.trim().to_string(), ns));
    }
    out
}

/// Idle cost of a connected X30TR through the whole `Hub` (its own threads only: the fixture is
/// another process, the in-process simulator's threads are left out). Prints the numbers of
/// docs/USB-SERIAL.md § Numbers; the only assertions are about the idle link still working.
#[test]
#[ignore = "needs the umockdev fixture: run .ci/test-usb.sh"]
fn hub_idle_connected_x30tr_cost() {
    use okclink::hub::{Config, Hub, TransportSpec};
    use std::sync::{mpsc, Arc};

    let mut ctl = Ctl::new();
    let sim = serve_tcp("127.0.0.1:0", SimConfig::x30tr()).unwrap();
    let mut config = Config::new("YourCompanyName");
    // The hub's own USB connector (default UsbConfig), kept here to read its call counter.
    let usb = Arc::new(UsbConnector::new(UsbConfig::default()));
    config.transports = vec![TransportSpec::Custom(usb.clone())];
    config.log_dir = None;
    let hub = Hub::new(config).expect("createCommunication");
    let (state_tx, state_rx) = mpsc::channel::<(bool, String)>();
    hub.set_device_state_callback(Some(Box::new(move |c, s| {
        let _ = state_tx.send((c, s.to_string()));
    })));
    ctl.call(json!({"op": "add", "name": "acc", "kind": "accessory",
                    "bulk": sim.local_addr().to_string()}));
    let (up, serial) = state_rx.recv_timeout(Duration::from_secs(15)).unwrap();
    assert!(up, "first deviceState is not (true, serial)");
    assert_eq!(serial, "AV0000000001");
    // Let the handshake's aftermath settle, then measure an idle window.
    std::thread::sleep(Duration::from_secs(2));
    let secs: u64 = std::env::var("OKC_IDLE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    // /proc/*/comm holds at most 15 bytes of a thread's name.
    let me: String = std::thread::current()
        .name()
        .unwrap_or("")
        .chars()
        .take(15)
        .collect();
    let in0 = ctl.log("acc")["in_urbs"].as_u64().unwrap();
    let calls0 = usb.libusb_calls();
    let before = thread_cpu_ns();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let after = thread_cpu_ns();
    let wall = t0.elapsed().as_secs_f64();
    let in_urbs = ctl.log("acc")["in_urbs"].as_u64().unwrap() - in0;
    let calls = usb.libusb_calls() - calls0;
    let mut total = 0u64;
    for (tid, name, ns) in &after {
        if name.starts_with("okc-sim") || *name == me || name.starts_with("usb_umockdev") {
            continue;
        }
        let ns0 = before
            .iter()
            .find(|(t, _, _)| t == tid)
            .map_or(0, |(_, _, n)| *n);
        let d = ns - ns0;
        total += d;
        eprintln!(
            "PERF idle hub thread {name:>16} ({tid}): {:.4} % of one core",
            d as f64 / 1e9 / wall * 100.0
        );
    }
    eprintln!(
        "PERF idle connected X30TR through the Hub, its threads: {:.4} % of one core over {wall:.1} s; bulk IN URBs submitted: {:.2}/s; libusb calls: {:.2}/s",
        total as f64 / 1e9 / wall * 100.0,
        in_urbs as f64 / wall,
        calls as f64 / wall
    );
    assert!(
        hub.fiscal_info(None).is_ok(),
        "the idle link no longer works"
    );
    hub.close();
}

/// Positions of the ioctls named `name` in a device's fixture log.
fn ioctl_positions(log: &Value, name: &str) -> Vec<usize> {
    log["ioctls"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, i)| *i == name)
        .map(|(n, _)| n)
        .collect()
}

#[test]
#[ignore = "needs the umockdev fixture: run .ci/test-usb.sh"]
fn an_idle_link_makes_at_most_one_libusb_call_per_second() {
    let mut ctl = Ctl::new();
    let peer = Peer::new();
    let c = UsbConnector::new(cfg());
    // No device: the event thread alone (no usbfs node is open, so even under umockdev it
    // really blocks in libusb's poll).
    assert!(c.connect(Duration::from_millis(50)).unwrap().is_none());
    std::thread::sleep(Duration::from_millis(500));
    let (c0, t0) = (c.libusb_calls(), Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let (calls, secs) = (c.libusb_calls() - c0, t0.elapsed().as_secs_f64());
    eprintln!("PERF no device, event thread: {calls} libusb calls in {secs:.1} s");
    assert!(
        calls as f64 <= secs.ceil(),
        "{calls} libusb calls in {secs:.1} s"
    );

    ctl.call(json!({"op": "add", "name": "acc", "kind": "accessory", "bulk": peer.addr}));
    let mut s = peer.stream();
    let link = connect(&c, Duration::from_secs(3));
    let (mut r, mut w) = exchange(link, &mut s);
    // Let the fixture see no activity for a while (its emulation of a blocking poll).
    std::thread::sleep(Duration::from_secs(1));
    let in0 = ctl.log("acc")["in_urbs"].as_u64().unwrap();
    let (c0, t0) = (c.libusb_calls(), Instant::now());
    // Waiting in recv, as the hub's reader does, in short and long waits.
    for _ in 0..10 {
        assert!(matches!(
            r.recv(Duration::from_millis(100)),
            Ok(Incoming::Idle)
        ));
    }
    assert!(matches!(r.recv(Duration::from_secs(3)), Ok(Incoming::Idle)));
    let (calls, secs) = (c.libusb_calls() - c0, t0.elapsed().as_secs_f64());
    let in_urbs = ctl.log("acc")["in_urbs"].as_u64().unwrap() - in0;
    eprintln!("PERF idle connected link: {calls} libusb calls, {in_urbs} bulk IN URBs submitted in {secs:.1} s");
    assert!(
        calls as f64 <= secs.ceil(),
        "{calls} libusb calls in {secs:.1} s"
    );
    // The one bulk IN stays submitted: none was submitted while idle.
    assert_eq!(in_urbs, 0);

    // A message from the device reaches recv at once (no slice, no event-loop timeout).
    let reply = ok_reply(tag::HELLO);
    let t = Instant::now();
    s.write_all(&reply).unwrap();
    assert_eq!(recv_message(&mut r), reply);
    let latency = t.elapsed();
    eprintln!(
        "PERF device -> recv after idle: {:.2} ms",
        latency.as_secs_f64() * 1000.0
    );
    assert!(latency < Duration::from_secs(1), "{latency:?}");

    // And an unplug is still noticed by a reader blocked in a long recv.
    let reader = std::thread::spawn(move || {
        let res = r.recv(Duration::from_secs(30));
        (res, Instant::now())
    });
    std::thread::sleep(Duration::from_millis(500));
    let t_unplug = Instant::now();
    ctl.call(json!({"op": "unplug", "name": "acc"}));
    let (res, seen) = reader.join().unwrap();
    assert!(matches!(res, Err(LinkError::Gone(_))), "{res:?}");
    eprintln!(
        "PERF unplug request -> LinkError::Gone in a blocked recv (upper bound, includes the fixture's command round trip): {:.1} ms",
        seen.duration_since(t_unplug).as_secs_f64() * 1000.0
    );
    w.close();
}

#[test]
#[ignore = "needs the umockdev fixture: run .ci/test-usb.sh"]
fn closing_the_writer_cancels_the_bulk_in_and_wakes_the_reader() {
    let mut ctl = Ctl::new();
    let peer = Peer::new();
    ctl.call(json!({"op": "add", "name": "acc", "kind": "accessory", "bulk": peer.addr}));
    let mut s = peer.stream();
    let c = UsbConnector::new(cfg());
    let (mut r, mut w) = exchange(connect(&c, Duration::from_secs(3)), &mut s);
    let reader = std::thread::spawn(move || {
        let t = Instant::now();
        let res = r.recv(Duration::from_secs(30));
        (res, t.elapsed(), r)
    });
    std::thread::sleep(Duration::from_millis(300));
    let before = ctl.log("acc");
    assert!(
        ioctl_positions(&before, "DISCARDURB").is_empty(),
        "{before}"
    );
    w.close();
    let (res, waited, mut r) = reader.join().unwrap();
    assert!(matches!(res, Err(LinkError::Gone(_))), "{res:?}");
    eprintln!(
        "PERF close -> blocked recv returns: {:.1} ms after a 300 ms wait",
        waited.as_secs_f64() * 1000.0 - 300.0
    );
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    // The pending bulk IN was discarded, and only then the interface released.
    let log = ctl.log("acc");
    let discards = ioctl_positions(&log, "DISCARDURB");
    let releases = ioctl_positions(&log, "RELEASEINTERFACE");
    assert_eq!(discards.len(), 1, "{log}");
    assert_eq!(releases.len(), 1, "{log}");
    assert!(discards[0] < releases[0], "{log}");
    // Closed stays closed; a message the device sends now is not read.
    s.write_all(&ok_reply(tag::HELLO)).unwrap();
    assert!(matches!(
        r.recv(Duration::from_millis(200)),
        Err(LinkError::Gone(_))
    ));
    assert!(matches!(w.send(&hello()), Err(LinkError::Gone(_))));
    w.close();
    assert_eq!(ioctl_positions(&ctl.log("acc"), "DISCARDURB").len(), 1);
}

#[test]
#[ignore = "needs the umockdev fixture: run .ci/test-usb.sh"]
fn a_reader_that_stops_reading_stops_the_bulk_in_until_it_reads_again() {
    let mut ctl = Ctl::new();
    let peer = Peer::new();
    ctl.call(json!({"op": "add", "name": "acc", "kind": "accessory", "bulk": peer.addr}));
    let mut s = peer.stream();
    // Queue limit = max_message + read_buffer = 100 + 512 bytes.
    let c = UsbConnector::new(UsbConfig {
        max_message: 100,
        read_buffer: 512,
        ..cfg()
    });
    let (mut r, _w) = exchange(connect(&c, Duration::from_secs(3)), &mut s);
    let msgs: Vec<Vec<u8>> = (0..20u8)
        .map(|i| build_message(&Key::DEFAULT, tag::HELLO, &[b'a' + i]))
        .collect();
    let len = msgs[0].len();
    assert!(len <= 100);
    let in0 = ctl.log("acc")["in_urbs"].as_u64().unwrap();
    for m in &msgs {
        s.write_all(m).unwrap();
    }
    // Nobody reads: the transfer is resubmitted only while less than 612 bytes wait.
    std::thread::sleep(Duration::from_millis(500));
    let paused = ctl.log("acc")["in_urbs"].as_u64().unwrap() - in0;
    // One message per transfer: the n-th completion that brings the queue to 612 bytes or
    // more is not followed by a resubmission, the n - 1 before it are.
    let n = 612_usize.div_ceil(len);
    eprintln!("back-pressure: {paused} bulk IN resubmitted for 20 unread {len}-byte messages");
    assert_eq!(paused as usize, n - 1);
    // Reading resumes it: every message arrives, in order.
    for m in &msgs {
        assert_eq!(&recv_message(&mut r), m);
    }
    let total = ctl.log("acc")["in_urbs"].as_u64().unwrap() - in0;
    // One resubmission per completed transfer (the one pending before was counted in `in0`).
    assert_eq!(total as usize, msgs.len());
}
