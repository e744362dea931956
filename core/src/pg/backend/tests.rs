use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;

use super::encode::{encode, row};
use super::*;

/// Parses every message in `bytes` fed in one piece.
fn parse_all(bytes: &[u8]) -> Result<Vec<Message>, ProtocolError> {
    let mut buf = BytesMut::from(bytes);
    let mut messages = Vec::new();
    while let Some(message) = Message::parse(&mut buf)? {
        messages.push(message);
    }
    assert!(buf.is_empty(), "bytes left over: {buf:?}");
    Ok(messages)
}

/// Parses `bytes` fed in two pieces split at `split`.
fn parse_split(bytes: &[u8], split: usize) -> Result<Vec<Message>, ProtocolError> {
    let mut buf = BytesMut::new();
    let mut messages = Vec::new();
    for chunk in [&bytes[..split], &bytes[split..]] {
        buf.extend_from_slice(chunk);
        while let Some(message) = Message::parse(&mut buf)? {
            messages.push(message);
        }
    }
    assert!(buf.is_empty());
    Ok(messages)
}

/// Parses `bytes` fed one byte at a time.
fn parse_bytewise(bytes: &[u8]) -> Result<Vec<Message>, ProtocolError> {
    let mut buf = BytesMut::new();
    let mut messages = Vec::new();
    for byte in bytes {
        buf.put_u8(*byte);
        while let Some(message) = Message::parse(&mut buf)? {
            messages.push(message);
        }
    }
    assert!(buf.is_empty());
    Ok(messages)
}

/// The start of a session after authentication followed by a query answer, written out by hand
/// from the protocol documentation.
const CAPTURED_SESSION: &[u8] = b"\
R\0\0\0\x08\0\0\0\0\
S\0\0\0\x19server_version\0\x31\x35.18\0\
K\0\0\0\x0c\0\0\x30\x39\x12\x34\x56\x78\
Z\0\0\0\x05I\
T\0\0\0\x34\0\x02\
datname\0\0\0\x04\xec\0\x02\0\0\0\x13\0\x40\xff\xff\xff\xff\0\0\
n\0\0\0\0\0\0\0\0\0\0\x14\0\x08\xff\xff\xff\xff\0\0\
D\0\0\0\x16\0\x02\0\0\0\x08postgres\xff\xff\xff\xff\
C\0\0\0\x0dSELECT 1\0\
N\0\0\0\x1eSWARNING\0C01000\0Mcareful\0\0\
A\0\0\0\x12\0\0\0\x07chan\0load\0\
I\0\0\0\x04\
E\0\0\0\x19SERROR\0C42P01\0Mno t\0\0\
Z\0\0\0\x05T";

fn expected_session() -> Vec<Message> {
    vec![
        Message::Authentication(Authentication::Ok),
        Message::ParameterStatus {
            name: "server_version".into(),
            value: "15.18".into(),
        },
        Message::BackendKeyData {
            process_id: 12345,
            secret_key: 0x1234_5678,
        },
        Message::ReadyForQuery(TransactionStatus::Idle),
        Message::RowDescription(vec![
            Column {
                name: "datname".into(),
                type_oid: 19,
            },
            Column {
                name: "n".into(),
                type_oid: 20,
            },
        ]),
        Message::DataRow(row(&[Some("postgres"), None])),
        Message::CommandComplete {
            tag: "SELECT 1".into(),
        },
        Message::NoticeResponse(ServerError::from_fields(vec![
            (b'S', "WARNING".into()),
            (b'C', "01000".into()),
            (b'M', "careful".into()),
        ])),
        Message::NotificationResponse {
            process_id: 7,
            channel: "chan".into(),
            payload: "load".into(),
        },
        Message::EmptyQueryResponse,
        Message::ErrorResponse(ServerError::from_fields(vec![
            (b'S', "ERROR".into()),
            (b'C', "42P01".into()),
            (b'M', "no t".into()),
        ])),
        Message::ReadyForQuery(TransactionStatus::InTransaction),
    ]
}

#[test]
fn parses_a_captured_session() {
    assert_eq!(parse_all(CAPTURED_SESSION).unwrap(), expected_session());
}

#[test]
fn parses_the_captured_session_split_at_every_offset() {
    for split in 0..=CAPTURED_SESSION.len() {
        assert_eq!(
            parse_split(CAPTURED_SESSION, split).unwrap(),
            expected_session(),
            "split at {split}"
        );
    }
}

#[test]
fn parses_the_captured_session_one_byte_at_a_time() {
    assert_eq!(
        parse_bytewise(CAPTURED_SESSION).unwrap(),
        expected_session()
    );
}

