//! The `okc` command line, run as a process.

use std::process::{Command, Output};

use okclink_sim::{self as sim, SimConfig};
use serde_json::Value;

fn okc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_okc"))
        .args(args)
        .env_remove("OKC_TRANSPORT")
        .output()
        .expect("runs okc")
}

fn text(o: &Output) -> String {
    format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json_lines(o: &Output) -> Vec<Value> {
    String::from_utf8(o.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn demo_sells_and_exits_zero() {
    let o = okc(&["demo"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("demo OK"), "{out}");
    assert!(out.contains("Kredi Kartı"), "{out}");
    assert!(out.contains("status 0"), "{out}");
}

#[test]
fn demo_json_and_300tr() {
    let o = okc(&["demo", "--json", "--model", "300tr"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = json_lines(&o);
    let steps: Vec<&str> = lines.iter().filter_map(|l| l["step"].as_str()).collect();
    assert_eq!(
        steps,
        [
            "simulator",
            "create",
            "connect",
            "fiscal-info",
            "sendBasket",
            "sendPayment",
            "receipt",
            "close"
        ]
    );
    let r = lines.iter().find(|l| l["step"] == "receipt").unwrap();
    assert_eq!(r["receipt"]["status"], 0);
    assert_eq!(r["receipt"]["paymentItems"][0]["description"], "Nakit");
    let c = lines.iter().find(|l| l["step"] == "connect").unwrap();
    assert_eq!(c["index"], 1);
}

#[test]
fn tools_against_a_tcp_simulator() {
    let server = sim::serve_tcp("127.0.0.1:0", SimConfig::x30tr()).unwrap();
    let t = format!("tcp://{}", server.local_addr());

    let o = okc(&["fiscal-info", "--transport", &t, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = json_lines(&o);
    let fi = lines.iter().find(|l| l["step"] == "fiscal-info").unwrap();
    assert_eq!(fi["fiscal_info"]["pluCount"], 5);

    let dir = std::env::temp_dir().join(format!("okc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let basket = dir.join("basket.json");
    std::fs::write(
        &basket,
        r#"{"basketID":"cli-1","items":[{"name":"SU","price":500,"quantity":1000,"sectionNo":1}],"paymentItems":[{"amount":500,"description":"Nakit","type":1}]}"#,
    )
    .unwrap();
    let o = okc(&["send-basket", basket.to_str().unwrap(), "--transport", &t]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("status 0"));
    assert_eq!(server.sales_count(), 1);

    // A rejected basket (no items) → exit 3 with the device's text.
    std::fs::write(&basket, r#"{"basketID":"cli-2","items":[]}"#).unwrap();
    let o = okc(&["send-basket", basket.to_str().unwrap(), "--transport", &t]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("Sepette ürün yok"), "{}", text(&o));

    // Bad input → 6, before any connection.
    std::fs::write(&basket, "{not json").unwrap();
    let o = okc(&["send-basket", basket.to_str().unwrap(), "--transport", &t]);
    assert_eq!(o.status.code(), Some(6), "{}", text(&o));

    // watch prints the state event; OKC_TRANSPORT is honoured.
    let o = Command::new(env!("CARGO_BIN_EXE_okc"))
        .args(["watch", "--json", "--duration-ms", "1500"])
        .env("OKC_TRANSPORT", &t)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = json_lines(&o);
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "deviceState" && l["connected"] == true),
        "{}",
        text(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exit_codes() {
    // Nothing listens on this port (bound then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = format!("tcp://127.0.0.1:{port}");
    let o = okc(&["fiscal-info", "--transport", &t, "--connect-ms", "300"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(okc(&["frobnicate"]).status.code(), Some(1));
    assert_eq!(okc(&["demo", "--bogus"]).status.code(), Some(1));
    assert_eq!(
        okc(&["fiscal-info", "--transport", "ftp://x"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(okc(&["sim", "--bogus"]).status.code(), Some(1));
    let sh = okc(&["sim", "--help"]);
    assert_eq!(sh.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&sh.stdout).contains("--listen"));
    let h = okc(&["--help"]);
    assert_eq!(h.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&h.stdout).contains("okc demo"));
}

#[test]
fn decode_and_encode_commands() {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data");
    let basket = shared.join("protocol/vectors/msg_host_basket_type1_sessionkey.hex");
    let o = okc(&[
        "decode",
        &format!("@{}", basket.display()),
        "--key",
        "00115663341140995977338038486879",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("tag 1 (basket) len 192 crc db0d ok"), "{out}");
    assert!(
        out.contains(r#"\"basketID\":\"a123ca24-ca2c-401c-8134-f0de2ec25c25\""#),
        "{out}"
    );
    // encode reproduces the vendor's hello byte for byte.
    let o = okc(&[
        "encode",
        "--type",
        "4",
        "--key",
        "default",
        "--payload",
        "asdfg",
    ]);
    assert!(o.status.success());
    let hello = std::fs::read_to_string(
        shared.join("protocol/vectors/msg_host_hello_type4_asdfg_defaultkey.hex"),
    )
    .unwrap();
    assert_eq!(String::from_utf8(o.stdout).unwrap().trim(), hello.trim());
    // Bad input: exit code 6 and a message.
    let o = okc(&["decode", "zz-not-hex"]);
    assert_eq!(o.status.code(), Some(6));
    assert!(!o.stderr.is_empty());
}
