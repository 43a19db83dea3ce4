//! The Token X Energy client (`okclink::energy::Orders`) end to end over loopback: the TokenX
//! cloud simulator's Energy part (`okclink_sim::CloudSim`) and the nexo card-terminal
//! simulator (`okclink_sim::NexoSim`). "Paid at most once" and "none left locked" are read
//! from the simulators' own books.
#![cfg(all(feature = "energy", feature = "nexo", feature = "journal"))]

use std::path::PathBuf;
use std::time::Duration;

use okclink::energy::{
    card_reference, CardOutcome, EnergyConfig, EnergyError, OrderFilter, OrderState, Orders, Pick,
    SellState, Tender, UnlockReason,
};
use okclink::pay::{self, PaymentRequest, Terminal, TerminalConfig};
use okclink_sim::{
    CloudConfig, CloudSim, EnergyFaults, Fuelling, NexoConfig, NexoSim, OrderState as SimState,
    PaymentOutcome,
};

const VT1: &str = "VT00000000001";
const VT2: &str = "VT00000000002";

fn cloud() -> CloudSim {
    CloudSim::start(CloudConfig::default(), "127.0.0.1:0").expect("cloud simulator")
}

fn nexo(outcome: PaymentOutcome) -> NexoSim {
    let c = NexoConfig {
        payment_time: Duration::from_millis(100),
        busy_after_payment: Duration::from_millis(50),
        outcome,
        ..NexoConfig::default()
    };
    NexoSim::start(c, "127.0.0.1:0").expect("terminal simulator")
}

fn terminal(sim: &NexoSim) -> Terminal {
    pay::open(TerminalConfig::new(&format!(
        "nexo+http://{}?poiid=POS-1&saleid=SALE-1",
        sim.addr()
    )))
    .expect("terminal")
}

fn journal_path(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "okc-energy-{name}-{}-{}",
        std::process::id(),
        uuid_like()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d.join("journal.sqlite")
}

fn uuid_like() -> String {
    okclink::energy::new_payment_id()
}

fn config(sim: &CloudSim, vt: &str, journal: Option<PathBuf>) -> EnergyConfig {
    let mut c = EnergyConfig::new(&sim.url(), vt, "demo", "demo");
    c.journal = journal;
    c.complete_wait = Duration::from_secs(5);
    c
}

fn orders(sim: &CloudSim, vt: &str, journal: Option<PathBuf>) -> Orders {
    Orders::open(config(sim, vt, journal)).expect("orders")
}

fn fuel(sim: &CloudSim, plate: &str, kurus: i64) -> String {
    sim.fuel(Fuelling::amount(plate, kurus)).expect("fuel")
}

/// No order left locked; no order paid twice.
fn consistent(sim: &CloudSim) {
    for o in sim.orders() {
        assert!(o.payments_accepted <= 1, "{o:?}");
        assert_ne!(o.state, SimState::Locked, "left locked: {o:?}");
    }
}

fn payment_posts(sim: &CloudSim) -> usize {
    sim.energy_requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/payment"))
        .count()
}

#[test]
fn forecourt_sale_approved_completes_the_order() {
    let sim = cloud();
    let id = fuel(&sim, "34ABC123", 152340);
    let nx = nexo(PaymentOutcome::Approve);
    let t = terminal(&nx);
    let j = journal_path("approved");
    let o = orders(&sim, VT1, Some(j.clone()));
    let out = o
        .sell(&Pick::Plate("34 abc 123".into()), &t, None)
        .expect("sell");
    assert_eq!(out.state, SellState::Completed, "{out:?}");
    assert_eq!(out.order.id, id);
    assert!(out.order.receipt.is_some(), "{out:?}");
    assert_eq!(out.to_json()["state"], "completed");
    let so = sim.order(&id).unwrap();
    assert_eq!(so.state, SimState::Completed);
    assert_eq!(so.payments_accepted, 1);
    assert_eq!(so.paid_by.as_deref(), Some(VT1));
    // The slip reached the cloud: a card item with the terminal's authorisation.
    let p = so.payment.expect("payment body");
    assert_eq!(p["paymentItems"][0]["type"], 3);
    assert_eq!(p["amount"], 152340);
    assert_eq!(
        p["slip"]["authCode"].as_str(),
        out.payment.as_ref().unwrap().approval_code.as_deref()
    );
    let txs = nx.transactions();
    assert_eq!(txs.len(), 1);
    assert!(txs[0].approved && txs[0].amount_minor == 152340);
    assert_eq!(
        txs[0].sale_transaction_id,
        card_reference(&out.payment_id).unwrap()
    );
    // The journal: the lock released, the payment answered; nothing to recover.
    assert!(o.recover(Some(&t)).unwrap().is_empty());
    let jr = okclink::journal::Journal::open(&j).unwrap();
    let pay = jr
        .get(okclink::journal::Kind::EnergyPay, &out.payment_id)
        .unwrap()
        .expect("pay entry");
    assert_eq!(pay.state, okclink::journal::State::Answered);
    consistent(&sim);
}

