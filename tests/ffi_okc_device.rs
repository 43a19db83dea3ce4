//! The okc_* C API with a device: the in-process simulator served on loopback TCP.
//! Callbacks with user_data, stale handles, bad text and oversized input on a live object,
//! destroy from inside a callback, no callback after destroy, destroy while a call waits.

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use okclink::ffi::okc::*;
use okclink::ffi::OkcStatus::*;
use okclink::transport::DeviceModel;
use okclink_sim::{serve_tcp, SimConfig, SimServer};

fn last_error() -> String {
    unsafe { CStr::from_ptr(okc_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

#[derive(Default)]
struct Events {
    states: Mutex<Vec<(bool, String)>>,
    serial_in: Mutex<Vec<(i32, String)>>,
    dead: AtomicBool,
    late: AtomicUsize,
    /// When set, the next state callback destroys this handle from inside the callback.
    destroy_in_callback: Mutex<Option<usize>>,
    destroy_result: Mutex<Option<OkcStatus>>,
}

unsafe extern "C" fn on_state(ud: *mut c_void, connected: bool, serial: *const c_char) {
    let ev = unsafe { &*(ud as *const Events) };
    if ev.dead.load(Ordering::SeqCst) {
        ev.late.fetch_add(1, Ordering::SeqCst);
    }
    let s = unsafe { CStr::from_ptr(serial) }
        .to_str()
        .unwrap()
        .to_string();
    ev.states.lock().unwrap().push((connected, s));
    let target = ev.destroy_in_callback.lock().unwrap().take();
    if let Some(h) = target {
        let r = okc_destroy(h as *mut OkcHub);
        *ev.destroy_result.lock().unwrap() = Some(r);
    }
}

unsafe extern "C" fn on_serial(ud: *mut c_void, t: i32, v: *const c_char) {
    let ev = unsafe { &*(ud as *const Events) };
    if ev.dead.load(Ordering::SeqCst) {
        ev.late.fetch_add(1, Ordering::SeqCst);
    }
    let s = unsafe { CStr::from_ptr(v) }.to_str().unwrap().to_string();
    ev.serial_in.lock().unwrap().push((t, s));
}

fn sim() -> SimServer {
    serve_tcp("127.0.0.1:0", SimConfig::x30tr()).unwrap()
}

fn create(s: &SimServer, company: &str) -> *mut OkcHub {
    let cfg = c(&format!(
        r#"{{"company_name":"{company}","transports":["tcp://{}"],"log_dir":""}}"#,
        s.local_addr()
    ));
    let mut h = null_mut();
    // OKC_TRANSPORT, if the environment has one, would override the transports.
    assert!(std::env::var_os("OKC_TRANSPORT").is_none());
    assert_eq!(
        unsafe { okc_create(cfg.as_ptr(), &mut h) },
        OKC_OK,
        "{}",
        last_error()
    );
    assert!(!h.is_null());
    h
}

fn wait_connected(h: *mut OkcHub) -> String {
    let mut serial: *mut c_char = null_mut();
    assert_eq!(
        unsafe { okc_wait_connected(h, 20_000, &mut serial) },
        OKC_OK,
        "{}",
        last_error()
    );
    let s = unsafe { CStr::from_ptr(serial) }
        .to_str()
        .unwrap()
        .to_string();
    okc_string_free(serial);
    s
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

const BASKET: &str = r#"{"basketID":"b-rs-1","items":[{"name":"Çay","price":1000,"quantity":1000,"sectionNo":1,"taxPercent":2000,"type":0}],"paymentItems":[{"amount":1000,"description":"Nakit","type":1}]}"#;

#[test]
fn sale_with_callbacks_user_data_and_clean_destroy() {
    let s = sim();
    let ev = Box::new(Events::default());
    let ud = &*ev as *const Events as *mut c_void;
    let h = create(&s, "Şirket Ğüç");
    assert_eq!(okc_set_serial_in_callback(h, Some(on_serial), ud), OKC_OK);
    assert_eq!(okc_set_device_state_callback(h, Some(on_state), ud), OKC_OK);
    let serial = wait_connected(h);
    assert_eq!(serial, s.with(|d| d.config().serial.clone()));
    wait_until("state (true)", || {
        ev.states
            .lock()
            .unwrap()
            .iter()
            .any(|(c, s)| *c && *s == serial)
    });
    assert_eq!(okc_active_device_index(h), 0);

    let mut f: *mut c_char = null_mut();
    assert_eq!(unsafe { okc_get_fiscal_info(h, -1, &mut f) }, OKC_OK);
    let fiscal = unsafe { CStr::from_ptr(f) }.to_str().unwrap().to_string();
    okc_string_free(f);
    assert!(
        fiscal.starts_with('{') && fiscal.contains("sections"),
        "{fiscal}"
    );
    let mut last: *mut c_char = null_mut();
    assert_eq!(unsafe { okc_last_fiscal_info(h, &mut last) }, OKC_OK);
    assert_eq!(unsafe { CStr::from_ptr(last) }.to_str().unwrap(), fiscal);
    okc_string_free(last);
    assert_eq!(okclink::ffi::outstanding_strings(), 0);

    // Bad input on a live object: error codes, the object keeps working.
    let bad = b"{\"a\":\"\xC3\x28\"}\0";
    assert_eq!(
        unsafe { okc_send_basket(h, bad.as_ptr() as *const c_char) },
        OKC_ERR_INVALID_UTF8
    );
    let big = c(&format!("{{\"a\":\"{}\"}}", "x".repeat(10 << 20)));
    assert_eq!(
        unsafe { okc_send_basket(h, big.as_ptr()) },
        OKC_ERR_TOO_LARGE
    );
    assert_eq!(
        unsafe { okc_send_payment(h, big.as_ptr()) },
        OKC_ERR_TOO_LARGE
    );
    assert_eq!(
        unsafe { okc_send_basket(h, c("{not json").as_ptr()) },
        OKC_ERR_INVALID_JSON
    );

    assert_eq!(
        unsafe { okc_send_basket(h, c(BASKET).as_ptr()) },
        OKC_ACCEPTED
    );
    wait_until("sale info", || {
        ev.serial_in.lock().unwrap().iter().any(|(t, _)| *t == 3)
    });
    let sale = ev
        .serial_in
        .lock()
        .unwrap()
        .iter()
        .find(|(t, _)| *t == 3)
        .unwrap()
        .1
        .clone();
    assert!(
        sale.contains("b-rs-1") && sale.contains("\"status\":0"),
        "{sale}"
    );
    assert_eq!(s.sales_count(), 1);

    let before = ev.states.lock().unwrap().len();
    assert_eq!(okc_destroy(h), OKC_OK);
    ev.dead.store(true, Ordering::SeqCst);
    {
        let states = ev.states.lock().unwrap();
        assert!(states.len() > before, "destroy delivered (false, \"\")");
        assert_eq!(states.last().unwrap(), &(false, String::new()));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(ev.late.load(Ordering::SeqCst), 0, "callback after destroy");
    // Stale now; a second destroy is fine.
    assert_eq!(
        unsafe { okc_send_basket(h, c(BASKET).as_ptr()) },
        OKC_ERR_BAD_HANDLE
    );
    assert!(
        last_error().contains("already destroyed"),
        "{}",
        last_error()
    );
    assert_eq!(okc_active_device_index(h), -1);
    assert_eq!(okc_destroy(h), OKC_OK);
    drop(ev);
    s.shutdown();
}

#[test]
fn destroy_from_inside_a_callback() {
    let s = sim();
    let ev = Box::new(Events::default());
    let ud = &*ev as *const Events as *mut c_void;
    let h = create(&s, "cb");
    wait_connected(h);
    *ev.destroy_in_callback.lock().unwrap() = Some(h as usize);
    // The replay of the last state triggers the destroy inside the callback.
    assert_eq!(okc_set_device_state_callback(h, Some(on_state), ud), OKC_OK);
    wait_until("destroy in callback", || {
        ev.destroy_result.lock().unwrap().is_some()
    });
    assert_eq!(*ev.destroy_result.lock().unwrap(), Some(OKC_OK));
    assert_eq!(okc_reconnect(h), OKC_ERR_BAD_HANDLE);
    assert_eq!(okc_destroy(h), OKC_OK);
    std::thread::sleep(Duration::from_millis(200));
    s.shutdown();
}

#[test]
fn destroy_while_another_thread_waits_for_fiscal_info() {
    let s = sim();
    let h = create(&s, "wait");
    wait_connected(h);
    // The device stops answering application requests: the fiscal-info call blocks.
    s.with(|d| d.set_processing_delay(Duration::from_secs(60)));
    let hv = h as usize;
    let waiter = std::thread::spawn(move || {
        let mut out: *mut c_char = null_mut();
        let st = unsafe { okc_get_fiscal_info(hv as *mut OkcHub, 30_000, &mut out) };
        (st, out.is_null())
    });
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    assert_eq!(okc_destroy(h), OKC_OK);
    let (st, null) = waiter.join().unwrap();
    assert!(null);
    assert!(
        matches!(st, OKC_ERR_CLOSED | OKC_ERR_NO_DEVICE | OKC_ERR_TIMEOUT),
        "{st:?}"
    );
    // Bounded: well below the 30 s the waiter asked for.
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    s.shutdown();
}

#[test]
fn many_objects_register_and_release() {
    let s = sim();
    let hs: Vec<_> = (0..8).map(|i| create(&s, &format!("n{i}"))).collect();
    let mut ids: Vec<usize> = hs.iter().map(|&h| h as usize).collect();
    ids.dedup();
    assert_eq!(ids.len(), 8);
    for &h in &hs {
        assert_eq!(okc_reconnect(h), OKC_OK);
    }
    for h in hs {
        assert_eq!(okc_destroy(h), OKC_OK);
        assert_eq!(okc_disconnect(h), OKC_ERR_BAD_HANDLE);
    }
    s.shutdown();
}

#[test]
fn calls_racing_with_destroy_give_codes_not_crashes() {
    let s = sim();
    for round in 0..3 {
        let h = create(&s, &format!("race{round}"));
        wait_connected(h);
        let hv = h as usize;
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..4)
            .map(|i| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let h = hv as *mut OkcHub;
                    let mut seen_bad_handle = false;
                    let json = c("{\"isVoid\":true}");
                    // Run until the handle is seen stale (or the test gives up).
                    while !seen_bad_handle && !stop.load(Ordering::SeqCst) {
                        let st = match i % 4 {
                            0 => unsafe { okc_send_payment(h, json.as_ptr()) },
                            1 => {
                                let mut out: *mut c_char = null_mut();
                                let st = unsafe { okc_last_fiscal_info(h, &mut out) };
                                okc_string_free(out);
                                st
                            }
                            2 => {
                                let idx = okc_active_device_index(h);
                                assert!((-1..=1).contains(&idx));
                                if idx == -1 && last_error().contains("already destroyed") {
                                    OKC_ERR_BAD_HANDLE
                                } else if idx == -1 {
                                    OKC_ERR_NO_DEVICE
                                } else {
                                    OKC_OK
                                }
                            }
                            _ => okc_set_serial_in_callback(h, None, null_mut()),
                        };
                        if st == OKC_ERR_BAD_HANDLE {
                            seen_bad_handle = true;
                        } else {
                            // Once destroyed, a handle never comes back to life.
                            assert!(!seen_bad_handle, "handle alive again: {st:?}");
                        }
                        assert!(
                            (st as i32) > OKC_ERR_PANIC as i32,
                            "{st:?}: {}",
                            last_error()
                        );
                    }
                    seen_bad_handle
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(okc_destroy(h), OKC_OK);
        let t0 = Instant::now();
        while !workers.iter().all(|w| w.is_finished()) && t0.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            assert!(w.join().unwrap(), "every worker saw the handle go stale");
        }
    }
    assert_eq!(okclink::ffi::outstanding_strings(), 0);
    s.shutdown();
}

#[test]
fn fiscal_info_timeout_keeps_the_last_value() {
    let s = sim();
    let h = create(&s, "timeout");
    wait_connected(h);
    let mut f: *mut c_char = null_mut();
    assert_eq!(unsafe { okc_get_fiscal_info(h, -1, &mut f) }, OKC_OK);
    let first = unsafe { CStr::from_ptr(f) }.to_str().unwrap().to_string();
    okc_string_free(f);
    // The device stops answering: the request times out, *out stays NULL, the last value stays.
    s.with(|d| d.set_processing_delay(Duration::from_secs(60)));
    let mut g: *mut c_char = 1 as *mut c_char;
    assert_eq!(
        unsafe { okc_get_fiscal_info(h, 200, &mut g) },
        OKC_ERR_TIMEOUT
    );
    assert!(g.is_null());
    assert!(last_error().contains("timed out"), "{}", last_error());
    let mut last: *mut c_char = null_mut();
    assert_eq!(unsafe { okc_last_fiscal_info(h, &mut last) }, OKC_OK);
    assert_eq!(unsafe { CStr::from_ptr(last) }.to_str().unwrap(), first);
    okc_string_free(last);
    assert_eq!(okc_destroy(h), OKC_OK);
    s.shutdown();
}

#[test]
fn ack_timeout_on_300tr_is_reported_with_serial_in_9() {
    let mut cfg = SimConfig::t300tr();
    cfg.faults.ignore_ack = true;
    let s = serve_tcp("127.0.0.1:0", cfg).unwrap();
    let ev = Box::new(Events::default());
    let ud = &*ev as *const Events as *mut c_void;
    let json = c(&format!(
        r#"{{"transports":["tcp://{}?model=300tr"],"log_dir":"","ack_timeout_ms":300}}"#,
        s.local_addr()
    ));
    let mut h = null_mut();
    assert_eq!(unsafe { okc_create(json.as_ptr(), &mut h) }, OKC_OK);
    assert_eq!(okc_set_serial_in_callback(h, Some(on_serial), ud), OKC_OK);
    wait_connected(h);
    assert_eq!(okc_active_device_index(h), 1);
    let basket = c(
        r#"{"basketID":"b-ack","items":[{"name":"Su","price":500,"quantity":1000,"sectionNo":1,"taxPercent":2000,"type":0}]}"#,
    );
    assert_eq!(
        unsafe { okc_send_basket(h, basket.as_ptr()) },
        OKC_ERR_ACK_TIMEOUT
    );
    wait_until("serialIn(9)", || {
        ev.serial_in
            .lock()
            .unwrap()
            .iter()
            .any(|(t, v)| *t == 9 && v == "Device is not connected")
    });
    assert_eq!(s.sales_count(), 0);
    assert_eq!(okc_destroy(h), OKC_OK);
    drop(ev);
    s.shutdown();
}

/// A hub on a simulator with extra config keys (a JSON fragment starting with ',').
fn create_with(s: &SimServer, extra: &str) -> *mut OkcHub {
    let model = if s.with(|d| d.config().model) == DeviceModel::T300tr {
        "?model=300tr"
    } else {
        ""
    };
    let cfg = c(&format!(
        r#"{{"company_name":"limits","transports":["tcp://{}{model}"],"log_dir":""{extra}}}"#,
        s.local_addr()
    ));
    let mut h = null_mut();
    assert!(std::env::var_os("OKC_TRANSPORT").is_none());
    assert_eq!(
        unsafe { okc_create(cfg.as_ptr(), &mut h) },
        OKC_OK,
        "{}",
        last_error()
    );
    h
}

fn fiscal(h: *mut OkcHub, timeout_ms: i32) -> (OkcStatus, Option<String>) {
    let mut out: *mut c_char = null_mut();
    let st = unsafe { okc_get_fiscal_info(h, timeout_ms, &mut out) };
    if out.is_null() {
        return (st, None);
    }
    let s = unsafe { CStr::from_ptr(out) }.to_str().unwrap().to_string();
    okc_string_free(out);
    (st, Some(s))
}

#[test]
fn caller_limit_does_not_limit_what_the_device_sends() {
    // Issue 17: max_payload_bytes 1024 made the 1.7 KB X30TR fiscal info time out and kept a
    // 300TR from completing the handshake.
    for cfg in [SimConfig::x30tr(), SimConfig::t300tr()] {
        let s = serve_tcp("127.0.0.1:0", cfg).unwrap();
        let h = create_with(&s, r#","max_payload_bytes":1024"#);
        wait_connected(h);
        let (st, f) = fiscal(h, 8000);
        assert_eq!(st, OKC_OK, "{}", last_error());
        assert!(f.unwrap().len() > 1024);
        let big = c(&format!("{{\"a\":\"{}\"}}", "x".repeat(1100)));
        assert_eq!(
            unsafe { okc_send_basket(h, big.as_ptr()) },
            OKC_ERR_TOO_LARGE
        );
        assert_eq!(okc_destroy(h), OKC_OK);
    }
}

#[test]
fn device_message_over_the_receive_limit_is_reported_not_timed_out() {
    let mut cfg = SimConfig::x30tr();
    cfg.fiscal_info = format!("{{\"fiscal\":\"{}\",\"tail\":1}}", "x".repeat(30_000)).into_bytes();
    let s = serve_tcp("127.0.0.1:0", cfg).unwrap();
    let h = create_with(&s, r#","max_receive_bytes":16384"#);
    wait_connected(h);
    let t0 = Instant::now();
    let (st, f) = fiscal(h, 10_000);
    assert_eq!(st, OKC_ERR_TOO_LARGE);
    assert!(f.is_none());
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    assert!(
        last_error().contains("receive limit of 16384 bytes"),
        "{}",
        last_error()
    );
    assert_eq!(okc_destroy(h), OKC_OK);
    // Out-of-range receive limits are configuration errors.
    for bad in [
        r#"{"max_receive_bytes":1024}"#,
        r#"{"max_receive_bytes":1000000000}"#,
    ] {
        let mut h = null_mut();
        let j = c(bad);
        assert_eq!(unsafe { okc_create(j.as_ptr(), &mut h) }, OKC_ERR_CONFIG);
        assert!(
            last_error().contains("max_receive_bytes"),
            "{}",
            last_error()
        );
    }
}

#[test]
fn device_text_with_a_nul_is_delivered_whole() {
    let mut cfg = SimConfig::x30tr();
    cfg.fiscal_info = b"{\"a\":\"before\0after\",\"tail\":1}".to_vec();
    let s = serve_tcp("127.0.0.1:0", cfg).unwrap();
    let h = create_with(&s, "");
    wait_connected(h);
    let (st, f) = fiscal(h, -1);
    assert_eq!(st, OKC_OK, "{}", last_error());
    let f = f.unwrap();
    assert_eq!(f, "{\"a\":\"before\\u0000after\",\"tail\":1}");
    // Still the same JSON document.
    let v: serde_json::Value = serde_json::from_str(&f).unwrap();
    assert_eq!(v["a"], "before\0after");
    assert_eq!(okc_destroy(h), OKC_OK);
}
