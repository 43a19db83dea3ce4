//! The simulator on TCP (127.0.0.1:0): the stream carries the USB bytes, nothing added.

mod sim_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use okclink::proto::message::{build_message, tag, text};
use okclink::proto::pipeline::Key;
use okclink::proto::session::{HostEvent, HELLO};
use okclink::proto::stream::MessageSplitter;
use okclink::transport::DeviceModel;
use okclink_sim::{serve_tcp, Faults, SimConfig};
use sim_common::{
    decode, identified, sale_json, t300tr_immediate, tcp_link, LinkHost, BASKET_X30TR,
};

const T: Duration = Duration::from_secs(10);

#[test]
fn both_models_handshake_and_sell_over_tcp() {
    for cfg in [SimConfig::x30tr(), t300tr_immediate()] {
        let model = cfg.model;
        let serial = cfg.serial.clone();
        let server = serve_tcp("127.0.0.1:0", cfg).unwrap();
        let mut h = LinkHost::start(tcp_link(server.local_addr(), model), model);
        h.run_until(T, identified);
        assert_eq!(h.identified().unwrap(), serial.as_bytes());
        let basket: &[u8] = match model {
            DeviceModel::X30tr => BASKET_X30TR,
            DeviceModel::T300tr => br#"{"basketID":"t","items":[{"price":700,"sectionNo":1}]}"#,
        };
        h.host.send_data(Instant::now(), 1, tag::BASKET, basket);
        if model == DeviceModel::T300tr {
            h.run_until(T, |e| {
                e.iter().any(|e| matches!(e, HostEvent::SerialIn(1, _)))
            });
            assert_eq!(h.serial_in(1)[0], br#"{"basketID":"t","status":0}"#);
            h.host.send_data(
                Instant::now(),
                2,
                tag::PAYMENT,
                br#"{"amount":700,"type":3}"#,
            );
        }
        h.run_until(T, |e| {
            e.iter().any(|e| matches!(e, HostEvent::SerialIn(3, _)))
        });
        let j = sale_json(&h.serial_in(3)[0]);
        assert_eq!(j["status"], 0);
        h.run_until(T, |_| server.sales().first().is_some_and(|s| s.acked));
        assert_eq!(server.connections(), 1);
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
    let server = serve_tcp("127.0.0.1:0", SimConfig::x30tr()).unwrap();
    let mut h = LinkHost::start(
        tcp_link(server.local_addr(), DeviceModel::X30tr),
        DeviceModel::X30tr,
    );
    h.run_until(T, identified);
    server.set_faults(Faults {
        vanish_mid_message: true,
        ..Faults::default()
    });
    h.host.request_fiscal_info(Instant::now());
    h.run_until(T, |_| false);
    assert!(h.gone);
    assert!(!h
        .events
        .iter()
        .any(|e| matches!(e, HostEvent::FiscalInfo(Ok(_)))));
    assert_eq!(server.stats().vanished, 1);
    let mut h = LinkHost::start(
        tcp_link(server.local_addr(), DeviceModel::X30tr),
        DeviceModel::X30tr,
    );
    h.run_until(T, identified);
    h.host.request_fiscal_info(Instant::now());
    h.run_until(T, |e| {
        e.iter().any(|e| matches!(e, HostEvent::FiscalInfo(Ok(_))))
    });
    assert_eq!(server.connections(), 2);
}

#[test]
fn a_second_host_is_refused_and_never_knocks_off_the_first() {
    let mut cfg = t300tr_immediate();
    cfg.sale_delay = Duration::from_millis(200);
    cfg.sale_resend_interval = Duration::from_millis(200);
    let server = serve_tcp("127.0.0.1:0", cfg).unwrap();
    let mut a = LinkHost::start(
        tcp_link(server.local_addr(), DeviceModel::T300tr),
        DeviceModel::T300tr,
    );
    a.run_until(T, identified);
    let basket = br#"{"basketID":"a-1","items":[{"price":700,"sectionNo":1}]}"#;
    a.host.send_data(Instant::now(), 1, tag::BASKET, basket);
    a.run_until(T, |e| {
        e.iter().any(|e| matches!(e, HostEvent::SerialIn(1, _)))
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
    a.host.send_data(
        Instant::now(),
        2,
        tag::PAYMENT,
        br#"{"amount":700,"type":1}"#,
    );
    a.run_until(T, |e| {
        e.iter().any(|e| matches!(e, HostEvent::SerialIn(3, _)))
    });
    assert!(!a.gone);
    let j = sale_json(&a.serial_in(3)[0]);
    assert_eq!(
        (j["basketID"].as_str(), j["status"].as_i64()),
        (Some("a-1"), Some(0))
    );
    a.run_until(T, |_| server.sales().first().is_some_and(|s| s.acked));
    assert!(!a.gone);
    let st = server.stats();
    assert_eq!(st.handshakes, 1, "B never got a session");
    assert_eq!(server.connections(), 1);
    // Only A's messages reached the device: hello, key share, basket, ACKs, payment, OK.
    let types = server.received_types();
    assert_eq!(
        types.iter().filter(|&&t| t == tag::HELLO).count(),
        1,
        "{types:?}"
    );
    // After A leaves, the next host gets the device.
    drop(a);
    let mut c = LinkHost::start(
        tcp_link(server.local_addr(), DeviceModel::T300tr),
        DeviceModel::T300tr,
    );
    c.run_until(T, identified);
    assert_eq!(server.connections(), 2);
}

#[test]
fn corrupted_messages_over_tcp_come_back_as_type_60() {
    let mut cfg = SimConfig::x30tr();
    cfg.faults.corrupt_every = Some(3);
    let server = serve_tcp("127.0.0.1:0", cfg).unwrap();
    let mut h = LinkHost::start(
        tcp_link(server.local_addr(), DeviceModel::X30tr),
        DeviceModel::X30tr,
    );
    h.run_until(T, identified);
    h.host.request_fiscal_info(Instant::now());
    h.run_until(T, |_| server.received_types().contains(&tag::ERROR));
    let e = server
        .received()
        .into_iter()
        .find(|r| r.tag == tag::ERROR)
        .unwrap();
    assert_eq!(e.payload, text::CHECKSUM.as_bytes());
}

#[test]
fn split_and_duplicated_messages_over_tcp_still_make_a_sale() {
    let mut cfg = SimConfig::x30tr();
    cfg.faults.split_every = Some(1);
    cfg.faults.duplicate_every = Some(2);
    let server = serve_tcp("127.0.0.1:0", cfg).unwrap();
    let mut h = LinkHost::start(
        tcp_link(server.local_addr(), DeviceModel::X30tr),
        DeviceModel::X30tr,
    );
    h.run_until(T, identified);
    h.host
        .send_data(Instant::now(), 1, tag::BASKET, BASKET_X30TR);
    h.run_until(T, |_| server.sales().first().is_some_and(|s| s.acked));
    assert_eq!(h.serial_in(3).len(), 1);
    assert!(h.garbage.is_empty());
    assert!(server.stats().split >= 4);
}
