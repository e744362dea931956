//! Encoders for the messages a client sends (protocol 3.0).
//!
//! Every function appends exactly one message to `out`; on error nothing is appended. Strings
//! travel NUL-terminated on the wire, so a string containing a NUL byte cannot be encoded and is
//! refused with [`EncodeError::ContainsNul`].

use bytes::{BufMut, BytesMut};
use thiserror::Error;

/// Protocol version 3.0 as sent in the StartupMessage.
const PROTOCOL_VERSION_3_0: i32 = 196_608;
/// The magic "protocol version" of an SSLRequest.
const SSL_REQUEST_CODE: i32 = 80_877_103;

/// Why a frontend message could not be encoded: the caller passed a value the protocol cannot
/// carry. Nothing was appended to the output buffer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A string that travels NUL-terminated contains a NUL byte; `what` names the field.
    #[error("{what} contains a NUL byte")]
    ContainsNul {
        /// The field that was refused, e.g. `"query"`.
        what: &'static str,
    },
    /// The message would exceed the 32-bit signed length the protocol allows.
    #[error("message too long for the protocol")]
    TooLong,
}

/// Appends a StartupMessage for protocol 3.0 carrying `params` (e.g. `("user", "postgres")`).
///
/// Errors: a name or value containing NUL, or a message longer than `i32::MAX`.
pub fn startup_message(out: &mut BytesMut, params: &[(&str, &str)]) -> Result<(), EncodeError> {
    for (name, value) in params {
        check_no_nul(name.as_bytes(), "startup parameter name")?;
        check_no_nul(value.as_bytes(), "startup parameter value")?;
    }
    let body_len: usize = params
        .iter()
        .map(|(n, v)| n.len() + v.len() + 2)
        .sum::<usize>()
        + 1;
    let len = total_len(4 + 4 + body_len)?;
    out.reserve(len as usize);
    out.put_i32(len);
    out.put_i32(PROTOCOL_VERSION_3_0);
    for (name, value) in params {
        put_cstr(out, name.as_bytes());
        put_cstr(out, value.as_bytes());
    }
    out.put_u8(0);
    Ok(())
}

/// Appends an SSLRequest; the server answers with the single byte `S` or `N`.
pub fn ssl_request(out: &mut BytesMut) {
    out.put_i32(8);
    out.put_i32(SSL_REQUEST_CODE);
}

/// Appends a PasswordMessage carrying `password` (cleartext, or the `md5…` hash).
///
/// Errors: a password containing NUL.
pub fn password_message(out: &mut BytesMut, password: &[u8]) -> Result<(), EncodeError> {
    check_no_nul(password, "password")?;
    let len = total_len(4 + password.len() + 1)?;
    out.reserve(1 + len as usize);
    out.put_u8(b'p');
    out.put_i32(len);
    put_cstr(out, password);
    Ok(())
}

/// Appends a SASLInitialResponse choosing `mechanism` with the client's first message `data`.
///
/// Errors: a mechanism name containing NUL.
pub fn sasl_initial_response(
    out: &mut BytesMut,
    mechanism: &str,
    data: &[u8],
) -> Result<(), EncodeError> {
    check_no_nul(mechanism.as_bytes(), "SASL mechanism")?;
    let len = total_len(4 + mechanism.len() + 1 + 4 + data.len())?;
    let data_len = i32::try_from(data.len()).map_err(|_| EncodeError::TooLong)?;
    out.reserve(1 + len as usize);
    out.put_u8(b'p');
    out.put_i32(len);
    put_cstr(out, mechanism.as_bytes());
    out.put_i32(data_len);
    out.put_slice(data);
    Ok(())
}

/// Appends a SASLResponse carrying the next client message `data` of the exchange.
pub fn sasl_response(out: &mut BytesMut, data: &[u8]) -> Result<(), EncodeError> {
    let len = total_len(4 + data.len())?;
    out.reserve(1 + len as usize);
    out.put_u8(b'p');
    out.put_i32(len);
    out.put_slice(data);
    Ok(())
}

