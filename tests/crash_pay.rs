//! The crash harness of the payment front (docs/JOURNAL.md § Crash harness), after
//! tests/crash.rs: a child process pays three references against the nexo terminal simulator
//! (in this process, so it outlives the child) and is SIGKILLed at a step boundary (a named
//! crash point, or at a random moment); a second process starts on the same journal, takes
//! what `pending()` offers and pays the same references again, as a POS does after a crash.
//! Then, from the simulator's own transactions and the journal:
//!
//! - every reference charged (an approved payment at the terminal) at most once;
//! - every charged reference delivered to the application at least once (the application's
//!   own file, written before it confirms) and confirmed exactly once (the journal's
//!   history);
//! - a reference that was not charged is in the journal as not sent, failed or in doubt —
//!   never delivered, never lost silently.
//!
//! `CRASH_ROUNDS` (default 2: 72 kill points) rounds of every crash point × payment plus as
//! many random kills. The child is this test binary itself (`crash_child`, which does
//! nothing unless `OKC_CRASH_PAY_CHILD` is set).
#![cfg(all(feature = "journal", feature = "nexo"))]

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use okclink::journal::{Journal, Kind, OpenOptions, State};
use okclink::pay::{self, PayError, PaymentRequest, PendingState, TerminalConfig};
use okclink_sim::{NexoConfig, NexoSim};

/// The crash points a payment passes, in order (library: `crash_point` calls in
/// src/pay/front.rs and src/pay/journal.rs; `app.after_result`: the application wrote the
/// result down and has not confirmed it yet).
const POINTS: &[&str] = &[
    "pay.before_send",
    "pay.after_mark",
    "pay.after_send",
    "pay.after_result",
    "pay.after_return",
    "app.after_result",
];

/// Payments per child.
const PAYMENTS: usize = 3;

fn amount(i: usize) -> i64 {
    1000 + i as i64
}

/// The application's record of a result: its reference, fsynced, then the crash point, then
/// `confirm`.
fn deliver(app: &mut std::fs::File, t: &pay::Terminal, reference: &str) {
    // One write (a kill between the id and its newline would glue two lines).
    app.write_all(format!("{reference}\n").as_bytes()).unwrap();
    app.sync_data().unwrap();
    okclink::hub::hooks::crash_point("app.after_result");
    t.confirm(reference).unwrap();
}

