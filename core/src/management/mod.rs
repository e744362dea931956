//! The management protocol (SPEC §4), without IO.
//!
//! - [`frame`]: the wire frame and its compression and encryption.
//! - [`document`]: the JSON document, command and error codes.
//! - [`dispatch`]: the server's answer to a request, on a running configuration.
//! - [`handshake`]: the remote-management handshake, server and client side.

pub mod codes;
pub mod compress;
pub mod dispatch;
pub mod document;
pub mod frame;
pub mod handshake;

pub use codes::{Command, ErrorCode, Output};
pub use compress::{Compression, DecompressError};
pub use dispatch::{ConfigPaths, Context, ServerStatus, Transport, bad_payload, dispatch};
pub use document::{Document, DocumentError, Header, Object, Outcome, PROTOCOL_VERSION};
pub use frame::{Encryption, Frame, FrameError, OpenError, Sealing};
