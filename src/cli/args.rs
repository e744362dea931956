//! The command line of `pgexporter-cli` (SPEC §4.3), parsed with clap.
//!
//! `-h` is the host, as in the reference, so clap's own help flag is off and `-?` prints help.
//! Option rules clap enforces: `-c` excludes `-h` and `-p`; `-h` needs `-p` and `-U`; `-p`,
//! `-U` and `-P` need `-h`.

use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};
use pgexporter_core::management::{Compression, Encryption, Output};

/// What `-?` prints after the options.
const NOTES: &str = "\
Commands:
  ping                 Check that the daemon answers
  shutdown             Stop the daemon
  status [details]     The servers and whether they answer; details adds FIPS state
  conf reload          Reload the configuration file (local socket only)
  conf ls              The configuration files in use
  conf get [KEY]       The running configuration; with KEY (KEY, pgexporter.KEY or
                       server.NAME.KEY) text output prints the bare value
  conf set KEY VALUE   Change one key of the running configuration
  clear prometheus     Reset the Prometheus counters and the cached metrics
                       (prometheus is the only thing clear accepts)
  encrypt FILE [OUT]   Encrypt FILE with the master key into OUT (default FILE.aes)
  decrypt FILE [OUT]   Decrypt FILE into OUT (default FILE without .aes)

Without -h the command goes to the local socket <unix_socket_dir>/.s.pgexporter of the
configuration (-c, else $PGEXPORTER_CONFIG_DIR/pgexporter.conf, else
/etc/pgexporter/pgexporter.conf). With -h, -p and -U it goes to the remote management port;
the password comes from -P, else PGEXPORTER_PASSWORD, else a prompt without echo.
Remote TLS: when PGEXPORTER_CLI_CA_FILE names a PEM file, TLS is required and the server's
certificate must chain to a CA in it (the host name is not checked); otherwise TLS is used
when the server offers it, without verifying the server (like sslmode=require).
-E and encrypt/decrypt use the master key ~/.pgexporter/master.key.
Exit status: 0 when the command succeeded, 1 when it failed, 2 for a bad command line.";

/// The parsed command line.
#[derive(Debug, Parser)]
#[command(
    name = "pgexporter-cli",
    version,
    about = "Manage a running pgexporter over its local socket or remote management port",
    disable_help_flag = true,
    disable_version_flag = true,
    disable_help_subcommand = true,
    help_template = "{about-with-newline}\n{usage-heading} {usage}\n\nOptions:\n{options}\n\n{after-help}",
    after_help = NOTES
)]
pub struct Args {
    /// Configuration file whose unix_socket_dir holds the local socket
    #[arg(
        short = 'c',
        long = "config",
        value_name = "FILE",
        global = true,
        conflicts_with_all = ["host", "port"]
    )]
    pub config: Option<PathBuf>,
    /// Host of the remote management port
    #[arg(
        short = 'h',
        long = "host",
        value_name = "HOST",
        global = true,
        requires_all = ["port", "user"]
    )]
    pub host: Option<String>,
    /// Remote management port
    #[arg(
        short = 'p',
        long = "port",
        value_name = "PORT",
        global = true,
        requires = "host"
    )]
    pub port: Option<u16>,
    /// Admin user for remote management
    #[arg(
        short = 'U',
        long = "user",
        value_name = "USER",
        global = true,
        requires = "host"
    )]
    pub user: Option<String>,
    /// Admin password for remote management
    #[arg(
        short = 'P',
        long = "password",
        value_name = "PASSWORD",
        global = true,
        requires = "host"
    )]
    pub password: Option<String>,
    /// Append errors (and with -v the trace) to FILE
    #[arg(short = 'L', long = "logfile", value_name = "FILE", global = true)]
    pub logfile: Option<PathBuf>,
    /// Trace each step
    #[arg(short = 'v', long = "verbose", global = true)]
    pub verbose: bool,
    /// Output format: text, json or raw
    #[arg(
        short = 'F',
        long = "format",
        value_name = "FORMAT",
        default_value = "text",
        value_parser = parse_output,
        global = true
    )]
    pub format: Output,
    /// Compression: none, gz, zstd, lz4 or bz2
    #[arg(
        short = 'C',
        long = "compress",
        value_name = "METHOD",
        default_value = "none",
        value_parser = parse_compression,
        global = true
    )]
    pub compress: Compression,
    /// Encryption: none, aes (= aes256), aes256, aes192 or aes128
    #[arg(
        short = 'E',
        long = "encrypt",
        value_name = "METHOD",
        default_value = "none",
        value_parser = parse_encryption,
        global = true
    )]
    pub encrypt: Encryption,
    /// Print the version
    #[arg(short = 'V', long = "version", action = ArgAction::Version)]
    pub version: Option<bool>,
    /// Print this help
    #[arg(short = '?', long = "help", action = ArgAction::Help, global = true)]
    pub help: Option<bool>,
    /// The command
    #[command(subcommand)]
    pub command: CliCommand,
}

