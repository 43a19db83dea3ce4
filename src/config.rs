//! The one configuration of a connection object, parsed in one place.
//!
//! Sources, each overriding the one before: **defaults** (the vendor's values) ← **JSON**
//! (`okc_create`'s config, the `Hub::new` caller) ← **environment** (`OKC_*`, so support
//! staff can redirect an installed POS without touching it). Every setting has one JSON key
//! and one environment name ([`SETTINGS`]); both go through the same parser (`FromStr` of the
//! setting's type), so the accepted spellings are the same from both sources. The table is
//! printed in `docs/C-API.md` § Configuration (a unit test keeps the two in step).
//!
//! Empty environment values count as unset, except `OKC_LOG_DIR`, where an empty value (like
//! `none`) means "no log file", as `"log_dir": ""` / `null` does in JSON.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub use okclink_wire::text::TextEncoding;

use crate::transport::Connector;

/// Configuration of one connection object. `Config::new(company)` gives the vendor's defaults.
#[derive(Debug, Clone)]
pub struct Config {
    pub company_name: String,
    pub transports: Vec<TransportSpec>,
    /// getFiscalInfo wait (WIRE §7.1: 5000 ms).
    pub fiscal_timeout: Duration,
    /// 300TR ACK wait (WIRE §7.4: 2 s).
    pub ack_timeout: Duration,
    /// Upper bound of disconnect/delete (vendor: unbounded; ours: 2 s).
    pub disconnect_timeout: Duration,
    /// A link whose handshake (Hello → certificate → key share → "OK") does not complete in
    /// this time is closed and discovery retries with back-off (vendor: waits forever).
    /// Also applies to a re-handshake the device asked for (type 8). Default 5 s.
    pub handshake_timeout: Duration,
    /// Log folder; `None` disables file logging. Default `./logs` (vendor location).
    pub log_dir: Option<PathBuf>,
    pub log_level: LogLevel,
    pub text_encoding: TextEncoding,
    /// Largest basket/payment JSON accepted from callers (default 1 MiB).
    pub max_payload: usize,
    /// Largest message (one decoded TLV) accepted from a device (default 1 MiB). Apart from
    /// `max_payload`: a small caller limit must not refuse a device's fiscal info or
    /// certificate. A message over it is refused; a waiting `fiscal_info` gets
    /// `HubError::ReceiveTooLarge` at once.
    pub max_receive: usize,
    /// Encoding of device text the Linux vendor layer (`libIntegrationHub.so`) hands to its
    /// callers (callbacks, `getFiscalInfo`). Default UTF-8 (our fix); `Cp1254` gives the
    /// vendor's raw Windows-1254 bytes. The `okc_*` API, the Windows exports and the .NET
    /// assembly are not affected.
    pub vendor_text: VendorText,
    /// The TokenX Connect cloud back end's settings (used with a `tokenx+…` transport).
    pub tokenx: TokenxSettings,
    /// The journal file (docs/JOURNAL.md): every basket with a `basketID` and every sale info
    /// recorded before it leaves / before the device's "OK", so nothing is lost or printed
    /// twice across a crash. Key `journal`, `OKC_JOURNAL`: a path, or `off`.
    pub journal: JournalSetting,
    /// When a delivered sale info counts as confirmed (key `confirm`, `OKC_CONFIRM`).
    pub confirm: ConfirmMode,
    /// Finished journal entries older than this are deleted when the journal is opened
    /// (key `journal_retention_days`, `OKC_JOURNAL_RETENTION_DAYS`; default 100 days:
    /// GP tom cancels up to 93 days after a sale and needs the original's id).
    pub journal_retention: Duration,
}

/// Where the journal is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum JournalSetting {
    /// `LOG_DIR/okclink-journal-COMPANY.sqlite` beside the logs; none when file logging is
    /// off (`log_dir` null / `none`: "write no files").
    #[default]
    BesideLogs,
    /// No journal (`"journal": "off"`): exactly once within the process only, as before.
    Off,
    /// This file.
    Path(PathBuf),
}

impl Config {
    /// The journal file this configuration asks for (None: no journal).
    pub fn journal_path(&self) -> Option<PathBuf> {
        match &self.journal {
            JournalSetting::Off => None,
            JournalSetting::Path(p) => Some(p.clone()),
            JournalSetting::BesideLogs => self
                .log_dir
                .as_ref()
                .map(|d| journal_default_path(d, &self.company_name)),
        }
    }
}

