//! The ÖKC device simulator.
