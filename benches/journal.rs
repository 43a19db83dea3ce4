//! The journal's cost (PERFORMANCE.md § Journal), hand-timed (latency percentiles):
//!
//! - `sale path`: the journal writes of one sale as the fiscal front makes them — basket
//!   begin, sent, the sale info with the basket's result, confirm — four committed
//!   transactions with `synchronous=FULL` (each an fsync of the WAL), and each write alone;
//! - `round trip`: `send_basket` → sale info callback in-process against the X30TR simulator,
//!   with the journal and without, back to back and (with the journal) 20 ms apart;
//! - `1 000 000 entries`: open time of such a journal and the look-up of a basketID.
//!
//! `cargo bench --bench journal` (`JOURNAL_BENCH_ENTRIES` changes the million).
//! The files go to `target/journal-bench` (on the disk the shop PC would use, not tmpfs).

mod common;

use std::path::{Path, PathBuf};
use std::sync::mpsc::channel;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::report;
use okclink::config::JournalSetting;
use okclink::hub::{Config, Hub, TransportSpec};
use okclink::journal::{Begin, Journal, Kind, Outcome};

fn dir() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/journal-bench");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fresh(name: &str) -> PathBuf {
    let p = dir().join(name);
    for s in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{s}", p.display()));
    }
    p
}

const SALE: &str = r#"{"basketID":"B","documentType":0,"message":"OK","paymentItems":[{"amount":500,"type":1}],"receiptNo":1,"status":0,"zNo":1}"#;

fn basket(id: &str) -> String {
    format!(
        r#"{{"basketID":"{id}","items":[{{"name":"ÇAY","price":500,"quantity":1000,"sectionNo":1,"taxPercent":1000,"type":0}}],"paymentItems":[{{"amount":500,"description":"Nakit","type":1}}]}}"#
    )
}

/// The journal writes of one sale as the fiscal front makes them: the basket's record
/// before it leaves, `sent`, the sale info with the basket's result in one transaction
/// (before the device's "OK"), the confirmation after the callback — four commits. The
/// first and the third are on the sale's critical path; `sent` overlaps the device's work.
fn sale_path(n: usize) {
    let j = Journal::open(fresh("sale-path.sqlite")).unwrap();
    let (mut whole, mut begin, mut arrival) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let key = format!("sale-{i}");
        let b = basket(&key);
        let t = Instant::now();
        let Begin::New(id) = j.begin(Kind::Basket, &key, "wired", &b).unwrap() else {
            unreachable!()
        };
        begin.push(t.elapsed());
        j.mark_sent(id).unwrap();
        let t2 = Instant::now();
        let a = j
            .record_arrival(
                Kind::Receipt,
                &key,
                "wired",
                SALE,
                Outcome::Success,
                Some(Kind::Basket),
            )
            .unwrap();
        arrival.push(t2.elapsed());
        j.confirm(a.id).unwrap();
        whole.push(t.elapsed());
    }
    report("one write: basket begin (fsync)", begin);
    report("one write: sale info + basket", arrival);
    report("sale path (4 commits, fsync)", whole);
}

/// `gap`: the pause after each sale's callback before the next basket. Back to back (no gap),
/// the next basket's record waits for the previous sale info's commit (one connection), so
/// the loop measures two fsyncs per sale; a POS's next basket comes later than one fsync.
fn round_trip(n: usize, journal: bool, gap: Duration) {
    let (conn, _ctl) = okclink_sim::mem_connector(okclink_sim::SimConfig::x30tr());
    let mut c = Config::new("Bench");
    c.transports = vec![TransportSpec::Custom(conn)];
    c.log_dir = None;
    c.journal = if journal {
        JournalSetting::Path(fresh("round-trip.sqlite"))
    } else {
        JournalSetting::Off
    };
    let hub = Hub::new(c).unwrap();
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    hub.set_serial_in_callback(Some(Box::new(move |t, _v| {
        if t == 3 {
            let _ = tx.lock().unwrap().send(Instant::now());
        }
    })));
    hub.wait_connected(Duration::from_secs(10)).unwrap();
    let mut each = Vec::with_capacity(n);
    for i in 0..n + 20 {
        let b = basket(&format!("rt-{journal}-{i}"));
        let t = Instant::now();
        hub.send_basket(&b).unwrap();
        let at = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        if i >= 20 {
            each.push(at - t);
        }
        std::thread::sleep(gap);
    }
    hub.close();
    let name = match (journal, gap.is_zero()) {
        (true, true) => "round trip, journal",
        (true, false) => "round trip, journal, 20 ms apart",
        (false, _) => "round trip, no journal",
    };
    report(name, each);
}

fn million(entries: usize) {
    let path = dir().join(format!("entries-{entries}.sqlite"));
    if !path.exists() {
        let t = Instant::now();
        drop(Journal::open(&path).unwrap()); // the schema
        let mut db = rusqlite::Connection::open(&path).unwrap();
        db.pragma_update(None, "synchronous", "OFF").unwrap();
        let tx = db.transaction().unwrap();
        {
            let mut e = tx
                .prepare(
                    "INSERT INTO entries (family, kind, key, scope, request, state, outcome, \
                     result, attempts, created_at, sent_at, answered_at, confirmed_at, \
                     delivered_at, updated_at) VALUES ('basket', 'basket', ?1, 'wired', ?2, \
                     'answered', 'success', ?3, 1, ?4, ?4, ?4, ?4, ?4, ?4)",
                )
                .unwrap();
            let mut h = tx
                .prepare("INSERT INTO history (entry_id, at, event) VALUES (?1, ?2, ?3)")
                .unwrap();
            let now = okclink::journal::now_ms();
            for i in 0..entries {
                let key = format!("basket-{i:08}");
                e.execute(rusqlite::params![key, basket(&key), SALE, now])
                    .unwrap();
                let id = tx.last_insert_rowid();
                for ev in ["recorded", "sent", "answered"] {
                    h.execute(rusqlite::params![id, now, ev]).unwrap();
                }
            }
        }
        tx.commit().unwrap();
        println!(
            "built a journal of {entries} entries in {:.1} s ({} MB)",
            t.elapsed().as_secs_f64(),
            std::fs::metadata(&path).unwrap().len() >> 20
        );
    }
    let mut opens = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let j = Journal::open(&path).unwrap();
        opens.push(t.elapsed());
        drop(j);
    }
    report(&format!("open, {entries} entries"), opens);
    let j = Journal::open(&path).unwrap();
    let mut looks = Vec::new();
    for i in 0..2000 {
        let key = format!("basket-{:08}", (i * 7919) % entries);
        let t = Instant::now();
        let e = j.get(Kind::Basket, &key).unwrap();
        looks.push(t.elapsed());
        assert!(e.is_some());
    }
    report(&format!("look-up, {entries} entries"), looks);
}

fn main() {
    // `cargo test --benches` runs this with `--bench`-less arguments: keep it short then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let entries: usize = std::env::var("JOURNAL_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 2_000 } else { 1_000_000 });
    let n = if quick { 20 } else { 500 };
    sale_path(n);
    round_trip(n, false, Duration::ZERO);
    round_trip(n, true, Duration::ZERO);
    round_trip(n, true, Duration::from_millis(20));
    million(entries);
}