#[cfg(feature = "journal")]
fn journal_default_path(dir: &std::path::Path, company: &str) -> PathBuf {
    crate::journal::Journal::default_path(dir, company)
}

#[cfg(not(feature = "journal"))]
fn journal_default_path(_dir: &std::path::Path, _company: &str) -> PathBuf {
    PathBuf::new()
}

/// When a sale info delivered to the serialIn callback counts as confirmed by the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConfirmMode {
    /// When the callback returns (without a panic): the vendor callbacks have no way to say
    /// more. Default.
    #[default]
    Callback,
    /// Only when the application calls `Hub::confirm` / `okc_confirm(basketID)`; until then
    /// the sale info is delivered again after a restart (at least once).
    Explicit,
}

impl FromStr for ConfirmMode {
    type Err = String;
    fn from_str(s: &str) -> Result<ConfirmMode, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "callback" | "auto" => Ok(ConfirmMode::Callback),
            "explicit" => Ok(ConfirmMode::Explicit),
            o => Err(format!("{o:?}: expected \"callback\" or \"explicit\"")),
        }
    }
}

/// A setting that must never reach a log or an error message: its `Debug` shows only
/// whether it is set.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "<unset>"
        } else {
            "<redacted>"
        })
    }
}

/// Settings of the TokenX Connect cloud back end (`OKC_TOKENX_*`; docs/C-API.md).
#[derive(Debug, Clone, Default)]
pub struct TokenxSettings {
    /// The integrator's client id (HTTP Basic user of the auth call).
    pub client_id: String,
    pub client_secret: Secret,
    /// `HOST:PORT` the webhook receiver binds (none: no receiver, results by polling).
    pub webhook_listen: Option<String>,
    /// The public URL registered with Token through client settings at start; the receiver
    /// serves its path. None: nothing is registered.
    pub callback_url: Option<String>,
    /// The `Authorization` value Token sends with each webhook (and the receiver checks).
    /// None with a callback URL: a random one is made and registered.
    pub callback_auth: Option<Secret>,
    /// Wait this long for a webhook before polling (None: 120 s with a webhook, 2 s without).
    pub poll_after: Option<Duration>,
    /// Base URL of the auth call (None: the transport's base).
    pub auth_url: Option<String>,
    /// Base URL of the client-settings calls (None: the transport's base).
    pub settings_url: Option<String>,
    /// Which status-code table gives errors their meaning.
    pub status_table: crate::fiscal::tokenx::api::StatusTable,
}

/// Where a `tokenx+http(s)://…` transport points: the API base and the terminal (instant
/// baskets) or the branch (list mode).
#[derive(Clone, PartialEq, Eq)]
pub struct TokenxTarget {
    /// `http(s)://HOST[:PORT][/BASE]`, no trailing slash.
    pub base: String,
    pub terminal_id: Option<String>,
    pub branch_id: Option<String>,
}

impl std::fmt::Debug for TokenxTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tokenx+{}", self.base)?;
        match (&self.terminal_id, &self.branch_id) {
            (Some(t), _) => write!(f, "?terminal-id={t}"),
            (None, Some(b)) => write!(f, "?branch-id={b}"),
            _ => Ok(()),
        }
    }
}

