//! Extension metrics: found per database on every scrape, planned by installed version.

use super::*;
use crate::metrics::{ExtensionFilter, parse_extension_source};

const DEMO: &str = "
extension: demo
metrics:
  - metric: server_wide
    queries:
      - query: SELECT 'old' AS variant, 1 AS value
        version: '1.0'
        columns:
          - name: variant
            type: label
          - name: value
            type: gauge
      - query: SELECT 'new' AS variant, 2 AS value
        version: '1.5'
        columns:
          - name: variant
            type: label
          - name: value
            type: gauge
  - metric: per_database
    database: all
    queries:
      - query: SELECT 7 AS objects
        version: '1.0'
        columns:
          - name: objects
            type: gauge
";

/// The scripted answers to the queries of [`DEMO`].
pub(super) fn answer(sql: &str) -> Option<Answer> {
    let one = |columns: Vec<&'static str>, row: Vec<&str>| {
        Answer::Rows(
            columns,
            vec![row.into_iter().map(|v| Some(v.to_owned())).collect()],
        )
    };
    Some(match sql {
        "SELECT 'old' AS variant, 1 AS value" => one(vec!["variant", "value"], vec!["old", "1"]),
        "SELECT 'new' AS variant, 2 AS value" => one(vec!["variant", "value"], vec!["new", "2"]),
        "SELECT 7 AS objects" => one(vec!["objects"], vec!["7"]),
        _ => return None,
    })
}

fn demo_set() -> MetricSet {
    let base =
        MetricSet::from_sources(&[Source::new("t.yaml", DEFINITIONS, SourceFormat::Yaml)]).unwrap();
    let demo =
        parse_extension_source(&Source::new("demo.yaml", DEMO, SourceFormat::Yaml), 20).unwrap();
    base.with_extensions(vec![demo]).unwrap()
}

fn demo_harness(databases: Vec<&'static str>, filter: CollectorFilter) -> Harness {
    Harness::with_set(vec![primary(databases)], demo_set(), filter)
}

/// The samples of the demo extension's families in a rendered body.
fn demo_samples(body: &str) -> Vec<&str> {
    body.lines()
        .filter(|line| line.starts_with("pgexporter_demo_"))
        .collect()
}

#[test]
fn an_extension_created_updated_and_dropped_changes_the_next_scrape() {
    let mut harness = demo_harness(vec!["postgres", "app"], CollectorFilter::default());
    let result = harness.scrape();
    assert!(result.servers[0].active);
    assert!(demo_samples(&render(&result)).is_empty());
    let wire = harness.wires.values().find(|wire| wire.database == "app");
    assert!(wire.is_some(), "the other database was probed");

    harness.servers[0].extensions.push(("app", "demo", "1.0"));
    let result = harness.scrape();
    assert_eq!(
        demo_samples(&render(&result)),
        [
            "pgexporter_demo_server_wide_value{server=\"s0\",variant=\"old\",database=\"app\"} 1",
            "pgexporter_demo_per_database_objects{server=\"s0\",database=\"app\"} 7",
        ],
        "installed in app only: both run there"
    );

    harness.servers[0].extensions = vec![("app", "demo", "1.5.1"), ("postgres", "demo", "1.4")];
    let result = harness.scrape();
    let body = render(&result);
    let mut samples = demo_samples(&body);
    // The databases answer in any order.
    samples.sort_unstable();
    assert_eq!(
        samples,
        [
            "pgexporter_demo_per_database_objects{server=\"s0\",database=\"app\"} 7",
            "pgexporter_demo_per_database_objects{server=\"s0\",database=\"postgres\"} 7",
            "pgexporter_demo_server_wide_value{server=\"s0\",variant=\"old\",database=\"postgres\"} 1",
        ],
        "the server-wide metric runs once, in postgres, with the variant of its version"
    );

    harness.servers[0].extensions = vec![("postgres", "demo", "1.10")];
    let result = harness.scrape();
    assert_eq!(
        demo_samples(&render(&result)),
        [
            "pgexporter_demo_server_wide_value{server=\"s0\",variant=\"new\",database=\"postgres\"} 2",
            "pgexporter_demo_per_database_objects{server=\"s0\",database=\"postgres\"} 7",
        ],
        "updated: 1.10 takes the 1.5 variant"
    );

    harness.servers[0].extensions.clear();
    let result = harness.scrape();
    assert!(result.servers[0].active, "a drop costs no failed scrape");
    assert!(demo_samples(&render(&result)).is_empty());
    assert_eq!(harness.connects, 2, "no reconnection on the way");
}

#[test]
fn the_main_database_reads_pg_available_extensions_once_and_no_pg_extension() {
    let mut harness = demo_harness(vec!["postgres", "app"], CollectorFilter::default());
    harness.servers[0]
        .extensions
        .push(("postgres", "demo", "1.0"));
    let result = harness.scrape();
    assert_eq!(demo_samples(&render(&result)).len(), 2);
    // postgres: 4 probes, 5 metrics, 2 demo metrics; app: the pg_extension probe and 1 metric.
    assert_eq!(result.queries.executions, 13);
    let main = harness
        .wires
        .values()
        .find(|wire| wire.database == "postgres")
        .unwrap();
    let parsed: Vec<&String> = main.statements.values().collect();
    assert_eq!(
        parsed
            .iter()
            .filter(|sql| sql.contains("pg_available_extensions"))
            .count(),
        1
    );
    assert!(parsed.iter().all(|sql| !sql.contains("pg_extension ")));
}

#[test]
fn a_database_whose_extensions_cannot_be_read_costs_only_its_own_metrics() {
    let mut harness = demo_harness(vec!["postgres", "unreadable"], CollectorFilter::default());
    harness.servers[0].extensions =
        vec![("postgres", "demo", "1.0"), ("unreadable", "demo", "1.0")];
    let result = harness.scrape();
    assert!(result.servers[0].active);
    assert_eq!(
        demo_samples(&render(&result)),
        [
            "pgexporter_demo_server_wide_value{server=\"s0\",variant=\"old\",database=\"postgres\"} 1",
            "pgexporter_demo_per_database_objects{server=\"s0\",database=\"postgres\"} 7",
        ]
    );
}

#[test]
fn disabled_extensions_are_not_probed_nor_run() {
    let filter = CollectorFilter::default()
        .with_extensions(ExtensionFilter::new(None, &[("s0", &["postgis"][..])]));
    let mut harness = demo_harness(vec!["postgres", "app"], filter);
    harness.servers[0].extensions = vec![("postgres", "demo", "1.0"), ("app", "demo", "1.0")];
    let result = harness.scrape();
    assert!(demo_samples(&render(&result)).is_empty());
    let app = harness
        .wires
        .values()
        .find(|wire| wire.database == "app")
        .unwrap();
    assert!(
        app.statements
            .values()
            .all(|sql| !sql.contains("pg_extension")),
        "no extension of s0 is enabled: nothing to find"
    );

    let only_demo = CollectorFilter::new(&["demo"], &[]);
    let mut harness = demo_harness(vec!["postgres", "app"], only_demo);
    harness.servers[0].extensions = vec![("app", "demo", "1.0")];
    let body = render(&harness.scrape());
    assert_eq!(
        demo_samples(&body).len(),
        2,
        "the collector is the extension's name"
    );
    assert!(!body.contains("pgexporter_size_bytes"));
}
