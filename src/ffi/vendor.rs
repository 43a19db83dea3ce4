//! The vendor's semantics, decided once, for every vendor-compatible layer: the Linux C++
//! shim (`vendor_linux.cpp`, through the `okc_vendor_*` exports of [`super::okc`]), the
//! Windows exports (`vendor_win.rs`, directly) and the .NET assembly
//! (`bindings/csharp/IntegrationHub.cs`, through `okc_vendor_*`). Those layers only marshal
//! (std::string / UTF-16 / BSTR / .NET strings ⇄ these functions).
//!
//! - caller text: valid UTF-8 passes, anything else is read as Windows-1254 (what the vendor
//!   sent to the device as raw bytes), with the wire crate's codec;
//! - send code: [`SendOutcome::vendor_code`] (1 accepted, −1 ACK timeout, 0 no device), and 0
//!   for every error (bad handle, bad input, too large, closed);
//! - fiscal info: the fresh value; after a timeout the last value received; "" otherwise;
//! - device text out of the Linux layer: UTF-8, or the vendor's Windows-1254 bytes
//!   (`vendor_text`, [`VendorText`]).

use std::borrow::Cow;
use std::time::Duration;

use okclink_wire::text::{decode_device_text, encode_outgoing_json, TextEncoding};

use super::okc::create_handle;
use super::{escape_nul, FfiError, FfiResult, HubEntry, OkcStatus};
use crate::config::{Config, VendorText};
use crate::hub::{HubError, SendOutcome};

/// Which vendor send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendKind {
    Basket,
    Payment,
}

/// Caller text of a vendor entry point (company name, basket, payment): valid UTF-8 passes
/// unchanged, anything else is read as Windows-1254.
pub(crate) fn caller_text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(decode_device_text(bytes)),
    }
}

/// Device text as a vendor layer hands it out. A NUL is written as `\u0000` (as everywhere
/// in the C API), so the result never holds a NUL byte. With [`VendorText::Cp1254`] every
/// character Windows-1254 has is its one byte (the device's own bytes); a character it lacks
/// is written as the JSON escape `\uXXXX`.
pub(crate) fn device_text_out(s: &str, enc: VendorText) -> Vec<u8> {
    let s = escape_nul(s);
    match enc {
        VendorText::Utf8 => s.into_owned().into_bytes(),
        VendorText::Cp1254 => encode_outgoing_json(&s, TextEncoding::Cp1254),
    }
}

/// `createCommunication`: the vendor defaults with this company name, then the `OKC_*`
/// environment (the vendor entry points have no JSON). Returns the handle value.
pub(crate) fn create(company_name: &str) -> FfiResult<usize> {
    let config = Config::from_env(company_name)
        .map_err(|e| FfiError::new(OkcStatus::OKC_ERR_CONFIG, e.0))?;
    create_handle(config)
}

/// `sendBasket` / `sendPayment` on a live handle.
pub(crate) fn send(e: &HubEntry, json: &str, kind: SendKind) -> FfiResult<SendOutcome> {
    let r = match kind {
        SendKind::Basket => e.hub.send_basket(json),
        SendKind::Payment => e.hub.send_payment(json),
    };
    r.map_err(FfiError::from)
}

/// The vendor integer of a send: [`SendOutcome::vendor_code`] (the one mapping), 0 for any
/// error before or instead of an outcome.
pub(crate) fn send_code(r: &FfiResult<SendOutcome>) -> i32 {
    r.as_ref().map_or(0, |o| o.vendor_code())
}

/// `getFiscalInfo`: the fresh value; after a timeout the last value received (vendor: it
/// answered with what it had after its 5 s wait); "" otherwise (no device, closed, refused
/// as too large). Also returns how the fresh request went.
pub(crate) fn fiscal_info(e: &HubEntry, timeout: Option<Duration>) -> (String, FfiResult<()>) {
    match e.hub.fiscal_info(timeout) {
        Ok(s) => (s, Ok(())),
        Err(HubError::Timeout) => (e.hub.last_fiscal_info(), Err(HubError::Timeout.into())),
        Err(err) => (String::new(), Err(err.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_text_utf8_passes_cp1254_is_read() {
        assert!(matches!(
            caller_text("Şirket".as_bytes()),
            Cow::Borrowed("Şirket")
        ));
        assert_eq!(
            caller_text(b"\xDEirket \xDDstanbul \xF0\xFD"),
            "Şirket İstanbul ğı"
        );
    }

    #[test]
    fn device_text_out_encodings() {
        assert_eq!(
            device_text_out("POŞET", VendorText::Utf8),
            "POŞET".as_bytes()
        );
        assert_eq!(device_text_out("POŞET", VendorText::Cp1254), b"PO\xDEET");
        assert_eq!(device_text_out("a\0b", VendorText::Cp1254), b"a\\u0000b");
        assert_eq!(device_text_out("Ж", VendorText::Cp1254), b"\\u0416");
    }

    #[test]
    fn send_codes() {
        assert_eq!(send_code(&Ok(SendOutcome::Accepted)), 1);
        assert_eq!(send_code(&Ok(SendOutcome::AckTimeout)), -1);
        assert_eq!(send_code(&Ok(SendOutcome::NoDevice)), 0);
        let e = FfiError::new(OkcStatus::OKC_ERR_INVALID_JSON, "x");
        assert_eq!(send_code(&Err(e)), 0);
    }
}
