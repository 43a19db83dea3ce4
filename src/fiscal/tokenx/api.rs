//! The TokenX Connect cloud API as values (sans-IO): the 13 operations as requests, the
//! `{status, description, result}` envelope and its success rule, the two status-code tables,
//! the webhook and the mappings to the wired shapes. No sockets, no clock, no threads: the
//! HTTP client (`client.rs`) and the webhook receiver (`receiver.rs`) move these values; the
//! fuzz target `tokenx_webhook` feeds [`parse_webhook`] and [`parse_envelope`] arbitrary bytes.
//!
//! Facts from Token's own Postman collection "TokenX Documentation" (2025-08…10 samples), the
//! TokenX developer portal (changelog, the older "TokenX API Integration" page) and
//! integrators' code. What is not public sits in [`assumptions`], each item named and
//! commented, so it is corrected in one place.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;

/// Everything about the TokenX cloud that Token does not document and we had to choose.
/// Each item is used from here only.
pub mod assumptions {
    use std::time::Duration;

    /// Token documents no rate limit or `Retry-After` format; integrators retry 429 three
    /// times (1/2/4 s or 2/4/8 s). We honour `Retry-After` in seconds, else this back-off.
    pub const THROTTLE_RETRIES: u32 = 3;
    pub const THROTTLE_BACKOFF: Duration = Duration::from_secs(2);
    /// Longest `Retry-After` we wait inside one call (longer → the call fails as throttled).
    pub const THROTTLE_MAX_WAIT: Duration = Duration::from_secs(30);
    /// The token is refreshed this long before `expiresIn` ends (the official sample says
    /// 900 s lifetimes; integrators report 86 400 s — we honour whatever `expiresIn` says).
    pub const TOKEN_MARGIN: Duration = Duration::from_secs(60);
    /// With a webhook registered, how long to wait for it before polling (integrators: 120 s).
    pub const POLL_AFTER_WITH_WEBHOOK: Duration = Duration::from_secs(120);
    /// Without a webhook (a shop PC behind NAT) polling is the only way: start after 2 s.
    pub const POLL_AFTER_WITHOUT_WEBHOOK: Duration = Duration::from_secs(2);
    /// Polling back-off: 2 → 4 → 8 … s (integrators), capped: one open basket never costs
    /// more than one request per minute once it has waited long.
    pub const POLL_FIRST_INTERVAL: Duration = Duration::from_secs(2);
    pub const POLL_MAX_INTERVAL: Duration = Duration::from_secs(60);
    /// Basket `status` enum in `GET /v1/basket/{id}`: only 1 = completed is sampled; we read
    /// the outcome from `result.sale` and treat `deletedAt` ≠ null as deleted.
    pub const BASKET_STATUS_COMPLETED: i64 = 1;
    /// The webhook carries `callbackAuthHeader` verbatim in `Authorization` (undocumented).
    pub const WEBHOOK_AUTH_HEADER: &str = "authorization";
    /// Auth error statuses (JWT errors 0001–0005 on the older page; sent as integers).
    pub const AUTH_STATUSES: std::ops::RangeInclusive<i64> = 1..=5;
    /// HTTP timeout of one call (integrators use 10–30 s).
    pub const HTTP_TIMEOUT: Duration = Duration::from_secs(15);
    /// Largest webhook body the receiver reads (a sale info is a few KiB).
    pub const WEBHOOK_MAX_BYTES: usize = 256 * 1024;
    /// Largest API response body we read.
    pub const RESPONSE_MAX_BYTES: usize = 4 * 1024 * 1024;
    /// Device index reported for a cloud terminal (Token's cloud devices are X30TR-family
    /// Android ÖKCs, index 0 on the wired API).
    pub const DEVICE_INDEX: i32 = 0;
    /// How often a connected, idle cloud terminal is checked (`GET /v1/terminal/{id}`).
    pub const HEALTH_INTERVAL: Duration = Duration::from_secs(60);
}

/// HTTP method of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// The three base URLs (Token's collection has one variable each; production values come
/// from Token). No trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub api: String,
    pub auth: String,
    pub settings: String,
}

impl Endpoints {
    /// All three at one base (the simulator, and Token's test environment).
    pub fn single(base: &str) -> Endpoints {
        let b = base.trim_end_matches('/').to_string();
        Endpoints {
            api: b.clone(),
            auth: b.clone(),
            settings: b,
        }
    }
}

/// The context header a call carries (kebab-case, the current spelling).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Context {
    Terminal(String),
    Branch(String),
    Merchant(String),
}

impl Context {
    fn header(&self) -> (&'static str, String) {
        match self {
            Context::Terminal(t) => ("terminal-id", t.clone()),
            Context::Branch(b) => ("branch-id", b.clone()),
            Context::Merchant(m) => ("merchant-id", m.clone()),
        }
    }
}

/// The 13 operations of the TokenX Connect API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `POST {auth}/v1/auth/token`, HTTP Basic client-id:client-secret, no body.
    Authenticate,
    /// `POST {settings}/v1/client-settings {callbackUrl, callbackAuthHeader}`.
    SetClientSettings {
        callback_url: String,
        callback_auth: String,
    },
    /// `GET {settings}/v1/client-settings`.
    GetClientSettings,
    /// `GET /v1/fiscal-parameters` (terminal-id).
    FiscalParameters { terminal: String },
    /// `POST /v1/basket` (branch-id): list mode, any terminal of the branch takes it.
    AddBasket { branch: String, basket: String },
    /// `POST /v1/instant-basket` (terminal-id only).
    AddInstantBasket { terminal: String, basket: String },
    /// `GET /v1/basket/{id}` (terminal-id sent when known; Token's samples send none).
    GetBasket {
        id: String,
        terminal: Option<String>,
    },
    /// `PUT /v1/basket/{id}` (branch-id), the basket without `basketID`.
    UpdateBasket {
        id: String,
        branch: String,
        basket: String,
    },
    /// `POST /v1/basket/unlock {basketID}` (branch-id).
    UnlockBasket { id: String, branch: String },
    /// `DELETE /v1/basket/{id}` (only before payment).
    DeleteBasket { id: String },
    /// `GET /v1/basket/open-basket` (terminal-id).
    OpenBaskets { terminal: String },
    /// `GET /v1/terminal` with exactly one context header.
    Terminals { context: Context },
    /// `GET /v1/terminal/{id}` (terminal-id, for the access check).
    TerminalOrganisation { terminal: String },
}

