//! `okc serve` as a process: starts, answers /healthz, stops with exit 0 on SIGTERM; a
//! non-loopback address without a token refuses to start (exit 7, a clear message).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{http, serve};

#[cfg(unix)]
#[test]
fn serve_starts_answers_and_stops_on_sigterm() {
    let mut s = serve(&["serve", "--listen", "127.0.0.1:0", "--transport", "sim"]);
    let (code, body) = http(&s.addr, "GET", "/healthz", &[], "");
    assert_eq!((code, body.as_str()), (200, r#"{"status":"ok"}"#));
    let (code, body) = http(&s.addr, "GET", "/v1/status", &[], "");
    assert_eq!(code, 200);
    assert!(body.contains(r#""transport":"sim:x30tr""#), "{body}");
    let pid = s.child.id().to_string();
    let k = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(k.success());
    let end = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < end, "okc serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_public_address_without_a_token_refuses_to_start() {
    let o = Command::new(env!("CARGO_BIN_EXE_okc"))
        .args(["serve", "--listen", "0.0.0.0:0", "--no-fiscal"])
        .env_remove("OKC_SERVE_TOKEN")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(7));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("without an API token"), "{err}");
    assert!(err.contains("OKC_SERVE_TOKEN"), "{err}");
    let o = Command::new(env!("CARGO_BIN_EXE_okc"))
        .args(["serve", "--bogus"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let o = Command::new(env!("CARGO_BIN_EXE_okc"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("okc serve [--listen"));
}
