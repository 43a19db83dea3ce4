//! Helpers of the handlers: blocking calls off the runtime, bodies and queries as problems.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::Query;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Problem;

/// Runs a front's synchronous call on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Problem> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Problem::internal(format!("the call failed: {e}")))
}

/// A request body (limited by `DefaultBodyLimit`) as JSON text and value.
pub fn json_body(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<(String, Value), Problem> {
    let bytes = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(Problem::payload_too_large(limit))
        }
        Err(e) => return Err(Problem::bad_request(e.body_text())),
    };
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| Problem::invalid_json("the body is not UTF-8 text"))?;
    let v = serde_json::from_str::<Value>(&text)
        .map_err(|e| Problem::invalid_json(format!("the body is not valid JSON: {e}")))?;
    Ok((text, v))
}

/// A typed JSON body.
pub fn typed_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<T, Problem> {
    let (_, v) = json_body(body, limit)?;
    serde_json::from_value(v).map_err(|e| Problem::bad_request(format!("the body: {e}")))
}

/// A query string, or a `bad-request` problem.
pub fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, Problem> {
    q.map(|Query(t)| t)
        .map_err(|e| Problem::bad_request(e.body_text()))
}
