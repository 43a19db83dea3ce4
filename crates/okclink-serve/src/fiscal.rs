//! `/v1/fiscal/*`: fiscal info, baskets (idempotent by basketID), receipts.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use okclink::hub::{basket_id_of, SendOutcome};
use okclink::journal::{Filter, Kind};
use serde::Deserialize;
use serde_json::Value;

use crate::app::App;
use crate::http::{blocking, json_body, query};
use crate::model::{BasketAccepted, BasketView, PaymentReply, Receipt, Receipts};
use crate::problem::from_hub;
use crate::Problem;

/// The longest `?wait=` (seconds).
pub const MAX_WAIT_S: f64 = 120.0;
/// The longest `?timeout_ms=` of the fiscal info.
pub const MAX_FISCAL_TIMEOUT_MS: u64 = 60_000;
/// How long a payment waits for the device's reply (a card payment at a 300TR may wait for
/// the customer).
pub const PAYMENT_REPLY_WAIT: Duration = Duration::from_secs(90);
/// The longest basketID (the journal's key limit).
pub const MAX_ID_LEN: usize = okclink::journal::MAX_KEY_LEN;

fn fiscal(app: &App) -> Result<&crate::app::Fiscal, Problem> {
    app.fiscal
        .as_ref()
        .ok_or_else(|| Problem::not_configured("fiscal device"))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InfoQuery {
    /// How long to wait for the device (default: the configured fiscal timeout, max 60000).
    pub timeout_ms: Option<u64>,
}

/// The device's fiscal info, as the device sends it.
#[utoipa::path(get, path = "/v1/fiscal/info", tag = "fiscal", params(InfoQuery),
    responses((status = 200, description = "the fiscal info JSON object (sections, PLUs, header lines…)", body = Object),
              (status = 503, description = "device-unavailable / not-configured", body = Problem, content_type = "application/problem+json"),
              (status = 504, description = "timeout", body = Problem, content_type = "application/problem+json")))]
pub async fn info(
    State(app): State<Arc<App>>,
    q: Result<Query<InfoQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let q = query(q)?;
    let hub = fiscal(&app)?.hub.clone();
    let timeout = q
        .timeout_ms
        .map(|ms| Duration::from_millis(ms.min(MAX_FISCAL_TIMEOUT_MS)));
    let text = blocking(move || hub.fiscal_info(timeout))
        .await?
        .map_err(|e| from_hub(&e))?;
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok(Json(v).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Block up to this many seconds (max 120) for the sale info: 200 with the basket once it
    /// arrived, 202 if it did not.
    pub wait: Option<f64>,
}

/// Removes a basketID from the in-flight set when the request ends (also on cancel).
struct Inflight<'a>(&'a App, String);

impl Drop for Inflight<'_> {
    fn drop(&mut self) {
        self.0.shared.inflight.lock().remove(&self.1);
    }
}

fn accepted(basket_id: &str) -> Response {
    let url = format!("/v1/fiscal/baskets/{}", url_escape(basket_id));
    let body = BasketAccepted {
        basket_id: basket_id.to_string(),
        state: "sent".into(),
        url: url.clone(),
    };
    let mut r = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(v) = header::HeaderValue::from_str(&url) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Percent-encodes what is not an unreserved URL character.
fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn view(app: &Arc<App>, id: &str) -> Result<Option<BasketView>, Problem> {
    let (a, id) = (app.clone(), id.to_string());
    blocking(move || a.basket_view(&id)).await?
}

/// Waits for the sale info (or the deadline, or shutdown); the basket as it is then.
async fn wait_answer(
    app: &Arc<App>,
    id: &str,
    rx: tokio::sync::oneshot::Receiver<()>,
    wait: Duration,
) -> Result<Response, Problem> {
    let mut stop = app.shutdown_signal();
    tokio::select! {
        _ = tokio::time::timeout(wait, rx) => {}
        _ = stop.wait_for(|s| *s) => {}
    }
    app.shared.forget_waiters(id);
    match view(app, id).await? {
        Some(v) if v.state == "answered" => Ok(Json(v).into_response()),
        _ => Ok(accepted(id)),
    }
}

/// The basket's state once the hub returned (None: nothing changed — a known basket, a
/// basket refused before it reached the journal or the device).
fn state_after(r: &Result<SendOutcome, okclink::hub::HubError>) -> Option<&'static str> {
    use okclink::hub::HubError as E;
    match r {
        Ok(SendOutcome::Accepted) => Some("sent"),
        Ok(SendOutcome::NoDevice) | Err(E::NoDevice | E::Closed) => Some("not_sent"),
        Ok(SendOutcome::AckTimeout) | Err(E::Timeout) => Some("in_doubt"),
        Err(_) => None,
    }
}

