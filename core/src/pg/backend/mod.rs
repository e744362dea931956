//! Messages the server sends, and [`Message::parse`] which frames and decodes them.
//!
//! Every message is a type byte, a big-endian `i32` length that counts itself but not the type
//! byte, and a body. [`Message::parse`] checks the type byte and the declared length before
//! waiting for (or allocating) the body.

#[cfg(test)]
pub(crate) mod encode;
mod reader;
mod row;
mod server_error;

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

use reader::BodyReader;
pub use row::{Column, Row};
pub use server_error::ServerError;

/// The largest message length accepted, in bytes (64 MiB).
///
/// DataRow messages carry whole rows and may be large (a `pg_stat_statements` query text, a
/// JSON document), but nothing the exporter reads comes close; a larger declared length is
/// taken as a broken or hostile peer before anything is allocated.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024 * 1024;

/// The peer sent bytes that are not a valid backend message stream. The connection cannot
/// continue after one of these.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A message type byte that no backend message uses (or that this client never
    /// expects).
    #[error("unknown backend message type 0x{0:02x}")]
    UnknownMessageType(u8),
    /// A declared length below 4 or above [`MAX_MESSAGE_LEN`].
    #[error("backend message length {0} out of range")]
    InvalidLength(i32),
    /// A message whose body does not match its format.
    #[error("malformed {message} message: {problem}")]
    Malformed {
        /// The message type, e.g. `"DataRow"`.
        message: &'static str,
        /// What was wrong, e.g. `"truncated"`.
        problem: &'static str,
    },
    /// A well-formed message that is not allowed at this point of the conversation.
    #[error("unexpected {0} message")]
    Unexpected(&'static str),
    /// The answer to SSLRequest was neither `S`, `N` nor an ErrorResponse.
    #[error("invalid answer 0x{0:02x} to SSLRequest")]
    InvalidSslResponse(u8),
    /// The server sent bytes after accepting TLS and before the handshake: they could have been
    /// injected by a man in the middle, so they are refused.
    #[error("unencrypted data after the server accepted TLS")]
    DataAfterSslAccept,
}

/// The transaction status carried by ReadyForQuery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionStatus {
    /// Not in a transaction block (`I`).
    Idle,
    /// In a transaction block (`T`).
    InTransaction,
    /// In a failed transaction block (`E`); queries are refused until it ends.
    Failed,
}

/// An authentication request (`R` message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    /// Authentication succeeded.
    Ok,
    /// Send the password in clear text.
    CleartextPassword,
    /// Send `"md5" + md5hex(md5hex(password + user) + salt)`.
    Md5Password {
        /// The 4-byte salt.
        salt: [u8; 4],
    },
    /// Start a SASL exchange with one of `mechanisms`.
    Sasl {
        /// The mechanism names the server offers, e.g. `SCRAM-SHA-256`.
        mechanisms: Vec<String>,
    },
    /// The next server message of the SASL exchange.
    SaslContinue(Bytes),
    /// The final server message of the SASL exchange.
    SaslFinal(Bytes),
    /// A method this client does not implement (Kerberos, SCM credentials, GSSAPI, SSPI, ...).
    Unsupported {
        /// The protocol's code of the method, e.g. 7 for GSSAPI.
        code: i32,
    },
}

