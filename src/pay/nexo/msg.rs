//! nexo Retailer 3.1 messages as spoken by Swedbank Pay PAX terminals (sans-IO).
//!
//! # Wire facts this module relies on
//!
//! - Every message is one XML document, UTF-8, **without** an XML namespace. The root is
//!   `SaleToPOIRequest` or `SaleToPOIResponse`; its first child is `MessageHeader`, followed by
//!   the body element, whose name is `MessageCategory` + `MessageType` (`PaymentRequest`,
//!   `LoginResponse`, `EventNotification`, …).
//! - The terminal's parser is strict about **element order** (the order of the nexo XSD);
//!   attribute order does not matter. The writers here emit elements in XSD order, compact
//!   (no indentation), after an `<?xml version="1.0" encoding="UTF-8"?>` prolog.
//! - Terminal samples come with or without a prolog and their responses omit
//!   `ProtocolVersion`; the readers accept both, ignore unknown elements and attributes and
//!   any attribute order, and strip namespace prefixes.
//! - `MessageHeader@ServiceID` is at most 10 bytes and `POIID` at most 32 bytes; the codec
//!   does not enforce those limits (the session layer picks the values).
//! - Amounts are decimals with a `.` separator (`"38"`, `"38.50"`), see [`Amount`].
//! - Every response carries `<Response Result="Success|Failure|Partial" ErrorCondition?>`
//!   with an optional `<AdditionalResponse>` text. Unknown `ErrorCondition` values are kept
//!   ([`ErrorCondition::Other`]); an unknown `Result` is an error (never read as success).
//! - The receipts (`PaymentReceipt/OutputContent/OutputText`) are Base64 JSON, decoded by
//!   [`super::receipt`].
//!
//! Reading is bounded: input larger than [`MAX_XML_BYTES`] is refused before parsing, the
//! element tree is built iteratively and refused beyond [`MAX_DEPTH`] levels or
//! [`MAX_ELEMENTS`] elements, so the recursive typed layer stays shallow.
//!
//! Choices the sources leave open are collected in [`assumptions`].

use std::fmt;

use quick_xml::events::Event;
use quick_xml::Reader;

/// Larger input is refused with an [`XmlError`] without being parsed.
pub const MAX_XML_BYTES: usize = 1 << 20;
/// Deepest element nesting accepted (the deepest real message, a PaymentResponse repeated
/// inside a TransactionStatusResponse, is about 10 levels deep).
pub const MAX_DEPTH: usize = 24;
/// Most elements accepted in one document.
pub const MAX_ELEMENTS: usize = 20_000;
/// `MessageHeader@ProtocolVersion` sent by the POS.
pub const PROTOCOL_VERSION: &str = "3.1";
/// The only `SaleTerminalData@TerminalEnvironment` Swedbank supports.
pub const TERMINAL_ENVIRONMENT: &str = "Attended";
/// Decimals of the currencies Swedbank terminals handle (SEK, NOK, DKK, EUR): two.
pub const CURRENCY_DECIMALS: u8 = 2;

/// Choices the Swedbank documentation and the nexo XSD leave open (inferences, not
/// documented behaviour), in one place: change them here only. The codec itself uses the
/// device/qualifier echoes, the sample constants and nothing else; the timeouts, retry
/// delays and error conditions are for the session layer and the simulator.
pub mod assumptions {
    use super::{DisplayRequest, ErrorCondition, PrintRequest};
    use std::time::Duration;

    /// HTTP read timeout for `PaymentRequest` and `CardAcquisitionRequest` (a cardholder may
    /// take long; Adyen uses 120 s locally for the same job).
    pub const PAYMENT_READ_TIMEOUT: Duration = Duration::from_secs(180);
    /// HTTP read timeout for every other request.
    pub const OTHER_READ_TIMEOUT: Duration = Duration::from_secs(30);
    /// Delays between retries on `ErrorCondition="Busy"` (about 5 s in total; the terminal
    /// is busy for about 3 s after each payment and while it updates parameters after a
    /// login). After the last one the Busy error is surfaced.
    pub const BUSY_RETRY_DELAYS: [Duration; 3] = [
        Duration::from_secs(1),
        Duration::from_secs(1),
        Duration::from_secs(2),
    ];
    /// Interval between `TransactionStatusRequest`s while the lost payment is still running
    /// (the terminal answers `Failure/Busy` until it has a result).
    pub const STATUS_POLL_INTERVAL: Duration = Duration::from_millis(1500);
    /// `ServiceID`s increase monotonically per POIID: hhmmss of the login, then +1 per
    /// Service message (at most 10 bytes, so it wraps to 0 after 9 999 999 999).
    pub const SERVICE_ID_MONOTONIC_PER_POIID: bool = true;
    /// A lost payment is recovered only if the repeated response's `ServiceID` and
    /// `SaleTransactionID` equal the lost request's; otherwise it never reached a result.
    pub const STATUS_MATCH_SERVICE_ID_AND_SALE_TRANSACTION_ID: bool = true;
    /// The ErrorCondition of a request that was aborted (Swedbank only says "Failure").
    pub const ABORTED_REQUEST_ERROR: ErrorCondition = ErrorCondition::Aborted;
    /// The ErrorCondition of a TransactionStatus that found nothing.
    pub const STATUS_NOT_FOUND_ERROR: ErrorCondition = ErrorCondition::NotFound;
    /// What a terminal answers to out-of-order or unknown XML (simulator).
    pub const BAD_XML_ERROR: ErrorCondition = ErrorCondition::MessageFormat;

    /// `LoginRequest/SaleTerminalData/SaleProfile@GenericProfile`, copied from Swedbank's
    /// sample (its use is not explained).
    pub const SALE_PROFILE_GENERIC: &str = "Extended";
    /// `SaleProfile/ServiceProfiles`, copied from the same sample.
    pub const SALE_SERVICE_PROFILES: &str = "Loyalty PIN CardReader";

    /// `Device` of the terminal's status `DisplayRequest`s, echoed in a `DisplayResponse`.
    pub const DISPLAY_DEVICE: &str = "CashierDisplay";
    /// `InfoQualify` of those `DisplayRequest`s, echoed in a `DisplayResponse`.
    pub const DISPLAY_INFO_QUALIFY: &str = "Status";
    /// `InputData@Device` of the signature `InputRequest` (GetConfirmation), echoed in the
    /// `InputResponse/InputResult`.
    pub const SIGNATURE_INPUT_DEVICE: &str = "CashierInput";
    /// `DisplayOutput@Device` carrying the signature question, echoed in
    /// `InputResponse/OutputResult`.
    pub const SIGNATURE_DISPLAY_DEVICE: &str = "CashierDisplay";
    /// `PrintResponse@DocumentQualifier` (a required attribute the typed
    /// `ResponseBody::Print` does not carry): the merchant copy, which is what the terminal
    /// asks the POS to print in the signature flow.
    pub const PRINT_RESPONSE_DOCUMENT_QUALIFIER: &str = "CashierReceipt";
    /// `TransmitRequest@MaximumTransmitTime` written by [`super::write_request`] (Swedbank's
    /// sample value, seconds).
    pub const TRANSMIT_MAXIMUM_TIME: u32 = 30;

    /// Whether the POS listener answers a `DisplayRequest` with 200 + `DisplayResponse`
    /// (true) or 204 (false): only when `ResponseRequiredFlag="true"` is set explicitly. The
    /// XSD default is true, but every Swedbank flow shows 204.
    pub fn display_needs_response(r: &DisplayRequest) -> bool {
        r.response_required == Some(true)
    }

    /// Whether the POS listener answers a `PrintRequest` with 200 + `PrintResponse` (true)
    /// or 204 (false): when `ResponseMode` is `Immediate` or `PrintEnd`.
    pub fn print_needs_response(r: &PrintRequest) -> bool {
        matches!(
            r.response_mode.as_deref(),
            Some("Immediate") | Some("PrintEnd")
        )
    }

    /// The POS listener answers `TransmitRequest` (the terminal's address push) with 204
    /// (undocumented).
    pub const TRANSMIT_NEEDS_RESPONSE: bool = false;
}

// ---------------------------------------------------------------------------------------
// Errors

/// A message that cannot be read (or an input too large to try).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError(pub String);

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "nexo XML: {}", self.0)
    }
}

impl std::error::Error for XmlError {}

fn err<T>(msg: impl Into<String>) -> Result<T, XmlError> {
    Err(XmlError(msg.into()))
}

// ---------------------------------------------------------------------------------------
// Header

/// `MessageHeader@MessageClass`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageClass {
    Service,
    Device,
    Event,
}

impl MessageClass {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageClass::Service => "Service",
            MessageClass::Device => "Device",
            MessageClass::Event => "Event",
        }
    }
    fn parse(s: &str) -> Result<Self, XmlError> {
        Ok(match s {
            "Service" => MessageClass::Service,
            "Device" => MessageClass::Device,
            "Event" => MessageClass::Event,
            _ => return err(format!("bad MessageClass {s:?}")),
        })
    }
}

