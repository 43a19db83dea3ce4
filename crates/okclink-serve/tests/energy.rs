//! `/v1/energy/orders*` against the Token X Energy simulator (the TokenX cloud simulator's
//! Energy part) and the nexo terminal simulator: list, get, lock, unlock, pay and sell; the
//! simulator's own books show one payment per order; each operation is an `energy-order`
//! event; errors are problem documents.

mod common;

use std::time::Duration;

use common::*;
use okclink_sim::{CloudConfig, CloudSim, Fuelling, OrderState as SimState};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);
const VT1: &str = "VT00000000001";
const VT2: &str = "VT00000000002";

async fn post(
    c: &reqwest::Client,
    s: &okclink_serve::Server,
    path: &str,
    body: Value,
) -> reqwest::Response {
    c.post(url(s, path)).json(&body).send().await.unwrap()
}

async fn ok(r: reqwest::Response) -> Value {
    let st = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(st, 200, "{v}");
    v
}

async fn problem(r: reqwest::Response, status: u16, code: &str) -> Value {
    let st = r.status();
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let p: Value = r.json().await.unwrap();
    assert_eq!(st, status, "{p}");
    assert_eq!(p["code"], code, "{p}");
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_through_the_energy_simulator() {
    let cloud = std::thread::spawn(|| CloudSim::start(CloudConfig::default(), "127.0.0.1:0"))
        .join()
        .unwrap()
        .expect("cloud simulator");
    let a = cloud.fuel(Fuelling::amount("34ABC123", 152340)).unwrap();
    let b = cloud
        .fuel(Fuelling::amount("06XYZ42", 80000).on_pump(2))
        .unwrap();
    let j = journal("energy");
    let s = start(json!({
        "energy": {"energy_url": cloud.url(), "energy_terminal": VT1,
                   "tokenx_client_id": "demo", "tokenx_client_secret": "demo",
                   "energy_complete_wait_ms": 10000, "log_dir": null,
                   "journal": j.display().to_string()},
        "payment": {"terminal": "sim", "journal": j.display().to_string()}
    }));
    let c = client();
    let st = get_json(&c, &s, "/v1/status").await;
    assert_eq!(st["energy"], json!({"configured": true}));
    let mut ev = Events::open(&c, &s, None).await;

    // List (all, then filtered) and get.
    let l = get_json(&c, &s, "/v1/energy/orders").await;
    let mut ids: Vec<&str> = l["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["orderId"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut want = vec![a.as_str(), b.as_str()];
    want.sort();
    assert_eq!(ids, want, "{l}");
    let l = get_json(&c, &s, "/v1/energy/orders?plate=34ABC123&status=OPEN").await;
    assert_eq!(l["orders"].as_array().unwrap().len(), 1, "{l}");
    assert_eq!(l["orders"][0]["orderId"], a.as_str());
    assert_eq!(l["orders"][0]["amount"], 152340);
    let o = ok(c
        .get(url(&s, &format!("/v1/energy/orders/{a}")))
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(o["orderId"], a.as_str());
    assert_eq!(o["amount"], 152340);
    assert_eq!(o["plate"], "34ABC123");

    // Errors as problems: an unknown order, a bad status filter, a bad body, an unknown op.
    let r = c
        .get(url(&s, "/v1/energy/orders/NO-SUCH-ORDER"))
        .send()
        .await
        .unwrap();
    problem(r, 404, "not-found").await;
    let r = c
        .get(url(&s, "/v1/energy/orders?status=BOGUS"))
        .send()
        .await
        .unwrap();
    problem(r, 400, "bad-request").await;
    let r = post(
        &c,
        &s,
        &format!("/v1/energy/orders/{a}/pay"),
        json!({"cash": true}),
    )
    .await;
    problem(r, 400, "bad-request").await;
    let r = post(&c, &s, &format!("/v1/energy/orders/{a}/fly"), json!({})).await;
    problem(r, 404, "not-found").await;
    let r = post(&c, &s, "/v1/energy/orders/NO-SUCH-ORDER/lock", json!({})).await;
    problem(r, 404, "not-found").await;

    // Lock, then unlock: the simulator's order follows.
    let lock = ok(post(&c, &s, &format!("/v1/energy/orders/{a}/lock"), json!({})).await).await;
    assert_eq!(lock["orderId"], a.as_str());
    assert_eq!(lock["lockedBy"], VT1);
    let so = cloud.order(&a).unwrap();
    assert_eq!(so.state, SimState::Locked);
    assert_eq!(so.locked_by.as_deref(), Some(VT1));
    let un = ok(post(
        &c,
        &s,
        &format!("/v1/energy/orders/{a}/unlock"),
        json!({"reason": "CANCELLED"}),
    )
    .await)
    .await;
    assert_eq!(un["orderId"], a.as_str());
    assert_eq!(cloud.order(&a).unwrap().state, SimState::Open);

    // Another market terminal holds the lock: 409.
    let url2 = cloud.url();
    let other = tokio::task::spawn_blocking(move || {
        let mut cfg = okclink::energy::EnergyConfig::new(&url2, VT2, "demo", "demo");
        cfg.journal = None;
        let o = okclink::energy::Orders::open(cfg).expect("second terminal");
        o.lock(&b).expect("VT2 locks");
        o
    })
    .await
    .unwrap();
    let b = cloud
        .orders()
        .into_iter()
        .find(|o| o.plate == "06XYZ42")
        .unwrap()
        .id;
    let r = post(&c, &s, &format!("/v1/energy/orders/{b}/lock"), json!({})).await;
    let p = problem(r, 409, "rejected").await;
    assert_eq!(
        cloud.order(&b).unwrap().locked_by.as_deref(),
        Some(VT2),
        "{p}"
    );
    tokio::task::spawn_blocking(move || {
        other
            .unlock_id(&b, okclink::energy::UnlockReason::Cancelled)
            .expect("VT2 unlocks");
        other.close();
    })
    .await
    .unwrap();

    // Pay cash (lock + pay): one payment. The same request again is refused by the cloud
    // (the order is PAID: it cannot be locked again), not paid twice.
    let pay = json!({"paymentId": "serve-pay-1", "cash": true});
    let p1 = ok(post(&c, &s, &format!("/v1/energy/orders/{a}/pay"), pay.clone()).await).await;
    assert_eq!(p1["paymentId"], "serve-pay-1");
    assert_eq!(p1["replayed"], false);
    assert_eq!(p1["order"]["orderId"], a.as_str());
    let r = post(&c, &s, &format!("/v1/energy/orders/{a}/pay"), pay).await;
    let p = problem(r, 409, "rejected").await;
    assert!(p["detail"].as_str().unwrap().contains("PAID"), "{p}");
    let so = cloud.order(&a).unwrap();
    assert_eq!(so.payments_accepted, 1, "{so:?}");
    assert_eq!(so.paid_by.as_deref(), Some(VT1));
    assert_eq!(so.payment.as_ref().unwrap()["paymentItems"][0]["type"], 1);

    // Sell the other order on the terminal simulator: card payment, pay, completion.
    let b = cloud
        .orders()
        .into_iter()
        .find(|o| o.plate == "06XYZ42")
        .unwrap()
        .id;
    let sold = ok(post(&c, &s, &format!("/v1/energy/orders/{b}/sell"), json!({})).await).await;
    assert_eq!(sold["state"], "completed", "{sold}");
    assert_eq!(sold["orderId"], b.as_str());
    assert_eq!(sold["amount"], 80000);
    assert_eq!(sold["payment"]["approved"], true, "{sold}");
    let so = cloud.order(&b).unwrap();
    assert_eq!(so.state, SimState::Completed);
    assert_eq!(so.payments_accepted, 1);
    assert_eq!(so.payment.as_ref().unwrap()["paymentItems"][0]["type"], 3);
    let nexo = s.app().payment.as_ref().unwrap().sim.as_ref().unwrap();
    let card: Vec<_> = nexo
        .lock()
        .transactions()
        .into_iter()
        .filter(|t| t.kind == "Payment")
        .collect();
    assert_eq!(card.len(), 1, "one card payment");
    assert!(
        card[0].approved && card[0].amount_minor == 80000,
        "{card:?}"
    );
    // No order paid twice, none left locked.
    for o in cloud.orders() {
        assert!(o.payments_accepted <= 1, "{o:?}");
        assert_ne!(o.state, SimState::Locked, "{o:?}");
    }

    // Every operation that changed something is an energy-order event, with its answer.
    let seen = ev
        .until(WAIT, |e| {
            e.event == "energy-order" && e.data["state"] == "completed"
        })
        .await;
    let energy: Vec<&Value> = seen
        .iter()
        .filter(|e| e.event == "energy-order")
        .map(|e| &e.data)
        .collect();
    assert_eq!(energy, [&lock, &un, &p1, &sold]);
    let ids: Vec<i64> = seen.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    // No credential in any answer or event.
    for e in &seen {
        assert!(!e.data.to_string().contains("\"demo\""), "{e:?}");
    }
    stop(s);
}
