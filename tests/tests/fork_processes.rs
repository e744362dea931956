//! End-to-end tests of the daemon's processes and management, valid for every runtime: under
//! 32 concurrent scrapes the daemon leaves no zombie or orphan process behind and PostgreSQL
//! sees no more connections than the budget; management commands over the local socket reach
//! the running daemon (configuration, counters, reload, shutdown).
//!
//! Build the binaries first: `cargo build -j2 --bins` (scripts/test.sh does); point
//! `PGEXPORTER_BIN_DIR` at another build's binaries to test that runtime.

use std::fs;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use pgexporter_tests::binaries::binary;
use pgexporter_tests::exporter::{Exporter, ExporterHome, free_port};
use pgexporter_tests::http_client;
use pgexporter_tests::processes::{children_of, processes};
use pgexporter_tests::{ClusterOptions, PgCluster};

/// How long children may take to be reaped after the last answer.
const REAP_TIMEOUT: Duration = Duration::from_secs(10);

fn start(cluster: &PgCluster, extra_config: &str) -> (ExporterHome, Exporter) {
    let home = ExporterHome::new();
    let port = home.write_config(cluster, extra_config);
    let exporter = Exporter::start(&home, port, &[]);
    (home, exporter)
}

/// The remote management admin of [`remote_management_serves_each_connection_in_its_own_process`].
const ADMIN: (&str, &str) = ("operator", "remote-secret");

/// The processes still running the daemon's binary that are not the daemon (orphans of a
/// daemon that died are re-parented, so they are found by their command line).
fn processes_named_after(home: &ExporterHome, daemon: u32) -> Vec<u32> {
    let config = home.config_file();
    let config = config.to_str().unwrap();
    let mut found = Vec::new();
    for (pid, directory) in processes() {
        let Ok(command_line) = fs::read(directory.join("cmdline")) else {
            continue;
        };
        let command_line = String::from_utf8_lossy(&command_line);
        if pid != daemon && command_line.contains(config) {
            found.push(pid);
        }
    }
    found
}

