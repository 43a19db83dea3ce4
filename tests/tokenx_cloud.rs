#![cfg(feature = "tokenx")]
//! The TokenX Connect cloud back end end to end over loopback against the cloud simulator
//! (`okclink_sim::CloudSim`): the same `Hub` API as on a cable, with only the transport
//! changed. Every "one basket, one callback" claim is checked on the simulator's own request
//! log and webhook log, not on our client's view.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use okclink::config::{Secret, TokenxTarget};
use okclink::hub::{Config, Hub, HubError, SendOutcome, TransportSpec};
use okclink_sim::{CloudConfig, CloudFaults, CloudSim, DeviceOutcome};
use serde_json::Value;

const TERMINAL: &str = "AV00000000001";
const HOOK_AUTH: &str = "Bearer hook-secret-42";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What the hub's callbacks saw.
struct Seen {
    data: Receiver<(i32, String)>,
    states: Arc<Mutex<Vec<(bool, String)>>>,
}

impl Seen {
    fn sale(&self, wait: Duration) -> Value {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.data.recv_timeout(left) {
                Ok((3, v)) => return serde_json::from_str(&v).expect("sale info is JSON"),
                Ok(_) => {}
                Err(e) => panic!("no sale info within {wait:?}: {e}"),
            }
        }
    }

    /// Every further data callback within `wait`.
    fn more(&self, wait: Duration) -> Vec<(i32, String)> {
        let deadline = Instant::now() + wait;
        let mut v = Vec::new();
        while let Ok(x) = self
            .data
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            v.push(x);
        }
        v
    }
}

#[derive(Clone, Copy)]
struct Opts {
    webhook: bool,
    poll_after: Option<Duration>,
}

/// A webhook receiver, default polling delay.
const WEBHOOK: Opts = Opts {
    webhook: true,
    poll_after: None,
};
/// No receiver, default polling delay.
const POLLING: Opts = Opts {
    webhook: false,
    poll_after: None,
};

/// Poll `ms` after a basket (with or without a receiver).
fn poll_after(webhook: bool, ms: u64) -> Opts {
    Opts {
        webhook,
        poll_after: Some(Duration::from_millis(ms)),
    }
}

/// A fresh folder for a hub's log file.
fn log_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("okc-tokenx-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn config(sim: &CloudSim, o: &Opts) -> (Config, Option<u16>) {
    let mut c = Config::new("Test Ltd");
    c.log_dir = None;
    let target: TokenxTarget = format!("tokenx+{}?terminal-id={TERMINAL}", sim.url())
        .parse()
        .unwrap();
    c.transports = vec![TransportSpec::Tokenx(target)];
    c.tokenx.client_id = "integrator-1".into();
    c.tokenx.client_secret = Secret::new("integrator-secret");
    c.tokenx.poll_after = o.poll_after;
    let mut port = None;
    if o.webhook {
        let p = free_port();
        port = Some(p);
        c.tokenx.webhook_listen = Some(format!("127.0.0.1:{p}"));
        c.tokenx.callback_url = Some(format!("http://127.0.0.1:{p}/tokenx/hook"));
        c.tokenx.callback_auth = Some(Secret::new(HOOK_AUTH));
    }
    (c, port)
}

fn attach(hub: &Hub) -> Seen {
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    hub.set_serial_in_callback(Some(Box::new(move |t, v| {
        let _ = tx.lock().unwrap().send((t, v.to_string()));
    })));
    let states = Arc::new(Mutex::new(Vec::new()));
    let s2 = states.clone();
    hub.set_device_state_callback(Some(Box::new(move |c, s| {
        s2.lock().unwrap().push((c, s.to_string()));
    })));
    Seen { data: rx, states }
}

fn start(sim: &CloudSim, o: Opts) -> (Hub, Seen, Option<u16>) {
    let (c, port) = config(sim, &o);
    let hub = Hub::new(c).expect("hub");
    let seen = attach(&hub);
    assert_eq!(
        hub.wait_connected(Duration::from_secs(10)).as_deref(),
        Some(TERMINAL)
    );
    (hub, seen, port)
}

