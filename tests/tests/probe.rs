//! `/probe` end to end: a real Prometheus shards three configured servers across two exporter
//! replicas with the README's `hashmod` relabeling, has `up == 1` for each, and `up == 0` for
//! the one whose cluster is stopped while the others keep answering; a target that is not a
//! configured server is 404 and reaches nothing.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::time::Duration;

use pgexporter_tests::exporter::{Exporter, ExporterHome, free_port, server_section};
use pgexporter_tests::prometheus::{Prometheus, label};
use pgexporter_tests::{ClusterOptions, PgCluster};

const README: &str = include_str!("../../README.md");

/// The Prometheus scrape configuration of the README's multi-target section, with its two
/// replicas' addresses replaced by `replicas` and its targets by `targets`.
fn readme_scrape_configs(replicas: [&str; 2], targets: &[&str]) -> String {
    let section = README
        .split("### Many servers: `/probe`")
        .nth(1)
        .expect("the README's /probe section");
    let yaml = section
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a YAML block in the /probe section");
    let scrape_configs = yaml
        .split_once("scrape_configs:\n")
        .expect("a scrape_configs list")
        .1;
    let quoted: Vec<String> = targets.iter().map(|target| format!("'{target}'")).collect();
    scrape_configs
        .replace("exporter-0:5002", replicas[0])
        .replace("exporter-1:5002", replicas[1])
        .replace("['db0', 'db1', 'db2']", &format!("[{}]", quoted.join(", ")))
}

/// An exporter serving every one of `servers` (name, cluster).
fn replica(servers: &[(&str, &PgCluster)]) -> (ExporterHome, Exporter) {
    let home = ExporterHome::new();
    let port = free_port();
    let sections: String = servers
        .iter()
        .map(|(name, cluster)| server_section(name, cluster))
        .collect();
    home.write_sections(&format!("metrics = {port}"), &sections);
    let exporter = Exporter::start(&home, port, &[]);
    (home, exporter)
}

#[test]
fn prometheus_shards_servers_across_replicas_and_sees_a_stopped_one_down() {
    let mut clusters: Vec<PgCluster> = (0..3)
        .map(|_| PgCluster::start(ClusterOptions::default()))
        .collect();
    let names = ["db0", "db1", "db2"];
    let servers: Vec<(&str, &PgCluster)> = names.iter().copied().zip(clusters.iter()).collect();
    let (_home0, replica0) = replica(&servers);
    let (_home1, replica1) = replica(&servers);
    let addresses = [
        replica0.address().to_string(),
        replica1.address().to_string(),
    ];
    let configs = readme_scrape_configs([&addresses[0], &addresses[1]], &names);
    let prometheus = Prometheus::with_scrape_configs(&configs, Duration::from_secs(2));
    let context = || {
        format!(
            "replica 0: {}\nreplica 1: {}",
            replica0.log(),
            replica1.log()
        )
    };

    let up = prometheus.eventually(
        "up{job=~\"pgexporter-shard-.*\"}",
        |samples| samples.len() == 3 && samples.iter().all(|sample| sample.1 == 1.0),
        context,
    );
    let instances: BTreeMap<&str, &str> = up
        .iter()
        .map(|sample| (label(sample, "instance"), label(sample, "job")))
        .collect();
    assert_eq!(
        instances.keys().copied().collect::<Vec<_>>(),
        names,
        "each server is scraped by exactly one replica"
    );
    let active = prometheus.eventually(
        "pgexporter_postgresql_active",
        |samples| samples.len() == 3,
        context,
    );
    assert!(
        active
            .iter()
            .all(|sample| label(sample, "server") == label(sample, "instance"))
    );
    assert!(
        prometheus
            .query("pgexporter_state{job=~\"pgexporter-shard-.*\"}")
            .is_empty(),
        "the exporter's own families stay on /metrics"
    );

    clusters[1].stop();
    prometheus.eventually(
        "up{instance=\"db1\"} == 0",
        |samples| samples.len() == 1,
        context,
    );
    let answering = prometheus.eventually(
        "up{job=~\"pgexporter-shard-.*\"} == 1",
        |samples| samples.len() == 2,
        context,
    );
    let answering: Vec<&str> = answering
        .iter()
        .map(|sample| label(sample, "instance"))
        .collect();
    assert!(!answering.contains(&"db1"), "{answering:?}");
}

#[test]
fn an_unknown_target_is_404_and_reaches_nothing() {
    let cluster = PgCluster::start(ClusterOptions::default());
    let (_home, exporter) = replica(&[("primary", &cluster)]);
    let bystander = TcpListener::bind("127.0.0.1:0").unwrap();
    bystander.set_nonblocking(true).unwrap();
    let address = bystander.local_addr().unwrap().to_string();
    for target in [address.as_str(), "postgresql://127.0.0.1/x", "all", ""] {
        let path = format!("/probe?target={target}");
        let response = exporter.get(&path, &[]);
        assert_eq!(response.status, 404, "{path}: {}", response.text());
    }
    assert_eq!(exporter.get("/probe", &[]).status, 400);
    assert!(
        matches!(bystander.accept(), Err(error) if error.kind() == ErrorKind::WouldBlock),
        "nothing outside the configuration is contacted"
    );

    let response = exporter.get(
        "/probe?target=primary",
        &[("X-Prometheus-Scrape-Timeout-Seconds", "5")],
    );
    assert_eq!(response.status, 200);
    let body = response.text();
    assert!(
        body.contains("pgexporter_postgresql_active{server=\"primary\"} 1\n"),
        "{body}"
    );
    assert!(
        body.contains("pgexporter_pg_database_size{server=\"primary\","),
        "{body}"
    );
    assert!(!body.contains("pgexporter_state"), "{body}");
}