/// `MessageHeader@MessageCategory`; values not listed are kept in `Other`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageCategory {
    Login,
    Logout,
    Payment,
    Abort,
    EnableService,
    CardAcquisition,
    TransactionStatus,
    Reversal,
    Input,
    Display,
    Print,
    Transmit,
    Admin,
    Event,
    Other(String),
}

impl MessageCategory {
    pub fn as_str(&self) -> &str {
        match self {
            MessageCategory::Login => "Login",
            MessageCategory::Logout => "Logout",
            MessageCategory::Payment => "Payment",
            MessageCategory::Abort => "Abort",
            MessageCategory::EnableService => "EnableService",
            MessageCategory::CardAcquisition => "CardAcquisition",
            MessageCategory::TransactionStatus => "TransactionStatus",
            MessageCategory::Reversal => "Reversal",
            MessageCategory::Input => "Input",
            MessageCategory::Display => "Display",
            MessageCategory::Print => "Print",
            MessageCategory::Transmit => "Transmit",
            MessageCategory::Admin => "Admin",
            MessageCategory::Event => "Event",
            MessageCategory::Other(s) => s,
        }
    }
    pub fn parse(s: &str) -> Self {
        match s {
            "Login" => MessageCategory::Login,
            "Logout" => MessageCategory::Logout,
            "Payment" => MessageCategory::Payment,
            "Abort" => MessageCategory::Abort,
            "EnableService" => MessageCategory::EnableService,
            "CardAcquisition" => MessageCategory::CardAcquisition,
            "TransactionStatus" => MessageCategory::TransactionStatus,
            "Reversal" => MessageCategory::Reversal,
            "Input" => MessageCategory::Input,
            "Display" => MessageCategory::Display,
            "Print" => MessageCategory::Print,
            "Transmit" => MessageCategory::Transmit,
            "Admin" => MessageCategory::Admin,
            "Event" => MessageCategory::Event,
            _ => MessageCategory::Other(s.to_string()),
        }
    }
}

/// `MessageHeader@MessageType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Request,
    Response,
    Notification,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Request => "Request",
            MessageType::Response => "Response",
            MessageType::Notification => "Notification",
        }
    }
    fn parse(s: &str) -> Result<Self, XmlError> {
        Ok(match s {
            "Request" => MessageType::Request,
            "Response" => MessageType::Response,
            "Notification" => MessageType::Notification,
            _ => return err(format!("bad MessageType {s:?}")),
        })
    }
}

/// `<MessageHeader ProtocolVersion? MessageClass MessageCategory MessageType ServiceID?
/// DeviceID? SaleID POIID/>`. `ServiceID` numbers Service messages, `DeviceID` Device
/// messages (Swedbank's Display/Input/Print samples set both to the same value); the
/// terminal's `TransmitRequest` has neither and an empty `SaleID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHeader {
    pub protocol_version: Option<String>,
    pub message_class: MessageClass,
    pub message_category: MessageCategory,
    pub message_type: MessageType,
    pub service_id: Option<String>,
    pub device_id: Option<String>,
    pub sale_id: String,
    pub poi_id: String,
}

impl MessageHeader {
    /// The body element's name: category + type (`PaymentRequest`, `EventNotification`).
    pub fn body_name(&self) -> String {
        format!(
            "{}{}",
            self.message_category.as_str(),
            self.message_type.as_str()
        )
    }

    fn to_node(&self) -> Node {
        Node::new("MessageHeader")
            .attr_opt("ProtocolVersion", self.protocol_version.as_deref())
            .attr("MessageClass", self.message_class.as_str())
            .attr("MessageCategory", self.message_category.as_str())
            .attr("MessageType", self.message_type.as_str())
            .attr_opt("ServiceID", self.service_id.as_deref())
            .attr_opt("DeviceID", self.device_id.as_deref())
            .attr("SaleID", &self.sale_id)
            .attr("POIID", &self.poi_id)
    }

    fn from_node(n: &Node) -> Result<Self, XmlError> {
        let req = |k: &str| {
            n.get(k)
                .ok_or_else(|| XmlError(format!("MessageHeader without {k}")))
        };
        Ok(MessageHeader {
            protocol_version: n.get_owned("ProtocolVersion"),
            message_class: MessageClass::parse(req("MessageClass")?)?,
            message_category: MessageCategory::parse(req("MessageCategory")?),
            message_type: MessageType::parse(req("MessageType")?)?,
            service_id: n.get_owned("ServiceID"),
            device_id: n.get_owned("DeviceID"),
            sale_id: n.get_or_empty("SaleID"),
            poi_id: n.get_or_empty("POIID"),
        })
    }
}

// ---------------------------------------------------------------------------------------
// Response

/// `Response@Result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultCode {
    Success,
    Failure,
    Partial,
}

impl ResultCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ResultCode::Success => "Success",
            ResultCode::Failure => "Failure",
            ResultCode::Partial => "Partial",
        }
    }
}

/// `Response@ErrorCondition` (nexo enumeration); unknown values are kept in `Other`.
///
/// Swedbank uses: `Busy` (wait and retry: after a login, for about 3 s after every payment,
/// for a TransactionStatus of a payment still running), `Refusal` (declined / not
/// accepted), `NotAllowed` (log in first), `PaymentRestriction` (fuel-card products).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCondition {
    Aborted,
    Busy,
    Cancel,
    DeviceOut,
    InsertedCard,
    InProgress,
    LoggedOut,
    MessageFormat,
    NotAllowed,
    NotFound,
    PaymentRestriction,
    Refusal,
    UnavailableDevice,
    UnavailableService,
    InvalidCard,
    UnreachableHost,
    WrongPIN,
    Other(String),
}

impl ErrorCondition {
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCondition::Aborted => "Aborted",
            ErrorCondition::Busy => "Busy",
            ErrorCondition::Cancel => "Cancel",
            ErrorCondition::DeviceOut => "DeviceOut",
            ErrorCondition::InsertedCard => "InsertedCard",
            ErrorCondition::InProgress => "InProgress",
            ErrorCondition::LoggedOut => "LoggedOut",
            ErrorCondition::MessageFormat => "MessageFormat",
            ErrorCondition::NotAllowed => "NotAllowed",
            ErrorCondition::NotFound => "NotFound",
            ErrorCondition::PaymentRestriction => "PaymentRestriction",
            ErrorCondition::Refusal => "Refusal",
            ErrorCondition::UnavailableDevice => "UnavailableDevice",
            ErrorCondition::UnavailableService => "UnavailableService",
            ErrorCondition::InvalidCard => "InvalidCard",
            ErrorCondition::UnreachableHost => "UnreachableHost",
            ErrorCondition::WrongPIN => "WrongPIN",
            ErrorCondition::Other(s) => s,
        }
    }
    /// Never fails: an unknown value becomes `Other` (Adyen's SDK broke on one).
    pub fn parse(s: &str) -> Self {
        match s {
            "Aborted" => ErrorCondition::Aborted,
            "Busy" => ErrorCondition::Busy,
            "Cancel" => ErrorCondition::Cancel,
            "DeviceOut" => ErrorCondition::DeviceOut,
            "InsertedCard" => ErrorCondition::InsertedCard,
            "InProgress" => ErrorCondition::InProgress,
            "LoggedOut" => ErrorCondition::LoggedOut,
            "MessageFormat" => ErrorCondition::MessageFormat,
            "NotAllowed" => ErrorCondition::NotAllowed,
            "NotFound" => ErrorCondition::NotFound,
            "PaymentRestriction" => ErrorCondition::PaymentRestriction,
            "Refusal" => ErrorCondition::Refusal,
            "UnavailableDevice" => ErrorCondition::UnavailableDevice,
            "UnavailableService" => ErrorCondition::UnavailableService,
            "InvalidCard" => ErrorCondition::InvalidCard,
            "UnreachableHost" => ErrorCondition::UnreachableHost,
            "WrongPIN" => ErrorCondition::WrongPIN,
            _ => ErrorCondition::Other(s.to_string()),
        }
    }
}

/// `<Response Result ErrorCondition?><AdditionalResponse>text</AdditionalResponse>?</Response>`.
/// A payment is approved only if `Result` is `Success`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub result: ResultCode,
    pub error_condition: Option<ErrorCondition>,
    pub additional_response: Option<String>,
}

impl Response {
    pub fn success() -> Self {
        Response {
            result: ResultCode::Success,
            error_condition: None,
            additional_response: None,
        }
    }
    pub fn failure(e: ErrorCondition, text: impl Into<String>) -> Self {
        Response {
            result: ResultCode::Failure,
            error_condition: Some(e),
            additional_response: Some(text.into()),
        }
    }
    pub fn is_success(&self) -> bool {
        self.result == ResultCode::Success
    }

    fn to_node(&self) -> Node {
        Node::new("Response")
            .attr("Result", self.result.as_str())
            .attr_opt(
                "ErrorCondition",
                self.error_condition.as_ref().map(|e| e.as_str()),
            )
            .child_opt(
                self.additional_response
                    .as_ref()
                    .map(|t| Node::new("AdditionalResponse").text(t)),
            )
    }