/// The child: on the journal `OKC_JOURNAL`, against the terminal `OKC_CRASH_PAY_CHILD`,
/// first takes the results `pending()` offers, then pays `OKC_CRASH_TAG`-0..2; each result
/// goes to `OKC_CRASH_APP` and is confirmed.
#[test]
fn crash_child() {
    let Ok(terminal) = std::env::var("OKC_CRASH_PAY_CHILD") else {
        return;
    };
    let tag = std::env::var("OKC_CRASH_TAG").unwrap();
    let mut app = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(std::env::var("OKC_CRASH_APP").unwrap())
        .unwrap();
    let mut c = TerminalConfig::new(&terminal);
    c.maintenance_at = None;
    c.journal = Some(std::env::var("OKC_JOURNAL").unwrap().into());
    let t = pay::open(c).expect("terminal");
    for p in t.pending().unwrap() {
        eprintln!("pending {} {}", p.reference, p.state.as_str());
        if p.state == PendingState::Answered && p.result.is_some() {
            deliver(&mut app, &t, &p.reference);
        }
    }
    for i in 0..PAYMENTS {
        let reference = format!("{tag}-{i}");
        match t.pay(&PaymentRequest {
            amount: amount(i),
            currency: "SEK".into(),
            reference: reference.clone(),
        }) {
            Ok(r) => {
                assert_eq!(r.reference, reference);
                deliver(&mut app, &t, &reference);
            }
            // In doubt: never sent again blindly; the parent checks it was not charged.
            Err(e @ PayError::OutcomeUnknown(_)) => eprintln!("{reference}: {e}"),
            Err(e) => panic!("{reference}: {e:?}"),
        }
    }
    t.close();
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

    /// One child; `crash` = `Some("point@n")` or a random kill after `kill_after`. True when
    /// it was killed.
    fn child(&self, sim: &NexoSim, crash: Option<&str>, kill_after: Option<Duration>) -> bool {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(
                "OKC_CRASH_PAY_CHILD",
                format!("nexo+http://{}?poiid=POS-1&saleid=SALE-1", sim.addr()),
            )
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
        let mut ch = cmd.spawn().unwrap();
        if let Some(d) = kill_after {
            std::thread::sleep(d);
            let _ = ch.kill(); // SIGKILL
        }
        let out = ch.wait_with_output().unwrap();
        let killed = !out.status.success();
        if killed && crash.is_none() && kill_after.is_none() {
            panic!(
                "{}: the clean child failed: {}",
                self.tag,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        killed
    }
}

fn start_sim() -> NexoSim {
    NexoSim::start(
        NexoConfig {
            payment_time: Duration::from_millis(20),
            busy_after_payment: Duration::from_millis(20),
            ..NexoConfig::default()
        },
        "127.0.0.1:0",
    )
    .expect("nexo simulator")
}

fn check(run: &Run, sim: &NexoSim, what: &str) {
    // Charged: the terminal's approved payments, by SaleTransactionID (the reference).
    let mut charged: HashMap<String, u32> = HashMap::new();
    for tx in sim.transactions() {
        if tx.kind == "Payment" && tx.approved && !tx.aborted {
            let reference = tx
                .sale_transaction_id
                .split('@')
                .next()
                .unwrap_or_default()
                .to_string();
            *charged.entry(reference).or_default() += 1;
        }
    }
    for (r, n) in &charged {
        assert_eq!(
            *n,
            1,
            "{what}: {r} charged {n} times: {:?}",
            sim.transactions()
        );
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
    for i in 0..PAYMENTS {
        let reference = format!("{}-{i}", run.tag);
        let e = j
            .get(Kind::Payment, &reference)
            .unwrap()
            .unwrap_or_else(|| panic!("{what}: {reference} not in the journal"));
        let history = j.history(e.id).unwrap();
        if charged.contains_key(&reference) {
            assert!(
                delivered.lines().any(|l| l == reference),
                "{what}: {reference} charged but never delivered: {history:?}"
            );
            assert_eq!(e.state, State::Answered, "{what}: {reference}: {history:?}");
            // The application got the charge, not a decline.
            assert!(
                approved(&e),
                "{what}: {reference} charged, journalled {:?}",
                e.result
            );
            confirmed_once(&history, what, &reference);
        } else if e.state == State::Answered {
            // Not charged and answered: a decline (e.g. the terminal dropped the payment of
            // the killed process), a result like any other.
            assert!(
                !approved(&e),
                "{what}: {reference} approved in the journal, not charged: {:?}",
                sim.transactions()
            );
            assert!(
                delivered.lines().any(|l| l == reference),
                "{what}: {reference} declined but never delivered: {history:?}"
            );
            confirmed_once(&history, what, &reference);
        } else {
            assert!(
                matches!(e.state, State::NotSent | State::Failed | State::InDoubt),
                "{what}: {reference} not charged but {}: {history:?}",
                e.state
            );
            assert!(
                !delivered.lines().any(|l| l == reference),
                "{what}: {reference} delivered, never charged"
            );
        }
    }
}

fn approved(e: &okclink::journal::Entry) -> bool {
    e.result
        .as_deref()
        .and_then(okclink::pay::journal::result_from_json)
        .is_some_and(|r| r.approved)
}

fn confirmed_once(history: &[okclink::journal::HistoryRow], what: &str, reference: &str) {
    let confirms = history.iter().filter(|h| h.event == "confirmed").count();
    assert_eq!(
        confirms, 1,
        "{what}: {reference} confirmed {confirms} times: {history:?}"
    );
}

fn tmp() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("crash_pay")
        .join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One kill point: a child killed (or not), a clean child on the same journal, the checks.
fn one(dir: &Path, tag: String, crash: Option<String>, kill_after: Option<Duration>) -> bool {
    let sim = start_sim();
    let run = Run {
        dir: dir.join(&tag),
        tag,
    };
    std::fs::create_dir_all(&run.dir).unwrap();
    let killed = run.child(&sim, crash.as_deref(), kill_after);
    // The POS starts again on the same journal and pays the same references.
    run.child(&sim, None, None);
    let what = format!("nexo {} {crash:?} {kill_after:?}", run.tag);
    check(&run, &sim, &what);
    let _ = std::fs::remove_dir_all(&run.dir);
    killed
}

#[test]
fn nexo_killed_at_every_step_charged_once_delivered_confirmed_once() {
    let rounds: usize = std::env::var("CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let only = std::env::var("CRASH_ONLY").ok();
    let dir = tmp();
    let t0 = Instant::now();
    // How long a whole child lives (the random kills fall inside it).
    let life = {
        let t = Instant::now();
        one(&dir, "calibrate".into(), None, None);
        (t.elapsed() / 2).max(Duration::from_millis(50))
    };
    let (mut points, mut kills, mut named_kills) = (0, 0, 0);
    for round in 0..rounds {
        for p in POINTS
            .iter()
            .filter(|p| only.as_deref().map_or(true, |o| o == **p))
        {
            for n in 1..=PAYMENTS {
                let tag = format!("r{round}-{}-{n}", p.replace('.', "_"));
                points += 1;
                if one(&dir, tag, Some(format!("{p}@{n}")), None) {
                    kills += 1;
                    named_kills += 1;
                }
            }
        }
        let randoms = if only.is_some() {
            0
        } else {
            POINTS.len() * PAYMENTS
        };
        for k in 0..randoms {
            // Spread over the child's life (start-up, login, the payments, the exit).
            let at = life.as_millis() as u64 * ((round * 37 + k * 53) % 100) as u64 / 100;
            let tag = format!("r{round}-random-{k}");
            points += 1;
            if one(&dir, tag, None, Some(Duration::from_millis(at))) {
                kills += 1;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "crash harness nexo: {points} kill points, {kills} children killed, {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    // Every named point is reached (a point that is never hit proves nothing).
    let expected = rounds
        * PAYMENTS
        * POINTS
            .iter()
            .filter(|p| only.as_deref().map_or(true, |o| o == **p))
            .count();
    assert_eq!(named_kills, expected, "named points not reached");
}
