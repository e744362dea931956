//! A whole scrape of the built-in metric set from a real PostgreSQL 15 cluster, through the
//! release daemon: `cargo build --release --bins && cargo bench -p pgexporter-tests --bench scrape`.
//! Another runtime's build is measured with the same command and `PGEXPORTER_BIN_DIR` pointing
//! at its binaries (`scripts/build-runtimes.sh --release` puts them in
//! `target/runtimes-release/<runtime>`).
//!
//! `PGEXPORTER_BENCH_CONFIG` adds lines to the daemon's `[pgexporter]` section (for example
//! `history = 5099`, to measure scrapes with history on).
//!
//! Besides criterion's timing it prints the binary's size and the daemon's idle RSS, the p50
//! and p99 of 500 scrapes, the body size, the samples per scrape, the time PostgreSQL spent
//! executing the exporter's statements per scrape (from `pg_stat_statements`), the exporter's
//! own CPU time per scrape (with its reaped children's, for the fork runtime), the connections
//! the exporter holds (from `pg_stat_activity`), then the p50, p99 and requests per second of [`CLIENTS`] clients
//! scraping at once, and the daemon's peak RSS.

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use pgexporter_tests::cluster::MONITOR_USER;
use pgexporter_tests::exporter::{Exporter, ExporterHome};
use pgexporter_tests::measure::{cpu_ms, percentiles_ms, rss_kib};
use pgexporter_tests::{ClusterOptions, PgCluster};

/// Scrapes timed for the percentiles.
const SAMPLES: usize = 500;

/// Clients scraping at once in the concurrent phase.
const CLIENTS: usize = 8;

/// Scrapes each client makes in the concurrent phase.
const SCRAPES_PER_CLIENT: usize = 250;

fn scrape(c: &mut Criterion) {
    let cluster = PgCluster::start(ClusterOptions::default());
    for database in ["bench_a", "bench_b"] {
        cluster.psql(&format!("CREATE DATABASE {database}"));
    }
    cluster.psql("CREATE TABLE bench_table AS SELECT g AS id FROM generate_series(1, 1000) AS g");
    let home = ExporterHome::new();
    let extra = std::env::var("PGEXPORTER_BENCH_CONFIG")
        .unwrap_or_default()
        .replace("\\n", "\n");
    let port = home.write_config(&cluster, &extra);
    let exporter = Exporter::start(&home, port, &[]);
    let binary = pgexporter_tests::binaries::binary("pgexporter");
    let binary_size = fs::metadata(&binary).map(|meta| meta.len()).unwrap_or(0);
    thread::sleep(Duration::from_secs(1));
    let idle_rss = rss_kib(exporter.pid(), "VmRSS");
    println!(
        "binary {}: {binary_size} bytes; idle RSS {idle_rss} KiB",
        binary.display()
    );
    let body = exporter.scrape();

    let mut group = c.benchmark_group("scrape");
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("builtin set, PostgreSQL 15, 3 databases", |b| {
        b.iter(|| exporter.get("/metrics", &[]))
    });
    group.finish();

    cluster.psql("SELECT pg_stat_statements_reset()");
    let cpu_before = cpu_ms(exporter.pid());
    let mut times: Vec<Duration> = (0..SAMPLES)
        .map(|_| {
            let started = Instant::now();
            exporter.scrape();
            started.elapsed()
        })
        .collect();
    let exporter_cpu = (cpu_ms(exporter.pid()) - cpu_before) / SAMPLES as f64;
    let (p50, p99) = percentiles_ms(&mut times);
    let server_ms: f64 = cluster
        .psql(&format!(
            "SELECT COALESCE(sum(total_exec_time), 0) FROM pg_stat_statements s \
             JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = '{}'",
            MONITOR_USER.name
        ))
        .trim()
        .parse()
        .unwrap_or(0.0);
    let connections =
        cluster.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgexporter'");
    println!(
        "scrape: p50 {p50:.2} ms, p99 {p99:.2} ms over {SAMPLES} scrapes; PostgreSQL executing \
         {:.2} ms and the exporter {exporter_cpu:.2} ms of CPU per scrape; body {} bytes, {} \
         families, {} samples; {} connections",
        server_ms / SAMPLES as f64,
        body.len(),
        body.lines()
            .filter(|line| line.starts_with("# TYPE "))
            .count(),
        body.lines()
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .count(),
        connections.trim(),
    );

    let started = Instant::now();
    let mut times: Vec<Duration> = thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                scope.spawn(|| {
                    (0..SCRAPES_PER_CLIENT)
                        .map(|_| {
                            let sent = Instant::now();
                            exporter.scrape();
                            sent.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|client| client.join().expect("a scraping client"))
            .collect()
    });
    let elapsed = started.elapsed();
    let (p50, p99) = percentiles_ms(&mut times);
    println!(
        "{CLIENTS} concurrent clients: p50 {p50:.2} ms, p99 {p99:.2} ms, {:.0} requests/s over {} \
         scrapes; peak RSS {} KiB",
        times.len() as f64 / elapsed.as_secs_f64(),
        times.len(),
        rss_kib(exporter.pid(), "VmHWM"),
    );
}

criterion_group!(benches, scrape);
criterion_main!(benches);