fn wait_of(wait: Option<f64>) -> Result<Option<Duration>, Problem> {
    match wait {
        None => Ok(None),
        Some(s) if s.is_finite() && s >= 0.0 => {
            Ok(Some(Duration::from_secs_f64(s.min(MAX_WAIT_S))))
        }
        Some(_) => Err(Problem::bad_request("wait: a number of seconds >= 0")),
    }
}

fn in_doubt(v: &BasketView) -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "in-doubt",
        format!(
            "basket {:?} was sent before and its outcome is unknown: it is not sent again; its \
             sale info is delivered when the device or cloud reports it",
            v.basket_id
        ),
    )
}

/// Send a basket (idempotent by basketID).
#[utoipa::path(post, path = "/v1/fiscal/baskets", tag = "fiscal", params(WaitQuery),
    request_body(content = Object, description = "a basket (docs/BASKETS.md) with a basketID"),
    responses((status = 202, description = "sent; the sale info follows (event sale-info, or GET the URL)", body = BasketAccepted),
              (status = 200, description = "known basketID (not sent again), or answered within ?wait", body = BasketView),
              (status = 400, description = "invalid-json / bad-request", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "in-doubt", body = Problem, content_type = "application/problem+json"),
              (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
              (status = 503, description = "device-unavailable / not-configured", body = Problem, content_type = "application/problem+json")))]
pub async fn send_basket(
    State(app): State<Arc<App>>,
    q: Result<Query<WaitQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let q = query(q)?;
    let (text, v) = json_body(body, app.config.max_body())?;
    let id = match v.get("basketID") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= MAX_ID_LEN => s.clone(),
        _ => {
            return Err(Problem::bad_request(format!(
                "a basket needs a basketID (a string of 1 to {MAX_ID_LEN} bytes): it is the \
                 idempotency key"
            )))
        }
    };
    let wait = wait_of(q.wait)?;
    let hub = fiscal(&app)?.hub.clone();
    if let Some(known) = view(&app, &id).await? {
        match known.state.as_str() {
            "in_doubt" => return Err(in_doubt(&known)),
            // Nothing happened: it may be sent again.
            "not_sent" | "failed" => {}
            "answered" => return Ok(Json(known).into_response()),
            _ => match wait {
                Some(w) => {
                    let rx = app.shared.wait_for(&id);
                    return wait_answer(&app, &id, rx, w).await;
                }
                None => return Ok(Json(known).into_response()),
            },
        }
    }
    if !app.shared.inflight.lock().insert(id.clone()) {
        // The same basketID is being sent by another request right now.
        return match wait {
            Some(w) => {
                let rx = app.shared.wait_for(&id);
                wait_answer(&app, &id, rx, w).await
            }
            None => Ok(accepted(&id)),
        };
    }
    let guard = Inflight(&app, id.clone());
    let waiter = wait.map(|_| app.shared.wait_for(&id));
    // The basket's state event is published on the blocking thread as soon as the hub
    // returns (also when this request is cancelled meanwhile), before anything the device
    // reported about it in the meantime.
    let (a, bid) = (app.clone(), id.clone());
    let r = blocking(move || {
        let journal = a.journal.is_some();
        a.shared.begin_sending(&bid, journal);
        let r = hub.send_basket(&text);
        a.shared.end_sending(&bid, state_after(&r), journal);
        r
    })
    .await?;
    match r {
        Ok(SendOutcome::Accepted) => {}
        Ok(SendOutcome::NoDevice) => {
            return Err(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "device-unavailable",
                "no device is connected: the basket was not sent",
            ))
        }
        Ok(SendOutcome::AckTimeout) => {
            return Err(Problem::new(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                "the device did not acknowledge the basket in time: its outcome is unknown \
                 (in doubt); it is not sent again",
            ))
        }
        // Sent by a request a moment ago (journal: sent, no answer yet): its state.
        Err(okclink::hub::HubError::InDoubt(_)) => {
            drop(guard);
            return match view(&app, &id).await? {
                Some(v) if v.state == "in_doubt" => Err(in_doubt(&v)),
                Some(v) => match (waiter, wait) {
                    (Some(rx), Some(w)) if v.state != "answered" => {
                        wait_answer(&app, &id, rx, w).await
                    }
                    _ => Ok(Json(v).into_response()),
                },
                None => Ok(accepted(&id)),
            };
        }
        Err(e) => {
            app.shared.forget_waiters(&id);
            return Err(from_hub(&e));
        }
    }
    drop(guard);
    match (waiter, wait) {
        (Some(rx), Some(w)) => wait_answer(&app, &id, rx, w).await,
        _ => Ok(accepted(&id)),
    }
}