    fn from_node(n: &Node) -> Result<Self, XmlError> {
        let result = match n.get("Result") {
            Some("Success") => ResultCode::Success,
            Some("Failure") => ResultCode::Failure,
            Some("Partial") => ResultCode::Partial,
            Some(r) => return err(format!("bad Response Result {r:?}")),
            None => return err("Response without Result"),
        };
        Ok(Response {
            result,
            error_condition: n.get("ErrorCondition").map(ErrorCondition::parse),
            additional_response: n.first("AdditionalResponse").map(|a| a.trimmed()),
        })
    }

    /// The `Response` child of `n` (required).
    fn child_of(n: &Node) -> Result<Self, XmlError> {
        match n.first("Response") {
            Some(r) => Response::from_node(r),
            None => err(format!("{} without Response", n.name)),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Amounts and identifiers

/// A money amount in minor units with its number of decimals: `Amount(3850, 2)` is 38.50.
///
/// Written with a `.` separator, without decimals when the fraction is zero (`"38"`), else
/// with all of them (`"38.50"`). Read exactly, without floating point: `"56"`, `"56.00"`
/// and `"0.5"` are accepted (digits, optionally `.` and at most `decimals` digits);
/// `"1,5"`, `"1e3"`, `"-"`, `"-1"`, `"+1"`, `".5"`, `"5."` and `" 5"` are refused.
/// Equality compares values: `Amount(5600, 2) == Amount(56, 0)`.
#[derive(Debug, Clone, Copy)]
pub struct Amount(pub i64, pub u8);

impl Amount {
    /// `value` (minor units) with [`CURRENCY_DECIMALS`].
    pub fn minor(value: i64) -> Self {
        Amount(value, CURRENCY_DECIMALS)
    }

    /// Reads `s` into minor units of `decimals` digits.
    pub fn parse(s: &str, decimals: u8) -> Result<Self, XmlError> {
        let bad = || XmlError(format!("bad amount {s:?}"));
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (s, None),
        };
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let frac = frac.unwrap_or("");
        if s.contains('.') && frac.is_empty()
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || frac.len() > decimals as usize
        {
            return Err(bad());
        }
        let mut v: i64 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(i64::from(b - b'0')))
                .ok_or_else(bad)?;
        }
        for _ in frac.len()..decimals as usize {
            v = v.checked_mul(10).ok_or_else(bad)?;
        }
        Ok(Amount(v, decimals))
    }

    /// The value with trailing zero decimals removed (the canonical form for equality).
    fn reduced(self) -> (i64, u8) {
        let (mut v, mut d) = (self.0, self.1);
        while d > 0 && v % 10 == 0 {
            v /= 10;
            d -= 1;
        }
        (v, d)
    }
}

impl PartialEq for Amount {
    fn eq(&self, other: &Self) -> bool {
        self.reduced() == other.reduced()
    }
}

impl Eq for Amount {}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.1 as usize;
        let digits = self.0.unsigned_abs().to_string();
        let sign = if self.0 < 0 { "-" } else { "" };
        if d == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded = format!("{digits:0>width$}", width = d + 1);
        let (int, frac) = padded.split_at(padded.len() - d);
        if frac.bytes().all(|b| b == b'0') {
            write!(f, "{sign}{int}")
        } else {
            write!(f, "{sign}{int}.{frac}")
        }
    }
}

fn amount_attr(n: &Node, k: &str) -> Result<Option<Amount>, XmlError> {
    n.get(k)
        .map(|s| Amount::parse(s, CURRENCY_DECIMALS))
        .transpose()
}

/// `SaleTransactionID` / `POITransactionID` / `CardAcquisitionReference`:
/// `@TransactionID @TimeStamp`. The terminal's POITransactionID (time stamp in UTC) is
/// copied verbatim into a reversal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionId {
    pub transaction_id: String,
    pub time_stamp: String,
}

impl TransactionId {
    fn to_node(&self, name: &str) -> Node {
        Node::new(name)
            .attr("TransactionID", &self.transaction_id)
            .attr("TimeStamp", &self.time_stamp)
    }
    fn from_node(n: &Node) -> Self {
        TransactionId {
            transaction_id: n.get_or_empty("TransactionID"),
            time_stamp: n.get_or_empty("TimeStamp"),
        }
    }
}

/// `PaymentData@PaymentType` / `PaymentResult@PaymentType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentType {
    Normal,
    Refund,
}

impl PaymentType {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentType::Normal => "Normal",
            PaymentType::Refund => "Refund",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "Normal" => Some(PaymentType::Normal),
            "Refund" => Some(PaymentType::Refund),
            _ => None,
        }
    }
}

/// `ReversalRequest@ReversalReason`: `MerchantCancel` for a cancel by the operator,
/// `Malfunction` for one made automatically by software.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReversalReason {
    MerchantCancel,
    Malfunction,
}

impl ReversalReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ReversalReason::MerchantCancel => "MerchantCancel",
            ReversalReason::Malfunction => "Malfunction",
        }
    }
}

/// `<MessageReference MessageCategory? ServiceID? SaleID? POIID?/>` of a
/// `TransactionStatusRequest` (every attribute is optional in the XSD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageReference {
    pub category: Option<MessageCategory>,
    pub service_id: Option<String>,
    pub sale_id: Option<String>,
    pub poi_id: Option<String>,
}

impl MessageReference {
    fn to_node(&self) -> Node {
        Node::new("MessageReference")
            .attr_opt(
                "MessageCategory",
                self.category.as_ref().map(|c| c.as_str()),
            )
            .attr_opt("ServiceID", self.service_id.as_deref())
            .attr_opt("SaleID", self.sale_id.as_deref())
            .attr_opt("POIID", self.poi_id.as_deref())
    }
    fn from_node(n: &Node) -> Self {
        MessageReference {
            category: n.get("MessageCategory").map(MessageCategory::parse),
            service_id: n.get_owned("ServiceID"),
            sale_id: n.get_owned("SaleID"),
            poi_id: n.get_owned("POIID"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Requests

/// `LoginRequest`: opens the login session (until a logout, a new login or a reboot; a new
/// login resets the terminal). `sale_capabilities` chooses the mode: only
/// `["PrinterReceipt"]` is client-only (the terminal sends nothing to the POS);
/// `CashierInput` is needed to receive the signature `InputRequest`. `operator_language` is
/// `sv`, `no`, `fi` or `da` (English otherwise). `date_time` is local time with offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRequest {
    pub date_time: String,
    pub operator_language: String,
    pub operator_id: Option<String>,
    pub shift_number: Option<String>,
    pub provider_identification: String,
    pub application_name: String,
    pub software_version: String,
    pub sale_capabilities: Vec<String>,
}

/// `PaymentRequest` (`PaymentType` `Normal` or `Refund`). `token_requested` asks for the
/// card's CNA (`TokenRequestedType="Customer"`). `sale_to_acquirer_data` is Base64 JSON
/// (`purchaseOrderNumber`, `loyaltyPan`). `cash_back_amount` is included in
/// `requested_amount`. `card_acquisition_reference` is the POITransactionID of a prior
/// CardAcquisition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    pub sale_transaction_id: TransactionId,
    pub token_requested: bool,
    pub sale_to_acquirer_data: Option<String>,
    pub currency: String,
    pub requested_amount: Amount,
    pub cash_back_amount: Option<Amount>,
    pub payment_type: PaymentType,
    pub card_acquisition_reference: Option<TransactionId>,
}

/// `AbortRequest`: sent with `MessageCategory="Abort"` and a new ServiceID; the
/// `MessageReference` names the aborted request's category, ServiceID, SaleID and POIID.
/// The terminal answers 204; the aborted request then gets its own `Failure`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbortRequest {
    pub category: MessageCategory,
    pub service_id: String,
    pub sale_id: String,
    pub poi_id: String,
    pub reason: String,
}

/// `TransactionStatusRequest`: without a reference, the last Payment/CardAcquisition/
/// Reversal response for the current POIID and SaleID; with one, an earlier one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionStatusRequest {
    pub reference: Option<MessageReference>,
}

/// `ReversalRequest`: only the last transaction, and only if it succeeded; `original` is
/// the payment's POITransactionID copied verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReversalRequest {
    pub reason: ReversalReason,
    pub sale_id: String,
    pub poi_id: String,
    pub original: TransactionId,
}

/// `<LogoutRequest MaintenanceAllowed="true|false"/>` (the attribute is always written;
/// `true` at least one hour a day lets the terminal update).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    pub maintenance_allowed: bool,
}

/// Terminal → POS `DisplayRequest` (and the POS's own customer display request): one
/// `DisplayOutput@Device@InfoQualify@ResponseRequiredFlag?` with one `OutputText` per line.
/// A terminal line may read `"<textId>,<text>"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayRequest {
    pub device: String,
    pub info_qualify: String,
    pub response_required: Option<bool>,
    pub lines: Vec<String>,
}