#[test]
fn forecourt_sale_declined_unlocks_the_order() {
    let sim = cloud();
    let id = fuel(&sim, "06XYZ42", 83780);
    let nx = nexo(PaymentOutcome::Decline);
    let t = terminal(&nx);
    let o = orders(&sim, VT1, Some(journal_path("declined")));
    let out = o.sell(&Pick::Order(id.clone()), &t, None).expect("sell");
    assert_eq!(out.state, SellState::Unlocked, "{out:?}");
    assert_eq!(out.card, Some(CardOutcome::NotApproved));
    assert!(out.reason.as_deref().unwrap().starts_with("declined"));
    assert_eq!(out.to_json()["state"], "unlocked");
    let so = sim.order(&id).unwrap();
    assert_eq!(so.state, SimState::Open);
    assert_eq!(so.payments_accepted, 0);
    assert_eq!(payment_posts(&sim), 0);
    assert!(o.recover(Some(&t)).unwrap().is_empty());
    consistent(&sim);
}

#[test]
fn lock_expiry_mid_payment_is_reported_and_the_card_payment_reversed() {
    let sim = cloud();
    let id = fuel(&sim, "34EXP01", 50000);
    sim.set_energy_faults(EnergyFaults {
        expire_lock_on_payment: 1,
        ..EnergyFaults::default()
    });
    let nx = nexo(PaymentOutcome::Approve);
    let t = terminal(&nx);
    let o = orders(&sim, VT1, Some(journal_path("expiry")));
    let out = o.sell(&Pick::Plate("34EXP01".into()), &t, None).unwrap();
    assert_eq!(out.state, SellState::Unlocked, "{out:?}");
    assert_eq!(out.reason.as_deref(), Some("LOCK_EXPIRED"));
    assert_eq!(out.card, Some(CardOutcome::Reversed));
    assert!(
        nx.transactions().iter().any(|x| x.reversed),
        "card reversed"
    );
    let so = sim.order(&id).unwrap();
    assert_eq!((so.state, so.payments_accepted), (SimState::Open, 0));
    // Exactly one payment call: the refusal is not retried blindly.
    assert_eq!(payment_posts(&sim), 1);
    assert!(o.recover(Some(&t)).unwrap().is_empty());
    consistent(&sim);
}

#[test]
fn a_lock_run_out_locally_is_never_paid() {
    let sim = cloud();
    let id = fuel(&sim, "34LATE1", 1000);
    let mut c = config(&sim, VT1, Some(journal_path("late")));
    c.lock_ttl = Duration::from_secs(1);
    let o = Orders::open(c).unwrap();
    let pid = "late-payment-1";
    let lock = o.lock_sale(&id, pid).unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let e = o.pay(&lock, pid, &Tender::Cash).unwrap_err();
    assert!(matches!(e, EnergyError::LockExpired(_)), "{e:?}");
    assert_eq!(payment_posts(&sim), 0);
    // The unlock releases it (the cloud's lock has run out too: counted as released).
    let ord = o.unlock(lock, UnlockReason::Timeout).unwrap();
    assert_eq!(ord.state, OrderState::Open);
    assert_eq!(sim.payments_accepted(&id), 0);
    consistent(&sim);
}

