//! Errors as `application/problem+json` (RFC 9457) with a stable `code`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Where the problem types are documented (`type` = this + the code).
pub const TYPE_BASE: &str = "https://okclink.dev/problems/";

/// A problem document. `code` is stable (clients switch on it); `detail` is for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Problem {
        Problem {
            type_: format!("{TYPE_BASE}{code}"),
            title: status.canonical_reason().unwrap_or("error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_string(),
        }
    }
    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }
    pub fn invalid_json(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "invalid-json", detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", detail)
    }
    pub fn not_configured(what: &str) -> Problem {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-configured",
            format!("no {what} is configured in this okc serve (docs/SERVE.md)"),
        )
    }
    pub fn internal(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
    }
    pub fn payload_too_large(limit: usize) -> Problem {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            format!("the request body exceeds the limit of {limit} bytes"),
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut r = (status, body).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        r
    }
}

/// A fiscal front's error as a problem.
pub fn from_hub(e: &okclink::hub::HubError) -> Problem {
    use okclink::hub::HubError as E;
    let (status, code) = match e {
        E::InvalidJson(_) => (StatusCode::BAD_REQUEST, "invalid-json"),
        E::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large"),
        E::NoDevice | E::Closed => (StatusCode::SERVICE_UNAVAILABLE, "device-unavailable"),
        E::Timeout => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
        E::Rejected { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "rejected"),
        E::Unsupported(_) => (StatusCode::NOT_IMPLEMENTED, "unsupported"),
        E::InDoubt(_) => (StatusCode::CONFLICT, "in-doubt"),
        E::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
        E::ReceiveTooLarge { .. } | E::Config(_) | E::Resource(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
        E::Journal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "journal"),
    };
    Problem::new(status, code, e.to_string())
}

/// A payment front's error as a problem.
pub fn from_pay(e: &okclink::pay::PayError) -> Problem {
    use okclink::pay::PayError as E;
    let (status, code) = match e {
        E::InvalidInput(_) => (StatusCode::BAD_REQUEST, "bad-request"),
        E::Unreachable(_) | E::Closed => (StatusCode::SERVICE_UNAVAILABLE, "device-unavailable"),
        E::Refused { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "rejected"),
        E::OutcomeUnknown(_) => (StatusCode::CONFLICT, "in-doubt"),
        E::Unsupported(_) => (StatusCode::NOT_IMPLEMENTED, "unsupported"),
        E::Protocol(_) => (StatusCode::BAD_GATEWAY, "protocol"),
        E::Config(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    Problem::new(status, code, e.to_string())
}

/// A journal error as a problem.
pub fn from_journal(e: &okclink::journal::JournalError) -> Problem {
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "journal", e.to_string())
}
