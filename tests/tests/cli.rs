//! End-to-end tests of `pgexporter-cli` against the real daemon serving a real cluster: every
//! command locally and remotely (in clear and over TLS), every compression and encryption, the
//! refusals, the bytes the client sends; and what is the client's own: `encrypt` / `decrypt`
//! of files, argument errors, exit codes, `-L`, and never printing a password.
//!
//! Build the binaries first: `cargo build -j2 --bins`.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::thread;

use pgexporter_core::management::{Document, Outcome};
use pgexporter_tests::exporter::{
    ADMIN_PASSWORD, ExporterHome, MASTER_PASSWORD, ManagedDaemon, SOCKET_NAME, failed,
    sample_value, succeeded,
};

const CERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tls/testdata");
/// The wrong password the refusal tests send.
const WRONG_PASSWORD: &str = "not-the-password";

/// The `[pgexporter]` lines that turn on TLS for remote management with the test certificate.
fn tls_config() -> String {
    format!("tls = on\ntls_cert_file = {CERTS}/server.crt\ntls_key_file = {CERTS}/server.key\n")
}

fn cert(name: &str) -> OsString {
    Path::new(CERTS).join(name).into_os_string()
}

/// Asserts that no password reached either output stream, and hands the output back.
fn no_password(output: Output) -> Output {
    for stream in [&output.stdout, &output.stderr] {
        let text = String::from_utf8_lossy(stream);
        for secret in [ADMIN_PASSWORD, MASTER_PASSWORD, WRONG_PASSWORD] {
            assert!(!text.contains(secret), "a password was printed: {text}");
        }
    }
    output
}

fn one_line(stderr: &str) {
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("pgexporter-cli: "), "{stderr}");
}