impl FromStr for TokenxTarget {
    type Err = String;
    /// `tokenx+https://HOST/BASE?terminal-id=AV…` or `…?branch-id=…` (`tokenx+http://` for a
    /// local simulator).
    fn from_str(s: &str) -> Result<TokenxTarget, String> {
        let t = s.trim();
        let url = t
            .strip_prefix("tokenx+")
            .ok_or_else(|| format!("{t:?}: a TokenX transport starts with tokenx+https://"))?;
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let rest = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"))
            .ok_or_else(|| format!("{t:?}: expected tokenx+https://HOST/BASE or tokenx+http://"))?;
        let host = rest.split('/').next().unwrap_or("");
        if host.is_empty() || host.contains(char::is_whitespace) || host.contains('@') {
            return Err(format!("{t:?}: no host (credentials belong in OKC_TOKENX_CLIENT_ID/_SECRET, not in the URL)"));
        }
        let (mut terminal_id, mut branch_id) = (None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = v.trim();
            if v.is_empty()
                || !v
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return Err(format!(
                    "{t:?}: {k} needs a value of letters, digits, '-', '_' or '.'"
                ));
            }
            match k {
                "terminal-id" | "terminalId" | "terminal_id" => terminal_id = Some(v.to_string()),
                "branch-id" | "branchId" | "branch_id" => branch_id = Some(v.to_string()),
                o => {
                    return Err(format!(
                        "{t:?}: unknown parameter {o:?} (terminal-id or branch-id)"
                    ))
                }
            }
        }
        if terminal_id.is_none() && branch_id.is_none() {
            return Err(format!(
                "{t:?}: needs ?terminal-id=… (instant baskets) or ?branch-id=… (list mode)"
            ));
        }
        Ok(TokenxTarget {
            base: base.trim_end_matches('/').to_string(),
            terminal_id,
            branch_id,
        })
    }
}

/// Encoding of device text handed out by the Linux vendor layer ([`Config::vendor_text`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VendorText {
    /// UTF-8 (default): what every other surface of the library hands out.
    #[default]
    Utf8,
    /// Windows-1254 bytes, as the vendor's library passed the device's text on.
    Cp1254,
}

impl FromStr for VendorText {
    type Err = String;
    /// The spellings of `text_encoding`: `utf8`/`utf-8`, `cp1254`/`windows-1254`.
    fn from_str(s: &str) -> Result<VendorText, String> {
        match s.parse::<TextEncoding>() {
            Ok(TextEncoding::Utf8) => Ok(VendorText::Utf8),
            Ok(TextEncoding::Cp1254) => Ok(VendorText::Cp1254),
            Err(_) => Err(format!(
                "unknown vendor text encoding {:?} (utf8 or cp1254)",
                s.trim()
            )),
        }
    }
}

/// Smallest `max_receive_bytes`: below it a device's certificate could not be received.
pub const MIN_RECEIVE_BYTES: usize = 16 * 1024;
/// Largest `max_receive_bytes` (each device message is inflated up to it in memory).
pub const MAX_RECEIVE_BYTES: usize = 64 << 20;

/// Log severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

/// Where to look for devices.
#[derive(Clone)]
pub enum TransportSpec {
    /// X30TR over USB Android Open Accessory.
    Usb,
    /// 300TR over FTDI serial (found by its USB ids).
    Serial,
    /// 300TR on this serial port (`serial:/dev/ttyUSB0`, `serial:COM3`, or the pseudo-terminal
    /// of `okc sim --pty`).
    SerialPort(std::path::PathBuf),
    /// A simulator (or a USB-over-TCP bridge) at `host:port`; carries exactly the USB bytes.
    Tcp(String),
    /// Any connector (in-memory simulator, tests).
    Custom(Arc<dyn Connector>),
    /// The TokenX Connect cloud (`tokenx+https://HOST/BASE?terminal-id=…`); alone in the list.
    Tokenx(TokenxTarget),
}

/// A configuration value that could not be used: which setting, from where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// One setting: its JSON key and its environment variable (values and defaults: the table
/// in docs/C-API.md; the parser: `Config::set`).
pub struct Setting {
    pub key: &'static str,
    pub env: &'static str,
}

