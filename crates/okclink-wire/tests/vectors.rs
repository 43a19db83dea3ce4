//! Every vendor vector in tests/data/protocol decodes to its documented type and plaintext,
//! and every host message we build is byte-identical to the vendor's.

use okclink_wire::cert::{self, CertPolicy};
use okclink_wire::crc::crc16;
use okclink_wire::message::{accept_usb, build_message, build_tlv, decode_tlvs, text};
use okclink_wire::pipeline::{self, compress, Key};
use okclink_wire::serial::{SerialEvent, SerialReassembler};
use okclink_wire::DeviceModel;
use std::path::PathBuf;

const LIMIT: usize = 1 << 20;
const SESSION: Key = Key(*b"00115663341140995977338038486879");
const SEED1: Key = Key(*b"49790139120313363958436524820569");
const BASKET: &str = r#"{"basketID":"a123ca24-ca2c-401c-8134-f0de2ec25c25","documentType":9008,"items":[{"name":"ILAC","price":1000,"quantity":1000,"sectionNo":2,"taxPercent":2000,"type":0}],"paymentItems":[{"amount":1000,"description":"Cash","type":1}]}"#;

/// The repository's copy of the protocol vectors and samples (tests/data/README.md).
fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

fn vec_path(name: &str) -> PathBuf {
    shared().join("protocol/vectors").join(name)
}

fn hexfile(name: &str) -> Vec<u8> {
    hex::decode(std::fs::read_to_string(vec_path(name)).unwrap().trim()).unwrap()
}

fn text_file(name: &str) -> String {
    std::fs::read_to_string(vec_path(name)).unwrap()
}

fn cert_payload() -> Vec<u8> {
    std::fs::read(vec_path("dev_certificate_payload.json")).unwrap()
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(shared().join("protocol/samples").join(name)).unwrap()
}

/// (file, key, type, plaintext, host-built?)
fn messages() -> Vec<(&'static str, Key, u16, Vec<u8>, bool)> {
    let d = Key::DEFAULT;
    vec![
        (
            "msg_host_hello_type4_asdfg_defaultkey.hex",
            d,
            4,
            b"asdfg".to_vec(),
            true,
        ),
        (
            "msg_dev_hello_reply_type4_OK_defaultkey.hex",
            d,
            4,
            b"OK".to_vec(),
            true,
        ),
        (
            "msg_host_sharekey_type6_defaultkey.hex",
            d,
            6,
            b"00115663341140995977338038486879".to_vec(),
            true,
        ),
        (
            "msg_dev_sharekey_reply_type6_OK_sessionkey.hex",
            SESSION,
            6,
            b"OK".to_vec(),
            true,
        ),
        (
            "msg_host_deviceinfo_request_type0_sessionkey.hex",
            SESSION,
            0,
            br#"{"companyName":"YourCompanyName","version":"2.5.0.1"}"#.to_vec(),
            true,
        ),
        (
            "msg_dev_deviceinfo_serial_type0_sessionkey.hex",
            SESSION,
            0,
            b"AV0000000121".to_vec(),
            true,
        ),
        (
            "msg_dev_deviceinfo_reply_type0_OK_sessionkey.hex",
            SESSION,
            0,
            b"OK".to_vec(),
            true,
        ),
        (
            "msg_host_fiscalinfo_request_type2_sessionkey.hex",
            SESSION,
            2,
            b"".to_vec(),
            true,
        ),
        (
            "msg_host_ack_request_type11_sessionkey.hex",
            SESSION,
            11,
            b"".to_vec(),
            true,
        ),
        (
            "msg_host_disconnect_type7_sessionkey.hex",
            SESSION,
            7,
            b"".to_vec(),
            true,
        ),
        (
            "msg_dev_disconnect_reply_type7_OK_sessionkey.hex",
            SESSION,
            7,
            b"OK".to_vec(),
            true,
        ),
        (
            "msg_host_saleinfo_ack_type3_OK_sessionkey.hex",
            SESSION,
            3,
            b"OK".to_vec(),
            true,
        ),
        (
            "msg_host_error_type60_sessionkey.hex",
            SESSION,
            60,
            text::INVALID.as_bytes().to_vec(),
            true,
        ),
        (
            "msg_host_basket_type1_sessionkey.hex",
            SESSION,
            1,
            BASKET.as_bytes().to_vec(),
            true,
        ),
        (
            "msg_host_payment_type10_sessionkey.hex",
            SESSION,
            10,
            br#"{"amount":6000,"description":"Nakit","type":1}"#.to_vec(),
            true,
        ),
        (
            "msg_dev_certificate_type5_defaultkey.hex",
            d,
            5,
            cert_payload(),
            true,
        ),
        (
            "captured-usb-out01-hello.hex",
            d,
            4,
            b"asdfg".to_vec(),
            true,
        ),
        (
            "captured-usb-out02-sharekey-seed1.hex",
            d,
            6,
            SEED1.0.to_vec(),
            true,
        ),
        (
            "captured-usb-out03-deviceinfo-HarnessTest-seed1.hex",
            SEED1,
            0,
            br#"{"companyName":"HarnessTest","version":"2.5.0.1"}"#.to_vec(),
            true,
        ),
        (
            "captured-usb-out04-fiscalinfo-request-seed1.hex",
            SEED1,
            2,
            b"".to_vec(),
            true,
        ),
        (
            "captured-usb-out05-basket-type1-seed1.hex",
            SEED1,
            1,
            sample("basket-x30tr.json"),
            true,
        ),
        (
            "captured-usb-out06-payment-type10-seed1.hex",
            SEED1,
            10,
            sample("payment.json"),
            true,
        ),
        (
            "captured-usb-out07-disconnect-type7-seed1.hex",
            SEED1,
            7,
            b"".to_vec(),
            true,
        ),
        (
            "captured-usb-saleinfo-ack-type3-seed1.hex",
            SEED1,
            3,
            b"OK".to_vec(),
            true,
        ),
    ]
}

