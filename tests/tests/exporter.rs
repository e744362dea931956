//! End-to-end tests of the Prometheus endpoint: the built daemon against a real cluster.
//!
//! Build the binaries first: `cargo build -j2 --bins` (scripts/test.sh does).

use std::collections::BTreeSet;
use std::thread;
use std::time::{Duration, Instant};

use pgexporter_core::metrics::MetricSet;
use pgexporter_tests::cluster::MONITOR_USER;
use pgexporter_tests::exporter::{Exporter, ExporterHome, eventually, labelled_samples};
use pgexporter_tests::http_client::{self, TESTDATA, tls_client};
use pgexporter_tests::promtool::assert_valid_exposition;
use pgexporter_tests::{ClusterOptions, PgCluster};

/// The families named by `# TYPE` lines.
fn families(body: &str) -> BTreeSet<String> {
    body.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split(' ').next())
        .map(str::to_owned)
        .collect()
}

fn start(cluster: &PgCluster, extra_config: &str, args: &[&str]) -> (ExporterHome, Exporter) {
    let home = ExporterHome::new();
    let port = home.write_config(cluster, extra_config);
    let exporter = Exporter::start(&home, port, args);
    (home, exporter)
}

#[test]
fn a_scrape_has_every_builtin_family_for_postgresql_15_and_passes_promtool() {
    let cluster = PgCluster::start(ClusterOptions::default());
    cluster.psql("CREATE DATABASE second_db");
    cluster.psql("CREATE TABLE e2e_table (id int PRIMARY KEY)");
    let (_home, exporter) = start(&cluster, "", &[]);
    let body = exporter.scrape();
    assert!(
        body.contains("pgexporter_postgresql_active{server=\"primary\"} 1\n"),
        "{body}"
    );
    assert!(body.contains("pgexporter_postgresql_version{server=\"primary\",version=\"15\""));
    assert!(body.contains("pgexporter_postgresql_primary{server=\"primary\"} 1\n"));
    assert!(body.contains(
        "pgexporter_postgresql_extension_info{server=\"primary\",extension=\"pg_stat_statements\""
    ));
    assert!(body.contains("pgexporter_pg_settings_max_connections{server=\"primary\"} 100\n"));
    // `database: all` families reach the database the test created.
    assert!(body.contains("database=\"second_db\""), "{body}");
    assert!(body.contains("pgexporter_pg_statio_all_tables_heap_blks_read{server=\"primary\",schemaname=\"public\",relname=\"e2e_table\",database=\"postgres\"}"));

    let present = families(&body);
    let builtin = MetricSet::builtin().unwrap();
    let mut expected = Vec::new();
    for definition in builtin.definitions() {
        // Optional metrics need more than pg_monitor (pg_shadow, pg_file_settings); replica
        // metrics do not run on a primary.
        let applies = !definition.optional && definition.runs_on(true);
        if let (true, Some(variant)) = (applies, definition.variant_for(15)) {
            for (_, column) in variant.values() {
                expected.push(column.family_name(&definition.tag).unwrap());
            }
        }
    }
    assert!(expected.len() > 100, "{}", expected.len());
    let missing: Vec<&String> = expected
        .iter()
        .filter(|family| !present.contains(*family))
        .collect();
    assert!(
        missing.is_empty(),
        "missing families: {missing:?}\nlog: {}",
        exporter.log()
    );
    for family in [
        "pgexporter_pg_database_size",
        "pgexporter_pg_locks_count",
        "pgexporter_pg_stat_bgwriter_checkpoints_timed",
        "pgexporter_pg_stat_database_xact_commit",
        "pgexporter_pg_stat_wal_wal_bytes",
        "pgexporter_pg_process_idle_seconds",
        "pgexporter_pg_wait_event_count",
        "pgexporter_pg_db_vacuum_age",
    ] {
        assert!(present.contains(family), "{family} missing");
    }
    assert!(
        !present.contains("pgexporter_pg_stat_io_reads"),
        "pg_stat_io is for 16 and later"
    );
    assert_valid_exposition(&body);
    let log = exporter.log();
    assert!(log.contains("serving metrics on http://"), "{log}");
    let password = MONITOR_USER.password.unwrap();
    assert!(
        !log.contains(password) && !body.contains(password),
        "the password leaked"
    );
}

