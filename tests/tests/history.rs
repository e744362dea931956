//! End-to-end tests of metric history: snapshots of real scrapes stored in SQLite and served
//! on the history port, pruning, a database that fails under the daemon, and SIGKILL in the
//! middle of snapshot writes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use nix::sys::signal::Signal;
use pgexporter_tests::exporter::{
    Exporter, ExporterHome, eventually, free_port, history_snapshots, labelled_samples,
    sample_value,
};
use pgexporter_tests::http_client::{self, HttpResponse, TESTDATA, tls_client};
use pgexporter_tests::{ClusterOptions, PgCluster};
use serde_json::Value;

/// A daemon with history on, its history port and database file.
struct HistoryDaemon {
    home: ExporterHome,
    exporter: Exporter,
    metrics_port: u16,
    history: SocketAddr,
    database: PathBuf,
}

impl HistoryDaemon {
    /// Starts a daemon for `cluster` with `extra` history keys, its database in its home.
    fn start(cluster: &PgCluster, extra: &str) -> HistoryDaemon {
        let home = ExporterHome::new();
        let database = home.dir().join("history.db");
        let history_port = free_port();
        let keys = format!(
            "history = {history_port}\nhistory_path = {}\n{extra}",
            database.display()
        );
        let metrics_port = home.write_config(cluster, &keys);
        let exporter = Exporter::start(&home, metrics_port, &[]);
        HistoryDaemon {
            home,
            exporter,
            metrics_port,
            history: SocketAddr::from(([127, 0, 0, 1], history_port)),
            database,
        }
    }

    /// Starts the daemon of this home again (after it was killed).
    fn restart(&mut self) {
        self.exporter = Exporter::start(&self.home, self.metrics_port, &[]);
    }

    fn get(&self, target: &str) -> HttpResponse {
        http_client::get(self.history, target, &[])
    }

    /// The rows of `/history/<metric>?<query>`, which must answer 200 with a JSON array.
    fn rows(&self, metric: &str, query: &str) -> Vec<Value> {
        let response = self.get(&format!("/history/{metric}?{query}"));
        assert_eq!(
            response.status,
            200,
            "{}\n{}",
            response.text(),
            self.exporter.log()
        );
        assert_eq!(
            response.headers.get("content-type").map(String::as_str),
            Some("application/json; charset=utf-8")
        );
        let parsed: Value = serde_json::from_slice(&response.body).expect("a JSON answer");
        parsed.as_array().expect("a JSON array").clone()
    }
}

/// The `pgexporter_pg_database_size` samples of an exposition body: labels and values.
fn database_sizes(body: &str) -> BTreeMap<String, f64> {
    labelled_samples(body, "pgexporter_pg_database_size")
}

#[test]
fn scrapes_are_stored_and_served_with_the_api_rules() {
    let cluster = PgCluster::start(ClusterOptions::default());
    cluster.psql("CREATE DATABASE history_second");
    let daemon = HistoryDaemon::start(&cluster, "history_interval = 0");
    let mut last_scrape = String::new();
    for _ in 0..3 {
        last_scrape = daemon.exporter.scrape();
        thread::sleep(Duration::from_millis(1100));
    }
    let expected = database_sizes(&last_scrape);
    let databases: BTreeSet<&str> = expected
        .keys()
        .filter_map(|labels| labels.split("database=\"").nth(1)?.split('"').next())
        .collect();
    assert!(
        databases.contains("postgres") && databases.contains("history_second"),
        "{databases:?}"
    );

    let metric = "pgexporter_pg_database_size";
    let mut snapshots = BTreeMap::new();
    eventually("three snapshots stored", || {
        snapshots = history_snapshots(&daemon.rows(metric, "duration=-600"));
        snapshots.len() >= 3
    });
    assert_eq!(snapshots.len(), 3, "one snapshot per scrape, no timer");
    let (_, newest) = snapshots.iter().next_back().unwrap();
    assert_eq!(
        newest, &expected,
        "the last snapshot holds what the last scrape served"
    );
    for rows in snapshots.values() {
        assert_eq!(
            rows.len(),
            databases.len(),
            "every database in every snapshot"
        );
    }
    let row = &daemon.rows(metric, "duration=-600")[0];
    assert_eq!(row["server"], "primary");
    assert_eq!(row["metric"], metric);

    let (first, _) = snapshots.iter().next().unwrap();
    let around_first = daemon.rows(metric, &format!("timestamp={first}&duration=0"));
    assert_eq!(
        around_first.len(),
        databases.len(),
        "a window of one second"
    );
    let after_first = daemon.rows(metric, &format!("timestamp={}&duration=600", first + 1));
    assert_eq!(
        after_first.len(),
        2 * databases.len(),
        "a window forward in time"
    );
    assert!(
        daemon
            .rows(metric, "timestamp=1000&duration=-600")
            .is_empty()
    );
    assert!(daemon.rows("pgexporter_no_such_metric", "").is_empty());

    for bad in [
        "/history/pgexporter_pg_database_size?duration=abc",
        "/history/pgexporter_pg_database_size?timestamp=yesterday",
        "/history/pgexporter_pg_database_size?duration=-1h",
        "/history/not-a-metric",
        "/history/a/b",
    ] {
        assert_eq!(daemon.get(bad).status, 400, "{bad}");
    }
    for unknown in ["/", "/metrics", "/history", "/history/", "/other/x"] {
        assert_eq!(daemon.get(unknown).status, 404, "{unknown}");
    }
    let body = daemon.exporter.scrape();
    assert!(sample_value(&body, "pgexporter_history_snapshots_total") >= Some(3.0));
    assert_eq!(
        sample_value(&body, "pgexporter_history_snapshot_failures_total"),
        Some(0.0)
    );
}