/// Every setting, in the order of the table in `docs/C-API.md`.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "company_name",
        env: "OKC_COMPANY_NAME",
    },
    Setting {
        key: "transports",
        env: "OKC_TRANSPORT",
    },
    Setting {
        key: "fiscal_timeout_ms",
        env: "OKC_FISCAL_TIMEOUT_MS",
    },
    Setting {
        key: "ack_timeout_ms",
        env: "OKC_ACK_TIMEOUT_MS",
    },
    Setting {
        key: "disconnect_timeout_ms",
        env: "OKC_DISCONNECT_TIMEOUT_MS",
    },
    Setting {
        key: "handshake_timeout_ms",
        env: "OKC_HANDSHAKE_TIMEOUT_MS",
    },
    Setting {
        key: "log_dir",
        env: "OKC_LOG_DIR",
    },
    Setting {
        key: "log_level",
        env: "OKC_LOG_LEVEL",
    },
    Setting {
        key: "text_encoding",
        env: "OKC_ENCODING",
    },
    Setting {
        key: "max_payload_bytes",
        env: "OKC_MAX_PAYLOAD_BYTES",
    },
    Setting {
        key: "max_receive_bytes",
        env: "OKC_MAX_RECEIVE_BYTES",
    },
    Setting {
        key: "vendor_text",
        env: "OKC_VENDOR_TEXT",
    },
    Setting {
        key: "tokenx_client_id",
        env: "OKC_TOKENX_CLIENT_ID",
    },
    Setting {
        key: "tokenx_client_secret",
        env: "OKC_TOKENX_CLIENT_SECRET",
    },
    Setting {
        key: "tokenx_webhook_listen",
        env: "OKC_TOKENX_WEBHOOK_LISTEN",
    },
    Setting {
        key: "tokenx_callback_url",
        env: "OKC_TOKENX_CALLBACK_URL",
    },
    Setting {
        key: "tokenx_callback_auth",
        env: "OKC_TOKENX_CALLBACK_AUTH",
    },
    Setting {
        key: "tokenx_poll_after_ms",
        env: "OKC_TOKENX_POLL_AFTER_MS",
    },
    Setting {
        key: "tokenx_auth_url",
        env: "OKC_TOKENX_AUTH_URL",
    },
    Setting {
        key: "tokenx_settings_url",
        env: "OKC_TOKENX_SETTINGS_URL",
    },
    Setting {
        key: "tokenx_status_table",
        env: "OKC_TOKENX_STATUS_TABLE",
    },
    Setting {
        key: "journal",
        env: "OKC_JOURNAL",
    },
    Setting {
        key: "confirm",
        env: "OKC_CONFIRM",
    },
    Setting {
        key: "journal_retention_days",
        env: "OKC_JOURNAL_RETENTION_DAYS",
    },
];

impl Config {
    /// Vendor defaults: USB then serial, 5 s fiscal, 2 s ACK, 2 s disconnect bound, 5 s
    /// handshake, `./logs`, info level, cp1254, 1 MiB. Reads no environment.
    pub fn new(company_name: &str) -> Config {
        Config {
            company_name: company_name.to_string(),
            transports: vec![TransportSpec::Usb, TransportSpec::Serial],
            fiscal_timeout: Duration::from_millis(5000),
            ack_timeout: Duration::from_millis(2000),
            disconnect_timeout: Duration::from_millis(2000),
            handshake_timeout: Duration::from_secs(5),
            log_dir: Some(PathBuf::from("./logs")),
            log_level: LogLevel::Info,
            text_encoding: TextEncoding::Cp1254,
            max_payload: 1 << 20,
            max_receive: okclink_wire::pipeline::DEFAULT_MAX_PLAINTEXT,
            vendor_text: VendorText::Utf8,
            tokenx: TokenxSettings::default(),
            journal: JournalSetting::BesideLogs,
            confirm: ConfirmMode::Callback,
            journal_retention: Duration::from_secs(100 * 86_400),
        }
    }

    /// Defaults ← `json` (None or blank = none) ← the process environment.
    pub fn load(json: Option<&str>) -> Result<Config, ConfigError> {
        Config::load_with(json, env_var)
    }

    /// [`Config::new`] with `company_name`, then the process environment (the vendor
    /// entry points, which have no JSON).
    pub fn from_env(company_name: &str) -> Result<Config, ConfigError> {
        Config::from_vars(company_name, env_var)
    }

    /// [`Config::from_env`] with an explicit variable lookup (testable).
    pub fn from_vars(
        company_name: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut c = Config::new(company_name);
        c.apply_env(var)?;
        Ok(c)
    }

    /// Defaults ← `json` ← `var` (an environment lookup).
    ///
    /// ```
    /// use std::time::Duration;
    /// use okclink::config::{Config, LogLevel};
    ///
    /// let env = |k: &str| (k == "OKC_LOG_LEVEL").then(|| "debug".to_string());
    /// let c = Config::load_with(Some(r#"{"log_level":"warn","ack_timeout_ms":3000}"#), env)
    ///     .unwrap();
    /// assert_eq!(c.log_level, LogLevel::Debug); // the environment wins over the JSON
    /// assert_eq!(c.ack_timeout, Duration::from_secs(3));
    /// assert!(Config::load_with(Some(r#"{"ack_timeout":3}"#), |_| None).is_err());
    /// ```
    pub fn load_with(
        json: Option<&str>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut c = Config::new("");
        if let Some(text) = json.filter(|s| !s.trim().is_empty()) {
            c.apply_json(text)?;
        }
        c.apply_env(var)?;
        Ok(c)
    }

