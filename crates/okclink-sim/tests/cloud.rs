//! The TokenX Connect cloud simulator against the behaviour Token documents (official
//! Postman collection: paths, headers, envelopes, descriptions, HTTP codes; the webhook
//! shape integrators parse), over loopback with reqwest.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use okclink_sim::{BasketState, CloudConfig, CloudFaults, CloudSim, CloudTerminal, DeviceOutcome};
use serde_json::{json, Value};

const T1: &str = "AV00000000001";

fn start(cfg: CloudConfig) -> CloudSim {
    CloudSim::start(cfg, "127.0.0.1:0").expect("simulator starts")
}

fn fast() -> CloudConfig {
    CloudConfig {
        device_delay: Duration::from_millis(20),
        ..CloudConfig::default()
    }
}

fn terminal(id: &str, branch: &str, instant: bool, client: Option<&str>) -> CloudTerminal {
    CloudTerminal {
        id: id.into(),
        branch_id: branch.into(),
        merchant_id: "M-0001".into(),
        instant,
        client_id: client.map(str::to_string),
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

struct Resp {
    http: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Resp {
    fn status(&self) -> i64 {
        self.body["status"].as_i64().expect("integer status")
    }
    fn desc(&self) -> &str {
        self.body["description"].as_str().unwrap_or("")
    }
}

/// One API call: `headers` are (name, value) pairs; `token` adds the bearer.
async fn call(
    c: &reqwest::Client,
    method: &str,
    url: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Resp {
    let mut rq = c.request(method.parse().unwrap(), url);
    if let Some(t) = token {
        rq = rq.header("authorization", format!("Bearer {t}"));
    }
    for (n, v) in headers {
        rq = rq.header(*n, *v);
    }
    if let Some(b) = body {
        rq = rq
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let r = rq.send().await.expect("request");
    let http = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        http,
        headers,
        body,
    }
}

async fn auth(c: &reqwest::Client, sim: &CloudSim, id: &str, secret: &str) -> Resp {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    c.post(format!("{}/v1/auth/token", sim.url()))
        .header("authorization", format!("Basic {basic}"))
        .send()
        .await
        .map(|r| async move {
            let http = r.status().as_u16();
            let headers = r.headers().clone();
            let body = serde_json::from_str(&r.text().await.unwrap()).unwrap_or(Value::Null);
            Resp {
                http,
                headers,
                body,
            }
        })
        .unwrap()
        .await
}

async fn token(c: &reqwest::Client, sim: &CloudSim, id: &str) -> String {
    let r = auth(c, sim, id, "secret").await;
    assert_eq!(r.http, 200, "{}", r.body);
    r.body["result"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string()
}

fn basket(id: &str) -> Value {
    json!({
        "basketID": id, "checkNumber": 16, "title": "Masa 16", "note": "Acısız", "filter": "Bahçe",
        "documentType": 0, "createInvoice": false, "isVoid": false, "isWayBill": false,
        "items": [
            {"name": "Döner Dürüm", "price": 15000, "sectionNo": 2, "taxPercent": 1000, "quantity": 2000, "unit": "C62"},
            {"name": "Ayran", "price": 2500, "sectionNo": 2, "taxPercent": 1000, "quantity": 1000,
             "adjust": {"description": "İndirim", "discountOrSurcharge": 0, "type": 0, "value": 500}},
        ],
        "paymentItems": [
            {"type": 3, "amount": 30000, "description": "Kredi Kartı", "operatorId": 0},
            {"type": 1, "amount": 2000, "description": "Nakit", "operatorId": 0},
        ],
    })
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn wait_for(what: &str, timeout_ms: u64, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_millis(timeout_ms);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// (Authorization, Content-Type, body) of one request the receiver got.
type Got = (Option<String>, Option<String>, String);

/// A webhook receiver: records (Authorization, Content-Type, body); answers 500 to the
/// first `fail_first` requests, then 200 `{"status":"ok"}`.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<parking_lot::Mutex<Vec<Got>>>,
    fail_first: Arc<AtomicU32>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let rx = Receiver::default();
        let r2 = rx.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let r = r2.clone();
                async move {
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)
                    };
                    r.got
                        .lock()
                        .push((h("authorization"), h("content-type"), body));
                    let fail = r
                        .fail_first
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    if fail {
                        (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "{}")
                    } else {
                        (axum::http::StatusCode::OK, "{\"status\":\"ok\"}")
                    }
                }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", l.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        (rx, url)
    }

    fn bodies(&self) -> Vec<Value> {
        self.got
            .lock()
            .iter()
            .map(|(_, _, b)| serde_json::from_str(b).unwrap())
            .collect()
    }
}

async fn register(c: &reqwest::Client, sim: &CloudSim, tok: &str, url: &str) {
    let r = call(
        c,
        "POST",
        &format!("{}/v1/client-settings", sim.url()),
        Some(tok),
        &[],
        Some(json!({"callbackUrl": url, "callbackAuthHeader": "Bearer hook-secret"})),
    )
    .await;
    assert_eq!((r.http, r.status()), (200, 0));
    assert_eq!(r.desc(), "Your client settings has been set successfully");
}

async fn post_instant(c: &reqwest::Client, sim: &CloudSim, tok: &str, body: Value) -> Resp {
    call(
        c,
        "POST",
        &format!("{}/v1/instant-basket", sim.url()),
        Some(tok),
        &[("terminal-id", T1)],
        Some(body),
    )
    .await
}

fn jwt_part(token: &str, i: usize) -> Value {
    let p = token.split('.').nth(i).unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p)
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

#[tokio::test]
async fn auth_tokens_and_bearer_errors() {
    let sim = start(CloudConfig {
        credentials: Some(("cid-1".into(), "s3cret".into())),
        ..fast()
    });
    let c = client();
    let r = auth(&c, &sim, "cid-1", "s3cret").await;
    assert_eq!((r.http, r.status()), (200, 201));
    assert_eq!(r.desc(), "User authenticated successfully.");
    assert_eq!(r.body["result"]["tokenType"], "Bearer");
    assert_eq!(r.body["result"]["expiresIn"], 900);
    let tok = r.body["result"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let (h, cl) = (jwt_part(&tok, 0), jwt_part(&tok, 1));
    assert!(h["kid"].is_string());
    assert!(cl["iss"]
        .as_str()
        .unwrap()
        .ends_with("/auth/realms/tokenx-dtokc"));
    assert_eq!(cl["aud"], "account");
    assert_eq!(cl["clientId"], "cid-1");
    assert_eq!(cl["azp"], "cid-1");
    assert_eq!(cl["merchantId"], "M-0001");
    assert_eq!(cl["scope"], "profile email");
    assert_eq!(cl["preferred_username"], "service-account-cid-1");
    assert_eq!(
        cl["exp"].as_u64().unwrap() - cl["iat"].as_u64().unwrap(),
        900
    );
    assert!(cl["jti"].is_string() && cl["sub"].is_string());

    for (id, secret) in [("cid-1", "wrong"), ("other", "s3cret")] {
        let r = auth(&c, &sim, id, secret).await;
        assert_eq!(r.http, 401, "{}", r.body);
        assert!(r.body["result"].is_null());
    }

    let settings = format!("{}/v1/client-settings", sim.url());
    let r = call(&c, "GET", &settings, Some(&tok), &[], None).await;
    assert_eq!((r.http, r.status()), (200, 0));
    assert_eq!(
        r.desc(),
        "Your client settings has been fetched successfully"
    );
    let r = call(&c, "GET", &settings, None, &[], None).await;
    assert_eq!((r.http, r.status()), (401, 4));
    let r = call(&c, "GET", &settings, Some("garbage.not.jwt"), &[], None).await;
    assert_eq!((r.http, r.status()), (401, 3));
    let mut forged = tok.clone();
    forged.truncate(tok.len() - 3);
    forged.push_str("AAA");
    let r = call(&c, "GET", &settings, Some(&forged), &[], None).await;
    assert_eq!((r.http, r.status()), (401, 3));

    sim.expire_tokens();
    let r = call(&c, "GET", &settings, Some(&tok), &[], None).await;
    assert_eq!((r.http, r.status()), (401, 2));
    let fresh = auth(&c, &sim, "cid-1", "s3cret").await.body["result"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let r = call(&c, "GET", &settings, Some(&fresh), &[], None).await;
    assert_eq!((r.http, r.status()), (200, 0));

    // The request log.
    let auths = sim.requests_to("POST", "/v1/auth/token");
    assert_eq!(auths.len(), 4);
    assert_eq!(auths[0].http_status, 200);
    assert_eq!(auths[0].api_status, Some(201));
    assert!(auths[0]
        .header("authorization")
        .unwrap()
        .starts_with("Basic "));
    assert_eq!(auths[1].http_status, 401);
    let gets = sim.requests_to("GET", "/v1/client-settings");
    assert_eq!(
        gets.iter()
            .map(|r| r.api_status.unwrap())
            .collect::<Vec<_>>(),
        [0, 4, 3, 3, 2, 0]
    );
    sim.stop();
}

#[tokio::test]
async fn short_ttl_expires() {
    let sim = start(CloudConfig {
        token_ttl: Duration::from_secs(1),
        ..fast()
    });
    let c = client();
    let r = auth(&c, &sim, "cid", "x").await;
    assert_eq!(r.body["result"]["expiresIn"], 1);
    let tok = r.body["result"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = call(
        &c,
        "GET",
        &format!("{}/v1/client-settings", sim.url()),
        Some(&tok),
        &[],
        None,
    )
    .await;
    assert_eq!((r.http, r.status()), (401, 2));
}

#[tokio::test]
async fn instant_basket_webhook_and_sale() {
    let sim = start(CloudConfig {
        base: "/app-store/external".into(),
        ..fast()
    });
    assert!(sim.url().ends_with("/app-store/external"));
    let (rx, hook) = Receiver::start().await;
    let c = client();
    let tok = token(&c, &sim, "cid-a").await;
    register(&c, &sim, &tok, &hook).await;
    let r = call(
        &c,
        "GET",
        &format!("{}/v1/client-settings", sim.url()),
        Some(&tok),
        &[],
        None,
    )
    .await;
    assert_eq!(r.body["result"]["callbackUrl"], hook.as_str());

    let id = uuid();
    let r = post_instant(&c, &sim, &tok, basket(&id)).await;
    assert_eq!((r.http, r.status()), (201, 0), "{}", r.body);
    assert_eq!(r.desc(), "Instant Basket Record Successfully Created");

    wait_for("webhook", 3000, || !rx.got.lock().is_empty()).await;
    let (authz, ctype, body) = rx.got.lock()[0].clone();
    assert_eq!(authz.as_deref(), Some("Bearer hook-secret"));
    assert_eq!(ctype.as_deref(), Some("application/json"));
    let w: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(w["operation"], "BASKET_COMPLETED");
    assert_eq!(w["terminalId"], T1);
    assert_eq!(w["clientId"], "cid-a");
    let date = w["operationDate"].as_str().unwrap();
    assert_eq!(date.len(), 24, "{date}");
    assert!(date.ends_with('Z') && date.as_bytes()[19] == b'.');
    let d = &w["data"];
    let mut keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "InstanceIdentifier",
            "UUID",
            "basketID",
            "documentType",
            "invoiceID",
            "isWayBill",
            "message",
            "paymentCount",
            "paymentItems",
            "receiptNo",
            "status",
            "zNo"
        ]
    );
    assert_eq!(d["basketID"], id.as_str());
    assert_eq!(
        (d["status"].as_i64(), d["message"].as_str()),
        (Some(0), Some("OK"))
    );
    assert_eq!(d["receiptNo"], 1);
    assert!(d["zNo"].as_i64().unwrap() >= 1);
    assert_eq!(d["paymentCount"], 2);
    let p0 = &d["paymentItems"][0];
    for k in [
        "amount",
        "BatchNo",
        "currencyId",
        "description",
        "operatorId",
        "status",
        "taxRate",
        "TxnNo",
        "type",
    ] {
        assert!(p0.get(k).is_some(), "payment item lacks {k}");
    }
    assert_eq!(
        (p0["amount"].as_i64(), p0["type"].as_i64()),
        (Some(30000), Some(3))
    );

    // Polling shows the same sale.
    let r = call(
        &c,
        "GET",
        &format!("{}/v1/basket/{id}", sim.url()),
        Some(&tok),
        &[],
        None,
    )
    .await;
    assert_eq!((r.http, r.status()), (200, 0));
    assert_eq!(r.desc(), "Successfully Fetched the Basket");
    let res = &r.body["result"];
    assert_eq!(res["sale"], *d);
    assert_eq!(res["status"], 1);
    assert_eq!(res["total"], 32000);
    assert_eq!(res["title"], "Masa 16");
    assert_eq!(res["isLocked"], false);
    assert_eq!(sim.basket(&id).unwrap().state, BasketState::Completed);
    let hooks = sim.webhooks();
    assert_eq!(hooks.len(), 1);
    assert_eq!(
        hooks[0].authorization.as_deref(),
        Some("Bearer hook-secret")
    );
    assert_eq!((hooks[0].attempt, hooks[0].response_status), (1, Some(200)));

    // Next basket on the terminal: receipt 2; no payment items = cash for the total.
    let id2 = uuid();
    let mut b = basket(&id2);
    b["paymentItems"] = json!([]);
    assert_eq!(post_instant(&c, &sim, &tok, b).await.http, 201);
    wait_for("second webhook", 3000, || rx.got.lock().len() == 2).await;
    let d2 = &rx.bodies()[1]["data"];
    assert_eq!(d2["receiptNo"], 2);
    assert_eq!(d2["paymentCount"], 1);
    assert_eq!(d2["paymentItems"][0]["amount"], 32000);
    assert_eq!(d2["paymentItems"][0]["type"], 1);

    // Logged without the base; unknown paths (in and outside the base) are 404.
    assert_eq!(sim.requests_to("POST", "/v1/instant-basket").len(), 2);
    let r = call(
        &c,
        "GET",
        &format!("{}/v1/nothing", sim.url()),
        Some(&tok),
        &[],
        None,
    )
    .await;
    assert_eq!(r.http, 404);
    let r = call(
        &c,
        "POST",
        &format!("http://{}/v1/instant-basket", sim.addr()),
        Some(&tok),
        &[("terminal-id", T1)],
        Some(basket(&uuid())),
    )
    .await;
    assert_eq!(r.http, 404);
    assert!(sim
        .requests()
        .iter()
        .any(|q| q.path == "/v1/instant-basket" && q.http_status == 404));
}

#[tokio::test]
async fn basket_error_codes() {
    let sim = start(CloudConfig {
        device_outcome: DeviceOutcome::Manual,
        terminals: vec![
            terminal(T1, "BR-0001", true, None),
            terminal("AT00000000002", "BR-0001", false, None),
            terminal("AV00000000009", "BR-0009", true, Some("someone-else")),
        ],
        ..fast()
    });
    let c = client();
    let tok = token(&c, &sim, "cid-b").await;
    let url = sim.url();

    let id = uuid();
    assert_eq!(post_instant(&c, &sim, &tok, basket(&id)).await.http, 201);
    // Duplicate basketID → 400/1007 (the resend counts).
    let r = post_instant(&c, &sim, &tok, basket(&id)).await;
    assert_eq!((r.http, r.status()), (400, 1007));
    assert_eq!(sim.basket(&id).unwrap().creations, 2);
    // Second open instant basket → 1100.
    let r = post_instant(&c, &sim, &tok, basket(&uuid())).await;
    assert_eq!((r.http, r.status()), (400, 1100));
    assert_eq!(
        r.desc(),
        "There is already an open basket assigned to this terminal"
    );
    // List-mode terminal → 1104.
    let r = call(
        &c,
        "POST",
        &format!("{url}/v1/instant-basket"),
        Some(&tok),
        &[("terminal-id", "AT00000000002")],
        Some(basket(&uuid())),
    )
    .await;
    assert_eq!((r.http, r.status()), (400, 1104));
    assert_eq!(
        r.desc(),
        "This terminals sale mode is not suitable for receive instant basket!"
    );
    // No context header → 6; both → 7.
    let r = call(
        &c,
        "POST",
        &format!("{url}/v1/instant-basket"),
        Some(&tok),
        &[],
        Some(basket(&uuid())),
    )
    .await;
    assert_eq!(
        (r.http, r.status(), r.desc()),
        (400, 6, "No context header provided.")
    );
    let r = call(
        &c,
        "POST",
        &format!("{url}/v1/instant-basket"),
        Some(&tok),
        &[("terminal-id", T1), ("branch-id", "BR-0001")],
        Some(basket(&uuid())),
    )
    .await;
    assert_eq!((r.http, r.status()), (400, 7));
    // Foreign terminal → 403/403.
    let r = call(
        &c,
        "POST",
        &format!("{url}/v1/instant-basket"),
        Some(&tok),
        &[("terminal-id", "AV00000000009")],
        Some(basket(&uuid())),
    )
    .await;
    assert_eq!(
        (r.http, r.status(), r.desc()),
        (403, 403, "Forbidden resource")
    );
    let r = call(
        &c,
        "GET",
        &format!("{url}/v1/basket/open-basket"),
        Some(&tok),
        &[("terminal-id", "AV00000000009")],
        None,
    )
    .await;
    assert_eq!((r.http, r.status()), (403, 403));
    // Totals differ → 1103 (nothing created).
    let bad = uuid();
    let mut b = basket(&bad);
    b["paymentItems"][1]["amount"] = json!(1999);
    let r = call(
        &c,
        "POST",
        &format!("{url}/v1/basket"),
        Some(&tok),
        &[("branch-id", "BR-0001")],
        Some(b),
    )
    .await;
    assert_eq!((r.http, r.status()), (400, 1103));
    assert!(sim.basket(&bad).is_none());
    // Unknown id → 404.
    let r = call(
        &c,
        "GET",
        &format!("{url}/v1/basket/{}", uuid()),
        Some(&tok),
        &[],
        None,
    )
    .await;
    assert_eq!(
        (r.http, r.status(), r.desc()),
        (404, 404, "No basket record found for given id")
    );
    let r = call(
        &c,
        "DELETE",
        &format!("{url}/v1/basket/{}", uuid()),
        Some(&tok),
        &[],
        None,
    )
    .await;
    assert_eq!((r.http, r.status()), (404, 404));
    // Another client does not see the basket.
    let tok2 = token(&c, &sim, "cid-other").await;
    let r = call(
        &c,
        "GET",
        &format!("{url}/v1/basket/{id}"),
        Some(&tok2),
        &[],
        None,
    )
    .await;
    assert_eq!(r.http, 404);

    // Locked → 1018 (PUT and DELETE).
    assert!(sim.lock(&id, T1));
    let mut upd = basket(&id);
    upd.as_object_mut().unwrap().remove("basketID");
    let r = call(
        &c,
        "PUT",
        &format!("{url}/v1/basket/{id}"),
        Some(&tok),
        &[("branch-id", "BR-0001")],
        Some(upd.clone()),
    )
    .await;
    assert_eq!((r.http, r.status()), (400, 1018));
    assert_eq!(
        r.desc(),
        "Error: Order locked! For this operation you must first unlock the order."
    );
    let r = call(
        &c,
        "DELETE",
        &format!("{url}/v1/basket/{id}"),
        Some(&tok),
        &[],
        None,
    )
    .await;
    assert_eq!((r.http, r.status()), (400, 1018));
    // Completed → 1105 (PUT and DELETE).
    assert!(sim.complete(&id));
    assert!(!sim.complete(&id));
    let r = call(
        &c,
        "PUT",
        &format!("{url}/v1/basket/{id}"),
        Some(&tok),
        &[("branch-id", "BR-0001")],
        Some(upd),
    )
    .await;
    assert_eq!((r.http, r.status()), (400, 1105));
    assert_eq!(
        r.desc(),
        "This baskets status is not suitable for this operation"
    );
    let r = call(
        &c,
        "DELETE",
        &format!("{url}/v1/basket/{id}"),
        Some(&tok),
        &[],
        None,
    )
    .await;
    assert_eq!((r.http, r.status()), (400, 1105));
    // The terminal is free again.
    assert_eq!(
        post_instant(&c, &sim, &tok, basket(&uuid())).await.http,
        201
    );
    // A terminal switched to list mode refuses instant baskets.
    sim.set_terminal_mode(T1, false);
    let r = post_instant(&c, &sim, &tok, basket(&uuid())).await;
    assert_eq!(r.status(), 1104);
}

#[tokio::test]
async fn list_mode_update_unlock_delete_and_open_baskets() {
    let list_t = "AT00000000002";
    let sim = start(CloudConfig {
        terminals: vec![
            terminal(T1, "BR-0001", true, None),
            terminal(list_t, "BR-0001", false, None),
        ],
        ..fast()
    });
    let (rx, hook) = Receiver::start().await;
    let c = client();
    let tok = token(&c, &sim, "cid-l").await;
    register(&c, &sim, &tok, &hook).await;
    let url = sim.url();
    let br = [("branch-id", "BR-0001")];

    let id = uuid();
    let r = call(
        &c,
        "POST",
        &format!("{url}/v1/basket"),
        Some(&tok),
        &br,
        Some(basket(&id)),
    )
    .await;
    assert_eq!(
        (r.http, r.status(), r.desc()),
        (201, 0, "Basket Record Successfully Created")
    );
    // Never picked up on its own.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sim.basket(&id).unwrap().state, BasketState::Open);
    assert!(!sim.basket(&id).unwrap().instant);

    // Update (body without basketID).
    let mut upd = basket(&id);
    upd.as_object_mut().unwrap().remove("basketID");
    upd["title"] = json!("Masa 17");
    let r = call(
        &c,
        "PUT",
        &format!("{url}/v1/basket/{id}"),
        Some(&tok),
        &br,
        Some(upd.clone()),
    )
    .await;
    assert_eq!(
        (r.http, r.status(), r.desc()),
        (200, 0, "Basket Record Successfully Updated")
    );
    assert_eq!(sim.basket(&id).unwrap().body["title"], "Masa 17");

    // Open baskets of a terminal of the branch.
    let r = call(
        &c,
        "GET",
        &format!("{url}/v1/basket/open-basket"),
        Some(&tok),
        &[("terminal-id", list_t)],
        None,
    )
    .await;
    assert_eq!(
        (r.http, r.status(), r.desc()),
        (200, 0, "Successfully Fetched Open Baskets")
    );
    let open = r.body["result"].as_array().unwrap();
    assert_eq!(open.len(), 1);
    for k in [
        "basketID",
        "checkNumber",
        "filter",
        "total",
        "branchId",
        "title",
        "isLocked",
        "createdAt",
        "lockedBy",
    ] {
        assert!(open[0].get(k).is_some(), "open basket lacks {k}");
    }
    assert_eq!(open[0]["lockedBy"], Value::Null);
    let r = call(
        &c,
        "GET",
        &format!("{url}/v1/basket/open-basket"),
        Some(&tok),
        &[],
        None,
    )
    .await;
    assert_eq!((r.http, r.status()), (400, 6));

    // A cashier locks it: webhook, lock visible, update refused, API unlock frees it.
    assert!(!sim.lock(&id, "AV-UNKNOWN"));
    assert!(sim.lock(&id, list_t));
    wait_for("lock webhook", 3000, || !rx.got.lock().is_empty()).await;
    let w = &rx.bodies()[0];
    assert_eq!(w["operation"], "BASKET_LOCKED");
    assert_eq!(w["data"], json!({"basketID": id, "lockedBy": list_t}));
    let r = call(
        &c,
        "GET",
        &format!("{url}/v1/basket/open-basket"),
        Some(&tok),
        &[("terminal-id", list_t)],
        None,
    )
    .await;
    assert_eq!(r.body["result"][0]["isLocked"], true);
    assert_eq!(r.body["result"][0]["lockedBy"], list_t);
    let r = call(
        &c,
        "PUT",
        &format!("{url}/v1/basket/{id}"),
        Some(&tok),
        &br,
        Some(upd.clone()),
    )
    .await;
    assert_eq!(r.status(), 1018);
    let r = call(
        &c,
        "POST",
        &format!("{url}/v1/basket/unlock"),
        Some(&tok),
        &br,
        Some(json!({"basketID": id})),
    )
    .await;
    assert_eq!(
        (r.http, r.status(), r.desc()),
        (200, 0, "Unlock Operation Successfully Completed")
    );
    assert_eq!(sim.basket(&id).unwrap().locked_by, None);
    // Unlocking an unknown basket is 200 / 0 too.
    let r = call(
        &c,
        "POST",
        &format!("{url}/v1/basket/unlock"),
        Some(&tok),
        &br,
        Some(json!({"basketID": uuid()})),
    )
    .await;
    assert_eq!((r.http, r.status()), (200, 0));

    // Delete, then it is gone.
    let r = call(
        &c,
        "DELETE",
        &format!("{url}/v1/basket/{id}"),
        Some(&tok),
        &[],
        None,
    )
    .await;
    assert_eq!(
        (r.http, r.status(), r.desc()),
        (200, 0, "Basket has been deleted successfully")
    );
    assert_eq!(sim.basket(&id).unwrap().state, BasketState::Deleted);
    let r = call(
        &c,
        "GET",
        &format!("{url}/v1/basket/{id}"),
        Some(&tok),
        &[],
        None,
    )
    .await;
    assert_eq!(r.http, 404);
    assert!(!sim.complete(&id));

    // Another list basket, finished through the control API over HTTP (lock, complete):
    // done by the list terminal of the branch.
    let id2 = uuid();
    let r = call(
        &c,
        "POST",
        &format!("{url}/v1/basket"),
        Some(&tok),
        &br,
        Some(basket(&id2)),
    )
    .await;
    assert_eq!(r.http, 201);
    let ctl = |op: &str| format!("{url}/_sim/baskets/{id2}/{op}");
    let r: Value = c
        .post(ctl("lock?terminal=AT00000000002"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(r["ok"], true);
    let r: Value = c
        .post(ctl("complete"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(r["ok"], true);
    wait_for("completion webhook", 3000, || rx.got.lock().len() == 3).await;
    let w = &rx.bodies()[2];
    assert_eq!(w["operation"], "BASKET_COMPLETED");
    assert_eq!(w["terminalId"], list_t);
    assert_eq!(w["data"]["status"], 0);
    assert_eq!(
        sim.basket(&id2).unwrap().terminal_id.as_deref(),
        Some(list_t)
    );
    let reqs: Value = c
        .get(format!("{url}/_sim/requests"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(reqs.as_array().unwrap().len(), sim.requests().len());
    let hooks: Value = c
        .get(format!("{url}/_sim/webhooks"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(hooks.as_array().unwrap().len(), 3);
    assert!(sim.requests().iter().all(|q| !q.path.starts_with("/_sim")));
}

#[tokio::test]
async fn terminals_fiscal_parameters_and_legacy_headers() {
    let sim = start(CloudConfig {
        terminals: vec![
            terminal(T1, "BR-0001", true, None),
            terminal("AT00000000002", "BR-0001", false, None),
            terminal("AV00000000003", "BR-0002", true, None),
            terminal("AV00000000009", "BR-0009", true, Some("someone-else")),
        ],
        legacy_headers: true,
        ..fast()
    });
    let c = client();
    let tok = token(&c, &sim, "cid-t").await;
    let url = sim.url();
    let term = format!("{url}/v1/terminal");

    let r = call(
        &c,
        "GET",
        &term,
        Some(&tok),
        &[("branch-id", "BR-0001")],
        None,
    )
    .await;
    assert_eq!(
        (r.http, r.status(), r.desc()),
        (200, 0, "Terminal List Successfully Fetched")
    );
    assert_eq!(
        r.body["result"],
        json!([{"id": T1, "branchId": "BR-0001", "mode": 1}, {"id": "AT00000000002", "branchId": "BR-0001", "mode": 0}])
    );
    let r = call(
        &c,
        "GET",
        &format!("{term}?merchantId=M-0001"),
        Some(&tok),
        &[],
        None,
    )
    .await;
    assert_eq!(
        r.body["result"].as_array().unwrap().len(),
        3,
        "foreign terminal hidden"
    );
    let r = call(
        &c,
        "GET",
        &format!("{term}?branchId=BR-0002"),
        Some(&tok),
        &[],
        None,
    )
    .await;
    assert_eq!(
        r.body["result"],
        json!([{"id": "AV00000000003", "branchId": "BR-0002", "mode": 1}])
    );
    let r = call(
        &c,
        "GET",
        &term,
        Some(&tok),
        &[("merchant-id", "M-0001")],
        None,
    )
    .await;
    assert_eq!(r.body["result"].as_array().unwrap().len(), 3);
    let r = call(&c, "GET", &term, Some(&tok), &[], None).await;
    assert_eq!((r.http, r.status()), (400, 6));
    let r = call(
        &c,
        "GET",
        &term,
        Some(&tok),
        &[("branch-id", "BR-0001"), ("merchant-id", "M-0001")],
        None,
    )
    .await;
    assert_eq!((r.http, r.status()), (400, 7));

    let r = call(
        &c,
        "GET",
        &format!("{term}/{T1}"),
        Some(&tok),
        &[("terminal-id", T1)],
        None,
    )
    .await;
    assert_eq!(
        (r.http, r.status(), r.desc()),
        (200, 0, "POS's organization returned successfully.")
    );
    assert_eq!(
        r.body["result"],
        json!({"terminalId": T1, "branchId": "BR-0001", "merchantId": "M-0001"})
    );
    let r = call(
        &c,
        "GET",
        &format!("{term}/AV00000000009"),
        Some(&tok),
        &[("terminal-id", "AV00000000009")],
        None,
    )
    .await;
    assert_eq!((r.http, r.status()), (403, 403));

    // Fiscal parameters: UTF-8 JSON with the KDV sections.
    let r = call(
        &c,
        "GET",
        &format!("{url}/v1/fiscal-parameters"),
        Some(&tok),
        &[("terminal-id", T1)],
        None,
    )
    .await;
    assert_eq!(
        (r.http, r.status(), r.desc()),
        (200, 0, "Successfully Fetched Fiscal Parameters")
    );
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let res = &r.body["result"];
    let sections = res["sections"].as_array().unwrap();
    let mut taxes: Vec<i64> = sections
        .iter()
        .map(|s| s["taxPercent"].as_i64().unwrap())
        .collect();
    taxes.sort_unstable();
    assert_eq!(taxes, [0, 100, 1000, 2000]);
    for s in sections {
        for k in [
            "limit",
            "name",
            "price",
            "sectionNo",
            "status",
            "taxPercent",
            "type",
            "plus",
        ] {
            assert!(s.get(k).is_some(), "section lacks {k}");
        }
        assert!(!s["plus"].as_array().unwrap().is_empty());
    }
    assert!(res.to_string().contains("Döner"));
    assert!(res["receiptLimit"].is_i64());
    assert_eq!(res["currencies"][0]["name"], "DOLAR");
    assert_eq!(res["terminal"], T1);
    assert!(res["createdAt"].is_string() && res["updatedAt"].is_string());
    let r = call(
        &c,
        "GET",
        &format!("{url}/v1/fiscal-parameters"),
        Some(&tok),
        &[],
        None,
    )
    .await;
    assert_eq!((r.http, r.status()), (400, 6));

    // camelCase headers (legacy_headers on).
    let r = call(
        &c,
        "GET",
        &format!("{url}/v1/fiscal-parameters"),
        Some(&tok),
        &[("terminalId", T1)],
        None,
    )
    .await;
    assert_eq!((r.http, r.status()), (200, 0));
    let r = call(
        &c,
        "GET",
        &term,
        Some(&tok),
        &[("branchId", "BR-0002")],
        None,
    )
    .await;
    assert_eq!(r.body["result"].as_array().unwrap().len(), 1);
    let strict = start(fast());
    let tok = token(&c, &strict, "cid-t").await;
    let r = call(
        &c,
        "GET",
        &format!("{}/v1/fiscal-parameters", strict.url()),
        Some(&tok),
        &[("terminalId", T1)],
        None,
    )
    .await;
    assert_eq!((r.http, r.status()), (400, 6));
}

#[tokio::test]
async fn device_outcomes_offline_and_void() {
    let sim = start(fast());
    let (rx, hook) = Receiver::start().await;
    let c = client();
    let tok = token(&c, &sim, "cid-d").await;
    register(&c, &sim, &tok, &hook).await;

    sim.set_device_outcome(DeviceOutcome::Cancel);
    let id = uuid();
    assert_eq!(post_instant(&c, &sim, &tok, basket(&id)).await.http, 201);
    wait_for("cancel webhook", 3000, || rx.got.lock().len() == 1).await;
    let d = rx.bodies()[0]["data"].clone();
    assert_eq!(
        d,
        json!({"basketID": id, "documentType": 0, "message": "CANCELLED", "status": -1})
    );
    assert_eq!(sim.basket(&id).unwrap().state, BasketState::Cancelled);

    sim.set_device_outcome(DeviceOutcome::Void);
    let id = uuid();
    assert_eq!(post_instant(&c, &sim, &tok, basket(&id)).await.http, 201);
    wait_for("void webhook", 3000, || rx.got.lock().len() == 2).await;
    let d = rx.bodies()[1]["data"].clone();
    assert_eq!(
        (
            d["status"].as_i64(),
            d["receiptNo"].as_i64(),
            d["zNo"].as_i64()
        ),
        (Some(99), Some(-1), Some(-1))
    );
    assert_eq!(sim.basket(&id).unwrap().state, BasketState::Voided);

    // Offline: the basket stays open past the device delay, completes on return.
    sim.set_device_outcome(DeviceOutcome::Complete);
    sim.set_faults(CloudFaults {
        device_offline: true,
        ..CloudFaults::default()
    });
    let id = uuid();
    assert_eq!(post_instant(&c, &sim, &tok, basket(&id)).await.http, 201);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(sim.basket(&id).unwrap().state, BasketState::Open);
    assert!(!sim.complete(&id), "no device control while offline");
    assert_eq!(rx.got.lock().len(), 2);
    sim.set_faults(CloudFaults::default());
    wait_for("completion after the device returns", 3000, || {
        rx.got.lock().len() == 3
    })
    .await;
    let d = rx.bodies()[2]["data"].clone();
    assert_eq!(d["status"], 0);
    // The voided receipt used number 1, this one 2.
    assert_eq!(d["receiptNo"], 2);

    // Voiding a completed receipt afterwards: a second BASKET_COMPLETED with 99.
    assert!(sim.void(&id));
    wait_for("void of the completed receipt", 3000, || {
        rx.got.lock().len() == 4
    })
    .await;
    let d = rx.bodies()[3]["data"].clone();
    assert_eq!(
        (d["status"].as_i64(), d["basketID"].as_str()),
        (Some(99), Some(id.as_str()))
    );
    assert!(!sim.void(&id));

    // Manual: nothing happens until the control call.
    sim.set_device_outcome(DeviceOutcome::Manual);
    let id = uuid();
    assert_eq!(post_instant(&c, &sim, &tok, basket(&id)).await.http, 201);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sim.basket(&id).unwrap().state, BasketState::Open);
    assert!(sim.cancel(&id));
    assert_eq!(sim.basket(&id).unwrap().state, BasketState::Cancelled);
}

#[tokio::test]
async fn no_callback_no_webhook_polling_works() {
    let sim = start(fast());
    let c = client();
    let tok = token(&c, &sim, "cid-p").await;
    let id = uuid();
    assert_eq!(post_instant(&c, &sim, &tok, basket(&id)).await.http, 201);
    wait_for("completion", 3000, || {
        sim.basket(&id).unwrap().state == BasketState::Completed
    })
    .await;
    let r = call(
        &c,
        "GET",
        &format!("{}/v1/basket/{id}", sim.url()),
        Some(&tok),
        &[],
        None,
    )
    .await;
    assert_eq!(r.body["result"]["sale"]["status"], 0);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(sim.webhooks().is_empty());
}

#[tokio::test]
async fn faults_throttle_and_basket_5xx() {
    let sim = start(CloudConfig {
        device_outcome: DeviceOutcome::Manual,
        ..fast()
    });
    let c = client();
    let tok = token(&c, &sim, "cid-f").await;
    sim.set_faults(CloudFaults {
        throttle_next: 2,
        retry_after_secs: 3,
        ..CloudFaults::default()
    });
    let url = format!("{}/v1/client-settings", sim.url());
    for _ in 0..2 {
        let r = call(&c, "GET", &url, Some(&tok), &[], None).await;
        assert_eq!((r.http, r.status()), (429, 429));
        assert_eq!(r.headers["retry-after"], "3");
    }
    let r = call(&c, "GET", &url, Some(&tok), &[], None).await;
    assert_eq!(r.http, 200);
    assert_eq!(sim.faults().throttle_next, 0);
    // Auth is throttled too.
    sim.set_faults(CloudFaults {
        throttle_next: 1,
        ..CloudFaults::default()
    });
    let r = auth(&c, &sim, "cid-f", "x").await;
    assert_eq!(
        (r.http, r.headers["retry-after"].to_str().unwrap()),
        (429, "1")
    );

    // 500 without creating.
    sim.set_faults(CloudFaults {
        basket_post_5xx: 1,
        ..CloudFaults::default()
    });
    let id = uuid();
    let r = post_instant(&c, &sim, &tok, basket(&id)).await;
    assert_eq!((r.http, r.status()), (500, 500));
    assert!(sim.basket(&id).is_none());
    assert!(sim.baskets().is_empty());
    let r = call(
        &c,
        "GET",
        &format!("{}/v1/basket/{id}", sim.url()),
        Some(&tok),
        &[],
        None,
    )
    .await;
    assert_eq!(r.http, 404);

    // 500 after creating: the basket exists exactly once; a resend is 1007.
    sim.set_faults(CloudFaults {
        basket_post_5xx_after_create: 1,
        ..CloudFaults::default()
    });
    let r = post_instant(&c, &sim, &tok, basket(&id)).await;
    assert_eq!((r.http, r.status()), (500, 500));
    assert_eq!(sim.baskets().len(), 1);
    let r = call(
        &c,
        "GET",
        &format!("{}/v1/basket/{id}", sim.url()),
        Some(&tok),
        &[],
        None,
    )
    .await;
    assert_eq!((r.http, r.status()), (200, 0));
    let r = post_instant(&c, &sim, &tok, basket(&id)).await;
    assert_eq!((r.http, r.status()), (400, 1007));
    assert_eq!(sim.baskets().len(), 1);
    assert_eq!(sim.basket(&id).unwrap().creations, 2);
    let posts = sim.requests_to("POST", "/v1/instant-basket");
    assert_eq!(
        posts
            .iter()
            .map(|r| (r.http_status, r.api_status))
            .collect::<Vec<_>>(),
        [(500, Some(500)), (500, Some(500)), (400, Some(1007))]
    );
}

#[tokio::test]
async fn faults_auth() {
    let sim = start(fast());
    let c = client();
    sim.set_faults(CloudFaults {
        auth_5xx: 1,
        ..CloudFaults::default()
    });
    let r = auth(&c, &sim, "cid", "x").await;
    assert_eq!((r.http, r.status()), (503, 503));
    assert_eq!(auth(&c, &sim, "cid", "x").await.http, 200);
    sim.set_faults(CloudFaults {
        slow_auth: Duration::from_millis(300),
        ..CloudFaults::default()
    });
    let t0 = Instant::now();
    assert_eq!(auth(&c, &sim, "cid", "x").await.http, 200);
    assert!(t0.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn faults_webhooks_drop_duplicate_retry() {
    let sim = start(fast());
    let (rx, hook) = Receiver::start().await;
    let c = client();
    let tok = token(&c, &sim, "cid-w").await;
    register(&c, &sim, &tok, &hook).await;

    // Dropped: the basket completes, no attempt at all.
    sim.set_faults(CloudFaults {
        drop_webhooks: true,
        ..CloudFaults::default()
    });
    let id = uuid();
    assert_eq!(post_instant(&c, &sim, &tok, basket(&id)).await.http, 201);
    wait_for("completion", 3000, || {
        sim.basket(&id).unwrap().state == BasketState::Completed
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(sim.webhooks().is_empty());
    assert!(rx.got.lock().is_empty());

    // Duplicated: two deliveries of the same body.
    sim.set_faults(CloudFaults {
        duplicate_webhooks: true,
        ..CloudFaults::default()
    });
    let id = uuid();
    assert_eq!(post_instant(&c, &sim, &tok, basket(&id)).await.http, 201);
    wait_for("two deliveries", 3000, || rx.got.lock().len() == 2).await;
    let got = rx.got.lock().clone();
    assert_eq!(got[0].2, got[1].2);
    let hooks = sim.webhooks();
    assert_eq!(hooks.len(), 2);
    assert!(hooks
        .iter()
        .all(|h| h.attempt == 1 && h.basket_id == id && h.body == got[0].2));

    // Retried: 500, 500, then 200 → three attempts, with back-off.
    sim.set_faults(CloudFaults::default());
    rx.fail_first.store(2, Ordering::SeqCst);
    let id = uuid();
    assert_eq!(post_instant(&c, &sim, &tok, basket(&id)).await.http, 201);
    wait_for("three attempts", 3000, || rx.got.lock().len() == 5).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let hooks: Vec<_> = sim
        .webhooks()
        .into_iter()
        .filter(|h| h.basket_id == id)
        .collect();
    assert_eq!(
        hooks
            .iter()
            .map(|h| (h.attempt, h.response_status))
            .collect::<Vec<_>>(),
        [(1, Some(500)), (2, Some(500)), (3, Some(200))]
    );
    assert!(hooks[2].at - hooks[0].at >= Duration::from_millis(300));
    assert!(hooks.iter().all(|h| h.body == hooks[0].body));

    // Delayed.
    sim.set_faults(CloudFaults {
        webhook_delay: Duration::from_millis(300),
        ..CloudFaults::default()
    });
    let id = uuid();
    assert_eq!(post_instant(&c, &sim, &tok, basket(&id)).await.http, 201);
    wait_for("completion", 3000, || {
        sim.basket(&id).unwrap().state == BasketState::Completed
    })
    .await;
    let done = Instant::now();
    wait_for("delayed webhook", 3000, || rx.got.lock().len() == 6).await;
    assert!(done.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn receiver_down_retries_then_gives_up() {
    let sim = start(fast());
    let c = client();
    let tok = token(&c, &sim, "cid-x").await;
    // Nothing listens there.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", dead.local_addr().unwrap());
    drop(dead);
    register(&c, &sim, &tok, &url).await;
    sim.set_faults(CloudFaults {
        webhook_retries: 1,
        ..CloudFaults::default()
    });
    let id = uuid();
    assert_eq!(post_instant(&c, &sim, &tok, basket(&id)).await.http, 201);
    wait_for("two failed attempts", 3000, || sim.webhooks().len() == 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hooks = sim.webhooks();
    assert_eq!(hooks.len(), 2);
    assert!(hooks.iter().all(|h| h.response_status.is_none()));
}

#[tokio::test]
async fn connections_are_counted_and_stop_frees_the_port() {
    let sim = start(fast());
    let c = client();
    let tok = token(&c, &sim, "cid-c").await;
    let r = call(
        &c,
        "GET",
        &format!("{}/v1/client-settings", sim.url()),
        Some(&tok),
        &[],
        None,
    )
    .await;
    assert_eq!(r.http, 200);
    assert_eq!(
        sim.connections(),
        1,
        "two requests on one keep-alive client"
    );
    let other = client();
    let _ = call(
        &other,
        "GET",
        &format!("{}/v1/client-settings", sim.url()),
        Some(&tok),
        &[],
        None,
    )
    .await;
    assert_eq!(sim.connections(), 2);
    assert_eq!(sim.requests().len(), 3);

    let addr = sim.addr();
    sim.stop();
    std::net::TcpListener::bind(addr).expect("port free after stop");
}
