//! A throwaway PostgreSQL cluster for end-to-end tests.
//!
//! [`PgCluster::start`] copies a cluster made by `initdb` (once per test process) into a fresh
//! temporary directory, writes a configuration with one role per authentication method
//! ([`ROLES`]), starts the server on a free TCP port of 127.0.0.1 with its Unix socket inside the
//! same directory, and creates the roles. When the tests
//! run as root, `initdb`, `pg_ctl` and `psql` run as the `postgres` account via `runuser`, which
//! owns the directory.
//!
//! Cleanup happens twice over. `Drop` stops the server (`pg_ctl -m immediate`) and removes the
//! directory, also while a failed test unwinds. A cluster kept in a `static` (a `OnceLock` shared by
//! the tests of one binary) is never dropped, so every cluster also has a watchdog: a small shell
//! process whose standard input is a pipe held by the test process. When the test process ends in
//! any way, the pipe closes and the watchdog stops the server and removes the directory.

mod certs;
mod replica;
mod template;
mod tools;
mod watchdog;

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use tools::{Tools, run};
use watchdog::Watchdog;

pub use replica::{STANDBY_NAME, STANDBY_SLOT};
pub use tools::{MATRIX_CACHE_ENV, PG_BIN_DIR_ENV, matrix_cache};

/// The superuser `psql` connects as (trusted on the Unix socket and on 127.0.0.1).
pub const SUPERUSER: &str = "postgres";

/// A login role of the fixture, with the `pg_hba.conf` method that authenticates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Role {
    /// The role name.
    pub name: &'static str,
    /// Its password; `None` for the trusted role.
    pub password: Option<&'static str>,
    /// The `pg_hba.conf` method of its lines (`trust`, `password`, `md5`, `scram-sha-256`).
    pub method: &'static str,
}

/// Trusted without a password.
pub const TRUST_USER: Role = Role {
    name: "trust_user",
    password: None,
    method: "trust",
};
/// Cleartext password authentication.
pub const PASSWORD_USER: Role = Role {
    name: "password_user",
    password: Some("cleartext secret 1"),
    method: "password",
};
/// MD5 authentication; its password is stored as an MD5 hash so the server does not upgrade to SCRAM.
pub const MD5_USER: Role = Role {
    name: "md5_user",
    password: Some("md5-secret-2"),
    method: "md5",
};
/// SCRAM-SHA-256 authentication.
pub const SCRAM_USER: Role = Role {
    name: "scram_user",
    password: Some("scram-secret-3"),
    method: "scram-sha-256",
};
/// The monitoring role: SCRAM-SHA-256, member of `pg_monitor`.
pub const MONITOR_USER: Role = Role {
    name: "pgexporter",
    password: Some("monitor-secret-4"),
    method: "scram-sha-256",
};

/// Every login role the fixture creates (the superuser aside).
pub const ROLES: [Role; 5] = [
    TRUST_USER,
    PASSWORD_USER,
    MD5_USER,
    SCRAM_USER,
    MONITOR_USER,
];

/// The address the server listens on.
const HOST: &str = "127.0.0.1";

/// Attempts at finding a port when another process takes the one picked first.
const PORT_ATTEMPTS: usize = 5;

/// The PostgreSQL major versions of the version matrix: each is started as a primary and a
/// streaming replica by [`PgCluster::start_primary_and_replica`].
pub const MATRIX_MAJORS: [u32; 6] = [13, 14, 15, 16, 17, 18];

/// What kind of cluster to start.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Turn on `ssl` with a fresh CA and a server certificate for 127.0.0.1 and localhost.
    pub ssl: bool,
    /// The PostgreSQL major version; `None` for the default installation (see
    /// [`PG_BIN_DIR_ENV`]). A major comes from Debian's `/usr/lib/postgresql/<major>/bin`, else
    /// from the version matrix's cache ([`matrix_cache`]).
    pub major: Option<u32>,
    /// Libraries to load at server start besides `pg_stat_statements` (extensions such as
    /// `pg_stat_kcache` that need `shared_preload_libraries`).
    pub preload_libraries: Vec<&'static str>,
    /// More `postgresql.conf` lines, `name = value`.
    pub settings: Vec<String>,
}

/// A running throwaway cluster; see the module documentation.
#[derive(Debug)]
pub struct PgCluster {
    tools: Tools,
    dir: PathBuf,
    port: u16,
    ca_file: Option<PathBuf>,
    running: bool,
    watchdog: Option<Watchdog>,
}

