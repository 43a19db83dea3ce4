//! Entry points shared by the cargo-fuzz targets (`fuzz/`) and the corpus replay test
//! (`tests/fuzz_corpus.rs`). Each function takes arbitrary bytes, drives one decoder and
//! panics if an invariant of that decoder does not hold; it never panics otherwise.
//!
//! The raw-input paths are rarely interesting on their own (a random byte flip breaks the
//! CRC), so the USB entry also decodes two derived inputs: the same bytes with every
//! complete TLV's CRC recomputed (reaches decryption), and every TLV's value taken as a
//! zlib stream and encrypted with the key (reaches inflate with fuzzer-chosen streams).

use super::cert::{verify_message, CertPolicy};
use super::crc::crc16;
use super::frame::{encode_frame, parse_frame, FrameIter, HEADER_LEN};
use super::message::{
    accept_serial, accept_usb, build_message, decode_tlvs, is_valid_data_tag, text, Decoded, Tlv,
    TAG_END, TAG_START,
};
use super::pipeline::{encrypt, Key};
use super::serial::{SerialEvent, SerialReassembler, SerialState};
use super::stream::MessageSplitter;
use crate::DeviceModel;

/// Decompression limit used by the fuzz entries (small, so bombs are cheap to refuse).
pub const LIMIT: usize = 64 * 1024;
/// The vectors' session key (`vectors/INDEX.txt`).
pub const SESSION_KEY: Key = Key(*b"00115663341140995977338038486879");
/// Largest data ciphertext the serial re-assembler accepts in the fuzz entry.
pub const SERIAL_MAX_CIPHER: usize = 16 * 1024;
/// Largest message the stream splitter accepts in the fuzz entry.
pub const STREAM_MAX_MESSAGE: usize = 15_000;

const TEXTS: &[&str] = &[
    text::CHECKSUM,
    text::NEGATIVE_LENGTH,
    text::NOT_START,
    text::NOT_END,
    text::INVALID,
    text::UNDECODABLE,
    text::TOO_LARGE,
];

/// Fuzz entry: the USB decoder with the default key.
pub fn usb_default(data: &[u8]) {
    usb(&Key::DEFAULT, data);
}

/// Fuzz entry: the USB decoder with a session key.
pub fn usb_session(data: &[u8]) {
    usb(&SESSION_KEY, data);
}

/// The USB decoder (`decode_tlvs` + `accept_usb`) on `data` and two derived inputs.
pub fn usb(key: &Key, data: &[u8]) {
    check_usb(key, data);
    check_usb(key, &fix_crcs(data));
    check_usb(key, &reseal(key, data));
}

/// `data` with the CRC of every complete TLV recomputed.
pub fn fix_crcs(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    let mut off = 0;
    while let Ok(f) = parse_frame(&data[off..]) {
        let end = off + f.covered.len();
        out[end..end + 2].copy_from_slice(&crc16(f.covered).to_be_bytes());
        off += f.wire_len();
    }
    out
}

/// Every complete TLV of `data` re-framed with its value encrypted under `key` (so the value
/// bytes reach the inflater as they are), CRCs correct.
pub fn reseal(key: &Key, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in FrameIter::new(data) {
        let Ok(f) = f else { break };
        encode_frame(f.tag, &encrypt(key, f.cipher()), &mut out);
    }
    out
}

fn check_decoded(d: &Decoded) {
    for (i, t) in d.tlvs.iter().enumerate() {
        assert!(t.value.len() <= LIMIT, "value above the limit");
        assert!(
            t.len >= 16 && t.len % 16 == 0,
            "decrypted a value of {} bytes",
            t.len
        );
        assert!(
            t.tag != TAG_END || i + 1 == d.tlvs.len(),
            "walk went past tag 50"
        );
    }
}

