//! Shared by the loopback tests: start a server, a client, wait for the device, read SSE.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use okclink_serve::{ServeConfig, Server};
use serde_json::{json, Value};

/// Starts a server for `cfg` (JSON) on a free loopback port (from a plain thread: `start`
/// may start simulators with runtimes of their own).
pub fn start(cfg: Value) -> Server {
    let mut v = cfg;
    v["listen"] = json!("127.0.0.1:0");
    let cfg = ServeConfig::from_json(&v.to_string()).expect("configuration");
    std::thread::spawn(move || Server::start(cfg))
        .join()
        .expect("start thread")
        .expect("server starts")
}

/// A server on the in-process ÖKC simulator, with a fresh journal named `name` or none.
pub fn start_sim(name: &str, journal_on: bool) -> Server {
    let mut fiscal = json!({"transport": "sim"});
    if journal_on {
        fiscal["journal"] = json!(journal(name).display().to_string());
    }
    start(json!({ "fiscal": fiscal }))
}

/// Stops a server (from a plain thread).
pub fn stop(s: Server) {
    std::thread::spawn(move || s.shutdown())
        .join()
        .expect("stop thread")
        .expect("clean shutdown");
}

/// A fresh journal path for `name`.
pub fn journal(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("okc-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d.join("journal.sqlite")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

pub fn url(s: &Server, path: &str) -> String {
    format!("http://{}{path}", s.addr())
}

/// GET `path` as JSON.
pub async fn get_json(c: &reqwest::Client, s: &Server, path: &str) -> Value {
    c.get(url(s, path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// POST the test basket `id` to `path` (`/v1/fiscal/baskets[?wait=…]`).
pub async fn post_basket(
    c: &reqwest::Client,
    s: &Server,
    path: &str,
    id: &str,
) -> reqwest::Response {
    c.post(url(s, path)).json(&basket(id)).send().await.unwrap()
}

/// Waits until `/v1/status` says the fiscal device is connected.
pub async fn connected(c: &reqwest::Client, s: &Server) -> Value {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let v = get_json(c, s, "/v1/status").await;
        if v["fiscal"]["connected"] == true {
            return v;
        }
        assert!(Instant::now() < end, "no device: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn basket(id: &str) -> Value {
    json!({
        "basketID": id,
        "documentType": 9008,
        "items": [{"name": "ÇAY", "price": 1500, "quantity": 1000, "sectionNo": 1,
                   "taxPercent": 2000, "type": 0}],
        "paymentItems": [{"amount": 1500, "description": "Nakit", "type": 1}]
    })
}

/// The simulator's printed receipts per basketID.
pub fn printed(s: &Server) -> Vec<String> {
    let f = s.app().fiscal.as_ref().expect("fiscal");
    let sim = f.sim.as_ref().expect("in-process simulator").lock();
    sim.sales()
        .iter()
        .map(|r| {
            let text = okclink::hub::text::decode_device_text(&r.sale_info);
            serde_json::from_str::<Value>(&text).unwrap()["basketID"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// One Server-sent event.
#[derive(Debug, Clone)]
pub struct Sse {
    pub id: i64,
    pub event: String,
    pub data: Value,
}

/// An open `/events` stream.
pub struct Events {
    resp: reqwest::Response,
    buf: String,
}

impl Events {
    pub async fn open(c: &reqwest::Client, s: &Server, last: Option<i64>) -> Events {
        let mut r = c.get(url(s, "/events"));
        if let Some(n) = last {
            r = r.header("Last-Event-ID", n.to_string());
        }
        let resp = r.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Events {
            resp,
            buf: String::new(),
        }
    }

    /// The next event (comments skipped), within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Sse> {
        let end = Instant::now() + wait;
        loop {
            while let Some(i) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..i + 2).collect();
                let (mut id, mut event, mut data) = (None, String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if let Some(id) = id {
                    return Some(Sse {
                        id,
                        event,
                        data: serde_json::from_str(&data).expect("event data is JSON"),
                    });
                }
            }
            let left = end.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.resp.chunk()).await {
                Ok(Ok(Some(b))) => self.buf.push_str(&String::from_utf8_lossy(&b)),
                _ => return None,
            }
        }
    }

    /// Events until one matches `f` (returned last), within `wait`.
    pub async fn until(&mut self, wait: Duration, f: impl Fn(&Sse) -> bool) -> Vec<Sse> {
        let end = Instant::now() + wait;
        let mut v = Vec::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let e = self
                .next(left)
                .await
                .unwrap_or_else(|| panic!("no match in {v:?}"));
            let hit = f(&e);
            v.push(e);
            if hit {
                return v;
            }
        }
    }
}
