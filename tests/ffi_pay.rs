//! The okc_pay_* C API called through its C signatures against the nexo terminal simulator:
//! payment, idempotent reference, decline, reversal, events and the signature answer from
//! the callback, bad handles and arguments, close.
#![cfg(feature = "nexo")]

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::Mutex;
use std::time::Duration;

use okclink::ffi::okc::pay::*;
use okclink::ffi::okc::{okc_last_error, okc_string_free};
use okclink::ffi::OkcStatus::{self, *};
use okclink_sim::{NexoConfig, NexoSim, PaymentOutcome};

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn last_error() -> String {
    // SAFETY: never NULL, valid until the next failing call on this thread.
    unsafe { CStr::from_ptr(okc_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn take(p: *mut c_char) -> String {
    assert!(!p.is_null());
    // SAFETY: a string the library handed out.
    let s = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    okc_string_free(p);
    s
}

/// What the event callback saw (the user_data points at it).
struct Seen {
    events: Mutex<Vec<String>>,
    answer: i32,
}

unsafe extern "C" fn on_event(ud: *mut c_void, json: *const c_char) -> i32 {
    // SAFETY: the test passes a &Seen that outlives the handle; json valid during the call.
    let seen = unsafe { &*(ud as *const Seen) };
    let text = unsafe { CStr::from_ptr(json) }
        .to_string_lossy()
        .into_owned();
    seen.events.lock().unwrap().push(text);
    seen.answer
}

fn open(sim: &NexoSim, seen: &Seen, listener: bool) -> *mut OkcPay {
    let cfg = if listener {
        format!(
            r#"{{"terminal":"nexo+http://{}?poiid=C-POS","listener":"127.0.0.1:0","journal":"off"}}"#,
            sim.addr()
        )
    } else {
        format!(
            r#"{{"terminal":"nexo+http://{}?poiid=C-POS","journal":"off"}}"#,
            sim.addr()
        )
    };
    let cfg = c(&cfg);
    let mut t: *mut OkcPay = null_mut();
    // SAFETY: valid pointers; `seen` outlives the handle in every test.
    let st = unsafe {
        okc_pay_open(
            cfg.as_ptr(),
            Some(on_event),
            seen as *const Seen as *mut c_void,
            &mut t,
        )
    };
    assert_eq!(st, OKC_OK, "{}", last_error());
    if listener {
        let mut a: *mut c_char = null_mut();
        // SAFETY: valid out pointer.
        assert_eq!(unsafe { okc_pay_listener_address(t, &mut a) }, OKC_OK);
        sim.set_pos_listener(Some(format!("http://{}/EPASSaleToPOI/3.1", take(a))));
    }
    t
}

fn pay(t: *mut OkcPay, amount: i64, reference: &str) -> (OkcStatus, Option<serde_json::Value>) {
    let (cur, r) = (c("SEK"), c(reference));
    let mut out: *mut c_char = null_mut();
    // SAFETY: valid pointers.
    let st = unsafe { okc_pay_payment(t, amount, cur.as_ptr(), r.as_ptr(), &mut out) };
    let json = (!out.is_null()).then(|| serde_json::from_str(&take(out)).unwrap());
    (st, json)
}

fn sim(outcome: PaymentOutcome) -> NexoSim {
    NexoSim::start(
        NexoConfig {
            payment_time: Duration::from_millis(100),
            busy_after_payment: Duration::from_millis(200),
            outcome,
            ..NexoConfig::default()
        },
        "127.0.0.1:0",
    )
    .unwrap()
}

#[test]
fn payment_reversal_and_events_through_the_c_api() {
    let sim = sim(PaymentOutcome::Signature);
    let seen = Seen {
        events: Mutex::new(Vec::new()),
        answer: 1,
    };
    let t = open(&sim, &seen, true);
    let (st, r) = pay(t, 1250, "c-pay-1");
    assert_eq!(st, OKC_OK, "{}", last_error());
    let r = r.unwrap();
    assert_eq!(
        (r["approved"].as_bool(), r["amount"].as_i64()),
        (Some(true), Some(1250))
    );
    assert!(r["receipts"]["customer"]
        .as_array()
        .is_some_and(|l| !l.is_empty()));
    // The same reference: the recorded result, no second charge.
    assert_eq!(pay(t, 1250, "c-pay-1").1.unwrap(), r);
    assert_eq!(sim.transactions().len(), 1);
    let ev = seen.events.lock().unwrap().clone();
    assert!(
        ev.iter().any(|e| e.contains(r#""event":"display""#)),
        "{ev:?}"
    );
    assert!(
        ev.iter().any(|e| e.contains(r#""event":"signature""#)),
        "{ev:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    let mut out: *mut c_char = null_mut();
    // SAFETY: valid pointers.
    assert_eq!(
        unsafe { okc_pay_reverse_last(t, &mut out) },
        OKC_OK,
        "{}",
        last_error()
    );
    let rev: serde_json::Value = serde_json::from_str(&take(out)).unwrap();
    assert_eq!(rev["kind"], "reversal");
    assert_eq!(rev["amount"], 1250);
    let mut out: *mut c_char = null_mut();
    // SAFETY: valid pointers.
    assert_eq!(
        unsafe { okc_pay_batch_close(t, &mut out) },
        OKC_ERR_UNSUPPORTED
    );
    assert!(out.is_null());
    assert_eq!(okc_pay_close(t), OKC_OK);
    assert_eq!(okc_pay_close(t), OKC_OK, "idempotent");
    assert_eq!(pay(t, 100, "c-after").0, OKC_ERR_BAD_HANDLE);
    assert!(last_error().contains("already closed"), "{}", last_error());
}

#[test]
fn a_refused_signature_and_a_decline_are_declined_with_a_result() {
    let sim = sim(PaymentOutcome::Signature);
    let seen = Seen {
        events: Mutex::new(Vec::new()),
        answer: 0,
    };
    let t = open(&sim, &seen, true);
    let (st, r) = pay(t, 500, "c-refuse");
    assert_eq!(st, OKC_PAY_DECLINED, "{}", last_error());
    assert_eq!(r.unwrap()["approved"], false);
    okc_pay_close(t);
    let sim = sim_decline();
    let t = open(&sim, &seen, false);
    let (st, r) = pay(t, 999, "c-decline");
    assert_eq!(st, OKC_PAY_DECLINED);
    assert!(r.unwrap()["reason"].as_str().unwrap().contains("Refusal"));
    okc_pay_close(t);
}

fn sim_decline() -> NexoSim {
    sim(PaymentOutcome::Decline)
}

#[test]
fn bad_arguments_handles_and_config() {
    let sim = sim(PaymentOutcome::Approve);
    let seen = Seen {
        events: Mutex::new(Vec::new()),
        answer: -1,
    };
    let t = open(&sim, &seen, false);
    assert_eq!(pay(t, 0, "c-zero").0, OKC_ERR_INVALID_ARGUMENT);
    assert_eq!(pay(t, 100, "bad/ref").0, OKC_ERR_INVALID_ARGUMENT);
    let mut out: *mut c_char = null_mut();
    let r = c("x");
    // SAFETY: a NULL currency must be refused, not read.
    let st = unsafe { okc_pay_payment(t, 100, null(), r.as_ptr(), &mut out) };
    assert_eq!(st, OKC_ERR_NULL);
    assert_eq!(pay(null_mut(), 100, "c-null").0, OKC_ERR_BAD_HANDLE);
    assert_eq!(
        pay(0x1234 as *mut OkcPay, 100, "c-foreign").0,
        OKC_ERR_BAD_HANDLE
    );
    assert!(
        last_error().contains("not a terminal handle"),
        "{}",
        last_error()
    );
    okc_pay_close(t);
    for cfg in [
        r#"{"terminal":"ftp://x"}"#,
        r#"{"terminal":"nexo+http://127.0.0.1:1","colour":"red"}"#,
        r#"{"terminal":"nexo+http://127.0.0.1:1","signature":"maybe"}"#,
        "[1]",
    ] {
        let cfg = c(cfg);
        let mut t: *mut OkcPay = null_mut();
        // SAFETY: valid pointers.
        let st = unsafe { okc_pay_open(cfg.as_ptr(), None, null_mut(), &mut t) };
        assert_eq!(st, OKC_ERR_CONFIG, "{cfg:?}");
        assert!(t.is_null());
    }
    // Unreachable terminal: nothing was sent.
    let cfg = c(r#"{"terminal":"nexo+http://127.0.0.1:9","journal":"off"}"#);
    let mut t: *mut OkcPay = null_mut();
    // SAFETY: valid pointers.
    assert_eq!(
        unsafe { okc_pay_open(cfg.as_ptr(), None, null_mut(), &mut t) },
        OKC_OK
    );
    assert_eq!(pay(t, 100, "c-unreach").0, OKC_ERR_NO_DEVICE);
    okc_pay_close(t);
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

fn count(sim: &NexoSim, category: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|q| q.category == category)
        .count()
}

/// The hard cases through the C signatures: refund, abort from another thread, a dropped
/// connection mid-payment (recovered, charged once), Busy after login and after a payment,
/// a reboot (log in again), and the terminal's maintenance cycle (session events).
#[test]
fn recovery_abort_busy_reboot_and_maintenance_through_the_c_api() {
    let sim = sim(PaymentOutcome::Approve);
    sim.set_faults(okclink_sim::NexoFaults {
        busy_after_login_once: true,
        ..okclink_sim::NexoFaults::default()
    });
    let seen = Seen {
        events: Mutex::new(Vec::new()),
        answer: -1,
    };
    let t = open(&sim, &seen, true);

    // Busy after login, then the payment (logged in on the retry).
    let (st, r) = pay(t, 1000, "c-busy-1");
    assert_eq!(st, OKC_OK, "{}", last_error());
    assert_eq!(r.unwrap()["approved"], true);
    assert!(count(&sim, "Login") >= 2, "busy login retried");
    // Busy after the payment: the refund right after it waits and retries.
    let (cur, rf) = (c("SEK"), c("c-refund-1"));
    let mut out: *mut c_char = null_mut();
    // SAFETY: valid pointers.
    let st = unsafe { okc_pay_refund(t, 400, cur.as_ptr(), rf.as_ptr(), &mut out) };
    assert_eq!(st, OKC_OK, "{}", last_error());
    let refund: serde_json::Value = serde_json::from_str(&take(out)).unwrap();
    assert_eq!(
        (&refund["kind"], &refund["approved"], &refund["amount"]),
        (
            &serde_json::json!("refund"),
            &serde_json::json!(true),
            &serde_json::json!(400)
        )
    );
    assert!(
        sim.requests()
            .iter()
            .any(|q| q.error_condition.as_deref() == Some("Busy") && q.category == "Payment"),
        "the refund met Busy first"
    );

    // A dropped connection mid-payment: recovered by TransactionStatus, charged once.
    std::thread::sleep(Duration::from_millis(300));
    let before = sim.transactions().len();
    sim.set_faults(okclink_sim::NexoFaults {
        drop_socket_mid_payment: true,
        ..okclink_sim::NexoFaults::default()
    });
    let (st, r) = pay(t, 4200, "c-drop-1");
    assert_eq!(st, OKC_OK, "{}", last_error());
    assert_eq!(r.unwrap()["amount"], 4200);
    assert_eq!(sim.transactions().len(), before + 1, "exactly one payment");
    assert!(count(&sim, "TransactionStatus") >= 1);

    // Abort from another thread while the customer is "presenting the card".
    std::thread::sleep(Duration::from_millis(300));
    sim.set_payment_time(Duration::from_secs(3));
    let handle = t as usize;
    let paying = std::thread::spawn(move || pay(handle as *mut OkcPay, 700, "c-abort-1"));
    wait_for("the payment's first display", || {
        seen.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.contains("Present card"))
            .count()
            >= 4
    });
    assert_eq!(okc_pay_abort(t), OKC_OK, "{}", last_error());
    let (st, r) = paying.join().unwrap();
    assert_eq!(st, OKC_PAY_DECLINED);
    let r = r.unwrap();
    assert_eq!(r["approved"], false);
    assert!(r["reason"].as_str().unwrap().contains("Aborted"), "{r}");
    assert!(!sim.transactions().last().unwrap().approved);
    sim.set_payment_time(Duration::from_millis(100));

    // A reboot: the next call logs in again.
    std::thread::sleep(Duration::from_millis(300));
    let logins = count(&sim, "Login");
    sim.reboot();
    let (st, _) = pay(t, 500, "c-reboot-1");
    assert_eq!(st, OKC_OK, "{}", last_error());
    assert!(count(&sim, "Login") > logins);

    // Maintenance: SaleAdmin → Logout(MaintenanceAllowed) → Begin/End → login again.
    std::thread::sleep(Duration::from_millis(300));
    let logins = count(&sim, "Login");
    sim.request_maintenance();
    wait_for("the login after maintenance", || {
        count(&sim, "Login") > logins
    });
    assert!(sim
        .requests()
        .iter()
        .any(|q| q.category == "Logout" && q.body.contains("MaintenanceAllowed=\"true\"")));
    wait_for("the session events", || {
        seen.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.contains(r#""event":"session""#))
            .count()
            == 2
    });
    let sessions: Vec<String> = seen
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.contains(r#""event":"session""#))
        .cloned()
        .collect();
    assert!(sessions[0].contains(r#""loggedIn":false"#), "{sessions:?}");
    assert!(sessions[1].contains(r#""loggedIn":true"#), "{sessions:?}");
    let (st, _) = pay(t, 300, "c-after-maint");
    assert_eq!(st, OKC_OK, "{}", last_error());
    assert_eq!(okc_pay_close(t), OKC_OK);
}

#[cfg(feature = "gptom")]
#[test]
fn gptom_config_keys() {
    let open = |json: &str| {
        let cfg = c(json);
        let mut t: *mut OkcPay = null_mut();
        // SAFETY: valid pointers.
        let st = unsafe { okc_pay_open(cfg.as_ptr(), None, null_mut(), &mut t) };
        (st, t)
    };
    // Credentials from the JSON keys: opened (no request is sent before the first call).
    let (st, t) = open(
        r#"{"terminal":"gptom+http://127.0.0.1:9?tid=999888","username":"u1","journal":"off",
            "password":"pw-not-in-errors","basic":"client:secret",
            "token_url":"http://127.0.0.1:9/cloud/oauth/token"}"#,
    );
    assert_eq!(st, OKC_OK, "{}", last_error());
    // Nothing listens there: unreachable, and nothing charged.
    assert_eq!(pay(t, 100, "gp1").0, OKC_ERR_NO_DEVICE);
    assert!(
        !last_error().contains("pw-not-in-errors"),
        "{}",
        last_error()
    );
    // GP tom has no call to cancel a task.
    assert_eq!(okc_pay_abort(t), OKC_ERR_UNSUPPORTED);
    okc_pay_close(t);
    for bad in [
        // No password.
        r#"{"terminal":"gptom+https://gp.example?tid=1","username":"u1"}"#,
        // No tid.
        r#"{"terminal":"gptom+https://gp.example","username":"u","password":"p"}"#,
        // Plain http off loopback.
        r#"{"terminal":"gptom+https://gp.example?tid=1","username":"u","password":"p",
            "token_url":"http://192.0.2.1/t"}"#,
        r#"{"terminal":"gptom+https://gp.example?tid=1","password":7}"#,
    ] {
        let (st, t) = open(bad);
        assert_eq!(st, OKC_ERR_CONFIG, "{bad}");
        assert!(t.is_null());
        assert!(!last_error().contains("\"p\""), "{}", last_error());
    }
}

/// The okc_pay_* C API over the GP tom back end, end to end against the GP tom Cloud
/// simulator in-process (tests/gptom_terminal.rs tests the same through the Rust API).
#[cfg(feature = "gptom")]
mod gptom_c {
    use super::*;
    use okclink_sim::{GptomConfig, GptomFaults, GptomSim, TaskOutcome};

    /// `pos-client:pos-secret`: the simulator is given its Base64, the client the pair.
    const BASIC_B64: &str = "cG9zLWNsaWVudDpwb3Mtc2VjcmV0";
    const PASSWORD: &str = "c-api-secret-pw";

    fn start(outcome: TaskOutcome, faults: GptomFaults) -> GptomSim {
        GptomSim::start(
            GptomConfig {
                client_basic: BASIC_B64.into(),
                task_time: Duration::from_millis(100),
                outcome,
                faults,
                ..GptomConfig::default()
            },
            "127.0.0.1:0",
        )
        .expect("GP tom simulator")
    }

    fn open(sim: &GptomSim, tid: &str) -> *mut OkcPay {
        let cfg = serde_json::json!({
            "terminal": format!("gptom+{}?tid={tid}", sim.url()),
            "username": "shop-c",
            "password": PASSWORD,
            "basic": "pos-client:pos-secret",
            "gptom_in_progress_limit_ms": 1500,
            "journal": "off",
        });
        let cfg = c(&cfg.to_string());
        let mut t: *mut OkcPay = null_mut();
        // SAFETY: valid pointers.
        let st = unsafe { okc_pay_open(cfg.as_ptr(), None, null_mut(), &mut t) };
        assert_eq!(st, OKC_OK, "{}", last_error());
        t
    }

    fn pay_czk(
        t: *mut OkcPay,
        amount: i64,
        reference: &str,
    ) -> (OkcStatus, Option<serde_json::Value>) {
        let (cur, r) = (c("CZK"), c(reference));
        let mut out: *mut c_char = null_mut();
        // SAFETY: valid pointers.
        let st = unsafe { okc_pay_payment(t, amount, cur.as_ptr(), r.as_ptr(), &mut out) };
        let json = (!out.is_null()).then(|| serde_json::from_str(&take(out)).unwrap());
        (st, json)
    }

    fn call(
        f: impl FnOnce(*mut *mut c_char) -> OkcStatus,
    ) -> (OkcStatus, Option<serde_json::Value>) {
        let mut out: *mut c_char = null_mut();
        let st = f(&mut out);
        let json = (!out.is_null()).then(|| serde_json::from_str(&take(out)).unwrap());
        (st, json)
    }

    fn reverse_last(t: *mut OkcPay) -> (OkcStatus, Option<serde_json::Value>) {
        // SAFETY: valid pointers.
        call(|out| unsafe { okc_pay_reverse_last(t, out) })
    }

    fn create_attempts(sim: &GptomSim) -> usize {
        sim.requests_to("POST", "/v1/tasks/TRANSACTION").len()
    }

    fn void_creates(sim: &GptomSim) -> usize {
        sim.requests_to("POST", "/v1/tasks/TRANSACTION")
            .iter()
            .filter(|r| r.body.contains("VOID"))
            .count()
    }

    #[test]
    fn sale_decline_and_batch_close() {
        let sim = start(TaskOutcome::Approve, GptomFaults::default());
        let t = open(&sim, "999888");
        let (st, r) = pay_czk(t, 1250, "CSALE1");
        assert_eq!(st, OKC_OK, "{}", last_error());
        let r = r.unwrap();
        assert_eq!(
            (r["approved"].as_bool(), r["amount"].as_i64()),
            (Some(true), Some(1250)),
            "{r}"
        );
        // SAFETY: valid pointers.
        let (st, b) = call(|out| unsafe { okc_pay_batch_close(t, out) });
        assert_eq!(st, OKC_OK, "{}", last_error());
        assert_eq!(b.unwrap()["type"], "BATCH");
        assert_eq!(okc_pay_close(t), OKC_OK);

        let declining = start(TaskOutcome::Decline, GptomFaults::default());
        let t = open(&declining, "999888");
        let (st, r) = pay_czk(t, 999, "CDECL1");
        assert_eq!(st, OKC_PAY_DECLINED, "{}", last_error());
        let r = r.expect("a declined payment has a result");
        assert_eq!(r["approved"], false, "{r}");
        assert_eq!(okc_pay_close(t), OKC_OK);
    }

    #[test]
    fn cancellation_allowed_then_refused_for_another_tid_and_at_94_days() {
        let sim = start(TaskOutcome::Approve, GptomFaults::default());
        let t = open(&sim, "999888");
        let (st, sale) = pay_czk(t, 3000, "CREV1");
        assert_eq!(st, OKC_OK, "{}", last_error());
        let (st, v) = reverse_last(t);
        assert_eq!(st, OKC_OK, "{}", last_error());
        let v = v.unwrap();
        assert_eq!(
            (v["approved"].as_bool(), v["kind"].as_str()),
            (Some(true), Some("reversal")),
            "{v}"
        );
        assert_eq!(v["amount"].as_i64(), sale.unwrap()["amount"].as_i64());
        assert_eq!(void_creates(&sim), 1);
        assert_eq!(okc_pay_close(t), OKC_OK);

        // Another TID has no sale of its own: refused with a reason, no VOID sent.
        let other = open(&sim, "111222");
        let (st, _) = reverse_last(other);
        assert_eq!(st, OKC_ERR_REJECTED, "{}", last_error());
        assert!(last_error().len() > 10, "a clear reason: {}", last_error());
        assert_eq!(void_creates(&sim), 1, "nothing sent for another TID");
        assert_eq!(okc_pay_close(other), OKC_OK);

        // A sale 94 days old, read by a new handle: refused locally, nothing sent.
        let t = open(&sim, "555094");
        let (st, old) = pay_czk(t, 4100, "CAGE94");
        assert_eq!(st, OKC_OK, "{}", last_error());
        assert_eq!(okc_pay_close(t), OKC_OK);
        let id = old.unwrap()["transactionId"].as_str().unwrap().to_string();
        assert!(sim.age_transaction(&id, 94));
        let t = open(&sim, "555094");
        let before = create_attempts(&sim);
        let (st, _) = reverse_last(t);
        assert_eq!(st, OKC_ERR_REJECTED, "{}", last_error());
        assert!(last_error().contains("93"), "{}", last_error());
        assert_eq!(create_attempts(&sim), before, "refused before calling");
        assert_eq!(okc_pay_close(t), OKC_OK);
        assert!(!last_error().contains(PASSWORD));
    }

    #[test]
    fn token_refresh_and_a_5xx_on_create() {
        let sim = start(
            TaskOutcome::Approve,
            GptomFaults {
                create_5xx_after_create: 1,
                ..GptomFaults::default()
            },
        );
        let t = open(&sim, "999888");
        // The cloud created the task but answered 500: found by reference, one task.
        let (st, r) = pay_czk(t, 2500, "C5XX1");
        assert_eq!(st, OKC_OK, "{}", last_error());
        assert_eq!(r.unwrap()["approved"], true);
        assert_eq!(sim.tasks().len(), 1);
        assert_eq!(create_attempts(&sim), 1);
        // Every token forgotten: refreshed, the payment still goes through.
        sim.expire_tokens();
        let (st, r) = pay_czk(t, 100, "CTOK1");
        assert_eq!(st, OKC_OK, "{}", last_error());
        assert_eq!(r.unwrap()["approved"], true);
        let refreshes = sim
            .requests_to("POST", "/cloud/oauth/token")
            .iter()
            .filter(|q| q.body.contains("grant_type=refresh_token"))
            .count();
        assert!(refreshes >= 1, "{:?}", sim.requests());
        assert_eq!(sim.tasks().len(), 2);
        assert_eq!(okc_pay_close(t), OKC_OK);
    }

    #[test]
    fn a_stuck_task_is_outcome_unknown_then_read_by_status() {
        let sim = start(TaskOutcome::Stuck, GptomFaults::default());
        let t = open(&sim, "999888");
        let (st, _) = pay_czk(t, 500, "CSTUCK1");
        assert_eq!(st, OKC_ERR_OUTCOME_UNKNOWN, "{}", last_error());
        let task = sim.tasks()[0].clone();
        assert!(sim.finish(&task.id, TaskOutcome::Approve));
        let r = c("CSTUCK1");
        // SAFETY: valid pointers.
        let (st, v) = call(|out| unsafe { okc_pay_status(t, r.as_ptr(), out) });
        assert_eq!(st, OKC_OK, "{}", last_error());
        let v = v.unwrap();
        assert_eq!(
            (v["approved"].as_bool(), v["amount"].as_i64()),
            (Some(true), Some(500)),
            "{v}"
        );
        assert_eq!(create_attempts(&sim), 1, "never resubmitted");
        assert_eq!(okc_pay_close(t), OKC_OK);
    }

    #[test]
    fn the_in_progress_limit_key_is_checked() {
        for bad in [r#"0"#, r#""soon""#, r#"-5"#] {
            let cfg = c(&format!(
                r#"{{"terminal":"gptom+http://127.0.0.1:9?tid=1","username":"u","password":"p",
                    "gptom_in_progress_limit_ms":{bad}}}"#
            ));
            let mut t: *mut OkcPay = null_mut();
            // SAFETY: valid pointers.
            let st = unsafe { okc_pay_open(cfg.as_ptr(), None, null_mut(), &mut t) };
            assert_eq!(st, OKC_ERR_CONFIG, "{bad}");
            assert!(last_error().contains("gptom_in_progress_limit_ms"));
        }
    }
}
