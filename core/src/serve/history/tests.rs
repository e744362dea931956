use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::history::{Cursor, StoreKind, Window};
use crate::http::Paths;

fn service() -> (HistoryService, Instant) {
    let now = crate::test_clock::origin();
    let config = HttpConfig {
        paths: Paths::History,
        ..HttpConfig::new(Duration::from_secs(5))
    };
    (HistoryService::new(config, StoreKind::Bridge, now), now)
}

fn drain(service: &mut HistoryService) -> String {
    let mut out = BytesMut::new();
    while service.poll_transmit(&mut out) {}
    String::from_utf8_lossy(&out).into_owned()
}

fn jobs(service: &mut HistoryService) -> Vec<Job> {
    std::iter::from_fn(|| service.poll_event()).collect()
}

const CURSOR: Cursor = Cursor {
    window: Window { from: 10, to: 20 },
    timestamp: 15,
    series: 4,
};

#[test]
fn refusals_are_answered_without_a_job() {
    let (mut service, now) = service();
    service.handle_input(
        now,
        b"GET /metrics HTTP/1.1\r\n\r\nGET /history/a?duration=x HTTP/1.1\r\n\r\n\
          GET /history/a-b HTTP/1.1\r\n\r\n",
    );
    assert!(jobs(&mut service).is_empty());
    let out = drain(&mut service);
    assert!(out.starts_with("HTTP/1.1 404 Not Found\r\n"), "{out}");
    assert_eq!(
        out.matches("HTTP/1.1 400 Bad Request\r\n").count(),
        2,
        "{out}"
    );
    assert!(
        out.contains("parameter 'duration' is not an integer"),
        "{out}"
    );
    assert!(!service.is_finished(), "refusals keep the connection");
}

#[test]
fn an_answer_is_asked_for_and_written_piece_by_piece() {
    let (mut service, now) = service();
    service.handle_input(
        now,
        b"GET /history/up?timestamp=20&duration=-10 HTTP/1.1\r\n\r\n",
    );
    assert_eq!(
        jobs(&mut service),
        [Job::History(HistoryJob {
            store: StoreKind::Bridge,
            metric: "up".into(),
            start: PageStart::First {
                timestamp: Some(20),
                duration: -10
            }
        })]
    );
    let piece = |body: &'static [u8], next| {
        Answer::History(HistoryAnswer::Piece {
            body: Bytes::from_static(body),
            next,
        })
    };
    service.handle_message(now, piece(b"[{\"a\":1}", Some(CURSOR)));
    let out = drain(&mut service);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(
        out.contains("Content-Type: application/json; charset=utf-8\r\n"),
        "{out}"
    );
    assert!(out.ends_with("8\r\n[{\"a\":1}\r\n"), "{out}");
    assert_eq!(
        jobs(&mut service),
        [Job::History(HistoryJob {
            store: StoreKind::Bridge,
            metric: "up".into(),
            start: PageStart::After(CURSOR)
        })]
    );
    service.handle_message(now, piece(b"]", None));
    assert_eq!(drain(&mut service), "1\r\n]\r\n0\r\n\r\n");
    assert!(jobs(&mut service).is_empty());
    assert!(!service.is_finished());
}

#[test]
fn failures_before_and_after_the_first_piece() {
    let (mut service, now) = service();
    service.handle_input(now, b"GET /history/up HTTP/1.1\r\n\r\n");
    assert_eq!(jobs(&mut service).len(), 1);
    service.handle_message(now, Answer::History(HistoryAnswer::Failed));
    assert!(drain(&mut service).starts_with("HTTP/1.1 500 "));
    service.handle_input(now, b"GET /history/up HTTP/1.1\r\n\r\n");
    assert_eq!(jobs(&mut service).len(), 1);
    service.handle_message(now, Answer::History(HistoryAnswer::Busy));
    assert!(drain(&mut service).starts_with("HTTP/1.1 503 "));
    service.handle_input(now, b"GET /history/up HTTP/1.1\r\n\r\n");
    assert_eq!(jobs(&mut service).len(), 1);
    let first = HistoryAnswer::Piece {
        body: Bytes::from_static(b"[{}"),
        next: Some(CURSOR),
    };
    service.handle_message(now, Answer::History(first));
    drain(&mut service);
    assert_eq!(jobs(&mut service).len(), 1);
    service.handle_message(now, Answer::History(HistoryAnswer::Failed));
    assert!(
        !drain(&mut service).contains("0\r\n\r\n"),
        "the body is cut short"
    );
    assert!(service.is_finished());
}

#[test]
fn head_requests_take_one_piece_and_stray_answers_are_dropped() {
    let (mut service, now) = service();
    service.handle_message(now, Answer::History(HistoryAnswer::Busy));
    assert_eq!(drain(&mut service), "");
    service.handle_input(now, b"HEAD /history/up HTTP/1.1\r\n\r\n");
    assert_eq!(jobs(&mut service).len(), 1);
    let first = HistoryAnswer::Piece {
        body: Bytes::from_static(b"[{}"),
        next: Some(CURSOR),
    };
    service.handle_message(now, Answer::History(first));
    let out = drain(&mut service);
    assert!(
        out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("\r\n\r\n"),
        "{out}"
    );
    assert!(jobs(&mut service).is_empty(), "no more pieces for HEAD");
}