/// `InputRequest`: the question's lines (in `DisplayOutput`, written only when there are
/// any) and `InputData@Device@InputCommand@MaxInputTime?` (`InputCommand` is
/// `GetConfirmation` or `DigitString`). The question's display device is derived from
/// `device` (`CashierInput` → `CashierDisplay`, `CustomerInput` → `CustomerDisplay`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRequest {
    pub question: Vec<String>,
    pub device: String,
    pub input_command: String,
    pub max_input_time: Option<u32>,
}

/// `PrintRequest/PrintOutput@DocumentQualifier@ResponseMode?`, one `OutputText` per line.
/// From the terminal, `DocumentQualifier` is `CashierReceipt` or `CustomerReceipt` and the
/// line is the Base64 receipt JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintRequest {
    pub document_qualifier: String,
    pub response_mode: Option<String>,
    pub lines: Vec<String>,
}

/// `EventNotification@TimeStamp@EventToNotify@MaintenanceRequiredFlag?/EventDetails?`
/// (header `Event`/`Event`/`Notification`): `SaleAdmin` (with MaintenanceRequiredFlag the
/// POS should log out with MaintenanceAllowed), `BeginMaintenance`, `EndMaintenance`,
/// `Reject`, `CardInserted`, `CardRemoved`, …
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventNotification {
    pub time_stamp: String,
    pub event_to_notify: String,
    pub maintenance_required: Option<bool>,
    pub event_details: Option<String>,
}

/// `TransmitRequest@DestinationAddress/Message` (the terminal's address push). Port 15022 in
/// `DestinationAddress` marks a configuration message (the IP there means nothing); the
/// Base64 JSON message carries the terminal's own address, see
/// [`TransmitRequest::terminal_address`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransmitRequest {
    pub destination_address: String,
    pub message_base64: String,
}

impl TransmitRequest {
    /// Decodes `{"saleTerminalconfiguration":{"ipEndPoint":{"ipV4Address":"192.168.78.15",
    /// "ipPort":"11000"}}}` into `"192.168.78.15:11000"`.
    pub fn terminal_address(&self) -> Option<String> {
        use base64::Engine as _;
        let raw: String = self
            .message_base64
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(raw.as_bytes())
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let ep = v.get("saleTerminalconfiguration")?.get("ipEndPoint")?;
        let ip = ep.get("ipV4Address")?.as_str()?.trim();
        let port = match ep.get("ipPort")? {
            serde_json::Value::String(s) => s.trim().parse::<u16>().ok()?,
            serde_json::Value::Number(n) => u16::try_from(n.as_u64()?).ok()?,
            _ => return None,
        };
        let ip: std::net::Ipv4Addr = ip.parse().ok()?;
        Some(format!("{ip}:{port}"))
    }
}

/// The body of a `SaleToPOIRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Login(LoginRequest),
    Logout(LogoutRequest),
    Payment(PaymentRequest),
    Abort(AbortRequest),
    TransactionStatus(TransactionStatusRequest),
    Reversal(ReversalRequest),
    // terminal → POS (the POS listener receives these)
    Display(DisplayRequest),
    Input(InputRequest),
    Print(PrintRequest),
    Event(EventNotification),
    Transmit(TransmitRequest),
    /// Any other body, by element name (written as an empty element).
    Other(String),
}

// ---------------------------------------------------------------------------------------
// Responses

/// `LoginResponse`: `Response`, then `POISystemData` (`POITerminalData@POISerialNumber`,
/// `POIStatus@GlobalStatus` = OK|Busy|Maintenance|Unreachable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginResponse {
    pub response: Response,
    pub poi_serial_number: Option<String>,
    pub global_status: Option<String>,
}

/// One `PaymentReceipt@DocumentQualifier/OutputContent/OutputText`: `CustomerReceipt` or
/// `CashierReceipt`, the text being Base64 JSON ([`super::receipt::decode_receipt`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptDoc {
    pub document_qualifier: String,
    pub output_text: String,
}

impl ReceiptDoc {
    fn to_node(&self) -> Node {
        Node::new("PaymentReceipt")
            .attr("DocumentQualifier", &self.document_qualifier)
            .child(
                Node::new("OutputContent")
                    .attr("OutputFormat", "Text")
                    .child(Node::new("OutputText").text(&self.output_text)),
            )
    }
    fn from_node(n: &Node) -> Self {
        let mut text = String::new();
        if let Some(c) = n.first("OutputContent") {
            for t in c.all("OutputText") {
                text.push_str(&t.text);
            }
        }
        ReceiptDoc {
            document_qualifier: n.get_or_empty("DocumentQualifier"),
            output_text: text,
        }
    }
}

/// `PaymentResponse`. `payment_brand` is "type,product" (`01,Mastercard Debit`); `token` is
/// the CNA; `approval_code` is present only on success. On failure the real response code
/// is in the receipt JSON. Always keep or print the customer receipt when present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentResponse {
    pub response: Response,
    pub sale_transaction_id: Option<TransactionId>,
    pub poi_transaction_id: Option<TransactionId>,
    pub payment_type: Option<PaymentType>,
    pub payment_brand: Option<String>,
    pub masked_pan: Option<String>,
    pub entry_mode: Option<String>,
    pub token: Option<String>,
    pub currency: Option<String>,
    pub authorized_amount: Option<Amount>,
    pub merchant_id: Option<String>,
    pub approval_code: Option<String>,
    pub receipts: Vec<ReceiptDoc>,
}

/// `ReversalResponse`: `Response`, `POIData/POITransactionID`, the receipts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReversalResponse {
    pub response: Response,
    pub poi_transaction_id: Option<TransactionId>,
    pub receipts: Vec<ReceiptDoc>,
}

/// `TransactionStatusResponse`: `Response` (`Failure/Busy` while the transaction runs),
/// then `RepeatedMessageResponse` holding the original header and body. Swedbank puts the
/// body directly in `RepeatedMessageResponse` (and so does the writer); the nexo XSD wraps it
/// in `RepeatedResponseMessageBody`. Both are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionStatusResponse {
    pub response: Response,
    pub repeated: Option<(MessageHeader, Box<ResponseBody>)>,
}

/// `InputResponse`: the `InputResult`'s `Response` and `Input/ConfirmedFlag` (empty on
/// failure). Written with the echo devices of [`assumptions::SIGNATURE_INPUT_DEVICE`] and
/// [`assumptions::SIGNATURE_DISPLAY_DEVICE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputResponse {
    pub confirmed: Option<bool>,
    pub result: Response,
}

/// The body of a `SaleToPOIResponse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseBody {
    Login(LoginResponse),
    Logout(Response),
    Payment(PaymentResponse),
    TransactionStatus(TransactionStatusResponse),
    Reversal(ReversalResponse),
    Abort(Response),
    Display(Response),
    Input(InputResponse),
    Print(Response),
    Admin(Response),
    /// Any other body (`CardAcquisitionResponse`, `EnableServiceResponse`, …): its element
    /// name and its `Response` if it has one.
    Other(String, Option<Response>),
}

/// A whole `SaleToPOIRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleToPoiRequest {
    pub header: MessageHeader,
    pub body: Request,
}

/// A whole `SaleToPOIResponse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleToPoiResponse {
    pub header: MessageHeader,
    pub body: ResponseBody,
}

// ---------------------------------------------------------------------------------------
// Writing

const PROLOG: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

fn output_content(lines: &[String]) -> Node {
    let mut c = Node::new("OutputContent").attr("OutputFormat", "Text");
    for l in lines {
        c = c.child(Node::new("OutputText").text(l));
    }
    c
}

fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

