//! `okc sim-terminal --gptom` as a process: the ready line, a login and a sale over plain
//! HTTP/1.1, the control API (assisted mode: the tap), help and usage errors.
//! (`--nexo` as a process: tests/pay_cli.rs.)

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

/// base64 of `gptom-client:gptom-secret` (the simulator's default client credential).
const BASIC: &str = "Z3B0b20tY2xpZW50OmdwdG9tLXNlY3JldA==";

mod common;
use common::{serve, Server};

/// One HTTP/1.1 request: (status code, JSON body or Null).
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let (code, body) = common::http(addr, method, path, headers, body);
    (code, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn start(extra: &[&str]) -> (Server, String) {
    let args = [
        &["sim-terminal", "--gptom", "--listen", "127.0.0.1:0"],
        extra,
    ]
    .concat();
    let s = serve(&args);
    let addr = s.addr.clone();
    (s, addr)
}

fn login(addr: &str, form: &str) -> (u16, Value) {
    http(
        addr,
        "POST",
        "/cloud/oauth/token",
        &[
            ("Authorization", &format!("Basic {BASIC}")),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        form,
    )
}

#[test]
fn serves_gptom_until_killed() {
    let (_sim, addr) = start(&["--mode", "assisted", "--task-ms", "50"]);
    // Any credentials are accepted without --user.
    let (code, v) = login(
        &addr,
        "grant_type=password&username=any&password=thing&tid=999888",
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["tid"], "999888");
    let bearer = format!("Bearer {}", v["access_token"].as_str().unwrap());
    let (code, v) = http(
        &addr,
        "POST",
        "/v1/tasks/TRANSACTION",
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json"),
        ],
        r#"{"transactionType":"SALE","amount":5025,"originReferenceNum":"Invoice 1"}"#,
    );
    assert_eq!(code, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["state"], "QUEUED");
    let (code, v) = http(&addr, "POST", &format!("/_sim/tasks/{id}/tap"), &[], "");
    assert_eq!((code, &v["ok"]), (200, &Value::Bool(true)));
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let (code, v) = http(
            &addr,
            "GET",
            &format!("/v1/tasks/{id}"),
            &[("Authorization", &bearer)],
            "",
        );
        assert_eq!(code, 200);
        if v["state"] == "COMPLETED" {
            assert_eq!(v["transaction"]["result"], 0);
            break;
        }
        assert!(Instant::now() < end, "{v}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, v) = http(&addr, "GET", "/_sim/requests", &[], "");
    assert_eq!(v.as_array().unwrap()[0]["path"], "/cloud/oauth/token");
}

#[test]
fn only_the_configured_users() {
    let (_sim, addr) = start(&["--user", "shop:pw:999888"]);
    assert_eq!(
        login(&addr, "grant_type=password&username=any&password=thing").0,
        400
    );
    let (code, v) = login(&addr, "grant_type=password&username=shop&password=pw");
    assert_eq!((code, v["tid"].as_str()), (200, Some("999888")));
}

#[test]
fn help_and_usage_errors() {
    let okc = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_okc"))
            .args(args)
            .output()
            .unwrap()
    };
    let h = okc(&["sim-terminal", "--help"]);
    assert!(h.status.success());
    let text = String::from_utf8_lossy(&h.stdout);
    assert!(
        text.contains("--gptom") && text.contains("/_sim/tasks/{id}/tap"),
        "{text}"
    );
    assert_eq!(okc(&["sim-terminal", "--gptom"]).status.code(), Some(1));
    assert_eq!(
        okc(&[
            "sim-terminal",
            "--gptom",
            "--listen",
            "127.0.0.1:0",
            "--outcome",
            "signature"
        ])
        .status
        .code(),
        Some(1)
    );
    assert_eq!(
        okc(&["sim-terminal", "--gptom", "--listen", "256.0.0.1:1"])
            .status
            .code(),
        Some(7)
    );
    let help = okc(&["help"]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&help.stdout),
        String::from_utf8_lossy(&help.stderr)
    );
    assert!(all.contains("sim-terminal --nexo|--gptom"), "{all}");
}