    /// Apply a JSON object of settings. Unknown keys are errors (a typo must not be ignored).
    pub fn apply_json(&mut self, text: &str) -> Result<(), ConfigError> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ConfigError(format!("config JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| ConfigError("config JSON: expected an object".into()))?;
        for (k, v) in obj {
            let Some(s) = SETTINGS.iter().find(|s| s.key == k) else {
                let known: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
                return Err(ConfigError(format!(
                    "config JSON: unknown field {k:?} (known: {})",
                    known.join(", ")
                )));
            };
            let raw = match v {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Array(items) if s.key == "transports" => items
                    .iter()
                    .map(|i| {
                        i.as_str().map(str::to_string).ok_or_else(|| {
                            ConfigError(format!("config JSON: {k}: expected strings"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .join(","),
                other => {
                    return Err(ConfigError(format!(
                        "config JSON: {k}: unexpected value {other}"
                    )))
                }
            };
            if v.is_null() && s.key != "log_dir" {
                continue;
            }
            self.set(s, &raw)
                .map_err(|e| ConfigError(format!("config JSON: {k}: {e}")))?;
        }
        Ok(())
    }

    /// Apply the `OKC_*` variables `var` knows. Empty values count as unset (but `OKC_LOG_DIR`).
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        for s in SETTINGS {
            let Some(raw) = var(s.env) else { continue };
            if raw.trim().is_empty() && s.key != "log_dir" {
                continue;
            }
            self.set(s, &raw)
                .map_err(|e| ConfigError(format!("{}: {e}", s.env)))?;
        }
        Ok(())
    }

    /// The one parser of every setting (shared by JSON and environment).
    fn set(&mut self, s: &Setting, raw: &str) -> Result<(), String> {
        let ms = |raw: &str| -> Result<Duration, String> {
            raw.trim()
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| format!("not a number of milliseconds: {raw:?}"))
        };
        match s.key {
            "company_name" => self.company_name = raw.to_string(),
            "transports" => self.transports = TransportSpec::parse_list(raw)?,
            "fiscal_timeout_ms" => self.fiscal_timeout = ms(raw)?,
            "ack_timeout_ms" => self.ack_timeout = ms(raw)?,
            "disconnect_timeout_ms" => self.disconnect_timeout = ms(raw)?,
            "handshake_timeout_ms" => self.handshake_timeout = ms(raw)?,
            "log_dir" => {
                let d = raw.trim();
                self.log_dir = if d.is_empty() || d.eq_ignore_ascii_case("none") {
                    None
                } else {
                    Some(PathBuf::from(d))
                };
            }
            "log_level" => self.log_level = raw.parse()?,
            "text_encoding" => self.text_encoding = raw.parse()?,
            "max_payload_bytes" => {
                let n: usize = raw
                    .trim()
                    .parse()
                    .map_err(|_| format!("not a number of bytes: {raw:?}"))?;
                if n == 0 {
                    return Err("must be > 0".into());
                }
                self.max_payload = n;
            }
            "max_receive_bytes" => {
                let n: usize = raw
                    .trim()
                    .parse()
                    .map_err(|_| format!("not a number of bytes: {raw:?}"))?;
                if !(MIN_RECEIVE_BYTES..=MAX_RECEIVE_BYTES).contains(&n) {
                    return Err(format!(
                        "must be between {MIN_RECEIVE_BYTES} and {MAX_RECEIVE_BYTES}"
                    ));
                }
                self.max_receive = n;
            }
            "vendor_text" => self.vendor_text = raw.parse()?,
            "tokenx_client_id" => self.tokenx.client_id = raw.trim().to_string(),
            "tokenx_client_secret" => self.tokenx.client_secret = Secret::new(raw.trim()),
            "tokenx_webhook_listen" => {
                let a = raw.trim();
                a.parse::<std::net::SocketAddr>()
                    .map_err(|_| format!("not a HOST:PORT address with a numeric host: {a:?}"))?;
                self.tokenx.webhook_listen = Some(a.to_string());
            }
            "tokenx_callback_url" => {
                let u = raw.trim();
                if !(u.starts_with("https://") || u.starts_with("http://")) {
                    return Err(format!("not an http(s) URL: {u:?}"));
                }
                self.tokenx.callback_url = Some(u.to_string());
            }
            "tokenx_callback_auth" => self.tokenx.callback_auth = Some(Secret::new(raw.trim())),
            "tokenx_poll_after_ms" => self.tokenx.poll_after = Some(ms(raw)?),
            "tokenx_auth_url" | "tokenx_settings_url" => {
                let u = raw.trim().trim_end_matches('/');
                if !(u.starts_with("https://") || u.starts_with("http://")) {
                    return Err(format!("not an http(s) URL: {u:?}"));
                }
                if s.key == "tokenx_auth_url" {
                    self.tokenx.auth_url = Some(u.to_string());
                } else {
                    self.tokenx.settings_url = Some(u.to_string());
                }
            }
            "tokenx_status_table" => self.tokenx.status_table = raw.parse()?,
            "journal" => {
                let p = raw.trim();
                self.journal = if p.is_empty() {
                    JournalSetting::BesideLogs
                } else if p.eq_ignore_ascii_case("off") || p.eq_ignore_ascii_case("none") {
                    JournalSetting::Off
                } else if cfg!(feature = "journal") {
                    JournalSetting::Path(PathBuf::from(p))
                } else {
                    return Err("this build has no journal (cargo feature journal)".into());
                };
            }
            "confirm" => self.confirm = raw.parse()?,
            "journal_retention_days" => {
                let d: u64 = raw
                    .trim()
                    .parse()
                    .ok()
                    .filter(|d| (1..=36_500).contains(d))
                    .ok_or_else(|| format!("a number of days from 1 to 36500, not {raw:?}"))?;
                self.journal_retention = Duration::from_secs(d * 86_400);
            }
            other => unreachable!("setting {other} without a parser"),
        }
        Ok(())
    }
}

fn env_var(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

impl FromStr for LogLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<LogLevel, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "error" | "e" => Ok(LogLevel::Error),
            "warn" | "warning" | "w" => Ok(LogLevel::Warn),
            "info" | "i" => Ok(LogLevel::Info),
            "debug" | "d" => Ok(LogLevel::Debug),
            o => Err(format!(
                "unknown log level {o:?} (error, warn, info or debug)"
            )),
        }
    }
}

impl std::fmt::Debug for TransportSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportSpec::Usb => write!(f, "usb"),
            TransportSpec::Serial => write!(f, "serial"),
            TransportSpec::SerialPort(p) => write!(f, "serial:{}", p.display()),
            TransportSpec::Tcp(a) => write!(f, "tcp://{a}"),
            TransportSpec::Custom(c) => write!(f, "custom({})", c.name()),
            TransportSpec::Tokenx(t) => write!(f, "{t:?}"),
        }
    }
}