#[test]
fn custom_metrics_from_yaml_and_json_replace_the_builtin_set() {
    let cluster = PgCluster::start(ClusterOptions::default());
    let home = ExporterHome::new();
    let yaml = home.dir().join("custom.yaml");
    std::fs::write(
        &yaml,
        "metrics:\n  - tag: e2e_yaml\n    collector: custom\n    queries:\n      - query: SELECT 'x' AS kind, 7 AS value\n        columns:\n          - name: kind\n            type: label\n          - name: value\n            type: gauge\n            description: From YAML.\n",
    )
    .unwrap();
    let json = home.dir().join("custom.json");
    std::fs::write(
        &json,
        r#"{"metrics":[{"tag":"e2e_json","collector":"custom","queries":[{"query":"SELECT 11","columns":[{"type":"counter","description":"From JSON."}]}]}]}"#,
    )
    .unwrap();

    let port = home.write_config(&cluster, "");
    let exporter = Exporter::start(&home, port, &["-Y", yaml.to_str().unwrap()]);
    let body = exporter.scrape();
    assert!(
        body.contains("# HELP pgexporter_e2e_yaml_value From YAML.\n"),
        "{body}"
    );
    assert!(body.contains(
        "pgexporter_e2e_yaml_value{server=\"primary\",kind=\"x\",database=\"postgres\"} 7\n"
    ));
    assert!(
        !body.contains("pgexporter_pg_database_size"),
        "-Y replaces the built-in set"
    );
    drop(exporter);

    let port = home.write_config(&cluster, "");
    let exporter = Exporter::start(&home, port, &["-J", json.to_str().unwrap()]);
    let body = exporter.scrape();
    assert!(
        body.contains("pgexporter_e2e_json{server=\"primary\",database=\"postgres\"} 11\n"),
        "{body}"
    );
    drop(exporter);

    let broken = home.dir().join("broken.yaml");
    std::fs::write(
        &broken,
        "metrics:\n  - tag: e2e_broken\n    collector: custom\n    querys: []\n",
    )
    .unwrap();
    let output = home.run_to_exit(&[
        "-c",
        home.config_file().to_str().unwrap(),
        "-Y",
        broken.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{}:4:", broken.display())),
        "{stderr}"
    );
    assert!(stderr.contains("querys"), "{stderr}");
}

#[test]
fn a_server_that_goes_away_is_inactive_and_comes_back_without_a_restart() {
    let mut cluster = PgCluster::start(ClusterOptions::default());
    let (_home, exporter) = start(&cluster, "", &[]);
    assert!(
        exporter
            .scrape()
            .contains("pgexporter_postgresql_active{server=\"primary\"} 1\n")
    );

    cluster.stop_immediately();
    let started = Instant::now();
    let response = exporter.get("/metrics", &[("X-Prometheus-Scrape-Timeout-Seconds", "5")]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered within the scrape timeout"
    );
    assert_eq!(response.status, 200);
    let body = response.text();
    assert!(
        body.contains("pgexporter_postgresql_active{server=\"primary\"} 0\n"),
        "{body}"
    );
    assert!(
        !body.contains("server=\"primary\",database="),
        "no stale samples"
    );
    assert_valid_exposition(&body);

    // The failed connection started a backoff of a second (doubling while it keeps failing):
    // the server is reported active again once it has passed.
    cluster.start_again();
    let mut body = exporter.scrape();
    let started = Instant::now();
    while !body.contains("pgexporter_postgresql_active{server=\"primary\"} 1\n") {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{body}\nlog: {}",
            exporter.log()
        );
        thread::sleep(Duration::from_millis(100));
        body = exporter.scrape();
    }
    assert!(body.contains("pgexporter_pg_database_size{server=\"primary\",database=\"postgres\"}"));
    let log = exporter.log();
    assert_eq!(
        log.matches("retrying with backoff").count(),
        1,
        "one warning per change of state: {log}"
    );
    assert!(log.contains("reachable again"), "{log}");
}