fn request_node(body: &Request) -> Node {
    match body {
        Request::Login(l) => Node::new("LoginRequest")
            .attr("OperatorLanguage", &l.operator_language)
            .attr_opt("OperatorID", l.operator_id.as_deref())
            .attr_opt("ShiftNumber", l.shift_number.as_deref())
            .child(Node::new("DateTime").text(&l.date_time))
            .child(
                Node::new("SaleSoftware")
                    .attr("ProviderIdentification", &l.provider_identification)
                    .attr("ApplicationName", &l.application_name)
                    .attr("SoftwareVersion", &l.software_version),
            )
            .child(
                Node::new("SaleTerminalData")
                    .attr("TerminalEnvironment", TERMINAL_ENVIRONMENT)
                    .child(Node::new("SaleCapabilities").text(&l.sale_capabilities.join(" ")))
                    .child(
                        Node::new("SaleProfile")
                            .attr("GenericProfile", assumptions::SALE_PROFILE_GENERIC)
                            .child(
                                Node::new("ServiceProfiles")
                                    .text(assumptions::SALE_SERVICE_PROFILES),
                            ),
                    ),
            ),
        Request::Logout(l) => {
            Node::new("LogoutRequest").attr("MaintenanceAllowed", bool_str(l.maintenance_allowed))
        }
        Request::Payment(p) => Node::new("PaymentRequest")
            .child(
                Node::new("SaleData")
                    .attr_opt(
                        "TokenRequestedType",
                        p.token_requested.then_some("Customer"),
                    )
                    .child(p.sale_transaction_id.to_node("SaleTransactionID"))
                    .child_opt(
                        p.sale_to_acquirer_data
                            .as_ref()
                            .map(|d| Node::new("SaleToAcquirerData").text(d)),
                    ),
            )
            .child(
                Node::new("PaymentTransaction").child(
                    Node::new("AmountsReq")
                        .attr("Currency", &p.currency)
                        .attr("RequestedAmount", p.requested_amount.to_string())
                        .attr_opt(
                            "CashBackAmount",
                            p.cash_back_amount.map(|a| a.to_string()).as_deref(),
                        ),
                ),
            )
            .child(
                Node::new("PaymentData")
                    .attr("PaymentType", p.payment_type.as_str())
                    .child_opt(
                        p.card_acquisition_reference
                            .as_ref()
                            .map(|r| r.to_node("CardAcquisitionReference")),
                    ),
            ),
        Request::Abort(a) => Node::new("AbortRequest")
            .child(
                Node::new("MessageReference")
                    .attr("MessageCategory", a.category.as_str())
                    .attr("ServiceID", &a.service_id)
                    .attr("SaleID", &a.sale_id)
                    .attr("POIID", &a.poi_id),
            )
            .child(Node::new("AbortReason").text(&a.reason)),
        Request::TransactionStatus(t) => Node::new("TransactionStatusRequest")
            .child_opt(t.reference.as_ref().map(|r| r.to_node())),
        Request::Reversal(r) => Node::new("ReversalRequest")
            .attr("ReversalReason", r.reason.as_str())
            .child(
                Node::new("OriginalPOITransaction")
                    .attr("SaleID", &r.sale_id)
                    .attr("POIID", &r.poi_id)
                    .child(r.original.to_node("POITransactionID")),
            ),
        Request::Display(d) => Node::new("DisplayRequest").child(
            Node::new("DisplayOutput")
                .attr("Device", &d.device)
                .attr("InfoQualify", &d.info_qualify)
                .attr_opt("ResponseRequiredFlag", d.response_required.map(bool_str))
                .child(output_content(&d.lines)),
        ),
        Request::Input(i) => {
            let display_device = match i.device.as_str() {
                "CashierInput" => "CashierDisplay",
                "CustomerInput" => "CustomerDisplay",
                other => other,
            };
            Node::new("InputRequest")
                .child_opt((!i.question.is_empty()).then(|| {
                    Node::new("DisplayOutput")
                        .attr("Device", display_device)
                        .attr("InfoQualify", "Display")
                        .child(output_content(&i.question))
                }))
                .child(
                    Node::new("InputData")
                        .attr("Device", &i.device)
                        .attr("InfoQualify", "Input")
                        .attr("InputCommand", &i.input_command)
                        .attr_opt(
                            "MaxInputTime",
                            i.max_input_time.map(|t| t.to_string()).as_deref(),
                        ),
                )
        }
        Request::Print(p) => Node::new("PrintRequest").child(
            Node::new("PrintOutput")
                .attr("DocumentQualifier", &p.document_qualifier)
                .attr_opt("ResponseMode", p.response_mode.as_deref())
                .child(output_content(&p.lines)),
        ),
        Request::Event(e) => Node::new("EventNotification")
            .attr("TimeStamp", &e.time_stamp)
            .attr("EventToNotify", &e.event_to_notify)
            .attr_opt(
                "MaintenanceRequiredFlag",
                e.maintenance_required.map(bool_str),
            )
            .child_opt(
                e.event_details
                    .as_ref()
                    .map(|d| Node::new("EventDetails").text(d)),
            ),
        Request::Transmit(t) => Node::new("TransmitRequest")
            .attr("DestinationAddress", &t.destination_address)
            .attr(
                "MaximumTransmitTime",
                assumptions::TRANSMIT_MAXIMUM_TIME.to_string(),
            )
            .child(Node::new("Message").text(&t.message_base64)),
        Request::Other(name) => Node::new(name),
    }
}

fn response_body_node(body: &ResponseBody) -> Node {
    let simple = |name: &str, r: &Response| Node::new(name).child(r.to_node());
    match body {
        ResponseBody::Login(l) => {
            let system = (l.poi_serial_number.is_some() || l.global_status.is_some()).then(|| {
                Node::new("POISystemData")
                    .child_opt(l.poi_serial_number.as_ref().map(|s| {
                        Node::new("POITerminalData")
                            .attr("TerminalEnvironment", TERMINAL_ENVIRONMENT)
                            .attr("POISerialNumber", s)
                    }))
                    .child_opt(
                        l.global_status
                            .as_ref()
                            .map(|s| Node::new("POIStatus").attr("GlobalStatus", s)),
                    )
            });
            simple("LoginResponse", &l.response).child_opt(system)
        }
        ResponseBody::Logout(r) => simple("LogoutResponse", r),
        ResponseBody::Payment(p) => {
            let card = (p.payment_brand.is_some()
                || p.masked_pan.is_some()
                || p.entry_mode.is_some()
                || p.token.is_some())
            .then(|| {
                Node::new("PaymentInstrumentData")
                    .attr("PaymentInstrumentType", "Card")
                    .child(
                        Node::new("CardData")
                            .attr_opt("PaymentBrand", p.payment_brand.as_deref())
                            .attr_opt("MaskedPAN", p.masked_pan.as_deref())
                            .attr_opt("EntryMode", p.entry_mode.as_deref())
                            .child_opt(p.token.as_ref().map(|t| {
                                Node::new("PaymentToken")
                                    .attr("TokenRequestedType", "Customer")
                                    .attr("TokenValue", t)
                            })),
                    )
            });
            let amounts = (p.currency.is_some() || p.authorized_amount.is_some()).then(|| {
                Node::new("AmountsResp")
                    .attr_opt("Currency", p.currency.as_deref())
                    .attr_opt(
                        "AuthorizedAmount",
                        p.authorized_amount.map(|a| a.to_string()).as_deref(),
                    )
            });
            let acquirer = (p.merchant_id.is_some() || p.approval_code.is_some()).then(|| {
                Node::new("PaymentAcquirerData")
                    .attr_opt("MerchantID", p.merchant_id.as_deref())
                    .child_opt(
                        p.approval_code
                            .as_ref()
                            .map(|c| Node::new("ApprovalCode").text(c)),
                    )
            });
            let result = (p.payment_type.is_some()
                || card.is_some()
                || amounts.is_some()
                || acquirer.is_some())
            .then(|| {
                Node::new("PaymentResult")
                    .attr_opt("PaymentType", p.payment_type.map(|t| t.as_str()))
                    .child_opt(card)
                    .child_opt(amounts)
                    .child_opt(acquirer)
            });
            let mut n = simple("PaymentResponse", &p.response)
                .child_opt(
                    p.sale_transaction_id
                        .as_ref()
                        .map(|t| Node::new("SaleData").child(t.to_node("SaleTransactionID"))),
                )
                .child_opt(
                    p.poi_transaction_id
                        .as_ref()
                        .map(|t| Node::new("POIData").child(t.to_node("POITransactionID"))),
                )
                .child_opt(result);
            for r in &p.receipts {
                n = n.child(r.to_node());
            }
            n
        }
        ResponseBody::TransactionStatus(t) => simple("TransactionStatusResponse", &t.response)
            .child_opt(t.repeated.as_ref().map(|(h, b)| {
                Node::new("RepeatedMessageResponse")
                    .child(h.to_node())
                    .child(response_body_node(b))
            })),
        ResponseBody::Reversal(r) => {
            let mut n = simple("ReversalResponse", &r.response).child_opt(
                r.poi_transaction_id
                    .as_ref()
                    .map(|t| Node::new("POIData").child(t.to_node("POITransactionID"))),
            );
            for d in &r.receipts {
                n = n.child(d.to_node());
            }
            n
        }
        ResponseBody::Abort(r) => simple("AbortResponse", r),
        ResponseBody::Display(r) => Node::new("DisplayResponse").child(
            Node::new("OutputResult")
                .attr("Device", assumptions::DISPLAY_DEVICE)
                .attr("InfoQualify", assumptions::DISPLAY_INFO_QUALIFY)
                .child(r.to_node()),
        ),
        ResponseBody::Input(i) => Node::new("InputResponse")
            .child(
                Node::new("OutputResult")
                    .attr("Device", assumptions::SIGNATURE_DISPLAY_DEVICE)
                    .attr("InfoQualify", "Display")
                    .child(Response::success().to_node()),
            )
            .child(
                Node::new("InputResult")
                    .attr("Device", assumptions::SIGNATURE_INPUT_DEVICE)
                    .attr("InfoQualify", "Input")
                    .child(i.result.to_node())
                    .child_opt(i.confirmed.map(|c| {
                        Node::new("Input")
                            .attr("InputCommand", "GetConfirmation")
                            .child(Node::new("ConfirmedFlag").text(bool_str(c)))
                    })),
            ),
        ResponseBody::Print(r) => Node::new("PrintResponse")
            .attr(
                "DocumentQualifier",
                assumptions::PRINT_RESPONSE_DOCUMENT_QUALIFIER,
            )
            .child(r.to_node()),
        ResponseBody::Admin(r) => simple("AdminResponse", r),
        ResponseBody::Other(name, r) => Node::new(name).child_opt(r.as_ref().map(|r| r.to_node())),
    }
}

