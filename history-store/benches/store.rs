//! What history storage costs: one snapshot's write of 5,000 samples, a database of 30 days
//! of 5-minute snapshots of those 5,000 series (its size per day), and reading one metric's
//! 30 days and its last hour page by page as the API does.
//!
//! `cargo bench -p pgexporter-history-store --bench store` (about two minutes; the database
//! is made in a temporary directory and removed).

use std::fmt::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pgexporter_core::history::{
    PAGE_ROWS, PageQuery, Snapshot, SnapshotBody, StoreOutcome, StoreTask, Window,
};
use pgexporter_history_store::Store;

const METRICS: usize = 100;
const SERIES_PER_METRIC: usize = 50;
const STEP: i64 = 300;
const DAYS: i64 = 30;
const START: i64 = 1_750_000_000;

/// A text body of 5,000 samples, values changing with `round`.
fn body(round: i64) -> Bytes {
    let mut text = String::new();
    for metric in 0..METRICS {
        let _ = writeln!(text, "# TYPE pgexporter_bench_metric_{metric} gauge");
        for series in 0..SERIES_PER_METRIC {
            let value = (round * 7 + (metric * series) as i64) % 100_000;
            let _ = writeln!(
                text,
                "pgexporter_bench_metric_{metric}{{server=\"primary\",database=\"db_{series}\",schemaname=\"public\"}} {value}"
            );
        }
    }
    Bytes::from(text)
}

fn write(store: &Store, timestamp: i64) -> Duration {
    let snapshot = Snapshot {
        timestamp,
        body: SnapshotBody::Exposition(body(timestamp / STEP)),
    };
    let started = Instant::now();
    let outcome = store.run(StoreTask::Write(snapshot)).unwrap();
    let took = started.elapsed();
    assert!(matches!(outcome, StoreOutcome::Written { rows: 5000, .. }));
    took
}

/// Reads every page of `metric` in `window`: rows and time.
fn read_all(store: &Store, metric: &str, window: Window) -> (usize, Duration) {
    let started = Instant::now();
    let mut after = None;
    let mut rows = 0;
    loop {
        let query = PageQuery {
            metric: metric.into(),
            window,
            after,
            limit: PAGE_ROWS,
        };
        let StoreOutcome::Page(page) = store.run(StoreTask::Query(query)).unwrap() else {
            panic!("a page");
        };
        rows += page.len();
        match page.last() {
            Some(last) if page.len() == PAGE_ROWS => after = Some((last.timestamp, last.series)),
            _ => return (rows, started.elapsed()),
        }
    }
}

fn percentile(times: &mut [Duration], share: f64) -> Duration {
    times.sort();
    times[((times.len() - 1) as f64 * share) as usize]
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let store = Store::new(&path);
    let snapshots = DAYS * 86_400 / STEP;
    let mut times = Vec::new();
    for round in 0..snapshots {
        times.push(write(&store, START + round * STEP));
    }
    let size: u64 = ["", "-wal"]
        .iter()
        .map(|suffix| {
            std::fs::metadata(format!("{}{suffix}", path.display())).map_or(0, |m| m.len())
        })
        .sum();
    println!(
        "write of one 5,000-sample snapshot ({snapshots} snapshots): p50 {:.1} ms, p99 {:.1} ms",
        percentile(&mut times, 0.5).as_secs_f64() * 1000.0,
        percentile(&mut times, 0.99).as_secs_f64() * 1000.0
    );
    println!(
        "database after {DAYS} days of 5-minute snapshots of 5,000 series: {:.1} MiB, {:.1} MiB per day",
        size as f64 / 1048576.0,
        size as f64 / 1048576.0 / DAYS as f64
    );
    let end = START + (snapshots - 1) * STEP;
    for (what, window) in [
        (
            "30 days",
            Window {
                from: START,
                to: end,
            },
        ),
        (
            "the last hour",
            Window {
                from: end - 3600,
                to: end,
            },
        ),
    ] {
        let (rows, took) = read_all(&store, "pgexporter_bench_metric_7", window);
        println!(
            "query of one metric ({SERIES_PER_METRIC} series) over {what}: {rows} rows in {:.1} ms",
            took.as_secs_f64() * 1000.0
        );
    }
}
