//! The payment front over the nexo back end end to end against the Swedbank Pay terminal
//! simulator (`okclink_sim::NexoSim`) over loopback. "Exactly one payment" is read from the
//! simulator's own transaction log.
#![cfg(feature = "nexo")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use okclink::pay::{self, PayError, PaymentRequest, TerminalConfig, TerminalEvent};
use okclink_sim::{NexoConfig, NexoFaults, NexoSim, PaymentOutcome};

fn sim(f: impl FnOnce(&mut NexoConfig)) -> NexoSim {
    let mut c = NexoConfig {
        payment_time: Duration::from_millis(150),
        busy_after_payment: Duration::from_millis(300),
        ..NexoConfig::default()
    };
    f(&mut c);
    NexoSim::start(c, "127.0.0.1:0").expect("terminal simulator")
}

fn target(sim: &NexoSim) -> String {
    format!("nexo+http://{}?poiid=POS-1&saleid=SALE-1", sim.addr())
}

type Events = Arc<Mutex<Vec<TerminalEvent>>>;

fn open(sim: &NexoSim, listener: bool, confirm: Option<bool>) -> (pay::Terminal, Events) {
    let mut c = TerminalConfig::new(&target(sim));
    if listener {
        c.listener = Some("127.0.0.1:0".into());
    }
    let events: Events = Arc::new(Mutex::new(Vec::new()));
    let e2 = events.clone();
    c.events = Some(Arc::new(move |e: &TerminalEvent| {
        e2.lock().unwrap().push(e.clone());
        match e {
            TerminalEvent::SignatureConfirmation { .. } => confirm,
            _ => None,
        }
    }));
    let t = pay::open(c).expect("terminal");
    if let Some(a) = t.listener_addr() {
        sim.set_pos_listener(Some(format!("http://{a}/EPASSaleToPOI/3.1")));
    }
    (t, events)
}

fn req(amount: i64, reference: &str) -> PaymentRequest {
    PaymentRequest {
        amount,
        currency: "SEK".into(),
        reference: reference.into(),
    }
}

#[test]
fn an_approved_payment_with_receipts() {
    let sim = sim(|_| {});
    let (t, _) = open(&sim, false, None);
    let r = t.pay(&req(5600, "ref-approve-1")).unwrap();
    assert!(r.approved, "{r:?}");
    assert_eq!((r.amount, r.currency.as_str()), (5600, "SEK"));
    assert!(r.approval_code.as_deref().is_some_and(|c| !c.is_empty()));
    assert!(r.masked_pan.as_deref().is_some_and(|p| p.contains('*')));
    assert!(r.transaction_id.is_some() && r.timestamp.is_some());
    assert!(!r.customer_receipt.is_empty() && !r.merchant_receipt.is_empty());
    // The same reference again: the recorded result, no second charge.
    assert_eq!(t.pay(&req(5600, "ref-approve-1")).unwrap(), r);
    let txs = sim.transactions();
    assert_eq!(txs.len(), 1, "{txs:?}");
    assert_eq!((txs[0].amount_minor, txs[0].approved), (5600, true));
    assert_eq!(txs[0].sale_transaction_id, "ref-approve-1");
    // A second payment right after: the terminal is busy ~3 s (here 300 ms); retried.
    let r2 = t.pay(&req(100, "ref-approve-2")).unwrap();
    assert!(r2.approved);
    assert_eq!(sim.transactions().len(), 2);
    t.close();
}

#[test]
fn a_decline_carries_its_receipt() {
    let sim = sim(|c| c.outcome = PaymentOutcome::Decline);
    let (t, _) = open(&sim, false, None);
    let r = t.pay(&req(999, "ref-decline")).unwrap();
    assert!(!r.approved);
    assert!(
        r.reason.as_deref().is_some_and(|x| x.contains("Refusal")),
        "{r:?}"
    );
    assert!(!r.customer_receipt.is_empty());
    assert_eq!(r.amount, 0);
    t.close();
}

