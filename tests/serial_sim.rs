//! A whole 300TR session over a real pseudo-terminal: the simulator (sans-IO engine) plays the
//! device on the master side, the serial connector opens the slave side by path, and the hub
//! runs over it: RSA certificate, key share, fiscal info, ACK before the basket and before the
//! payment, sale info, disconnect.
#![cfg(all(feature = "serial", unix))]

mod e2e_support;

use std::io::{ErrorKind, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use e2e_support::{hub_with, log_text, sale_infos, test_config, Ev};
use okclink::hub::text::decode_device_text;
use okclink::hub::{LogLevel, SendOutcome, TransportSpec};
use okclink::proto::message::tag;
use okclink::proto::stream::MessageSplitter;
use okclink::transport::serial::{SerialConfig, SerialConnector};
use okclink_sim::{SimConfig, Simulator};
use serde_json::{json, Value};
use serialport::{SerialPort, TTYPort};

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
    let (dev, path) = Device::start(SimConfig::t300tr_immediate());
    let c = SerialConnector::new(SerialConfig {
        path: Some(path),
        read_slice: Duration::from_millis(20),
        ..SerialConfig::default()
    });
    let dir = e2e_support::log_dir("serial-sim");
    let mut config = test_config(TransportSpec::Custom(Arc::new(c)));
    config.fiscal_timeout = Duration::from_secs(5);
    config.ack_timeout = Duration::from_secs(2);
    config.disconnect_timeout = Duration::from_secs(2);
    config.log_dir = Some(dir.clone());
    config.log_level = LogLevel::Debug;
    let (hub, rec) = hub_with(config);

    assert_eq!(
        hub.wait_connected(Duration::from_secs(20)).as_deref(),
        Some("AT0000000001")
    );
    // The serial link is a 300TR's.
    assert_eq!(hub.active_device_index(), 1);

    assert_eq!(
        hub.fiscal_info(None).unwrap(),
        decode_device_text(&SimConfig::t300tr().fiscal_info)
    );

    let basket = json!({
        "basketID": "00000000-0000-4000-8000-000000000300",
        "documentType": 9008,
        "items": [{"name": "PTY ITEM", "price": 1000, "quantity": 1000, "sectionNo": 1,
                   "taxPercent": 1000, "type": 0}],
        "paymentItems": []
    })
    .to_string();
    assert_eq!(hub.send_basket(&basket).unwrap(), SendOutcome::Accepted);
    let ev = rec.wait_for("basket reply", |e| {
        e.iter().any(|e| matches!(e, Ev::Serial(1, _)))
    });
    let reply = ev
        .iter()
        .find_map(|e| match e {
            Ev::Serial(1, v) => Some(v.clone()),
            _ => None,
        })
        .unwrap();
    let v: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(v["status"], json!(0), "basket rejected: {reply}");

    let payment = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/protocol/samples/payment.json"),
    )
    .unwrap();
    assert_eq!(hub.send_payment(&payment).unwrap(), SendOutcome::Accepted);
    let ev = rec.wait_for("sale info", |e| !sale_infos(e).is_empty());
    assert_eq!(
        sale_infos(&ev)[0]["basketID"],
        json!("00000000-0000-4000-8000-000000000300")
    );

    // ACK (type 11) went out right before the basket and right before the payment.
    let sent = dev.sim.lock().unwrap().received_types();
    let pos = |t: u16| sent.iter().position(|x| *x == t).unwrap();
    assert_eq!(sent[pos(tag::BASKET) - 1], tag::ACK, "{sent:?}");
    assert_eq!(sent[pos(tag::PAYMENT) - 1], tag::ACK, "{sent:?}");

    hub.disconnect();
    assert_eq!(rec.events().last(), Some(&Ev::State(false, String::new())));
    assert_eq!(dev.sim.lock().unwrap().sales().len(), 1);
    hub.close();
    // The RSA certificate was accepted (the first thing the session reports).
    let log = log_text(&dir);
    assert!(log.contains("certificate ok"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