/// Invariants of `decode_tlvs`, `accept_usb` and `accept_serial` on one input.
pub fn check_usb(key: &Key, bytes: &[u8]) {
    let d = decode_tlvs(key, bytes, LIMIT);
    check_decoded(&d);
    // The walker agrees with the frame iterator on tags and lengths.
    for (t, f) in d.tlvs.iter().zip(FrameIter::new(bytes)) {
        let f = f.expect("frame decoded but iterator failed");
        assert_eq!((t.tag, t.len as usize, t.crc), (f.tag, f.len(), f.crc));
        assert!(f.crc_ok());
    }
    let n = d.tlvs.len();
    let should_accept =
        d.error.is_none() && n >= 2 && d.tlvs[0].tag == TAG_START && d.tlvs[n - 1].tag == TAG_END;
    match accept_usb(key, bytes, LIMIT) {
        Ok(tlvs) => {
            assert!(should_accept, "accepted {d:?}");
            assert_eq!(&tlvs[..], &d.tlvs[1..n - 1]);
            for t in &tlvs {
                roundtrip(key, t);
            }
        }
        Err(rej) => {
            assert!(!should_accept, "rejected a valid message: {}", rej.text);
            assert!(TEXTS.contains(&rej.text), "unknown text {}", rej.text);
            assert_eq!(rej.decoded, d);
        }
    }
    match accept_serial(key, bytes, LIMIT) {
        Ok(tlvs) => {
            assert!(d.error.is_none());
            let want: Vec<&Tlv> = d
                .tlvs
                .iter()
                .filter(|t| t.tag != TAG_START && t.tag != TAG_END)
                .collect();
            assert_eq!(tlvs.iter().collect::<Vec<_>>(), want);
        }
        Err(rej) => {
            assert!(d.error.is_some());
            assert!(TEXTS.contains(&rej.text));
        }
    }
}

/// A decoded TLV re-encoded as a message decodes to the same tag and value.
fn roundtrip(key: &Key, t: &Tlv) {
    let m = build_message(key, t.tag, &t.value);
    let back = accept_usb(key, &m, LIMIT).expect("own message rejected");
    assert_eq!(back.len(), 1);
    assert_eq!((back[0].tag, &back[0].value), (t.tag, &t.value));
}

/// Fuzz entry: the serial re-assembler (and `accept_serial` on what it cuts) plus the
/// stream splitter, fed in pieces. `data[0]` picks the piece size, the rest is the stream.
pub fn serial(data: &[u8]) {
    let Some((&sel, stream)) = data.split_first() else {
        return;
    };
    let piece = sel as usize % 64 + 1;

    let mut r = SerialReassembler::new(SERIAL_MAX_CIPHER);
    let mut out_bytes = 0usize;
    for chunk in stream.chunks(piece) {
        r.push(chunk);
        while let Some(ev) = r.next_event() {
            match ev {
                SerialEvent::Message { bytes, reconnect } => {
                    out_bytes += bytes.len();
                    check_serial_message(&bytes, reconnect);
                    for key in [&Key::DEFAULT, &SESSION_KEY] {
                        check_usb(key, &bytes);
                    }
                }
                SerialEvent::Invalid(t) => assert_eq!(t, text::INVALID_TLV_DATA),
            }
        }
        match r.state() {
            SerialState::Hunting => assert!(r.buffered() <= 1),
            SerialState::HaveStart => assert!(r.buffered() < HEADER_LEN + 24),
            SerialState::HaveLength { len } => {
                assert!(len as usize <= SERIAL_MAX_CIPHER);
                assert!(r.buffered() < len as usize + 56);
            }
        }
    }
    assert!(out_bytes <= stream.len());

    let mut s = MessageSplitter::new(STREAM_MAX_MESSAGE);
    let mut out_bytes = 0usize;
    for chunk in stream.chunks(piece) {
        s.push(chunk);
        while let Some(m) = s.next_message() {
            match m {
                Ok(m) => {
                    out_bytes += m.len();
                    assert!(m.len() <= STREAM_MAX_MESSAGE);
                    assert_eq!(&m[..2], &[0x00, 0x31]);
                    // Whole TLVs only; the last is tag 50 unless the next message began.
                    let mut it = FrameIter::new(&m);
                    for f in it.by_ref() {
                        f.expect("splitter cut inside a TLV");
                    }
                    assert!(it.remainder().is_empty());
                    check_usb(&Key::DEFAULT, &m);
                }
                Err(t) => assert!(TEXTS.contains(&t)),
            }
        }
        assert!(s.buffered() <= STREAM_MAX_MESSAGE);
    }
    assert!(out_bytes <= stream.len());
}

fn check_serial_message(bytes: &[u8], reconnect: bool) {
    assert!(bytes.len() >= 56);
    assert_eq!(&bytes[..2], &[0x00, 0x31]);
    let t = u16::from_be_bytes([bytes[24], bytes[25]]);
    let len = u32::from_be_bytes([bytes[26], bytes[27], bytes[28], bytes[29]]) as usize;
    assert!(is_valid_data_tag(t));
    assert_eq!(bytes.len(), len + 56);
    assert_eq!(reconnect, t == 8);
}

/// Fuzz entry: the certificate message check for both models; a strict policy with no
/// pinned CA must never accept.
pub fn cert(data: &[u8]) {
    for model in [DeviceModel::X30tr, DeviceModel::T300tr] {
        let _ = verify_message(data, model, &CertPolicy::Vendor);
        assert!(verify_message(data, model, &CertPolicy::Strict { cas: vec![] }).is_err());
    }
}
