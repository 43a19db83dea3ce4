//! Text between callers (UTF-8) and devices (Windows-1254 bytes, WIRE §15.2, DROP-IN §7.5).
//!
//! The one text codec of the project: the host runtime, the device simulator and the vendor
//! shims (through the C API) all use these functions, so cp1254 is coded once.

use std::collections::HashMap;

use std::sync::LazyLock;

/// How text crosses the wire. Devices speak cp1254 (WIRE §15.2, samples); callers speak UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextEncoding {
    /// Outgoing UTF-8 text is sent as Windows-1254; incoming non-UTF-8 bytes are read as cp1254.
    #[default]
    Cp1254,
    /// Outgoing text is sent as UTF-8 unchanged; incoming non-UTF-8 bytes are still read as cp1254.
    Utf8,
}

impl std::str::FromStr for TextEncoding {
    type Err = String;
    /// `cp1254` / `windows-1254` / `windows1254`, `utf8` / `utf-8` (case, `-` and `_` ignored).
    fn from_str(s: &str) -> Result<Self, String> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', '_'], "")
            .as_str()
        {
            "cp1254" | "windows1254" => Ok(TextEncoding::Cp1254),
            "utf8" => Ok(TextEncoding::Utf8),
            o => Err(format!("unknown text encoding {o:?} (cp1254 or utf8)")),
        }
    }
}

/// Device bytes → caller text: valid UTF-8 passes unchanged, anything else is read as cp1254
/// (every byte maps to a character, so nothing is ever lost or replaced by garbage).
pub fn decode_device_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => {
            let (s, _had_errors) = encoding_rs::WINDOWS_1254.decode_without_bom_handling(bytes);
            s.into_owned()
        }
    }
}

/// [`decode_device_text`] of an owned buffer: valid UTF-8 becomes the `String` without a
/// copy (the usual case: devices send ASCII JSON).
pub fn decode_device_bytes(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => decode_device_text(e.as_bytes()),
    }
}

/// cp1254 bytes 0x80..=0xFF by character.
static CP1254_HIGH: LazyLock<HashMap<char, u8>> = LazyLock::new(|| {
    let mut m = HashMap::new();
    for b in 0x80u8..=0xFF {
        let one = [b];
        let (s, had_errors) = encoding_rs::WINDOWS_1254.decode_without_bom_handling(&one);
        if had_errors {
            continue;
        }
        let mut it = s.chars();
        if let (Some(c), None) = (it.next(), it.next()) {
            if c != '\u{FFFD}' {
                m.entry(c).or_insert(b);
            }
        }
    }
    m
});

/// Caller JSON → bytes on the wire. With [`TextEncoding::Cp1254`], characters cp1254 has are
/// sent as their single byte; characters it lacks are written as JSON `\uXXXX` escapes —
/// in valid JSON non-ASCII can only occur inside strings, so the result stays valid JSON
/// with the same meaning (instead of the `?` a code-page conversion would leave).
///
/// ```
/// use okclink_wire::text::{decode_device_text, encode_outgoing_json, TextEncoding};
///
/// let wire = encode_outgoing_json(r#"{"name":"ŞEKER Ж"}"#, TextEncoding::Cp1254);
/// // Ş is one cp1254 byte (0xDE); Ж has no cp1254 byte and becomes a JSON escape.
/// assert_eq!(wire, b"{\"name\":\"\xdeEKER \\u0416\"}".to_vec());
/// assert_eq!(decode_device_text(&wire), r#"{"name":"ŞEKER \u0416"}"#);
/// ```
pub fn encode_outgoing_json(json: &str, enc: TextEncoding) -> Vec<u8> {
    match enc {
        TextEncoding::Utf8 => json.as_bytes().to_vec(),
        TextEncoding::Cp1254 => {
            if json.is_ascii() {
                return json.as_bytes().to_vec();
            }
            let mut out = Vec::with_capacity(json.len());
            for c in json.chars() {
                if c.is_ascii() {
                    out.push(c as u8);
                } else if let Some(b) = CP1254_HIGH.get(&c) {
                    out.push(*b);
                } else {
                    let mut buf = [0u16; 2];
                    for u in c.encode_utf16(&mut buf) {
                        out.extend_from_slice(format!("\\u{u:04x}").as_bytes());
                    }
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turkish_round_trip() {
        let s = "{\"name\":\"ŞİŞE ÇAĞ ığüöÖÜ €\"}";
        let b = encode_outgoing_json(s, TextEncoding::Cp1254);
        assert_eq!(b.len(), s.chars().count());
        assert!(std::str::from_utf8(&b).is_err());
        assert_eq!(decode_device_text(&b), s);
    }

    #[test]
    fn unmappable_becomes_json_escape() {
        let s = "{\"n\":\"Ж😀\"}";
        let b = encode_outgoing_json(s, TextEncoding::Cp1254);
        assert_eq!(b, b"{\"n\":\"\\u0416\\ud83d\\ude00\"}".to_vec());
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["n"], "Ж😀");
    }

    #[test]
    fn vendor_error_text_decodes() {
        // "Ödemeleri ayrı ayrı göndermelisiniz" as the 300TR sends it (cp1254).
        let raw = b"\xd6demeleri ayr\xfd ayr\xfd g\xf6ndermelisiniz";
        assert_eq!(
            decode_device_text(raw),
            "Ödemeleri ayrı ayrı göndermelisiniz"
        );
        assert_eq!(decode_device_text("Kredi Kartı".as_bytes()), "Kredi Kartı");
        assert_eq!(decode_device_bytes(raw.to_vec()), decode_device_text(raw));
        assert_eq!(decode_device_bytes(b"{\"a\":1}".to_vec()), "{\"a\":1}");
    }

    #[test]
    fn utf8_mode_passes_through() {
        let s = "{\"a\":\"ş\"}";
        assert_eq!(encode_outgoing_json(s, TextEncoding::Utf8), s.as_bytes());
    }
}
