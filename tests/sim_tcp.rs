//! The simulator on TCP (127.0.0.1:0): the stream carries the USB bytes, nothing added.

mod e2e_support;
mod sim_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use e2e_support::{
    falses, garbage_in_log, hub_on, hub_with, log_dir, sale_infos, test_config, trues, wait_until,
    Ev,
};
use okclink::hub::{HubError, SendOutcome, TransportSpec};
use okclink::proto::message::{build_message, tag, text};
use okclink::proto::pipeline::Key;
use okclink::proto::session::HELLO;
use okclink::proto::stream::MessageSplitter;
use okclink::transport::DeviceModel;
use okclink_sim::{serve_tcp, Faults, SimConfig, SimServer};
use sim_common::{decode, BASKET_X30TR};

const T: Duration = Duration::from_secs(10);

/// The hub's TCP transport to `server` (model fixed as the device's).
fn spec(server: &SimServer, model: DeviceModel) -> TransportSpec {
    let q = if model == DeviceModel::T300tr {
        "?model=300tr"
    } else {
        "?model=x30tr"
    };
    TransportSpec::Tcp(format!("{}{q}", server.local_addr()))
}

#[test]
fn both_models_handshake_and_sell_over_tcp() {
    for cfg in [SimConfig::x30tr(), SimConfig::t300tr_immediate()] {
        let model = cfg.model;
        let serial = cfg.serial.clone();
        let server = serve_tcp("127.0.0.1:0", cfg).unwrap();
        let (hub, rec) = hub_on(spec(&server, model));
        assert_eq!(hub.wait_connected(T).as_deref(), Some(serial.as_str()));
        let basket = match model {
            DeviceModel::X30tr => std::str::from_utf8(BASKET_X30TR).unwrap(),
            DeviceModel::T300tr => r#"{"basketID":"t","items":[{"price":700,"sectionNo":1}]}"#,
        };
        assert_eq!(hub.send_basket(basket).unwrap(), SendOutcome::Accepted);
        if model == DeviceModel::T300tr {
            let ev = rec.wait_for("basket status", |e| {
                e.iter().any(|e| matches!(e, Ev::Serial(1, _)))
            });
            assert!(ev.contains(&Ev::Serial(1, r#"{"basketID":"t","status":0}"#.into())));
            assert_eq!(
                hub.send_payment(r#"{"amount":700,"type":3}"#).unwrap(),
                SendOutcome::Accepted
            );
        }
        let ev = rec.wait_for("sale info", |e| !sale_infos(e).is_empty());
        assert_eq!(sale_infos(&ev)[0]["status"], 0);
        wait_until("sale acked", || {
            server.sales().first().is_some_and(|s| s.acked)
        });
        assert_eq!(server.connections(), 1);
        hub.close();
        server.shutdown();
    }
}

/// Read whole messages from a raw stream until `n` arrived.
fn read_msgs(s: &mut TcpStream, sp: &mut MessageSplitter, n: usize) -> Vec<Vec<u8>> {
    let mut out = vec![];
    let end = Instant::now() + T;
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    while out.len() < n {
        while let Some(m) = sp.next_message() {
            out.push(m.unwrap());
        }
        if out.len() >= n {
            break;
        }
        assert!(Instant::now() < end, "only {} messages", out.len());
        let mut b = [0u8; 4096];
        match s.read(&mut b) {
            Ok(0) => break,
            Ok(k) => sp.push(&b[..k]),
            Err(_) => {}
        }
    }
    out
}

#[test]
fn the_stream_carries_bare_messages_and_accepts_them_byte_by_byte() {
    let server = serve_tcp("127.0.0.1:0", SimConfig::x30tr()).unwrap();
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.set_nodelay(true).unwrap();
    let hello = build_message(&Key::DEFAULT, tag::HELLO, HELLO);
    for b in &hello {
        s.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
    let mut sp = MessageSplitter::new(1 << 22);
    let msgs = read_msgs(&mut s, &mut sp, 2);
    // The first bytes on the wire are the start TLV of the certificate message.
    assert_eq!(&msgs[0][..2], &[0x00, 0x31]);
    let cert = decode(&Key::DEFAULT, &msgs[0]).unwrap();
    assert_eq!(cert[0].0, tag::CERTIFICATE);
    assert_eq!(cert[0].1, server.with(|s| s.identity().message.clone()));
    assert_eq!(
        decode(&Key::DEFAULT, &msgs[1]).unwrap(),
        vec![(4, b"OK".to_vec())]
    );
    assert_eq!(sp.buffered(), 0);
    assert_eq!(server.received_types(), vec![4]);
}

#[test]
fn vanish_closes_the_connection_after_half_a_message_and_the_server_goes_on() {
    let dir = log_dir("sim-tcp-vanish");
    let server = serve_tcp("127.0.0.1:0", SimConfig::x30tr()).unwrap();
    let mut c = test_config(spec(&server, DeviceModel::X30tr));
    c.log_dir = Some(dir.clone());
    let (hub, rec) = hub_with(c);
    assert!(hub.wait_connected(T).is_some());
    server.set_faults(Faults {
        vanish_mid_message: true,
        ..Faults::default()
    });
    assert_eq!(hub.fiscal_info(None), Err(HubError::NoDevice));
    rec.wait_for("gone", |e| falses(e) == 1);
    assert_eq!(server.stats().vanished, 1);
    // The hub connects again and is served.
    rec.wait_for("identified again", |e| trues(e) == 2);
    assert!(hub.fiscal_info(None).is_ok());
    assert_eq!(server.connections(), 2);
    hub.close();
    assert!(garbage_in_log(&dir).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_second_host_is_refused_and_never_knocks_off_the_first() {
    let mut cfg = SimConfig::t300tr_immediate();
    cfg.sale_delay = Duration::from_millis(200);
    cfg.sale_resend_interval = Duration::from_millis(200);
    let server = serve_tcp("127.0.0.1:0", cfg).unwrap();
    let (hub, rec) = hub_on(spec(&server, DeviceModel::T300tr));
    assert_eq!(hub.wait_connected(T).as_deref(), Some("AT0000000001"));
    let basket = r#"{"basketID":"a-1","items":[{"price":700,"sectionNo":1}]}"#;
    assert_eq!(hub.send_basket(basket).unwrap(), SendOutcome::Accepted);
    rec.wait_for("basket status", |e| {
        e.iter().any(|e| matches!(e, Ev::Serial(1, _)))
    });
    // Host B (e.g. `okc watch`) connects mid-sale, says hello, and is refused with a text.
    let mut b = TcpStream::connect(server.local_addr()).unwrap();
    b.write_all(&build_message(&Key::DEFAULT, tag::HELLO, HELLO))
        .unwrap();
    b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t = Instant::now();
    let mut got = Vec::new();
    b.read_to_end(&mut got).unwrap();
    let waited = t.elapsed();
    let got = String::from_utf8(got).unwrap();
    assert!(got.starts_with("okc sim: busy: "), "{got:?}");
    assert!(got.contains("one host at a time"), "{got:?}");
    assert!(
        waited >= Duration::from_millis(900),
        "refused after {waited:?}"
    );
    assert_eq!(server.refused(), 1);
    // A finishes its sale on the same session: no disconnect, no new handshake.
    assert_eq!(
        hub.send_payment(r#"{"amount":700,"type":1}"#).unwrap(),
        SendOutcome::Accepted
    );
    let ev = rec.wait_for("sale info", |e| !sale_infos(e).is_empty());
    let j = &sale_infos(&ev)[0];
    assert_eq!(
        (j["basketID"].as_str(), j["status"].as_i64()),
        (Some("a-1"), Some(0))
    );
    wait_until("sale acked", || {
        server.sales().first().is_some_and(|s| s.acked)
    });
    assert_eq!(falses(&rec.events()), 0, "A never lost its device");
    assert_eq!(server.stats().handshakes, 1, "B never got a session");
    assert_eq!(server.connections(), 1);
    // Only A's messages reached the device: one hello.
    let types = server.received_types();
    assert_eq!(
        types.iter().filter(|&&t| t == tag::HELLO).count(),
        1,
        "{types:?}"
    );
    // After A leaves, the next host gets the device.
    hub.close();
    let (hub2, _rec2) = hub_on(spec(&server, DeviceModel::T300tr));
    assert!(hub2.wait_connected(T).is_some());
    assert_eq!(server.connections(), 2);
}

#[test]
fn corrupted_messages_over_tcp_come_back_as_type_60() {
    let mut cfg = SimConfig::x30tr();
    cfg.faults.corrupt_every = Some(3);
    let server = serve_tcp("127.0.0.1:0", cfg).unwrap();
    let (hub, _rec) = hub_on(spec(&server, DeviceModel::X30tr));
    assert!(hub.wait_connected(T).is_some());
    // Message 3 after the key share, the fiscal info, is corrupted.
    assert_eq!(hub.fiscal_info(None), Err(HubError::Timeout));
    wait_until("type 60", || server.received_types().contains(&tag::ERROR));
    let e = server
        .received()
        .into_iter()
        .find(|r| r.tag == tag::ERROR)
        .unwrap();
    assert_eq!(e.payload, text::CHECKSUM.as_bytes());
}

#[test]
fn split_and_duplicated_messages_over_tcp_still_make_a_sale() {
    let dir = log_dir("sim-tcp-split");
    let mut cfg = SimConfig::x30tr();
    cfg.faults.split_every = Some(1);
    cfg.faults.duplicate_every = Some(2);
    let server = serve_tcp("127.0.0.1:0", cfg).unwrap();
    let mut c = test_config(spec(&server, DeviceModel::X30tr));
    c.log_dir = Some(dir.clone());
    let (hub, rec) = hub_with(c);
    assert!(hub.wait_connected(T).is_some());
    assert_eq!(
        hub.send_basket(std::str::from_utf8(BASKET_X30TR).unwrap())
            .unwrap(),
        SendOutcome::Accepted
    );
    wait_until("sale acked", || {
        server.sales().first().is_some_and(|s| s.acked)
    });
    assert_eq!(sale_infos(&rec.events()).len(), 1);
    hub.close();
    assert!(garbage_in_log(&dir).is_empty());
    assert!(server.stats().split >= 4);
    let _ = std::fs::remove_dir_all(&dir);
}