fn basket(id: &str) -> String {
    format!(
        r#"{{"basketID":"{id}","items":[{{"name":"ÇAY","price":1500,"quantity":1000,"sectionNo":1,"taxPercent":1000,"type":0}}],"paymentItems":[{{"amount":1500,"description":"Nakit","type":1}}]}}"#
    )
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn sim(f: impl FnOnce(&mut CloudConfig)) -> CloudSim {
    let mut c = CloudConfig {
        device_delay: Duration::from_millis(100),
        ..CloudConfig::default()
    };
    f(&mut c);
    CloudSim::start(c, "127.0.0.1:0").expect("cloud simulator")
}

fn posts(sim: &CloudSim) -> usize {
    sim.requests_to("POST", "/v1/instant-basket").len()
}

/// Wait until `f` holds (the simulator's logs are written by its own threads).
fn eventually(what: &str, wait: Duration, f: impl Fn() -> bool) {
    let deadline = Instant::now() + wait;
    while !f() {
        assert!(Instant::now() < deadline, "not within {wait:?}: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_sale_through_the_cloud_with_the_webhook() {
    let sim = sim(|_| {});
    let logs = log_dir("sale");
    let (mut c, port) = config(&sim, &WEBHOOK);
    c.log_dir = Some(logs.clone());
    c.log_level = okclink::hub::LogLevel::Debug;
    let hub = Hub::new(c).unwrap();
    let seen = attach(&hub);
    assert_eq!(
        hub.wait_connected(Duration::from_secs(10)).as_deref(),
        Some(TERMINAL)
    );
    let id = uuid();
    assert_eq!(hub.send_basket(&basket(&id)), Ok(SendOutcome::Accepted));
    let sale = seen.sale(Duration::from_secs(10));
    assert_eq!(sale["basketID"], id.as_str());
    assert_eq!(sale["status"], 0);
    assert!(sale["receiptNo"].as_i64().unwrap() >= 1);
    assert_eq!(sale["paymentItems"][0]["amount"].as_f64(), Some(1500.0));
    // The simulator's view: one basket, registered webhook, one delivery answered 200 with
    // the configured Authorization, no poll (the webhook came first).
    assert_eq!(posts(&sim), 1);
    let b = sim.basket(&id).unwrap();
    assert_eq!(b.creations, 1);
    assert_eq!(b.terminal_id.as_deref(), Some(TERMINAL));
    let settings = sim.requests_to("POST", "/v1/client-settings");
    assert_eq!(settings.len(), 1);
    let body: Value = serde_json::from_str(&settings[0].body).unwrap();
    assert_eq!(
        body["callbackUrl"],
        format!("http://127.0.0.1:{}/tokenx/hook", port.unwrap())
    );
    assert_eq!(body["callbackAuthHeader"], HOOK_AUTH);
    eventually("the delivery is logged", Duration::from_secs(5), || {
        !sim.webhooks().is_empty()
    });
    let hooks = sim.webhooks();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!(hooks[0].authorization.as_deref(), Some(HOOK_AUTH));
    assert_eq!(hooks[0].response_status, Some(200));
    assert_eq!(sim.requests_to("GET", "/v1/basket/").len(), 0);
    // Every API call carried the bearer token and the terminal header where it belongs.
    let post = &sim.requests_to("POST", "/v1/instant-basket")[0];
    assert!(post.header("authorization").unwrap().starts_with("Bearer "));
    assert_eq!(post.header("terminal-id"), Some(TERMINAL));
    assert_eq!(post.header("branch-id"), None);
    hub.close();
    let states = seen.states.lock().unwrap().clone();
    assert_eq!(states.first(), Some(&(true, TERMINAL.to_string())));
    // The log tells what happened and never holds a credential.
    let mut text = String::new();
    for e in std::fs::read_dir(&logs).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "log") {
            text.push_str(&std::fs::read_to_string(p).unwrap());
        }
    }
    assert!(text.contains(&format!("basket {id}: accepted")), "{text}");
    assert!(
        text.contains(&format!("basket {id}: result by webhook, delivered")),
        "{text}"
    );
    for secret in ["integrator-secret", "hook-secret-42", "Basic ", "eyJ"] {
        assert!(!text.contains(secret), "{secret} in the log:\n{text}");
    }
    let _ = std::fs::remove_dir_all(&logs);
}

#[test]
fn fiscal_info_has_the_wired_shape() {
    let sim = sim(|_| {});
    let (hub, _seen, _) = start(&sim, POLLING);
    let fi: Value = serde_json::from_str(&hub.fiscal_info(None).unwrap()).unwrap();
    let sections = fi["sections"].as_array().unwrap();
    assert!(!sections.is_empty());
    assert_eq!(fi["sectionCount"].as_u64(), Some(sections.len() as u64));
    assert_eq!(
        fi["pluCount"].as_u64(),
        Some(fi["plus"].as_array().unwrap().len() as u64)
    );
    for s in sections {
        assert!(s.get("plus").is_none(), "sections lose their plus: {s}");
        assert!(s["taxPercent"].is_i64() && s["sectionNo"].is_i64(), "{s}");
    }
    for p in fi["plus"].as_array().unwrap() {
        assert!(p["sectionNo"].is_i64(), "{p}");
    }
    assert!(fi["receiptLimit"].is_i64());
    assert!(fi["currencies"].is_array());
    assert_eq!(hub.last_fiscal_info(), fi.to_string());
    let asked = sim.requests_to("GET", "/v1/fiscal-parameters");
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].header("terminal-id"), Some(TERMINAL));
    hub.close();
}

