//! `okc decode` / `okc encode` logic (okc_cli::inspect) against the vendor vectors.

use okc_cli::inspect::{decode_command, decode_main, encode_command, parse_hex_dump, Failure};
use std::path::PathBuf;

const SESSION: &str = "00115663341140995977338038486879";
const BASKET: &str = r#"{"basketID":"a123ca24-ca2c-401c-8134-f0de2ec25c25","documentType":9008,"items":[{"name":"ILAC","price":1000,"quantity":1000,"sectionNo":2,"taxPercent":2000,"type":0}],"paymentItems":[{"amount":1000,"description":"Cash","type":1}]}"#;

fn vector(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/protocol/vectors")
        .join(name)
}

fn hex_of(name: &str) -> String {
    std::fs::read_to_string(vector(name))
        .unwrap()
        .trim()
        .to_string()
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[test]
fn decode_basket_with_session_key_shows_the_json() {
    let file = format!(
        "@{}",
        vector("msg_host_basket_type1_sessionkey.hex").display()
    );
    let out = decode_command(&args(&[&file, "--key", SESSION])).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[0].starts_with("#0 @0 tag 49 (start) len 16 crc a04d ok [given key, 0 bytes] \"\""),
        "{out}"
    );
    assert!(lines[1].starts_with("#1 @24 tag 1 (basket) len "), "{out}");
    assert!(
        lines[1].contains(&format!(" ok [given key, {} bytes] ", BASKET.len())),
        "{out}"
    );
    assert!(lines[1].ends_with(&format!("{BASKET:?}")), "{out}");
    assert!(
        lines[2].contains("tag 50 (end) len 16 crc ce76 ok"),
        "{out}"
    );
    assert_eq!(lines[3], "usb listener: accepted (1 data TLV)");
}

#[test]
fn decode_json_lines() {
    let hex = hex_of("msg_host_basket_type1_sessionkey.hex");
    let out = decode_command(&args(&[&hex, "--json", &format!("--key={SESSION}")])).unwrap();
    let v: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v.len(), 4);
    assert_eq!(v[0]["tag"], 49);
    assert_eq!(v[0]["crc"], "a04d");
    assert_eq!(v[0]["crc_ok"], true);
    assert_eq!(v[1]["tag"], 1);
    assert_eq!(v[1]["name"], "basket");
    assert_eq!(v[1]["key"], "given");
    assert_eq!(v[1]["text"], BASKET);
    assert_eq!(v[1]["offset"], 24);
    assert_eq!(v[2]["name"], "end");
    assert_eq!(v[3]["verdict"], "accepted");
}

#[test]
fn decode_falls_back_to_the_default_key_and_reports_bad_crc() {
    // Hello under the default key, decoded with a (wrong) session key given.
    let hex = hex_of("msg_host_hello_type4_asdfg_defaultkey.hex");
    let out = decode_command(&args(&[&hex, "--key", SESSION])).unwrap();
    assert!(
        out.contains("tag 4 (hello) len 16 crc c2e3 ok [default key, 5 bytes] \"asdfg\""),
        "{out}"
    );
    // One CRC byte changed: flagged, plaintext still shown.
    let mut bad = hex.clone();
    bad.replace_range(44..48, "d4fb");
    let out = decode_command(&args(&[&bad])).unwrap();
    assert!(out.contains("crc d4fb BAD (expected d5fb)"), "{out}");
    assert!(out.ends_with("usb listener: rejected: Not ending or starting with a valid TLV tag. Invalid or corrupted data.\n"), "{out}");
}

#[test]
fn decode_undecodable_and_binary_values() {
    // The certificate message under the default key with only the session key would fail,
    // but the fallback opens it: the value is JSON text.
    let hex = hex_of("msg_dev_certificate_type5_defaultkey.hex");
    let out = decode_command(&args(&[&hex, "--json"])).unwrap();
    let v: serde_json::Value = serde_json::from_str(out.lines().nth(1).unwrap()).unwrap();
    assert_eq!(v["name"], "certificate");
    assert!(v["text"].as_str().unwrap().contains("BEGIN CERTIFICATE"));
    // A session-key message without its key: nothing opens, which is a failure that asks
    // for --key and still carries the report.
    let hex = hex_of("msg_host_payment_type10_sessionkey.hex");
    let Err(Failure::Input {
        text,
        report: Some(out),
    }) = decode_main(&args(&[&hex]))
    else {
        panic!("a session-key message without --key must fail")
    };
    assert!(text.contains("pass --key"), "{text}");
    assert!(out.contains("tag 10 (payment)"));
    assert!(
        out.contains("[cannot decrypt/decompress with the key(s) tried]"),
        "{out}"
    );
    // Binary plaintext is shown as hex.
    let m = encode_command(&args(&["--type", "9", "--payload", "\u{1}\u{2}x"])).unwrap();
    let out = decode_command(&args(&[m.trim()])).unwrap();
    assert!(out.contains("[default key, 3 bytes] hex 010278"), "{out}");
}

