//! TLV frame codec (WIRE.md §3): `tag u16 BE | length u32 BE | ciphertext | crc16 BE`.
//!
//! Parsing borrows from the input: [`FrameIter`] yields [`Frame`]s whose ciphertext is a
//! sub-slice of the input; nothing is allocated or copied until decryption.

use super::crc::{crc16, crc16_parts};

/// Bytes of a TLV header (tag + length).
pub const HEADER_LEN: usize = 6;
/// Bytes of the trailing CRC.
pub const CRC_LEN: usize = 2;
/// Fixed overhead of one TLV.
pub const OVERHEAD: usize = HEADER_LEN + CRC_LEN;

/// One TLV as it sits on the wire, borrowing the ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub tag: u16,
    /// The TLV's bytes from tag to the end of the ciphertext (what the CRC covers).
    pub covered: &'a [u8],
    /// CRC as transmitted.
    pub crc: u16,
}

impl<'a> Frame<'a> {
    /// The ciphertext (value) bytes.
    pub fn cipher(&self) -> &'a [u8] {
        &self.covered[HEADER_LEN..]
    }
    /// The length field.
    pub fn len(&self) -> usize {
        self.covered.len() - HEADER_LEN
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Whether the transmitted CRC matches.
    pub fn crc_ok(&self) -> bool {
        crc16(self.covered) == self.crc
    }
    /// Total bytes this TLV occupies on the wire.
    pub fn wire_len(&self) -> usize {
        self.covered.len() + CRC_LEN
    }
}

/// Why a frame could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The length field has its top bit set (the vendor reads it as a negative i32).
    NegativeLength,
    /// The input ends inside this TLV; `needed` is the TLV's full wire size (or the header size).
    Truncated { needed: usize, have: usize },
}

/// Read the TLV header at the start of `buf`: `(tag, length)`.
pub fn peek_header(buf: &[u8]) -> Option<(u16, u32)> {
    if buf.len() < HEADER_LEN {
        return None;
    }
    let tag = u16::from_be_bytes([buf[0], buf[1]]);
    let len = u32::from_be_bytes([buf[2], buf[3], buf[4], buf[5]]);
    Some((tag, len))
}

/// Parse one frame at the start of `buf`.
pub fn parse_frame(buf: &[u8]) -> Result<Frame<'_>, FrameError> {
    let (tag, len) = peek_header(buf).ok_or(FrameError::Truncated {
        needed: HEADER_LEN,
        have: buf.len(),
    })?;
    if len > i32::MAX as u32 {
        return Err(FrameError::NegativeLength);
    }
    let end = HEADER_LEN + len as usize;
    if buf.len() < end + CRC_LEN {
        return Err(FrameError::Truncated {
            needed: end + CRC_LEN,
            have: buf.len(),
        });
    }
    Ok(Frame {
        tag,
        covered: &buf[..end],
        crc: u16::from_be_bytes([buf[end], buf[end + 1]]),
    })
}

/// Iterator over consecutive frames of a buffer. Stops after an error or at the end of input.
#[derive(Debug, Clone)]
pub struct FrameIter<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> FrameIter<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        FrameIter {
            rest: buf,
            failed: false,
        }
    }
    /// Bytes not consumed yet.
    pub fn remainder(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for FrameIter<'a> {
    type Item = Result<Frame<'a>, FrameError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match parse_frame(self.rest) {
            Ok(f) => {
                self.rest = &self.rest[f.wire_len()..];
                Some(Ok(f))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Append one TLV with the given ciphertext to `out`.
pub fn encode_frame(tag: u16, cipher: &[u8], out: &mut Vec<u8>) {
    let len = (cipher.len() as u32).to_be_bytes();
    let tagb = tag.to_be_bytes();
    let crc = crc16_parts(&[&tagb, &len, cipher]);
    out.reserve(OVERHEAD + cipher.len());
    out.extend_from_slice(&tagb);
    out.extend_from_slice(&len);
    out.extend_from_slice(cipher);
    out.extend_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_errors() {
        let mut v = Vec::new();
        encode_frame(0x1234, &[1, 2, 3], &mut v);
        encode_frame(50, &[], &mut v);
        let frames: Vec<_> = FrameIter::new(&v).collect::<Result<_, _>>().unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].tag, 0x1234);
        assert_eq!(frames[0].cipher(), &[1, 2, 3]);
        assert!(frames[0].crc_ok() && frames[1].crc_ok());
        assert_eq!(
            parse_frame(&v[..5]),
            Err(FrameError::Truncated { needed: 6, have: 5 })
        );
        assert_eq!(
            parse_frame(&[0, 1, 0xff, 0xff, 0xff, 0xf0, 0, 0]),
            Err(FrameError::NegativeLength)
        );
        assert_eq!(
            parse_frame(&[0, 1, 0x7f, 0xff, 0xff, 0xf0, 0, 0]),
            Err(FrameError::Truncated {
                needed: 6 + 0x7fff_fff0 + 2,
                have: 8
            })
        );
    }
}
