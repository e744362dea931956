//! Metrics with a `ttl`: their rows are served again while young, with their age.

use super::*;

/// A harness over one primary whose set has a metric kept for five minutes.
fn harness() -> Harness {
    let with_ttl =
        DEFINITIONS.replacen("    collector: db\n", "    collector: db\n    ttl: 5m\n", 1);
    let set =
        MetricSet::from_sources(&[Source::new("t.yaml", &with_ttl, SourceFormat::Yaml)]).unwrap();
    Harness::with_set(
        vec![primary(vec!["postgres"])],
        set,
        CollectorFilter::default(),
    )
}

#[test]
fn young_rows_are_served_again_with_their_age() {
    let mut harness = harness();
    let age =
        "pgexporter_metric_cache_age_seconds{server=\"s0\",database=\"postgres\",metric=\"size\"}";
    let size = "pgexporter_size_bytes{server=\"s0\",database=\"postgres\"} 42\n";
    let (first, body) = harness.scrape_counting();
    assert!(body.contains(&format!("{age} 0\n")), "{body}");
    assert!(body.contains(size));
    harness.now += Duration::from_secs(60);
    let (second, body) = harness.scrape_counting();
    assert_eq!(
        second,
        first - 3,
        "the kept metric is not queried, nor the kept settings and extensions"
    );
    assert!(body.contains(&format!("{age} 60\n")), "{body}");
    assert!(body.contains(size));
    assert!(
        body.contains("pgexporter_tables_count{"),
        "the others still run"
    );
    harness.now += Duration::from_secs(240);
    let (third, body) = harness.scrape_counting();
    assert_eq!(third, first, "five minutes on, it runs again");
    assert!(body.contains(&format!("{age} 0\n")), "{body}");
}

#[test]
fn clearing_the_counters_forgets_the_kept_rows() {
    let mut harness = harness();
    let (first, _) = harness.scrape_counting();
    harness.collector.reset_counters();
    let (second, _) = harness.scrape_counting();
    assert_eq!(second, first);
}

#[test]
fn a_set_without_ttl_has_no_age_family() {
    let mut harness = Harness::new(vec![primary(vec!["postgres"])]);
    let body = render(&harness.scrape());
    assert!(!body.contains("pgexporter_metric_cache_age_seconds"));
}
