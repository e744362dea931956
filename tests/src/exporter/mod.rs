//! Running the built `pgexporter` daemon against a test cluster, and `pgexporter-cli` against
//! that daemon.

use std::ffi::OsStr;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

mod background;
mod checks;
mod managed;

pub use background::BackgroundDaemon;
pub use checks::{
    eventually, failed, history_snapshots, labelled_samples, sample_value, succeeded,
};
pub use managed::{ADMIN, ADMIN_PASSWORD, ManagedDaemon};

use crate::binaries::binary;
use crate::cluster::{MONITOR_USER, PgCluster};
use crate::http_client::{self, HttpResponse};

/// The master password of the test vaults.
pub const MASTER_PASSWORD: &str = "exporter-test-master";

/// How long the daemon may take to start listening, or to exit once asked to.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a raw exchange with a management port may wait for the daemon's answer.
const RAW_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The name of the management socket inside `unix_socket_dir`.
pub const SOCKET_NAME: &str = ".s.pgexporter";

/// Environment variables `pgexporter-cli` reads; [`ExporterHome::cli`] clears them so that
/// each run sees only what it is given.
const CLI_ENV: [&str; 3] = [
    "PGEXPORTER_PASSWORD",
    "PGEXPORTER_CLI_CA_FILE",
    "PGEXPORTER_CONFIG_DIR",
];

/// A directory for one daemon: its configuration, users file and `HOME` with the master key.
#[derive(Debug)]
pub struct ExporterHome {
    dir: PathBuf,
}

impl ExporterHome {
    /// A fresh directory with a master key and a users file holding the monitoring role's
    /// password, both made by the real `pgexporter-admin`.
    pub fn new() -> ExporterHome {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pgexporter-e2e-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let home = ExporterHome { dir };
        home.admin(&["master-key"], MASTER_PASSWORD);
        home.admin(
            &[
                "-f",
                home.users_file().to_str().unwrap(),
                "-U",
                MONITOR_USER.name,
                "-P",
                MONITOR_USER
                    .password
                    .expect("the monitoring role has a password"),
                "user",
                "add",
            ],
            MASTER_PASSWORD,
        );
        home
    }

    /// Adds `name` with `password` to the admins file (remote management logins), made by the
    /// real `pgexporter-admin` as the users file is.
    pub fn add_admin(&self, name: &str, password: &str) {
        self.admin(
            &[
                "-f",
                self.admins_file().to_str().unwrap(),
                "-U",
                name,
                "-P",
                password,
                "user",
                "add",
            ],
            MASTER_PASSWORD,
        );
    }

