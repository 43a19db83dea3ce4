//! The crash harness (docs/JOURNAL.md § Crash harness): a child process sells against a
//! simulated ÖKC and is SIGKILLed at a step boundary (a named crash point, or at a random
//! moment); a second process starts on the same journal and sells the same baskets again, as
//! a POS does after a crash. Then, from the simulator's own records and the journal:
//!
//! - every basket printed at most once (the simulator's sales by basketID);
//! - every printed receipt acknowledged to the device (none left for it to re-send);
//! - every printed receipt delivered to the application at least once (the application's
//!   own file, written inside its callback) and confirmed exactly once (the journal's
//!   history);
//! - a basket that was not printed is in the journal as in doubt or not sent — never lost
//!   silently, never re-sent blindly.
//!
//! `CRASH_ROUNDS` (default 10) rounds of every crash point × sale; CI runs the default
//! (≥ 200 kill points), the note reports a run with `CRASH_ROUNDS=100`.
//! The child is this test binary itself (`crash_child`, which does nothing unless
//! `OKC_CRASH_CHILD` is set).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use okclink::hub::{Config, Hub, HubError, SendOutcome, TransportSpec};
use okclink::journal::{Journal, Kind, OpenOptions, State};
use okclink_sim::{serve_tcp, SimConfig};

/// The crash points a sale passes (library: `hooks::crash_point` calls; `app.in_callback`:
/// inside the application's callback, after it wrote the receipt down).
const POINTS: &[&str] = &[
    "basket.before_send",
    "basket.after_send",
    "basket.after_mark",
    "sale.before_record",
    "sale.after_record",
    "app.in_callback",
    "sale.after_callback",
];

/// Sales per child.
const SALES: usize = 3;

fn basket(i: usize, tag: &str) -> String {
    format!(
        r#"{{"basketID":"{tag}-{i}","items":[{{"name":"ÇAY","price":{p},"quantity":1000,"sectionNo":1,"taxPercent":1000,"type":0}}],"paymentItems":[{{"amount":{p},"description":"Nakit","type":1}}]}}"#,
        p = 100 + i
    )
}

/// The child: sells `SALES` baskets (`OKC_CRASH_TAG`-i) over `OKC_CRASH_SIM`, on the
/// journal `OKC_JOURNAL`, writing each delivered receipt's basketID to `OKC_CRASH_APP`.
#[test]
fn crash_child() {
    let Ok(sim) = std::env::var("OKC_CRASH_CHILD") else {
        return;
    };
    let tag = std::env::var("OKC_CRASH_TAG").unwrap();
    let app_file = std::env::var("OKC_CRASH_APP").unwrap();
    let mut c = Config::new("Crash Test");
    c.transports = vec![TransportSpec::Tcp(sim)];
    c.log_dir = None;
    c.journal = okclink::config::JournalSetting::Path(std::env::var("OKC_JOURNAL").unwrap().into());
    let hub = Hub::new(c).expect("hub");
    let app = Arc::new(Mutex::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&app_file)
            .unwrap(),
    ));
    let a = app.clone();
    hub.set_serial_in_callback(Some(Box::new(move |t, v| {
        if t != 3 {
            return;
        }
        let id = okclink::hub::basket_id_of(v).unwrap_or_default();
        let mut f = a.lock().unwrap();
        writeln!(f, "{id}").unwrap();
        f.sync_data().unwrap();
        drop(f);
        okclink::hub::hooks::crash_point("app.in_callback");
    })));
    assert!(
        hub.wait_connected(Duration::from_secs(10)).is_some(),
        "no device"
    );
    for i in 0..SALES {
        let b = basket(i, &tag);
        let id = format!("{tag}-{i}");
        if hub.recorded_sale(&id).is_some() {
            continue;
        }
        let wait = match hub.send_basket(&b) {
            Ok(SendOutcome::Accepted) => Duration::from_secs(5),
            // Sent by the killed process, no receipt yet: the device re-sends its sale
            // info if it printed it; otherwise it stays in doubt.
            Err(HubError::InDoubt(_)) => Duration::from_millis(1500),
            other => panic!("{id}: {other:?}"),
        };
        let end = Instant::now() + wait;
        while hub.recorded_sale(&id).is_none() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // Let the last callbacks run.
    std::thread::sleep(Duration::from_millis(100));
    hub.close();
}

struct Run {
    dir: PathBuf,
    tag: String,
}

impl Run {
    fn journal(&self) -> PathBuf {
        self.dir.join("journal.sqlite")
    }
    fn app(&self) -> PathBuf {
        self.dir.join("app.txt")
    }

