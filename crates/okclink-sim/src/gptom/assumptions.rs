//! Every choice the GP tom Cloud API simulator makes where GP tom's public material is
//! silent, in one place so each can be corrected once the real cloud (or its OpenAPI
//! document) is observed. "Spec §N" names the section of docs/GPTOM-FACTS.md (GP tom's
//! public pages, summarised) the simulator was written from; "\[assumption\]" marks what
//! that note itself guessed.
//!
//! Documented behaviour (the paths `/cloud/oauth/token`, `/v1/tasks/TRANSACTION`,
//! `/v1/tasks/BATCH`, the form fields, `token_type`/`scope`/`tid` of the token reply, the
//! 93-day same-TID cancellation rule) lives next to the code that uses it.

use std::time::Duration;

// ---------------------------------------------------------------------------------------
// Authentication (spec §3)

/// The client's `Authorization: Basic …` credential (the part after "Basic "). GP tom
/// publishes one fixed value "the same for all customers" (spec §3) which the research
/// could not capture; the simulator's default is base64 of `gptom-client:gptom-secret`
/// (override: `GptomConfig::client_basic`, `okc sim-terminal --gptom --client-basic`).
pub const CLIENT_BASIC: &str = "Z3B0b20tY2xpZW50OmdwdG9tLXNlY3JldA==";

/// `expires_in` of access tokens (spec §6: "configurable, default 3600"; spec §3: the
/// sale example shows 3600, the master example 86399, the prose says 90 days).
pub const TOKEN_TTL: Duration = Duration::from_secs(3600);
/// Refresh tokens live 90 days (spec §3's "90 days" read as the refresh token's lifetime).
pub const REFRESH_TTL: Duration = Duration::from_secs(90 * 86_400);
/// A refresh answers a new access token and the *same* refresh token (the Spring
/// Security OAuth2 default, which the reply shape `scope: "read write"` suggests).
pub const REFRESH_ROTATES: bool = false;
/// The refresh grant is also served at `/api/oauth/token` (spec §3: G-SALE documents the
/// refresh at `{apiHost}/api/oauth/token`, the client defaults to `/cloud/oauth/token`).
pub const REFRESH_PATHS: [&str; 2] = ["/cloud/oauth/token", "/api/oauth/token"];
/// A login with `tid` binds the token to that TID; without `tid` it is a master-account
/// token (`tid: null`, spec §3). A configured account with a TID only logs in to that TID.
pub const NO_TID_IS_MASTER: bool = true;

/// Token-endpoint and bearer errors follow Spring Security OAuth2 (the reply shape of
/// spec §3 is Spring's): `{"error", "error_description"}`.
/// Missing or wrong Basic client credential: 401 `unauthorized`.
pub const BAD_CLIENT: (u16, &str, &str) = (401, "unauthorized", "Bad client credentials");
/// Wrong username / password, or a TID the account does not own: 400 `invalid_grant`.
pub const BAD_CREDENTIALS: (u16, &str, &str) = (400, "invalid_grant", "Bad credentials");
/// Unknown, revoked or expired refresh token: 401 `invalid_token`.
pub const BAD_REFRESH: (u16, &str, &str) = (401, "invalid_token", "Invalid refresh token");
/// `grant_type` other than `password` / `refresh_token`: 400 `unsupported_grant_type`.
pub const BAD_GRANT: (u16, &str, &str) = (400, "unsupported_grant_type", "Unsupported grant type");
/// No `Authorization: Bearer` on an API call: 401 `unauthorized`.
pub const NO_BEARER: (u16, &str, &str) = (
    401,
    "unauthorized",
    "Full authentication is required to access this resource",
);
/// A bearer token the simulator never issued: 401 `invalid_token`.
pub const UNKNOWN_TOKEN: (u16, &str, &str) = (401, "invalid_token", "Invalid access token");
/// An expired access token: 401 `invalid_token` (spec summary 9: "expired token → 401").
pub const EXPIRED_TOKEN: (u16, &str, &str) = (401, "invalid_token", "Access token expired");
/// Issuer-free HS256 JWT claims of the access token (spec §3 says "JWT"; the token is
/// opaque to clients): `user_name`, `tid`, `scope`, `client_id`, `jti`, `exp`.
pub const JWT_CLIENT_ID: &str = "gptom-cloud";

