//! End-to-end tests of the connection runtime against the simulator (`okclink_sim`), over the
//! in-memory connector and over TCP.

mod e2e_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e_support::*;
use okclink::hub::{Hub, HubError, SendOutcome};
use okclink::proto::message::tag;
use okclink::transport::DeviceModel;
use okclink_sim::{Faults, SimConfig};

/// The fiscal info the device serves in these tests.
const FISCAL_JSON: &str = r#"{"businessMode":0,"pluCount":1,"plus":[{"name":"ÇAY","pluNo":1,"price":500}],"receiptLimit":525000}"#;
/// "Ödemeleri ayrı ayrı göndermelisiniz": the 300TR sends it in cp1254.
const REJECT_UTF8: &str = "Ödemeleri ayrı ayrı göndermelisiniz";

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

fn serial_of(model: DeviceModel) -> String {
    match model {
        DeviceModel::X30tr => "AV0000000121",
        DeviceModel::T300tr => "AT0000531911",
    }
    .to_string()
}

fn sim_config(model: DeviceModel) -> SimConfig {
    let mut c = SimConfig::for_model(model);
    c.serial = serial_of(model);
    c.fiscal_info = FISCAL_JSON.as_bytes().to_vec();
    c
}

/// A one-item basket of `price` kuruş, paid in cash at the device.
fn basket(id: &str, price: u32) -> String {
    format!(
        r#"{{"basketID":"{id}","items":[{{"name":"SU","price":{price},"quantity":1000,"sectionNo":1}}]}}"#
    )
}

fn connected(model: DeviceModel, via: Via) -> (Dev, Hub, Recorder) {
    connected_with(sim_config(model), via)
}

fn connected_with(cfg: SimConfig, via: Via) -> (Dev, Hub, Recorder) {
    let serial = cfg.serial.clone();
    let (dev, spec) = Dev::start(cfg, via);
    let hub = Hub::new(test_config(spec)).unwrap();
    let rec = Recorder::default();
    rec.attach(&hub);
    let got = hub
        .wait_connected(Duration::from_secs(10))
        .expect("connects");
    assert_eq!(got, serial);
    rec.wait_for("state true", |e| {
        e.contains(&Ev::State(true, serial.clone()))
    });
    (dev, hub, rec)
}

fn full_sale(via: Via) {
    let (dev, hub, rec) = connected(DeviceModel::X30tr, via);
    assert_eq!(hub.active_device_index(), 0);
    // The device saw the device-info request with the company name.
    assert_eq!(
        dev.requests_of(tag::DEVICE_INFO),
        vec![br#"{"companyName":"YourCompanyName","version":"2.5.0.1"}"#.to_vec()]
    );
    let fi = hub.fiscal_info(None).unwrap();
    assert_eq!(fi, FISCAL_JSON);
    assert_eq!(hub.last_fiscal_info(), FISCAL_JSON);

    let basket = r#"{"basketID":"b-1","items":[{"name":"ŞEKER","price":1000,"quantity":1000,"sectionNo":1}],"paymentItems":[{"amount":1000,"description":"Nakit","type":1}]}"#;
    assert_eq!(hub.send_basket(basket).unwrap(), SendOutcome::Accepted);
    let ev = rec.wait_for("sale info", |e| {
        e.iter().any(|x| matches!(x, Ev::Serial(3, _)))
    });
    let sale = ev
        .iter()
        .find_map(|x| match x {
            Ev::Serial(3, v) => Some(v.clone()),
            _ => None,
        })
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&sale).unwrap();
    assert_eq!(v["basketID"], "b-1");
    assert_eq!(v["status"], 0);
    // Basket bytes on the wire are cp1254 ("Ş" = 0xDE), and the sale info was acknowledged.
    let sent = dev.requests_of(tag::BASKET).pop().unwrap();
    assert!(sent.windows(5).any(|w| w == b"\xdeEKER"), "{sent:?}");
    wait_until("sale ack", || {
        dev.requests_of(tag::SALE_INFO).contains(&b"OK".to_vec())
    });
    // The device's type-1 "OK" never reaches the callback.
    assert!(!rec.events().iter().any(|e| matches!(e, Ev::Serial(1, _))));

    // deleteCommunication: DISCONNECT sent, (false, "") delivered before it returns.
    hub.disconnect();
    assert_eq!(rec.events().last(), Some(&Ev::State(false, String::new())));
    assert_eq!(hub.active_device_index(), -1);
    assert_eq!(hub.last_fiscal_info(), "");
    assert_eq!(hub.send_basket("{}").unwrap(), SendOutcome::NoDevice);
    assert_eq!(hub.fiscal_info(None), Err(HubError::NoDevice));
    assert!(dev.requests_of(tag::DISCONNECT).len() == 1);
    // Discovery stays off until reconnect.
    let opened = dev.links_opened();
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(dev.links_opened(), opened);
    hub.reconnect();
    assert_eq!(
        hub.wait_connected(Duration::from_secs(10)).as_deref(),
        Some(serial_of(DeviceModel::X30tr).as_str())
    );
    rec.wait_for("state true again", |e| {
        e.last() == Some(&Ev::State(true, serial_of(DeviceModel::X30tr)))
    });
    // Callbacks only ever ran on one thread, not the test thread.
    let threads = rec.threads.lock().unwrap().clone();
    assert!(threads.iter().all(|t| *t == threads[0]));
    assert_ne!(threads[0], std::thread::current().id());
    hub.close();
}
both!(full_sale, full_sale_mem, full_sale_tcp);

