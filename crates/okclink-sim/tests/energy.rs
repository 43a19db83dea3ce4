//! Token X Energy on the cloud simulator, over loopback with reqwest: every rule and error
//! row of the Energy spec's §3 / §4 (list, get, lock, unlock, payment, the 1000TR
//! completing), the control API, each fault, and two POS contending for one order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use okclink_sim::{CloudConfig, CloudSim, EnergyFaults, EnergyTerminal, Fuelling, OrderState};
use serde_json::{json, Value};

const VT1: &str = "VT00000000001";
const VT2: &str = "VT00000000002";

fn start(cfg: CloudConfig) -> CloudSim {
    CloudSim::start(cfg, "127.0.0.1:0").expect("simulator starts")
}

/// Default forecourt, completion after 50 ms.
fn fast() -> CloudConfig {
    let mut c = CloudConfig::default();
    c.energy.complete_delay = Some(Duration::from_millis(50));
    c
}

struct Resp {
    http: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
    body: Value,
}

impl Resp {
    fn status(&self) -> i64 {
        self.body["status"].as_i64().expect("integer status")
    }
    fn code(&self) -> (u16, i64) {
        (self.http, self.status())
    }
    fn result(&self) -> &Value {
        &self.body["result"]
    }
}

/// A POS talking to the simulator: its HTTP client and bearer token.
struct Pos {
    c: reqwest::Client,
    url: String,
    token: String,
}

async fn send(rq: reqwest::RequestBuilder) -> Result<Resp, reqwest::Error> {
    let r = rq.send().await?;
    let http = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Resp {
        http,
        headers,
        text,
        body,
    })
}

async fn token(c: &reqwest::Client, url: &str, id: &str) -> String {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:secret"));
    let r = send(
        c.post(format!("{url}/v1/auth/token"))
            .header("authorization", format!("Basic {basic}")),
    )
    .await
    .unwrap();
    assert_eq!(r.http, 200, "{}", r.text);
    r.result()["accessToken"].as_str().unwrap().to_string()
}

impl Pos {
    async fn new(sim: &CloudSim) -> Pos {
        Pos::as_client(sim, "pos-client").await
    }

    async fn as_client(sim: &CloudSim, id: &str) -> Pos {
        let c = reqwest::Client::builder().no_proxy().build().unwrap();
        let token = token(&c, &sim.url(), id).await;
        Pos {
            c,
            url: sim.url(),
            token,
        }
    }

    /// A raw call: `terminal` = the `terminal-id` header (none when empty), `body` verbatim.
    async fn try_raw(
        &self,
        method: &str,
        path: &str,
        terminal: &str,
        body: Option<String>,
    ) -> Result<Resp, reqwest::Error> {
        let mut rq = self
            .c
            .request(method.parse().unwrap(), format!("{}{path}", self.url))
            .header("authorization", format!("Bearer {}", self.token));
        if !terminal.is_empty() {
            rq = rq.header("terminal-id", terminal);
        }
        if let Some(b) = body {
            rq = rq.header("content-type", "application/json").body(b);
        }
        send(rq).await
    }

    async fn raw(&self, method: &str, path: &str, terminal: &str, body: Option<String>) -> Resp {
        self.try_raw(method, path, terminal, body).await.unwrap()
    }

    async fn list(&self, terminal: &str, query: &str) -> Resp {
        self.raw("GET", &format!("/v1/energy/orders{query}"), terminal, None)
            .await
    }

    async fn get(&self, terminal: &str, id: &str) -> Resp {
        self.raw("GET", &format!("/v1/energy/orders/{id}"), terminal, None)
            .await
    }

    async fn lock(&self, terminal: &str, id: &str, body: Option<Value>) -> Resp {
        self.raw(
            "POST",
            &format!("/v1/energy/orders/{id}/lock"),
            terminal,
            body.map(|b| b.to_string()),
        )
        .await
    }

    async fn lock_token(&self, terminal: &str, id: &str) -> String {
        let r = self.lock(terminal, id, None).await;
        assert_eq!(r.code(), (200, 0), "{}", r.text);
        r.result()["lockToken"].as_str().unwrap().to_string()
    }

    async fn unlock(&self, terminal: &str, id: &str, body: Value) -> Resp {
        self.raw(
            "POST",
            &format!("/v1/energy/orders/{id}/unlock"),
            terminal,
            Some(body.to_string()),
        )
        .await
    }

    async fn pay(&self, terminal: &str, id: &str, body: &Value) -> Resp {
        self.try_pay(terminal, id, body).await.unwrap()
    }

