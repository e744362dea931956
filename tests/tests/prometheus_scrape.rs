//! A real Prometheus (Debian's 2.42) scrapes the exporter with its default scrape settings,
//! which ask for OpenMetrics first, and PromQL written against the reference's family names
//! answers: counters keep their names (no `_total` appended), gauges and histograms work.

use std::time::{Duration, Instant};

use pgexporter_tests::exporter::{Exporter, ExporterHome};
use pgexporter_tests::prometheus::Prometheus;
use pgexporter_tests::{ClusterOptions, PgCluster};

/// How long Prometheus gets to collect enough scrapes for a `rate()`.
const QUERY_TIMEOUT: Duration = Duration::from_secs(60);

#[test]
fn promql_over_the_reference_names_answers() {
    let cluster = PgCluster::start(ClusterOptions::default());
    let _idle = cluster.idle_session();
    let home = ExporterHome::new();
    let port = home.write_config(&cluster, "");
    let exporter = Exporter::start(&home, port, &[]);
    let prometheus = Prometheus::start(exporter.address(), Duration::from_secs(1));

    let answered = |promql: &str| {
        let started = Instant::now();
        loop {
            let samples = prometheus.query(promql);
            if !samples.is_empty() {
                return samples;
            }
            assert!(
                started.elapsed() < QUERY_TIMEOUT,
                "no answer to {promql}\nprometheus: {}\nexporter: {}",
                prometheus.log(),
                exporter.log()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    };

    // Every scrape commits transactions in `postgres`, so the counter grows.
    let commits =
        answered("rate(pgexporter_pg_stat_database_xact_commit{database=\"postgres\"}[10s]) > 0");
    assert_eq!(commits[0].0["server"], "primary");
    let sizes = answered("pgexporter_pg_database_size{database=\"postgres\"}");
    assert!(sizes[0].1 > 1_000_000.0, "{sizes:?}");
    let idle = answered(
        "histogram_quantile(0.5, sum by (le) (pgexporter_pg_process_idle_seconds_bucket))",
    );
    assert!(idle[0].1.is_finite() && idle[0].1 > 0.0, "{idle:?}");
    assert!(
        prometheus
            .query("{__name__=~\"pgexporter_pg_stat_database_xact_commit_total\"}")
            .is_empty(),
        "a counter was stored under another name"
    );
}