#[test]
fn every_message_vector_decodes_to_its_type_and_plaintext() {
    for (file, key, ty, plain, _) in messages() {
        let bytes = hexfile(file);
        let tlvs = accept_usb(&key, &bytes, LIMIT).unwrap_or_else(|e| panic!("{file}: {e:?}"));
        assert_eq!(tlvs.len(), 1, "{file}");
        assert_eq!(tlvs[0].tag, ty, "{file}");
        assert_eq!(tlvs[0].value, plain, "{file}");
    }
}

#[test]
fn every_message_we_build_equals_the_vendor_bytes() {
    for (file, key, ty, plain, _) in messages() {
        assert_eq!(
            hex::encode(build_message(&key, ty, &plain)),
            hex::encode(hexfile(file)),
            "{file}"
        );
    }
}

#[test]
fn every_hex_vector_is_covered() {
    let covered: Vec<&str> = messages().iter().map(|m| m.0).collect();
    for e in std::fs::read_dir(shared().join("protocol/vectors")).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".hex") && !name.starts_with("tlv_") {
            assert!(covered.contains(&name.as_str()), "vector {name} not tested");
        }
    }
}

#[test]
fn start_and_end_tlv_vectors() {
    for (file, key, tag) in [
        ("tlv_start_tag49_defaultkey.hex", Key::DEFAULT, 49),
        ("tlv_end_tag50_defaultkey.hex", Key::DEFAULT, 50),
        ("tlv_start_tag49_sessionkey.hex", SESSION, 49),
        ("tlv_end_tag50_sessionkey.hex", SESSION, 50),
    ] {
        let v = hexfile(file);
        assert_eq!(v.len(), 24);
        assert_eq!(build_tlv(&key, tag, b""), v, "{file}");
        let d = decode_tlvs(&key, &v, LIMIT);
        assert_eq!(d.error, None);
        assert_eq!(d.tlvs[0].tag, tag);
        assert!(d.tlvs[0].value.is_empty());
    }
}

#[test]
fn worked_example_hello_crcs() {
    let m = hexfile("msg_host_hello_type4_asdfg_defaultkey.hex");
    let d = decode_tlvs(&Key::DEFAULT, &m, LIMIT);
    let crcs: Vec<u16> = d.tlvs.iter().map(|t| t.crc).collect();
    assert_eq!(crcs, vec![0xD5FB, 0xC2E3, 0xBBC0]);
    let reply = hexfile("msg_dev_hello_reply_type4_OK_defaultkey.hex");
    assert_eq!(decode_tlvs(&Key::DEFAULT, &reply, LIMIT).tlvs[1].crc, 50012);
}

#[test]
fn crc_table() {
    let t = text_file("crc16_ccitt_false.txt");
    let mut n = 0;
    for line in t
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let mut it = line.split_whitespace();
        let input = it.next().unwrap();
        let want = u16::from_str_radix(it.next().unwrap(), 16).unwrap();
        let bytes = if input == "-" {
            vec![]
        } else {
            hex::decode(input).unwrap()
        };
        assert_eq!(crc16(&bytes), want, "{line}");
        n += 1;
    }
    assert_eq!(n, 4);
}

