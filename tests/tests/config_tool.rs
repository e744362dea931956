//! End-to-end tests of `pgexporter-config`: the built binary on files in a temporary directory,
//! and a starter configuration it wrote run by the real daemon against a real cluster.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use pgexporter_tests::binaries::binary;
use pgexporter_tests::cluster::MONITOR_USER;
use pgexporter_tests::exporter::{Exporter, ExporterHome, free_port};
use pgexporter_tests::{ClusterOptions, PgCluster};

/// A file with comments, odd spacing and an inline comment, which edits must keep.
const COMMENTED: &str = "# the exporter\n\
                         [pgexporter]\n\
                         host   =  localhost   # loopback only\n\
                         metrics = 5002\n\
                         unix_socket_dir = /tmp\n\
                         \n\
                         ; the primary\n\
                         [primary]\n\
                         host = localhost\n\
                         port=5432\n\
                         user = pgexporter\n\
                         \n\
                         # standby\n\
                         [replica]\n\
                         host = replica.example\n\
                         port = 5432\n\
                         user = pgexporter\n";

fn config_tool(config: &Path, args: &[&str]) -> Output {
    Command::new(binary("pgexporter-config"))
        .arg("-c")
        .arg(config)
        .args(args)
        .env_remove("PGEXPORTER_CONFIG_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("pgexporter-config runs")
}

fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "pgexporter-config failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn failed(output: &Output) -> String {
    assert!(!output.status.success(), "pgexporter-config succeeded");
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// A home with `COMMENTED` as its configuration file (mode 0640).
fn commented_file() -> (ExporterHome, std::path::PathBuf) {
    let home = ExporterHome::new();
    let path = home.config_file();
    fs::write(&path, COMMENTED).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    (home, path)
}

#[test]
fn a_quiet_init_writes_a_configuration_the_daemon_runs_and_never_overwrites() {
    let cluster = PgCluster::start(ClusterOptions::default());
    let home = ExporterHome::new();
    let config = home.config_file();
    assert_eq!(succeeded(&config_tool(&config, &["-q", "init"])), "");
    let starter = fs::read_to_string(&config).unwrap();
    assert!(starter.contains("[primary]\n"), "{starter}");
    assert_eq!(
        fs::metadata(&config).unwrap().permissions().mode() & 0o777,
        0o644
    );

    let again = failed(&config_tool(&config, &["-q", "init"]));
    assert!(again.contains("already exists"), "{again}");
    assert_eq!(fs::read_to_string(&config).unwrap(), starter);

    let port = free_port();
    let dir = home.dir().to_str().unwrap();
    let cluster_port = cluster.port().to_string();
    let metrics_port = port.to_string();
    for (section, key, value) in [
        ("pgexporter", "host", "127.0.0.1"),
        ("pgexporter", "metrics", metrics_port.as_str()),
        ("pgexporter", "unix_socket_dir", dir),
        ("primary", "host", cluster.host()),
        ("primary", "port", cluster_port.as_str()),
        ("primary", "user", MONITOR_USER.name),
    ] {
        succeeded(&config_tool(&config, &["-q", "set", section, key, value]));
    }
    let exporter = Exporter::start(&home, port, &[]);
    let body = exporter.scrape();
    assert!(
        body.contains("pgexporter_postgresql_active{server=\"primary\"} 1\n"),
        "{body}"
    );
}

#[test]
fn init_without_a_terminal_asks_for_quiet_and_writes_nothing() {
    let home = ExporterHome::new();
    let config = home.config_file();
    let error = failed(&config_tool(&config, &["init"]));
    assert!(error.contains("-q"), "{error}");
    assert!(!config.exists());
}

#[test]
fn set_changes_only_the_value_and_keeps_mode_and_comments() {
    let (_home, config) = commented_file();
    let out = succeeded(&config_tool(
        &config,
        &["set", "pgexporter", "host", "127.0.0.1"],
    ));
    assert_eq!(out, "[pgexporter] host = 127.0.0.1\n");
    succeeded(&config_tool(&config, &["set", "primary", "port", "5433"]));
    succeeded(&config_tool(&config, &["set", "primary", "tls", "on"]));
    let expected = COMMENTED
        .replace("host   =  localhost   #", "host   =  127.0.0.1   #")
        .replace(
            "port=5432\nuser = pgexporter\n",
            "port=5433\nuser = pgexporter\ntls = on\n",
        );
    assert_eq!(fs::read_to_string(&config).unwrap(), expected);
    assert_eq!(
        fs::metadata(&config).unwrap().permissions().mode() & 0o777,
        0o640
    );
}

#[test]
fn what_the_daemon_would_refuse_is_not_written() {
    let (_home, config) = commented_file();
    for (args, says) in [
        (
            ["set", "pgexporter", "metrics", "not-a-port"],
            "would not load",
        ),
        (["set", "primary", "colour", "blue"], "no pgexporter key"),
        (
            ["set", "primary", "host", "two\nlines"],
            "cannot be written",
        ),
    ] {
        let error = failed(&config_tool(&config, &args));
        assert!(error.contains(says), "{args:?}: {error}");
    }
    let error = failed(&config_tool(&config, &["del", "pgexporter", "host"]));
    assert!(error.contains("would not load"), "{error}");
    let error = failed(&config_tool(&config, &["del", "primary", "nope"]));
    assert!(error.contains("no key 'nope' in [primary]"), "{error}");
    assert_eq!(fs::read_to_string(&config).unwrap(), COMMENTED);

    let broken = config.with_file_name("broken.conf");
    fs::write(&broken, "[pgexporter]\nthis is no line\n").unwrap();
    let error = failed(&config_tool(&broken, &["ls"]));
    assert!(error.contains("broken.conf:2:"), "{error}");
    let toml = config.with_file_name("pgexporter.toml");
    fs::write(&toml, "").unwrap();
    let error = failed(&config_tool(&toml, &["ls"]));
    assert!(error.contains("TOML"), "{error}");
}

#[test]
fn get_and_ls_read_in_text_and_json() {
    let (_home, config) = commented_file();
    assert_eq!(
        succeeded(&config_tool(&config, &["get", "pgexporter", "host"])),
        "localhost\n"
    );
    assert_eq!(
        succeeded(&config_tool(&config, &["ls"])),
        "[pgexporter]\n[primary]\n[replica]\n"
    );
    assert_eq!(
        succeeded(&config_tool(&config, &["ls", "primary"])),
        "host = localhost\nport = 5432\nuser = pgexporter\n"
    );
    let json: serde_json::Value = serde_json::from_str(&succeeded(&config_tool(
        &config,
        &["-F", "json", "get", "primary", "port"],
    )))
    .unwrap();
    assert_eq!(
        json,
        serde_json::json!({"section": "primary", "key": "port", "value": "5432"})
    );
    let json: serde_json::Value =
        serde_json::from_str(&succeeded(&config_tool(&config, &["-F", "json", "ls"]))).unwrap();
    assert_eq!(
        json["sections"],
        serde_json::json!(["pgexporter", "primary", "replica"])
    );
    let error = failed(&config_tool(&config, &["get", "standby", "host"]));
    assert!(error.contains("no section [standby]"), "{error}");
}

#[test]
fn del_removes_a_key_or_a_section_and_output_leaves_the_file() {
    let (_home, config) = commented_file();
    let copy = config.with_file_name("copy.conf");
    let copy_arg = copy.to_str().unwrap();
    succeeded(&config_tool(&config, &["-o", copy_arg, "del", "replica"]));
    assert_eq!(fs::read_to_string(&config).unwrap(), COMMENTED);
    assert_eq!(
        fs::read_to_string(&copy).unwrap(),
        COMMENTED.replace(
            "# standby\n[replica]\nhost = replica.example\nport = 5432\nuser = pgexporter\n",
            ""
        )
    );
    succeeded(&config_tool(
        &config,
        &["-q", "set", "primary", "tls", "on"],
    ));
    assert_ne!(fs::read_to_string(&config).unwrap(), COMMENTED);
    let out = succeeded(&config_tool(&config, &["del", "primary", "tls"]));
    assert_eq!(out, "[primary] tls removed (was on)\n");
    assert_eq!(fs::read_to_string(&config).unwrap(), COMMENTED);
}