/// One HTTP request, ready for any client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub url: String,
    /// Context headers (the bearer / basic authorization is added by the client).
    pub headers: Vec<(&'static str, String)>,
    /// JSON body.
    pub body: Option<String>,
}

/// Path segment escaping for ids (basket ids are UUIDs, terminal ids "AV…"; anything else is
/// percent-encoded so it cannot change the path).
fn seg(id: &str) -> String {
    let mut s = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

impl Op {
    /// The operation's name as in Token's documentation (logs, errors).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Authenticate => "Authenticate",
            Op::SetClientSettings { .. } => "Set Client Settings",
            Op::GetClientSettings => "Get Client Settings",
            Op::FiscalParameters { .. } => "Get Fiscal Parameters",
            Op::AddBasket { .. } => "Add Basket",
            Op::AddInstantBasket { .. } => "Add Instant Basket",
            Op::GetBasket { .. } => "Get Basket Details",
            Op::UpdateBasket { .. } => "Update Basket",
            Op::UnlockBasket { .. } => "Unlock Basket",
            Op::DeleteBasket { .. } => "Delete Basket",
            Op::OpenBaskets { .. } => "Get Open Baskets For Terminal",
            Op::Terminals { .. } => "Get Terminals",
            Op::TerminalOrganisation { .. } => "Get Terminal Organisation",
        }
    }

    /// Whether a lost answer could mean the cloud acted on it (no blind retry then).
    pub fn creates_basket(&self) -> bool {
        matches!(self, Op::AddBasket { .. } | Op::AddInstantBasket { .. })
    }

    /// The request for this operation against `ep`.
    pub fn request(&self, ep: &Endpoints) -> Request {
        let api = |p: &str| format!("{}{p}", ep.api);
        let json = |v: serde_json::Value| Some(v.to_string());
        let (method, url, ctx, body) = match self {
            Op::Authenticate => (
                Method::Post,
                format!("{}/v1/auth/token", ep.auth),
                None,
                None,
            ),
            Op::SetClientSettings {
                callback_url,
                callback_auth,
            } => (
                Method::Post,
                format!("{}/v1/client-settings", ep.settings),
                None,
                json(serde_json::json!({
                    "callbackUrl": callback_url,
                    "callbackAuthHeader": callback_auth,
                })),
            ),
            Op::GetClientSettings => (
                Method::Get,
                format!("{}/v1/client-settings", ep.settings),
                None,
                None,
            ),
            Op::FiscalParameters { terminal } => (
                Method::Get,
                api("/v1/fiscal-parameters"),
                Some(Context::Terminal(terminal.clone())),
                None,
            ),
            Op::AddBasket { branch, basket } => (
                Method::Post,
                api("/v1/basket"),
                Some(Context::Branch(branch.clone())),
                Some(basket.clone()),
            ),
            Op::AddInstantBasket { terminal, basket } => (
                Method::Post,
                api("/v1/instant-basket"),
                Some(Context::Terminal(terminal.clone())),
                Some(basket.clone()),
            ),
            Op::GetBasket { id, terminal } => (
                Method::Get,
                api(&format!("/v1/basket/{}", seg(id))),
                terminal.clone().map(Context::Terminal),
                None,
            ),
            Op::UpdateBasket { id, branch, basket } => (
                Method::Put,
                api(&format!("/v1/basket/{}", seg(id))),
                Some(Context::Branch(branch.clone())),
                Some(basket.clone()),
            ),
            Op::UnlockBasket { id, branch } => (
                Method::Post,
                api("/v1/basket/unlock"),
                Some(Context::Branch(branch.clone())),
                json(serde_json::json!({ "basketID": id })),
            ),
            Op::DeleteBasket { id } => (
                Method::Delete,
                api(&format!("/v1/basket/{}", seg(id))),
                None,
                None,
            ),
            Op::OpenBaskets { terminal } => (
                Method::Get,
                api("/v1/basket/open-basket"),
                Some(Context::Terminal(terminal.clone())),
                None,
            ),
            Op::Terminals { context } => (
                Method::Get,
                api("/v1/terminal"),
                Some(context.clone()),
                None,
            ),
            Op::TerminalOrganisation { terminal } => (
                Method::Get,
                api(&format!("/v1/terminal/{}", seg(terminal))),
                Some(Context::Terminal(terminal.clone())),
                None,
            ),
        };
        Request {
            method,
            url,
            headers: ctx.map(|c| vec![c.header()]).unwrap_or_default(),
            body,
        }
    }
}

/// Which table gives a status code its meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusTable {
    /// The codes Token's current API answers (Postman collection, integrators).
    #[default]
    Current,
    /// The older "TokenX API Integration" page's table (marked "not up-to-date" there),
    /// whose 6 and 9 mean other things; device and bank codes may also appear in results.
    Legacy,
}

impl std::str::FromStr for StatusTable {
    type Err = String;
    fn from_str(s: &str) -> Result<StatusTable, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "current" => Ok(StatusTable::Current),
            "legacy" => Ok(StatusTable::Legacy),
            o => Err(format!("unknown status table {o:?} (current or legacy)")),
        }
    }
}

/// How serious a code is (the legacy table's "type" column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Success,
    Info,
    Warning,
    Error,
}

/// A code's meaning in one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeInfo {
    pub meaning: &'static str,
    pub severity: Severity,
}

