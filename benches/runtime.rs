//! Runtime benchmarks (numbers go to PERFORMANCE.md, section "Runtime").
//!
//! - round trip `send_basket` → sale-info callback against the in-process simulator at zero
//!   processing delay (in-memory link and loopback TCP): p50 / p99 / max;
//! - idle cost of a connected, idle device: CPU time of the hub's own threads (`okc-*`,
//!   not the simulator's) over 10 s, from /proc/self/task/*/stat;
//! - memory: RSS after a warm-up and after 10 000 baskets.
//!
//! Run: `cargo bench --bench runtime` (add `-- quick` for a shorter run).

use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use okclink::hub::{Config, Hub, SendOutcome, TransportSpec};
use okclink_sim::{self as sim, SimConfig};

fn hub_with(spec: TransportSpec) -> (Hub, Receiver<Instant>) {
    let mut c = Config::new("bench");
    c.transports = vec![spec];
    c.log_dir = None;
    let hub = Hub::new(c).unwrap();
    let (tx, rx) = channel();
    hub.set_serial_in_callback(Some(Box::new(move |t, _v| {
        if t == 3 {
            let _ = tx.send(Instant::now());
        }
    })));
    hub.wait_connected(Duration::from_secs(10))
        .expect("connected");
    (hub, rx)
}

fn basket(i: usize) -> String {
    format!(
        r#"{{"basketID":"bench-{i}","items":[{{"name":"ÇAY","price":1500,"quantity":1000,"sectionNo":1}}],"paymentItems":[{{"amount":1500,"description":"Nakit","type":1}}]}}"#
    )
}

fn round_trips(hub: &Hub, rx: &Receiver<Instant>, n: usize, offset: usize) -> Vec<Duration> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        assert_eq!(
            hub.send_basket(&basket(offset + i)).unwrap(),
            SendOutcome::Accepted
        );
        let at = rx.recv_timeout(Duration::from_secs(5)).expect("sale info");
        v.push(at - t);
    }
    v
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn report_rt(name: &str, mut v: Vec<Duration>) {
    let p50 = pct(&mut v, 0.50);
    let p99 = pct(&mut v, 0.99);
    let max = *v.last().unwrap();
    println!(
        "{name:<28} n={:<6} p50 {:>8.1} µs   p99 {:>8.1} µs   max {:>8.1} µs",
        v.len(),
        us(p50),
        us(p99),
        us(max)
    );
}