/// One message from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// An authentication request or result (`R`).
    Authentication(Authentication),
    /// A run-time parameter's current value (`S`), e.g. `server_version`.
    ParameterStatus {
        /// Parameter name.
        name: String,
        /// Parameter value.
        value: String,
    },
    /// Cancellation key data (`K`).
    BackendKeyData {
        /// Process id of the backend serving this connection.
        process_id: i32,
        /// Secret key for cancel requests.
        secret_key: i32,
    },
    /// The server is ready for a new query (`Z`).
    ReadyForQuery(TransactionStatus),
    /// The columns of the rows that follow (`T`).
    RowDescription(Vec<Column>),
    /// One row (`D`).
    DataRow(Row),
    /// A statement completed (`C`), with its command tag, e.g. `SELECT 3`.
    CommandComplete {
        /// The command tag.
        tag: String,
    },
    /// The query string was empty (`I`).
    EmptyQueryResponse,
    /// A Parse was accepted (`1`).
    ParseComplete,
    /// A Bind was accepted (`2`).
    BindComplete,
    /// A Close was done (`3`).
    CloseComplete,
    /// The described statement or portal returns no rows (`n`).
    NoData,
    /// The parameter types of a described statement (`t`), as type OIDs.
    ParameterDescription(Vec<u32>),
    /// An Execute stopped at its row limit before the portal was done (`s`).
    PortalSuspended,
    /// An error (`E`).
    ErrorResponse(ServerError),
    /// A notice or warning (`N`).
    NoticeResponse(ServerError),
    /// A `NOTIFY` on a channel this session listens to (`A`).
    NotificationResponse {
        /// Process id of the notifying backend.
        process_id: i32,
        /// Channel name.
        channel: String,
        /// Payload string.
        payload: String,
    },
    /// The server does not support the requested minor version or some `_pq_.` options (`v`).
    NegotiateProtocolVersion {
        /// Newest minor protocol version the server supports.
        newest_minor: i32,
        /// Options the server did not recognise.
        unrecognized_options: Vec<String>,
    },
}

impl Message {
    /// Takes one whole message from the front of `buf`.
    ///
    /// Returns `Ok(None)` and leaves `buf` untouched when it does not yet hold a whole message.
    /// Nothing is reserved for a declared length, so a peer that announces a large message and
    /// never sends it costs only the bytes it did send. Returns an error, without
    /// waiting for more bytes, as soon as the type byte or the declared length is invalid; after
    /// an error the stream cannot be resynchronised.
    pub fn parse(buf: &mut BytesMut) -> Result<Option<Message>, ProtocolError> {
        let Some(&tag) = buf.first() else {
            return Ok(None);
        };
        let name = message_name(tag).ok_or(ProtocolError::UnknownMessageType(tag))?;
        let Some(len_bytes) = buf.get(1..5) else {
            return Ok(None);
        };
        let declared = i32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        let len = usize::try_from(declared)
            .ok()
            .filter(|len| (4..=MAX_MESSAGE_LEN).contains(len))
            .ok_or(ProtocolError::InvalidLength(declared))?;
        let total = 1 + len;
        if buf.len() < total {
            return Ok(None);
        }
        let mut frame = buf.split_to(total).freeze();
        frame.advance(5);
        decode(tag, BodyReader::new(frame, name)).map(Some)
    }
}

impl Message {
    /// The protocol name of the message, e.g. `"DataRow"`, for error reports.
    pub fn name(&self) -> &'static str {
        match self {
            Message::Authentication(_) => "Authentication",
            Message::ParameterStatus { .. } => "ParameterStatus",
            Message::BackendKeyData { .. } => "BackendKeyData",
            Message::ReadyForQuery(_) => "ReadyForQuery",
            Message::RowDescription(_) => "RowDescription",
            Message::DataRow(_) => "DataRow",
            Message::CommandComplete { .. } => "CommandComplete",
            Message::EmptyQueryResponse => "EmptyQueryResponse",
            Message::ParseComplete => "ParseComplete",
            Message::BindComplete => "BindComplete",
            Message::CloseComplete => "CloseComplete",
            Message::NoData => "NoData",
            Message::ParameterDescription(_) => "ParameterDescription",
            Message::PortalSuspended => "PortalSuspended",
            Message::ErrorResponse(_) => "ErrorResponse",
            Message::NoticeResponse(_) => "NoticeResponse",
            Message::NotificationResponse { .. } => "NotificationResponse",
            Message::NegotiateProtocolVersion { .. } => "NegotiateProtocolVersion",
        }
    }
}

