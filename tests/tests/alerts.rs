//! Every built-in alert fired for real against running PostgreSQL servers, and cleared again:
//! `pgexporter_alert_<name>{server, alert, type}` turns 1 when the condition is made true and
//! back to 0 when it is undone.

use std::fs;
use std::path::Path;

use nix::sys::signal::Signal;
use pgexporter_tests::exporter::{Exporter, ExporterHome, eventually, failed, sample_value};
use pgexporter_tests::{ClusterOptions, PgCluster};

/// `max_connections` of the cluster of the single-server test: small, so that a few idle
/// sessions pass the lowered `connections_high` threshold.
const MAX_CONNECTIONS: u32 = 20;

/// The lowered `connections_high` threshold, in percent of [`MAX_CONNECTIONS`]: 7 client
/// backends pass it (35 %), the exporter's own connections alone do not.
const CONNECTIONS_THRESHOLD: u32 = 30;

/// Idle sessions opened to pass [`CONNECTIONS_THRESHOLD`].
const IDLE_SESSIONS: usize = 8;

/// The sample of alert `name` on `server` in `body`: 1 firing, 0 not, `None` when absent.
fn alert(body: &str, name: &str, server: &str) -> Option<f64> {
    let kind = if name == "postgresql_down" {
        "connection"
    } else {
        "query"
    };
    sample_value(
        body,
        &format!("pgexporter_alert_{name}{{server=\"{server}\",alert=\"{name}\",type=\"{kind}\"}}"),
    )
}

/// Scrapes until alert `name` on `server` reads `value`.
fn wait_for(exporter: &Exporter, name: &str, server: &str, value: Option<f64>) {
    eventually(&format!("{name} on {server} is {value:?}"), || {
        alert(&exporter.scrape(), name, server) == value
    });
}

/// The number a one-value query of `sql` returns on `cluster`.
fn number(cluster: &PgCluster, sql: &str) -> i64 {
    let text = cluster.psql(sql);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{sql} returned {text:?}"))
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
}

