//! The fiscal front under its historical name (`okclink::hub::Hub` is what the C API, the
//! CLI and existing Rust users import): the same items as [`crate::fiscal`].

pub use crate::fiscal::*;
