//! The `okc` command line's own code: argument parsing and file reading live here, not in
//! the libraries (`okclink`, `okclink-wire`, `okclink-sim`).

#![forbid(unsafe_code)]

#[cfg(feature = "energy")]
pub mod energy_cli;
pub mod inspect;
#[cfg(feature = "journal")]
pub mod journal_cli;
pub mod pay_cli;
#[cfg(feature = "serve")]
pub mod serve_cli;
pub mod sim_cli;
pub mod sim_cloud;
pub mod sim_terminal;
#[cfg(feature = "tokenx")]
pub mod tokenx_cli;
