//! `okc decode` / `okc encode`: look inside captured bytes and build messages by hand.
//!
//! ```text
//! okc decode HEX|@file [--key KEY] [--json]
//! okc encode --type N [--key KEY] [--payload TEXT|@file]
//! ```
//! KEY is `default` (the vendor's fixed key) or the 32 ASCII characters of a session key.
//! `decode` accepts hex with any whitespace, `0x` prefixes and `,`/`:` separators, and dumps
//! in `xxd`, `hexdump -C` and log-line (`… Received: 00 31 …`) form. It lists every TLV (tag,
//! length, CRC check, plaintext) — printable text as is, cp1254 text decoded, anything else as
//! hex — and whether the USB listener would accept the first message. Decryption tries the
//! given key and falls back to the default key.

use serde_json::json;

use okclink_wire::crc::crc16;
use okclink_wire::frame::{FrameError, FrameIter};
use okclink_wire::message::{accept_usb, build_message};
use okclink_wire::pipeline::{open, Key, DEFAULT_MAX_PLAINTEXT};

pub const DECODE_USAGE: &str = "usage: okc decode HEX|@file [--key default|<32 chars>] [--json]";
pub const ENCODE_USAGE: &str =
    "usage: okc encode --type N [--key default|<32 chars>] [--payload TEXT|@file]";

/// Name of a message type (TLV tag), WIRE §7.
pub fn tag_name(tag: u16) -> &'static str {
    match tag {
        0 => "device_info",
        1 => "basket",
        2 => "fiscal_info",
        3 => "sale_info",
        4 => "hello",
        5 => "certificate",
        6 => "share_key",
        7 => "disconnect",
        8 => "reconnect",
        9 => "basket_status",
        10 => "payment",
        11 => "ack",
        49 => "start",
        50 => "end",
        60 => "error",
        _ => "unknown",
    }
}

/// Parse a KEY argument: `default` or exactly 32 ASCII characters.
pub fn parse_key(s: &str) -> Result<Key, String> {
    if s == "default" {
        return Ok(Key::DEFAULT);
    }
    if s.is_ascii() {
        if let Some(k) = Key::from_ascii(s.as_bytes()) {
            return Ok(k);
        }
    }
    Err(format!(
        "KEY must be `default` or 32 ASCII characters (got {} characters)",
        s.chars().count()
    ))
}

/// Read a `@file` argument or return the text itself.
fn text_or_file(arg: &str) -> Result<Vec<u8>, String> {
    match arg.strip_prefix('@') {
        Some(path) => std::fs::read(path).map_err(|e| format!("{path}: {e}")),
        None => Ok(arg.as_bytes().to_vec()),
    }
}

fn is_hex_token(t: &str) -> bool {
    !t.is_empty() && t.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Clean one token: drop `0x`, trailing `,`/`;`.
fn clean_token(t: &str) -> &str {
    let t = t.trim_end_matches([',', ';']);
    t.strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t)
}

/// Extract the hex digits of one line of a dump.
fn line_hex(line: &str) -> String {
    let mut line = line.trim();
    // hexdump -C: `00000000  00 31 00 …  |.1...|`: drop the ASCII column and the offset.
    let mut drop_offset = false;
    if let Some(p) = line.find('|') {
        line = line[..p].trim_end();
        drop_offset = true;
    }
    // xxd: `00000000: 0031 0000 0010 cbb3  .1......`: drop the offset and the ASCII column.
    if let Some((off, rest)) = line.split_once(": ") {
        if is_hex_token(off.trim()) {
            line = rest.split("  ").next().unwrap_or("");
        }
    }
    let tokens: Vec<&str> = line
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|t| !t.is_empty())
        .collect();
    let mut tokens: &[&str] = &tokens;
    if drop_offset && tokens.len() > 1 && tokens[0].len() >= 6 && is_hex_token(tokens[0]) {
        tokens = &tokens[1..];
    }
    // Log lines (`[…] [D] Serial: Received: 00 31 …`): the trailing run of hex tokens.
    let start = tokens
        .iter()
        .rposition(|t| !is_hex_token(clean_token(t)))
        .map_or(0, |p| p + 1);
    tokens[start..]
        .iter()
        .map(|t| clean_token(t))
        .collect::<Vec<_>>()
        .concat()
}

/// Hex text (or a dump of it) to bytes.
pub fn parse_hex_dump(text: &str) -> Result<Vec<u8>, String> {
    let digits: String = text.lines().map(line_hex).collect();
    if digits.is_empty() {
        return Err("no hex digits found in the input".into());
    }
    if digits.len() % 2 != 0 {
        return Err(format!(
            "odd number of hex digits ({}): the input is cut off or not hex",
            digits.len()
        ));
    }
    hex::decode(&digits).map_err(|e| format!("not hex: {e}"))
}

/// How a plaintext is shown.
enum Shown {
    Text(String),
    Cp1254(String),
    Hex(String),
}

