//! The PostgreSQL frontend/backend protocol (version 3.0), client side.
//!
//! - [`frontend`]: encoders for the messages a client sends.
//! - [`backend`]: [`Message::parse`] for the messages a server sends.
//! - [`Connection`]: the client state machine (SSLRequest, startup, authentication by trust,
//!   cleartext, MD5 or SCRAM-SHA-256, pipelined simple queries, Terminate).

pub mod backend;
mod connection;
pub mod frontend;

pub use backend::{
    Authentication, Column, MAX_MESSAGE_LEN, Message, ProtocolError, Row, ServerError,
    TransactionStatus,
};
pub use connection::{
    ConnectParams, Connection, Error, Event, QueryError, QueryId, QueryResult, TlsMode,
    UnsupportedAuth,
};
pub use frontend::EncodeError;