#[test]
fn without_a_webhook_results_come_by_polling() {
    let sim = sim(|_| {});
    let (hub, seen, _) = start(&sim, poll_after(false, 300));
    let id = uuid();
    assert_eq!(hub.send_basket(&basket(&id)), Ok(SendOutcome::Accepted));
    assert_eq!(seen.sale(Duration::from_secs(10))["basketID"], id.as_str());
    assert!(seen.more(Duration::from_millis(500)).is_empty());
    assert_eq!(posts(&sim), 1);
    assert!(sim.requests_to("POST", "/v1/client-settings").is_empty());
    let polls = sim.requests_to("GET", &format!("/v1/basket/{id}"));
    // First poll after 300 ms finds it finished (device 100 ms): one or two polls, then none.
    assert!((1..=2).contains(&polls.len()), "{} polls", polls.len());
    hub.close();
}

#[test]
fn a_dropped_webhook_is_replaced_by_a_poll_once() {
    let sim = sim(|c| c.faults.drop_webhooks = true);
    let (hub, seen, _) = start(&sim, poll_after(true, 300));
    let id = uuid();
    assert_eq!(hub.send_basket(&basket(&id)), Ok(SendOutcome::Accepted));
    assert_eq!(seen.sale(Duration::from_secs(10))["basketID"], id.as_str());
    assert!(seen.more(Duration::from_millis(500)).is_empty());
    assert!(sim.webhooks().is_empty());
    assert_eq!(posts(&sim), 1);
    hub.close();
}

#[test]
fn a_duplicate_webhook_gives_one_callback() {
    let sim = sim(|c| c.faults.duplicate_webhooks = true);
    let (hub, seen, _) = start(&sim, WEBHOOK);
    let id = uuid();
    assert_eq!(hub.send_basket(&basket(&id)), Ok(SendOutcome::Accepted));
    assert_eq!(seen.sale(Duration::from_secs(10))["basketID"], id.as_str());
    eventually("two deliveries", Duration::from_secs(5), || {
        sim.webhooks()
            .iter()
            .filter(|w| w.response_status == Some(200))
            .count()
            == 2
    });
    assert!(seen.more(Duration::from_millis(300)).is_empty());
    assert_eq!(posts(&sim), 1);
    hub.close();
}

#[test]
fn a_webhook_after_the_poll_delivered_is_not_delivered_again() {
    // The webhook waits 3 s; the first poll (300 ms) or, on a slow machine, the second
    // (2.3 s) finds the result first.
    let sim = sim(|c| c.faults.webhook_delay = Duration::from_millis(3000));
    let (hub, seen, _) = start(&sim, poll_after(true, 300));
    let id = uuid();
    assert_eq!(hub.send_basket(&basket(&id)), Ok(SendOutcome::Accepted));
    assert_eq!(seen.sale(Duration::from_secs(10))["basketID"], id.as_str());
    assert!(sim.webhooks().is_empty(), "the poll came first");
    eventually("the late webhook", Duration::from_secs(8), || {
        sim.webhooks()
            .iter()
            .any(|w| w.response_status == Some(200))
    });
    assert!(seen.more(Duration::from_millis(300)).is_empty());
    hub.close();
}

