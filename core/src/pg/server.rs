//! The few server-side messages remote management needs: parsers for what a client sends
//! during startup and SASL authentication, and encoders for the server's answers.
//!
//! Parsers take one whole message off the front of a buffer and return `Ok(None)`, leaving
//! the buffer untouched, while it is incomplete. A declared length is checked against a fixed
//! limit before anything is reserved.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

/// The largest startup packet accepted (as PostgreSQL's `MAX_STARTUP_PACKET_LENGTH`).
pub const MAX_STARTUP_LEN: usize = 10_000;
/// The largest SASL message accepted from a client; SCRAM messages are a few hundred bytes.
pub const MAX_SASL_MESSAGE_LEN: usize = 16 * 1024;
/// The most startup parameters accepted.
const MAX_STARTUP_PARAMS: usize = 64;

const SSL_REQUEST_CODE: u32 = 80_877_103;
const GSSENC_REQUEST_CODE: u32 = 80_877_104;
const CANCEL_REQUEST_CODE: u32 = 80_877_102;

/// The first packet of a client connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupPacket {
    /// SSLRequest: answer `S` or `N`, then read another startup packet.
    SslRequest,
    /// GSSENCRequest: answer `N`, then read another startup packet.
    GssEncRequest,
    /// CancelRequest (the key is not kept; management has nothing to cancel).
    CancelRequest,
    /// StartupMessage.
    Startup {
        /// Protocol major version (3).
        major: u16,
        /// Protocol minor version.
        minor: u16,
        /// Parameters in the order sent, e.g. `("user", "admin")`.
        params: Vec<(String, String)>,
    },
}

impl StartupPacket {
    /// The value of startup parameter `name`, `None` when absent or not a StartupMessage.
    pub fn param(&self, name: &str) -> Option<&str> {
        match self {
            StartupPacket::Startup { params, .. } => params
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str()),
            _ => None,
        }
    }
}

/// The first SASL message of a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslInitialResponse {
    /// The mechanism the client chose.
    pub mechanism: String,
    /// The client's first message, empty when the client sent none (length -1).
    pub data: Bytes,
}

/// The client sent bytes that are not the expected message. The connection cannot continue.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ClientMessageError {
    /// A declared length too small for the message or above its limit.
    #[error("client message length {0} out of range")]
    InvalidLength(u32),
    /// A type byte other than the expected one.
    #[error("unexpected client message type 0x{0:02x}")]
    UnexpectedType(u8),
    /// The body does not match the message's format; the text names the problem.
    #[error("malformed {message}: {problem}")]
    Malformed {
        /// The message, e.g. `"StartupMessage"`.
        message: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
}

/// Takes one startup packet (untyped, length-prefixed) off the front of `buf`.
pub fn parse_startup(buf: &mut BytesMut) -> Result<Option<StartupPacket>, ClientMessageError> {
    let Some(len_bytes) = buf.get(..4) else {
        return Ok(None);
    };
    let declared = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
    let len = usize::try_from(declared)
        .ok()
        .filter(|len| (8..=MAX_STARTUP_LEN).contains(len))
        .ok_or(ClientMessageError::InvalidLength(declared))?;
    if buf.len() < len {
        return Ok(None);
    }
    let mut body = buf.split_to(len).freeze();
    body.advance(4);
    let code = body.get_u32();
    match code {
        SSL_REQUEST_CODE => Ok(Some(StartupPacket::SslRequest)),
        GSSENC_REQUEST_CODE => Ok(Some(StartupPacket::GssEncRequest)),
        CANCEL_REQUEST_CODE => Ok(Some(StartupPacket::CancelRequest)),
        _ => startup_message(code, body).map(Some),
    }
}

fn startup_message(version: u32, mut body: Bytes) -> Result<StartupPacket, ClientMessageError> {
    let malformed = |problem| ClientMessageError::Malformed {
        message: "StartupMessage",
        problem,
    };
    let mut params = Vec::new();
    loop {
        let name = take_cstr(&mut body).ok_or_else(|| malformed("unterminated parameter"))?;
        if name.is_empty() {
            break;
        }
        let value = take_cstr(&mut body).ok_or_else(|| malformed("parameter without value"))?;
        if params.len() == MAX_STARTUP_PARAMS {
            return Err(malformed("too many parameters"));
        }
        params.push((name, value));
    }
    if !body.is_empty() {
        return Err(malformed("bytes after the terminator"));
    }
    Ok(StartupPacket::Startup {
        major: (version >> 16) as u16,
        minor: (version & 0xffff) as u16,
        params,
    })
}

