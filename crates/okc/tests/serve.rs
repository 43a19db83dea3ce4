//! `okc serve` as a process: starts, answers /healthz, stops with exit 0 on SIGTERM; a
//! non-loopback address without a token refuses to start (exit 7, a clear message).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[cfg(unix)]
#[test]
fn serve_starts_answers_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_okc"))
        .args(["serve", "--listen", "127.0.0.1:0", "--transport", "sim"])
        .env_remove("OKC_SERVE_TOKEN")
        .env_remove("OKC_JOURNAL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("okc serve: listening on http://")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_string();
    let r = get(&addr, "/healthz");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.ends_with(r#"{"status":"ok"}"#), "{r}");
    let r = get(&addr, "/v1/status");
    assert!(r.contains(r#""transport":"sim:x30tr""#), "{r}");
    let pid = child.id().to_string();
    let k = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(k.success());
    let end = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("okc serve did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains("SIGTERM"), "{err}");
    assert!(err.contains("no journal"), "{err}");
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
