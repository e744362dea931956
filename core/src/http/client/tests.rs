//! The client against scripted responses: framings split at every byte, keep-alive, failures.

use std::io::Write;

use super::*;

const GET: Get<'static> = Get {
    host: "h:1",
    path: "/metrics",
    accept: "text/plain",
};

fn started(now: Instant) -> HttpClient {
    let mut client = HttpClient::new(ClientLimits {
        max_head_bytes: 1024,
        max_body_bytes: 4096,
    });
    client.get(now, &GET, now + Duration::from_secs(5)).unwrap();
    let mut out = BytesMut::new();
    assert!(client.poll_transmit(&mut out));
    client
}

fn events(client: &mut HttpClient) -> Vec<ClientEvent> {
    std::iter::from_fn(|| client.poll_event()).collect()
}

fn body_of(events: &[ClientEvent]) -> &[u8] {
    match events {
        [ClientEvent::Response(response)] => &response.body,
        other => panic!("expected one response: {other:?}"),
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn every_framing_split_at_every_byte() {
    let mut gzipped = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ".to_vec();
    let compressed = gzip(b"a 1\nb 2\n");
    gzipped.extend_from_slice(format!("{}\r\n\r\n", compressed.len()).as_bytes());
    gzipped.extend_from_slice(&compressed);
    let cases: [(&[u8], bool); 4] = [
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\na 1\nb 2\n",
            true,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\na 1\n\r\n4\r\nb 2\n\r\n0\r\n\r\n",
            true,
        ),
        (&gzipped, true),
        (b"HTTP/1.0 200 OK\r\n\r\na 1\nb 2\n", false),
    ];
    for (wire, kept) in cases {
        for split in 0..=wire.len() {
            let now = crate::test_clock::origin();
            let mut client = started(now);
            client.handle_input(now, &wire[..split]);
            client.handle_input(now, &wire[split..]);
            if !kept {
                client.handle_eof(now);
            }
            let events = events(&mut client);
            assert_eq!(body_of(&events), b"a 1\nb 2\n", "split at {split}");
            assert_eq!(client.is_idle(), kept);
            assert_eq!(client.is_finished(), !kept);
            assert_eq!(client.poll_timeout(), None);
        }
    }
}

#[test]
fn a_kept_alive_connection_takes_the_next_request() {
    let now = crate::test_clock::origin();
    let mut client = started(now);
    client.handle_input(
        now,
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: 2\r\n\r\nok",
    );
    let first = events(&mut client);
    let [ClientEvent::Response(response)] = &first[..] else {
        panic!("{first:?}");
    };
    assert_eq!(
        response.content_type.as_deref(),
        Some("text/plain; version=0.0.4")
    );
    assert_eq!(client.get(now, &GET, now), Ok(()));
    assert_eq!(client.get(now, &GET, now), Err(ClientMisuse::Busy));
    client.handle_eof(now);
    assert_eq!(
        events(&mut client),
        vec![ClientEvent::Failed(ClientError::Closed { received: false })]
    );
    assert!(client.is_finished());
}

/// What a failed exchange's error must be.
type Expected = fn(&ClientError) -> bool;

#[test]
fn deadlines_garbage_and_limits_fail_the_exchange_once() {
    let now = crate::test_clock::origin();
    let mut late = started(now);
    late.handle_input(now, b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc");
    assert_eq!(late.poll_timeout(), Some(now + Duration::from_secs(5)));
    late.handle_timeout(now + Duration::from_secs(4));
    assert!(events(&mut late).is_empty());
    late.handle_timeout(now + Duration::from_secs(5));
    late.handle_eof(now + Duration::from_secs(5));
    assert_eq!(
        events(&mut late),
        vec![ClientEvent::Failed(ClientError::Timeout)]
    );

    let long = [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &[b'a'; 2000]].concat();
    let cases: [(&[u8], Expected); 5] = [
        (b"220 smtp.example ESMTP\r\n\r\n", |error| {
            matches!(error, ClientError::Malformed(_))
        }),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n",
            |error| matches!(error, ClientError::BodyTooLarge { limit: 4096 }),
        ),
        (&long, |error| *error == ClientError::HeadTooLarge),
        (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc",
            |error| matches!(error, ClientError::Gzip(_)),
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc",
            |error| *error == ClientError::Closed { received: true },
        ),
    ];
    for (wire, expected) in cases {
        let mut client = started(now);
        client.handle_input(now, wire);
        client.handle_eof(now);
        let events = events(&mut client);
        match &events[..] {
            [ClientEvent::Failed(error)] => assert!(expected(error), "{error:?}"),
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(wire)),
        }
        assert!(client.is_finished());
    }
}

#[test]
fn a_gzip_bomb_is_cut_at_the_limit() {
    let now = crate::test_clock::origin();
    let compressed = gzip(&vec![b'0'; 1 << 20]);
    assert!(compressed.len() < 4096);
    let mut client = started(now);
    let mut wire = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        compressed.len()
    )
    .into_bytes();
    wire.extend_from_slice(&compressed);
    client.handle_input(now, &wire);
    assert_eq!(
        events(&mut client),
        vec![ClientEvent::Failed(ClientError::BodyTooLarge {
            limit: 4096
        })]
    );
}

#[test]
fn stray_bytes_end_an_idle_connection_quietly() {
    let now = crate::test_clock::origin();
    let mut client = HttpClient::new(ClientLimits::default());
    client.handle_input(now, b"HTTP/1.1 408 Request Timeout\r\n\r\n");
    assert!(events(&mut client).is_empty());
    assert!(client.is_finished());
    assert_eq!(client.get(now, &GET, now), Err(ClientMisuse::Busy));
}
