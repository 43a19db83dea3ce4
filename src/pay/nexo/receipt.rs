//! Swedbank Pay receipts: `PaymentReceipt/OutputContent/OutputText` is Base64 of UTF-8 JSON.
//!
//! The top key is `Cardholder` in a `CustomerReceipt` and `Merchant` in a `CashierReceipt`;
//! each holds `Mandatory` and `Optional`:
//!
//! - `Mandatory`: `Acquirer{CardAcceptorNumber, TerminalID}`, `CardAcceptor{Address1,
//!   BankAgentName, Name, OrganisationNumber, PostZipCode, TownCity}`,
//!   `CardDetails{ApplicationIdentifier, CardSchemeName{ApplicationLabel},
//!   PrimaryAccountNumber, …}`, `Outcome{ApprovalCode, AuthorisationResponder,
//!   AuthorisationResponseCode, DebitStatus}`, `Payment{…, Currency, PaymentAmount,
//!   ReceiptNumber, SignatureBlock (bool), TotalAmount, TransactionType, …}`,
//!   `TimeStamp{DateOfPayment "YYYY-MM-DD", TimeOfPayment "HH:MM"}`;
//! - `Optional`: `CardAcceptor{CountryName, PhoneNumber}`, `Payment{Reference}` (the POS
//!   TransactionID) and `ReceiptString[]`, the ready-to-print lines.
//!
//! Amounts in the JSON are strings with a decimal comma ("56,00"); the customer PAN is
//! masked to its last 4 digits, the merchant PAN to the first 6 and last 4.
//! `Merchant.Mandatory.Payment.SignatureBlock = true` means the merchant copy must be printed
//! and signed. A reversal receipt says "Makulering" with `DebitStatus` "91". On a declined
//! payment the real response code is `Outcome.AuthorisationResponseCode`.
//!
//! Always print or store the customer receipt when a card was used.

use base64::Engine as _;
use serde_json::Value;

use super::msg::ReceiptDoc;

/// Whose copy a receipt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptKind {
    /// `Cardholder` (DocumentQualifier `CustomerReceipt`).
    Customer,
    /// `Merchant` (DocumentQualifier `CashierReceipt`).
    Merchant,
}

/// A decoded receipt.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    pub kind: ReceiptKind,
    /// Printable lines: `Optional.ReceiptString` when present, else built from `Mandatory`.
    pub lines: Vec<String>,
    /// The whole JSON (the top key included).
    pub json: Value,
    /// `Mandatory.Payment.SignatureBlock`.
    pub signature_required: bool,
    /// `Mandatory.Outcome.ApprovalCode` (absent or empty → `None`).
    pub approval_code: Option<String>,
    /// `Mandatory.Outcome.AuthorisationResponseCode` ("00" approved).
    pub response_code: Option<String>,
}

/// A JSON scalar as text (strings as is, numbers and booleans printed); empty → `None`.
fn text(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

/// Decodes one `ReceiptDoc` (whitespace in the Base64 is ignored).
pub fn decode_receipt(doc: &ReceiptDoc) -> Result<Receipt, String> {
    let raw = doc.output_text.as_str();
    let b64: std::borrow::Cow<str> = if raw.bytes().any(|b| b.is_ascii_whitespace()) {
        raw.chars().filter(|c| !c.is_ascii_whitespace()).collect()
    } else {
        raw.into()
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|e| format!("receipt {}: not Base64: {e}", doc.document_qualifier))?;
    let s = std::str::from_utf8(&bytes)
        .map_err(|e| format!("receipt {}: not UTF-8: {e}", doc.document_qualifier))?;
    let json: Value = serde_json::from_str(s)
        .map_err(|e| format!("receipt {}: not JSON: {e}", doc.document_qualifier))?;
    let (kind, top) = if let Some(t) = json.get("Cardholder") {
        (ReceiptKind::Customer, t)
    } else if let Some(t) = json.get("Merchant") {
        (ReceiptKind::Merchant, t)
    } else {
        return Err(format!(
            "receipt {}: neither Cardholder nor Merchant",
            doc.document_qualifier
        ));
    };
    let m = top.get("Mandatory").unwrap_or(&Value::Null);
    let signature_required = match at(m, &["Payment", "SignatureBlock"]) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.trim().eq_ignore_ascii_case("true"),
        _ => false,
    };
    let approval_code = text(at(m, &["Outcome", "ApprovalCode"]));
    let response_code = text(at(m, &["Outcome", "AuthorisationResponseCode"]));
    let ready: Option<Vec<String>> = at(top, &["Optional", "ReceiptString"])
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|l| text(Some(l)).or(Some(String::new())))
                .collect()
        });
    let lines = match ready {
        Some(l) if !l.is_empty() => l,
        _ => mandatory_lines(m, kind),
    };
    Ok(Receipt {
        kind,
        lines,
        signature_required,
        approval_code,
        response_code,
        json,
    })
}