/// Writes a `SaleToPOIRequest` (prolog, no namespace, elements in XSD order, compact).
pub fn write_request(r: &SaleToPoiRequest) -> String {
    let root = Node::new("SaleToPOIRequest")
        .child(r.header.to_node())
        .child(request_node(&r.body));
    let mut out = String::from(PROLOG);
    root.write(&mut out);
    out
}

/// Writes a `SaleToPOIResponse` (prolog, no namespace, elements in XSD order, compact).
pub fn write_response(r: &SaleToPoiResponse) -> String {
    let root = Node::new("SaleToPOIResponse")
        .child(r.header.to_node())
        .child(response_body_node(&r.body));
    let mut out = String::from(PROLOG);
    root.write(&mut out);
    out
}

// ---------------------------------------------------------------------------------------
// Reading

fn parse_bool(s: &str, what: &str) -> Result<bool, XmlError> {
    match s.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => err(format!("bad {what} {other:?}")),
    }
}

fn bool_attr(n: &Node, k: &str) -> Result<Option<bool>, XmlError> {
    n.get(k).map(|v| parse_bool(v, k)).transpose()
}

fn lines_of(n: Option<&Node>) -> Vec<String> {
    n.and_then(|n| n.first("OutputContent"))
        .map(|c| c.all("OutputText").map(|t| t.text.clone()).collect())
        .unwrap_or_default()
}

/// Splits a root into (header, body): the header is the `MessageHeader` child, the body the
/// first child named after it (category + type); other children are ignored.
fn split_root(root: &Node) -> Result<(MessageHeader, &Node), XmlError> {
    let h = root
        .first("MessageHeader")
        .ok_or_else(|| XmlError("no MessageHeader".into()))?;
    let header = MessageHeader::from_node(h)?;
    let want = header.body_name();
    if let Some(b) = root.children.iter().find(|c| c.name == want) {
        return Ok((header, b));
    }
    match root.children.iter().find(|c| c.name != "MessageHeader") {
        Some(b) => err(format!(
            "MessageCategory {} but body {}",
            header.message_category.as_str(),
            b.name
        )),
        None => err(format!("no body (expected {want})")),
    }
}

fn parse_request_body(b: &Node) -> Result<Request, XmlError> {
    Ok(match b.name.as_str() {
        "LoginRequest" => {
            let sw = b.first("SaleSoftware");
            let sw_attr = |k| sw.map(|s| s.get_or_empty(k)).unwrap_or_default();
            Request::Login(LoginRequest {
                date_time: b.first("DateTime").map(|d| d.trimmed()).unwrap_or_default(),
                operator_language: b.get_or_empty("OperatorLanguage"),
                operator_id: b.get_owned("OperatorID"),
                shift_number: b.get_owned("ShiftNumber"),
                provider_identification: sw_attr("ProviderIdentification"),
                application_name: sw_attr("ApplicationName"),
                software_version: sw_attr("SoftwareVersion"),
                sale_capabilities: b
                    .path(&["SaleTerminalData", "SaleCapabilities"])
                    .map(|c| c.text.split_whitespace().map(str::to_string).collect())
                    .unwrap_or_default(),
            })
        }
        "LogoutRequest" => Request::Logout(LogoutRequest {
            maintenance_allowed: bool_attr(b, "MaintenanceAllowed")?.unwrap_or(false),
        }),
        "PaymentRequest" => {
            let sale = b
                .first("SaleData")
                .ok_or_else(|| XmlError("PaymentRequest without SaleData".into()))?;
            let amounts = b
                .path(&["PaymentTransaction", "AmountsReq"])
                .ok_or_else(|| XmlError("PaymentRequest without AmountsReq".into()))?;
            let data = b.first("PaymentData");
            let payment_type = match data.and_then(|d| d.get("PaymentType")) {
                None => PaymentType::Normal,
                Some(t) => PaymentType::parse(t)
                    .ok_or_else(|| XmlError(format!("unsupported PaymentType {t:?}")))?,
            };
            Request::Payment(PaymentRequest {
                sale_transaction_id: sale
                    .first("SaleTransactionID")
                    .map(TransactionId::from_node)
                    .ok_or_else(|| XmlError("SaleData without SaleTransactionID".into()))?,
                token_requested: sale.get("TokenRequestedType").is_some(),
                sale_to_acquirer_data: sale.first("SaleToAcquirerData").map(|d| d.trimmed()),
                currency: amounts.get_or_empty("Currency"),
                requested_amount: amount_attr(amounts, "RequestedAmount")?
                    .ok_or_else(|| XmlError("AmountsReq without RequestedAmount".into()))?,
                cash_back_amount: amount_attr(amounts, "CashBackAmount")?,
                payment_type,
                card_acquisition_reference: data
                    .and_then(|d| d.first("CardAcquisitionReference"))
                    .map(TransactionId::from_node),
            })
        }
        "AbortRequest" => {
            let r = b
                .first("MessageReference")
                .ok_or_else(|| XmlError("AbortRequest without MessageReference".into()))?;
            Request::Abort(AbortRequest {
                category: MessageCategory::parse(r.get("MessageCategory").unwrap_or_default()),
                service_id: r.get_or_empty("ServiceID"),
                sale_id: r.get_or_empty("SaleID"),
                poi_id: r.get_or_empty("POIID"),
                reason: b
                    .first("AbortReason")
                    .map(|a| a.trimmed())
                    .unwrap_or_default(),
            })
        }
        "TransactionStatusRequest" => Request::TransactionStatus(TransactionStatusRequest {
            reference: b.first("MessageReference").map(MessageReference::from_node),
        }),
        "ReversalRequest" => {
            let reason = match b.get("ReversalReason") {
                Some("MerchantCancel") => ReversalReason::MerchantCancel,
                Some("Malfunction") => ReversalReason::Malfunction,
                Some(r) => return err(format!("unsupported ReversalReason {r:?}")),
                None => return err("ReversalRequest without ReversalReason"),
            };
            let o = b
                .first("OriginalPOITransaction")
                .ok_or_else(|| XmlError("ReversalRequest without OriginalPOITransaction".into()))?;
            Request::Reversal(ReversalRequest {
                reason,
                sale_id: o.get_or_empty("SaleID"),
                poi_id: o.get_or_empty("POIID"),
                original: o
                    .first("POITransactionID")
                    .map(TransactionId::from_node)
                    .ok_or_else(|| {
                        XmlError("OriginalPOITransaction without POITransactionID".into())
                    })?,
            })
        }
        "DisplayRequest" => {
            let d = b.first("DisplayOutput");
            Request::Display(DisplayRequest {
                device: d.map(|d| d.get_or_empty("Device")).unwrap_or_default(),
                info_qualify: d.map(|d| d.get_or_empty("InfoQualify")).unwrap_or_default(),
                response_required: match d {
                    Some(d) => bool_attr(d, "ResponseRequiredFlag")?,
                    None => None,
                },
                lines: lines_of(d),
            })
        }
        "InputRequest" => {
            let i = b.first("InputData");
            Request::Input(InputRequest {
                question: lines_of(b.first("DisplayOutput")),
                device: i.map(|i| i.get_or_empty("Device")).unwrap_or_default(),
                input_command: i
                    .map(|i| i.get_or_empty("InputCommand"))
                    .unwrap_or_default(),
                max_input_time: match i.and_then(|i| i.get("MaxInputTime")) {
                    Some(t) => Some(
                        t.trim()
                            .parse()
                            .map_err(|_| XmlError(format!("bad MaxInputTime {t:?}")))?,
                    ),
                    None => None,
                },
            })
        }
        "PrintRequest" => {
            let p = b.first("PrintOutput");
            Request::Print(PrintRequest {
                document_qualifier: p
                    .map(|p| p.get_or_empty("DocumentQualifier"))
                    .unwrap_or_default(),
                response_mode: p.and_then(|p| p.get_owned("ResponseMode")),
                lines: lines_of(p),
            })
        }
        "EventNotification" => Request::Event(EventNotification {
            time_stamp: b.get_or_empty("TimeStamp"),
            event_to_notify: b.get_or_empty("EventToNotify"),
            maintenance_required: bool_attr(b, "MaintenanceRequiredFlag")?,
            event_details: b.first("EventDetails").map(|d| d.trimmed()),
        }),
        "TransmitRequest" => Request::Transmit(TransmitRequest {
            destination_address: b.get_or_empty("DestinationAddress"),
            message_base64: b.first("Message").map(|m| m.trimmed()).unwrap_or_default(),
        }),
        other => Request::Other(other.to_string()),
    })
}

fn receipts_of(b: &Node) -> Vec<ReceiptDoc> {
    b.all("PaymentReceipt").map(ReceiptDoc::from_node).collect()
}

