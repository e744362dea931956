//! A second connection for the main database when it is the bottleneck and the cap has room.

use super::*;

/// Every query takes 2 ms, so the main database, with the server-wide metrics besides its
/// own share of `database: all`, is the busiest.
fn timed(databases: Vec<&'static str>, cap: usize) -> Harness {
    let mut harness = Harness::new(vec![primary(databases)]);
    harness.use_settings(CollectorSettings {
        max_connections_per_server: cap,
        ..settings(Duration::ZERO)
    });
    harness.query_delay = Duration::from_millis(2);
    harness
}

fn assert_every_family_reported(body: &str, databases: &[&str]) {
    assert!(body.contains("pgexporter_size_bytes{server=\"s0\",database=\"postgres\"} 42\n"));
    assert!(body.contains("pgexporter_idle_seconds_count{server=\"s0\",application_name=\"app\""));
    for database in databases {
        let line = format!(
            "pgexporter_tables_count{{server=\"s0\",schemaname=\"public\",database=\"{database}\"}} 3\n"
        );
        assert!(body.contains(&line), "missing {line:?} in\n{body}");
    }
}

/// The body's sample lines, sorted, but for the query counters and times, which differ.
fn samples(body: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = body
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| !line.contains("_query_") && !line.contains("_duration_"))
        .collect();
    lines.sort_unstable();
    lines
}

#[test]
fn the_busiest_main_database_gets_a_second_connection_from_the_second_scrape() {
    let databases = ["postgres", "db1", "db2"];
    // The same server under a cap its databases fill: one connection each, every scrape.
    let mut unsplit = timed(databases.to_vec(), 3);
    unsplit.scrape();
    let (unsplit_queries, _) = unsplit.scrape_counting();

    let mut harness = timed(databases.to_vec(), 8);
    let body = render(&harness.scrape());
    assert_every_family_reported(&body, &databases);
    assert_eq!(harness.connects, 3, "the first scrape knows no costs yet");

    let (queries, body) = harness.scrape_counting();
    assert_every_family_reported(&body, &databases);
    assert_eq!(harness.connects, 4, "one more, to the main database");
    assert_eq!(queries, unsplit_queries, "no query lost or run twice");
    assert_eq!(
        samples(&body),
        samples(&render(&unsplit.scrape())),
        "the same samples"
    );

    let (queries, body) = harness.scrape_counting();
    assert_every_family_reported(&body, &databases);
    assert_eq!(harness.connects, 4, "the second connection is kept");
    assert_eq!(harness.collector.connection_count(), 4);
    assert_eq!(queries, unsplit_queries);
}

#[test]
fn no_second_connection_when_the_databases_fill_the_cap() {
    let mut harness = timed(vec!["postgres", "db1", "db2"], 3);
    for _ in 0..3 {
        let body = render(&harness.scrape());
        assert_every_family_reported(&body, &["postgres", "db1", "db2"]);
    }
    assert_eq!(harness.connects, 3);
    assert_eq!(harness.peak_connections, 3);
}

#[test]
fn no_second_connection_without_costs() {
    let mut harness = timed(vec!["postgres", "db1"], 8);
    harness.query_delay = Duration::ZERO;
    for _ in 0..3 {
        harness.scrape();
    }
    assert_eq!(harness.connects, 2, "nothing took time: no bottleneck");
}

#[test]
fn a_new_database_takes_the_second_connection_s_slot() {
    let mut harness = timed(vec!["postgres", "db1", "db2"], 4);
    harness.scrape();
    harness.scrape();
    assert_eq!(
        harness.collector.connection_count(),
        4,
        "main, its second, db1, db2"
    );

    harness.servers[0].databases.push("db3");
    let body = render(&harness.scrape());
    assert_every_family_reported(&body, &["postgres", "db1", "db2", "db3"]);
    assert_eq!(harness.peak_connections, 4, "never more than the cap");
    assert_eq!(harness.closes, 1, "the second connection made room");

    // Four databases fill the cap of four: the main database keeps to one connection.
    let connects = harness.connects;
    let body = render(&harness.scrape());
    assert_every_family_reported(&body, &["postgres", "db1", "db2", "db3"]);
    assert_eq!(
        harness.connects, connects,
        "every database keeps its connection"
    );
    assert_eq!(harness.peak_connections, 4);
}
