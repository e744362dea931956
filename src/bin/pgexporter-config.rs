//! `pgexporter-config`: writes a starter `pgexporter.conf`, and reads, sets and removes keys and
//! sections of an existing one in place, keeping its comments and layout. A change is written
//! only when the daemon's own loader accepts the result.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use pgexporter::config_args::{ConfigCli, ConfigCommand, ConfigFormat};
use pgexporter::config_files::{self, ConfigFileError};
use pgexporter::daemon_args::{CONFIG_DIR_ENV, CONFIG_FILE, DEFAULT_DIRECTORY};
use pgexporter::prompt::{self, PromptError};
use pgexporter::vault_files::{self, VaultFileError};
use pgexporter_core::config::ini::{LineError, quote_value, section_header};
use pgexporter_core::config::{EditError, IniDocument, WarningKind};
use serde_json::{Value, json};

/// Mode of a configuration file this program creates: readable by the daemon's group and
/// others, since it holds no password.
const NEW_FILE_MODE: u32 = 0o644;
/// How to answer `init` without a terminal.
const INIT_HINT: &str = "give -q to take the defaults";

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
enum ConfigToolError {
    #[error(transparent)]
    File(Box<ConfigFileError>),
    #[error("{}:{}: {}", path.display(), error.line, error.error)]
    Syntax { path: PathBuf, error: LineError },
    #[error("{}: {source}", path.display())]
    Edit { path: PathBuf, source: EditError },
    #[error("{}: TOML files are not edited here; edit it by hand", .0.display())]
    Toml(PathBuf),
    #[error("{}: key '{key}' in [{section}] is no pgexporter key; nothing was written", path.display())]
    UnknownKey {
        path: PathBuf,
        section: String,
        key: String,
    },
    #[error("the result would not load; nothing was written: {0}")]
    Rejected(Box<ConfigFileError>),
    #[error("{}: already exists; init never overwrites a file", .0.display())]
    Exists(PathBuf),
    #[error("{}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Replace(#[from] VaultFileError),
    #[error(transparent)]
    Prompt(#[from] PromptError),
    #[error("'{0}' cannot be written in the file")]
    Unwritable(String),
}

impl From<ConfigFileError> for ConfigToolError {
    fn from(error: ConfigFileError) -> Self {
        ConfigToolError::File(Box::new(error))
    }
}

fn main() -> ExitCode {
    let cli = ConfigCli::parse();
    match run(&cli) {
        Ok(output) => {
            match (cli.format, output) {
                (_, Output::Nothing) => {}
                (ConfigFormat::Text, Output::Report { lines, .. }) => {
                    lines.iter().for_each(|line| println!("{line}"));
                }
                (ConfigFormat::Json, Output::Report { json, .. }) => println!("{json}"),
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("pgexporter-config: {error}");
            ExitCode::FAILURE
        }
    }
}

/// What a successful command prints.
enum Output {
    Nothing,
    Report { lines: Vec<String>, json: Value },
}

fn run(cli: &ConfigCli) -> Result<Output, ConfigToolError> {
    let config = cli.config.clone().unwrap_or_else(default_config_path);
    if let ConfigCommand::Init = cli.command {
        let target = cli.output.as_deref().unwrap_or(&config);
        return init(target, cli.quiet);
    }
    if config_files::is_toml(&config) {
        return Err(ConfigToolError::Toml(config));
    }
    let text = config_files::read_text(&config)?;
    let mut document = IniDocument::parse(&text).map_err(|error| ConfigToolError::Syntax {
        path: config.clone(),
        error,
    })?;
    let edit_error = |source| ConfigToolError::Edit {
        path: config.clone(),
        source,
    };
    let target = cli.output.as_deref().unwrap_or(&config);
    match &cli.command {
        ConfigCommand::Init => unreachable!("handled above"),
        ConfigCommand::Get { section, key } => {
            let value = document.get(section, key).map_err(edit_error)?;
            Ok(Output::Report {
                lines: vec![value.to_owned()],
                json: json!({ "section": section, "key": key, "value": value }),
            })
        }
        ConfigCommand::Ls { section: None } => {
            let sections = document.sections();
            Ok(Output::Report {
                lines: sections.iter().map(|name| format!("[{name}]")).collect(),
                json: json!({ "sections": sections }),
            })
        }
        ConfigCommand::Ls {
            section: Some(section),
        } => {
            let entries = document.entries(section).map_err(edit_error)?;
            Ok(Output::Report {
                lines: entries
                    .iter()
                    .map(|(key, value)| format!("{key} = {value}"))
                    .collect(),
                json: json!({
                    "section": section,
                    "keys": entries
                        .iter()
                        .map(|(key, value)| json!({ "key": key, "value": value }))
                        .collect::<Vec<_>>(),
                }),
            })
        }
        ConfigCommand::Set {
            section,
            key,
            value,
        } => {
            let previous = document.set(section, key, value).map_err(edit_error)?;
            write_checked(target, &document, Some((section, key)))?;
            Ok(changed(
                cli.quiet,
                format!("[{section}] {key} = {value}"),
                json!({ "section": section, "key": key, "value": value, "previous": previous }),
            ))
        }
        ConfigCommand::Del {
            section,
            key: Some(key),
        } => {
            let previous = document.remove_key(section, key).map_err(edit_error)?;
            write_checked(target, &document, None)?;
            Ok(changed(
                cli.quiet,
                format!("[{section}] {key} removed (was {previous})"),
                json!({ "section": section, "key": key, "previous": previous }),
            ))
        }
        ConfigCommand::Del { section, key: None } => {
            document.remove_section(section).map_err(edit_error)?;
            write_checked(target, &document, None)?;
            Ok(changed(
                cli.quiet,
                format!("[{section}] removed"),
                json!({ "section": section }),
            ))
        }
    }
}

/// `$PGEXPORTER_CONFIG_DIR/pgexporter.conf`, else the one in `/etc/pgexporter`.
fn default_config_path() -> PathBuf {
    std::env::var_os(CONFIG_DIR_ENV)
        .map_or_else(|| PathBuf::from(DEFAULT_DIRECTORY), PathBuf::from)
        .join(CONFIG_FILE)
}

fn changed(quiet: bool, line: String, json: Value) -> Output {
    if quiet {
        Output::Nothing
    } else {
        Output::Report {
            lines: vec![line],
            json,
        }
    }
}

/// Loads the edited text as the daemon would and writes it to `target` (keeping the mode and
/// owner of a file that is there). `set_key` is refused when the loader does not know it.
fn write_checked(
    target: &Path,
    document: &IniDocument,
    set_key: Option<(&String, &String)>,
) -> Result<(), ConfigToolError> {
    let text = document.text();
    let loaded = config_files::parse(target, &text, &config_files::process_env)
        .map_err(|error| ConfigToolError::Rejected(Box::new(error)))?;
    for warning in &loaded.warnings {
        if let Some((section, key)) = set_key
            && matches!(warning.kind, WarningKind::UnknownKey)
            && &warning.key == key
        {
            return Err(ConfigToolError::UnknownKey {
                path: target.to_owned(),
                section: section.clone(),
                key: key.clone(),
            });
        }
        eprintln!("pgexporter-config: warning: {warning}");
    }
    vault_files::replace_keeping_mode(target, text.as_bytes(), NEW_FILE_MODE)?;
    Ok(())
}

/// The answers `init` asks for, with their defaults.
struct Starter {
    host: String,
    metrics: String,
    unix_socket_dir: String,
    server: String,
    server_host: String,
    server_port: String,
    user: String,
}

impl Starter {
    fn defaults() -> Starter {
        Starter {
            host: "localhost".into(),
            metrics: "5002".into(),
            unix_socket_dir: "/tmp".into(),
            server: "primary".into(),
            server_host: "localhost".into(),
            server_port: "5432".into(),
            user: "pgexporter".into(),
        }
    }

    /// Asks for every answer on the terminal; an empty line keeps the default.
    fn ask() -> Result<Starter, PromptError> {
        let mut starter = Starter::defaults();
        let questions: [(&str, &mut String); 7] = [
            ("Address to listen on", &mut starter.host),
            ("Port of /metrics", &mut starter.metrics),
            (
                "Directory of the management socket",
                &mut starter.unix_socket_dir,
            ),
            ("Name of the PostgreSQL server", &mut starter.server),
            ("Its host", &mut starter.server_host),
            ("Its port", &mut starter.server_port),
            ("User pgexporter connects as", &mut starter.user),
        ];
        for (question, answer) in questions {
            let typed = prompt::read_text(&format!("{question} [{answer}]: "), INIT_HINT)?;
            let typed = typed.trim();
            if !typed.is_empty() {
                *answer = typed.to_owned();
            }
        }
        Ok(starter)
    }

    /// The configuration text.
    fn render(&self) -> Result<String, ConfigToolError> {
        let value = |text: &str| {
            quote_value(text).ok_or_else(|| ConfigToolError::Unwritable(text.to_owned()))
        };
        let header = section_header(&self.server)
            .ok_or_else(|| ConfigToolError::Unwritable(self.server.clone()))?;
        Ok(format!(
            "# pgexporter configuration; pgexporter-config get/set/del/ls edit it in place.\n\
             \n\
             [pgexporter]\n\
             # Address the listeners bind to; * is every interface.\n\
             host = {host}\n\
             # Port of the Prometheus endpoint /metrics.\n\
             metrics = {metrics}\n\
             # Directory of the management socket .s.pgexporter.\n\
             unix_socket_dir = {dir}\n\
             log_type = console\n\
             log_level = info\n\
             \n\
             # A PostgreSQL server to monitor. The user's password goes into the users file:\n\
             #   pgexporter-admin -f pgexporter_users.conf -U USER user add\n\
             {header}\n\
             host = {server_host}\n\
             port = {port}\n\
             user = {user}\n",
            host = value(&self.host)?,
            metrics = value(&self.metrics)?,
            dir = value(&self.unix_socket_dir)?,
            server_host = value(&self.server_host)?,
            port = value(&self.server_port)?,
            user = value(&self.user)?,
        ))
    }
}

/// Writes a starter configuration to `target`, which must not exist.
fn init(target: &Path, quiet: bool) -> Result<Output, ConfigToolError> {
    if target.exists() {
        return Err(ConfigToolError::Exists(target.to_owned()));
    }
    let starter = if quiet {
        Starter::defaults()
    } else {
        Starter::ask()?
    };
    let text = starter.render()?;
    config_files::parse(target, &text, &config_files::process_env)
        .map_err(|error| ConfigToolError::Rejected(Box::new(error)))?;
    let write_error = |source| ConfigToolError::Write {
        path: target.to_owned(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(NEW_FILE_MODE)
        .open(target)
        .map_err(|error| match error.kind() {
            io::ErrorKind::AlreadyExists => ConfigToolError::Exists(target.to_owned()),
            _ => write_error(error),
        })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(write_error)?;
    Ok(if quiet {
        Output::Nothing
    } else {
        Output::Report {
            lines: vec![format!("{} written", target.display())],
            json: json!({ "written": target }),
        }
    })
}
