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
    c.journal = None; // these tests are about one process (tests/pay_journal.rs: restarts)
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
        let mut c = TerminalConfig::new("nexo+http://127.0.0.1:9");
        c.journal = None;
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
        pay::open(TerminalConfig {
            journal: None,
            ..TerminalConfig::new("ftp://x")
        }),
        Err(PayError::Config(_))
    ));
    let _ = NexoFaults::default();
    t.close();
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(
            std::time::Instant::now() < until,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The categories the simulator accepted (not answered Busy), with `Logout+` for a logout that
/// allows maintenance.
fn categories(sim: &NexoSim) -> Vec<String> {
    sim.requests()
        .iter()
        .filter(|q| q.error_condition.as_deref() != Some("Busy"))
        .map(|q| {
            if q.category == "Logout" && q.body.contains("MaintenanceAllowed=\"true\"") {
                "Logout+".to_string()
            } else {
                q.category.clone()
            }
        })
        .collect()
}

#[test]
fn maintenance_cycle_requested_by_the_terminal() {
    let sim = sim(|_| {});
    let (t, events) = open(&sim, true, None);
    assert!(t.pay(&req(100, "ref-m1")).unwrap().approved);
    // SaleAdmin(MaintenanceRequired) → Logout MaintenanceAllowed → Begin/EndMaintenance →
    // the library logs in again by itself.
    sim.request_maintenance();
    wait_for("the login after EndMaintenance", || {
        categories(&sim) == ["Login", "Payment", "Logout+", "Login"]
    });
    let names: Vec<String> = sim
        .listener_calls()
        .iter()
        .filter(|c| c.category == "Event")
        .map(|c| {
            let i = c.body.find("EventToNotify=\"").unwrap() + 15;
            c.body[i..].split('"').next().unwrap().to_string()
        })
        .collect();
    assert_eq!(names, ["SaleAdmin", "BeginMaintenance", "EndMaintenance"]);
    assert!(sim
        .listener_calls()
        .iter()
        .all(|c| c.http_status == Some(204)));
    wait_for("both session events", || {
        events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e, TerminalEvent::Session { .. }))
            .count()
            == 2
    });
    let sessions: Vec<bool> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            TerminalEvent::Session { logged_in, .. } => Some(*logged_in),
            _ => None,
        })
        .collect();
    assert_eq!(sessions, [false, true]);
    // Selling goes on in the new login session, without another login.
    assert!(t.pay(&req(200, "ref-m2")).unwrap().approved);
    assert_eq!(
        categories(&sim),
        ["Login", "Payment", "Logout+", "Login", "Payment"]
    );
    t.close();
}

#[test]
fn maintenance_requested_during_a_payment_waits_for_it() {
    let sim = sim(|c| c.payment_time = Duration::from_millis(800));
    let (t, events) = open(&sim, true, None);
    assert!(t.login().is_ok());
    let t = Arc::new(t);
    let t2 = t.clone();
    let paying = std::thread::spawn(move || t2.pay(&req(300, "ref-m3")));
    // The terminal shows "Present card": the payment is in flight (the simulator logs a
    // request when it has answered it).
    wait_for("the payment's first display", || {
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, TerminalEvent::Display(_)))
    });
    assert_eq!(categories(&sim), ["Login"]);
    sim.request_maintenance();
    assert_eq!(categories(&sim), ["Login"], "no logout while paying");
    let r = paying.join().unwrap().unwrap();
    assert!(r.approved, "{r:?}");
    wait_for("the login after maintenance", || {
        categories(&sim).len() == 4
    });
    assert_eq!(categories(&sim), ["Login", "Payment", "Logout+", "Login"]);
    assert_eq!(sim.transactions().len(), 1);
}

#[test]
fn the_daily_maintenance_logout() {
    use chrono::Timelike;
    let sim = sim(|_| {});
    let mut c = TerminalConfig::new(&target(&sim));
    c.journal = None;
    // Two seconds from now (local time), client-only.
    let now = chrono::Local::now().num_seconds_from_midnight();
    c.maintenance_at = Some((now + 2) % 86400);
    let t = pay::open(c).unwrap();
    assert!(t.pay(&req(100, "ref-d1")).unwrap().approved);
    wait_for("the daily logout", || {
        categories(&sim) == ["Login", "Payment", "Logout+"]
    });
    // The next call logs in again.
    assert!(t.pay(&req(200, "ref-d2")).unwrap().approved);
    assert_eq!(
        categories(&sim),
        ["Login", "Payment", "Logout+", "Login", "Payment"]
    );
    t.close();
}