// ---------------------------------------------------------------------------------------
// API errors (spec §4.3 "HTTP codes", spec §6 "Validation")

/// Every API error body is `{"code": CODE, "message": TEXT}` (spec §6 names only
/// `CROSS_TID_CANCEL`; the other codes and all texts are ours).
pub const ERR_INVALID_JSON: (u16, &str) = (400, "INVALID_REQUEST");
pub const ERR_VALIDATION: (u16, &str) = (400, "VALIDATION_ERROR");
/// `amount` missing (SALE, REFUND), not an integer, or ≤ 0 (spec §6).
pub const ERR_AMOUNT: (u16, &str) = (400, "INVALID_AMOUNT");
/// `originReferenceNum` too long or not alphanumeric / space (spec §6).
pub const ERR_REFERENCE: (u16, &str) = (400, "INVALID_REFERENCE");
/// A master-account token without a TID (spec summary 9: 400).
pub const ERR_TID_REQUIRED: (u16, &str) = (400, "TID_REQUIRED");
/// `POST /v1/tasks/{TYPE}` with a type other than TRANSACTION / BATCH.
pub const ERR_TASK_TYPE: (u16, &str) = (400, "UNSUPPORTED_TASK_TYPE");
/// A per-TID token naming (in the body or `?tid=`) or reading another TID (spec §4.3: 403).
pub const ERR_FORBIDDEN_TID: (u16, &str) = (403, "TID_NOT_OWNED");
/// `GET /v1/tasks/{id}` of an unknown task (spec §4.3: 404).
pub const ERR_TASK_NOT_FOUND: (u16, &str) = (404, "TASK_NOT_FOUND");
/// VOID of an unknown original (spec §6: 404).
pub const ERR_ORIGINAL_NOT_FOUND: (u16, &str) = (404, "TRANSACTION_NOT_FOUND");
/// VOID on another TID than the sale's (spec §6: 422 `{code: "CROSS_TID_CANCEL"}`).
pub const ERR_CROSS_TID: (u16, &str) = (422, "CROSS_TID_CANCEL");
/// VOID of a sale older than [`CANCEL_MAX_DAYS`] (spec §6: 422; the code is ours).
pub const ERR_TOO_OLD: (u16, &str) = (422, "CANCEL_PERIOD_EXPIRED");
/// VOID of a sale that was declined, is not a SALE, or is already voided (ours).
pub const ERR_NOT_CANCELLABLE: (u16, &str) = (422, "TRANSACTION_NOT_CANCELLABLE");
/// Unknown path or method.
pub const ERR_NO_ROUTE: (u16, &str) = (404, "NOT_FOUND");
/// The "5xx on create" faults.
pub const ERR_SERVER: (u16, &str) = (500, "INTERNAL_ERROR");

/// A cancellation is allowed while at most this many whole days (24 h) passed since the
/// sale (spec §4.1: "at most 93 days"; counted in elapsed 24 h periods, so the sale
/// aged 93 days is cancellable and 94 days is not).
pub const CANCEL_MAX_DAYS: i64 = 93;
/// `originTransactionID` of a VOID is matched against the original's `transactionID`,
/// its `externalTransactionID` and the id of the task that made it (spec §5: "one of them
/// will be the cancellation key").
pub const ORIGIN_MATCHES_TASK_ID: bool = true;
/// `originReferenceNum`: at most 20 characters, ASCII letters and digits plus these
/// (spec §4.1: "≤20 alphanumeric, no diacritics"; the example "Invoice 37364FD" has a space).
pub const REFERENCE_MAX_CHARS: usize = 20;
pub const REFERENCE_EXTRA_CHARS: &str = " ";
/// `cancelMode` values (spec §4.1, G-DART: 1 last transaction, 2 older transaction); the
/// simulator only checks the value, the original is always `originTransactionID`.
pub const CANCEL_MODES: [i64; 2] = [1, 2];
/// `transactionType` is a string enum (spec §4.1); the app2app numbers are not accepted
/// in the request. The `transaction` object carries the app2app number (1|2|3).
pub const TRANSACTION_TYPES: [(&str, i64); 3] = [("SALE", 1), ("VOID", 2), ("REFUND", 3)];
/// `currencyCode` when the request has none (the terminal currency, spec §4.1 "M?").
pub const DEFAULT_CURRENCY: &str = "CZK";

