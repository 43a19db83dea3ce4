//! Messages (WIRE.md §2, §4): `TLV(49,"") ‖ TLV(type, payload) ‖ TLV(50,"")`, the vendor's
//! TLV walker (`decodeTLV`) and the USB acceptance rules with the vendor's error texts.

use super::frame::{encode_frame, FrameError, FrameIter, OVERHEAD};
use super::pipeline::{open, seal, Key, PipelineError};
use std::fmt;

/// Tag of the start TLV.
pub const TAG_START: u16 = 49;
/// Tag of the end TLV.
pub const TAG_END: u16 = 50;

/// Application message types (TLV tags), WIRE §7.
pub mod tag {
    pub const DEVICE_INFO: u16 = 0;
    pub const BASKET: u16 = 1;
    pub const FISCAL_INFO: u16 = 2;
    pub const SALE_INFO: u16 = 3;
    pub const HELLO: u16 = 4;
    pub const CERTIFICATE: u16 = 5;
    pub const SHARE_KEY: u16 = 6;
    pub const DISCONNECT: u16 = 7;
    pub const RECONNECT: u16 = 8;
    pub const BASKET_STATUS: u16 = 9;
    pub const PAYMENT: u16 = 10;
    pub const ACK: u16 = 11;
    pub const ERROR: u16 = 60;
}

/// The vendor's `isTagValid`: 0–11 and 60 (used by the serial re-assembler only).
pub fn is_valid_data_tag(t: u16) -> bool {
    t <= 11 || t == 60
}

/// Vendor error texts (kept verbatim: they travel in type-60 messages and appear in logs).
pub mod text {
    pub const CHECKSUM: &str = "Check sum is not valid! Please check your communication.";
    pub const NEGATIVE_LENGTH: &str =
        "A chunk with negative length has been caught. Corrupted data!";
    pub const NOT_START: &str = "A packet is not starting with a valid tlv start.Corrupted data!";
    pub const NOT_END: &str =
        "Not ending with a valid tlv end tag. One or more of your tlv chunk(s) are corrupted!";
    pub const INVALID: &str =
        "Not ending or starting with a valid TLV tag. Invalid or corrupted data.";
    pub const INVALID_TLV_DATA: &str = "Invalid TLV Data";
    /// Our text for a value that does not decrypt/inflate (the vendor's is garbage, WIRE §4.2).
    pub const UNDECODABLE: &str = "Chunk could not be decrypted or decompressed. Corrupted data!";
    pub const TOO_LARGE: &str = "Chunk is larger than the configured limit. Corrupted data!";
}

/// Build a whole host or device message with one data TLV.
///
/// ```
/// use okclink_wire::message::{accept_usb, build_message, tag};
/// use okclink_wire::pipeline::Key;
///
/// let key = Key(*b"00115663341140995977338038486879");
/// let m = build_message(&key, tag::FISCAL_INFO, b"");
/// // Start TLV (49), the data TLV, end TLV (50); the USB listener accepts it.
/// assert_eq!(&m[..2], &[0x00, 0x31]);
/// let tlvs = accept_usb(&key, &m, 1 << 20).unwrap();
/// assert_eq!((tlvs[0].tag, tlvs[0].value.as_slice()), (tag::FISCAL_INFO, &b""[..]));
/// // Under another key it does not decode.
/// assert!(accept_usb(&Key::DEFAULT, &m, 1 << 20).is_err());
/// ```
pub fn build_message(key: &Key, tag: u16, payload: &[u8]) -> Vec<u8> {
    let empty = seal(key, b"");
    let data = seal(key, payload);
    let mut out = Vec::with_capacity(3 * OVERHEAD + 2 * empty.len() + data.len());
    encode_frame(TAG_START, &empty, &mut out);
    encode_frame(tag, &data, &mut out);
    encode_frame(TAG_END, &empty, &mut out);
    out
}

/// Build a single TLV (used for tests and by the device simulator for multi-TLV messages).
pub fn build_tlv(key: &Key, tag: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(tag, &seal(key, payload), &mut out);
    out
}

/// One decoded TLV (the vendor's `{tag, length, plaintext, crc}`).
#[derive(Clone, PartialEq, Eq)]
pub struct Tlv {
    pub tag: u16,
    /// The length field (ciphertext bytes).
    pub len: u32,
    pub crc: u16,
    /// Decompressed plaintext.
    pub value: Vec<u8>,
}

impl fmt::Debug for Tlv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tlv{{tag:{}, len:{}, crc:{}, value:{:?}}}",
            self.tag,
            self.len,
            self.crc,
            String::from_utf8_lossy(&self.value)
        )
    }
}

