//! End-to-end: the hub against the real simulator (`okclink::sim`), over the in-memory
//! connector and over TCP (`serve_tcp`), as the issue's scenario list.

mod e2e_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e_support::{test_config, wait_until, Dev, Ev, Recorder, Via};
use okclink::hub::text::decode_device_text;
use okclink::hub::{Config, Hub, HubError, SendOutcome, TransportSpec};
use okclink::proto::message::tag;
use okclink::transport::DeviceModel;
use okclink_sim::{self as sim, fiscal, Faults, SimConfig};
use serde_json::Value;

fn sim_config(model: DeviceModel) -> SimConfig {
    let mut c = SimConfig::for_model(model);
    // Fast and explicit (the 300TR's default is a paced 1.5 s sale delay, 3 s re-sends).
    c.sale_delay = Duration::ZERO;
    c.sale_resend_interval = Duration::from_millis(100);
    c
}

fn start(cfg: SimConfig, via: Via) -> (Dev, Hub, Recorder) {
    let (dev, spec) = Dev::start(cfg, via);
    let mut c = test_config(spec);
    c.handshake_timeout = Duration::from_millis(300);
    let hub = Hub::new(c).unwrap();
    let rec = Recorder::default();
    rec.attach(&hub);
    (dev, hub, rec)
}

fn connected(cfg: SimConfig, via: Via) -> (Dev, Hub, Recorder) {
    let serial = cfg.serial.clone();
    let (dev, hub, rec) = start(cfg, via);
    assert_eq!(
        hub.wait_connected(Duration::from_secs(10)).as_deref(),
        Some(serial.as_str())
    );
    rec.wait_for("state true", |e| {
        e.contains(&Ev::State(true, serial.clone()))
    });
    (dev, hub, rec)
}

fn sales_of(ev: &[Ev]) -> Vec<Value> {
    ev.iter()
        .filter_map(|e| match e {
            Ev::Serial(3, v) => Some(serde_json::from_str(v).expect("sale info is JSON")),
            _ => None,
        })
        .collect()
}

fn wait_sales(rec: &Recorder, n: usize) -> Vec<Value> {
    sales_of(&rec.wait_for(&format!("{n} sale infos"), |e| {
        e.iter().filter(|x| matches!(x, Ev::Serial(3, _))).count() >= n
    }))
}

fn basket(id: &str, pay: &str) -> String {
    format!(
        r#"{{"basketID":"{id}","documentType":9008,"items":[{{"name":"ÇAY","price":1500,"quantity":2000,"sectionNo":1,"taxPercent":2000,"type":0}}]{pay}}}"#
    )
}

const CASH: &str = r#","paymentItems":[{"amount":3000,"description":"Nakit","type":1}]"#;
const SPLIT: &str = r#","paymentItems":[{"amount":2000,"description":"Nakit","type":1},{"amount":1000,"description":"Kredi Kartı","type":3}]"#;

macro_rules! both {
    ($name:ident, $mem:ident, $tcp:ident) => {
        #[test]
        fn $mem() {
            $name(Via::Mem)
        }
        #[test]
        fn $tcp() {
            $name(Via::Tcp)
        }
    };
}

fn full_sale(via: Via) {
    let (dev, hub, rec) = connected(sim_config(DeviceModel::X30tr), via);
    assert_eq!(hub.active_device_index(), 0);
    let fi = hub.fiscal_info(None).unwrap();
    assert_eq!(fi, decode_device_text(fiscal::FISCAL_X30TR));
    serde_json::from_str::<Value>(&fi).unwrap();
    assert_eq!(
        hub.send_basket(&basket("sale-1", CASH)).unwrap(),
        SendOutcome::Accepted
    );
    let s = wait_sales(&rec, 1);
    assert_eq!(s[0]["basketID"], "sale-1");
    assert_eq!(s[0]["status"], 0);
    assert_eq!(s[0]["paymentItems"][0]["amount"], 3000.0);
    wait_until("sale acknowledged", || {
        dev.sales().first().is_some_and(|s| s.acked)
    });
    hub.disconnect();
    assert_eq!(rec.events().last(), Some(&Ev::State(false, String::new())));
    assert!(dev.received_types().contains(&tag::DISCONNECT));
    assert_eq!(hub.active_device_index(), -1);
    hub.reconnect();
    assert!(hub.wait_connected(Duration::from_secs(10)).is_some());
    assert_eq!(
        hub.send_basket(&basket("sale-2", CASH)).unwrap(),
        SendOutcome::Accepted
    );
    let s = wait_sales(&rec, 2);
    assert_eq!(s[1]["basketID"], "sale-2");
    assert_eq!(s.len(), 2);
    hub.close();
}
both!(full_sale, full_sale_mem, full_sale_tcp);

