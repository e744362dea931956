//! End-to-end: every scrape is answered by its own deadline, whatever timeout another client
//! asks for and whatever holds a catalog lock, and the exporter's sessions never pile up.
//!
//! Build the binaries first: `cargo build -j2 --bins` (scripts/test.sh does).

use std::collections::HashSet;
use std::thread;
use std::time::{Duration, Instant};

use pgexporter_tests::cluster::MONITOR_USER;
use pgexporter_tests::exporter::{Exporter, ExporterHome};
use pgexporter_tests::http_client;
use pgexporter_tests::{ClusterOptions, PgCluster};

const ACTIVE: &str = "pgexporter_postgresql_active{server=\"primary\"} 1\n";

/// The titles of the cluster's backends that belong to the exporter's role.
fn exporter_backends(cluster: &PgCluster) -> Vec<String> {
    let prefix = format!("postgres: {} ", MONITOR_USER.name);
    cluster
        .backend_titles()
        .into_iter()
        .filter(|title| title.starts_with(&prefix))
        .collect()
}

fn start(cluster: &PgCluster) -> (ExporterHome, Exporter) {
    let home = ExporterHome::new();
    let port = home.write_config(cluster, "");
    let exporter = Exporter::start(&home, port, &[]);
    (home, exporter)
}

#[test]
fn tiny_timeouts_of_one_client_cut_no_other_scrape() {
    let cluster = PgCluster::start(ClusterOptions::default());
    let (_home, exporter) = start(&cluster);
    assert!(exporter.scrape().contains(ACTIVE));
    let address = exporter.address();
    let hurried = thread::spawn(move || {
        let started = Instant::now();
        let mut answered = 0;
        while started.elapsed() < Duration::from_secs(3) {
            let tiny = [("X-Prometheus-Scrape-Timeout-Seconds", "0.001")];
            assert_eq!(http_client::get(address, "/metrics", &tiny).status, 200);
            answered += 1;
        }
        answered
    });
    // Each session by its title without the state: user, database and client address.
    let mut sessions = HashSet::new();
    let mut scrapes = 0;
    while !hurried.is_finished() {
        let body = exporter.scrape();
        assert!(body.contains(ACTIVE), "{body}\nlog: {}", exporter.log());
        for title in exporter_backends(&cluster) {
            let session = title
                .rsplit_once(' ')
                .map_or(title.as_str(), |(head, _)| head);
            sessions.insert(session.to_owned());
        }
        scrapes += 1;
    }
    assert!(hurried.join().unwrap() > 0);
    assert!(scrapes > 0);
    // One database: its session and, once it was a scrape's bottleneck, a second one. The tiny
    // deadlines reset none: no other session ever appears.
    assert!(
        !sessions.is_empty() && sessions.len() <= 2,
        "sessions {sessions:?}; log: {}",
        exporter.log()
    );
}

#[test]
fn a_locked_catalog_leaves_scrapes_on_time_and_no_session_waiting() {
    let cluster = PgCluster::start(ClusterOptions::default());
    let (_home, exporter) = start(&cluster);
    assert!(exporter.scrape().contains(ACTIVE));
    let mut locker = cluster.idle_session();
    locker.send("BEGIN; LOCK TABLE pg_class IN ACCESS EXCLUSIVE MODE;");
    let started = Instant::now();
    while !cluster
        .backend_titles()
        .iter()
        .any(|title| title.ends_with("idle in transaction"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the lock was never taken"
        );
        thread::sleep(Duration::from_millis(20));
    }
    let mut most_backends = 0;
    for _ in 0..6 {
        let started = Instant::now();
        let response = exporter.get("/metrics", &[("X-Prometheus-Scrape-Timeout-Seconds", "3")]);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "answered in {:?}",
            started.elapsed()
        );
        assert_eq!(response.status, 200);
        most_backends = most_backends.max(exporter_backends(&cluster).len());
        thread::sleep(Duration::from_millis(500));
    }
    // The one connection, and at most one more whose backend still ends its cancelled query.
    assert!(
        most_backends <= 2,
        "{most_backends} exporter backends\nlog: {}",
        exporter.log()
    );
    // lock_timeout and the cancel at the deadline: no exporter session stays behind the lock.
    let started = Instant::now();
    loop {
        let waiting: Vec<String> = exporter_backends(&cluster)
            .into_iter()
            .filter(|title| title.contains("waiting"))
            .collect();
        if waiting.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still waiting behind the lock: {waiting:?}"
        );
        thread::sleep(Duration::from_millis(50));
    }
    drop(locker);
    let body = exporter.scrape();
    assert!(body.contains(ACTIVE), "{body}");
}