const fn ci(meaning: &'static str, severity: Severity) -> CodeInfo {
    CodeInfo { meaning, severity }
}

impl StatusTable {
    /// The meaning of `status` (answered with HTTP `http`) in this table.
    pub fn describe(self, status: i64, http: u16) -> Option<CodeInfo> {
        use Severity::*;
        if (1..=5).contains(&status) && (http == 401 || self == StatusTable::Legacy) {
            return Some(ci(
                [
                    "JWT algorithm error",
                    "JWT expired",
                    "JWT signature error",
                    "JWT header missing",
                    "JWT claim error",
                ][status as usize - 1],
                Error,
            ));
        }
        let current = match status {
            0 => Some(ci("success", Success)),
            201 if http < 400 => Some(ci("authenticated", Success)),
            6 => Some(ci("no context header provided", Error)),
            7 => Some(ci("more than one context header", Error)),
            9 | 403 => Some(ci("forbidden", Error)),
            404 | 1006 => Some(ci("no record found", Error)),
            429 => Some(ci("too many requests", Warning)),
            1007 => Some(ci("duplicate id (basketID)", Error)),
            1013 => Some(ci("wrong data format", Error)),
            1018 => Some(ci("basket locked: unlock it first", Error)),
            1100 => Some(ci("the terminal already has an open basket", Error)),
            1101 => Some(ci("an open basket with this checkNumber exists", Error)),
            1102 => Some(ci("basket already completed", Error)),
            1103 => Some(ci("item total differs from payment total", Error)),
            1104 => Some(ci("the terminal's sale mode is not instant", Error)),
            1105 => Some(ci("the basket's status does not allow this", Error)),
            1106 => Some(ci("no device with this id", Error)),
            _ => None,
        };
        if self == StatusTable::Current || http >= 400 && current.is_some() {
            // An HTTP error status means an API error: the current meaning applies.
            return current;
        }
        Some(match status {
            0 => ci("success", Success),
            -1 => ci("cancelled by the user", Warning),
            1 => ci("missing information", Error),
            2 => ci("invalid e-invoice customer", Error),
            3 => ci("e-invoice integrator error", Error),
            4 => ci("network error", Error),
            5 => ci("offline invoice", Success),
            6 => ci("onboarding error", Error),
            7 => ci("invalid e-invoice id", Error),
            8 => ci("missing customer information", Error),
            9 => ci("POS is busy", Warning),
            10 => ci("payment plan error", Error),
            11 => ci("payment cancelled", Warning),
            12 => ci("unknown e-invoice integrator", Error),
            13 => ci("integrator response parsing error", Error),
            1001 => ci("missing ClientId", Error),
            1002 => ci("missing TerminalId", Error),
            1003 => ci("timeout", Warning),
            1004 => ci("missing information", Error),
            1005 => ci("locked transaction", Warning),
            1006 => ci("record not found", Error),
            1007 => ci("duplicate id", Error),
            1008 => ci("unauthorized terminal", Error),
            1009 => ci("callback URL error", Warning),
            1010 => ci("timeout", Warning),
            1011 => ci("not delivered to the terminal", Warning),
            1012 => ci("not completed yet", Info),
            1013 => ci("wrong data format", Error),
            1014 => ci("general error", Error),
            5001 => ci("error", Error),
            5002 => ci("cancelled", Warning),
            5003 => ci("offline decline", Error),
            5004 => ci("unable to decline", Error),
            5005 => ci("online decline", Error),
            5006 => ci("payment app not found", Error),
            5008 => ci("bank app not found", Error),
            5009 => ci("bank app crashed", Error),
            5101 => ci("card validation error", Error),
            5102 => ci("card validation cancelled by the user", Warning),
            5104 => ci("card validation timeout", Error),
            5105 => ci("fallback authorisation", Error),
            5106 => ci("parsing error", Error),
            5107 => ci("BIN query error", Warning),
            5108 => ci("not a credit card", Warning),
            5109 => ci("not a debit card", Warning),
            5110 => ci("not a domestic card", Warning),
            5111 => ci("not issued by the requested bank", Warning),
            5112 => ci("not a foreign card", Warning),
            _ => return None,
        })
    }
}

/// An answer of the cloud that is not a success (or not an answer at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// A well-formed envelope with an error: HTTP code, `status`, `description`, and the
    /// meaning from the configured table.
    Api {
        http: u16,
        status: i64,
        description: String,
        info: Option<CodeInfo>,
        /// `Retry-After` of a 429, when given in seconds.
        retry_after: Option<Duration>,
    },
    /// The body is not the envelope (not JSON, no `status`, wrong types) — or an HTTP error
    /// without one (a proxy's 502 page).
    Malformed { http: u16, detail: String },
}

impl ApiError {
    pub fn http(&self) -> u16 {
        match self {
            ApiError::Api { http, .. } | ApiError::Malformed { http, .. } => *http,
        }
    }

    pub fn status(&self) -> Option<i64> {
        match self {
            ApiError::Api { status, .. } => Some(*status),
            ApiError::Malformed { .. } => None,
        }
    }

    /// A token problem: drop the token and authenticate again (once).
    pub fn is_auth(&self) -> bool {
        self.http() == 401
            || self.http() >= 400
                && self
                    .status()
                    .is_some_and(|s| assumptions::AUTH_STATUSES.contains(&s))
    }

    pub fn is_throttled(&self) -> bool {
        self.http() == 429
    }

    /// A server-side failure: the request may or may not have been acted on.
    pub fn is_server(&self) -> bool {
        self.http() >= 500
    }

    /// `basketID` already known to the cloud (a re-send of an accepted basket).
    pub fn is_duplicate(&self) -> bool {
        self.status() == Some(1007)
    }

