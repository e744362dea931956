//! The fetcher against scripted endpoints.

use bytes::Bytes;

use super::*;

const BODY: &str = "# TYPE up gauge\nup 1\n";

fn ok_response(body: &str) -> Bytes {
    Bytes::from(format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ))
}

struct Harness {
    fetcher: Fetcher,
    now: Instant,
    endpoint: Endpoint,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            fetcher: Fetcher::new(LinkOwner::Bridge, ClientLimits::default()),
            now: crate::test_clock::origin(),
            endpoint: Endpoint::new("exporter", 9100),
        }
    }

    fn fetch(&mut self, key: usize, timeout: Duration) {
        self.fetcher
            .fetch(self.now, key, &self.endpoint.clone(), self.now + timeout);
    }

    fn actions(&mut self) -> Vec<LinkAction> {
        std::iter::from_fn(|| self.fetcher.poll_action()).collect()
    }

    fn done(&mut self) -> Vec<(usize, Arc<Fetched>)> {
        std::iter::from_fn(|| self.fetcher.poll_event())
            .map(|FetchEvent::Done { key, fetched }| (key, fetched))
            .collect()
    }

    fn event(&mut self, conn: ConnId, event: LinkEvent) {
        self.fetcher.handle_link(self.now, conn, event);
    }

    /// The connection a fresh fetch opened, connected; the request it sent.
    fn connect(&mut self) -> (ConnId, String) {
        let actions = self.actions();
        let [LinkAction::Connect { conn, target }] = &actions[..] else {
            panic!("one connect: {actions:?}");
        };
        assert_eq!(target.address.to_string(), "exporter:9100");
        let conn = *conn;
        self.event(conn, LinkEvent::Connected);
        (conn, self.sent(conn))
    }

    /// What was sent on `conn` since the last look.
    fn sent(&mut self, conn: ConnId) -> String {
        let actions = self.actions();
        match &actions[..] {
            [
                LinkAction::Command {
                    conn: on,
                    command: LinkCommand::Send(bytes),
                },
            ] if *on == conn => String::from_utf8_lossy(bytes).into_owned(),
            other => panic!("one send on {conn}: {other:?}"),
        }
    }
}

#[test]
fn a_fetch_parses_the_body_and_keeps_the_connection() {
    let mut harness = Harness::new();
    harness.fetch(3, Duration::from_secs(5));
    harness.fetch(3, Duration::from_secs(9));
    let (conn, request) = harness.connect();
    assert!(
        request.starts_with("GET /metrics HTTP/1.1\r\nHost: exporter:9100\r\n"),
        "{request}"
    );
    assert!(
        request.contains("X-Prometheus-Scrape-Timeout-Seconds: 5.000\r\n"),
        "{request}"
    );
    assert_eq!(
        harness.fetcher.poll_timeout(),
        Some(harness.now + Duration::from_secs(9))
    );
    harness.now += Duration::from_millis(30);
    harness.event(conn, LinkEvent::Input(ok_response(BODY)));
    let done = harness.done();
    let [(3, fetched)] = &done[..] else {
        panic!("{done:?}");
    };
    assert_eq!(fetched.duration, Duration::from_millis(30));
    let exposition = fetched.exposition().expect("parsed");
    assert_eq!(exposition.sample_count(), 1);
    assert!(harness.actions().is_empty(), "the connection stays open");

    harness.fetch(3, Duration::from_secs(5));
    let again = harness.sent(conn);
    assert!(again.starts_with("GET /metrics"), "{again}");
    harness.event(conn, LinkEvent::Input(ok_response(BODY)));
    assert!(harness.done()[0].1.is_up());
}

#[test]
fn a_kept_connection_the_endpoint_closed_is_replaced_once() {
    let mut harness = Harness::new();
    harness.fetch(0, Duration::from_secs(5));
    let (first, _) = harness.connect();
    harness.event(first, LinkEvent::Input(ok_response(BODY)));
    assert_eq!(harness.done().len(), 1);
    harness.fetch(0, Duration::from_secs(5));
    harness.sent(first);
    harness.event(first, LinkEvent::Eof);
    let actions = harness.actions();
    assert!(
        matches!(
            &actions[..],
            [
                LinkAction::Command {
                    command: LinkCommand::Close,
                    ..
                },
                LinkAction::Connect { .. }
            ]
        ),
        "{actions:?}"
    );
    let LinkAction::Connect { conn: second, .. } = actions[1] else {
        unreachable!()
    };
    harness.event(second, LinkEvent::Connected);
    harness.sent(second);
    harness.event(second, LinkEvent::Input(ok_response(BODY)));
    assert!(harness.done()[0].1.is_up());
}

/// What a failed fetch's error must be.
type Expected = fn(&FetchError) -> bool;

#[test]
fn failures_cost_only_their_own_fetch() {
    let mut harness = Harness::new();
    harness.fetch(0, Duration::from_secs(5));
    let actions = harness.actions();
    let LinkAction::Connect { conn, .. } = actions[0] else {
        panic!("{actions:?}");
    };
    harness.event(
        conn,
        LinkEvent::ConnectFailed("exporter:9100: refused".into()),
    );
    let done = harness.done();
    assert!(
        matches!(&done[0].1.outcome, Err(FetchError::Connect(_))),
        "{done:?}"
    );

    let cases: [(&str, Expected); 3] = [
        ("HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", |error| {
            *error == FetchError::Status(500)
        }),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n{}{}",
            |error| matches!(error, FetchError::Parse(_)),
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text\r\nContent-Length: 5\r\n\r\nup 1\n",
            |error| matches!(error, FetchError::Parse(_)),
        ),
    ];
    for (wire, expected) in cases {
        let mut harness = Harness::new();
        harness.fetch(1, Duration::from_secs(5));
        let (conn, _) = harness.connect();
        harness.event(conn, LinkEvent::Input(Bytes::from(wire)));
        let done = harness.done();
        let error = done[0].1.outcome.as_ref().unwrap_err();
        assert!(expected(error), "{error:?}");
    }
}

#[test]
fn a_slow_endpoint_fails_at_its_deadline() {
    let mut harness = Harness::new();
    harness.fetch(0, Duration::from_secs(2));
    let (conn, _) = harness.connect();
    harness.event(
        conn,
        LinkEvent::Input(Bytes::from_static(b"HTTP/1.1 200 OK\r\n")),
    );
    harness.now += Duration::from_secs(2);
    harness.fetcher.handle_timeout(harness.now);
    let done = harness.done();
    assert_eq!(
        done[0].1.outcome.as_ref().unwrap_err(),
        &FetchError::Http(ClientError::Timeout)
    );
    assert!(matches!(
        &harness.actions()[..],
        [LinkAction::Command {
            command: LinkCommand::Close,
            ..
        }]
    ));
    assert_eq!(harness.fetcher.poll_timeout(), None);
    harness.event(conn, LinkEvent::Input(ok_response(BODY)));
    assert!(harness.done().is_empty(), "a late answer is ignored");
}