/// Runs `pgexporter-cli` with `args` and this home; its output.
fn run_cli(home: &ExporterHome, args: &[&str]) -> Output {
    Command::new(binary("pgexporter-cli"))
        .args(args)
        .env("HOME", home.dir())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Runs `pgexporter-cli -c <home config> args` (the local socket); its output.
fn cli(home: &ExporterHome, args: &[&str]) -> Output {
    let config = home.config_file();
    let mut all = vec!["-c", config.to_str().unwrap()];
    all.extend_from_slice(args);
    run_cli(home, &all)
}

/// Runs the client and expects success; its standard output.
fn cli_ok(home: &ExporterHome, args: &[&str]) -> String {
    let output = cli(home, args);
    assert!(
        output.status.success(),
        "pgexporter-cli {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Waits until `condition` holds, at most `timeout`; whether it did.
fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if condition() {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    condition()
}

#[test]
fn concurrent_scrapes_leave_no_zombie_and_stay_within_the_connection_budget() {
    let cluster = PgCluster::start(ClusterOptions::default());
    cluster.psql("CREATE DATABASE other_db");
    let (home, exporter) = start(&cluster, "");
    let address = exporter.address();
    let counting = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgexporter'";
    for round in 0..2 {
        let scrapers: Vec<_> = (0..32)
            .map(|_| thread::spawn(move || http_client::get(address, "/metrics", &[])))
            .collect();
        let mut most_seen = 0;
        while scrapers.iter().any(|scraper| !scraper.is_finished()) {
            most_seen = most_seen.max(cluster.psql(counting).trim().parse::<u32>().unwrap());
            thread::sleep(Duration::from_millis(5));
        }
        for scraper in scrapers {
            let response = scraper.join().unwrap();
            assert_eq!(response.status, 200, "round {round}");
            assert!(
                response
                    .text()
                    .contains("pgexporter_postgresql_active{server=\"primary\"} 1\n")
            );
        }
        most_seen = most_seen.max(cluster.psql(counting).trim().parse::<u32>().unwrap());
        // One server, and the databases that accept connections: postgres and other_db, plus
        // a second connection for postgres once it was a scrape's bottleneck.
        assert!(
            most_seen <= 3,
            "round {round}: {most_seen} connections for a budget of 3"
        );
        let settled = eventually(REAP_TIMEOUT, || {
            children_of(exporter.pid())
                .iter()
                .all(|(_, state)| *state != 'Z')
        });
        assert!(settled, "zombies left: {:?}", children_of(exporter.pid()));
        let idle = eventually(REAP_TIMEOUT, || children_of(exporter.pid()).is_empty());
        assert!(
            idle,
            "children still running after every answer: {:?}",
            children_of(exporter.pid())
        );
    }
    let daemon = exporter.pid();
    assert_eq!(exporter.terminate(), Some(0));
    let gone = eventually(REAP_TIMEOUT, || {
        processes_named_after(&home, daemon).is_empty()
    });
    assert!(
        gone,
        "processes left after shutdown: {:?}",
        processes_named_after(&home, daemon)
    );
}

#[test]
fn management_commands_reach_the_running_daemon() {
    let cluster = PgCluster::start(ClusterOptions::default());
    let (home, exporter) = start(&cluster, "");
    let scraped = exporter.scrape();
    assert!(
        scraped.contains("pgexporter_query_executions_total "),
        "{scraped}"
    );

    let status = cli_ok(&home, &["status"]);
    assert!(status.contains("primary"), "{status}");

    // A live change made by one management connection is what the next one sees.
    cli_ok(&home, &["conf", "set", "log_level", "debug"]);
    let level = cli_ok(&home, &["conf", "get", "log_level"]);
    assert_eq!(level.trim(), "debug");

    // `clear prometheus` resets the query counters the next scrape shows.
    cli_ok(&home, &["clear", "prometheus"]);
    let body = exporter.scrape();
    let executions = body
        .lines()
        .find_map(|line| line.strip_prefix("pgexporter_query_executions_total "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .expect("the executions counter");
    let before = scraped
        .lines()
        .find_map(|line| line.strip_prefix("pgexporter_query_executions_total "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .expect("the executions counter");
    assert!(executions <= before, "cleared: {executions} after {before}");

    // SIGHUP reloads the file: the log level written there wins over the one set above.
    let config = fs::read_to_string(home.config_file()).unwrap();
    fs::write(
        home.config_file(),
        config.replace("log_level = info", "log_level = warn"),
    )
    .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(exporter.pid() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let reloaded = eventually(REAP_TIMEOUT, || {
        cli_ok(&home, &["conf", "get", "log_level"]).trim() == "warn"
    });
    assert!(reloaded, "{}", exporter.log());

    // `shutdown` stops the daemon.
    cli_ok(&home, &["shutdown"]);
    let pid = exporter.pid();
    let stopped = eventually(REAP_TIMEOUT, || {
        fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| {
                stat.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(true)
    });
    assert!(
        stopped,
        "the daemon still runs, with children {:?}: {}",
        children_of(pid),
        exporter.log()
    );
    assert!(
        std::net::TcpStream::connect(exporter.address()).is_err(),
        "the metrics port is closed after shutdown"
    );
}

#[test]
fn remote_management_serves_each_connection_in_its_own_process() {
    let cluster = PgCluster::start(ClusterOptions::default());
    let home = ExporterHome::new();
    home.add_admin(ADMIN.0, ADMIN.1);
    let admins = home.admins_file();
    let management = free_port();
    let port = home.write_config(&cluster, &format!("management = {management}"));
    let exporter = Exporter::start(&home, port, &["-A", admins.to_str().unwrap()]);
    exporter.scrape();
    let management = management.to_string();
    let remote = |args: &[&str]| {
        let mut all = vec![
            "-h",
            "127.0.0.1",
            "-p",
            &management,
            "-U",
            ADMIN.0,
            "-P",
            ADMIN.1,
        ];
        all.extend_from_slice(args);
        run_cli(&home, &all)
    };
    let statuses: Vec<_> = (0..8)
        .map(|_| {
            let output = remote(&["status"]);
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout).into_owned()
        })
        .collect();
    for status in statuses {
        assert!(status.contains("primary"), "{status}");
    }
    let refused = {
        let mut all = vec![
            "-h",
            "127.0.0.1",
            "-p",
            &management,
            "-U",
            ADMIN.0,
            "-P",
            "wrong",
        ];
        all.push("status");
        run_cli(&home, &all)
    };
    assert!(!refused.status.success(), "a wrong password is refused");
    let output = remote(&["shutdown"]);
    assert!(output.status.success());
    let pid = exporter.pid();
    let stopped = eventually(REAP_TIMEOUT, || {
        std::net::TcpStream::connect(exporter.address()).is_err()
    });
    assert!(
        stopped,
        "the daemon {pid} still listens: {}",
        exporter.log()
    );
}