impl FromStr for TransportSpec {
    type Err = String;
    /// One transport: `usb`, `serial`, `serial:PATH`, `tcp://host:port[?model=300tr]`.
    fn from_str(s: &str) -> Result<TransportSpec, String> {
        let t = s.trim();
        match t.to_ascii_lowercase().as_str() {
            "usb" => return Ok(TransportSpec::Usb),
            "serial" => return Ok(TransportSpec::Serial),
            _ => {}
        }
        if let Some(path) = t.strip_prefix("serial:") {
            if path.trim().is_empty() {
                return Err(format!("{t:?}: serial: needs a port path"));
            }
            return Ok(TransportSpec::SerialPort(path.trim().into()));
        }
        if t.starts_with("tokenx+") {
            return t.parse().map(TransportSpec::Tokenx);
        }
        if let Some(rest) = t.strip_prefix("tcp://") {
            crate::transport::tcp::parse_address(rest)?;
            return Ok(TransportSpec::Tcp(rest.to_string()));
        }
        Err(format!(
            "unknown transport {t:?} (expected usb, serial, serial:PATH, tcp://host:port or \
             tokenx+https://HOST/BASE?terminal-id=…)"
        ))
    }
}

impl TransportSpec {
    /// Parse one transport (see the `FromStr` impl).
    pub fn parse(s: &str) -> Result<TransportSpec, String> {
        s.parse()
    }

