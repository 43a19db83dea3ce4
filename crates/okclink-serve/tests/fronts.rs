//! The other fronts under serve: the nexo terminal simulator (payments, its POS listener's
//! events on /events), the TokenX cloud simulator (baskets through the cloud, the webhook
//! receiver in the same process), and the OpenAPI document.

mod common;

use std::time::Duration;

use common::*;
use okclink_sim::{CloudConfig, CloudSim};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_through_the_nexo_simulator() {
    let j = journal("pay");
    let s = start(json!({
        "fiscal": {"transport": "sim", "journal": j.display().to_string()},
        "payment": {"terminal": "sim"}
    }));
    let c = client();
    let st: Value = get_json(&c, &s, "/v1/status").await;
    assert_eq!(st["payment"]["state"], "ready");
    let mut ev = Events::open(&c, &s, None).await;
    let sale = json!({"amount": 100, "currency": "TRY", "reference": "pay-1"});
    let r = c
        .post(url(&s, "/v1/payment/sales"))
        .json(&sale)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["approved"], true, "{p}");
    assert_eq!(p["amount"], 100);
    assert_eq!(p["reference"], "pay-1");
    let seen = ev.until(WAIT, |e| e.event == "payment-result").await;
    assert_eq!(seen.last().unwrap().data["reference"], "pay-1");
    // The same reference again: the recorded result, nothing sent.
    let again: Value = c
        .post(url(&s, "/v1/payment/sales"))
        .json(&sale)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["transactionId"], p["transactionId"]);
    let sim = s.app().payment.as_ref().unwrap().sim.as_ref().unwrap();
    let payments = sim
        .lock()
        .transactions()
        .iter()
        .filter(|t| t.kind == "Payment")
        .count();
    assert_eq!(payments, 1, "paid once");
    let t = c
        .get(url(&s, "/v1/payment/transactions/pay-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(t.status(), 200);
    // Bad input is a problem, not a payment.
    let r = c
        .post(url(&s, "/v1/payment/sales"))
        .json(&json!({"amount": -5, "reference": "pay-2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .post(url(&s, "/v1/payment/sales"))
        .json(&json!({"amount": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    stop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baskets_through_the_cloud_simulator_and_its_webhook() {
    let cloud = std::thread::spawn(|| CloudSim::start(CloudConfig::default(), "127.0.0.1:0"))
        .join()
        .unwrap()
        .expect("cloud simulator");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let j = journal("cloud");
    let s = start(json!({"fiscal": {
        "transport": format!("tokenx+{}?terminal-id=AV00000000001", cloud.url()),
        "journal": j.display().to_string(),
        "tokenx_client_id": "integrator-1",
        "tokenx_client_secret": "integrator-secret",
        "tokenx_webhook_listen": format!("127.0.0.1:{port}"),
        "tokenx_callback_url": format!("http://127.0.0.1:{port}/tokenx/hook"),
        "tokenx_callback_auth": "Bearer hook-secret-42"
    }}));
    let c = client();
    let st = connected(&c, &s).await;
    assert_eq!(st["fiscal"]["model"], "cloud");
    assert!(!st.to_string().contains("integrator-secret"));
    let mut ev = Events::open(&c, &s, None).await;
    let r = post_basket(&c, &s, "/v1/fiscal/baskets?wait=30", "cloud-1").await;
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["state"], "answered", "{b}");
    let seen = ev
        .until(WAIT, |e| {
            e.event == "sale-info" && e.data["basketID"] == "cloud-1"
        })
        .await;
    assert_eq!(seen.last().unwrap().data["saleInfo"]["basketID"], "cloud-1");
    let r = post_basket(&c, &s, "/v1/fiscal/baskets", "cloud-1").await;
    assert_eq!(r.status(), 200, "known: not sent again");
    assert_eq!(cloud.baskets().len(), 1, "one basket in the cloud");
    // The cloud takes payments inside the basket: a separate one is refused, not sent.
    let r = c
        .post(url(&s, "/v1/fiscal/payments"))
        .json(&json!({"amount": 100, "description": "Nakit", "type": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 501);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["code"], "unsupported", "{p}");
    assert!(
        !cloud.webhooks().is_empty(),
        "the webhook receiver ran inside serve"
    );
    stop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_fixed_path() {
    let s = start(json!({}));
    let c = client();
    let r = c.get(url(&s, "/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/v1/status", "get"),
        ("/v1/fiscal/info", "get"),
        ("/v1/fiscal/baskets", "post"),
        ("/v1/fiscal/baskets/{basketID}", "get"),
        ("/v1/fiscal/receipts", "get"),
        ("/v1/fiscal/payments", "post"),
        ("/v1/payment/sales", "post"),
        ("/v1/payment/refunds", "post"),
        ("/v1/payment/reversals", "post"),
        ("/v1/payment/abort", "post"),
        ("/v1/payment/transactions/{reference}", "get"),
        ("/v1/payment/batch-close", "post"),
        ("/v1/energy/orders", "get"),
        ("/v1/energy/orders/{id}", "get"),
        ("/v1/energy/orders/{id}/{op}", "post"),
        ("/v1/journal", "get"),
        ("/v1/journal/{id}", "get"),
        ("/events", "get"),
        ("/openapi.json", "get"),
        ("/", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path}"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "Problem",
        "Status",
        "BasketView",
        "BasketAccepted",
        "Receipts",
        "PaymentReply",
    ] {
        assert!(schemas.contains_key(name), "{name}");
    }
    stop(s);
}