#[test]
fn zlib_table() {
    let t = text_file("zlib_compress_default.txt");
    let mut n = 0;
    for line in t
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (input, out) = line.rsplit_once(' ').unwrap();
        let input = if input == "(empty)" { "" } else { input };
        assert_eq!(hex::encode(compress(input.as_bytes())), out, "{line}");
        n += 1;
    }
    assert_eq!(n, 4);
}

struct Case {
    name: String,
    input: Vec<u8>,
    err: bool,
    n: usize,
    tlvs: Vec<(u16, u32, u16, String)>,
}

fn decode_cases() -> Vec<Case> {
    let t = text_file("decode_behaviour.txt");
    let mut cases: Vec<Case> = Vec::new();
    for line in t.lines() {
        if let Some(rest) = line.strip_prefix("NAME ") {
            cases.push(Case {
                name: rest.split_whitespace().next().unwrap().to_string(),
                input: vec![],
                err: false,
                n: 0,
                tlvs: vec![],
            });
        } else if let Some(h) = line.strip_prefix("INPUT ") {
            cases.last_mut().unwrap().input = hex::decode(h.trim()).unwrap();
        } else if let Some(r) = line.strip_prefix("err=") {
            let c = cases.last_mut().unwrap();
            c.err = r.starts_with('1');
            c.n = r.rsplit("n=").next().unwrap().trim().parse().unwrap();
        } else if let Some(r) = line.strip_prefix(" tag=") {
            let parts: Vec<&str> = r.splitn(4, ' ').collect();
            let tag = parts[0].parse().unwrap();
            let len = parts[1].trim_start_matches("len=").parse().unwrap();
            let crc = parts[2].trim_start_matches("crc=").parse().unwrap();
            let v = parts[3].trim_start_matches("value=[").trim_end_matches(']');
            cases
                .last_mut()
                .unwrap()
                .tlvs
                .push((tag, len, crc, v.to_string()));
        }
    }
    cases
}

#[test]
fn decode_behaviour_matches_vendor() {
    let cases = decode_cases();
    assert_eq!(cases.len(), 8);
    for c in cases {
        let d = decode_tlvs(&Key::DEFAULT, &c.input, LIMIT);
        assert_eq!(d.error.is_some(), c.err, "{}", c.name);
        assert_eq!(d.tlvs.len(), c.n, "{}", c.name);
        let got: Vec<_> = d
            .tlvs
            .iter()
            .map(|t| {
                (
                    t.tag,
                    t.len,
                    t.crc,
                    String::from_utf8(t.value.clone()).unwrap(),
                )
            })
            .collect();
        assert_eq!(got, c.tlvs, "{}", c.name);
        if c.name == "bad_crc" {
            assert_eq!(d.error.as_ref().unwrap().text(), text::CHECKSUM);
        }
        // What the USB listener then does with it.
        let usb = accept_usb(&Key::DEFAULT, &c.input, LIMIT);
        match c.name.as_str() {
            "ok_message" | "trailing_bytes_after_end_tag_ignored" => {
                assert_eq!(usb.unwrap()[0].value, b"OK")
            }
            "two_data_tlvs" => {
                let t = usb.unwrap();
                assert_eq!((t[0].tag, t[1].tag), (3, 9));
            }
            "unknown_tag_99" => assert_eq!(usb.unwrap()[0].tag, 99),
            "missing_start_tlv" => assert_eq!(usb.unwrap_err().text, text::NOT_START),
            "missing_end_tlv" => assert_eq!(usb.unwrap_err().text, text::NOT_END),
            "bad_crc" | "wrong_key" => assert_eq!(usb.unwrap_err().text, text::INVALID),
            other => panic!("unexpected case {other}"),
        }
    }
}