#[test]
fn concurrent_scrapes_share_a_bounded_set_of_connections() {
    let cluster = PgCluster::start(ClusterOptions::default());
    cluster.psql("CREATE DATABASE other_db");
    let (_home, exporter) = start(&cluster, "", &[]);
    let address = exporter.address();
    let scrapers: Vec<_> = (0..32)
        .map(|_| thread::spawn(move || http_client::get(address, "/metrics", &[])))
        .collect();
    let counting = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgexporter'";
    let mut most_seen = 0;
    while scrapers.iter().any(|scraper| !scraper.is_finished()) {
        most_seen = most_seen.max(cluster.psql(counting).trim().parse::<u32>().unwrap());
        thread::sleep(Duration::from_millis(5));
    }
    for scraper in scrapers {
        let response = scraper.join().unwrap();
        assert_eq!(response.status, 200);
        assert!(
            response
                .text()
                .contains("pgexporter_postgresql_active{server=\"primary\"} 1\n")
        );
    }
    most_seen = most_seen.max(cluster.psql(counting).trim().parse::<u32>().unwrap());
    // One connection per database the metrics need: postgres and other_db, the databases of a
    // fresh cluster that accept connections besides the templates.
    let databases: u32 = cluster
        .psql("SELECT count(*) FROM pg_database WHERE datallowconn AND NOT datistemplate")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(databases, 2);
    assert!(most_seen >= 1, "the exporter was seen connected");
    // One per database, and a second one for `postgres` once it was a scrape's bottleneck.
    assert!(
        most_seen <= databases + 1,
        "{most_seen} connections for {databases} databases"
    );
}

/// The exporter's sessions per database, as `datname=count` sorted by database.
fn sessions_per_database(cluster: &PgCluster) -> String {
    cluster
        .psql(
            "SELECT string_agg(datname || '=' || n, ' ' ORDER BY datname) FROM \
             (SELECT datname, count(*) AS n FROM pg_stat_activity \
              WHERE application_name = 'pgexporter' GROUP BY datname) AS s",
        )
        .trim()
        .to_owned()
}

#[test]
fn the_postgres_database_takes_a_second_session_while_the_cap_has_room() {
    let cluster = PgCluster::start(ClusterOptions::default());
    cluster.psql("CREATE DATABASE other_db");
    let (_home, exporter) = start(&cluster, "", &[]);
    let first = exporter.scrape();
    assert_eq!(sessions_per_database(&cluster), "other_db=1 postgres=1");
    // postgres, with every server-wide metric, was the first scrape's bottleneck.
    let second = exporter.scrape();
    assert_eq!(sessions_per_database(&cluster), "other_db=1 postgres=2");
    let families = |body: &str| {
        let mut names: Vec<String> = body
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .map(str::to_owned)
            .collect();
        names.sort();
        names
    };
    assert_eq!(families(&second), families(&first), "the same families");
    exporter.scrape();
    assert_eq!(
        sessions_per_database(&cluster),
        "other_db=1 postgres=2",
        "kept"
    );

    // Under a cap the databases fill, postgres keeps to one session.
    let (_home, capped) = start(&cluster, "max_connections_per_server = 2", &[]);
    drop(exporter);
    for _ in 0..3 {
        capped.scrape();
    }
    assert_eq!(sessions_per_database(&cluster), "other_db=1 postgres=1");
}

/// The samples of `family` for server `primary`: collector and value.
fn per_collector(body: &str, family: &str) -> Vec<(String, f64)> {
    labelled_samples(body, family)
        .into_iter()
        .filter_map(|(labels, value)| {
            let collector = labels.strip_prefix("server=\"primary\",collector=\"")?;
            Some((collector.strip_suffix('"')?.to_owned(), value))
        })
        .collect()
}