    /// No such record (404 / 1006).
    pub fn is_not_found(&self) -> bool {
        self.http() == 404 || matches!(self.status(), Some(404 | 1006))
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Api {
                http,
                status,
                description,
                info,
                ..
            } => {
                write!(
                    f,
                    "TokenX answered HTTP {http}, status {status}: {description:?}"
                )?;
                if let Some(i) = info {
                    write!(f, " ({})", i.meaning)?;
                }
                Ok(())
            }
            ApiError::Malformed { http, detail } => {
                write!(
                    f,
                    "TokenX answered HTTP {http} without a valid envelope: {detail}"
                )
            }
        }
    }
}

impl std::error::Error for ApiError {}

/// `status` is an integer in every sample; the older page writes "0001": accept both.
fn int_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        I(i64),
        F(f64),
        S(String),
    }
    match N::deserialize(d)? {
        N::I(i) => Ok(i),
        N::F(f) if f.fract() == 0.0 && f.abs() < 1e15 => Ok(f as i64),
        N::S(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("status {s:?} is not a number"))),
        N::F(f) => Err(serde::de::Error::custom(format!(
            "status {f} is not an integer"
        ))),
    }
}

#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(deserialize_with = "int_or_string")]
    status: i64,
    #[serde(default)]
    description: Option<String>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
}

/// A successful envelope: `status`, `description` and the raw `result` (parsed by the
/// operation that asked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub status: i64,
    pub description: String,
    /// The `result` JSON text ("null" when absent).
    pub result: String,
}

/// Parse an answer of operation `op` (HTTP `http`, body `body`; `retry_after` is the raw
/// header of a 429). Success = HTTP below 400 and `status` 0 (auth: 200/201 and `status`
/// 0 or 201). Keys may come in any order.
pub fn parse_envelope(
    op_is_auth: bool,
    http: u16,
    body: &[u8],
    retry_after: Option<&str>,
    table: StatusTable,
) -> Result<Envelope, ApiError> {
    let raw: RawEnvelope = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            let detail = if body.is_empty() {
                "empty body".to_string()
            } else {
                format!("{e}")
            };
            return Err(ApiError::Malformed { http, detail });
        }
    };
    let description = raw.description.unwrap_or_default();
    let ok_status = raw.status == 0 || op_is_auth && raw.status == 201;
    if http < 400 && ok_status {
        return Ok(Envelope {
            status: raw.status,
            description,
            result: raw
                .result
                .map(|r| r.get().to_string())
                .unwrap_or_else(|| "null".into()),
        });
    }
    // HTTP 200 with an error status is an error too; an HTTP error with status 0 keeps
    // the HTTP code as the status (a gateway that wrapped it).
    let status = if raw.status == 0 {
        i64::from(http)
    } else {
        raw.status
    };
    Err(ApiError::Api {
        http,
        status,
        info: table.describe(status, http),
        description,
        retry_after: retry_after.and_then(parse_retry_after),
    })
}

/// `Retry-After` in seconds (an HTTP date is not honoured: the caller's back-off applies).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// `result` of Authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub access_token: String,
    pub expires_in: Duration,
}

/// Read the token out of Authenticate's `result` (non-empty `accessToken`; `expiresIn` in
/// seconds, 900 when missing — the official sample's value).
pub fn parse_token(result: &str) -> Result<TokenGrant, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct R {
        access_token: Option<String>,
        expires_in: Option<serde_json::Value>,
    }
    let r: R = serde_json::from_str(result).map_err(|e| format!("auth result: {e}"))?;
    let access_token = r
        .access_token
        .filter(|t| !t.trim().is_empty())
        .ok_or("auth result without accessToken")?;
    let secs = match r.expires_in {
        None | Some(serde_json::Value::Null) => 900,
        Some(serde_json::Value::Number(n)) => {
            n.as_u64().ok_or("expiresIn is not a whole number")?
        }
        Some(serde_json::Value::String(s)) => {
            s.trim().parse().map_err(|_| "expiresIn is not a number")?
        }
        Some(_) => return Err("expiresIn is not a number".into()),
    };
    Ok(TokenGrant {
        access_token,
        expires_in: Duration::from_secs(secs),
    })
}

/// What a basket looks like in `GET /v1/basket/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BasketView {
    /// Not finished yet; `locked_by` = the terminal that holds it.
    Open { locked_by: Option<String> },
    /// Finished on the device: the `sale` JSON text (status 0 / -1 / 99 inside).
    Finished { sale: String },
    /// Deleted before payment.
    Deleted,
}

/// Read Get Basket Details' `result`.
pub fn parse_basket(result: &str) -> Result<BasketView, String> {
    #[derive(Deserialize)]
    struct R<'a> {
        #[serde(borrow, default)]
        sale: Option<&'a RawValue>,
        #[serde(rename = "deletedAt", default)]
        deleted_at: Option<serde_json::Value>,
        #[serde(rename = "lockedBy", default)]
        locked_by: Option<serde_json::Value>,
    }
    let r: R = serde_json::from_str(result).map_err(|e| format!("basket result: {e}"))?;
    if let Some(s) = r.sale.filter(|s| s.get().trim_start().starts_with('{')) {
        return Ok(BasketView::Finished {
            sale: s.get().to_string(),
        });
    }
    if r.deleted_at.is_some_and(|d| !d.is_null()) {
        return Ok(BasketView::Deleted);
    }
    Ok(BasketView::Open {
        locked_by: r.locked_by.and_then(|v| v.as_str().map(str::to_string)),
    })
}

/// The webhook's `operation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    BasketCompleted,
    BasketLocked,
    BasketUnlocked,
    Other(String),
}

/// One webhook POST from Token, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    pub terminal_id: Option<String>,
    pub client_id: Option<String>,
    pub operation: Operation,
    /// `operationDate` as sent (formats vary: RFC 3339 with or without fraction or zone,
    /// or `YYYY-MM-DD HH:MM:SS`); `None` when missing.
    pub operation_date: Option<String>,
    /// `data.basketID`.
    pub basket_id: String,
    /// `data` as sent (for BASKET_COMPLETED: the sale info, the wired device's shape).
    pub data: String,
    /// `data.status` (0 completed, -1 cancelled on the device, 99 voided).
    pub sale_status: Option<i64>,
    /// `data.lockedBy` (BASKET_LOCKED / UNLOCKED).
    pub locked_by: Option<String>,
}

