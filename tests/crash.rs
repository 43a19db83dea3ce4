//! The crash harness (docs/JOURNAL.md § Crash harness): a child process sells against a
//! simulated X30TR, 300TR (TCP) or the TokenX cloud simulator and is SIGKILLed at a step boundary (a named crash point, or at a random
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
//! `CRASH_ROUNDS` rounds of every crash point × sale (default: 3 for the X30TR, 1 for the 300TR
//! and the cloud: 210 kill points in CI); `CRASH_ROUNDS=16` gives 672 for each simulator,
//! 2 016 in all (the long run PERFORMANCE.md § Journal reports).
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

/// A basket; the X30TR and the cloud take its payment inside, the 300TR as type 10.
fn basket(i: usize, tag: &str, t300: bool) -> String {
    let pay = if t300 {
        String::new()
    } else {
        format!(
            r#","paymentItems":[{{"amount":{},"description":"Nakit","type":1}}]"#,
            100 + i
        )
    };
    format!(
        r#"{{"basketID":"{tag}-{i}","items":[{{"name":"ÇAY","price":{p},"quantity":1000,"sectionNo":1,"taxPercent":1000,"type":0}}]{pay}}}"#,
        p = 100 + i
    )
}

/// The child: sells `SALES` baskets (`OKC_CRASH_TAG`-i) through `OKC_CRASH_CHILD` (a
/// transport; the cloud's with a webhook on `OKC_CRASH_HOOK`), on the journal `OKC_JOURNAL`,
/// writing each delivered receipt's basketID to `OKC_CRASH_APP`. A 300TR's basket is paid
/// with a type-10 payment, also after a restart (the device may hold it open).
#[test]
fn crash_child() {
    let Ok(transport) = std::env::var("OKC_CRASH_CHILD") else {
        return;
    };
    let tag = std::env::var("OKC_CRASH_TAG").unwrap();
    let app_file = std::env::var("OKC_CRASH_APP").unwrap();
    let mut c = Config::new("Crash Test");
    c.transports = TransportSpec::parse_list(&transport).unwrap();
    c.log_dir = None;
    c.journal = okclink::config::JournalSetting::Path(std::env::var("OKC_JOURNAL").unwrap().into());
    if let Ok(hook) = std::env::var("OKC_CRASH_HOOK") {
        c.tokenx.client_id = "crash".into();
        c.tokenx.client_secret = okclink::config::Secret::new("crash-secret");
        c.tokenx.webhook_listen = Some(hook.clone());
        c.tokenx.callback_url = Some(format!("http://{hook}/hook"));
        c.tokenx.callback_auth = Some(okclink::config::Secret::new("Bearer crash-hook"));
    }
    let t300 = transport.contains("model=300tr");
    let cloud = transport.starts_with("tokenx");
    let hub = Hub::new(c).expect("hub");
    let app = Arc::new(Mutex::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&app_file)
            .unwrap(),
    ));
    let a = app.clone();
    let replies = Arc::new(Mutex::new(Vec::<String>::new()));
    let r2 = replies.clone();
    hub.set_serial_in_callback(Some(Box::new(move |t, v| {
        if t == 1 {
            r2.lock().unwrap().push(v.to_string());
        }
        if t != 3 {
            return;
        }
        let id = okclink::hub::basket_id_of(v).unwrap_or_default();
        let mut f = a.lock().unwrap();
        // One write: `writeln!` may write the id and the newline separately, and a kill
        // between them glued the next process's line to this one (the 2 016-point run).
        f.write_all(format!("{id}\n").as_bytes()).unwrap();
        f.sync_data().unwrap();
        drop(f);
        okclink::hub::hooks::crash_point("app.in_callback");
    })));
    assert!(
        hub.wait_connected(Duration::from_secs(10)).is_some(),
        "no device"
    );
    for i in 0..SALES {
        let b = basket(i, &tag, t300);
        let id = format!("{tag}-{i}");
        if hub.recorded_sale(&id).is_some() {
            continue;
        }
        let wait = match hub.send_basket(&b) {
            Ok(SendOutcome::Accepted) => Duration::from_secs(5),
            // Sent by the killed process, no receipt yet: the device re-sends its sale
            // info if it printed it (a 300TR may still hold it open: pay it below);
            // otherwise it stays in doubt.
            // The cloud: recovery asks `GET /v1/basket/{id}` on a thread at start.
            Err(HubError::InDoubt(_)) if cloud => Duration::from_secs(5),
            Err(HubError::InDoubt(_)) => Duration::from_millis(1500),
            other => panic!("{id}: {other:?}"),
        };
        if t300 {
            // The 300TR answers an accepted basket with its status; then it takes payments.
            let end = Instant::now() + Duration::from_secs(2);
            while !replies.lock().unwrap().iter().any(|r| r.contains(&id)) && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(5));
            }
            let pay = format!(r#"{{"amount":{},"description":"Nakit","type":1}}"#, 100 + i);
            let _ = hub.send_payment(&pay);
        }
        let end = Instant::now() + wait;
        while hub.recorded_sale(&id).is_none() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // Let the last callbacks run: every sale info the journal has is delivered before the
    // POS closes (a recovery's delivery may still be queued).
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end {
        let written = std::fs::read_to_string(&app_file).unwrap_or_default();
        let pending = (0..SALES).any(|i| {
            let id = format!("{tag}-{i}");
            hub.recorded_sale(&id).is_some() && !written.lines().any(|l| l == id)
        });
        if !pending {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(50));
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
    fn child(&self, sim: &Sim, crash: Option<&str>, kill_after: Option<Duration>) -> bool {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env("OKC_CRASH_CHILD", sim.transport())
            .env_remove("OKC_CRASH_HOOK")
            .env("OKC_CRASH_TAG", &self.tag)
            .env("OKC_CRASH_APP", self.app())
            .env("OKC_JOURNAL", self.journal())
            .env_remove("OKC_CRASH_AT")
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("CRASH_DEBUG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::piped()
            });
        if let Some(p) = crash {
            cmd.env("OKC_CRASH_AT", p);
        }
        if let Sim::Cloud(_) = sim {
            cmd.env("OKC_CRASH_HOOK", format!("127.0.0.1:{}", free_port()));
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

/// The simulator of a run.
enum Sim {
    Wired(okclink_sim::SimServer, &'static str),
    Cloud(okclink_sim::CloudSim),
}

const TERMINAL: &str = "AV00000000001";

impl Sim {
    fn start(kind: &str) -> Sim {
        match kind {
            "cloud" => Sim::Cloud(
                okclink_sim::CloudSim::start(
                    okclink_sim::CloudConfig {
                        device_delay: Duration::from_millis(20),
                        ..Default::default()
                    },
                    "127.0.0.1:0",
                )
                .unwrap(),
            ),
            "300tr" => Sim::Wired(
                serve_tcp(
                    "127.0.0.1:0",
                    SimConfig {
                        sale_resend_interval: Duration::from_millis(200),
                        verbose: std::env::var_os("CRASH_DEBUG").is_some(),
                        ..SimConfig::t300tr_immediate()
                    },
                )
                .unwrap(),
                "?model=300tr",
            ),
            _ => Sim::Wired(
                serve_tcp(
                    "127.0.0.1:0",
                    SimConfig {
                        sale_resend_interval: Duration::from_millis(200),
                        ..SimConfig::x30tr()
                    },
                )
                .unwrap(),
                "",
            ),
        }
    }

    fn transport(&self) -> String {
        match self {
            Sim::Wired(s, q) => format!("tcp://{}{q}", s.local_addr()),
            Sim::Cloud(c) => format!("tokenx+{}?terminal-id={TERMINAL}", c.url()),
        }
    }

    /// basketID → (times printed / created, acknowledged / finished).
    fn printed(&self) -> Vec<(String, u32, bool)> {
        match self {
            Sim::Wired(sim, _) => sim.with(|s| {
                s.sales()
                    .iter()
                    .map(|r| {
                        let text = okclink::hub::text::decode_device_text(&r.sale_info);
                        let id = okclink::hub::basket_id_of(&text).unwrap_or_default();
                        (id, 1, r.acked)
                    })
                    .collect()
            }),
            Sim::Cloud(c) => c
                .baskets()
                .into_iter()
                .map(|b| {
                    let done = b.state == okclink_sim::BasketState::Completed;
                    (b.id, b.creations, done)
                })
                .collect(),
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn check(run: &Run, sim: &Sim, what: &str) {
    // Printed (created at the cloud) at most once; every printed one acknowledged (cloud:
    // finished).
    let mut printed: HashMap<String, u32> = HashMap::new();
    for (id, n, acked) in sim.printed() {
        *printed.entry(id.clone()).or_default() += n;
        assert!(acked, "{what}: receipt {id} never acknowledged / finished");
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
                matches!(
                    b.state,
                    State::InDoubt | State::NotSent | State::Recorded | State::Failed
                ),
                "{what}: {id} not printed but {}: {:?}",
                b.state,
                j.history(b.id).unwrap()
            );
            assert!(
                !delivered.lines().any(|l| l == id),
                "{what}: {id} delivered, never printed"
            );
        }
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("okc-crash-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn one(
    kind: &str,
    dir: &Path,
    tag: String,
    crash: Option<String>,
    kill_after: Option<Duration>,
) -> bool {
    let sim = Sim::start(kind);
    let run = Run {
        dir: dir.join(&tag),
        tag,
    };
    std::fs::create_dir_all(&run.dir).unwrap();
    let killed = run.child(&sim, crash.as_deref(), kill_after);
    // The POS starts again on the same journal and sells the same baskets.
    run.child(&sim, None, None);
    let what = format!("{kind} {} {crash:?} {kill_after:?}", run.tag);
    check(&run, &sim, &what);
    if let Sim::Wired(s, _) = sim {
        s.shutdown();
    }
    let _ = std::fs::remove_dir_all(&run.dir);
    killed
}

/// Every crash point at every sale, `CRASH_ROUNDS` times (default 3), plus as many random
/// kills, for one simulator.
fn harness(kind: &str, default_rounds: usize) {
    let rounds: usize = std::env::var("CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_rounds);
    let dir = tmp(kind);
    let (mut points, mut kills) = (0, 0);
    let t0 = Instant::now();
    // One point only (for debugging a finding): CRASH_ONLY=NAME.
    let only = std::env::var("CRASH_ONLY").ok();
    for round in 0..rounds {
        for p in POINTS
            .iter()
            .filter(|p| only.as_deref().map_or(true, |o| o == **p))
        {
            for n in 1..=SALES {
                let tag = format!("r{round}-{}-{n}", p.replace('.', "_"));
                points += 1;
                if one(kind, &dir, tag, Some(format!("{p}@{n}")), None) {
                    kills += 1;
                }
            }
        }
        // Random moments: anywhere in a child's life, including inside SQLite's commit.
        let randoms = if only.is_some() {
            0
        } else {
            POINTS.len() * SALES
        };
        for k in 0..randoms {
            let ms = 5 + (round * 37 + k * 53) % 400;
            let tag = format!("r{round}-random-{k}");
            points += 1;
            if one(
                kind,
                &dir,
                tag,
                None,
                Some(Duration::from_millis(ms as u64)),
            ) {
                kills += 1;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "crash harness {kind}: {points} kill points, {kills} children killed, {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    // Every named point is reached (a point that is never hit proves nothing).
    if only.is_none() {
        assert!(kills >= rounds * POINTS.len() * SALES, "{kills} kills");
    }
}

#[test]
fn x30tr_killed_at_every_step_nothing_lost_nothing_twice() {
    harness("x30tr", 3);
}

#[test]
fn t300tr_killed_at_every_step_nothing_lost_nothing_twice() {
    harness("300tr", 1);
}

#[test]
fn cloud_killed_at_every_step_nothing_lost_nothing_twice() {
    harness("cloud", 1);
}
