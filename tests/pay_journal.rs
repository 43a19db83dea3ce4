//! The payment front with the journal across restarts (issue 14, docs/PAYMENTS.md § Journal):
//! a `Terminal` is closed and a new one opened on the same journal file, against the nexo and
//! GP tom simulators over loopback. "Never a second charge" is read from the simulators' own
//! request logs.
#![cfg(all(feature = "journal", feature = "nexo", feature = "gptom"))]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use okclink::journal::{Journal, Kind, State};
use okclink::pay::gptom::{GptomConfig, GptomTiming};
use okclink::pay::{
    self, PayError, PaymentRequest, PendingState, Terminal, TerminalConfig, TxKind,
};
use okclink_sim::{
    GptomConfig as GSimConfig, GptomFaults, GptomSim, NexoConfig, NexoFaults, NexoSim, TaskOutcome,
};

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("pay_journal")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("journal.sqlite")
}

fn req(amount: i64, currency: &str, reference: &str) -> PaymentRequest {
    PaymentRequest {
        amount,
        currency: currency.into(),
        reference: reference.into(),
    }
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// --- nexo ---------------------------------------------------------------------------------

fn nexo_sim(payment_time: Duration) -> NexoSim {
    NexoSim::start(
        NexoConfig {
            payment_time,
            busy_after_payment: Duration::from_millis(200),
            ..NexoConfig::default()
        },
        "127.0.0.1:0",
    )
    .expect("nexo simulator")
}

fn nexo_open(sim: &NexoSim, journal: Option<&Path>) -> Terminal {
    let mut c = TerminalConfig::new(&format!(
        "nexo+http://{}?poiid=POS-1&saleid=SALE-1",
        sim.addr()
    ));
    c.maintenance_at = None;
    c.journal = journal.map(Path::to_path_buf);
    pay::open(c).expect("terminal")
}

fn nexo_scope(sim: &NexoSim) -> String {
    format!("POS-1@{}", sim.addr())
}

fn nexo_count(sim: &NexoSim, category: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.category == category)
        .count()
}

#[test]
fn nexo_a_restart_returns_the_recorded_result_without_a_second_payment() {
    let sim = nexo_sim(Duration::from_millis(100));
    let path = tmp("nexo-restart");
    assert!(
        nexo_open(&sim, None).recovered(),
        "no journal: nothing to recover"
    );
    let t = nexo_open(&sim, Some(&path));
    let first = t.pay(&req(1250, "SEK", "R-1")).unwrap();
    assert!(first.approved, "{first:?}");
    t.close();
    drop(t);

    let t = nexo_open(&sim, Some(&path));
    let again = t.pay(&req(1250, "SEK", "R-1")).unwrap();
    assert_eq!(again, first);
    assert_eq!(t.status(Some("R-1")).unwrap(), first);
    assert_eq!(
        nexo_count(&sim, "Payment"),
        1,
        "the terminal saw one payment"
    );
    // The same reference with another amount is refused, not sent.
    assert!(matches!(
        t.pay(&req(999, "SEK", "R-1")),
        Err(PayError::InvalidInput(_))
    ));
    assert_eq!(nexo_count(&sim, "Payment"), 1);
    let e = Journal::shared(&path)
        .unwrap()
        .get(Kind::Payment, "R-1")
        .unwrap()
        .unwrap();
    assert_eq!((e.state, e.attempts), (State::Answered, 1));
    assert_eq!(e.scope, nexo_scope(&sim));
    // `sent` kept the request's ServiceID (what recovery asks TransactionStatus by).
    let sid = sim
        .requests()
        .into_iter()
        .find(|r| r.category == "Payment")
        .and_then(|r| r.service_id)
        .unwrap();
    let h = Journal::shared(&path).unwrap().history(e.id).unwrap();
    let sent = h.iter().find(|r| r.event == "sent").unwrap();
    assert_eq!(
        sent.note.as_deref(),
        Some(format!("sent [handle ServiceID {sid}]").as_str())
    );
    t.close();
}

