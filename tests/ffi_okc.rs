//! The okc_* C API called through its C signatures: bad handles, bad pointers, bad text,
//! oversized input, panics. None of these needs a device.

use std::ffi::{c_char, CStr, CString};
use std::ptr::{null, null_mut};

use okclink::ffi::okc::*;
use okclink::ffi::OkcStatus::{self, *};

fn last_error() -> String {
    // SAFETY: okc_last_error never returns NULL and the text stays valid until the next
    // failing call on this thread.
    unsafe { CStr::from_ptr(okc_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// Every handle-taking export, called with `h`; returns their statuses.
fn call_all(h: *mut OkcHub) -> Vec<(&'static str, OkcStatus, String)> {
    let mut v = Vec::new();
    let json = c("{}");
    let mut out: *mut c_char = null_mut();
    unsafe {
        v.push(("destroy", okc_destroy(h), last_error()));
        v.push((
            "set_serial_in",
            okc_set_serial_in_callback(h, None, null_mut()),
            last_error(),
        ));
        v.push((
            "set_state",
            okc_set_device_state_callback(h, None, null_mut()),
            last_error(),
        ));
        v.push((
            "send_basket",
            okc_send_basket(h, json.as_ptr()),
            last_error(),
        ));
        v.push((
            "send_payment",
            okc_send_payment(h, json.as_ptr()),
            last_error(),
        ));
        v.push(("fiscal", okc_get_fiscal_info(h, 0, &mut out), last_error()));
        assert!(out.is_null());
        v.push((
            "last_fiscal",
            okc_last_fiscal_info(h, &mut out),
            last_error(),
        ));
        assert!(out.is_null());
        v.push(("reconnect", okc_reconnect(h), last_error()));
        v.push(("disconnect", okc_disconnect(h), last_error()));
        v.push(("wait", okc_wait_connected(h, 0, &mut out), last_error()));
        assert!(out.is_null());
    }
    v
}

#[test]
fn version_is_the_crate_version() {
    let v = unsafe { CStr::from_ptr(okc_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn last_error_is_never_null_and_per_thread() {
    std::thread::spawn(|| {
        assert!(!okc_last_error().is_null());
        assert_eq!(last_error(), "");
        assert_eq!(okc_reconnect(null_mut()), OKC_ERR_BAD_HANDLE);
        assert!(last_error().contains("NULL"), "{}", last_error());
        // Another thread's failure does not touch this thread's text.
        std::thread::spawn(|| {
            assert_eq!(last_error(), "");
            assert_eq!(okc_disconnect(0x10 as *mut OkcHub), OKC_ERR_BAD_HANDLE);
        })
        .join()
        .unwrap();
        assert!(
            last_error().starts_with("okc_reconnect: "),
            "{}",
            last_error()
        );
    })
    .join()
    .unwrap();
}

#[test]
fn null_handle_gives_bad_handle_everywhere() {
    for (name, st, err) in call_all(null_mut()) {
        assert_eq!(st, OKC_ERR_BAD_HANDLE, "{name}");
        assert!(err.contains("handle is NULL"), "{name}: {err}");
    }
    assert_eq!(okc_active_device_index(null_mut()), -1);
}

#[test]
fn foreign_handles_are_rejected_without_dereferencing() {
    let mut local = [0u8; 64];
    let foreign: [*mut OkcHub; 5] = [
        local.as_mut_ptr() as *mut OkcHub, // a real, readable pointer
        0xdead_beef_usize as *mut OkcHub,  // unmapped
        1usize as *mut OkcHub,             // tiny
        usize::MAX as *mut OkcHub,         // top of memory
        (0x0C0C_0000usize + 0x10 * 1_000_000) as *mut OkcHub, // handle-shaped, never issued
    ];
    for h in foreign {
        for (name, st, err) in call_all(h) {
            assert_eq!(st, OKC_ERR_BAD_HANDLE, "{name} {h:p}");
            assert!(
                err.contains("not a handle of this library"),
                "{name}: {err}"
            );
        }
        assert_eq!(okc_active_device_index(h), -1);
    }
    assert_eq!(local, [0u8; 64], "the foreign memory was not written");
}

#[test]
fn null_out_pointers_are_errors() {
    unsafe {
        assert_eq!(okc_create(null(), null_mut()), OKC_ERR_NULL);
        assert!(last_error().contains("out is NULL"), "{}", last_error());
        // The handle is checked after `out`: a NULL out is reported first.
        assert_eq!(okc_get_fiscal_info(null_mut(), 0, null_mut()), OKC_ERR_NULL);
        assert_eq!(okc_last_fiscal_info(null_mut(), null_mut()), OKC_ERR_NULL);
    }
}

#[test]
fn bad_configs_give_config_errors_and_null_handle() {
    let cases: &[(&str, OkcStatus, &str)] = &[
        ("{", OKC_ERR_CONFIG, "config JSON"),
        ("[1,2]", OKC_ERR_CONFIG, "config JSON"),
        (r#"{"company_nam":"x"}"#, OKC_ERR_CONFIG, "unknown field"),
        (
            r#"{"transports":["bluetooth"]}"#,
            OKC_ERR_CONFIG,
            "unknown transport",
        ),
        (
            r#"{"transports":["tcp://nohost"]}"#,
            OKC_ERR_CONFIG,
            "expected host:port",
        ),
        (r#"{"log_level":"loud"}"#, OKC_ERR_CONFIG, "log_level"),
        (
            r#"{"text_encoding":"latin9"}"#,
            OKC_ERR_CONFIG,
            "text_encoding",
        ),
        (
            r#"{"max_payload_bytes":0}"#,
            OKC_ERR_CONFIG,
            "max_payload_bytes",
        ),
        (r#"{"fiscal_timeout_ms":-5}"#, OKC_ERR_CONFIG, "config JSON"),
    ];
    for (json, want, text) in cases {
        let mut h = 0x1234usize as *mut OkcHub;
        let j = c(json);
        let st = unsafe { okc_create(j.as_ptr(), &mut h) };
        assert_eq!(st, *want, "{json}");
        assert!(h.is_null(), "{json}: out must be NULL on failure");
        assert!(last_error().contains(text), "{json}: {}", last_error());
    }
}

#[test]
fn invalid_utf8_config_is_rejected() {
    let bytes = b"{\"company_name\":\"Caf\xe9\"}\0";
    let mut h = null_mut();
    let st = unsafe { okc_create(bytes.as_ptr() as *const c_char, &mut h) };
    assert_eq!(st, OKC_ERR_INVALID_UTF8);
    assert!(h.is_null());
    assert!(last_error().contains("not valid UTF-8"), "{}", last_error());
}

#[test]
fn ten_megabyte_config_is_too_large() {
    let mut big = String::from("{\"company_name\":\"");
    big.push_str(&"A".repeat(10 << 20));
    big.push_str("\"}");
    let j = c(&big);
    let mut h = null_mut();
    let st = unsafe { okc_create(j.as_ptr(), &mut h) };
    assert_eq!(st, OKC_ERR_TOO_LARGE);
    assert!(h.is_null());
    assert!(last_error().contains("65536 bytes"), "{}", last_error());
}

#[test]
fn string_free_ignores_null_and_foreign_pointers() {
    okc_string_free(null_mut());
    let mine = c("not from the library");
    let p = mine.into_raw() as usize;
    std::thread::spawn(move || {
        let p = p as *mut c_char;
        okc_string_free(p);
        assert!(
            last_error().contains("not returned by okclink"),
            "{}",
            last_error()
        );
        // Still ours to free, untouched.
        let back = unsafe { CString::from_raw(p) };
        assert_eq!(back.to_str().unwrap(), "not from the library");
    })
    .join()
    .unwrap();
}

#[test]
fn panics_are_caught_at_the_boundary() {
    std::thread::spawn(|| {
        okclink::ffi::inject_panic_once();
        assert_eq!(okc_reconnect(null_mut()), OKC_ERR_PANIC);
        assert!(last_error().contains("injected panic"), "{}", last_error());

        okclink::ffi::inject_panic_once();
        assert_eq!(okc_active_device_index(null_mut()), -1);
        assert!(last_error().contains("internal panic"), "{}", last_error());

        okclink::ffi::inject_panic_once();
        let mut h = 0x1234usize as *mut OkcHub;
        assert_eq!(unsafe { okc_create(null(), &mut h) }, OKC_ERR_PANIC);

        okclink::ffi::inject_panic_once();
        okc_string_free(null_mut()); // returns normally

        // The library keeps working after a caught panic.
        assert_eq!(okc_reconnect(null_mut()), OKC_ERR_BAD_HANDLE);
    })
    .join()
    .unwrap();
}

#[test]
fn config_json_maps_every_key() {
    use okclink::hub::{LogLevel, TextEncoding, TransportSpec};
    use std::time::Duration;
    let cfg = config_from_json(Some(
        r#"{"company_name":"Şirket Ğİ","transports":["serial"],"fiscal_timeout_ms":1234,
            "ack_timeout_ms":55,"disconnect_timeout_ms":777,"handshake_timeout_ms":999,"log_dir":"/tmp/x","log_level":"debug",
            "text_encoding":"utf-8","max_payload_bytes":4096}"#,
    ))
    .unwrap();
    assert_eq!(cfg.company_name, "Şirket Ğİ");
    if std::env::var_os("OKC_TRANSPORT").is_none() {
        assert!(matches!(cfg.transports.as_slice(), [TransportSpec::Serial]));
    }
    assert_eq!(cfg.fiscal_timeout, Duration::from_millis(1234));
    assert_eq!(cfg.ack_timeout, Duration::from_millis(55));
    assert_eq!(cfg.disconnect_timeout, Duration::from_millis(777));
    assert_eq!(cfg.handshake_timeout, Duration::from_millis(999));
    assert_eq!(cfg.log_dir.as_deref(), Some(std::path::Path::new("/tmp/x")));
    assert_eq!(cfg.log_level, LogLevel::Debug);
    assert_eq!(cfg.text_encoding, TextEncoding::Utf8);
    assert_eq!(cfg.max_payload, 4096);

    let d = config_from_json(None).unwrap();
    assert_eq!(d.company_name, "");
    assert_eq!(d.fiscal_timeout, Duration::from_millis(5000));
    assert_eq!(d.log_dir.as_deref(), Some(std::path::Path::new("./logs")));
    assert_eq!(d.text_encoding, TextEncoding::Cp1254);
    assert!(config_from_json(Some(r#"{"log_dir":null}"#))
        .unwrap()
        .log_dir
        .is_none());
    assert!(config_from_json(Some(r#"{"log_dir":""}"#))
        .unwrap()
        .log_dir
        .is_none());
}

// ---------------------------------------------------------------------------------------
// okc_vendor_*: the vendor's rules, decided once for every vendor-compatible layer.

/// `okc_vendor_send_basket`/`_payment` on raw bytes: (vendor code, status, last error).
fn vendor_send(h: *mut OkcHub, payment: bool, bytes: &[u8]) -> (i32, OkcStatus, String) {
    let mut st = OKC_ERR_INTERNAL;
    let p = bytes.as_ptr() as *const c_char;
    let code = unsafe {
        if payment {
            okc_vendor_send_payment(h, p, bytes.len(), &mut st)
        } else {
            okc_vendor_send_basket(h, p, bytes.len(), &mut st)
        }
    };
    (code, st, last_error())
}

/// `okc_vendor_fiscal_info` (UTF-8): (bytes, status).
fn vendor_fiscal(h: *mut OkcHub, timeout_ms: i32) -> (Vec<u8>, OkcStatus) {
    let mut st = OKC_ERR_INTERNAL;
    let p = unsafe { okc_vendor_fiscal_info(h, timeout_ms, false, &mut st) };
    assert!(!p.is_null());
    let b = unsafe { CStr::from_ptr(p) }.to_bytes().to_vec();
    okc_string_free(p);
    (b, st)
}

#[test]
fn vendor_functions_ignore_bad_handles() {
    let mut local = [0u8; 64];
    for h in [
        null_mut(),
        local.as_mut_ptr() as *mut OkcHub,
        0xdead_beef_usize as *mut OkcHub,
    ] {
        for payment in [false, true] {
            let (code, st, err) = vendor_send(h, payment, b"{}");
            assert_eq!((code, st), (0, OKC_ERR_BAD_HANDLE), "{h:p}: {err}");
        }
        assert_eq!(vendor_fiscal(h, 0), (Vec::new(), OKC_ERR_BAD_HANDLE));
        assert_eq!(
            okc_vendor_set_serial_in_callback(h, None, null_mut()),
            OKC_ERR_BAD_HANDLE
        );
        assert_eq!(
            okc_vendor_set_device_state_callback(h, None, null_mut()),
            OKC_ERR_BAD_HANDLE
        );
        // status_out may be NULL.
        let code = unsafe { okc_vendor_send_basket(h, c("{}").as_ptr(), 2, null_mut()) };
        assert_eq!(code, 0);
    }
    assert_eq!(local, [0u8; 64]);
    let mut h = 0x1234usize as *mut OkcHub;
    assert_eq!(
        unsafe { okc_vendor_create(null(), 0, null_mut()) },
        OKC_ERR_NULL
    );
    let big = vec![b'A'; 10 << 20];
    let st = unsafe { okc_vendor_create(big.as_ptr() as *const c_char, big.len(), &mut h) };
    assert_eq!(st, OKC_ERR_TOO_LARGE);
    assert!(h.is_null());
}

/// A hub whose only transport is a closed loopback port: never a device.
fn create_no_device(extra: &str) -> *mut OkcHub {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = c(&format!(
        r#"{{"transports":["tcp://127.0.0.1:{port}"],"log_dir":""{extra}}}"#
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

#[test]
fn vendor_send_codes_without_a_device() {
    let h = create_no_device(r#","max_payload_bytes":64"#);
    for payment in [false, true] {
        // Valid JSON, UTF-8 or Windows-1254: no device → vendor 0.
        let (code, st, err) = vendor_send(h, payment, "{\"name\":\"Şeker\"}".as_bytes());
        assert_eq!((code, st), (0, OKC_ERR_NO_DEVICE), "{err}");
        assert!(err.contains("no active device"), "{err}");
        let (code, st, _) = vendor_send(h, payment, b"{\"name\":\"\xDEeker\"}");
        assert_eq!((code, st), (0, OKC_ERR_NO_DEVICE));
        // Bad JSON, a NUL byte inside, too large, NULL: 0 as well, each with its status.
        let (code, st, _) = vendor_send(h, payment, b"{\"items\":");
        assert_eq!((code, st), (0, OKC_ERR_INVALID_JSON));
        let (code, st, err) = vendor_send(h, payment, b"{}\0{\"basketID\":\"b\"}");
        assert_eq!((code, st), (0, OKC_ERR_INVALID_JSON));
        assert!(err.contains("NUL"), "{err}");
        let (code, st, _) = vendor_send(h, payment, &[b' '; 65]);
        assert_eq!((code, st), (0, OKC_ERR_TOO_LARGE));
        let mut st = OKC_OK;
        let code = unsafe { okc_vendor_send_basket(h, null(), 0, &mut st) };
        assert_eq!((code, st), (0, OKC_ERR_NULL));
    }
    assert_eq!(okc_destroy(h), OKC_OK);
    // After destroy: a stale handle, still 0.
    assert_eq!(vendor_send(h, false, b"{}").1, OKC_ERR_BAD_HANDLE);
}

#[test]
fn vendor_fiscal_info_without_a_device_is_empty() {
    let h = create_no_device("");
    let t0 = std::time::Instant::now();
    assert_eq!(vendor_fiscal(h, -1), (Vec::new(), OKC_ERR_NO_DEVICE));
    assert!(t0.elapsed() < std::time::Duration::from_secs(2));
    // With the vendor_text flag: the same "".
    let mut st = OKC_OK;
    let p = unsafe { okc_vendor_fiscal_info(h, 0, true, &mut st) };
    assert_eq!(unsafe { CStr::from_ptr(p) }.to_bytes(), b"");
    assert_eq!(st, OKC_ERR_NO_DEVICE);
    okc_string_free(p);
    assert_eq!(okc_destroy(h), OKC_OK);
}

#[test]
fn vendor_text_setting_is_a_config_key() {
    for (v, ok) in [
        ("utf8", true),
        ("cp1254", true),
        ("Windows-1254", true),
        ("latin1", false),
    ] {
        let j = c(&format!(
            r#"{{"vendor_text":"{v}","transports":["tcp://127.0.0.1:9"],"log_dir":""}}"#
        ));
        let mut h = null_mut();
        let st = unsafe { okc_create(j.as_ptr(), &mut h) };
        if ok {
            assert_eq!(st, OKC_OK, "{v}: {}", last_error());
            assert_eq!(okc_destroy(h), OKC_OK);
        } else {
            assert_eq!(st, OKC_ERR_CONFIG, "{v}");
            assert!(last_error().contains("vendor_text"), "{}", last_error());
        }
    }
}