/// (thread name, CPU time in ns) of every thread of this process, from
/// /proc/self/task/*/schedstat (first field: time on CPU, ns precision).
fn thread_ticks() -> Vec<(String, u64)> {
    let mut out = vec![];
    let Ok(rd) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for e in rd.flatten() {
        let name = std::fs::read_to_string(e.path().join("comm"))
            .unwrap_or_default()
            .trim()
            .to_string();
        let ns = std::fs::read_to_string(e.path().join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
            .unwrap_or(0);
        out.push((name, ns));
    }
    out
}

fn all_ticks() -> u64 {
    thread_ticks().into_iter().map(|(_, t)| t).sum()
}

fn hub_ticks() -> u64 {
    thread_ticks()
        .into_iter()
        .filter(|(n, _)| n.starts_with("okc-") && !n.starts_with("okc-sim"))
        .map(|(_, t)| t)
        .sum()
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Set in the environment of the child process that serves the simulator over TCP.
const CHILD_SIM: &str = "OKC_BENCH_CHILD_SIM";

fn main() {
    if std::env::var_os(CHILD_SIM).is_some() {
        let _ = sim::run_tcp_blocking("127.0.0.1:0", SimConfig::x30tr());
        return;
    }
    let quick = std::env::args().any(|a| a == "quick");
    // `cargo bench` passes `--bench`. Without it this is `cargo test --all-targets` running
    // the bench as a smoke test (debug build): every step, a few iterations, no numbers kept.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let n = if smoke {
        50
    } else if quick {
        500
    } else {
        5000
    };
    let warmup = if smoke { 20 } else { 200 };

    {
        use okclink::proto::message::{accept_usb, build_message};
        use okclink::proto::pipeline::Key;
        let key = Key::random_session();
        let payload = basket(1).into_bytes();
        let iters = 5000;
        let t = Instant::now();
        let mut m = vec![];
        for _ in 0..iters {
            m = build_message(&key, 1, &payload);
        }
        let build = t.elapsed() / iters;
        let t = Instant::now();
        for _ in 0..iters {
            accept_usb(&key, &m, 1 << 20).unwrap();
        }
        let accept = t.elapsed() / iters;
        println!(
            "== protocol cost per message ({} byte payload): build {:.1} µs, accept {:.1} µs",
            payload.len(),
            us(build),
            us(accept)
        );
    }
    println!("== round trip sendBasket → sale-info callback (simulator in-process, zero delay)");
    let (conn, _ctl) = sim::mem_connector(SimConfig::x30tr());
    let (hub, rx) = hub_with(TransportSpec::Custom(conn));
    round_trips(&hub, &rx, warmup, 0);
    let c0 = all_ticks();
    report_rt("in-memory link", round_trips(&hub, &rx, n, 1000));
    println!(
        "{:<28} {:.1} µs CPU per round trip (all threads, host + simulator)",
        "",
        (all_ticks() - c0) as f64 / 1e3 / n as f64
    );

    let server = sim::serve_tcp("127.0.0.1:0", SimConfig::x30tr()).unwrap();
    let (hub_tcp, rx_tcp) = hub_with(TransportSpec::Tcp(server.local_addr().to_string()));
    round_trips(&hub_tcp, &rx_tcp, warmup, 0);
    let c0 = all_ticks();
    report_rt("TCP loopback", round_trips(&hub_tcp, &rx_tcp, n, 1000));
    println!(
        "{:<28} {:.1} µs CPU per round trip (all threads, host + simulator)",
        "",
        (all_ticks() - c0) as f64 / 1e3 / n as f64
    );
    hub_tcp.close();
    drop(server);

    println!("== idle cost of a connected, idle device (hub threads only)");
    let secs = if smoke {
        1
    } else if quick {
        3
    } else {
        10
    };
    let t0 = hub_ticks();
    let w0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let cpu = (hub_ticks() - t0) as f64 / 1e9;
    let wall = w0.elapsed().as_secs_f64();
    println!(
        "{:<28} {:.4} s CPU over {:.1} s = {:.4} % of one core",
        "idle (in-memory link)",
        cpu,
        wall,
        100.0 * cpu / wall
    );
    for (name, t) in thread_ticks() {
        if name.starts_with("okc-") {
            println!(
                "    thread {name:<16} {:>10.3} ms CPU since start",
                t as f64 / 1e6
            );
        }
    }

    hub.close();

    // The in-process simulator keeps every receipt and request it saw (for tests), so the
    // memory run uses the simulator in a child process: this process's RSS is the hub's.
    println!("== memory over 10 000 baskets (simulator in a child process over TCP)");
    // The child is this bench binary itself, serving the simulator (see `main`).
    let mut child = std::process::Command::new(std::env::current_exe().expect("bench path"))
        .env(CHILD_SIM, "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("okc sim");
    let mut line = String::new();
    {
        use std::io::BufRead;
        let mut r = std::io::BufReader::new(child.stderr.take().unwrap());
        while !line.contains("listening on") {
            line.clear();
            if r.read_line(&mut line).unwrap() == 0 {
                panic!("okc sim ended");
            }
        }
        // Keep draining the child's stderr so it never blocks.
        std::thread::spawn(move || for _ in r.lines() {});
    }
    let addr = line.trim().rsplit(' ').next().unwrap().to_string();
    let (hub, rx) = hub_with(TransportSpec::Tcp(addr));
    round_trips(&hub, &rx, warmup * 5, 0);
    let warm = rss_kib();
    let total = if smoke {
        250
    } else if quick {
        2000
    } else {
        10_000
    };
    let mut samples = vec![];
    let step = total / 5;
    let mut off = 100_000;
    for _ in 0..5 {
        round_trips(&hub, &rx, step, off);
        off += step;
        samples.push(rss_kib());
    }
    println!(
        "{:<28} start {} KiB, after each {} baskets: {:?} KiB (growth {} KiB)",
        "RSS",
        warm,
        step,
        samples,
        *samples.last().unwrap() as i64 - samples[0] as i64
    );
    hub.close();
    let _ = child.kill();
    let _ = child.wait();
}
