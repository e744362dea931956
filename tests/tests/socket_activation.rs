//! Socket activation (SPEC §13): the daemon started by `systemd-socket-activate` (Debian package
//! `systemd`) takes the passed TCP socket as its metrics listener and the passed Unix socket as
//! its management socket, and closes a passed socket that no listener wants.

use std::fs;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use pgexporter_tests::binaries::binary;
use pgexporter_tests::exporter::{ExporterHome, free_port};
use pgexporter_tests::http_client;
use pgexporter_tests::{ClusterOptions, PgCluster};

/// How long the daemon gets to exit after SIGTERM.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// The activator and, once it execs, the daemon: the same process. Killed on drop.
struct Activated(Child);

impl Drop for Activated {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn passed_sockets_serve_metrics_and_management_and_stay_after_exit() {
    let cluster = PgCluster::start(ClusterOptions::default());
    let home = ExporterHome::new();
    let port = home.write_config(&cluster, "");
    let unused_port = free_port();
    let socket = home.socket_path();
    let log = home.dir().join("activated.log");
    let child = Command::new("systemd-socket-activate")
        .arg(format!("--listen=127.0.0.1:{port}"))
        .arg(format!("--listen=127.0.0.1:{unused_port}"))
        .arg(format!("--listen={}", socket.display()))
        .arg(format!("--setenv=HOME={}", home.dir().display()))
        .arg(binary("pgexporter"))
        .arg("-c")
        .arg(home.config_file())
        .arg("-u")
        .arg(home.users_file())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("cannot run systemd-socket-activate ({error}): install Debian's systemd package")
        });
    let mut activated = Activated(child);
    let log_text = || fs::read_to_string(&log).unwrap_or_default();

    let started = Instant::now();
    while !socket.exists() {
        assert!(
            started.elapsed() < EXIT_TIMEOUT,
            "the activator did not bind: {}",
            log_text()
        );
        thread::sleep(Duration::from_millis(20));
    }
    // The first connection starts the daemon, which then answers it on the passed socket.
    let response = http_client::get(SocketAddr::from(([127, 0, 0, 1], port)), "/metrics", &[]);
    assert_eq!(response.status, 200, "{}", log_text());
    assert!(
        response
            .text()
            .contains("pgexporter_postgresql_active{server=\"primary\"} 1\n"),
        "{}",
        response.text()
    );
    let ping = home.cli_local(&["ping"]);
    assert!(
        ping.status.success(),
        "ping over the passed management socket: {}\n{}",
        String::from_utf8_lossy(&ping.stderr),
        log_text()
    );
    assert!(
        log_text().contains(&format!(
            "socket activation: 127.0.0.1:{unused_port} is no listener of the configuration"
        )),
        "{}",
        log_text()
    );

    kill(
        Pid::from_raw(i32::try_from(activated.0.id()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = activated.0.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < EXIT_TIMEOUT, "no exit: {}", log_text());
        thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}: {}", log_text());
    assert!(
        socket.exists(),
        "the service manager's socket file was removed"
    );
}
