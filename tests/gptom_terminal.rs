//! The payment front over the GP tom back end, end to end against the GP tom Cloud simulator
//! (`okclink_sim::GptomSim`, written from the spec independently of the client) over
//! loopback. "Exactly one task" is read from the simulator's own request log and task list.
#![cfg(feature = "gptom")]

use std::time::Duration;

use okclink::pay::gptom::{GptomConfig, GptomTiming};
use okclink::pay::{self, PayError, PaymentRequest, TerminalConfig};
use okclink_sim::{
    GptomConfig as SimConfig, GptomFaults, GptomSim, TaskKind, TaskOutcome, TaskState,
};

const TID: &str = "999888";
/// `pos-client:pos-secret`, the Basic pair both sides are given.
const BASIC_PAIR: &str = "pos-client:pos-secret";
const BASIC_B64: &str = "cG9zLWNsaWVudDpwb3Mtc2VjcmV0";
const PASSWORD: &str = "hunter2-secret";

fn timing() -> GptomTiming {
    GptomTiming {
        poll_first: Duration::from_millis(20),
        poll_max: Duration::from_millis(100),
        queued_limit: Duration::from_secs(2),
        in_progress_limit: Duration::from_secs(2),
        http_timeout: Duration::from_secs(5),
        lookup_attempts: 2,
    }
}

fn start(f: impl FnOnce(&mut SimConfig)) -> GptomSim {
    let mut c = SimConfig {
        client_basic: BASIC_B64.into(),
        task_time: Duration::from_millis(100),
        ..SimConfig::default()
    };
    f(&mut c);
    GptomSim::start(c, "127.0.0.1:0").expect("GP tom simulator")
}

fn open_with(sim: &GptomSim, query: &str, basic: &str) -> pay::Terminal {
    let mut g = GptomConfig::default();
    g.set("username", "shop-7").unwrap();
    g.set("password", PASSWORD).unwrap();
    g.set("basic", basic).unwrap();
    g.timing = timing();
    let mut cfg = TerminalConfig::new(&format!("gptom+{}?{query}", sim.url()));
    cfg.gptom = g;
    cfg.journal = None; // one process (tests/pay_journal.rs: restarts)
    pay::open(cfg).expect("terminal")
}

fn open(sim: &GptomSim) -> pay::Terminal {
    open_with(sim, &format!("tid={TID}"), BASIC_PAIR)
}

fn req(amount: i64, reference: &str) -> PaymentRequest {
    PaymentRequest {
        amount,
        currency: "CZK".into(),
        reference: reference.into(),
    }
}

/// The transaction tasks the cloud accepted (401s and faults excluded).
fn creates(sim: &GptomSim) -> Vec<serde_json::Value> {
    sim.requests_to("POST", "/v1/tasks/TRANSACTION")
        .iter()
        .filter(|r| r.http_status == 201)
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect()
}

/// Every create the client sent, whatever the answer.
fn create_attempts(sim: &GptomSim) -> usize {
    sim.requests_to("POST", "/v1/tasks/TRANSACTION").len()
}

#[test]
fn an_approved_sale_is_one_task() {
    let sim = start(|_| {});
    let t = open(&sim);
    let r = t.pay(&req(5025, "Invoice 37364FD")).unwrap();
    assert!(r.approved, "{r:?}");
    assert_eq!((r.amount, r.currency.as_str()), (5025, "CZK"));
    assert!(r.masked_pan.is_some() && r.approval_code.is_some(), "{r:?}");
    assert!(r.transaction_id.is_some());
    // The request as the spec's §4.1 field set, with the caller's reference.
    let c = creates(&sim);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["transactionType"], "SALE");
    assert_eq!(c[0]["amount"], 5025);
    assert_eq!(c[0]["currencyCode"], "CZK");
    assert_eq!(c[0]["originReferenceNum"], "Invoice 37364FD");
    // The same reference: the recorded result, no second task.
    assert_eq!(t.pay(&req(5025, "Invoice 37364FD")).unwrap(), r);
    assert_eq!(creates(&sim).len(), 1);
    let tasks = sim.tasks();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].state, TaskState::Completed);
    assert_eq!(tasks[0].tid, TID);
    // Credentials travel only in the token request's form, never in a task.
    assert!(sim
        .requests()
        .iter()
        .filter(|q| !q.path.contains("oauth"))
        .all(|q| !q.body.contains(PASSWORD)));
    t.close();
}

