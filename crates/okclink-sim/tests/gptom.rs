//! The GP tom Cloud API simulator over loopback: hand-written HTTP/1.1 requests (as a
//! client would send them: form-encoded token requests, JSON task requests), asserting on
//! status codes, JSON bodies and the simulator's own logs and state.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use okclink_sim::gptom::assumptions::CLIENT_BASIC;
use okclink_sim::{
    GptomAccount, GptomConfig, GptomFaults, GptomSim, TaskMode, TaskOutcome, TaskState,
};
use serde_json::{json, Value};

const T1: &str = "999888";
const T2: &str = "999777";

fn fast() -> GptomConfig {
    GptomConfig {
        task_time: Duration::from_millis(50),
        ..GptomConfig::default()
    }
}

fn start(c: GptomConfig) -> GptomSim {
    GptomSim::start(c, "127.0.0.1:0").expect("simulator starts")
}

/// One request on its own connection: `Ok((status, headers, body))`; `Err` when the
/// connection closed without an answer.
fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String, Value), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("closed without an answer ({} bytes)", raw.len()))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("bad status line")?;
    let json = serde_json::from_str(body).unwrap_or(Value::Null);
    Ok((status, head.to_ascii_lowercase(), json))
}

fn call(
    sim: &GptomSim,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let (s, _, v) = raw(sim.addr(), method, path, headers, body).unwrap();
    (s, v)
}

/// `POST /cloud/oauth/token` with `form` and the Basic credential `basic` (none: no header).
fn token_call(sim: &GptomSim, path: &str, basic: Option<&str>, form: &str) -> (u16, Value) {
    let auth = basic.map(|b| format!("Basic {b}"));
    let mut h = vec![("Content-Type", "application/x-www-form-urlencoded")];
    if let Some(a) = &auth {
        h.push(("Authorization", a.as_str()));
    }
    call(sim, "POST", path, &h, form)
}

fn login(sim: &GptomSim, user: &str, password: &str, tid: Option<&str>) -> (u16, Value) {
    let mut form = format!("grant_type=password&username={user}&password={password}");
    if let Some(t) = tid {
        form.push_str(&format!("&tid={t}"));
    }
    token_call(sim, "/cloud/oauth/token", Some(CLIENT_BASIC), &form)
}

fn refresh(sim: &GptomSim, path: &str, rt: &str) -> (u16, Value) {
    token_call(
        sim,
        path,
        Some(CLIENT_BASIC),
        &format!("grant_type=refresh_token&refresh_token={rt}"),
    )
}

/// An access token for `tid` (`None`: master account).
fn token(sim: &GptomSim, tid: Option<&str>) -> String {
    let (s, v) = login(sim, "merchant%40shop.cz", "heslo", tid);
    assert_eq!(s, 200, "{v}");
    v["access_token"].as_str().unwrap().to_string()
}

fn api(sim: &GptomSim, method: &str, path: &str, tok: &str, body: Option<Value>) -> (u16, Value) {
    let bearer = format!("Bearer {tok}");
    let b = body.map(|b| b.to_string()).unwrap_or_default();
    call(
        sim,
        method,
        path,
        &[
            ("Authorization", bearer.as_str()),
            ("Content-Type", "application/json"),
        ],
        &b,
    )
}

fn sale(amount: i64, reference: &str) -> Value {
    json!({"transactionType": "SALE", "amount": amount, "currencyCode": "CZK",
           "originReferenceNum": reference, "printByPaymentApp": true})
}

fn void(origin: &str) -> Value {
    json!({"transactionType": "VOID", "originTransactionID": origin, "cancelMode": 2})
}

/// Create a transaction task: (status, body).
fn create(sim: &GptomSim, tok: &str, body: Value) -> (u16, Value) {
    api(sim, "POST", "/v1/tasks/TRANSACTION", tok, Some(body))
}

