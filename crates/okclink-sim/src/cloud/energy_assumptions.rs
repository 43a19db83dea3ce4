//! Token X Energy: every path, field name, code, text and default the simulator uses that no
//! source documents. Token's public page (the "POS Integration service" page of the Token X
//! Energy section) gives only the flow — list orders, get one by plate, lock, pay with the
//! slip data or unlock, the pump ÖKC (1000TR) completes — and says that Token hands out
//! client credentials and a virtual terminalId. Everything below is a guess that follows the
//! TokenX Connect conventions; correct it here once Token shares the real specification.

/// Paths under the API base (after `/v1/energy/`): the order list, one order, and the three
/// actions on an order (`…/orders/{orderId}/{lock|unlock|payment}`).
pub const PATH_PREFIX: [&str; 2] = ["v1", "energy"];
pub const PATH_ORDERS: &str = "orders";
pub const PATH_LOCK: &str = "lock";
pub const PATH_UNLOCK: &str = "unlock";
pub const PATH_PAYMENT: &str = "payment";

/// Header carrying the virtual market-terminal id (Connect's kebab-case `terminal-id`).
pub const TERMINAL_HEADER: &str = "terminal-id";
/// Query parameters of the order list: state filter, plate filter, pump filter, lock holder.
pub const Q_STATUS: &str = "status";
pub const Q_PLATE: &str = "plate";
pub const Q_PUMP: &str = "pumpNo";
pub const Q_LOCKED_BY: &str = "lockedBy";
/// `lockedBy=me` means "the terminal in the header" (POS crash recovery).
pub const LOCKED_BY_ME: &str = "me";

/// Order states (the §4 state machine). While a lock is live the order's `state` is
/// `LOCKED` (and `isLocked` true); the list filter `status` matches `state` exactly.
pub const STATE_OPEN: &str = "OPEN";
pub const STATE_LOCKED: &str = "LOCKED";
pub const STATE_PAID: &str = "PAID";
pub const STATE_COMPLETED: &str = "COMPLETED";

/// Lock TTL when the lock body names none (`lockTtlSec`), and the largest one accepted.
pub const DEFAULT_LOCK_TTL_SECS: u64 = 120;
pub const MAX_LOCK_TTL_SECS: u64 = 3600;
/// Delay between an accepted payment and the 1000TR completing the order (simulator default).
pub const DEFAULT_COMPLETE_DELAY_MS: u64 = 500;
/// Unlock reasons accepted in the unlock body (`reason` may be left out); `TIMEOUT` is also
/// what a lock that ran out reports in `ORDER_UNLOCKED`.
pub const UNLOCK_REASONS: [&str; 3] = ["PAYMENT_FAILED", "CANCELLED", "TIMEOUT"];
/// `reason` of the `ORDER_UNLOCKED` sent when the customer paid at the pump over a lock.
pub const REASON_PAID_AT_PUMP: &str = "PAID_AT_PUMP";

/// Payment item types: 1 cash (needs no `slip`), 3 credit card (needs a `slip` object);
/// any other Connect type (2, 7–20) is accepted without a slip.
pub const PAYMENT_TYPE_CASH: i64 = 1;
pub const PAYMENT_TYPE_CARD: i64 = 3;
/// Connect's wired payment types (1–20; 4–6 unused); anything else is a bad body.
pub const PAYMENT_TYPES: [i64; 17] = [1, 2, 3, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20];

/// Success replies: HTTP, `status`, `description` (texts ours).
pub const OK_LIST: (u16, i64, &str) = (200, 0, "Successfully Fetched Orders");
pub const OK_GET: (u16, i64, &str) = (200, 0, "Successfully Fetched the Order");
pub const OK_LOCK: (u16, i64, &str) = (200, 0, "Order Locked Successfully");
pub const OK_UNLOCK: (u16, i64, &str) = (200, 0, "Unlock Operation Successfully Completed");
pub const OK_PAYMENT: (u16, i64, &str) = (201, 0, "Payment Record Successfully Created");