#[test]
fn serial_reassembly_matches_vendor() {
    let t = text_file("serial_reassembly_behaviour.txt");
    let mut blocks: Vec<(String, usize, Vec<u8>, Vec<String>)> = Vec::new();
    for line in t.lines() {
        if let Some(rest) = line.strip_prefix("NAME ") {
            let mut it = rest.split_whitespace();
            let name = it.next().unwrap().to_string();
            let chunk = it
                .next()
                .unwrap()
                .trim_start_matches("chunk=")
                .parse()
                .unwrap();
            blocks.push((name, chunk, vec![], vec![]));
        } else if let Some(h) = line.strip_prefix("INPUT ") {
            blocks.last_mut().unwrap().2 = hex::decode(h.trim()).unwrap();
        } else if let Some(m) = line.trim_start().strip_prefix("MESSAGE ") {
            blocks.last_mut().unwrap().3.push(m.trim().to_string());
        } else if line.trim_start().starts_with("ERROR") {
            blocks.last_mut().unwrap().3.push("ERROR".to_string());
        }
    }
    assert_eq!(blocks.len(), 3);
    for (name, chunk, input, want) in blocks {
        let mut r = SerialReassembler::new(LIMIT);
        let mut got = Vec::new();
        let mut reconnects = 0;
        for piece in input.chunks(chunk) {
            r.push(piece);
            while let Some(ev) = r.next_event() {
                match ev {
                    SerialEvent::Message { bytes, reconnect } => {
                        reconnects += reconnect as usize;
                        got.push(hex::encode(bytes));
                    }
                    SerialEvent::Invalid(t) => {
                        assert_eq!(t, text::INVALID_TLV_DATA);
                        got.push("ERROR".into());
                    }
                }
            }
        }
        assert_eq!(got, want, "{name}");
        assert_eq!(reconnects, (name == "reconnect_tag8") as usize, "{name}");
        assert_eq!(r.buffered(), 0, "{name}");
    }
}

#[test]
fn p384_signature_vector_valid_and_tampered() {
    let t = text_file("cert_signature_p384.txt");
    let field = |k: &str| {
        t.lines()
            .find_map(|l| l.strip_prefix(&format!("{k} ")))
            .unwrap()
            .trim()
            .to_string()
    };
    let key = hex::decode(field("public_key_uncompressed_hex")).unwrap();
    let good = hex::decode(field("sign_field_hex_raw_r_s")).unwrap();
    let bad = hex::decode(field("tampered_sign_hex")).unwrap();
    assert!(cert::verify_ecdsa_p384(&key, &good).is_ok());
    assert_eq!(
        cert::verify_ecdsa_p384(&key, &bad),
        Err(cert::CertError::SignatureInvalid)
    );
}

#[test]
fn real_certificate_message_verifies_under_vendor_policy() {
    let m = hexfile("msg_dev_certificate_type5_defaultkey.hex");
    let tlvs = accept_usb(&Key::DEFAULT, &m, LIMIT).unwrap();
    let info =
        cert::verify_message(&tlvs[0].value, DeviceModel::X30tr, &CertPolicy::Vendor).unwrap();
    assert_eq!(info.subject_serial.as_deref(), Some("AV0000000507"));
    assert_eq!(info.serial_hex, "3e541c010f2a");
    // Tampered: flip the last hex digit of "sign".
    let mut json = String::from_utf8(tlvs[0].value.clone()).unwrap();
    let pos = json.rfind("840e").unwrap();
    json.replace_range(pos..pos + 4, "8400");
    assert_eq!(
        cert::verify_message(json.as_bytes(), DeviceModel::X30tr, &CertPolicy::Vendor),
        Err(cert::CertError::SignatureInvalid)
    );
    // Missing member → the vendor's "ERROR PARSING".
    assert!(matches!(
        cert::verify_message(
            br#"{"certificate":"x"}"#,
            DeviceModel::X30tr,
            &CertPolicy::Vendor
        ),
        Err(cert::CertError::Parsing(_))
    ));
}

#[test]
fn real_device_chunk_lengths_match_our_pipeline() {
    let data = String::from_utf8(sample("real-device-chunks.jsonl")).unwrap();
    let mut n = 0;
    for line in data.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let plain = hex::decode(v["value_hex"].as_str().unwrap()).unwrap();
        let want = v["cipher_len"].as_u64().unwrap() as usize;
        let ours = pipeline::seal(&Key::DEFAULT, &plain).len();
        assert_eq!(ours, want, "chunk {n} type {}", v["type"]);
        // Default-key messages: the CRC depends only on the zlib output, so it must match too.
        if v["type"] == 4 || v["type"] == 5 {
            let tlv = build_tlv(&Key::DEFAULT, v["type"].as_u64().unwrap() as u16, &plain);
            let crc = u16::from_be_bytes([tlv[tlv.len() - 2], tlv[tlv.len() - 1]]);
            assert_eq!(crc as u64, v["crc"].as_u64().unwrap(), "chunk {n}");
        }
        n += 1;
    }
    assert_eq!(n, 163);
}