/// Create a task that must be accepted; its id.
fn created(sim: &GptomSim, tok: &str, body: Value) -> String {
    let (s, v) = create(sim, tok, body);
    assert_eq!(s, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

fn wait_for(what: &str, timeout_ms: u64, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_millis(timeout_ms);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn state(sim: &GptomSim, id: &str) -> TaskState {
    sim.task(id).expect("task exists").state
}

fn wait_state(sim: &GptomSim, id: &str, want: TaskState) {
    wait_for(&format!("{id} {want:?}"), 5000, || state(sim, id) == want);
}

/// Poll `GET /v1/tasks/{id}` until the task is terminal; the detail.
fn poll_done(sim: &GptomSim, tok: &str, id: &str) -> Value {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let (s, v) = api(sim, "GET", &format!("/v1/tasks/{id}"), tok, None);
        assert_eq!(s, 200, "{v}");
        if ["COMPLETED", "CANCELLED", "FAILED"].contains(&v["state"].as_str().unwrap()) {
            return v;
        }
        assert!(Instant::now() < end, "task {id} still {}", v["state"]);
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An approved sale on `tid`; its `transactionID`.
fn approved_sale(sim: &GptomSim, tok: &str, amount: i64) -> String {
    let id = created(sim, tok, sale(amount, "Invoice 1"));
    let v = poll_done(sim, tok, &id);
    assert_eq!(v["transaction"]["result"], 0, "{v}");
    v["transaction"]["transactionID"]
        .as_str()
        .unwrap()
        .to_string()
}

// ---------------------------------------------------------------------------------------
// Tokens

#[test]
fn token_refresh_expiry_and_revocation() {
    let sim = start(fast());
    let (s, v) = login(&sim, "merchant", "pw", Some(T1));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["token_type"], "bearer");
    assert_eq!(v["scope"], "read write");
    assert_eq!(v["tid"], T1);
    assert_eq!(v["expires_in"], 3600);
    let access = v["access_token"].as_str().unwrap().to_string();
    let rt = v["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(access.split('.').count(), 3, "a JWT: {access}");
    let (s, _) = api(&sim, "GET", &format!("/v1/tasks?tid={T1}"), &access, None);
    assert_eq!(s, 200);

    // Refresh (both documented paths): a new access token, the same refresh token, the TID kept.
    let (s, v) = refresh(&sim, "/cloud/oauth/token", &rt);
    assert_eq!(s, 200, "{v}");
    assert_ne!(v["access_token"].as_str().unwrap(), access);
    assert_eq!(v["refresh_token"].as_str().unwrap(), rt);
    assert_eq!(v["tid"], T1);
    let (s, v) = refresh(&sim, "/api/oauth/token", &rt);
    assert_eq!(s, 200, "{v}");
    let access2 = v["access_token"].as_str().unwrap().to_string();

    // Expire every token: 401 invalid_token; a refresh brings a working one.
    sim.expire_tokens();
    for t in [&access, &access2] {
        let (s, v) = api(&sim, "GET", "/v1/tasks", t, None);
        assert_eq!(s, 401);
        assert_eq!(v["error"], "invalid_token");
    }
    let (s, v) = refresh(&sim, "/cloud/oauth/token", &rt);
    assert_eq!(s, 200);
    let access3 = v["access_token"].as_str().unwrap().to_string();
    assert_eq!(api(&sim, "GET", "/v1/tasks", &access3, None).0, 200);

    // Revoke the refresh tokens: the refresh fails, the password login works.
    sim.revoke_refresh_tokens();
    let (s, v) = refresh(&sim, "/cloud/oauth/token", &rt);
    assert_eq!(s, 401, "{v}");
    assert_eq!(v["error"], "invalid_token");
    assert_eq!(refresh(&sim, "/cloud/oauth/token", "nonsense").0, 401);
    assert_eq!(login(&sim, "merchant", "pw", Some(T1)).0, 200);

    // A short lifetime runs out on its own.
    sim.set_token_ttl(Duration::from_secs(1));
    let (_, v) = login(&sim, "merchant", "pw", Some(T1));
    assert_eq!(v["expires_in"], 1);
    let short = v["access_token"].as_str().unwrap().to_string();
    assert_eq!(api(&sim, "GET", "/v1/tasks", &short, None).0, 200);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(api(&sim, "GET", "/v1/tasks", &short, None).0, 401);

    // No tid: a master-account token.
    let (s, v) = login(&sim, "master", "pw", None);
    assert_eq!(s, 200);
    assert_eq!(v["tid"], Value::Null);

    let log = sim.requests_to("POST", "/cloud/oauth/token");
    assert!(log
        .iter()
        .all(|r| r.header("authorization") == Some(format!("Basic {CLIENT_BASIC}").as_str())));
    assert!(log[0].body.contains("grant_type=password"));
}

#[test]
fn wrong_basic_bad_grants_and_bearers() {
    let sim = start(fast());
    let form = format!("grant_type=password&username=u&password=p&tid={T1}");
    let (s, head, v) = raw(
        sim.addr(),
        "POST",
        "/cloud/oauth/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &form,
    )
    .unwrap();
    assert_eq!(s, 401);
    assert_eq!(v["error"], "unauthorized");
    assert!(head.contains("www-authenticate: basic"), "{head}");
    let (s, v) = token_call(&sim, "/cloud/oauth/token", Some("d3Jvbmc6d3Jvbmc="), &form);
    assert_eq!((s, v["error"].as_str()), (401, Some("unauthorized")));
    let (s, v) = token_call(
        &sim,
        "/cloud/oauth/token",
        Some(CLIENT_BASIC),
        "grant_type=client_credentials",
    );
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (s, _) = token_call(
        &sim,
        "/cloud/oauth/token",
        Some(CLIENT_BASIC),
        "grant_type=password&username=u",
    );
    assert_eq!(s, 400);
    assert_eq!(sim.requests()[0].http_status, 401);
    assert_eq!(
        sim.requests()[0].error_code.as_deref(),
        Some("unauthorized")
    );

    // Bearer errors.
    let (s, v) = call(&sim, "GET", "/v1/tasks", &[], "");
    assert_eq!((s, v["error"].as_str()), (401, Some("unauthorized")));
    let (s, v) = api(&sim, "GET", "/v1/tasks", "not-a-token", None);
    assert_eq!((s, v["error"].as_str()), (401, Some("invalid_token")));
    assert!(sim.tasks().is_empty());
    let (s, v) = api(&sim, "GET", "/v1/nothing", &token(&sim, Some(T1)), None);
    assert_eq!((s, v["code"].as_str()), (404, Some("NOT_FOUND")));
}

#[test]
fn configured_accounts_only() {
    let sim = start(GptomConfig {
        accept_any: false,
        accounts: vec![
            GptomAccount {
                username: "shop1".into(),
                password: "pw1".into(),
                tid: Some(T1.into()),
            },
            GptomAccount {
                username: "master".into(),
                password: "pwm".into(),
                tid: None,
            },
        ],
        client_basic: "c2VjcmV0OmNsaWVudA==".into(),
        ..fast()
    });
    let basic = Some("c2VjcmV0OmNsaWVudA==");
    let form =
        |u: &str, p: &str, tid: &str| format!("grant_type=password&username={u}&password={p}{tid}");
    let t = |f: String| token_call(&sim, "/cloud/oauth/token", basic, &f);
    // The default Basic is not this simulator's.
    assert_eq!(login(&sim, "shop1", "pw1", Some(T1)).0, 401);
    let (s, v) = t(form("shop1", "wrong", ""));
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(t(form("nobody", "pw1", "")).0, 400);
    assert_eq!(t(form("shop1", "pw1", &format!("&tid={T2}"))).0, 400);
    let (s, v) = t(form("shop1", "pw1", ""));
    assert_eq!((s, v["tid"].as_str()), (200, Some(T1)));
    let (s, v) = t(form("shop1", "pw1", &format!("&tid={T1}")));
    assert_eq!((s, v["tid"].as_str()), (200, Some(T1)));
    let (s, v) = t(form("master", "pwm", ""));
    assert_eq!((s, &v["tid"]), (200, &Value::Null));
}

#[test]
fn slow_auth() {
    let sim = start(GptomConfig {
        faults: GptomFaults {
            slow_auth: Duration::from_millis(300),
            ..GptomFaults::default()
        },
        ..fast()
    });
    let t0 = Instant::now();
    assert_eq!(login(&sim, "u", "p", Some(T1)).0, 200);
    assert!(t0.elapsed() >= Duration::from_millis(300));
}

// ---------------------------------------------------------------------------------------
// Sales and outcomes

#[test]
fn sale_is_approved_through_the_states() {
    let sim = start(GptomConfig {
        task_time: Duration::from_millis(300),
        ..GptomConfig::default()
    });
    let tok = token(&sim, Some(T1));
    let body = json!({"transactionType": "SALE", "amount": 5025, "currencyCode": "CZK",
        "originReferenceNum": "Invoice 37364FD", "printByPaymentApp": true, "tipAmount": 100,
        "clientID": "CID-7"});
    let (s, v) = create(&sim, &tok, body.clone());
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["type"], "TRANSACTION");
    assert_eq!(v["tid"], T1);
    assert!(
        ["QUEUED", "IN_PROGRESS"].contains(&v["state"].as_str().unwrap()),
        "{v}"
    );
    assert_eq!(v["request"], body);
    assert_eq!(v["transaction"], Value::Null);
    assert_eq!(v["error"], Value::Null);
    assert!(v["created"].as_str().unwrap().ends_with('Z'));
    // IN_PROGRESS is visible for the task time.
    let mut seen = Vec::new();
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, v) = api(&sim, "GET", &format!("/v1/tasks/{id}"), &tok, None);
        let st = v["state"].as_str().unwrap().to_string();
        if seen.last() != Some(&st) {
            seen.push(st.clone());
        }
        if st == "COMPLETED" {
            let t = &v["transaction"];
            assert_eq!(t["result"], 0, "{v}");
            assert_eq!(t["responseMessage"], "APPROVED");
            assert_eq!(t["transactionType"], 1);
            assert_eq!(t["terminalID"], T1);
            assert_eq!(t["amount"], 5025);
            assert_eq!(t["tipAmount"], 100);
            assert_eq!(t["totalamount"], 5125);
            assert_eq!(t["currencyCode"], "CZK");
            assert_eq!(t["batchNumber"], "1");
            assert_eq!(t["originReferenceNum"], "Invoice 37364FD");
            assert_eq!(t["clientID"], "CID-7");
            assert_eq!(t["approvedCode"].as_str().unwrap().len(), 6);
            assert!(t["cardNumber"].as_str().unwrap().starts_with("****"));
            for k in [
                "transactionID",
                "externalTransactionID",
                "referenceNumber",
                "sequenceNumber",
                "receiptNumber",
                "traceNumber",
                "emvAppLabel",
                "emvAid",
                "date",
                "time",
                "merchantID",
            ] {
                assert!(t[k].as_str().is_some_and(|s| !s.is_empty()), "{k}: {t}");
            }
            assert_eq!(t["pinOK"], true);
            break;
        }
        assert!(Instant::now() < end, "{seen:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(seen.contains(&"IN_PROGRESS".to_string()), "{seen:?}");
    let txs = sim.transactions();
    assert_eq!(txs.len(), 1);
    assert!(txs[0].approved());
    assert_eq!((txs[0].amount, txs[0].batch_number), (5025, 1));
    assert_eq!(txs[0].reference.as_deref(), Some("Invoice 37364FD"));
    assert_eq!(sim.task(&id).unwrap().outcome, Some(TaskOutcome::Approve));
    let posts = sim.requests_to("POST", "/v1/tasks/TRANSACTION");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].http_status, 201);
    assert!(posts[0]
        .header("authorization")
        .unwrap()
        .starts_with("Bearer "));
}

#[test]
fn decline_cancel_and_app_error() {
    let sim = start(fast());
    let tok = token(&sim, Some(T1));
    sim.set_outcome(TaskOutcome::Decline);
    let id = created(&sim, &tok, sale(1000, "A1"));
    let v = poll_done(&sim, &tok, &id);
    assert_eq!(
        v["state"], "COMPLETED",
        "the task completed, the payment did not"
    );
    assert_ne!(v["transaction"]["result"], 0);
    assert_eq!(v["transaction"]["approvedCode"], Value::Null);
    assert!(!sim.transactions()[0].approved());

    sim.set_outcome(TaskOutcome::Cancel);
    let id = created(&sim, &tok, sale(1000, "A2"));
    let v = poll_done(&sim, &tok, &id);
    assert_eq!(v["state"], "CANCELLED");
    assert_eq!(v["transaction"], Value::Null);

    sim.set_outcome(TaskOutcome::Fail);
    let id = created(&sim, &tok, sale(1000, "A3"));
    let v = poll_done(&sim, &tok, &id);
    assert_eq!(v["state"], "FAILED");
    assert_eq!(v["error"]["code"], 43);
    assert_eq!(v["error"]["platform"], "TOM_APP");
    assert_eq!(v["transaction"], Value::Null);
    assert_eq!(sim.transactions().len(), 1);
}

#[test]
fn assisted_mode_waits_for_the_tap() {
    let sim = start(GptomConfig {
        mode: TaskMode::Assisted,
        ..fast()
    });
    let tok = token(&sim, Some(T1));
    let a = created(&sim, &tok, sale(100, "A"));
    let b = created(&sim, &tok, sale(200, "B"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(state(&sim, &a), TaskState::Queued);
    assert_eq!(state(&sim, &b), TaskState::Queued);
    // The user picks B first (over the control API).
    let (s, v) = call(&sim, "POST", &format!("/_sim/tasks/{b}/tap"), &[], "");
    assert_eq!((s, &v["ok"]), (200, &json!(true)));
    wait_state(&sim, &b, TaskState::Completed);
    assert_eq!(state(&sim, &a), TaskState::Queued);
    assert!(sim.task(&b).unwrap().tapped);
    assert!(!sim.tap(&b), "a finished task cannot be tapped");
    assert!(!sim.tap("no-such-task"));
    assert!(sim.tap(&a));
    wait_state(&sim, &a, TaskState::Completed);
    // Back to automatic: no tap needed.
    sim.set_mode(TaskMode::Automatic);
    let c = created(&sim, &tok, sale(300, "C"));
    wait_state(&sim, &c, TaskState::Completed);
    // Control calls are not in the request log.
    assert!(sim.requests().iter().all(|r| !r.path.starts_with("/_sim")));
}

#[test]
fn fifo_per_tid_and_tids_in_parallel() {
    let sim = start(GptomConfig {
        task_time: Duration::from_millis(150),
        ..GptomConfig::default()
    });
    let t1 = token(&sim, Some(T1));
    let t2 = token(&sim, Some(T2));
    let ids: Vec<String> = (1..=3)
        .map(|n| created(&sim, &t1, sale(n * 100, &format!("R{n}"))))
        .collect();
    let other = created(&sim, &t2, sale(999, "X"));
    let mut both_running = false;
    let end = Instant::now() + Duration::from_secs(5);
    while !ids.iter().all(|id| state(&sim, id) == TaskState::Completed) {
        let tasks = sim.tasks();
        let running = |tid: &str| {
            tasks
                .iter()
                .filter(|t| t.tid == tid && t.state == TaskState::InProgress)
                .count()
        };
        assert!(running(T1) <= 1, "one task at a time per TID");
        both_running |= running(T1) == 1 && running(T2) == 1;
        // A later task never runs before an earlier one.
        for w in ids.windows(2) {
            let (a, b) = (state(&sim, &w[0]), state(&sim, &w[1]));
            if b != TaskState::Queued {
                assert_eq!(a, TaskState::Completed, "FIFO");
            }
        }
        assert!(Instant::now() < end);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(both_running, "the two TIDs' devices work in parallel");
    wait_state(&sim, &other, TaskState::Completed);
    let seq: Vec<String> = ids
        .iter()
        .map(|id| {
            sim.task(id).unwrap().transaction.unwrap()["sequenceNumber"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(seq, ["1", "2", "3"]);
}

// ---------------------------------------------------------------------------------------
// Cancellation

#[test]
fn void_rules() {
    let sim = start(fast());
    let t1 = token(&sim, Some(T1));
    let t2 = token(&sim, Some(T2));
    let sale1 = approved_sale(&sim, &t1, 5000);

    // Another TID: 422 CROSS_TID_CANCEL, nothing created.
    let (s, v) = create(&sim, &t2, void(&sale1));
    assert_eq!(
        (s, v["code"].as_str()),
        (422, Some("CROSS_TID_CANCEL")),
        "{v}"
    );
    let n = sim.tasks().len();

    // Unknown original: 404.
    let (s, v) = create(&sim, &t1, void("404404"));
    assert_eq!(
        (s, v["code"].as_str()),
        (404, Some("TRANSACTION_NOT_FOUND"))
    );
    assert_eq!(sim.tasks().len(), n);

    // Same TID: the void runs on the device; no card, the original's amount.
    let id = created(&sim, &t1, void(&sale1));
    let v = poll_done(&sim, &t1, &id);
    let t = &v["transaction"];
    assert_eq!(t["result"], 0, "{v}");
    assert_eq!(t["transactionType"], 2);
    assert_eq!(t["amount"], 5000);
    assert_eq!(t["originTransactionID"], sale1.as_str());
    let orig = sim
        .transactions()
        .into_iter()
        .find(|x| x.id == sale1)
        .unwrap();
    assert_eq!(
        orig.voided_by.as_deref(),
        t["transactionID"].as_str(),
        "the sale is voided"
    );
    // Twice: 422.
    let (s, v) = create(&sim, &t1, void(&sale1));
    assert_eq!(
        (s, v["code"].as_str()),
        (422, Some("TRANSACTION_NOT_CANCELLABLE"))
    );

    // Day 93 is still allowed, day 94 is not.
    let sale93 = approved_sale(&sim, &t1, 700);
    let sale94 = approved_sale(&sim, &t1, 800);
    assert!(sim.age_transaction(&sale93, 93));
    let (s, v) = call(
        &sim,
        "POST",
        &format!("/_sim/transactions/{sale94}/age?days=94"),
        &[],
        "",
    );
    assert_eq!((s, &v["ok"]), (200, &json!(true)));
    assert!(!sim.age_transaction("nope", 1));
    let (s, v) = create(&sim, &t1, void(&sale94));
    assert_eq!(
        (s, v["code"].as_str()),
        (422, Some("CANCEL_PERIOD_EXPIRED"))
    );
    // The aged date shows in the sale's transaction.
    let aged = sim
        .tasks()
        .into_iter()
        .find(|t| {
            t.transaction
                .as_ref()
                .is_some_and(|x| x["transactionID"] == sale94.as_str())
        })
        .unwrap();
    assert_ne!(
        aged.transaction.unwrap()["date"],
        poll_done(&sim, &t1, &id)["transaction"]["date"]
    );
    // By the sale's task id or externalTransactionID works too.
    let task93 = sim
        .transactions()
        .into_iter()
        .find(|x| x.id == sale93)
        .unwrap()
        .task_id;
    let id = created(&sim, &t1, void(&task93));
    assert_eq!(poll_done(&sim, &t1, &id)["transaction"]["result"], 0);

    // A declined sale cannot be voided; a VOID needs its original.
    sim.set_outcome(TaskOutcome::Decline);
    let d = created(&sim, &t1, sale(100, "D"));
    let v = poll_done(&sim, &t1, &d);
    let ext = v["transaction"]["externalTransactionID"].as_str().unwrap();
    assert_eq!(create(&sim, &t1, void(ext)).0, 422);
    let (s, v) = create(&sim, &t1, json!({"transactionType": "VOID"}));
    assert_eq!((s, v["code"].as_str()), (400, Some("VALIDATION_ERROR")));
}

#[test]
fn batch_close_increments_the_batch() {
    let sim = start(fast());
    let t1 = token(&sim, Some(T1));
    let t2 = token(&sim, Some(T2));
    approved_sale(&sim, &t1, 100);
    approved_sale(&sim, &t1, 200);
    approved_sale(&sim, &t2, 300);
    assert_eq!(sim.batch_number(T1), 1);
    // An empty body is a batch close too.
    let (s, v) = call(
        &sim,
        "POST",
        "/v1/tasks/BATCH",
        &[("Authorization", format!("Bearer {t1}").as_str())],
        "",
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["type"], "BATCH");
    let v = poll_done(&sim, &t1, v["id"].as_str().unwrap());
    assert_eq!(v["state"], "COMPLETED");
    assert_eq!(v["batch"]["result"], 0);
    assert_eq!(v["batch"]["batchNumber"], "1");
    assert_eq!(v["batch"]["newBatchNumber"], "2");
    assert_eq!(v["batch"]["transactionCount"], 2);
    assert_eq!(sim.batch_number(T1), 2);
    assert_eq!(sim.batch_number(T2), 1, "batches are per TID");
    let id = created(&sim, &t1, sale(400, "next"));
    assert_eq!(poll_done(&sim, &t1, &id)["transaction"]["batchNumber"], "2");
    // A JSON body with printByPaymentApp; a declined close keeps the batch open.
    sim.set_outcome(TaskOutcome::Decline);
    let (s, v) = api(
        &sim,
        "POST",
        "/v1/tasks/BATCH",
        &t1,
        Some(json!({"printByPaymentApp": true})),
    );
    assert_eq!(s, 201);
    let v = poll_done(&sim, &t1, v["id"].as_str().unwrap());
    assert_ne!(v["batch"]["result"], 0);
    assert_eq!(sim.batch_number(T1), 2);
    let (s, _) = api(
        &sim,
        "POST",
        "/v1/tasks/BATCH",
        &t1,
        Some(json!({"printByPaymentApp": "yes"})),
    );
    assert_eq!(s, 400);
}

// ---------------------------------------------------------------------------------------
// TIDs and validation

#[test]
fn master_account_names_the_tid() {
    let sim = start(fast());
    let master = token(&sim, None);
    let t1 = token(&sim, Some(T1));
    let (s, v) = create(&sim, &master, sale(100, "M"));
    assert_eq!((s, v["code"].as_str()), (400, Some("TID_REQUIRED")));
    let mut body = sale(100, "M");
    body["tid"] = json!(T2);
    let (s, v) = create(&sim, &master, body.clone());
    assert_eq!((s, v["tid"].as_str()), (201, Some(T2)), "{v}");
    let on_t2 = v["id"].as_str().unwrap().to_string();
    let (s, v) = api(
        &sim,
        "POST",
        &format!("/v1/tasks/TRANSACTION?tid={T1}"),
        &master,
        Some(sale(100, "Q")),
    );
    assert_eq!((s, v["tid"].as_str()), (201, Some(T1)));
    let (s, _) = api(
        &sim,
        "POST",
        &format!("/v1/tasks/TRANSACTION?tid={T1}"),
        &master,
        Some(body),
    );
    assert_eq!(s, 400, "body and query disagree");
    // The master reads any TID; a per-TID token only its own.
    assert_eq!(
        api(&sim, "GET", &format!("/v1/tasks/{on_t2}"), &master, None).0,
        200
    );
    let (s, v) = api(&sim, "GET", &format!("/v1/tasks/{on_t2}"), &t1, None);
    assert_eq!((s, v["code"].as_str()), (403, Some("TID_NOT_OWNED")));
    let mut other = sale(100, "O");
    other["tid"] = json!(T2);
    assert_eq!(create(&sim, &t1, other).0, 403);
    let mut own = sale(100, "O");
    own["tid"] = json!(T1);
    assert_eq!(create(&sim, &t1, own).0, 201);
    // Batch on a master account needs the TID as well.
    assert_eq!(
        api(&sim, "POST", "/v1/tasks/BATCH", &master, Some(json!({}))).0,
        400
    );
    assert_eq!(
        api(
            &sim,
            "POST",
            "/v1/tasks/BATCH",
            &master,
            Some(json!({"tid": T2}))
        )
        .0,
        201
    );
}

#[test]
fn request_validation() {
    let sim = start(fast());
    let tok = token(&sim, Some(T1));
    let code = |body: Value| {
        let (s, v) = create(&sim, &tok, body);
        (s, v["code"].as_str().unwrap_or("").to_string())
    };
    let bad_amount = (400, "INVALID_AMOUNT".to_string());
    assert_eq!(code(sale(0, "R")), bad_amount);
    assert_eq!(code(sale(-5, "R")), bad_amount);
    assert_eq!(
        code(json!({"transactionType": "SALE", "amount": 12.5})),
        bad_amount
    );
    assert_eq!(code(json!({"transactionType": "SALE"})), bad_amount);
    assert_eq!(
        code(json!({"transactionType": "REFUND", "amount": "100"})),
        bad_amount
    );
    let bad_ref = (400, "INVALID_REFERENCE".to_string());
    assert_eq!(code(sale(100, "123456789012345678901")), bad_ref);
    assert_eq!(code(sale(100, "Faktura č 1")), bad_ref);
    assert_eq!(code(sale(100, "Invoice-1")), bad_ref);
    let invalid = (400, "VALIDATION_ERROR".to_string());
    assert_eq!(
        code(json!({"transactionType": "PAY", "amount": 1})),
        invalid
    );
    assert_eq!(code(json!({"transactionType": 1, "amount": 1})), invalid);
    assert_eq!(
        code(json!({"transactionType": "SALE", "amount": 1, "currencyCode": "czk"})),
        invalid
    );
    assert_eq!(
        code(json!({"transactionType": "SALE", "amount": 1, "printByPaymentApp": "true"})),
        invalid
    );
    assert_eq!(
        code(json!({"transactionType": "VOID", "originTransactionID": "1", "cancelMode": 3})),
        invalid
    );
    let (s, v) = call(
        &sim,
        "POST",
        "/v1/tasks/TRANSACTION",
        &[("Authorization", format!("Bearer {tok}").as_str())],
        "{not json",
    );
    assert_eq!((s, v["code"].as_str()), (400, Some("INVALID_REQUEST")));
    let (s, v) = api(&sim, "POST", "/v1/tasks/PRINT", &tok, Some(json!({})));
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("UNSUPPORTED_TASK_TYPE"))
    );
    assert!(sim.tasks().is_empty(), "nothing invalid was created");
    // Valid: exactly 20 characters, a refund, and a duplicate reference (no dedupe).
    assert_eq!(code(sale(100, "Invoice 37364FD 1234")).0, 201);
    assert_eq!(
        code(json!({"transactionType": "REFUND", "amount": 250})).0,
        201
    );
    let a = created(&sim, &tok, sale(100, "SAME"));
    let b = created(&sim, &tok, sale(100, "SAME"));
    assert_ne!(a, b);
    assert_eq!(sim.tasks().len(), 4);
}

#[test]
fn list_and_lookup() {
    let sim = start(fast());
    let t1 = token(&sim, Some(T1));
    let t2 = token(&sim, Some(T2));
    let master = token(&sim, None);
    let a = created(&sim, &t1, sale(100, "A"));
    let b = created(&sim, &t1, sale(200, "B"));
    created(&sim, &t2, sale(300, "C"));
    let (s, v) = api(&sim, "GET", &format!("/v1/tasks?tid={T1}"), &t1, None);
    assert_eq!(s, 200);
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [b.as_str(), a.as_str()], "newest first, only T1");
    assert_eq!(v[0]["request"]["originReferenceNum"], "B");
    // A per-TID token lists its own TID without ?tid=, not another.
    let (_, v) = api(&sim, "GET", "/v1/tasks", &t1, None);
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(
        api(&sim, "GET", &format!("/v1/tasks?tid={T2}"), &t1, None).0,
        403
    );
    let (s, v) = api(&sim, "GET", "/v1/tasks", &master, None);
    assert_eq!((s, v["code"].as_str()), (400, Some("TID_REQUIRED")));
    let (_, v) = api(&sim, "GET", &format!("/v1/tasks?tid={T2}"), &master, None);
    assert_eq!(v.as_array().unwrap().len(), 1);
    let (s, v) = api(&sim, "GET", "/v1/tasks/00000000-0000", &t1, None);
    assert_eq!((s, v["code"].as_str()), (404, Some("TASK_NOT_FOUND")));
}

// ---------------------------------------------------------------------------------------
// Faults

#[test]
fn create_5xx_with_and_without_the_task() {
    let sim = start(fast());
    let tok = token(&sim, Some(T1));
    // 500, nothing created.
    sim.set_faults(GptomFaults {
        create_5xx: 1,
        ..GptomFaults::default()
    });
    let (s, _) = create(&sim, &tok, sale(100, "Order 1"));
    assert_eq!(s, 500);
    assert!(sim.tasks().is_empty());
    assert_eq!(sim.faults().create_5xx, 0, "one-shot");

    // 500, but the task was created and runs: the client finds it by its reference.
    sim.set_faults(GptomFaults {
        create_5xx_after_create: 1,
        ..GptomFaults::default()
    });
    let (s, _) = create(&sim, &tok, sale(100, "Order 2"));
    assert_eq!(s, 500);
    assert_eq!(sim.tasks().len(), 1);
    let (_, list) = api(&sim, "GET", &format!("/v1/tasks?tid={T1}"), &tok, None);
    let found = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["request"]["originReferenceNum"] == "Order 2")
        .expect("the lost task is listed");
    let v = poll_done(&sim, &tok, found["id"].as_str().unwrap());
    assert_eq!(v["transaction"]["result"], 0);

    // The connection is closed without an answer; the task exists.
    let (s, v) = call(
        &sim,
        "POST",
        "/_sim/faults?create_drop_after_create=1",
        &[],
        "",
    );
    assert_eq!((s, &v["create_drop_after_create"]), (200, &json!(1)));
    let bearer = format!("Bearer {tok}");
    let r = raw(
        sim.addr(),
        "POST",
        "/v1/tasks/TRANSACTION",
        &[("Authorization", bearer.as_str())],
        &sale(100, "Order 3").to_string(),
    );
    assert!(r.is_err(), "{r:?}");
    assert_eq!(sim.tasks().len(), 2);
    assert_eq!(sim.tasks()[1].request["originReferenceNum"], "Order 3");
    let last = sim.requests().pop().unwrap();
    assert_eq!(
        (last.path.as_str(), last.http_status),
        ("/v1/tasks/TRANSACTION", 0)
    );
    // Back to normal.
    assert_eq!(create(&sim, &tok, sale(100, "Order 4")).0, 201);
}

#[test]
fn stuck_task_blocks_the_device_until_it_recovers() {
    let sim = start(GptomConfig {
        outcome: TaskOutcome::Stuck,
        ..fast()
    });
    let tok = token(&sim, Some(T1));
    let a = created(&sim, &tok, sale(100, "A"));
    wait_state(&sim, &a, TaskState::InProgress);
    sim.set_outcome(TaskOutcome::Approve);
    let b = created(&sim, &tok, sale(200, "B"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(state(&sim, &a), TaskState::InProgress, "stuck");
    assert_eq!(state(&sim, &b), TaskState::Queued, "behind the stuck one");
    assert!(!sim.finish(&a, TaskOutcome::Stuck));
    let (s, v) = call(
        &sim,
        "POST",
        &format!("/_sim/tasks/{a}/finish?outcome=decline"),
        &[],
        "",
    );
    assert_eq!((s, &v["ok"]), (200, &json!(true)));
    assert_eq!(state(&sim, &a), TaskState::Completed);
    wait_state(&sim, &b, TaskState::Completed);
    assert!(!sim.finish(&a, TaskOutcome::Approve), "already finished");
}

#[test]
fn offline_device_keeps_tasks_queued() {
    let sim = start(GptomConfig {
        faults: GptomFaults {
            device_offline: true,
            ..GptomFaults::default()
        },
        ..fast()
    });
    let tok = token(&sim, Some(T1));
    let (s, v) = create(&sim, &tok, sale(100, "A"));
    assert_eq!((s, v["state"].as_str()), (201, Some("CREATED")));
    let a = v["id"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(state(&sim, &a), TaskState::Created);
    assert!(!sim.tap(&a), "not on the device");
    sim.set_faults(GptomFaults::default());
    wait_state(&sim, &a, TaskState::Completed);
    // The offline outcome does the same.
    sim.set_outcome(TaskOutcome::Offline);
    let b = created(&sim, &tok, sale(100, "B"));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(state(&sim, &b), TaskState::Created);
    let (s, v) = call(&sim, "POST", "/_sim/config?outcome=approve", &[], "");
    assert_eq!((s, v["outcome"].as_str()), (200, Some("approve")));
    wait_state(&sim, &b, TaskState::Completed);
}

#[test]
fn sic_transaction_id_spelling() {
    let sim = start(GptomConfig {
        faults: GptomFaults {
            sic_transaction_id: true,
            ..GptomFaults::default()
        },
        ..fast()
    });
    let tok = token(&sim, Some(T1));
    let id = created(&sim, &tok, sale(100, "A"));
    let t = poll_done(&sim, &tok, &id)["transaction"].clone();
    assert!(t.get("transactionID").is_none(), "{t}");
    let sic = t["trasanctionID"].as_str().unwrap();
    // The id still cancels the sale.
    let v = created(&sim, &tok, void(sic));
    assert_eq!(poll_done(&sim, &tok, &v)["transaction"]["result"], 0);
}

#[test]
fn control_api_over_http() {
    let sim = start(fast());
    let tok = token(&sim, Some(T1));
    let (s, v) = call(
        &sim,
        "POST",
        "/_sim/config?mode=assisted&outcome=decline&task_ms=20&token_ttl_s=60",
        &[],
        "",
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({"mode": "assisted", "outcome": "decline", "taskMs": 20, "tokenTtlS": 60, "acceptAny": true})
    );
    assert_eq!(sim.mode(), TaskMode::Assisted);
    assert_eq!(sim.outcome(), TaskOutcome::Decline);
    assert_eq!(
        call(&sim, "POST", "/_sim/config?mode=manual", &[], "").0,
        400
    );
    let id = created(&sim, &tok, sale(100, "A"));
    wait_state(&sim, &id, TaskState::Queued);
    assert_eq!(
        call(&sim, "POST", &format!("/_sim/tasks/{id}/tap"), &[], "").0,
        200
    );
    wait_state(&sim, &id, TaskState::Completed);
    let (_, v) = call(&sim, "GET", "/_sim/tasks", &[], "");
    assert_eq!(v[0]["id"], id.as_str());
    assert_eq!(v[0]["simTapped"], true);
    assert_eq!(v[0]["simOutcome"], "decline");
    let (_, v) = call(&sim, "GET", "/_sim/transactions", &[], "");
    assert_eq!(v[0]["result"], 5);
    let (_, v) = call(&sim, "GET", "/_sim/requests", &[], "");
    let paths: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/cloud/oauth/token", "/v1/tasks/TRANSACTION"]);
    assert_eq!(v[1]["httpStatus"], 201);
    // Faults on and off.
    let (_, v) = call(
        &sim,
        "POST",
        "/_sim/faults?device_offline=true&slow_auth_ms=5",
        &[],
        "",
    );
    assert_eq!(
        (v["device_offline"].as_bool(), v["slow_auth_ms"].as_u64()),
        (Some(true), Some(5))
    );
    assert!(sim.faults().device_offline);
    assert_eq!(call(&sim, "POST", "/_sim/faults?bogus=1", &[], "").0, 400);
    call(&sim, "POST", "/_sim/faults/clear", &[], "");
    assert_eq!(sim.faults(), GptomFaults::default());
    // Tokens.
    let (_, v) = login(&sim, "u", "p", Some(T1));
    let rt = v["refresh_token"].as_str().unwrap().to_string();
    call(&sim, "POST", "/_sim/tokens/expire", &[], "");
    assert_eq!(api(&sim, "GET", "/v1/tasks", &tok, None).0, 401);
    call(&sim, "POST", "/_sim/tokens/revoke-refresh", &[], "");
    assert_eq!(refresh(&sim, "/cloud/oauth/token", &rt).0, 401);
    assert_eq!(call(&sim, "GET", "/_sim/nothing", &[], "").0, 404);
    assert_eq!(
        call(&sim, "POST", "/_sim/tasks/x/finish?outcome=stuck", &[], "").1["ok"],
        false
    );
}
