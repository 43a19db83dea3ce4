//! The payment front over the GP tom back end end to end against a minimal fake of GP tom's
//! Cloud API (std `TcpListener`, one request per connection): the token grants, create, read
//! and list of tasks, with scripted outcomes and faults. Every "exactly one task" claim is
//! read from the requests the fake received, not from the client's view.
//!
//! The fake implements the field names of `okclink::pay::gptom::api::assumptions` as the
//! spec proposes them; it is not the GP tom simulator (that lives in `okclink-sim`).
#![cfg(feature = "gptom")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use okclink::pay::gptom::{GptomConfig, GptomTiming};
use okclink::pay::{self, PayError, PaymentRequest, TerminalConfig, TerminalEvent};
use serde_json::{json, Value};

const TID: &str = "999888";
const USER: &str = "shop@example.com";
const PASSWORD: &str = "pw-Secr3t!";
const CLIENT: &str = "gptom-client:fixed-secret";

/// One request the fake received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Path and query.
    path: String,
    headers: HashMap<String, String>,
    body: String,
}

impl Seen {
    fn form(&self) -> HashMap<String, String> {
        self.body
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_string(), v.replace("%40", "@").replace("%21", "!")))
            .collect()
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// What the device does with a transaction task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Approve,
    Decline,
    Cancel,
    Fail,
    /// IN_PROGRESS for ever.
    Stuck,
}

/// What goes wrong on a create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CreateFault {
    None,
    /// The task is created, the answer is HTTP 500.
    CreatedThen500,
    /// The task is created, the connection is closed without an answer.
    CreatedThenDrop,
    /// HTTP 503, nothing created.
    Refused503,
}

struct State {
    seen: Vec<Seen>,
    tasks: Vec<Value>,
    /// GETs of each task so far.
    reads: HashMap<String, u32>,
    outcome: Outcome,
    create_fault: CreateFault,
    expires_in: u64,
    access: Vec<String>,
    refresh: Vec<String>,
    refresh_works: bool,
    next: u32,
    batch: u32,
    master: bool,
}

struct Fake {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Fake {
    fn start(outcome: Outcome) -> Fake {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            seen: Vec::new(),
            tasks: Vec::new(),
            reads: HashMap::new(),
            outcome,
            create_fault: CreateFault::None,
            expires_in: 3600,
            access: Vec::new(),
            refresh: Vec::new(),
            refresh_works: true,
            next: 0,
            batch: 7,
            master: false,
        }));
        let st = state.clone();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let st = st.clone();
                std::thread::spawn(move || serve(s, &st));
            }
        });
        Fake { addr, state }
    }

    fn set(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.state.lock().unwrap())
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.method == method && s.path.starts_with(path_prefix))
            .count()
    }

    fn grants(&self) -> Vec<String> {
        self.seen()
            .iter()
            .filter(|s| s.path == "/cloud/oauth/token")
            .map(|s| s.form().get("grant_type").cloned().unwrap_or_default())
            .collect()
    }

    fn url(&self, extra: &str) -> String {
        format!("gptom+http://{}?tid={TID}{extra}", self.addr)
    }
}

fn respond(s: &mut TcpStream, code: u16, body: &Value) {
    let b = body.to_string();
    let _ = write!(
        s,
        "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{b}",
        b.len()
    );
}