/// Takes a NUL-terminated UTF-8 string off the front of `body`.
fn take_cstr(body: &mut Bytes) -> Option<String> {
    let end = body.iter().position(|b| *b == 0)?;
    let text = String::from_utf8(body.split_to(end).to_vec()).ok()?;
    body.advance(1);
    Some(text)
}

/// Takes one `p` message off the front of `buf` and returns its body.
fn parse_password_family(buf: &mut BytesMut) -> Result<Option<Bytes>, ClientMessageError> {
    let Some(&tag) = buf.first() else {
        return Ok(None);
    };
    if tag != b'p' {
        return Err(ClientMessageError::UnexpectedType(tag));
    }
    let Some(len_bytes) = buf.get(1..5) else {
        return Ok(None);
    };
    let declared = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
    let len = usize::try_from(declared)
        .ok()
        .filter(|len| (4..=MAX_SASL_MESSAGE_LEN).contains(len))
        .ok_or(ClientMessageError::InvalidLength(declared))?;
    if buf.len() < 1 + len {
        return Ok(None);
    }
    let mut body = buf.split_to(1 + len).freeze();
    body.advance(5);
    Ok(Some(body))
}

/// Takes a SASLInitialResponse off the front of `buf`.
pub fn parse_sasl_initial_response(
    buf: &mut BytesMut,
) -> Result<Option<SaslInitialResponse>, ClientMessageError> {
    let Some(mut body) = parse_password_family(buf)? else {
        return Ok(None);
    };
    let malformed = |problem| ClientMessageError::Malformed {
        message: "SASLInitialResponse",
        problem,
    };
    let mechanism = take_cstr(&mut body).ok_or_else(|| malformed("unterminated mechanism"))?;
    if body.len() < 4 {
        return Err(malformed("truncated"));
    }
    let data_len = body.get_i32();
    let data = match data_len {
        -1 if body.is_empty() => Bytes::new(),
        len if usize::try_from(len).ok() == Some(body.len()) => body,
        _ => return Err(malformed("data length does not match")),
    };
    Ok(Some(SaslInitialResponse { mechanism, data }))
}

/// Takes a SASLResponse off the front of `buf` and returns its data.
pub fn parse_sasl_response(buf: &mut BytesMut) -> Result<Option<Bytes>, ClientMessageError> {
    parse_password_family(buf)
}

/// Appends an `R` message with `code` and `data`.
fn authentication(out: &mut BytesMut, code: i32, data: &[u8]) {
    out.put_u8(b'R');
    out.put_u32((8 + data.len()) as u32);
    out.put_i32(code);
    out.put_slice(data);
}

/// Appends AuthenticationOk.
pub fn authentication_ok(out: &mut BytesMut) {
    authentication(out, 0, &[]);
}

/// Appends AuthenticationSASL offering `mechanisms` (names without NUL, e.g. `SCRAM-SHA-256`).
pub fn authentication_sasl(out: &mut BytesMut, mechanisms: &[&str]) {
    let mut list = Vec::new();
    for mechanism in mechanisms {
        list.extend_from_slice(mechanism.as_bytes());
        list.push(0);
    }
    list.push(0);
    authentication(out, 10, &list);
}

/// Appends AuthenticationSASLContinue carrying the server's next SASL message.
pub fn authentication_sasl_continue(out: &mut BytesMut, data: &[u8]) {
    authentication(out, 11, data);
}

/// Appends AuthenticationSASLFinal carrying the server's last SASL message.
pub fn authentication_sasl_final(out: &mut BytesMut, data: &[u8]) {
    authentication(out, 12, data);
}

