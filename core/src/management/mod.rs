//! The management protocol (SPEC §4), without IO.
//!
//! - [`frame`]: the wire frame, with its compression ([`compress`]) and encryption.
//! - [`document`]: the JSON document; [`codes`]: command, output and error numbers.
//! - [`dispatch`]: the daemon's answer to a request, on the running configuration.
//! - [`handshake`]: the remote-management handshake, server and client side.
//! - [`text`]: how the client prints an answer; the `name`/`from_name` methods of the codes
//!   give the command-line words.
//!
//! # Serving one management connection
//!
//! [`Session`] is the connection, from accept to answer: the remote handshake (TLS on request,
//! SCRAM-SHA-256), the bounded request frame, opening and parsing it. Its one event is the
//! [`Request`]; whoever holds the running state answers it with [`dispatch`] and hands the
//! answer document back, which the session seals and sends.
//!
//! A client does the reverse: [`Document::request`] → [`frame::encode`], then
//! [`client::ClientExchange`] (the remote handshake first, when remote) sends it and reads the
//! answer frame; [`frame::open`] → [`Document::parse`], and the exit status follows
//! [`Outcome::is_success`].

pub mod client;
pub mod codes;
pub mod compress;
pub mod dispatch;
pub mod document;
#[cfg(test)]
mod fake_daemon;
pub mod frame;
pub mod handshake;
mod names;
pub mod session;
pub mod text;
pub mod throttle;

pub use codes::{Command, ErrorCode, Output};
pub use compress::{Compression, DecompressError};
pub use dispatch::{
    ConfigPaths, Dispatched, Effect, ReloadOutcome, ReloadStep, ServerStatus, Snapshot, Transport,
    bad_payload, dispatch, reload,
};
pub use document::{Document, DocumentError, Header, Object, Outcome, PROTOCOL_VERSION};
pub use frame::{Encryption, Frame, FrameError, OpenError, Sealing};
pub use session::{
    CloseReason, REFUSAL_DELAY, Request, SealRandom, Session, SessionEvent, SessionSettings,
};
pub use throttle::LoginThrottle;
