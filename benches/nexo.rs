//! Swedbank Pay nexo benchmarks (numbers go to PERFORMANCE.md, section "Card terminals (nexo)"):
//!
//! - codec (criterion): encode + parse of a PaymentRequest, and of a PaymentResponse with the
//!   merchant and customer receipts, the receipts decoded into lines — the messages of
//!   tests/data/nexo/fuzz_corpus/nexo_xml;
//! - the POS listener during a payment: a keep-alive HTTP/1.1 connection posts the terminal's
//!   DisplayRequests to the library's listener while a payment is in flight on the simulator
//!   (which holds it for a minute); time from the request written to the 204 read (p50 / p99 /
//!   max), the event callback counted;
//! - overhead of a payment: `Terminal::pay` against the simulator with no payment time, logged
//!   in, client-only, against the bare HTTP round trip of the same PaymentRequest XML to the
//!   same simulator on a keep-alive connection (p50 difference).
//!
//! Run: `cargo bench --bench nexo`. Without `--bench` (as `cargo test --all-targets` runs it)
//! every step runs a few times, no numbers kept.

use std::io::BufReader;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{black_box, Criterion};
use okclink::pay::nexo::msg::{self, ResponseBody};
use okclink::pay::nexo::receipt::decode_receipt;
use okclink::pay::{self, PaymentRequest, TerminalConfig, TerminalEvent};
use okclink_sim::{NexoConfig, NexoSim};

mod common;
use common::{exchange, report, us};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/nexo/fuzz_corpus/nexo_xml/"
);

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(format!("{CORPUS}{name}")).unwrap()
}

fn codec(c: &mut Criterion) {
    let req = msg::read_request(&corpus("payment_request.xml")).unwrap();
    let resp = msg::read_response(&corpus("terminal_payment_response.xml")).unwrap();
    match &resp.body {
        ResponseBody::Payment(p) => assert_eq!(p.receipts.len(), 2),
        o => panic!("{o:?}"),
    }
    let mut g = c.benchmark_group("nexo_codec");
    g.bench_function("PaymentRequest encode+parse", |b| {
        b.iter(|| {
            let x = msg::write_request(black_box(&req));
            msg::read_request(x.as_bytes()).unwrap()
        })
    });
    let response = |resp: &msg::SaleToPoiResponse| {
        let x = msg::write_response(resp);
        let r = msg::read_response(x.as_bytes()).unwrap();
        let mut lines = 0;
        if let ResponseBody::Payment(p) = &r.body {
            for d in &p.receipts {
                lines += decode_receipt(d).unwrap().lines.len();
            }
        }
        (r, lines)
    };
    g.bench_function("PaymentResponse with 2 receipts encode+parse+decode", |b| {
        b.iter(|| response(black_box(&resp)))
    });
    g.bench_function("both (one payment's messages)", |b| {
        b.iter(|| {
            let x = msg::write_request(black_box(&req));
            let q = msg::read_request(x.as_bytes()).unwrap();
            (q, response(black_box(&resp)))
        })
    });
    g.finish();
}

fn sim(payment_time: Duration) -> NexoSim {
    NexoSim::start(
        NexoConfig {
            payment_time,
            busy_after_payment: Duration::ZERO,
            ..NexoConfig::default()
        },
        "127.0.0.1:0",
    )
    .unwrap()
}

fn request(n: usize) -> PaymentRequest {
    PaymentRequest {
        amount: 3850,
        currency: "SEK".into(),
        reference: format!("bench-{n}"),
    }
}

fn post(path_body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST /EPASSaleToPOI/3.1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n",
        path_body.len()
    )
    .into_bytes();
    r.extend_from_slice(path_body);
    r
}

