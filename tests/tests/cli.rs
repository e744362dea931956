//! End-to-end tests of `pgexporter-cli`: the built binary against a management server that
//! serves like the daemon (`pgexporter_tests::management_server`), locally and remotely, and
//! its local `encrypt` / `decrypt`.
//!
//! Build it first: `cargo build -j2 --bins`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use pgexporter_core::config::LogLevel;
use pgexporter_core::management::handshake::AdminVerifiers;
use pgexporter_core::management::{Document, Outcome};
use pgexporter_core::secret::Secret;
use pgexporter_core::vault::{MasterKey, MasterKeyFile};
use pgexporter_net::tls::{TlsServerFiles, server_config};
use pgexporter_tests::binaries::binary;
use pgexporter_tests::management_server::{ManagementServer, TestDaemon};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/vault");
const CERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../net/testdata");
const ADMIN: &str = "admin";
const ADMIN_PASSWORD: &str = "admin-secret-1";
/// Environment variables the client reads; each test sets only those it means to.
const CLIENT_ENV: [&str; 3] = [
    "PGEXPORTER_PASSWORD",
    "PGEXPORTER_CLI_CA_FILE",
    "PGEXPORTER_CONFIG_DIR",
];

/// A temporary home with the reference master key and a `pgexporter.conf` whose
/// `unix_socket_dir` is the home itself; removed on drop.
struct Home(PathBuf);

impl Home {
    fn new() -> Home {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "pgexporter-cli-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        let dir = path.join(".pgexporter");
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        let key = dir.join("master.key");
        fs::copy(Path::new(FIXTURES).join("master.key"), &key).unwrap();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        let home = Home(path);
        fs::write(home.config(), home.config_text()).unwrap();
        home
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn config(&self) -> PathBuf {
        self.0.join("pgexporter.conf")
    }

    fn config_text(&self) -> String {
        format!(
            "[pgexporter]\nhost = localhost\nmetrics = 5002\nunix_socket_dir = {}\n\
             log_level = info\n\n[primary]\nhost = localhost\nport = 5432\nuser = pgexporter\n",
            self.0.display()
        )
    }

    fn daemon(&self) -> TestDaemon {
        TestDaemon::new(&self.config_text())
    }

    /// A server on this home's local socket that shares the master key.
    fn local_server(&self) -> ManagementServer {
        ManagementServer::local(&self.0, self.daemon(), Some(master_key()))
    }

    /// Runs the client with this home and the given client environment, no terminal.
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(binary("pgexporter-cli"));
        command.args(args).env("HOME", &self.0).stdin(Stdio::null());
        for name in CLIENT_ENV {
            command.env_remove(name);
        }
        command.envs(env.iter().copied());
        let output = command.output().expect("pgexporter-cli runs");
        for stream in [&output.stdout, &output.stderr] {
            let text = String::from_utf8_lossy(stream);
            assert!(
                !text.contains(ADMIN_PASSWORD),
                "a password was printed: {text}"
            );
        }
        output
    }

