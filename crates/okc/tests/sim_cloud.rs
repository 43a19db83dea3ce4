//! `okc sim-cloud` as a process: the ready line, auth over plain HTTP/1.1, the control API.

use std::process::Command;

mod common;

fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    common::http(addr, method, path, headers, "")
}

#[test]
fn serves_the_cloud_until_killed() {
    let sim = common::serve(&[
        "sim-cloud",
        "--listen",
        "127.0.0.1:0",
        "--user",
        "me:pw",
        "--base",
        "/api",
    ]);
    let addr = sim.addr.clone();
    // me:pw in base64
    let (code, body) = http(
        &addr,
        "POST",
        "/api/v1/auth/token",
        &[("Authorization", "Basic bWU6cHc=")],
    );
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], 201);
    assert_eq!(v["result"]["tokenType"], "Bearer");
    let (code, _) = http(
        &addr,
        "POST",
        "/api/v1/auth/token",
        &[("Authorization", "Basic d3Jvbmc6cHc=")],
    );
    assert_eq!(code, 401);
    let (code, body) = http(&addr, "GET", "/api/_sim/requests", &[]);
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["path"], "/v1/auth/token");
    drop(sim);
}

#[test]
fn fuel_creates_an_order_listed_by_the_energy_api() {
    let sim = common::serve(&[
        "sim-cloud",
        "--listen",
        "127.0.0.1:0",
        "--fuel",
        "34ABC123:152340",
        "--complete-delay-ms",
        "manual",
    ]);
    let addr = sim.addr.clone();
    // Any credentials: any:thing in base64.
    let (code, body) = http(
        &addr,
        "POST",
        "/v1/auth/token",
        &[("Authorization", "Basic YW55OnRoaW5n")],
    );
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let bearer = format!("Bearer {}", v["result"]["accessToken"].as_str().unwrap());
    let (code, body) = http(
        &addr,
        "GET",
        "/v1/energy/orders?status=OPEN",
        &[("Authorization", &bearer), ("terminal-id", "VT00000000001")],
    );
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], 0);
    let list = v["result"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    let o = &list[0];
    assert_eq!(o["plate"], "34ABC123");
    assert_eq!(o["amount"], 152_340);
    assert_eq!(o["pumpNo"], 1);
    assert_eq!(o["state"], "OPEN");
    assert_eq!(o["productName"], "Motorin");
    // The forecourt's control API: the customer pays at the pump.
    let id = o["orderId"].as_str().unwrap();
    let (code, body) = common::http(
        &addr,
        "POST",
        &format!("/_sim/orders/{id}/pay-at-pump"),
        &[],
        "",
    );
    assert_eq!((code, body.as_str()), (200, r#"{"ok":true}"#));
    let (code, body) = common::http(
        &addr,
        "POST",
        "/_sim/pumps/2/fuel",
        &[],
        r#"{"plate": "06XYZ42", "litres": 10, "unitPrice": 4000}"#,
    );
    assert_eq!(code, 200, "{body}");
    let (_, body) = http(&addr, "GET", "/_sim/orders", &[]);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let states: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["state"].as_str().unwrap(), o["amount"].as_i64().unwrap()))
        .collect();
    assert_eq!(states, [("COMPLETED", 152_340), ("OPEN", 40_000)]);
    drop(sim);
}

#[test]
fn help_and_usage_errors() {
    let okc = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_okc"))
            .args(args)
            .output()
            .unwrap()
    };
    let h = okc(&["sim-cloud", "--help"]);
    assert!(h.status.success());
    assert!(String::from_utf8_lossy(&h.stdout).contains("/_sim/baskets/{id}/complete"));
    assert!(String::from_utf8_lossy(&h.stdout).contains("--fuel PLATE:AMOUNT_KURUS"));
    assert_eq!(okc(&["sim-cloud"]).status.code(), Some(1));
    assert_eq!(
        okc(&["sim-cloud", "--listen", "127.0.0.1:0", "--outcome", "x"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        okc(&["sim-cloud", "--listen", "256.0.0.1:1"]).status.code(),
        Some(7)
    );
    assert!(
        String::from_utf8_lossy(&okc(&["help"]).stderr).contains("sim-cloud")
            || String::from_utf8_lossy(&okc(&["help"]).stdout).contains("sim-cloud")
    );
}
