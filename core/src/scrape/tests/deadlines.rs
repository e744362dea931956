//! Deadlines: each request answered by its own, late queries cancelled on kept connections,
//! and connections that cannot be opened neither doubled nor retried at every scrape.

use super::*;

#[test]
fn each_request_is_answered_by_its_own_deadline() {
    let mut harness = silent_and_healthy();
    // A 2 s scrape timeout leaves a tenth for the answer: the deadline is 1.8 s away.
    let start = harness.now;
    let (first, _) = harness.request(Some(Duration::from_secs(2)));
    harness.run();
    assert!(harness.finished.is_empty(), "server 0 has not answered");
    // A day is held to the longest scrape timeout, less its margin of one second.
    let (second, cached) = harness.request(Some(Duration::from_secs(86_400)));
    assert!(cached.is_none());
    harness.run();
    assert_eq!(
        harness.connects, 2,
        "single flight: the second request joins the first scrape"
    );
    assert_eq!(
        harness.collector.poll_timeout(),
        Some(start + Duration::from_millis(1800))
    );
    harness.now = start + Duration::from_millis(1800);
    harness.collector.handle_timeout(harness.now);
    harness.run();
    assert_eq!(
        harness.answered,
        vec![first],
        "only the first deadline passed"
    );
    assert_eq!(
        harness.partial_answers, 1,
        "an early answer, not a finished scrape"
    );
    let early = harness.finished.pop().unwrap();
    assert!(
        !early.servers[0].active,
        "still running: inactive in this answer"
    );
    assert!(early.servers[1].active, "what has arrived is there");
    assert!(harness.collector.is_scraping(), "the scrape goes on");
    let last = start + MAX_SCRAPE_TIMEOUT - Duration::from_secs(1);
    assert_eq!(harness.collector.poll_timeout(), Some(last));
    harness.now = last;
    harness.collector.handle_timeout(last);
    harness.run();
    assert_eq!(harness.answered, vec![first, second]);
    assert_eq!(
        harness.partial_answers, 1,
        "the end of the scrape finishes it"
    );
    assert!(!harness.finished.pop().unwrap().servers[0].active);
    assert!(!harness.collector.is_scraping());
}

#[test]
fn late_queries_are_cancelled_and_the_connection_kept_until_a_cancel_fails() {
    let mut harness = silent_and_healthy();
    let (ticket, _) = harness.request(Some(Duration::from_secs(2)));
    harness.run();
    harness.now += Duration::from_millis(1800);
    harness.collector.handle_timeout(harness.now);
    harness.run();
    assert_eq!(harness.answered, vec![ticket]);
    let result = harness.finished.pop().unwrap();
    assert!(!result.servers[0].active);
    assert!(result.servers[1].active);
    assert_eq!(
        harness.cancel_requests,
        vec![(BACKEND_PID, SECRET_KEY)],
        "the late server's running queries are cancelled"
    );
    assert_eq!(harness.closes, 0, "a deadline resets no connection");
    assert_eq!(harness.collector.connection_count(), 2);
    // The next scrape reuses the connection; its queries are still not answered: the
    // connection that a cancel did not free is closed at this scrape's end.
    let connects = harness.connects;
    harness.request(Some(Duration::from_secs(2)));
    harness.run();
    assert_eq!(harness.connects, connects, "the connections are reused");
    harness.now += Duration::from_millis(1800);
    harness.collector.handle_timeout(harness.now);
    harness.run();
    assert_eq!(
        harness.cancel_requests.len(),
        1,
        "one cancel per connection"
    );
    // It counts against the cap until the server closes it, which a silent server never does:
    // closed at the terminate deadline.
    assert_eq!(harness.closes, 0);
    assert_eq!(harness.collector.connection_count(), 2);
    harness.now += crate::pg::TERMINATE_TIMEOUT;
    harness.collector.handle_timeout(harness.now);
    harness.run();
    assert_eq!(harness.closes, 1);
    assert_eq!(harness.collector.connection_count(), 1);
}

#[test]
fn a_login_that_hangs_is_reused_then_backed_off_not_piled_up() {
    let mut stalled = primary(vec!["postgres"]);
    stalled.stalled_startup = true;
    let mut harness = Harness::new(vec![stalled]);
    for _ in 0..3 {
        let (ticket, _) = harness.request(Some(Duration::from_secs(2)));
        harness.run();
        harness.now += Duration::from_millis(1800);
        harness.collector.handle_timeout(harness.now);
        harness.run();
        assert_eq!(harness.answered.pop(), Some(ticket));
        assert!(!harness.finished.pop().unwrap().servers[0].active);
    }
    assert_eq!(harness.connects, 1, "the connection being opened is reused");
    assert_eq!(harness.collector.connection_count(), 1);
    assert!(
        harness.cancel_requests.is_empty(),
        "no key before the login ends"
    );
    // Its connect timeout (10 s here) ends it; the server is then left alone for the backoff.
    harness.now = crate::test_clock::origin() + Duration::from_secs(10);
    harness.collector.handle_timeout(harness.now);
    harness.run();
    assert_eq!(harness.collector.connection_count(), 0);
    let result = harness.scrape();
    assert!(!result.servers[0].active);
    assert_eq!(harness.connects, 1, "no new login during the backoff");
    harness.now += FIRST_BACKOFF;
    harness.request(Some(Duration::from_secs(2)));
    harness.run();
    assert_eq!(harness.connects, 2, "tried again after it");
}
