//! TokenX cloud back end benchmarks (numbers go to PERFORMANCE.md, section "TokenX cloud"),
//! against the cloud simulator over loopback:
//!
//! - webhook received → sale-info callback delivered: a keep-alive HTTP/1.1 connection posts
//!   `BASKET_COMPLETED` webhooks to the hub's receiver; time from the request's first byte
//!   written to the callback running (p50 / p99 / max);
//! - overhead of a cloud `sendBasket` over the bare HTTP round trip of the same request
//!   (`POST /v1/basket`, list mode, so many baskets may be open), both on keep-alive
//!   connections with a cached token;
//! - connection reuse: TCP connections the simulator accepted over 1 000 baskets;
//! - idle cost of a connected cloud terminal: CPU time of the hub's threads (`okc-tokenx`,
//!   `okc-callbacks`) over 10 s, from /proc/self/task/*/schedstat.
//!
//! Run: `cargo bench --bench cloud` (add `-- quick` for a shorter run). Without `--bench`
//! (as `cargo test --all-targets` runs it) every step runs a few times, no numbers kept.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use okclink::config::Secret;
use okclink::hub::{Config, Hub, SendOutcome, TransportSpec};
use okclink_sim::{CloudConfig, CloudSim, DeviceOutcome};

mod common;
use common::{exchange, free_port, report, thread_ns, us};

const TERMINAL: &str = "AV00000000001";
const BRANCH: &str = "BR-0001";
const HOOK_AUTH: &str = "Bearer bench-hook";

fn hub(sim: &CloudSim, target: &str, webhook_port: Option<u16>) -> (Hub, Receiver<Instant>) {
    let mut c = Config::new("bench");
    c.log_dir = None;
    c.transports = vec![format!("tokenx+{}?{target}", sim.url())
        .parse::<TransportSpec>()
        .unwrap()];
    c.tokenx.client_id = "bench".into();
    c.tokenx.client_secret = Secret::new("bench");
    if let Some(p) = webhook_port {
        c.tokenx.webhook_listen = Some(format!("127.0.0.1:{p}"));
        c.tokenx.callback_auth = Some(Secret::new(HOOK_AUTH));
    }
    let hub = Hub::new(c).unwrap();
    let (tx, rx) = channel();
    hub.set_serial_in_callback(Some(Box::new(move |t, _| {
        if t == 3 {
            let _ = tx.send(Instant::now());
        }
    })));
    hub.wait_connected(Duration::from_secs(10))
        .expect("connected");
    (hub, rx)
}