    /// Parse a comma-separated list (the `OKC_TRANSPORT` syntax).
    pub fn parse_list(s: &str) -> Result<Vec<TransportSpec>, String> {
        let v: Vec<TransportSpec> = s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        if v.is_empty() {
            return Err("empty transport list".into());
        }
        if v.len() > 1 && v.iter().any(|t| matches!(t, TransportSpec::Tokenx(_))) {
            return Err("a tokenx+… transport cannot be combined with others".into());
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_parsing() {
        let vars = |k: &str| match k {
            "OKC_TRANSPORT" => Some(
                "tcp://127.0.0.1:7700, usb,tcp://h:1?model=300tr,serial:/dev/pts/7".to_string(),
            ),
            "OKC_LOG_DIR" => Some("none".to_string()),
            "OKC_LOG_LEVEL" => Some("debug".to_string()),
            "OKC_ENCODING" => Some("UTF-8".to_string()),
            _ => None,
        };
        let c = Config::from_vars("X", vars).unwrap();
        assert_eq!(
            format!("{:?}", c.transports),
            "[tcp://127.0.0.1:7700, usb, tcp://h:1?model=300tr, serial:/dev/pts/7]"
        );
        assert!(c.log_dir.is_none());
        assert_eq!(c.log_level, LogLevel::Debug);
        assert_eq!(c.text_encoding, TextEncoding::Utf8);
        let bad = Config::from_vars("X", |k| (k == "OKC_TRANSPORT").then(|| "ftp://x".into()));
        assert!(bad
            .unwrap_err()
            .0
            .starts_with("OKC_TRANSPORT: unknown transport"));
        let def = Config::from_vars("X", |_| None).unwrap();
        assert_eq!(format!("{:?}", def.transports), "[usb, serial]");
        assert_eq!(def.text_encoding, TextEncoding::Cp1254);
        assert_eq!(def.log_dir, Some(PathBuf::from("./logs")));
    }

    #[test]
    fn same_spellings_from_json_and_env_and_env_wins() {
        // The short level names were once accepted from the environment only.
        for (level, want) in [("e", LogLevel::Error), ("W", LogLevel::Warn)] {
            let json = format!(r#"{{"log_level":"{level}"}}"#);
            let from_json = Config::load_with(Some(&json), |_| None).unwrap();
            let from_env =
                Config::load_with(None, |k| (k == "OKC_LOG_LEVEL").then(|| level.into())).unwrap();
            assert_eq!((from_json.log_level, from_env.log_level), (want, want));
        }
        let c = Config::load_with(
            Some(r#"{"log_level":"info","fiscal_timeout_ms":100,"transports":["serial"]}"#),
            |k| match k {
                "OKC_LOG_LEVEL" => Some("debug".into()),
                "OKC_FISCAL_TIMEOUT_MS" => Some("250".into()),
                "OKC_TRANSPORT" => Some("".into()),
                _ => None,
            },
        )
        .unwrap();
        assert_eq!(c.log_level, LogLevel::Debug);
        assert_eq!(c.fiscal_timeout, Duration::from_millis(250));
        assert_eq!(format!("{:?}", c.transports), "[serial]");
        // An empty OKC_LOG_DIR means "no log file", like "log_dir": "".
        let c = Config::load_with(None, |k| (k == "OKC_LOG_DIR").then(String::new)).unwrap();
        assert!(c.log_dir.is_none());
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e = Config::load_with(Some(r#"{"colour":1}"#), |_| None).unwrap_err();
        assert!(e
            .0
            .starts_with("config JSON: unknown field \"colour\" (known: company_name, "));
        let e = Config::load_with(Some(r#"{"max_payload_bytes":0}"#), |_| None).unwrap_err();
        assert_eq!(e.0, "config JSON: max_payload_bytes: must be > 0");
        let e = Config::load_with(None, |k| (k == "OKC_ACK_TIMEOUT_MS").then(|| "soon".into()))
            .unwrap_err();
        assert_eq!(
            e.0,
            "OKC_ACK_TIMEOUT_MS: not a number of milliseconds: \"soon\""
        );
        assert!(Config::load_with(Some("[1]"), |_| None).is_err());
        assert!(Config::load_with(Some("{"), |_| None).is_err());
        let e = Config::load_with(Some(r#"{"vendor_text":"latin1"}"#), |_| None).unwrap_err();
        assert!(e
            .0
            .starts_with("config JSON: vendor_text: unknown vendor text encoding"));
    }

    #[test]
    fn vendor_text_from_json_and_env() {
        assert_eq!(Config::new("").vendor_text, VendorText::Utf8);
        let c = Config::load_with(Some(r#"{"vendor_text":"Windows-1254"}"#), |_| None).unwrap();
        assert_eq!(c.vendor_text, VendorText::Cp1254);
        let c =
            Config::from_vars("X", |k| (k == "OKC_VENDOR_TEXT").then(|| "cp1254".into())).unwrap();
        assert_eq!(c.vendor_text, VendorText::Cp1254);
        let c = Config::load_with(Some(r#"{"vendor_text":"cp1254"}"#), |k| {
            (k == "OKC_VENDOR_TEXT").then(|| "utf-8".into())
        })
        .unwrap();
        assert_eq!(c.vendor_text, VendorText::Utf8);
    }

    #[test]
    fn tokenx_transport_and_settings() {
        let c = Config::load_with(
            Some(r#"{"transports":"tokenx+https://api.example/app-store/external/?terminal-id=AV00000000001","tokenx_client_id":"cid","tokenx_poll_after_ms":250}"#),
            |k| match k {
                "OKC_TOKENX_CLIENT_SECRET" => Some("s3cret".into()),
                "OKC_TOKENX_CALLBACK_AUTH" => Some("Bearer h00k-xyz".into()),
                "OKC_TOKENX_WEBHOOK_LISTEN" => Some("127.0.0.1:0".into()),
                "OKC_TOKENX_STATUS_TABLE" => Some("legacy".into()),
                _ => None,
            },
        )
        .unwrap();
        let [TransportSpec::Tokenx(t)] = c.transports.as_slice() else {
            panic!("{:?}", c.transports)
        };
        assert_eq!(t.base, "https://api.example/app-store/external");
        assert_eq!(t.terminal_id.as_deref(), Some("AV00000000001"));
        assert_eq!(c.tokenx.client_id, "cid");
        assert_eq!(c.tokenx.client_secret.expose(), "s3cret");
        assert_eq!(c.tokenx.poll_after, Some(Duration::from_millis(250)));
        assert_eq!(
            c.tokenx.status_table,
            crate::fiscal::tokenx::api::StatusTable::Legacy
        );
        // Secrets never show in Debug output (logs print configurations).
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("h00k-xyz"),
            "{shown}"
        );
        assert!(shown.contains("<redacted>"));
        let t: TokenxTarget = "tokenx+http://127.0.0.1:9/?branch-id=BR-1".parse().unwrap();
        assert_eq!(
            (t.base.as_str(), t.branch_id.as_deref()),
            ("http://127.0.0.1:9", Some("BR-1"))
        );
        for bad in [
            "tokenx+https://h/x",
            "tokenx+ftp://h?terminal-id=A",
            "tokenx+https://user:pw@h?terminal-id=A",
            "tokenx+https://h?terminal-id=",
            "tokenx+https://h?terminal-id=A&colour=red",
            "tokenx+https://h?terminal-id=A/B",
        ] {
            assert!(bad.parse::<TokenxTarget>().is_err(), "{bad}");
        }
        let e = TransportSpec::parse_list("usb,tokenx+https://h?terminal-id=A").unwrap_err();
        assert!(e.contains("cannot be combined"), "{e}");
        let e = Config::load_with(None, |k| {
            (k == "OKC_TOKENX_WEBHOOK_LISTEN").then(|| "localhost".into())
        })
        .unwrap_err();
        assert!(e.0.starts_with("OKC_TOKENX_WEBHOOK_LISTEN: "), "{e}");
    }

    #[test]
    fn the_docs_table_lists_every_setting() {
        let doc = include_str!("../docs/C-API.md");
        for s in SETTINGS {
            let row = format!("| `{}` | `{}` |", s.key, s.env);
            assert!(doc.contains(&row), "docs/C-API.md lacks the row {row}");
        }
    }
}