/// A command as typed.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum CliCommand {
    /// Check that the daemon answers
    #[command(disable_help_flag = true)]
    Ping,
    /// Stop the daemon
    #[command(disable_help_flag = true)]
    Shutdown,
    /// The servers and whether they answer
    #[command(disable_help_flag = true)]
    Status {
        /// `details`: also the FIPS state
        #[command(subcommand)]
        details: Option<StatusDetails>,
    },
    /// Configuration: reload, ls, get, set
    #[command(subcommand, disable_help_flag = true)]
    Conf(ConfCommand),
    /// Reset the Prometheus counters and cached metrics: `clear prometheus`
    #[command(subcommand, disable_help_flag = true)]
    Clear(ClearTarget),
    /// Encrypt FILE into OUT (default FILE.aes) with the master key
    #[command(disable_help_flag = true)]
    Encrypt {
        /// The file to encrypt
        file: PathBuf,
        /// Where to write the encrypted text; never overwritten
        out: Option<PathBuf>,
    },
    /// Decrypt FILE into OUT (default FILE without .aes) with the master key
    #[command(disable_help_flag = true)]
    Decrypt {
        /// The file to decrypt
        file: PathBuf,
        /// Where to write the plaintext; never overwritten
        out: Option<PathBuf>,
    },
}

/// The word after `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum StatusDetails {
    /// Also the FIPS state of the daemon and of each server
    #[command(disable_help_flag = true)]
    Details,
}

/// The word after `conf`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ConfCommand {
    /// Reload the configuration file (local socket only)
    #[command(disable_help_flag = true)]
    Reload,
    /// The configuration files in use
    #[command(disable_help_flag = true)]
    Ls,
    /// The running configuration, or the value of KEY
    #[command(disable_help_flag = true)]
    Get {
        /// KEY, pgexporter.KEY or server.NAME.KEY
        key: Option<String>,
    },
    /// Change KEY (or SERVER.KEY) to VALUE
    #[command(disable_help_flag = true)]
    Set {
        /// KEY or SERVER.KEY
        key: String,
        /// The new value
        value: String,
    },
}

/// The word after `clear`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum ClearTarget {
    /// The Prometheus counters and the cached metrics
    #[command(disable_help_flag = true)]
    Prometheus,
}

fn parse_output(value: &str) -> Result<Output, String> {
    Output::from_name(value).ok_or_else(|| format!("'{value}' is not text, json or raw"))
}

fn parse_compression(value: &str) -> Result<Compression, String> {
    Compression::from_name(value)
        .ok_or_else(|| format!("'{value}' is not none, gz, zstd, lz4 or bz2"))
}

