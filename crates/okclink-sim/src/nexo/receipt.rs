//! Swedbank's receipt data: UTF-8 JSON, Base64 in `OutputText`. Top key `Merchant`
//! (CashierReceipt) or `Cardholder` (CustomerReceipt), each with `Mandatory` and `Optional`;
//! amounts are strings with a decimal comma; the customer PAN shows the last 4 digits, the
//! merchant PAN the first 6 and last 4.

use base64::Engine as _;
use serde_json::{json, Value};

use super::assumptions as a;

/// What a receipt says.
#[derive(Debug, Clone)]
pub(crate) struct ReceiptData {
    pub amount_minor: i64,
    pub currency: String,
    pub approval_code: Option<String>,
    pub response_code: &'static str,
    pub debit_status: &'static str,
    pub transaction_type: &'static str,
    pub signature: bool,
    pub receipt_number: u32,
    /// The POS's TransactionID.
    pub reference: String,
    pub date: String,
    pub time: String,
    /// Headline printed in the lines ("GODKÄNT", "NEKAT", "MAKULERING").
    pub headline: &'static str,
}

/// "56,00".
pub(crate) fn comma_amount(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.abs();
    format!("{sign}{},{:02}", m / 100, m % 100)
}

fn build(d: &ReceiptData, merchant: bool) -> Value {
    let pan = if merchant {
        format!("{}******{}", a::CARD_PAN_FIRST6, a::CARD_PAN_LAST4)
    } else {
        format!("************{}", a::CARD_PAN_LAST4)
    };
    let amount = comma_amount(d.amount_minor);
    let mut lines: Vec<String> = vec![
        a::ACCEPTOR_NAME.into(),
        a::ACCEPTOR_ADDRESS.into(),
        format!("{} {}", a::ACCEPTOR_ZIP, a::ACCEPTOR_TOWN),
        format!("Org.nr {}", a::ACCEPTOR_ORG_NO),
        String::new(),
        format!("{} {}", d.date, d.time),
        format!("Term: {}  Butik: {}", a::ACQUIRER_POI_ID, a::MERCHANT_ID),
        format!("{} {}", a::CARD_LABEL, pan),
        format!("AID: {}", a::CARD_AID),
        d.transaction_type.to_string(),
        format!("Belopp: {amount} {}", d.currency),
        format!("Ref: {}  Kvitto: {:04}", d.reference, d.receipt_number),
    ];
    if let Some(code) = &d.approval_code {
        lines.push(format!("Godk.kod: {code}"));
    }
    lines.push(format!("Svarskod: {}", d.response_code));
    lines.push(d.headline.to_string());
    if merchant && d.signature {
        lines.push(String::new());
        lines.push("Signatur: ____________________".into());
    }
    lines.push(String::new());
    lines.push(if merchant {
        "Försäljarens kvitto".into()
    } else {
        "Kortinnehavarens kvitto".into()
    });
    let body = json!({
        "Mandatory": {
            "Acquirer": {"CardAcceptorNumber": a::MERCHANT_ID, "TerminalID": a::ACQUIRER_POI_ID},
            "CardAcceptor": {
                "Address1": a::ACCEPTOR_ADDRESS,
                "BankAgentName": a::BANK_AGENT,
                "Name": a::ACCEPTOR_NAME,
                "OrganisationNumber": a::ACCEPTOR_ORG_NO,
                "PostZipCode": a::ACCEPTOR_ZIP,
                "TownCity": a::ACCEPTOR_TOWN,
            },
            "CardDetails": {
                "ApplicationIdentifier": a::CARD_AID,
                "CardSchemeName": {"ApplicationLabel": a::CARD_LABEL},
                "PrimaryAccountNumber": pan,
                "TerminalVerificationResult": "0000008000",
                "TransactionStatusInformation": "E800",
            },
            "Outcome": {
                "ApprovalCode": d.approval_code.clone().unwrap_or_default(),
                "AuthorisationResponder": a::AUTHORISATION_RESPONDER,
                "AuthorisationResponseCode": d.response_code,
                "DebitStatus": d.debit_status,
            },
            "Payment": {
                "AuthorisationChannel": "1",
                "CardholderVerificationMethod": if d.signature { "Signature" } else { "PIN" },
                "Currency": d.currency,
                "FinancialInstitution": a::CARD_SCHEME,
                "PaymentAmount": amount,
                "ReceiptNumber": format!("{:04}", d.receipt_number),
                "SignatureBlock": merchant && d.signature,
                "TotalAmount": amount,
                "TransactionSource": "K",
                "TransactionType": d.transaction_type,
            },
            "TimeStamp": {"DateOfPayment": d.date, "TimeOfPayment": d.time},
        },
        "Optional": {
            "CardAcceptor": {"CountryName": a::ACCEPTOR_COUNTRY, "PhoneNumber": a::ACCEPTOR_PHONE},
            "CardDetails": {"CardSchemeName": a::CARD_SCHEME},
            "Payment": {"Reference": d.reference},
            "ReceiptString": lines,
        },
    });
    if merchant {
        json!({ "Merchant": body })
    } else {
        json!({ "Cardholder": body })
    }
}

/// Base64 of the receipt JSON: merchant (CashierReceipt) or cardholder (CustomerReceipt).
pub(crate) fn encoded(d: &ReceiptData, merchant: bool) -> String {
    base64::engine::general_purpose::STANDARD.encode(build(d, merchant).to_string())
}

/// `<PaymentReceipt DocumentQualifier=…>` for the given copy.
pub(crate) fn element(d: &ReceiptData, merchant: bool) -> String {
    format!(
        "<PaymentReceipt DocumentQualifier=\"{}\"><OutputContent OutputFormat=\"Text\"><OutputText>{}</OutputText></OutputContent></PaymentReceipt>",
        if merchant { "CashierReceipt" } else { "CustomerReceipt" },
        encoded(d, merchant)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comma_amounts() {
        assert_eq!(comma_amount(5600), "56,00");
        assert_eq!(comma_amount(5), "0,05");
        assert_eq!(comma_amount(-1250), "-12,50");
    }
}