#[test]
fn a_refused_webhook_is_retried_by_the_cloud_and_the_poll_delivers_once() {
    let sim = sim(|c| c.device_outcome = DeviceOutcome::Manual);
    let (hub, seen, port) = start(&sim, poll_after(true, 1500));
    // Someone registers the right URL with a wrong Authorization: our receiver must refuse
    // every delivery (401) and deliver nothing; the cloud retries.
    let cloud = okclink::fiscal::tokenx::Cloud::from_config(&config(&sim, &POLLING).0).unwrap();
    cloud
        .call(&okclink::fiscal::tokenx::api::Op::SetClientSettings {
            callback_url: format!("http://127.0.0.1:{}/tokenx/hook", port.unwrap()),
            callback_auth: "Bearer wrong".into(),
        })
        .unwrap();
    let id = uuid();
    assert_eq!(hub.send_basket(&basket(&id)), Ok(SendOutcome::Accepted));
    assert!(sim.complete(&id));
    eventually("retries", Duration::from_secs(10), || {
        sim.webhooks().len() >= 2
    });
    let sale = seen.sale(Duration::from_secs(10));
    assert_eq!(sale["basketID"], id.as_str());
    let hooks = sim.webhooks();
    assert!(
        hooks.iter().all(|w| w.response_status == Some(401)),
        "{hooks:?}"
    );
    assert!(seen.more(Duration::from_millis(300)).is_empty());
    hub.close();
}

#[test]
fn throttling_is_waited_out_and_sends_one_basket() {
    let sim = sim(|_| {});
    let (hub, seen, _) = start(&sim, WEBHOOK);
    sim.set_faults(CloudFaults {
        throttle_next: 2,
        retry_after_secs: 1,
        ..CloudFaults::default()
    });
    let id = uuid();
    let t = Instant::now();
    assert_eq!(hub.send_basket(&basket(&id)), Ok(SendOutcome::Accepted));
    // Retry-After: 1 s, twice.
    assert!(t.elapsed() >= Duration::from_secs(2), "{:?}", t.elapsed());
    let statuses: Vec<u16> = sim
        .requests_to("POST", "/v1/instant-basket")
        .iter()
        .map(|r| r.http_status)
        .collect();
    assert_eq!(statuses, [429, 429, 201]);
    assert_eq!(sim.basket(&id).unwrap().creations, 1);
    assert_eq!(seen.sale(Duration::from_secs(10))["basketID"], id.as_str());
    hub.close();
}

#[test]
fn a_5xx_without_creation_is_checked_then_sent_again_with_the_same_id() {
    let sim = sim(|_| {});
    let (hub, seen, _) = start(&sim, WEBHOOK);
    sim.set_faults(CloudFaults {
        basket_post_5xx: 1,
        ..CloudFaults::default()
    });
    let id = uuid();
    assert_eq!(hub.send_basket(&basket(&id)), Ok(SendOutcome::Accepted));
    let log: Vec<(String, String, u16)> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("basket"))
        .map(|r| (r.method, r.path, r.http_status))
        .collect();
    let get = format!("/v1/basket/{id}");
    assert_eq!(
        log,
        [
            ("POST".into(), "/v1/instant-basket".into(), 500),
            ("GET".into(), get, 404),
            ("POST".into(), "/v1/instant-basket".into(), 201),
        ]
    );
    let bodies: Vec<Value> = sim
        .requests_to("POST", "/v1/instant-basket")
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert_eq!(bodies[0]["basketID"], bodies[1]["basketID"]);
    assert_eq!(sim.basket(&id).unwrap().creations, 1);
    assert_eq!(seen.sale(Duration::from_secs(10))["basketID"], id.as_str());
    assert!(seen.more(Duration::from_millis(300)).is_empty());
    hub.close();
}