/// Why a webhook body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookError(pub String);

impl fmt::Display for WebhookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad webhook: {}", self.0)
    }
}

impl std::error::Error for WebhookError {}

/// Whether `s` is one of the `operationDate` formats integrators have seen.
pub fn operation_date_ok(s: &str) -> bool {
    use chrono::{DateTime, NaiveDateTime};
    let s = s.trim();
    DateTime::parse_from_rfc3339(s).is_ok()
        || ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
            .iter()
            .any(|f| NaiveDateTime::parse_from_str(s, f).is_ok())
}

/// Parse a webhook body. Accepted variants: keys in any order, `operation` in any case with
/// `-`/`_`/space, `terminalId`/`terminal-id`/`terminalID`, `basketID`/`basketId`, status as
/// number or text, every `operationDate` format above (an unknown one is kept, not refused).
pub fn parse_webhook(body: &[u8]) -> Result<WebhookEvent, WebhookError> {
    let err = |m: String| WebhookError(m);
    let v: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).map_err(|e| err(format!("not a JSON object: {e}")))?;
    let text = |m: &serde_json::Map<String, serde_json::Value>, keys: &[&str]| -> Option<String> {
        keys.iter().find_map(|k| match m.get(*k) {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
    };
    let op_raw =
        text(&v, &["operation", "event", "type"]).ok_or_else(|| err("no \"operation\"".into()))?;
    let norm: String = op_raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let operation = match norm.as_str() {
        "BASKETCOMPLETED" => Operation::BasketCompleted,
        "BASKETLOCKED" => Operation::BasketLocked,
        "BASKETUNLOCKED" => Operation::BasketUnlocked,
        _ => Operation::Other(op_raw),
    };
    let data_val = v.get("data").ok_or_else(|| err("no \"data\"".into()))?;
    let data = data_val
        .as_object()
        .ok_or_else(|| err("\"data\" is not an object".into()))?;
    let basket_id = text(data, &["basketID", "basketId", "basket_id", "BasketID"])
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| err("no data.basketID".into()))?;
    let sale_status = match data.get("status") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => Some(
            n.as_i64()
                .ok_or_else(|| err("data.status is not an integer".into()))?,
        ),
        Some(serde_json::Value::String(s)) => Some(
            s.trim()
                .parse()
                .map_err(|_| err("data.status is not a number".into()))?,
        ),
        Some(_) => return Err(err("data.status is not a number".into())),
    };
    if operation == Operation::BasketCompleted && sale_status.is_none() {
        return Err(err("BASKET_COMPLETED without data.status".into()));
    }
    // The sale info is handed on exactly as Token sent it: cut `data` out of the body
    // (serde_json re-serialisation would reorder keys).
    let data_text = raw_member(body, "data").unwrap_or_else(|| data_val.to_string());
    Ok(WebhookEvent {
        terminal_id: text(
            &v,
            &["terminalId", "terminal-id", "terminalID", "terminal_id"],
        ),
        client_id: text(&v, &["clientId", "client-id", "clientID", "client_id"]),
        operation,
        operation_date: text(&v, &["operationDate", "operation_date"]),
        basket_id,
        sale_status,
        locked_by: text(data, &["lockedBy", "lockedby"]),
        data: data_text,
    })
}

/// The raw text of the top-level member `key` of a JSON object (already known valid).
fn raw_member(body: &[u8], key: &str) -> Option<String> {
    let m: std::collections::HashMap<String, &RawValue> = serde_json::from_slice(body).ok()?;
    m.get(key).map(|r| r.get().to_string())
}

/// Map `GET /v1/fiscal-parameters`' `result` to the wired device's fiscal-info JSON (the
/// X30TR's keys: `businessMode, currencies, currencyDate, paymentAppInfo, pluCount, plus,
/// receiptLimit, sectionCount, sections`): the sections without their `plus`, the PLUs of all
/// sections in one list (each keeps its `sectionNo`), `receiptLimit` 0 when null, plus the
/// cloud's `terminal`.
pub fn fiscal_info_from_parameters(result: &str) -> Result<String, String> {
    use serde_json::{json, Map, Value};
    let v: Value = serde_json::from_str(result).map_err(|e| format!("fiscal parameters: {e}"))?;
    let o = v
        .as_object()
        .ok_or("fiscal parameters: result is not an object")?;
    let mut sections = Vec::new();
    let mut plus = Vec::new();
    for s in o
        .get("sections")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(so) = s.as_object() else {
            return Err("fiscal parameters: a section is not an object".into());
        };
        let mut sec = Map::new();
        for (k, val) in so {
            if k == "plus" {
                for p in val.as_array().into_iter().flatten() {
                    let mut p = p.clone();
                    if let (Some(po), Some(no)) = (p.as_object_mut(), so.get("sectionNo")) {
                        po.entry("sectionNo").or_insert(no.clone());
                    }
                    plus.push(p);
                }
            } else {
                sec.insert(k.clone(), val.clone());
            }
        }
        sections.push(Value::Object(sec));
    }
    let receipt_limit = o
        .get("receiptLimit")
        .filter(|v| !v.is_null())
        .cloned()
        .unwrap_or(json!(0));
    let out = json!({
        "businessMode": 0,
        "currencies": o.get("currencies").cloned().unwrap_or(json!([])),
        "currencyDate": 0,
        "paymentAppInfo": [],
        "pluCount": plus.len(),
        "plus": plus,
        "receiptLimit": receipt_limit,
        "sectionCount": sections.len(),
        "sections": sections,
        "terminal": o.get("terminal").cloned().unwrap_or(Value::Null),
    });
    Ok(out.to_string())
}

