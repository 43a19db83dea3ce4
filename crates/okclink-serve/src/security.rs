//! The API token (constant-time, on a SHA-256 of both sides so the length does not leak
//! either) and CORS for the configured origins only.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::app::{digest, App};
use crate::Problem;

/// Paths anyone may read (probes of a service manager or a load balancer).
const OPEN_PATHS: &[&str] = &["/healthz", "/readyz"];

fn query_token(q: Option<&str>) -> Option<String> {
    q?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == "token").then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len()
                && b[i + 1].is_ascii_hexdigit()
                && b[i + 2].is_ascii_hexdigit() =>
            {
                let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hex(b[i + 1]) * 16 + hex(b[i + 2]));
                i += 3;
                continue;
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Requires the token on every path but the probes (header `Authorization: Bearer …`, or
/// `?token=` — for `EventSource` and the console page, which cannot send a header).
pub async fn require_token(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let Some(want) = app.token_digest else {
        return next.run(req).await;
    };
    if OPEN_PATHS.contains(&req.uri().path()) || req.method() == Method::OPTIONS {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
        .or_else(|| query_token(req.uri().query()));
    let ok = given.is_some_and(|t| bool::from(digest(&t).ct_eq(&want)));
    if ok {
        return next.run(req).await;
    }
    let mut r = Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "this server requires its API token: Authorization: Bearer TOKEN",
    )
    .into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"okc serve\""),
    );
    r
}

/// CORS: only for the configured origins (exact match); a preflight is answered here.
pub async fn cors(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| app.config.cors_origins.iter().any(|a| a == o))
        .and_then(|o| HeaderValue::from_str(o).ok());
    let Some(origin) = origin else {
        return next.run(req).await;
    };
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut r = if preflight {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, last-event-id"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        r
    } else {
        next.run(req).await
    };
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("location"),
    );
    h.append(header::VARY, HeaderValue::from_static("origin"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_token_is_decoded() {
        assert_eq!(query_token(Some("a=1&token=x%2By")).as_deref(), Some("x+y"));
        assert_eq!(query_token(Some("token=%zz")).as_deref(), Some("%zz"));
        assert_eq!(query_token(Some("token=%4")).as_deref(), Some("%4"));
        assert_eq!(query_token(Some("lastEventId=3")), None);
        assert_eq!(query_token(None), None);
    }
}
