//! Every choice the nexo terminal simulator makes where Swedbank Pay's public material is
//! silent or only second-hand, in one place so each can be corrected once a real PAX
//! terminal is observed. Documented behaviour (paths, 200/204, header echo, element order,
//! the Busy and NotAllowed rules, receipt keys) lives next to the code that uses it.

use std::time::Duration;

/// A request that is not XML, has no `MessageHeader` first or names no known category
/// cannot be answered with a nexo response of the right type: HTTP 400, empty body.
pub const UNPARSABLE_HTTP_STATUS: u16 = 400;

/// Rejections (NotAllowed, Busy, Refusal, MessageFormat, NotFound) carry only `Response`
/// (with `AdditionalResponse`) in the body element: no SaleData / POIData echo.
pub const REJECTION_BODY_RESPONSE_ONLY: bool = true;

/// The `ErrorCondition` of a payment stopped by `AbortRequest` (nexo's; Swedbank only says
/// "Failure").
pub const ABORTED_CONDITION: &str = "Aborted";
/// An `AbortRequest` is always answered 204, even when it matches nothing or the terminal is
/// logged out (there is no AbortResponse in nexo).
pub const ABORT_ALWAYS_204: bool = true;
/// Abort racing approval: once the terminal shows "Authorizing" (the last
/// `1/AUTHORIZING_SHARE` of the payment time) the host authorisation is under way and an
/// abort is ignored — the approval wins.
pub const AUTHORIZING_SHARE: u32 = 3;

/// TransactionStatus with nothing stored for the reference: Failure / NotFound.
pub const NOT_FOUND_CONDITION: &str = "NotFound";
/// Stored responses kept for TransactionStatus (oldest dropped first).
pub const STORED_RESPONSES: usize = 100;

/// A reversal that is not of the last, successful, not yet reversed transaction:
/// Failure / Refusal (Swedbank only says "Failure").
pub const REVERSAL_REFUSED_CONDITION: &str = "Refusal";
/// A reversal answers at once (no card, no customer dialog).
pub const REVERSAL_TIME: Duration = Duration::from_millis(0);

/// Categories the simulator does not implement (EnableService, CardAcquisition):
/// Failure / UnavailableService.
pub const UNIMPLEMENTED_CONDITION: &str = "UnavailableService";

/// AdditionalResponse texts of the rejections (Swedbank documents only the login one,
/// which is in the code).
pub const TEXT_BUSY: &str = "Terminal busy";
pub const TEXT_NOT_ALLOWED: &str = "Not logged in";
pub const TEXT_POIID: &str = "POIID cannot change within a login session";
pub const TEXT_DECLINED: &str = "Declined";
pub const TEXT_ABORTED: &str = "Aborted by Sale System";
pub const TEXT_SIGNATURE_REFUSED: &str = "Signature disapproved";

/// The simulated card: brand "type,product", masked PAN, entry mode, AID, scheme.
pub const CARD_BRAND: &str = "01,Mastercard Debit";
pub const CARD_PAN_FIRST6: &str = "516815";
pub const CARD_PAN_LAST4: &str = "9659";
pub const CARD_ENTRY_MODE: &str = "ICC";
pub const CARD_AID: &str = "A0000000041010";
pub const CARD_LABEL: &str = "Mastercard Debit";
pub const CARD_SCHEME: &str = "MASTERCARD";
/// Acquirer identities on the response and receipts (N-PRSP sample values).
pub const MERCHANT_ID: &str = "10020001";
pub const ACQUIRER_POI_ID: &str = "877888";
/// First POITransactionID (then +1 per transaction; 10 digits like the samples).
pub const FIRST_POI_TRANSACTION_ID: u64 = 8_778_880_001;
/// Approval codes: 6 digits counting up from this one.
pub const FIRST_APPROVAL_CODE: u32 = 611_506;
/// The card acceptor printed on receipts.
pub const ACCEPTOR_NAME: &str = "OKCLINK SIM";
pub const ACCEPTOR_ADDRESS: &str = "Storgatan 1";
pub const ACCEPTOR_ZIP: &str = "111 22";
pub const ACCEPTOR_TOWN: &str = "Stockholm";
pub const ACCEPTOR_ORG_NO: &str = "556000-0000";
pub const ACCEPTOR_PHONE: &str = "08-000 00 00";
pub const ACCEPTOR_COUNTRY: &str = "752";
pub const BANK_AGENT: &str = "Swedbank";

