//! The 300TR serial re-assembler (WIRE.md §4.3, vendor `validateIncomingData`).
//!
//! Bytes arrive in arbitrary pieces. The machine hunts for `00 31` (start TLV tag), reads the
//! data TLV's tag at offset 24 and length at offset 26, then cuts `len + 56` bytes as one
//! message. It relies on start/end TLVs being exactly 24 bytes, as the vendor does.
//! Differences from the vendor, both invisible on a healthy line: a trailing `00` is kept
//! while hunting (so a `00 31` split across two reads is not lost), and a data length above
//! the configured maximum is treated like an invalid tag instead of waiting for gigabytes.

use super::message::{is_valid_data_tag, tag, text};

/// Bytes of a start or end TLV with an empty payload.
const EMPTY_TLV: usize = 24;
/// Offset of the data TLV's header.
const DATA_AT: usize = EMPTY_TLV;

/// State numbers as the vendor reports them (for traces and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialState {
    /// 0: hunting for `00 31`.
    Hunting,
    /// 1: start found, waiting for the data TLV header.
    HaveStart,
    /// 2: data length known, waiting for the whole message.
    HaveLength { len: u32 },
}

/// What the re-assembler produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SerialEvent {
    /// One whole message (`len + 56` bytes). `reconnect` = the data tag is 8: the host must
    /// reset its key to the default key before decoding it.
    Message { bytes: Vec<u8>, reconnect: bool },
    /// The data tag is not valid (or the length is absurd): everything buffered was dropped;
    /// the host answers type 60 with this text.
    Invalid(&'static str),
}

/// Incremental re-assembler; feed with [`SerialReassembler::push`], drain with
/// [`SerialReassembler::next_event`].
#[derive(Debug, Clone)]
pub struct SerialReassembler {
    acc: Vec<u8>,
    state: SerialState,
    max_cipher: u32,
}

impl SerialReassembler {
    /// `max_cipher`: the largest data-TLV ciphertext accepted (the vendor has no limit).
    pub fn new(max_cipher: usize) -> Self {
        SerialReassembler {
            acc: Vec::new(),
            state: SerialState::Hunting,
            max_cipher: max_cipher.min(u32::MAX as usize - 64) as u32,
        }
    }

    pub fn state(&self) -> SerialState {
        self.state
    }

    /// Bytes currently buffered.
    pub fn buffered(&self) -> usize {
        self.acc.len()
    }

    /// Append received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.acc.extend_from_slice(bytes);
    }

    /// Advance the machine as far as the buffered bytes allow; `None` = need more bytes.
    pub fn next_event(&mut self) -> Option<SerialEvent> {
        loop {
            match self.state {
                SerialState::Hunting => match self.acc.windows(2).position(|w| w == [0x00, 0x31]) {
                    Some(p) => {
                        self.acc.drain(..p);
                        self.state = SerialState::HaveStart;
                    }
                    None => {
                        let keep = self.acc.last() == Some(&0);
                        self.acc.clear();
                        if keep {
                            self.acc.push(0);
                        }
                        return None;
                    }
                },
                SerialState::HaveStart => {
                    if self.acc.len() < DATA_AT + 6 {
                        return None;
                    }
                    let t = u16::from_be_bytes([self.acc[DATA_AT], self.acc[DATA_AT + 1]]);
                    let len = u32::from_be_bytes([
                        self.acc[DATA_AT + 2],
                        self.acc[DATA_AT + 3],
                        self.acc[DATA_AT + 4],
                        self.acc[DATA_AT + 5],
                    ]);
                    if !is_valid_data_tag(t) || len > self.max_cipher {
                        self.acc.clear();
                        self.state = SerialState::Hunting;
                        return Some(SerialEvent::Invalid(text::INVALID_TLV_DATA));
                    }
                    self.state = SerialState::HaveLength { len };
                }
                SerialState::HaveLength { len } => {
                    let total = len as usize + 2 * EMPTY_TLV + 8;
                    if self.acc.len() < total {
                        return None;
                    }
                    let rest = self.acc.split_off(total);
                    let bytes = std::mem::replace(&mut self.acc, rest);
                    let t = u16::from_be_bytes([bytes[DATA_AT], bytes[DATA_AT + 1]]);
                    self.state = SerialState::Hunting;
                    return Some(SerialEvent::Message {
                        bytes,
                        reconnect: t == tag::RECONNECT,
                    });
                }
            }
        }
    }
}
