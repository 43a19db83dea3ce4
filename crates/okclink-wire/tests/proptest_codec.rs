//! Property tests of the codec layers: message/TLV/pipeline round trips for arbitrary tags,
//! payloads and keys; the serial re-assembler and the stream splitter cut the same messages
//! out of a stream however it is split into reads.

use okclink_wire::frame::FrameIter;
use okclink_wire::message::{
    accept_serial, accept_usb, build_message, build_tlv, decode_tlvs, text, TAG_END, TAG_START,
};
use okclink_wire::pipeline::{
    cipher_len_for_compressed, compress, decompress, open, seal, Key, DEFAULT_MAX_PLAINTEXT,
};
use okclink_wire::serial::{SerialEvent, SerialReassembler};
use okclink_wire::stream::MessageSplitter;
use proptest::prelude::*;

const LIMIT: usize = DEFAULT_MAX_PLAINTEXT;

fn key() -> impl Strategy<Value = Key> {
    prop_oneof![
        Just(Key::DEFAULT),
        // Session keys: 32 ASCII digits.
        prop::collection::vec(b'0'..=b'9', 32).prop_map(|v| Key::from_ascii(&v).unwrap()),
        // The vendor accepts any 32 bytes as a key.
        prop::array::uniform32(any::<u8>()).prop_map(Key),
    ]
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        // Compressible JSON-ish text.
        "[ -~]{0,400}".prop_map(String::into_bytes),
        prop::collection::vec(prop::sample::select(b"{}\":,abc0123".to_vec()), 0..3000),
    ]
}

/// Any tag except 50 (a data TLV with tag 50 ends the message early by design).
fn data_tag() -> impl Strategy<Value = u16> {
    prop_oneof![0u16..=11, Just(60u16), Just(49u16), any::<u16>()]
        .prop_filter("not 50", |t| *t != 50)
}

/// Tags the serial re-assembler accepts (vendor `isTagValid`).
fn serial_tag() -> impl Strategy<Value = u16> {
    prop_oneof![0u16..=11, Just(60u16)]
}

/// Garbage that contains no `00 31` pair (which would be taken for a start TLV).
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..40).prop_map(|mut g| {
        for i in 1..g.len() {
            if g[i - 1] == 0 && g[i] == 0x31 {
                g[i] = 0x32;
            }
        }
        g
    })
}

/// Cut `stream` into reads whose sizes cycle through `sizes`.
fn pieces<'a>(stream: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut off = 0;
    let mut i = 0;
    while off < stream.len() {
        let n = sizes[i % sizes.len()].min(stream.len() - off);
        out.push(&stream[off..off + n]);
        off += n;
        i += 1;
    }
    out
}