/// An extended-query exchange (Close, Parse, Describe statement, Bind, Describe portal,
/// Execute with a row limit, Sync), written out by hand from the protocol documentation.
const EXTENDED_QUERY: &[u8] = b"\
3\0\0\0\x04\
1\0\0\0\x04\
t\0\0\0\x0e\0\x02\0\0\0\x17\0\0\0\x19\
n\0\0\0\x04\
2\0\0\0\x04\
T\0\0\0\x1a\0\x01v\0\0\0\0\0\0\0\0\0\0\x17\0\x04\xff\xff\xff\xff\0\0\
D\0\0\0\x0b\0\x01\0\0\0\x011\
s\0\0\0\x04\
Z\0\0\0\x05I";

fn expected_extended_query() -> Vec<Message> {
    vec![
        Message::CloseComplete,
        Message::ParseComplete,
        Message::ParameterDescription(vec![23, 25]),
        Message::NoData,
        Message::BindComplete,
        Message::RowDescription(vec![Column {
            name: "v".into(),
            type_oid: 23,
        }]),
        Message::DataRow(row(&[Some("1")])),
        Message::PortalSuspended,
        Message::ReadyForQuery(TransactionStatus::Idle),
    ]
}

#[test]
fn parses_an_extended_query_exchange_split_at_every_offset() {
    assert_eq!(
        parse_bytewise(EXTENDED_QUERY).unwrap(),
        expected_extended_query()
    );
    for split in 0..=EXTENDED_QUERY.len() {
        assert_eq!(
            parse_split(EXTENDED_QUERY, split).unwrap(),
            expected_extended_query(),
            "split at {split}"
        );
    }
}

#[test]
fn malformed_extended_query_answers_are_refused() {
    let cases: [&[u8]; 4] = [
        b"1\0\0\0\x05\0",
        b"t\0\0\0\x08\0\x02\0\0",
        b"t\0\0\0\x06\xff\xff",
        b"n\0\0\0\x05x",
    ];
    for bytes in cases {
        let mut buf = BytesMut::from(bytes);
        assert!(
            matches!(
                Message::parse(&mut buf),
                Err(ProtocolError::Malformed { .. })
            ),
            "{bytes:?}"
        );
    }
}

#[test]
fn parses_authentication_requests() {
    let bytes = b"\
R\0\0\0\x08\0\0\0\x03\
R\0\0\0\x0c\0\0\0\x05\x01\x02\x03\x04\
R\0\0\0\x2a\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0\
R\0\0\0\x0b\0\0\0\x0br=x\
R\0\0\0\x0b\0\0\0\x0cv=y\
R\0\0\0\x08\0\0\0\x07";
    assert_eq!(
        parse_all(bytes).unwrap(),
        [
            Message::Authentication(Authentication::CleartextPassword),
            Message::Authentication(Authentication::Md5Password { salt: [1, 2, 3, 4] }),
            Message::Authentication(Authentication::Sasl {
                mechanisms: vec!["SCRAM-SHA-256-PLUS".into(), "SCRAM-SHA-256".into()]
            }),
            Message::Authentication(Authentication::SaslContinue(Bytes::from_static(b"r=x"))),
            Message::Authentication(Authentication::SaslFinal(Bytes::from_static(b"v=y"))),
            Message::Authentication(Authentication::Unsupported { code: 7 }),
        ]
    );
}

#[test]
fn parses_negotiate_protocol_version() {
    let bytes = b"v\0\0\0\x13\0\0\0\0\0\0\0\x01_pq_.x\0";
    assert_eq!(
        parse_all(bytes).unwrap(),
        [Message::NegotiateProtocolVersion {
            newest_minor: 0,
            unrecognized_options: vec!["_pq_.x".into()]
        }]
    );
}

#[test]
fn unknown_type_is_refused_from_the_first_byte() {
    let mut buf = BytesMut::from(&b"x"[..]);
    assert_eq!(
        Message::parse(&mut buf),
        Err(ProtocolError::UnknownMessageType(b'x'))
    );
}

#[test]
fn lengths_out_of_range_are_refused_before_the_body() {
    for (bytes, declared) in [
        (&b"D\0\0\0\x03"[..], 3),
        (b"D\xff\xff\xff\xff", -1),
        (b"D\x04\0\0\x01", 0x0400_0001),
    ] {
        let mut buf = BytesMut::from(bytes);
        assert_eq!(
            Message::parse(&mut buf),
            Err(ProtocolError::InvalidLength(declared))
        );
    }
    // Exactly the limit is accepted: it waits for the body.
    let mut buf = BytesMut::from(&b"D\x04\0\0\0"[..]);
    assert_eq!(Message::parse(&mut buf), Ok(None));
    assert_eq!(buf.len(), 5);
}

#[test]
fn short_input_waits() {
    for prefix in 0..CAPTURED_SESSION.len().min(9) {
        let mut buf = BytesMut::from(&CAPTURED_SESSION[..prefix]);
        assert_eq!(Message::parse(&mut buf), Ok(None), "prefix {prefix}");
        assert_eq!(buf.len(), prefix);
    }
}

