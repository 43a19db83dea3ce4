//! `/v1/energy/orders*`: Token X Energy fuel orders. Without Energy every path answers 503
//! `not-configured`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use okclink::energy::{
    card_result_from_json, EnergyError, OrderFilter, OrderState, Orders, Pick, Tender, UnlockReason,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::App;
use crate::http::{blocking, query, typed_body};
use crate::Problem;

fn orders(app: &App) -> Result<Arc<Orders>, Problem> {
    app.energy
        .clone()
        .ok_or_else(|| Problem::not_configured("Energy client"))
}

fn problem(e: &EnergyError) -> Problem {
    let (status, code) = match e {
        EnergyError::InvalidInput(_) => (StatusCode::BAD_REQUEST, "bad-request"),
        EnergyError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
        EnergyError::Ambiguous(_) => (StatusCode::CONFLICT, "ambiguous"),
        // The cloud does not know the order (its 404, "No record found").
        EnergyError::Cloud { http: 404, .. } => (StatusCode::NOT_FOUND, "not-found"),
        EnergyError::Cloud { .. } => (StatusCode::CONFLICT, "rejected"),
        EnergyError::LockExpired(_) => (StatusCode::CONFLICT, "lock-expired"),
        EnergyError::InDoubt(_) => (StatusCode::CONFLICT, "in-doubt"),
        EnergyError::Unreachable(_) | EnergyError::Closed => {
            (StatusCode::SERVICE_UNAVAILABLE, "device-unavailable")
        }
        EnergyError::Protocol(_) => (StatusCode::BAD_GATEWAY, "protocol"),
        EnergyError::Config(_) | EnergyError::Journal(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    };
    Problem::new(status, code, e.to_string())
}

/// Runs an Energy call off the runtime; the order it returns is published as an
/// `energy-order` event.
async fn call(
    app: &Arc<App>,
    publish: bool,
    f: impl FnOnce(&Orders) -> Result<Value, EnergyError> + Send + 'static,
) -> Result<Json<Value>, Problem> {
    let o = orders(app)?;
    let v = blocking(move || f(&o)).await?.map_err(|e| problem(&e))?;
    if publish {
        let (a, text) = (app.clone(), v.to_string());
        let _ = blocking(move || a.events().publish("energy-order", text)).await;
    }
    Ok(Json(v))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrdersQuery {
    pub plate: Option<String>,
    pub pump: Option<u32>,
    /// Comma-separated: OPEN, LOCKED, PAID, COMPLETED (default: all).
    pub status: Option<String>,
}

/// The order summaries.
#[utoipa::path(get, path = "/v1/energy/orders", tag = "energy", params(OrdersQuery),
    responses((status = 200, description = "{\"orders\":[…]}", body = Object),
              (status = 503, description = "not-configured", body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(app): State<Arc<App>>,
    q: Result<Query<OrdersQuery>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let q = query(q)?;
    let mut f = OrderFilter {
        plate: q.plate,
        pump_no: q.pump,
        ..OrderFilter::default()
    };
    for part in q.status.iter().flat_map(|s| s.split(',')) {
        if part.trim().is_empty() {
            continue;
        }
        f.states.push(OrderState::parse(part).ok_or_else(|| {
            Problem::bad_request(format!("status {part:?}: OPEN, LOCKED, PAID or COMPLETED"))
        })?);
    }
    call(&app, false, move |o| {
        let l = o.list(&f)?;
        Ok(json!({"orders": l.iter().map(|x| x.to_json()).collect::<Vec<_>>()}))
    })
    .await
}

/// One order.
#[utoipa::path(get, path = "/v1/energy/orders/{id}", tag = "energy",
    params(("id" = String, Path, description = "the order id")),
    responses((status = 200, description = "the order", body = Object),
              (status = 503, description = "not-configured", body = Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    call(&app, false, move |o| o.get(&id).map(|x| x.to_json())).await
}

/// `lock` / `unlock` / `pay` / `sell` bodies (every field optional).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct OrderAction {
    /// lock, pay, sell: the payment's idempotency key (sell: a fresh one when missing).
    pub payment_id: Option<String>,
    /// unlock: PAYMENT_FAILED, CANCELLED (default) or TIMEOUT.
    pub reason: Option<String>,
    /// pay: a cash payment.
    pub cash: bool,
    /// pay: the card payment's result (as `POST /v1/payment/sales` returned it).
    #[schema(value_type = Option<Object>)]
    pub card_result: Option<Value>,
}

fn action(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<OrderAction, Problem> {
    match &body {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(OrderAction::default()),
        _ => typed_body(body, limit),
    }
}

/// An operation on one order: `lock`, `unlock`, `pay` or `sell` (sell: lock → card payment on
/// the configured terminal → pay → wait for the pump's completion, or unlock).
#[utoipa::path(post, path = "/v1/energy/orders/{id}/{op}", tag = "energy",
    params(("id" = String, Path, description = "the order id"),
           ("op" = String, Path, description = "lock, unlock, pay or sell")),
    request_body = OrderAction,
    responses((status = 200, description = "the lock, order, payment or sale outcome", body = Object),
              (status = 409, description = "rejected / in-doubt / lock-expired", body = Problem, content_type = "application/problem+json"),
              (status = 503, description = "not-configured", body = Problem, content_type = "application/problem+json")))]
pub async fn operate(
    State(app): State<Arc<App>>,
    Path((id, op)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Problem> {
    orders(&app)?;
    let a = action(body, app.config.max_body())?;
    match op.as_str() {
        "lock" => {
            call(&app, true, move |o| {
                match &a.payment_id {
                    Some(p) => o.lock_sale(&id, p),
                    None => o.lock(&id),
                }
                .map(|l| l.to_json())
            })
            .await
        }
        "unlock" => {
            let reason = match &a.reason {
                None => UnlockReason::Cancelled,
                Some(r) => UnlockReason::parse(r).ok_or_else(|| {
                    Problem::bad_request(format!(
                        "reason {r:?}: PAYMENT_FAILED, CANCELLED or TIMEOUT"
                    ))
                })?,
            };
            call(&app, true, move |o| {
                o.unlock_id(&id, reason).map(|x| x.to_json())
            })
            .await
        }
        "pay" => {
            let pid = a.payment_id.clone().ok_or_else(|| {
                Problem::bad_request("pay needs a paymentId (the idempotency key)")
            })?;
            let tender = match (a.cash, &a.card_result) {
                (true, None) => Tender::Cash,
                (false, Some(v)) => Tender::Card(Box::new(
                    card_result_from_json(v).map_err(Problem::bad_request)?,
                )),
                _ => {
                    return Err(Problem::bad_request(
                        "pay needs \"cash\": true or a cardResult",
                    ))
                }
            };
            call(&app, true, move |o| {
                let p = o.lock_and_pay(&id, &pid, &tender)?;
                Ok(json!({"paymentId": p.payment_id, "replayed": p.replayed,
                          "order": p.order.to_json()}))
            })
            .await
        }
        "sell" => {
            let t = app
                .payment
                .as_ref()
                .map(|p| p.terminal.clone())
                .ok_or_else(|| Problem::not_configured("payment terminal (sell needs one)"))?;
            call(&app, true, move |o| {
                o.sell(&Pick::Order(id), &t, a.payment_id.as_deref())
                    .map(|s| s.to_json())
            })
            .await
        }
        other => Err(Problem::not_found(format!(
            "no order operation {other:?} (lock, unlock, pay, sell)"
        ))),
    }
}
