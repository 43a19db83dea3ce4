//! In-memory link pair.