#[test]
fn health_readiness_and_the_collector_families_follow_the_server() {
    let mut cluster = PgCluster::start(ClusterOptions::default());
    let (_home, exporter) = start(&cluster, "", &[]);
    let health = exporter.get("/healthz", &[]);
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
    let ready = exporter.get("/readyz", &[]);
    assert_eq!(
        (ready.status, ready.text().as_str()),
        (200, "ok\n"),
        "{}",
        exporter.log()
    );

    let body = exporter.scrape();
    let success = per_collector(&body, "pgexporter_collector_success");
    let durations = per_collector(&body, "pgexporter_collector_duration_seconds");
    let series = per_collector(&body, "pgexporter_collector_series");
    let names = |samples: &[(String, f64)]| -> Vec<String> {
        samples.iter().map(|(name, _)| name.clone()).collect()
    };
    assert!(success.len() >= 10, "{success:?}");
    assert_eq!(names(&durations), names(&success));
    assert_eq!(names(&series), names(&success));
    assert!(
        success
            .iter()
            .all(|(_, value)| *value == 0.0 || *value == 1.0)
    );
    assert!(
        success
            .iter()
            .any(|(name, value)| name == "db" && *value == 1.0),
        "the db collector (pgexporter_pg_database_size) ran: {success:?}"
    );
    assert!(
        durations
            .iter()
            .all(|(_, seconds)| (0.0..5.0).contains(seconds))
    );
    assert!(
        durations.iter().any(|(_, seconds)| *seconds > 0.0),
        "{durations:?}"
    );
    let databases = series
        .iter()
        .find(|(name, _)| name == "db")
        .map(|(_, count)| *count);
    assert!(databases >= Some(1.0), "{series:?}");
    assert_valid_exposition(&body);
    let probed = exporter.get("/probe?target=primary", &[]).text();
    assert!(
        probed.contains("pgexporter_collector_success{server=\"primary\",collector=\"db\"} 1\n"),
        "{probed}"
    );

    cluster.stop_immediately();
    let down = exporter.scrape();
    assert!(
        !down.contains("pgexporter_collector_success{server=\"primary\""),
        "no collector ran on a server that is down"
    );
    let ready = exporter.get("/readyz", &[]);
    assert_eq!(
        (ready.status, ready.text().as_str()),
        (
            503,
            "not ready: no server answered its last scrape (primary)\n"
        )
    );
    assert_eq!(
        exporter.get("/healthz", &[]).status,
        200,
        "the process serves"
    );

    cluster.start_again();
    eventually("ready once the server answers again", || {
        exporter.get("/readyz", &[]).status == 200
    });
}