/// One HTTP/1.1 request on a fresh connection; (status, body).
fn http_post(addr: std::net::SocketAddr, body: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "POST /EPASSaleToPOI/3.1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    // A server may refuse before reading all of an oversize body.
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |x| x.1).to_string();
    (status, body)
}

#[test]
fn the_listener_refuses_malformed_and_oversize_xml() {
    let sim = sim(|_| {});
    let (t, events) = open(&sim, true, None);
    let addr = t.listener_addr().unwrap();
    let nested = "<a>".repeat(10_000);
    let mut big = b"<?xml version=\"1.0\"?><SaleToPOIRequest>".to_vec();
    big.resize(okclink::pay::nexo::msg::MAX_XML_BYTES + 1, b' ');
    for (what, body, want) in [
        ("not XML", b"hello".to_vec(), 400),
        ("empty", Vec::new(), 400),
        (
            "truncated",
            b"<SaleToPOIRequest><MessageHeader MessageClass=\"Device\"".to_vec(),
            400,
        ),
        ("another root", b"<SaleToPOIResponse/>".to_vec(), 400),
        ("nested 10 000 deep", nested.into_bytes(), 400),
        (
            "invalid UTF-8",
            b"<SaleToPOIRequest>\xff\xfe</SaleToPOIRequest>".to_vec(),
            400,
        ),
        ("1 MiB + 1", big, 413),
    ] {
        let (status, _) = http_post(addr, &body);
        assert_eq!(status, want, "{what}");
    }
    assert!(events.lock().unwrap().is_empty());
    // The listener still works: a display reaches the callback.
    let display = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/nexo/fuzz_corpus/nexo_xml/display_request_terminal.xml"
    ))
    .unwrap();
    assert_eq!(http_post(addr, &display).0, 204);
    wait_for("the display event", || {
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, TerminalEvent::Display(l) if l.iter().any(|x| x.contains("Present card"))))
    });
    assert!(t.pay(&req(100, "ref-after-junk")).unwrap().approved);
    t.close();
}

/// A "terminal" that answers every request with `body` (HTTP 200), counting requests.
fn bad_terminal(body: Vec<u8>) -> (std::net::SocketAddr, Arc<Mutex<usize>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let count = Arc::new(Mutex::new(0));
    let c2 = count.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut r = BufReader::new(s);
            let mut len = 0;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if h == "\r\n" {
                    break;
                }
            }
            let mut b = vec![0; len];
            let _ = r.read_exact(&mut b);
            *c2.lock().unwrap() += 1;
            let mut s = r.into_inner();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    (addr, count)
}

#[test]
fn malformed_and_oversize_answers_from_the_terminal_are_errors() {
    let mut big = b"<?xml version=\"1.0\"?><SaleToPOIResponse>".to_vec();
    big.resize(2 << 20, b' ');
    for (what, body, says) in [
        (
            "not XML",
            b"<html>nginx</html".to_vec(),
            "unreadable answer",
        ),
        (
            "a request, not a response",
            b"<SaleToPOIRequest/>".to_vec(),
            "unreadable answer",
        ),
        ("2 MiB", big, "larger than 1048576 bytes"),
    ] {
        let (addr, count) = bad_terminal(body);
        let t = pay::open(TerminalConfig {
            journal: None,
            ..TerminalConfig::new(&format!("nexo+http://{addr}"))
        })
        .unwrap();
        match t.pay(&req(100, "ref-bad")) {
            Err(PayError::Protocol(e)) => assert!(e.contains(says), "{what}: {e}"),
            o => panic!("{what}: {o:?}"),
        }
        // Only the login was sent: no payment reached a terminal that cannot be understood.
        assert_eq!(*count.lock().unwrap(), 1, "{what}");
        t.close();
    }
}