fn show(value: &[u8]) -> Shown {
    let printable = |c: char| !c.is_control() || matches!(c, '\n' | '\r' | '\t');
    if let Ok(s) = std::str::from_utf8(value) {
        if s.chars().all(printable) {
            return Shown::Text(s.to_string());
        }
    }
    // Single-byte Turkish text (the devices' fiscal info, WIRE §15.2).
    let ascii = value
        .iter()
        .filter(|&&b| (0x20..0x7f).contains(&b) || b == b'\n')
        .count();
    if !value.is_empty() && ascii * 10 >= value.len() * 9 {
        let (s, _, _) = encoding_rs::WINDOWS_1254.decode(value);
        if s.chars().all(printable) {
            return Shown::Cp1254(s.into_owned());
        }
    }
    Shown::Hex(hex::encode(value))
}

struct Options {
    input: Vec<String>,
    key: Option<Key>,
    json: bool,
}

fn parse_decode_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        input: Vec::new(),
        key: None,
        json: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => o.json = true,
            "--key" => {
                let k = it
                    .next()
                    .ok_or_else(|| format!("--key needs a value\n{DECODE_USAGE}"))?;
                o.key = Some(parse_key(k)?);
            }
            "-h" | "--help" => return Err(DECODE_USAGE.into()),
            s if s.starts_with("--key=") => {
                o.key = Some(parse_key(&s[6..])?);
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}\n{DECODE_USAGE}")),
            s => o.input.push(s.to_string()),
        }
    }
    if o.input.is_empty() {
        return Err(DECODE_USAGE.into());
    }
    Ok(o)
}

/// Why `okc decode` / `okc encode` failed: a usage error (exit 1) or bad input (exit 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Usage(String),
    /// Bad input; `report` is what could still be shown (stdout), the text goes to stderr.
    Input {
        text: String,
        report: Option<String>,
    },
}

impl Failure {
    fn input(text: impl Into<String>) -> Failure {
        Failure::Input {
            text: text.into(),
            report: None,
        }
    }
    /// The message for stderr.
    pub fn text(&self) -> &str {
        match self {
            Failure::Usage(t) | Failure::Input { text: t, .. } => t,
        }
    }
}

/// `okc decode …` (arguments after `decode`): the report text, or an error for stderr.
pub fn decode_command(args: &[String]) -> Result<String, String> {
    decode_main(args).map_err(|f| f.text().to_string())
}

/// [`decode_command`] with the kind of failure: a message none of the keys opens (a
/// session-key message decoded without `--key`, or with a wrong one) is a failure too, with
/// the report of what could be read.
pub fn decode_main(args: &[String]) -> Result<String, Failure> {
    let o = parse_decode_args(args).map_err(Failure::Usage)?;
    let mut text = String::new();
    for i in &o.input {
        let t = text_or_file(i).map_err(Failure::input)?;
        text.push_str(&String::from_utf8_lossy(&t));
        text.push('\n');
    }
    let bytes = parse_hex_dump(&text).map_err(Failure::input)?;
    let (report, unopened) = decode_report(&bytes, o.key, o.json).map_err(Failure::input)?;
    if unopened == 0 {
        return Ok(report);
    }
    let text = match o.key {
        Some(k) if !k.is_default() => format!(
            "{unopened} TLV(s) do not open with the given key nor the default key: is --key the session key of this connection (the 32 digits the host sent as type 6)?"
        ),
        _ => format!(
            "{unopened} TLV(s) do not open with the default key: a message sent after the key share needs the session key, pass --key KEY (the 32 digits the host sent as type 6, found in the log)"
        ),
    };
    Err(Failure::Input {
        text,
        report: Some(report),
    })
}

/// The keys to try, with the label printed for each.
fn keys(given: Option<Key>) -> Vec<(Key, &'static str)> {
    match given {
        Some(k) if !k.is_default() => vec![(k, "given"), (Key::DEFAULT, "default")],
        _ => vec![(Key::DEFAULT, "default")],
    }
}

/// Decode raw message bytes (the core of [`decode_command`]).
pub fn decode_bytes(bytes: &[u8], key: Option<Key>, as_json: bool) -> Result<String, String> {
    decode_report(bytes, key, as_json).map(|(r, _)| r)
}

