//! REST over loopback against the in-process ÖKC simulator: status, fiscal info, baskets
//! (idempotent by basketID: each printed once), receipts, problem documents for bad input.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_fiscal_info_and_an_idempotent_basket() {
    let j = journal("rest");
    let s = start(json!({"fiscal": {"transport": "sim", "journal": j.display().to_string()}}));
    let c = client();
    let h: Value = get_json(&c, &s, "/healthz").await;
    assert_eq!(h, json!({"status": "ok"}));
    let r = c.get(url(&s, "/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let st = connected(&c, &s).await;
    assert_eq!(st["fiscal"]["transport"], "sim:x30tr");
    assert_eq!(st["fiscal"]["model"], "X30TR");
    assert_eq!(st["fiscal"]["serial"], "AV0000000001");
    assert_eq!(st["payment"], Value::Null);
    assert_eq!(st["energy"], Value::Null);
    assert_eq!(st["journal"]["unfinished"], 0);
    assert_eq!(st["version"], env!("CARGO_PKG_VERSION"));

    let fi = c.get(url(&s, "/v1/fiscal/info")).send().await.unwrap();
    assert_eq!(fi.status(), 200);
    let fi: Value = fi.json().await.unwrap();
    assert!(fi["plus"].as_array().is_some_and(|p| !p.is_empty()), "{fi}");

    // With ?wait: the sale info in the answer.
    let r = post_basket(&c, &s, "/v1/fiscal/baskets?wait=20", "rest-1").await;
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["basketID"], "rest-1");
    assert_eq!(b["state"], "answered");
    assert_eq!(b["attempts"], 1);
    assert_eq!(b["saleInfo"]["status"], 0);
    assert!(b["saleInfo"]["receiptNo"].as_i64().is_some());
    // Again: known, answered from the journal, not sent.
    let r = post_basket(&c, &s, "/v1/fiscal/baskets", "rest-1").await;
    assert_eq!(r.status(), 200);
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["saleInfo"], b["saleInfo"]);

    // Without wait: 202, Location, then GET it.
    let r = post_basket(&c, &s, "/v1/fiscal/baskets", "rest/2 ü").await;
    assert_eq!(r.status(), 202);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(loc, "/v1/fiscal/baskets/rest%2F2%20%C3%BC");
    let a: Value = r.json().await.unwrap();
    assert_eq!(
        a,
        json!({"basketID": "rest/2 ü", "state": "sent", "url": loc})
    );
    let mut got = Value::Null;
    for _ in 0..200 {
        got = get_json(&c, &s, &loc).await;
        if got["state"] == "answered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(got["state"], "answered", "{got}");
    assert_eq!(got["basketID"], "rest/2 ü");

    let r = c
        .get(url(&s, "/v1/fiscal/baskets/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["code"], "unknown-basket");
    assert_eq!(p["status"], 404);
    assert_eq!(p["type"], "https://okclink.dev/problems/unknown-basket");

    let rc: Value = get_json(&c, &s, "/v1/fiscal/receipts?limit=10").await;
    let ids: Vec<&str> = rc["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["basketID"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["rest/2 ü", "rest-1"], "newest first");
    assert_eq!(rc["receipts"][1]["total"], 1500);
    assert_eq!(rc["receipts"][1]["status"], 0);

    // The journal route shows the basket with its history.
    let l: Value = get_json(&c, &s, "/v1/journal?kind=basket").await;
    let first = &l["entries"][0];
    assert_eq!(first["key"], "rest-1");
    let e: Value = get_json(&c, &s, &format!("/v1/journal/{}", first["id"])).await;
    assert!(e["history"].as_array().is_some_and(|h| h.len() >= 2), "{e}");

    let mut p = printed(&s);
    p.sort();
    assert_eq!(p, ["rest-1", "rest/2 ü"], "each basket printed once");
    stop(s);
}

async fn problem(r: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status(), status);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["code"], code, "{p}");
    assert_eq!(p["status"], status);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_problem_documents() {
    let s = start(json!({"max_body_bytes": 4096, "fiscal": {"transport": "sim"}}));
    let c = client();
    let post = |body: String| {
        c.post(url(&s, "/v1/fiscal/baskets"))
            .header("content-type", "application/json")
            .body(body)
    };
    problem(
        post("{bad".into()).send().await.unwrap(),
        400,
        "invalid-json",
    )
    .await;
    problem(
        post(String::new()).send().await.unwrap(),
        400,
        "invalid-json",
    )
    .await;
    problem(
        post("[1,2]".into()).send().await.unwrap(),
        400,
        "bad-request",
    )
    .await;
    problem(
        post(r#"{"basketID": 5}"#.into()).send().await.unwrap(),
        400,
        "bad-request",
    )
    .await;
    let big = json!({"basketID": "big", "pad": "x".repeat(10_000)}).to_string();
    problem(post(big).send().await.unwrap(), 413, "payload-too-large").await;
    let r = c
        .post(url(&s, "/v1/fiscal/baskets"))
        .body(vec![0xff, 0xfe])
        .send()
        .await
        .unwrap();
    problem(r, 400, "invalid-json").await;
    let r = post_basket(&c, &s, "/v1/fiscal/baskets?wait=-1", "w").await;
    problem(r, 400, "bad-request").await;
    let r = post_basket(&c, &s, "/v1/fiscal/baskets?wait=abc", "w").await;
    problem(r, 400, "bad-request").await;
    problem(
        c.get(url(&s, "/nope")).send().await.unwrap(),
        404,
        "not-found",
    )
    .await;
    problem(
        c.delete(url(&s, "/v1/status")).send().await.unwrap(),
        405,
        "method-not-allowed",
    )
    .await;
    problem(
        c.get(url(&s, "/v1/journal/12")).send().await.unwrap(),
        503,
        "not-configured",
    )
    .await;
    let r = c
        .post(url(&s, "/v1/payment/sales"))
        .json(&json!({"amount": 100, "reference": "r-1"}))
        .send()
        .await
        .unwrap();
    problem(r, 503, "not-configured").await;
    problem(
        c.get(url(&s, "/v1/energy/orders")).send().await.unwrap(),
        503,
        "not-configured",
    )
    .await;
    problem(
        c.get(url(&s, "/console/../../etc/passwd"))
            .send()
            .await
            .unwrap(),
        404,
        "not-found",
    )
    .await;
    // Still serving.
    assert_eq!(
        c.get(url(&s, "/healthz")).send().await.unwrap().status(),
        200
    );
    stop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_fiscal_device_fiscal_paths_are_not_configured() {
    let s = start(json!({}));
    let c = client();
    let st: Value = get_json(&c, &s, "/v1/status").await;
    assert_eq!(st["fiscal"], Value::Null);
    let r = c.get(url(&s, "/v1/fiscal/info")).send().await.unwrap();
    problem(r, 503, "not-configured").await;
    let r = post_basket(&c, &s, "/v1/fiscal/baskets", "x").await;
    problem(r, 503, "not-configured").await;
    // The console and its assets are served from the binary.
    let r = c.get(url(&s, "/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = r.text().await.unwrap();
    for id in [
        "fiscal-serial",
        "receipts",
        "send-test-basket",
        "run-test-payment",
        "events",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    let r = c.get(url(&s, "/console/console.js")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    stop(s);
}

/// `/readyz` says ready only once the journal's start-up recovery is over: a basket an
/// earlier process left sent without an answer has its recovered state by then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_only_after_the_start_up_recovery() {
    use okclink::journal::{Begin, Journal, Kind};
    let j = journal("ready");
    {
        let jr = Journal::open(&j).unwrap();
        let b = basket("left-1").to_string();
        let Begin::New(id) = jr.begin(Kind::Basket, "left-1", "wired", &b).unwrap() else {
            panic!("new")
        };
        jr.mark_sent(id).unwrap();
    }
    let s = start(json!({"fiscal": {"transport": "sim", "journal": j.display().to_string()}}));
    let c = client();
    let end = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = c.get(url(&s, "/readyz")).send().await.unwrap();
        if r.status() == 200 {
            assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": "ready"}));
            break;
        }
        assert_eq!(r.status(), 503);
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["code"], "not-ready", "{p}");
        assert!(std::time::Instant::now() < end, "never ready: {p}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(s.app().recovered());
    // Ready means recovered: the basket is no longer just "sent".
    let b = get_json(&c, &s, "/v1/fiscal/baskets/left-1").await;
    assert_eq!(b["state"], "in_doubt", "{b}");
    assert!(printed(&s).is_empty(), "not sent again");
    stop(s);
}

/// While the payment terminal's start-up recovery cannot finish (the terminal takes the
/// connection and never answers), `/readyz` is 503 `not-ready`; once the terminal goes away
/// the recovery's request fails, the recovery ends and `/readyz` says ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_while_the_payment_recovery_runs() {
    use okclink::journal::{Begin, Journal, Kind, State};
    // A "terminal" that accepts connections (the kernel's backlog) and never answers.
    let hold = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hold.local_addr().unwrap().port();
    let j = journal("ready-pay");
    {
        let jr = Journal::open(&j).unwrap();
        let req = json!({"kind": "payment", "amount": 100, "currency": "TRY",
                         "reference": "R-LEFT"})
        .to_string();
        let scope = format!("okclink-pos@127.0.0.1:{port}");
        let Begin::New(id) = jr.begin(Kind::Payment, "R-LEFT", &scope, &req).unwrap() else {
            panic!("new")
        };
        jr.mark_sent(id).unwrap();
    }
    let s = start(
        json!({"payment": {"terminal": format!("nexo+http://127.0.0.1:{port}"),
                                     "journal": j.display().to_string()}}),
    );
    let c = client();
    for _ in 0..3 {
        let r = c.get(url(&s, "/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 503);
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["code"], "not-ready", "{p}");
        assert!(p["detail"].as_str().unwrap().contains("recovery"), "{p}");
    }
    assert!(!s.app().recovered());
    let st = get_json(&c, &s, "/healthz").await;
    assert_eq!(st, json!({"status": "ok"}), "alive meanwhile");
    // The terminal goes away: its queued connection is reset, the recovery ends.
    drop(hold);
    let end = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let r = c.get(url(&s, "/readyz")).send().await.unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(std::time::Instant::now() < end, "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(s.app().recovered());
    let e = Journal::shared(&j)
        .unwrap()
        .get(Kind::Payment, "R-LEFT")
        .unwrap()
        .unwrap();
    assert_ne!(e.state, State::Sent, "recovered: {e:?}");
    stop(s);
}
