//! Definitions running the same SQL share one execution per database and scrape.

use std::time::Duration;

use super::*;

/// The test set plus `tables_again`: the SQL of `tables`, read through other columns by
/// another collector.
fn harness() -> Harness {
    let repeated = format!(
        "{DEFINITIONS}  - tag: tables_again
    collector: again
    database: all
    queries:
      - query: SELECT 'public' AS schemaname, 3 AS count
        columns:
          - name: count
            type: gauge
"
    );
    let set =
        MetricSet::from_sources(&[Source::new("t.yaml", &repeated, SourceFormat::Yaml)]).unwrap();
    let mut harness = Harness::with_set(
        vec![primary(vec!["app", "postgres"])],
        set,
        CollectorFilter::default(),
    );
    harness.answer_delay = Duration::from_millis(20);
    harness
}

#[test]
fn a_repeated_sql_text_runs_once_per_database_and_feeds_every_definition() {
    let mut plain = Harness::new(vec![primary(vec!["app", "postgres"])]);
    plain.scrape();
    let mut shared = harness();
    let result = shared.scrape();
    assert_eq!(
        shared.collector.counters().executions,
        plain.collector.counters().executions,
        "no execution more than without the repeated definition"
    );
    let body = render(&result);
    for database in ["app", "postgres"] {
        assert!(
            body.contains(&format!(
                "pgexporter_tables_count{{server=\"s0\",schemaname=\"public\",database=\"{database}\"}} 3\n"
            )),
            "{body}"
        );
        assert!(
            body.contains(&format!(
                "pgexporter_tables_again_count{{server=\"s0\",database=\"{database}\"}} 3\n"
            )),
            "the reader's own columns: no schemaname label\n{body}"
        );
    }
    assert!(body.contains("# TYPE pgexporter_tables_again_count gauge\n"));
    let records = &result.servers[0].collectors;
    assert_eq!(records["again"].failures, 0);
    assert_eq!(
        records["again"].duration, records["tables"].duration,
        "the shared execution's time is split evenly"
    );
    assert!(records["again"].duration > Duration::ZERO);
    assert!(body.contains("pgexporter_collector_series{server=\"s0\",collector=\"again\"} 2\n"));

    let again = shared.scrape();
    assert!(
        render(&again)
            .contains("pgexporter_tables_again_count{server=\"s0\",database=\"app\"} 3\n"),
        "the next scrape shares again"
    );
}
