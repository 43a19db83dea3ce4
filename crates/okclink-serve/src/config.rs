//! What `okc serve` runs: the listen address, security settings and the fronts it owns.
//! Read from a JSON file (`--config FILE`, docs/SERVE.md), command-line flags on top.

use std::net::SocketAddr;

use serde::Deserialize;
use serde_json::{Map, Value};

/// The default listen address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8765";
/// The default request body limit: 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;
/// The environment variable with the API token (preferred to a flag: not in `ps`).
pub const TOKEN_ENV: &str = "OKC_SERVE_TOKEN";

/// The service's configuration. `fiscal`, `payment` and `energy` are each optional: a front
/// that is not configured answers 503 `not-configured`.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// `HOST:PORT` (default [`DEFAULT_LISTEN`]); any address other than loopback needs a token.
    pub listen: Option<String>,
    /// The API token (`Authorization: Bearer …`); never logged or returned.
    pub token: Option<String>,
    /// Origins allowed by CORS (exact match, e.g. `http://localhost:3000`); none by default.
    pub cors_origins: Vec<String>,
    /// Request body limit in bytes (default [`DEFAULT_MAX_BODY`]).
    pub max_body_bytes: Option<usize>,
    pub fiscal: Option<FiscalSettings>,
    pub payment: Option<PaymentSettings>,
    /// The Energy client's settings: the keys of the library's Energy configuration
    /// (docs/ENERGY.md: `energy_url`, `energy_terminal_id`, …; credentials better from the
    /// environment).
    pub energy: Option<Map<String, Value>>,
    /// Stop on SIGINT / SIGTERM (`okc serve`; tests stop the server themselves).
    #[serde(skip)]
    pub handle_signals: bool,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "(set)"))
            .field("cors_origins", &self.cors_origins)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("fiscal", &self.fiscal.as_ref().map(|f| &f.transport))
            .field("payment", &self.payment.as_ref().map(|p| &p.terminal))
            .field("energy", &self.energy.is_some())
            .finish()
    }
}

/// The fiscal device: `transport` (`sim`, `sim:x30tr`, `sim:300tr`, or the `OKC_TRANSPORT`
/// syntax: `tcp://…`, `usb`, `serial`, `tokenx+https://…`) and any key of the library's
/// configuration (`company_name`, `journal`, `log_dir`, `fiscal_timeout_ms`, `tokenx_*`, …;
/// docs/C-API.md § Configuration).
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct FiscalSettings {
    pub transport: String,
    /// Short for the library's `company_name`.
    pub company: Option<String>,
    #[serde(flatten)]
    pub library: Map<String, Value>,
}

/// The payment terminal.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentSettings {
    /// `nexo+http://HOST:PORT[?poiid=…]`, `gptom+https://HOST?tid=TID`, or `sim` (an
    /// in-process nexo terminal simulator).
    pub terminal: String,
    /// The nexo POS listener `IP:PORT` (display, print and events from the terminal).
    pub listener: Option<String>,
    /// The currency of `/v1/payment/*` requests without one (default `TRY`).
    pub currency: Option<String>,
    /// The journal (default: the fiscal one); `off` for none.
    pub journal: Option<String>,
}

impl ServeConfig {
    /// A configuration file's text.
    pub fn from_json(text: &str) -> Result<ServeConfig, String> {
        serde_json::from_str(text).map_err(|e| format!("configuration: {e}"))
    }

    /// The address to bind.
    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        let s = self.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        use std::net::ToSocketAddrs;
        s.to_socket_addrs()
            .map_err(|e| format!("listen address {s:?}: {e}"))?
            .next()
            .ok_or_else(|| format!("listen address {s:?} resolves to nothing"))
    }

    /// Refuses what must not start: a non-loopback bind without a token.
    pub fn check(&self) -> Result<SocketAddr, String> {
        let addr = self.listen_addr()?;
        let has_token = self.token.as_deref().is_some_and(|t| !t.trim().is_empty());
        if !addr.ip().is_loopback() && !has_token {
            return Err(format!(
                "refusing to listen on {addr} without an API token: any address other than \
                 loopback needs --token / ${TOKEN_ENV} / \"token\" in the configuration"
            ));
        }
        if let Some(0) = self.max_body_bytes {
            return Err("max_body_bytes must be > 0".into());
        }
        Ok(addr)
    }

    pub fn max_body(&self) -> usize {
        self.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY)
    }
}

/// A transport or terminal URL without credentials (`scheme://user:pass@host` → `scheme://***@host`),
/// for status responses and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_and_checked() {
        let c = ServeConfig::from_json(
            r#"{"listen":"127.0.0.1:0","cors_origins":["http://localhost:3000"],
               "fiscal":{"transport":"sim","company":"shop","fiscal_timeout_ms":3000},
               "payment":{"terminal":"sim"}}"#,
        )
        .unwrap();
        assert_eq!(c.fiscal.as_ref().unwrap().transport, "sim");
        assert_eq!(
            c.fiscal.as_ref().unwrap().library["fiscal_timeout_ms"],
            3000
        );
        assert!(c.check().is_ok());
        assert!(ServeConfig::from_json(r#"{"lisen":"x"}"#).is_err());
        let open = ServeConfig {
            listen: Some("0.0.0.0:0".into()),
            ..ServeConfig::default()
        };
        assert!(open.check().unwrap_err().contains("token"));
        let with_token = ServeConfig {
            token: Some("t".into()),
            ..open
        };
        assert!(with_token.check().is_ok());
        assert!(!format!("{with_token:?}").contains("\"t\""));
    }

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(redact("tcp://127.0.0.1:7700"), "tcp://127.0.0.1:7700");
        assert_eq!(redact("tokenx+https://u:p@h/b"), "tokenx+https://***@h/b");
    }
}