pub use crate::fiscal::basket_id_of;

/// `json` (a JSON object text) with `"basketID": id` as its first member, replacing any
/// `basketID` / `basketId` it had (empty, null, not a string, repeated). Without one the text
/// is kept as it was after the new member; otherwise the object is written anew.
pub fn with_basket_id(json: &str, id: &str) -> String {
    let q = serde_json::to_string(id).expect("string");
    let parsed: Option<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(json).ok();
    let has_id = parsed
        .as_ref()
        .is_some_and(|m| m.contains_key("basketID") || m.contains_key("basketId"));
    if has_id {
        if let Some(mut m) = parsed {
            m.remove("basketID");
            m.remove("basketId");
            let mut out = format!("{{\"basketID\":{q}");
            for (k, v) in &m {
                out.push(',');
                out.push_str(&serde_json::to_string(k).expect("string"));
                out.push(':');
                out.push_str(&v.to_string());
            }
            out.push('}');
            return out;
        }
    }
    let t = json.trim_start();
    let rest = t.strip_prefix('{').unwrap_or(t).trim_start();
    if rest.starts_with('}') {
        format!("{{\"basketID\":{q}{rest}")
    } else {
        format!("{{\"basketID\":{q},{rest}")
    }
}

/// `json` without its top-level `basketID` (Update Basket sends the basket without it).
pub fn without_basket_id(json: &str) -> Result<String, String> {
    let mut v: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(json).map_err(|e| format!("basket: {e}"))?;
    v.remove("basketID");
    v.remove("basketId");
    Ok(serde_json::Value::Object(v).to_string())
}

