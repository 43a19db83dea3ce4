//! The TokenX Connect HTTP client: the operations of `api` over reqwest (rustls), one
//! connection pool per back end (keep-alive: a thousand baskets reuse one or two
//! connections), the token cache and the retry rules.
//!
//! - **Tokens**: cached until `expiresIn` minus a margin, fetched single-flight (a hundred
//!   concurrent calls wait for one auth request), dropped and fetched again once when a call
//!   answers 401 or a JWT status (1–5).
//! - **Retries**: only 429, honouring `Retry-After` (seconds) or 2/4/8 s, three times, one
//!   budget around auth and the call together (never nested). Nothing else is retried here:
//!   a lost answer to a basket POST is resolved by the back end *asking* (`GET
//!   /v1/basket/{id}`), never by sending again blindly.
//! - Credentials go into the `Authorization` header only; errors and logs never carry them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::api::{
    assumptions, parse_envelope, parse_token, ApiError, Endpoints, Envelope, Method, Op, Request,
    StatusTable,
};
use crate::config::Secret;

/// What the client sends: an operation of TokenX Connect ([`Op`]) or of another Token API on
/// the same auth, envelope and status codes (Token X Energy, `crate::energy::api`). One token
/// cache, one connection pool and one set of retry rules serve both.
pub(crate) trait Call: Send + Sync {
    /// The operation's name (logs, errors).
    fn name(&self) -> &'static str;
    /// The HTTP request against `ep` (context headers and body; the client adds the
    /// authorization).
    fn request(&self, ep: &Endpoints) -> Request;
    /// Whether this is the auth call (HTTP Basic, status 201 counts as success).
    fn is_auth(&self) -> bool {
        false
    }
}

impl Call for Op {
    fn name(&self) -> &'static str {
        Op::name(self)
    }
    fn request(&self, ep: &Endpoints) -> Request {
        Op::request(self, ep)
    }
    fn is_auth(&self) -> bool {
        matches!(self, Op::Authenticate)
    }
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The cloud answered with an error (or something that is not an answer of the API).
    Api(ApiError),
    /// No answer: `sent` = false when the request certainly never left (connection refused,
    /// DNS), true when it may have reached the cloud (timeout, connection lost).
    Network { sent: bool, detail: String },
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Api(e) => e.fmt(f),
            CallError::Network { detail, .. } => write!(f, "TokenX cloud unreachable: {detail}"),
        }
    }
}

impl From<ApiError> for CallError {
    fn from(e: ApiError) -> CallError {
        CallError::Api(e)
    }
}

impl CallError {
    /// The answer is lost or was a server failure: the request may have been acted on.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            CallError::Api(e) => e.is_server(),
            CallError::Network { sent, .. } => *sent,
        }
    }
}

struct Token {
    access: String,
    refresh_at: Instant,
}

/// One TokenX client: endpoints, credentials, token, connection pool.
pub struct Client {
    http: reqwest::Client,
    ep: Endpoints,
    client_id: String,
    secret: Secret,
    table: StatusTable,
    token: tokio::sync::Mutex<Option<Token>>,
    auth_requests: AtomicU64,
}