fn parse_response_body(b: &Node) -> Result<ResponseBody, XmlError> {
    Ok(match b.name.as_str() {
        "LoginResponse" => {
            let sys = b.first("POISystemData");
            ResponseBody::Login(LoginResponse {
                response: Response::child_of(b)?,
                poi_serial_number: sys
                    .and_then(|s| s.first("POITerminalData"))
                    .and_then(|t| t.get_owned("POISerialNumber")),
                global_status: sys
                    .and_then(|s| s.first("POIStatus"))
                    .and_then(|t| t.get_owned("GlobalStatus")),
            })
        }
        "LogoutResponse" => ResponseBody::Logout(Response::child_of(b)?),
        "PaymentResponse" => {
            let result = b.first("PaymentResult");
            let card = result.and_then(|r| r.path(&["PaymentInstrumentData", "CardData"]));
            let amounts = result.and_then(|r| r.first("AmountsResp"));
            let acquirer = result.and_then(|r| r.first("PaymentAcquirerData"));
            ResponseBody::Payment(PaymentResponse {
                response: Response::child_of(b)?,
                sale_transaction_id: b
                    .path(&["SaleData", "SaleTransactionID"])
                    .map(TransactionId::from_node),
                poi_transaction_id: b
                    .path(&["POIData", "POITransactionID"])
                    .map(TransactionId::from_node),
                // An unsupported PaymentType is dropped rather than losing the result.
                payment_type: result
                    .and_then(|r| r.get("PaymentType"))
                    .and_then(PaymentType::parse),
                payment_brand: card.and_then(|c| c.get_owned("PaymentBrand")),
                masked_pan: card.and_then(|c| c.get_owned("MaskedPAN")),
                entry_mode: card.and_then(|c| c.get_owned("EntryMode")),
                token: card
                    .and_then(|c| c.first("PaymentToken"))
                    .and_then(|t| t.get_owned("TokenValue")),
                currency: amounts.and_then(|a| a.get_owned("Currency")),
                authorized_amount: match amounts {
                    Some(a) => amount_attr(a, "AuthorizedAmount")?,
                    None => None,
                },
                merchant_id: acquirer.and_then(|a| a.get_owned("MerchantID")),
                approval_code: acquirer
                    .and_then(|a| a.first("ApprovalCode"))
                    .map(|c| c.trimmed()),
                receipts: receipts_of(b),
            })
        }
        "TransactionStatusResponse" => {
            let repeated = match b.first("RepeatedMessageResponse") {
                None => None,
                Some(r) => {
                    let h = r.first("MessageHeader").ok_or_else(|| {
                        XmlError("RepeatedMessageResponse without MessageHeader".into())
                    })?;
                    let header = MessageHeader::from_node(h)?;
                    // Swedbank: the body directly inside; nexo XSD: inside
                    // RepeatedResponseMessageBody.
                    let holder = r.first("RepeatedResponseMessageBody").unwrap_or(r);
                    let want = header.body_name();
                    let body =
                        holder
                            .children
                            .iter()
                            .find(|c| c.name == want)
                            .ok_or_else(|| {
                                XmlError(format!("RepeatedMessageResponse without {want}"))
                            })?;
                    Some((header, Box::new(parse_response_body(body)?)))
                }
            };
            ResponseBody::TransactionStatus(TransactionStatusResponse {
                response: Response::child_of(b)?,
                repeated,
            })
        }
        "ReversalResponse" => ResponseBody::Reversal(ReversalResponse {
            response: Response::child_of(b)?,
            poi_transaction_id: b
                .path(&["POIData", "POITransactionID"])
                .map(TransactionId::from_node),
            receipts: receipts_of(b),
        }),
        "AbortResponse" => ResponseBody::Abort(Response::child_of(b)?),
        "DisplayResponse" => ResponseBody::Display(match b.first("OutputResult") {
            Some(o) => Response::child_of(o)?,
            None => Response::child_of(b)?,
        }),
        "InputResponse" => {
            let (result, confirmed) = match b.first("InputResult") {
                Some(i) => {
                    let flag = i.path(&["Input", "ConfirmedFlag"]).map(|f| f.trimmed());
                    let confirmed = match flag.as_deref() {
                        None | Some("") => None,
                        Some(f) => Some(parse_bool(f, "ConfirmedFlag")?),
                    };
                    (Response::child_of(i)?, confirmed)
                }
                None => match b.first("OutputResult") {
                    Some(o) => (Response::child_of(o)?, None),
                    None => return err("InputResponse without InputResult"),
                },
            };
            ResponseBody::Input(InputResponse { confirmed, result })
        }
        "PrintResponse" => ResponseBody::Print(Response::child_of(b)?),
        "AdminResponse" => ResponseBody::Admin(Response::child_of(b)?),
        other => ResponseBody::Other(
            other.to_string(),
            b.first("Response").map(Response::from_node).transpose()?,
        ),
    })
}

/// Reads a `SaleToPOIRequest` (tolerant: prolog or not, namespace prefixes stripped, unknown
/// elements and attributes ignored, any attribute order).
pub fn read_request(xml: &[u8]) -> Result<SaleToPoiRequest, XmlError> {
    let root = parse_dom(xml)?;
    if root.name != "SaleToPOIRequest" {
        return err(format!("root is {}, not SaleToPOIRequest", root.name));
    }
    let (header, body) = split_root(&root)?;
    if header.message_type == MessageType::Response {
        return err("SaleToPOIRequest with MessageType Response");
    }
    Ok(SaleToPoiRequest {
        body: parse_request_body(body)?,
        header,
    })
}

/// Reads a `SaleToPOIResponse` (tolerant as [`read_request`]; `ProtocolVersion` is not
/// required).
pub fn read_response(xml: &[u8]) -> Result<SaleToPoiResponse, XmlError> {
    let root = parse_dom(xml)?;
    if root.name != "SaleToPOIResponse" {
        return err(format!("root is {}, not SaleToPOIResponse", root.name));
    }
    let (header, body) = split_root(&root)?;
    if header.message_type != MessageType::Response {
        return err(format!(
            "SaleToPOIResponse with MessageType {}",
            header.message_type.as_str()
        ));
    }
    Ok(SaleToPoiResponse {
        body: parse_response_body(body)?,
        header,
    })
}

// ---------------------------------------------------------------------------------------
// A minimal element tree (built iteratively, bounded) used by both directions.

#[derive(Debug, Clone, Default)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
    text: String,
}