/// Fuzz entry (feature `fuzzing`, never in a shipped library): the first byte picks the
/// parser, the rest is its input; every invariant broken panics.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use super::*;

    /// `0` webhook · `1` envelope (2 bytes HTTP status, then the body) · `2` basket result ·
    /// `3` fiscal parameters · `4` auth result · `5` basket id helpers.
    pub fn tokenx(data: &[u8]) {
        let Some((&sel, rest)) = data.split_first() else {
            return;
        };
        match sel % 6 {
            0 => webhook(rest),
            1 => {
                if rest.len() < 2 {
                    return;
                }
                let http = u16::from_be_bytes([rest[0], rest[1]]) % 600;
                let auth = http % 2 == 1;
                let table = if http % 3 == 0 {
                    StatusTable::Legacy
                } else {
                    StatusTable::Current
                };
                match parse_envelope(auth, http, &rest[2..], Some("7"), table) {
                    Ok(env) => {
                        assert!(http < 400);
                        assert!(env.status == 0 || auth && env.status == 201);
                        serde_json::from_str::<serde::de::IgnoredAny>(&env.result)
                            .expect("result is JSON");
                        if auth {
                            let _ = parse_token(&env.result);
                        }
                        let _ = parse_basket(&env.result);
                    }
                    Err(e) => {
                        assert_eq!(e.http(), http);
                        let _ = e.to_string();
                        if let ApiError::Api { status, .. } = e {
                            assert!(!(http < 400 && (status == 0 || auth && status == 201)));
                        }
                    }
                }
            }
            2 => {
                if let Ok(s) = std::str::from_utf8(rest) {
                    if let Ok(BasketView::Finished { sale }) = parse_basket(s) {
                        let v: serde_json::Value = serde_json::from_str(&sale).expect("sale");
                        assert!(v.is_object());
                    }
                }
            }
            3 => {
                if let Ok(s) = std::str::from_utf8(rest) {
                    if let Ok(out) = fiscal_info_from_parameters(s) {
                        let v: serde_json::Value = serde_json::from_str(&out).expect("fiscal");
                        assert_eq!(
                            v["sectionCount"].as_u64(),
                            v["sections"].as_array().map(|a| a.len() as u64)
                        );
                        assert_eq!(
                            v["pluCount"].as_u64(),
                            v["plus"].as_array().map(|a| a.len() as u64)
                        );
                    }
                }
            }
            4 => {
                if let Ok(s) = std::str::from_utf8(rest) {
                    if let Ok(t) = parse_token(s) {
                        assert!(!t.access_token.trim().is_empty());
                    }
                }
            }
            _ => {
                if let Ok(s) = std::str::from_utf8(rest) {
                    if serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(s).is_ok()
                    {
                        let with = with_basket_id(s, "fz-1");
                        assert_eq!(basket_id_of(&with).as_deref(), Some("fz-1"), "{with}");
                        let without = without_basket_id(&with).expect("still an object");
                        assert!(basket_id_of(&without).is_none());
                    }
                }
            }
        }
    }

    fn webhook(body: &[u8]) {
        match parse_webhook(body) {
            Ok(e) => {
                assert!(!e.basket_id.trim().is_empty());
                let data: serde_json::Value =
                    serde_json::from_str(&e.data).expect("data is the sent JSON");
                assert!(data.is_object());
                if e.operation == Operation::BasketCompleted {
                    assert!(e.sale_status.is_some());
                }
                if let Some(d) = &e.operation_date {
                    let _ = operation_date_ok(d);
                }
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep() -> Endpoints {
        Endpoints {
            api: "https://api.example/app-store/external".into(),
            auth: "https://auth.example".into(),
            settings: "https://settings.example".into(),
        }
    }

    #[test]
    fn every_operation_has_its_path_method_and_context() {
        let t = || "AV00000000001".to_string();
        let b = || "BR1".to_string();
        type Case<'a> = (Op, Method, &'a str, Option<(&'a str, &'a str)>);
        let cases: Vec<Case> = vec![
            (
                Op::Authenticate,
                Method::Post,
                "https://auth.example/v1/auth/token",
                None,
            ),
            (
                Op::SetClientSettings {
                    callback_url: "u".into(),
                    callback_auth: "a".into(),
                },
                Method::Post,
                "https://settings.example/v1/client-settings",
                None,
            ),
            (
                Op::GetClientSettings,
                Method::Get,
                "https://settings.example/v1/client-settings",
                None,
            ),
            (
                Op::FiscalParameters { terminal: t() },
                Method::Get,
                "https://api.example/app-store/external/v1/fiscal-parameters",
                Some(("terminal-id", "AV00000000001")),
            ),
            (
                Op::AddBasket {
                    branch: b(),
                    basket: "{}".into(),
                },
                Method::Post,
                "https://api.example/app-store/external/v1/basket",
                Some(("branch-id", "BR1")),
            ),
            (
                Op::AddInstantBasket {
                    terminal: t(),
                    basket: "{}".into(),
                },
                Method::Post,
                "https://api.example/app-store/external/v1/instant-basket",
                Some(("terminal-id", "AV00000000001")),
            ),
            (
                Op::GetBasket {
                    id: "a b/c".into(),
                    terminal: None,
                },
                Method::Get,
                "https://api.example/app-store/external/v1/basket/a%20b%2Fc",
                None,
            ),
            (
                Op::UpdateBasket {
                    id: "x".into(),
                    branch: b(),
                    basket: "{}".into(),
                },
                Method::Put,
                "https://api.example/app-store/external/v1/basket/x",
                Some(("branch-id", "BR1")),
            ),
            (
                Op::UnlockBasket {
                    id: "x".into(),
                    branch: b(),
                },
                Method::Post,
                "https://api.example/app-store/external/v1/basket/unlock",
                Some(("branch-id", "BR1")),
            ),
            (
                Op::DeleteBasket { id: "x".into() },
                Method::Delete,
                "https://api.example/app-store/external/v1/basket/x",
                None,
            ),
            (
                Op::OpenBaskets { terminal: t() },
                Method::Get,
                "https://api.example/app-store/external/v1/basket/open-basket",
                Some(("terminal-id", "AV00000000001")),
            ),
            (
                Op::Terminals {
                    context: Context::Merchant("M1".into()),
                },
                Method::Get,
                "https://api.example/app-store/external/v1/terminal",
                Some(("merchant-id", "M1")),
            ),
            (
                Op::TerminalOrganisation { terminal: t() },
                Method::Get,
                "https://api.example/app-store/external/v1/terminal/AV00000000001",
                Some(("terminal-id", "AV00000000001")),
            ),
        ];
        assert_eq!(cases.len(), 13);
        for (op, m, url, h) in cases {
            let r = op.request(&ep());
            assert_eq!((r.method, r.url.as_str()), (m, url), "{}", op.name());
            let want: Vec<(&str, String)> =
                h.map(|(k, v)| (k, v.to_string())).into_iter().collect();
            assert_eq!(r.headers, want, "{}", op.name());
        }
        let r = Op::UnlockBasket {
            id: "x".into(),
            branch: b(),
        }
        .request(&ep());
        assert_eq!(r.body.as_deref(), Some(r#"{"basketID":"x"}"#));
        let r = Op::SetClientSettings {
            callback_url: "https://pos/cb".into(),
            callback_auth: "Bearer s".into(),
        }
        .request(&ep());
        let body: serde_json::Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["callbackUrl"], "https://pos/cb");
        assert_eq!(body["callbackAuthHeader"], "Bearer s");
    }

    #[test]
    fn envelope_success_rule_and_errors() {
        let t = StatusTable::Current;
        let ok = parse_envelope(
            false,
            201,
            br#"{"description":"Instant Basket Record Successfully Created","status":0}"#,
            None,
            t,
        )
        .unwrap();
        assert_eq!((ok.status, ok.result.as_str()), (0, "null"));
        let auth = parse_envelope(true, 200, br#"{"status":201,"description":"User authenticated successfully.","result":{"accessToken":"x","expiresIn":900}}"#, None, t).unwrap();
        assert_eq!(
            parse_token(&auth.result).unwrap().expires_in,
            Duration::from_secs(900)
        );
        // status 201 is success for auth only
        assert!(parse_envelope(false, 200, br#"{"status":201}"#, None, t).is_err());
        // HTTP 200 with an error status is an error
        let e = parse_envelope(false, 200, br#"{"status":1100,"description":"x"}"#, None, t)
            .unwrap_err();
        assert_eq!(e.status(), Some(1100));
        let e = parse_envelope(
            false,
            400,
            br#"{"status":1007,"description":"dup"}"#,
            None,
            t,
        )
        .unwrap_err();
        assert!(e.is_duplicate() && !e.is_auth());
        let e = parse_envelope(
            false,
            401,
            br#"{"status":"0002","description":"expired"}"#,
            None,
            t,
        )
        .unwrap_err();
        assert!(e.is_auth());
        assert_eq!(e.status(), Some(2));
        assert!(e.to_string().contains("JWT expired"), "{e}");
        let e = parse_envelope(
            false,
            429,
            br#"{"status":429,"description":"slow down"}"#,
            Some("3"),
            t,
        )
        .unwrap_err();
        assert!(e.is_throttled());
        assert!(
            matches!(e, ApiError::Api { retry_after: Some(d), .. } if d == Duration::from_secs(3))
        );
        let e = parse_envelope(false, 502, b"<html>bad gateway</html>", None, t).unwrap_err();
        assert!(matches!(e, ApiError::Malformed { http: 502, .. }) && e.is_server());
        let e = parse_envelope(
            false,
            404,
            br#"{"status":404,"description":"No basket record found for given id"}"#,
            None,
            t,
        )
        .unwrap_err();
        assert!(e.is_not_found());
    }

    #[test]
    fn the_two_tables_differ_where_the_source_says() {
        let c = StatusTable::Current;
        let l = StatusTable::Legacy;
        assert_eq!(c.describe(9, 403).unwrap().meaning, "forbidden");
        assert_eq!(l.describe(9, 200).unwrap().meaning, "POS is busy");
        // an HTTP error status means an API error even with the legacy table
        assert_eq!(l.describe(9, 403).unwrap().meaning, "forbidden");
        assert_eq!(l.describe(6, 200).unwrap().meaning, "onboarding error");
        assert_eq!(
            c.describe(6, 400).unwrap().meaning,
            "no context header provided"
        );
        assert_eq!(l.describe(5002, 200).unwrap().severity, Severity::Warning);
        assert_eq!(c.describe(5002, 200), None);
        assert_eq!("legacy".parse::<StatusTable>(), Ok(StatusTable::Legacy));
    }

    #[test]
    fn webhook_variants() {
        let body = br#"{"terminalId":"AV1","clientId":"c","operation":"BASKET_COMPLETED","operationDate":"2025-03-10T08:42:18.640Z","data":{"basketID":"b1","status":0,"receiptNo":7,"UUID":"u","zNo":1}}"#;
        let e = parse_webhook(body).unwrap();
        assert_eq!(e.operation, Operation::BasketCompleted);
        assert_eq!((e.basket_id.as_str(), e.sale_status), ("b1", Some(0)));
        assert_eq!(
            e.data,
            r#"{"basketID":"b1","status":0,"receiptNo":7,"UUID":"u","zNo":1}"#
        );
        assert!(operation_date_ok(e.operation_date.as_deref().unwrap()));
        for d in [
            "2025-03-10T08:42:18Z",
            "2025-03-10T08:42:18",
            "2025-03-10 08:42:18",
        ] {
            assert!(operation_date_ok(d), "{d}");
        }
        let e = parse_webhook(br#"{"data":{"basketId":"b2","lockedBy":"AV2"},"operation":"basket-locked","terminal-id":"AV2"}"#).unwrap();
        assert_eq!(e.operation, Operation::BasketLocked);
        assert_eq!(
            (e.locked_by.as_deref(), e.terminal_id.as_deref()),
            (Some("AV2"), Some("AV2"))
        );
        let e = parse_webhook(
            br#"{"operation":"BASKET_COMPLETED","data":{"basketID":"b3","status":"-1"}}"#,
        )
        .unwrap();
        assert_eq!(e.sale_status, Some(-1));
        for bad in [
            &b"[]"[..],
            b"{",
            b"{\"operation\":\"BASKET_COMPLETED\"}",
            b"{\"operation\":\"BASKET_COMPLETED\",\"data\":{\"status\":0}}",
            b"{\"operation\":\"BASKET_COMPLETED\",\"data\":{\"basketID\":\"x\"}}",
            b"{\"operation\":\"BASKET_COMPLETED\",\"data\":[1]}",
            b"{\"operation\":\"BASKET_COMPLETED\",\"data\":{\"basketID\":\"x\",\"status\":0.5}}",
        ] {
            assert!(
                parse_webhook(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn basket_views_and_ids() {
        assert_eq!(
            parse_basket(r#"{"basketID":"b","status":1,"sale":{"basketID":"b","status":0}}"#),
            Ok(BasketView::Finished {
                sale: r#"{"basketID":"b","status":0}"#.into()
            })
        );
        assert_eq!(
            parse_basket(r#"{"basketID":"b","isLocked":true,"lockedBy":"AV1","sale":null}"#),
            Ok(BasketView::Open {
                locked_by: Some("AV1".into())
            })
        );
        assert_eq!(
            parse_basket(r#"{"deletedAt":"2025-01-01"}"#),
            Ok(BasketView::Deleted)
        );
        assert_eq!(
            basket_id_of(r#"{"items":[],"basketID":"k"}"#).as_deref(),
            Some("k")
        );
        assert_eq!(basket_id_of(r#"{"basketID":""}"#), None);
        assert_eq!(
            with_basket_id(r#" {"items":[]}"#, "n"),
            r#"{"basketID":"n","items":[]}"#
        );
        assert_eq!(with_basket_id("{ }", "n"), r#"{"basketID":"n"}"#);
        // An empty, null or repeated id is replaced, never doubled.
        for b in [
            r#"{"basketID":"","a":1}"#,
            r#"{"basketID":null,"a":1}"#,
            r#"{"a":1,"basketID":"x","basketID":""}"#,
        ] {
            let w = with_basket_id(b, "n");
            assert_eq!(w.matches("basketI").count(), 1, "{w}");
            assert_eq!(basket_id_of(&w).as_deref(), Some("n"), "{w}");
        }
        assert_eq!(
            basket_id_of(r#"{"basketID":"a","basketID":"b"}"#).as_deref(),
            Some("b")
        );
        assert_eq!(
            without_basket_id(r#"{"basketID":"k","a":1}"#).unwrap(),
            r#"{"a":1}"#
        );
    }

    #[test]
    fn fiscal_parameters_map_to_the_wired_shape() {
        let r = r#"{"sections":[{"limit":0,"name":"KDV %20","price":0,"sectionNo":1,"status":1,"taxPercent":2000,"type":0,"plus":[{"name":"ÇAY","price":500,"pluNo":1}]},{"sectionNo":2,"name":"KDV %10","plus":[]}],"receiptLimit":null,"currencies":[{"id":1,"name":"DOLAR","rate":473452}],"terminal":"AV1","createdAt":"x","updatedAt":"y"}"#;
        let v: serde_json::Value =
            serde_json::from_str(&fiscal_info_from_parameters(r).unwrap()).unwrap();
        assert_eq!(v["sectionCount"], 2);
        assert_eq!(v["pluCount"], 1);
        assert_eq!(v["plus"][0]["sectionNo"], 1);
        assert_eq!(v["plus"][0]["name"], "ÇAY");
        assert!(v["sections"][0].get("plus").is_none());
        assert_eq!(v["receiptLimit"], 0);
        assert_eq!(v["currencies"][0]["rate"], 473452);
        assert_eq!(v["terminal"], "AV1");
        assert!(fiscal_info_from_parameters("[]").is_err());
    }
}