#[test]
fn nexo_a_lost_answer_is_reconciled_after_a_restart_by_transaction_status() {
    // The answer is dropped half-way (2 s); the process stops while it asks
    // TransactionStatus (the payment still runs on the terminal).
    let sim = nexo_sim(Duration::from_secs(4));
    let path = tmp("nexo-lost");
    let t = std::sync::Arc::new(nexo_open(&sim, Some(&path)));
    t.login().unwrap();
    sim.set_faults(NexoFaults {
        drop_socket_mid_payment: true,
        ..NexoFaults::default()
    });
    let t2 = t.clone();
    let paying = std::thread::spawn(move || t2.pay(&req(4200, "SEK", "R-LOST")));
    wait_until(
        "the recovery's TransactionStatus",
        Duration::from_secs(10),
        || nexo_count(&sim, "TransactionStatus") > 0,
    );
    t.close();
    let r = paying.join().unwrap();
    assert!(r.is_err(), "{r:?}");
    let j = Journal::shared(&path).unwrap();
    let e = j.get(Kind::Payment, "R-LOST").unwrap().unwrap();
    assert_eq!(e.state, State::InDoubt, "{e:?}");
    assert!(e.reason.as_deref().unwrap().contains("ServiceID"), "{e:?}");
    drop(j);
    drop(t);
    // The payment completes on the terminal meanwhile.
    wait_until("the payment to end", Duration::from_secs(10), || {
        sim.transactions().iter().any(|x| x.approved)
    });
    let status_before = nexo_count(&sim, "TransactionStatus");

    let t = nexo_open(&sim, Some(&path));
    let pending = t.pending().unwrap();
    // pending() waits for the start-up recovery: over now, and its result is in the journal.
    assert!(t.recovered());
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].state, PendingState::Answered);
    let r = pending[0].result.clone().unwrap();
    assert!(r.approved && r.amount == 4200, "{r:?}");
    assert!(nexo_count(&sim, "TransactionStatus") > status_before);
    // The same reference: the reconciled result, no second PaymentRequest.
    assert_eq!(t.pay(&req(4200, "SEK", "R-LOST")).unwrap(), r);
    assert_eq!(nexo_count(&sim, "Payment"), 1);
    t.close();
}

#[test]
fn nexo_a_crash_after_the_send_is_reconciled_by_the_last_transaction() {
    // What a process killed between the send and the answer leaves: the entry `sent`, no
    // ServiceID. The terminal did the payment.
    let sim = nexo_sim(Duration::from_millis(100));
    let path = tmp("nexo-crash");
    let plain = nexo_open(&sim, None);
    assert!(plain.pay(&req(700, "SEK", "R-CRASH")).unwrap().approved);
    plain.close();
    drop(plain);
    {
        let j = Journal::shared(&path).unwrap();
        let rq = pay::journal::request_json(TxKind::Payment, &req(700, "SEK", "R-CRASH"));
        let id = match j
            .begin(Kind::Payment, "R-CRASH", &nexo_scope(&sim), &rq)
            .unwrap()
        {
            okclink::journal::Begin::New(id) => id,
            o => panic!("{o:?}"),
        };
        j.mark_sent(id).unwrap();
        // And one that was recorded but never handed over.
        let rq = pay::journal::request_json(TxKind::Payment, &req(800, "SEK", "R-NEVER"));
        j.begin(Kind::Payment, "R-NEVER", &nexo_scope(&sim), &rq)
            .unwrap();
    }
    let t = nexo_open(&sim, Some(&path));
    let mut pending = t.pending().unwrap();
    pending.sort_by(|a, b| a.reference.cmp(&b.reference));
    assert_eq!(pending.len(), 2, "{pending:?}");
    assert_eq!(pending[0].reference, "R-CRASH");
    assert_eq!(pending[0].state, PendingState::Answered);
    assert!(pending[0].result.as_ref().unwrap().approved);
    assert_eq!(pending[1].reference, "R-NEVER");
    assert_eq!(pending[1].state, PendingState::NotSent);
    assert_eq!(nexo_count(&sim, "Payment"), 1, "nothing sent again");
    // The not-sent one may be paid now: one new payment.
    assert!(t.pay(&req(800, "SEK", "R-NEVER")).unwrap().approved);
    assert_eq!(nexo_count(&sim, "Payment"), 2);
    t.close();
}

#[test]
fn nexo_unconfirmed_results_are_offered_again_confirmed_ones_are_not() {
    let sim = nexo_sim(Duration::from_millis(50));
    let path = tmp("nexo-confirm");
    let t = nexo_open(&sim, Some(&path));
    let a = t.pay(&req(100, "SEK", "C-1")).unwrap();
    std::thread::sleep(Duration::from_millis(250)); // the terminal's busy window
    let b = t.pay(&req(200, "SEK", "C-2")).unwrap();
    t.confirm("C-1").unwrap();
    t.confirm("C-1").unwrap(); // idempotent
    assert!(matches!(t.confirm("NOPE"), Err(PayError::InvalidInput(_))));
    t.close();
    drop(t);

    let t = nexo_open(&sim, Some(&path));
    let p = t.pending().unwrap();
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].reference, "C-2");
    assert_eq!(p[0].result.as_ref(), Some(&b));
    assert_ne!(a, b);
    t.confirm("C-2").unwrap();
    t.close();
    drop(t);

    let t = nexo_open(&sim, Some(&path));
    assert!(t.pending().unwrap().is_empty());
    assert_eq!(nexo_count(&sim, "Payment"), 2);
    t.close();
}

