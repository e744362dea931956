//! The command line of `pgexporter-admin`, shared by the program and its manual page.

use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand, ValueEnum};

/// The command line of `pgexporter-admin`.
#[derive(Parser)]
#[command(
    name = "pgexporter-admin",
    version,
    about = "Create the master key and manage the encrypted users and admins files of pgexporter",
    disable_help_flag = true,
    disable_version_flag = true,
    disable_help_subcommand = true,
    after_help = "The master key is ~/.pgexporter/master.key (directory 0700, file 0600).\n\
                  A FILE whose name contains \"admins\" is an admins file (at most 8 entries);\n\
                  any other is a users file (at most 64).\n\
                  PGEXPORTER_PASSWORD gives the master password to `master-key`, or the user's\n\
                  password to `user add` and `user edit`, without a prompt."
)]
pub struct Cli {
    /// The users or admins file
    #[arg(short = 'f', long = "file", value_name = "FILE", global = true)]
    pub file: Option<PathBuf>,
    /// User name
    #[arg(short = 'U', long = "user", value_name = "USER", global = true)]
    pub user: Option<String>,
    /// Password (the master password for `master-key`)
    #[arg(short = 'P', long = "password", value_name = "PASSWORD", global = true)]
    pub password: Option<String>,
    /// Generate a random password
    #[arg(short = 'g', long = "generate", global = true)]
    pub generate: bool,
    /// Length of a generated password
    #[arg(
        short = 'l',
        long = "length",
        value_name = "N",
        default_value_t = 64,
        value_parser = clap::value_parser!(u16).range(1..=1024),
        global = true
    )]
    pub length: u16,
    /// Output format
    #[arg(short = 'F', long = "format", value_enum, default_value_t = Format::Text, global = true)]
    pub format: Format,
    /// Print the version
    #[arg(short = 'V', long = "version", action = ArgAction::Version)]
    pub version: Option<bool>,
    /// Print this help
    #[arg(short = '?', long = "help", action = ArgAction::Help, global = true)]
    pub help: Option<bool>,
    #[command(subcommand)]
    pub command: Command,
}

/// Output format.
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// Lines of text.
    Text,
    /// The management document as JSON.
    Json,
}

/// The commands.
#[derive(Clone, Copy, Subcommand)]
pub enum Command {
    /// Create the master key (never overwrites an existing one)
    #[command(disable_help_flag = true)]
    MasterKey,
    /// Manage the users of FILE
    #[command(subcommand, disable_help_flag = true)]
    User(UserCommand),
}

/// The commands on the users of a file.
#[derive(Clone, Copy, Subcommand)]
pub enum UserCommand {
    /// Add a user
    #[command(disable_help_flag = true)]
    Add,
    /// Change a user's password
    #[command(disable_help_flag = true)]
    Edit,
    /// Remove a user
    #[command(disable_help_flag = true)]
    Del,
    /// List the users, checking that every password decrypts
    #[command(disable_help_flag = true)]
    Ls,
}

impl Command {
    /// The command number of the management document (SPEC §4.2).
    pub fn code(self) -> u8 {
        match self {
            Command::MasterKey => 11,
            Command::User(UserCommand::Add) => 12,
            Command::User(UserCommand::Edit) => 13,
            Command::User(UserCommand::Del) => 14,
            Command::User(UserCommand::Ls) => 15,
        }
    }
}
