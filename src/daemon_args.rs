//! The command line of the `pgexporter` daemon, shared by the program and its manual page, and
//! where it finds its configuration files.

use std::path::PathBuf;

use clap::{ArgAction, Parser};

/// Where the configuration files live when no directory is given.
pub const DEFAULT_DIRECTORY: &str = "/etc/pgexporter";
/// The main configuration file name inside a configuration directory.
pub const CONFIG_FILE: &str = "pgexporter.conf";
/// The users file name inside a configuration directory.
pub const USERS_FILE: &str = "pgexporter_users.conf";
/// The admins file name inside a configuration directory.
pub const ADMINS_FILE: &str = "pgexporter_admins.conf";
/// The environment variable that names the configuration directory when `-D` is absent.
pub const CONFIG_DIR_ENV: &str = "PGEXPORTER_CONFIG_DIR";

/// The command line of `pgexporter`: Prometheus exporter for PostgreSQL.
#[derive(Debug, Parser)]
#[command(
    name = "pgexporter",
    version,
    about = "Prometheus exporter for PostgreSQL",
    disable_help_flag = true,
    disable_version_flag = true
)]
pub struct Args {
    /// Main configuration file (TOML when it ends in .toml)
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Users file (PostgreSQL passwords)
    #[arg(short = 'u', long = "users", value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// Admins file (remote management passwords)
    #[arg(short = 'A', long = "admins", value_name = "FILE")]
    pub admins: Option<PathBuf>,
    /// Configuration directory (default: $PGEXPORTER_CONFIG_DIR, else /etc/pgexporter)
    #[arg(short = 'D', long = "directory", value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// Custom metrics YAML file or directory
    #[arg(
        short = 'Y',
        long = "yaml",
        value_name = "PATH",
        conflicts_with = "json"
    )]
    pub yaml: Option<PathBuf>,
    /// Custom metrics JSON file or directory
    #[arg(short = 'J', long = "json", value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Alert definitions file
    #[arg(short = 'a', long = "alerts", value_name = "FILE")]
    pub alerts: Option<PathBuf>,
    /// Run in the background
    #[arg(short = 'd', long = "daemon")]
    pub daemon: bool,
    /// Collectors to run (comma list), replacing `collectors` of the configuration
    #[arg(
        short = 'C',
        long = "collectors",
        value_name = "LIST",
        value_delimiter = ','
    )]
    pub collectors: Option<Vec<String>>,
    /// Collectors to skip (comma list), replacing `exclude_collectors` of the configuration
    #[arg(
        short = 'X',
        long = "exclude-collectors",
        value_name = "LIST",
        value_delimiter = ','
    )]
    pub exclude_collectors: Option<Vec<String>>,
    /// Print the version and exit
    #[arg(short = 'V', long = "version", action = ArgAction::Version)]
    pub version: Option<bool>,
    /// Print this help and exit
    #[arg(short = '?', long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
}

/// A file path and whether the user named it (then it must exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChoice {
    /// The file.
    pub path: PathBuf,
    /// Named on the command line: then it must exist.
    pub explicit: bool,
}

/// The three configuration files the daemon reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePaths {
    /// The main configuration file.
    pub config: FileChoice,
    /// The users file.
    pub users: FileChoice,
    /// The admins file.
    pub admins: FileChoice,
}

/// Picks the files: explicit `-c/-u/-A` win; otherwise the directory of `-D`, else
/// `env_directory` (from `PGEXPORTER_CONFIG_DIR`), else `/etc/pgexporter`, supplies them.
pub fn resolve_paths(args: &Args, env_directory: Option<PathBuf>) -> FilePaths {
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

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
}