fn split_payment(via: Via) {
    let (_dev, hub, rec) = connected(DeviceModel::X30tr, via);
    let basket = r#"{"basketID":"split","items":[{"name":"A","price":100000,"quantity":1000,"sectionNo":1}],"paymentItems":[{"amount":90000,"description":"Nakit","type":1},{"amount":10000,"description":"Kredi Kartı","type":3}]}"#;
    assert_eq!(hub.send_basket(basket).unwrap(), SendOutcome::Accepted);
    let ev = rec.wait_for("sale", |e| e.iter().any(|x| matches!(x, Ev::Serial(3, _))));
    let Some(Ev::Serial(3, sale)) = ev.iter().find(|x| matches!(x, Ev::Serial(3, _))) else {
        unreachable!()
    };
    let v: serde_json::Value = serde_json::from_str(sale).unwrap();
    assert_eq!(v["paymentCount"], 2);
    assert_eq!(v["paymentItems"][1]["description"], "Kredi Kartı");
}
both!(split_payment, split_payment_mem, split_payment_tcp);

fn rejected_basket_cp1254(via: Via) {
    let (_dev, hub, rec) = connected(DeviceModel::T300tr, via);
    assert_eq!(hub.active_device_index(), 1);
    // A 300TR wants payments separately: a basket that carries them is refused.
    let with_payment = r#"{"basketID":"r","items":[{"name":"SU","price":500,"quantity":1000,"sectionNo":1}],"paymentItems":[{"amount":500,"description":"Nakit","type":1}]}"#;
    assert_eq!(
        hub.send_basket(with_payment).unwrap(),
        SendOutcome::Accepted
    );
    rec.wait_for("reject text", |e| {
        e.contains(&Ev::Serial(1, REJECT_UTF8.to_string()))
    });
}
both!(
    rejected_basket_cp1254,
    rejected_basket_cp1254_mem,
    rejected_basket_cp1254_tcp
);