fn split_payment(via: Via) {
    let (_dev, hub, rec) = connected(sim_config(DeviceModel::X30tr), via);
    assert_eq!(
        hub.send_basket(&basket("split", SPLIT)).unwrap(),
        SendOutcome::Accepted
    );
    let s = wait_sales(&rec, 1);
    assert_eq!(s[0]["paymentCount"], 2);
    assert_eq!(s[0]["paymentItems"][1]["description"], "Kredi Kartı");
    assert_eq!(s[0]["paymentItems"][1]["type"], 3);
    assert_eq!(s[0]["status"], 0);
}
both!(split_payment, split_payment_mem, split_payment_tcp);

fn rejected_basket_cp1254(via: Via) {
    let (dev, hub, rec) = connected(sim_config(DeviceModel::T300tr), via);
    // A 300TR wants payments separately: the basket with payments is refused in cp1254.
    assert_eq!(
        hub.send_basket(&basket("r", CASH)).unwrap(),
        SendOutcome::Accepted
    );
    rec.wait_for("reject text", |e| {
        e.contains(&Ev::Serial(1, fiscal::texts::SEPARATE_PAYMENTS.to_string()))
    });
    assert!(dev.sales().is_empty());
}
both!(
    rejected_basket_cp1254,
    rejected_basket_cp1254_mem,
    rejected_basket_cp1254_tcp
);