#[test]
fn a_timer_takes_snapshots_and_old_ones_are_pruned() {
    let cluster = PgCluster::start(ClusterOptions::default());
    let daemon = HistoryDaemon::start(&cluster, "history_interval = 1s\nhistory_retention = 3s");
    let mut first_seen = i64::MAX;
    eventually("timed snapshots without any scrape", || {
        let snapshots = history_snapshots(&daemon.rows("pgexporter_state", "duration=-3600"));
        if let Some((first, _)) = snapshots.iter().next() {
            first_seen = first_seen.min(*first);
        }
        snapshots.len() >= 2
    });
    eventually("the first snapshot pruned", || {
        let snapshots = history_snapshots(&daemon.rows("pgexporter_state", "duration=-3600"));
        snapshots
            .keys()
            .next()
            .is_some_and(|oldest| *oldest > first_seen)
    });
    let snapshots = history_snapshots(&daemon.rows("pgexporter_state", "duration=-3600"));
    let (newest, oldest) = (
        *snapshots.keys().next_back().unwrap(),
        *snapshots.keys().next().unwrap(),
    );
    assert!(
        newest - oldest <= 3 + 2,
        "only the retention (and a prune period) is kept: {oldest}..{newest}"
    );
}

#[test]
fn a_failing_database_costs_only_its_snapshots() {
    let cluster = PgCluster::start(ClusterOptions::default());

    // A directory that does not exist: every snapshot fails, the log says so once.
    let home = ExporterHome::new();
    let history_port = free_port();
    let keys = format!(
        "history = {history_port}\nhistory_path = /nonexistent-pgexporter-dir/h.db\nhistory_interval = 0"
    );
    let port = home.write_config(&cluster, &keys);
    let exporter = Exporter::start(&home, port, &[]);
    for _ in 0..3 {
        exporter.scrape();
    }
    eventually("three failed snapshots counted", || {
        sample_value(
            &exporter.scrape(),
            "pgexporter_history_snapshot_failures_total",
        ) >= Some(3.0)
    });
    let log = exporter.log();
    assert_eq!(
        log.matches("cannot write the database").count(),
        1,
        "once per change of state: {log}"
    );
    let history = SocketAddr::from(([127, 0, 0, 1], history_port));
    assert_eq!(
        http_client::get(history, "/history/pgexporter_state", &[]).status,
        500
    );
    drop(exporter);

    // Deleted under the daemon: a new database is started.
    let daemon = HistoryDaemon::start(&cluster, "history_interval = 0");
    daemon.exporter.scrape();
    eventually("a snapshot stored", || {
        !daemon.rows("pgexporter_state", "").is_empty()
    });
    remove_database(&daemon.database);
    thread::sleep(Duration::from_millis(1100));
    daemon.exporter.scrape();
    eventually("a snapshot stored in a new database", || {
        let response = daemon.get("/history/pgexporter_state");
        response.status == 200 && response.text().matches("\"timestamp\"").count() == 1
    });
    assert!(daemon.exporter.log().contains("was removed or replaced"));

    // Locked by another process: snapshots fail while the lock is held, then work again.
    let holder = rusqlite::Connection::open(&daemon.database).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let failures = |body: &str| sample_value(body, "pgexporter_history_snapshot_failures_total");
    let before = failures(&daemon.exporter.scrape()).unwrap();
    eventually("a snapshot failed on the lock", || {
        thread::sleep(Duration::from_millis(200));
        daemon.exporter.scrape();
        daemon.exporter.log().contains("database is locked")
    });
    assert!(failures(&daemon.exporter.scrape()) > Some(before));
    holder.execute_batch("COMMIT").unwrap();
    drop(holder);
    let stored = |body: &str| sample_value(body, "pgexporter_history_snapshots_total");
    let written = stored(&daemon.exporter.scrape()).unwrap();
    eventually("snapshots stored again", || {
        stored(&daemon.exporter.scrape()) > Some(written + 1.0)
    });
    let log = daemon.exporter.log();
    assert_eq!(log.matches("database is locked").count(), 1, "{log}");
    assert!(log.contains("the database is written again"), "{log}");
}