fn parse_encryption(value: &str) -> Result<Encryption, String> {
    Encryption::from_name(value)
        .ok_or_else(|| format!("'{value}' is not none, aes, aes256, aes192 or aes128"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("pgexporter-cli").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let args = parse(&["ping"]).unwrap();
        assert_eq!(args.command, CliCommand::Ping);
        assert_eq!(args.config, None);
        assert_eq!(args.host, None);
        assert_eq!(args.format, Output::Text);
        assert_eq!(args.compress, Compression::None);
        assert_eq!(args.encrypt, Encryption::None);
        assert!(!args.verbose);
        assert_eq!(args.logfile, None);
    }

    #[test]
    fn every_short_option() {
        let args = parse(&[
            "-h", "db1", "-p", "5003", "-U", "admin", "-P", "secret", "-L", "cli.log", "-v", "-F",
            "json", "-C", "zstd", "-E", "aes192", "status",
        ])
        .unwrap();
        assert_eq!(args.host.as_deref(), Some("db1"));
        assert_eq!(args.port, Some(5003));
        assert_eq!(args.user.as_deref(), Some("admin"));
        assert_eq!(args.password.as_deref(), Some("secret"));
        assert_eq!(args.logfile, Some(PathBuf::from("cli.log")));
        assert!(args.verbose);
        assert_eq!(args.format, Output::Json);
        assert_eq!(args.compress, Compression::Zstd);
        assert_eq!(args.encrypt, Encryption::Aes192);
        assert_eq!(args.command, CliCommand::Status { details: None });
        let local = parse(&["-c", "/etc/x.conf", "ping"]).unwrap();
        assert_eq!(local.config, Some(PathBuf::from("/etc/x.conf")));
    }

    #[test]
    fn every_long_option_also_after_the_command() {
        let args = parse(&[
            "conf",
            "get",
            "--host",
            "db1",
            "--port",
            "5003",
            "--user",
            "admin",
            "--password",
            "secret",
            "--logfile",
            "cli.log",
            "--verbose",
            "--format",
            "raw",
            "--compress",
            "bz2",
            "--encrypt",
            "aes",
        ])
        .unwrap();
        assert_eq!(args.host.as_deref(), Some("db1"));
        assert_eq!(args.port, Some(5003));
        assert_eq!(args.user.as_deref(), Some("admin"));
        assert_eq!(args.password.as_deref(), Some("secret"));
        assert_eq!(args.logfile, Some(PathBuf::from("cli.log")));
        assert!(args.verbose);
        assert_eq!(args.format, Output::Raw);
        assert_eq!(args.compress, Compression::Bzip2);
        assert_eq!(args.encrypt, Encryption::Aes256);
        assert_eq!(
            args.command,
            CliCommand::Conf(ConfCommand::Get { key: None })
        );
        let local = parse(&["--config", "a.conf", "ping"]).unwrap();
        assert_eq!(local.config, Some(PathBuf::from("a.conf")));
    }

    #[test]
    fn every_value_of_the_format_compression_and_encryption() {
        for (word, output) in [
            ("text", Output::Text),
            ("json", Output::Json),
            ("raw", Output::Raw),
        ] {
            assert_eq!(parse(&["-F", word, "ping"]).unwrap().format, output);
        }
        for (word, compression) in [
            ("none", Compression::None),
            ("gz", Compression::Gzip),
            ("zstd", Compression::Zstd),
            ("lz4", Compression::Lz4),
            ("bz2", Compression::Bzip2),
        ] {
            assert_eq!(parse(&["-C", word, "ping"]).unwrap().compress, compression);
        }
        for (word, encryption) in [
            ("none", Encryption::None),
            ("aes", Encryption::Aes256),
            ("aes256", Encryption::Aes256),
            ("aes192", Encryption::Aes192),
            ("aes128", Encryption::Aes128),
        ] {
            assert_eq!(parse(&["-E", word, "ping"]).unwrap().encrypt, encryption);
        }
        for bad in [["-F", "yaml"], ["-C", "gzip"], ["-E", "des"]] {
            let error = parse(&[bad[0], bad[1], "ping"]).expect_err("unknown value");
            assert_eq!(error.kind(), ErrorKind::ValueValidation, "{bad:?}");
        }
    }

    #[test]
    fn every_command() {
        let cases: [(&[&str], CliCommand); 12] = [
            (&["ping"], CliCommand::Ping),
            (&["shutdown"], CliCommand::Shutdown),
            (&["status"], CliCommand::Status { details: None }),
            (
                &["status", "details"],
                CliCommand::Status {
                    details: Some(StatusDetails::Details),
                },
            ),
            (&["conf", "reload"], CliCommand::Conf(ConfCommand::Reload)),
            (&["conf", "ls"], CliCommand::Conf(ConfCommand::Ls)),
            (
                &["conf", "get"],
                CliCommand::Conf(ConfCommand::Get { key: None }),
            ),
            (
                &["conf", "get", "log_level"],
                CliCommand::Conf(ConfCommand::Get {
                    key: Some("log_level".into()),
                }),
            ),
            (
                &["conf", "set", "primary.port", "5433"],
                CliCommand::Conf(ConfCommand::Set {
                    key: "primary.port".into(),
                    value: "5433".into(),
                }),
            ),
            (
                &["clear", "prometheus"],
                CliCommand::Clear(ClearTarget::Prometheus),
            ),
            (
                &["encrypt", "a.txt"],
                CliCommand::Encrypt {
                    file: "a.txt".into(),
                    out: None,
                },
            ),
            (
                &["decrypt", "a.txt.aes", "b.txt"],
                CliCommand::Decrypt {
                    file: "a.txt.aes".into(),
                    out: Some("b.txt".into()),
                },
            ),
        ];
        for (words, command) in cases {
            assert_eq!(parse(words).unwrap().command, command, "{words:?}");
        }
    }

    #[test]
    fn malformed_commands_are_refused() {
        for words in [
            &[][..],
            &["pong"],
            &["clear"],
            &["clear", "all"],
            &["status", "everything"],
            &["conf"],
            &["conf", "set", "log_level"],
            &["encrypt"],
        ] {
            assert!(parse(words).is_err(), "{words:?}");
        }
    }

    #[test]
    fn local_and_remote_options_exclude_each_other() {
        let error = parse(&["-c", "a.conf", "-h", "db1", "-p", "1", "-U", "u", "ping"])
            .expect_err("-c with -h");
        assert_eq!(error.kind(), ErrorKind::ArgumentConflict);
        let error = parse(&["-c", "a.conf", "-p", "1", "ping"]).expect_err("-c with -p");
        assert_eq!(error.kind(), ErrorKind::ArgumentConflict);
        for incomplete in [
            &["-h", "db1", "ping"][..],
            &["-h", "db1", "-p", "1", "ping"],
            &["-h", "db1", "-U", "u", "ping"],
            &["-p", "1", "ping"],
            &["-U", "u", "ping"],
            &["-P", "pw", "ping"],
        ] {
            let error = parse(incomplete).expect_err("remote needs -h, -p and -U");
            assert_eq!(
                error.kind(),
                ErrorKind::MissingRequiredArgument,
                "{incomplete:?}"
            );
        }
    }

    #[test]
    fn help_and_version() {
        for flag in ["-?", "--help"] {
            let error = parse(&[flag]).expect_err("help stops parsing");
            assert_eq!(error.kind(), ErrorKind::DisplayHelp);
            let help = error.to_string();
            assert!(help.contains("PGEXPORTER_CLI_CA_FILE"), "{help}");
            assert!(help.contains("clear prometheus"), "{help}");
        }
        for flag in ["-V", "--version"] {
            let error = parse(&[flag]).expect_err("version stops parsing");
            assert_eq!(error.kind(), ErrorKind::DisplayVersion);
        }
    }
}