#[test]
fn a_5xx_after_creation_is_checked_and_never_sent_again() {
    let sim = sim(|_| {});
    let (hub, seen, _) = start(&sim, WEBHOOK);
    sim.set_faults(CloudFaults {
        basket_post_5xx_after_create: 1,
        ..CloudFaults::default()
    });
    let id = uuid();
    assert_eq!(hub.send_basket(&basket(&id)), Ok(SendOutcome::Accepted));
    assert_eq!(posts(&sim), 1);
    assert_eq!(sim.requests_to("GET", &format!("/v1/basket/{id}")).len(), 1);
    assert_eq!(sim.basket(&id).unwrap().creations, 1);
    assert_eq!(seen.sale(Duration::from_secs(10))["basketID"], id.as_str());
    assert!(seen.more(Duration::from_millis(300)).is_empty());
    assert_eq!(posts(&sim), 1);
    hub.close();
}

#[test]
fn token_expiry_mid_run_reauthenticates_once() {
    let sim = sim(|_| {});
    let (hub, seen, _) = start(&sim, WEBHOOK);
    let a = uuid();
    assert_eq!(hub.send_basket(&basket(&a)), Ok(SendOutcome::Accepted));
    seen.sale(Duration::from_secs(10));
    let auths = sim.requests_to("POST", "/v1/auth/token").len();
    sim.expire_tokens();
    let b = uuid();
    assert_eq!(hub.send_basket(&basket(&b)), Ok(SendOutcome::Accepted));
    assert_eq!(seen.sale(Duration::from_secs(10))["basketID"], b.as_str());
    assert_eq!(sim.requests_to("POST", "/v1/auth/token").len(), auths + 1);
    let statuses: Vec<(u16, Option<i64>)> = sim
        .requests_to("POST", "/v1/instant-basket")
        .iter()
        .map(|r| (r.http_status, r.api_status))
        .collect();
    assert_eq!(statuses, [(201, Some(0)), (401, Some(2)), (201, Some(0))]);
    assert_eq!(sim.basket(&b).unwrap().creations, 1);
    hub.close();
}

#[test]
fn a_hundred_concurrent_calls_with_an_expired_token_authenticate_once() {
    let sim = sim(|_| {});
    let (hub, _seen, _) = start(&sim, POLLING);
    let hub = Arc::new(hub);
    let auths = sim.requests_to("POST", "/v1/auth/token").len();
    sim.expire_tokens();
    let threads: Vec<_> = (0..100)
        .map(|_| {
            let h = hub.clone();
            std::thread::spawn(move || h.fiscal_info(Some(Duration::from_secs(20))))
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap().is_ok());
    }
    assert_eq!(sim.requests_to("POST", "/v1/auth/token").len(), auths + 1);
    hub.close();
}

#[test]
fn slow_and_failing_auth_still_connects() {
    let sim = sim(|c| {
        c.faults.auth_5xx = 1;
        c.faults.slow_auth = Duration::from_millis(300);
    });
    let (hub, seen, _) = start(&sim, poll_after(false, 200));
    let auth: Vec<u16> = sim
        .requests_to("POST", "/v1/auth/token")
        .iter()
        .map(|r| r.http_status)
        .collect();
    assert_eq!(auth, [503, 200]);
    let id = uuid();
    assert_eq!(hub.send_basket(&basket(&id)), Ok(SendOutcome::Accepted));
    assert_eq!(seen.sale(Duration::from_secs(10))["basketID"], id.as_str());
    // Credentials travel only in the auth call's Basic header.
    for r in sim.requests() {
        assert!(!r.body.contains("integrator-secret"));
    }
    hub.close();
}

