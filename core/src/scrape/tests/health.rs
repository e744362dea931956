//! The collectors' health families: time, success and series per server and collector.

use std::time::Duration;

use super::*;

/// The value of the sample `line_start` begins, in `body`.
fn value(body: &str, line_start: &str) -> f64 {
    let line = body
        .lines()
        .find(|line| line.starts_with(line_start))
        .unwrap_or_else(|| panic!("no {line_start} in\n{body}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn each_collector_reports_its_time_success_and_series() {
    let mut harness = Harness::new(vec![primary(vec!["app", "postgres"])]);
    harness.answer_delay = Duration::from_millis(20);
    let started = harness.now;
    let result = harness.scrape();
    let elapsed = harness.now - started;
    let records = &result.servers[0].collectors;
    let names: Vec<&str> = records.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["db", "hist", "misc", "tables"],
        "the collectors that ran"
    );
    let spent: Duration = records.values().map(|record| record.duration).sum();
    assert!(
        spent > Duration::ZERO && spent <= elapsed,
        "{spent:?} of {elapsed:?}"
    );
    assert_eq!(records["misc"].failures, 1, "the broken query");

    let body = render(&result);
    let sample = |family: &str, collector: &str| {
        value(
            &body,
            &format!("{family}{{server=\"s0\",collector=\"{collector}\"}} "),
        )
    };
    for collector in ["db", "hist", "tables"] {
        assert_eq!(sample("pgexporter_collector_success", collector), 1.0);
    }
    assert_eq!(sample("pgexporter_collector_success", "misc"), 0.0);
    assert_eq!(sample("pgexporter_collector_series", "db"), 1.0);
    assert_eq!(
        sample("pgexporter_collector_series", "tables"),
        2.0,
        "one row in each of two databases"
    );
    assert_eq!(
        sample("pgexporter_collector_series", "misc"),
        1.0,
        "primary_only's row; the broken query returned none"
    );
    let rendered: f64 = ["db", "hist", "misc", "tables"]
        .iter()
        .map(|collector| sample("pgexporter_collector_duration_seconds", collector))
        .sum();
    assert!((rendered - spent.as_secs_f64()).abs() < 1e-9);
    assert!(body.contains("# TYPE pgexporter_collector_duration_seconds gauge\n"));
}

#[test]
fn an_unreachable_server_has_no_collector_samples() {
    let mut harness = Harness::new(vec![primary(vec!["postgres"]), primary(vec!["postgres"])]);
    harness.refused.push(0);
    let body = render(&harness.scrape());
    assert!(body.contains("pgexporter_collector_success{server=\"s1\",collector=\"db\"} 1\n"));
    assert!(
        !body.contains("collector_success{server=\"s0\""),
        "no collector ran on the server that did not answer"
    );
}