impl PgCluster {
    /// Creates, configures and starts a cluster; returns once it accepts connections and the roles
    /// exist. Panics with the tool's output when anything fails, or with what to install when
    /// PostgreSQL or `openssl` (for `ssl`) is missing.
    pub fn start(options: ClusterOptions) -> PgCluster {
        let tools = match options.major {
            Some(major) => Tools::for_major(major),
            None => Tools::locate(),
        };
        let dir = fresh_directory();
        tools.give_away(&dir);
        let mut cluster = PgCluster {
            tools,
            dir,
            port: 0,
            ca_file: None,
            running: false,
            watchdog: None,
        };
        cluster.watchdog = Some(Watchdog::spawn(
            cluster.pg_ctl_stop_immediate(),
            &cluster.dir,
        ));
        cluster.init(&options);
        cluster.start_on_a_free_port();
        cluster.psql(&roles_sql());
        cluster
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TCP host, `127.0.0.1`.
    pub fn host(&self) -> &str {
        HOST
    }

    /// The directory holding the Unix socket `.s.PGSQL.<port>`.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The CA certificate (PEM) that signed the server certificate; `None` without `ssl`.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// The server log so far (useful in assertion messages).
    pub fn server_log(&self) -> String {
        fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    /// Runs `sql` with `psql` as the superuser in database `postgres` over the Unix socket and
    /// returns its standard output (unaligned, tuples only). Panics with psql's standard error
    /// when a statement fails.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_in("postgres", sql)
    }

    /// [`PgCluster::psql`] in database `database`.
    pub fn psql_in(&self, database: &str, sql: &str) -> String {
        let mut psql = self.tools.pg_command("psql", &self.dir);
        psql.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-U",
            SUPERUSER,
            "-d",
            database,
        ])
        .arg("-h")
        .arg(&self.dir)
        .arg("-p")
        .arg(self.port.to_string())
        .arg("-c")
        .arg(sql);
        String::from_utf8_lossy(&run(&mut psql, "psql").stdout).into_owned()
    }

    /// Opens a `psql` session as the superuser that stays connected and idle until the returned
    /// value is dropped (an idle backend, as `pg_stat_activity` shows `state = 'idle'`).
    pub fn idle_session(&self) -> IdleSession {
        let mut psql = self.tools.pg_command("psql", &self.dir);
        psql.args(["-X", "-q", "-U", SUPERUSER, "-d", "postgres", "-h"])
            .arg(&self.dir)
            .arg("-p")
            .arg(self.port.to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let child = psql
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start an idle psql session: {e}"));
        IdleSession { child }
    }

    /// The process titles of the server's backends (the postmaster's children), as `ps` shows
    /// them (`postgres: monitor postgres 127.0.0.1(4242) startup waiting`): read from /proc,
    /// so they count sessions that `pg_stat_activity` cannot show (still starting, or when
    /// the catalog is locked).
    pub fn backend_titles(&self) -> Vec<String> {
        self.backend_processes()
            .into_iter()
            .map(|(_, title)| title)
            .collect()
    }

    /// The process id and title of each of the server's backends (see
    /// [`PgCluster::backend_titles`]).
    pub fn backend_processes(&self) -> Vec<(u32, String)> {
        let postmaster = self.postmaster_pid().to_string();
        let entries = fs::read_dir("/proc").unwrap_or_else(|e| panic!("cannot list /proc: {e}"));
        entries
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                let pid = path.file_name()?.to_str()?.parse().ok()?;
                let stat = fs::read_to_string(path.join("stat")).ok()?;
                // The parent pid is the second field after the parenthesised command name.
                let parent = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?;
                if parent != postmaster {
                    return None;
                }
                let cmdline = fs::read(path.join("cmdline")).ok()?;
                let title = String::from_utf8_lossy(&cmdline)
                    .trim_end_matches('\0')
                    .to_owned();
                Some((pid, title))
            })
            .collect()
    }

    /// The postmaster's process id, from `postmaster.pid`; panics when the server is not running.
    pub fn postmaster_pid(&self) -> u32 {
        let pidfile = fs::read_to_string(self.data_dir().join("postmaster.pid"))
            .unwrap_or_else(|e| panic!("cannot read postmaster.pid: {e}"));
        let first = pidfile.lines().next().unwrap_or_default().trim();
        first
            .parse()
            .unwrap_or_else(|e| panic!("postmaster.pid starts with {first:?}: {e}"))
    }

    /// Stops the server (`pg_ctl -m fast`), waiting until it is down. The files stay, so
    /// [`PgCluster::start_again`] can bring it back.
    pub fn stop(&mut self) {
        let mut pg_ctl = self.pg_ctl();
        pg_ctl.args(["-m", "fast", "-w", "stop"]);
        run(&mut pg_ctl, "pg_ctl stop");
        self.running = false;
    }

    /// Stops the server at once (`pg_ctl -m immediate`), as a crash would: backends exit without
    /// finishing their work. [`PgCluster::start_again`] brings it back after crash recovery.
    pub fn stop_immediately(&mut self) {
        run(
            &mut self.pg_ctl_stop_immediate(),
            "pg_ctl stop -m immediate",
        );
        self.running = false;
    }

    /// Starts a stopped server again on the same port with the same data. Panics with the server
    /// log when it does not come up (for example because another process took the port).
    pub fn start_again(&mut self) {
        if let Err(log) = self.try_start() {
            panic!(
                "PostgreSQL did not start again on port {}:\n{log}",
                self.port
            );
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    fn pg_ctl(&self) -> std::process::Command {
        let mut pg_ctl = self.tools.pg_command("pg_ctl", &self.dir);
        pg_ctl.arg("-D").arg(self.data_dir());
        pg_ctl
    }

    fn pg_ctl_stop_immediate(&self) -> std::process::Command {
        let mut pg_ctl = self.pg_ctl();
        pg_ctl.args(["-m", "immediate", "-w", "stop"]);
        pg_ctl
    }

    fn init(&mut self, options: &ClusterOptions) {
        self.check_libraries(options);
        template::copy_initialized_data_dir(&self.tools, &self.data_dir());

        let mut conf = format!(
            "\n# pgexporter test fixture\n\
             listen_addresses = '{HOST}'\n\
             unix_socket_directories = '{}'\n\
             shared_preload_libraries = '{}'\n\
             shared_buffers = 16MB\n\
             max_connections = 100\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n\
             logging_collector = off\n",
            self.dir.display(),
            preload_libraries(options).join(",")
        );
        for setting in &options.settings {
            conf.push_str(setting);
            conf.push('\n');
        }
        if options.ssl {
            let certs = certs::make_certificates(&self.dir);
            for file in [&certs.ca_file, &certs.cert_file, &certs.key_file] {
                self.tools.give_away(file);
            }
            conf.push_str(&format!(
                "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
                certs.cert_file.display(),
                certs.key_file.display()
            ));
            self.ca_file = Some(certs.ca_file);
        }
        let data = self.data_dir();
        append(&data.join("postgresql.conf"), &conf);
        fs::write(data.join("pg_hba.conf"), hba_conf())
            .unwrap_or_else(|e| panic!("cannot write pg_hba.conf: {e}"));
    }

    /// Panics, naming the Debian package to install, when a library to preload is missing.
    fn check_libraries(&self, options: &ClusterOptions) {
        let dir = self.tools.library_dir();
        for library in preload_libraries(options) {
            if !dir.join(format!("{library}.so")).is_file() {
                let major = dir.parent().and_then(|root| root.file_name()).map_or_else(
                    || "<major>".to_owned(),
                    |name| name.to_string_lossy().into_owned(),
                );
                panic!(
                    "the PostgreSQL library {library} is not in {}: install the Debian package \
                     postgresql-{major}-{}",
                    dir.display(),
                    library.replace('_', "-")
                );
            }
        }
    }

    /// Picks a free port and starts; when another process took the port in between, tries again.
    fn start_on_a_free_port(&mut self) {
        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            self.port = free_port();
            match self.try_start() {
                Ok(()) => return,
                Err(log) if log.contains("could not bind") || log.contains("already in use") => {
                    last_log = log;
                }
                Err(log) => panic!("PostgreSQL did not start:\n{log}"),
            }
        }
        panic!("PostgreSQL found no free port in {PORT_ATTEMPTS} attempts:\n{last_log}");
    }

    /// Starts the server on `self.port`; the error is the server log of this attempt.
    fn try_start(&mut self) -> Result<(), String> {
        let log = self.log_file();
        fs::write(&log, "").unwrap_or_else(|e| panic!("cannot reset {}: {e}", log.display()));
        self.tools.give_away(&log);
        let mut pg_ctl = self.pg_ctl();
        pg_ctl
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-o"])
            .arg(format!("-p {}", self.port))
            .arg("start");
        let output = pg_ctl
            .output()
            .unwrap_or_else(|e| panic!("cannot run pg_ctl: {e}"));
        if output.status.success() {
            self.running = true;
            Ok(())
        } else {
            Err(format!(
                "{}\n{}",
                String::from_utf8_lossy(&output.stderr),
                self.server_log()
            ))
        }
    }
}