/// Appends an ErrorResponse with severity (`FATAL`, `ERROR`), SQLSTATE `code` and `message`;
/// NUL bytes in the texts are dropped, since the protocol cannot carry them.
pub fn error_response(out: &mut BytesMut, severity: &str, code: &str, message: &str) {
    let mut body = Vec::new();
    for (field, text) in [
        (b'S', severity),
        (b'V', severity),
        (b'C', code),
        (b'M', message),
    ] {
        body.push(field);
        body.extend(text.bytes().filter(|b| *b != 0));
        body.push(0);
    }
    body.push(0);
    out.put_u8(b'E');
    out.put_u32((4 + body.len()) as u32);
    out.put_slice(&body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::{Authentication, Message, frontend};
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::Index;

    #[test]
    fn startup_message_from_the_frontend_encoder() {
        let mut buf = BytesMut::new();
        frontend::startup_message(&mut buf, &[("user", "admin"), ("database", "admin")]).unwrap();
        let whole = buf.clone();
        for cut in 0..whole.len() {
            let mut partial = BytesMut::from(&whole[..cut]);
            assert_eq!(parse_startup(&mut partial), Ok(None), "cut at {cut}");
        }
        let packet = parse_startup(&mut buf).unwrap().unwrap();
        assert!(buf.is_empty());
        assert_eq!(packet.param("user"), Some("admin"));
        assert_eq!(packet.param("database"), Some("admin"));
        assert!(matches!(
            packet,
            StartupPacket::Startup {
                major: 3,
                minor: 0,
                ..
            }
        ));
    }

    #[test]
    fn ssl_request_and_bad_lengths() {
        let mut buf = BytesMut::new();
        frontend::ssl_request(&mut buf);
        assert_eq!(parse_startup(&mut buf), Ok(Some(StartupPacket::SslRequest)));
        let mut huge = BytesMut::from(&[0xffu8, 0xff, 0xff, 0xff][..]);
        assert_eq!(
            parse_startup(&mut huge),
            Err(ClientMessageError::InvalidLength(u32::MAX))
        );
        let mut tiny = BytesMut::from(&[0u8, 0, 0, 4][..]);
        assert!(parse_startup(&mut tiny).is_err());
        let mut unterminated = BytesMut::from(&b"\0\0\0\x0c\0\x03\0\0user"[..]);
        assert!(matches!(
            parse_startup(&mut unterminated),
            Err(ClientMessageError::Malformed { .. })
        ));
    }

    #[test]
    fn sasl_messages_from_the_frontend_encoders() {
        let mut buf = BytesMut::new();
        frontend::sasl_initial_response(&mut buf, "SCRAM-SHA-256", b"n,,n=,r=abc").unwrap();
        frontend::sasl_response(&mut buf, b"c=biws,r=abc,p=xyz").unwrap();
        let first = parse_sasl_initial_response(&mut buf).unwrap().unwrap();
        assert_eq!(first.mechanism, "SCRAM-SHA-256");
        assert_eq!(&first.data[..], b"n,,n=,r=abc");
        assert_eq!(
            parse_sasl_response(&mut buf).unwrap().unwrap(),
            &b"c=biws,r=abc,p=xyz"[..]
        );
        assert!(buf.is_empty());
        assert_eq!(parse_sasl_response(&mut buf), Ok(None));
        let mut wrong = BytesMut::from(&b"Q\0\0\0\x05x"[..]);
        assert_eq!(
            parse_sasl_response(&mut wrong),
            Err(ClientMessageError::UnexpectedType(b'Q'))
        );
        let mut mismatched = BytesMut::from(&b"p\0\0\0\x0cM\0\0\0\0\x09ab"[..]);
        assert!(parse_sasl_initial_response(&mut mismatched).is_err());
    }

    #[test]
    fn server_messages_parse_with_the_client_parser() {
        let mut buf = BytesMut::new();
        authentication_sasl(&mut buf, &["SCRAM-SHA-256"]);
        authentication_sasl_continue(&mut buf, b"r=abc,s=c2FsdA==,i=4096");
        authentication_sasl_final(&mut buf, b"v=sig");
        authentication_ok(&mut buf);
        error_response(&mut buf, "FATAL", "53300", "connection refused");
        let expected = [
            Message::Authentication(Authentication::Sasl {
                mechanisms: vec!["SCRAM-SHA-256".into()],
            }),
            Message::Authentication(Authentication::SaslContinue(Bytes::from_static(
                b"r=abc,s=c2FsdA==,i=4096",
            ))),
            Message::Authentication(Authentication::SaslFinal(Bytes::from_static(b"v=sig"))),
            Message::Authentication(Authentication::Ok),
        ];
        for message in expected {
            assert_eq!(Message::parse(&mut buf).unwrap().unwrap(), message);
        }
        match Message::parse(&mut buf).unwrap().unwrap() {
            Message::ErrorResponse(error) => {
                assert_eq!(error.severity(), "FATAL");
                assert_eq!(error.code(), "53300");
                assert_eq!(error.message(), "connection refused");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn authentication_ok_golden_bytes() {
        let mut buf = BytesMut::new();
        authentication_ok(&mut buf);
        assert_eq!(&buf[..], b"R\0\0\0\x08\0\0\0\0");
    }

    /// Text without NUL, which the protocol's C strings cannot carry.
    const NO_NUL: &str = "[^\\x00]{0,24}";
    /// Non-empty text without NUL: an empty name would end a list of names.
    const NAME: &str = "[^\\x00]{1,16}";

    proptest! {
        #[test]
        fn startup_messages_round_trip(
            params in vec((NAME, NO_NUL), 0..MAX_STARTUP_PARAMS),
            cut in any::<Index>(),
        ) {
            let pairs: Vec<(&str, &str)> =
                params.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
            let mut buf = BytesMut::new();
            prop_assume!(frontend::startup_message(&mut buf, &pairs).is_ok());
            prop_assume!(buf.len() <= MAX_STARTUP_LEN);
            let mut partial = BytesMut::from(&buf[..cut.index(buf.len())]);
            prop_assert_eq!(parse_startup(&mut partial), Ok(None));
            let packet = parse_startup(&mut buf).unwrap();
            prop_assert!(buf.is_empty());
            prop_assert_eq!(packet, Some(StartupPacket::Startup { major: 3, minor: 0, params }));
        }

        #[test]
        fn sasl_messages_round_trip(
            mechanism in NO_NUL,
            first in vec(any::<u8>(), 0..300),
            next in vec(any::<u8>(), 0..300),
            cut in any::<Index>(),
        ) {
            let mut buf = BytesMut::new();
            frontend::sasl_initial_response(&mut buf, &mechanism, &first).unwrap();
            let initial_len = buf.len();
            frontend::sasl_response(&mut buf, &next).unwrap();
            let mut partial = BytesMut::from(&buf[..cut.index(initial_len)]);
            prop_assert_eq!(parse_sasl_initial_response(&mut partial), Ok(None));
            let initial = parse_sasl_initial_response(&mut buf).unwrap().unwrap();
            prop_assert_eq!(initial.mechanism, mechanism);
            prop_assert_eq!(&initial.data[..], &first[..]);
            prop_assert_eq!(parse_sasl_response(&mut buf).unwrap().unwrap(), &next[..]);
            prop_assert!(buf.is_empty());
        }

        #[test]
        fn server_messages_round_trip(
            mechanisms in vec(NAME, 0..4),
            challenge in vec(any::<u8>(), 0..200),
            outcome in vec(any::<u8>(), 0..200),
            (severity, code, message) in (NO_NUL, NO_NUL, NO_NUL),
        ) {
            let names: Vec<&str> = mechanisms.iter().map(String::as_str).collect();
            let mut buf = BytesMut::new();
            authentication_sasl(&mut buf, &names);
            authentication_sasl_continue(&mut buf, &challenge);
            authentication_sasl_final(&mut buf, &outcome);
            authentication_ok(&mut buf);
            error_response(&mut buf, &severity, &code, &message);
            let expected = [
                Authentication::Sasl { mechanisms },
                Authentication::SaslContinue(Bytes::from(challenge)),
                Authentication::SaslFinal(Bytes::from(outcome)),
                Authentication::Ok,
            ];
            for authentication in expected {
                prop_assert_eq!(
                    Message::parse(&mut buf).unwrap(),
                    Some(Message::Authentication(authentication))
                );
            }
            match Message::parse(&mut buf).unwrap() {
                Some(Message::ErrorResponse(error)) => {
                    prop_assert_eq!(error.severity(), severity);
                    prop_assert_eq!(error.code(), code);
                    prop_assert_eq!(error.message(), message);
                }
                other => prop_assert!(false, "expected an ErrorResponse, got {:?}", other),
            }
            prop_assert!(buf.is_empty());
        }

        #[test]
        fn arbitrary_client_bytes_never_panic(bytes in vec(any::<u8>(), 0..300)) {
            type Parser = fn(&mut BytesMut) -> Result<bool, ClientMessageError>;
            let parsers: [Parser; 3] = [
                |buf| parse_startup(buf).map(|packet| packet.is_some()),
                |buf| parse_sasl_initial_response(buf).map(|message| message.is_some()),
                |buf| parse_sasl_response(buf).map(|message| message.is_some()),
            ];
            for parser in parsers {
                let mut buf = BytesMut::from(&bytes[..]);
                if let Ok(false) = parser(&mut buf) {
                    prop_assert_eq!(&buf[..], &bytes[..], "an incomplete message is left in place");
                }
            }
        }
    }
}
