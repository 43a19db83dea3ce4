//! 50 concurrent clients × 200 requests (status reads and baskets, the same basketIDs sent by
//! several clients at once): no error, and every basketID printed exactly once.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const CLIENTS: usize = 50;
const REQUESTS: usize = 200;
/// Distinct basketIDs, each sent by several clients.
const BASKETS: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_two_hundred_requests_each() {
    let j = journal("load");
    let s = start(json!({"fiscal": {"transport": "sim", "journal": j.display().to_string()}}));
    let c = client();
    connected(&c, &s).await;
    let base = url(&s, "");
    let mut tasks = Vec::new();
    for k in 0..CLIENTS {
        let c = c.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let mut codes = BTreeMap::<u16, usize>::new();
            for i in 0..REQUESTS {
                let r = if i % 10 == 0 {
                    let id = format!("load-{}", (k * 7 + i / 10) % BASKETS);
                    c.post(format!("{base}/v1/fiscal/baskets"))
                        .json(&basket(&id))
                        .send()
                        .await
                } else if i % 10 == 5 {
                    c.get(format!("{base}/v1/fiscal/receipts?limit=5"))
                        .send()
                        .await
                } else {
                    c.get(format!("{base}/v1/status")).send().await
                };
                let r = r.expect("request");
                *codes.entry(r.status().as_u16()).or_default() += 1;
                let _ = r.bytes().await.expect("body");
            }
            codes
        }));
    }
    let mut all = BTreeMap::<u16, usize>::new();
    for t in tasks {
        for (k, v) in t.await.unwrap() {
            *all.entry(k).or_default() += v;
        }
    }
    assert_eq!(all.values().sum::<usize>(), CLIENTS * REQUESTS);
    assert!(
        all.keys().all(|c| [200, 202].contains(c)),
        "only 200 / 202: {all:?}"
    );
    // Every basket is answered, and printed once.
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let p = printed(&s);
        if p.len() >= BASKETS || Instant::now() > end {
            let mut sorted = p.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), p.len(), "a basket printed twice");
            assert_eq!(p.len(), BASKETS);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop(s);
}
