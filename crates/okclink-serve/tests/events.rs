//! Server-sent events: ids from the journal's event log, resume after a dropped connection
//! with Last-Event-ID (nothing missed, nothing twice), and a restart that loses nothing.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

async fn sell(c: &reqwest::Client, s: &okclink_serve::Server, id: &str) -> Value {
    let r = post_basket(c, s, "/v1/fiscal/baskets?wait=20", id).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_resumes_with_last_event_id() {
    for journal_on in [true, false] {
        let s = start_sim("sse", journal_on);
        let c = client();
        connected(&c, &s).await;
        // From the start of the log: the device came up.
        let mut ev = Events::open(&c, &s, Some(0)).await;
        let first = ev.next(WAIT).await.expect("an event");
        assert_eq!(first.event, "device-state");
        assert_eq!(first.data["connected"], true);
        assert_eq!(first.data["serial"], "AV0000000001");
        sell(&c, &s, "sse-1").await;
        let seen = ev
            .until(WAIT, |e| {
                e.event == "sale-info" && e.data["basketID"] == "sse-1"
            })
            .await;
        let sale = seen.last().unwrap().clone();
        assert_eq!(sale.data["saleInfo"]["basketID"], "sse-1");
        assert_eq!(sale.data["saleInfo"]["status"], 0);
        // The connection drops; meanwhile two more sales.
        drop(ev);
        sell(&c, &s, "sse-2").await;
        sell(&c, &s, "sse-3").await;
        let mut ev = Events::open(&c, &s, Some(sale.id)).await;
        let after = ev
            .until(WAIT, |e| {
                e.event == "sale-info" && e.data["basketID"] == "sse-3"
            })
            .await;
        let ids: Vec<i64> = after.iter().map(|e| e.id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "increasing: {ids:?}");
        assert!(ids[0] > sale.id, "nothing before the resume point: {ids:?}");
        let sales: Vec<&str> = after
            .iter()
            .filter(|e| e.event == "sale-info")
            .map(|e| e.data["basketID"].as_str().unwrap())
            .collect();
        assert_eq!(sales, ["sse-2", "sse-3"], "each once, in order");
        // Live events follow the replayed ones on the same stream.
        sell(&c, &s, "sse-4").await;
        let live = ev
            .until(WAIT, |e| {
                e.event == "sale-info" && e.data["basketID"] == "sse-4"
            })
            .await;
        assert!(live.iter().all(|e| e.id > *ids.last().unwrap()));
        // The browser's first connect: ?lastEventId=.
        let r = c
            .get(url(&s, &format!("/events?lastEventId={}", sale.id)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        drop(r);
        assert_eq!(printed(&s).len(), 4);
        stop(s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_loses_nothing() {
    let j = journal("restart");
    let cfg = json!({"fiscal": {"transport": "sim", "journal": j.display().to_string()}});
    let s = start(cfg.clone());
    let c = client();
    connected(&c, &s).await;
    let done = sell(&c, &s, "rs-1").await;
    let mut ev = Events::open(&c, &s, Some(0)).await;
    let before = ev
        .until(WAIT, |e| {
            e.event == "sale-info" && e.data["basketID"] == "rs-1"
        })
        .await;
    let sale_event = before.last().unwrap().clone();
    drop(ev);
    // A sale in the middle: the device takes its time, the service stops meanwhile.
    {
        let f = s.app().fiscal.as_ref().unwrap();
        f.sim
            .as_ref()
            .unwrap()
            .lock()
            .set_sale_delay(Duration::from_secs(30));
    }
    let r = post_basket(&c, &s, "/v1/fiscal/baskets", "rs-2").await;
    assert_eq!(r.status(), 202);
    stop(s);

    let s = start(cfg);
    let c = client();
    // The answered basket and its sale info are still there, and not sent again.
    let b: Value = get_json(&c, &s, "/v1/fiscal/baskets/rs-1").await;
    assert_eq!(b["state"], "answered");
    assert_eq!(b["saleInfo"], done["saleInfo"]);
    connected(&c, &s).await;
    let r = post_basket(&c, &s, "/v1/fiscal/baskets", "rs-1").await;
    assert_eq!(r.status(), 200);
    // The one in the middle is known (sent, or in doubt after recovery): never sent blindly.
    let b: Value = get_json(&c, &s, "/v1/fiscal/baskets/rs-2").await;
    assert!(
        ["sent", "in_doubt", "answered"].contains(&b["state"].as_str().unwrap()),
        "{b}"
    );
    let r = post_basket(&c, &s, "/v1/fiscal/baskets", "rs-2").await;
    assert!([200, 409].contains(&r.status().as_u16()), "{}", r.status());
    assert!(
        printed(&s).is_empty(),
        "nothing sent again: {:?}",
        printed(&s)
    );
    // The event log survived: the old sale info is replayed from id 0, with its id.
    let mut ev = Events::open(&c, &s, Some(0)).await;
    let replay = ev.until(WAIT, |e| e.id == sale_event.id).await;
    let e = replay.last().unwrap();
    assert_eq!((e.event.as_str(), &e.data), ("sale-info", &sale_event.data));
    // New events get ids after the old ones.
    let next = ev.until(WAIT, |e| e.id > sale_event.id).await;
    assert!(next.last().unwrap().id > sale_event.id);
    stop(s);
}