    /// One child; `crash` = `Some("point@n")` or a random kill after `kill_after`.
    fn child(&self, sim: &str, crash: Option<&str>, kill_after: Option<Duration>) -> bool {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env("OKC_CRASH_CHILD", sim)
            .env("OKC_CRASH_TAG", &self.tag)
            .env("OKC_CRASH_APP", self.app())
            .env("OKC_JOURNAL", self.journal())
            .env_remove("OKC_CRASH_AT")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(p) = crash {
            cmd.env("OKC_CRASH_AT", p);
        }
        let mut ch = cmd.spawn().unwrap();
        if let Some(d) = kill_after {
            std::thread::sleep(d);
            let _ = ch.kill(); // SIGKILL
        }
        let out = ch.wait_with_output().unwrap();
        let killed = !out.status.success();
        if killed && crash.is_none() && kill_after.is_none() {
            panic!(
                "the clean child failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        killed
    }
}

fn check(run: &Run, sim: &okclink_sim::SimServer, what: &str) {
    // Printed at most once, every printed one acknowledged.
    let sales: Vec<(String, bool)> = sim.with(|s| {
        s.sales()
            .iter()
            .map(|r| {
                let text = okclink::hub::text::decode_device_text(&r.sale_info);
                (
                    okclink::hub::basket_id_of(&text).unwrap_or_default(),
                    r.acked,
                )
            })
            .collect()
    });
    let mut printed: HashMap<String, usize> = HashMap::new();
    for (id, acked) in &sales {
        *printed.entry(id.clone()).or_default() += 1;
        assert!(acked, "{what}: receipt {id} never acknowledged");
    }
    for (id, n) in &printed {
        assert_eq!(*n, 1, "{what}: {id} printed {n} times");
    }
    let delivered = std::fs::read_to_string(run.app()).unwrap_or_default();
    let j = Journal::open_with(
        run.journal(),
        &OpenOptions {
            read_only: true,
            ..Default::default()
        },
    )
    .unwrap();
    for i in 0..SALES {
        let id = format!("{}-{i}", run.tag);
        let basket = j.get(Kind::Basket, &id).unwrap();
        if printed.contains_key(&id) {
            assert!(
                delivered.lines().any(|l| l == id),
                "{what}: {id} printed but never delivered to the application"
            );
            let r = j
                .get(Kind::Receipt, &id)
                .unwrap()
                .unwrap_or_else(|| panic!("{what}: {id} printed, no receipt in the journal"));
            assert!(r.confirmed(), "{what}: {id} not confirmed");
            let confirms = j
                .history(r.id)
                .unwrap()
                .iter()
                .filter(|h| h.event == "confirmed")
                .count();
            assert_eq!(confirms, 1, "{what}: {id} confirmed {confirms} times");
            let b = basket.unwrap_or_else(|| panic!("{what}: {id} printed, no basket entry"));
            assert_eq!(
                b.state,
                State::Answered,
                "{what}: {id}: {:?} / receipt {:?}",
                j.history(b.id).unwrap(),
                j.history(r.id).unwrap()
            );
        } else {
            let b = basket.unwrap_or_else(|| panic!("{what}: {id} neither printed nor journalled"));
            assert!(
                matches!(b.state, State::InDoubt | State::NotSent | State::Recorded),
                "{what}: {id} not printed but {}",
                b.state
            );
            assert!(
                !delivered.lines().any(|l| l == id),
                "{what}: {id} delivered, never printed"
            );
        }
    }
}

fn sim_config() -> SimConfig {
    SimConfig {
        sale_resend_interval: Duration::from_millis(200),
        ..SimConfig::x30tr()
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("okc-crash-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn one(dir: &Path, tag: String, crash: Option<String>, kill_after: Option<Duration>) -> bool {
    let sim = serve_tcp("127.0.0.1:0", sim_config()).unwrap();
    let addr = sim.local_addr().to_string();
    let run = Run {
        dir: dir.join(&tag),
        tag,
    };
    std::fs::create_dir_all(&run.dir).unwrap();
    let killed = run.child(&addr, crash.as_deref(), kill_after);
    // The POS starts again on the same journal and sells the same baskets.
    run.child(&addr, None, None);
    let what = format!("{} {crash:?} {kill_after:?}", run.tag);
    check(&run, &sim, &what);
    sim.shutdown();
    let _ = std::fs::remove_dir_all(&run.dir);
    killed
}

/// Every crash point at every sale, `CRASH_ROUNDS` times, plus as many random kills.
#[test]
fn killed_at_every_step_nothing_lost_nothing_twice() {
    let rounds: usize = std::env::var("CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let dir = tmp("points");
    let (mut points, mut kills) = (0, 0);
    let t0 = Instant::now();
    for round in 0..rounds {
        for p in POINTS {
            for n in 1..=SALES {
                let tag = format!("r{round}-{}-{n}", p.replace('.', "_"));
                points += 1;
                if one(&dir, tag, Some(format!("{p}@{n}")), None) {
                    kills += 1;
                }
            }
        }
        // Random moments: anywhere in a child's life, including inside SQLite's commit.
        for k in 0..(POINTS.len() * SALES) {
            let ms = 5 + (round * 37 + k * 53) % 400;
            let tag = format!("r{round}-random-{k}");
            points += 1;
            if one(&dir, tag, None, Some(Duration::from_millis(ms as u64))) {
                kills += 1;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "crash harness: {points} kill points, {kills} children killed, {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    // Every named point is reached (a point that is never hit proves nothing).
    assert!(kills >= rounds * POINTS.len() * SALES, "{kills} kills");
}
