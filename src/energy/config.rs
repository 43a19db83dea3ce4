//! The Energy client's settings: the order API base, the virtual market terminal, the TokenX
//! credentials (the same `OKC_TOKENX_*` names as the Connect back end) and the journal (the
//! same `journal` / `OKC_JOURNAL` rule as the fiscal side).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::api::wire;
use super::EnergyError;
use crate::config::{Config, Secret, TokenxSettings};

/// Environment variables and JSON keys of the Energy settings (the TokenX credentials, the
/// journal and the log folder are read by [`Config`] under their own names).
pub const ENV_URL: &str = "OKC_ENERGY_URL";
pub const ENV_TERMINAL: &str = "OKC_ENERGY_TERMINAL";
pub const ENV_LOCK_TTL: &str = "OKC_ENERGY_LOCK_TTL_S";
pub const ENV_CURRENCY: &str = "OKC_ENERGY_CURRENCY";
pub const ENV_COMPLETE_WAIT: &str = "OKC_ENERGY_COMPLETE_WAIT_MS";
const KEYS: [(&str, &str); 5] = [
    ("energy_url", ENV_URL),
    ("energy_terminal", ENV_TERMINAL),
    ("energy_lock_ttl_s", ENV_LOCK_TTL),
    ("energy_currency", ENV_CURRENCY),
    ("energy_complete_wait_ms", ENV_COMPLETE_WAIT),
];

/// How to reach Token X Energy. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct EnergyConfig {
    /// `http(s)://HOST/BASE` of the order API (`OKC_ENERGY_URL`, key `energy_url`).
    pub url: String,
    /// The virtual market-terminal id Token issued (`OKC_ENERGY_TERMINAL`, `energy_terminal`).
    pub terminal_id: String,
    /// Client id and secret (`OKC_TOKENX_CLIENT_ID` / `_SECRET`, `tokenx_client_id` /
    /// `tokenx_client_secret`), the auth base (`tokenx_auth_url`, default the API base) and
    /// the status table (`tokenx_status_table`).
    pub tokenx: TokenxSettings,
    /// The journal file (`journal` / `OKC_JOURNAL`: a path or `off`; default beside the log
    /// folder as on the fiscal side, none when `log_dir` is `none`). None = no journal: no
    /// recovery after a crash.
    pub journal: Option<PathBuf>,
    /// Lock time asked for (`OKC_ENERGY_LOCK_TTL_S`, default 120 s, 1–3600).
    pub lock_ttl: Duration,
    /// The card payment's currency (`OKC_ENERGY_CURRENCY`, default `TRY`).
    pub currency: String,
    /// How long a sale waits for the 1000TR to complete the paid order
    /// (`OKC_ENERGY_COMPLETE_WAIT_MS`, default 10 000; 0 = do not wait).
    pub complete_wait: Duration,
}

impl EnergyConfig {
    /// A configuration from values (no journal).
    pub fn new(url: &str, terminal_id: &str, client_id: &str, secret: &str) -> EnergyConfig {
        EnergyConfig {
            url: url.trim().trim_end_matches('/').to_string(),
            terminal_id: terminal_id.trim().to_string(),
            tokenx: TokenxSettings {
                client_id: client_id.trim().to_string(),
                client_secret: Secret::new(secret.trim()),
                ..TokenxSettings::default()
            },
            journal: None,
            lock_ttl: wire::DEFAULT_LOCK_TTL,
            currency: "TRY".into(),
            complete_wait: wire::COMPLETE_WAIT,
        }
    }

    /// The process environment only.
    pub fn from_env() -> Result<EnergyConfig, EnergyError> {
        EnergyConfig::load(None)
    }

    /// Defaults ← `json` (None or blank: none) ← the process environment.
    pub fn load(json: Option<&str>) -> Result<EnergyConfig, EnergyError> {
        EnergyConfig::load_with(json, |k| std::env::var(k).ok())
    }

