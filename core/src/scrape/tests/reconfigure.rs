//! Reconfigurations of a running collector: what keeps its connections, what reconnects, and a
//! scrape in progress when one arrives.

use super::*;

#[test]
fn activity_follows_the_last_finished_scrape() {
    let mut harness = Harness::new(vec![primary(vec!["postgres"]), primary(vec!["postgres"])]);
    assert_eq!(harness.collector.activity(), [false, false]);
    harness.refused.push(1);
    harness.scrape();
    assert_eq!(harness.collector.activity(), [true, false]);
    harness.refused.clear();
    harness.now += FIRST_BACKOFF;
    harness.scrape();
    assert_eq!(harness.collector.activity(), [true, true]);
}

#[test]
fn a_reconfiguration_of_the_cache_keeps_the_connections() {
    let mut harness = Harness::new(vec![primary(vec!["postgres"])]);
    harness.scrape();
    let mut parts = harness.parts(settings(Duration::from_secs(60)));
    parts.metrics = Arc::clone(&harness.scrape().metrics);
    harness.collector.reconfigure(harness.now, parts);
    harness.run();
    assert_eq!(harness.closes, 0);
    let first = harness.scrape();
    let (_, cached) = harness.request(None);
    assert!(
        Arc::ptr_eq(&first, &cached.expect("the new cache age applies")),
        "the cache is on now"
    );
    assert_eq!(harness.connects, 1);
}

#[test]
fn new_servers_or_definitions_reconnect_everything() {
    let mut harness = Harness::new(vec![primary(vec!["postgres", "app"])]);
    harness.scrape();
    assert_eq!(harness.connects, 2);
    let mut parts = harness.parts(settings(Duration::ZERO));
    parts.servers.push(spec(1));
    harness.servers.push(primary(vec!["postgres"]));
    harness.collector.reconfigure(harness.now, parts);
    harness.run();
    assert_eq!(harness.closes, 2, "both old connections end");
    assert_eq!(harness.collector.connection_count(), 0);
    assert_eq!(harness.collector.activity(), [false, false]);
    let result = harness.scrape();
    assert_eq!(result.servers.len(), 2);
    assert!(result.servers.iter().all(|server| server.active));
    assert_eq!(result.servers[1].name, "s1");
    assert_eq!(harness.connects, 5);
}

/// A harness with a server that answers startup and then nothing (server 0), and a healthy one.

#[test]
fn a_reconfiguration_during_a_scrape_ends_it_with_what_arrived() {
    let mut harness = silent_and_healthy();
    let (ticket, _) = harness.request(None);
    harness.run();
    assert!(harness.collector.is_scraping());
    let parts = harness.parts(settings(Duration::ZERO));
    harness.collector.reconfigure(harness.now, parts);
    harness.run();
    assert!(!harness.collector.is_scraping());
    assert_eq!(harness.answered, vec![ticket]);
    let result = harness.finished.pop().unwrap();
    assert!(!result.servers[0].active);
    assert!(result.servers[1].active);
    assert_eq!(harness.collector.connection_count(), 0);
}