#[test]
fn malformed_bodies_are_refused() {
    let cases: [&[u8]; 10] = [
        b"Z\0\0\0\x05X",
        b"Z\0\0\0\x04",
        b"Z\0\0\0\x06II",
        b"S\0\0\0\x08abc\0",
        b"K\0\0\0\x08\0\0\0\x01",
        b"R\0\0\0\x0a\0\0\0\x05\x01\x02",
        b"R\0\0\0\x0d\0\0\0\x0aSCRAM\0",
        b"T\0\0\0\x06\0\x01",
        b"E\0\0\0\x08SERR",
        b"v\0\0\0\x0c\0\0\0\0\x7f\0\0\0",
    ];
    for bytes in cases {
        let mut buf = BytesMut::from(bytes);
        assert!(
            matches!(
                Message::parse(&mut buf),
                Err(ProtocolError::Malformed { .. })
            ),
            "{bytes:?}"
        );
    }
}

#[test]
fn message_names() {
    let names: Vec<&str> = expected_session().iter().map(Message::name).collect();
    assert_eq!(names[0], "Authentication");
    assert_eq!(names[5], "DataRow");
    assert_eq!(names[11], "ReadyForQuery");
}

fn text() -> impl Strategy<Value = String> {
    "[^\0]{0,12}"
}

fn server_error() -> impl Strategy<Value = ServerError> {
    prop::collection::vec((1u8..=255, text()), 0..5).prop_map(ServerError::from_fields)
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::Authentication(Authentication::Ok)),
        Just(Message::Authentication(Authentication::CleartextPassword)),
        any::<[u8; 4]>()
            .prop_map(|salt| Message::Authentication(Authentication::Md5Password { salt })),
        prop::collection::vec("[^\0]{1,20}", 0..3)
            .prop_map(|mechanisms| Message::Authentication(Authentication::Sasl { mechanisms })),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|data| Message::Authentication(
            Authentication::SaslContinue(Bytes::from(data))
        )),
        prop::collection::vec(any::<u8>(), 0..40)
            .prop_map(|data| Message::Authentication(Authentication::SaslFinal(Bytes::from(data)))),
        (text(), text()).prop_map(|(name, value)| Message::ParameterStatus { name, value }),
        (any::<i32>(), any::<i32>()).prop_map(|(process_id, secret_key)| Message::BackendKeyData {
            process_id,
            secret_key
        }),
        prop_oneof![
            Just(TransactionStatus::Idle),
            Just(TransactionStatus::InTransaction),
            Just(TransactionStatus::Failed)
        ]
        .prop_map(Message::ReadyForQuery),
        prop::collection::vec((text(), any::<u32>()), 0..5).prop_map(|columns| {
            Message::RowDescription(
                columns
                    .into_iter()
                    .map(|(name, type_oid)| Column { name, type_oid })
                    .collect(),
            )
        }),
        prop::collection::vec(prop::option::of(text()), 0..6).prop_map(|values| {
            let values: Vec<Option<&str>> = values.iter().map(Option::as_deref).collect();
            Message::DataRow(row(&values))
        }),
        text().prop_map(|tag| Message::CommandComplete { tag }),
        Just(Message::EmptyQueryResponse),
        Just(Message::ParseComplete),
        Just(Message::BindComplete),
        Just(Message::CloseComplete),
        Just(Message::NoData),
        Just(Message::PortalSuspended),
        prop::collection::vec(any::<u32>(), 0..5).prop_map(Message::ParameterDescription),
        server_error().prop_map(Message::ErrorResponse),
        server_error().prop_map(Message::NoticeResponse),
        (any::<i32>(), text(), text()).prop_map(|(process_id, channel, payload)| {
            Message::NotificationResponse {
                process_id,
                channel,
                payload,
            }
        }),
    ]
}

proptest! {
    #[test]
    fn encode_then_parse_round_trips(messages in prop::collection::vec(message(), 1..8), split in any::<prop::sample::Index>()) {
        let mut bytes = BytesMut::new();
        for message in &messages {
            encode(message, &mut bytes);
        }
        prop_assert_eq!(&parse_all(&bytes).unwrap(), &messages);
        let split = split.index(bytes.len() + 1);
        prop_assert_eq!(&parse_split(&bytes, split).unwrap(), &messages);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_all_lenient(&bytes);
    }

    #[test]
    fn arbitrary_bodies_never_panic(tag in prop::sample::select(&b"RSKZTDCIENAv123nts"[..]), body in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = vec![tag];
        bytes.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        bytes.extend_from_slice(&body);
        let mut buf = BytesMut::from(&bytes[..]);
        // A complete message is either parsed whole or refused; never "need more".
        prop_assert!(!matches!(Message::parse(&mut buf), Ok(None)));
    }
}

/// Parses until the input runs out or an error, without asserting anything about leftovers.
fn parse_all_lenient(bytes: &[u8]) -> Result<usize, ProtocolError> {
    let mut buf = BytesMut::from(bytes);
    let mut count = 0;
    while Message::parse(&mut buf)?.is_some() {
        count += 1;
    }
    Ok(count)
}