    fn admin(&self, args: &[&str], password: &str) {
        let output = Command::new(binary("pgexporter-admin"))
            .args(args)
            .env("HOME", &self.dir)
            .env("PGEXPORTER_PASSWORD", password)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "pgexporter-admin {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The users file.
    pub fn users_file(&self) -> PathBuf {
        self.dir.join("pgexporter_users.conf")
    }

    /// The admins file; it exists once [`ExporterHome::add_admin`] was called.
    pub fn admins_file(&self) -> PathBuf {
        self.dir.join("pgexporter_admins.conf")
    }

    /// The management socket of a daemon running with this home's configuration.
    pub fn socket_path(&self) -> PathBuf {
        self.dir.join(SOCKET_NAME)
    }

    /// Writes `pgexporter.conf` for `cluster` with a free metrics port and `extra` lines in the
    /// `[pgexporter]` section; returns the port.
    pub fn write_config(&self, cluster: &PgCluster, extra: &str) -> u16 {
        self.write_servers_config(&[("primary", cluster)], extra)
    }

    /// Writes `pgexporter.conf` with one server section per `(name, cluster)`, a free
    /// metrics port and `extra` lines in the `[pgexporter]` section; returns the port.
    pub fn write_servers_config(&self, servers: &[(&str, &PgCluster)], extra: &str) -> u16 {
        let port = free_port();
        let mut config = format!(
            "[pgexporter]\nhost = 127.0.0.1\nmetrics = {port}\nunix_socket_dir = {dir}\nlog_level = info\n{extra}\n",
            dir = self.dir.display(),
        );
        for (name, cluster) in servers {
            config.push_str(&format!(
                "\n[{name}]\nhost = {host}\nport = {pg_port}\nuser = {user}\n",
                host = cluster.host(),
                pg_port = cluster.port(),
                user = MONITOR_USER.name,
            ));
        }
        fs::write(self.config_file(), config).unwrap();
        port
    }

    /// Writes `pgexporter.conf` with `main` lines in `[pgexporter]` (after its host on
    /// 127.0.0.1, the socket directory and the log level) and then `servers`, whole sections
    /// (see [`server_section`]).
    pub fn write_sections(&self, main: &str, servers: &str) {
        let config = format!(
            "[pgexporter]\nhost = 127.0.0.1\nunix_socket_dir = {dir}\nlog_level = info\n{main}\n\n{servers}",
            dir = self.dir.display(),
        );
        fs::write(self.config_file(), config).unwrap();
    }

    /// The configuration file.
    pub fn config_file(&self) -> PathBuf {
        self.dir.join("pgexporter.conf")
    }

    /// Runs the daemon to completion with `args` (for refusals); its output.
    pub fn run_to_exit(&self, args: &[&str]) -> Output {
        Command::new(binary("pgexporter"))
            .args(args)
            .env("HOME", &self.dir)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

impl ExporterHome {
    /// Runs `pgexporter-cli args` with `HOME` set to this directory (so it shares the daemon's
    /// master key), no terminal, and of the client's environment variables only `env`.
    pub fn cli(&self, args: &[&str], env: &[(&str, &OsStr)]) -> Output {
        let mut command = Command::new(binary("pgexporter-cli"));
        command
            .args(args)
            .env("HOME", &self.dir)
            .stdin(Stdio::null());
        for name in CLI_ENV {
            command.env_remove(name);
        }
        command.envs(env.iter().copied());
        command.output().expect("pgexporter-cli runs")
    }

    /// Runs `pgexporter-cli -c <this home's configuration> args`, over the local socket.
    pub fn cli_local(&self, args: &[&str]) -> Output {
        let config = self.config_file();
        let mut all = vec!["-c", config.to_str().expect("temporary paths are UTF-8")];
        all.extend_from_slice(args);
        self.cli(&all, &[])
    }
}

impl Default for ExporterHome {
    fn default() -> Self {
        ExporterHome::new()
    }
}

impl Drop for ExporterHome {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A running daemon, killed on drop.
#[derive(Debug)]
pub struct Exporter {
    child: Child,
    address: SocketAddr,
    socket: PathBuf,
    log: PathBuf,
}

impl Exporter {
    /// Starts `pgexporter -c <home>/pgexporter.conf -u <home>/pgexporter_users.conf` plus
    /// `args`, and waits until it listens on `port` and on its management socket.
    pub fn start(home: &ExporterHome, port: u16, args: &[&str]) -> Exporter {
        Exporter::start_with_env(home, port, args, &[])
    }

    /// [`Exporter::start`] with the extra environment variables `env` (`NOTIFY_SOCKET`).
    pub fn start_with_env(
        home: &ExporterHome,
        port: u16,
        args: &[&str],
        env: &[(&str, &OsStr)],
    ) -> Exporter {
        let log = home.dir().join(format!("daemon-{port}.log"));
        let child = Command::new(binary("pgexporter"))
            .arg("-c")
            .arg(home.config_file())
            .arg("-u")
            .arg(home.users_file())
            .args(args)
            .env("HOME", home.dir())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut exporter = Exporter {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            socket: home.socket_path(),
            log,
        };
        exporter.wait_until_listening();
        exporter
    }

    fn wait_until_listening(&mut self) {
        let started = Instant::now();
        while TcpStream::connect(self.address).is_err()
            || UnixStream::connect(&self.socket).is_err()
        {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("pgexporter exited with {status}: {}", self.log());
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "pgexporter did not listen: {}",
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The metrics listener's address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `GET path` with `headers`.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        http_client::get(self.address, path, headers)
    }

    /// `GET /metrics`, asserting a 200; the body as text.
    pub fn scrape(&self) -> String {
        let response = self.get("/metrics", &[]);
        assert_eq!(response.status, 200, "{}", response.text());
        response.text()
    }

    /// What the daemon has written to its standard error so far (the log with
    /// `log_type = console`).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The management socket.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// Sends `signal` to the daemon.
    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    /// Waits (up to a generous bound, then panics) for the daemon to exit; its status.
    pub fn wait_for_exit(&mut self) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "pgexporter did not exit: {}",
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the exit; the exit status code.
    pub fn terminate(mut self) -> Option<i32> {
        self.signal(Signal::SIGTERM);
        self.wait_for_exit().code()
    }

    /// Sends `request` on the management socket as is; everything the daemon answers until it
    /// closes the connection.
    pub fn raw_local(&self, request: &[u8]) -> Vec<u8> {
        let stream = UnixStream::connect(&self.socket).unwrap();
        stream.set_read_timeout(Some(RAW_READ_TIMEOUT)).unwrap();
        raw_exchange(stream, request)
    }
}

/// Sends `request` on TCP `port` of 127.0.0.1 as is; everything the daemon answers until it
/// closes the connection.
pub fn raw_tcp(port: u16, request: &[u8]) -> Vec<u8> {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(RAW_READ_TIMEOUT)).unwrap();
    raw_exchange(stream, request)
}

/// Writes `request`, then reads until end-of-file. A reset after the daemon closed counts as
/// end-of-file; a read that times out panics, since the daemon must close the connection.
fn raw_exchange<S: Read + Write>(mut stream: S, request: &[u8]) -> Vec<u8> {
    // The daemon may close before it read everything: a failed write is part of the answer.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return answer,
            Ok(count) => answer.extend_from_slice(&chunk[..count]),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if error.kind() == ErrorKind::ConnectionReset => return answer,
            Err(error) => panic!("the daemon did not close the connection: {error}"),
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The section of server `name`, the monitoring role on `cluster`.
pub fn server_section(name: &str, cluster: &PgCluster) -> String {
    format!(
        "[{name}]\nhost = {host}\nport = {port}\nuser = {user}\n\n",
        host = cluster.host(),
        port = cluster.port(),
        user = MONITOR_USER.name,
    )
}

/// A TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