#[test]
fn a_journal_that_cannot_be_opened_fails_open_with_what_to_do() {
    let sim = nexo_sim(Duration::from_millis(50));
    // Not a database.
    let path = tmp("corrupt");
    std::fs::write(&path, vec![0x5a_u8; 8192]).unwrap();
    let mut c = TerminalConfig::new(&format!("nexo+http://{}", sim.addr()));
    c.journal = Some(path.clone());
    match pay::open(c) {
        Err(PayError::Config(e)) => {
            assert!(e.contains(&path.display().to_string()), "{e}");
            assert!(e.contains("move the file"), "{e}");
        }
        o => panic!("{:?}", o.map(|_| ())),
    }
    // A path through a file.
    let mut c = TerminalConfig::new(&format!("nexo+http://{}", sim.addr()));
    c.journal = Some(path.join("journal.sqlite"));
    match pay::open(c) {
        Err(PayError::Config(e)) => assert!(e.contains("OKC_JOURNAL"), "{e}"),
        o => panic!("{:?}", o.map(|_| ())),
    }
    // A read-only folder (permission bits do not stop root: skipped then).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = tmp("readonly").parent().unwrap().to_path_buf();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        if std::fs::write(dir.join("probe"), b"x").is_ok() {
            eprintln!("read-only case skipped: permission bits do not apply to this user");
        } else {
            let mut c = TerminalConfig::new(&format!("nexo+http://{}", sim.addr()));
            c.journal = Some(dir.join("journal.sqlite"));
            match pay::open(c) {
                Err(PayError::Config(e)) => assert!(e.contains("journal"), "{e}"),
                o => panic!("{:?}", o.map(|_| ())),
            }
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    assert!(sim.requests().is_empty(), "nothing sent");
}

// --- GP tom -------------------------------------------------------------------------------

const TID: &str = "999888";

fn gptom_sim(outcome: TaskOutcome) -> GptomSim {
    GptomSim::start(
        GSimConfig {
            client_basic: "cG9zLWNsaWVudDpwb3Mtc2VjcmV0".into(),
            task_time: Duration::from_millis(100),
            outcome,
            ..GSimConfig::default()
        },
        "127.0.0.1:0",
    )
    .expect("GP tom simulator")
}

fn gptom_open(sim: &GptomSim, journal: Option<&Path>) -> Terminal {
    let mut g = GptomConfig::default();
    g.set("username", "shop-7").unwrap();
    g.set("password", "pw").unwrap();
    g.set("basic", "pos-client:pos-secret").unwrap();
    g.timing = GptomTiming {
        poll_first: Duration::from_millis(20),
        poll_max: Duration::from_millis(100),
        queued_limit: Duration::from_secs(2),
        in_progress_limit: Duration::from_secs(1),
        http_timeout: Duration::from_secs(5),
        lookup_attempts: 2,
    };
    let mut c = TerminalConfig::new(&format!("gptom+{}?tid={TID}", sim.url()));
    c.gptom = g;
    c.journal = journal.map(Path::to_path_buf);
    pay::open(c).expect("terminal")
}

fn creates(sim: &GptomSim) -> usize {
    sim.requests_to("POST", "/v1/tasks/TRANSACTION").len()
}

#[test]
fn gptom_a_restart_returns_the_recorded_result_without_a_second_task() {
    let sim = gptom_sim(TaskOutcome::Approve);
    let path = tmp("gptom-restart");
    let t = gptom_open(&sim, Some(&path));
    let first = t.pay(&req(5025, "CZK", "G1")).unwrap();
    assert!(first.approved, "{first:?}");
    t.close();
    drop(t);
    let t = gptom_open(&sim, Some(&path));
    assert_eq!(t.pay(&req(5025, "CZK", "G1")).unwrap(), first);
    assert_eq!(creates(&sim), 1, "one task");
    // The task id from the cloud's answer was noted while the task ran (what recovery asks
    // the task detail by): the one the client then polled.
    let j = Journal::shared(&path).unwrap();
    let e = j.get(Kind::Payment, "G1").unwrap().unwrap();
    let noted: Vec<String> = j
        .history(e.id)
        .unwrap()
        .into_iter()
        .filter(|r| r.event == "note")
        .filter_map(|r| r.note)
        .collect();
    assert_eq!(noted.len(), 1, "{noted:?}");
    let task = noted[0]
        .strip_prefix("sent [handle task ")
        .and_then(|r| r.strip_suffix(']'))
        .unwrap();
    assert!(
        !sim.requests_to("GET", &format!("/v1/tasks/{task}"))
            .is_empty(),
        "task {task} polled"
    );
    // The reversal reads the sale's transaction id from the journal (no in-process memory
    // after the restart), and is itself idempotent.
    let v = t.reverse_last().unwrap();
    assert!(v.approved, "{v:?}");
    assert_eq!(v.reference, "reversal-of-G1");
    let voids: Vec<serde_json::Value> = sim
        .requests_to("POST", "/v1/tasks/TRANSACTION")
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .filter(|b: &serde_json::Value| b["transactionType"] == "VOID")
        .collect();
    assert_eq!(voids.len(), 1);
    assert_eq!(
        voids[0]["originTransactionID"].as_str(),
        first.transaction_id.as_deref()
    );
    assert_eq!(t.reverse_last().unwrap(), v);
    assert_eq!(creates(&sim), 2);
    t.close();
}

