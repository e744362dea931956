//! A whole scrape of the built-in metric set from a real PostgreSQL 15 cluster, through the
//! release daemon: `cargo build --release --bins && cargo bench -p pgexporter-tests --bench scrape`.
//!
//! Besides criterion's timing it prints the p50 and p99 of 500 scrapes, the body size, the
//! connections the exporter holds (from `pg_stat_activity`) and the daemon's peak RSS.

use std::fs;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use pgexporter_tests::exporter::{Exporter, ExporterHome};
use pgexporter_tests::{ClusterOptions, PgCluster};

/// Scrapes timed for the percentiles.
const SAMPLES: usize = 500;

fn peak_rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn scrape(c: &mut Criterion) {
    let cluster = PgCluster::start(ClusterOptions::default());
    for database in ["bench_a", "bench_b"] {
        cluster.psql(&format!("CREATE DATABASE {database}"));
    }
    cluster.psql("CREATE TABLE bench_table AS SELECT g AS id FROM generate_series(1, 1000) AS g");
    let home = ExporterHome::new();
    let port = home.write_config(&cluster, "");
    let exporter = Exporter::start(&home, port, &[]);
    let body = exporter.scrape();

    let mut group = c.benchmark_group("scrape");
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("builtin set, PostgreSQL 15, 3 databases", |b| {
        b.iter(|| exporter.get("/metrics", &[]))
    });
    group.finish();

    let mut times: Vec<Duration> = (0..SAMPLES)
        .map(|_| {
            let started = Instant::now();
            exporter.scrape();
            started.elapsed()
        })
        .collect();
    times.sort();
    let connections =
        cluster.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgexporter'");
    println!(
        "scrape: p50 {:.2} ms, p99 {:.2} ms over {SAMPLES} scrapes; body {} bytes, {} families; \
         {} connections; peak RSS {} KiB",
        times[SAMPLES / 2].as_secs_f64() * 1e3,
        times[SAMPLES * 99 / 100].as_secs_f64() * 1e3,
        body.len(),
        body.lines()
            .filter(|line| line.starts_with("# TYPE "))
            .count(),
        connections.trim(),
        peak_rss_kib(exporter.pid()),
    );
}

criterion_group!(benches, scrape);
criterion_main!(benches);
