//! The pgexporter daemon.
#[cfg(not(any(
    all(
        feature = "runtime-tokio",
        not(feature = "runtime-smol"),
        not(feature = "runtime-fork")
    ),
    all(
        feature = "runtime-smol",
        not(feature = "runtime-tokio"),
        not(feature = "runtime-fork")
    ),
    all(
        feature = "runtime-fork",
        not(feature = "runtime-tokio"),
        not(feature = "runtime-smol")
    ),
)))]
compile_error!("enable exactly one of the features runtime-tokio, runtime-smol, runtime-fork");

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgAction, Parser};
use std::sync::Arc;

use pgexporter::config_files::{self, ConfigFileError};
use pgexporter::daemon_host::{DaemonHost, StartFiles};
use pgexporter::metric_files::Replacement;
use pgexporter::process::{self, Pidfile};
use pgexporter::{logging, plan_inputs};
use pgexporter_core::config::{Config, LogType};
use pgexporter_core::daemon::DaemonSetup;
use pgexporter_core::metrics::SourceFormat;
use pgexporter_core::plan::{Listeners, SHUTDOWN_GRACE};
#[cfg(feature = "runtime-fork")]
use pgexporter_fork as runtime;
use pgexporter_os::{clock, random};
#[cfg(feature = "runtime-tokio")]
use pgexporter_tokio as runtime;

#[cfg(feature = "runtime-smol")]
use pgexporter_smol as runtime;

/// Where the configuration files live when no directory is given.
const DEFAULT_DIRECTORY: &str = "/etc/pgexporter";
/// The main configuration file name inside a configuration directory.
const CONFIG_FILE: &str = "pgexporter.conf";
/// The users file name inside a configuration directory.
const USERS_FILE: &str = "pgexporter_users.conf";
/// The admins file name inside a configuration directory.
const ADMINS_FILE: &str = "pgexporter_admins.conf";
/// The environment variable that names the configuration directory when `-D` is absent.
const CONFIG_DIR_ENV: &str = "PGEXPORTER_CONFIG_DIR";

/// Prometheus exporter for PostgreSQL.
#[derive(Debug, Parser)]
#[command(
    name = "pgexporter",
    version,
    disable_help_flag = true,
    disable_version_flag = true
)]
struct Args {
    /// Main configuration file (TOML when it ends in .toml)
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Users file (PostgreSQL passwords)
    #[arg(short = 'u', long = "users", value_name = "FILE")]
    users: Option<PathBuf>,
    /// Admins file (remote management passwords)
    #[arg(short = 'A', long = "admins", value_name = "FILE")]
    admins: Option<PathBuf>,
    /// Configuration directory (default: $PGEXPORTER_CONFIG_DIR, else /etc/pgexporter)
    #[arg(short = 'D', long = "directory", value_name = "DIR")]
    directory: Option<PathBuf>,
    /// Custom metrics YAML file or directory
    #[arg(
        short = 'Y',
        long = "yaml",
        value_name = "PATH",
        conflicts_with = "json"
    )]
    yaml: Option<PathBuf>,
    /// Custom metrics JSON file or directory
    #[arg(short = 'J', long = "json", value_name = "PATH")]
    json: Option<PathBuf>,
    /// Alert definitions file
    #[arg(short = 'a', long = "alerts", value_name = "FILE")]
    alerts: Option<PathBuf>,
    /// Run in the background
    #[arg(short = 'd', long = "daemon")]
    daemon: bool,
    /// Collectors to run (comma list), replacing `collectors` of the configuration
    #[arg(
        short = 'C',
        long = "collectors",
        value_name = "LIST",
        value_delimiter = ','
    )]
    collectors: Option<Vec<String>>,
    /// Collectors to skip (comma list), replacing `exclude_collectors` of the configuration
    #[arg(
        short = 'X',
        long = "exclude-collectors",
        value_name = "LIST",
        value_delimiter = ','
    )]
    exclude_collectors: Option<Vec<String>>,
    /// Print the version and exit
    #[arg(short = 'V', long = "version", action = ArgAction::Version)]
    version: Option<bool>,
    /// Print this help and exit
    #[arg(short = '?', long = "help", action = ArgAction::Help)]
    help: Option<bool>,
}

/// A file path and whether the user named it (then it must exist).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileChoice {
    path: PathBuf,
    explicit: bool,
}

/// The three configuration files the daemon reads.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FilePaths {
    config: FileChoice,
    users: FileChoice,
    admins: FileChoice,
}

