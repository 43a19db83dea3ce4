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

// ---------------------------------------------------------------------------------------
// okc_vendor_*: the vendor's rules with a device.

#[derive(Default)]
struct VendorEvents {
    serial_in: Mutex<Vec<(i32, Vec<u8>)>>,
    states: Mutex<Vec<(bool, Vec<u8>)>>,
}

/// Record (text, len) as bytes; the text must also be NUL-terminated right after `len`.
unsafe fn vendor_bytes(p: *const c_char, len: usize) -> Vec<u8> {
    let b = unsafe { std::slice::from_raw_parts(p as *const u8, len) }.to_vec();
    assert_eq!(unsafe { *p.add(len) }, 0, "NUL after len bytes");
    assert!(!b.contains(&0), "no NUL among the bytes");
    b
}

unsafe extern "C" fn on_vendor_serial(ud: *mut c_void, t: i32, p: *const c_char, len: usize) {
    let ev = unsafe { &*(ud as *const VendorEvents) };
    let b = unsafe { vendor_bytes(p, len) };
    ev.serial_in.lock().unwrap().push((t, b));
}

unsafe extern "C" fn on_vendor_state(ud: *mut c_void, c: bool, p: *const c_char, len: usize) {
    let ev = unsafe { &*(ud as *const VendorEvents) };
    let b = unsafe { vendor_bytes(p, len) };
    ev.states.lock().unwrap().push((c, b));
}

fn vendor_send(h: *mut OkcHub, payment: bool, bytes: &[u8]) -> (i32, OkcStatus) {
    let mut st = OKC_ERR_INTERNAL;
    let p = bytes.as_ptr() as *const c_char;
    let code = unsafe {
        if payment {
            okc_vendor_send_payment(h, p, bytes.len(), &mut st)
        } else {
            okc_vendor_send_basket(h, p, bytes.len(), &mut st)
        }
    };
    (code, st)
}