/// Appends a simple-protocol Query for `sql` (which may hold several statements).
///
/// Errors: SQL containing NUL, or longer than the protocol allows.
pub fn query(out: &mut BytesMut, sql: &str) -> Result<(), EncodeError> {
    check_no_nul(sql.as_bytes(), "query")?;
    let len = total_len(4 + sql.len() + 1)?;
    out.reserve(1 + len as usize);
    out.put_u8(b'Q');
    out.put_i32(len);
    put_cstr(out, sql.as_bytes());
    Ok(())
}

/// Appends a Terminate message; the server closes the connection after reading it.
pub fn terminate(out: &mut BytesMut) {
    out.put_u8(b'X');
    out.put_i32(4);
}

/// Refuses `bytes` when it contains a NUL byte.
fn check_no_nul(bytes: &[u8], what: &'static str) -> Result<(), EncodeError> {
    if bytes.contains(&0) {
        Err(EncodeError::ContainsNul { what })
    } else {
        Ok(())
    }
}

/// Converts a length (the length field included) to the wire's `i32`.
fn total_len(len: usize) -> Result<i32, EncodeError> {
    i32::try_from(len).map_err(|_| EncodeError::TooLong)
}

/// Appends `bytes` followed by a NUL terminator.
fn put_cstr(out: &mut BytesMut, bytes: &[u8]) {
    out.put_slice(bytes);
    out.put_u8(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(f: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
        let mut out = BytesMut::new();
        f(&mut out);
        out.to_vec()
    }

    #[test]
    fn startup_message_golden_bytes() {
        let bytes =
            encoded(|out| startup_message(out, &[("user", "pg"), ("database", "db")]).unwrap());
        let mut expected = vec![0, 0, 0, 29, 0, 3, 0, 0];
        expected.extend_from_slice(b"user\0pg\0database\0db\0\0");
        assert_eq!(bytes, expected);
    }

    #[test]
    fn ssl_request_golden_bytes() {
        assert_eq!(encoded(ssl_request), [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
    }

    #[test]
    fn password_message_golden_bytes() {
        let bytes = encoded(|out| password_message(out, b"secret").unwrap());
        assert_eq!(bytes, b"p\0\0\0\x0bsecret\0");
    }

    #[test]
    fn sasl_initial_response_golden_bytes() {
        let bytes =
            encoded(|out| sasl_initial_response(out, "SCRAM-SHA-256", b"n,,n=,r=x").unwrap());
        let mut expected = b"p\0\0\0\x1fSCRAM-SHA-256\0\0\0\0\x09".to_vec();
        expected.extend_from_slice(b"n,,n=,r=x");
        assert_eq!(bytes, expected);
    }

    #[test]
    fn sasl_response_golden_bytes() {
        let bytes = encoded(|out| sasl_response(out, b"c=biws").unwrap());
        assert_eq!(bytes, b"p\0\0\0\x0ac=biws");
    }

    #[test]
    fn query_golden_bytes() {
        let bytes = encoded(|out| query(out, "SELECT 1").unwrap());
        assert_eq!(bytes, b"Q\0\0\0\x0dSELECT 1\0");
    }

    #[test]
    fn terminate_golden_bytes() {
        assert_eq!(encoded(terminate), b"X\0\0\0\x04");
    }

    #[test]
    fn nul_bytes_are_refused_and_nothing_is_appended() {
        let mut out = BytesMut::new();
        assert_eq!(
            query(&mut out, "SELECT 1\0; DROP"),
            Err(EncodeError::ContainsNul { what: "query" })
        );
        assert!(startup_message(&mut out, &[("user", "a\0b")]).is_err());
        assert!(password_message(&mut out, b"pa\0ss").is_err());
        assert!(sasl_initial_response(&mut out, "SCRAM\0", b"").is_err());
        assert!(out.is_empty());
    }
}