fn serve(mut s: TcpStream, st: &Mutex<State>) {
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    if r.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let n: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; n];
    r.read_exact(&mut body).unwrap();
    let seen = Seen {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let (code, answer) = {
        let mut g = st.lock().unwrap();
        g.seen.push(seen.clone());
        handle(&mut g, &seen)
    };
    match answer {
        Some(a) => respond(&mut s, code, &a),
        None => {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

fn bearer_ok(g: &State, q: &Seen) -> bool {
    q.headers
        .get("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .is_some_and(|t| g.access.iter().any(|x| x == t))
}

fn task_view(g: &mut State, id: &str, read: bool) -> Option<Value> {
    let outcome = g.outcome;
    let reads = g.reads.entry(id.to_string()).or_insert(0);
    if read {
        *reads += 1;
    }
    let reads = *reads;
    let batch = g.batch;
    let t = g.tasks.iter_mut().find(|t| t["id"] == id)?;
    let state = t["state"].as_str().unwrap_or("").to_string();
    if read && !["COMPLETED", "CANCELLED", "FAILED"].contains(&state.as_str()) {
        // First read: IN_PROGRESS; second: the outcome.
        if reads == 1 || outcome == Outcome::Stuck {
            t["state"] = json!("IN_PROGRESS");
        } else if t["type"] == "BATCH" {
            t["state"] = json!("COMPLETED");
            t["batch"] = json!({"batchNumber": batch, "closed": true});
        } else {
            let req = t["request"].clone();
            let kind = req["transactionType"]
                .as_str()
                .unwrap_or("SALE")
                .to_string();
            let code = match kind.as_str() {
                "VOID" => 2,
                "REFUND" => 3,
                _ => 1,
            };
            t["updated"] = json!(now());
            match outcome {
                Outcome::Approve | Outcome::Decline => {
                    t["state"] = json!("COMPLETED");
                    let ok = outcome == Outcome::Approve;
                    t["transaction"] = json!({
                        "result": if ok { 0 } else { 5 },
                        "responseMessage": if ok { "APPROVED" } else { "DO NOT HONOUR" },
                        "transactionType": code,
                        "amount": req["amount"].clone(),
                        "currencyCode": req["currencyCode"].clone(),
                        "cardNumber": "************1234",
                        "cardDataEntry": "CONTACTLESS",
                        "approvedCode": if ok { "A1B2C3" } else { "" },
                        "emvAppLabel": "VISA",
                        "externalTransactionID": format!("EXT-{}", t["id"].as_str().unwrap()),
                        "trasanctionID": "misspelt",
                        "batchNumber": batch,
                    });
                }
                Outcome::Cancel => t["state"] = json!("CANCELLED"),
                Outcome::Fail => {
                    t["state"] = json!("FAILED");
                    t["error"] = json!({"code": 43, "internalErrorCode": 0, "isRepeatable": true,
                                        "platform": "TOM_APP"});
                }
                Outcome::Stuck => unreachable!(),
            }
        }
    }
    Some(t.clone())
}

fn handle(g: &mut State, q: &Seen) -> (u16, Option<Value>) {
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(CLIENT)
    );
    if q.path == "/cloud/oauth/token" {
        if q.headers.get("authorization") != Some(&basic) {
            return (
                401,
                Some(json!({"error": "unauthorized", "error_description":
                "Full authentication is required"})),
            );
        }
        let f = q.form();
        match f.get("grant_type").map(String::as_str) {
            Some("password") => {
                if f.get("username").map(String::as_str) != Some(USER)
                    || f.get("password").map(String::as_str) != Some(PASSWORD)
                {
                    return (
                        400,
                        Some(json!({"error": "invalid_grant",
                        "error_description": "Bad credentials"})),
                    );
                }
                if !g.master && f.get("tid").map(String::as_str) != Some(TID) {
                    return (
                        400,
                        Some(json!({"error": "invalid_request",
                        "error_description": "tid required"})),
                    );
                }
            }
            Some("refresh_token") => {
                let rt = f.get("refresh_token").cloned().unwrap_or_default();
                if !g.refresh_works || !g.refresh.contains(&rt) {
                    return (
                        400,
                        Some(json!({"error": "invalid_grant",
                        "error_description": "Invalid refresh token"})),
                    );
                }
            }
            _ => return (400, Some(json!({"error": "unsupported_grant_type"}))),
        }
        g.next += 1;
        let (at, rt) = (format!("at-{}", g.next), format!("rt-{}", g.next));
        g.access.push(at.clone());
        g.refresh.push(rt.clone());
        let tid = if g.master { Value::Null } else { json!(TID) };
        return (
            200,
            Some(json!({"access_token": at, "token_type": "bearer",
            "refresh_token": rt, "expires_in": g.expires_in, "scope": "read write",
            "tid": tid})),
        );
    }
    if !bearer_ok(g, q) {
        return (401, Some(json!({"error": "invalid_token"})));
    }
    let (path, query) = q.path.split_once('?').unwrap_or((&q.path, ""));
    match (q.method.as_str(), path) {
        ("POST", "/v1/tasks/TRANSACTION") | ("POST", "/v1/tasks/BATCH") => {
            if g.create_fault == CreateFault::Refused503 {
                return (503, Some(json!({"message": "maintenance"})));
            }
            let body = q.json();
            let tid = if g.master {
                match body["tid"].as_str() {
                    Some(t) => t.to_string(),
                    None => return (400, Some(json!({"code": "TID_REQUIRED"}))),
                }
            } else {
                TID.to_string()
            };
            g.next += 1;
            let id = format!("task-{}", g.next);
            let kind = if path.ends_with("BATCH") {
                "BATCH"
            } else {
                "TRANSACTION"
            };
            let task = json!({"id": id, "type": kind, "tid": tid, "state": "CREATED",
                              "created": now(), "updated": now(), "request": body});
            g.tasks.push(task.clone());
            match g.create_fault {
                CreateFault::CreatedThen500 => (500, Some(json!({"message": "oops"}))),
                CreateFault::CreatedThenDrop => (0, None),
                _ => (201, Some(task)),
            }
        }
        ("GET", "/v1/tasks") => {
            let tid = query.strip_prefix("tid=").unwrap_or("").to_string();
            let ids: Vec<String> = g
                .tasks
                .iter()
                .filter(|t| t["tid"] == tid.as_str())
                .map(|t| t["id"].as_str().unwrap().to_string())
                .collect();
            let list: Vec<Value> = ids
                .iter()
                .filter_map(|id| task_view(g, id, false))
                .collect();
            (200, Some(Value::Array(list)))
        }
        ("GET", p) if p.starts_with("/v1/tasks/") => {
            let id = &p["/v1/tasks/".len()..];
            match task_view(g, id, true) {
                Some(t) => (200, Some(t)),
                None => (404, Some(json!({"code": "NOT_FOUND"}))),
            }
        }
        _ => (404, Some(json!({"code": "NO_ROUTE"}))),
    }
}

fn timing() -> GptomTiming {
    GptomTiming {
        poll_first: Duration::from_millis(20),
        poll_max: Duration::from_millis(60),
        queued_limit: Duration::from_secs(2),
        in_progress_limit: Duration::from_millis(600),
        http_timeout: Duration::from_secs(5),
        lookup_attempts: 2,
    }
}

fn config() -> GptomConfig {
    let mut c = GptomConfig::default();
    c.set("username", USER).unwrap();
    c.set("password", PASSWORD).unwrap();
    c.set("basic", CLIENT).unwrap();
    c.timing = timing();
    c
}

type Events = Arc<Mutex<Vec<TerminalEvent>>>;

fn open_with(url: &str, c: GptomConfig) -> Result<(pay::Terminal, Events), PayError> {
    let mut cfg = TerminalConfig::new(url);
    cfg.gptom = c;
    cfg.journal = None;
    let events: Events = Arc::new(Mutex::new(Vec::new()));
    let e2 = events.clone();
    cfg.events = Some(Arc::new(move |e: &TerminalEvent| {
        e2.lock().unwrap().push(e.clone());
        None
    }));
    pay::open(cfg).map(|t| (t, events))
}

fn open(fake: &Fake) -> (pay::Terminal, Events) {
    open_with(&fake.url(""), config()).expect("terminal")
}

fn req(amount: i64, reference: &str) -> PaymentRequest {
    PaymentRequest {
        amount,
        currency: "CZK".into(),
        reference: reference.into(),
    }
}

#[test]
fn an_approved_sale_exactly_once() {
    let fake = Fake::start(Outcome::Approve);
    let (t, events) = open(&fake);
    let r = t.pay(&req(5025, "Invoice37364FD")).unwrap();
    assert!(r.approved, "{r:?}");
    assert_eq!(r.kind, "payment");
    assert_eq!((r.amount, r.currency.as_str()), (5025, "CZK"));
    assert_eq!(r.masked_pan.as_deref(), Some("************1234"));
    assert_eq!(r.brand.as_deref(), Some("VISA"));
    assert_eq!(r.entry_mode.as_deref(), Some("CONTACTLESS"));
    assert_eq!(r.approval_code.as_deref(), Some("A1B2C3"));
    assert_eq!(r.transaction_id.as_deref(), Some("EXT-task-2"));
    assert_eq!(r.reference, "Invoice37364FD");
    assert!(r.timestamp.is_some());
    assert!(r.customer_receipt.is_empty() && r.merchant_receipt.is_empty());
    let raw: Value = serde_json::from_str(&r.raw).unwrap();
    assert_eq!(raw["state"], "COMPLETED");
    // The same reference again: the recorded result, nothing sent.
    let before = fake.seen().len();
    assert_eq!(t.pay(&req(5025, "Invoice37364FD")).unwrap(), r);
    assert_eq!(fake.seen().len(), before);
    // What the cloud received.
    let seen = fake.seen();
    let token = &seen[0];
    assert_eq!(
        (token.method.as_str(), token.path.as_str()),
        ("POST", "/cloud/oauth/token")
    );
    assert_eq!(
        token.headers.get("content-type").map(String::as_str),
        Some("application/x-www-form-urlencoded")
    );
    let f = token.form();
    assert_eq!(f["grant_type"], "password");
    assert_eq!((f["username"].as_str(), f["tid"].as_str()), (USER, TID));
    let creates: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.method == "POST" && s.path == "/v1/tasks/TRANSACTION")
        .collect();
    assert_eq!(creates.len(), 1);
    assert_eq!(
        creates[0].json(),
        json!({"transactionType": "SALE", "amount": 5025, "currencyCode": "CZK",
               "originReferenceNum": "Invoice37364FD", "printByPaymentApp": true})
    );
    assert_eq!(
        creates[0].headers.get("authorization").map(String::as_str),
        Some("Bearer at-1")
    );
    assert!(fake.count("GET", "/v1/tasks/task-2") >= 2);
    assert_eq!(fake.grants(), vec!["password"]);
    // The task's states reached the event callback (on its own thread).
    t.close();
    let task_states = || -> Vec<String> {
        events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                TerminalEvent::Notification { event, details } if event == "task" => {
                    details.clone()
                }
                _ => None,
            })
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    while task_states().len() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let states = task_states();
    let ev = events.lock().unwrap().clone();
    assert_eq!(
        states,
        vec!["CREATED task-2", "IN_PROGRESS task-2", "COMPLETED task-2"],
        "{ev:?}"
    );
}

#[test]
fn declined_cancelled_and_failed_are_results() {
    let fake = Fake::start(Outcome::Decline);
    let (t, _) = open(&fake);
    let r = t.pay(&req(999, "D1")).unwrap();
    assert!(!r.approved);
    assert_eq!(r.amount, 0);
    assert_eq!(
        r.reason.as_deref(),
        Some("declined (result 5): DO NOT HONOUR")
    );
    fake.set(|s| s.outcome = Outcome::Cancel);
    let r = t.pay(&req(999, "D2")).unwrap();
    assert!(!r.approved);
    assert!(
        r.reason.as_deref().is_some_and(|x| x.contains("CANCELLED")),
        "{r:?}"
    );
    fake.set(|s| s.outcome = Outcome::Fail);
    let r = t.refund(&req(999, "D3")).unwrap();
    assert!(!r.approved);
    assert_eq!(r.kind, "refund");
    assert_eq!(
        r.reason.as_deref(),
        Some("the payment app failed (task FAILED, error code 43; repeatable)")
    );
    assert_eq!(fake.count("POST", "/v1/tasks/TRANSACTION"), 3);
    // Nothing approved: nothing to cancel.
    assert!(matches!(t.reverse_last(), Err(PayError::Refused { .. })));
    t.close();
}

#[test]
fn a_refused_token_is_refreshed_and_a_failed_refresh_logs_in_again() {
    let fake = Fake::start(Outcome::Approve);
    let (t, _) = open(&fake);
    assert!(t.pay(&req(100, "A1")).unwrap().approved);
    // The cloud revokes the access token: 401 → refresh grant → the call once more.
    fake.set(|s| s.access.clear());
    assert!(t.pay(&req(100, "A2")).unwrap().approved);
    assert_eq!(fake.grants(), vec!["password", "refresh_token"]);
    let refresh = fake
        .seen()
        .into_iter()
        .find(|s| s.form().get("grant_type").map(String::as_str) == Some("refresh_token"))
        .unwrap();
    assert_eq!(refresh.form()["refresh_token"], "rt-1");
    // One create per payment, the refused one included (401: not created).
    let creates = fake
        .seen()
        .iter()
        .filter(|s| s.path == "/v1/tasks/TRANSACTION")
        .count();
    assert_eq!(creates, 3, "A1, A2 refused with 401, A2 again");
    assert_eq!(fake.state.lock().unwrap().tasks.len(), 2);
    // Revoked again and the refresh token refused too: the password grant again.
    fake.set(|s| {
        s.access.clear();
        s.refresh_works = false;
    });
    assert!(t.pay(&req(100, "A3")).unwrap().approved);
    assert_eq!(
        fake.grants(),
        vec!["password", "refresh_token", "refresh_token", "password"]
    );
    t.close();
}

#[test]
fn a_short_lived_token_is_renewed_before_it_expires() {
    let fake = Fake::start(Outcome::Approve);
    fake.set(|s| s.expires_in = 1);
    let (t, _) = open(&fake);
    t.login().unwrap();
    assert_eq!(fake.grants(), vec!["password"]);
    // 1 s lifetime: renewed after 0.75 s, without any 401.
    std::thread::sleep(Duration::from_millis(900));
    assert!(t.pay(&req(100, "S1")).unwrap().approved);
    assert_eq!(fake.grants()[..2], ["password", "refresh_token"]);
    assert!(fake
        .seen()
        .iter()
        .all(|s| s.path == "/cloud/oauth/token" || s.method == "GET" || bearer_was_fresh(s)));
    t.close();
}

fn bearer_was_fresh(s: &Seen) -> bool {
    s.headers.get("authorization").map(String::as_str) != Some("Bearer at-1")
}

#[test]
fn concurrent_calls_share_one_token_request() {
    let fake = Fake::start(Outcome::Approve);
    let (t, _) = open(&fake);
    let t = Arc::new(t);
    let hs: Vec<_> = (0..4)
        .map(|i| {
            let t = t.clone();
            std::thread::spawn(move || t.status(Some(&format!("nothing{i}"))))
        })
        .collect();
    for h in hs {
        assert!(matches!(
            h.join().unwrap(),
            Err(PayError::Refused { condition, .. }) if condition == "NotFound"
        ));
    }
    assert_eq!(fake.grants(), vec!["password"]);
    assert_eq!(fake.count("GET", "/v1/tasks?tid=999888"), 4);
}

#[test]
fn a_create_answered_500_is_found_in_the_list_and_never_sent_again() {
    let fake = Fake::start(Outcome::Approve);
    fake.set(|s| s.create_fault = CreateFault::CreatedThen500);
    let (t, _) = open(&fake);
    let r = t.pay(&req(4200, "Lost500")).unwrap();
    assert!(r.approved, "{r:?}");
    assert_eq!(r.amount, 4200);
    assert_eq!(fake.count("POST", "/v1/tasks/TRANSACTION"), 1);
    assert!(fake.count("GET", "/v1/tasks?tid=999888") >= 1);
    t.close();
}

#[test]
fn a_create_whose_connection_drops_is_found_in_the_list() {
    let fake = Fake::start(Outcome::Approve);
    fake.set(|s| s.create_fault = CreateFault::CreatedThenDrop);
    let (t, _) = open(&fake);
    let r = t.pay(&req(4300, "LostDrop")).unwrap();
    assert!(r.approved, "{r:?}");
    assert_eq!(fake.count("POST", "/v1/tasks/TRANSACTION"), 1);
    assert_eq!(fake.state.lock().unwrap().tasks.len(), 1);
    t.close();
}

#[test]
fn a_lost_create_that_is_not_listed_is_unknown_and_not_resubmitted() {
    let fake = Fake::start(Outcome::Approve);
    fake.set(|s| s.create_fault = CreateFault::Refused503);
    let (t, _) = open(&fake);
    match t.pay(&req(4400, "Gone")) {
        Err(PayError::OutcomeUnknown(e)) => {
            assert!(e.contains("never pay again blindly"), "{e}");
            assert!(e.contains("not sent again"), "{e}");
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(fake.count("POST", "/v1/tasks/TRANSACTION"), 1);
    assert_eq!(fake.count("GET", "/v1/tasks?tid=999888"), 2);
    // The caller asks again with the same reference: the list first, then (still not
    // there, the cloud is back) one create.
    fake.set(|s| s.create_fault = CreateFault::None);
    let r = t.pay(&req(4400, "Gone")).unwrap();
    assert!(r.approved);
    assert_eq!(fake.count("POST", "/v1/tasks/TRANSACTION"), 2);
    assert!(fake.count("GET", "/v1/tasks?tid=999888") >= 4);
    t.close();
}

#[test]
fn a_task_stuck_in_progress_is_an_unknown_outcome() {
    let fake = Fake::start(Outcome::Stuck);
    let (t, _) = open(&fake);
    let t0 = Instant::now();
    match t.pay(&req(500, "Stuck1")) {
        Err(PayError::OutcomeUnknown(e)) => {
            assert!(e.contains("IN_PROGRESS for more than"), "{e}");
            assert!(e.contains("ask the status later"), "{e}");
        }
        o => panic!("{o:?}"),
    }
    assert!(t0.elapsed() < Duration::from_secs(5));
    // Status reads the task again: still running.
    assert!(matches!(
        t.status(Some("Stuck1")),
        Err(PayError::OutcomeUnknown(_))
    ));
    // The device finishes it; the same reference follows that task (no second create).
    fake.set(|s| s.outcome = Outcome::Approve);
    let r = t.pay(&req(500, "Stuck1")).unwrap();
    assert!(r.approved, "{r:?}");
    assert_eq!(fake.count("POST", "/v1/tasks/TRANSACTION"), 1);
    t.close();
}

#[test]
fn cancellation_of_the_last_sale_on_the_same_tid() {
    let fake = Fake::start(Outcome::Approve);
    let (t, _) = open(&fake);
    let sale = t.pay(&req(3000, "ToCancel")).unwrap();
    assert!(sale.approved);
    let v = t.reverse_last().unwrap();
    assert!(v.approved, "{v:?}");
    assert_eq!(v.kind, "reversal");
    assert_eq!((v.amount, v.currency.as_str()), (3000, "CZK"));
    let void = fake
        .seen()
        .into_iter()
        .filter(|s| s.path == "/v1/tasks/TRANSACTION")
        .map(|s| s.json())
        .find(|b| b["transactionType"] == "VOID")
        .unwrap();
    assert_eq!(void["originTransactionID"], sale.transaction_id.unwrap());
    assert!(void.get("amount").is_none());
    let vref = void["originReferenceNum"].as_str().unwrap();
    assert!(vref.starts_with('V') && vref.len() <= 20, "{vref}");
    // Only once: the last approved transaction is now the cancellation.
    match t.reverse_last() {
        Err(PayError::Refused { text, .. }) => assert!(text.contains("VOID"), "{text}"),
        o => panic!("{o:?}"),
    }
    t.close();
    // A new process finds the same in the cloud's list.
    let (t2, _) = open(&fake);
    assert!(matches!(t2.reverse_last(), Err(PayError::Refused { .. })));
    let s = t2.status(Some("ToCancel")).unwrap();
    assert!(s.approved && s.kind == "payment", "{s:?}");
    let last = t2.status(None).unwrap();
    assert_eq!(last.kind, "reversal");
    t2.close();
}

#[test]
fn a_sale_from_another_process_is_cancelled_from_the_list() {
    let fake = Fake::start(Outcome::Approve);
    let (t, _) = open(&fake);
    let sale = t.pay(&req(1500, "Earlier")).unwrap();
    t.close();
    let (t2, _) = open(&fake);
    let v = t2.reverse_last().unwrap();
    assert!(v.approved, "{v:?}");
    assert_eq!(v.amount, 1500);
    let void = fake
        .seen()
        .into_iter()
        .filter(|s| s.path == "/v1/tasks/TRANSACTION")
        .map(|s| s.json())
        .find(|b| b["transactionType"] == "VOID")
        .unwrap();
    assert_eq!(void["originTransactionID"], sale.transaction_id.unwrap());
    t2.close();
}

#[test]
fn batch_close_returns_the_task() {
    let fake = Fake::start(Outcome::Approve);
    let (t, _) = open(&fake);
    let s = t.batch_close().unwrap();
    let v: Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["type"], "BATCH");
    assert_eq!(v["state"], "COMPLETED");
    assert_eq!(v["batch"]["batchNumber"], 7);
    let b = fake
        .seen()
        .into_iter()
        .find(|s| s.path == "/v1/tasks/BATCH")
        .unwrap();
    assert_eq!(b.json(), json!({"printByPaymentApp": true}));
    t.close();
}

#[test]
fn a_master_account_names_the_tid_in_every_task() {
    let fake = Fake::start(Outcome::Approve);
    fake.set(|s| s.master = true);
    let (t, _) = open_with(&fake.url("&master=1"), config()).unwrap();
    assert!(t.pay(&req(700, "M1")).unwrap().approved);
    let seen = fake.seen();
    assert!(!seen[0].form().contains_key("tid"));
    let create = seen
        .iter()
        .find(|s| s.path == "/v1/tasks/TRANSACTION")
        .unwrap();
    assert_eq!(create.json()["tid"], TID);
    assert!(seen
        .iter()
        .filter(|s| s.method == "GET")
        .all(|s| s.path.ends_with("tid=999888")));
    t.close();
}

#[test]
fn credentials_errors_and_unsupported_calls() {
    let fake = Fake::start(Outcome::Approve);
    // No client Basic value: the cloud answers 401, the error says what is missing.
    let mut c = config();
    c.basic = None;
    let (t, _) = open_with(&fake.url(""), c).unwrap();
    match t.login() {
        Err(PayError::Config(e)) => {
            assert!(e.contains("OKC_GPTOM_BASIC"), "{e}");
            assert!(!e.contains(PASSWORD) && !e.contains(USER), "{e}");
        }
        o => panic!("{o:?}"),
    }
    t.close();
    // A wrong password: a configuration error, without any credential in it.
    let mut c = config();
    c.set("password", "wrong-pw-123").unwrap();
    let (t, _) = open_with(&fake.url(""), c).unwrap();
    match t.pay(&req(100, "W1")) {
        Err(PayError::Config(e)) => {
            assert!(e.contains("Bad credentials"), "{e}");
            assert!(!e.contains("wrong-pw-123"), "{e}");
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(fake.count("POST", "/v1/tasks"), 0);
    // Bad references never reach the cloud.
    let before = fake.seen().len();
    for bad in ["order-17", "Faktura č 5", "123456789012345678901"] {
        assert!(
            matches!(t.pay(&req(100, bad)), Err(PayError::InvalidInput(_))),
            "{bad}"
        );
    }
    assert_eq!(fake.seen().len(), before);
    assert!(matches!(t.abort(), Err(PayError::Unsupported(_))));
    t.logout(true).unwrap();
    t.close();
    // Missing credentials: refused at open.
    let mut cfg = TerminalConfig::new(&fake.url(""));
    cfg.journal = None;
    cfg.gptom.timing = timing();
    match pay::open(cfg) {
        Err(PayError::Config(e)) => assert!(e.contains("OKC_GPTOM_USERNAME"), "{e}"),
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("opened without credentials"),
    }
    // Plain http off loopback is refused (the password would cross a network).
    assert!(matches!(
        open_with("gptom+http://192.0.2.1:80?tid=1", config()),
        Err(PayError::Config(_))
    ));
}

#[test]
fn an_unreachable_cloud() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (t, _) = open_with(
        &format!("gptom+http://127.0.0.1:{port}?tid={TID}"),
        config(),
    )
    .unwrap();
    assert!(matches!(
        t.pay(&req(100, "U1")),
        Err(PayError::Unreachable(_))
    ));
    t.close();
}