    /// Runs the client locally (`-c` this home's configuration) and expects success.
    fn local_ok(&self, args: &[&str]) -> String {
        let config = self.config();
        let mut all = vec!["-c", path_str(&config)];
        all.extend_from_slice(args);
        succeeded(&self.run(&all, &[]), args)
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The reference master key, derived once (600 000 PBKDF2 iterations).
fn master_key() -> MasterKey {
    static KEY: OnceLock<MasterKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let text = fs::read_to_string(Path::new(FIXTURES).join("master.key")).unwrap();
        MasterKeyFile::parse(&text).unwrap().derive()
    })
    .clone()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

fn succeeded(output: &Output, args: &[&str]) -> String {
    assert!(
        output.status.success(),
        "{args:?} failed with {:?}: {}{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The exit code of a run that must fail, and its standard error, which must be one line.
fn failed(output: &Output) -> (i32, String) {
    let code = output.status.code().expect("exited normally");
    assert_ne!(
        code,
        0,
        "succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    (code, stderr)
}

fn one_line(stderr: &str) {
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("pgexporter-cli: "), "{stderr}");
}

fn json_document(stdout: &str) -> Document {
    assert_eq!(stdout.matches('\n').count(), 1, "{stdout}");
    Document::parse(stdout.trim_end().as_bytes()).expect("a management document")
}

fn admins() -> AdminVerifiers {
    let mut admins = AdminVerifiers::new();
    admins
        .insert(ADMIN, &Secret::from(ADMIN_PASSWORD), [3; 16])
        .unwrap();
    admins
}

fn tls_config() -> std::sync::Arc<rustls::ServerConfig> {
    server_config(&TlsServerFiles {
        cert_file: Path::new(CERTS).join("server.crt"),
        key_file: Path::new(CERTS).join("server.key"),
        client_ca_file: None,
    })
    .unwrap()
}

/// `-h 127.0.0.1 -p PORT -U admin` followed by `args`.
fn remote_args<'a>(port: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["-h", "127.0.0.1", "-p", port, "-U", ADMIN];
    all.extend_from_slice(args);
    all
}

#[test]
fn ping_in_text_json_and_raw() {
    let home = Home::new();
    let _server = home.local_server();
    let text = home.local_ok(&["ping"]);
    assert!(
        text.starts_with("Header:\n  ClientVersion: 0.9.0\n  Command: ping\n"),
        "{text}"
    );
    assert!(
        text.contains("Outcome:\n  Status: true\n  Time: 00:00:00\n"),
        "{text}"
    );
    assert!(
        text.contains("Response:\n  ServerVersion: 0.9.0\n"),
        "{text}"
    );

    let json = home.local_ok(&["-F", "json", "ping"]);
    let document = json_document(&json);
    assert_eq!(document.header.command, 5);
    assert_eq!(document.header.timestamp, "20261125000000");
    assert!(document.outcome.unwrap().is_success());
    assert_eq!(document.response.unwrap()["ServerVersion"], "0.9.0");
    assert!(
        json.starts_with(r#"{"Header":{"ClientVersion":"0.9.0","Command":5,"#),
        "{json}"
    );

    let raw = home.local_ok(&["--format", "raw", "ping"]);
    let document = json_document(&raw);
    assert_eq!(document.header.output.name(), "raw");
    assert_eq!(document.response.unwrap()["ServerVersion"], "0.9.0");
}

#[test]
fn status_and_status_details() {
    let home = Home::new();
    let _server = home.local_server();
    let text = home.local_ok(&["status"]);
    assert!(text.contains("  NumberOfServers: 1\n"), "{text}");
    assert!(
        text.contains("  Servers:\n    - Active: false\n      Server: primary\n"),
        "{text}"
    );
    let details = json_document(&home.local_ok(&["-F", "json", "status", "details"]));
    assert_eq!(details.header.command, 4);
    let response = details.response.unwrap();
    assert_eq!(response["PgexporterFips"], false);
    assert_eq!(response["Servers"][0]["Fips"], false);
}

#[test]
fn conf_get_key_prints_the_bare_value() {
    let home = Home::new();
    let _server = home.local_server();
    assert_eq!(home.local_ok(&["conf", "get", "log_level"]), "info\n");
    assert_eq!(
        home.local_ok(&["conf", "get", "pgexporter.metrics"]),
        "5002\n"
    );
    assert_eq!(
        home.local_ok(&["conf", "get", "server.primary.port"]),
        "5432\n"
    );
    let whole = home.local_ok(&["conf", "get"]);
    assert!(whole.contains("  log_level:\n"), "{whole}");
    let json = json_document(&home.local_ok(&["-F", "json", "conf", "get", "log_level"]));
    assert_eq!(json.response.unwrap()["log_level"]["string_value"], "info");

    let output = home.run(
        &["-c", path_str(&home.config()), "conf", "get", "nope"],
        &[],
    );
    let (code, stderr) = failed(&output);
    assert_eq!(code, 1);
    one_line(&stderr);
    assert!(stderr.contains("no key nope"), "{stderr}");
}

#[test]
fn conf_set_changes_the_running_configuration() {
    let home = Home::new();
    let server = home.local_server();
    let json = json_document(&home.local_ok(&["-F", "json", "conf", "set", "log_level", "warn"]));
    assert_eq!(json.header.command, 10);
    assert_eq!(json.request["ConfigKey"], "log_level");
    assert_eq!(json.request["ConfigValue"], "warn");
    assert_eq!(json.response.unwrap()["status"], "success");
    assert_eq!(home.local_ok(&["conf", "get", "log_level"]), "warn\n");
    assert_eq!(server.daemon().config.main.log_level, LogLevel::Warn);

    let output = home.run(
        &[
            "-c",
            path_str(&home.config()),
            "conf",
            "set",
            "no_such_key",
            "1",
        ],
        &[],
    );
    let (code, stderr) = failed(&output);
    assert_eq!(code, 1);
    one_line(&stderr);
    assert!(
        stderr.contains("conf set failed: unknown configuration key (1104)"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("Error: unknown configuration key"),
        "{stdout}"
    );
}

#[test]
fn shutdown_clear_ls_and_reload_reach_the_daemon() {
    let home = Home::new();
    let server = home.local_server();
    home.local_ok(&["shutdown"]);
    home.local_ok(&["clear", "prometheus"]);
    home.local_ok(&["clear", "prometheus"]);
    assert_eq!(server.daemon().shutdowns, 1);
    assert_eq!(server.daemon().clears, 2);
    let ls = home.local_ok(&["conf", "ls"]);
    assert!(
        ls.contains("main_configuration_path: /etc/pgexporter/pgexporter.conf"),
        "{ls}"
    );
    let reload = json_document(&home.local_ok(&["-F", "json", "conf", "reload"]));
    assert_eq!(reload.header.command, 7);
    assert!(reload.outcome.unwrap().is_success());
}

#[test]
fn every_compression_and_encryption_over_the_local_socket() {
    let home = Home::new();
    let _server = home.local_server();
    for compression in ["none", "gz", "zstd", "lz4", "bz2"] {
        let document = json_document(&home.local_ok(&["-F", "json", "-C", compression, "status"]));
        assert_eq!(document.header.compression.name(), compression);
        assert_eq!(document.response.unwrap()["NumberOfServers"], 1);
    }
    for (encryption, name) in [
        ("none", "none"),
        ("aes", "aes256"),
        ("aes256", "aes256"),
        ("aes192", "aes192"),
        ("aes128", "aes128"),
    ] {
        let document = json_document(&home.local_ok(&[
            "-F",
            "json",
            "-C",
            "zstd",
            "-E",
            encryption,
            "conf",
            "get",
            "log_level",
        ]));
        assert_eq!(document.header.encryption.name(), name);
        assert_eq!(
            document.response.unwrap()["log_level"]["string_value"],
            "info"
        );
    }
}

#[test]
fn the_configuration_directory_comes_from_the_environment() {
    let home = Home::new();
    let _server = home.local_server();
    let output = home.run(
        &["ping"],
        &[("PGEXPORTER_CONFIG_DIR", path_str(home.path()))],
    );
    assert!(succeeded(&output, &["ping"]).contains("Status: true"));
}

#[test]
fn no_daemon_fails_with_one_line() {
    let home = Home::new();
    let output = home.run(&["-c", path_str(&home.config()), "ping"], &[]);
    let (code, stderr) = failed(&output);
    assert_eq!(code, 1);
    one_line(&stderr);
    assert!(stderr.contains("cannot connect to"), "{stderr}");
    assert!(output.stdout.is_empty());
    let missing = home.run(&["-c", "/nonexistent/pgexporter.conf", "ping"], &[]);
    let (_, stderr) = failed(&missing);
    assert!(stderr.contains("/nonexistent/pgexporter.conf"), "{stderr}");
}

#[test]
fn remote_management_with_the_password_from_the_option_and_the_environment() {
    let home = Home::new();
    let server = ManagementServer::remote(admins(), None, home.daemon(), Some(master_key()));
    let port = server.port().to_string();
    let args = remote_args(&port, &["-P", ADMIN_PASSWORD, "status"]);
    assert!(succeeded(&home.run(&args, &[]), &args).contains("Server: primary"));
    let args = remote_args(
        &port,
        &["-F", "json", "-C", "lz4", "-E", "aes", "conf", "get"],
    );
    let output = home.run(&args, &[("PGEXPORTER_PASSWORD", ADMIN_PASSWORD)]);
    let document = json_document(&succeeded(&output, &args));
    assert_eq!(document.header.encryption.name(), "aes256");
    assert_eq!(
        document.response.unwrap()["server"]["primary"]["port"],
        5432
    );
    // conf reload is refused over remote management.
    let args = remote_args(&port, &["-P", ADMIN_PASSWORD, "conf", "reload"]);
    let (code, stderr) = failed(&home.run(&args, &[]));
    assert_eq!(code, 1);
    assert!(stderr.contains("conf reload failed"), "{stderr}");
}

#[test]
fn remote_refusals_exit_non_zero_without_the_password() {
    let home = Home::new();
    let server = ManagementServer::remote(admins(), None, home.daemon(), None);
    let port = server.port().to_string();
    let wrong = remote_args(&port, &["-P", "not-the-password", "ping"]);
    let (code, stderr) = failed(&home.run(&wrong, &[]));
    assert_eq!(code, 1);
    one_line(&stderr);
    assert!(stderr.contains("28P01"), "{stderr}");
    assert!(!stderr.contains("not-the-password"), "{stderr}");

    let mut unknown = vec!["-h", "127.0.0.1", "-p", &port, "-U", "mallory"];
    unknown.extend(["-P", ADMIN_PASSWORD, "ping"]);
    let (_, stderr) = failed(&home.run(&unknown, &[]));
    assert!(stderr.contains("53300"), "{stderr}");

    let prompt = remote_args(&port, &["ping"]);
    let (_, stderr) = failed(&home.run(&prompt, &[]));
    one_line(&stderr);
    assert!(stderr.contains("not a terminal"), "{stderr}");
}

#[test]
fn remote_tls_with_and_without_verification() {
    let home = Home::new();
    let server = ManagementServer::remote(admins(), Some(tls_config()), home.daemon(), None);
    let port = server.port().to_string();
    let args = remote_args(&port, &["-P", ADMIN_PASSWORD, "-v", "-C", "gz", "ping"]);
    let output = home.run(&args, &[]);
    succeeded(&output, &args);
    let trace = String::from_utf8_lossy(&output.stderr);
    assert!(trace.contains("the server accepted TLS"), "{trace}");

    let ca = Path::new(CERTS).join("ca.crt");
    let verified = home.run(&args, &[("PGEXPORTER_CLI_CA_FILE", path_str(&ca))]);
    succeeded(&verified, &args);

    let other = Path::new(CERTS).join("other-ca.crt");
    let quiet = remote_args(&port, &["-P", ADMIN_PASSWORD, "ping"]);
    let (code, stderr) = failed(&home.run(&quiet, &[("PGEXPORTER_CLI_CA_FILE", path_str(&other))]));
    assert_eq!(code, 1);
    one_line(&stderr);
    assert!(stderr.contains("TLS"), "{stderr}");
}

#[test]
fn a_ca_file_requires_tls() {
    let home = Home::new();
    let server = ManagementServer::remote(admins(), None, home.daemon(), None);
    let port = server.port().to_string();
    let args = remote_args(&port, &["-P", ADMIN_PASSWORD, "ping"]);
    let ca = Path::new(CERTS).join("ca.crt");
    let (_, stderr) = failed(&home.run(&args, &[("PGEXPORTER_CLI_CA_FILE", path_str(&ca))]));
    assert!(stderr.contains("does not accept TLS"), "{stderr}");
    // Without a CA file the same server is fine in clear.
    succeeded(&home.run(&args, &[]), &args);
}

#[test]
fn the_log_file_gets_errors_and_the_trace_but_no_password() {
    let home = Home::new();
    let server = ManagementServer::remote(admins(), None, home.daemon(), None);
    let port = server.port().to_string();
    let log = home.path().join("cli.log");
    let ok = remote_args(
        &port,
        &["-P", ADMIN_PASSWORD, "-v", "-L", path_str(&log), "ping"],
    );
    let output = home.run(&ok, &[]);
    succeeded(&output, &ok);
    assert!(output.stderr.is_empty(), "the trace goes to the log file");
    let wrong = remote_args(&port, &["-P", "wrong-secret", "-L", path_str(&log), "ping"]);
    failed(&home.run(&wrong, &[]));
    let text = fs::read_to_string(&log).unwrap();
    assert!(text.contains(" DEBUG connecting to 127.0.0.1:"), "{text}");
    assert!(text.contains(" DEBUG authenticated as admin"), "{text}");
    assert!(text.contains(" ERROR "), "{text}");
    assert!(text.contains("28P01"), "{text}");
    assert!(
        !text.contains(ADMIN_PASSWORD) && !text.contains("wrong-secret"),
        "{text}"
    );
}

#[test]
fn encrypt_and_decrypt_round_trip_and_never_overwrite() {
    let home = Home::new();
    let plain = home.path().join("notes.txt");
    fs::write(&plain, "monitor-secret-1\nsecond line\n").unwrap();
    let json = json_document(&succeeded(
        &home.run(&["-F", "json", "encrypt", path_str(&plain)], &[]),
        &["encrypt"],
    ));
    assert_eq!(json.header.command, 16);
    let encrypted = home.path().join("notes.txt.aes");
    assert_eq!(
        json.response.unwrap()["DestinationFile"],
        path_str(&encrypted)
    );
    let text = fs::read_to_string(&encrypted).unwrap();
    assert!(!text.contains("monitor-secret-1"));
    let mode = fs::metadata(&encrypted).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let restored = home.path().join("restored.txt");
    let args = ["decrypt", path_str(&encrypted), path_str(&restored)];
    let text_output = succeeded(&home.run(&args, &[]), &args);
    assert!(text_output.contains("Command: decrypt"), "{text_output}");
    assert_eq!(
        fs::read_to_string(&restored).unwrap(),
        "monitor-secret-1\nsecond line\n"
    );

    // Both outputs exist now: neither command overwrites.
    let before = fs::read(&encrypted).unwrap();
    let output = home.run(&["-F", "json", "encrypt", path_str(&plain)], &[]);
    let (code, stderr) = failed(&output);
    assert_eq!(code, 1);
    one_line(&stderr);
    assert!(stderr.contains("exists"), "{stderr}");
    let document = json_document(&String::from_utf8(output.stdout).unwrap());
    assert_eq!(document.outcome.map(|o| o.is_success()), Some(false));
    assert_eq!(fs::read(&encrypted).unwrap(), before);
    let (_, stderr) = failed(&home.run(&args, &[]));
    assert!(stderr.contains("exists"), "{stderr}");
}

#[test]
fn encrypt_needs_the_master_key() {
    let home = Home::new();
    fs::remove_file(home.path().join(".pgexporter/master.key")).unwrap();
    let plain = home.path().join("a.txt");
    fs::write(&plain, "x").unwrap();
    let output = home.run(&["-F", "json", "encrypt", path_str(&plain)], &[]);
    let (code, stderr) = failed(&output);
    assert_eq!(code, 1);
    one_line(&stderr);
    assert!(stderr.contains("pgexporter-admin master-key"), "{stderr}");
    let document = json_document(&String::from_utf8(output.stdout).unwrap());
    assert_eq!(document.header.command, 16);
    assert_eq!(document.outcome, Some(Outcome::Failure { error: 1107 }));
    assert!(!home.path().join("a.txt.aes").exists());
}

#[test]
fn command_line_errors_help_and_version() {
    let home = Home::new();
    for bad in [
        &["-c", "a.conf", "-h", "db", "-p", "1", "-U", "u", "ping"][..],
        &["-h", "db", "ping"],
        &["clear", "everything"],
        &["-F", "yaml", "ping"],
    ] {
        let (code, _) = failed(&home.run(bad, &[]));
        assert_eq!(code, 2, "{bad:?}");
    }
    let remote_file = [
        "-h", "db", "-p", "1", "-U", "u", "-P", "pw", "encrypt", "a.txt",
    ];
    let (code, stderr) = failed(&home.run(&remote_file, &[]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("encrypt and decrypt work on local files"),
        "{stderr}"
    );
    for flag in ["-?", "--help"] {
        let help = succeeded(&home.run(&[flag], &[]), &[flag]);
        assert!(help.contains("-E, --encrypt"), "{help}");
        assert!(help.contains("PGEXPORTER_CLI_CA_FILE"), "{help}");
    }
    for flag in ["-V", "--version"] {
        let version = succeeded(&home.run(&[flag], &[]), &[flag]);
        assert!(version.starts_with("pgexporter-cli "), "{version}");
    }
}