/// Receipt `Outcome.AuthorisationResponseCode`: "00" approved (documented), "05" declined.
pub const RESPONSE_CODE_APPROVED: &str = "00";
pub const RESPONSE_CODE_DECLINED: &str = "05";
/// Receipt `Outcome.DebitStatus`: "91" on a reversal is documented; "00" approved and
/// "05" declined are ours.
pub const DEBIT_STATUS_APPROVED: &str = "00";
pub const DEBIT_STATUS_DECLINED: &str = "05";
pub const DEBIT_STATUS_REVERSED: &str = "91";
/// Receipt `Outcome.AuthorisationResponder` (online by the issuer).
pub const AUTHORISATION_RESPONDER: &str = "3";
/// Receipt `Payment.TransactionType`: purchase, refund; "Makulering" on a reversal is
/// documented.
pub const TRANSACTION_TYPE_PURCHASE: &str = "Köp";
pub const TRANSACTION_TYPE_REFUND: &str = "Retur";
pub const TRANSACTION_TYPE_REVERSAL: &str = "Makulering";

/// A refused signature: the terminal cancels the authorisation it had; the payment answers
/// Failure / Refusal, its receipts keep AuthorisationResponseCode "00" (the host approved)
/// with DebitStatus "91" (cancelled), the display shows "Disapproved".
pub const SIGNATURE_REFUSED_CONDITION: &str = "Refusal";
/// No valid InputResponse from the POS to the signature question counts as "not confirmed".
pub const SIGNATURE_NO_ANSWER_CONFIRMED: bool = false;

/// Display texts streamed to the POS listener during a payment (plain text, no
/// "id,text" prefix), Device `CashierDisplay`, InfoQualify `Status`.
pub const DISPLAY_PRESENT_CARD: &str = "Present card";
pub const DISPLAY_ENTER_PIN: &str = "Enter PIN";
pub const DISPLAY_AUTHORIZING: &str = "Authorizing";
pub const DISPLAY_APPROVED: &str = "Approved";
pub const DISPLAY_DECLINED: &str = "Declined";
pub const DISPLAY_DISAPPROVED: &str = "Disapproved";
pub const DISPLAY_ABORTED: &str = "Aborted";
pub const DISPLAY_DEVICE: &str = "CashierDisplay";
pub const DISPLAY_INFO_QUALIFY: &str = "Status";
/// The signature question and its InputData (Device CashierInput, InfoQualify Input,
/// InputCommand GetConfirmation), asked on the CashierDisplay.
pub const SIGNATURE_QUESTION: &str = "Signature OK?";
/// The terminal's PrintRequest for the merchant receipt: ResponseMode "NotRequired" (the
/// POS answers 204, as Swedbank documents).
pub const PRINT_RESPONSE_MODE: &str = "NotRequired";
/// Terminal → POS Event and Transmit messages carry no ServiceID / DeviceID.
pub const EVENT_HEADER_HAS_IDS: bool = false;
/// TransmitRequest: the POS answers 204 (undocumented).
pub const TRANSMIT_EXPECTED_STATUS: u16 = 204;
/// Time between BeginMaintenance and EndMaintenance after a maintenance logout.
pub const MAINTENANCE_TIME: Duration = Duration::from_millis(200);
/// Timeout of one call to the POS listener.
pub const LISTENER_TIMEOUT: Duration = Duration::from_secs(10);

/// The answer the simulator's own customer gives to a POS InputRequest: GetConfirmation →
/// true, DigitString → this string.
pub const CUSTOMER_DIGITS: &str = "1234567890";

/// Fault "socket closed mid-payment": the connection is closed after this share (1/n) of
/// the payment time.
pub const DROP_SOCKET_AT_SHARE: u32 = 2;
