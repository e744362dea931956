//! A backend message encoder, for tests only: scripted servers and round-trip properties.

use bytes::{BufMut, BytesMut};

use super::{Authentication, Message, Row, TransactionStatus};

/// Appends `message` to `out` as a server would send it. Rows are re-encoded value by value.
pub(crate) fn encode(message: &Message, out: &mut BytesMut) {
    let mut body = BytesMut::new();
    let tag = match message {
        Message::Authentication(auth) => {
            encode_authentication(auth, &mut body);
            b'R'
        }
        Message::ParameterStatus { name, value } => {
            put_cstr(&mut body, name);
            put_cstr(&mut body, value);
            b'S'
        }
        Message::BackendKeyData {
            process_id,
            secret_key,
        } => {
            body.put_i32(*process_id);
            body.put_i32(*secret_key);
            b'K'
        }
        Message::ReadyForQuery(status) => {
            body.put_u8(match status {
                TransactionStatus::Idle => b'I',
                TransactionStatus::InTransaction => b'T',
                TransactionStatus::Failed => b'E',
            });
            b'Z'
        }
        Message::RowDescription(columns) => {
            body.put_i16(columns.len() as i16);
            for column in columns {
                put_cstr(&mut body, &column.name);
                body.put_u32(0);
                body.put_i16(0);
                body.put_u32(column.type_oid);
                body.put_i16(-1);
                body.put_i32(-1);
                body.put_i16(0);
            }
            b'T'
        }
        Message::DataRow(row) => {
            body.put_i16(row.len() as i16);
            for i in 0..row.len() {
                match row.get_bytes(i) {
                    Some(value) => {
                        body.put_i32(value.len() as i32);
                        body.put_slice(value);
                    }
                    None => body.put_i32(-1),
                }
            }
            b'D'
        }
        Message::CommandComplete { tag } => {
            put_cstr(&mut body, tag);
            b'C'
        }
        Message::EmptyQueryResponse => b'I',
        Message::ParseComplete => b'1',
        Message::BindComplete => b'2',
        Message::CloseComplete => b'3',
        Message::NoData => b'n',
        Message::ParameterDescription(types) => {
            body.put_i16(types.len() as i16);
            for oid in types {
                body.put_u32(*oid);
            }
            b't'
        }
        Message::PortalSuspended => b's',
        Message::ErrorResponse(error) | Message::NoticeResponse(error) => {
            for (code, value) in error.fields() {
                body.put_u8(code);
                put_cstr(&mut body, value);
            }
            body.put_u8(0);
            if matches!(message, Message::ErrorResponse(_)) {
                b'E'
            } else {
                b'N'
            }
        }
        Message::NotificationResponse {
            process_id,
            channel,
            payload,
        } => {
            body.put_i32(*process_id);
            put_cstr(&mut body, channel);
            put_cstr(&mut body, payload);
            b'A'
        }
        Message::NegotiateProtocolVersion {
            newest_minor,
            unrecognized_options,
        } => {
            body.put_i32(*newest_minor);
            body.put_i32(unrecognized_options.len() as i32);
            for option in unrecognized_options {
                put_cstr(&mut body, option);
            }
            b'v'
        }
    };
    out.put_u8(tag);
    out.put_i32(body.len() as i32 + 4);
    out.put_slice(&body);
}

/// Encodes the body of an Authentication message.
fn encode_authentication(auth: &Authentication, body: &mut BytesMut) {
    match auth {
        Authentication::Ok => body.put_i32(0),
        Authentication::CleartextPassword => body.put_i32(3),
        Authentication::Md5Password { salt } => {
            body.put_i32(5);
            body.put_slice(salt);
        }
        Authentication::Sasl { mechanisms } => {
            body.put_i32(10);
            for mechanism in mechanisms {
                put_cstr(body, mechanism);
            }
            body.put_u8(0);
        }
        Authentication::SaslContinue(data) => {
            body.put_i32(11);
            body.put_slice(data);
        }
        Authentication::SaslFinal(data) => {
            body.put_i32(12);
            body.put_slice(data);
        }
        Authentication::Unsupported { code } => body.put_i32(*code),
    }
}

/// Encodes `message` alone into a fresh buffer.
pub(crate) fn to_bytes(message: &Message) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(message, &mut out);
    out.to_vec()
}

fn put_cstr(out: &mut BytesMut, text: &str) {
    out.put_slice(text.as_bytes());
    out.put_u8(0);
}

/// A row of text values (`None` = NULL), parsed from its DataRow encoding.
pub(crate) fn row(values: &[Option<&str>]) -> Row {
    let mut body = BytesMut::new();
    body.put_i16(values.len() as i16);
    for value in values {
        match value {
            Some(text) => {
                body.put_i32(text.len() as i32);
                body.put_slice(text.as_bytes());
            }
            None => body.put_i32(-1),
        }
    }
    Row::parse(body.freeze()).unwrap_or_else(|error| panic!("test row does not parse: {error}"))
}
