//! `/healthz`, `/readyz`, `/v1/status`, the console page and the fallback.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::app::App;
use crate::http::blocking;
use crate::model::{EnergyStatus, FiscalStatus, Health, JournalStatus, PaymentStatus, Status};
use crate::Problem;

/// 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "service", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// 200 once every configured front is open and its start-up recovery is over; 503
/// `not-ready` before and while shutting down.
#[utoipa::path(get, path = "/readyz", tag = "service",
    responses((status = 200, body = Health),
              (status = 503, description = "not-ready", body = Problem, content_type = "application/problem+json")))]
pub async fn readyz(State(app): State<Arc<App>>) -> Result<Json<Health>, Problem> {
    if app.is_ready() {
        Ok(Json(Health {
            status: "ready".into(),
        }))
    } else {
        Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            if app.is_shutting_down() {
                "shutting down"
            } else if !app.recovered() {
                "starting: the journal's recovery of unfinished baskets or payments is running"
            } else {
                "starting"
            },
        ))
    }
}

/// The fronts: fiscal device, payment terminal, Energy, journal.
#[utoipa::path(get, path = "/v1/status", tag = "service", responses((status = 200, body = Status)))]
pub async fn status(State(app): State<Arc<App>>) -> Result<Json<Status>, Problem> {
    let fiscal = app.fiscal.as_ref().map(|f| {
        let (connected, serial) = app.shared.device.lock().clone();
        let model = if f.cloud {
            Some("cloud".to_string())
        } else {
            match f.hub.active_device_index() {
                0 if connected => Some("X30TR".to_string()),
                1 if connected => Some("300TR".to_string()),
                _ => None,
            }
        };
        FiscalStatus {
            transport: f.label.clone(),
            connected,
            serial: (connected && !serial.is_empty()).then_some(serial),
            model,
        }
    });
    let payment = app.payment.as_ref().map(|p| PaymentStatus {
        transport: p.label.clone(),
        state: if p.busy.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            "busy"
        } else {
            "ready"
        }
        .into(),
    });
    let journal = match &app.journal {
        Some(j) => {
            let j = j.clone();
            let unfinished = blocking(move || j.unfinished().map(|v| v.len()))
                .await?
                .unwrap_or(0);
            app.journal.as_ref().map(|j| JournalStatus {
                path: j.path().display().to_string(),
                unfinished,
            })
        }
        None => None,
    };
    Ok(Json(Status {
        version: env!("CARGO_PKG_VERSION").into(),
        fiscal,
        payment,
        energy: app
            .energy
            .as_ref()
            .map(|_| EnergyStatus { configured: true }),
        journal,
    }))
}

const CONSOLE_HTML: &str = include_str!("../assets/console.html");
const CONSOLE_JS: &str = include_str!("../assets/console.js");
const CONSOLE_CSS: &str = include_str!("../assets/console.css");

/// The support console (HTML).
#[utoipa::path(get, path = "/", tag = "console", responses((status = 200, description = "the console page", content_type = "text/html", body = String)))]
pub async fn console() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        CONSOLE_HTML,
    )
        .into_response()
}

/// The console's assets.
#[utoipa::path(get, path = "/console/{file}", tag = "console",
    params(("file" = String, Path, description = "console.js or console.css")),
    responses((status = 200, description = "the asset", body = String),
              (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json")))]
pub async fn console_asset(Path(file): Path<String>) -> Response {
    let (ty, body) = match file.as_str() {
        "console.js" => ("text/javascript; charset=utf-8", CONSOLE_JS),
        "console.css" => ("text/css; charset=utf-8", CONSOLE_CSS),
        _ => return Problem::not_found(format!("no console file {file:?}")).into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, ty),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Any other path.
pub async fn fallback() -> Problem {
    Problem::not_found("no such path (GET /openapi.json lists them)")
}

/// A known path with another method.
pub async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this path does not take that method (GET /openapi.json lists them)",
    )
}
