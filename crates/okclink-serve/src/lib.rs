//! `okc serve`: one process that owns the configured fiscal device (wired or cloud), payment
//! terminal and Energy client, and offers them to web POS applications on a local HTTP
//! service — REST/JSON, errors as `application/problem+json`, Server-sent events resumable
//! from the journal, an OpenAPI document generated from the handlers (docs/SERVE.md).
//!
//! ```no_run
//! let cfg = okclink_serve::ServeConfig::from_json(r#"{"fiscal":{"transport":"sim"}}"#).unwrap();
//! let server = okclink_serve::Server::start(cfg).unwrap();
//! println!("http://{}", server.addr());
//! server.shutdown().unwrap();
//! ```

#![forbid(unsafe_code)]

pub mod app;
pub mod config;
mod energy;
pub mod events;
mod fiscal;
mod http;
mod journal;
pub mod model;
mod payment;
pub mod problem;
mod security;
mod system;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use utoipa::OpenApi;

pub use app::App;
pub use config::ServeConfig;
pub use journal::entry_with_history;
pub use problem::Problem;

/// How long a shutdown waits for requests in progress (a card payment may take a while)
/// before the process stops anyway; what is unanswered then stays in the journal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The OpenAPI document (generated from the handlers and their types).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "okc serve",
        description = "okclink's local HTTP service: fiscal device, payment terminal, Token X Energy, journal, events (docs/SERVE.md)."
    ),
    paths(
        system::healthz,
        system::readyz,
        system::status,
        system::console,
        system::console_asset,
        fiscal::info,
        fiscal::send_basket,
        fiscal::send_payment,
        fiscal::get_basket,
        fiscal::receipts,
        payment::sale,
        payment::refund,
        payment::reversal,
        payment::abort,
        payment::transaction,
        payment::batch_close,
        energy::list,
        energy::get,
        energy::operate,
        journal::list,
        journal::show,
        events::events,
        openapi,
    ),
    components(schemas(Problem, model::Status, model::BasketView, model::BasketAccepted, model::Receipts, model::PaymentReply)),
    modifiers(&BearerAuth),
    tags(
        (name = "service", description = "health, readiness, status"),
        (name = "fiscal", description = "the fiscal device (ÖKC or TokenX cloud)"),
        (name = "payment", description = "the card terminal"),
        (name = "energy", description = "Token X Energy fuel orders"),
        (name = "journal", description = "the journal, read-only"),
        (name = "events", description = "Server-sent events"),
        (name = "console", description = "the support console")
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "service",
    responses((status = 200, description = "the OpenAPI 3.1 document", body = Object)))]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// Every route of the service over `app`.
pub fn router(app: Arc<App>) -> Router {
    let limit = app.config.max_body();
    Router::new()
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz))
        .route("/v1/status", get(system::status))
        .route("/v1/fiscal/info", get(fiscal::info))
        .route("/v1/fiscal/baskets", post(fiscal::send_basket))
        .route("/v1/fiscal/baskets/{id}", get(fiscal::get_basket))
        .route("/v1/fiscal/payments", post(fiscal::send_payment))
        .route("/v1/fiscal/receipts", get(fiscal::receipts))
        .route("/v1/payment/sales", post(payment::sale))
        .route("/v1/payment/refunds", post(payment::refund))
        .route("/v1/payment/reversals", post(payment::reversal))
        .route("/v1/payment/abort", post(payment::abort))
        .route(
            "/v1/payment/transactions/{reference}",
            get(payment::transaction),
        )
        .route("/v1/payment/batch-close", post(payment::batch_close))
        .route("/v1/energy/orders", get(energy::list))
        .route("/v1/energy/orders/{id}", get(energy::get))
        .route("/v1/energy/orders/{id}/{op}", post(energy::operate))
        .route("/v1/journal", get(journal::list))
        .route("/v1/journal/{id}", get(journal::show))
        .route("/events", get(events::events))
        .route("/openapi.json", get(openapi))
        .route("/", get(system::console))
        .route("/console/{file}", get(system::console_asset))
        .fallback(system::fallback)
        .method_not_allowed_fallback(system::method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            security::require_token,
        ))
        .layer(middleware::from_fn_with_state(app.clone(), security::cors))
        .with_state(app)
}

/// A running service: its own tokio runtime on the `okc-serve` threads.
pub struct Server {
    addr: SocketAddr,
    app: Arc<App>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

/// Waits for `stop` or, with `signals`, SIGINT / SIGTERM (Ctrl-C / Ctrl-Break on Windows).
async fn stop_requested(stop: tokio::sync::oneshot::Receiver<()>, signals: bool) {
    if !signals {
        let _ = stop.await;
        return;
    }
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("okc serve: SIGTERM not handled: {e}");
                let _ = stop.await;
                return;
            }
        };
        tokio::select! {
            _ = stop => {}
            _ = tokio::signal::ctrl_c() => eprintln!("okc serve: SIGINT: shutting down"),
            _ = term.recv() => eprintln!("okc serve: SIGTERM: shutting down"),
        }
    }
    #[cfg(not(unix))]
    tokio::select! {
        _ = stop => {}
        _ = tokio::signal::ctrl_c() => eprintln!("okc serve: Ctrl-C: shutting down"),
    }
}

impl Server {
    /// Checks the configuration (a non-loopback address needs a token), opens the fronts,
    /// binds and serves in the background.
    pub fn start(cfg: ServeConfig) -> Result<Server, String> {
        let addr = cfg.check()?;
        let signals = cfg.handle_signals;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("okc-serve")
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))?;
        // Bound here (std): a busy port fails `start`, which may be called from anywhere,
        // also from inside another runtime.
        let std_listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|_| l))
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let addr = std_listener
            .local_addr()
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let app = App::open(cfg)?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let routes = router(app.clone());
        let a = app.clone();
        let thread = std::thread::Builder::new()
            .name("okc-serve".into())
            .spawn(move || {
                let r = rt.block_on(async {
                    let listener = tokio::net::TcpListener::from_std(std_listener)
                        .map_err(|e| format!("cannot listen: {e}"))?;
                    let a2 = a.clone();
                    let graceful = async move {
                        stop_requested(stop_rx, signals).await;
                        a2.begin_shutdown();
                    };
                    let mut stopping = a.shutdown_signal();
                    let serve = axum::serve(listener, routes).with_graceful_shutdown(graceful);
                    tokio::select! {
                        r = serve => r.map_err(|e| e.to_string()),
                        _ = async {
                            let _ = stopping.wait_for(|s| *s).await;
                            tokio::time::sleep(SHUTDOWN_GRACE).await;
                        } => Err(format!(
                            "requests still running after {} s were cut off",
                            SHUTDOWN_GRACE.as_secs()
                        )),
                    }
                });
                // Requests have ended: close the fronts (their threads, the journal's last
                // writes) off the runtime.
                a.close_fronts();
                rt.shutdown_timeout(Duration::from_secs(2));
                r
            })
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        Ok(Server {
            addr,
            app,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The bound address (the port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Runs until stopped (by a signal with `handle_signals`), then shuts down.
    pub fn wait(mut self) -> Result<(), String> {
        self.join()
    }

    /// Graceful shutdown: no new requests, event streams end, requests in progress finish
    /// (bounded by [`SHUTDOWN_GRACE`]), the fronts close.
    pub fn shutdown(mut self) -> Result<(), String> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.join()
    }

    fn join(&mut self) -> Result<(), String> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| "the server thread panicked".to_string())?,
            None => Ok(()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.join();
    }
}