fn read_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![1usize..4, 1usize..80, 1usize..2000], 1..12)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn seal_open_roundtrip(k in key(), p in payload(), other in key()) {
        let c = seal(&k, &p);
        prop_assert_eq!(c.len() % 16, 0);
        prop_assert_eq!(c.len(), cipher_len_for_compressed(compress(&p).len()));
        prop_assert_eq!(open(&k, &c, LIMIT).unwrap(), p.clone());
        if other != k {
            prop_assert_ne!(open(&other, &c, LIMIT).ok(), Some(p.clone()));
        }
        let z = compress(&p);
        prop_assert_eq!(&z[..2], &[0x78, 0x9c]);
        prop_assert_eq!(decompress(&z, LIMIT).unwrap(), p);
    }

    #[test]
    fn message_roundtrip(k in key(), t in data_tag(), p in payload()) {
        let m = build_message(&k, t, &p);
        // Start and end TLVs are always 24 bytes; the data TLV is 8 + ciphertext.
        prop_assert_eq!(
            m.len(),
            48 + 8 + cipher_len_for_compressed(compress(&p).len())
        );
        let tags: Vec<u16> = FrameIter::new(&m).map(|f| f.unwrap().tag).collect();
        prop_assert_eq!(tags, vec![TAG_START, t, TAG_END]);
        for f in FrameIter::new(&m) {
            prop_assert!(f.unwrap().crc_ok());
        }
        let got = accept_usb(&k, &m, LIMIT).unwrap();
        prop_assert_eq!(got.len(), 1);
        prop_assert_eq!(got[0].tag, t);
        prop_assert_eq!(&got[0].value, &p);
        let ser = accept_serial(&k, &m, LIMIT).unwrap();
        if t == TAG_START {
            prop_assert!(ser.is_empty()); // the serial path filters 49/50 by tag
        } else {
            prop_assert_eq!(&ser[0].value, &p);
        }
        // A flipped ciphertext bit is caught by the CRC.
        let mut bad = m.clone();
        bad[30] ^= 0x01;
        prop_assert_eq!(accept_usb(&k, &bad, LIMIT).unwrap_err().text, text::CHECKSUM);
    }

    #[test]
    fn tlv_sequence_roundtrip(
        k in key(),
        items in prop::collection::vec((data_tag(), payload()), 1..5),
        with_end in any::<bool>(),
        trailer in prop::collection::vec(any::<u8>(), 0..30),
    ) {
        let mut buf = Vec::new();
        for (t, p) in &items {
            buf.extend_from_slice(&build_tlv(&k, *t, p));
        }
        if with_end {
            buf.extend_from_slice(&build_tlv(&k, TAG_END, b""));
            // Anything after the end TLV is never looked at.
            buf.extend_from_slice(&trailer);
        }
        let d = decode_tlvs(&k, &buf, LIMIT);
        prop_assert_eq!(d.error, None);
        prop_assert_eq!(d.tlvs.len(), items.len() + with_end as usize);
        for (tlv, (t, p)) in d.tlvs.iter().zip(&items) {
            prop_assert_eq!(tlv.tag, *t);
            prop_assert_eq!(&tlv.value, p);
            prop_assert_eq!(tlv.len as usize % 16, 0);
        }
    }

    #[test]
    fn serial_reassembler_any_split(
        k in key(),
        junk in garbage(),
        msgs in prop::collection::vec((serial_tag(), payload()), 1..5),
        sizes in read_sizes(),
    ) {
        let messages: Vec<(u16, Vec<u8>, Vec<u8>)> = msgs
            .into_iter()
            .map(|(t, p)| (t, build_message(&k, t, &p), p))
            .collect();
        let mut stream = junk.clone();
        for (_, m, _) in &messages {
            stream.extend_from_slice(m);
        }
        let mut r = SerialReassembler::new(1 << 20);
        let mut events = Vec::new();
        for piece in pieces(&stream, &sizes) {
            r.push(piece);
            while let Some(e) = r.next_event() {
                events.push(e);
            }
        }
        let want: Vec<SerialEvent> = messages
            .iter()
            .map(|(t, m, _)| SerialEvent::Message { bytes: m.clone(), reconnect: *t == 8 })
            .collect();
        prop_assert_eq!(&events, &want);
        prop_assert_eq!(r.buffered(), 0);
        // And each one decodes on the serial path to its payload.
        for (e, (t, _, p)) in events.iter().zip(&messages) {
            let SerialEvent::Message { bytes, .. } = e else { unreachable!() };
            let tlvs = accept_serial(&k, bytes, LIMIT).unwrap();
            prop_assert_eq!(tlvs.len(), 1);
            prop_assert_eq!(tlvs[0].tag, *t);
            prop_assert_eq!(&tlvs[0].value, p);
        }
    }

    #[test]
    fn stream_splitter_any_split(
        k in key(),
        junk in garbage(),
        msgs in prop::collection::vec(
            prop::collection::vec(
                (data_tag().prop_filter("not 49", |t| *t != TAG_START), payload()),
                1..4,
            ),
            1..5,
        ),
        sizes in read_sizes(),
    ) {
        // Messages with one to three data TLVs (the USB path accepts several).
        let messages: Vec<Vec<u8>> = msgs
            .iter()
            .map(|tlvs| {
                let mut m = build_tlv(&k, TAG_START, b"");
                for (t, p) in tlvs {
                    m.extend_from_slice(&build_tlv(&k, *t, p));
                }
                m.extend_from_slice(&build_tlv(&k, TAG_END, b""));
                m
            })
            .collect();
        let mut stream = junk.clone();
        for m in &messages {
            stream.extend_from_slice(m);
        }
        let mut s = MessageSplitter::new(1 << 20);
        let mut got = Vec::new();
        let mut junk_reports_after_first = 0;
        let mut junk_reports = 0;
        for piece in pieces(&stream, &sizes) {
            s.push(piece);
            while let Some(m) = s.next_message() {
                match m {
                    Ok(m) => got.push(m),
                    Err(t) => {
                        prop_assert_eq!(t, text::NOT_START);
                        junk_reports += 1;
                        if !got.is_empty() {
                            junk_reports_after_first += 1;
                        }
                    }
                }
            }
        }
        prop_assert_eq!(&got, &messages);
        prop_assert_eq!(s.buffered(), 0);
        prop_assert_eq!(junk_reports_after_first, 0);
        prop_assert_eq!(junk_reports > 0, !junk.is_empty());
        for (m, tlvs) in got.iter().zip(&msgs) {
            let dec = accept_usb(&k, m, LIMIT).unwrap();
            let want: Vec<(u16, &Vec<u8>)> = tlvs.iter().map(|(t, p)| (*t, p)).collect();
            let have: Vec<(u16, &Vec<u8>)> = dec.iter().map(|t| (t.tag, &t.value)).collect();
            prop_assert_eq!(have, want);
        }
    }
}
