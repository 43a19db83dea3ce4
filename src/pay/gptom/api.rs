//! The GP tom Cloud API as values (sans-IO): the terminal URL, the credentials, the token and
//! task requests as values (method, URL, headers, body), the token and task answers parsed
//! tolerantly, the task-state machine of polling (time passed in), the cancellation rules and
//! the mapping of a finished task into a [`PaymentResult`]. No sockets, no clock, no threads:
//! the reqwest driver (`client.rs`, `backend.rs`) moves these values.
//!
//! GP tom documents the endpoints, the OAuth password grant and the cancellation rules; the
//! field tables of the task request and answer, the task states, the task-detail and list
//! paths and the HTTP codes were not published in a readable form. Every such name lives in
//! [`assumptions`], commented with the section of docs/GPTOM-FACTS.md it stands for ("§n"
//! below: GP tom's public pages, summarised), so a correction is made in one place.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::config::Secret;
use crate::pay::{PayError, PaymentResult, TxKind};

/// Everything about the GP tom Cloud API that GP tom does not document readably and we had to
/// choose: field names, paths, state values, HTTP codes, timings. Each item is used from here
/// only (through the functions of this module).
pub mod assumptions {
    use std::time::Duration;

    // --- §3 Authentication -------------------------------------------------------------

    /// The token endpoint (documented: `POST {cloudHost}/cloud/oauth/token`).
    pub const TOKEN_PATH: &str = "/cloud/oauth/token";
    /// The refresh-token grant's endpoint. GP tom's page shows `{apiHost}/api/oauth/token`
    /// with a host variable it never defines; we default to the token endpoint (§3
    /// [assumption]) and make it configurable (`refresh_url`).
    pub const REFRESH_PATH: &str = "/cloud/oauth/token";
    /// `expires_in` when the token answer has none (the documented example: 3600).
    pub const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(3600);
    /// The token is renewed this long before `expires_in` ends (§ Summary 1: "expires_in
    /// minus a 60 s margin"), at most a quarter of a short lifetime.
    pub const TOKEN_MARGIN: Duration = Duration::from_secs(60);

    // --- §4.1 Create transaction task (`CreateCloudTaskTransactionApiRequest`) ----------

    /// `POST {host}/v1/tasks/TRANSACTION` (documented).
    pub const CREATE_TRANSACTION_PATH: &str = "/v1/tasks/TRANSACTION";
    /// `POST {host}/v1/tasks/BATCH` (documented, §4.2).
    pub const CREATE_BATCH_PATH: &str = "/v1/tasks/BATCH";
    /// The request's field names: the app2app `TransactionRequestV2` names (§4.1 table
    /// [assumption]).
    pub const F_TRANSACTION_TYPE: &str = "transactionType";
    pub const F_AMOUNT: &str = "amount";
    pub const F_CURRENCY: &str = "currencyCode";
    pub const F_REFERENCE: &str = "originReferenceNum";
    pub const F_PRINT: &str = "printByPaymentApp";
    pub const F_ORIGIN_TRANSACTION: &str = "originTransactionID";
    pub const F_CANCEL_MODE: &str = "cancelMode";
    /// A master account names the terminal in the task body (§3 [assumption]).
    pub const F_TID: &str = "tid";
    /// `transactionType` values (§4.1: `SALE` | `VOID` | `REFUND`) and the app2app numeric
    /// codes 1 | 2 | 3 that a task answer may carry instead.
    pub const TYPE_SALE: &str = "SALE";
    pub const TYPE_VOID: &str = "VOID";
    pub const TYPE_REFUND: &str = "REFUND";
    pub const TYPE_CODE_SALE: i64 = 1;
    pub const TYPE_CODE_VOID: i64 = 2;
    pub const TYPE_CODE_REFUND: i64 = 3;
    /// "True if the receipt is to be printed on the device": GP tom prints, the POS gets no
    /// receipt lines (§4.1; app2app default true).
    pub const PRINT_ON_DEVICE: bool = true;
    /// `cancelMode` sent with a VOID (G-DART: 1 = last transaction, 2 = older). Optional in
    /// §4.1; not sent (None) because `originTransactionID` names the sale already.
    pub const VOID_CANCEL_MODE: Option<i64> = None;
    /// The reference rule (§4.1, §5): at most 20 characters, alphanumeric, no diacritics.
    /// "Invoice 37364FD" in GP tom's example has a space, so a space is allowed too.
    pub const REFERENCE_MAX_CHARS: usize = 20;
    pub const REFERENCE_EXTRA_CHARS: &str = " ";

    // --- §4.3 Task detail, list and states (`CloudTaskDetailApiResponse`) ------------------

    /// `GET {host}/v1/tasks/{taskId}` (§4.3 [assumption]).
    pub const TASK_PATH: &str = "/v1/tasks/";
    /// `GET {host}/v1/tasks?tid=TID` (§ Summary 7 [assumption]).
    pub const LIST_PATH: &str = "/v1/tasks";
    pub const LIST_TID_PARAM: &str = "tid";
    /// A master account names the terminal on a task-detail read as `?tid=` (§3: "the
    /// simulator also accepts a query ?tid=").
    pub const DETAIL_TID_PARAM: &str = "tid";
    /// The list answer: a JSON array of task details, or an object holding one under one of
    /// these keys (paged answers of common frameworks).
    pub const LIST_ARRAY_KEYS: &[&str] = &["tasks", "content", "items", "data"];
    /// The task's field names (§4.3 example).
    pub const T_ID: &str = "id";
    pub const T_TYPE: &str = "type";
    pub const T_TID: &str = "tid";
    pub const T_STATE: &str = "state";
    pub const T_CREATED: &str = "created";
    pub const T_UPDATED: &str = "updated";
    pub const T_REQUEST: &str = "request";
    pub const T_ERROR: &str = "error";
    pub const T_TRANSACTION: &str = "transaction";
    /// `type` of a transaction task.
    pub const TASK_TYPE_TRANSACTION: &str = "TRANSACTION";
    /// The `error` object (the app2app state response, §4.3).
    pub const E_CODE: &str = "code";
    pub const E_REPEATABLE: &str = "isRepeatable";
    pub const E_MESSAGE: &str = "message";
    /// The `transaction` object: the app2app `TransactionDetail` names (§4.3).
    pub const X_RESULT: &str = "result";
    pub const X_MESSAGE: &str = "responseMessage";
    pub const X_TYPE: &str = "transactionType";
    pub const X_AMOUNT: &str = "amount";
    pub const X_CURRENCY: &str = "currencyCode";
    pub const X_PAN: &str = "cardNumber";
    pub const X_ENTRY: &str = "cardDataEntry";
    pub const X_APPROVAL: &str = "approvedCode";
    pub const X_BRAND: &str = "emvAppLabel";
    /// `transaction.result` of an approved payment (§4.3: "0 = approved").
    pub const RESULT_APPROVED: i64 = 0;
    /// The cancellation key (§5 [assumption]): the first of these `transaction` fields that is
    /// present is the sale's id for a VOID's `originTransactionID` and the result's
    /// `transactionId`; none present → the task id. `trasanctionID` is the app2app detail
    /// page's spelling (sic), `amsID` the iOS cancel flow's.
    pub const CANCEL_KEY_FIELDS: &[&str] = &[
        "externalTransactionID",
        "transactionID",
        "trasanctionID",
        "amsID",
    ];
    /// Task states (§4.3 table [assumption]), compared case-insensitively, with the spellings
    /// we also accept.
    pub const STATES_CREATED: &[&str] = &["CREATED", "NEW"];
    pub const STATES_QUEUED: &[&str] = &["QUEUED", "PENDING", "WAITING"];
    pub const STATES_IN_PROGRESS: &[&str] = &["IN_PROGRESS", "STARTED", "RUNNING"];
    pub const STATES_COMPLETED: &[&str] = &["COMPLETED", "DONE", "FINISHED"];
    pub const STATES_CANCELLED: &[&str] = &["CANCELLED", "CANCELED"];
    pub const STATES_FAILED: &[&str] = &["FAILED", "ERROR"];
    /// The app2app numeric state codes (§4.3 table: 1 created, 2 started, 3 init error,
    /// 5 in progress, 6 completed, 7 cancelled, 8 error), for a task that carries a number.
    pub const STATE_CODES_CREATED: &[i64] = &[1];
    pub const STATE_CODES_IN_PROGRESS: &[i64] = &[2, 5];
    pub const STATE_CODES_COMPLETED: &[i64] = &[6];
    pub const STATE_CODES_CANCELLED: &[i64] = &[7];
    pub const STATE_CODES_FAILED: &[i64] = &[3, 8];

    // --- §4.3 HTTP codes [assumption] -----------------------------------------------------

    /// 201 created, 200 read: any 2xx is a success.
    pub const HTTP_CREATED: u16 = 201;
    pub const HTTP_OK: u16 = 200;
    /// The access token is missing, expired or revoked: renew it once and retry.
    pub const HTTP_UNAUTHORIZED: u16 = 401;
    /// The task is unknown.
    pub const HTTP_NOT_FOUND: u16 = 404;
    /// Business rules (cross-TID cancellation, older than 93 days): 409 or 422.
    pub const HTTP_BUSINESS: &[u16] = &[409, 422];
    /// Error bodies: where the code and the text are (Spring OAuth `error` /
    /// `error_description`; §6 `{code: "CROSS_TID_CANCEL"}`; RFC 7807 `detail`).
    pub const ERROR_CODE_KEYS: &[&str] = &["code", "error", "errorCode"];
    pub const ERROR_TEXT_KEYS: &[&str] = &[
        "message",
        "error_description",
        "detail",
        "errorMessage",
        "title",
    ];

    // --- § Summary 6, §4.3: polling --------------------------------------------------------

    /// Polling back-off: 1 s, doubling, capped at 5 s (§4.3: "1–2 s, back off to 5 s"); back
    /// to 1 s when the state changes.
    pub const POLL_FIRST: Duration = Duration::from_secs(1);
    pub const POLL_MAX: Duration = Duration::from_secs(5);
    /// A task IN_PROGRESS longer than this: outcome unknown (§ Summary 6, the app2app rule).
    pub const IN_PROGRESS_LIMIT: Duration = Duration::from_secs(300);
    /// A task still CREATED / QUEUED (device offline, nobody tapped it in assisted mode) this
    /// long after it was created: outcome unknown — it may still run later (our choice, the
    /// same 5 minutes).
    pub const QUEUED_LIMIT: Duration = Duration::from_secs(300);
    /// After a lost create answer, list the TID's tasks this many times (spaced by
    /// [`POLL_FIRST`]) before the outcome is unknown (§ Summary 10).
    pub const LOOKUP_ATTEMPTS: u32 = 3;
    /// HTTP timeout of one request.
    pub const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
    /// Largest answer read.
    pub const RESPONSE_MAX_BYTES: usize = 4 * 1024 * 1024;

