//! Running the built `pgexporter` daemon against a test cluster.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::binaries::binary;
use crate::cluster::{MONITOR_USER, PgCluster};
use crate::http_client::{self, HttpResponse};

/// The master password of the test vaults.
const MASTER_PASSWORD: &str = "exporter-test-master";

/// How long the daemon may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);

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

    /// Adds `user` with `password` to the admins file `pgexporter_admins.conf` of this home
    /// (made by the real `pgexporter-admin`); the file's path.
    pub fn add_admin(&self, user: &str, password: &str) -> PathBuf {
        let file = self.dir.join("pgexporter_admins.conf");
        self.admin(
            &[
                "-f",
                file.to_str().unwrap(),
                "-U",
                user,
                "-P",
                password,
                "user",
                "add",
            ],
            MASTER_PASSWORD,
        );
        file
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The users file.
    pub fn users_file(&self) -> PathBuf {
        self.dir.join("pgexporter_users.conf")
    }

    /// Writes `pgexporter.conf` for `cluster` with a free metrics port and `extra` lines in the
    /// `[pgexporter]` section; returns the port.
    pub fn write_config(&self, cluster: &PgCluster, extra: &str) -> u16 {
        let port = free_port();
        let config = format!(
            "[pgexporter]\nhost = 127.0.0.1\nmetrics = {port}\nunix_socket_dir = {dir}\nlog_level = info\n{extra}\n\n\
             [primary]\nhost = {host}\nport = {pg_port}\nuser = {user}\n",
            dir = self.dir.display(),
            host = cluster.host(),
            pg_port = cluster.port(),
            user = MONITOR_USER.name,
        );
        fs::write(self.config_file(), config).unwrap();
        port
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
    log: PathBuf,
}

impl Exporter {
    /// Starts `pgexporter -c <home>/pgexporter.conf -u <home>/pgexporter_users.conf` plus
    /// `args`, and waits until it listens on `port`.
    pub fn start(home: &ExporterHome, port: u16, args: &[&str]) -> Exporter {
        let log = home.dir().join(format!("daemon-{port}.log"));
        let child = Command::new(binary("pgexporter"))
            .arg("-c")
            .arg(home.config_file())
            .arg("-u")
            .arg(home.users_file())
            .args(args)
            .env("HOME", home.dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut exporter = Exporter {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
        };
        exporter.wait_until_listening();
        exporter
    }

    fn wait_until_listening(&mut self) {
        let started = Instant::now();
        while TcpStream::connect(self.address).is_err() {
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

    /// What the daemon has logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit; the exit status code.
    pub fn terminate(mut self) -> Option<i32> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        self.child.wait().unwrap().code()
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
