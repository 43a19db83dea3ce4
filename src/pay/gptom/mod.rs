//! GP tom (Global Payments) over the GP tom Cloud API: the POS creates *tasks* in GP tom's
//! cloud (`POST /v1/tasks/TRANSACTION`, `…/BATCH`); the GP tom app on the terminal runs them;
//! the POS reads the task until it is finished (`GET /v1/tasks/{id}`).
//!
//! - `api`: the requests and answers as values, the polling rules, the cancellation rules and
//!   the result mapping (sans-IO, always built); `api::assumptions` holds every name the
//!   published documentation does not give readably.
//! - `client`: the HTTP client (reqwest) with the OAuth token cache.
//! - `backend`: the [`PaymentBackend`](crate::pay::PaymentBackend) on its own small runtime.

pub mod api;
#[cfg(feature = "gptom")]
pub mod backend;
#[cfg(feature = "gptom")]
pub(crate) mod client;

pub use api::{GptomConfig, GptomTarget, GptomTiming};
