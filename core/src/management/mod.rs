//! The management protocol (SPEC §4), without IO.
//!
//! - [`frame`]: the wire frame and its compression and encryption.
//! - [`document`]: the JSON document, command and error codes.
//! - [`dispatch`]: the server's answer to a request, on a running configuration.
//! - [`handshake`]: the remote-management handshake, server and client side.

pub mod compress;
pub mod frame;

pub use compress::{Compression, DecompressError};
pub use frame::{Encryption, Frame, FrameError, OpenError, Sealing};
