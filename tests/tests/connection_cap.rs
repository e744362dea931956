//! End-to-end: `max_connections_per_server` bounds the exporter's connections to a server
//! with more databases than the cap, and the server's backend processes serving them (a
//! session counts until its backend has exited), and every database is still collected.
//!
//! Build the binaries first: `cargo build -j2 --bins` (scripts/test.sh does).

use std::collections::HashSet;
use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use pgexporter_tests::cluster::MONITOR_USER;
use pgexporter_tests::exporter::{Exporter, ExporterHome};
use pgexporter_tests::{ClusterOptions, PgCluster};

/// Databases created besides `postgres`.
const DATABASES: usize = 12;

/// The cap configured.
const CAP: usize = 3;

/// Scrapes watched.
const SCRAPES: usize = 5;

/// The established TCP connections to `cluster`'s port, from the client side (`/proc/net/tcp`:
/// the remote address ends with the port in hex, state `01` is ESTABLISHED). Only the exporter
/// connects over TCP here (`psql` uses the Unix socket). The kernel writes that file a page per
/// read and finds its place again by counting entries, so a socket opened meanwhile can make
/// the next page repeat a line: each connection is counted once, by its local address.
fn exporter_connections(cluster: &PgCluster) -> HashSet<String> {
    let table = fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp is readable");
    let port = format!(":{:04X}", cluster.port());
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let established = fields.get(2).is_some_and(|remote| remote.ends_with(&port))
                && fields.get(3) == Some(&"01");
            established.then(|| fields[1].to_owned())
        })
        .collect()
}

/// The backends of the monitoring role in `cluster`'s process list. A backend closes its
/// socket as it exits, after its memory is released, when its title is gone: one the exporter
/// is waiting for still counts, one whose end the exporter saw close never does.
fn exporter_backends(cluster: &PgCluster) -> usize {
    let prefix = format!("postgres: {} ", MONITOR_USER.name);
    cluster
        .backend_titles()
        .iter()
        .filter(|title| title.starts_with(&prefix))
        .count()
}

#[test]
fn twelve_databases_are_collected_within_a_cap_of_three_sessions() {
    let cluster = PgCluster::start(ClusterOptions::default());
    for n in 1..=DATABASES {
        cluster.psql(&format!("CREATE DATABASE cap{n}"));
        cluster.psql_in(
            &format!("cap{n}"),
            "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)",
        );
    }
    let home = ExporterHome::new();
    let port = home.write_config(&cluster, &format!("max_connections_per_server = {CAP}"));
    let exporter = Exporter::start(&home, port, &[]);

    let scraping = AtomicBool::new(true);
    let (bodies, (connections, backends)) = thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let (mut connections, mut backends) = (HashSet::new(), 0);
            while scraping.load(Ordering::Relaxed) {
                let seen = exporter_connections(&cluster);
                if seen.len() > connections.len() {
                    connections = seen;
                }
                backends = backends.max(exporter_backends(&cluster));
                thread::sleep(Duration::from_millis(2));
            }
            (connections, backends)
        });
        let bodies: Vec<String> = (0..SCRAPES).map(|_| exporter.scrape()).collect();
        scraping.store(false, Ordering::Relaxed);
        (bodies, watcher.join().expect("the watcher"))
    });
    assert!(
        !connections.is_empty(),
        "the watcher saw no connection of the exporter"
    );
    assert!(backends > 0, "the watcher saw no backend of the exporter");
    assert!(
        connections.len() <= CAP,
        "{} connections at once (local addresses {connections:?}), the cap is {CAP}; log: {}",
        connections.len(),
        exporter.log()
    );
    assert!(
        backends <= CAP,
        "{backends} backend processes at once, the cap is {CAP}; log: {}",
        exporter.log()
    );
    for body in &bodies {
        for n in 1..=DATABASES {
            let label = format!("relname=\"t\",database=\"cap{n}\"");
            assert!(
                body.lines().any(|line| line
                    .starts_with("pgexporter_pg_statio_all_tables_heap_blks_hit{")
                    && line.contains(&label)),
                "no table statistics of cap{n} in\n{body}"
            );
        }
    }
    // Between scrapes the exporter keeps its connections, the cap's worth: its sessions have
    // settled by then.
    assert_eq!(exporter_connections(&cluster).len(), CAP);
    eventually_at_most(&cluster, CAP);
}

/// Waits until `cluster` has at most `cap` backends of the monitoring role.
fn eventually_at_most(cluster: &PgCluster, cap: usize) {
    let started = Instant::now();
    while exporter_backends(cluster) > cap {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} sessions of the exporter remain, the cap is {cap}",
            exporter_backends(cluster)
        );
        thread::sleep(Duration::from_millis(20));
    }
}