#[test]
fn gptom_a_lost_answer_is_reconciled_after_a_restart_by_the_task_detail() {
    // The create's answer is dropped (the task is found in the TID's list), then the task
    // hangs beyond the wait: in doubt with its task id.
    let sim = gptom_sim(TaskOutcome::Stuck);
    sim.set_faults(GptomFaults {
        create_drop_after_create: 1,
        ..GptomFaults::default()
    });
    let path = tmp("gptom-lost");
    let t = gptom_open(&sim, Some(&path));
    match t.pay(&req(700, "CZK", "G2")) {
        Err(PayError::OutcomeUnknown(_)) => {}
        o => panic!("{o:?}"),
    }
    t.close();
    drop(t);
    let task = sim.tasks()[0].clone();
    let e = Journal::shared(&path)
        .unwrap()
        .get(Kind::Payment, "G2")
        .unwrap()
        .unwrap();
    assert_eq!(e.state, State::InDoubt);
    assert!(
        e.reason.as_deref().unwrap().contains(&task.id),
        "the task id is kept: {e:?}"
    );

    // Still hanging after the restart: stays in doubt, the same reference is not sent again.
    let t = gptom_open(&sim, Some(&path));
    let p = t.pending().unwrap();
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].state, PendingState::InDoubt);
    match t.pay(&req(700, "CZK", "G2")) {
        Err(PayError::OutcomeUnknown(e)) => assert!(e.contains("NOT sent again"), "{e}"),
        o => panic!("{o:?}"),
    }
    assert_eq!(creates(&sim), 1);
    t.close();
    drop(t);

    // The device finishes it; the next start reads the task detail.
    assert!(sim.finish(&task.id, TaskOutcome::Approve));
    let reads_before = sim
        .requests_to("GET", &format!("/v1/tasks/{}", task.id))
        .len();
    let t = gptom_open(&sim, Some(&path));
    let p = t.pending().unwrap();
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].state, PendingState::Answered);
    let r = p[0].result.clone().unwrap();
    assert!(r.approved, "{r:?}");
    assert!(
        sim.requests_to("GET", &format!("/v1/tasks/{}", task.id))
            .len()
            > reads_before,
        "reconciled by the task detail"
    );
    assert_eq!(t.pay(&req(700, "CZK", "G2")).unwrap(), r);
    assert_eq!(creates(&sim), 1, "never a second task");
    t.confirm("G2").unwrap();
    assert!(t.pending().unwrap().is_empty());
    t.close();
}

#[test]
fn gptom_a_crash_after_the_send_is_reconciled_by_the_task_list() {
    let sim = gptom_sim(TaskOutcome::Approve);
    let path = tmp("gptom-crash");
    let plain = gptom_open(&sim, None);
    assert!(plain.pay(&req(300, "CZK", "G3")).unwrap().approved);
    plain.close();
    drop(plain);
    {
        let j = Journal::shared(&path).unwrap();
        for (r, amount, sent) in [("G3", 300, true), ("G4", 400, true)] {
            let rq = pay::journal::request_json(TxKind::Payment, &req(amount, "CZK", r));
            if let okclink::journal::Begin::New(id) = j.begin(Kind::Payment, r, TID, &rq).unwrap() {
                if sent {
                    j.mark_sent(id).unwrap();
                }
            }
        }
    }
    let t = gptom_open(&sim, Some(&path));
    let mut p = t.pending().unwrap();
    p.sort_by(|a, b| a.reference.cmp(&b.reference));
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(
        (p[0].reference.as_str(), p[0].state),
        ("G3", PendingState::Answered)
    );
    assert_eq!(
        (p[1].reference.as_str(), p[1].state),
        ("G4", PendingState::NotSent)
    );
    assert_eq!(creates(&sim), 1, "nothing sent again");
    t.close();
}
