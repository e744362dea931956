//! End-to-end tests of the daemon's management side: raw bytes on the local socket and the
//! remote port, live `conf set`, signals, background mode, the pidfile, sd_notify and the
//! logging counters. The built `pgexporter` runs against a real cluster; `pgexporter-cli` is the
//! client where one is needed.
//!
//! Build the binaries first: `cargo build -j2 --bins`.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use bytes::BytesMut;
use nix::sys::signal::Signal;
use pgexporter_core::management::{Document, Outcome, frame};
use pgexporter_core::pg::frontend::startup_message;
use pgexporter_tests::cluster::MONITOR_USER;
use pgexporter_tests::exporter::{
    ADMIN, BackgroundDaemon, ExporterHome, ManagedDaemon, eventually, failed, raw_tcp,
    sample_value, succeeded,
};
use pgexporter_tests::{PgCluster, http_client};

/// How long an idle connection may stay open with `authentication_timeout = 1s`: generous,
/// since the machine may be busy; only the closing is asserted.
const IDLE_BOUND: Duration = Duration::from_secs(10);

/// A `ping` request frame as the reference client sends it: no compression, no encryption.
fn ping_frame() -> Vec<u8> {
    let request = br#"{"Header":{"ClientVersion":"0.9.0","Command":5,"Compression":0,"Encryption":0,"Output":1,"Timestamp":"20261125000000"},"Request":{}}"#;
    let mut bytes = vec![0, 0];
    bytes.extend_from_slice(&(request.len() as u32).to_be_bytes());
    bytes.extend_from_slice(request);
    bytes
}

/// Asserts the daemon still answers `ping` on its socket and remotely, and serves `/metrics`.
/// The local ping is sent raw, so that it works while the configuration file is broken (the
/// client reads it for `unix_socket_dir`).
fn still_serving(daemon: &ManagedDaemon) {
    let answer = answer_document(&daemon.exporter.raw_local(&ping_frame()));
    assert_eq!(answer.response.unwrap()["ServerVersion"], "0.9.0");
    let ping = succeeded(&daemon.cli_remote(&["ping"], &[]));
    assert!(ping.contains("ServerVersion: 0.9.0"), "{ping}");
    let body = daemon.exporter.scrape();
    assert!(body.contains("pgexporter_state 1\n"), "{body}");
}

/// The one document of a management answer.
fn answer_document(answer: &[u8]) -> Document {
    let mut buffer = BytesMut::from(answer);
    let frame = frame::decode(&mut buffer)
        .expect("a valid frame")
        .expect("a whole frame");
    assert!(buffer.is_empty(), "bytes after the answer: {buffer:?}");
    Document::parse(&frame::open(&frame, None).unwrap()).unwrap()
}

/// `conf get KEY` over remote management (which works while the file is broken), the bare
/// value.
fn conf_get(daemon: &ManagedDaemon, key: &str) -> String {
    succeeded(&daemon.cli_remote(&["conf", "get", key], &[]))
        .trim_end()
        .to_owned()
}

