//! The API token, the refusal of a non-loopback address without one, CORS.

mod common;

use common::*;
use okclink_serve::{ServeConfig, Server};
use serde_json::{json, Value};

#[test]
fn a_non_loopback_address_without_a_token_is_refused() {
    let cfg = ServeConfig {
        listen: Some("0.0.0.0:0".into()),
        ..ServeConfig::default()
    };
    let e = Server::start(cfg).err().expect("refused");
    assert!(e.contains("without an API token"), "{e}");
    let cfg = ServeConfig {
        listen: Some("0.0.0.0:0".into()),
        token: Some("   ".into()),
        ..ServeConfig::default()
    };
    assert!(Server::start(cfg).is_err(), "a blank token is no token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_required_except_for_the_probes() {
    let s = start(json!({"token": "s3cret-token", "fiscal": {"transport": "sim"}}));
    let c = client();
    assert_eq!(
        c.get(url(&s, "/healthz")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        c.get(url(&s, "/readyz")).send().await.unwrap().status(),
        200
    );
    for path in [
        "/v1/status",
        "/events",
        "/",
        "/openapi.json",
        "/v1/fiscal/receipts",
    ] {
        let r = c.get(url(&s, path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let body = r.text().await.unwrap();
        assert!(!body.contains("s3cret"), "{body}");
        let p: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(p["code"], "unauthorized");
    }
    let wrong = c
        .get(url(&s, "/v1/status"))
        .bearer_auth("s3cret-toke")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let post = c
        .post(url(&s, "/v1/fiscal/baskets"))
        .bearer_auth("wrong")
        .json(&basket("t-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 401);
    let ok = c
        .get(url(&s, "/v1/status"))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let st = ok.text().await.unwrap();
    assert!(!st.contains("s3cret"), "{st}");
    // EventSource and the console page cannot send a header: ?token=.
    let r = c
        .get(url(&s, "/events?token=s3cret-token&lastEventId=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(r);
    assert_eq!(
        c.get(url(&s, "/?token=s3cret-token"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    stop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_only_for_the_configured_origins() {
    let s = start(json!({"cors_origins": ["http://pos.example:3000"]}));
    let c = client();
    let r = c
        .get(url(&s, "/v1/status"))
        .header("origin", "http://pos.example:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://pos.example:3000"
    );
    let r = c
        .get(url(&s, "/v1/status"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let pre = c
        .request(reqwest::Method::OPTIONS, url(&s, "/v1/fiscal/baskets"))
        .header("origin", "http://pos.example:3000")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, authorization",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    let allow = pre.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(allow.contains("authorization") && allow.contains("content-type"));
    let pre = c
        .request(reqwest::Method::OPTIONS, url(&s, "/v1/fiscal/baskets"))
        .header("origin", "http://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(pre.headers().get("access-control-allow-origin").is_none());
    stop(s);
}
