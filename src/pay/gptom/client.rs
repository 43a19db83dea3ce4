//! The GP tom HTTP client: the requests of `api` over reqwest (rustls), one connection pool,
//! and the OAuth token cache.
//!
//! - **Tokens**: the password grant (with the TID, or without for a master account), kept
//!   until `expires_in` minus 60 s; then the refresh-token grant, and when that fails the
//!   password grant again. Single-flight: concurrent calls wait for the one token request
//!   under the lock. A call answered 401 drops its token and is sent once more with a new one.
//! - **Nothing else is retried here**: a lost answer to a create is resolved by the back end
//!   *asking* (the TID's task list), never by sending again.
//! - Credentials go into the token request only; errors and logs never carry them (answers
//!   of the token endpoint are scrubbed of them as well).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::api::{self, assumptions, GptomConfig, GptomTarget, Method, Op, TokenGrant};
use crate::config::Secret;
use crate::pay::PayError;

/// An answer: HTTP status and body.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub http: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.http)
    }
}

/// Why a call has no answer.
#[derive(Debug, Clone)]
pub(crate) enum CallError {
    /// No token could be had: nothing was sent to the task API.
    Login(PayError),
    /// No answer: `sent` = false when the request certainly never left (connection refused,
    /// DNS), true when it may have reached the cloud (timeout, connection lost, an answer
    /// larger than the limit).
    Network { sent: bool, detail: String },
}

impl CallError {
    /// As a [`PayError`] when the request's effect does not matter (reads).
    pub fn into_pay_error(self) -> PayError {
        match self {
            CallError::Login(e) => e,
            CallError::Network { detail, .. } => PayError::Unreachable(detail),
        }
    }
}

struct Tokens {
    access: String,
    refresh: Option<Secret>,
    renew_at: Instant,
}

/// One GP tom client: target, credentials, token, connection pool.
pub(crate) struct Client {
    http: reqwest::Client,
    target: GptomTarget,
    cfg: GptomConfig,
    tokens: tokio::sync::Mutex<Option<Tokens>>,
    grants: AtomicU64,
}