/// [`decode_bytes`] plus the number of TLVs none of the keys opened.
pub fn decode_report(
    bytes: &[u8],
    key: Option<Key>,
    as_json: bool,
) -> Result<(String, usize), String> {
    let keys = keys(key);
    let mut unopened = 0usize;
    let mut out = String::new();
    let mut offset = 0usize;
    let mut index = 0usize;
    let mut first_key: Option<Key> = None;
    for f in FrameIter::new(bytes) {
        let f = match f {
            Ok(f) => f,
            Err(e) => {
                let msg = match e {
                    FrameError::NegativeLength => {
                        "length field has its top bit set (negative length)".to_string()
                    }
                    FrameError::Truncated { needed, have } => {
                        format!("truncated TLV: needs {needed} bytes, {have} left")
                    }
                };
                if as_json {
                    out.push_str(&json!({"offset": offset, "error": msg}).to_string());
                    out.push('\n');
                } else {
                    out.push_str(&format!("@{offset}: {msg}\n"));
                }
                break;
            }
        };
        let crc_ok = f.crc_ok();
        let opened = keys.iter().find_map(|(k, label)| {
            open(k, f.cipher(), DEFAULT_MAX_PLAINTEXT)
                .ok()
                .map(|v| (*k, *label, v))
        });
        if let (None, Some((k, _, _))) = (first_key, &opened) {
            first_key = Some(*k);
        }
        if opened.is_none() {
            unopened += 1;
        }
        if as_json {
            let mut j = json!({
                "index": index,
                "offset": offset,
                "tag": f.tag,
                "name": tag_name(f.tag),
                "len": f.len(),
                "crc": format!("{:04x}", f.crc),
                "crc_ok": crc_ok,
            });
            if !crc_ok {
                j["crc_expected"] = json!(format!("{:04x}", crc16(f.covered)));
            }
            match &opened {
                Some((_, label, v)) => {
                    j["key"] = json!(label);
                    match show(v) {
                        Shown::Text(s) => j["text"] = json!(s),
                        Shown::Cp1254(s) => {
                            j["text"] = json!(s);
                            j["encoding"] = json!("cp1254");
                        }
                        Shown::Hex(h) => j["hex"] = json!(h),
                    }
                }
                None => j["error"] = json!("cannot decrypt/decompress with the key(s) tried"),
            }
            out.push_str(&j.to_string());
            out.push('\n');
        } else {
            let crc = if crc_ok {
                format!("crc {:04x} ok", f.crc)
            } else {
                format!("crc {:04x} BAD (expected {:04x})", f.crc, crc16(f.covered))
            };
            let value = match &opened {
                Some((_, label, v)) => {
                    let shown = match show(v) {
                        Shown::Text(s) => format!("{s:?}"),
                        Shown::Cp1254(s) => format!("{s:?} (cp1254)"),
                        Shown::Hex(h) => format!("hex {h}"),
                    };
                    format!("[{label} key, {} bytes] {shown}", v.len())
                }
                None => "[cannot decrypt/decompress with the key(s) tried]".to_string(),
            };
            out.push_str(&format!(
                "#{index} @{offset} tag {} ({}) len {} {crc} {value}\n",
                f.tag,
                tag_name(f.tag),
                f.len()
            ));
        }
        offset += f.wire_len();
        index += 1;
    }
    if index == 0 {
        return Err(format!(
            "no TLV found in {} bytes{}",
            bytes.len(),
            if out.is_empty() {
                String::new()
            } else {
                format!(": {}", out.trim_end())
            }
        ));
    }
    // What the USB listener would say about the first message, with the key that opened it.
    let k = first_key.unwrap_or(keys[0].0);
    let verdict = accept_usb(&k, bytes, DEFAULT_MAX_PLAINTEXT);
    if as_json {
        let j = match &verdict {
            Ok(t) => json!({"verdict": "accepted", "data_tlvs": t.len()}),
            Err(r) => json!({"verdict": "rejected", "reason": r.text}),
        };
        out.push_str(&j.to_string());
        out.push('\n');
    } else {
        match &verdict {
            Ok(t) => out.push_str(&format!(
                "usb listener: accepted ({} data TLV{})\n",
                t.len(),
                if t.len() == 1 { "" } else { "s" }
            )),
            Err(r) => out.push_str(&format!("usb listener: rejected: {}\n", r.text)),
        }
    }
    Ok((out, unopened))
}

/// `okc encode …` (arguments after `encode`): the message as lowercase hex plus a newline.
pub fn encode_command(args: &[String]) -> Result<String, String> {
    encode_main(args).map_err(|f| f.text().to_string())
}

/// [`encode_command`] with the kind of failure (only an unreadable `@FILE` is bad input).
pub fn encode_main(args: &[String]) -> Result<String, Failure> {
    let usage = Failure::Usage;
    let mut t: Option<u16> = None;
    let mut key = Key::DEFAULT;
    let mut payload: Vec<u8> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = || -> Result<String, Failure> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| usage(format!("{name} needs a value\n{ENCODE_USAGE}"))),
            }
        };
        match name {
            "--type" => {
                let v = value()?;
                t = Some(
                    v.parse::<u16>()
                        .map_err(|_| usage(format!("--type must be 0..65535 (got {v:?})")))?,
                );
            }
            "--key" => key = parse_key(&value()?).map_err(usage)?,
            "--payload" => payload = text_or_file(&value()?).map_err(Failure::input)?,
            "-h" | "--help" => return Err(usage(ENCODE_USAGE.into())),
            other => {
                return Err(usage(format!(
                    "unexpected argument {other}\n{ENCODE_USAGE}"
                )))
            }
        }
    }
    let t = t.ok_or_else(|| usage(format!("--type is required\n{ENCODE_USAGE}")))?;
    let mut s = hex::encode(build_message(&key, t, &payload));
    s.push('\n');
    Ok(s)
}
