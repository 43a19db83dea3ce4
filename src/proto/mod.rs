//! Sans-IO implementation of the Integration Hub wire protocol (WIRE.md).
//! No threads, no I/O: bytes in, bytes and events out, time passed in by the caller.

pub mod cert;
pub mod crc;
pub mod device;
pub mod frame;
pub mod fuzzing;
pub mod inspect;
pub mod message;
pub mod pipeline;
pub mod serial;
pub mod session;
pub mod stream;
