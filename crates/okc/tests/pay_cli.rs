//! `okc pay` / `okc refund` / `okc terminal …` as processes against `okc sim-terminal --nexo`.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::{http, serve, Server as Term};

/// The journal of the `okc` processes of one simulator (never ./logs: a reference from an
/// earlier run would be "known").
fn journal_of(t: &Term) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pay_cli");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!(
        "{}-{}.sqlite",
        std::process::id(),
        t.addr.replace([':', '.'], "_")
    ));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
    }
    p
}

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
    okc_in(t, &journal_of(t), args)
}

fn okc_in(t: &Term, journal: &PathBuf, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_okc"))
        .args(args)
        .env(
            "OKC_TERMINAL",
            format!("nexo+http://{}?poiid=CLI-POS", t.addr),
        )
        .env("OKC_JOURNAL", journal)
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
        .args(["--journal", "off"])
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
    okc_gptom_in(t, &journal_of(t), args)
}

fn okc_gptom_in(t: &Term, journal: &PathBuf, args: &[&str]) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_okc"))
        .args(args)
        .args(["--terminal", &format!("gptom+http://{}?tid=123456", t.addr)])
        .env_remove("OKC_TERMINAL")
        .env("OKC_JOURNAL", journal)
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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn pay_twice_with_one_reference_is_one_charge() {
    let t = terminal(&[]);
    let journal = journal_of(&t);
    let args = [
        "pay",
        "5.00",
        "--currency",
        "SEK",
        "--reference",
        "dup-1",
        "--json",
    ];
    let first = okc_in(&t, &journal, &args);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let second = okc_in(&t, &journal, &args);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("nothing was sent"),
        "{}",
        stderr(&second)
    );
    let (a, b) = (last_json(&first), last_json(&second));
    assert_eq!(a["transactionId"], b["transactionId"]);
    assert_eq!(a["approved"], true);
    // The journal: one entry, handed over once.
    let o = Command::new(env!("CARGO_BIN_EXE_okc"))
        .args(["journal", "show", "dup-1", "--json", "--journal"])
        .arg(&journal)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let e = last_json(&o);
    assert_eq!(
        (e["state"].as_str(), e["attempts"].as_i64()),
        (Some("answered"), Some(1)),
        "{e}"
    );
    // Another amount with the same reference: refused (bad input), nothing sent.
    let o = okc_in(
        &t,
        &journal,
        &["pay", "6.00", "--currency", "SEK", "--reference", "dup-1"],
    );
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
}

fn gptom_creates(t: &Term) -> Vec<Value> {
    let (code, body) = http(&t.addr, "GET", "/_sim/requests", &[], "");
    assert_eq!(code, 200);
    let all: Vec<Value> = serde_json::from_str(&body).unwrap();
    all.into_iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/v1/tasks/TRANSACTION")
        .collect()
}

#[test]
fn gptom_pay_twice_is_one_task_and_in_doubt_exits_8() {
    let t = gptom_terminal(&[]);
    let journal = journal_of(&t);
    let args = [
        "pay",
        "2.00",
        "--currency",
        "CZK",
        "--reference",
        "D1",
        "--json",
    ];
    let first = okc_gptom_in(&t, &journal, &args);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let second = okc_gptom_in(&t, &journal, &args);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert_eq!(
        last_json(&first)["transactionId"],
        last_json(&second)["transactionId"]
    );
    assert_eq!(gptom_creates(&t).len(), 1, "one task");

    // A task that hangs: the first call gives up (4), the next ones are in doubt (8) and
    // never create a second task; once the device finishes it, the result (0).
    let (code, _) = http(&t.addr, "POST", "/_sim/config?outcome=stuck", &[], "");
    assert_eq!(code, 200);
    let args = [
        "pay",
        "3.00",
        "--currency",
        "CZK",
        "--reference",
        "D2",
        "--gptom-in-progress-limit-ms",
        "400",
        "--json",
    ];
    let o = okc_gptom_in(&t, &journal, &args);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let o = okc_gptom_in(&t, &journal, &args);
    assert_eq!(o.status.code(), Some(8), "{}", stderr(&o));
    assert!(stderr(&o).contains("in doubt"), "{}", stderr(&o));
    assert_eq!(gptom_creates(&t).len(), 2, "D2 created once");
    let (_, tasks) = http(&t.addr, "GET", "/_sim/tasks", &[], "");
    let tasks: Vec<Value> = serde_json::from_str(&tasks).unwrap();
    let id = tasks
        .iter()
        .find(|x| x["request"]["originReferenceNum"] == "D2")
        .and_then(|x| x["id"].as_str())
        .unwrap()
        .to_string();
    let (code, _) = http(
        &t.addr,
        "POST",
        &format!("/_sim/tasks/{id}/finish?outcome=approve"),
        &[],
        "",
    );
    assert_eq!(code, 200);
    let o = okc_gptom_in(&t, &journal, &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(last_json(&o)["approved"], true);
    assert_eq!(gptom_creates(&t).len(), 2, "never a second task for D2");
}
