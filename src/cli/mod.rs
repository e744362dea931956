//! `pgexporter-cli`, the management client (SPEC §4.3, §4.4), as a library the binary calls.
//!
//! - [`args`]: the command line; [`request`]: what a command asks for.
//! - [`local`] and [`remote`]: blocking connections implementing [`exchange::Exchange`].
//! - [`files`]: `encrypt` and `decrypt`, local file work under the master key.
//! - [`output`]: printing an answer; [`log`]: `-L` and `-v`; [`clock`]: local timestamps.
//!
//! A served command goes: [`request::ServedRequest::document`] → [`frame::encode`] (with
//! `-C`, `-E` and the master key) → [`exchange::Exchange::exchange`] → [`frame::open`] →
//! [`Document::parse`] → [`output::format_answer`]. The run succeeds when the answer's
//! outcome does.

pub mod args;
pub mod clock;
pub mod exchange;
pub mod files;
pub mod local;
pub mod log;
pub mod output;
pub mod remote;
pub mod request;
#[cfg(test)]
mod test_support;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::BytesMut;
use pgexporter_core::management::frame::{self, EncodeError};
use pgexporter_core::management::{
    Document, DocumentError, Encryption, ErrorCode, OpenError, Outcome, Sealing,
};
use pgexporter_core::secret::Secret;
use pgexporter_core::vault::MasterKey;
use pgexporter_core::vault::blob::{IV_LEN, SALT_LEN};

use crate::config_files::{self, ConfigFileError};
use crate::prompt::{self, PromptError};
use crate::vault_files::{self, VaultFileError};
use args::Args;
use exchange::{Exchange, ExchangeError};
use files::{FileError, FileJob};
use log::Log;
use output::{Answer, NoSuchKey, format_answer};
use remote::{RemoteLogin, RemoteSession, TlsTrust};
use request::{FrameSettings, Job, ServedRequest};

/// Environment variable with the admin password, read when `-P` is absent.
pub const PASSWORD_ENV: &str = "PGEXPORTER_PASSWORD";
/// Environment variable naming the CA file that verifies the remote server (see [`remote`]).
pub const CA_FILE_ENV: &str = "PGEXPORTER_CLI_CA_FILE";
/// Environment variable naming the configuration directory when `-c` is absent.
pub const CONFIG_DIR_ENV: &str = "PGEXPORTER_CONFIG_DIR";
/// The configuration directory when neither `-c` nor [`CONFIG_DIR_ENV`] is given.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/pgexporter";
/// The main configuration file's name in its directory.
pub const CONFIG_FILE_NAME: &str = "pgexporter.conf";
/// How to give the password without a terminal, for prompt errors.
const PASSWORD_HINT: &str = "give the password with -P or PGEXPORTER_PASSWORD";

/// What a finished run prints and whether it succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// What goes to standard output.
    pub stdout: String,
    /// `None` when the command succeeded; else the one line for standard error.
    pub failure: Option<String>,
}

