//! A whole 300TR session over a real pseudo-terminal: the simulator (sans-IO engine) plays the
//! device on the master side, the serial connector opens the slave side by path, and the host
//! protocol session runs over the link: RSA certificate, key share, fiscal info, ACK before the
//! basket and before the payment, sale info, disconnect.
#![cfg(all(feature = "serial", unix))]

mod sim_common;

use std::io::{ErrorKind, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use okclink::proto::message::tag;
use okclink::proto::session::{HostEvent, SendResult};
use okclink::proto::stream::MessageSplitter;
use okclink::transport::serial::{SerialConfig, SerialConnector};
use okclink::transport::{Connector, DeviceModel};
use okclink_sim::{SimConfig, Simulator};
use serde_json::{json, Value};
use serialport::{SerialPort, TTYPort};
use sim_common::{t300tr_immediate, LinkHost};

/// The simulator served on the master side of a pty.
struct Device {
    sim: Arc<Mutex<Simulator>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Device {
    fn start(cfg: SimConfig) -> (Device, PathBuf) {
        let (mut master, slave) = TTYPort::pair().expect("openpty");
        let path = PathBuf::from(slave.name().unwrap());
        drop(slave);
        let sim = Arc::new(Mutex::new(Simulator::new(cfg)));
        let stop = Arc::new(AtomicBool::new(false));
        let (sim2, stop2) = (sim.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut split = MessageSplitter::new(1 << 20);
            let mut buf = [0u8; 4096];
            master.set_timeout(Duration::from_millis(10)).unwrap();
            while !stop2.load(Ordering::SeqCst) {
                match master.read(&mut buf) {
                    Ok(n) => split.push(&buf[..n]),
                    Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {}
                    // EIO while the slave is not open yet (before connect) or after close.
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
                let mut sim = sim2.lock().unwrap();
                while let Some(m) = split.next_message() {
                    match m {
                        Ok(m) => sim.on_message(Instant::now(), &m),
                        Err(t) => sim.on_garbage(t),
                    }
                }
                sim.on_tick(Instant::now());
                while let Some(out) = sim.poll_output() {
                    master.write_all(&out).unwrap();
                }
            }
        });
        (
            Device {
                sim,
                stop,
                thread: Some(thread),
            },
            path,
        )
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn t300tr_sale_over_a_pty_against_the_simulator() {
    let (dev, path) = Device::start(t300tr_immediate());
    let c = SerialConnector::new(SerialConfig {
        path: Some(path),
        read_slice: Duration::from_millis(20),
        ..SerialConfig::default()
    });
    let link = c.connect(Duration::ZERO).unwrap().expect("pty opens");
    assert_eq!(link.model(), DeviceModel::T300tr);
    let mut h = LinkHost::start(link, DeviceModel::T300tr);
    h.poll = Duration::from_millis(20);

    let id = h.until(
        |e| matches!(e, HostEvent::Identified(_)),
        Duration::from_secs(20),
    );
    assert_eq!(id, HostEvent::Identified(b"AT0000000001".to_vec()));
    assert!(
        matches!(&h.events[0], HostEvent::CertificateOk(_)),
        "RSA certificate not accepted: {:?}",
        h.events
    );

    h.host.request_fiscal_info(Instant::now());
    let fi = h.until(
        |e| matches!(e, HostEvent::FiscalInfo(_)),
        Duration::from_secs(10),
    );
    assert_eq!(
        fi,
        HostEvent::FiscalInfo(Ok(SimConfig::t300tr().fiscal_info))
    );

    let basket = json!({
        "basketID": "00000000-0000-4000-8000-000000000300",
        "documentType": 9008,
        "items": [{"name": "PTY ITEM", "price": 1000, "quantity": 1000, "sectionNo": 1,
                   "taxPercent": 1000, "type": 0}],
        "paymentItems": []
    })
    .to_string();
    h.host
        .send_data(Instant::now(), 1, tag::BASKET, basket.as_bytes());
    let done = h.until(
        |e| matches!(e, HostEvent::SendDone(1, _)),
        Duration::from_secs(10),
    );
    assert_eq!(done, HostEvent::SendDone(1, SendResult::Sent));
    let reply = h.until(
        |e| matches!(e, HostEvent::SerialIn(1, _)),
        Duration::from_secs(10),
    );
    let HostEvent::SerialIn(_, reply) = reply else {
        unreachable!()
    };
    let v: Value = serde_json::from_slice(&reply).unwrap();
    assert_eq!(
        v["status"],
        json!(0),
        "basket rejected: {}",
        String::from_utf8_lossy(&reply)
    );

    let payment = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/protocol/samples/payment.json"),
    )
    .unwrap();
    h.host.send_data(Instant::now(), 2, tag::PAYMENT, &payment);
    let done = h.until(
        |e| matches!(e, HostEvent::SendDone(2, _)),
        Duration::from_secs(10),
    );
    assert_eq!(done, HostEvent::SendDone(2, SendResult::Sent));
    let info = h.until(
        |e| matches!(e, HostEvent::SerialIn(3, _)),
        Duration::from_secs(10),
    );
    let HostEvent::SerialIn(_, info) = info else {
        unreachable!()
    };
    let v: Value = serde_json::from_slice(&info).unwrap();
    assert_eq!(v["basketID"], json!("00000000-0000-4000-8000-000000000300"));

    // ACK (type 11) went out right before the basket and right before the payment.
    let pos = |t: u16| h.sent.iter().position(|x| *x == t).unwrap();
    assert_eq!(h.sent[pos(tag::BASKET) - 1], tag::ACK, "{:?}", h.sent);
    assert_eq!(h.sent[pos(tag::PAYMENT) - 1], tag::ACK, "{:?}", h.sent);

    h.host.disconnect(Instant::now());
    h.until(|e| *e == HostEvent::Closed, Duration::from_secs(10));
    assert_eq!(dev.sim.lock().unwrap().sales().len(), 1);
}