#[test]
fn paid_at_the_pump_while_locked_reverses_the_card_payment() {
    let sim = cloud();
    let id = fuel(&sim, "35PUMP1", 42000);
    sim.set_energy_faults(EnergyFaults {
        pay_at_pump_on_lock: 1,
        ..EnergyFaults::default()
    });
    let nx = nexo(PaymentOutcome::Approve);
    let t = terminal(&nx);
    let o = orders(&sim, VT1, Some(journal_path("pump")));
    let out = o.sell(&Pick::Order(id.clone()), &t, None).unwrap();
    assert_eq!(out.state, SellState::Unlocked, "{out:?}");
    assert!(out.reason.as_deref().unwrap().starts_with("ORDER_CLOSED"));
    assert_eq!(out.card, Some(CardOutcome::Reversed));
    let so = sim.order(&id).unwrap();
    assert_eq!(so.state, SimState::Completed);
    assert!(so.paid_at_pump);
    assert_eq!(so.payments_accepted, 0);
    assert!(o.recover(Some(&t)).unwrap().is_empty());
    consistent(&sim);
}

#[test]
fn pump_offline_leaves_the_order_paid_and_reports_it() {
    let sim = cloud();
    let id = fuel(&sim, "34OFF01", 30000);
    sim.set_pump_offline(true);
    let nx = nexo(PaymentOutcome::Approve);
    let t = terminal(&nx);
    let mut c = config(&sim, VT1, Some(journal_path("offline")));
    c.complete_wait = Duration::from_millis(600);
    let o = Orders::open(c).unwrap();
    let out = o.sell(&Pick::Plate("34OFF01".into()), &t, None).unwrap();
    assert_eq!(out.state, SellState::Paid, "{out:?}");
    assert!(out.reason.is_some());
    assert_eq!(out.to_json()["state"], "paid");
    assert_eq!(o.state(&id).unwrap(), OrderState::Paid);
    assert_eq!(sim.payments_accepted(&id), 1);
    // The 1000TR comes back and completes it; the POS has nothing to do.
    sim.set_pump_offline(false);
    let done = o.wait_completed(&id, Duration::from_secs(5)).unwrap();
    assert_eq!(done.state, OrderState::Completed);
    assert!(o.recover(Some(&t)).unwrap().is_empty());
    consistent(&sim);
}

#[test]
fn a_lost_payment_answer_is_resent_with_the_same_payment_id_and_paid_once() {
    let sim = cloud();
    let id = fuel(&sim, "34DROP1", 20000);
    sim.set_energy_faults(EnergyFaults {
        drop_payment_reply: 1,
        ..EnergyFaults::default()
    });
    let nx = nexo(PaymentOutcome::Approve);
    let t = terminal(&nx);
    let o = orders(&sim, VT1, Some(journal_path("drop")));
    let out = o
        .sell(&Pick::Order(id.clone()), &t, Some("pay-drop-0001"))
        .unwrap();
    assert_eq!(out.state, SellState::Completed, "{out:?}");
    let so = sim.order(&id).unwrap();
    assert_eq!(so.payments_accepted, 1);
    assert!(so.payment_replays >= 1, "{so:?}");
    assert!(payment_posts(&sim) >= 2);
    assert_eq!(so.payment_id.as_deref(), Some("pay-drop-0001"));
    // The same payment id again (a retried sale): the journal answers, nothing is sent.
    let posts = payment_posts(&sim);
    let lock_like = o.lock_sale(&id, "pay-drop-0001");
    assert!(lock_like.is_err(), "a paid order cannot be locked again");
    assert_eq!(payment_posts(&sim), posts);
    consistent(&sim);
}

#[test]
fn an_expired_token_is_renewed_once() {
    let sim = cloud();
    fuel(&sim, "34TOK01", 1000);
    let o = orders(&sim, VT1, None);
    assert_eq!(o.list(&OrderFilter::open(None)).unwrap().len(), 1);
    assert_eq!(o.auth_requests(), 1);
    sim.expire_tokens();
    assert_eq!(o.list(&OrderFilter::open(None)).unwrap().len(), 1);
    assert_eq!(o.auth_requests(), 2);
    let statuses: Vec<u16> = sim
        .energy_requests()
        .iter()
        .map(|r| r.http_status)
        .collect();
    assert_eq!(statuses, vec![200, 401, 200]);
}

