//! The webhook receiver: an axum server inside the library that Token POSTs basket events to.
//!
//! - `Authorization` must equal the configured value (compared in constant time); wrong or
//!   missing → 401 and nothing is delivered. The value is never logged.
//! - The body is limited ([`assumptions::WEBHOOK_MAX_BYTES`]: larger → 413) and parsed by
//!   `api::parse_webhook` (malformed → 400, nothing delivered, no panic).
//! - A valid event is answered 200 `{"status":"ok"}` at once — also for baskets this process
//!   does not know or already finished (the tracker hands each result out once), so Token has
//!   no reason to retry.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use subtle::ConstantTimeEq;

use super::api::{assumptions, parse_webhook, WebhookEvent};

/// What the receiver needs from the back end.
pub trait WebhookSink: Send + Sync + 'static {
    /// A checked, parsed event.
    fn on_event(&self, e: WebhookEvent);
    /// A refused request (for the log; `why` holds no secret).
    fn on_refused(&self, status: u16, why: &str);
}

struct Ctx {
    /// The expected `Authorization` value.
    auth: Vec<u8>,
    /// The path Token posts to (None: any path).
    path: Option<String>,
    sink: Arc<dyn WebhookSink>,
}

fn answer(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        format!("{{\"status\":\"{text}\"}}"),
    )
        .into_response()
}

async fn handle(
    State(ctx): State<Arc<Ctx>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if ctx.path.as_deref().is_some_and(|p| p != uri.path()) {
        ctx.sink.on_refused(404, "unknown path");
        return answer(StatusCode::NOT_FOUND, "not found");
    }
    if method != Method::POST {
        ctx.sink.on_refused(405, "not a POST");
        return answer(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    }
    let given = headers
        .get(assumptions::WEBHOOK_AUTH_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or(b"");
    // Constant time over the expected value's length (the length itself is not secret).
    if !bool::from(given.ct_eq(&ctx.auth)) {
        ctx.sink.on_refused(401, "wrong or missing Authorization");
        return answer(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    match parse_webhook(&body) {
        Ok(e) => {
            ctx.sink.on_event(e);
            answer(StatusCode::OK, "ok")
        }
        Err(e) => {
            ctx.sink.on_refused(400, &e.to_string());
            answer(StatusCode::BAD_REQUEST, "bad request")
        }
    }
}

/// Bind `listen` and serve until `stop` resolves. Returns the bound address once listening.
pub async fn bind(
    listen: &str,
    auth: &str,
    path: Option<String>,
    sink: Arc<dyn WebhookSink>,
) -> std::io::Result<(tokio::net::TcpListener, Router)> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let ctx = Arc::new(Ctx {
        auth: auth.as_bytes().to_vec(),
        path,
        sink,
    });
    let app = Router::new()
        .fallback(handle)
        .layer(DefaultBodyLimit::max(assumptions::WEBHOOK_MAX_BYTES))
        .with_state(ctx);
    Ok((listener, app))
}

/// Serve `app` on `listener` until `stop` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
}

/// The path part of a callback URL (`https://host:port/a/b?x` → `/a/b`).
pub fn url_path(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    match rest.find('/') {
        Some(i) => rest[i..].to_string(),
        None => "/".to_string(),
    }
}

/// The address a receiver bound (for logs).
pub fn local(listener: &tokio::net::TcpListener) -> Option<SocketAddr> {
    listener.local_addr().ok()
}

#[cfg(test)]
mod tests {
    use super::url_path;

    #[test]
    fn callback_paths() {
        assert_eq!(
            url_path("https://pos.example:8443/tokenx/hook?x=1"),
            "/tokenx/hook"
        );
        assert_eq!(url_path("http://127.0.0.1:9000"), "/");
        assert_eq!(url_path("http://h/"), "/");
    }
}