#[test]
fn the_history_port_speaks_https_and_mutual_tls_when_configured() {
    let cluster = PgCluster::start(ClusterOptions::default());
    let keys = format!(
        "history_interval = 0\nhistory_cert_file = {TESTDATA}/server.crt\n\
         history_key_file = {TESTDATA}/server.key\nhistory_ca_file = {TESTDATA}/ca.crt"
    );
    let daemon = HistoryDaemon::start(&cluster, &keys);
    daemon.exporter.scrape();
    let target = "/history/pgexporter_state?duration=-600";
    eventually("the snapshot served over mutual TLS", || {
        let response = http_client::tls_get(daemon.history, target, tls_client(true)).unwrap();
        response.status == 200 && response.text().contains("\"metric\":\"pgexporter_state\"")
    });
    assert!(
        http_client::tls_get(daemon.history, target, tls_client(false)).is_err(),
        "a client without a certificate is refused"
    );
    let plain = http_client::exchange_raw(daemon.history, b"GET /history/x HTTP/1.1\r\n\r\n");
    assert!(
        !plain.starts_with(b"HTTP/"),
        "no plain HTTP on an HTTPS port"
    );
    assert!(
        daemon
            .exporter
            .log()
            .contains("serving history on https://")
    );
    assert!(daemon.exporter.scrape().contains("pgexporter_state 1"));
}

fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        std::fs::remove_file(PathBuf::from(name)).ok();
    }
}

#[test]
fn sigkill_during_snapshot_writes_leaves_whole_snapshots() {
    let cluster = PgCluster::start(ClusterOptions::default());
    cluster.psql("CREATE DATABASE history_kill");
    let mut daemon = HistoryDaemon::start(&cluster, "history_interval = 0");
    for round in 0..8u64 {
        let scraping = Arc::new(AtomicBool::new(true));
        let address = SocketAddr::from(([127, 0, 0, 1], daemon.metrics_port));
        let scraper = {
            let scraping = Arc::clone(&scraping);
            thread::spawn(move || {
                while scraping.load(Ordering::Relaxed) {
                    let request = b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
                    let _ =
                        std::panic::catch_unwind(|| http_client::exchange_raw(address, request));
                }
            })
        };
        thread::sleep(Duration::from_millis(300 + 97 * round));
        daemon.exporter.signal(Signal::SIGKILL);
        daemon.exporter.wait_for_exit();
        scraping.store(false, Ordering::Relaxed);
        scraper.join().unwrap();
        daemon.restart();
    }
    daemon.exporter.signal(Signal::SIGKILL);
    daemon.exporter.wait_for_exit();

    let database = rusqlite::Connection::open(&daemon.database).unwrap();
    let integrity: String = database
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let snapshots: Vec<(i64, i64, i64)> = database
        .prepare(
            "SELECT snapshot.ts, snapshot.rows, \
             (SELECT count(*) FROM sample WHERE sample.ts = snapshot.ts) FROM snapshot",
        )
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        snapshots.len() >= 4,
        "snapshots were written: {snapshots:?}"
    );
    for (ts, rows, stored) in &snapshots {
        assert!(*rows > 100, "a whole scrape per snapshot at {ts}: {rows}");
        assert!(
            stored >= rows,
            "every row of the snapshot at {ts}: {stored} of {rows}"
        );
    }
    let orphans: i64 = database
        .query_row(
            "SELECT count(*) FROM sample WHERE ts NOT IN (SELECT ts FROM snapshot)",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0, "no rows of a snapshot that was not committed");
}
