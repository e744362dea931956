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
//! ```text
//! remote only: ServerHandshake::new(&admins, tls, now, authentication_timeout, nonce)
//!              drive it until ServerEvent::Authenticated (StartTls: wrap in TLS, then
//!              tls_established; Refused or an error: send what is queued and close);
//!              buf = take_remaining()
//! read until frame::decode(&mut buf) gives a Frame (bounded; Ok(None) = read more)
//! json = frame::open(&frame, master_key)            error: answer bad_payload(timestamp)
//! request = Document::parse(&json)                  error: answer bad_payload(timestamp)
//! answer = dispatch(&mut context, &request, transport, timestamp, elapsed)
//! frame::encode(&mut out, &answer.to_json(), request.header.compression,
//!               request.header.encryption, sealing with fresh salt and IV)
//! write out, close
//! ```
//!
//! A client does the reverse: [`handshake::ClientHandshake`] (remote only), then
//! [`Document::request`] → [`frame::encode`] → write; read → [`frame::decode`] →
//! [`frame::open`] → [`Document::parse`], and the exit status follows
//! [`Outcome::is_success`].

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

pub use codes::{Command, ErrorCode, Output};
pub use compress::{Compression, DecompressError};
pub use dispatch::{ConfigPaths, Context, ServerStatus, Transport, bad_payload, dispatch};
pub use document::{Document, DocumentError, Header, Object, Outcome, PROTOCOL_VERSION};
pub use frame::{Encryption, Frame, FrameError, OpenError, Sealing};
pub use session::{CloseReason, REFUSAL_DELAY, SealRandom, Session, SessionEvent};