fn t300tr_ack_payment_void(via: Via) {
    let (dev, hub, rec) = connected(sim_config(DeviceModel::T300tr), via);
    assert_eq!(hub.active_device_index(), 1);
    assert_eq!(
        hub.send_basket(&basket("p1", "")).unwrap(),
        SendOutcome::Accepted
    );
    rec.wait_for("basket status", |e| {
        e.iter()
            .any(|x| matches!(x, Ev::Serial(1, v) if v.contains("\"p1\"")))
    });
    assert_eq!(
        hub.send_payment(r#"{"amount":3000,"description":"Nakit","type":1}"#)
            .unwrap(),
        SendOutcome::Accepted
    );
    let s = wait_sales(&rec, 1);
    assert_eq!(s[0]["status"], 0);
    assert_eq!(s[0]["basketID"], "p1");
    // Open a receipt and void it.
    assert_eq!(
        hub.send_basket(&basket("p2", "")).unwrap(),
        SendOutcome::Accepted
    );
    rec.wait_for("basket status 2", |e| {
        e.iter()
            .any(|x| matches!(x, Ev::Serial(1, v) if v.contains("\"p2\"")))
    });
    assert_eq!(
        hub.send_payment(r#"{"isVoid":true}"#).unwrap(),
        SendOutcome::Accepted
    );
    let s = wait_sales(&rec, 2);
    assert_eq!(s[1]["status"], 99);
    // Every data message was preceded by an ACK exchange.
    let t: Vec<u16> = dev
        .received_types()
        .into_iter()
        .filter(|t| [tag::ACK, tag::BASKET, tag::PAYMENT].contains(t))
        .collect();
    assert_eq!(t, vec![11, 1, 11, 10, 11, 1, 11, 10]);
    // ACK ignored → serialIn(9) delivered before sendBasket returns −1.
    dev.fault(|f| f.ignore_ack = true);
    let mark = rec.events().len();
    assert_eq!(
        hub.send_basket(&basket("p3", "")).unwrap(),
        SendOutcome::AckTimeout
    );
    assert_eq!(
        rec.events()[mark..],
        [Ev::Serial(9, "Device is not connected".into())]
    );
    assert!(!dev.received_types().ends_with(&[tag::BASKET]));
}
both!(
    t300tr_ack_payment_void,
    t300tr_ack_payment_void_mem,
    t300tr_ack_payment_void_tcp
);

fn silent_device(via: Via) {
    // Silent from the start: never connects; nothing blocks.
    let mut cfg = sim_config(DeviceModel::X30tr);
    cfg.faults.silent = true;
    let (_dev, hub, rec) = start(cfg, via);
    assert_eq!(hub.wait_connected(Duration::from_millis(300)), None);
    assert_eq!(hub.fiscal_info(None), Err(HubError::NoDevice));
    assert_eq!(hub.send_basket("{}").unwrap(), SendOutcome::NoDevice);
    let t = Instant::now();
    hub.close();
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(rec.events().is_empty());

    // Falls silent after the handshake: fiscal info times out within its bound.
    let (dev, hub, _rec) = connected(sim_config(DeviceModel::X30tr), via);
    dev.fault(|f| f.silent = true);
    let t = Instant::now();
    assert_eq!(hub.fiscal_info(None), Err(HubError::Timeout));
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(hub.last_fiscal_info(), "");
    let t = Instant::now();
    hub.close();
    assert!(t.elapsed() < Duration::from_secs(2));

    // Silent 300TR: sendBasket reports the ACK timeout.
    let (dev, hub, rec) = connected(sim_config(DeviceModel::T300tr), via);
    dev.fault(|f| f.silent = true);
    assert_eq!(hub.send_basket("{}").unwrap(), SendOutcome::AckTimeout);
    assert!(rec
        .events()
        .contains(&Ev::Serial(9, "Device is not connected".into())));
}
both!(silent_device, silent_device_mem, silent_device_tcp);

fn device_vanishes_mid_sale(via: Via) {
    let (dev, hub, rec) = connected(sim_config(DeviceModel::X30tr), via);
    dev.fault(|f| f.vanish_mid_message = true);
    assert_eq!(
        hub.send_basket(&basket("v1", CASH)).unwrap(),
        SendOutcome::Accepted
    );
    rec.wait_for("state false", |e| {
        e.contains(&Ev::State(false, String::new()))
    });
    dev.plug();
    rec.wait_for("state true again", |e| {
        e.iter().filter(|x| matches!(x, Ev::State(true, _))).count() == 2
    });
    // The device re-sends the unacknowledged sale info on the new link: delivered once.
    let s = wait_sales(&rec, 1);
    assert_eq!(s[0]["basketID"], "v1");
    wait_until("acked", || dev.sales().first().is_some_and(|s| s.acked));
    assert_eq!(
        hub.send_basket(&basket("v2", CASH)).unwrap(),
        SendOutcome::Accepted
    );
    let s = wait_sales(&rec, 2);
    assert_eq!(s.len(), 2);
    assert_eq!(s[1]["basketID"], "v2");
}
both!(
    device_vanishes_mid_sale,
    device_vanishes_mid_sale_mem,
    device_vanishes_mid_sale_tcp
);

fn reconnect_request(via: Via) {
    let (dev, hub, rec) = connected(sim_config(DeviceModel::X30tr), via);
    // The device drops a basket and asks for a new handshake.
    dev.fault(|f| f.reconnect_on_basket = true);
    assert_eq!(
        hub.send_basket(&basket("lost", CASH)).unwrap(),
        SendOutcome::Accepted
    );
    rec.wait_for("re-identified", |e| {
        e.iter().filter(|x| matches!(x, Ev::State(true, _))).count() == 2
    });
    assert!(hub.wait_connected(Duration::from_secs(5)).is_some());
    assert_eq!(
        hub.send_basket(&basket("again", CASH)).unwrap(),
        SendOutcome::Accepted
    );
    let s = wait_sales(&rec, 1);
    assert_eq!(s[0]["basketID"], "again");
    // Device-initiated reconnect at an arbitrary moment.
    dev.request_reconnect();
    rec.wait_for("third handshake", |e| {
        e.iter().filter(|x| matches!(x, Ev::State(true, _))).count() == 3
    });
    assert!(!rec.events().contains(&Ev::State(false, String::new())));
    assert!(hub.fiscal_info(None).is_ok());
}
both!(
    reconnect_request,
    reconnect_request_mem,
    reconnect_request_tcp
);

fn hello_ack_race(via: Via) {
    let mut cfg = sim_config(DeviceModel::X30tr);
    cfg.faults.hello_ok_after_keyshare = true;
    let (dev, hub, _rec) = connected(cfg, via);
    assert!(hub.fiscal_info(None).is_ok());
    assert!(!dev.received_types().contains(&tag::ERROR));
}
both!(hello_ack_race, hello_ack_race_mem, hello_ack_race_tcp);

fn corrupted_frames(via: Via) {
    let (dev, hub, rec) = connected(sim_config(DeviceModel::X30tr), via);
    dev.fault(|f| f.corrupt_every = Some(3));
    for i in 0..6 {
        assert_eq!(
            hub.send_basket(&basket(&format!("c{i}"), CASH)).unwrap(),
            SendOutcome::Accepted
        );
        wait_sales(&rec, i + 1);
    }
    // The host answered corrupted messages with type 60 and the session went on.
    assert!(dev.received_types().contains(&tag::ERROR));
    let s = sales_of(&rec.events());
    let ids: Vec<&str> = s.iter().map(|v| v["basketID"].as_str().unwrap()).collect();
    assert_eq!(ids, ["c0", "c1", "c2", "c3", "c4", "c5"]);
    assert!(!rec.events().contains(&Ev::State(false, String::new())));
}
both!(corrupted_frames, corrupted_frames_mem, corrupted_frames_tcp);

fn lossy_link_exactly_once(via: Via) {
    let (dev, hub, rec) = connected(sim_config(DeviceModel::X30tr), via);
    dev.fault(|f| {
        f.duplicate_every = Some(2);
        f.drop_every = Some(5);
    });
    for i in 0..10 {
        let _ = hub.send_basket(&basket(&format!("d{i}"), CASH)).unwrap();
        wait_until("receipt printed", || dev.sales().len() > i);
    }
    wait_until("all acked", || dev.sales().iter().all(|s| s.acked));
    wait_sales(&rec, 10);
    std::thread::sleep(Duration::from_millis(300)); // room for a wrongly repeated delivery
    let s = sales_of(&rec.events());
    let mut ids: Vec<&str> = s.iter().map(|v| v["basketID"].as_str().unwrap()).collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "no sale info delivered twice");
    assert_eq!(ids.len(), 10);
}
both!(
    lossy_link_exactly_once,
    lossy_link_exactly_once_mem,
    lossy_link_exactly_once_tcp
);

fn many_baskets(via: Via) {
    // Re-sends happen while the queue of receipts drains: the late "OK"s they earn must not
    // acknowledge the next receipt (tests/sim_engine.rs covers that case deterministically).
    let mut cfg = sim_config(DeviceModel::X30tr);
    cfg.sale_resend_interval = Duration::from_millis(1);
    let (dev, hub, rec) = connected(cfg, via);
    let hub = Arc::new(hub);
    let per = 250;
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let hub = hub.clone();
            std::thread::spawn(move || {
                for i in 0..per {
                    let r = hub
                        .send_basket(&basket(&format!("t{t}-{i}"), CASH))
                        .unwrap();
                    assert_eq!(r, SendOutcome::Accepted);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = wait_sales(&rec, 4 * per);
    let mut ids: Vec<String> = s
        .iter()
        .map(|v| v["basketID"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 4 * per);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4 * per, "every sale info exactly once");
    // Allow the last acknowledgements to arrive, then check nothing else was delivered.
    wait_until("all acked", || dev.sales().iter().all(|s| s.acked));
    assert_eq!(sales_of(&rec.events()).len(), 4 * per);
    assert_eq!(dev.sales().len(), 4 * per);
}
both!(many_baskets, many_baskets_mem, many_baskets_tcp);

fn delete_inside_callback(via: Via) {
    let (_dev, hub, rec) = connected(sim_config(DeviceModel::X30tr), via);
    let hub = Arc::new(hub);
    let weak = Arc::downgrade(&hub);
    let r = rec.clone();
    let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let c2 = closed.clone();
    hub.set_serial_in_callback(Some(Box::new(move |t, v| {
        r.push(Ev::Serial(t, v.to_string()));
        if t == 3 {
            if let Some(h) = weak.upgrade() {
                // Re-entrant calls work, then delete from inside the callback.
                let _ = h.fiscal_info(None);
                h.close();
                c2.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
    })));
    assert_eq!(
        hub.send_basket(&basket("x", CASH)).unwrap(),
        SendOutcome::Accepted
    );
    wait_until("closed from callback", || {
        closed.load(std::sync::atomic::Ordering::SeqCst)
    });
    let n = rec.events().len();
    assert_eq!(hub.fiscal_info(None), Err(HubError::Closed));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(rec.events().len(), n);
}
both!(
    delete_inside_callback,
    delete_inside_callback_mem,
    delete_inside_callback_tcp
);

#[test]
fn delete_bounded_with_vendor_timeouts() {
    // Vendor defaults (2 s disconnect bound); the device stops answering after the handshake,
    // so the DISCONNECT is never answered. The vendor blocked forever here.
    let (conn, ctl) = sim::mem_connector(sim_config(DeviceModel::X30tr));
    let mut c = Config::new("YourCompanyName");
    c.transports = vec![TransportSpec::Custom(conn)];
    c.log_dir = None;
    let hub = Hub::new(c).unwrap();
    let rec = Recorder::default();
    rec.attach(&hub);
    assert!(hub.wait_connected(Duration::from_secs(10)).is_some());
    ctl.set_faults(Faults {
        silent: true,
        ..Faults::default()
    });
    let t = Instant::now();
    hub.close();
    let took = t.elapsed();
    // Contract: 2 s; the slack only absorbs scheduling on a loaded machine.
    assert!(took < Duration::from_millis(2500), "close took {took:?}");
    assert!(
        took >= Duration::from_millis(1000),
        "DISCONNECT reply was waited for"
    );
    assert_eq!(rec.events().last(), Some(&Ev::State(false, String::new())));
    assert!(ctl.received_types().contains(&tag::DISCONNECT));
}

#[test]
fn vendor_log_file_without_keys() {
    let dir = std::env::temp_dir().join(format!("okc-e2e-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (conn, _ctl) = sim::mem_connector(sim_config(DeviceModel::X30tr));
    let mut c = Config::new("YourCompanyName");
    c.transports = vec![TransportSpec::Custom(conn), TransportSpec::Usb];
    c.log_dir = Some(dir.clone());
    c.log_level = okclink::hub::LogLevel::Debug;
    let hub = Hub::new(c).unwrap();
    let rec = Recorder::default();
    rec.attach(&hub);
    assert!(hub.wait_connected(Duration::from_secs(10)).is_some());
    assert_eq!(
        hub.send_basket(&basket("log", CASH)).unwrap(),
        SendOutcome::Accepted
    );
    wait_sales(&rec, 1);
    hub.close();
    let all: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|f| f.file_name().into_string().unwrap())
        .collect();
    // The journal lives beside the logs by default (docs/JOURNAL.md).
    assert!(
        all.iter()
            .any(|n| n == "okclink-journal-YourCompanyName.sqlite"),
        "{all:?}"
    );
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|f| !f.file_name().to_string_lossy().contains("journal"))
        .collect();
    assert_eq!(files.len(), 1, "{all:?}");
    let name = files[0].file_name().into_string().unwrap();
    assert!(name.starts_with("TokenIntegrationHub_") && name.ends_with(".log"));
    let text = std::fs::read_to_string(files[0].path()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("----- Log started at "));
    assert_eq!(lines[1], "Token Integration Hub Version: 2.5.0.1");
    for l in &lines[3..] {
        // [YYYY-MM-DD HH:MM:SS] [L] Component: message
        let b = l.as_bytes();
        assert!(
            b.len() > 26 && b[0] == b'[' && b[20] == b']' && b[22] == b'[',
            "{l}"
        );
        assert!(b"DIWE".contains(&b[23]) && &l[24..26] == "] ", "{l}");
    }
    assert!(text.contains("ConnectionState is 1 (Active)"));
    // The USB transport (built in since issue 4) is configured next to the simulator.
    assert!(text.contains(", usb]"), "{text}");
    assert!(text.contains("Request Type: 1 Enqueued"));
    // No session key (32 ASCII digits) ever appears.
    let mut run = 0;
    for ch in text.chars() {
        run = if ch.is_ascii_digit() { run + 1 } else { 0 };
        assert!(run < 32, "a 32-digit run (session key?) in the log");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn handshake_failure_retries(via: Via) {
    // A certificate that does not verify: the link is dropped after the handshake timeout
    // and discovery retries (with back-off) until the device is fixed.
    let mut cfg = sim_config(DeviceModel::X30tr);
    cfg.faults.bad_certificate = true;
    let (dev, hub, rec) = start(cfg, via);
    wait_until("a second attempt", || dev.links_opened() >= 2);
    assert_eq!(hub.active_device_index(), -1);
    assert!(
        rec.events().is_empty(),
        "never announced, so no (false, \"\") either"
    );
    dev.fault(|f| f.bad_certificate = false);
    assert!(hub.wait_connected(Duration::from_secs(10)).is_some());
    assert!(hub.fiscal_info(None).is_ok());
}
both!(
    handshake_failure_retries,
    handshake_failure_retries_mem,
    handshake_failure_retries_tcp
);

fn stream_faults(via: Via) {
    // Messages in pieces, junk between messages, host messages lost: every sale still
    // arrives exactly once and the session survives (junk is answered with type 60).
    let (dev, hub, rec) = connected(sim_config(DeviceModel::X30tr), via);
    dev.fault(|f| {
        f.split_every = Some(2);
        f.junk_every = Some(3);
    });
    for i in 0..8 {
        assert_eq!(
            hub.send_basket(&basket(&format!("s{i}"), CASH)).unwrap(),
            SendOutcome::Accepted
        );
        wait_sales(&rec, i + 1);
    }
    wait_until("type 60 for the junk", || {
        dev.received_types().contains(&tag::ERROR)
    });
    assert_eq!(hub.fiscal_info(None).unwrap().len(), {
        decode_device_text(fiscal::FISCAL_X30TR).len()
    });
    let ids: Vec<String> = sales_of(&rec.events())
        .iter()
        .map(|v| v["basketID"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, (0..8).map(|i| format!("s{i}")).collect::<Vec<_>>());
    assert!(!rec.events().contains(&Ev::State(false, String::new())));
}
both!(stream_faults, stream_faults_mem, stream_faults_tcp);

#[test]
fn api_calls_from_inside_callbacks() {
    // 300TR with the ACK ignored: sendBasket from inside deviceState(true) returns −1 without
    // waiting for its own serialIn(9) (that one follows once the callback returned), and
    // getFiscalInfo / sendPayment from inside serialIn work too.
    let mut cfg = sim_config(DeviceModel::T300tr);
    cfg.faults.ignore_ack = true;
    let (dev, hub, rec) = start(cfg, Via::Mem);
    let hub = Arc::new(hub);
    let results = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    {
        let weak = Arc::downgrade(&hub);
        let r = rec.clone();
        let res = results.clone();
        hub.set_device_state_callback(Some(Box::new(move |c, s| {
            r.push(Ev::State(c, s.to_string()));
            if let (true, Some(h)) = (c, weak.upgrade()) {
                let out = h.send_basket(r#"{"basketID":"in-cb"}"#);
                res.lock().unwrap().push(format!("basket {out:?}"));
                // Nothing was delivered while this callback runs.
                res.lock()
                    .unwrap()
                    .push(format!("events {}", r.events().len()));
            }
        })));
    }
    {
        let weak = Arc::downgrade(&hub);
        let r = rec.clone();
        let res = results.clone();
        let d = Arc::new(std::sync::atomic::AtomicBool::new(false));
        hub.set_serial_in_callback(Some(Box::new(move |t, v| {
            r.push(Ev::Serial(t, v.to_string()));
            if t == 9 && !d.swap(true, std::sync::atomic::Ordering::SeqCst) {
                if let Some(h) = weak.upgrade() {
                    let fi = h.fiscal_info(None).map(|f| f.len() > 100);
                    res.lock().unwrap().push(format!("fiscal {fi:?}"));
                }
            }
        })));
    }
    rec.wait_for("serialIn 9 after the callback", |e| {
        e.contains(&Ev::Serial(9, "Device is not connected".into()))
    });
    wait_until("fiscal from callback", || {
        results.lock().unwrap().len() == 3
    });
    assert_eq!(
        *results.lock().unwrap(),
        ["basket Ok(AckTimeout)", "events 1", "fiscal Ok(true)"]
    );
    let ev = rec.events();
    assert_eq!(ev[0], Ev::State(true, "AT0000000001".into()));
    assert_eq!(ev[1], Ev::Serial(9, "Device is not connected".into()));
    assert!(!dev.received_types().contains(&tag::BASKET));
}