impl Drop for PgCluster {
    /// Stops the server at once and removes the directory; never panics.
    fn drop(&mut self) {
        if self.running {
            // Failure is not fatal here: the watchdog below retries, and panicking in drop aborts.
            let _ = self.pg_ctl_stop_immediate().output();
        }
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.dismiss();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// An idle `psql` session, ended when dropped.
#[derive(Debug)]
pub struct IdleSession {
    child: std::process::Child,
}

impl IdleSession {
    /// Sends `sql` to the session, which runs it without waiting for the answer to be read
    /// (`BEGIN; LOCK TABLE ...;` holds the lock until the session ends).
    pub fn send(&mut self, sql: &str) {
        let stdin = self
            .child
            .stdin
            .as_mut()
            .expect("psql's standard input is piped");
        stdin
            .write_all(format!("{sql}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("cannot write to psql: {e}"));
    }
}

impl Drop for IdleSession {
    fn drop(&mut self) {
        // Closing its standard input ends psql; kill it in case it is stuck.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `pg_stat_statements`, then the libraries `options` asks for.
fn preload_libraries(options: &ClusterOptions) -> Vec<&'static str> {
    let mut libraries = vec!["pg_stat_statements"];
    libraries.extend(&options.preload_libraries);
    libraries
}

/// A new empty directory under the system temporary directory, unique to this process and call.
fn fresh_directory() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    loop {
        let dir = std::env::temp_dir().join(format!(
            "pgexporter-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        match fs::create_dir(&dir) {
            Ok(()) => return dir,
            // Left over by an earlier process with the same id that was killed: pick the next name.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => panic!("cannot create {}: {e}", dir.display()),
        }
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind((HOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|e| panic!("cannot bind a free port on {HOST}: {e}"))
}

/// `pg_hba.conf`: the superuser is trusted, for replication too; each role gets a `local` line
/// and a `host` line for 127.0.0.1/32 with its own method. `host` lines match connections with
/// and without TLS.
fn hba_conf() -> String {
    let mut hba = format!(
        "local all {SUPERUSER} trust\nhost all {SUPERUSER} {HOST}/32 trust\n\
         local replication {SUPERUSER} trust\nhost replication {SUPERUSER} {HOST}/32 trust\n"
    );
    for role in ROLES {
        hba.push_str(&format!(
            "local all {0} {1}\nhost all {0} {HOST}/32 {1}\n",
            role.name, role.method
        ));
    }
    hba
}

/// SQL creating the roles; the MD5 role's password is hashed with MD5, the others with SCRAM
/// (PostgreSQL 13 hashes with MD5 unless told otherwise).
fn roles_sql() -> String {
    let mut sql = String::from("SET password_encryption = 'scram-sha-256';");
    for role in ROLES {
        let password = role
            .password
            .map(|p| format!(" PASSWORD '{p}'"))
            .unwrap_or_default();
        let create = format!("CREATE ROLE {} LOGIN{password};", role.name);
        if role.method == "md5" {
            sql.push_str(&format!(
                "SET password_encryption = 'md5'; {create} SET password_encryption = 'scram-sha-256';"
            ));
        } else {
            sql.push_str(&create);
        }
    }
    sql.push_str(&format!("GRANT pg_monitor TO {};", MONITOR_USER.name));
    sql.push_str("CREATE EXTENSION pg_stat_statements;");
    sql
}

fn append(path: &Path, text: &str) {
    fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .unwrap_or_else(|e| panic!("cannot append to {}: {e}", path.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_has_a_local_and_a_host_line_with_its_method() {
        let hba = hba_conf();
        for role in ROLES {
            assert!(
                hba.contains(&format!("local all {} {}\n", role.name, role.method)),
                "{hba}"
            );
            assert!(hba.contains(&format!(
                "host all {} 127.0.0.1/32 {}\n",
                role.name, role.method
            )));
        }
    }

    #[test]
    fn only_the_md5_role_is_created_with_md5_hashing() {
        let sql = roles_sql();
        let md5 = "SET password_encryption = 'md5'; CREATE ROLE md5_user LOGIN PASSWORD \
                   'md5-secret-2'; SET password_encryption = 'scram-sha-256';";
        assert!(sql.contains(md5), "{sql}");
        assert_eq!(sql.matches("password_encryption = 'md5'").count(), 1);
        assert!(sql.contains("CREATE ROLE trust_user LOGIN;"));
        assert!(sql.contains("GRANT pg_monitor TO pgexporter;"));
    }

    #[test]
    fn fresh_directories_are_distinct() {
        let first = fresh_directory();
        let second = fresh_directory();
        fs::remove_dir(&first).expect("remove the first directory");
        fs::remove_dir(&second).expect("remove the second directory");
        assert_ne!(first, second);
    }
}
