//! `/v1/journal`: the journal's entries, read-only.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use okclink::journal::{format_time, parse_time, Entry, Filter, Journal, JournalError};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::App;
use crate::http::{blocking, query};
use crate::problem::from_journal;
use crate::Problem;

/// An entry with its history, as `okc journal show --json` prints it.
pub fn entry_with_history(j: &Journal, e: &Entry) -> Result<Value, JournalError> {
    let mut v = e.to_json();
    v["history"] = j
        .history(e.id)?
        .iter()
        .map(|h| json!({"at": format_time(h.at), "event": h.event, "note": h.note}))
        .collect();
    Ok(v)
}

fn journal(app: &App) -> Result<Arc<Journal>, Problem> {
    app.journal
        .clone()
        .ok_or_else(|| Problem::not_configured("journal"))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JournalQuery {
    /// basket, receipt, payment, refund, reversal, fiscal_payment, energy_lock, energy_pay
    pub kind: Option<String>,
    /// recorded, sent, answered, in_doubt, not_sent, failed
    pub state: Option<String>,
    /// Created at or after (RFC 3339 or YYYY-MM-DD).
    pub since: Option<String>,
    /// The newest N (default 100, max 1000).
    pub limit: Option<usize>,
}

/// Journal entries, oldest first.
#[utoipa::path(get, path = "/v1/journal", tag = "journal", params(JournalQuery),
    responses((status = 200, description = "{\"entries\":[entry…]}", body = Object),
              (status = 400, description = "bad-request", body = Problem, content_type = "application/problem+json"),
              (status = 503, description = "not-configured", body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(app): State<Arc<App>>,
    q: Result<Query<JournalQuery>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let q = query(q)?;
    let j = journal(&app)?;
    let f = Filter {
        kind: q
            .kind
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(Problem::bad_request)?,
        state: q
            .state
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(Problem::bad_request)?,
        since: q
            .since
            .as_deref()
            .map(parse_time)
            .transpose()
            .map_err(Problem::bad_request)?,
        limit: Some(q.limit.unwrap_or(100).clamp(1, 1000)),
        scope: None,
    };
    let entries = blocking(move || j.list(&f))
        .await?
        .map_err(|e| from_journal(&e))?;
    Ok(Json(
        json!({"entries": entries.iter().map(Entry::to_json).collect::<Vec<_>>()}),
    ))
}

/// One entry with its history.
#[utoipa::path(get, path = "/v1/journal/{id}", tag = "journal",
    params(("id" = i64, Path, description = "the entry's id")),
    responses((status = 200, description = "the entry (okc journal show --json)", body = Object),
              (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json")))]
pub async fn show(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let j = journal(&app)?;
    let id: i64 = id
        .parse()
        .map_err(|_| Problem::bad_request(format!("{id:?} is not an entry id (a number)")))?;
    let v = blocking(move || -> Result<Option<Value>, JournalError> {
        match j.get_id(id)? {
            Some(e) => entry_with_history(&j, &e).map(Some),
            None => Ok(None),
        }
    })
    .await?
    .map_err(|e| from_journal(&e))?;
    v.map(Json).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no journal entry {id}"),
        )
    })
}