/// Picks the files: explicit `-c/-u/-A` win; otherwise the directory of `-D`, else
/// `env_directory` (from `PGEXPORTER_CONFIG_DIR`), else `/etc/pgexporter`, supplies them.
fn resolve_paths(args: &Args, env_directory: Option<PathBuf>) -> FilePaths {
    let directory = args
        .directory
        .clone()
        .or(env_directory)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIRECTORY));
    let choose = |explicit: &Option<PathBuf>, name: &str| match explicit {
        Some(path) => FileChoice {
            path: path.clone(),
            explicit: true,
        },
        None => FileChoice {
            path: directory.join(name),
            explicit: false,
        },
    };
    FilePaths {
        config: choose(&args.config, CONFIG_FILE),
        users: choose(&args.users, USERS_FILE),
        admins: choose(&args.admins, ADMINS_FILE),
    }
}

/// `-d` needs a log destination other than the terminal it leaves.
fn check_daemon_mode(args: &Args, config: &Config) -> Result<(), String> {
    if args.daemon && config.main.log_type == LogType::Console {
        return Err("-d/--daemon cannot be used with log_type = console".to_owned());
    }
    Ok(())
}

/// Checks that each path given on the command line for custom metrics or alerts exists.
fn check_given_paths(args: &Args) -> Result<(), ConfigFileError> {
    for path in [&args.yaml, &args.json, &args.alerts].into_iter().flatten() {
        config_files::optional_file(path, true)?;
    }
    Ok(())
}

/// Why the daemon stopped.
enum Failure {
    /// Before logging was up: the message still has to be shown.
    Unlogged(String),
    /// Already written as a FATAL log line.
    Logged,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Unlogged(message)
    }
}

fn run(args: Args) -> Result<(), Failure> {
    let env_directory = std::env::var_os(CONFIG_DIR_ENV).map(PathBuf::from);
    let paths = resolve_paths(&args, env_directory);
    let optional = |choice: &FileChoice| {
        config_files::optional_file(&choice.path, choice.explicit).map_err(|err| err.to_string())
    };
    let files = StartFiles {
        config: paths.config.path.clone(),
        users: optional(&paths.users)?,
        admins: optional(&paths.admins)?,
        replacement: custom_metrics(&args),
        collectors: args.collectors.clone(),
        exclude_collectors: args.exclude_collectors.clone(),
    };
    let config = DaemonHost::read_config(&files)?;
    check_daemon_mode(&args, &config)?;
    check_given_paths(&args).map_err(|err| err.to_string())?;
    let logging = logging::init(&config.main).map_err(|err| err.to_string())?;
    let fatal = |message: String| {
        logging.fatal(&message);
        Failure::Logged
    };
    if nix::unistd::geteuid().is_root() {
        tracing::warn!("running as root is not recommended");
    }
    let master_key = plan_inputs::master_key().map_err(fatal)?;
    let admins = plan_inputs::admin_verifiers(files.admins.as_deref(), master_key.as_deref())
        .map_err(fatal)?;
    let listeners = Listeners::new(&config).map_err(|error| fatal(error.to_string()))?;
    let host = DaemonHost::new(files, &config, master_key, admins, logging.clone());
    let plan = host.plan(&config).map_err(fatal)?;
    let setup = DaemonSetup {
        paths: host.paths(),
        config: config.clone(),
        plan,
        shutdown_grace: SHUTDOWN_GRACE,
        env: Box::new(|name| std::env::var(name).ok()),
        logs: Arc::new(logging.source()),
        random_nonce: Box::new(random::bytes),
        wall_clock: Arc::new(clock::epoch_seconds),
        started: clock::now(),
    };
    if args.daemon {
        process::daemonize()
            .map_err(|err| fatal(format!("cannot run in the background: {err}")))?;
    }
    let _pidfile = match &config.main.pidfile {
        Some(path) => Some(Pidfile::create(Path::new(path)).map_err(fatal)?),
        None => None,
    };
    runtime::run(listeners, setup, Arc::new(host)).map_err(|err| fatal(err.to_string()))
}