/// Lines built from `Mandatory` when the terminal sent no `ReceiptString`: the card
/// acceptor's name and address, the card, the amount, date and time, the approval code, the
/// outcome and whose copy it is.
fn mandatory_lines(m: &Value, kind: ReceiptKind) -> Vec<String> {
    let f = |p: &[&str]| text(at(m, p));
    let mut lines = Vec::new();
    let mut push = |l: Option<String>| {
        if let Some(l) = l {
            lines.push(l);
        }
    };
    push(f(&["CardAcceptor", "Name"]));
    push(f(&["CardAcceptor", "Address1"]));
    let town = [
        f(&["CardAcceptor", "PostZipCode"]),
        f(&["CardAcceptor", "TownCity"]),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    push((!town.is_empty()).then_some(town));
    push(f(&["CardAcceptor", "OrganisationNumber"]).map(|o| format!("Org.nr {o}")));
    push(f(&["Acquirer", "TerminalID"]).map(|t| format!("Terminal {t}")));
    push(f(&["CardDetails", "CardSchemeName", "ApplicationLabel"]));
    push(f(&["CardDetails", "PrimaryAccountNumber"]));
    push(f(&["Payment", "TransactionType"]));
    let amount = f(&["Payment", "TotalAmount"]).or_else(|| f(&["Payment", "PaymentAmount"]));
    push(amount.map(|a| match f(&["Payment", "Currency"]) {
        Some(c) => format!("{a} {c}"),
        None => a,
    }));
    let when = [
        f(&["TimeStamp", "DateOfPayment"]),
        f(&["TimeStamp", "TimeOfPayment"]),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    push((!when.is_empty()).then_some(when));
    push(f(&["Payment", "ReceiptNumber"]).map(|r| format!("Receipt {r}")));
    push(f(&["Outcome", "ApprovalCode"]).map(|a| format!("Approval code {a}")));
    let outcome = [
        f(&["Outcome", "AuthorisationResponseCode"]).map(|c| format!("Response {c}")),
        f(&["Outcome", "DebitStatus"]).map(|d| format!("Debit status {d}")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    push((!outcome.is_empty()).then_some(outcome));
    push(Some(
        match kind {
            ReceiptKind::Customer => "Cardholder's copy",
            ReceiptKind::Merchant => "Merchant's copy",
        }
        .to_string(),
    ));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(q: &str, json: &str) -> ReceiptDoc {
        ReceiptDoc {
            document_qualifier: q.into(),
            output_text: base64::engine::general_purpose::STANDARD.encode(json),
        }
    }

    #[test]
    fn receipt_strings_win() {
        let r = decode_receipt(&doc(
            "CustomerReceipt",
            r#"{"Cardholder":{"Mandatory":{"Outcome":{"ApprovalCode":"611506","AuthorisationResponseCode":"00"},"Payment":{"SignatureBlock":false}},"Optional":{"ReceiptString":["BUTIKEN","56,00 SEK","Kortinnehavarens kvitto"]}}}"#,
        ))
        .unwrap();
        assert_eq!(r.kind, ReceiptKind::Customer);
        assert_eq!(r.lines, ["BUTIKEN", "56,00 SEK", "Kortinnehavarens kvitto"]);
        assert_eq!(r.approval_code.as_deref(), Some("611506"));
        assert_eq!(r.response_code.as_deref(), Some("00"));
        assert!(!r.signature_required);
    }

    #[test]
    fn lines_from_mandatory() {
        let r = decode_receipt(&doc(
            "CashierReceipt",
            r#"{"Merchant":{"Mandatory":{"CardAcceptor":{"Name":"Butiken","Address1":"Gatan 1","PostZipCode":"11122","TownCity":"Stockholm"},"CardDetails":{"PrimaryAccountNumber":"516815******9659","CardSchemeName":{"ApplicationLabel":"Mastercard"}},"Payment":{"TotalAmount":"56,00","Currency":"SEK","SignatureBlock":true},"TimeStamp":{"DateOfPayment":"2023-09-08","TimeOfPayment":"16:17"},"Outcome":{"ApprovalCode":"","AuthorisationResponseCode":"05"}}}}"#,
        ))
        .unwrap();
        assert_eq!(r.kind, ReceiptKind::Merchant);
        assert!(r.signature_required);
        assert_eq!(r.approval_code, None);
        assert_eq!(r.response_code.as_deref(), Some("05"));
        assert_eq!(
            r.lines,
            [
                "Butiken",
                "Gatan 1",
                "11122 Stockholm",
                "Mastercard",
                "516815******9659",
                "56,00 SEK",
                "2023-09-08 16:17",
                "Response 05",
                "Merchant's copy"
            ]
        );
    }

    #[test]
    fn bad_receipts() {
        for t in ["%%%", "bm90IGpzb24=", "e30="] {
            let d = ReceiptDoc {
                document_qualifier: "CustomerReceipt".into(),
                output_text: t.into(),
            };
            assert!(decode_receipt(&d).is_err(), "{t}");
        }
    }
}
