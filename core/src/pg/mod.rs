//! The PostgreSQL frontend/backend protocol (version 3.0), client side.
//!
//! - [`frontend`]: encoders for the messages a client sends.
//! - [`backend`]: [`Message::parse`] for the messages a server sends.
//! - [`server`]: the few server-side messages remote management needs.
//! - [`Connection`]: the client state machine (SSLRequest, startup, authentication by trust,
//!   cleartext, MD5 or SCRAM-SHA-256, pipelined simple queries and executions of named
//!   prepared statements, Terminate).
//!
//! # Driving a connection
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! use bytes::BytesMut;
//! use pgexporter_core::machine::Machine;
//! use pgexporter_core::pg::{ConnectParams, Connection, Event, TlsMode};
//!
//! let now = Instant::now();
//! let params = ConnectParams {
//!     user: "postgres".into(),
//!     database: "postgres".into(),
//!     password: None,
//!     application_name: "pgexporter".into(),
//!     tls: TlsMode::Off,
//!     options: Vec::new(),
//!     connect_timeout: Duration::from_secs(5),
//! };
//! // The nonce is used only for SCRAM; take it from a random source.
//! let mut connection = Connection::new(params, now, [0; 18]);
//! let query = connection.query("SELECT 1");
//!
//! let mut to_server = BytesMut::new();
//! while connection.poll_transmit(&mut to_server) {}
//! assert!(!to_server.is_empty()); // the StartupMessage: write it to the socket
//!
//! // What a trust-authenticating server answers: AuthenticationOk, ReadyForQuery.
//! connection.handle_input(now, b"R\0\0\0\x08\0\0\0\0Z\0\0\0\x05I");
//! assert_eq!(connection.poll_event(), Some(Event::Ready));
//! to_server.clear();
//! while connection.poll_transmit(&mut to_server) {}
//! assert_eq!(&to_server[..], b"Q\0\0\0\x0dSELECT 1\0"); // the queued query goes out
//!
//! // CommandComplete and ReadyForQuery finish the query.
//! connection.handle_input(now, b"C\0\0\0\x0dSELECT 0\0Z\0\0\0\x05I");
//! match connection.poll_event() {
//!     Some(Event::QueryDone { id, result }) => {
//!         assert_eq!(id, query);
//!         assert_eq!(result?.command_tag, "SELECT 0");
//!     }
//!     other => panic!("unexpected {other:?}"),
//! }
//!
//! // Terminate goes out; the session is over once the server has closed its end.
//! connection.terminate(now);
//! to_server.clear();
//! while connection.poll_transmit(&mut to_server) {}
//! assert_eq!(&to_server[..], b"X\0\0\0\x04");
//! assert_eq!(connection.poll_event(), None);
//! connection.handle_eof(now);
//! assert_eq!(connection.poll_event(), Some(Event::Closed { error: None }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod backend;
mod connection;
pub mod frontend;
pub mod server;

pub use backend::{
    Authentication, Column, MAX_MESSAGE_LEN, Message, ProtocolError, Row, ServerError,
    TransactionStatus,
};
pub use connection::{
    CancelKey, ConnectParams, Connection, Error, Event, QueryError, QueryId, QueryResult,
    TERMINATE_TIMEOUT, TlsMode, UnsupportedAuth,
};
pub use frontend::EncodeError;