#[test]
fn a_throttled_list_is_retried_after_retry_after() {
    let sim = cloud();
    fuel(&sim, "34THR01", 1000);
    sim.set_energy_faults(EnergyFaults {
        throttle_list: 1,
        retry_after_secs: 1,
        ..EnergyFaults::default()
    });
    let o = orders(&sim, VT1, None);
    let t0 = std::time::Instant::now();
    let l = o.list(&OrderFilter::default()).unwrap();
    assert_eq!(l.len(), 1);
    assert!(t0.elapsed() >= Duration::from_millis(900));
    let statuses: Vec<u16> = sim
        .energy_requests()
        .iter()
        .map(|r| r.http_status)
        .collect();
    assert_eq!(statuses, vec![429, 200]);
}

#[test]
fn two_pos_contend_for_one_order() {
    let sim = cloud();
    let id = fuel(&sim, "34TWO01", 9900);
    let a = std::sync::Arc::new(orders(&sim, VT1, Some(journal_path("two-a"))));
    let b = std::sync::Arc::new(orders(&sim, VT2, Some(journal_path("two-b"))));
    // Both lock at once: exactly one wins, the other gets 1018.
    let (ra, rb) = std::thread::scope(|s| {
        let ha = s.spawn(|| a.lock(&id));
        let hb = s.spawn(|| b.lock(&id));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    let (winner, loser, lock, err) = match (ra, rb) {
        (Ok(l), Err(e)) => (&a, &b, l, e),
        (Err(e), Ok(l)) => (&b, &a, l, e),
        other => panic!("exactly one lock must win: {other:?}"),
    };
    assert_eq!(err.code(), Some(1018), "{err:?}");
    // The loser cannot pay (it holds no lock) and cannot unlock the winner's lock.
    let le = loser.unlock_id(&id, UnlockReason::Cancelled).unwrap_err();
    assert_eq!(le.code(), Some(1018), "{le:?}");
    // The loser does not see the order as open.
    assert!(matches!(
        loser.find("34TWO01"),
        Err(EnergyError::NotFound(_))
    ));
    // The winner releases; the loser takes it and pays cash.
    winner.unlock(lock, UnlockReason::Cancelled).unwrap();
    let l2 = loser.lock_sale(&id, "two-pos-cash").unwrap();
    let paid = loser.pay(&l2, "two-pos-cash", &Tender::Cash).unwrap();
    assert_eq!(paid.order.state, OrderState::Paid);
    let again = loser.pay(&l2, "two-pos-cash", &Tender::Cash).unwrap();
    assert!(again.replayed);
    assert_eq!(sim.payments_accepted(&id), 1);
    // The winner's lock after the sale: 1105.
    assert_eq!(winner.lock(&id).unwrap_err().code(), Some(1105));
    let w = winner.wait_completed(&id, Duration::from_secs(5)).unwrap();
    assert_eq!(w.state, OrderState::Completed);
    consistent(&sim);
}

#[test]
fn a_crash_between_lock_and_pay_without_card_approval_unlocks_on_restart() {
    let sim = cloud();
    let id = fuel(&sim, "34CRS01", 12345);
    let j = journal_path("crash-unlock");
    let nx = nexo(PaymentOutcome::Approve);
    {
        let o = orders(&sim, VT1, Some(j.clone()));
        let _lock = o.lock_sale(&id, "crash-unlock-1").unwrap();
        // The process dies here: no card payment, no unlock.
    }
    assert_eq!(sim.order(&id).unwrap().state, SimState::Locked);
    let o = orders(&sim, VT1, Some(j));
    let t = terminal(&nx);
    let rec = o.recover(Some(&t)).unwrap();
    assert_eq!(rec.len(), 1, "{rec:?}");
    assert_eq!(rec[0].action, "unlocked", "{rec:?}");
    assert_eq!(sim.order(&id).unwrap().state, SimState::Open);
    assert_eq!(sim.payments_accepted(&id), 0);
    assert!(o.recover(Some(&t)).unwrap().is_empty(), "resolved once");
    consistent(&sim);
}

#[test]
fn a_crash_after_an_approved_card_payment_completes_the_order_on_restart() {
    let sim = cloud();
    let id = fuel(&sim, "34CRS02", 23456);
    let j = journal_path("crash-pay");
    let nx = nexo(PaymentOutcome::Approve);
    let pid = "crash-pay-0001";
    {
        let o = orders(&sim, VT1, Some(j.clone()));
        let t = terminal(&nx);
        let lock = o.lock_sale(&id, pid).unwrap();
        let r = t
            .pay(&PaymentRequest {
                amount: lock.order.amount,
                currency: "TRY".into(),
                reference: card_reference(pid).unwrap(),
            })
            .unwrap();
        assert!(r.approved);
        // The process dies here: the card was charged, the order not paid.
    }
    assert_eq!(sim.order(&id).unwrap().state, SimState::Locked);
    assert_eq!(sim.payments_accepted(&id), 0);
    // Without the terminal, a card sale is not decided.
    let o = orders(&sim, VT1, Some(j));
    let rec = o.recover(None).unwrap();
    assert_eq!(rec[0].action, "pending", "{rec:?}");
    // A new terminal session (the old one died with the process): asked by reference.
    let t = terminal(&nx);
    let rec = o.recover(Some(&t)).unwrap();
    assert_eq!(rec.len(), 1, "{rec:?}");
    assert_eq!(rec[0].action, "completed", "{rec:?}");
    let so = sim.order(&id).unwrap();
    assert_eq!(so.state, SimState::Completed);
    assert_eq!(so.payments_accepted, 1);
    assert_eq!(so.payment_id.as_deref(), Some(pid));
    assert_eq!(nx.transactions().len(), 1, "no second card payment");
    assert!(o.recover(Some(&t)).unwrap().is_empty());
    consistent(&sim);
}

#[test]
fn errors_carry_the_cloud_code_and_description() {
    let sim = cloud();
    let id = fuel(&sim, "34ERR01", 1000);
    let o = orders(&sim, VT1, None);
    match o.get("no-such-order").unwrap_err() {
        EnergyError::Cloud {
            http,
            code,
            description,
        } => {
            assert_eq!((http, code), (404, 1006));
            assert!(!description.is_empty());
        }
        e => panic!("{e:?}"),
    }
    assert!(matches!(o.find("00NONE00"), Err(EnergyError::NotFound(_))));
    sim.pay_at_pump(&id);
    assert_eq!(o.lock(&id).unwrap_err().code(), Some(1105));
    let bad = Orders::open(config(&sim, "VT-UNKNOWN", None)).unwrap();
    assert_eq!(bad.get(&id).unwrap_err().code(), Some(9));
    let mut nobody = config(&sim, VT1, None);
    nobody.url = "http://127.0.0.1:1".into();
    let e = Orders::open(nobody)
        .unwrap()
        .list(&OrderFilter::default())
        .unwrap_err();
    assert!(matches!(e, EnergyError::Unreachable(_)), "{e:?}");
    assert!(Orders::open(EnergyConfig::new("", VT1, "a", "b")).is_err());
}

#[test]
fn list_filters_by_plate_pump_and_state() {
    let sim = cloud();
    let a = fuel(&sim, "34AAA01", 1000);
    let b = fuel(&sim, "34BBB02", 2000);
    let o = orders(&sim, VT1, None);
    let all = o.list(&OrderFilter::default()).unwrap();
    assert_eq!(all.len(), 2);
    let by_plate = o.list(&OrderFilter::open(Some("34bbb02"))).unwrap();
    assert_eq!(by_plate.len(), 1);
    assert_eq!(by_plate[0].id, b);
    let pump = sim.order(&a).unwrap().pump_no;
    let by_pump = o
        .list(&OrderFilter {
            pump_no: Some(pump),
            ..OrderFilter::default()
        })
        .unwrap();
    assert_eq!(by_pump.len(), 1);
    assert_eq!(by_pump[0].id, a);
    let l = o.lock(&a).unwrap();
    let mine = o
        .list(&OrderFilter {
            locked_by_me: true,
            ..OrderFilter::default()
        })
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(o.get(&a).unwrap().state, OrderState::Locked);
    o.unlock(l, UnlockReason::Cancelled).unwrap();
    assert_eq!(o.state(&a).unwrap(), OrderState::Open);
    consistent(&sim);
}