    // --- §4.1 G-STORNO: cancellation --------------------------------------------------------

    /// A sale can be cancelled at most this long after it was made (documented: 93 days).
    pub const CANCEL_MAX_AGE_DAYS: i64 = 93;
}

// ------------------------------------------------------------------------------------------
// The terminal URL and the configuration.

/// Where the GP tom cloud is and which terminal we drive:
/// `gptom+https://HOST[:PORT][/BASE]?tid=TID[&master=1]` (`gptom+http://` only on loopback,
/// for a simulator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptomTarget {
    /// `https://HOST[:PORT][/BASE]`, no trailing slash.
    pub base: String,
    /// The terminal (TID) the tasks go to.
    pub tid: String,
    /// A master API account: the token is requested without `tid` and every call names the
    /// terminal (§3).
    pub master: bool,
}

fn is_loopback_host(hostport: &str) -> bool {
    let host = if let Some(rest) = hostport.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        hostport.rsplit_once(':').map_or(hostport, |(h, _)| h)
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Check an `http(s)://HOST[:PORT][/PATH]` URL that credentials are sent to: `http://` only
/// to a loopback host. The URL without a trailing slash.
fn check_url(u: &str, what: &str) -> Result<String, String> {
    let u = u.trim().trim_end_matches('/');
    let (https, rest) = if let Some(r) = u.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = u.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!(
            "{what} {u:?}: expected https://HOST… (or http:// on loopback)"
        ));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains(char::is_whitespace) || host.contains('@') {
        return Err(format!(
            "{what} {u:?}: no host (credentials belong in the configuration, not in the URL)"
        ));
    }
    if rest.contains(['?', '#']) {
        return Err(format!("{what} {u:?}: no query or fragment allowed"));
    }
    if !https && !is_loopback_host(host) {
        return Err(format!(
            "{what} {u:?}: plain http:// only to a loopback host (a local simulator); \
             the password must not cross a network unencrypted"
        ));
    }
    Ok(u.to_string())
}

impl FromStr for GptomTarget {
    type Err = String;
    fn from_str(s: &str) -> Result<GptomTarget, String> {
        let t = s.trim();
        let url = t.strip_prefix("gptom+").ok_or_else(|| {
            format!("{t:?}: a GP tom terminal is gptom+https://HOST?tid=TID[&master=1]")
        })?;
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let base = check_url(base, "GP tom URL")?;
        let (mut tid, mut master) = (None, false);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "tid" => {
                    if v.is_empty()
                        || v.len() > 32
                        || !v
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
                    {
                        return Err(format!("{t:?}: tid needs 1-32 letters, digits, '-' or '_'"));
                    }
                    tid = Some(v.to_string());
                }
                "master" => {
                    master = match v.to_ascii_lowercase().as_str() {
                        "1" | "true" | "yes" | "" => true,
                        "0" | "false" | "no" => false,
                        o => return Err(format!("{t:?}: master={o:?} (1 or 0)")),
                    }
                }
                o => return Err(format!("{t:?}: unknown parameter {o:?} (tid, master)")),
            }
        }
        let tid = tid.ok_or_else(|| {
            format!(
                "{t:?}: needs ?tid=TID (the terminal; with &master=1 the account is a master \
                 account and every task names the TID)"
            )
        })?;
        Ok(GptomTarget { base, tid, master })
    }
}

/// Timings of the back end (defaults in [`assumptions`]; tests shorten them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GptomTiming {
    /// First polling interval, and the one after a state change.
    pub poll_first: Duration,
    /// Longest polling interval (the back-off doubles up to it).
    pub poll_max: Duration,
    /// A task CREATED / QUEUED longer than this (from when the back end started following
    /// it, normally its creation): outcome unknown.
    pub queued_limit: Duration,
    /// A task IN_PROGRESS longer than this (from when it was first seen running): outcome
    /// unknown.
    pub in_progress_limit: Duration,
    /// HTTP timeout of one request.
    pub http_timeout: Duration,
    /// List attempts after a lost create answer.
    pub lookup_attempts: u32,
}

impl Default for GptomTiming {
    fn default() -> GptomTiming {
        GptomTiming {
            poll_first: assumptions::POLL_FIRST,
            poll_max: assumptions::POLL_MAX,
            queued_limit: assumptions::QUEUED_LIMIT,
            in_progress_limit: assumptions::IN_PROGRESS_LIMIT,
            http_timeout: assumptions::HTTP_TIMEOUT,
            lookup_attempts: assumptions::LOOKUP_ATTEMPTS,
        }
    }
}

/// The GP tom credentials and endpoints (`TerminalConfig::gptom`): from the environment
/// (`OKC_GPTOM_*`, [`GptomConfig::from_env`]) and the `okc_pay_open` configuration keys
/// ([`GptomConfig::set`]). `Debug` shows only whether each credential is set.
#[derive(Clone, Default)]
pub struct GptomConfig {
    /// The GP tom merchant login.
    pub username: Secret,
    pub password: Secret,
    /// The client `Authorization: Basic` value of the token endpoint. GP tom publishes one
    /// value, the same for every customer; it is not embedded here. Either the Base64 text
    /// (with or without `Basic `) or `client:secret` (encoded for you). None: no Basic header
    /// is sent (GP tom answers 401; the error says what is missing).
    pub basic: Option<Secret>,
    /// The token endpoint (default `{base}/cloud/oauth/token`).
    pub token_url: Option<String>,
    /// The refresh-token endpoint (default `{base}/cloud/oauth/token`, see
    /// [`assumptions::REFRESH_PATH`]).
    pub refresh_url: Option<String>,
    pub timing: GptomTiming,
}

impl fmt::Debug for GptomConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GptomConfig")
            .field("username", &self.username)
            .field("password", &self.password)
            .field("basic", &self.basic)
            .field("token_url", &self.token_url)
            .field("refresh_url", &self.refresh_url)
            .field("timing", &self.timing)
            .finish()
    }
}

/// The configuration keys of [`GptomConfig::set`] and their environment variables.
pub const CONFIG_KEYS: &[(&str, &str)] = &[
    ("username", "OKC_GPTOM_USERNAME"),
    ("password", "OKC_GPTOM_PASSWORD"),
    ("basic", "OKC_GPTOM_BASIC"),
    ("token_url", "OKC_GPTOM_TOKEN_URL"),
    ("refresh_url", "OKC_GPTOM_REFRESH_URL"),
];

/// The `okc_pay_open` key that shortens [`GptomTiming::in_progress_limit`] (milliseconds;
/// default [`assumptions::IN_PROGRESS_LIMIT`]): how long a task may stay IN_PROGRESS before
/// the outcome is unknown. Meant for tests against the simulator; no environment variable.
pub const IN_PROGRESS_LIMIT_KEY: &str = "gptom_in_progress_limit_ms";

impl GptomConfig {
    /// From `OKC_GPTOM_USERNAME`, `OKC_GPTOM_PASSWORD`, `OKC_GPTOM_BASIC`,
    /// `OKC_GPTOM_TOKEN_URL`, `OKC_GPTOM_REFRESH_URL` (empty = unset).
    pub fn from_env() -> Result<GptomConfig, String> {
        GptomConfig::from_vars(|k| std::env::var(k).ok())
    }

    /// [`GptomConfig::from_env`] with an explicit lookup (testable).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<GptomConfig, String> {
        let mut c = GptomConfig::default();
        for (key, env) in CONFIG_KEYS {
            if let Some(v) = var(env).filter(|v| !v.trim().is_empty()) {
                c.set(key, &v).map_err(|e| format!("{env}: {e}"))?;
            }
        }
        Ok(c)
    }

    /// Set one key (`username`, `password`, `basic`, `token_url`, `refresh_url`,
    /// [`IN_PROGRESS_LIMIT_KEY`]). Errors never repeat a credential.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "username" => self.username = Secret::new(value.trim()),
            "password" => self.password = Secret::new(value),
            "basic" => {
                let v = value.trim();
                self.basic = (!v.is_empty()).then(|| Secret::new(v));
            }
            "token_url" => self.token_url = Some(check_url(value, "token_url")?),
            "refresh_url" => self.refresh_url = Some(check_url(value, "refresh_url")?),
            IN_PROGRESS_LIMIT_KEY => {
                let ms: u64 = value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("{value:?} (milliseconds, at least 1)"))?;
                self.timing.in_progress_limit = Duration::from_millis(ms);
            }
            o => return Err(format!("unknown GP tom setting {o:?}")),
        }
        Ok(())
    }

    /// The value after `Authorization: Basic `, or None when not configured.
    pub fn basic_header(&self) -> Option<String> {
        let b = self.basic.as_ref()?.expose().trim();
        let b = match b.get(..6) {
            Some(p) if p.eq_ignore_ascii_case("basic ") => b[6..].trim(),
            _ => b,
        };
        if b.is_empty() {
            return None;
        }
        Some(if b.contains(':') {
            base64::engine::general_purpose::STANDARD.encode(b)
        } else {
            b.to_string()
        })
    }

    /// Check what the back end needs before it starts (no request is sent).
    pub fn check(&self) -> Result<(), String> {
        if self.username.is_empty() || self.password.is_empty() {
            return Err(
                "GP tom needs a username and a password (OKC_GPTOM_USERNAME / OKC_GPTOM_PASSWORD, \
                 or \"username\" / \"password\" in the configuration)"
                    .into(),
            );
        }
        let t = &self.timing;
        if t.poll_first.is_zero() || t.poll_max < t.poll_first || t.http_timeout.is_zero() {
            return Err(
                "GP tom timing: poll_first > 0, poll_max >= poll_first, http_timeout > 0".into(),
            );
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
// Requests as values.

/// HTTP method of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One HTTP request, ready for any client. `Debug` never shows the `Authorization` value nor
/// a sensitive body (the token grants).
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    /// Every header, `authorization` included.
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
    /// The body carries credentials (token grants).
    pub sensitive: bool,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(k, v)| {
                if k.eq_ignore_ascii_case("authorization") {
                    format!("{k}: <redacted>")
                } else {
                    format!("{k}: {v}")
                }
            })
            .collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &headers)
            .field(
                "body",
                &if self.sensitive {
                    Some("<redacted>")
                } else {
                    self.body.as_deref()
                },
            )
            .finish()
    }
}

/// `transactionType` of a transaction task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxType {
    Sale,
    Void,
    Refund,
}