/// Why the TLV walker stopped with an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    NegativeLength,
    Checksum,
    Undecodable(PipelineError),
}

impl DecodeError {
    /// The text the vendor puts in its type-60 reply (ours where the vendor's is garbage).
    pub fn text(&self) -> &'static str {
        match self {
            DecodeError::NegativeLength => text::NEGATIVE_LENGTH,
            DecodeError::Checksum => text::CHECKSUM,
            DecodeError::Undecodable(PipelineError::TooLarge { .. }) => text::TOO_LARGE,
            DecodeError::Undecodable(_) => text::UNDECODABLE,
        }
    }
}

/// Result of walking a buffer like the vendor's `decodeTLV`: the TLVs decoded before any
/// error, and the error if one stopped the walk.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decoded {
    pub tlvs: Vec<Tlv>,
    pub error: Option<DecodeError>,
}

/// Walk TLVs from offset 0 (WIRE §4.2): CRC check, decrypt, inflate (bounded by `limit`),
/// stop right after the first TLV with tag 50 or at the end of input. A TLV cut off by the
/// end of input ends the walk without an error (the vendor would read stale buffer bytes).
pub fn decode_tlvs(key: &Key, bytes: &[u8], limit: usize) -> Decoded {
    let mut out = Decoded::default();
    for f in FrameIter::new(bytes) {
        let f = match f {
            Ok(f) => f,
            Err(FrameError::NegativeLength) => {
                out.error = Some(DecodeError::NegativeLength);
                break;
            }
            Err(FrameError::Truncated { .. }) => break,
        };
        if !f.crc_ok() {
            out.error = Some(DecodeError::Checksum);
            break;
        }
        match open(key, f.cipher(), limit) {
            Ok(value) => out.tlvs.push(Tlv {
                tag: f.tag,
                len: f.len() as u32,
                crc: f.crc,
                value,
            }),
            Err(e) => {
                out.error = Some(DecodeError::Undecodable(e));
                break;
            }
        }
        if f.tag == TAG_END {
            break;
        }
    }
    out
}

/// A message the USB listener rejected, with the vendor's type-60 text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub text: &'static str,
    /// What was decoded before the failure (for logs).
    pub decoded: Decoded,
}

/// The USB listener's acceptance rules (WIRE §4.2): no error, not empty, first tag 49,
/// last tag 50. Returns the TLVs between start and end on success.
pub fn accept_usb(key: &Key, bytes: &[u8], limit: usize) -> Result<Vec<Tlv>, Rejected> {
    let mut tlvs = decode_or_reject(key, bytes, limit)?;
    let text = match (tlvs.first(), tlvs.last()) {
        (None, _) | (_, None) => text::INVALID,
        (Some(f), _) if f.tag != TAG_START => text::NOT_START,
        (_, Some(l)) if l.tag != TAG_END => text::NOT_END,
        _ => {
            tlvs.pop();
            tlvs.remove(0);
            return Ok(tlvs);
        }
    };
    Err(Rejected {
        text,
        decoded: Decoded { tlvs, error: None },
    })
}

/// The serial path (WIRE §4.3): the re-assembler already cut one message; decode it with no
/// start/end checks. A decoder error is reported with its text.
pub fn accept_serial(key: &Key, bytes: &[u8], limit: usize) -> Result<Vec<Tlv>, Rejected> {
    let mut tlvs = decode_or_reject(key, bytes, limit)?;
    tlvs.retain(|t| t.tag != TAG_START && t.tag != TAG_END);
    Ok(tlvs)
}

/// Walk the TLVs; a decoder error becomes a rejection with the vendor's text: the decoder's
/// own, or [`text::INVALID`] when not a single TLV had been decoded (WIRE §4.2).
fn decode_or_reject(key: &Key, bytes: &[u8], limit: usize) -> Result<Vec<Tlv>, Rejected> {
    let decoded = decode_tlvs(key, bytes, limit);
    match &decoded.error {
        None => Ok(decoded.tlvs),
        Some(e) => Err(Rejected {
            text: if decoded.tlvs.is_empty() {
                text::INVALID
            } else {
                e.text()
            },
            decoded,
        }),
    }
}

/// The data tag of a well-formed message without decrypting it: the tag of the second TLV.
pub fn peek_data_tag(bytes: &[u8]) -> Option<u16> {
    let mut it = FrameIter::new(bytes);
    it.next()?.ok()?;
    Some(it.next()?.ok()?.tag)
}