/// The metric files of `-Y`/`-J`, which replace the built-in set.
fn custom_metrics(args: &Args) -> Option<Replacement> {
    let yaml = args.yaml.clone().map(|path| Replacement {
        path,
        format: SourceFormat::Yaml,
    });
    let json = args.json.clone().map(|path| Replacement {
        path,
        format: SourceFormat::Json,
    });
    yaml.or(json)
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Unlogged(message)) => {
            eprintln!("pgexporter: {message}");
            ExitCode::FAILURE
        }
        Err(Failure::Logged) => ExitCode::FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use pgexporter_core::config::MainConfig;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("pgexporter").chain(args.iter().copied()))
    }

    #[test]
    fn every_flag_long_and_short() {
        let short = parse(&[
            "-c",
            "c.conf",
            "-u",
            "u.conf",
            "-A",
            "a.conf",
            "-D",
            "/d",
            "-Y",
            "m.yaml",
            "-a",
            "al.yaml",
            "-d",
            "-C",
            "db,locks",
            "-X",
            "idle_procs",
        ])
        .unwrap();
        let long = parse(&[
            "--config",
            "c.conf",
            "--users",
            "u.conf",
            "--admins",
            "a.conf",
            "--directory",
            "/d",
            "--yaml",
            "m.yaml",
            "--alerts",
            "al.yaml",
            "--daemon",
            "--collectors",
            "db,locks",
            "--exclude-collectors",
            "idle_procs",
        ])
        .unwrap();
        for args in [short, long] {
            assert_eq!(args.config, Some(PathBuf::from("c.conf")));
            assert_eq!(args.users, Some(PathBuf::from("u.conf")));
            assert_eq!(args.admins, Some(PathBuf::from("a.conf")));
            assert_eq!(args.directory, Some(PathBuf::from("/d")));
            assert_eq!(args.yaml, Some(PathBuf::from("m.yaml")));
            assert_eq!(args.alerts, Some(PathBuf::from("al.yaml")));
            assert!(args.daemon);
            assert_eq!(
                args.collectors,
                Some(vec!["db".to_owned(), "locks".to_owned()])
            );
            assert_eq!(args.exclude_collectors, Some(vec!["idle_procs".to_owned()]));
        }
        let json = parse(&["-J", "m.json"]).unwrap();
        assert_eq!(json.json, Some(PathBuf::from("m.json")));
        let json = parse(&["--json", "m.json"]).unwrap();
        assert_eq!(json.json, Some(PathBuf::from("m.json")));
    }

    #[test]
    fn help_and_version() {
        for flag in ["-?", "--help"] {
            assert_eq!(parse(&[flag]).unwrap_err().kind(), ErrorKind::DisplayHelp);
        }
        for flag in ["-V", "--version"] {
            assert_eq!(
                parse(&[flag]).unwrap_err().kind(),
                ErrorKind::DisplayVersion
            );
        }
        assert_eq!(
            parse(&["-h"]).unwrap_err().kind(),
            ErrorKind::UnknownArgument
        );
        assert_eq!(parse(&["-?"]).unwrap_err().exit_code(), 0);
        assert_eq!(parse(&["-V"]).unwrap_err().exit_code(), 0);
    }

    #[test]
    fn yaml_and_json_exclude_each_other() {
        assert_eq!(
            parse(&["-Y", "a", "-J", "b"]).unwrap_err().kind(),
            ErrorKind::ArgumentConflict
        );
    }

    #[test]
    fn paths_default_to_etc() {
        let paths = resolve_paths(&parse(&[]).unwrap(), None);
        assert_eq!(
            paths.config,
            FileChoice {
                path: PathBuf::from("/etc/pgexporter/pgexporter.conf"),
                explicit: false
            }
        );
        assert_eq!(
            paths.users.path,
            PathBuf::from("/etc/pgexporter/pgexporter_users.conf")
        );
        assert_eq!(
            paths.admins.path,
            PathBuf::from("/etc/pgexporter/pgexporter_admins.conf")
        );
    }

    #[test]
    fn directory_from_flag_or_environment_and_explicit_files_win() {
        let env_dir = Some(PathBuf::from("/env"));
        let paths = resolve_paths(&parse(&[]).unwrap(), env_dir.clone());
        assert_eq!(paths.config.path, PathBuf::from("/env/pgexporter.conf"));
        let paths = resolve_paths(&parse(&["-D", "/flag"]).unwrap(), env_dir.clone());
        assert_eq!(
            paths.users.path,
            PathBuf::from("/flag/pgexporter_users.conf")
        );
        assert!(!paths.users.explicit);
        let paths = resolve_paths(&parse(&["-D", "/flag", "-u", "/u"]).unwrap(), env_dir);
        assert_eq!(
            paths.users,
            FileChoice {
                path: PathBuf::from("/u"),
                explicit: true
            }
        );
        assert_eq!(
            paths.admins.path,
            PathBuf::from("/flag/pgexporter_admins.conf")
        );
    }

    #[test]
    fn daemon_mode_needs_a_log_file() {
        let mut config = Config {
            main: MainConfig::default(),
            servers: Vec::new(),
        };
        let daemon = parse(&["-d"]).unwrap();
        assert_eq!(
            check_daemon_mode(&daemon, &config),
            Err("-d/--daemon cannot be used with log_type = console".to_owned())
        );
        assert_eq!(check_daemon_mode(&parse(&[]).unwrap(), &config), Ok(()));
        config.main.log_type = LogType::File;
        assert_eq!(check_daemon_mode(&daemon, &config), Ok(()));
    }

    #[test]
    fn given_paths_must_exist() {
        let missing = std::env::temp_dir().join("pgexporter-bin-missing-metrics.yaml");
        let args = parse(&["-Y", missing.to_str().unwrap()]).unwrap();
        assert!(matches!(
            check_given_paths(&args),
            Err(ConfigFileError::NotFound(path)) if path == missing
        ));
        assert!(check_given_paths(&parse(&[]).unwrap()).is_ok());
    }
}