    /// Defaults ← `json` ← `var` (an environment lookup). The JSON's Energy keys are read
    /// here, every other key by [`Config`] (unknown keys are errors there).
    pub fn load_with(
        json: Option<&str>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<EnergyConfig, EnergyError> {
        let bad = |m: String| EnergyError::Config(m);
        let mut own: Vec<(&str, String)> = Vec::new();
        let mut rest = serde_json::Map::new();
        if let Some(text) = json.filter(|s| !s.trim().is_empty()) {
            let v: Value =
                serde_json::from_str(text).map_err(|e| bad(format!("config JSON: {e}")))?;
            let obj = v
                .as_object()
                .ok_or_else(|| bad("config JSON: expected an object".into()))?;
            for (k, v) in obj {
                if let Some((key, _)) = KEYS.iter().find(|(key, _)| key == k) {
                    let s = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Null => continue,
                        o => return Err(bad(format!("config JSON: {k}: unexpected value {o}"))),
                    };
                    own.push((key, s));
                } else {
                    rest.insert(k.clone(), v.clone());
                }
            }
        }
        for (key, env) in KEYS {
            if let Some(v) = var(env).filter(|v| !v.trim().is_empty()) {
                own.retain(|(k, _)| *k != key);
                own.push((key, v));
            }
        }
        let rest = Value::Object(rest).to_string();
        let base = Config::load_with(Some(&rest), &var).map_err(|e| bad(e.0))?;
        let mut c = EnergyConfig::new("", "", "", "");
        c.tokenx = base.tokenx.clone();
        c.journal = base.journal_path();
        for (key, raw) in own {
            let raw = raw.trim();
            match key {
                "energy_url" => {
                    if !(raw.starts_with("http://") || raw.starts_with("https://")) {
                        return Err(bad(format!(
                            "{ENV_URL}: expected http(s)://HOST/BASE, got {raw:?}"
                        )));
                    }
                    c.url = raw.trim_end_matches('/').to_string();
                }
                "energy_terminal" => c.terminal_id = raw.to_string(),
                "energy_lock_ttl_s" => {
                    let n: u64 = raw
                        .parse()
                        .map_err(|_| bad(format!("{ENV_LOCK_TTL}: not a number: {raw:?}")))?;
                    if n == 0 || n > wire::MAX_LOCK_TTL.as_secs() {
                        return Err(bad(format!("{ENV_LOCK_TTL}: 1 to 3600 seconds")));
                    }
                    c.lock_ttl = Duration::from_secs(n);
                }
                "energy_currency" => {
                    if raw.len() != 3 || !raw.bytes().all(|b| b.is_ascii_alphabetic()) {
                        return Err(bad(format!("{ENV_CURRENCY}: an ISO 4217 code like TRY")));
                    }
                    c.currency = raw.to_ascii_uppercase();
                }
                _ => {
                    let n: u64 = raw.parse().map_err(|_| {
                        bad(format!("{ENV_COMPLETE_WAIT}: not milliseconds: {raw:?}"))
                    })?;
                    c.complete_wait = Duration::from_millis(n);
                }
            }
        }
        Ok(c)
    }

    /// What [`super::Orders::open`] needs: a base, a terminal id and credentials.
    pub fn check(&self) -> Result<(), EnergyError> {
        let bad = |m: &str| Err(EnergyError::Config(m.into()));
        if self.url.is_empty() {
            return bad("no order API: set OKC_ENERGY_URL=http(s)://HOST/BASE (energy_url)");
        }
        if self.terminal_id.is_empty() {
            return bad("no virtual terminal id: set OKC_ENERGY_TERMINAL (energy_terminal)");
        }
        if self.tokenx.client_id.is_empty() || self.tokenx.client_secret.is_empty() {
            return bad(
                "Token X Energy needs OKC_TOKENX_CLIENT_ID and OKC_TOKENX_CLIENT_SECRET \
                 (tokenx_client_id / tokenx_client_secret)",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_and_json() {
        let env = |k: &str| match k {
            "OKC_ENERGY_URL" => Some("http://127.0.0.1:1/base/".to_string()),
            "OKC_TOKENX_CLIENT_SECRET" => Some("s3cret".to_string()),
            "OKC_JOURNAL" => Some("/tmp/x/j.sqlite".to_string()),
            _ => None,
        };
        let c = EnergyConfig::load_with(
            Some(r#"{"energy_terminal":"VT1","tokenx_client_id":"cid","energy_lock_ttl_s":30}"#),
            env,
        )
        .unwrap();
        assert_eq!(c.url, "http://127.0.0.1:1/base");
        assert_eq!(c.terminal_id, "VT1");
        assert_eq!(c.tokenx.client_id, "cid");
        assert_eq!(c.tokenx.client_secret.expose(), "s3cret");
        assert_eq!(c.lock_ttl, Duration::from_secs(30));
        assert_eq!(c.journal, Some(PathBuf::from("/tmp/x/j.sqlite")));
        assert!(!format!("{c:?}").contains("s3cret"));
        c.check().unwrap();
        let off = EnergyConfig::load_with(Some(r#"{"journal":"off"}"#), |_| None).unwrap();
        assert_eq!(off.journal, None);
        assert!(off.check().is_err());
        assert!(EnergyConfig::load_with(Some(r#"{"energy_url":"ftp://x"}"#), |_| None).is_err());
        assert!(EnergyConfig::load_with(Some(r#"{"nonsense":1}"#), |_| None).is_err());
    }
}