/// Why a run produced no answer to print. No variant holds the password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The configuration file (for the socket directory) could not be used.
    #[error(transparent)]
    Config(#[from] ConfigFileError),
    /// The master key could not be read.
    #[error(transparent)]
    Vault(#[from] VaultFileError),
    /// No password could be asked for.
    #[error(transparent)]
    Prompt(#[from] PromptError),
    /// The connection failed or the server refused it.
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    /// The request could not be framed.
    #[error("cannot encode the request: {0}")]
    Encode(#[from] EncodeError),
    /// The answer's payload could not be decrypted or decompressed.
    #[error("cannot read the answer: {0}")]
    Open(#[from] OpenError),
    /// The answer is not a management document.
    #[error("the answer is not a management document: {0}")]
    Document(#[from] DocumentError),
    /// `encrypt` or `decrypt` failed on a file.
    #[error(transparent)]
    File(#[from] FileError),
    /// `conf get KEY` for a key the daemon does not have.
    #[error(transparent)]
    NoSuchKey(#[from] NoSuchKey),
    /// `encrypt` or `decrypt` with remote options.
    #[error("encrypt and decrypt work on local files: -h, -p, -U and -P do not apply")]
    RemoteFileJob,
    /// `-h` without `-p` or `-U` (the command line parser refuses these already).
    #[error("remote management needs -h, -p and -U")]
    IncompleteRemote,
    /// The operating system gave no random bytes.
    #[error("no random bytes from the operating system: {0}")]
    Random(getrandom::Error),
}

/// Runs the command of `args`, logging to `log`.
///
/// `Ok` when an answer (or a file job's document) is there to print, whether the command
/// succeeded or not (see [`Report::failure`]); `Err` when there is nothing to print.
pub fn run(args: &Args, log: &mut Log) -> Result<Report, CliError> {
    let settings = FrameSettings {
        output: args.format,
        compression: args.compress,
        encryption: args.encrypt,
    };
    match Job::of(&args.command) {
        Job::File(job) => {
            if args.host.is_some() {
                return Err(CliError::RemoteFileJob);
            }
            run_file_job(&job, settings, log)
        }
        Job::Served(request) => {
            let master_key = match settings.encryption {
                Encryption::None => None,
                _ => Some(read_master_key(log)?),
            };
            let mut connection = connect(args, log)?;
            let answer = ask(
                connection.as_mut(),
                &request,
                settings,
                master_key.as_ref(),
                &clock::timestamp(),
                log,
            )?;
            log.trace(format_args!("answer of {} bytes", answer.json.len()));
            let stdout = format_answer(settings.output, &answer, request.conf_get_key.as_deref())?;
            Ok(Report {
                stdout,
                failure: failure_text(&answer.document),
            })
        }
    }
}

/// Sends `request` over `connection` and reads the answer: the request frame is compressed
/// and encrypted as `settings` say (encryption needs `master_key`), and the answer is opened
/// with the same key. `timestamp` stamps the request.
pub fn ask(
    connection: &mut dyn Exchange,
    request: &ServedRequest,
    settings: FrameSettings,
    master_key: Option<&MasterKey>,
    timestamp: &str,
    log: &mut Log,
) -> Result<Answer, CliError> {
    let document = request.document(settings, timestamp);
    let sealing = match master_key {
        Some(master_key) => Some(Sealing {
            master_key,
            salt: random_array::<SALT_LEN>()?,
            iv: random_array::<IV_LEN>()?,
        }),
        None => None,
    };
    let mut frame_bytes = BytesMut::new();
    frame::encode(
        &mut frame_bytes,
        &document.to_json(),
        settings.compression,
        settings.encryption,
        sealing,
    )?;
    let answer = connection.exchange(&frame_bytes, log)?;
    let json = frame::open(&answer, master_key)?;
    let document = Document::parse(&json)?;
    Ok(Answer { document, json })
}

/// The connection `args` ask for: remote with `-h`, else the local socket of the
/// configuration.
fn connect(args: &Args, log: &mut Log) -> Result<Box<dyn Exchange>, CliError> {
    let Some(host) = &args.host else {
        let path = config_path(args.config.as_deref(), std::env::var_os(CONFIG_DIR_ENV));
        let loaded = config_files::load(&path)?;
        for warning in &loaded.warnings {
            log.trace(warning);
        }
        let socket = local::socket_path(&loaded.config.main.unix_socket_dir);
        log.trace(format_args!("connecting to {}", socket.display()));
        return Ok(Box::new(local::LocalSocket::connect(&socket)?));
    };
    let (Some(port), Some(user)) = (args.port, &args.user) else {
        return Err(CliError::IncompleteRemote);
    };
    let password = match (&args.password, std::env::var_os(PASSWORD_ENV)) {
        (Some(password), _) => Secret::from(password.as_str()),
        (None, Some(password)) => Secret::new(OsString::into_vec(password)),
        (None, None) => prompt::read_password("Password: ", PASSWORD_HINT)?,
    };
    let trust = TlsTrust::from_ca_file(std::env::var_os(CA_FILE_ENV).map(PathBuf::from));
    log.trace(format_args!("connecting to {host}:{port}"));
    let login = RemoteLogin {
        host: host.clone(),
        port,
        user: user.clone(),
        password,
        trust,
    };
    Ok(Box::new(RemoteSession::connect(login, log)?))
}

/// The configuration file: `-c`, else `pgexporter.conf` in the directory named by the
/// environment, else in `/etc/pgexporter`.
pub fn config_path(explicit: Option<&Path>, env_directory: Option<OsString>) -> PathBuf {
    match explicit {
        Some(path) => path.to_owned(),
        None => env_directory
            .filter(|directory| !directory.is_empty())
            .map_or_else(|| PathBuf::from(DEFAULT_CONFIG_DIR), PathBuf::from)
            .join(CONFIG_FILE_NAME),
    }
}

/// `encrypt` / `decrypt`: the document is printed whether the job succeeded or not.
fn run_file_job(job: &FileJob, settings: FrameSettings, log: &mut Log) -> Result<Report, CliError> {
    let started = Instant::now();
    let result = job
        .check_destination()
        .map_err(CliError::from)
        .and_then(|_| read_master_key(log))
        .and_then(|master_key| Ok(job.run(&master_key)?));
    let document = job.document(
        result.as_deref().ok(),
        settings,
        &clock::timestamp(),
        started.elapsed(),
    );
    let stdout = format_answer(settings.output, &Answer::local(document), None)?;
    let failure = result
        .err()
        .map(|error| format!("{}: {error}", job.direction.command().name()));
    Ok(Report { stdout, failure })
}

/// The master key of the running user, derived (the slow step).
fn read_master_key(log: &mut Log) -> Result<MasterKey, CliError> {
    let path = vault_files::master_key_path(&vault_files::home_dir()?);
    log.trace(format_args!("reading the master key {}", path.display()));
    Ok(vault_files::read_master_key(&path)?.derive())
}

/// The line for standard error when the answer's outcome is not a success.
fn failure_text(document: &Document) -> Option<String> {
    let command = document.header.command().map_or_else(
        || document.header.command.to_string(),
        |c| c.name().to_owned(),
    );
    match &document.outcome {
        Some(Outcome::Success { .. }) => None,
        Some(Outcome::Failure { error }) => {
            let description = ErrorCode::from_code(*error)
                .map_or_else(|| format!("error {error}"), |e| e.description().to_owned());
            Some(format!("{command} failed: {description} ({error})"))
        }
        None => Some(format!("{command}: the answer has no outcome")),
    }
}

/// `N` bytes from the operating system's random source.
fn random_array<const N: usize>() -> Result<[u8; N], CliError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(CliError::Random)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests;