fn vendor_fiscal(h: *mut OkcHub, timeout_ms: i32, vendor_text: bool) -> (Vec<u8>, OkcStatus) {
    let mut st = OKC_ERR_INTERNAL;
    let p = unsafe { okc_vendor_fiscal_info(h, timeout_ms, vendor_text, &mut st) };
    assert!(!p.is_null());
    let b = unsafe { CStr::from_ptr(p) }.to_bytes().to_vec();
    okc_string_free(p);
    (b, st)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// An X30TR basket (payments inside) whose basketID is `id` (raw bytes: UTF-8 or cp1254).
fn basket_bytes(id: &[u8]) -> Vec<u8> {
    let mut b = b"{\"basketID\":\"".to_vec();
    b.extend_from_slice(id);
    b.extend_from_slice(
        b"\",\"items\":[{\"name\":\"\xC7ay\",\"price\":1000,\"quantity\":1000,\"sectionNo\":1,\"taxPercent\":2000,\"type\":0}],\"paymentItems\":[{\"amount\":1000,\"description\":\"Nakit\",\"type\":1}]}",
    );
    b
}

#[test]
fn vendor_send_accepted_and_caller_text_utf8_or_cp1254() {
    let s = sim();
    let ev = Box::new(Events::default());
    let ud = &*ev as *const Events as *mut c_void;
    let h = create_with(&s, "");
    assert_eq!(okc_set_serial_in_callback(h, Some(on_serial), ud), OKC_OK);
    wait_connected(h);
    // Windows-1254 bytes (not UTF-8) are read as Turkish text: "b-Şığ".
    let cp = basket_bytes(b"b-\xDE\xFD\xF0");
    assert!(std::str::from_utf8(&cp).is_err());
    assert_eq!(vendor_send(h, false, &cp), (1, OKC_ACCEPTED));
    wait_until("sale info of the cp1254 basket", || {
        ev.serial_in
            .lock()
            .unwrap()
            .iter()
            .any(|(t, v)| *t == 3 && v.contains("\"basketID\":\"b-Şığ\""))
    });
    // Valid UTF-8 passes unchanged.
    let utf8 = basket_bytes("b-ÇÜÖ".as_bytes());
    assert_eq!(vendor_send(h, false, &utf8), (1, OKC_ACCEPTED));
    wait_until("sale info of the UTF-8 basket", || {
        ev.serial_in
            .lock()
            .unwrap()
            .iter()
            .any(|(t, v)| *t == 3 && v.contains("\"basketID\":\"b-ÇÜÖ\""))
    });
    assert_eq!(s.sales_count(), 2);
    // Bad JSON with a device: still 0, nothing sent.
    assert_eq!(
        vendor_send(h, false, b"{\"items\":["),
        (0, OKC_ERR_INVALID_JSON)
    );
    assert_eq!(s.sales_count(), 2);
    assert_eq!(okc_destroy(h), OKC_OK);
    drop(ev);
    s.shutdown();
}

#[test]
fn vendor_send_ack_timeout_is_minus_one() {
    let mut cfg = SimConfig::t300tr();
    cfg.faults.ignore_ack = true;
    let s = serve_tcp("127.0.0.1:0", cfg).unwrap();
    let h = create_with(&s, r#","ack_timeout_ms":300"#);
    wait_connected(h);
    let basket = br#"{"basketID":"b-vack","items":[{"name":"Su","price":500,"quantity":1000,"sectionNo":1,"taxPercent":2000,"type":0}]}"#;
    assert_eq!(vendor_send(h, false, basket), (-1, OKC_ERR_ACK_TIMEOUT));
    let payment = br#"{"amount":500,"description":"Nakit","type":1}"#;
    assert_eq!(vendor_send(h, true, payment), (-1, OKC_ERR_ACK_TIMEOUT));
    assert_eq!(s.sales_count(), 0);
    assert_eq!(okc_destroy(h), OKC_OK);
    s.shutdown();
}

#[test]
fn vendor_fiscal_info_fresh_then_last_after_a_timeout() {
    let s = sim();
    let h = create_with(&s, "");
    wait_connected(h);
    let (fresh, st) = vendor_fiscal(h, -1, false);
    assert_eq!(st, OKC_OK);
    assert!(fresh.starts_with(b"{"));
    assert!(contains(&fresh, "POŞET".as_bytes()), "device text as UTF-8");
    // The same as okc_get_fiscal_info gives.
    assert_eq!(
        fiscal(h, -1),
        (OKC_OK, Some(String::from_utf8(fresh.clone()).unwrap()))
    );
    // The device stops answering: after the timeout the last value.
    s.with(|d| d.set_processing_delay(Duration::from_secs(60)));
    let (last, st) = vendor_fiscal(h, 200, false);
    assert_eq!(st, OKC_ERR_TIMEOUT);
    assert_eq!(last, fresh);
    // After a disconnect: no device → "" (not the last value).
    assert_eq!(okc_disconnect(h), OKC_OK);
    assert_eq!(vendor_fiscal(h, 200, true), (Vec::new(), OKC_ERR_NO_DEVICE));
    assert_eq!(okc_destroy(h), OKC_OK);
    s.shutdown();
}

/// The Linux vendor layer's device text: UTF-8 by default, Windows-1254 bytes with
/// `vendor_text` = cp1254; the UTF-8 surfaces of the same handle are not affected.
#[test]
fn vendor_text_out_utf8_or_cp1254() {
    for cp1254 in [false, true] {
        let s = sim();
        let ev = Box::new(VendorEvents::default());
        let ud = &*ev as *const VendorEvents as *mut c_void;
        let extra = if cp1254 {
            r#","vendor_text":"cp1254""#
        } else {
            ""
        };
        let h = create_with(&s, extra);
        assert_eq!(
            okc_vendor_set_serial_in_callback(h, Some(on_vendor_serial), ud),
            OKC_OK
        );
        assert_eq!(
            okc_vendor_set_device_state_callback(h, Some(on_vendor_state), ud),
            OKC_OK
        );
        let serial = wait_connected(h);
        wait_until("state callback", || {
            ev.states
                .lock()
                .unwrap()
                .iter()
                .any(|(c, b)| *c && b == serial.as_bytes())
        });
        let (text, st) = vendor_fiscal(h, -1, true);
        assert_eq!(st, OKC_OK);
        let (utf8, _) = vendor_fiscal(h, -1, false);
        assert!(contains(&utf8, "POŞET".as_bytes()));
        if cp1254 {
            assert!(contains(&text, b"PO\xDEET"), "cp1254 bytes");
            assert!(!contains(&text, "POŞET".as_bytes()));
            assert_eq!(
                okclink_wire::text::decode_device_text(&text),
                String::from_utf8(utf8).unwrap()
            );
        } else {
            assert_eq!(text, utf8);
        }
        assert_eq!(
            vendor_send(h, false, &basket_bytes("b-Şç".as_bytes())),
            (1, OKC_ACCEPTED)
        );
        let want: &[u8] = if cp1254 {
            b"\"basketID\":\"b-\xDE\xE7\""
        } else {
            "\"basketID\":\"b-Şç\"".as_bytes()
        };
        wait_until("sale info in the vendor_text encoding", || {
            ev.serial_in
                .lock()
                .unwrap()
                .iter()
                .any(|(t, v)| *t == 3 && contains(v, want))
        });
        assert_eq!(okc_destroy(h), OKC_OK);
        drop(ev);
        s.shutdown();
    }
}