impl TxType {
    pub fn as_str(self) -> &'static str {
        match self {
            TxType::Sale => assumptions::TYPE_SALE,
            TxType::Void => assumptions::TYPE_VOID,
            TxType::Refund => assumptions::TYPE_REFUND,
        }
    }

    /// Our kind of result for this type.
    pub fn kind(self) -> TxKind {
        match self {
            TxType::Sale => TxKind::Payment,
            TxType::Void => TxKind::Reversal,
            TxType::Refund => TxKind::Refund,
        }
    }

    /// From the name (`SALE`) or the app2app code (1).
    fn from_value(v: &Value) -> Option<TxType> {
        if let Some(n) = int_of(v) {
            return match n {
                assumptions::TYPE_CODE_SALE => Some(TxType::Sale),
                assumptions::TYPE_CODE_VOID => Some(TxType::Void),
                assumptions::TYPE_CODE_REFUND => Some(TxType::Refund),
                _ => None,
            };
        }
        let s = v.as_str()?.trim();
        [TxType::Sale, TxType::Void, TxType::Refund]
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

/// A transaction task to create (§4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionTask {
    pub tx_type: TxType,
    /// Minor units (sale, refund).
    pub amount: Option<i64>,
    /// ISO 4217 alphabetic (sale, refund).
    pub currency: Option<String>,
    /// `originReferenceNum` (checked with [`check_reference`]).
    pub reference: String,
    /// The sale to cancel (VOID).
    pub origin_transaction_id: Option<String>,
}

/// The calls of the GP tom Cloud API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `POST {token_url}` `grant_type=password&username&password[&tid]` (Basic).
    PasswordGrant,
    /// `POST {refresh_url}` `grant_type=refresh_token&refresh_token` (Basic).
    RefreshGrant { refresh_token: Secret },
    /// `POST /v1/tasks/TRANSACTION` (Bearer).
    CreateTransaction(TransactionTask),
    /// `POST /v1/tasks/BATCH` (Bearer).
    CreateBatch,
    /// `GET /v1/tasks/{id}` (Bearer).
    GetTask { id: String },
    /// `GET /v1/tasks?tid=TID` (Bearer).
    ListTasks,
}

/// Path-segment escaping of an id (a UUID normally; anything else cannot change the path).
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

/// `application/x-www-form-urlencoded` of `pairs`.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        let mut o = String::with_capacity(s.len());
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                    o.push(b as char)
                }
                b' ' => o.push('+'),
                _ => o.push_str(&format!("%{b:02X}")),
            }
        }
        o
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Op {
    /// The call's name (errors, logs).
    pub fn name(&self) -> &'static str {
        match self {
            Op::PasswordGrant => "token (password grant)",
            Op::RefreshGrant { .. } => "token (refresh grant)",
            Op::CreateTransaction(t) => match t.tx_type {
                TxType::Sale => "create sale task",
                TxType::Void => "create cancellation task",
                TxType::Refund => "create refund task",
            },
            Op::CreateBatch => "create batch task",
            Op::GetTask { .. } => "read task",
            Op::ListTasks => "list tasks",
        }
    }

    /// A token grant (Basic, form body), not a task call (Bearer).
    pub fn is_grant(&self) -> bool {
        matches!(self, Op::PasswordGrant | Op::RefreshGrant { .. })
    }

    /// The request. `bearer` is the access token of a task call (ignored by the grants).
    pub fn request(
        &self,
        target: &GptomTarget,
        cfg: &GptomConfig,
        bearer: Option<&str>,
    ) -> HttpRequest {
        let base = &target.base;
        let mut headers: Vec<(&'static str, String)> =
            vec![("accept", "application/json".to_string())];
        let auth_basic = |h: &mut Vec<(&'static str, String)>| {
            if let Some(b) = cfg.basic_header() {
                h.push(("authorization", format!("Basic {b}")));
            }
            h.push((
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            ));
        };
        match self {
            Op::PasswordGrant => {
                auth_basic(&mut headers);
                let mut pairs = vec![
                    ("grant_type", "password"),
                    ("username", cfg.username.expose()),
                    ("password", cfg.password.expose()),
                ];
                if !target.master {
                    pairs.push(("tid", target.tid.as_str()));
                }
                HttpRequest {
                    method: Method::Post,
                    url: cfg
                        .token_url
                        .clone()
                        .unwrap_or_else(|| format!("{base}{}", assumptions::TOKEN_PATH)),
                    headers,
                    body: Some(form_encode(&pairs)),
                    sensitive: true,
                }
            }
            Op::RefreshGrant { refresh_token } => {
                auth_basic(&mut headers);
                HttpRequest {
                    method: Method::Post,
                    url: cfg
                        .refresh_url
                        .clone()
                        .unwrap_or_else(|| format!("{base}{}", assumptions::REFRESH_PATH)),
                    headers,
                    body: Some(form_encode(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", refresh_token.expose()),
                    ])),
                    sensitive: true,
                }
            }
            _ => {
                if let Some(t) = bearer {
                    headers.push(("authorization", format!("Bearer {t}")));
                }
                let (method, url, body) = match self {
                    Op::CreateTransaction(t) => (
                        Method::Post,
                        format!("{base}{}", assumptions::CREATE_TRANSACTION_PATH),
                        Some(transaction_body(t, target)),
                    ),
                    Op::CreateBatch => {
                        let mut m = Map::new();
                        m.insert(
                            assumptions::F_PRINT.into(),
                            assumptions::PRINT_ON_DEVICE.into(),
                        );
                        if target.master {
                            m.insert(assumptions::F_TID.into(), target.tid.clone().into());
                        }
                        (
                            Method::Post,
                            format!("{base}{}", assumptions::CREATE_BATCH_PATH),
                            Some(Value::Object(m).to_string()),
                        )
                    }
                    Op::GetTask { id } => {
                        let mut url = format!("{base}{}{}", assumptions::TASK_PATH, seg(id));
                        if target.master {
                            url.push_str(&format!(
                                "?{}",
                                form_encode(&[(assumptions::DETAIL_TID_PARAM, &target.tid)])
                            ));
                        }
                        (Method::Get, url, None)
                    }
                    Op::ListTasks => (
                        Method::Get,
                        format!(
                            "{base}{}?{}",
                            assumptions::LIST_PATH,
                            form_encode(&[(assumptions::LIST_TID_PARAM, &target.tid)])
                        ),
                        None,
                    ),
                    Op::PasswordGrant | Op::RefreshGrant { .. } => unreachable!(),
                };
                if body.is_some() {
                    headers.push(("content-type", "application/json".to_string()));
                }
                HttpRequest {
                    method,
                    url,
                    headers,
                    body,
                    sensitive: false,
                }
            }
        }
    }
}

fn transaction_body(t: &TransactionTask, target: &GptomTarget) -> String {
    use assumptions as a;
    let mut m = Map::new();
    m.insert(a::F_TRANSACTION_TYPE.into(), t.tx_type.as_str().into());
    if let Some(v) = t.amount {
        m.insert(a::F_AMOUNT.into(), v.into());
    }
    if let Some(c) = &t.currency {
        m.insert(a::F_CURRENCY.into(), c.clone().into());
    }
    m.insert(a::F_REFERENCE.into(), t.reference.clone().into());
    m.insert(a::F_PRINT.into(), a::PRINT_ON_DEVICE.into());
    if let Some(o) = &t.origin_transaction_id {
        m.insert(a::F_ORIGIN_TRANSACTION.into(), o.clone().into());
        if let Some(mode) = a::VOID_CANCEL_MODE {
            m.insert(a::F_CANCEL_MODE.into(), mode.into());
        }
    }
    if target.master {
        m.insert(a::F_TID.into(), target.tid.clone().into());
    }
    Value::Object(m).to_string()
}

/// The reference rule (§4.1, §5): 1–20 characters, ASCII letters and digits (and a space), no
/// diacritics. Checked before any call.
pub fn check_reference(r: &str) -> Result<(), PayError> {
    let n = r.chars().count();
    if n == 0
        || n > assumptions::REFERENCE_MAX_CHARS
        || !r
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || assumptions::REFERENCE_EXTRA_CHARS.contains(c))
    {
        return Err(PayError::InvalidInput(format!(
            "GP tom references are 1-{} letters and digits without diacritics (got {r:?})",
            assumptions::REFERENCE_MAX_CHARS
        )));
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Answers.

/// A non-success HTTP answer: status, the error code and text of its body (shortened,
/// control characters removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub http: u16,
    pub code: Option<String>,
    pub message: Option<String>,
}

/// Text from an answer: at most 200 characters, no control characters.
fn clean(s: &str) -> String {
    s.chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// A JSON value as text: strings as they are, numbers and booleans written.
fn str_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A JSON value as an integer: a number, or a string of digits.
fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn bool_of(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        _ => None,
    }
}

fn field<'a>(o: &'a Value, k: &str) -> Option<&'a Value> {
    o.get(k).filter(|v| !v.is_null())
}

/// The error an HTTP answer other than 2xx stands for.
pub fn api_error(http: u16, body: &[u8]) -> ApiError {
    let v: Option<Value> = serde_json::from_slice(body).ok();
    let pick = |keys: &[&str]| {
        v.as_ref().and_then(|v| {
            keys.iter()
                .find_map(|k| field(v, k).and_then(str_of))
                .map(|s| clean(&s))
        })
    };
    let message = pick(assumptions::ERROR_TEXT_KEYS).or_else(|| {
        let t = String::from_utf8_lossy(body);
        (v.is_none() && !t.trim().is_empty() && !t.trim_start().starts_with('<')).then(|| clean(&t))
    });
    ApiError {
        http,
        code: pick(assumptions::ERROR_CODE_KEYS),
        message,
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.http)?;
        match (&self.code, &self.message) {
            (Some(c), Some(m)) => write!(f, " {c}: {m}"),
            (Some(c), None) => write!(f, " {c}"),
            (None, Some(m)) => write!(f, ": {m}"),
            (None, None) => Ok(()),
        }
    }
}

impl ApiError {
    pub fn is_server(&self) -> bool {
        self.http >= 500
    }

    /// The error of a task call (`what`: the call's name) that answered this.
    pub fn to_pay_error(&self, what: &str) -> PayError {
        let code = |d: &str| self.code.clone().unwrap_or_else(|| d.to_string());
        let text = format!("GP tom answered {what} with {self}");
        match self.http {
            400 => PayError::Refused {
                condition: code("BadRequest"),
                text,
            },
            401 => PayError::Refused {
                condition: "Unauthorized".into(),
                text: format!("{text} (also with a renewed token)"),
            },
            403 => PayError::Refused {
                condition: code("Forbidden"),
                text: format!("{text} (does the account own this TID?)"),
            },
            404 => PayError::Refused {
                condition: code("NotFound"),
                text,
            },
            h if assumptions::HTTP_BUSINESS.contains(&h) => PayError::Refused {
                condition: code("Rejected"),
                text,
            },
            429 => PayError::Refused {
                condition: "Throttled".into(),
                text,
            },
            h if h >= 500 => PayError::Unreachable(text),
            _ => PayError::Protocol(text),
        }
    }

