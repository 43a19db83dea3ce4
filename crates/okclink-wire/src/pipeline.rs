//! Payload pipeline (WIRE.md §5): zlib (RFC 1950, level 6) then AES-256-ECB with PKCS#7,
//! and the reverse with a hard limit on the decompressed size.

use aes::Aes256;
use ecb::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyInit};
use std::fmt;

/// The vendor's fixed default key (WIRE §5.2), used as-is as the AES-256 key.
pub const DEFAULT_KEY_ASCII: &[u8; 32] = b"01234567890123456789012345678901";

/// Default upper bound for a decompressed payload (1 MiB).
pub const DEFAULT_MAX_PLAINTEXT: usize = 1 << 20;

/// zlib level used by the vendor (`compress()` default).
pub const ZLIB_LEVEL: u8 = 6;

/// A 32-byte AES-256 key: the default key or a session key of 32 ASCII digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(pub [u8; 32]);

impl Key {
    /// The fixed default key.
    pub const DEFAULT: Key = Key(*DEFAULT_KEY_ASCII);

    /// A fresh session key: 32 ASCII decimal digits from the OS CSPRNG (WIRE §5.2; the device
    /// cannot tell how the digits were drawn, so this is wire-compatible with the vendor's mt19937).
    pub fn random_session() -> Key {
        let mut out = [0u8; 32];
        let mut filled = 0;
        let mut buf = [0u8; 64];
        while filled < 32 {
            getrandom::getrandom(&mut buf).expect("OS random source unavailable");
            for &b in buf.iter() {
                // Rejection sampling: 250 = 25 * 10 keeps the digits uniform.
                if b < 250 && filled < 32 {
                    out[filled] = b'0' + b % 10;
                    filled += 1;
                }
            }
        }
        Key(out)
    }

    /// A key from its 32 ASCII characters (any bytes are accepted, as the vendor does).
    pub fn from_ascii(s: &[u8]) -> Option<Key> {
        <[u8; 32]>::try_from(s).ok().map(Key)
    }

    /// Whether this is a syntactically valid session key (32 ASCII digits).
    pub fn is_digits(&self) -> bool {
        self.0.iter().all(u8::is_ascii_digit)
    }

    pub fn is_default(&self) -> bool {
        *self == Key::DEFAULT
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_default() {
            write!(f, "Key(default)")
        } else {
            // Session keys are secrets: show only a prefix in logs.
            write!(f, "Key({}…)", String::from_utf8_lossy(&self.0[..4]))
        }
    }
}

/// Why a value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipelineError {
    /// Ciphertext empty or not a multiple of 16, or the PKCS#7 padding is wrong (wrong key).
    Decrypt,
    /// Not a valid zlib stream (or empty).
    Inflate,
    /// The decompressed payload would exceed the limit.
    TooLarge { limit: usize },
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipelineError::Decrypt => write!(f, "AES decryption failed (bad padding or wrong key)"),
            PipelineError::Inflate => write!(f, "zlib decompression failed"),
            PipelineError::TooLarge { limit } => {
                write!(f, "decompressed payload exceeds the limit of {limit} bytes")
            }
        }
    }
}

impl std::error::Error for PipelineError {}

/// zlib `compress()` of the empty payload at level 6: what every start/end TLV carries.
pub const EMPTY_ZLIB: [u8; 8] = [0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01];

/// zlib `compress()` at level 6 (header `78 9c`).
///
/// Uses stock zlib (windowBits 15, memLevel 8, default strategy, one `Z_FINISH` call, exactly
/// like zlib's `compress()`), so the bytes equal the vendor's for every payload.
pub fn compress(payload: &[u8]) -> Vec<u8> {
    // Start/end TLVs: skip setting up a deflate stream (~300 KiB of state) for a constant.
    if payload.is_empty() {
        return EMPTY_ZLIB.to_vec();
    }
    zlib_compress(payload)
}

