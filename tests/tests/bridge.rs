//! The bridge end to end: a bridge-only exporter aggregating three exporters on three
//! PostgreSQL clusters and Debian's node exporter, scraped by a real Prometheus, where an
//! exporter killed mid-run costs only its own samples; endpoints that are slow, send garbage or
//! too much cost only theirs; the JSON view; the history of bridge scrapes on the
//! `bridge_history` port; and `type = prometheus` servers appended to `/metrics` and answering
//! `/probe`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use pgexporter_tests::exporter::{
    Exporter, ExporterHome, eventually, free_port, history_snapshots, labelled_samples,
    server_section,
};
use pgexporter_tests::http_client;
use pgexporter_tests::node_exporter::NodeExporter;
use pgexporter_tests::prometheus::{Prometheus, label};
use pgexporter_tests::promtool;
use pgexporter_tests::{ClusterOptions, PgCluster};

/// An exporter on `cluster`, with its home.
fn exporter_on(cluster: &PgCluster) -> (ExporterHome, Exporter) {
    let home = ExporterHome::new();
    let port = home.write_config(cluster, "");
    let exporter = Exporter::start(&home, port, &[]);
    (home, exporter)
}

/// A bridge-only exporter over `endpoints`, with `extra` lines in `[pgexporter]`; its home and
/// the bridge port.
fn bridge_over(endpoints: &[String], extra: &str) -> (ExporterHome, Exporter) {
    let home = ExporterHome::new();
    let port = free_port();
    home.write_sections(
        &format!(
            "bridge = {port}\nbridge_cache_max_age = 0\nbridge_endpoints = {}\n{extra}",
            endpoints.join(", ")
        ),
        "",
    );
    let bridge = Exporter::start(&home, port, &[]);
    (home, bridge)
}

fn up_line(endpoint: &str, up: u8) -> String {
    format!("pgexporter_bridge_endpoint_up{{endpoint=\"{endpoint}\"}} {up}\n")
}

/// Whether promtool can parse `body` (lint findings allowed: other exporters' names are theirs).
fn assert_parses(body: &str) {
    let report = promtool::check_metrics(body.as_bytes());
    assert!(
        matches!(report.code, Some(0 | 3)),
        "promtool cannot parse the body: {}",
        report.output
    );
}

#[test]
fn prometheus_sees_every_server_through_the_bridge_until_an_exporter_dies() {
    let clusters: Vec<PgCluster> = (0..3)
        .map(|_| PgCluster::start(ClusterOptions::default()))
        .collect();
    let mut exporters: Vec<(ExporterHome, Exporter)> = clusters.iter().map(exporter_on).collect();
    let node = NodeExporter::start();
    let mut endpoints: Vec<String> = exporters
        .iter()
        .map(|(_, exporter)| exporter.address().to_string())
        .collect();
    endpoints.push(node.address().to_string());
    let (_home, bridge) = bridge_over(&endpoints, "");

    let body = bridge.scrape();
    assert_parses(&body);
    for endpoint in &endpoints {
        assert!(
            body.contains(&up_line(endpoint, 1)),
            "{endpoint} in\n{body}"
        );
    }
    assert_eq!(body.matches("# TYPE pgexporter_state gauge\n").count(), 1);

    let prometheus = Prometheus::start(bridge.address(), Duration::from_secs(3));
    let context = || format!("bridge: {}", bridge.log());
    let sizes = "count by (endpoint) (pgexporter_pg_database_size{database=\"postgres\"})";
    let every = prometheus.eventually(sizes, |samples| samples.len() == 3, context);
    let seen: BTreeSet<&str> = every
        .iter()
        .map(|sample| label(sample, "endpoint"))
        .collect();
    let expected: BTreeSet<&str> = endpoints[..3].iter().map(String::as_str).collect();
    assert_eq!(seen, expected, "every server's families under its endpoint");
    let node_load = format!("node_load1{{endpoint=\"{}\"}}", node.address());
    prometheus.eventually(&node_load, |samples| samples.len() == 1, context);

    let killed = endpoints[1].clone();
    drop(exporters.remove(1));
    let down = format!("pgexporter_bridge_endpoint_up{{endpoint=\"{killed}\"}} == 0");
    prometheus.eventually(&down, |samples| samples.len() == 1, context);
    let alive = prometheus.eventually(sizes, |samples| samples.len() == 2, context);
    assert!(
        alive
            .iter()
            .all(|sample| label(sample, "endpoint") != killed)
    );
    let up = prometheus.query("pgexporter_bridge_endpoint_up == 1");
    let up: BTreeSet<&str> = up.iter().map(|sample| label(sample, "endpoint")).collect();
    let others: BTreeSet<&str> = endpoints
        .iter()
        .filter(|endpoint| **endpoint != killed)
        .map(String::as_str)
        .collect();
    assert_eq!(up, others, "the other endpoints still answer");
}

