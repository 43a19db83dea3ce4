//! `okc sim-cloud` as a process: the ready line, auth over plain HTTP/1.1, the control API.

use std::process::Command;

mod common;

fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    common::http(addr, method, path, headers, "")
}

#[test]
fn serves_the_cloud_until_killed() {
    let sim = common::serve(&[
        "sim-cloud",
        "--listen",
        "127.0.0.1:0",
        "--user",
        "me:pw",
        "--base",
        "/api",
    ]);
    let addr = sim.addr.clone();
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
    drop(sim);
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