fn unsupported(detail: &str) -> Problem {
    Problem::new(StatusCode::NOT_IMPLEMENTED, "unsupported", detail)
}

/// Send one payment (or `{"isVoid":true}`) for the basket open at a 300TR.
#[utoipa::path(post, path = "/v1/fiscal/payments", tag = "fiscal", params(WaitQuery),
    request_body(content = Object, description = "one payment: {\"amount\":4250,\"description\":\"Nakit\",\"type\":1} (kuruş; docs/BASKETS.md), or {\"isVoid\":true}"),
    responses((status = 200, description = "the device's reply; with ?wait, the basket once the sale info arrived (a payment that completed the sale, or a void)", body = PaymentReply),
              (status = 400, description = "invalid-json / bad-request", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "rejected: the device refused it (its text in detail)", body = Problem, content_type = "application/problem+json"),
              (status = 501, description = "unsupported: not a 300TR (an X30TR or the TokenX cloud take payments inside the basket)", body = Problem, content_type = "application/problem+json"),
              (status = 503, description = "device-unavailable / not-configured", body = Problem, content_type = "application/problem+json"),
              (status = 504, description = "timeout: no acknowledgement or reply in time (outcome unknown)", body = Problem, content_type = "application/problem+json")))]
pub async fn send_payment(
    State(app): State<Arc<App>>,
    q: Result<Query<WaitQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let q = query(q)?;
    let (text, v) = json_body(body, app.config.max_body())?;
    if !v.is_object() {
        return Err(Problem::invalid_json(
            "a payment is a JSON object: {\"amount\":…,\"description\":…,\"type\":…} or \
             {\"isVoid\":true}",
        ));
    }
    let wait = wait_of(q.wait)?;
    let f = fiscal(&app)?;
    if f.cloud {
        return Err(unsupported(
            "the TokenX cloud takes payments inside the basket (paymentItems)",
        ));
    }
    if f.hub.active_device_index() == 0 {
        return Err(unsupported(
            "the connected device is an X30TR: it takes the payments inside the basket \
             (paymentItems); a void goes as a basket ({\"isVoid\":true})",
        ));
    }
    let hub = f.hub.clone();
    // One payment at a time: the device's reply names no request.
    let _one = app.shared.payments.lock().await;
    let rx = app.shared.expect_payment_reply();
    let r = blocking(move || hub.send_payment(&text)).await;
    let sent = match r {
        Ok(Ok(SendOutcome::Accepted)) => Ok(()),
        Ok(Ok(SendOutcome::NoDevice)) => Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "device-unavailable",
            "no device is connected: the payment was not sent",
        )),
        Ok(Ok(SendOutcome::AckTimeout)) => Err(Problem::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            "the device did not acknowledge the payment in time: its outcome is unknown",
        )),
        Ok(Err(e)) => Err(from_hub(&e)),
        Err(p) => Err(p),
    };
    if let Err(p) = sent {
        app.shared.forget_payment_reply();
        return Err(p);
    }
    let mut stop = app.shutdown_signal();
    let reply = tokio::select! {
        r = tokio::time::timeout(PAYMENT_REPLY_WAIT, rx) => r.ok().and_then(Result::ok),
        _ = stop.wait_for(|s| *s) => None,
    };
    app.shared.forget_payment_reply();
    let Some(reply) = reply else {
        return Err(Problem::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            "the device took the payment but did not answer it in time: its outcome is unknown \
             (the sale info follows if the sale completed)",
        ));
    };
    let t = reply.trim();
    let parsed = serde_json::from_str::<Value>(t).ok();
    let accepted = t == "OK"
        || parsed
            .as_ref()
            .is_some_and(|v| v.get("status").and_then(Value::as_i64) == Some(0));
    if !accepted {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "rejected",
            format!("the device refused the payment: {t}"),
        ));
    }
    let basket_id = basket_id_of(t);
    if let (Some(w), Some(id)) = (wait, &basket_id) {
        // Registered before looking: a sale info arriving in between still wakes it.
        let rx = app.shared.wait_for(id);
        let done = |v: &Option<BasketView>| v.as_ref().is_some_and(|v| v.sale_info.is_some());
        let mut now = view(&app, id).await?;
        if !done(&now) {
            tokio::select! {
                _ = tokio::time::timeout(w, rx) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
            now = view(&app, id).await?;
        }
        app.shared.forget_waiters(id);
        if let Some(v) = now.filter(|v| v.sale_info.is_some()) {
            return Ok(Json(v).into_response());
        }
    }
    Ok(Json(PaymentReply {
        basket_id,
        reply: parsed.unwrap_or_else(|| Value::String(t.to_string())),
    })
    .into_response())
}

