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
const CANCEL_REQUEST_CODE: i32 = 80_877_102;

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

/// Appends a CancelRequest for the backend `process_id` holding `secret_key` (both from its
/// BackendKeyData). It is sent alone on a new connection, which the server closes without an
/// answer.
pub fn cancel_request(out: &mut BytesMut, process_id: i32, secret_key: i32) {
    out.put_i32(16);
    out.put_i32(CANCEL_REQUEST_CODE);
    out.put_i32(process_id);
    out.put_i32(secret_key);
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

/// What a Describe or Close message names: a prepared statement or a portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A prepared statement (`S`).
    Statement,
    /// A portal (`P`).
    Portal,
}

impl Target {
    /// The byte that selects this target on the wire.
    fn code(self) -> u8 {
        match self {
            Target::Statement => b'S',
            Target::Portal => b'P',
        }
    }
}

/// Appends a Parse message preparing `sql` (one statement) as `statement` (`""` = the unnamed
/// statement). `param_types` holds a type OID per parameter; 0 leaves the type to the server.
///
/// Errors: a name or SQL containing NUL, more than `i16::MAX` parameter types, or a message
/// longer than the protocol allows.
pub fn parse(
    out: &mut BytesMut,
    statement: &str,
    sql: &str,
    param_types: &[u32],
) -> Result<(), EncodeError> {
    check_no_nul(statement.as_bytes(), "statement name")?;
    check_no_nul(sql.as_bytes(), "query")?;
    let count = count16(param_types.len())?;
    let len = total_len(4 + statement.len() + 1 + sql.len() + 1 + 2 + 4 * param_types.len())?;
    out.reserve(1 + len as usize);
    out.put_u8(b'P');
    out.put_i32(len);
    put_cstr(out, statement.as_bytes());
    put_cstr(out, sql.as_bytes());
    out.put_i16(count);
    for oid in param_types {
        out.put_u32(*oid);
    }
    Ok(())
}

/// Appends a Bind message creating `portal` (`""` = the unnamed portal) from the prepared
/// `statement` with `params` in text format (`None` = NULL). All result columns are asked for
/// in text format.
///
/// Errors: a name containing NUL, more than `i16::MAX` parameters, a parameter longer than
/// `i32::MAX`, or a message longer than the protocol allows.
pub fn bind(
    out: &mut BytesMut,
    portal: &str,
    statement: &str,
    params: &[Option<&[u8]>],
) -> Result<(), EncodeError> {
    check_no_nul(portal.as_bytes(), "portal name")?;
    check_no_nul(statement.as_bytes(), "statement name")?;
    let count = count16(params.len())?;
    let values_len: usize = params.iter().map(|p| 4 + p.map_or(0, <[u8]>::len)).sum();
    // Parameter format count 0 and result format count 0 both mean "all text".
    let len = total_len(4 + portal.len() + 1 + statement.len() + 1 + 2 + 2 + values_len + 2)?;
    out.reserve(1 + len as usize);
    out.put_u8(b'B');
    out.put_i32(len);
    put_cstr(out, portal.as_bytes());
    put_cstr(out, statement.as_bytes());
    out.put_i16(0);
    out.put_i16(count);
    for param in params {
        match param {
            // Each value is shorter than the whole message, whose length was checked above.
            Some(value) => {
                out.put_i32(value.len() as i32);
                out.put_slice(value);
            }
            None => out.put_i32(-1),
        }
    }
    out.put_i16(0);
    Ok(())
}

/// Appends a Describe message for `target` named `name`. For a portal the server answers with
/// RowDescription or NoData; for a statement, ParameterDescription first.
///
/// Errors: a name containing NUL.
pub fn describe(out: &mut BytesMut, target: Target, name: &str) -> Result<(), EncodeError> {
    named_target_message(out, b'D', target, name)
}

/// Appends an Execute message running `portal` for at most `max_rows` rows (0 = all rows).
///
/// Errors: a portal name containing NUL.
pub fn execute(out: &mut BytesMut, portal: &str, max_rows: u32) -> Result<(), EncodeError> {
    check_no_nul(portal.as_bytes(), "portal name")?;
    let max_rows = i32::try_from(max_rows).map_err(|_| EncodeError::TooLong)?;
    let len = total_len(4 + portal.len() + 1 + 4)?;
    out.reserve(1 + len as usize);
    out.put_u8(b'E');
    out.put_i32(len);
    put_cstr(out, portal.as_bytes());
    out.put_i32(max_rows);
    Ok(())
}

