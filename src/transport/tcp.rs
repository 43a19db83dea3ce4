//! TCP client link.