fn json_document(stdout: &str) -> Document {
    assert_eq!(stdout.matches('\n').count(), 1, "{stdout}");
    Document::parse(stdout.trim_end().as_bytes()).expect("a management document")
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// How the client reaches the daemon.
enum Via {
    /// `-c <config>`: the local socket.
    Local,
    /// `-h/-p/-U/-P`, with the client environment given (the CA file for TLS).
    Remote(Vec<(&'static str, OsString)>),
}

impl Via {
    fn run(&self, daemon: &ManagedDaemon, args: &[&str]) -> Output {
        no_password(match self {
            Via::Local => daemon.home.cli_local(args),
            Via::Remote(env) => {
                let env: Vec<(&str, &OsStr)> = env
                    .iter()
                    .map(|(name, value)| (*name, value.as_os_str()))
                    .collect();
                daemon.cli_remote(args, &env)
            }
        })
    }

    fn ok(&self, daemon: &ManagedDaemon, args: &[&str]) -> String {
        succeeded(&self.run(daemon, args))
    }

    fn json(&self, daemon: &ManagedDaemon, args: &[&str]) -> Document {
        let mut all = vec!["-F", "json"];
        all.extend_from_slice(args);
        json_document(&self.ok(daemon, &all))
    }
}

/// Runs every command `via` one way of reaching `daemon`, asserting each answer; ends with
/// `shutdown` and the daemon's clean exit.
fn every_command(mut daemon: ManagedDaemon, via: Via) {
    let remote = matches!(via, Via::Remote(_));
    // ping, in each output format.
    let text = via.ok(&daemon, &["ping"]);
    assert!(
        text.starts_with("Header:\n  ClientVersion: 0.9.0\n  Command: ping\n"),
        "{text}"
    );
    assert!(text.contains("Outcome:\n  Status: true\n"), "{text}");
    assert!(
        text.contains("Response:\n  ServerVersion: 0.9.0\n"),
        "{text}"
    );
    let json = via.json(&daemon, &["ping"]);
    assert_eq!(json.header.command, 5);
    assert!(json.outcome.unwrap().is_success());
    assert_eq!(json.response.unwrap()["ServerVersion"], "0.9.0");
    let raw = json_document(&via.ok(&daemon, &["--format", "raw", "ping"]));
    assert_eq!(raw.header.output.name(), "raw");

    // status and status details: the server is active once a scrape reached it.
    let first = daemon.exporter.scrape();
    let text = via.ok(&daemon, &["status"]);
    assert!(text.contains("  NumberOfServers: 1\n"), "{text}");
    assert!(
        text.contains("  Servers:\n    - Active: true\n      Server: primary\n"),
        "{text}"
    );
    let details = via.json(&daemon, &["status", "details"]);
    assert_eq!(details.header.command, 4);
    let response = details.response.unwrap();
    assert_eq!(response["PgexporterFips"], false);
    assert_eq!(response["Servers"][0]["Active"], true);
    assert_eq!(response["Servers"][0]["Fips"], false);
    assert!(
        via.ok(&daemon, &["status", "details"])
            .contains("Fips: false")
    );

    // conf ls: absolute paths of the files the daemon was started with.
    let ls = via.json(&daemon, &["conf", "ls"]).response.unwrap();
    let home = &daemon.home;
    assert_eq!(ls["main_configuration_path"], path_str(&home.config_file()));
    assert_eq!(ls["users_configuration_path"], path_str(&home.users_file()));
    assert_eq!(
        ls["admin_configuration_path"],
        path_str(&home.admins_file())
    );
    assert!(via.ok(&daemon, &["conf", "ls"]).contains(&format!(
        "  main_configuration_path: {}\n",
        home.config_file().display()
    )));

    // conf get, whole and by key.
    let cluster_port = daemon.cluster.port().to_string();
    let metrics_port = daemon.exporter.address().port().to_string();
    let whole = via.json(&daemon, &["conf", "get"]).response.unwrap();
    assert_eq!(whole["server"]["primary"]["port"], daemon.cluster.port());
    assert_eq!(whole["management"], daemon.management);
    assert!(via.ok(&daemon, &["conf", "get"]).contains("  log_level:\n"));
    assert_eq!(via.ok(&daemon, &["conf", "get", "log_level"]), "info\n");
    assert_eq!(
        via.ok(&daemon, &["conf", "get", "pgexporter.metrics"]),
        format!("{metrics_port}\n")
    );
    assert_eq!(
        via.ok(&daemon, &["conf", "get", "server.primary.port"]),
        format!("{cluster_port}\n")
    );
    let (code, stderr) = failed(&via.run(&daemon, &["conf", "get", "nope"]));
    assert_eq!(code, 1);
    one_line(&stderr);
    assert!(stderr.contains("no key nope"), "{stderr}");

    // conf set of a live key, then of an unknown one.
    let set = via.json(&daemon, &["conf", "set", "log_level", "warn"]);
    assert_eq!(set.header.command, 10);
    assert_eq!(set.request["ConfigKey"], "log_level");
    assert_eq!(set.request["ConfigValue"], "warn");
    let response = set.response.unwrap();
    assert_eq!(response["status"], "success");
    assert_eq!(response["old_value"], "info");
    assert_eq!(via.ok(&daemon, &["conf", "get", "log_level"]), "warn\n");
    let output = via.run(&daemon, &["conf", "set", "no_such_key", "1"]);
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

    // clear prometheus: the query counters start again.
    let executions = |body: &str| sample_value(body, "pgexporter_query_executions_total").unwrap();
    let second = daemon.exporter.scrape();
    assert!(executions(&second) > executions(&first), "{second}");
    let clear = via.json(&daemon, &["clear", "prometheus"]);
    assert_eq!(clear.header.command, 6);
    assert!(clear.outcome.unwrap().is_success());
    let cleared = daemon.exporter.scrape();
    assert!(executions(&cleared) < executions(&second), "{cleared}");

    // conf reload: local only.
    if remote {
        let output = via.run(&daemon, &["-F", "json", "conf", "reload"]);
        let (code, stderr) = failed(&output);
        assert_eq!(code, 1);
        one_line(&stderr);
        assert!(stderr.contains("conf reload failed"), "{stderr}");
        let document = json_document(&String::from_utf8_lossy(&output.stdout));
        assert_eq!(document.outcome, Some(Outcome::Failure { error: 1107 }));
        assert_eq!(via.ok(&daemon, &["conf", "get", "log_level"]), "warn\n");
    } else {
        let reload = via.json(&daemon, &["conf", "reload"]);
        assert_eq!(reload.header.command, 7);
        assert!(reload.outcome.unwrap().is_success());
        // The file still says info: the reload put it back.
        assert_eq!(via.ok(&daemon, &["conf", "get", "log_level"]), "info\n");
    }

    // shutdown: the daemon exits 0 and removes its socket.
    let text = via.ok(&daemon, &["shutdown"]);
    assert!(text.contains("Command: shutdown"), "{text}");
    let status = daemon.exporter.wait_for_exit();
    assert_eq!(status.code(), Some(0), "{}", daemon.exporter.log());
    assert!(!daemon.home.socket_path().exists());
}

#[test]
fn every_command_over_the_local_socket() {
    every_command(ManagedDaemon::start(""), Via::Local);
}

#[test]
fn every_command_over_remote_management_in_clear() {
    let daemon = ManagedDaemon::start("");
    // A CA file asks for TLS, which this daemon does not offer.
    let ca = cert("ca.crt");
    let output = daemon.cli_remote(&["ping"], &[("PGEXPORTER_CLI_CA_FILE", &ca)]);
    let (code, stderr) = failed(&no_password(output));
    assert_eq!(code, 1);
    assert!(stderr.contains("does not accept TLS"), "{stderr}");
    every_command(daemon, Via::Remote(Vec::new()));
}

#[test]
fn every_command_over_remote_management_with_tls() {
    let daemon = ManagedDaemon::start(&tls_config());
    // Without a CA file the client takes TLS unverified; -v says so.
    let output = no_password(daemon.cli_remote(&["-v", "-C", "gz", "ping"], &[]));
    succeeded(&output);
    let trace = String::from_utf8_lossy(&output.stderr);
    assert!(trace.contains("the server accepted TLS"), "{trace}");
    // A CA that did not sign the daemon's certificate.
    let other = cert("other-ca.crt");
    let output = daemon.cli_remote(&["ping"], &[("PGEXPORTER_CLI_CA_FILE", &other)]);
    let (code, stderr) = failed(&no_password(output));
    assert_eq!(code, 1);
    one_line(&stderr);
    assert!(stderr.contains("TLS"), "{stderr}");
    every_command(
        daemon,
        Via::Remote(vec![("PGEXPORTER_CLI_CA_FILE", cert("ca.crt"))]),
    );
}

#[test]
fn every_compression_and_encryption_locally_and_remotely() {
    let daemon = ManagedDaemon::start(&tls_config());
    let remote = Via::Remote(vec![("PGEXPORTER_CLI_CA_FILE", cert("ca.crt"))]);
    let compressions = ["none", "gz", "zstd", "lz4", "bz2"];
    let encryptions = [
        ("none", "none"),
        ("aes", "aes256"),
        ("aes256", "aes256"),
        ("aes192", "aes192"),
        ("aes128", "aes128"),
    ];
    for via in [Via::Local, remote] {
        for compression in compressions {
            let document = via.json(&daemon, &["-C", compression, "status"]);
            assert_eq!(document.header.compression.name(), compression);
            assert_eq!(document.response.unwrap()["NumberOfServers"], 1);
        }
        for (index, (encryption, name)) in encryptions.into_iter().enumerate() {
            // Each encryption with a different compression, the whole configuration as payload.
            let compression = compressions[(index + 1) % compressions.len()];
            let document = via.json(
                &daemon,
                &["-C", compression, "-E", encryption, "conf", "get"],
            );
            assert_eq!(document.header.encryption.name(), name);
            assert_eq!(document.header.compression.name(), compression);
            assert_eq!(
                document.response.unwrap()["server"]["primary"]["port"],
                daemon.cluster.port()
            );
        }
    }
}

/// Serves one connection on a socket in `dir` by passing it on to `daemon_socket`; returns the
/// bytes the client sent and the bytes the daemon answered.
fn relay_once(dir: &Path, daemon_socket: PathBuf) -> thread::JoinHandle<(Vec<u8>, Vec<u8>)> {
    let listener = UnixListener::bind(dir.join(SOCKET_NAME)).unwrap();
    thread::spawn(move || {
        let (mut client, _) = listener.accept().unwrap();
        let mut header = [0u8; 6];
        client.read_exact(&mut header).unwrap();
        let length = u32::from_be_bytes(header[2..].try_into().unwrap());
        assert!(length < 1 << 20, "a request of {length} bytes");
        let mut request = header.to_vec();
        request.resize(6 + length as usize, 0);
        client.read_exact(&mut request[6..]).unwrap();
        let mut daemon = UnixStream::connect(daemon_socket).unwrap();
        daemon.write_all(&request).unwrap();
        let mut answer = Vec::new();
        daemon.read_to_end(&mut answer).unwrap();
        client.write_all(&answer).unwrap();
        (request, answer)
    })
}

/// The frame header and JSON of one uncompressed, unencrypted frame.
fn plain_frame(bytes: &[u8]) -> &str {
    assert_eq!(&bytes[..2], &[0, 0], "compression and encryption none");
    let length = u32::from_be_bytes(bytes[2..6].try_into().unwrap()) as usize;
    assert_eq!(length, bytes.len() - 6, "the length counts the payload");
    std::str::from_utf8(&bytes[6..]).unwrap()
}

#[test]
fn the_bytes_of_ping_and_status_are_the_reference_frames() {
    let daemon = ManagedDaemon::start("");
    let relay_dir = daemon.home.dir().join("relay");
    fs::create_dir(&relay_dir).unwrap();
    let config = daemon.home.dir().join("relay.conf");
    let text = fs::read_to_string(daemon.home.config_file()).unwrap();
    let unix_socket_dir = format!("unix_socket_dir = {}\n", daemon.home.dir().display());
    assert!(text.contains(&unix_socket_dir), "{text}");
    fs::write(
        &config,
        text.replace(
            &unix_socket_dir,
            &format!("unix_socket_dir = {}\n", relay_dir.display()),
        ),
    )
    .unwrap();
    for (command, number, response) in [
        ("ping", 5, r#"{"ServerVersion":"0.9.0"}"#),
        (
            "status",
            3,
            r#"{"NumberOfServers":1,"ServerVersion":"0.9.0","Servers":[{"Active":false,"Server":"primary"}]}"#,
        ),
    ] {
        let relay = relay_once(&relay_dir, daemon.home.socket_path());
        let output = daemon.home.cli(&["-c", path_str(&config), command], &[]);
        succeeded(&output);
        fs::remove_file(relay_dir.join(SOCKET_NAME)).unwrap();
        let (request, answer) = relay.join().unwrap();
        let request = plain_frame(&request);
        let prefix = format!(
            r#"{{"Header":{{"ClientVersion":"0.9.0","Command":{number},"Compression":0,"Encryption":0,"Output":0,"Timestamp":""#
        );
        assert!(request.starts_with(&prefix), "{request}");
        assert!(request.ends_with(r#""},"Request":{}}"#), "{request}");
        let timestamp = &request[prefix.len()..request.len() - r#""},"Request":{}}"#.len()];
        assert_eq!(timestamp.len(), 14, "{timestamp}");
        assert!(timestamp.bytes().all(|b| b.is_ascii_digit()), "{timestamp}");
        let answer = plain_frame(&answer);
        assert!(
            answer.ends_with(&format!(
                r#"}},"Outcome":{{"Status":true,"Time":"00:00:00"}},"Request":{{}},"Response":{response}}}"#
            )),
            "{answer}"
        );
    }
}

#[test]
fn the_configuration_directory_comes_from_the_environment() {
    let daemon = ManagedDaemon::start("");
    let output = daemon.home.cli(
        &["ping"],
        &[("PGEXPORTER_CONFIG_DIR", daemon.home.dir().as_os_str())],
    );
    assert!(succeeded(&output).contains("Status: true"));
}

#[test]
fn no_daemon_fails_with_one_line() {
    let home = ExporterHome::new();
    fs::write(
        home.config_file(),
        format!(
            "[pgexporter]\nhost = 127.0.0.1\nmetrics = 5002\nunix_socket_dir = {}\n\n\
             [primary]\nhost = 127.0.0.1\nport = 5432\nuser = pgexporter\n",
            home.dir().display()
        ),
    )
    .unwrap();
    let output = home.cli_local(&["ping"]);
    let (code, stderr) = failed(&output);
    assert_eq!(code, 1);
    one_line(&stderr);
    assert!(stderr.contains("cannot connect to"), "{stderr}");
    assert!(output.stdout.is_empty());
    let missing = home.cli(&["-c", "/nonexistent/pgexporter.conf", "ping"], &[]);
    let (_, stderr) = failed(&missing);
    assert!(stderr.contains("/nonexistent/pgexporter.conf"), "{stderr}");
}

#[test]
fn remote_refusals_exit_non_zero_and_the_daemon_keeps_serving() {
    let daemon = ManagedDaemon::start("");
    let port = daemon.management.to_string();
    let remote = |user: &str, password: Option<&str>, extra: &[&str]| {
        let mut args = vec!["-h", "127.0.0.1", "-p", &port, "-U", user];
        if let Some(password) = password {
            args.extend(["-P", password]);
        }
        args.extend_from_slice(extra);
        no_password(daemon.home.cli(&args, &[]))
    };
    let (code, stderr) = failed(&remote("admin", Some(WRONG_PASSWORD), &["ping"]));
    assert_eq!(code, 1);
    one_line(&stderr);
    assert!(stderr.contains("28P01"), "{stderr}");

    let (code, stderr) = failed(&remote("mallory", Some(ADMIN_PASSWORD), &["ping"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("53300"), "{stderr}");

    // No password and no terminal to ask on.
    let (_, stderr) = failed(&remote("admin", None, &["ping"]));
    one_line(&stderr);
    assert!(stderr.contains("not a terminal"), "{stderr}");

    // The password from the environment.
    let output = daemon.home.cli(
        &["-h", "127.0.0.1", "-p", &port, "-U", "admin", "ping"],
        &[("PGEXPORTER_PASSWORD", OsStr::new(ADMIN_PASSWORD))],
    );
    assert!(succeeded(&no_password(output)).contains("Status: true"));

    // -L: the trace and the errors go to the file, never a password.
    let log = daemon.home.dir().join("cli.log");
    let output = daemon.cli_remote(&["-v", "-L", path_str(&log), "ping"], &[]);
    succeeded(&no_password(output.clone()));
    assert!(output.stderr.is_empty(), "the trace goes to the log file");
    failed(&remote(
        "admin",
        Some(WRONG_PASSWORD),
        &["-L", path_str(&log), "ping"],
    ));
    let text = fs::read_to_string(&log).unwrap();
    assert!(text.contains(" DEBUG connecting to 127.0.0.1:"), "{text}");
    assert!(text.contains(" DEBUG authenticated as admin"), "{text}");
    assert!(text.contains(" ERROR "), "{text}");
    assert!(text.contains("28P01"), "{text}");
    assert!(
        !text.contains(ADMIN_PASSWORD) && !text.contains(WRONG_PASSWORD),
        "{text}"
    );

    assert!(succeeded(&daemon.cli_remote(&["ping"], &[])).contains("Status: true"));
    assert!(daemon.exporter.scrape().contains("pgexporter_state 1\n"));
}

#[test]
fn encrypt_and_decrypt_round_trip_and_never_overwrite() {
    let home = ExporterHome::new();
    let plain = home.dir().join("notes.txt");
    fs::write(&plain, "monitor-secret-1\nsecond line\n").unwrap();
    let json = json_document(&succeeded(&no_password(
        home.cli(&["-F", "json", "encrypt", path_str(&plain)], &[]),
    )));
    assert_eq!(json.header.command, 16);
    let encrypted = home.dir().join("notes.txt.aes");
    assert_eq!(
        json.response.unwrap()["DestinationFile"],
        path_str(&encrypted)
    );
    let text = fs::read_to_string(&encrypted).unwrap();
    assert!(!text.contains("monitor-secret-1"));
    let mode = fs::metadata(&encrypted).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let restored = home.dir().join("restored.txt");
    let args = ["decrypt", path_str(&encrypted), path_str(&restored)];
    let text_output = succeeded(&no_password(home.cli(&args, &[])));
    assert!(text_output.contains("Command: decrypt"), "{text_output}");
    assert_eq!(
        fs::read_to_string(&restored).unwrap(),
        "monitor-secret-1\nsecond line\n"
    );

    // Both outputs exist now: neither command overwrites.
    let before = fs::read(&encrypted).unwrap();
    let output = home.cli(&["-F", "json", "encrypt", path_str(&plain)], &[]);
    let (code, stderr) = failed(&output);
    assert_eq!(code, 1);
    one_line(&stderr);
    assert!(stderr.contains("exists"), "{stderr}");
    let document = json_document(&String::from_utf8(output.stdout).unwrap());
    assert_eq!(document.outcome.map(|o| o.is_success()), Some(false));
    assert_eq!(fs::read(&encrypted).unwrap(), before);
    let (_, stderr) = failed(&home.cli(&args, &[]));
    assert!(stderr.contains("exists"), "{stderr}");
}

#[test]
fn encrypt_needs_the_master_key() {
    let home = ExporterHome::new();
    fs::remove_file(home.dir().join(".pgexporter/master.key")).unwrap();
    let plain = home.dir().join("a.txt");
    fs::write(&plain, "x").unwrap();
    let output = home.cli(&["-F", "json", "encrypt", path_str(&plain)], &[]);
    let (code, stderr) = failed(&output);
    assert_eq!(code, 1);
    one_line(&stderr);
    assert!(stderr.contains("pgexporter-admin master-key"), "{stderr}");
    let document = json_document(&String::from_utf8(output.stdout).unwrap());
    assert_eq!(document.header.command, 16);
    assert_eq!(document.outcome, Some(Outcome::Failure { error: 1107 }));
    assert!(!home.dir().join("a.txt.aes").exists());
}

#[test]
fn command_line_errors_help_and_version() {
    let home = ExporterHome::new();
    for bad in [
        &["-c", "a.conf", "-h", "db", "-p", "1", "-U", "u", "ping"][..],
        &["-h", "db", "ping"],
        &["clear", "everything"],
        &["-F", "yaml", "ping"],
        &["-C", "rar", "ping"],
        &["-E", "des", "ping"],
    ] {
        let (code, _) = failed(&home.cli(bad, &[]));
        assert_eq!(code, 2, "{bad:?}");
    }
    let remote_file = [
        "-h", "db", "-p", "1", "-U", "u", "-P", "pw", "encrypt", "a.txt",
    ];
    let (code, stderr) = failed(&home.cli(&remote_file, &[]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("encrypt and decrypt work on local files"),
        "{stderr}"
    );
    for flag in ["-?", "--help"] {
        let help = succeeded(&home.cli(&[flag], &[]));
        assert!(help.contains("-E, --encrypt"), "{help}");
        assert!(help.contains("PGEXPORTER_CLI_CA_FILE"), "{help}");
    }
    for flag in ["-V", "--version"] {
        let version = succeeded(&home.cli(&[flag], &[]));
        assert!(version.starts_with("pgexporter-cli "), "{version}");
    }
}