fn basket(id: &str) -> String {
    format!(
        r#"{{"basketID":"{id}","items":[{{"name":"ÇAY","price":1500,"quantity":1000,"sectionNo":1,"taxPercent":1000,"type":0}}],"paymentItems":[{{"amount":1500,"description":"Nakit","type":1}}]}}"#
    )
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let smoke = !std::env::args().any(|a| a == "--bench");
    let n = if smoke {
        30
    } else if quick {
        500
    } else {
        3000
    };

    // 1. Webhook → callback.
    println!("== webhook received → sale-info callback delivered (receiver in the hub)");
    let sim = CloudSim::start(
        CloudConfig {
            device_outcome: DeviceOutcome::Manual,
            ..CloudConfig::default()
        },
        "127.0.0.1:0",
    )
    .unwrap();
    let port = free_port();
    let (h, rx) = hub(&sim, &format!("terminal-id={TERMINAL}"), Some(port));
    let mut conn = BufReader::new(TcpStream::connect(("127.0.0.1", port)).unwrap());
    conn.get_ref().set_nodelay(true).unwrap();
    let mut lat = Vec::with_capacity(n);
    for i in 0..n + 100 {
        let body = format!(
            r#"{{"terminalId":"{TERMINAL}","clientId":"bench","operation":"BASKET_COMPLETED","operationDate":"2026-11-28T10:00:00.000Z","data":{{"basketID":"wh-{i}","documentType":0,"message":"OK","paymentCount":1,"paymentItems":[{{"amount":1500,"BatchNo":1,"currencyId":0,"description":"Nakit","operatorId":0,"status":0,"taxRate":1000,"TxnNo":{i},"type":1}}],"receiptNo":{i},"status":0,"UUID":"u-{i}","zNo":1}}}}"#
        );
        let req = format!(
            "POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {HOOK_AUTH}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let t = Instant::now();
        assert_eq!(exchange(&mut conn, req.as_bytes()), 200);
        let at = rx.recv_timeout(Duration::from_secs(5)).expect("callback");
        if i >= 100 {
            lat.push(at - t);
        }
    }
    report("webhook → callback", lat);

    // 4. Idle cost (the same connected hub, nothing to do).
    println!("== idle cost of a connected cloud terminal (hub threads only)");
    let secs = if smoke {
        1
    } else if quick {
        3
    } else {
        10
    };
    let t0 = thread_ns(&["okc-tokenx", "okc-callbacks"]);
    let w0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let cpu = (thread_ns(&["okc-tokenx", "okc-callbacks"]) - t0) as f64 / 1e9;
    println!(
        "{:<34} {:.5} s CPU over {:.1} s = {:.4} % of one core",
        "idle, webhook receiver listening",
        cpu,
        w0.elapsed().as_secs_f64(),
        100.0 * cpu / w0.elapsed().as_secs_f64()
    );
    h.close();
    drop(sim);

    // 2. + 3. sendBasket overhead and connection reuse (list mode: no one-open-basket rule).
    println!("== cloud sendBasket vs the bare HTTP round trip (POST /v1/basket, keep-alive)");
    let sim = CloudSim::start(CloudConfig::default(), "127.0.0.1:0").unwrap();
    let (h, _rx) = hub(&sim, &format!("branch-id={BRANCH}"), None);
    let conns0 = sim.connections();
    let total = if smoke { 50 } else { 1000 };
    let mut via_hub = Vec::with_capacity(total);
    for i in 0..total {
        let b = basket(&format!("hub-{i}"));
        let t = Instant::now();
        assert_eq!(h.send_basket(&b), Ok(SendOutcome::Accepted));
        via_hub.push(t.elapsed());
    }
    let conns = sim.connections();
    // The bare round trip: the same request on a keep-alive connection, token fetched once.
    let token = {
        let mut c = BufReader::new(TcpStream::connect(sim.addr()).unwrap());
        let req = "POST /v1/auth/token HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YmVuY2g6YmVuY2g=\r\nContent-Length: 0\r\n\r\n";
        c.get_mut().write_all(req.as_bytes()).unwrap();
        let mut text = String::new();
        let mut len = 0;
        loop {
            let mut l = String::new();
            c.read_line(&mut l).unwrap();
            if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            if l == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; len];
        c.read_exact(&mut body).unwrap();
        text.push_str(&String::from_utf8(body).unwrap());
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["result"]["accessToken"].as_str().unwrap().to_string()
    };
    let mut bare_conn = BufReader::new(TcpStream::connect(sim.addr()).unwrap());
    bare_conn.get_ref().set_nodelay(true).unwrap();
    let mut bare = Vec::with_capacity(total);
    for i in 0..total {
        let b = basket(&format!("bare-{i}"));
        let req = format!(
            "POST /v1/basket HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nbranch-id: {BRANCH}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        );
        let t = Instant::now();
        assert_eq!(exchange(&mut bare_conn, req.as_bytes()), 201);
        bare.push(t.elapsed());
    }
    let p_hub = report("sendBasket through the hub", via_hub);
    let p_bare = report("bare HTTP round trip", bare);
    println!(
        "{:<34} {:.1} µs (p50 difference)",
        "overhead of the hub",
        us(p_hub.saturating_sub(p_bare))
    );
    println!(
        "{:<34} {} baskets: {} TCP connection(s) accepted by the simulator from the hub ({} before the first basket)",
        "connection reuse",
        total,
        conns,
        conns0
    );
    h.close();
}
