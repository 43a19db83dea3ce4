//! Helpers shared by the hand-timed benches (latency percentiles, raw HTTP/1.1 exchanges on a
//! keep-alive connection, per-thread CPU time).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

pub fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

pub fn report(name: &str, mut v: Vec<Duration>) -> Duration {
    let p50 = pct(&mut v, 0.50);
    let p99 = pct(&mut v, 0.99);
    println!(
        "{name:<34} n={:<6} p50 {:>8.1} µs   p99 {:>8.1} µs   max {:>8.1} µs",
        v.len(),
        us(p50),
        us(p99),
        us(*v.last().unwrap())
    );
    p50
}

/// One request on a keep-alive connection; reads the whole answer (Content-Length).
pub fn exchange(r: &mut BufReader<TcpStream>, req: &[u8]) -> u16 {
    r.get_mut().write_all(req).unwrap();
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        if h == "\r\n" || h.is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    status.split_whitespace().nth(1).unwrap().parse().unwrap()
}

pub fn thread_ns(prefixes: &[&str]) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if prefixes.iter().any(|p| name.trim().starts_with(p)) {
            total += std::fs::read_to_string(e.path().join("schedstat"))
                .ok()
                .and_then(|s| {
                    s.split_whitespace()
                        .next()
                        .and_then(|v| v.parse::<u64>().ok())
                })
                .unwrap_or(0);
        }
    }
    total
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
