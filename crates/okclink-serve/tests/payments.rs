//! 300TR sales through the API: the basket without payments, then each payment on its own
//! (`POST /v1/fiscal/payments`) against the in-process 300TR simulator; problem documents
//! where a payment cannot go (no device, an X30TR, no fiscal front, bad JSON, a refusal).

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn basket_300(id: &str) -> Value {
    // 42,50 TL, no paymentItems: a 300TR refuses payments inside the basket.
    json!({
        "basketID": id,
        "documentType": 9008,
        "items": [{"name": "SİMİT", "price": 4250, "quantity": 1000, "sectionNo": 1,
                   "taxPercent": 2000, "type": 0}]
    })
}

async fn pay(
    c: &reqwest::Client,
    s: &okclink_serve::Server,
    q: &str,
    p: Value,
) -> reqwest::Response {
    c.post(url(s, &format!("/v1/fiscal/payments{q}")))
        .json(&p)
        .send()
        .await
        .unwrap()
}

async fn problem(r: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status(), status);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["code"], code, "{p}");
    assert_eq!(p["status"], status);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_300tr_sale_with_two_partial_payments() {
    for journal_on in [true, false] {
        let j = journal("pay300");
        let mut fiscal = json!({"transport": "sim:300tr"});
        if journal_on {
            fiscal["journal"] = json!(j.display().to_string());
        }
        let s = start(json!({ "fiscal": fiscal }));
        let c = client();
        let st = connected(&c, &s).await;
        assert_eq!(st["fiscal"]["model"], "300TR");
        assert_eq!(st["fiscal"]["transport"], "sim:300tr");
        assert_eq!(st["fiscal"]["serial"], "AT0000000001");

        // A payment with no open receipt: the device's refusal, as a problem.
        let r = pay(
            &c,
            &s,
            "",
            json!({"amount": 100, "description": "Nakit", "type": 1}),
        )
        .await;
        let p = problem(r, 422, "rejected").await;
        assert!(
            p["detail"].as_str().unwrap().contains("Açık fiş yok"),
            "{p}"
        );

        let r = c
            .post(url(&s, "/v1/fiscal/baskets"))
            .json(&basket_300("t300-1"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        // 20,00 TL by card: the sale stays open; the answer is the device's reply.
        let r = pay(
            &c,
            &s,
            "",
            json!({"amount": 2000, "description": "Kredi Kartı", "type": 3}),
        )
        .await;
        assert_eq!(r.status(), 200);
        let first: Value = r.json().await.unwrap();
        assert_eq!(
            first,
            json!({"basketID": "t300-1", "reply": {"basketID": "t300-1", "status": 0}})
        );
        // 25,00 TL cash completes it: with ?wait the basket and its sale info.
        let r = pay(
            &c,
            &s,
            "?wait=30",
            json!({"amount": 2500, "description": "Nakit", "type": 1}),
        )
        .await;
        assert_eq!(r.status(), 200);
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["basketID"], "t300-1");
        assert_eq!(b["state"], "answered", "{b}");
        let sale = &b["saleInfo"];
        assert_eq!(sale["basketID"], "t300-1");
        assert_eq!(sale["status"], 0);
        assert_eq!(sale["paymentCount"], 2);
        let items = sale["paymentItems"].as_array().unwrap();
        let paid: Vec<(i64, i64)> = items
            .iter()
            .map(|i| {
                (
                    i["type"].as_i64().unwrap(),
                    i["amount"].as_f64().unwrap() as i64,
                )
            })
            .collect();
        assert_eq!(paid, [(3, 2000), (1, 2500)]);
        // The basket is answered with that sale info; printed once.
        let g: Value = get_json(&c, &s, "/v1/fiscal/baskets/t300-1").await;
        assert_eq!(g["state"], "answered");
        assert_eq!(&g["saleInfo"], sale);
        assert_eq!(printed(&s), ["t300-1"]);
        let types: Vec<u16> = {
            let f = s.app().fiscal.as_ref().unwrap();
            f.sim.as_ref().unwrap().lock().received_types()
        };
        assert_eq!(
            types.iter().filter(|t| **t == 10).count(),
            3,
            "three payments reached the device (the refused one included): {types:?}"
        );
        let rc: Value = get_json(&c, &s, "/v1/fiscal/receipts").await;
        assert_eq!(rc["receipts"][0]["basketID"], "t300-1");
        assert_eq!(rc["receipts"][0]["total"], 4500);

        // A void of an open basket: with ?wait, the sale info of status 99.
        let r = c
            .post(url(&s, "/v1/fiscal/baskets"))
            .json(&basket_300("t300-2"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let r = pay(&c, &s, "?wait=30", json!({"isVoid": true})).await;
        assert_eq!(r.status(), 200);
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["basketID"], "t300-2");
        assert_eq!(b["saleInfo"]["status"], 99, "{b}");
        assert_eq!(printed(&s), ["t300-1", "t300-2"]);

        // Not JSON / not an object.
        let r = c
            .post(url(&s, "/v1/fiscal/payments"))
            .body("{\"amount\":")
            .send()
            .await
            .unwrap();
        problem(r, 400, "invalid-json").await;
        let r = pay(&c, &s, "", json!([1, 2])).await;
        problem(r, 400, "invalid-json").await;
        // No device: not sent.
        {
            let f = s.app().fiscal.as_ref().unwrap();
            f.sim.as_ref().unwrap().lock().unplug();
        }
        let end = std::time::Instant::now() + Duration::from_secs(20);
        while get_json(&c, &s, "/v1/status").await["fiscal"]["connected"] == true {
            assert!(std::time::Instant::now() < end, "still connected");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let r = pay(
            &c,
            &s,
            "",
            json!({"amount": 100, "description": "Nakit", "type": 1}),
        )
        .await;
        problem(r, 503, "device-unavailable").await;
        stop(s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_are_refused_where_they_do_not_apply() {
    // An X30TR takes its payments inside the basket.
    let s = start(json!({"fiscal": {"transport": "sim:x30tr"}}));
    let c = client();
    connected(&c, &s).await;
    let r = pay(
        &c,
        &s,
        "",
        json!({"amount": 100, "description": "Nakit", "type": 1}),
    )
    .await;
    let p = problem(r, 501, "unsupported").await;
    assert!(p["detail"].as_str().unwrap().contains("X30TR"), "{p}");
    let sent: Vec<u16> = {
        let f = s.app().fiscal.as_ref().unwrap();
        f.sim.as_ref().unwrap().lock().received_types()
    };
    assert!(!sent.contains(&10), "nothing sent: {sent:?}");
    stop(s);
    // No fiscal front at all.
    let s = start(json!({}));
    let r = pay(&client(), &s, "", json!({"isVoid": true})).await;
    problem(r, 503, "not-configured").await;
    stop(s);
}