    /// The error of a token grant that answered this. `basic_set`: whether a client Basic
    /// value is configured (a missing one is the likely cause of a 401).
    pub fn to_login_error(&self, basic_set: bool) -> PayError {
        match self.http {
            400 | 401 | 403 => {
                let mut t = format!(
                    "GP tom refused the login ({self}): check the username, the password, the \
                     TID and the client Basic value"
                );
                if !basic_set {
                    t.push_str(
                        "; no client Basic value is configured (OKC_GPTOM_BASIC or \"basic\"): \
                         GP tom publishes it",
                    );
                }
                PayError::Config(t)
            }
            h if h >= 500 => PayError::Unreachable(format!("GP tom token endpoint: {self}")),
            _ => PayError::Protocol(format!("GP tom token endpoint: {self}")),
        }
    }
}

/// A token grant's answer. `Debug` hides the tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: Duration,
    /// The TID the token is for (None: a master account).
    pub tid: Option<String>,
}

impl fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenGrant")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_in", &self.expires_in)
            .field("tid", &self.tid)
            .finish()
    }
}

impl TokenGrant {
    /// Renew this long after it was received: `expires_in` minus 60 s, or minus a quarter of
    /// a short lifetime.
    pub fn renew_after(&self) -> Duration {
        self.expires_in - assumptions::TOKEN_MARGIN.min(self.expires_in / 4)
    }
}

/// The answer of a token grant (2xx): `{access_token, token_type, refresh_token, expires_in,
/// scope, tid}` (§3).
pub fn parse_token(body: &[u8]) -> Result<TokenGrant, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("token answer is not JSON: {e}"))?;
    let access_token = field(&v, "access_token")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("token answer without access_token")?
        .to_string();
    if let Some(tt) = field(&v, "token_type").and_then(Value::as_str) {
        if !tt.eq_ignore_ascii_case("bearer") {
            return Err(format!("token_type {:?} (expected bearer)", clean(tt)));
        }
    }
    let expires_in = match field(&v, "expires_in") {
        None => assumptions::DEFAULT_EXPIRES_IN,
        Some(e) => Duration::from_secs(
            int_of(e)
                .filter(|n| *n > 0)
                .ok_or("expires_in is not a positive number")? as u64,
        ),
    };
    Ok(TokenGrant {
        access_token,
        refresh_token: field(&v, "refresh_token")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        expires_in,
        tid: field(&v, "tid").and_then(str_of),
    })
}

/// The state of a task (§4.3 [assumption]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    Created,
    Queued,
    InProgress,
    Completed,
    Cancelled,
    Failed,
    /// A state we do not know (treated as not finished).
    Other(String),
}

impl TaskState {
    pub fn from_value(v: Option<&Value>) -> TaskState {
        use assumptions as a;
        let Some(v) = v else {
            return TaskState::Other(String::new());
        };
        if let Some(n) = v.as_i64() {
            return if a::STATE_CODES_CREATED.contains(&n) {
                TaskState::Created
            } else if a::STATE_CODES_IN_PROGRESS.contains(&n) {
                TaskState::InProgress
            } else if a::STATE_CODES_COMPLETED.contains(&n) {
                TaskState::Completed
            } else if a::STATE_CODES_CANCELLED.contains(&n) {
                TaskState::Cancelled
            } else if a::STATE_CODES_FAILED.contains(&n) {
                TaskState::Failed
            } else {
                TaskState::Other(n.to_string())
            };
        }
        let s = str_of(v).unwrap_or_default();
        let is = |list: &[&str]| list.iter().any(|x| x.eq_ignore_ascii_case(&s));
        if is(a::STATES_CREATED) {
            TaskState::Created
        } else if is(a::STATES_QUEUED) {
            TaskState::Queued
        } else if is(a::STATES_IN_PROGRESS) {
            TaskState::InProgress
        } else if is(a::STATES_COMPLETED) {
            TaskState::Completed
        } else if is(a::STATES_CANCELLED) {
            TaskState::Cancelled
        } else if is(a::STATES_FAILED) {
            TaskState::Failed
        } else {
            TaskState::Other(clean(&s))
        }
    }

    /// COMPLETED, CANCELLED or FAILED: the task will not change any more.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            TaskState::Completed | TaskState::Cancelled | TaskState::Failed
        )
    }

    pub fn name(&self) -> String {
        match self {
            TaskState::Created => "CREATED".into(),
            TaskState::Queued => "QUEUED".into(),
            TaskState::InProgress => "IN_PROGRESS".into(),
            TaskState::Completed => "COMPLETED".into(),
            TaskState::Cancelled => "CANCELLED".into(),
            TaskState::Failed => "FAILED".into(),
            TaskState::Other(s) if s.is_empty() => "(no state)".into(),
            TaskState::Other(s) => s.clone(),
        }
    }
}

/// A task's `error` (§4.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskError {
    pub code: Option<String>,
    /// app2app `isRepeatable`: the same request may be sent again.
    pub repeatable: Option<bool>,
    pub message: Option<String>,
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error code {}", self.code.as_deref().unwrap_or("(none)"))?;
        if let Some(m) = &self.message {
            write!(f, " ({m})")?;
        }
        match self.repeatable {
            Some(true) => write!(f, "; repeatable"),
            Some(false) => write!(f, "; not repeatable"),
            None => Ok(()),
        }
    }
}

/// A task's `transaction`: the payment's outcome (§4.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskTransaction {
    /// 0 = approved.
    pub result: Option<i64>,
    pub message: Option<String>,
    pub tx_type: Option<TxType>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub masked_pan: Option<String>,
    pub entry_mode: Option<String>,
    pub approval_code: Option<String>,
    pub brand: Option<String>,
    /// The first of [`assumptions::CANCEL_KEY_FIELDS`] present.
    pub cancel_key: Option<String>,
}

impl TaskTransaction {
    pub fn approved(&self) -> bool {
        self.result == Some(assumptions::RESULT_APPROVED)
    }
}

/// A task (`CloudTaskDetailApiResponse`, §4.3), read tolerantly: numbers or strings, unknown
/// fields ignored; `raw` is the whole JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: String,
    /// `TRANSACTION` or `BATCH`.
    pub kind: Option<String>,
    pub tid: Option<String>,
    pub state: TaskState,
    pub created: Option<String>,
    pub updated: Option<String>,
    /// `request.originReferenceNum` (or the same name at the top level).
    pub reference: Option<String>,
    /// `request.transactionType`.
    pub request_type: Option<TxType>,
    /// `request.amount`.
    pub request_amount: Option<i64>,
    pub error: Option<TaskError>,
    pub transaction: Option<TaskTransaction>,
    pub raw: String,
}

impl Task {
    /// The transaction's type: from the outcome, else from the request.
    pub fn tx_type(&self) -> Option<TxType> {
        self.transaction
            .as_ref()
            .and_then(|t| t.tx_type)
            .or(self.request_type)
    }

    /// The cancellation key of a sale: the transaction's id, else the task id (§5).
    pub fn cancel_key(&self) -> String {
        self.transaction
            .as_ref()
            .and_then(|t| t.cancel_key.clone())
            .unwrap_or_else(|| self.id.clone())
    }

    fn is_transaction(&self) -> bool {
        self.kind.as_deref().map_or(true, |k| {
            k.eq_ignore_ascii_case(assumptions::TASK_TYPE_TRANSACTION)
        })
    }

    /// When the task finished (`updated`, else `created`), if readable.
    pub fn time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.updated
            .as_deref()
            .and_then(parse_time)
            .or_else(|| self.created.as_deref().and_then(parse_time))
    }
}

/// An RFC 3339 time stamp (a missing zone is UTC).
pub fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

/// One task from its JSON value.
pub fn task_from_value(v: &Value) -> Result<Task, String> {
    use assumptions as a;
    if !v.is_object() {
        return Err("a task is a JSON object".into());
    }
    let id = field(v, a::T_ID)
        .and_then(str_of)
        .ok_or_else(|| format!("task without {:?}", a::T_ID))?;
    let request = field(v, a::T_REQUEST);
    let reference = request
        .and_then(|r| field(r, a::F_REFERENCE))
        .or_else(|| field(v, a::F_REFERENCE))
        .and_then(Value::as_str)
        .map(str::to_string);
    let error = field(v, a::T_ERROR)
        .filter(|e| e.is_object())
        .map(|e| TaskError {
            code: field(e, a::E_CODE).and_then(str_of).map(|s| clean(&s)),
            repeatable: field(e, a::E_REPEATABLE).and_then(bool_of),
            message: field(e, a::E_MESSAGE).and_then(str_of).map(|s| clean(&s)),
        });
    let transaction = field(v, a::T_TRANSACTION)
        .filter(|t| t.is_object())
        .map(|t| {
            let s = |k: &str| field(t, k).and_then(str_of);
            TaskTransaction {
                result: field(t, a::X_RESULT).and_then(int_of),
                message: s(a::X_MESSAGE).map(|m| clean(&m)),
                tx_type: field(t, a::X_TYPE).and_then(TxType::from_value),
                amount: field(t, a::X_AMOUNT).and_then(int_of),
                currency: s(a::X_CURRENCY),
                masked_pan: s(a::X_PAN),
                entry_mode: s(a::X_ENTRY),
                approval_code: s(a::X_APPROVAL),
                brand: s(a::X_BRAND),
                cancel_key: a::CANCEL_KEY_FIELDS.iter().find_map(|k| s(k)),
            }
        });
    Ok(Task {
        id,
        kind: field(v, a::T_TYPE).and_then(str_of),
        tid: field(v, a::T_TID).and_then(str_of),
        state: TaskState::from_value(field(v, a::T_STATE)),
        created: field(v, a::T_CREATED).and_then(str_of),
        updated: field(v, a::T_UPDATED).and_then(str_of),
        reference,
        request_type: request
            .and_then(|r| field(r, a::F_TRANSACTION_TYPE))
            .and_then(TxType::from_value),
        request_amount: request.and_then(|r| field(r, a::F_AMOUNT)).and_then(int_of),
        error,
        transaction,
        raw: v.to_string(),
    })
}

/// A task answer (create, detail).
pub fn parse_task(body: &[u8]) -> Result<Task, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("task answer is not JSON: {e}"))?;
    task_from_value(&v)
}

/// A list answer: an array of tasks, or an object holding one ([`assumptions::LIST_ARRAY_KEYS`]).
/// Entries that are not tasks are skipped.
pub fn parse_task_list(body: &[u8]) -> Result<Vec<Task>, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("task list is not JSON: {e}"))?;
    let items = match &v {
        Value::Array(a) => a,
        Value::Object(_) => assumptions::LIST_ARRAY_KEYS
            .iter()
            .find_map(|k| field(&v, k).and_then(Value::as_array))
            .ok_or("task list: no array of tasks in the answer")?,
        _ => return Err("task list: expected an array".into()),
    };
    Ok(items
        .iter()
        .filter_map(|t| task_from_value(t).ok())
        .collect())
}

