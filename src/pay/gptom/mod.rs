//! GP tom (Global Payments) over the GP tom Cloud API: the POS creates *tasks* in GP tom's
//! cloud; the GP tom app on the terminal runs them.
//!
//! - `api`: the requests and answers as values (sans-IO); `api::assumptions` holds every
//!   name the published documentation does not give readably.

pub mod api;

pub use api::{GptomConfig, GptomTarget, GptomTiming};