impl Node {
    fn new(name: &str) -> Self {
        Node {
            name: name.to_string(),
            ..Node::default()
        }
    }
    fn attr(mut self, k: &str, v: impl Into<String>) -> Self {
        self.attrs.push((k.to_string(), v.into()));
        self
    }
    fn attr_opt(self, k: &str, v: Option<&str>) -> Self {
        match v {
            Some(v) => self.attr(k, v),
            None => self,
        }
    }
    fn child(mut self, c: Node) -> Self {
        self.children.push(c);
        self
    }
    fn child_opt(self, c: Option<Node>) -> Self {
        match c {
            Some(c) => self.child(c),
            None => self,
        }
    }
    fn text(mut self, t: &str) -> Self {
        self.text = t.to_string();
        self
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
    fn get_owned(&self, k: &str) -> Option<String> {
        self.get(k).map(str::to_string)
    }
    fn get_or_empty(&self, k: &str) -> String {
        self.get(k).unwrap_or_default().to_string()
    }
    fn trimmed(&self) -> String {
        self.text.trim().to_string()
    }
    fn first(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
    fn path(&self, names: &[&str]) -> Option<&Node> {
        names.iter().try_fold(self, |n, name| n.first(name))
    }

    /// Serialises compactly; text only when there is no child (the messages have no mixed
    /// content).
    fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        for (k, v) in &self.attrs {
            out.push(' ');
            out.push_str(k);
            out.push_str("=\"");
            escape(v, true, out);
            out.push('"');
        }
        if self.children.is_empty() && self.text.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        escape(&self.text, false, out);
        for c in &self.children {
            c.write(out);
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

/// Escapes markup characters; in attributes also the whitespace that attribute-value
/// normalisation would turn into spaces, and `\r` in text (end-of-line normalisation).
/// XML-escape `s` into `out` (`attr`: also quotes and the whitespace an attribute value would
/// normalise). quick-xml's escapes cover `<>&'"` only, not `\r` (which a reader turns into
/// `\n`) or an attribute's `\n`/`\t`. Byte-wise (every special is ASCII): the runs between
/// specials are copied whole — long Base64 receipts have none.
fn escape(s: &str, attr: bool, out: &mut String) {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' if attr => "&quot;",
            b'\'' if attr => "&apos;",
            b'\n' if attr => "&#10;",
            b'\t' if attr => "&#9;",
            b'\r' => "&#13;",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        out.push_str(rep);
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

fn local(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, l)| l)
}

fn parse_dom(xml: &[u8]) -> Result<Node, XmlError> {
    if xml.len() > MAX_XML_BYTES {
        return err(format!(
            "message of {} bytes, more than {MAX_XML_BYTES}",
            xml.len()
        ));
    }
    let s = std::str::from_utf8(xml).map_err(|e| XmlError(format!("not UTF-8: {e}")))?;
    let s = s.strip_prefix('\u{feff}').unwrap_or(s);
    let mut reader = Reader::from_str(s);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let mut elements = 0usize;
    let malformed = |r: &Reader<&[u8]>, e: &dyn fmt::Display| {
        XmlError(format!("malformed XML at byte {}: {e}", r.error_position()))
    };

    loop {
        let ev = reader.read_event().map_err(|e| malformed(&reader, &e))?;
        let mut close = false;
        match ev {
            Event::Start(ref b) | Event::Empty(ref b) => {
                close = matches!(ev, Event::Empty(_));
                if root.is_some() {
                    return err("content after the root element");
                }
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return err(format!("more than {MAX_ELEMENTS} elements"));
                }
                if stack.len() >= MAX_DEPTH {
                    return err(format!("elements nested deeper than {MAX_DEPTH}"));
                }
                let mut n = Node::new(local(b.name().as_ref()));
                for a in b.attributes() {
                    let a = a.map_err(|e| malformed(&reader, &e))?;
                    let v = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| malformed(&reader, &e))?;
                    let key = a.key.as_ref();
                    if key == "xmlns" || key.starts_with("xmlns:") {
                        continue;
                    }
                    n.attrs.push((local(key).to_string(), v.into_owned()));
                }
                stack.push(n);
            }
            Event::End(_) => close = true,
            Event::Text(t) => match stack.last_mut() {
                Some(top) => top.text.push_str(&t.xml10_content()),
                None if t.xml10_content().trim().is_empty() => {}
                None => return err("text outside the root element"),
            },
            Event::CData(c) => match stack.last_mut() {
                Some(top) => top.text.push_str(&c.into_inner()),
                None => return err("CDATA outside the root element"),
            },
            Event::GeneralRef(r) => {
                let top = match stack.last_mut() {
                    Some(top) => top,
                    None => return err("entity outside the root element"),
                };
                if let Some(c) = r.resolve_char_ref().map_err(|e| malformed(&reader, &e))? {
                    top.text.push(c);
                } else if let Some(v) = quick_xml::escape::resolve_predefined_entity(&r) {
                    top.text.push_str(v);
                } else {
                    return err(format!("unknown entity &{};", &*r));
                }
            }
            Event::DocType(_) => return err("DOCTYPE not accepted"),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
        if close {
            let n = stack
                .pop()
                .ok_or_else(|| XmlError("end tag without start".into()))?;
            match stack.last_mut() {
                Some(parent) => parent.children.push(n),
                None => root = Some(n),
            }
        }
    }
    if let Some(open) = stack.last() {
        return err(format!("input ends inside <{}>", open.name));
    }
    root.ok_or_else(|| XmlError("no root element".into()))
}

/// Fuzz entry (feature `fuzzing`, never in a shipped library): every invariant broken
/// panics.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use super::*;

    fn receipts(body: &ResponseBody) {
        let docs: &[ReceiptDoc] = match body {
            ResponseBody::Payment(p) => &p.receipts,
            ResponseBody::Reversal(r) => &r.receipts,
            ResponseBody::TransactionStatus(t) => {
                if let Some((_, b)) = &t.repeated {
                    receipts(b);
                }
                &[]
            }
            _ => &[],
        };
        for d in docs {
            if let Ok(r) = super::super::receipt::decode_receipt(d) {
                assert!(r.json.is_object());
            }
        }
    }

    /// The input as a request, as a response and as an amount: whatever parses is written
    /// again, and the writing reads back equal and writes identically.
    pub fn xml(data: &[u8]) {
        if let Ok(r) = read_request(data) {
            let w = write_request(&r);
            let again =
                read_request(w.as_bytes()).unwrap_or_else(|e| panic!("re-read of {w:?}: {e}"));
            assert_eq!(again, r, "{w}");
            assert_eq!(write_request(&again), w);
            if let Request::Transmit(t) = &r.body {
                let _ = t.terminal_address();
            }
            if let Request::Print(p) = &r.body {
                for l in &p.lines {
                    let _ = super::super::receipt::decode_receipt(&ReceiptDoc {
                        document_qualifier: p.document_qualifier.clone(),
                        output_text: l.clone(),
                    });
                }
            }
        }
        if let Ok(r) = read_response(data) {
            receipts(&r.body);
            let w = write_response(&r);
            let again =
                read_response(w.as_bytes()).unwrap_or_else(|e| panic!("re-read of {w:?}: {e}"));
            assert_eq!(again, r, "{w}");
            assert_eq!(write_response(&again), w);
        }
        if let Ok(s) = std::str::from_utf8(data) {
            if s.len() < 64 {
                if let Ok(a) = Amount::parse(s, CURRENCY_DECIMALS) {
                    assert_eq!(Amount::parse(&a.to_string(), CURRENCY_DECIMALS), Ok(a));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        let p = |s| Amount::parse(s, 2);
        assert_eq!(p("56"), Ok(Amount(5600, 2)));
        assert_eq!(p("56.00"), Ok(Amount(5600, 2)));
        assert_eq!(p("0.5"), Ok(Amount(50, 2)));
        assert_eq!(p("38.50"), Ok(Amount(3850, 2)));
        for bad in [
            "1,5", "1e3", "-", "-1", "+1", ".5", "5.", "", " 5", "5 ", "0.123", "1.2.3",
        ] {
            assert_eq!(
                p(bad),
                Err(XmlError(format!("bad amount {bad:?}"))),
                "{bad}"
            );
        }
        assert!(p("92233720368547758.08").is_err(), "overflow");
        assert_eq!(Amount(3800, 2).to_string(), "38");
        assert_eq!(Amount(3850, 2).to_string(), "38.50");
        assert_eq!(Amount(5, 2).to_string(), "0.05");
        assert_eq!(Amount(0, 2).to_string(), "0");
        assert_eq!(Amount(56, 0).to_string(), "56");
        assert_eq!(Amount(5600, 2), Amount(56, 0));
        assert_ne!(Amount(5601, 2), Amount(56, 0));
        assert_eq!(Amount(i64::MAX, 255).to_string().len(), 257);
    }

    #[test]
    fn escaping_round_trips() {
        let n = Node::new("A")
            .attr("k", "a\"b'c<d>&e\tf\ng\rh")
            .text("x<y>&z\r\n\t ");
        let mut s = String::new();
        n.write(&mut s);
        let back = parse_dom(s.as_bytes()).unwrap();
        assert_eq!(back.get("k"), Some("a\"b'c<d>&e\tf\ng\rh"));
        assert_eq!(back.text, "x<y>&z\r\n\t ");
    }

    #[test]
    fn dom_limits() {
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(parse_dom(deep.as_bytes()).unwrap_err().0.contains("deeper"));
        let ok = "<a>".repeat(MAX_DEPTH) + &"</a>".repeat(MAX_DEPTH);
        assert!(parse_dom(ok.as_bytes()).is_ok());
        let wide = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS));
        assert!(parse_dom(wide.as_bytes())
            .unwrap_err()
            .0
            .contains("elements"));
        let big = vec![b' '; MAX_XML_BYTES + 1];
        assert!(parse_dom(&big).unwrap_err().0.contains("more than"));
        for bad in [
            "",
            "<a>",
            "<a></b>",
            "</a>",
            "<a/><b/>",
            "x<a/>",
            "<a/>x",
            "<a>&foo;</a>",
            "<!DOCTYPE a><a/>",
            "<a b='1' b='2'/>",
            "<a b=1/>",
        ] {
            assert!(parse_dom(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(parse_dom(b"\xff<a/>").unwrap_err().0.contains("UTF-8"));
        let n = parse_dom("\u{feff}<?xml version=\"1.0\"?><!--c--><p:a xmlns:p=\"u\" p:k=\"v\">1&amp;<![CDATA[<2>]]>&#51;</p:a>".as_bytes()).unwrap();
        assert_eq!(
            (n.name.as_str(), n.get("k"), n.text.as_str()),
            ("a", Some("v"), "1&<2>3")
        );
        assert!(n.attrs.iter().all(|(k, _)| k != "p"));
    }

    #[test]
    fn listener_policies() {
        let d = |f| DisplayRequest {
            device: "CashierDisplay".into(),
            info_qualify: "Status".into(),
            response_required: f,
            lines: vec![],
        };
        assert!(!assumptions::display_needs_response(&d(None)));
        assert!(!assumptions::display_needs_response(&d(Some(false))));
        assert!(assumptions::display_needs_response(&d(Some(true))));
        let p = |m: Option<&str>| PrintRequest {
            document_qualifier: "CashierReceipt".into(),
            response_mode: m.map(Into::into),
            lines: vec![],
        };
        assert!(!assumptions::print_needs_response(&p(None)));
        assert!(!assumptions::print_needs_response(&p(Some("NoResponse"))));
        assert!(assumptions::print_needs_response(&p(Some("PrintEnd"))));
        assert!(assumptions::print_needs_response(&p(Some("Immediate"))));
    }
}