// ---------------------------------------------------------------------------------------
// Tasks (spec §4.3 "Task states", spec §6 "Task engine")

/// Task state names (spec §4.3's proposed table). CREATED: accepted by the cloud, not yet
/// delivered to the device (it is offline); QUEUED: on the device, waiting for its turn
/// (automatic) or for the user's tap (assisted).
pub const STATE_CREATED: &str = "CREATED";
pub const STATE_QUEUED: &str = "QUEUED";
pub const STATE_IN_PROGRESS: &str = "IN_PROGRESS";
pub const STATE_COMPLETED: &str = "COMPLETED";
pub const STATE_CANCELLED: &str = "CANCELLED";
pub const STATE_FAILED: &str = "FAILED";
/// `type` of the task detail (spec §4.3 example: "TRANSACTION"; BATCH by analogy).
pub const TYPE_TRANSACTION: &str = "TRANSACTION";
pub const TYPE_BATCH: &str = "BATCH";
/// Time a device spends on a task (IN_PROGRESS) before its outcome (ours).
pub const TASK_TIME: Duration = Duration::from_millis(2000);
/// Task times in the detail: RFC 3339 UTC with whole seconds (spec §4.3 example).
pub const TIME_SECONDS_ONLY: bool = true;
/// `GET /v1/tasks?tid=` answers a JSON array of task details, newest first, at most this
/// many (spec summary 7 \[assumption\]: path only).
pub const LIST_LIMIT: usize = 100;

// ---------------------------------------------------------------------------------------
// The device's results (spec §4.3 `transaction` / `error`, app2app names)

/// `transaction.result`: 0 approved (spec §4.3), this for a declined card (ours; ISO 8583
/// "05 do not honour").
pub const RESULT_APPROVED: i64 = 0;
pub const RESULT_DECLINED: i64 = 5;
pub const MESSAGE_APPROVED: &str = "APPROVED";
pub const MESSAGE_DECLINED: &str = "DECLINED";
/// A FAILED task's `error` (spec §4.3 example: code 43, platform TOM_APP; `isRepeatable`
/// from the app2app state response).
pub const APP_ERROR_CODE: i64 = 43;
pub const APP_ERROR_PLATFORM: &str = "TOM_APP";
pub const APP_ERROR_REPEATABLE: bool = true;
/// The transaction id key: app2app's detail page spells it `trasanctionID` (sic); the
/// simulator writes `transactionID` unless `GptomFaults::sic_transaction_id`.
pub const TRANSACTION_ID_KEY: &str = "transactionID";
pub const TRANSACTION_ID_KEY_SIC: &str = "trasanctionID";
/// `transaction.date` / `.time` formats (UTC; spec §4.3 shows "…").
pub const DATE_FORMAT: &str = "%Y-%m-%d";
pub const TIME_FORMAT: &str = "%H:%M:%S";
/// `batchNumber`, `sequenceNumber`, `receiptNumber`, `traceNumber`, `referenceNumber` are
/// strings (spec §4.3 example); batch numbers count from this one per TID.
pub const FIRST_BATCH_NUMBER: u32 = 1;
/// A BATCH task's own result is `batch: {result, batchNumber (closed), newBatchNumber,
/// transactionCount}` (spec §4.2 says only "a task, like 4.1"; the object is ours).
pub const BATCH_RESULT_KEY: &str = "batch";
/// The simulated merchant and card (ours).
pub const MERCHANT_ID: &str = "9100000001";
pub const CARD_NUMBER: &str = "************0119";
pub const CARD_ENTRY: &str = "CONTACTLESS";
pub const CARD_LABEL: &str = "VISA";
pub const CARD_AID: &str = "A0000000031010";
pub const CARD_PRODUCT: &str = "VISA CLASSIC";
pub const CARD_CVM: &str = "PIN";
/// Approval codes: 6 digits counting up from this one.
pub const FIRST_APPROVAL_CODE: u32 = 123_456;
/// Retrieval reference numbers: 12 digits counting up from this one.
pub const FIRST_REFERENCE_NUMBER: u64 = 600_000_000_001;