/// Appends a Sync message: the end of an extended-query cycle. The server answers with
/// ReadyForQuery; after an error it skips every message up to the Sync.
pub fn sync(out: &mut BytesMut) {
    out.put_u8(b'S');
    out.put_i32(4);
}

/// Appends a Close message releasing `target` named `name`. Closing a name that does not exist
/// is not an error; the server answers CloseComplete.
///
/// Errors: a name containing NUL.
pub fn close(out: &mut BytesMut, target: Target, name: &str) -> Result<(), EncodeError> {
    named_target_message(out, b'C', target, name)
}

/// Appends a Describe or Close message (`tag`): a target byte and a name.
fn named_target_message(
    out: &mut BytesMut,
    tag: u8,
    target: Target,
    name: &str,
) -> Result<(), EncodeError> {
    check_no_nul(name.as_bytes(), "statement or portal name")?;
    let len = total_len(4 + 1 + name.len() + 1)?;
    out.reserve(1 + len as usize);
    out.put_u8(tag);
    out.put_i32(len);
    out.put_u8(target.code());
    put_cstr(out, name.as_bytes());
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

/// Converts a count of parameters to the wire's `i16`.
fn count16(count: usize) -> Result<i16, EncodeError> {
    i16::try_from(count).map_err(|_| EncodeError::TooLong)
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
    fn cancel_request_golden_bytes() {
        assert_eq!(
            encoded(|out| cancel_request(out, 4242, -2)),
            [
                0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0x10, 0x92, 0xff, 0xff, 0xff, 0xfe
            ]
        );
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
    fn parse_golden_bytes() {
        let bytes = encoded(|out| parse(out, "m1", "SELECT $1", &[23]).unwrap());
        assert_eq!(bytes, b"P\0\0\0\x17m1\0SELECT $1\0\0\x01\0\0\0\x17");
        let bytes = encoded(|out| parse(out, "", "SELECT 1", &[]).unwrap());
        assert_eq!(bytes, b"P\0\0\0\x10\0SELECT 1\0\0\0");
    }

    #[test]
    fn bind_golden_bytes() {
        let bytes = encoded(|out| bind(out, "", "m1", &[]).unwrap());
        assert_eq!(bytes, b"B\0\0\0\x0e\0m1\0\0\0\0\0\0\0");
        let bytes = encoded(|out| bind(out, "p", "s", &[Some(b"42"), None]).unwrap());
        assert_eq!(
            bytes,
            b"B\0\0\0\x18p\0s\0\0\0\0\x02\0\0\0\x0242\xff\xff\xff\xff\0\0"
        );
    }

    #[test]
    fn describe_execute_sync_close_golden_bytes() {
        assert_eq!(
            encoded(|out| describe(out, Target::Portal, "").unwrap()),
            b"D\0\0\0\x06P\0"
        );
        assert_eq!(
            encoded(|out| describe(out, Target::Statement, "m1").unwrap()),
            b"D\0\0\0\x08Sm1\0"
        );
        assert_eq!(
            encoded(|out| execute(out, "", 0).unwrap()),
            b"E\0\0\0\x09\0\0\0\0\0"
        );
        assert_eq!(
            encoded(|out| execute(out, "p", 10).unwrap()),
            b"E\0\0\0\x0ap\0\0\0\0\x0a"
        );
        assert_eq!(encoded(sync), b"S\0\0\0\x04");
        assert_eq!(
            encoded(|out| close(out, Target::Statement, "m1").unwrap()),
            b"C\0\0\0\x08Sm1\0"
        );
    }

    #[test]
    fn extended_query_messages_refuse_bad_input_and_append_nothing() {
        let mut out = BytesMut::new();
        assert!(parse(&mut out, "a\0", "SELECT 1", &[]).is_err());
        assert!(parse(&mut out, "a", "SELECT\0", &[]).is_err());
        assert_eq!(
            parse(&mut out, "a", "SELECT 1", &[0; 40_000]),
            Err(EncodeError::TooLong)
        );
        assert!(bind(&mut out, "", "s\0", &[]).is_err());
        assert_eq!(
            bind(&mut out, "", "s", &[None; 40_000]),
            Err(EncodeError::TooLong)
        );
        assert!(describe(&mut out, Target::Portal, "\0").is_err());
        assert!(close(&mut out, Target::Statement, "\0").is_err());
        assert_eq!(execute(&mut out, "", u32::MAX), Err(EncodeError::TooLong));
        assert!(out.is_empty());
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