/// Errors (§3 error map: codes reused from Connect; HTTP codes and texts are the guesses).
/// No `terminal-id` header: Connect's 400 / 6.
pub const NO_TERMINAL: (u16, i64, &str) = (400, 6, "No context header provided.");
/// Terminal unknown, of another branch, or of another client: 403 / 9 (Connect "Forbidden access.").
pub const NOT_PAIRED: (u16, i64, &str) = (403, 9, "Forbidden access.");
/// Unknown order id: 404 / 1006.
pub const NO_ORDER: (u16, i64, &str) = (404, 1006, "No record found");
/// Live lock held by another terminal: 409 / 1018 (Connect's text); `result` carries
/// `{orderId, lockedBy, lockExpiresAt}`.
pub const LOCKED_BY_OTHER: (u16, i64, &str) = (
    409,
    1018,
    "Error: Order locked! For this operation you must first unlock the order.",
);
/// Order PAID or COMPLETED (paid at the pump, completed by the 1000TR): 409 / 1105.
pub const NOT_OPEN: (u16, i64, &str) = (
    409,
    1105,
    "This orders status is not suitable for this operation",
);
/// Pay or unlock without a live lock of one's own or with a wrong / missing `lockToken`:
/// 409 / 1005 (legacy "Locked Transaction").
pub const NO_VALID_LOCK: (u16, i64, &str) = (
    409,
    1005,
    "Locked Transaction: no valid lock or lockToken for this order",
);
/// `amount` ≠ order amount, or payment items not adding up to `amount`: 400 / 1103.
pub const AMOUNT_MISMATCH: (u16, i64, &str) =
    (400, 1103, "Payment amount does not match the order amount");
/// Malformed body, missing / mistyped field, bad query value: 400 / 1013.
pub const BAD_BODY: (u16, i64, &str) = (400, 1013, "Wrong data format");
/// A `paymentId` seen before with another body (or order, or terminal): 409 / 1007.
pub const DUPLICATE_PAYMENT: (u16, i64, &str) = (409, 1007, "Duplicate ID");

/// The simulated forecourt: pumps 1…N, each with its own 1000TR, serial `PT` + 10 digits.
pub const DEFAULT_PUMPS: u32 = 8;
pub fn pump_terminal_id(pump_no: u32) -> String {
    format!("PT{pump_no:010}")
}
/// Default virtual market terminals (Token hands these out; their format is unknown).
pub const DEFAULT_MARKET_TERMINALS: [&str; 2] = ["VT00000000001", "VT00000000002"];
/// Nozzles and their products: (nozzleNo, productName, unit price in kuruş per litre).
/// Nozzle 1's price is the spec's sample (Motorin, 39.65 TL); the others are plausible.
pub const PRODUCTS: [(u32, &str, i64); 3] = [
    (1, "Motorin", 3965),
    (2, "Kurşunsuz Benzin 95", 4189),
    (3, "LPG", 2149),
];
/// Fuel is sold in section 1 at 20 % KDV (`taxPercent` ×100), unit code "LTR".
pub const FUEL_SECTION_NO: i64 = 1;
pub const FUEL_TAX_PERCENT: i64 = 2000;
pub const FUEL_UNIT: &str = "LTR";
/// First receipt / Z number of each 1000TR.
pub const FIRST_RECEIPT_NO: i64 = 1;
pub const PUMP_Z_NO: i64 = 1;

/// Webhook operations (whether Energy has webhooks at all is unknown). `ORDER_CREATED` and
/// `ORDER_COMPLETED` carry the order, `ORDER_LOCKED` `{orderId, lockedBy, lockExpiresAt}`,
/// `ORDER_UNLOCKED` `{orderId, lockedBy, reason}`.
pub const HOOK_CREATED: &str = "ORDER_CREATED";
pub const HOOK_LOCKED: &str = "ORDER_LOCKED";
pub const HOOK_UNLOCKED: &str = "ORDER_UNLOCKED";
pub const HOOK_COMPLETED: &str = "ORDER_COMPLETED";