/// A fake endpoint on 127.0.0.1 that answers every connection with `response` once it has read
/// a request head (never, when `response` is `None`), until dropped.
struct FakeEndpoint {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeEndpoint {
    fn start(response: Option<&'static [u8]>) -> FakeEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut held = Vec::new();
            while !stopping.load(Ordering::Relaxed) {
                let Ok((mut stream, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(10));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                match response {
                    Some(response) => {
                        // The bridge may hang up first when it refuses the answer.
                        let _ = stream.write_all(response);
                    }
                    None => held.push(stream),
                }
            }
        });
        FakeEndpoint {
            address,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn slow_garbage_and_oversized_endpoints_cost_only_their_own_samples() {
    let cluster = PgCluster::start(ClusterOptions::default());
    let (_exporter_home, exporter) = exporter_on(&cluster);
    let garbage = FakeEndpoint::start(Some(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{\"not\": 1}",
    ));
    let oversized = FakeEndpoint::start(Some(
        b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n",
    ));
    let silent = FakeEndpoint::start(None);
    let endpoints: Vec<String> = [
        exporter.address(),
        garbage.address,
        oversized.address,
        silent.address,
    ]
    .iter()
    .map(SocketAddr::to_string)
    .collect();
    let json_port = free_port();
    let (_home, bridge) = bridge_over(&endpoints, &format!("bridge_json = {json_port}"));

    let response = bridge.get("/metrics", &[("X-Prometheus-Scrape-Timeout-Seconds", "3")]);
    assert_eq!(response.status, 200);
    let body = response.text();
    assert_parses(&body);
    assert!(body.contains(&up_line(&endpoints[0], 1)), "{body}");
    for endpoint in &endpoints[1..] {
        assert!(
            body.contains(&up_line(endpoint, 0)),
            "{endpoint} in\n{body}"
        );
    }
    let state = format!("pgexporter_state{{endpoint=\"{}\"}} 1\n", endpoints[0]);
    assert!(body.contains(&state), "{body}");

    let json = http_client::get(SocketAddr::from(([127, 0, 0, 1], json_port)), "/", &[]);
    assert_eq!(json.status, 200);
    assert_eq!(
        json.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    let view: serde_json::Value = serde_json::from_slice(&json.body).expect("JSON");
    let family = &view["pgexporter_state"];
    assert_eq!(family["Name"], "pgexporter_state");
    assert_eq!(family["Type"], "gauge");
    assert_eq!(
        family["Definitions"][0]["Attributes"][0],
        serde_json::json!({"Key": "endpoint", "Value": endpoints[0]})
    );
    assert_eq!(family["Definitions"][0]["Values"][0]["Value"], "1");
}

#[test]
fn bridge_scrapes_are_stored_and_served_on_the_bridge_history_port() {
    let cluster = PgCluster::start(ClusterOptions::default());
    cluster.psql("CREATE DATABASE bridge_history_second");
    let exporters = [exporter_on(&cluster), exporter_on(&cluster)];
    let endpoints: Vec<String> = exporters
        .iter()
        .map(|(_, exporter)| exporter.address().to_string())
        .collect();
    let history_port = free_port();
    let files = ExporterHome::new();
    let path = files.dir().join("bridge.db");
    let (_home, bridge) = bridge_over(
        &endpoints,
        &format!(
            "bridge_history = {history_port}
bridge_history_interval = 0
             bridge_history_path = {}",
            path.display()
        ),
    );
    let history = SocketAddr::from(([127, 0, 0, 1], history_port));

    let mut last = String::new();
    for _ in 0..2 {
        last = bridge.scrape();
        thread::sleep(Duration::from_millis(1100));
    }
    let expected = labelled_samples(&last, "pgexporter_pg_database_size");
    for endpoint in &endpoints {
        let per_endpoint = expected
            .keys()
            .filter(|labels| labels.contains(&format!("endpoint=\"{endpoint}\"")))
            .count();
        assert_eq!(
            per_endpoint, 3,
            "postgres, template1 and the second database of {endpoint}: {expected:?}"
        );
    }

    let rows = |query: &str| -> Vec<serde_json::Value> {
        let response = http_client::get(
            history,
            &format!("/history/pgexporter_pg_database_size?{query}"),
            &[],
        );
        assert_eq!(
            response.status,
            200,
            "{}\n{}",
            response.text(),
            bridge.log()
        );
        let parsed: serde_json::Value =
            serde_json::from_slice(&response.body).expect("a JSON answer");
        parsed.as_array().expect("a JSON array").clone()
    };
    let mut snapshots = BTreeMap::new();
    eventually("two bridge snapshots stored", || {
        snapshots = history_snapshots(&rows("duration=-600"));
        snapshots.len() >= 2
    });
    assert_eq!(
        snapshots.len(),
        2,
        "one snapshot per bridge scrape, no timer"
    );
    let (_, newest) = snapshots.iter().next_back().expect("a snapshot");
    assert_eq!(
        newest, &expected,
        "the last snapshot holds what the last bridge scrape served, endpoint labels and all"
    );

    for bad in [
        "/history/pgexporter_pg_database_size?duration=abc",
        "/history/pgexporter_pg_database_size?timestamp=yesterday",
        "/history/not-a-metric",
    ] {
        assert_eq!(http_client::get(history, bad, &[]).status, 400, "{bad}");
    }
    assert_eq!(http_client::get(history, "/metrics", &[]).status, 404);
    assert!(
        !bridge.log().contains("not built"),
        "bridge_history is a feature of this build: {}",
        bridge.log()
    );
}

#[test]
fn a_prometheus_server_section_appends_another_exporters_samples() {
    let cluster = PgCluster::start(ClusterOptions::default());
    let node = NodeExporter::start();
    let home = ExporterHome::new();
    let port = free_port();
    home.write_sections(
        &format!("metrics = {port}"),
        &format!(
            "{}[node]\nhost = 127.0.0.1\nport = {}\ntype = prometheus\n",
            server_section("primary", &cluster),
            node.address().port()
        ),
    );
    let exporter = Exporter::start(&home, port, &[]);
    let body = exporter.scrape();
    assert_parses(&body);
    for line in [
        "pgexporter_postgresql_active{server=\"primary\"} 1\n",
        "pgexporter_prometheus_up{server=\"node\"} 1\n",
        "\nnode_load1{server=\"node\"} ",
    ] {
        assert!(body.contains(line), "missing {line:?} in\n{body}");
    }
    assert!(!body.contains("pgexporter_postgresql_active{server=\"node\"}"));

    let probe = exporter.get("/probe?target=node", &[]);
    assert_eq!(probe.status, 200);
    let probed = probe.text();
    assert!(
        probed.contains("\nnode_load1{server=\"node\"} "),
        "{probed}"
    );
    assert!(!probed.contains("pgexporter_state"), "{probed}");
}
