//! `okc pay` / `okc refund` / `okc terminal …` as processes against `okc sim-terminal --nexo`.

use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::{serve, Server as Term};

fn terminal(extra: &[&str]) -> Term {
    let fixed = [
        "sim-terminal",
        "--nexo",
        "--listen",
        "127.0.0.1:0",
        "--payment-ms",
        "100",
        "--busy-ms",
        "200",
    ];
    serve(&[&fixed[..], extra].concat())
}

fn okc(t: &Term, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_okc"))
        .args(args)
        .env(
            "OKC_TERMINAL",
            format!("nexo+http://{}?poiid=CLI-POS", t.addr),
        )
        .output()
        .unwrap()
}

fn last_json(o: &Output) -> Value {
    let text = String::from_utf8_lossy(&o.stdout);
    let last = text
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no output; stderr {}", String::from_utf8_lossy(&o.stderr)));
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{last:?}: {e}"))
}

#[test]
fn pay_refund_reverse_and_decline() {
    let t = terminal(&[]);
    let o = okc(
        &t,
        &[
            "pay",
            "12.50",
            "--currency",
            "SEK",
            "--reference",
            "cli-1",
            "--json",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r = last_json(&o);
    assert_eq!(r["approved"], true);
    assert_eq!(
        (r["amount"].as_i64(), r["currency"].as_str()),
        (Some(1250), Some("SEK"))
    );
    assert!(r["transactionId"].is_string());
    assert!(!r["receipts"]["customer"].as_array().unwrap().is_empty());
    // Reverse it from another process: the terminal is asked for its last transaction.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let o = okc(&t, &["terminal", "reverse-last", "--json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(last_json(&o)["kind"], "reversal");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let o = okc(&t, &["refund", "3", "--currency", "SEK", "--json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(last_json(&o)["kind"], "refund");
    // Bad input and usage.
    assert_eq!(okc(&t, &["pay", "1,50"]).status.code(), Some(6));
    assert_eq!(okc(&t, &["pay"]).status.code(), Some(1));
    assert_eq!(okc(&t, &["terminal", "batch-close"]).status.code(), Some(3));
    let declining = terminal(&["--outcome", "decline"]);
    let o = okc(&declining, &["pay", "9.99", "--currency", "SEK", "--json"]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(last_json(&o)["approved"], false);
    let o = Command::new(env!("CARGO_BIN_EXE_okc"))
        .args(["pay", "1", "--terminal", "nexo+http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// `pos-cli:pos-secret` in Base64: the simulator's client Basic; the client gets the pair.
const GPTOM_BASIC_B64: &str = "cG9zLWNsaTpwb3Mtc2VjcmV0";
const GPTOM_PASSWORD: &str = "cli-gptom-secret-pw";

fn gptom_terminal(extra: &[&str]) -> Term {
    let fixed = [
        "sim-terminal",
        "--gptom",
        "--listen",
        "127.0.0.1:0",
        "--client-basic",
        GPTOM_BASIC_B64,
        "--task-ms",
        "100",
    ];
    serve(&[&fixed[..], extra].concat())
}

fn okc_gptom(t: &Term, args: &[&str]) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_okc"))
        .args(args)
        .args(["--terminal", &format!("gptom+http://{}?tid=123456", t.addr)])
        .env_remove("OKC_TERMINAL")
        .env("OKC_GPTOM_USERNAME", "cli-shop")
        .env("OKC_GPTOM_PASSWORD", GPTOM_PASSWORD)
        .env("OKC_GPTOM_BASIC", "pos-cli:pos-secret")
        .output()
        .unwrap();
    for text in [&o.stdout, &o.stderr] {
        assert!(
            !String::from_utf8_lossy(text).contains(GPTOM_PASSWORD),
            "the password leaked: {}",
            String::from_utf8_lossy(text)
        );
    }
    o
}

#[test]
fn gptom_pay_reverse_batch_close_and_decline() {
    let t = gptom_terminal(&[]);
    let o = okc_gptom(&t, &["pay", "12.50", "--currency", "CZK", "--json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r = last_json(&o);
    assert_eq!(r["approved"], true, "{r}");
    assert_eq!(
        (r["amount"].as_i64(), r["currency"].as_str()),
        (Some(1250), Some("CZK"))
    );
    // Another process cancels it: the last sale is read from the cloud.
    let o = okc_gptom(&t, &["terminal", "reverse-last", "--json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        last_json(&o)["kind"],
        "reversal",
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = okc_gptom(&t, &["terminal", "batch-close"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let declining = gptom_terminal(&["--outcome", "decline"]);
    let o = okc_gptom(&declining, &["pay", "9.99", "--currency", "CZK", "--json"]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(last_json(&o)["approved"], false);
}
