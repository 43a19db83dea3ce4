//! Writes seed inputs for the fuzz targets from the vendor vectors.
//!
//! Usage: `cargo run --release --features seeds --example make_seeds -- VECTORS_DIR OUT_DIR`
//! Creates OUT_DIR/{usb_default,usb_session,serial,cert}/ with one file per seed.

use okclink_wire::frame::encode_frame;
use okclink_wire::fuzzing::SESSION_KEY;
use okclink_wire::message::build_message;
use okclink_wire::pipeline::{compress, Key};
use okclink_sim::identity::DeviceIdentity;
use okclink_wire::DeviceModel;
use std::fs;
use std::path::Path;

fn write(out: &Path, target: &str, name: &str, data: &[u8]) {
    let dir = out.join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), data).unwrap();
}

/// `INPUT <hex>` lines of a behaviour file.
fn inputs(path: &Path) -> Vec<(String, Vec<u8>)> {
    let text = fs::read_to_string(path).unwrap();
    let mut name = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("NAME ") {
            name = n.split_whitespace().next().unwrap_or("x").to_string();
        } else if let Some(h) = line.strip_prefix("INPUT ") {
            out.push((name.clone(), hex::decode(h.trim()).unwrap()));
        }
    }
    out
}

/// A message whose values are bare zlib streams (what `fuzzing::reseal` encrypts).
fn zlib_only(tag: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    encode_frame(49, &compress(b""), &mut m);
    encode_frame(tag, &compress(payload), &mut m);
    encode_frame(50, &compress(b""), &mut m);
    m
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let vectors = Path::new(&args[1]);
    let out = Path::new(&args[2]);

    let mut serial_streams = Vec::new();
    for e in fs::read_dir(vectors).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".hex") || name.starts_with("captured") {
            continue;
        }
        let bytes = hex::decode(fs::read_to_string(&p).unwrap().trim()).unwrap();
        let stem = name.trim_end_matches(".hex");
        let target = if name.contains("sessionkey") {
            "usb_session"
        } else {
            "usb_default"
        };
        write(out, target, stem, &bytes);
        if name.starts_with("msg_") {
            serial_streams.push((stem.to_string(), bytes));
        }
    }
    for (n, b) in inputs(&vectors.join("decode_behaviour.txt")) {
        write(out, "usb_default", &format!("decode_{n}"), &b);
    }
    for (n, b) in inputs(&vectors.join("serial_reassembly_behaviour.txt")) {
        let mut s = vec![19u8];
        s.extend_from_slice(&b);
        write(out, "serial", &format!("reassembly_{n}"), &s);
    }
    // Serial streams: garbage + two messages, in pieces of 1, 7 and 64 bytes.
    for (i, (n, b)) in serial_streams.iter().enumerate() {
        let next = &serial_streams[(i + 1) % serial_streams.len()].1;
        for sel in [0u8, 6, 63] {
            let mut s = vec![sel, 0x12, 0x34, 0x00];
            s.extend_from_slice(b);
            s.extend_from_slice(next);
            write(out, "serial", &format!("stream_{n}_{sel}"), &s);
        }
    }
    // Bare zlib values: after `reseal` these reach the inflater.
    let basket = br#"{"basketID":"a123ca24","items":[{"name":"ILAC","price":1000}]}"#;
    write(out, "usb_default", "zlib_basket", &zlib_only(1, basket));
    write(out, "usb_session", "zlib_basket", &zlib_only(1, basket));
    write(out, "usb_default", "zlib_ok", &zlib_only(4, b"OK"));
    write(
        out,
        "usb_session",
        "two_data_tlvs",
        &two_data(&SESSION_KEY, b"{\"a\":1}", b"{\"b\":2}"),
    );

    // Certificates: the real X30TR payload, generated P-384 and RSA identities.
    let real = fs::read(vectors.join("dev_certificate_payload.json")).unwrap();
    write(out, "cert", "real_x30tr", &real);
    for (model, serial) in [
        (DeviceModel::X30tr, "AV0000000001"),
        (DeviceModel::T300tr, "AT0000000001"),
    ] {
        let id = DeviceIdentity::generate(model, serial).unwrap();
        write(out, "cert", &format!("gen_{model:?}"), &id.message);
        write(
            out,
            "cert",
            &format!("gen_{model:?}_tampered"),
            &id.tampered().message,
        );
    }
}

fn two_data(key: &Key, a: &[u8], b: &[u8]) -> Vec<u8> {
    let m1 = build_message(key, 3, a);
    let m2 = build_message(key, 9, b);
    // start + data(3) from m1, data(9) + end from m2.
    let mut m = m1[..m1.len() - 24].to_vec();
    m.extend_from_slice(&m2[24..]);
    m
}
