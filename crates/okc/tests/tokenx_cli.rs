//! The `okc` commands against `okc sim-cloud` as processes: a sale with
//! `okc send-basket --transport tokenx+http://…` (only the transport and the credentials in
//! the environment differ from a cable), `okc fiscal-info`, and the `okc tokenx` operations.
#![cfg(feature = "tokenx")]

use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::{serve, Server as Cloud};

fn cloud(extra: &[&str]) -> Cloud {
    let fixed = [
        "sim-cloud",
        "--listen",
        "127.0.0.1:0",
        "--user",
        "cid:secret",
    ];
    serve(&[&fixed[..], extra].concat())
}

fn okc(c: &Cloud, args: &[&str], secret: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_okc"))
        .args(args)
        .env(
            "OKC_TRANSPORT",
            format!("tokenx+http://{}?terminal-id=AV00000000001", c.addr),
        )
        .env("OKC_TOKENX_CLIENT_ID", "cid")
        .env("OKC_TOKENX_CLIENT_SECRET", secret)
        .env("OKC_TOKENX_POLL_AFTER_MS", "200")
        .env_remove("OKC_TOKENX_WEBHOOK_LISTEN")
        .env_remove("OKC_TOKENX_CALLBACK_URL")
        .output()
        .unwrap()
}

fn lines(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

fn basket_file(id: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("okc-tokenx-{id}.json"));
    std::fs::write(
        &p,
        format!(
            r#"{{"basketID":"{id}","items":[{{"name":"ÇAY","price":1500,"quantity":1000,"sectionNo":1,"taxPercent":1000,"type":0}}],"paymentItems":[{{"amount":1500,"description":"Nakit","type":1}}]}}"#
        ),
    )
    .unwrap();
    p
}

#[test]
fn a_sale_fiscal_info_and_the_cloud_operations_from_the_command_line() {
    let c = cloud(&["--device-delay-ms", "100"]);
    let id = "5a0c7a52-0d7e-4b1e-9a55-1f1f2f3f4f5f";
    let file = basket_file(id);
    let o = okc(
        &c,
        &["send-basket", file.to_str().unwrap(), "--json"],
        "secret",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = lines(&o);
    let receipt = out.last().unwrap();
    assert_eq!(receipt["receipt"]["basketID"], id, "{out:?}");
    assert_eq!(receipt["receipt"]["status"], 0, "{out:?}");
    assert!(
        out.iter().any(|l| l["serial"] == "AV00000000001"),
        "{out:?}"
    );

    let o = okc(&c, &["fiscal-info"], "secret");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let fi: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(fi["sectionCount"].as_u64().unwrap() > 0);

    let o = okc(&c, &["tokenx", "get", id], "secret");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let b: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(b["basketID"], id);
    assert_eq!(b["sale"]["status"], 0);

    let o = okc(&c, &["tokenx", "open-baskets"], "secret");
    assert!(o.status.success());
    assert_eq!(
        serde_json::from_slice::<Value>(&o.stdout).unwrap(),
        serde_json::json!([])
    );

    let o = okc(&c, &["tokenx", "terminal"], "secret");
    assert!(o.status.success());
    let t: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(t["terminalId"], "AV00000000001");

    let o = okc(
        &c,
        &[
            "tokenx",
            "settings",
            "--set",
            "http://127.0.0.1:9/hook",
            "--auth",
            "Bearer x",
        ],
        "secret",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = okc(&c, &["tokenx", "settings"], "secret");
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["callbackUrl"], "http://127.0.0.1:9/hook");

    // Refusals: a finished basket cannot be deleted (1105) → exit 3 with the cloud's text.
    let o = okc(&c, &["tokenx", "delete", id], "secret");
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("1105"), "{err}");

    // Wrong credentials: the auth call is refused (exit 3), and the secret is not printed.
    let o = okc(&c, &["tokenx", "auth"], "wrong-secret-xyz");
    assert_eq!(o.status.code(), Some(3));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!all.contains("wrong-secret-xyz"), "{all}");
    let o = okc(&c, &["tokenx", "frobnicate"], "secret");
    assert_eq!(o.status.code(), Some(1));
    std::fs::remove_file(file).ok();
}
