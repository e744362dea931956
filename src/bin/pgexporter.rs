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

use clap::Parser;
use std::sync::Arc;

use pgexporter::config_files::{self, ConfigFileError};
use pgexporter::daemon_args::{Args, CONFIG_DIR_ENV, FileChoice, resolve_paths};
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
use pgexporter_os::{activation, clock, limits, random};
#[cfg(feature = "runtime-tokio")]
use pgexporter_tokio as runtime;

#[cfg(feature = "runtime-smol")]
use pgexporter_smol as runtime;

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
        alerts: args.alerts.clone(),
    };
    let (config, warnings) = DaemonHost::read_config_and_warnings(&files)?;
    check_daemon_mode(&args, &config)?;
    check_given_paths(&args).map_err(|err| err.to_string())?;
    let logging = logging::init(&config.main).map_err(|err| err.to_string())?;
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    let fatal = |message: String| {
        logging.fatal(&message);
        Failure::Logged
    };
    match limits::raise_open_files() {
        Ok(open_files) => tracing::debug!(
            "open files limit {} (was {})",
            open_files.now,
            open_files.before
        ),
        Err(error) => tracing::warn!("cannot raise the open files limit: {error}"),
    }
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
    let args = Args::parse();
    // Before any thread exists: taking the sockets a service manager passed edits the
    // environment.
    if let Err(error) = activation::take_from_env() {
        eprintln!("pgexporter: {error}");
        return ExitCode::FAILURE;
    }
    match run(args) {
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
    use pgexporter_core::config::MainConfig;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("pgexporter").chain(args.iter().copied()))
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