#[test]
fn http_edges_are_answered_as_specified() {
    let cluster = PgCluster::start(ClusterOptions::default());
    let (_home, exporter) = start(&cluster, "", &[]);
    let address = exporter.address();

    let index = exporter.get("/", &[]);
    assert_eq!(index.status, 200);
    assert!(index.text().contains("href=\"/metrics\""));
    assert_eq!(exporter.get("/other", &[]).status, 403);
    let post = http_client::exchange(
        address,
        b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(post.status, 405);
    assert_eq!(
        http_client::exchange(address, b"\x16\x03\x01garbage\r\n\r\n").status,
        400
    );
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    assert_eq!(http_client::exchange(address, huge.as_bytes()).status, 431);

    let text = exporter.get("/metrics", &[]);
    assert_eq!(
        text.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    // Without `metrics_openmetrics`, a client that prefers OpenMetrics still gets the text
    // format, so counters keep their names in Prometheus's storage.
    let prometheus_accept = [(
        "Accept",
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
         text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    )];
    let default = exporter.get("/metrics", &prometheus_accept);
    assert_eq!(
        default.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let gzipped = exporter.get("/metrics", &[("Accept-Encoding", "gzip")]);
    assert_eq!(
        gzipped.headers.get("content-encoding").map(String::as_str),
        Some("gzip")
    );
    assert_eq!(&gzipped.body[..2], &[0x1f, 0x8b], "a gzip stream");

    // The daemon still serves after all of that, and stops on SIGTERM.
    assert!(exporter.scrape().contains("pgexporter_state 1\n"));
    assert_eq!(exporter.terminate(), Some(0));
}

#[test]
fn openmetrics_is_answered_only_with_metrics_openmetrics_on() {
    let cluster = PgCluster::start(ClusterOptions::default());
    let (_home, exporter) = start(&cluster, "metrics_openmetrics = on", &[]);
    let openmetrics = exporter.get(
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
    );
    assert!(openmetrics.headers["content-type"].starts_with("application/openmetrics-text"));
    assert!(openmetrics.text().ends_with("# EOF\n"));
    let text = exporter.get("/metrics", &[]);
    assert_eq!(
        text.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
}

#[test]
fn warnings_about_the_configuration_reach_the_log_at_start() {
    let cluster = PgCluster::start(ClusterOptions::default());
    let (_home, exporter) = start(&cluster, "no_such_key = 1", &[]);
    let log = exporter.log();
    let warning = log
        .lines()
        .find(|line| line.contains("no_such_key"))
        .unwrap_or_else(|| panic!("no warning about the unknown key: {log}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        warning.contains("pgexporter.conf"),
        "names the file: {warning}"
    );
}

#[test]
fn a_client_that_sends_nothing_is_dropped_after_authentication_timeout() {
    use std::io::Read;
    use std::net::TcpStream;

    let cluster = PgCluster::start(ClusterOptions::default());
    let (_home, exporter) = start(&cluster, "authentication_timeout = 1s", &[]);
    let mut idle = TcpStream::connect(exporter.address()).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = Instant::now();
    let mut buffer = [0u8; 64];
    let read = idle.read(&mut buffer);
    let waited = started.elapsed();
    assert!(
        matches!(read, Ok(0)),
        "the server closes the connection: {read:?}"
    );
    assert!(
        waited >= Duration::from_millis(900),
        "not before the timeout: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(10),
        "dropped promptly: {waited:?}"
    );
    // A slow request head (a byte, then silence) gets 408 Request Timeout before the close.
    let slow = http_client::exchange(exporter.address(), b"G");
    assert_eq!(slow.status, 408);
    assert!(
        exporter.scrape().contains("pgexporter_state 1\n"),
        "still serving"
    );
}

#[test]
fn the_metrics_port_speaks_https_and_mutual_tls_when_configured() {
    let cluster = PgCluster::start(ClusterOptions::default());
    let https = format!(
        "metrics_cert_file = {TESTDATA}/server.crt\nmetrics_key_file = {TESTDATA}/server.key"
    );
    let (_home, exporter) = start(&cluster, &https, &[]);
    let response = http_client::tls_get(exporter.address(), "/metrics", tls_client(false)).unwrap();
    assert_eq!(response.status, 200);
    assert!(
        response
            .text()
            .contains("pgexporter_postgresql_active{server=\"primary\"} 1\n")
    );
    let plain = http_client::exchange_raw(exporter.address(), b"GET /metrics HTTP/1.1\r\n\r\n");
    assert!(
        !plain.starts_with(b"HTTP/"),
        "plain HTTP is not served on an HTTPS port"
    );
    drop(exporter);

    let mutual = format!("{https}\nmetrics_ca_file = {TESTDATA}/ca.crt");
    let (_home, exporter) = start(&cluster, &mutual, &[]);
    let response = http_client::tls_get(exporter.address(), "/metrics", tls_client(true)).unwrap();
    assert_eq!(response.status, 200);
    assert!(
        http_client::tls_get(exporter.address(), "/metrics", tls_client(false)).is_err(),
        "a client without a certificate is refused"
    );
    assert!(exporter.log().contains("serving metrics on https://"));
}
