//! `okc sim-cloud` as a process: the ready line, auth over plain HTTP/1.1, the control API.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

/// One HTTP/1.1 request (connection closed after it): (status code, body).
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n"
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let code = out[9..12].parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

#[test]
fn serves_the_cloud_until_killed() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_okc"))
        .args([
            "sim-cloud",
            "--listen",
            "127.0.0.1:0",
            "--user",
            "me:pw",
            "--base",
            "/api",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("ready line: {line:?}"))
        .to_string();
    // me:pw in base64
    let (code, body) = http(
        &addr,
        "POST",
        "/api/v1/auth/token",
        &[("Authorization", "Basic bWU6cHc=")],
    );
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], 201);
    assert_eq!(v["result"]["tokenType"], "Bearer");
    let (code, _) = http(
        &addr,
        "POST",
        "/api/v1/auth/token",
        &[("Authorization", "Basic d3Jvbmc6cHc=")],
    );
    assert_eq!(code, 401);
    let (code, body) = http(&addr, "GET", "/api/_sim/requests", &[]);
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["path"], "/v1/auth/token");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn help_and_usage_errors() {
    let okc = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_okc"))
            .args(args)
            .output()
            .unwrap()
    };
    let h = okc(&["sim-cloud", "--help"]);
    assert!(h.status.success());
    assert!(String::from_utf8_lossy(&h.stdout).contains("/_sim/baskets/{id}/complete"));
    assert_eq!(okc(&["sim-cloud"]).status.code(), Some(1));
    assert_eq!(
        okc(&["sim-cloud", "--listen", "127.0.0.1:0", "--outcome", "x"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        okc(&["sim-cloud", "--listen", "256.0.0.1:1"]).status.code(),
        Some(7)
    );
    assert!(
        String::from_utf8_lossy(&okc(&["help"]).stderr).contains("sim-cloud")
            || String::from_utf8_lossy(&okc(&["help"]).stdout).contains("sim-cloud")
    );
}