#[test]
fn a_declined_card_is_a_completed_task_with_a_declined_result() {
    let sim = start(|c| c.outcome = TaskOutcome::Decline);
    let t = open(&sim);
    let r = t.pay(&req(999, "D1")).unwrap();
    assert!(!r.approved, "{r:?}");
    assert!(
        r.reason.as_deref().is_some_and(|x| x.contains("declined")),
        "{r:?}"
    );
    // The task itself finished fine: task outcome ≠ payment outcome.
    assert_eq!(sim.tasks()[0].state, TaskState::Completed);
    t.close();
}

#[test]
fn a_cancelled_and_a_failed_task_are_not_approved() {
    let sim = start(|c| c.outcome = TaskOutcome::Cancel);
    let t = open(&sim);
    let r = t.pay(&req(999, "X1")).unwrap();
    assert!(!r.approved);
    assert_eq!(sim.tasks()[0].state, TaskState::Cancelled);
    sim.set_outcome(TaskOutcome::Fail);
    let r = t.pay(&req(999, "F1")).unwrap();
    assert!(!r.approved);
    let reason = r.reason.unwrap_or_default();
    assert!(
        reason.contains("FAILED") && reason.contains("43"),
        "{reason}"
    );
    t.close();
}

#[test]
fn tokens_are_refreshed_before_expiry_and_after_a_401() {
    let sim = start(|c| c.token_ttl = Duration::from_secs(2));
    let t = open(&sim);
    assert!(t.pay(&req(100, "T1")).unwrap().approved);
    let token_calls = |grant: &str| {
        sim.requests_to("POST", "/cloud/oauth/token")
            .iter()
            .filter(|q| q.body.contains(&format!("grant_type={grant}")))
            .count()
    };
    assert_eq!(token_calls("password"), 1);
    // Renewed ahead of the 2 s expiry (with the refresh grant).
    std::thread::sleep(Duration::from_millis(1800));
    assert!(t.pay(&req(100, "T2")).unwrap().approved);
    assert!(token_calls("refresh_token") >= 1, "{:?}", sim.requests());
    // The cloud forgets every token: one 401, a refresh, the call again.
    sim.expire_tokens();
    let before = token_calls("refresh_token");
    assert!(t.pay(&req(100, "T3")).unwrap().approved);
    assert_eq!(token_calls("refresh_token"), before + 1);
    // Refresh tokens revoked too: the password grant again.
    sim.expire_tokens();
    sim.revoke_refresh_tokens();
    assert!(t.pay(&req(100, "T4")).unwrap().approved);
    assert_eq!(token_calls("password"), 2);
    assert_eq!(creates(&sim).len(), 4);
    assert_eq!(sim.tasks().len(), 4, "no task was created twice");
    assert_eq!(
        create_attempts(&sim),
        6,
        "the two 401s, each sent again once"
    );
    t.close();
}

#[test]
fn a_wrong_client_basic_is_a_configuration_error_without_credentials() {
    let sim = start(|_| {});
    let t = open_with(&sim, &format!("tid={TID}"), "someone:else");
    match t.pay(&req(100, "W1")) {
        Err(PayError::Config(e)) => {
            assert!(!e.contains(PASSWORD) && !e.contains("someone:else"), "{e}")
        }
        o => panic!("{o:?}"),
    }
    assert!(creates(&sim).is_empty());
    t.close();
}

#[test]
fn a_master_account_names_the_tid_in_every_task() {
    let sim = start(|_| {});
    let t = open_with(&sim, &format!("tid={TID}&master=1"), BASIC_PAIR);
    assert!(t.pay(&req(700, "M1")).unwrap().approved);
    let token = &sim.requests_to("POST", "/cloud/oauth/token")[0];
    assert!(!token.body.contains("tid="), "{}", token.body);
    assert_eq!(creates(&sim)[0]["tid"], TID);
    assert_eq!(sim.tasks()[0].tid, TID);
    t.close();
}

