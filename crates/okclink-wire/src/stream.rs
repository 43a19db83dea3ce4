//! Splitting a byte stream into whole messages by TLV length fields.
//!
//! Used where a message may not arrive in one piece: the TCP link to the simulator (which
//! carries exactly the bytes of USB bulk transfers, back to back), the in-memory pair, and
//! USB bulk IN when a device splits a message across transfers. A message ends with the
//! first TLV whose tag is 50, as in the vendor's walker.

use super::frame::{peek_header, HEADER_LEN, OVERHEAD};
use super::message::{text, TAG_END, TAG_START};

/// Incremental splitter.
#[derive(Debug, Clone)]
pub struct MessageSplitter {
    buf: Vec<u8>,
    max_message: usize,
}

impl MessageSplitter {
    /// `max_message`: the largest whole message accepted (bytes on the wire).
    pub fn new(max_message: usize) -> Self {
        MessageSplitter {
            buf: Vec::new(),
            max_message,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered but not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Drop everything buffered (e.g. after a reconnect).
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// The next whole message, `Some(Err(text))` for bytes that cannot start a message
    /// (they are discarded up to the next `00 31`), `None` when more bytes are needed.
    pub fn next_message(&mut self) -> Option<Result<Vec<u8>, &'static str>> {
        if self.buf.len() >= 2 && self.buf[..2] != [0x00, 0x31] {
            let p = self.buf[1..]
                .windows(2)
                .position(|w| w == [0x00, 0x31])
                .map(|p| p + 1);
            match p {
                Some(p) => {
                    self.buf.drain(..p);
                }
                None => {
                    let keep = self.buf.last() == Some(&0);
                    self.buf.clear();
                    if keep {
                        self.buf.push(0);
                    }
                }
            }
            return Some(Err(text::NOT_START));
        }
        let mut off = 0usize;
        loop {
            let (tag, len) = peek_header(&self.buf[off..])?;
            let end = off
                .checked_add(OVERHEAD)
                .and_then(|v| v.checked_add(len as usize));
            let end = match end {
                Some(e) if e <= self.max_message => e,
                _ => {
                    self.buf.clear();
                    return Some(Err(text::TOO_LARGE));
                }
            };
            if self.buf.len() < end {
                return None;
            }
            if tag == TAG_END || (off > 0 && tag == TAG_START) {
                // A new start tag in the middle means the previous message lost its end:
                // hand over what we have; the acceptance check rejects it with NOT_END.
                let cut = if tag == TAG_END { end } else { off };
                let rest = self.buf.split_off(cut);
                return Some(Ok(std::mem::replace(&mut self.buf, rest)));
            }
            off = end;
            debug_assert!(off >= HEADER_LEN);
        }
    }
}
