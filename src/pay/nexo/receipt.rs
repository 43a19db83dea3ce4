//! Swedbank Pay receipts (Base64 JSON) (see mod.rs).