/// The protocol name of message type `tag`, or `None` for a type this client never receives.
fn message_name(tag: u8) -> Option<&'static str> {
    Some(match tag {
        b'R' => "Authentication",
        b'S' => "ParameterStatus",
        b'K' => "BackendKeyData",
        b'Z' => "ReadyForQuery",
        b'T' => "RowDescription",
        b'D' => "DataRow",
        b'C' => "CommandComplete",
        b'I' => "EmptyQueryResponse",
        b'1' => "ParseComplete",
        b'2' => "BindComplete",
        b'3' => "CloseComplete",
        b'n' => "NoData",
        b't' => "ParameterDescription",
        b's' => "PortalSuspended",
        b'E' => "ErrorResponse",
        b'N' => "NoticeResponse",
        b'A' => "NotificationResponse",
        b'v' => "NegotiateProtocolVersion",
        _ => return None,
    })
}

/// Decodes the body of a message of type `tag`.
fn decode(tag: u8, mut reader: BodyReader) -> Result<Message, ProtocolError> {
    let message = match tag {
        b'R' => Message::Authentication(decode_authentication(&mut reader)?),
        b'S' => Message::ParameterStatus {
            name: reader.cstr()?,
            value: reader.cstr()?,
        },
        b'K' => Message::BackendKeyData {
            process_id: reader.i32()?,
            secret_key: reader.i32()?,
        },
        b'Z' => Message::ReadyForQuery(match reader.u8()? {
            b'I' => TransactionStatus::Idle,
            b'T' => TransactionStatus::InTransaction,
            b'E' => TransactionStatus::Failed,
            _ => return Err(reader.malformed("unknown transaction status")),
        }),
        b'T' => return row::parse_row_description(reader).map(Message::RowDescription),
        b'D' => return Row::parse(reader.rest()).map(Message::DataRow),
        b'C' => Message::CommandComplete {
            tag: reader.cstr()?,
        },
        b'I' => Message::EmptyQueryResponse,
        b'1' => Message::ParseComplete,
        b'2' => Message::BindComplete,
        b'3' => Message::CloseComplete,
        b'n' => Message::NoData,
        b't' => {
            let count = reader.count16(4)?;
            let mut types = Vec::with_capacity(count);
            for _ in 0..count {
                types.push(reader.u32()?);
            }
            Message::ParameterDescription(types)
        }
        b's' => Message::PortalSuspended,
        b'E' => Message::ErrorResponse(ServerError::parse(&mut reader)?),
        b'N' => Message::NoticeResponse(ServerError::parse(&mut reader)?),
        b'A' => Message::NotificationResponse {
            process_id: reader.i32()?,
            channel: reader.cstr()?,
            payload: reader.cstr()?,
        },
        b'v' => {
            let newest_minor = reader.i32()?;
            let count = reader.count32(1)?;
            let mut unrecognized_options = Vec::with_capacity(count);
            for _ in 0..count {
                unrecognized_options.push(reader.cstr()?);
            }
            Message::NegotiateProtocolVersion {
                newest_minor,
                unrecognized_options,
            }
        }
        _ => return Err(ProtocolError::UnknownMessageType(tag)),
    };
    reader.finish()?;
    Ok(message)
}

/// Decodes the body of an Authentication message (everything after the type and length).
fn decode_authentication(reader: &mut BodyReader) -> Result<Authentication, ProtocolError> {
    Ok(match reader.i32()? {
        0 => Authentication::Ok,
        3 => Authentication::CleartextPassword,
        5 => Authentication::Md5Password {
            salt: [reader.u8()?, reader.u8()?, reader.u8()?, reader.u8()?],
        },
        10 => {
            let mut mechanisms = Vec::new();
            loop {
                let mechanism = reader.cstr()?;
                if mechanism.is_empty() {
                    break;
                }
                mechanisms.push(mechanism);
            }
            Authentication::Sasl { mechanisms }
        }
        11 => Authentication::SaslContinue(reader.rest()),
        12 => Authentication::SaslFinal(reader.rest()),
        code => {
            // GSSContinue (8) carries data; the others carry nothing. The caller refuses all
            // of them, so their bodies are not examined.
            reader.rest();
            Authentication::Unsupported { code }
        }
    })
}

#[cfg(test)]
mod tests;