/// A basket's state and sale info.
#[utoipa::path(get, path = "/v1/fiscal/baskets/{basketID}", tag = "fiscal",
    params(("basketID" = String, Path, description = "the basket's id")),
    responses((status = 200, body = BasketView),
              (status = 404, description = "unknown-basket", body = Problem, content_type = "application/problem+json")))]
pub async fn get_basket(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    match view(&app, &id).await? {
        Some(v) => Ok(Json(v).into_response()),
        None => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-basket",
            format!("no basket {id:?} is known"),
        )),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReceiptsQuery {
    /// How many (default 20, max 500).
    pub limit: Option<usize>,
}

/// The newest receipts (sale infos), newest first.
#[utoipa::path(get, path = "/v1/fiscal/receipts", tag = "fiscal", params(ReceiptsQuery),
    responses((status = 200, body = Receipts)))]
pub async fn receipts(
    State(app): State<Arc<App>>,
    q: Result<Query<ReceiptsQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let limit = query(q)?.limit.unwrap_or(20).clamp(1, 500);
    let a = app.clone();
    let list = blocking(move || -> Result<Vec<Receipt>, Problem> {
        let Some(j) = &a.journal else {
            let r = a.shared.receipts.lock();
            return Ok(r
                .iter()
                .take(limit)
                .map(|(at, text)| Receipt::from_sale("", *at, text))
                .collect());
        };
        let entries = j
            .list(&Filter {
                kind: Some(Kind::Receipt),
                limit: Some(limit),
                ..Filter::default()
            })
            .map_err(|e| crate::problem::from_journal(&e))?;
        Ok(entries
            .iter()
            .rev()
            .filter_map(|e| {
                let text = e.result.as_deref()?;
                Some(Receipt::from_sale(
                    &e.key,
                    e.answered_at.unwrap_or(e.created_at),
                    text,
                ))
            })
            .collect())
    })
    .await??;
    Ok(Json(Receipts { receipts: list }).into_response())
}
