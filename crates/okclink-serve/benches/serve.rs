//! `okc serve` performance (hand-timed, numbers in PERFORMANCE.md; no asserts):
//! - GET /v1/status at 1 000 requests/s on one keep-alive loopback connection: p50 / p99;
//! - POST a basket → its `sale-info` event on /events, over the in-process simulator, with a
//!   journal and without one;
//! - 100 idle /events clients: the process's CPU while nothing happens.
//!
//! `cargo bench -p okclink-serve --bench serve`

#[path = "../../../benches/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{exchange, report};
use okclink_serve::{ServeConfig, Server};

fn process_cpu() -> Duration {
    // utime + stime of the whole process, in clock ticks (100 Hz).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn wait_connected(addr: &str) {
    let end = Instant::now() + Duration::from_secs(30);
    let mut r = BufReader::new(TcpStream::connect(addr).unwrap());
    while Instant::now() < end {
        let req = format!("GET /v1/status HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        r.get_mut().write_all(req.as_bytes()).unwrap();
        let mut text = String::new();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            r.read_line(&mut h).unwrap();
            if h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        std::io::Read::read_exact(&mut r, &mut body).unwrap();
        text.push_str(&String::from_utf8_lossy(&body));
        if text.contains("\"connected\":true") {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no device");
}

/// 300 baskets (the first 20 not counted): POST → its `sale-info` event on /events.
fn basket_to_sale_info(addr: &str, label: &str) {
    let mut c = BufReader::new(TcpStream::connect(addr).unwrap());
    c.get_mut().set_nodelay(true).unwrap();
    let (tx, rx) = mpsc::channel::<(Instant, String)>();
    let mut sse = TcpStream::connect(addr).unwrap();
    write!(sse, "GET /events HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    std::thread::spawn(move || {
        let r = BufReader::new(sse);
        let mut sale = false;
        for line in r.lines() {
            let Ok(line) = line else { return };
            if line.starts_with("event: sale-info") {
                sale = true;
            } else if sale && line.starts_with("data: ") {
                sale = false;
                let v: serde_json::Value = serde_json::from_str(&line[6..]).unwrap();
                let id = v["basketID"].as_str().unwrap_or("").to_string();
                if tx.send((Instant::now(), id)).is_err() {
                    return;
                }
            }
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    let mut lat = Vec::new();
    for i in 0..300 {
        let id = format!("bench-{i}");
        let body = serde_json::json!({"basketID": id, "documentType": 9008,
            "items": [{"name": "CAY", "price": 1500, "quantity": 1000, "sectionNo": 1,
                       "taxPercent": 2000, "type": 0}],
            "paymentItems": [{"amount": 1500, "description": "Nakit", "type": 1}]})
        .to_string();
        let req = format!(
            "POST /v1/fiscal/baskets HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let t = Instant::now();
        assert_eq!(exchange(&mut c, req.as_bytes()), 202);
        loop {
            let (at, got) = rx.recv_timeout(Duration::from_secs(10)).expect("sale-info");
            if got == id {
                if i >= 20 {
                    lat.push(at - t);
                }
                break;
            }
        }
    }
    report(label, lat);
}

fn main() {
    let dir = std::env::temp_dir().join(format!("okc-serve-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = ServeConfig::from_json(
        &serde_json::json!({"listen": "127.0.0.1:0",
            "fiscal": {"transport": "sim",
                       "journal": dir.join("journal.sqlite").display().to_string()}})
        .to_string(),
    )
    .unwrap();
    let server = Server::start(cfg).unwrap();
    let addr = server.addr().to_string();
    wait_connected(&addr);

    // 1. GET /v1/status at 1 000 req/s.
    let mut c = BufReader::new(TcpStream::connect(&addr).unwrap());
    c.get_mut().set_nodelay(true).unwrap();
    let req = format!("GET /v1/status HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    for _ in 0..200 {
        exchange(&mut c, req.as_bytes());
    }
    let n = 5_000;
    let mut lat = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let due = start + Duration::from_millis(i as u64);
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        let t = Instant::now();
        assert_eq!(exchange(&mut c, req.as_bytes()), 200);
        lat.push(t.elapsed());
    }
    let took = start.elapsed();
    report("GET /v1/status @1000/s", lat);
    println!(
        "{:<34} {:.0} req/s achieved",
        "",
        n as f64 / took.as_secs_f64()
    );

    // 2. POST basket → sale-info event, with the journal, then without one.
    basket_to_sale_info(&addr, "basket → sale-info (journal)");
    {
        let cfg = ServeConfig::from_json(
            &serde_json::json!({"listen": "127.0.0.1:0", "fiscal": {"transport": "sim"}})
                .to_string(),
        )
        .unwrap();
        let plain = Server::start(cfg).unwrap();
        let a = plain.addr().to_string();
        wait_connected(&a);
        basket_to_sale_info(&a, "basket → sale-info (no journal)");
        plain.shutdown().unwrap();
    }

    // 3. 100 idle SSE clients.
    let clients: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            write!(s, "GET /events HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let idle = Duration::from_secs(20);
    let (cpu0, t0) = (process_cpu(), Instant::now());
    std::thread::sleep(idle);
    let (cpu, wall) = (process_cpu() - cpu0, t0.elapsed());
    println!(
        "{:<34} {} clients: {:.2} % of one core over {} s (process CPU {} ms)",
        "idle /events clients",
        server.app().events().clients(),
        cpu.as_secs_f64() / wall.as_secs_f64() * 100.0,
        wall.as_secs(),
        cpu.as_millis()
    );
    drop(clients);
    drop(c);
    server.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
