//! The command line of `pgexporter-config`, shared by the program and its manual page.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// The command line of `pgexporter-config`.
#[derive(Debug, Parser)]
#[command(
    name = "pgexporter-config",
    version,
    about = "Write a starter pgexporter.conf, or read and change its keys in place",
    disable_help_subcommand = true,
    after_help = "Edits keep every other line of the file as written (comments, blank lines,\n\
                  spacing). A change is written only when the daemon would accept the result."
)]
pub struct ConfigCli {
    /// The configuration file (default: $PGEXPORTER_CONFIG_DIR/pgexporter.conf, else
    /// /etc/pgexporter/pgexporter.conf)
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Write the result to FILE instead of changing the configuration file
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Take every default without asking (init), print nothing on success (set, del)
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Output format of get and ls
    #[arg(short = 'F', long = "format", value_enum, default_value_t = ConfigFormat::Text)]
    pub format: ConfigFormat,
    /// What to do
    #[command(subcommand)]
    pub command: ConfigCommand,
}

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConfigFormat {
    /// Lines of text.
    Text,
    /// One JSON document.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Write a starter configuration (asks for each value unless -q); never overwrites a file
    Init,
    /// Print the value of KEY in [SECTION]
    Get {
        /// The section, `pgexporter` or a server's name
        section: String,
        /// The key
        key: String,
    },
    /// Set KEY in [SECTION] to VALUE, adding the key or the section when missing
    Set {
        /// The section, `pgexporter` or a server's name
        section: String,
        /// The key
        key: String,
        /// The new value
        value: String,
    },
    /// Remove KEY from [SECTION], or the whole section when no key is given
    Del {
        /// The section, `pgexporter` or a server's name
        section: String,
        /// The key
        key: Option<String>,
    },
    /// List the sections, or the keys and values of [SECTION]
    Ls {
        /// The section
        section: Option<String>,
    },
}