#[test]
fn cancel_and_void_on_the_device_arrive_as_sale_infos() {
    let sim = sim(|c| c.device_outcome = DeviceOutcome::Cancel);
    let (hub, seen, _) = start(&sim, WEBHOOK);
    let a = uuid();
    hub.send_basket(&basket(&a)).unwrap();
    let s = seen.sale(Duration::from_secs(10));
    assert_eq!(
        (s["basketID"].as_str(), s["status"].as_i64()),
        (Some(&*a), Some(-1))
    );
    sim.set_device_outcome(DeviceOutcome::Void);
    let b = uuid();
    hub.send_basket(&basket(&b)).unwrap();
    let s = seen.sale(Duration::from_secs(10));
    assert_eq!(
        (s["basketID"].as_str(), s["status"].as_i64()),
        (Some(&*b), Some(99))
    );
    assert_eq!(s["receiptNo"], -1);
    hub.close();
}

#[test]
fn refusals_carry_the_clouds_code_and_nothing_is_sent_twice() {
    let sim = sim(|c| c.device_outcome = DeviceOutcome::Manual);
    let (hub, seen, _) = start(&sim, WEBHOOK);
    let a = uuid();
    assert_eq!(hub.send_basket(&basket(&a)), Ok(SendOutcome::Accepted));
    // The same basket again while it is open: not sent again.
    assert_eq!(hub.send_basket(&basket(&a)), Ok(SendOutcome::Accepted));
    assert_eq!(posts(&sim), 1);
    // A second basket while one is open on the terminal: 1100.
    match hub.send_basket(&basket(&uuid())) {
        Err(HubError::Rejected {
            http,
            code,
            message,
        }) => {
            assert_eq!((http, code), (400, 1100));
            assert!(message.contains("already an open basket"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Payments belong into the basket on the cloud.
    assert!(matches!(
        hub.send_payment(r#"{"amount":1,"type":1}"#),
        Err(HubError::Unsupported(_))
    ));
    assert!(sim.complete(&a));
    assert_eq!(seen.sale(Duration::from_secs(10))["basketID"], a.as_str());
    // After the result: still not sent again.
    assert_eq!(hub.send_basket(&basket(&a)), Ok(SendOutcome::Accepted));
    assert_eq!(posts(&sim), 2);
    hub.close();
    // A new process (no memory) re-sending it gets 1007: accepted, no second basket, and
    // the result it never saw is delivered to it (once).
    let (hub, seen, _) = start(&sim, poll_after(false, 100));
    assert_eq!(hub.send_basket(&basket(&a)), Ok(SendOutcome::Accepted));
    assert_eq!(
        sim.requests_to("POST", "/v1/instant-basket")
            .last()
            .unwrap()
            .api_status,
        Some(1007)
    );
    // `creations` counts the POSTs that carried the id: the creation and this 1007.
    assert_eq!(sim.basket(&a).unwrap().creations, 2);
    assert_eq!(sim.baskets().iter().filter(|b| b.id == a).count(), 1);
    assert_eq!(seen.sale(Duration::from_secs(10))["basketID"], a.as_str());
    assert!(seen.more(Duration::from_millis(400)).is_empty());
    hub.close();
}

#[test]
fn a_basket_without_an_id_gets_one() {
    let sim = sim(|_| {});
    let (hub, seen, _) = start(&sim, WEBHOOK);
    let b = r#"{"items":[{"name":"SU","price":500,"quantity":1000,"sectionNo":1,"taxPercent":1000,"type":0}],"paymentItems":[]}"#;
    assert_eq!(hub.send_basket(b), Ok(SendOutcome::Accepted));
    let sent: Value =
        serde_json::from_str(&sim.requests_to("POST", "/v1/instant-basket")[0].body).unwrap();
    let id = sent["basketID"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    assert_eq!(seen.sale(Duration::from_secs(10))["basketID"], id.as_str());
    hub.close();
}

/// One HTTP/1.1 POST by hand (no client library between the test and the receiver).
fn post(port: u16, path: &str, auth: Option<&str>, body: &[u8]) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(a) = auth {
        req.push_str(&format!("Authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"))
}

#[test]
fn the_receiver_refuses_wrong_auth_malformed_and_oversize_bodies() {
    let sim = sim(|c| c.device_outcome = DeviceOutcome::Manual);
    let (hub, seen, port) = start(&sim, WEBHOOK);
    let port = port.unwrap();
    let id = uuid();
    hub.send_basket(&basket(&id)).unwrap();
    let good = format!(
        r#"{{"terminalId":"{TERMINAL}","clientId":"c","operation":"BASKET_COMPLETED","operationDate":"2025-03-10 08:42:18","data":{{"basketID":"{id}","status":0,"receiptNo":9,"zNo":1}}}}"#
    );
    let path = "/tokenx/hook";
    assert_eq!(post(port, path, None, good.as_bytes()), 401);
    assert_eq!(
        post(port, path, Some("Bearer hook-secret-4"), good.as_bytes()),
        401
    );
    assert_eq!(
        post(port, path, Some("bearer hook-secret-42"), good.as_bytes()),
        401
    );
    assert_eq!(post(port, "/other", Some(HOOK_AUTH), good.as_bytes()), 404);
    assert_eq!(post(port, path, Some(HOOK_AUTH), b"{not json"), 400);
    assert_eq!(post(port, path, Some(HOOK_AUTH), b"[]"), 400);
    assert_eq!(
        post(
            port,
            path,
            Some(HOOK_AUTH),
            br#"{"operation":"BASKET_COMPLETED","data":{"status":0}}"#
        ),
        400
    );
    let mut big = good.clone().into_bytes();
    big.truncate(big.len() - 1);
    big.extend(std::iter::repeat_n(b' ', 300 * 1024));
    big.push(b'}');
    assert_eq!(post(port, path, Some(HOOK_AUTH), &big), 413);
    // Another terminal's event is answered but not delivered.
    let other = good.replace(TERMINAL, "AV99999999999");
    assert_eq!(post(port, path, Some(HOOK_AUTH), other.as_bytes()), 200);
    assert!(seen.more(Duration::from_millis(300)).is_empty());
    // The right one is delivered, once, even when repeated.
    assert_eq!(post(port, path, Some(HOOK_AUTH), good.as_bytes()), 200);
    assert_eq!(post(port, path, Some(HOOK_AUTH), good.as_bytes()), 200);
    let s = seen.sale(Duration::from_secs(5));
    assert_eq!(
        (s["basketID"].as_str(), s["receiptNo"].as_i64()),
        (Some(&*id), Some(9))
    );
    assert!(seen.more(Duration::from_millis(300)).is_empty());
    hub.close();
}

#[test]
fn an_unreachable_cloud_is_reported_and_found_again() {
    let s = sim(|_| {});
    let addr = s.addr();
    let (hub, seen, _) = start(&s, POLLING);
    s.stop();
    assert_eq!(hub.fiscal_info(None), Err(HubError::NoDevice));
    eventually("(false, \"\")", Duration::from_secs(5), || {
        seen.states.lock().unwrap().last() == Some(&(false, String::new()))
    });
    assert_eq!(hub.active_device_index(), -1);
    assert_eq!(hub.send_basket(&basket(&uuid())), Ok(SendOutcome::NoDevice));
    let s2 = CloudSim::start(CloudConfig::default(), &addr.to_string()).unwrap();
    assert_eq!(
        hub.wait_connected(Duration::from_secs(15)).as_deref(),
        Some(TERMINAL)
    );
    assert_eq!(hub.active_device_index(), 0);
    eventually("(true, serial) again", Duration::from_secs(5), || {
        seen.states.lock().unwrap().len() >= 3
    });
    let states = seen.states.lock().unwrap().clone();
    assert_eq!(
        states,
        [
            (true, TERMINAL.to_string()),
            (false, String::new()),
            (true, TERMINAL.to_string())
        ]
    );
    hub.close();
    drop(s2);
}

#[test]
fn bad_configuration_is_refused_clearly() {
    let sim = sim(|_| {});
    let (mut c, _) = config(&sim, &POLLING);
    c.tokenx.client_secret = Secret::new("");
    match Hub::new(c) {
        Err(HubError::Config(m)) => assert!(m.contains("OKC_TOKENX_CLIENT_SECRET"), "{m}"),
        other => panic!("{:?}", other.err()),
    }
    // A port already taken by someone else.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let (mut c, _) = config(&sim, &WEBHOOK);
    c.tokenx.webhook_listen = Some(taken.local_addr().unwrap().to_string());
    match Hub::new(c) {
        Err(HubError::Config(m)) => assert!(m.contains("cannot listen"), "{m}"),
        other => panic!("{:?}", other.err()),
    }
}

#[test]
fn baskets_reuse_one_connection() {
    let sim = sim(|_| {});
    let mut c = Config::new("Test Ltd");
    c.log_dir = None;
    c.transports = vec![format!("tokenx+{}?branch-id=BR-0001", sim.url())
        .parse()
        .unwrap()];
    c.tokenx.client_id = "integrator-1".into();
    c.tokenx.client_secret = Secret::new("integrator-secret");
    let hub = Hub::new(c).unwrap();
    assert_eq!(
        hub.wait_connected(Duration::from_secs(10)).as_deref(),
        Some("BR-0001")
    );
    for i in 0..200 {
        assert_eq!(
            hub.send_basket(&basket(&format!("list-{i}"))),
            Ok(SendOutcome::Accepted)
        );
    }
    let posted = sim.requests_to("POST", "/v1/basket");
    assert_eq!(posted.len(), 200);
    assert!(posted
        .iter()
        .all(|r| r.header("branch-id") == Some("BR-0001") && r.header("terminal-id").is_none()));
    // Keep-alive: the auth, the terminal check and 200 baskets on one connection.
    assert!(sim.connections() <= 2, "{} connections", sim.connections());
    hub.close();
}

/// The journal after a crash (docs/JOURNAL.md): a basket the cloud finished while the POS
/// was down is asked about at start and its sale delivered; one the cloud never got becomes
/// "not sent" and may be sent again; neither is sent blindly.
#[test]
fn restart_reconciles_unfinished_baskets_with_the_cloud() {
    use okclink::journal::{Begin, Journal, Kind, State};
    let sim = sim(|_| {});
    let done = format!("jx-done-{}", uuid());
    let lost = format!("jx-lost-{}", uuid());
    // The sale the crashed process had sent (the cloud has it, finished).
    let (a, seen_a, _) = start(&sim, POLLING);
    assert_eq!(a.send_basket(&basket(&done)), Ok(SendOutcome::Accepted));
    assert_eq!(
        seen_a.sale(Duration::from_secs(10))["basketID"],
        done.as_str()
    );
    a.close();
    assert_eq!(posts(&sim), 1);
    // What that process's journal said when it died: both sent, no answer.
    let dir = log_dir("journal-restart");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("journal.sqlite");
    {
        let j = Journal::open(&path).unwrap();
        let scope = format!("tokenx:terminal:{TERMINAL}");
        for id in [&done, &lost] {
            let Begin::New(e) = j.begin(Kind::Basket, id, &scope, &basket(id)).unwrap() else {
                panic!("new");
            };
            j.mark_sent(e).unwrap();
        }
    }
    let (mut c, _) = config(&sim, &POLLING);
    c.journal = okclink::config::JournalSetting::Path(path.clone());
    let b = Hub::new(c).unwrap();
    let seen = attach(&b);
    assert_eq!(
        seen.sale(Duration::from_secs(10))["basketID"],
        done.as_str()
    );
    let j = Journal::open(&path).unwrap();
    eventually("reconciled", Duration::from_secs(10), || {
        j.get(Kind::Basket, &lost).unwrap().unwrap().state == State::NotSent
    });
    assert_eq!(
        j.get(Kind::Basket, &done).unwrap().unwrap().state,
        State::Answered
    );
    assert_eq!(posts(&sim), 1, "nothing sent blindly");
    assert_eq!(
        sim.requests_to("GET", &format!("/v1/basket/{lost}")).len(),
        1,
        "asked once"
    );
    // The finished one is answered from the journal; the lost one may go now.
    assert_eq!(b.send_basket(&basket(&done)), Ok(SendOutcome::Accepted));
    assert_eq!(posts(&sim), 1);
    assert_eq!(b.send_basket(&basket(&lost)), Ok(SendOutcome::Accepted));
    assert_eq!(
        seen.sale(Duration::from_secs(10))["basketID"],
        lost.as_str()
    );
    assert_eq!(posts(&sim), 2);
    assert!(seen.more(Duration::from_millis(300)).is_empty());
    b.close();
    let _ = std::fs::remove_dir_all(&dir);
}
