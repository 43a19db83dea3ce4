//! `okc_vendor_create` (the vendor `createCommunication` rule): the company name's bytes are
//! decided in Rust (valid UTF-8 as is, anything else read as Windows-1254), then the `OKC_*`
//! environment. Its own test binary: it sets the process environment.

use std::ffi::{c_char, CStr};

use okclink::ffi::okc::*;
use okclink::ffi::OkcStatus::*;

fn last_error() -> String {
    unsafe { CStr::from_ptr(okc_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn create(name: &[u8]) -> (okclink::ffi::OkcStatus, *mut OkcHub) {
    let mut h = 0x1234usize as *mut OkcHub;
    let st = unsafe { okc_vendor_create(name.as_ptr() as *const c_char, name.len(), &mut h) };
    (st, h)
}

#[test]
fn company_name_bytes_and_environment() {
    let dir = std::env::temp_dir().join(format!("okc-vendor-create-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // The only test of this binary: nothing else reads the environment concurrently.
    std::env::set_var("OKC_TRANSPORT", format!("tcp://127.0.0.1:{port}"));
    std::env::set_var("OKC_LOG_DIR", &dir);
    for name in [
        &b"\xDEirket \xDDstanbul \xD0\xFDda"[..],
        "Şirket UTF-8 Ğıda".as_bytes(),
    ] {
        let (st, h) = create(name);
        assert_eq!(st, OKC_OK, "{}", last_error());
        assert!(!h.is_null());
        // A vendor handle: no device → the vendor's 0 and "".
        let mut s = OKC_OK;
        let code = unsafe { okc_vendor_send_basket(h, b"{}".as_ptr() as *const c_char, 2, &mut s) };
        assert_eq!((code, s), (0, OKC_ERR_NO_DEVICE));
        assert_eq!(okc_destroy(h), OKC_OK);
    }
    let log: String = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(log.contains("company \"Şirket İstanbul Ğıda\""), "{log}");
    assert!(log.contains("company \"Şirket UTF-8 Ğıda\""), "{log}");
    // An environment value the one parser refuses: OKC_ERR_CONFIG, *out NULL.
    std::env::set_var("OKC_VENDOR_TEXT", "latin1");
    let (st, h) = create(b"x");
    assert_eq!(st, OKC_ERR_CONFIG);
    assert!(h.is_null());
    assert!(last_error().contains("OKC_VENDOR_TEXT"), "{}", last_error());
    std::env::remove_var("OKC_VENDOR_TEXT");
    let _ = std::fs::remove_dir_all(&dir);
}