/// The newest of `tasks` that `keep` accepts: by `created` (then by position: later wins).
fn newest(tasks: &[Task], keep: impl Fn(&Task) -> bool) -> Option<&Task> {
    tasks
        .iter()
        .enumerate()
        .filter(|(_, t)| keep(t))
        .max_by_key(|(i, t)| (t.created.as_deref().and_then(parse_time), *i))
        .map(|(_, t)| t)
}

/// What a lost create is looked for by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    pub reference: String,
    pub tx_type: TxType,
    pub amount: Option<i64>,
}

/// The task a lost create made, among the TID's tasks: same reference, and — when the task
/// echoes them — the same type and amount; tasks in `skip` (already known to be others) are
/// not taken. The newest match.
pub fn find_task<'a>(tasks: &'a [Task], expect: &Expect, skip: &[String]) -> Option<&'a Task> {
    newest(tasks, |t| {
        t.is_transaction()
            && t.reference.as_deref() == Some(expect.reference.as_str())
            && t.request_type.map_or(true, |x| x == expect.tx_type)
            && match (t.request_amount, expect.amount) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
            && !skip.contains(&t.id)
    })
}

/// The newest transaction task with this reference (status by reference).
pub fn find_by_reference<'a>(tasks: &'a [Task], reference: &str) -> Option<&'a Task> {
    newest(tasks, |t| {
        t.is_transaction() && t.reference.as_deref() == Some(reference)
    })
}

/// The newest transaction task (status without a reference).
pub fn newest_transaction(tasks: &[Task]) -> Option<&Task> {
    newest(tasks, Task::is_transaction)
}

/// The newest approved transaction (the candidate of a cancellation).
pub fn last_approved(tasks: &[Task]) -> Option<&Task> {
    newest(tasks, |t| {
        t.is_transaction()
            && t.state == TaskState::Completed
            && t.transaction
                .as_ref()
                .is_some_and(TaskTransaction::approved)
    })
}

/// A sale that may be cancelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleRecord {
    pub task_id: String,
    /// `originTransactionID` of the VOID.
    pub cancel_key: String,
    pub tid: Option<String>,
    pub when: Option<chrono::DateTime<chrono::Utc>>,
    pub amount: i64,
    pub currency: String,
}

/// The last approved transaction as a sale to cancel; a refund or a cancellation is not one.
pub fn sale_record(last: &Task) -> Result<SaleRecord, PayError> {
    let tx = last.transaction.as_ref();
    let approved = last.state == TaskState::Completed && tx.is_some_and(TaskTransaction::approved);
    if !approved {
        return Err(PayError::Refused {
            condition: "NotFound".into(),
            text: format!("task {} is not an approved transaction", last.id),
        });
    }
    match last.tx_type() {
        Some(TxType::Sale) | None => {}
        Some(other) => {
            return Err(PayError::Refused {
                condition: "NotFound".into(),
                text: format!(
                    "the last approved transaction is a {} (task {}); GP tom cancels sales only",
                    other.as_str(),
                    last.id
                ),
            })
        }
    }
    Ok(SaleRecord {
        task_id: last.id.clone(),
        cancel_key: last.cancel_key(),
        tid: last.tid.clone(),
        when: last.time(),
        amount: tx
            .and_then(|t| t.amount)
            .or(last.request_amount)
            .unwrap_or(0),
        currency: tx
            .and_then(|t| t.currency.clone())
            .filter(|c| is_alpha_currency(c))
            .unwrap_or_default(),
    })
}

/// The cancellation rules (§4.1, G-STORNO), checked before the VOID is sent: the same TID as
/// the sale, at most 93 days after it. A sale whose time is unknown is left to GP tom.
pub fn check_cancellable(
    sale: &SaleRecord,
    tid: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), PayError> {
    if let Some(t) = &sale.tid {
        if t != tid {
            return Err(PayError::Refused {
                condition: "OtherTerminal".into(),
                text: format!(
                    "the sale was made on TID {t}; GP tom cancels a sale only on the terminal \
                     that made it (this is TID {tid})"
                ),
            });
        }
    }
    if let Some(w) = sale.when {
        if now - w > chrono::Duration::days(assumptions::CANCEL_MAX_AGE_DAYS) {
            return Err(PayError::Refused {
                condition: "TooOld".into(),
                text: format!(
                    "the sale of {} is older than {} days; GP tom cancels sales within {} days \
                     only (refund it instead)",
                    w.format("%Y-%m-%d"),
                    assumptions::CANCEL_MAX_AGE_DAYS,
                    assumptions::CANCEL_MAX_AGE_DAYS
                ),
            });
        }
    }
    Ok(())
}

fn is_alpha_currency(c: &str) -> bool {
    c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase())
}

/// A finished transaction task as our result. The task state is not the payment's outcome:
/// COMPLETED carries the payment's result (`transaction.result` 0 = approved, else declined);
/// CANCELLED (on the device) and FAILED (the app's error, its code in the reason) are results
/// that are not approved — nothing was charged, a new attempt needs a new reference. A task
/// that is not finished, or COMPLETED without a transaction, is an unknown outcome.
///
/// `requested`: the amount and currency asked for (used when the answer does not repeat
/// them).
pub fn payment_result(
    task: &Task,
    kind: TxKind,
    reference: &str,
    requested: Option<(i64, &str)>,
) -> Result<PaymentResult, PayError> {
    let tx = task.transaction.as_ref();
    let currency = tx
        .and_then(|t| t.currency.clone())
        .filter(|c| is_alpha_currency(c))
        .or_else(|| requested.map(|(_, c)| c.to_string()))
        .unwrap_or_default();
    let mut out = PaymentResult {
        approved: false,
        kind: kind.as_str().into(),
        currency,
        reference: task
            .reference
            .clone()
            .unwrap_or_else(|| reference.to_string()),
        timestamp: task.updated.clone().or_else(|| task.created.clone()),
        raw: task.raw.clone(),
        ..Default::default()
    };
    if let Some(t) = tx {
        out.masked_pan = t.masked_pan.clone();
        out.brand = t.brand.clone();
        out.entry_mode = t.entry_mode.clone();
        out.approval_code = t.approval_code.clone();
    }
    match (&task.state, tx) {
        (TaskState::Completed, Some(t)) => {
            out.transaction_id = Some(task.cancel_key());
            if t.approved() {
                out.approved = true;
                out.amount = t
                    .amount
                    .or(requested.map(|(a, _)| a))
                    .or(task.request_amount)
                    .unwrap_or(0);
            } else {
                let code = t
                    .result
                    .map_or_else(|| "none".to_string(), |r| r.to_string());
                out.reason = Some(match &t.message {
                    Some(m) => format!("declined (result {code}): {m}"),
                    None => format!("declined (result {code})"),
                });
            }
            Ok(out)
        }
        (TaskState::Completed, None) => Err(PayError::OutcomeUnknown(format!(
            "GP tom task {} is COMPLETED without a transaction; ask the status later, never \
             pay again blindly",
            task.id
        ))),
        (TaskState::Cancelled, _) => {
            out.reason = Some(match &task.error {
                Some(e) => format!("cancelled on the device (task CANCELLED, {e})"),
                None => "cancelled on the device (task CANCELLED)".into(),
            });
            Ok(out)
        }
        (TaskState::Failed, _) => {
            out.reason = Some(match &task.error {
                Some(e) => format!("the payment app failed (task FAILED, {e})"),
                None => "the payment app failed (task FAILED, no error code)".into(),
            });
            Ok(out)
        }
        (s, _) => Err(PayError::OutcomeUnknown(format!(
            "GP tom task {} is still {}; ask the status later, never pay again blindly",
            task.id,
            s.name()
        ))),
    }
}

// ------------------------------------------------------------------------------------------
// Polling.

/// `300 s`, `0.6 s`.
fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// What to do after reading a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollStep {
    /// The task is finished.
    Done,
    /// Read it again after this wait.
    Wait(Duration),
    /// Stop: the outcome is unknown (the text says why).
    GiveUp(String),
}

/// The polling rules of one task (time passed in): back-off 1 s → 5 s (back to 1 s on a
/// state change); IN_PROGRESS longer than the limit, or CREATED / QUEUED longer than the
/// queued limit since the task was created → give up (outcome unknown).
#[derive(Debug, Clone)]
pub struct Poll {
    timing: GptomTiming,
    started: Instant,
    running_since: Option<Instant>,
    interval: Duration,
    last: Option<TaskState>,
}

impl Poll {
    /// `started`: when the task was created (or first known).
    pub fn new(timing: GptomTiming, started: Instant) -> Poll {
        Poll {
            timing,
            started,
            running_since: None,
            interval: timing.poll_first,
            last: None,
        }
    }

