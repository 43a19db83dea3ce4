//! `/v1/payment/*`: the card terminal. Without one every path answers 503 `not-configured`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::Json;
use okclink::pay::{PayError, PaymentRequest, PaymentResult, Terminal};
use serde_json::{json, Value};

use crate::app::{App, Payment};
use crate::http::{blocking, typed_body};
use crate::model::PaymentBody;
use crate::problem::from_pay;
use crate::Problem;

fn payment(app: &App) -> Result<&Payment, Problem> {
    app.payment
        .as_ref()
        .ok_or_else(|| Problem::not_configured("payment terminal"))
}

/// Runs a terminal call off the runtime, counted as busy; a result is published as a
/// `payment-result` event.
async fn call<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&Terminal) -> Result<T, PayError> + Send + 'static,
) -> Result<T, Problem> {
    let p = payment(app)?;
    let t = p.terminal.clone();
    p.busy.fetch_add(1, Ordering::SeqCst);
    let r = blocking(move || f(&t)).await;
    p.busy.fetch_sub(1, Ordering::SeqCst);
    r?.map_err(|e| from_pay(&e))
}

async fn publish_result(app: &Arc<App>, r: &PaymentResult) -> Value {
    let v = r.to_json();
    let (a, text) = (app.clone(), v.to_string());
    let _ = blocking(move || a.events().publish("payment-result", text)).await;
    v
}

fn request(app: &App, body: PaymentBody) -> Result<PaymentRequest, Problem> {
    let p = payment(app)?;
    let reference = body
        .reference
        .unwrap_or_else(|| format!("srv-{}-{}", okclink::journal::now_ms(), uuid_like()));
    Ok(PaymentRequest {
        amount: body.amount,
        currency: body.currency.unwrap_or_else(|| p.currency.clone()),
        reference,
    })
}

/// A few random-enough digits for a generated reference (time + a counter).
fn uuid_like() -> u64 {
    use std::sync::atomic::AtomicU64;
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed) % 100_000
}

async fn money(
    app: Arc<App>,
    body: Result<Bytes, BytesRejection>,
    refund: bool,
) -> Result<Json<Value>, Problem> {
    let req = request(&app, typed_body(body, app.config.max_body())?)?;
    let r = call(
        &app,
        move |t| {
            if refund {
                t.refund(&req)
            } else {
                t.pay(&req)
            }
        },
    )
    .await?;
    Ok(Json(publish_result(&app, &r).await))
}

/// A card payment (idempotent by reference).
#[utoipa::path(post, path = "/v1/payment/sales", tag = "payment", request_body = PaymentBody,
    responses((status = 200, description = "the payment result (approved or declined)", body = Object),
              (status = 503, description = "not-configured / device-unavailable", body = Problem, content_type = "application/problem+json")))]
pub async fn sale(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Problem> {
    money(app, body, false).await
}

/// A refund to a card (idempotent by reference).
#[utoipa::path(post, path = "/v1/payment/refunds", tag = "payment", request_body = PaymentBody,
    responses((status = 200, description = "the refund result", body = Object),
              (status = 503, description = "not-configured / device-unavailable", body = Problem, content_type = "application/problem+json")))]
pub async fn refund(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Problem> {
    money(app, body, true).await
}

/// Reverse the last transaction.
#[utoipa::path(post, path = "/v1/payment/reversals", tag = "payment",
    responses((status = 200, description = "the reversal result", body = Object),
              (status = 503, description = "not-configured", body = Problem, content_type = "application/problem+json")))]
pub async fn reversal(State(app): State<Arc<App>>) -> Result<Json<Value>, Problem> {
    let r = call(&app, |t| t.reverse_last()).await?;
    Ok(Json(publish_result(&app, &r).await))
}

/// Abort the payment in progress.
#[utoipa::path(post, path = "/v1/payment/abort", tag = "payment",
    responses((status = 200, description = "{\"aborted\":true}", body = Object),
              (status = 503, description = "not-configured", body = Problem, content_type = "application/problem+json")))]
pub async fn abort(State(app): State<Arc<App>>) -> Result<Json<Value>, Problem> {
    // Not counted as busy: it runs beside the call it aborts.
    let t = payment(&app)?.terminal.clone();
    blocking(move || t.abort())
        .await?
        .map_err(|e| from_pay(&e))?;
    Ok(Json(json!({"aborted": true})))
}

/// The result of the transaction with this reference (asks the terminal; sends nothing).
#[utoipa::path(get, path = "/v1/payment/transactions/{reference}", tag = "payment",
    params(("reference" = String, Path, description = "the payment's reference")),
    responses((status = 200, description = "the transaction's result", body = Object),
              (status = 503, description = "not-configured", body = Problem, content_type = "application/problem+json")))]
pub async fn transaction(
    State(app): State<Arc<App>>,
    Path(reference): Path<String>,
) -> Result<Json<Value>, Problem> {
    let r = call(&app, move |t| t.status(Some(&reference))).await?;
    Ok(Json(r.to_json()))
}

/// Close the batch (settlement).
#[utoipa::path(post, path = "/v1/payment/batch-close", tag = "payment",
    responses((status = 200, description = "{\"result\": the terminal's answer}", body = Object),
              (status = 503, description = "not-configured", body = Problem, content_type = "application/problem+json")))]
pub async fn batch_close(State(app): State<Arc<App>>) -> Result<Json<Value>, Problem> {
    let r = call(&app, |t| t.batch_close()).await?;
    Ok(Json(json!({"result": r})))
}