    async fn try_pay(
        &self,
        terminal: &str,
        id: &str,
        body: &Value,
    ) -> Result<Resp, reqwest::Error> {
        self.try_raw(
            "POST",
            &format!("/v1/energy/orders/{id}/payment"),
            terminal,
            Some(body.to_string()),
        )
        .await
    }
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A card payment of `amount` (the spec's sample slip).
fn card(payment_id: &str, lock_token: &str, amount: i64) -> Value {
    json!({
        "paymentId": payment_id, "lockToken": lock_token, "amount": amount,
        "paymentItems": [{"type": 3, "amount": amount, "operatorId": 46, "BatchNo": 12, "TxnNo": 345,
                          "description": "Kredi kartı"}],
        "slip": {"maskedPan": "4543 96** **** 1234", "authCode": "123456", "rrn": "000123456789",
                 "stan": "000345", "batchNo": 12, "bankTerminalId": "T1234567", "bankMerchantId": "M123",
                 "installment": 0, "transactionDate": "2026-01-10T08:14:05+03:00",
                 "slipLines": ["TOPLAM 1523,40 TL"]},
    })
}

fn cash(payment_id: &str, lock_token: &str, amount: i64) -> Value {
    json!({
        "paymentId": payment_id, "lockToken": lock_token, "amount": amount,
        "paymentItems": [{"type": 1, "amount": amount, "description": "Nakit", "operatorId": 0}],
    })
}

fn fuel(sim: &CloudSim, plate: &str, kurus: i64) -> String {
    sim.fuel(Fuelling::amount(plate, kurus))
        .expect("a free pump")
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

async fn wait_for(what: &str, timeout_ms: u64, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_millis(timeout_ms);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Simulator control over HTTP (`/_sim/…`).
async fn control(sim: &CloudSim, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let c = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut rq = c.request(
        method.parse().unwrap(),
        format!("{}/_sim/{path}", sim.url()),
    );
    if let Some(b) = body {
        rq = rq.body(b.to_string());
    }
    let r = send(rq).await.unwrap();
    (r.http, r.body)
}

// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn fuelling_creates_open_orders_listed_and_fetched() {
    let sim = start(fast());
    let a = fuel(&sim, "34ABC123", 152_340);
    let b = sim
        .fuel(Fuelling::litres("06 xyz 42", 20_000, 4189).on_pump(5))
        .unwrap();
    let pos = Pos::new(&sim).await;

    let r = pos.list(VT1, "?status=OPEN").await;
    assert_eq!(r.code(), (200, 0), "{}", r.text);
    assert_eq!(r.body["description"], "Successfully Fetched Orders");
    let list = r.result().as_array().unwrap();
    assert_eq!(list.len(), 2);
    let s = &list[0];
    assert_eq!(
        keys(s),
        [
            "amount",
            "createdAt",
            "isLocked",
            "lockedBy",
            "nozzleNo",
            "orderId",
            "plate",
            "productName",
            "pumpNo",
            "quantity",
            "state",
            "unitPrice"
        ]
    );
    assert_eq!(s["orderId"], a.as_str());
    assert_eq!(s["plate"], "34ABC123");
    assert_eq!(
        (s["pumpNo"].as_i64(), s["nozzleNo"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(s["productName"], "Motorin");
    // A pre-set amount fill: the amount as given, litres = amount / unit price.
    assert_eq!(s["amount"], 152_340);
    assert_eq!(s["unitPrice"], 3965);
    assert_eq!(s["quantity"], 38_421);
    assert_eq!(s["state"], "OPEN");
    assert_eq!(s["isLocked"], false);
    assert!(s["lockedBy"].is_null());
    let t = &list[1];
    assert_eq!(t["orderId"], b.as_str());
    assert_eq!(t["plate"], "06XYZ42");
    assert_eq!(t["pumpNo"], 5);
    assert_eq!(t["amount"], 83_780); // 20 L × 41.89 TL
    assert_eq!(t["productName"], "Motorin");

    // Filters: plate (spaces and case ignored), pump, several states; bad values → 1013.
    let only = |r: &Resp| {
        r.result()
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["orderId"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        only(&pos.list(VT1, "?plate=34%20abc%20123").await),
        [a.as_str()]
    );
    assert_eq!(only(&pos.list(VT1, "?pumpNo=5").await), [b.as_str()]);
    assert_eq!(
        only(&pos.list(VT1, "?pumpNo=2").await),
        Vec::<String>::new()
    );
    assert_eq!(only(&pos.list(VT1, "").await).len(), 2);
    assert_eq!(
        only(&pos.list(VT1, "?status=PAID,COMPLETED").await).len(),
        0
    );
    for bad in ["?pumpNo=x", "?status=GONE", "?status=OPEN,"] {
        let r = pos.list(VT1, bad).await;
        assert_eq!(r.code(), (400, 1013), "{bad}: {}", r.text);
    }

    // Get Order: the summary plus the order's own fields; receipt null until COMPLETED.
    let r = pos.get(VT1, &a).await;
    assert_eq!(r.code(), (200, 0), "{}", r.text);
    assert_eq!(r.body["description"], "Successfully Fetched the Order");
    let o = r.result();
    for k in [
        "pumpTerminalId",
        "branchId",
        "sectionNo",
        "taxPercent",
        "items",
        "receipt",
    ] {
        assert!(o.get(k).is_some(), "{k} in {o}");
    }
    assert_eq!(o["pumpTerminalId"], "PT0000000001");
    assert_eq!(o["branchId"], "BR-0001");
    assert_eq!(o["taxPercent"], 2000);
    assert!(o["receipt"].is_null());
    assert_eq!(
        o["items"],
        json!([{"name": "Motorin", "price": 3965, "quantity": 38_421, "sectionNo": 1,
                "taxPercent": 2000, "unit": "LTR"}])
    );
    // Unknown order: 404 / 1006.
    let r = pos.get(VT1, "no-such-order").await;
    assert_eq!(r.code(), (404, 1006));
    assert_eq!(r.body["description"], "No record found");

    // The request log holds the Energy calls, with their terminal-id.
    let log = sim.energy_requests();
    assert_eq!(log.len(), 11);
    assert!(log.iter().all(|q| q.header("terminal-id") == Some(VT1)));
    assert_eq!(log[0].path, "/v1/energy/orders");
    assert_eq!(log[0].query, "status=OPEN");
    assert_eq!(log[0].http_status, 200);
    assert_eq!(log.last().unwrap().api_status, Some(1006));
}

#[tokio::test]
async fn auth_and_terminal_errors() {
    let mut cfg = fast();
    cfg.energy.terminals.push(EnergyTerminal {
        id: "VT-OTHER-BRANCH".into(),
        branch_id: "BR-0002".into(),
        client_id: None,
    });
    cfg.energy.terminals.push(EnergyTerminal {
        id: "VT-OF-ACME".into(),
        branch_id: "BR-0001".into(),
        client_id: Some("acme".into()),
    });
    let sim = start(cfg);
    let id = fuel(&sim, "34ABC123", 10_000);
    let pos = Pos::new(&sim).await;
    let c = reqwest::Client::builder().no_proxy().build().unwrap();

    // No bearer → 401 / 4; garbage → 401 / 3.
    let url = format!("{}/v1/energy/orders", sim.url());
    let r = send(c.get(&url).header("terminal-id", VT1)).await.unwrap();
    assert_eq!(r.code(), (401, 4));
    let r = send(
        c.get(&url)
            .header("terminal-id", VT1)
            .header("authorization", "Bearer x.y.z"),
    )
    .await
    .unwrap();
    assert_eq!(r.code(), (401, 3));

    // No terminal-id → 400 / 6; unknown terminal, another client's → 403 / 9.
    assert_eq!(pos.list("", "").await.code(), (400, 6));
    assert_eq!(pos.lock("", &id, None).await.code(), (400, 6));
    let r = pos.list("VT-NOBODY", "").await;
    assert_eq!(r.code(), (403, 9));
    assert_eq!(r.body["description"], "Forbidden access.");
    assert_eq!(pos.list("VT-OF-ACME", "").await.code(), (403, 9));
    let acme = Pos::as_client(&sim, "acme").await;
    assert_eq!(acme.list("VT-OF-ACME", "").await.code(), (200, 0));

    // A terminal of another branch sees none of this branch's orders and may not take one.
    let r = pos.list("VT-OTHER-BRANCH", "").await;
    assert_eq!(r.code(), (200, 0));
    assert_eq!(r.result(), &json!([]));
    assert_eq!(pos.get("VT-OTHER-BRANCH", &id).await.code(), (403, 9));
    assert_eq!(
        pos.lock("VT-OTHER-BRANCH", &id, None).await.code(),
        (403, 9)
    );

    // Unknown Energy path / method → 404.
    assert_eq!(
        pos.raw("POST", &format!("/v1/energy/orders/{id}/refund"), VT1, None)
            .await
            .http,
        404
    );
    assert_eq!(
        pos.raw("DELETE", &format!("/v1/energy/orders/{id}"), VT1, None)
            .await
            .http,
        404
    );

    // Expired tokens (Rust and control API) → 401 / 2; a new token works.
    sim.expire_tokens();
    assert_eq!(pos.list(VT1, "").await.code(), (401, 2));
    let pos = Pos::new(&sim).await;
    assert_eq!(pos.list(VT1, "").await.code(), (200, 0));
    let (code, v) = control(&sim, "POST", "tokens/expire", None).await;
    assert_eq!((code, &v), (200, &json!({"ok": true})));
    assert_eq!(pos.get(VT1, &id).await.code(), (401, 2));
    assert_eq!(sim.order(&id).unwrap().state, OrderState::Open);
}

#[tokio::test]
async fn lock_is_exclusive_extends_for_its_holder_and_recovers_by_lockedby_me() {
    let sim = start(fast());
    let id = fuel(&sim, "34ABC123", 152_340);
    let other = fuel(&sim, "35DEF456", 50_000);
    let pos = Pos::new(&sim).await;

    let t0 = std::time::SystemTime::now();
    let r = pos.lock(VT1, &id, None).await;
    assert_eq!(r.code(), (200, 0), "{}", r.text);
    assert_eq!(r.body["description"], "Order Locked Successfully");
    let l = r.result().clone();
    assert_eq!(
        keys(&l),
        ["lockExpiresAt", "lockToken", "lockedBy", "orderId"]
    );
    assert_eq!(l["orderId"], id.as_str());
    assert_eq!(l["lockedBy"], VT1);
    let token = l["lockToken"].as_str().unwrap().to_string();
    // Default TTL 120 s.
    let exp = l["lockExpiresAt"].as_str().unwrap();
    let secs = t0.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 120;
    assert!(
        [secs, secs + 1]
            .iter()
            .any(|s| exp.starts_with(&format_secs(*s))),
        "{exp} ≈ {} (default TTL 120 s)",
        format_secs(secs)
    );

    // The order is LOCKED (isLocked, lockedBy) and no longer in the OPEN list.
    let o = pos.get(VT1, &id).await;
    assert_eq!(o.result()["state"], "LOCKED");
    assert_eq!(o.result()["isLocked"], true);
    assert_eq!(o.result()["lockedBy"], VT1);
    assert_eq!(o.result()["lockExpiresAt"], exp);
    let open = pos.list(VT1, "?status=OPEN").await;
    assert_eq!(open.result().as_array().unwrap().len(), 1);
    assert_eq!(open.result()[0]["orderId"], other.as_str());

    // Same terminal again: same token, TTL extended (here to the asked 600 s).
    let r = pos.lock(VT1, &id, Some(json!({"lockTtlSec": 600}))).await;
    assert_eq!(r.code(), (200, 0));
    assert_eq!(r.result()["lockToken"], token.as_str());
    assert!(r.result()["lockExpiresAt"].as_str().unwrap() > exp);

    // Another terminal: 409 / 1018 with lockedBy.
    let r = pos.lock(VT2, &id, None).await;
    assert_eq!(r.code(), (409, 1018), "{}", r.text);
    assert_eq!(
        r.body["description"],
        "Error: Order locked! For this operation you must first unlock the order."
    );
    assert_eq!(r.result()["lockedBy"], VT1);
    assert_eq!(r.result()["orderId"], id.as_str());

    // Bad lock bodies → 1013 (an empty body is fine).
    for bad in [
        "not json",
        "[1]",
        r#"{"lockTtlSec": 0}"#,
        r#"{"lockTtlSec": -5}"#,
        r#"{"lockTtlSec": "120"}"#,
        r#"{"lockTtlSec": 999999}"#,
    ] {
        let r = pos
            .raw(
                "POST",
                &format!("/v1/energy/orders/{other}/lock"),
                VT2,
                Some(bad.into()),
            )
            .await;
        assert_eq!(r.code(), (400, 1013), "{bad}");
    }
    assert_eq!(sim.order(&other).unwrap().state, OrderState::Open);
    let r = pos.lock(VT2, &other, Some(json!({}))).await;
    assert_eq!(r.code(), (200, 0));

    // Crash recovery: each POS lists its own locked orders.
    let mine = |r: &Resp| {
        r.result()
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["orderId"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(mine(&pos.list(VT1, "?lockedBy=me").await), [id.as_str()]);
    assert_eq!(mine(&pos.list(VT2, "?lockedBy=me").await), [other.as_str()]);
    assert_eq!(
        mine(
            &pos.list(VT2, &format!("?lockedBy={VT1}&status=LOCKED"))
                .await
        ),
        [id.as_str()]
    );
    let o = sim.order(&id).unwrap();
    assert_eq!(o.state, OrderState::Locked);
    assert_eq!(o.locked_by.as_deref(), Some(VT1));
    assert_eq!(o.lock_token.as_deref(), Some(token.as_str()));
}

/// `secs` since the epoch as `YYYY-MM-DDTHH:MM:SS` (UTC).
fn format_secs(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[tokio::test]
async fn unlock_only_by_the_holder_idempotent_when_open() {
    let sim = start(fast());
    let id = fuel(&sim, "34ABC123", 152_340);
    let pos = Pos::new(&sim).await;

    // Unlocking an OPEN order: 200 (idempotent).
    let r = pos
        .unlock(
            VT1,
            &id,
            json!({"lockToken": "stale", "reason": "CANCELLED"}),
        )
        .await;
    assert_eq!(r.code(), (200, 0), "{}", r.text);
    assert_eq!(
        r.body["description"],
        "Unlock Operation Successfully Completed"
    );
    assert_eq!(r.result()["state"], "OPEN");

    let token = pos.lock_token(VT1, &id).await;
    // Another terminal: 1018; the holder with a wrong or no token: 1005.
    let r = pos.unlock(VT2, &id, json!({"lockToken": token})).await;
    assert_eq!(r.code(), (409, 1018));
    assert_eq!(r.result()["lockedBy"], VT1);
    let r = pos.unlock(VT1, &id, json!({"lockToken": "wrong"})).await;
    assert_eq!(r.code(), (409, 1005));
    assert_eq!(pos.unlock(VT1, &id, json!({})).await.code(), (409, 1005));
    // Bad bodies: 1013.
    for bad in [
        json!({"lockToken": token, "reason": "BORED"}),
        json!({"lockToken": 42}),
        json!([token]),
    ] {
        assert_eq!(
            pos.unlock(VT1, &id, bad.clone()).await.code(),
            (400, 1013),
            "{bad}"
        );
    }
    let r = pos
        .raw("POST", &format!("/v1/energy/orders/{id}/unlock"), VT1, None)
        .await;
    assert_eq!(r.code(), (400, 1013));
    assert_eq!(sim.order(&id).unwrap().state, OrderState::Locked);

    // The holder with its token: OPEN again, and again 200.
    let r = pos
        .unlock(
            VT1,
            &id,
            json!({"lockToken": token, "reason": "PAYMENT_FAILED"}),
        )
        .await;
    assert_eq!(r.code(), (200, 0));
    assert_eq!(r.result()["state"], "OPEN");
    assert_eq!(r.result()["isLocked"], false);
    assert!(r.result()["lockedBy"].is_null());
    let r = pos.unlock(VT1, &id, json!({"lockToken": token})).await;
    assert_eq!(r.code(), (200, 0));
    // Now the other terminal may lock it (a new token).
    let t2 = pos.lock_token(VT2, &id).await;
    assert_ne!(t2, token);

    // Once PAID: no unlock, no lock (1105), for anyone.
    let r = pos.pay(VT2, &id, &card(&uuid(), &t2, 152_340)).await;
    assert_eq!(r.code(), (201, 0), "{}", r.text);
    let r = pos.unlock(VT2, &id, json!({"lockToken": t2})).await;
    assert_eq!(r.code(), (409, 1105));
    assert_eq!(
        r.body["description"],
        "This orders status is not suitable for this operation"
    );
    assert_eq!(pos.lock(VT2, &id, None).await.code(), (409, 1105));
    assert_eq!(pos.lock(VT1, &id, None).await.code(), (409, 1105));
}

#[tokio::test]
async fn payment_rules_and_idempotent_replay() {
    let mut cfg = fast();
    cfg.energy.complete_delay = None;
    let sim = start(cfg);
    let id = fuel(&sim, "34ABC123", 152_340);
    let id2 = fuel(&sim, "35DEF456", 50_000);
    let pos = Pos::new(&sim).await;
    let pid = uuid();

    // Without a lock: 1005 (no lock at all, or a made-up token).
    assert_eq!(
        pos.pay(VT1, &id, &card(&pid, "none", 152_340)).await.code(),
        (409, 1005)
    );
    let token = pos.lock_token(VT1, &id).await;
    // Another terminal over the lock: 1018; wrong / missing token: 1005.
    let r = pos.pay(VT2, &id, &card(&uuid(), &token, 152_340)).await;
    assert_eq!(r.code(), (409, 1018));
    assert_eq!(r.result()["lockedBy"], VT1);
    assert_eq!(
        pos.pay(VT1, &id, &card(&uuid(), "wrong", 152_340))
            .await
            .code(),
        (409, 1005)
    );
    let mut no_token = card(&uuid(), &token, 152_340);
    no_token.as_object_mut().unwrap().remove("lockToken");
    assert_eq!(pos.pay(VT1, &id, &no_token).await.code(), (409, 1005));

    // Amount ≠ order amount, or items ≠ amount: 400 / 1103.
    let r = pos.pay(VT1, &id, &card(&uuid(), &token, 152_000)).await;
    assert_eq!(r.code(), (400, 1103));
    assert_eq!(
        r.body["description"],
        "Payment amount does not match the order amount"
    );
    let mut split = card(&uuid(), &token, 152_340);
    split["paymentItems"][0]["amount"] = json!(100_000);
    assert_eq!(pos.pay(VT1, &id, &split).await.code(), (400, 1103));
    // Two items adding up are fine in principle (card + cash), checked below on id2.

    // Bad bodies: 1013.
    let mut bads: Vec<Value> = Vec::new();
    let base = card(&uuid(), &token, 152_340);
    for (k, v) in [
        ("paymentId", Value::Null),
        ("paymentId", json!("")),
        ("paymentId", json!(7)),
        ("amount", json!("152340")),
        ("amount", Value::Null),
        ("paymentItems", json!([])),
        ("paymentItems", json!("card")),
        ("paymentItems", json!([{"type": 4, "amount": 152_340}])),
        ("paymentItems", json!([{"type": 3}])),
        ("lockToken", json!(12)),
        ("slip", Value::Null),
    ] {
        let mut b = base.clone();
        b[k] = v;
        bads.push(b);
    }
    for b in &bads {
        let r = pos.pay(VT1, &id, b).await;
        assert_eq!(r.code(), (400, 1013), "{b}: {}", r.text);
    }
    let r = pos
        .raw(
            "POST",
            &format!("/v1/energy/orders/{id}/payment"),
            VT1,
            Some("{oops".into()),
        )
        .await;
    assert_eq!(r.code(), (400, 1013));
    assert_eq!(sim.payments_accepted(&id), 0);
    assert_eq!(sim.order(&id).unwrap().state, OrderState::Locked);

    // The payment: 201, result.order PAID, the lock gone.
    let body = card(&pid, &token, 152_340);
    let r = pos.pay(VT1, &id, &body).await;
    assert_eq!(r.code(), (201, 0), "{}", r.text);
    assert_eq!(r.body["description"], "Payment Record Successfully Created");
    assert_eq!(r.result()["paymentId"], pid.as_str());
    let o = &r.result()["order"];
    assert_eq!(o["state"], "PAID");
    assert_eq!(o["isLocked"], false);
    assert_eq!(o["paymentId"], pid.as_str());
    assert_eq!(o["paidBy"], VT1);
    assert!(o["receipt"].is_null());
    assert_eq!(sim.payments_accepted(&id), 1);

    // The same paymentId and body: the stored reply, byte for byte; no second payment.
    let again = pos.pay(VT1, &id, &body).await;
    assert_eq!(again.http, 201);
    assert_eq!(again.text, r.text);
    let mut reordered = serde_json::Map::new();
    for (k, v) in body.as_object().unwrap().iter().rev() {
        reordered.insert(k.clone(), v.clone());
    }
    assert_eq!(
        pos.pay(VT1, &id, &Value::Object(reordered)).await.text,
        r.text
    );
    // The same paymentId with another body, from another terminal, or on another order: 1007.
    let mut changed = body.clone();
    changed["slip"]["authCode"] = json!("999999");
    let r2 = pos.pay(VT1, &id, &changed).await;
    assert_eq!(r2.code(), (409, 1007));
    assert_eq!(r2.body["description"], "Duplicate ID");
    assert_eq!(pos.pay(VT2, &id, &body).await.code(), (409, 1007));
    assert_eq!(pos.pay(VT1, &id2, &body).await.code(), (409, 1007));
    // A new paymentId on the PAID order: 1105.
    assert_eq!(
        pos.pay(VT1, &id, &card(&uuid(), &token, 152_340))
            .await
            .code(),
        (409, 1105)
    );
    let o = sim.order(&id).unwrap();
    assert_eq!((o.payments_accepted, o.payment_replays), (1, 2));
    assert_eq!(o.state, OrderState::Paid);
    assert_eq!(o.payment_id.as_deref(), Some(pid.as_str()));
    assert_eq!(o.payment.as_ref(), Some(&body));

    // Cash needs no slip; card + cash may split the amount.
    let t2 = pos.lock_token(VT2, &id2).await;
    let mut mixed = cash(&uuid(), &t2, 50_000);
    mixed["paymentItems"] = json!([
        {"type": 1, "amount": 20_000, "description": "Nakit", "operatorId": 0},
        {"type": 3, "amount": 30_000, "description": "Kredi kartı", "operatorId": 46},
    ]);
    assert_eq!(pos.pay(VT2, &id2, &mixed).await.code(), (400, 1013)); // card without slip
    let r = pos.pay(VT2, &id2, &cash(&uuid(), &t2, 50_000)).await;
    assert_eq!(r.code(), (201, 0), "{}", r.text);

    // Manual completion: stays PAID until the 1000TR completes it.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(sim.order(&id).unwrap().state, OrderState::Paid);
    assert!(sim.complete_order(&id));
    assert!(!sim.complete_order(&id));
    assert_eq!(sim.order(&id).unwrap().state, OrderState::Completed);
}

#[tokio::test]
async fn lock_ttl_expires() {
    let sim = start(fast());
    let id = fuel(&sim, "34ABC123", 152_340);
    let pos = Pos::new(&sim).await;
    let r = pos.lock(VT1, &id, Some(json!({"lockTtlSec": 1}))).await;
    assert_eq!(r.code(), (200, 0));
    let token = r.result()["lockToken"].as_str().unwrap().to_string();
    wait_for("the lock to run out", 3000, || {
        sim.order(&id).unwrap().state == OrderState::Open
    })
    .await;
    let o = pos.get(VT1, &id).await;
    assert_eq!(o.result()["state"], "OPEN");
    assert!(o.result()["lockedBy"].is_null());
    // The old holder's payment: 1005; anyone may lock again (a fresh token).
    assert_eq!(
        pos.pay(VT1, &id, &card(&uuid(), &token, 152_340))
            .await
            .code(),
        (409, 1005)
    );
    assert!(pos
        .list(VT1, "?lockedBy=me")
        .await
        .result()
        .as_array()
        .unwrap()
        .is_empty());
    assert_ne!(pos.lock_token(VT2, &id).await, token);

    // The configured TTL applies to locks without lockTtlSec.
    sim.set_lock_ttl(Duration::from_millis(300));
    let id2 = fuel(&sim, "35DEF456", 1_000);
    pos.lock_token(VT1, &id2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Read through the API (expiry is applied on every call too).
    assert_eq!(pos.get(VT1, &id2).await.result()["state"], "OPEN");
    assert_eq!(sim.payments_accepted(&id), 0);
}

#[tokio::test]
async fn completion_by_the_1000tr_and_offline_1000tr() {
    let sim = start(fast());
    let pos = Pos::new(&sim).await;
    let id = fuel(&sim, "34ABC123", 152_340);
    let t = pos.lock_token(VT1, &id).await;
    assert_eq!(
        pos.pay(VT1, &id, &card(&uuid(), &t, 152_340)).await.http,
        201
    );
    wait_for("completion", 2000, || {
        sim.order(&id).unwrap().state == OrderState::Completed
    })
    .await;
    let o = pos.get(VT1, &id).await;
    assert_eq!(o.result()["state"], "COMPLETED");
    let rc = &o.result()["receipt"];
    assert_eq!(
        keys(rc),
        ["UUID", "completedAt", "fiscalSerial", "receiptNo", "zNo"]
    );
    assert_eq!(rc["receiptNo"], 1);
    assert_eq!(rc["zNo"], 1);
    assert_eq!(rc["fiscalSerial"], "PT0000000001");
    assert_eq!(rc["UUID"].as_str().unwrap().len(), 36);
    // The pump is free again: the next fill there gets the pump's next receipt number.
    let id2 = sim
        .fuel(Fuelling::amount("35DEF456", 20_000).on_pump(1))
        .unwrap();

    // 1000TR offline: the payment is accepted, the order stays PAID.
    sim.set_pump_offline(true);
    let t = pos.lock_token(VT1, &id2).await;
    assert_eq!(
        pos.pay(VT1, &id2, &cash(&uuid(), &t, 20_000)).await.http,
        201
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.order(&id2).unwrap().state, OrderState::Paid);
    assert!(!sim.complete_order(&id2));
    assert_eq!(
        control(&sim, "POST", &format!("orders/{id2}/complete"), None).await,
        (200, json!({"ok": false}))
    );
    assert_eq!(pos.get(VT1, &id2).await.result()["state"], "PAID");
    // The pump stays busy while its order is unfinished.
    assert!(sim
        .fuel(Fuelling::amount("X", 1_000).on_pump(1))
        .unwrap_err()
        .contains("unfinished"));
    // Back online: the waiting completion happens.
    sim.set_pump_offline(false);
    wait_for("completion after the 1000TR is back", 2000, || {
        sim.order(&id2).unwrap().state == OrderState::Completed
    })
    .await;
    let o = sim.order(&id2).unwrap();
    assert_eq!(o.receipt.unwrap()["receiptNo"], 2);
    assert_eq!(o.payments_accepted, 1);
}

#[tokio::test]
async fn fault_lock_expires_mid_payment() {
    let sim = start(fast());
    let id = fuel(&sim, "34ABC123", 152_340);
    let pos = Pos::new(&sim).await;
    let t = pos.lock_token(VT1, &id).await;
    sim.set_energy_faults(EnergyFaults {
        expire_lock_on_payment: 1,
        ..EnergyFaults::default()
    });
    let pid = uuid();
    let r = pos.pay(VT1, &id, &card(&pid, &t, 152_340)).await;
    assert_eq!(r.code(), (409, 1005), "{}", r.text);
    let o = sim.order(&id).unwrap();
    assert_eq!((o.state, o.payments_accepted), (OrderState::Open, 0));
    assert_eq!(sim.energy_faults().expire_lock_on_payment, 0);
    // A refused payment is not stored: lock again, resend with the same paymentId.
    let t2 = pos.lock_token(VT1, &id).await;
    let r = pos.pay(VT1, &id, &card(&pid, &t2, 152_340)).await;
    assert_eq!(r.code(), (201, 0), "{}", r.text);
    assert_eq!(sim.payments_accepted(&id), 1);

    // The same through the control call between lock and payment.
    let id2 = fuel(&sim, "35DEF456", 1_000);
    let t = pos.lock_token(VT2, &id2).await;
    assert_eq!(
        control(&sim, "POST", &format!("orders/{id2}/expire-lock"), None).await,
        (200, json!({"ok": true}))
    );
    assert!(!sim.expire_lock(&id2));
    assert_eq!(
        pos.pay(VT2, &id2, &cash(&uuid(), &t, 1_000)).await.code(),
        (409, 1005)
    );
    assert_eq!(sim.order(&id2).unwrap().state, OrderState::Open);
}

#[tokio::test]
async fn fault_customer_pays_at_the_pump_while_the_pos_holds_the_lock() {
    let sim = start(fast());
    let id = fuel(&sim, "34ABC123", 152_340);
    let pos = Pos::new(&sim).await;
    let t = pos.lock_token(VT1, &id).await;
    assert!(sim.pay_at_pump(&id));
    assert!(!sim.pay_at_pump(&id));
    let o = sim.order(&id).unwrap();
    assert_eq!(o.state, OrderState::Completed);
    assert!(o.paid_at_pump);
    assert_eq!(o.paid_by.as_deref(), Some("PT0000000001"));
    assert!(o.locked_by.is_none());
    assert!(o.receipt.is_some());
    // The POS: payment and unlock both 1105; no payment accepted.
    assert_eq!(
        pos.pay(VT1, &id, &card(&uuid(), &t, 152_340)).await.code(),
        (409, 1105)
    );
    assert_eq!(
        pos.unlock(
            VT1,
            &id,
            json!({"lockToken": t, "reason": "PAYMENT_FAILED"})
        )
        .await
        .code(),
        (409, 1105)
    );
    assert_eq!(pos.lock(VT1, &id, None).await.code(), (409, 1105));
    assert_eq!(sim.payments_accepted(&id), 0);

    // The race as a switch: the lock succeeds, then the customer pays at the pump.
    let id2 = fuel(&sim, "35DEF456", 1_000);
    sim.set_energy_faults(EnergyFaults {
        pay_at_pump_on_lock: 1,
        ..EnergyFaults::default()
    });
    let t = pos.lock_token(VT2, &id2).await;
    assert_eq!(sim.order(&id2).unwrap().state, OrderState::Completed);
    assert_eq!(
        pos.pay(VT2, &id2, &cash(&uuid(), &t, 1_000)).await.code(),
        (409, 1105)
    );
    // And through the control API on an OPEN order.
    let id3 = fuel(&sim, "06GHI789", 2_000);
    assert_eq!(
        control(&sim, "POST", &format!("orders/{id3}/pay-at-pump"), None).await,
        (200, json!({"ok": true}))
    );
    assert_eq!(pos.get(VT1, &id3).await.result()["state"], "COMPLETED");
    assert!(sim.orders().iter().all(|o| o.payments_accepted == 0));
}

#[tokio::test]
async fn fault_connection_dropped_after_an_accepted_payment() {
    let sim = start(fast());
    let id = fuel(&sim, "34ABC123", 152_340);
    let pos = Pos::new(&sim).await;
    let t = pos.lock_token(VT1, &id).await;
    sim.set_energy_faults(EnergyFaults {
        drop_payment_reply: 1,
        ..EnergyFaults::default()
    });
    let pid = uuid();
    let body = card(&pid, &t, 152_340);
    let e = pos.try_pay(VT1, &id, &body).await;
    assert!(e.is_err(), "the connection is cut");
    // The server did accept it.
    let o = sim.order(&id).unwrap();
    assert!(matches!(o.state, OrderState::Paid | OrderState::Completed));
    assert_eq!(o.payments_accepted, 1);
    let last = sim.energy_requests().pop().unwrap();
    assert_eq!((last.http_status, last.api_status), (0, None));
    // The POS reads the order, then resends: the stored reply, still one payment.
    let r = pos.get(VT1, &id).await;
    assert_eq!(r.result()["paymentId"], pid.as_str());
    let r = pos.pay(VT1, &id, &body).await;
    assert_eq!(r.code(), (201, 0), "{}", r.text);
    assert_eq!(r.result()["order"]["state"], "PAID");
    wait_for("completion", 2000, || {
        sim.order(&id).unwrap().state == OrderState::Completed
    })
    .await;
    let o = sim.order(&id).unwrap();
    assert_eq!((o.payments_accepted, o.payment_replays), (1, 1));
}

#[tokio::test]
async fn fault_429_bursts_on_listing() {
    let sim = start(fast());
    let id = fuel(&sim, "34ABC123", 152_340);
    let pos = Pos::new(&sim).await;
    sim.set_energy_faults(EnergyFaults {
        throttle_list: 2,
        retry_after_secs: 3,
        ..EnergyFaults::default()
    });
    // Only listing is throttled.
    assert_eq!(pos.get(VT1, &id).await.code(), (200, 0));
    for _ in 0..2 {
        let r = pos.list(VT1, "?status=OPEN").await;
        assert_eq!(r.code(), (429, 429));
        assert_eq!(r.headers["retry-after"], "3");
    }
    assert_eq!(pos.list(VT1, "?status=OPEN").await.code(), (200, 0));
    // Over HTTP.
    let (code, f) = control(
        &sim,
        "POST",
        "energy/faults",
        Some(json!({"throttleList": 1})),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(f["throttleList"], 1);
    assert_eq!(f["retryAfterSecs"], 3);
    assert_eq!(pos.list(VT1, "").await.http, 429);
    assert_eq!(pos.list(VT1, "").await.http, 200);
}

#[tokio::test]
async fn two_terminals_contend_for_one_order() {
    let sim = start(fast());
    let pos1 = Arc::new(Pos::new(&sim).await);
    let pos2 = Arc::new(Pos::as_client(&sim, "second-pos").await);
    for round in 0..5 {
        let id = fuel(&sim, &format!("34AB{round:03}"), 10_000 + round);
        let (a, b) = {
            let (p1, p2, i1, i2) = (pos1.clone(), pos2.clone(), id.clone(), id.clone());
            tokio::join!(
                tokio::spawn(async move { p1.lock(VT1, &i1, None).await }),
                tokio::spawn(async move { p2.lock(VT2, &i2, None).await })
            )
        };
        let (a, b) = (a.unwrap(), b.unwrap());
        let mut codes = [a.code(), b.code()];
        codes.sort();
        assert_eq!(codes, [(200, 0), (409, 1018)], "round {round}");
        let (winner, term, loser, other) = if a.http == 200 {
            (&pos1, VT1, &pos2, VT2)
        } else {
            (&pos2, VT2, &pos1, VT1)
        };
        let won = if a.http == 200 { &a } else { &b };
        let lost = if a.http == 200 { &b } else { &a };
        assert_eq!(lost.result()["lockedBy"], term);
        let t = won.result()["lockToken"].as_str().unwrap();
        // The loser cannot pay, even with the winner's token.
        assert_eq!(
            loser
                .pay(other, &id, &cash(&uuid(), t, 10_000 + round))
                .await
                .code(),
            (409, 1018)
        );
        let r = winner
            .pay(term, &id, &cash(&uuid(), t, 10_000 + round))
            .await;
        assert_eq!(r.code(), (201, 0));
        assert_eq!(sim.payments_accepted(&id), 1);
    }
    wait_for("all completed", 3000, || {
        sim.orders()
            .iter()
            .all(|o| o.state == OrderState::Completed && o.payments_accepted == 1)
    })
    .await;
}

#[tokio::test]
async fn control_api_fuels_and_drives_the_forecourt() {
    let mut cfg = fast();
    cfg.energy.pumps = 2;
    let sim = start(cfg);
    let (code, v) = control(
        &sim,
        "POST",
        "pumps/2/fuel",
        Some(json!({"plate": "34 ABC 123", "litres": 38.42, "unitPrice": 3965})),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["ok"], true);
    let id = v["orderId"].as_str().unwrap().to_string();
    let o = &v["order"];
    assert_eq!(
        (o["pumpNo"].as_i64(), o["quantity"].as_i64()),
        (Some(2), Some(38_420))
    );
    assert_eq!(o["amount"], 152_335); // 38.42 L × 39.65 TL
    assert_eq!(o["plate"], "34ABC123");
    assert_eq!(o["pumpTerminalId"], "PT0000000002");
    // Busy pump, unknown pump, bad body.
    let (code, v) = control(
        &sim,
        "POST",
        "pumps/2/fuel",
        Some(json!({"plate": "X", "amount": 5})),
    )
    .await;
    assert_eq!((code, v["ok"].as_bool()), (409, Some(false)));
    let (code, _) = control(
        &sim,
        "POST",
        "pumps/9/fuel",
        Some(json!({"plate": "X", "amount": 5})),
    )
    .await;
    assert_eq!(code, 409);
    let (code, _) = control(&sim, "POST", "pumps/1/fuel", Some(json!({"amount": 5}))).await;
    assert_eq!(code, 400, "no plate");
    let (code, _) = control(
        &sim,
        "POST",
        "pumps/1/fuel",
        Some(json!({"plate": "X", "amount": "5"})),
    )
    .await;
    assert_eq!(code, 400, "amount not an integer");
    // Next free pump, other nozzle.
    let (code, v) = control(
        &sim,
        "POST",
        "fuel",
        Some(json!({"plate": "06XYZ42", "amount": 41_890, "nozzleNo": 2})),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["order"]["pumpNo"], 1);
    assert_eq!(v["order"]["productName"], "Kurşunsuz Benzin 95");
    assert_eq!(v["order"]["quantity"], 10_000);
    let (code, v) = control(
        &sim,
        "POST",
        "fuel",
        Some(json!({"plate": "X", "amount": 1})),
    )
    .await;
    assert_eq!(
        (code, v["ok"].as_bool()),
        (409, Some(false)),
        "every pump busy"
    );

    // Orders: list and one, with what only the simulator knows.
    let (code, v) = control(&sim, "GET", "orders", None).await;
    assert_eq!(code, 200);
    assert_eq!(v.as_array().unwrap().len(), 2);
    let (code, v) = control(&sim, "GET", &format!("orders/{id}"), None).await;
    assert_eq!(code, 200);
    assert_eq!(v["paymentsAccepted"], 0);
    assert_eq!(v["paidAtPump"], false);
    assert_eq!(control(&sim, "GET", "orders/nope", None).await.0, 404);
    assert_eq!(
        control(&sim, "POST", &format!("orders/{id}/explode"), None)
            .await
            .0,
        404
    );

    // Config: manual completion, then complete through the control call.
    let (code, c) = control(
        &sim,
        "POST",
        "energy/config",
        Some(json!({"completeDelayMs": null, "lockTtlSec": 30})),
    )
    .await;
    assert_eq!(code, 200);
    assert!(c["completeDelayMs"].is_null());
    assert_eq!(c["lockTtlSec"], 30);
    assert_eq!(c["terminals"], json!([VT1, VT2]));
    let pos = Pos::new(&sim).await;
    let r = pos.lock(VT1, &id, None).await;
    let (code, v) = control(&sim, "GET", &format!("orders/{id}"), None).await;
    assert_eq!(code, 200);
    assert_eq!(v["lockToken"], r.result()["lockToken"]);
    let t = r.result()["lockToken"].as_str().unwrap();
    assert_eq!(
        pos.pay(VT1, &id, &cash(&uuid(), t, 152_335)).await.http,
        201
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(sim.order(&id).unwrap().state, OrderState::Paid);
    let (_, f) = control(
        &sim,
        "POST",
        "energy/faults",
        Some(json!({"pumpOffline": true})),
    )
    .await;
    assert_eq!(f["pumpOffline"], true);
    assert!(sim.energy_faults().pump_offline);
    assert_eq!(
        control(&sim, "POST", &format!("orders/{id}/complete"), None)
            .await
            .1,
        json!({"ok": false})
    );
    control(
        &sim,
        "POST",
        "energy/faults",
        Some(json!({"pumpOffline": false})),
    )
    .await;
    assert_eq!(
        control(&sim, "POST", &format!("orders/{id}/complete"), None)
            .await
            .1,
        json!({"ok": true})
    );
    assert_eq!(pos.get(VT1, &id).await.result()["state"], "COMPLETED");
    assert_eq!(
        control(&sim, "GET", "energy/faults", None).await.1["pumpOffline"],
        false
    );
    // Control calls are not in the request log.
    assert!(sim.requests().iter().all(|r| !r.path.contains("_sim")));
}

#[tokio::test]
async fn energy_lives_under_the_same_base_and_config_fuel_orders() {
    let mut cfg = fast();
    cfg.base = "/app-store/external".into();
    cfg.energy.fuel = vec![
        Fuelling::amount("34ABC123", 152_340),
        Fuelling::amount("35DEF456", 20_000),
    ];
    let sim = start(cfg);
    assert!(sim.url().ends_with("/app-store/external"));
    let pos = Pos::new(&sim).await;
    let r = pos.list(VT1, "?status=OPEN").await;
    assert_eq!(r.code(), (200, 0));
    let l = r.result().as_array().unwrap();
    assert_eq!(l.len(), 2);
    assert_eq!(
        (l[0]["pumpNo"].as_i64(), l[1]["pumpNo"].as_i64()),
        (Some(1), Some(2))
    );
    assert_eq!(l[0]["amount"], 152_340);
    assert_eq!(sim.energy_requests()[0].path, "/v1/energy/orders");
    // Not at the root.
    let c = reqwest::Client::builder().no_proxy().build().unwrap();
    let addr = sim.addr();
    let r = send(c.get(format!("http://{addr}/v1/energy/orders")))
        .await
        .unwrap();
    assert_eq!(r.http, 404);
    // A bad start-up fuelling refuses to start.
    let mut bad = CloudConfig::default();
    bad.energy.fuel = vec![Fuelling::amount("", 100)];
    assert!(CloudSim::start(bad, "127.0.0.1:0").is_err());
}

/// A webhook receiver recording the bodies.
async fn receiver() -> (Arc<parking_lot::Mutex<Vec<Value>>>, String) {
    let got = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let g2 = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let g = g2.clone();
            async move {
                g.lock().push(serde_json::from_str(&body).unwrap());
                "{\"status\":\"ok\"}"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (got, url)
}

#[tokio::test]
async fn webhooks_when_a_callback_is_registered() {
    let sim = start(fast());
    let (got, url) = receiver().await;
    // Nothing registered: no webhook.
    let id0 = fuel(&sim, "01AA001", 1_000);
    let pos = Pos::new(&sim).await;
    let r = pos
        .raw(
            "POST",
            "/v1/client-settings",
            "",
            Some(json!({"callbackUrl": url, "callbackAuthHeader": "Bearer e"}).to_string()),
        )
        .await;
    assert_eq!(r.code(), (200, 0));
    let ops = |got: &parking_lot::Mutex<Vec<Value>>| {
        got.lock()
            .iter()
            .map(|v| {
                let reason = v["data"]["reason"].as_str().unwrap_or("").to_string();
                (v["operation"].as_str().unwrap().to_string(), reason)
            })
            .collect::<Vec<_>>()
    };
    let id = fuel(&sim, "34ABC123", 152_340);
    wait_for("ORDER_CREATED", 2000, || got.lock().len() == 1).await;
    let created = got.lock()[0].clone();
    assert_eq!(
        keys(&created),
        [
            "clientId",
            "data",
            "operation",
            "operationDate",
            "terminalId"
        ]
    );
    assert_eq!(created["clientId"], "pos-client");
    assert_eq!(created["terminalId"], "PT0000000002");
    assert_eq!(created["data"]["orderId"], id.as_str());
    assert_eq!(created["data"]["state"], "OPEN");

    // One step at a time (each delivery is its own task).
    let t = pos.lock_token(VT1, &id).await;
    wait_for("ORDER_LOCKED", 2000, || got.lock().len() == 2).await;
    pos.unlock(VT1, &id, json!({"lockToken": t, "reason": "CANCELLED"}))
        .await;
    wait_for("ORDER_UNLOCKED", 2000, || got.lock().len() == 3).await;
    let r = pos.lock(VT2, &id, Some(json!({"lockTtlSec": 1}))).await;
    assert_eq!(r.code(), (200, 0));
    wait_for("ORDER_LOCKED", 2000, || got.lock().len() == 4).await;
    wait_for("ORDER_UNLOCKED on timeout", 3000, || got.lock().len() == 5).await;
    let t = pos.lock_token(VT1, &id).await;
    wait_for("ORDER_LOCKED", 2000, || got.lock().len() == 6).await;
    pos.pay(VT1, &id, &card(&uuid(), &t, 152_340)).await;
    wait_for("ORDER_COMPLETED", 3000, || got.lock().len() == 7).await;
    // Paid at the pump over a lock (the last two may arrive in either order).
    let t0 = pos.lock_token(VT2, &id0).await;
    assert!(!t0.is_empty());
    wait_for("ORDER_LOCKED", 2000, || got.lock().len() == 8).await;
    assert!(sim.pay_at_pump(&id0));
    wait_for("pay at pump hooks", 3000, || got.lock().len() == 10).await;
    let mut ops = ops(&got);
    ops[8..].sort();
    assert_eq!(
        ops,
        [
            ("ORDER_CREATED".to_string(), String::new()),
            ("ORDER_LOCKED".into(), String::new()),
            ("ORDER_UNLOCKED".into(), "CANCELLED".into()),
            ("ORDER_LOCKED".into(), String::new()),
            ("ORDER_UNLOCKED".into(), "TIMEOUT".into()),
            ("ORDER_LOCKED".into(), String::new()),
            ("ORDER_COMPLETED".into(), String::new()),
            ("ORDER_LOCKED".into(), String::new()),
            ("ORDER_COMPLETED".into(), String::new()),
            ("ORDER_UNLOCKED".into(), "PAID_AT_PUMP".into()),
        ]
    );
    let v = got.lock().clone();
    assert_eq!(v[1]["terminalId"], VT1);
    assert_eq!(v[1]["data"]["lockedBy"], VT1);
    assert!(v[1]["data"]["lockExpiresAt"].is_string());
    assert_eq!(v[6]["data"]["state"], "COMPLETED");
    assert_eq!(v[6]["data"]["receipt"]["fiscalSerial"], "PT0000000002");
    assert_eq!(v[6]["terminalId"], "PT0000000002");
    // The deliveries are in the simulator's webhook log, keyed by order id.
    let log = sim.webhooks();
    assert_eq!(log.len(), 10);
    assert!(log.iter().all(|w| w.response_status == Some(200)));
    assert_eq!(log[1].basket_id, id);
    assert_eq!(log[0].authorization.as_deref(), Some("Bearer e"));
}