impl Client {
    pub fn new(target: GptomTarget, cfg: GptomConfig) -> Result<Client, String> {
        let mut b = reqwest::Client::builder()
            .timeout(cfg.timing.http_timeout)
            .connect_timeout(
                cfg.timing
                    .http_timeout
                    .min(std::time::Duration::from_secs(10)),
            )
            .pool_idle_timeout(std::time::Duration::from_secs(90))
            .tcp_nodelay(true)
            .user_agent(concat!("okclink/", env!("CARGO_PKG_VERSION")));
        if target.base.starts_with("http://") {
            // A local simulator: never through a proxy.
            b = b.no_proxy();
        }
        let http = b
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Client {
            http,
            target,
            cfg,
            tokens: tokio::sync::Mutex::new(None),
            grants: AtomicU64::new(0),
        })
    }

    pub fn target(&self) -> &GptomTarget {
        &self.target
    }

    /// Token requests sent so far (diagnostics).
    #[allow(dead_code)]
    pub fn grants(&self) -> u64 {
        self.grants.load(Ordering::Relaxed)
    }

    /// Remove every credential from a text taken from an answer of the token endpoint.
    fn scrub(&self, text: String) -> String {
        let mut t = text;
        for s in [
            self.cfg.password.expose(),
            self.cfg.username.expose(),
            self.cfg.basic.as_ref().map_or("", |b| b.expose()),
        ] {
            t = scrub(&t, s);
        }
        t
    }

    /// One token grant.
    async fn grant(&self, op: &Op) -> Result<TokenGrant, CallError> {
        self.grants.fetch_add(1, Ordering::Relaxed);
        let reply = self.send(op, None).await?;
        if !reply.is_success() {
            let mut e = api::api_error(reply.http, &reply.body);
            e.code = e.code.map(|c| self.scrub(c));
            e.message = e.message.map(|m| self.scrub(m));
            return Err(CallError::Login(
                e.to_login_error(self.cfg.basic_header().is_some()),
            ));
        }
        let g = api::parse_token(&reply.body).map_err(|e| {
            CallError::Login(PayError::Protocol(format!(
                "GP tom token endpoint: {}",
                self.scrub(e)
            )))
        })?;
        if !self.target.master {
            if let Some(t) = &g.tid {
                if *t != self.target.tid {
                    return Err(CallError::Login(PayError::Config(format!(
                        "GP tom issued a token for TID {t}, not for the configured TID {}",
                        self.target.tid
                    ))));
                }
            }
        }
        Ok(g)
    }

    /// A valid access token: the cached one, a refreshed one, or a new one (single-flight:
    /// concurrent callers wait for the one token request under the lock).
    async fn token(&self) -> Result<String, CallError> {
        let mut slot = self.tokens.lock().await;
        if let Some(t) = slot.as_ref() {
            if Instant::now() < t.renew_at {
                return Ok(t.access.clone());
            }
        }
        let refresh = slot.as_ref().and_then(|t| t.refresh.clone());
        let grant = match refresh {
            Some(rt) => match self.grant(&Op::RefreshGrant { refresh_token: rt }).await {
                Ok(g) => g,
                // The cloud is unreachable: the password grant would not fare better.
                Err(e @ CallError::Network { .. }) => return Err(e),
                // Refused (expired, revoked): log in again.
                Err(CallError::Login(_)) => self.grant(&Op::PasswordGrant).await?,
            },
            None => self.grant(&Op::PasswordGrant).await?,
        };
        let old_refresh = slot.as_ref().and_then(|t| t.refresh.clone());
        let access = grant.access_token.clone();
        *slot = Some(Tokens {
            access: grant.access_token.clone(),
            refresh: grant.refresh_token.clone().map(Secret::new).or(old_refresh),
            renew_at: Instant::now() + grant.renew_after(),
        });
        Ok(access)
    }

    /// `used` was refused: renew it (with the refresh token) on the next call — unless
    /// another call renewed it already.
    async fn expire(&self, used: &str) {
        let mut slot = self.tokens.lock().await;
        if let Some(t) = slot.as_mut() {
            if t.access == used {
                t.renew_at = Instant::now();
            }
        }
    }

    /// Log in now (also when a token is cached): checks the credentials.
    pub async fn login(&self) -> Result<(), PayError> {
        let mut slot = self.tokens.lock().await;
        *slot = None;
        let g = self
            .grant(&Op::PasswordGrant)
            .await
            .map_err(CallError::into_pay_error)?;
        *slot = Some(Tokens {
            access: g.access_token.clone(),
            refresh: g.refresh_token.clone().map(Secret::new),
            renew_at: Instant::now() + g.renew_after(),
        });
        Ok(())
    }

    /// Forget the tokens (GP tom has no logout call).
    pub async fn logout(&self) {
        *self.tokens.lock().await = None;
    }

    /// A task call with a token; a 401 renews the token and sends once more.
    pub async fn call(&self, op: &Op) -> Result<Reply, CallError> {
        let mut renewed = false;
        loop {
            // No token: nothing was sent to the task API, whatever happened to the grant.
            let token = self
                .token()
                .await
                .map_err(|e| CallError::Login(e.into_pay_error()))?;
            let reply = self.send(op, Some(&token)).await?;
            if reply.http == assumptions::HTTP_UNAUTHORIZED && !renewed {
                renewed = true;
                self.expire(&token).await;
                continue;
            }
            return Ok(reply);
        }
    }

    /// One HTTP exchange (no retry).
    async fn send(&self, op: &Op, bearer: Option<&str>) -> Result<Reply, CallError> {
        let req = op.request(&self.target, &self.cfg, bearer);
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        let mut rb = self.http.request(method, &req.url);
        for (k, v) in &req.headers {
            rb = rb.header(*k, v);
        }
        if let Some(body) = req.body {
            rb = rb.body(body);
        }
        let mut resp = rb.send().await.map_err(|e| network(op, &e))?;
        let http = resp.status().as_u16();
        let too_big = || CallError::Network {
            sent: true,
            detail: format!(
                "GP tom {}: answer larger than {} bytes",
                op.name(),
                assumptions::RESPONSE_MAX_BYTES
            ),
        };
        if resp
            .content_length()
            .is_some_and(|n| n > assumptions::RESPONSE_MAX_BYTES as u64)
        {
            return Err(too_big());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| network(op, &e))? {
            if body.len() + chunk.len() > assumptions::RESPONSE_MAX_BYTES {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply { http, body })
    }
}

/// A transport error (the URL is not repeated: a token URL could be anything configured;
/// reqwest's own text never carries the body or the headers).
fn network(op: &Op, e: &reqwest::Error) -> CallError {
    let sent = !e.is_connect() && !e.is_builder();
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    let mut detail = format!("GP tom {}: {what}", op.name());
    if let Some(s) = std::error::Error::source(e) {
        detail.push_str(&format!(" ({s})"));
    }
    CallError::Network { sent, detail }
}

/// `text` with every occurrence of `secret` replaced, except inside a longer word (a one-letter
/// user name must not turn "unauthorized" into noise; an echoed credential stands apart).
fn scrub(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_string();
    }
    let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(secret) {
        let before = rest[..i].chars().next_back().or(out.chars().next_back());
        let after = rest[i + secret.len()..].chars().next();
        let inside_word = (word(before) && secret.starts_with(char::is_alphanumeric))
            || (word(after) && secret.ends_with(char::is_alphanumeric));
        out.push_str(&rest[..i]);
        out.push_str(if inside_word { secret } else { "<redacted>" });
        rest = &rest[i + secret.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::scrub;

    #[test]
    fn credentials_are_scrubbed_from_answers() {
        assert_eq!(scrub("HTTP 401 unauthorized", "u"), "HTTP 401 unauthorized");
        assert_eq!(scrub("user u not found", "u"), "user <redacted> not found");
        assert_eq!(
            scrub("bad password \"pw-1!\" for shop@x.cz", "pw-1!"),
            "bad password \"<redacted>\" for shop@x.cz"
        );
        assert_eq!(
            scrub("login shop@x.cz,shop@x.cz", "shop@x.cz"),
            "login <redacted>,<redacted>"
        );
        assert_eq!(scrub("abc", ""), "abc");
        assert_eq!(scrub("xsecretx secret", "secret"), "xsecretx <redacted>");
    }
}