#[test]
fn decode_accepts_dumps() {
    let hex = hex_of("msg_dev_hello_reply_type4_OK_defaultkey.hex");
    let bytes = hex::decode(&hex).unwrap();
    // Spaced, wrapped, 0x-prefixed.
    let spaced: String = bytes
        .chunks(16)
        .map(|c| c.iter().map(|b| format!("0x{b:02X}, ")).collect::<String>() + "\n")
        .collect();
    assert_eq!(parse_hex_dump(&spaced).unwrap(), bytes);
    // xxd.
    let xxd: String = bytes
        .chunks(16)
        .enumerate()
        .map(|(i, c)| {
            let groups: Vec<String> = c.chunks(2).map(hex::encode).collect();
            let ascii: String = c
                .iter()
                .map(|&b| {
                    if (0x20..0x7f).contains(&b) {
                        b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            format!("{:08x}: {:<40}  {ascii}\n", i * 16, groups.join(" "))
        })
        .collect();
    assert_eq!(parse_hex_dump(&xxd).unwrap(), bytes, "{xxd}");
    // hexdump -C.
    let hd: String = bytes
        .chunks(16)
        .enumerate()
        .map(|(i, c)| {
            let h: Vec<String> = c.iter().map(|b| format!("{b:02x}")).collect();
            format!("{:08x}  {}  |................|\n", i * 16, h.join(" "))
        })
        .collect();
    assert_eq!(parse_hex_dump(&hd).unwrap(), bytes, "{hd}");
    // Log lines.
    let log = format!(
        "[2025-06-30 10:16:08] [D] Serial: Received: {}\n[2025-06-30 10:16:08] [D] Serial: Received: {}\n",
        &hex[..40],
        &hex[40..]
    );
    assert_eq!(parse_hex_dump(&log).unwrap(), bytes);
    let out = decode_command(&args(&[&log])).unwrap();
    assert!(
        out.contains("tag 4 (hello) len 16 crc c35c ok [default key, 2 bytes] \"OK\""),
        "{out}"
    );
}

#[test]
fn decode_errors() {
    assert!(decode_command(&args(&[])).is_err());
    assert!(decode_command(&args(&["abc"]))
        .unwrap_err()
        .contains("odd number"));
    assert!(decode_command(&args(&["0031", "--key", "short"]))
        .unwrap_err()
        .contains("32 ASCII"));
    assert!(decode_command(&args(&["0031"]))
        .unwrap_err()
        .contains("no TLV"));
    assert!(decode_command(&args(&["@/nonexistent/file"])).is_err());
    // Truncated second TLV: the first is listed, the cut is reported.
    let hex = hex_of("msg_host_hello_type4_asdfg_defaultkey.hex");
    let out = decode_command(&args(&[&hex[..80]])).unwrap();
    assert!(out.contains("#0 @0 tag 49 (start)"), "{out}");
    assert!(
        out.contains("@24: truncated TLV: needs 24 bytes, 16 left"),
        "{out}"
    );
}

#[test]
fn encode_reproduces_vectors() {
    let basket_file =
        std::env::temp_dir().join(format!("okc-inspect-basket-{}.json", std::process::id()));
    std::fs::write(&basket_file, BASKET).unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            args(&["--type", "4", "--key", "default", "--payload", "asdfg"]),
            "msg_host_hello_type4_asdfg_defaultkey.hex",
        ),
        (
            args(&["--type", "6", "--payload", SESSION]),
            "msg_host_sharekey_type6_defaultkey.hex",
        ),
        (
            args(&[
                "--type=1",
                &format!("--key={SESSION}"),
                "--payload",
                &format!("@{}", basket_file.display()),
            ]),
            "msg_host_basket_type1_sessionkey.hex",
        ),
        (
            args(&["--type", "11", "--key", SESSION]),
            "msg_host_ack_request_type11_sessionkey.hex",
        ),
        (
            args(&[
                "--type",
                "10",
                "--key",
                SESSION,
                "--payload",
                r#"{"amount":6000,"description":"Nakit","type":1}"#,
            ]),
            "msg_host_payment_type10_sessionkey.hex",
        ),
    ];
    for (a, v) in cases {
        assert_eq!(
            encode_command(&a).unwrap(),
            format!("{}\n", hex_of(v)),
            "{v}"
        );
    }
    std::fs::remove_file(&basket_file).unwrap();
    assert!(encode_command(&args(&["--key", "default"]))
        .unwrap_err()
        .contains("--type"));
    assert!(encode_command(&args(&["--type", "70000"])).is_err());
    assert!(encode_command(&args(&["--type", "1", "--key", "x"])).is_err());
    assert!(encode_command(&args(&["--type", "1", "--bogus"])).is_err());
}