/// Replaces `from` by `to` in the daemon's configuration file.
fn edit_config(daemon: &ManagedDaemon, from: &str, to: &str) {
    let path = daemon.home.config_file();
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from} not in {text}");
    fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn a_raw_ping_frame_gets_the_reference_answer() {
    let daemon = ManagedDaemon::start("");
    let answer = daemon.exporter.raw_local(&ping_frame());
    // Compression none, encryption none, then the length of the JSON that follows.
    assert_eq!(&answer[..2], &[0, 0]);
    let length = u32::from_be_bytes(answer[2..6].try_into().unwrap()) as usize;
    assert_eq!(length, answer.len() - 6);
    let json = std::str::from_utf8(&answer[6..]).unwrap();
    assert!(
        json.starts_with(r#"{"Header":{"ClientVersion":"0.9.0","Command":5,"Compression":0,"Encryption":0,"Output":1,"Timestamp":""#),
        "{json}"
    );
    assert!(
        json.ends_with(r#""},"Outcome":{"Status":true,"Time":"00:00:00"},"Request":{},"Response":{"ServerVersion":"0.9.0"}}"#),
        "{json}"
    );
}

#[test]
fn garbage_and_oversized_frames_are_refused_and_the_daemon_keeps_serving() {
    let daemon = ManagedDaemon::start("");
    // Half a frame header and half a StartupMessage length, left hanging: the daemon serves
    // others meanwhile.
    let mut hanging_local = UnixStream::connect(daemon.exporter.socket_path()).unwrap();
    hanging_local.write_all(&[0, 0, 0]).unwrap();
    let mut hanging_remote = TcpStream::connect(("127.0.0.1", daemon.management)).unwrap();
    hanging_remote.write_all(&[0, 0]).unwrap();
    still_serving(&daemon);

    // An unknown compression byte: the frame cannot be read, the connection just closes.
    let answer = daemon.exporter.raw_local(b"hello, this is not a frame\n");
    assert!(answer.is_empty(), "{answer:?}");
    still_serving(&daemon);

    // A frame declaring 4 GiB: closed without an answer (and without allocating it).
    let huge = [0, 0, 0xff, 0xff, 0xff, 0xff];
    assert!(daemon.exporter.raw_local(&huge).is_empty());
    // On the remote port the same bytes start a StartupMessage of 65535 bytes, above the limit:
    // a protocol violation answered with an ErrorResponse, then closed.
    let answer = String::from_utf8_lossy(&raw_tcp(daemon.management, &huge)).into_owned();
    assert!(answer.starts_with('E'), "{answer:?}");
    assert!(answer.contains("C08P01"), "{answer:?}");
    still_serving(&daemon);

    // A well-formed frame whose payload is not a document: error 1, bad payload.
    let answer = daemon
        .exporter
        .raw_local(&[0, 0, 0, 0, 0, 5, b'h', b'e', b'l', b'l', b'o']);
    assert_eq!(
        answer_document(&answer).outcome,
        Some(Outcome::Failure { error: 1 })
    );

    // Garbage instead of a StartupMessage on the remote port.
    let answer = raw_tcp(daemon.management, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        !answer.windows(5).any(|window| window == b"0.9.0"),
        "{answer:?}"
    );
    still_serving(&daemon);
}

#[test]
fn a_startup_message_for_another_database_is_refused_with_53300() {
    let daemon = ManagedDaemon::start("");
    for params in [
        [("user", ADMIN), ("database", "postgres")],
        [("user", "mallory"), ("database", "admin")],
    ] {
        let mut startup = BytesMut::new();
        startup_message(&mut startup, &params).unwrap();
        let answer = raw_tcp(daemon.management, &startup);
        assert_eq!(answer.first(), Some(&b'E'), "{answer:?}");
        let text = String::from_utf8_lossy(&answer);
        assert!(text.contains("FATAL"), "{text}");
        assert!(text.contains("C53300"), "{text}");
        assert!(text.contains("connection refused"), "{text}");
    }
    still_serving(&daemon);
}

#[test]
fn a_silent_client_is_dropped_after_authentication_timeout() {
    let daemon = ManagedDaemon::start("authentication_timeout = 1s\n");
    let mut local = UnixStream::connect(daemon.exporter.socket_path()).unwrap();
    local.set_read_timeout(Some(IDLE_BOUND)).unwrap();
    let mut remote = TcpStream::connect(("127.0.0.1", daemon.management)).unwrap();
    remote.set_read_timeout(Some(IDLE_BOUND)).unwrap();
    let mut buffer = [0u8; 64];
    assert_eq!(local.read(&mut buffer).expect("closed, not timed out"), 0);
    assert_eq!(remote.read(&mut buffer).expect("closed, not timed out"), 0);
    still_serving(&daemon);
}

#[test]
fn metrics_cache_max_age_set_live_freezes_the_body() {
    let daemon = ManagedDaemon::start("");
    let first = daemon.exporter.scrape();
    let second = daemon.exporter.scrape();
    let executions = |body: &str| sample_value(body, "pgexporter_query_executions_total").unwrap();
    assert!(executions(&second) > executions(&first), "{second}");

    succeeded(
        &daemon
            .home
            .cli_local(&["conf", "set", "metrics_cache_max_age", "5m"]),
    );
    assert_eq!(conf_get(&daemon, "metrics_cache_max_age"), "5m");
    let cached = daemon.exporter.scrape();
    assert_eq!(daemon.exporter.scrape(), cached);
    assert_eq!(daemon.exporter.scrape(), cached);

    succeeded(
        &daemon
            .home
            .cli_local(&["conf", "set", "metrics_cache_max_age", "0"]),
    );
    let fresh = daemon.exporter.scrape();
    assert!(executions(&fresh) > executions(&cached), "{fresh}");
}

#[test]
fn log_level_set_live_changes_what_is_logged() {
    let daemon = ManagedDaemon::start("");
    let count = |level: &str| daemon.exporter.log().matches(level).count();
    succeeded(&daemon.home.cli_local(&["ping"]));
    assert_eq!(count(" DEBUG "), 0, "{}", daemon.exporter.log());

    succeeded(
        &daemon
            .home
            .cli_local(&["conf", "set", "log_level", "debug"]),
    );
    succeeded(&daemon.home.cli_local(&["ping"]));
    eventually("a DEBUG line after log_level = debug", || {
        count(" DEBUG ") > 0
    });

    succeeded(&daemon.home.cli_local(&["conf", "set", "log_level", "warn"]));
    let (debug, info) = (count(" DEBUG "), count(" INFO "));
    // A remote login is logged at INFO, a request at DEBUG: neither passes `warn`.
    succeeded(&daemon.cli_remote(&["ping"], &[]));
    succeeded(&daemon.home.cli_local(&["ping"]));
    assert_eq!(count(" DEBUG "), debug, "{}", daemon.exporter.log());
    assert_eq!(count(" INFO "), info, "{}", daemon.exporter.log());
    assert_eq!(conf_get(&daemon, "log_level"), "warn");

    // log_line_prefix is live too: the next line starts with the new prefix.
    succeeded(&daemon.home.cli_local(&["conf", "set", "log_level", "info"]));
    succeeded(
        &daemon
            .home
            .cli_local(&["conf", "set", "log_line_prefix", "e2e-%Y"]),
    );
    succeeded(&daemon.cli_remote(&["ping"], &[]));
    eventually("a line with the new prefix", || {
        daemon
            .exporter
            .log()
            .lines()
            .any(|line| line.starts_with("e2e-20") && line.contains("logged in"))
    });
}

#[test]
fn a_restart_only_key_is_reported_and_left_unchanged() {
    let daemon = ManagedDaemon::start("");
    let size = conf_get(&daemon, "metrics_cache_max_size");
    let output = daemon.home.cli_local(&[
        "-F",
        "json",
        "conf",
        "set",
        "metrics_cache_max_size",
        "512K",
    ]);
    let (code, stderr) = failed(&output);
    assert_eq!(code, 1);
    assert!(stderr.contains("restart required (1108)"), "{stderr}");
    let document = Document::parse(output.stdout.trim_ascii_end()).unwrap();
    assert_eq!(document.outcome, Some(Outcome::Failure { error: 1108 }));
    let response = document.response.unwrap();
    assert_eq!(response["status"], "restart_required");
    assert_eq!(response["restart_required"], true);
    let (_, stderr) = failed(&daemon.home.cli_local(&["conf", "set", "host", "0.0.0.0"]));
    assert!(stderr.contains("(1108)"), "{stderr}");
    assert_eq!(conf_get(&daemon, "host"), "127.0.0.1");
    assert_ne!(size, "512K");
    assert_eq!(conf_get(&daemon, "metrics_cache_max_size"), size);
    still_serving(&daemon);
}

#[test]
fn conf_set_refuses_unknown_servers_and_invalid_values_and_reports_no_change() {
    let daemon = ManagedDaemon::start("");
    let set = |key: &str, value: &str| {
        let output = daemon
            .home
            .cli_local(&["-F", "json", "conf", "set", key, value]);
        let document = Document::parse(output.stdout.trim_ascii_end()).unwrap();
        (output.status.code(), document)
    };
    for (key, value, error) in [
        ("nosuch.port", "1", 1105),
        ("log_level", "loud", 1109),
        ("primary.port", "1", 1108),
    ] {
        let (code, document) = set(key, value);
        assert_eq!(code, Some(1), "{key}");
        assert_eq!(document.outcome, Some(Outcome::Failure { error }), "{key}");
    }
    assert_eq!(
        conf_get(&daemon, "server.primary.port"),
        daemon.cluster.port().to_string()
    );
    let (code, document) = set("log_level", "info");
    assert_eq!(code, Some(0));
    assert_eq!(document.response.unwrap()["status"], "no_change");
    let (code, document) = set("primary.user", "other");
    assert_eq!(code, Some(0));
    assert_eq!(document.response.unwrap()["old_value"], "pgexporter");
    assert_eq!(conf_get(&daemon, "server.primary.user"), "other");
}

#[test]
fn sighup_applies_a_live_change_and_refuses_broken_or_restart_only_files() {
    let daemon = ManagedDaemon::start("");
    edit_config(&daemon, "log_level = info", "log_level = debug");
    daemon.exporter.signal(Signal::SIGHUP);
    eventually("log_level debug after SIGHUP", || {
        conf_get(&daemon, "log_level") == "debug"
    });
    // The reload reached the logging too: requests are now logged at DEBUG. Each poll sends a
    // request: the configuration answers before the logging is applied, so the first
    // requests after the reload may still log at INFO.
    eventually("a DEBUG line after the reload", || {
        conf_get(&daemon, "log_level");
        daemon.exporter.log().contains(" DEBUG ")
    });

    edit_config(&daemon, "log_level = debug", "log_level = loudest");
    daemon.exporter.signal(Signal::SIGHUP);
    eventually("the refused reload is logged", || {
        daemon
            .exporter
            .log()
            .contains("the running configuration stays")
    });
    let log = daemon.exporter.log();
    let why = log
        .lines()
        .find(|line| line.contains("the configuration cannot be reloaded"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(why.contains(" ERROR "), "{why}");
    assert!(why.contains("pgexporter.conf:"), "{why}");
    assert!(why.contains("invalid log level 'loudest'"), "{why}");
    assert_eq!(conf_get(&daemon, "log_level"), "debug");
    still_serving(&daemon);

    edit_config(&daemon, "log_level = loudest", "log_level = info");
    edit_config(&daemon, "host = 127.0.0.1", "host = 0.0.0.0");
    daemon.exporter.signal(Signal::SIGHUP);
    eventually("the restart-only reload is refused", || {
        daemon
            .exporter
            .log()
            .matches("the running configuration stays")
            .count()
            == 2
    });
    let log = daemon.exporter.log();
    let refusal = log
        .lines()
        .filter(|line| line.contains("the running configuration stays"))
        .nth(1)
        .unwrap();
    assert!(refusal.contains("host"), "{refusal}");
    assert_eq!(conf_get(&daemon, "log_level"), "debug");
    assert_eq!(conf_get(&daemon, "host"), "127.0.0.1");
    still_serving(&daemon);
}

#[test]
fn sigusr1_reopens_the_log_file_at_log_path() {
    let log_path = "pgexporter-e2e.log";
    let daemon = ManagedDaemon::start(&format!("log_type = file\nlog_path = {{dir}}/{log_path}\n"));
    let path = daemon.home.dir().join(log_path);
    let moved = daemon.home.dir().join("rotated.log");
    eventually("the log file has the start lines", || {
        fs::read_to_string(&path).is_ok_and(|text| text.contains("management socket"))
    });
    fs::rename(&path, &moved).unwrap();
    daemon.exporter.signal(Signal::SIGUSR1);
    eventually("a new log file at log_path", || path.exists());
    succeeded(&daemon.cli_remote(&["ping"], &[]));
    eventually("the login is logged in the new file", || {
        fs::read_to_string(&path).is_ok_and(|text| text.contains("admin 'admin' logged in"))
    });
    let old = fs::read_to_string(&moved).unwrap();
    assert!(!old.contains("logged in"), "{old}");
}

#[test]
fn sigterm_exits_0_and_removes_the_socket_and_the_pidfile() {
    let mut daemon = ManagedDaemon::start("pidfile = {dir}/pgexporter.pid\n");
    let pidfile = daemon.home.dir().join("pgexporter.pid");
    let written = fs::read_to_string(&pidfile).unwrap();
    assert_eq!(written, format!("{}\n", daemon.exporter.pid()));
    daemon.exporter.signal(Signal::SIGTERM);
    let status = daemon.exporter.wait_for_exit();
    assert_eq!(status.code(), Some(0), "{}", daemon.exporter.log());
    assert!(!daemon.home.socket_path().exists());
    assert!(!pidfile.exists());
}

#[test]
fn status_follows_the_cluster() {
    let mut daemon = ManagedDaemon::start("");
    let active = |daemon: &ManagedDaemon| {
        let status = succeeded(&daemon.home.cli_local(&["-F", "json", "status"]));
        let document = Document::parse(status.trim_end().as_bytes()).unwrap();
        document.response.unwrap()["Servers"][0]["Active"].clone()
    };
    assert_eq!(active(&daemon), false, "no scrape yet");
    daemon.exporter.scrape();
    assert_eq!(active(&daemon), true);
    daemon.cluster.stop();
    let body = daemon.exporter.scrape();
    assert!(
        body.contains("pgexporter_postgresql_active{server=\"primary\"} 0\n"),
        "{body}"
    );
    assert_eq!(active(&daemon), false);
}

#[test]
fn sigterm_lets_a_scrape_in_flight_finish() {
    let mut daemon = ManagedDaemon::start("");
    // A custom metric whose query takes a while, well under the shutdown grace.
    let slow = daemon.home.dir().join("slow.yaml");
    fs::write(
        &slow,
        "metrics:\n  - tag: e2e_slow\n    collector: custom\n    queries:\n      \
         - query: SELECT 1 AS value FROM pg_sleep(2)\n        columns:\n          \
         - name: value\n            type: gauge\n            description: Slow.\n",
    )
    .unwrap();
    succeeded(
        &daemon
            .home
            .cli_local(&["conf", "set", "metrics_path", slow.to_str().unwrap()]),
    );
    let address = daemon.exporter.address();
    let scrape = thread::spawn(move || http_client::get(address, "/metrics", &[]));
    eventually("the slow query runs", || {
        daemon
            .cluster
            .psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(2)%' AND pid <> pg_backend_pid()")
            .trim()
            != "0"
    });
    daemon.exporter.signal(Signal::SIGTERM);
    let response = scrape.join().unwrap();
    assert_eq!(response.status, 200);
    assert!(
        response.text().contains("pgexporter_e2e_slow_value"),
        "{}",
        response.text()
    );
    assert_eq!(daemon.exporter.wait_for_exit().code(), Some(0));
}

#[test]
fn sigint_and_sigalrm_stop_gracefully_too() {
    for signal in [Signal::SIGINT, Signal::SIGALRM] {
        let mut daemon = ManagedDaemon::start("");
        daemon.exporter.signal(signal);
        let status = daemon.exporter.wait_for_exit();
        assert_eq!(
            status.code(),
            Some(0),
            "{signal}: {}",
            daemon.exporter.log()
        );
        assert!(daemon.exporter.log().contains("shutting down"));
        assert!(!daemon.home.socket_path().exists());
    }
}

#[test]
fn sigabrt_kills_the_daemon_with_signal_6() {
    let mut daemon = ManagedDaemon::start("");
    daemon.exporter.signal(Signal::SIGABRT);
    let status = daemon.exporter.wait_for_exit();
    assert_eq!(status.signal(), Some(Signal::SIGABRT as i32), "{status}");
}

#[test]
fn daemon_mode_returns_at_once_and_serves_in_the_background() {
    let cluster = PgCluster::start(Default::default());
    let home = ExporterHome::new();
    let config = home.config_file();
    let users = home.users_file();
    let daemon_args = [
        "-c",
        config.to_str().unwrap(),
        "-u",
        users.to_str().unwrap(),
        "-d",
    ];
    // The console is what -d leaves behind: refused.
    home.write_config(&cluster, "");
    let refused = home.run_to_exit(&daemon_args);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("log_type = console"), "{stderr}");

    let pidfile = home.dir().join("pgexporter.pid");
    let log = home.dir().join("pgexporter.log");
    let port = home.write_config(
        &cluster,
        &format!(
            "log_type = file\nlog_path = {}\npidfile = {}\n",
            log.display(),
            pidfile.display()
        ),
    );
    let output = home.run_to_exit(&daemon_args);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let background = BackgroundDaemon::from_pidfile(&pidfile);
    assert!(background.is_running());
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    eventually("the background daemon serves /metrics", || {
        TcpStream::connect(address).is_ok()
    });
    let response = http_client::get(address, "/metrics", &[]);
    assert_eq!(response.status, 200);
    assert!(response.text().contains("pgexporter_state 1\n"));
    eventually("the background daemon answers ping", || {
        home.cli_local(&["ping"]).status.success()
    });
    background.signal(Signal::SIGTERM);
    background.wait_until_gone();
    assert!(!pidfile.exists());
    assert!(!home.socket_path().exists());
    let text = fs::read_to_string(&log).unwrap();
    assert!(text.contains("shutting down"), "{text}");
}

/// A datagram socket bound at a fresh path, removed on drop: where the daemon's sd_notify
/// messages arrive.
struct NotifySocket {
    path: PathBuf,
    socket: UnixDatagram,
}

impl NotifySocket {
    fn bind() -> NotifySocket {
        // Socket paths are limited to about 100 bytes: a short name in the temporary directory.
        let path =
            std::env::temp_dir().join(format!("pgexporter-notify-{}.sock", std::process::id()));
        let _ = fs::remove_file(&path);
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        NotifySocket { path, socket }
    }

    /// The next message; panics when none arrives within the read timeout.
    fn next(&self) -> String {
        let mut buffer = [0u8; 512];
        let count = self.socket.recv(&mut buffer).expect("a notification");
        String::from_utf8_lossy(&buffer[..count]).into_owned()
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[test]
fn sd_notify_reports_ready_reloading_and_stopping() {
    let notify = NotifySocket::bind();
    let mut daemon =
        ManagedDaemon::start_with_env("", &[("NOTIFY_SOCKET", notify.path.as_os_str())]);
    let ready = notify.next();
    assert!(ready.starts_with("READY=1"), "{ready}");
    daemon.exporter.signal(Signal::SIGHUP);
    let reloading = notify.next();
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading}"
    );
    assert!(notify.next().starts_with("READY=1"));
    daemon.exporter.signal(Signal::SIGTERM);
    assert_eq!(notify.next(), "STOPPING=1");
    assert_eq!(daemon.exporter.wait_for_exit().code(), Some(0));
}

#[test]
fn logging_counters_count_the_lines_of_the_log_file() {
    let log_path = "pgexporter-counted.log";
    let daemon = ManagedDaemon::start(&format!("log_type = file\nlog_path = {{dir}}/{log_path}\n"));
    let path = daemon.home.dir().join(log_path);
    let lines = |level: &str| {
        fs::read_to_string(&path)
            .unwrap()
            .matches(&format!(" {level} "))
            .count() as f64
    };
    let first = daemon.exporter.scrape();
    let info = sample_value(&first, "pgexporter_logging_info").unwrap();
    assert!(info > 0.0, "{first}");
    assert!(
        info <= lines("INFO"),
        "{info} counted, {} in the file",
        lines("INFO")
    );

    // A remote login logs at INFO; a broken reload logs a WARN.
    succeeded(&daemon.cli_remote(&["ping"], &[]));
    edit_config(&daemon, "log_level = info", "log_level = loudest");
    daemon.exporter.signal(Signal::SIGHUP);
    eventually("the refused reload is logged", || lines("WARN") > 0.0);
    let second = daemon.exporter.scrape();
    let info_later = sample_value(&second, "pgexporter_logging_info").unwrap();
    let warn = sample_value(&second, "pgexporter_logging_warn").unwrap();
    assert!(info_later > info, "{second}");
    assert!(info_later <= lines("INFO"));
    assert!(warn >= 1.0 && warn <= lines("WARN"), "{second}");
    let error = sample_value(&second, "pgexporter_logging_error").unwrap();
    assert_eq!(error, lines("ERROR"), "{second}");
}

/// The server section of the fixture's cluster under another name.
fn server_section(daemon: &ManagedDaemon, name: &str) -> String {
    format!(
        "\n[{name}]\nhost = {}\nport = {}\nuser = {}\n",
        daemon.cluster.host(),
        daemon.cluster.port(),
        MONITOR_USER.name
    )
}

/// Runs scrapes back to back on another thread until dropped; each must be answered 200.
struct Scraping {
    stop: Arc<AtomicBool>,
    scraper: Option<std::thread::JoinHandle<usize>>,
}

impl Scraping {
    fn start(daemon: &ManagedDaemon) -> Scraping {
        let stop = Arc::new(AtomicBool::new(false));
        let address = daemon.exporter.address();
        let running = Arc::clone(&stop);
        let scraper = std::thread::spawn(move || {
            let mut scrapes = 0;
            while !running.load(Ordering::Relaxed) {
                let response = http_client::get(address, "/metrics", &[]);
                assert_eq!(response.status, 200, "{}", response.text());
                assert!(response.text().contains("pgexporter_state 1\n"));
                scrapes += 1;
            }
            scrapes
        });
        Scraping {
            stop,
            scraper: Some(scraper),
        }
    }

    /// Stops scraping; how many scrapes were answered.
    fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let scraper = self.scraper.take().expect("scraping once");
        scraper.join().expect("every scrape was answered")
    }
}

#[test]
fn reloads_that_add_and_remove_servers_while_scrapes_run_keep_serving() {
    let daemon = ManagedDaemon::start("");
    let scraping = Scraping::start(&daemon);
    let path = daemon.home.config_file();
    let original = fs::read_to_string(&path).unwrap();

    // An added server is live: it is scraped from the next scrape on.
    let added = format!("{original}{}", server_section(&daemon, "added"));
    fs::write(&path, &added).unwrap();
    daemon.exporter.signal(Signal::SIGHUP);
    eventually("the added server is scraped", || {
        daemon
            .exporter
            .scrape()
            .contains("pgexporter_postgresql_active{server=\"added\"} 1")
    });

    // Removing a server needs a restart: the reload is refused and both stay.
    fs::write(&path, &original).unwrap();
    daemon.exporter.signal(Signal::SIGHUP);
    eventually("the removal is refused", || {
        daemon.exporter.log().contains("[added]")
    });
    assert!(
        daemon
            .exporter
            .scrape()
            .contains("pgexporter_postgresql_active{server=\"added\"} 1")
    );

    // A server added before the others changes every position in the server list.
    let (main, servers) = added.split_at(added.find("\n[primary]").unwrap());
    let reordered = format!("{main}{}{servers}", server_section(&daemon, "first"));
    fs::write(&path, &reordered).unwrap();
    let reload = succeeded(&daemon.home.cli_local(&["conf", "reload"]));
    assert!(reload.contains("success"), "{reload}");
    eventually("every server is scraped", || {
        let body = daemon.exporter.scrape();
        ["first", "primary", "added"].iter().all(|server| {
            body.contains(&format!(
                "pgexporter_postgresql_active{{server=\"{server}\"}} 1"
            ))
        })
    });
    let scrapes = scraping.finish();
    assert!(scrapes > 0);
    let status = succeeded(&daemon.cli_remote(&["status"], &[]));
    assert!(status.contains("first"), "{status}");
    assert!(!daemon.exporter.log().contains("panicked"));
    still_serving(&daemon);
}