    /// The task's state as last read (a failed read passes the previous one) at `now`.
    pub fn step(&mut self, state: &TaskState, now: Instant) -> PollStep {
        if state.is_terminal() {
            return PollStep::Done;
        }
        if self.last.as_ref() != Some(state) {
            if self.last.is_some() {
                self.interval = self.timing.poll_first;
            }
            self.last = Some(state.clone());
        }
        if *state == TaskState::InProgress && self.running_since.is_none() {
            self.running_since = Some(now);
        }
        if let Some(since) = self.running_since {
            if now.duration_since(since) >= self.timing.in_progress_limit {
                return PollStep::GiveUp(format!(
                    "the task has been IN_PROGRESS for more than {}",
                    secs(self.timing.in_progress_limit)
                ));
            }
        } else if now.duration_since(self.started) >= self.timing.queued_limit {
            return PollStep::GiveUp(format!(
                "the task is still {} after {} (is the device offline, or waiting for a tap \
                 in assisted mode?); it may still run",
                state.name(),
                secs(self.timing.queued_limit)
            ));
        }
        let d = self.interval;
        self.interval = (d * 2).min(self.timing.poll_max);
        PollStep::Wait(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target(master: bool) -> GptomTarget {
        GptomTarget {
            base: "https://cloud-api-dev.gptom.com".into(),
            tid: "999888".into(),
            master,
        }
    }

    fn cfg() -> GptomConfig {
        let mut c = GptomConfig::default();
        c.set("username", "merchant@example.com").unwrap();
        c.set("password", "pa ss&w=rd").unwrap();
        c.set("basic", "Y2xpZW50OnNlY3JldA==").unwrap();
        c
    }

    fn task_json(state: &str, tx: Option<Value>) -> Value {
        let mut v = json!({
            "id": "6f1c0e7e-0000-4000-8000-000000000001",
            "type": "TRANSACTION",
            "tid": "999888",
            "state": state,
            "created": "2026-01-10T08:12:00Z",
            "updated": "2026-01-10T08:12:40Z",
            "request": {"transactionType": "SALE", "amount": 5025, "currencyCode": "CZK",
                        "originReferenceNum": "Invoice 37364FD", "printByPaymentApp": true}
        });
        if let Some(t) = tx {
            v["transaction"] = t;
        }
        v
    }

    fn approved_tx() -> Value {
        json!({"result": 0, "responseMessage": "APPROVED", "transactionType": 1,
               "currencyCode": "CZK", "amount": 5025, "cardNumber": "************1234",
               "cardDataEntry": "CONTACTLESS", "approvedCode": "123456", "emvAppLabel": "VISA",
               "externalTransactionID": "EXT-77", "receiptNumber": "0042"})
    }

    fn task(state: &str, tx: Option<Value>) -> Task {
        task_from_value(&task_json(state, tx)).unwrap()
    }

    // --- URL and configuration -----------------------------------------------------------

    #[test]
    fn target_urls() {
        let t: GptomTarget = "gptom+https://cloud-api.gptom.com/?tid=12345678"
            .parse()
            .unwrap();
        assert_eq!(t.base, "https://cloud-api.gptom.com");
        assert_eq!(t.tid, "12345678");
        assert!(!t.master);
        let m: GptomTarget = "gptom+https://h.example/base?tid=T1&master=1"
            .parse()
            .unwrap();
        assert_eq!(
            (m.base.as_str(), m.tid.as_str(), m.master),
            ("https://h.example/base", "T1", true)
        );
        let l: GptomTarget = "gptom+http://127.0.0.1:18080?tid=999888".parse().unwrap();
        assert_eq!(l.base, "http://127.0.0.1:18080");
        assert!("gptom+http://localhost:1?tid=1"
            .parse::<GptomTarget>()
            .is_ok());
        assert!("gptom+http://[::1]:1?tid=1".parse::<GptomTarget>().is_ok());
        for bad in [
            "gptom+https://h",                    // no tid
            "gptom+https://h?tid=",               // empty tid
            "gptom+https://h?tid=a b",            // bad tid
            "gptom+https://h?tid=1&foo=2",        // unknown parameter
            "gptom+https://h?tid=1&master=maybe", // bad master
            "gptom+http://192.168.1.5:80?tid=1",  // plain http off loopback
            "gptom+https://user:pw@h?tid=1",      // credentials in the URL
            "gptom+ftp://h?tid=1",
            "nexo+http://h:1",
            "gptom+https://?tid=1",
        ] {
            assert!(bad.parse::<GptomTarget>().is_err(), "{bad}");
        }
        let e = "gptom+https://user:s3cret@h?tid=1"
            .parse::<GptomTarget>()
            .unwrap_err();
        assert!(e.contains("credentials belong in the configuration"), "{e}");
    }

    #[test]
    fn config_from_vars_and_redacted_debug() {
        let env = |k: &str| match k {
            "OKC_GPTOM_USERNAME" => Some("shop-login".to_string()),
            "OKC_GPTOM_PASSWORD" => Some("hunter2-secret".to_string()),
            "OKC_GPTOM_BASIC" => Some("Basic Zm9vOmJhcg==".to_string()),
            "OKC_GPTOM_REFRESH_URL" => Some("https://api.example/api/oauth/token/".to_string()),
            "OKC_GPTOM_TOKEN_URL" => Some("   ".to_string()),
            _ => None,
        };
        let c = GptomConfig::from_vars(env).unwrap();
        assert_eq!(c.username.expose(), "shop-login");
        assert_eq!(c.password.expose(), "hunter2-secret");
        assert_eq!(c.basic_header().as_deref(), Some("Zm9vOmJhcg=="));
        assert_eq!(
            c.refresh_url.as_deref(),
            Some("https://api.example/api/oauth/token")
        );
        assert_eq!(c.token_url, None);
        assert!(c.check().is_ok());
        let shown = format!("{c:?}");
        for secret in ["shop-login", "hunter2-secret", "Zm9vOmJhcg=="] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("<redacted>"));
        // A bad URL names the variable, never a credential.
        let e = GptomConfig::from_vars(|k| {
            (k == "OKC_GPTOM_TOKEN_URL").then(|| "http://10.0.0.1/t".to_string())
        })
        .unwrap_err();
        assert!(e.starts_with("OKC_GPTOM_TOKEN_URL:"), "{e}");
        // Missing credentials: a configuration error naming both sources.
        let e = GptomConfig::default().check().unwrap_err();
        assert!(
            e.contains("OKC_GPTOM_USERNAME") && e.contains("\"password\""),
            "{e}"
        );
        assert!(GptomConfig::default().set("colour", "x").is_err());
    }

    #[test]
    fn basic_header_forms() {
        let mut c = GptomConfig::default();
        assert_eq!(c.basic_header(), None);
        c.set("basic", "  ").unwrap();
        assert_eq!(c.basic_header(), None);
        c.set("basic", "abc123==").unwrap();
        assert_eq!(c.basic_header().as_deref(), Some("abc123=="));
        c.set("basic", "BASIC abc123==").unwrap();
        assert_eq!(c.basic_header().as_deref(), Some("abc123=="));
        // client:secret is encoded.
        c.set("basic", "client:secret").unwrap();
        assert_eq!(c.basic_header().as_deref(), Some("Y2xpZW50OnNlY3JldA=="));
    }

    // --- Requests ------------------------------------------------------------------------

    #[test]
    fn password_grant_request() {
        let r = Op::PasswordGrant.request(&target(false), &cfg(), None);
        assert_eq!(r.method, Method::Post);
        assert_eq!(r.url, "https://cloud-api-dev.gptom.com/cloud/oauth/token");
        assert_eq!(
            r.header("authorization"),
            Some("Basic Y2xpZW50OnNlY3JldA==")
        );
        assert_eq!(
            r.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            r.body.as_deref(),
            Some(
                "grant_type=password&username=merchant%40example.com&password=pa+ss%26w%3Drd&tid=999888"
            )
        );
        assert!(r.sensitive);
        let shown = format!("{r:?}");
        assert!(
            !shown.contains("pa+ss") && !shown.contains("Y2xpZW50"),
            "{shown}"
        );
        // Master account: no tid in the grant.
        let m = Op::PasswordGrant.request(&target(true), &cfg(), None);
        assert!(!m.body.unwrap().contains("tid="));
        // No Basic configured: no Authorization header at all.
        let mut c = cfg();
        c.basic = None;
        let n = Op::PasswordGrant.request(&target(false), &c, None);
        assert_eq!(n.header("authorization"), None);
        // A configured token URL.
        c.set("token_url", "https://auth.example/oauth/token")
            .unwrap();
        let u = Op::PasswordGrant.request(&target(false), &c, None);
        assert_eq!(u.url, "https://auth.example/oauth/token");
    }

    #[test]
    fn refresh_grant_request() {
        let op = Op::RefreshGrant {
            refresh_token: Secret::new("rt/1+2"),
        };
        let r = op.request(&target(false), &cfg(), None);
        assert_eq!(r.url, "https://cloud-api-dev.gptom.com/cloud/oauth/token");
        assert_eq!(
            r.body.as_deref(),
            Some("grant_type=refresh_token&refresh_token=rt%2F1%2B2")
        );
        assert_eq!(
            r.header("authorization"),
            Some("Basic Y2xpZW50OnNlY3JldA==")
        );
        assert!(!format!("{op:?}").contains("rt/1"));
        let mut c = cfg();
        c.set("refresh_url", "https://api.example/api/oauth/token")
            .unwrap();
        assert_eq!(
            op.request(&target(false), &c, None).url,
            "https://api.example/api/oauth/token"
        );
    }

    #[test]
    fn sale_refund_and_void_bodies() {
        let sale = Op::CreateTransaction(TransactionTask {
            tx_type: TxType::Sale,
            amount: Some(5025),
            currency: Some("CZK".into()),
            reference: "Invoice 37364FD".into(),
            origin_transaction_id: None,
        });
        let r = sale.request(&target(false), &cfg(), Some("tok-1"));
        assert_eq!(r.method, Method::Post);
        assert_eq!(
            r.url,
            "https://cloud-api-dev.gptom.com/v1/tasks/TRANSACTION"
        );
        assert_eq!(r.header("authorization"), Some("Bearer tok-1"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(!r.sensitive);
        let b: Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
        assert_eq!(
            b,
            json!({"transactionType": "SALE", "amount": 5025, "currencyCode": "CZK",
                   "originReferenceNum": "Invoice 37364FD", "printByPaymentApp": true})
        );
        assert!(!format!("{r:?}").contains("tok-1"));
        // Master account: the task names the TID.
        let m = sale.request(&target(true), &cfg(), Some("t"));
        let b: Value = serde_json::from_str(m.body.as_deref().unwrap()).unwrap();
        assert_eq!(b["tid"], "999888");
        let void = Op::CreateTransaction(TransactionTask {
            tx_type: TxType::Void,
            amount: None,
            currency: None,
            reference: "V1700000000000".into(),
            origin_transaction_id: Some("EXT-77".into()),
        });
        let b: Value = serde_json::from_str(
            void.request(&target(false), &cfg(), Some("t"))
                .body
                .as_deref()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            b,
            json!({"transactionType": "VOID", "originTransactionID": "EXT-77",
                   "originReferenceNum": "V1700000000000", "printByPaymentApp": true})
        );
        let refund = Op::CreateTransaction(TransactionTask {
            tx_type: TxType::Refund,
            amount: Some(100),
            currency: Some("EUR".into()),
            reference: "R1".into(),
            origin_transaction_id: None,
        });
        let b: Value = serde_json::from_str(
            refund
                .request(&target(false), &cfg(), Some("t"))
                .body
                .as_deref()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(b["transactionType"], "REFUND");
        assert_eq!(b["amount"], 100);
    }

    #[test]
    fn batch_get_and_list_requests() {
        let b = Op::CreateBatch.request(&target(false), &cfg(), Some("t"));
        assert_eq!(b.url, "https://cloud-api-dev.gptom.com/v1/tasks/BATCH");
        assert_eq!(b.body.as_deref(), Some(r#"{"printByPaymentApp":true}"#));
        let bm = Op::CreateBatch.request(&target(true), &cfg(), Some("t"));
        assert_eq!(
            serde_json::from_str::<Value>(bm.body.as_deref().unwrap()).unwrap(),
            json!({"printByPaymentApp": true, "tid": "999888"})
        );
        let g = Op::GetTask {
            id: "ab/../c d".into(),
        }
        .request(&target(false), &cfg(), Some("t"));
        assert_eq!(g.method, Method::Get);
        assert_eq!(
            g.url,
            "https://cloud-api-dev.gptom.com/v1/tasks/ab%2F..%2Fc%20d"
        );
        assert_eq!(g.body, None);
        assert_eq!(g.header("content-type"), None);
        let gm = Op::GetTask { id: "x1".into() }.request(&target(true), &cfg(), Some("t"));
        assert_eq!(
            gm.url,
            "https://cloud-api-dev.gptom.com/v1/tasks/x1?tid=999888"
        );
        let l = Op::ListTasks.request(&target(false), &cfg(), Some("t"));
        assert_eq!(l.url, "https://cloud-api-dev.gptom.com/v1/tasks?tid=999888");
        assert_eq!(l.header("authorization"), Some("Bearer t"));
    }

    #[test]
    fn references() {
        for ok in [
            "Invoice 37364FD",
            "A",
            "12345678901234567890",
            "okc1700000000000",
        ] {
            assert!(check_reference(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "123456789012345678901",
            "Faktura č. 5",
            "order-17",
            "a_b",
            "x.y",
            "tab\there",
            "Zürich",
        ] {
            assert!(
                matches!(check_reference(bad), Err(PayError::InvalidInput(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn form_encoding() {
        assert_eq!(
            form_encode(&[("a", "b c"), ("x", "é/&=")]),
            "a=b+c&x=%C3%A9%2F%26%3D"
        );
        assert_eq!(form_encode(&[]), "");
    }

    // --- Answers -------------------------------------------------------------------------

    #[test]
    fn token_answers() {
        let g = parse_token(
            br#"{"access_token":"AT","token_type":"bearer","refresh_token":"RT",
                 "expires_in":3600,"scope":"read write","tid":"999888"}"#,
        )
        .unwrap();
        assert_eq!(g.access_token, "AT");
        assert_eq!(g.refresh_token.as_deref(), Some("RT"));
        assert_eq!(g.expires_in, Duration::from_secs(3600));
        assert_eq!(g.tid.as_deref(), Some("999888"));
        assert_eq!(g.renew_after(), Duration::from_secs(3540));
        let shown = format!("{g:?}");
        assert!(!shown.contains("AT\"") && !shown.contains("RT"), "{shown}");
        // Master account: tid null; expires_in as a string; short lifetimes keep 3/4.
        let m = parse_token(
            br#"{"access_token":"A","token_type":"Bearer","expires_in":"8","tid":null}"#,
        )
        .unwrap();
        assert_eq!((m.tid.clone(), m.refresh_token.clone()), (None, None));
        assert_eq!(m.renew_after(), Duration::from_secs(6));
        // Without expires_in: the default.
        let d = parse_token(br#"{"access_token":"A"}"#).unwrap();
        assert_eq!(d.expires_in, assumptions::DEFAULT_EXPIRES_IN);
        for bad in [
            &br#"{"token_type":"bearer"}"#[..],
            br#"{"access_token":""}"#,
            br#"{"access_token":"A","token_type":"mac"}"#,
            br#"{"access_token":"A","expires_in":-5}"#,
            br#"{"access_token":"A","expires_in":"soon"}"#,
            b"<html>",
        ] {
            assert!(
                parse_token(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_completed_approved_task() {
        let t = task("COMPLETED", Some(approved_tx()));
        assert_eq!(t.id, "6f1c0e7e-0000-4000-8000-000000000001");
        assert_eq!(t.state, TaskState::Completed);
        assert_eq!(t.reference.as_deref(), Some("Invoice 37364FD"));
        assert_eq!(t.request_type, Some(TxType::Sale));
        assert_eq!(t.request_amount, Some(5025));
        assert_eq!(t.tid.as_deref(), Some("999888"));
        let x = t.transaction.as_ref().unwrap();
        assert_eq!(x.tx_type, Some(TxType::Sale));
        assert_eq!(x.cancel_key.as_deref(), Some("EXT-77"));
        let r = payment_result(&t, TxKind::Payment, "ignored", Some((9999, "EUR"))).unwrap();
        assert!(r.approved);
        assert_eq!(r.kind, "payment");
        assert_eq!(r.reason, None);
        assert_eq!((r.amount, r.currency.as_str()), (5025, "CZK"));
        assert_eq!(r.masked_pan.as_deref(), Some("************1234"));
        assert_eq!(r.brand.as_deref(), Some("VISA"));
        assert_eq!(r.entry_mode.as_deref(), Some("CONTACTLESS"));
        assert_eq!(r.approval_code.as_deref(), Some("123456"));
        assert_eq!(r.transaction_id.as_deref(), Some("EXT-77"));
        assert_eq!(r.timestamp.as_deref(), Some("2026-01-10T08:12:40Z"));
        assert_eq!(r.reference, "Invoice 37364FD");
        assert!(r.merchant_receipt.is_empty() && r.customer_receipt.is_empty());
        assert!(!r.signature_required);
        let raw: Value = serde_json::from_str(&r.raw).unwrap();
        assert_eq!(raw["transaction"]["receiptNumber"], "0042");
    }

    #[test]
    fn the_misspelt_transaction_id_and_string_numbers() {
        let t = task(
            "completed",
            Some(
                json!({"result": "0", "amount": "1200", "trasanctionID": "TX-9",
                        "currencyCode": "203", "transactionType": "SALE"}),
            ),
        );
        let x = t.transaction.as_ref().unwrap();
        assert_eq!(x.cancel_key.as_deref(), Some("TX-9"));
        assert!(x.approved());
        let r = payment_result(&t, TxKind::Payment, "r", Some((1200, "CZK"))).unwrap();
        assert!(r.approved);
        assert_eq!(r.amount, 1200);
        // A numeric currency code: the requested alphabetic one.
        assert_eq!(r.currency, "CZK");
        assert_eq!(r.transaction_id.as_deref(), Some("TX-9"));
        // The correct spelling wins over the misspelt one; none → the task id.
        let both = task(
            "COMPLETED",
            Some(json!({"result": 0, "transactionID": "A", "trasanctionID": "B"})),
        );
        assert_eq!(both.cancel_key(), "A");
        let none = task("COMPLETED", Some(json!({"result": 0})));
        assert_eq!(none.cancel_key(), none.id);
    }

    #[test]
    fn a_completed_task_with_a_declined_payment() {
        let t = task(
            "COMPLETED",
            Some(
                json!({"result": 5, "responseMessage": "DO NOT HONOUR", "amount": 5025,
                        "cardNumber": "****4321"}),
            ),
        );
        let r = payment_result(&t, TxKind::Payment, "r", Some((5025, "CZK"))).unwrap();
        assert!(!r.approved);
        assert_eq!(r.amount, 0);
        assert_eq!(
            r.reason.as_deref(),
            Some("declined (result 5): DO NOT HONOUR")
        );
        assert_eq!(r.masked_pan.as_deref(), Some("****4321"));
        // A result that is missing is not an approval.
        let n = task("COMPLETED", Some(json!({"responseMessage": "?"})));
        let r = payment_result(&n, TxKind::Payment, "r", None).unwrap();
        assert!(!r.approved);
        assert_eq!(r.reason.as_deref(), Some("declined (result none): ?"));
    }

    #[test]
    fn cancelled_failed_and_unfinished_tasks() {
        let c = task("CANCELLED", None);
        let r = payment_result(&c, TxKind::Payment, "r", Some((5025, "CZK"))).unwrap();
        assert!(!r.approved);
        assert_eq!(
            r.reason.as_deref(),
            Some("cancelled on the device (task CANCELLED)")
        );
        assert_eq!(r.currency, "CZK");
        let mut v = task_json("FAILED", None);
        v["error"] = json!({"code": 43, "internalErrorCode": 0, "isRepeatable": false,
                            "platform": "TOM_APP"});
        let f = task_from_value(&v).unwrap();
        assert_eq!(
            f.error,
            Some(TaskError {
                code: Some("43".into()),
                repeatable: Some(false),
                message: None
            })
        );
        let r = payment_result(&f, TxKind::Refund, "r", None).unwrap();
        assert!(!r.approved);
        assert_eq!(r.kind, "refund");
        assert_eq!(
            r.reason.as_deref(),
            Some("the payment app failed (task FAILED, error code 43; not repeatable)")
        );
        for s in ["CREATED", "QUEUED", "IN_PROGRESS", "SOMETHING_NEW"] {
            let p = task(s, None);
            match payment_result(&p, TxKind::Payment, "r", None) {
                Err(PayError::OutcomeUnknown(e)) => {
                    assert!(e.contains("ask the status later"), "{e}")
                }
                o => panic!("{s}: {o:?}"),
            }
        }
        let empty = task("COMPLETED", None);
        assert!(matches!(
            payment_result(&empty, TxKind::Payment, "r", None),
            Err(PayError::OutcomeUnknown(_))
        ));
    }

    #[test]
    fn task_states() {
        let s = |v: Value| TaskState::from_value(Some(&v));
        assert_eq!(s(json!("CREATED")), TaskState::Created);
        assert_eq!(s(json!("queued")), TaskState::Queued);
        assert_eq!(s(json!("IN_PROGRESS")), TaskState::InProgress);
        assert_eq!(s(json!("COMPLETED")), TaskState::Completed);
        assert_eq!(s(json!("CANCELED")), TaskState::Cancelled);
        assert_eq!(s(json!("FAILED")), TaskState::Failed);
        assert_eq!(s(json!(1)), TaskState::Created);
        assert_eq!(s(json!(5)), TaskState::InProgress);
        assert_eq!(s(json!(6)), TaskState::Completed);
        assert_eq!(s(json!(7)), TaskState::Cancelled);
        assert_eq!(s(json!(8)), TaskState::Failed);
        assert_eq!(s(json!(3)), TaskState::Failed);
        assert_eq!(s(json!(4)), TaskState::Other("4".into()));
        assert_eq!(s(json!("PAUSED")), TaskState::Other("PAUSED".into()));
        assert_eq!(TaskState::from_value(None), TaskState::Other(String::new()));
        assert!(TaskState::Completed.is_terminal());
        assert!(TaskState::Cancelled.is_terminal());
        assert!(TaskState::Failed.is_terminal());
        for p in [
            TaskState::Created,
            TaskState::Queued,
            TaskState::InProgress,
            TaskState::Other("X".into()),
        ] {
            assert!(!p.is_terminal(), "{p:?}");
        }
    }

    #[test]
    fn unreadable_tasks() {
        assert!(parse_task(b"not json").is_err());
        assert!(parse_task(b"[]").is_err());
        assert!(parse_task(br#"{"state":"COMPLETED"}"#).is_err());
        // A numeric id is read as text.
        assert_eq!(parse_task(br#"{"id":17}"#).unwrap().id, "17");
    }

    #[test]
    fn task_lists() {
        let a = task_json("COMPLETED", Some(approved_tx()));
        let mut b = task_json("IN_PROGRESS", None);
        b["id"] = json!("b");
        let body = serde_json::to_vec(&json!([a, b, {"no": "id"}])).unwrap();
        let l = parse_task_list(&body).unwrap();
        assert_eq!(l.len(), 2);
        let paged = serde_json::to_vec(&json!({"content": [b], "totalElements": 1})).unwrap();
        assert_eq!(parse_task_list(&paged).unwrap()[0].id, "b");
        assert!(parse_task_list(br#"{"total":0}"#).is_err());
        assert!(parse_task_list(b"3").is_err());
        assert_eq!(parse_task_list(b"[]").unwrap(), vec![]);
    }

    fn listed(id: &str, reference: &str, created: &str, kind: &str, amount: i64) -> Task {
        task_from_value(&json!({
            "id": id, "type": "TRANSACTION", "state": "COMPLETED", "created": created,
            "request": {"transactionType": kind, "amount": amount, "originReferenceNum": reference},
            "transaction": {"result": 0, "transactionType": kind, "externalTransactionID": format!("X-{id}")}
        }))
        .unwrap()
    }

    #[test]
    fn finding_a_lost_task() {
        let tasks = vec![
            listed("old", "R1", "2026-01-09T10:00:00Z", "SALE", 500),
            listed("new", "R1", "2026-01-10T10:00:00Z", "SALE", 500),
            listed("other-amount", "R1", "2026-01-11T10:00:00Z", "SALE", 700),
            listed("refund", "R1", "2026-01-12T10:00:00Z", "REFUND", 500),
            listed("r2", "R2", "2026-01-13T10:00:00Z", "SALE", 500),
        ];
        let e = Expect {
            reference: "R1".into(),
            tx_type: TxType::Sale,
            amount: Some(500),
        };
        assert_eq!(find_task(&tasks, &e, &[]).unwrap().id, "new");
        assert_eq!(find_task(&tasks, &e, &["new".into()]).unwrap().id, "old");
        let none = Expect {
            reference: "R9".into(),
            ..e.clone()
        };
        assert!(find_task(&tasks, &none, &[]).is_none());
        assert_eq!(find_by_reference(&tasks, "R1").unwrap().id, "refund");
        assert_eq!(newest_transaction(&tasks).unwrap().id, "r2");
        // Without time stamps the later entry wins.
        let plain = vec![
            task_from_value(&json!({"id": "1", "request": {"originReferenceNum": "Q"}})).unwrap(),
            task_from_value(&json!({"id": "2", "request": {"originReferenceNum": "Q"}})).unwrap(),
        ];
        assert_eq!(find_by_reference(&plain, "Q").unwrap().id, "2");
        // A batch task is never a payment.
        let batch = vec![task_from_value(
            &json!({"id": "b", "type": "BATCH", "request": {"originReferenceNum": "Q"}}),
        )
        .unwrap()];
        assert!(find_by_reference(&batch, "Q").is_none());
    }

    #[test]
    fn the_sale_to_cancel_and_its_rules() {
        let now = parse_time("2026-02-01T00:00:00Z").unwrap();
        let sale = task("COMPLETED", Some(approved_tx()));
        let rec = sale_record(&sale).unwrap();
        assert_eq!(rec.cancel_key, "EXT-77");
        assert_eq!((rec.amount, rec.currency.as_str()), (5025, "CZK"));
        assert_eq!(rec.tid.as_deref(), Some("999888"));
        assert_eq!(rec.when, parse_time("2026-01-10T08:12:40Z"));
        assert!(check_cancellable(&rec, "999888", now).is_ok());
        match check_cancellable(&rec, "111222", now) {
            Err(PayError::Refused { condition, text }) => {
                assert_eq!(condition, "OtherTerminal");
                assert!(text.contains("999888") && text.contains("111222"), "{text}");
            }
            o => panic!("{o:?}"),
        }
        // 93 days is allowed, 94 is not.
        let day93 = rec.when.unwrap() + chrono::Duration::days(93);
        assert!(check_cancellable(&rec, "999888", day93).is_ok());
        let day94 = rec.when.unwrap() + chrono::Duration::days(94);
        match check_cancellable(&rec, "999888", day94) {
            Err(PayError::Refused { condition, text }) => {
                assert_eq!(condition, "TooOld");
                assert!(text.contains("93 days"), "{text}");
            }
            o => panic!("{o:?}"),
        }
        // Unknown time and TID: left to GP tom.
        let bare = SaleRecord {
            tid: None,
            when: None,
            ..rec
        };
        assert!(check_cancellable(&bare, "x", now).is_ok());
        // Declined, refunds and cancellations are not sales to cancel.
        let declined = task("COMPLETED", Some(json!({"result": 1})));
        assert!(matches!(
            sale_record(&declined),
            Err(PayError::Refused { .. })
        ));
        let refund = listed("rf", "R", "2026-01-10T10:00:00Z", "REFUND", 5);
        match sale_record(&refund) {
            Err(PayError::Refused { text, .. }) => assert!(text.contains("REFUND"), "{text}"),
            o => panic!("{o:?}"),
        }
        let tasks = vec![
            listed("s", "A", "2026-01-10T10:00:00Z", "SALE", 5),
            task_from_value(
                &json!({"id": "d", "type": "TRANSACTION", "state": "COMPLETED",
                "created": "2026-01-11T10:00:00Z", "transaction": {"result": 9}}),
            )
            .unwrap(),
        ];
        assert_eq!(last_approved(&tasks).unwrap().id, "s");
    }

    #[test]
    fn error_answers() {
        let e = api_error(
            422,
            br#"{"code":"CROSS_TID_CANCEL","message":"cancel on another TID"}"#,
        );
        assert_eq!(e.code.as_deref(), Some("CROSS_TID_CANCEL"));
        assert_eq!(e.message.as_deref(), Some("cancel on another TID"));
        assert_eq!(
            e.to_string(),
            "HTTP 422 CROSS_TID_CANCEL: cancel on another TID"
        );
        match e.to_pay_error("create cancellation task") {
            PayError::Refused { condition, text } => {
                assert_eq!(condition, "CROSS_TID_CANCEL");
                assert!(text.contains("create cancellation task"), "{text}");
            }
            o => panic!("{o:?}"),
        }
        let o = api_error(
            401,
            br#"{"error":"invalid_grant","error_description":"Bad credentials"}"#,
        );
        assert_eq!(o.code.as_deref(), Some("invalid_grant"));
        match o.to_login_error(false) {
            PayError::Config(t) => {
                assert!(
                    t.contains("Bad credentials") && t.contains("OKC_GPTOM_BASIC"),
                    "{t}"
                )
            }
            x => panic!("{x:?}"),
        }
        match o.to_login_error(true) {
            PayError::Config(t) => assert!(!t.contains("OKC_GPTOM_BASIC"), "{t}"),
            x => panic!("{x:?}"),
        }
        assert!(matches!(
            api_error(503, b"").to_login_error(true),
            PayError::Unreachable(_)
        ));
        let plain = api_error(500, b"upstream\ndown");
        assert_eq!(plain.message.as_deref(), Some("upstream down"));
        assert!(plain.is_server());
        assert!(matches!(plain.to_pay_error("x"), PayError::Unreachable(_)));
        let html = api_error(502, b"<html><body>Bad gateway</body></html>");
        assert_eq!(html.message, None);
        let long = api_error(400, "x".repeat(1000).as_bytes());
        assert_eq!(long.message.unwrap().len(), 200);
        for (http, cond) in [
            (400, "BadRequest"),
            (403, "Forbidden"),
            (404, "NotFound"),
            (409, "Rejected"),
            (429, "Throttled"),
            (401, "Unauthorized"),
        ] {
            match api_error(http, b"{}").to_pay_error("t") {
                PayError::Refused { condition, .. } => assert_eq!(condition, cond, "{http}"),
                o => panic!("{http}: {o:?}"),
            }
        }
        assert!(matches!(
            api_error(302, b"").to_pay_error("t"),
            PayError::Protocol(_)
        ));
    }

    // --- Polling -------------------------------------------------------------------------

    fn timing() -> GptomTiming {
        GptomTiming {
            poll_first: Duration::from_secs(1),
            poll_max: Duration::from_secs(5),
            queued_limit: Duration::from_secs(60),
            in_progress_limit: Duration::from_secs(300),
            ..GptomTiming::default()
        }
    }

    #[test]
    fn polling_backs_off_and_resets_on_a_change() {
        let t0 = Instant::now();
        let mut p = Poll::new(timing(), t0);
        let s = |n| Duration::from_secs(n);
        let q = TaskState::Queued;
        assert_eq!(p.step(&q, t0), PollStep::Wait(s(1)));
        assert_eq!(p.step(&q, t0 + s(1)), PollStep::Wait(s(2)));
        assert_eq!(p.step(&q, t0 + s(3)), PollStep::Wait(s(4)));
        assert_eq!(p.step(&q, t0 + s(7)), PollStep::Wait(s(5)));
        assert_eq!(p.step(&q, t0 + s(12)), PollStep::Wait(s(5)));
        let r = TaskState::InProgress;
        assert_eq!(p.step(&r, t0 + s(17)), PollStep::Wait(s(1)));
        assert_eq!(p.step(&r, t0 + s(18)), PollStep::Wait(s(2)));
        assert_eq!(p.step(&TaskState::Completed, t0 + s(20)), PollStep::Done);
    }

    #[test]
    fn polling_gives_up() {
        let t0 = Instant::now();
        let s = |n| Duration::from_secs(n);
        // Queued past the queued limit.
        let mut p = Poll::new(timing(), t0);
        assert!(matches!(
            p.step(&TaskState::Created, t0 + s(59)),
            PollStep::Wait(_)
        ));
        match p.step(&TaskState::Created, t0 + s(60)) {
            PollStep::GiveUp(m) => {
                assert!(m.contains("still CREATED") && m.contains("offline"), "{m}")
            }
            o => panic!("{o:?}"),
        }
        // In progress: the queued limit no longer applies, the 5-minute one does, counted
        // from when it was first seen running.
        let mut p = Poll::new(timing(), t0);
        assert!(matches!(
            p.step(&TaskState::InProgress, t0 + s(50)),
            PollStep::Wait(_)
        ));
        assert!(matches!(
            p.step(&TaskState::InProgress, t0 + s(349)),
            PollStep::Wait(_)
        ));
        match p.step(&TaskState::InProgress, t0 + s(350)) {
            PollStep::GiveUp(m) => assert!(m.contains("IN_PROGRESS for more than 300 s"), "{m}"),
            o => panic!("{o:?}"),
        }
        // A finished task is done even after the limits.
        assert_eq!(p.step(&TaskState::Failed, t0 + s(9999)), PollStep::Done);
    }

    #[test]
    fn timing_defaults_are_the_assumptions() {
        let t = GptomTiming::default();
        assert_eq!(t.poll_first, Duration::from_secs(1));
        assert_eq!(t.poll_max, Duration::from_secs(5));
        assert_eq!(t.in_progress_limit, Duration::from_secs(300));
        assert_eq!(t.queued_limit, Duration::from_secs(300));
        assert_eq!(t.lookup_attempts, 3);
        let mut c = cfg();
        c.timing.poll_max = Duration::from_millis(1);
        assert!(c.check().is_err());
    }
}