/// DisplayRequests to the listener while a payment is in flight.
fn listener_during_payment(n: usize) {
    println!("== POS listener: DisplayRequest → 204 while a payment is in flight");
    let sim = sim(Duration::from_secs(60));
    let mut c = TerminalConfig::new(&format!("nexo+http://{}", sim.addr()));
    c.listener = Some("127.0.0.1:0".into());
    c.maintenance_at = None;
    c.journal = None;
    let seen = Arc::new(AtomicUsize::new(0));
    let s2 = seen.clone();
    c.events = Some(Arc::new(move |e: &TerminalEvent| {
        if matches!(e, TerminalEvent::Display(_)) {
            s2.fetch_add(1, Ordering::Relaxed);
        }
        None
    }));
    let t = Arc::new(pay::open(c).unwrap());
    let listener = t.listener_addr().unwrap();
    t.login().unwrap();
    let t2 = t.clone();
    sim.set_pos_listener(Some(format!("http://{listener}/EPASSaleToPOI/3.1")));
    let paying = std::thread::spawn(move || t2.pay(&request(0)));
    // The terminal's own "Present card": the payment is in flight.
    while seen.load(Ordering::Relaxed) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let display = post(&corpus("display_request_terminal.xml"));
    let mut conn = BufReader::new(TcpStream::connect(listener).unwrap());
    conn.get_ref().set_nodelay(true).unwrap();
    let mut lat = Vec::with_capacity(n);
    for i in 0..n + 100 {
        let t0 = Instant::now();
        assert_eq!(exchange(&mut conn, &display), 204);
        if i >= 100 {
            lat.push(t0.elapsed());
        }
    }
    report("DisplayRequest → 204 (in flight)", lat);
    t.abort().unwrap();
    let r = paying.join().unwrap().unwrap();
    assert!(!r.approved);
    // Every display reached the event callback.
    let until = Instant::now() + Duration::from_secs(5);
    while seen.load(Ordering::Relaxed) < n + 101 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(seen.load(Ordering::Relaxed) > n + 100);
    t.close();
}

/// `Terminal::pay` against the bare HTTP round trip of the same request.
fn payment_overhead(n: usize) {
    println!(
        "== payment through the library vs the bare HTTP round trip (simulator, 0 ms payment)"
    );
    let sim = sim(Duration::ZERO);
    let mut c = TerminalConfig::new(&format!(
        "nexo+http://{}?poiid=BENCH-POI&saleid=BENCH",
        sim.addr()
    ));
    c.maintenance_at = None;
    c.journal = None;
    let t = pay::open(c).unwrap();
    t.login().unwrap();
    let mut via = Vec::with_capacity(n);
    for i in 0..n + 20 {
        let t0 = Instant::now();
        let r = t.pay(&request(i)).unwrap();
        if i >= 20 {
            via.push(t0.elapsed());
        }
        assert!(r.approved);
    }
    t.close();
    let sim = self::sim(Duration::ZERO);
    let mut conn = BufReader::new(TcpStream::connect(sim.addr()).unwrap());
    conn.get_ref().set_nodelay(true).unwrap();
    assert_eq!(
        exchange(&mut conn, &post(&corpus("login_request.xml"))),
        200
    );
    let template = String::from_utf8(corpus("payment_request.xml")).unwrap();
    let mut bare = Vec::with_capacity(n);
    for i in 0..n + 20 {
        let body = template
            .replace(
                "ServiceID=\"1524253497\"",
                &format!("ServiceID=\"{}\"", 1000 + i),
            )
            .replace(
                "TransactionID=\"1524253496\"",
                &format!("TransactionID=\"b{i}\""),
            );
        let req = post(body.as_bytes());
        let t0 = Instant::now();
        assert_eq!(exchange(&mut conn, &req), 200);
        if i >= 20 {
            bare.push(t0.elapsed());
        }
    }
    let approved = sim.transactions().iter().filter(|x| x.approved).count();
    assert_eq!(approved, n + 20, "the bare payments were approved too");
    let p_via = report("Terminal::pay", via);
    let p_bare = report("bare HTTP round trip", bare);
    println!(
        "{:<34} {:.1} µs (p50 difference)",
        "overhead of the library",
        us(p_via.saturating_sub(p_bare))
    );
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let mut c = Criterion::default().configure_from_args();
    codec(&mut c);
    c.final_summary();
    let n = if smoke { 20 } else { 2000 };
    listener_during_payment(n);
    payment_overhead(if smoke { 10 } else { 1000 });
}