/// One server: connections_high, replication_slot_inactive, xid_wraparound and
/// multixact_wraparound fire and clear; postgresql_down fires while the server is stopped.
/// The alerts come from `alerts_path`, changed by a reload.
#[test]
fn alerts_of_one_server_fire_and_clear() {
    let mut cluster = PgCluster::start(ClusterOptions {
        settings: vec![format!("max_connections = {MAX_CONNECTIONS}")],
        ..ClusterOptions::default()
    });
    let home = ExporterHome::new();
    // The ages only grow (template0 is never vacuumed): one below today's fires from now on.
    let xid_age = number(&cluster, "SELECT max(age(datfrozenxid)) FROM pg_database");
    let mxid_age = number(
        &cluster,
        "SELECT max(mxid_age(datminmxid)) FROM pg_database",
    );
    let low = home.dir().join("low.yaml");
    write(
        &low,
        &format!(
            "alerts:\n  - name: connections_high\n    threshold: {CONNECTIONS_THRESHOLD}\n\
             \n  - name: xid_wraparound\n    threshold: {}\n\
             \n  - name: multixact_wraparound\n    threshold: {}\n",
            xid_age - 1,
            mxid_age - 1
        ),
    );
    let usual = home.dir().join("usual.yaml");
    write(
        &usual,
        &format!("alerts:\n  - name: connections_high\n    threshold: {CONNECTIONS_THRESHOLD}\n"),
    );
    let port = home.write_config(&cluster, &format!("alerts_path = {}", low.display()));

    let broken = home.dir().join("broken.yaml");
    write(&broken, "- name: connections_high\n  treshold: 1\n");
    let config = home.config_file();
    let refused = home.run_to_exit(&[
        "-c",
        config.to_str().unwrap(),
        "-a",
        broken.to_str().unwrap(),
    ]);
    let (_, stderr) = failed(&refused);
    assert!(
        stderr.contains(broken.to_str().unwrap()) && stderr.contains("treshold"),
        "a broken alerts file is refused naming the file and the key: {stderr}"
    );

    let exporter = Exporter::start(&home, port, &[]);
    wait_for(&exporter, "postgresql_down", "primary", Some(0.0));
    let body = exporter.scrape();
    assert_eq!(
        alert(&body, "xid_wraparound", "primary"),
        Some(1.0),
        "{body}"
    );
    assert_eq!(alert(&body, "multixact_wraparound", "primary"), Some(1.0));
    assert_eq!(alert(&body, "connections_high", "primary"), Some(0.0));
    assert_eq!(
        alert(&body, "replication_slot_inactive", "primary"),
        Some(0.0)
    );
    assert_eq!(alert(&body, "replication_lag", "primary"), Some(0.0));
    assert_eq!(alert(&body, "wal_receiver_down", "primary"), Some(0.0));

    cluster.psql("SELECT pg_create_physical_replication_slot('unused')");
    wait_for(&exporter, "replication_slot_inactive", "primary", Some(1.0));
    cluster.psql("SELECT pg_drop_replication_slot('unused')");
    wait_for(&exporter, "replication_slot_inactive", "primary", Some(0.0));

    let sessions: Vec<_> = (0..IDLE_SESSIONS).map(|_| cluster.idle_session()).collect();
    wait_for(&exporter, "connections_high", "primary", Some(1.0));
    drop(sessions);
    wait_for(&exporter, "connections_high", "primary", Some(0.0));

    let config = fs::read_to_string(home.config_file()).unwrap();
    write(
        &home.config_file(),
        &config.replace(&low.display().to_string(), &usual.display().to_string()),
    );
    exporter.signal(Signal::SIGHUP);
    wait_for(&exporter, "xid_wraparound", "primary", Some(0.0));
    wait_for(&exporter, "multixact_wraparound", "primary", Some(0.0));

    cluster.stop();
    wait_for(&exporter, "postgresql_down", "primary", Some(1.0));
    let body = exporter.scrape();
    assert_eq!(
        alert(&body, "connections_high", "primary"),
        None,
        "a query alert has no sample for a server that did not answer"
    );
    cluster.start_again();
    wait_for(&exporter, "postgresql_down", "primary", Some(0.0));
}

/// A primary and its streaming replica: when the primary stops, wal_receiver_down and
/// replication_lag fire on the replica (and postgresql_down on the primary); when it comes
/// back, they clear. The alerts file comes from `-a`.
#[test]
fn replication_alerts_fire_when_the_primary_stops() {
    let (mut primary, replica) = PgCluster::start_primary_and_replica(ClusterOptions::default());
    let home = ExporterHome::new();
    let alerts = home.dir().join("alerts.yaml");
    write(&alerts, "- name: replication_lag\n  threshold: 1\n");
    let port = home.write_servers_config(&[("primary", &primary), ("replica", &replica)], "");
    let exporter = Exporter::start(&home, port, &["-a", alerts.to_str().unwrap()]);
    for server in ["primary", "replica"] {
        wait_for(&exporter, "wal_receiver_down", server, Some(0.0));
        wait_for(&exporter, "replication_lag", server, Some(0.0));
    }

    primary.psql("CREATE TABLE replayed (id integer)");
    eventually("the replica replays the primary's transaction", || {
        replica
            .psql("SELECT pg_last_xact_replay_timestamp() IS NOT NULL")
            .trim()
            == "t"
    });
    primary.stop();
    wait_for(&exporter, "postgresql_down", "primary", Some(1.0));
    wait_for(&exporter, "wal_receiver_down", "replica", Some(1.0));
    wait_for(&exporter, "replication_lag", "replica", Some(1.0));

    primary.start_again();
    wait_for(&exporter, "postgresql_down", "primary", Some(0.0));
    wait_for(&exporter, "wal_receiver_down", "replica", Some(0.0));
    wait_for(&exporter, "replication_lag", "replica", Some(0.0));
}
