//! The JSON shapes of the API (their OpenAPI schemas are derived from these types).

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// `GET /healthz`, `GET /readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` (healthz) or `ready` (readyz).
    pub status: String,
}

/// `GET /v1/status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    pub version: String,
    pub fiscal: Option<FiscalStatus>,
    pub payment: Option<PaymentStatus>,
    pub energy: Option<EnergyStatus>,
    pub journal: Option<JournalStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FiscalStatus {
    /// The transport as configured (credentials removed), `sim:x30tr` for the simulator.
    pub transport: String,
    pub connected: bool,
    /// The connected device's fiscal serial number (null while disconnected).
    pub serial: Option<String>,
    /// `X30TR`, `300TR`, `cloud`, or null while unknown.
    pub model: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentStatus {
    pub transport: String,
    /// `ready`, `busy` (a call in progress) or `unavailable`.
    pub state: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnergyStatus {
    pub configured: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JournalStatus {
    pub path: String,
    /// Entries recorded or sent without an answer (baskets, payments…).
    pub unfinished: usize,
}

/// `POST /v1/fiscal/baskets` → 202.
#[derive(Debug, Serialize, ToSchema)]
pub struct BasketAccepted {
    #[serde(rename = "basketID")]
    pub basket_id: String,
    pub state: String,
    /// The basket's URL (also in `Location`).
    pub url: String,
}

/// A basket as the journal has it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BasketView {
    #[serde(rename = "basketID")]
    pub basket_id: String,
    /// `recorded`, `sent`, `answered`, `in_doubt`, `not_sent` or `failed`.
    pub state: String,
    pub attempts: u32,
    /// RFC 3339.
    pub created_at: String,
    /// The device's sale info (docs/BASKETS.md), once it arrived.
    #[schema(value_type = Option<Object>)]
    pub sale_info: Option<Value>,
    pub confirmed: bool,
}

/// `POST /v1/fiscal/payments`: the device accepted a payment (300TR).
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentReply {
    /// The open receipt's basket, as the device names it in its reply.
    #[serde(rename = "basketID")]
    pub basket_id: Option<String>,
    /// The device's reply as it sent it (300TR: `{"basketID":…,"status":0}`).
    #[schema(value_type = Object)]
    pub reply: Value,
}

/// One receipt (`GET /v1/fiscal/receipts`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    #[serde(rename = "basketID")]
    pub basket_id: String,
    pub receipt_no: Option<i64>,
    pub z_no: Option<i64>,
    /// The payments' sum in kuruş.
    pub total: Option<i64>,
    /// `0` completed, `-1` cancelled at the device, `99` voided.
    pub status: Option<i64>,
    /// When it arrived (RFC 3339).
    pub at: String,
    #[schema(value_type = Object)]
    pub sale_info: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Receipts {
    pub receipts: Vec<Receipt>,
}

impl Receipt {
    /// A receipt from a sale info's JSON text.
    pub fn from_sale(key: &str, at: i64, text: &str) -> Receipt {
        let v = crate::app::parse_or_text(text);
        let total = v["paymentItems"].as_array().map(|items| {
            items
                .iter()
                .filter_map(|i| i["amount"].as_f64())
                .sum::<f64>()
                .round() as i64
        });
        Receipt {
            basket_id: v["basketID"].as_str().unwrap_or(key).to_string(),
            receipt_no: v["receiptNo"].as_i64(),
            z_no: v["zNo"].as_i64(),
            total,
            status: v["status"].as_i64(),
            at: okclink::journal::format_time(at),
            sale_info: v,
        }
    }
}

/// A card payment or refund (`POST /v1/payment/sales`, `/v1/payment/refunds`).
#[derive(Debug, serde::Deserialize, ToSchema)]
pub struct PaymentBody {
    /// Minor units (kuruş), > 0.
    pub amount: i64,
    /// ISO 4217 (default: the configured currency, `TRY`).
    pub currency: Option<String>,
    /// The idempotency key (1–32 letters, digits, `-_.`); a fresh one when missing.
    pub reference: Option<String>,
}