#[test]
fn refund_and_reversal() {
    let sim = sim(|_| {});
    let (t, _) = open(&sim, false, None);
    let r = t.refund(&req(1200, "ref-refund")).unwrap();
    assert!(r.approved && r.kind == "refund", "{r:?}");
    let p = t.pay(&req(3000, "ref-to-reverse")).unwrap();
    assert!(p.approved);
    let rev = t.reverse_last().unwrap();
    assert!(rev.approved && rev.kind == "reversal", "{rev:?}");
    assert_eq!((rev.amount, rev.currency.as_str()), (3000, "SEK"));
    assert!(sim.transactions().iter().any(|x| x.reversed));
    // Only once.
    assert!(t.reverse_last().is_err());
    t.close();
}

#[test]
fn a_dropped_socket_mid_payment_is_recovered_without_paying_twice() {
    let sim = sim(|c| c.faults.drop_socket_mid_payment = true);
    let (t, _) = open(&sim, false, None);
    let r = t.pay(&req(4200, "ref-drop")).unwrap();
    assert!(r.approved, "{r:?}");
    assert_eq!(r.amount, 4200);
    let txs = sim.transactions();
    assert_eq!(txs.len(), 1, "{txs:?}");
    let asked = sim
        .requests()
        .iter()
        .filter(|q| q.category == "TransactionStatus")
        .count();
    assert!(asked >= 1);
    let pays = sim
        .requests()
        .iter()
        .filter(|q| q.category == "Payment")
        .count();
    assert_eq!(pays, 1, "never sent again");
    t.close();
}

#[test]
fn abort_mid_payment() {
    let sim = sim(|c| c.payment_time = Duration::from_secs(3));
    let (t, _) = open(&sim, false, None);
    let t = Arc::new(t);
    let t2 = t.clone();
    let h = std::thread::spawn(move || t2.pay(&req(700, "ref-abort")));
    std::thread::sleep(Duration::from_millis(600));
    t.abort().unwrap();
    let r = h.join().unwrap().unwrap();
    assert!(!r.approved);
    assert!(
        r.reason.as_deref().is_some_and(|x| x.contains("Aborted")),
        "{r:?}"
    );
    assert!(sim.transactions().iter().all(|x| !x.approved));
    t.close();
}

#[test]
fn relogin_after_a_reboot_and_busy_after_login() {
    let sim = sim(|c| c.faults.busy_after_login_once = true);
    let (t, _) = open(&sim, false, None);
    assert!(t.pay(&req(100, "ref-a")).unwrap().approved);
    sim.reboot();
    assert!(t.pay(&req(200, "ref-b")).unwrap().approved);
    let logins = sim
        .requests()
        .iter()
        .filter(|q| q.category == "Login")
        .count();
    assert!(
        logins >= 3,
        "busy login, login, login after reboot: {logins}"
    );
    t.close();
}

#[test]
fn signature_confirmed_and_refused_through_the_listener() {
    let sim = sim(|c| c.outcome = PaymentOutcome::Signature);
    let (t, events) = open(&sim, true, Some(true));
    let r = t.pay(&req(8800, "ref-sign-yes")).unwrap();
    assert!(r.approved, "{r:?}");
    let ev = events.lock().unwrap().clone();
    assert!(
        ev.iter().any(|e| matches!(e, TerminalEvent::Display(_))),
        "{ev:?}"
    );
    assert!(ev
        .iter()
        .any(|e| matches!(e, TerminalEvent::SignatureConfirmation { .. })));
    assert!(sim.listener_calls().iter().all(|c| c.violation.is_none()));
    t.close();
    let (t, _) = open(&sim, true, Some(false));
    std::thread::sleep(Duration::from_millis(400));
    let r = t.pay(&req(8800, "ref-sign-no")).unwrap();
    assert!(!r.approved, "{r:?}");
    t.close();
}

#[test]
fn unreachable_and_bad_input() {
    let (t, _) = {
        let c = TerminalConfig::new("nexo+http://127.0.0.1:9");
        (pay::open(c).unwrap(), ())
    };
    assert!(matches!(
        t.pay(&req(100, "ref-x")),
        Err(PayError::Unreachable(_))
    ));
    assert!(matches!(
        t.pay(&req(0, "ref-y")),
        Err(PayError::InvalidInput(_))
    ));
    assert!(matches!(
        pay::open(TerminalConfig::new("ftp://x")),
        Err(PayError::Config(_))
    ));
    let _ = NexoFaults::default();
    t.close();
}