impl Client {
    pub fn new(
        ep: Endpoints,
        client_id: String,
        secret: Secret,
        table: StatusTable,
        timeout: Duration,
    ) -> Result<Client, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(8)
            .tcp_nodelay(true)
            .user_agent(concat!("okclink/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Client {
            http,
            ep,
            client_id,
            secret,
            table,
            token: tokio::sync::Mutex::new(None),
            auth_requests: AtomicU64::new(0),
        })
    }

    /// Auth requests sent so far (tests, diagnostics).
    pub fn auth_requests(&self) -> u64 {
        self.auth_requests.load(Ordering::Relaxed)
    }

    /// A valid access token: the cached one, or a fresh one (single-flight: concurrent
    /// callers wait for the one auth request under the lock).
    async fn token(&self) -> Result<String, CallError> {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref() {
            if Instant::now() < t.refresh_at {
                return Ok(t.access.clone());
            }
        }
        self.auth_requests.fetch_add(1, Ordering::Relaxed);
        let env = self.send(&Op::Authenticate, None).await?;
        let grant = parse_token(&env.result)
            .map_err(|detail| CallError::Api(ApiError::Malformed { http: 200, detail }))?;
        // Refresh before the end: a minute early, or a quarter of a short lifetime.
        let margin = assumptions::TOKEN_MARGIN.min(grant.expires_in / 4);
        let access = grant.access_token.clone();
        *slot = Some(Token {
            access: grant.access_token,
            refresh_at: Instant::now() + grant.expires_in - margin,
        });
        Ok(access)
    }

    /// Forget `used` (if it is still the cached token) so the next call authenticates.
    async fn drop_token(&self, used: &str) {
        let mut slot = self.token.lock().await;
        if slot.as_ref().is_some_and(|t| t.access == used) {
            *slot = None;
        }
    }

    /// Authenticate now (also when a token is cached): checks the credentials.
    pub async fn authenticate(&self) -> Result<(), CallError> {
        *self.token.lock().await = None;
        self.token().await.map(|_| ())
    }

    /// Run `op` with a token: re-authenticate once on a token error, wait out 429s (one
    /// budget for both).
    pub async fn call<C: Call + ?Sized>(&self, op: &C) -> Result<Envelope, CallError> {
        let mut reauthenticated = false;
        let mut throttled = 0;
        loop {
            let attempt = match self.token().await {
                Ok(token) => match self.send(op, Some(&token)).await {
                    Err(CallError::Api(e)) if e.is_auth() && !reauthenticated => {
                        self.drop_token(&token).await;
                        reauthenticated = true;
                        continue;
                    }
                    r => r,
                },
                Err(e) => Err(e),
            };
            match attempt {
                Err(CallError::Api(ApiError::Api {
                    http: 429,
                    retry_after,
                    ..
                })) if throttled < assumptions::THROTTLE_RETRIES => {
                    let wait =
                        retry_after.unwrap_or(assumptions::THROTTLE_BACKOFF * 2u32.pow(throttled));
                    if wait > assumptions::THROTTLE_MAX_WAIT {
                        return attempt;
                    }
                    throttled += 1;
                    tokio::time::sleep(wait).await;
                }
                r => return r,
            }
        }
    }

    /// One HTTP exchange (no retry).
    async fn send<C: Call + ?Sized>(
        &self,
        op: &C,
        bearer: Option<&str>,
    ) -> Result<Envelope, CallError> {
        let req = op.request(&self.ep);
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut rb = self.http.request(method, &req.url);
        for (k, v) in &req.headers {
            rb = rb.header(*k, v);
        }
        rb = match bearer {
            Some(t) => rb.bearer_auth(t),
            None => rb.basic_auth(&self.client_id, Some(self.secret.expose())),
        };
        if let Some(body) = req.body {
            rb = rb.header("content-type", "application/json").body(body);
        }
        let mut resp = rb.send().await.map_err(|e| network(op.name(), &e))?;
        let http = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if resp
            .content_length()
            .is_some_and(|n| n > assumptions::RESPONSE_MAX_BYTES as u64)
        {
            return Err(ApiError::Malformed {
                http,
                detail: "answer larger than the response limit".into(),
            }
            .into());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| network(op.name(), &e))? {
            if body.len() + chunk.len() > assumptions::RESPONSE_MAX_BYTES {
                return Err(ApiError::Malformed {
                    http,
                    detail: "answer larger than the response limit".into(),
                }
                .into());
            }
            body.extend_from_slice(&chunk);
        }
        parse_envelope(
            op.is_auth(),
            http,
            &body,
            retry_after.as_deref(),
            self.table,
        )
        .map_err(CallError::Api)
    }
}

/// A transport error as a [`CallError`] (the URL is kept: it holds no credentials).
fn network(op: &str, e: &reqwest::Error) -> CallError {
    let sent = !e.is_connect() && !e.is_builder();
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    let mut detail = format!("{op}: {what}");
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    if let Some(s) = src.take() {
        detail.push_str(&format!(" ({s})"));
    }
    CallError::Network { sent, detail }
}
