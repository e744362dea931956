//! The server's answer to a management request.
//!
//! A runtime reads a frame, [`open`](super::frame::open)s it, parses the [`Document`] and calls
//! [`dispatch`] with a [`Context`] that gives access to the running daemon. The answer is a
//! document to encode with the compression and encryption the request's header asks for.
//! Every decision (what each command answers, which errors apply, whether a change needs a
//! restart, that `conf reload` is refused over remote management) is made here; the context
//! only reads state and carries out actions.

mod config_commands;
mod typed;

use std::time::Duration;

use serde_json::Value;

use super::codes::{Command, ErrorCode, Output};
use super::compress::Compression;
use super::document::{Document, Header, Object, Outcome, PROTOCOL_VERSION};
use super::frame::Encryption;
use crate::config::Config;

/// Where a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// The Unix socket in `unix_socket_dir`: every command.
    Local,
    /// The remote management TCP port, after authentication: no `conf reload`.
    Remote,
}

/// The state of one configured server, for `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStatus {
    /// The section name.
    pub name: String,
    /// Whether the last scrape reached it.
    pub active: bool,
    /// Whether it runs in FIPS mode (`status details`).
    pub fips: bool,
}

/// The files the daemon was started with, for `conf ls` (`None` when not used).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigPaths {
    /// The main configuration file.
    pub main: Option<String>,
    /// The users file.
    pub users: Option<String>,
    /// The admins file.
    pub admins: Option<String>,
}

/// What the dispatcher needs from the running daemon. Reading methods must not block for
/// long; action methods only record or start the action.
pub trait Context {
    /// The running configuration.
    fn config(&self) -> &Config;
    /// The state of every configured server, in configuration order.
    fn servers(&self) -> Vec<ServerStatus>;
    /// Whether the daemon itself runs in FIPS mode.
    fn fips(&self) -> bool;
    /// The configuration files, for `conf ls`.
    fn paths(&self) -> ConfigPaths;
    /// An environment variable, for `$VAR` in path values of `conf set`.
    fn env(&self, name: &str) -> Option<String>;
    /// Reads and parses the configuration file again, for `conf reload`; the error text says
    /// what is wrong and is logged, not sent.
    fn load_config(&mut self) -> Result<Config, String>;
    /// Makes `config` the running configuration (every change in it can be applied live).
    /// An error (a file the new configuration names cannot be read, say) leaves the running
    /// configuration as it was; its text is logged, not sent.
    fn apply_config(&mut self, config: Config) -> Result<(), String>;
    /// Starts a graceful shutdown once the answer is sent.
    fn shutdown(&mut self);
    /// Resets the Prometheus counters and the cached `/metrics` body.
    fn clear_prometheus(&mut self);
}

/// The answer to `request` arriving over `transport`.
///
/// `timestamp` is the server's local time as `YYYYMMDDHHMMSS` and `elapsed` the time since the
/// request arrived, both supplied by the caller. Commands 11–17 and unknown numbers fail with
/// [`ErrorCode::UnknownCommand`].
pub fn dispatch(
    context: &mut dyn Context,
    request: &Document,
    transport: Transport,
    timestamp: &str,
    elapsed: Duration,
) -> Document {
    let mut header = request.header.clone();
    header.timestamp = timestamp.to_owned();
    let mut response = Object::new();
    response.insert("ServerVersion".to_owned(), PROTOCOL_VERSION.into());
    let result = match request.header.command().filter(|c| c.is_served()) {
        Some(command) => run(context, command, request, transport, &mut response),
        None => Err(ErrorCode::UnknownCommand),
    };
    let outcome = match result {
        Ok(()) => Outcome::success(elapsed),
        Err(error) => Outcome::failure(error),
    };
    Document {
        header,
        request: request.request.clone(),
        response: Some(response),
        outcome: Some(outcome),
    }
}

/// The answer to a request whose frame or document could not be read: error 1.
pub fn bad_payload(timestamp: &str) -> Document {
    Document {
        header: Header {
            client_version: PROTOCOL_VERSION.to_owned(),
            command: 0,
            compression: Compression::None,
            encryption: Encryption::None,
            output: Output::Text,
            timestamp: timestamp.to_owned(),
        },
        request: Object::new(),
        response: None,
        outcome: Some(Outcome::failure(ErrorCode::BadPayload)),
    }
}

/// Runs one served command, filling `response`.
fn run(
    context: &mut dyn Context,
    command: Command,
    request: &Document,
    transport: Transport,
    response: &mut Object,
) -> Result<(), ErrorCode> {
    match command {
        Command::Ping => {}
        Command::Shutdown => context.shutdown(),
        Command::ClearPrometheus => context.clear_prometheus(),
        Command::Status => status(context, false, response),
        Command::StatusDetails => status(context, true, response),
        Command::ConfLs => conf_ls(&context.paths(), response),
        Command::ConfGet => typed::conf_get(context.config(), response),
        Command::ConfSet => return config_commands::conf_set(context, request, response),
        Command::ConfReload => return config_commands::conf_reload(context, transport, response),
        Command::MasterKey
        | Command::UserAdd
        | Command::UserEdit
        | Command::UserDel
        | Command::UserLs
        | Command::Encrypt
        | Command::Decrypt => return Err(ErrorCode::UnknownCommand),
    }
    Ok(())
}

fn status(context: &dyn Context, details: bool, response: &mut Object) {
    let servers: Vec<Value> = context
        .servers()
        .into_iter()
        .map(|server| {
            let mut entry = Object::new();
            entry.insert("Active".to_owned(), server.active.into());
            entry.insert("Server".to_owned(), server.name.into());
            if details {
                entry.insert("Fips".to_owned(), server.fips.into());
            }
            Value::Object(entry)
        })
        .collect();
    response.insert("NumberOfServers".to_owned(), servers.len().into());
    response.insert("Servers".to_owned(), Value::Array(servers));
    if details {
        response.insert("PgexporterFips".to_owned(), context.fips().into());
    }
}

fn conf_ls(paths: &ConfigPaths, response: &mut Object) {
    for (key, path) in [
        ("main_configuration_path", &paths.main),
        ("users_configuration_path", &paths.users),
        ("admin_configuration_path", &paths.admins),
    ] {
        response.insert(key.to_owned(), path.clone().unwrap_or_default().into());
    }
}

#[cfg(test)]
mod tests;
