//! `basket-state` events for every state a basket reaches (`sent`, `answered`, `failed`,
//! `not_sent`, `in_doubt`), each basket's `sent` before its `sale-info` and `answered` on the
//! stream — checked on the stream's ids and payloads, and against the simulators' records.

mod common;

use std::time::Duration;

use common::*;
use okclink_sim::Faults;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

/// The events about `id`, as (event, data).
fn about<'a>(seen: &'a [Sse], id: &str) -> Vec<(&'a str, &'a Value)> {
    seen.iter()
        .filter(|e| e.data["basketID"] == id)
        .map(|e| (e.event.as_str(), &e.data))
        .collect()
}

fn sim(s: &okclink_serve::Server) -> parking_lot::MutexGuard<'_, okclink_sim::SimControl> {
    s.app()
        .fiscal
        .as_ref()
        .unwrap()
        .sim
        .as_ref()
        .unwrap()
        .lock()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_state_is_an_event_and_sent_comes_first() {
    for journal_on in [true, false] {
        let s = start_sim("states", journal_on);
        let c = client();
        connected(&c, &s).await;
        let mut ev = Events::open(&c, &s, None).await;
        // The X30TR simulator prints at once: its sale info reaches serve before send_basket
        // has returned.
        for i in 0..5 {
            let r = post_basket(&c, &s, "/v1/fiscal/baskets?wait=20", &format!("st-{i}")).await;
            assert_eq!(r.status(), 200);
        }
        let seen = ev
            .until(WAIT, |e| {
                e.data == json!({"basketID": "st-4", "state": "answered", "status": 0})
            })
            .await;
        let ids: Vec<i64> = seen.iter().map(|e| e.id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        for i in 0..5 {
            let id = format!("st-{i}");
            let a = about(&seen, &id);
            assert_eq!(a.len(), 3, "{id}: {a:?}");
            assert_eq!(
                a[0],
                ("basket-state", &json!({"basketID": id, "state": "sent"}))
            );
            assert_eq!(a[1].0, "sale-info");
            assert_eq!(a[1].1["saleInfo"]["basketID"], id.as_str());
            assert_eq!(a[1].1["saleInfo"]["status"], 0);
            assert_eq!(
                a[2],
                (
                    "basket-state",
                    &json!({"basketID": id, "state": "answered", "status": 0})
                )
            );
        }

        // Refused by the device (an unknown section): sent, then failed with its text.
        let mut bad = basket("st-bad");
        bad["items"][0]["sectionNo"] = json!(99);
        let r = c
            .post(url(&s, "/v1/fiscal/baskets"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let seen = ev
            .until(WAIT, |e| {
                e.event == "basket-state"
                    && e.data["basketID"] == "st-bad"
                    && e.data["state"] != "sent"
            })
            .await;
        assert_eq!(
            about(&seen, "st-bad"),
            [
                (
                    "basket-state",
                    &json!({"basketID": "st-bad", "state": "sent"})
                ),
                (
                    "basket-state",
                    &json!({"basketID": "st-bad", "state": "failed", "reason": "Geçersiz kısım"})
                ),
            ]
        );
        let b = get_json(&c, &s, "/v1/fiscal/baskets/st-bad").await;
        assert_eq!(b["state"], "failed", "{b}");
        assert_eq!(printed(&s).len(), 5, "the refused basket printed nothing");

        // No device: not sent.
        sim(&s).unplug();
        let end = std::time::Instant::now() + WAIT;
        while get_json(&c, &s, "/v1/status").await["fiscal"]["connected"] == true {
            assert!(std::time::Instant::now() < end, "still connected");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let r = post_basket(&c, &s, "/v1/fiscal/baskets", "st-off").await;
        assert_eq!(r.status(), 503);
        let seen = ev
            .until(WAIT, |e| {
                e.event == "basket-state" && e.data["basketID"] == "st-off"
            })
            .await;
        assert_eq!(
            seen.last().unwrap().data,
            json!({"basketID": "st-off", "state": "not_sent"})
        );
        let b = get_json(&c, &s, "/v1/fiscal/baskets/st-off").await;
        assert_eq!(b["state"], "not_sent", "{b}");
        stop(s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_300tr_basket_is_in_doubt() {
    let j = journal("states-300");
    let s = start(
        json!({"fiscal": {"transport": "sim:300tr", "journal": j.display().to_string(),
                                    "ack_timeout_ms": 300}}),
    );
    let c = client();
    connected(&c, &s).await;
    sim(&s).set_faults(Faults {
        ignore_ack: true,
        ..Faults::default()
    });
    let mut ev = Events::open(&c, &s, None).await;
    let b = json!({"basketID": "st-doubt", "items": [{"name": "ÇAY", "price": 1500,
                   "quantity": 1000, "sectionNo": 1, "taxPercent": 2000, "type": 0}]});
    let r = c
        .post(url(&s, "/v1/fiscal/baskets"))
        .json(&b)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["code"], "timeout");
    let seen = ev
        .until(WAIT, |e| {
            e.event == "basket-state" && e.data["basketID"] == "st-doubt"
        })
        .await;
    assert_eq!(
        seen.last().unwrap().data,
        json!({"basketID": "st-doubt", "state": "in_doubt"})
    );
    let v = get_json(&c, &s, "/v1/fiscal/baskets/st-doubt").await;
    assert_eq!(v["state"], "in_doubt", "{v}");
    stop(s);
}