#[test]
fn cancellation_of_the_last_sale_same_tid_only_within_93_days() {
    let sim = start(|_| {});
    let t = open(&sim);
    let sale = t.pay(&req(3000, "C1")).unwrap();
    assert!(sale.approved);
    let v = t.reverse_last().unwrap();
    assert!(v.approved && v.kind == "reversal", "{v:?}");
    assert_eq!(v.amount, 3000);
    let voids: Vec<_> = creates(&sim)
        .into_iter()
        .filter(|c| c["transactionType"] == "VOID")
        .collect();
    assert_eq!(voids.len(), 1);
    assert_eq!(
        voids[0]["originTransactionID"].as_str(),
        sale.transaction_id.as_deref()
    );
    assert!(matches!(t.reverse_last(), Err(PayError::Refused { .. })));
    t.close();

    // Another terminal (TID) has no sale of its own to cancel: refused, nothing sent.
    let other = open_with(&sim, "tid=111222", BASIC_PAIR);
    assert!(matches!(
        other.reverse_last(),
        Err(PayError::Refused { .. })
    ));
    other.close();

    // A terminal whose last sale is 94 days old: refused locally (a new process reads it
    // from the cloud), nothing sent; at 92 days the cancellation goes through. (Day 93 itself
    // is a boundary the spec leaves open: the client counts 93 × 24 h from the sale, the
    // simulator whole days.)
    for (days, refused) in [(94, true), (92, false)] {
        let tid = format!("5550{days}");
        let t = open_with(&sim, &format!("tid={tid}"), BASIC_PAIR);
        let old = t.pay(&req(4100, &format!("AGE{days}"))).unwrap();
        t.close();
        assert!(sim.age_transaction(old.transaction_id.as_deref().unwrap(), days));
        let t = open_with(&sim, &format!("tid={tid}"), BASIC_PAIR);
        let before = create_attempts(&sim);
        match t.reverse_last() {
            Err(PayError::Refused { text, .. }) if refused => {
                assert!(text.contains("93"), "{text}");
                assert_eq!(create_attempts(&sim), before, "refused before calling");
            }
            Ok(v) if !refused => assert!(v.approved && v.amount == 4100, "{v:?}"),
            o => panic!("{days} days: {o:?}"),
        }
        t.close();
    }
}

#[test]
fn a_5xx_on_create_never_makes_a_second_task() {
    // The cloud created the task but answered 500: the client finds it by its reference.
    let sim = start(|c| {
        c.faults = GptomFaults {
            create_5xx_after_create: 1,
            ..GptomFaults::default()
        }
    });
    let t = open(&sim);
    let r = t.pay(&req(2500, "R5XX1")).unwrap();
    assert!(r.approved, "{r:?}");
    assert_eq!(create_attempts(&sim), 1);
    assert_eq!(sim.tasks().len(), 1);
    assert!(!sim.requests_to("GET", "/v1/tasks").is_empty());
    // The cloud refused before creating anything: outcome unknown, still never a second create.
    sim.set_faults(GptomFaults {
        create_5xx: 1,
        ..GptomFaults::default()
    });
    match t.pay(&req(2600, "R5XX2")) {
        Err(PayError::OutcomeUnknown(_)) => {}
        o => panic!("{o:?}"),
    }
    assert_eq!(create_attempts(&sim), 2);
    assert_eq!(sim.tasks().len(), 1);
    t.close();
}

#[test]
fn a_stuck_task_times_out_and_its_outcome_is_read_later() {
    let sim = start(|c| c.outcome = TaskOutcome::Stuck);
    let t = open(&sim);
    match t.pay(&req(500, "S1")) {
        Err(PayError::OutcomeUnknown(e)) => assert!(e.contains("status"), "{e}"),
        o => panic!("{o:?}"),
    }
    let task = sim.tasks()[0].clone();
    assert_eq!(task.state, TaskState::InProgress);
    // The device finishes it later; the status by reference reads the same task.
    assert!(sim.finish(&task.id, TaskOutcome::Approve));
    let r = t.status(Some("S1")).unwrap();
    assert!(r.approved, "{r:?}");
    assert_eq!(creates(&sim).len(), 1, "never resubmitted");
    t.close();
}

#[test]
fn batch_close_is_a_batch_task() {
    let sim = start(|_| {});
    let t = open(&sim);
    assert!(t.pay(&req(100, "B1")).unwrap().approved);
    let first = sim.batch_number(TID);
    let s = t.batch_close().unwrap();
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["type"], "BATCH", "{v}");
    assert_eq!(v["state"], "COMPLETED", "{v}");
    assert_eq!(sim.batch_number(TID), first + 1);
    assert!(sim.tasks().iter().any(|x| x.kind == TaskKind::Batch));
    t.close();
}

#[test]
fn abort_is_unsupported_and_bad_references_never_leave() {
    let sim = start(|_| {});
    let t = open(&sim);
    assert!(matches!(t.abort(), Err(PayError::Unsupported(_))));
    assert!(matches!(
        t.pay(&req(100, "order-17")),
        Err(PayError::InvalidInput(_))
    ));
    assert!(matches!(
        t.pay(&req(100, "ABCDEFGHIJKLMNOPQRSTU")),
        Err(PayError::InvalidInput(_))
    ));
    assert!(sim.requests().is_empty());
    t.close();
}