fn zlib_compress(payload: &[u8]) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress, Status};
    use std::cell::RefCell;
    // One deflate stream per thread, reset between messages: `deflateReset` gives the same
    // output as a fresh `deflateInit` and saves allocating ~300 KiB of state per message.
    thread_local! {
        static Z: RefCell<Compress> =
            RefCell::new(Compress::new(Compression::new(ZLIB_LEVEL as u32), true));
    }
    // compressBound(): enough for one-shot Z_FINISH.
    let bound = payload.len()
        + (payload.len() >> 12)
        + (payload.len() >> 14)
        + (payload.len() >> 25)
        + 13
        + 6;
    let mut out = Vec::with_capacity(bound);
    let run = |z: &mut Compress, out: &mut Vec<u8>| {
        z.reset();
        let status = z
            .compress_vec(payload, out, FlushCompress::Finish)
            .expect("zlib deflate cannot fail on a sized buffer");
        debug_assert_eq!(status, Status::StreamEnd);
    };
    let reused = Z
        .try_with(|z| match z.try_borrow_mut() {
            Ok(mut z) => {
                run(&mut z, &mut out);
                true
            }
            Err(_) => false,
        })
        .unwrap_or(false);
    if !reused {
        // Thread-local storage being torn down: a fresh stream.
        run(
            &mut Compress::new(Compression::new(ZLIB_LEVEL as u32), true),
            &mut out,
        );
    }
    out
}

/// Inflate a zlib stream, refusing to produce more than `limit` bytes.
pub fn decompress(data: &[u8], limit: usize) -> Result<Vec<u8>, PipelineError> {
    if data.is_empty() {
        return Err(PipelineError::Inflate);
    }
    // Start/end TLVs: the constant empty stream needs no inflater set-up.
    if data == EMPTY_ZLIB {
        return Ok(Vec::new());
    }
    match miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(data, limit) {
        Ok(v) => Ok(v),
        Err(e) if e.status == miniz_oxide::inflate::TINFLStatus::HasMoreOutput => {
            Err(PipelineError::TooLarge { limit })
        }
        Err(_) => Err(PipelineError::Inflate),
    }
}

/// AES-256-ECB with PKCS#7 padding.
pub fn encrypt(key: &Key, data: &[u8]) -> Vec<u8> {
    ecb::Encryptor::<Aes256>::new(key.as_bytes().into()).encrypt_padded_vec_mut::<Pkcs7>(data)
}

/// Reverse of [`encrypt`].
pub fn decrypt(key: &Key, data: &[u8]) -> Result<Vec<u8>, PipelineError> {
    if data.is_empty() || data.len() % 16 != 0 {
        return Err(PipelineError::Decrypt);
    }
    ecb::Decryptor::<Aes256>::new(key.as_bytes().into())
        .decrypt_padded_vec_mut::<Pkcs7>(data)
        .map_err(|_| PipelineError::Decrypt)
}

/// payload → zlib → AES: the value of a TLV.
pub fn seal(key: &Key, payload: &[u8]) -> Vec<u8> {
    encrypt(key, &compress(payload))
}

/// TLV value → AES⁻¹ → inflate (bounded by `limit`).
pub fn open(key: &Key, cipher: &[u8], limit: usize) -> Result<Vec<u8>, PipelineError> {
    decompress(&decrypt(key, cipher)?, limit)
}

/// Length of the ciphertext for a compressed length: `ceil16(z + 1)` (PKCS#7 always pads).
pub fn cipher_len_for_compressed(z: usize) -> usize {
    (z / 16 + 1) * 16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_keys_are_digits_and_differ() {
        let a = Key::random_session();
        let b = Key::random_session();
        assert!(a.is_digits() && b.is_digits());
        assert_ne!(a, b);
        assert!(!a.is_default());
    }

    #[test]
    fn empty_payload_shortcut_is_exact() {
        assert_eq!(zlib_compress(b""), EMPTY_ZLIB);
        assert_eq!(compress(b""), EMPTY_ZLIB);
        assert_eq!(
            miniz_oxide::inflate::decompress_to_vec_zlib(&EMPTY_ZLIB).unwrap(),
            b""
        );
        assert_eq!(decompress(&EMPTY_ZLIB, 0).unwrap(), b"");
    }

    #[test]
    fn bomb_is_refused() {
        let big = vec![0u8; 4 << 20];
        let z = compress(&big);
        assert!(z.len() < 10_000);
        assert_eq!(
            decompress(&z, 1 << 20),
            Err(PipelineError::TooLarge { limit: 1 << 20 })
        );
        assert_eq!(decompress(&z, 4 << 20).unwrap().len(), 4 << 20);
    }

    #[test]
    fn wrong_key_fails() {
        let c = seal(&Key::DEFAULT, b"OK");
        let k = Key(*b"00115663341140995977338038486879");
        assert!(open(&k, &c, 100).is_err());
        assert_eq!(open(&Key::DEFAULT, &c, 100).unwrap(), b"OK");
        assert_eq!(decrypt(&Key::DEFAULT, &[]), Err(PipelineError::Decrypt));
        assert_eq!(
            decrypt(&Key::DEFAULT, &[0; 15]),
            Err(PipelineError::Decrypt)
        );
    }
}