fn t300tr_ack_payment_void(via: Via) {
    let (dev, hub, rec) = connected(DeviceModel::T300tr, via);
    assert_eq!(
        hub.send_basket(&basket("x", 10000)).unwrap(),
        SendOutcome::Accepted
    );
    rec.wait_for("basket reply", |e| {
        e.iter()
            .any(|x| matches!(x, Ev::Serial(1, v) if v.contains("\"basketID\":\"x\"")))
    });
    assert_eq!(
        hub.send_payment(r#"{"amount":6000,"description":"Nakit","type":1}"#)
            .unwrap(),
        SendOutcome::Accepted
    );
    assert_eq!(
        hub.send_payment(r#"{"isVoid":true}"#).unwrap(),
        SendOutcome::Accepted
    );
    // The part payment and the void are answered with the receipt's status; the void closes
    // the receipt with the sale info of a voided receipt (status 99, the 6000 paid so far).
    let ev = rec.wait_for("payment reply and sale info", |e| {
        e.iter().any(|x| matches!(x, Ev::Serial(3, _)))
    });
    let of = |t: i32| -> Vec<serde_json::Value> {
        ev.iter()
            .filter_map(|x| match x {
                Ev::Serial(tt, v) if *tt == t => Some(serde_json::from_str(v).unwrap()),
                _ => None,
            })
            .collect()
    };
    let replies = of(10);
    assert_eq!(replies.len(), 2);
    for r in &replies {
        assert_eq!((&r["basketID"], &r["status"]), (&"x".into(), &0.into()));
    }
    let sales = of(3);
    assert_eq!(sales.len(), 1);
    assert_eq!(sales[0]["basketID"], "x");
    assert_eq!(sales[0]["status"], 99);
    assert_eq!(sales[0]["paymentItems"][0]["amount"], 6000.0);
    // Wire order at the device: ACK before each basket/payment.
    let order: Vec<u16> = dev
        .received_types()
        .into_iter()
        .filter(|t| [tag::ACK, tag::BASKET, tag::PAYMENT].contains(t))
        .collect();
    assert_eq!(order, vec![11, 1, 11, 10, 11, 10]);

    // No ACK answer → serialIn(9) delivered, then AckTimeout (−1); nothing sent.
    dev.fault(|f| f.ignore_ack = true);
    rec.clear();
    assert_eq!(
        hub.send_basket(r#"{"basketID":"y"}"#).unwrap(),
        SendOutcome::AckTimeout
    );
    assert_eq!(SendOutcome::AckTimeout.vendor_code(), -1);
    assert_eq!(
        rec.events(),
        vec![Ev::Serial(9, "Device is not connected".into())]
    );
    assert_eq!(dev.requests_of(tag::BASKET).len(), 1);
    // Session goes on.
    dev.fault(|f| f.ignore_ack = false);
    assert_eq!(
        hub.send_payment(r#"{"isVoid":true}"#).unwrap(),
        SendOutcome::Accepted
    );
}
both!(
    t300tr_ack_payment_void,
    t300tr_ack_payment_void_mem,
    t300tr_ack_payment_void_tcp
);

fn silent_device(via: Via) {
    let (dev, hub, rec) = connected(DeviceModel::X30tr, via);
    dev.fault(|f| f.silent = true);
    let t = Instant::now();
    assert_eq!(hub.fiscal_info(None), Err(HubError::Timeout));
    assert!(t.elapsed() < Duration::from_secs(5));
    // An explicit shorter timeout is honoured too.
    assert_eq!(
        hub.fiscal_info(Some(Duration::from_millis(50))),
        Err(HubError::Timeout)
    );
    // X30TR: handed over (the device got it), no sale info.
    assert_eq!(hub.send_basket("{}").unwrap(), SendOutcome::Accepted);
    wait_until("basket at device", || {
        dev.requests_of(tag::BASKET).len() == 1
    });
    assert!(!rec.events().iter().any(|e| matches!(e, Ev::Serial(..))));
    // Delete is bounded although the device never answers DISCONNECT.
    let t = Instant::now();
    hub.close();
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(rec.events().last(), Some(&Ev::State(false, String::new())));
    assert_eq!(hub.send_basket("{}"), Err(HubError::Closed));
}
both!(silent_device, silent_device_mem, silent_device_tcp);

fn silent_300tr(via: Via) {
    let (dev, hub, rec) = connected(DeviceModel::T300tr, via);
    dev.fault(|f| f.silent = true);
    assert_eq!(hub.send_basket("{}").unwrap(), SendOutcome::AckTimeout);
    assert!(rec
        .events()
        .contains(&Ev::Serial(9, "Device is not connected".into())));
    assert_eq!(hub.fiscal_info(None), Err(HubError::Timeout));
}
both!(silent_300tr, silent_300tr_mem, silent_300tr_tcp);

fn device_vanishes(via: Via) {
    let serial = serial_of(DeviceModel::X30tr);
    let (dev, hub, rec) = connected(DeviceModel::X30tr, via);
    dev.fault(|f| f.silent = true);
    assert_eq!(hub.send_basket("{}").unwrap(), SendOutcome::Accepted);
    dev.unplug();
    rec.wait_for("state false", |e| {
        e.last() == Some(&Ev::State(false, String::new()))
    });
    assert_eq!(hub.active_device_index(), -1);
    assert_eq!(hub.send_basket("{}").unwrap(), SendOutcome::NoDevice);
    assert_eq!(hub.fiscal_info(None), Err(HubError::NoDevice));
    assert_eq!(hub.wait_connected(Duration::from_millis(50)), None);
    dev.fault(|f| f.silent = false);
    dev.plug();
    assert!(hub.wait_connected(Duration::from_secs(10)).is_some());
    rec.wait_for("state true again", |e| {
        e.last() == Some(&Ev::State(true, serial.clone()))
    });
    assert_eq!(hub.fiscal_info(None).unwrap(), FISCAL_JSON);
    // Exactly one false between the two trues.
    let states: Vec<Ev> = rec
        .events()
        .into_iter()
        .filter(|e| matches!(e, Ev::State(..)))
        .collect();
    assert_eq!(
        states,
        vec![
            Ev::State(true, serial.clone()),
            Ev::State(false, String::new()),
            Ev::State(true, serial.clone())
        ]
    );
}
both!(device_vanishes, device_vanishes_mem, device_vanishes_tcp);

fn reconnect_request(via: Via) {
    let serial = serial_of(DeviceModel::X30tr);
    let (dev, hub, rec) = connected(DeviceModel::X30tr, via);
    rec.clear();
    dev.request_reconnect();
    rec.wait_for("re-identified", |e| {
        e.contains(&Ev::State(true, serial.clone()))
    });
    // Second Hello and second key share went out on the same link.
    assert_eq!(dev.links_opened(), 1);
    assert_eq!(dev.requests_of(tag::DEVICE_INFO).len(), 2);
    assert_eq!(hub.fiscal_info(None).unwrap(), FISCAL_JSON);
    assert_eq!(
        hub.send_basket(&basket("r", 500)).unwrap(),
        SendOutcome::Accepted
    );
    rec.wait_for("sale", |e| e.iter().any(|x| matches!(x, Ev::Serial(3, _))));
}
both!(
    reconnect_request,
    reconnect_request_mem,
    reconnect_request_tcp
);

fn hello_ack_race(via: Via) {
    let mut cfg = sim_config(DeviceModel::X30tr);
    cfg.faults.hello_ok_after_keyshare = true;
    let (dev, spec) = Dev::start(cfg, via);
    let hub = Hub::new(test_config(spec)).unwrap();
    assert!(hub.wait_connected(Duration::from_secs(10)).is_some());
    assert_eq!(hub.fiscal_info(None).unwrap(), FISCAL_JSON);
    assert!(dev.requests_of(tag::ERROR).is_empty());
}
both!(hello_ack_race, hello_ack_race_mem, hello_ack_race_tcp);

fn corrupted_frames(via: Via) {
    let mut cfg = sim_config(DeviceModel::X30tr);
    // The receipt comes 300 ms after the basket's "OK" and is re-sent only after 2 s.
    cfg.sale_delay = Duration::from_millis(300);
    cfg.sale_resend_interval = Duration::from_secs(2);
    let (dev, hub, rec) = connected_with(cfg, via);
    assert_eq!(
        hub.send_basket(&basket("c1", 500)).unwrap(),
        SendOutcome::Accepted
    );
    wait_until("basket at device", || {
        dev.requests_of(tag::BASKET).len() == 1
    });
    // The sale info and its trailing "OK" go out with a bad CRC.
    dev.fault(|f| f.corrupt_every = Some(1));
    wait_until("type 60 twice", || dev.requests_of(tag::ERROR).len() == 2);
    dev.set_faults(Faults::default());
    assert_eq!(
        dev.requests_of(tag::ERROR)[0],
        b"Check sum is not valid! Please check your communication.".to_vec()
    );
    // The corrupted sale info never reached the callback.
    assert!(!rec.events().iter().any(|e| matches!(e, Ev::Serial(3, _))));
    assert_eq!(
        hub.send_basket(&basket("c2", 500)).unwrap(),
        SendOutcome::Accepted
    );
    // The intact re-send and the next receipt arrive, each once.
    let ev = rec.wait_for("two sales", |e| {
        e.iter().filter(|x| matches!(x, Ev::Serial(3, _))).count() == 2
    });
    let ids: Vec<String> = ev
        .iter()
        .filter_map(|x| match x {
            Ev::Serial(3, v) => {
                let v: serde_json::Value = serde_json::from_str(v).unwrap();
                Some(v["basketID"].as_str().unwrap().to_string())
            }
            _ => None,
        })
        .collect();
    assert_eq!(ids, ["c1", "c2"]);
    assert_eq!(dev.requests_of(tag::ERROR).len(), 2);
}
both!(corrupted_frames, corrupted_frames_mem, corrupted_frames_tcp);

fn many_baskets(via: Via) {
    let (_dev, hub, rec) = connected(DeviceModel::X30tr, via);
    let hub = Arc::new(hub);
    let per = 250;
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let hub = hub.clone();
            std::thread::spawn(move || {
                for i in 0..per {
                    let b = basket(&format!("t{t}-{i}"), 100);
                    assert_eq!(hub.send_basket(&b).unwrap(), SendOutcome::Accepted);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let ev = rec.wait_for("1000 sale infos", |e| {
        e.iter().filter(|x| matches!(x, Ev::Serial(3, _))).count() >= 4 * per
    });
    let mut ids: Vec<String> = ev
        .iter()
        .filter_map(|x| match x {
            Ev::Serial(3, v) => {
                let v: serde_json::Value = serde_json::from_str(v).unwrap();
                Some(v["basketID"].as_str().unwrap().to_string())
            }
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 4 * per);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4 * per, "every sale info exactly once");
}
both!(many_baskets, many_baskets_mem, many_baskets_tcp);

#[test]
fn delete_from_inside_callback() {
    let (_dev, spec) = Dev::start(sim_config(DeviceModel::X30tr), Via::Mem);
    let hub = Arc::new(Hub::new(test_config(spec)).unwrap());
    let rec = Recorder::default();
    rec.attach(&hub);
    // getFiscalInfo from inside deviceState(true) (what the vendor README asks for).
    let fiscal_in_cb = Arc::new(std::sync::Mutex::new(None));
    {
        let h = Arc::downgrade(&hub);
        let r = rec.clone();
        let f = fiscal_in_cb.clone();
        hub.set_device_state_callback(Some(Box::new(move |c, s| {
            r.push(Ev::State(c, s.to_string()));
            if c {
                if let Some(h) = h.upgrade() {
                    *f.lock().unwrap() = Some(h.fiscal_info(None));
                }
            }
        })));
    }
    rec.wait_for("state", |e| !e.is_empty());
    wait_until("fiscal in callback", || {
        fiscal_in_cb.lock().unwrap().is_some()
    });
    assert_eq!(
        fiscal_in_cb.lock().unwrap().clone().unwrap().unwrap(),
        FISCAL_JSON
    );
    // close() from inside the sale-info callback.
    let done = flag();
    {
        let h = Arc::downgrade(&hub);
        let r = rec.clone();
        let d = done.clone();
        hub.set_serial_in_callback(Some(Box::new(move |t, v| {
            r.push(Ev::Serial(t, v.to_string()));
            if t == 3 {
                if let Some(h) = h.upgrade() {
                    h.close();
                    set(&d);
                }
            }
        })));
    }
    assert_eq!(
        hub.send_basket(&basket("cb", 500)).unwrap(),
        SendOutcome::Accepted
    );
    wait_until("close in callback returned", || {
        done.load(std::sync::atomic::Ordering::SeqCst)
    });
    let n = rec.events().len();
    assert_eq!(hub.send_basket("{}"), Err(HubError::Closed));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(rec.events().len(), n, "no callback after close");
    drop(hub);
}

#[test]
fn state_replay_and_validation() {
    let (_dev, hub, _rec) = connected(DeviceModel::X30tr, Via::Mem);
    let late = Recorder::default();
    late.attach(&hub);
    late.wait_for("replay", |e| {
        e == [Ev::State(true, serial_of(DeviceModel::X30tr))]
    });
    assert!(matches!(
        hub.send_basket("{not json"),
        Err(HubError::InvalidJson(_))
    ));
    let big = format!("\"{}\"", "a".repeat(1 << 20));
    assert!(matches!(
        hub.send_basket(&big),
        Err(HubError::TooLarge { .. })
    ));
    hub.set_device_state_callback(None);
    hub.set_serial_in_callback(None);
    hub.disconnect();
    hub.disconnect(); // idempotent, returns at once
    let again = Recorder::default();
    again.attach(&hub);
    again.wait_for("replay of the loss", |e| {
        e == [Ev::State(false, String::new())]
    });
    hub.close();
    hub.close();
}

#[test]
fn no_device_never_blocks() {
    let (dev, spec) = Dev::start(sim_config(DeviceModel::X30tr), Via::Mem);
    dev.unplug();
    let t = Instant::now();
    let hub = Hub::new(test_config(spec)).unwrap();
    assert_eq!(hub.active_device_index(), -1);
    assert_eq!(hub.send_basket("{}").unwrap(), SendOutcome::NoDevice);
    assert_eq!(SendOutcome::NoDevice.vendor_code(), 0);
    assert_eq!(hub.fiscal_info(None), Err(HubError::NoDevice));
    assert_eq!(hub.last_fiscal_info(), "");
    let rec = Recorder::default();
    rec.attach(&hub);
    hub.close();
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(rec.events().is_empty(), "no state known, nothing replayed");
}
