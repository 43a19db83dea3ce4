//! Every choice the simulator makes where TokenX's public material is silent or only
//! second-hand, in one place so each can be corrected once the real cloud is observed.
//!
//! Facts that *are* documented (descriptions and HTTP codes of the success replies, 6, 403,
//! 404, 1018, 1100, 1104, 1105, the auth reply, the webhook data keys) live next to the
//! code that uses them in `api.rs` / `device.rs`; only the guesses are here.

/// HTTP code of every JWT error (statuses 1–5). Only "401" is ever reported by integrators.
pub const AUTH_ERROR_HTTP: u16 = 401;
/// Descriptions of the JWT error statuses 1–5. The meanings (algorithm / expired / signature /
/// missing header / claim) come from the older, text-only documentation; the exact texts
/// are ours.
pub const JWT_ALGORITHM: (i64, &str) = (1, "JWT algorithm error");
pub const JWT_EXPIRED: (i64, &str) = (2, "JWT expired");
pub const JWT_SIGNATURE: (i64, &str) = (3, "JWT signature error");
pub const JWT_MISSING: (i64, &str) = (4, "Authorization header missing");
pub const JWT_CLAIM: (i64, &str) = (5, "JWT claim error");

/// Wrong client id / secret at `POST /v1/auth/token` (undocumented): 401, status 401.
pub const BAD_CREDENTIALS: (u16, i64, &str) = (401, 401, "Invalid client credentials");

/// Both `terminal-id` and `branch-id` (or any two context headers) where one is expected:
/// status 7 (seen in one integrator's code list, as "0007"); HTTP 400; the text is ours.
pub const MANY_CONTEXT_HEADERS: (u16, i64, &str) =
    (400, 7, "More than one context header provided.");
/// Duplicate `basketID`: status 1007 with HTTP 400; the text is ours.
pub const DUPLICATE_ID: (u16, i64, &str) = (400, 1007, "Duplicate ID");
/// Malformed JSON body or a basket without `basketID`: status 1013, HTTP 400, text ours.
pub const WRONG_DATA_FORMAT: (u16, i64, &str) = (400, 1013, "Wrong data format");
/// Item total ≠ payment total: status 1103, HTTP 400, text ours.
pub const TOTAL_MISMATCH: (u16, i64, &str) = (
    400,
    1103,
    "Total amount of items does not match total amount of payments",
);
/// A `terminal-id` that names no device at all: status 1106, HTTP 400, text ours.
pub const NO_DEVICE: (u16, i64, &str) = (400, 1106, "No device found with this id");
/// Throttling: HTTP 429 with `Retry-After: S`, envelope status 429 (no documented limits).
pub const THROTTLED: (u16, i64, &str) = (429, 429, "Too Many Requests");
/// The fault "basket POST answers 500": envelope status 500.
pub const SERVER_ERROR: (u16, i64, &str) = (500, 500, "Internal server error");
/// The fault "auth answers 503": envelope status 503.
pub const UNAVAILABLE: (u16, i64, &str) = (503, 503, "Service Unavailable");
/// Unknown path or method (NestJS-style 404, in the usual envelope).
pub const NOT_FOUND_ROUTE: (u16, i64, &str) = (404, 404, "Not Found");

/// `GET /v1/basket/{id}` → `result.status`: 0 while open, 1 once the device finished it
/// (completed, cancelled or voided alike: `sale.status` tells which). Only 1 was observed.
pub const BASKET_STATUS_OPEN: i64 = 0;
pub const BASKET_STATUS_DONE: i64 = 1;
/// `GET /v1/terminal` → `mode`: 1 instant, 0 list (one secondary source).
pub const MODE_INSTANT: i64 = 1;
pub const MODE_LIST: i64 = 0;

/// Webhook: the registered `callbackAuthHeader` goes verbatim into `Authorization`.
/// (Documented only as "the value is a full header value such as `Bearer …`".)
pub const WEBHOOK_AUTH_HEADER: &str = "authorization";
/// Webhook retry policy (Token documents none): per-attempt timeout and the back-off base
/// (attempt n ≥ 1 waits `base · 2^(n-1)` before it). The number of retries is
/// `CloudFaults::webhook_retries` (default 3).
pub const WEBHOOK_TIMEOUT_MS: u64 = 2000;
pub const WEBHOOK_BACKOFF_BASE_MS: u64 = 100;
/// Placeholders replaced in a registered `callbackUrl` (one integrator's reading of the
/// Turkish docs).
pub const URL_PLACEHOLDERS: [&str; 3] =
    ["${terminal-id}", "${basket-id}", "${branch-or-terminal-id}"];
/// A cancelled sale's webhook data carries only these keys (status -1, message "CANCELLED").
pub const CANCEL_DATA_KEYS: [&str; 4] = ["basketID", "documentType", "message", "status"];
/// `message` of a voided receipt (status 99); only "OK" and "CANCELLED" were observed.
pub const VOID_MESSAGE: &str = "VOIDED";
/// `paymentItems[].currencyId` of a Turkish-lira payment (ISO 4217 numeric of TRY).
pub const CURRENCY_TRY: i64 = 949;
/// Batch number written into card payments (cash: 0).
pub const CARD_BATCH_NO: i64 = 16;
/// Basket totals: `items[].adjust` / basket `adjust` with `type` 1 is a plain percentage
/// (10 = 10 %), `type` 0 an amount in kuruş; an item's `totalValue` (whole-line discount)
/// wins over `value`, and `value` is applied once per line too (the samples do not say
/// whether it is per unit). `discountOrSurcharge` 1 adds, 0 subtracts.
/// `taxFreeAmount` is added to the item total.
pub const ADJUST_PERCENT_SCALE: i64 = 100;
/// A basket of another client is "not found" for you (rather than 403).
pub const FOREIGN_BASKET_IS_NOT_FOUND: bool = true;
/// Issuer of the simulator's tokens (a Keycloak realm URL, like the real one).
pub const JWT_ISSUER: &str = "https://sso.tokenx.sim/auth/realms/tokenx-dtokc";
/// `merchantId` claim (and terminal lookups) when no terminal names the client.
pub const DEFAULT_MERCHANT: &str = "M-0001";
