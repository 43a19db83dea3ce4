//! nexo Retailer 3.1 messages (see mod.rs).
