//! The server's answer to a management request.
//!
//! [`dispatch`] answers a parsed request [`Document`] from a [`Snapshot`] of the running
//! daemon. Every decision is made here: what each command answers, which errors apply, whether
//! a change needs a restart, that `conf reload` is refused over remote management. What the
//! daemon must do besides answering comes back with the answer as [`Effect`]s (shut down,
//! clear), or before it as a need: read the configuration file ([`Dispatched::NeedsFile`]) or
//! make a configuration the running one ([`Dispatched::NeedsApply`]). The caller carries the
//! need out, puts its outcome in the snapshot, and dispatches the same request again on the
//! state it was first dispatched on (the configuration from before it applied its own); the
//! answer is the same function of the snapshot every time, so a request is decided once.
//!
//! [`reload`] is the same decision for SIGHUP, which has no request and no answer.

mod config_commands;
mod typed;

use serde_json::Value;

use super::codes::{Command, ErrorCode, Output};
use super::compress::Compression;
use super::document::{Document, Header, Object, Outcome, PROTOCOL_VERSION};
use super::frame::Encryption;
use crate::config::Config;

pub use config_commands::{ReloadOutcome, ReloadStep, reload};

/// Where a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// What the dispatcher reads of the running daemon, and the outcomes of what it asked for so
/// far for this request.
pub struct Snapshot<'a> {
    /// The running configuration.
    pub config: &'a Config,
    /// The state of every configured server, in configuration order.
    pub servers: Vec<ServerStatus>,
    /// Whether the daemon itself runs in FIPS mode.
    pub fips: bool,
    /// The configuration files, for `conf ls`.
    pub paths: &'a ConfigPaths,
    /// Environment variables, for `$VAR` in path values of `conf set`.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The configuration file as read for this request, once [`Dispatched::NeedsFile`] was
    /// carried out (the error says what is wrong with it).
    pub file: Option<&'a Result<Config, String>>,
    /// Whether the configuration of [`Dispatched::NeedsApply`] became the running one (the
    /// error says which file of it could not be read).
    pub applied: Option<&'a Result<(), String>>,
}

/// What the daemon does once an answer is on its way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Start a graceful shutdown.
    Shutdown,
    /// Reset the Prometheus counters and the cached `/metrics` body.
    ClearPrometheus,
}

/// The dispatcher's answer to one request, or what it needs first.
#[derive(Debug, Clone, PartialEq)]
pub enum Dispatched {
    /// The answer, and what to do once it is sent.
    Answer(Document, Option<Effect>),
    /// Read the configuration file again (`conf reload`), then dispatch again with it in
    /// [`Snapshot::file`].
    NeedsFile,
    /// Make this configuration the running one (every change in it applies live), then
    /// dispatch again with the outcome in [`Snapshot::applied`].
    NeedsApply(Box<Config>),
}

/// The answer to `request` arriving over `transport`, or what it needs first (see the module
/// documentation). The answer's header is the request's; its outcome time is zero (the caller
/// knows how long the request took). Commands 11–17 and unknown numbers fail with
/// [`ErrorCode::UnknownCommand`].
pub fn dispatch(snapshot: &Snapshot<'_>, request: &Document, transport: Transport) -> Dispatched {
    let mut response = Object::new();
    response.insert("ServerVersion".to_owned(), PROTOCOL_VERSION.into());
    let mut effect = None;
    let result = match request.header.command().filter(|c| c.is_served()) {
        Some(Command::Ping) => Ok(()),
        Some(Command::Shutdown) => {
            effect = Some(Effect::Shutdown);
            Ok(())
        }
        Some(Command::ClearPrometheus) => {
            effect = Some(Effect::ClearPrometheus);
            Ok(())
        }
        Some(Command::Status) => {
            status(snapshot, false, &mut response);
            Ok(())
        }
        Some(Command::StatusDetails) => {
            status(snapshot, true, &mut response);
            Ok(())
        }
        Some(Command::ConfLs) => {
            conf_ls(snapshot.paths, &mut response);
            Ok(())
        }
        Some(Command::ConfGet) => {
            typed::conf_get(snapshot.config, &mut response);
            Ok(())
        }
        Some(Command::ConfSet) => {
            match config_commands::conf_set(snapshot, request, &mut response) {
                config_commands::Step::Done(result) => result,
                config_commands::Step::Needs(need) => return need,
            }
        }
        Some(Command::ConfReload) => {
            match config_commands::conf_reload(snapshot, transport, &mut response) {
                config_commands::Step::Done(result) => result,
                config_commands::Step::Needs(need) => return need,
            }
        }
        _ => Err(ErrorCode::UnknownCommand),
    };
    let outcome = match result {
        Ok(()) => Outcome::success(std::time::Duration::ZERO),
        Err(error) => {
            effect = None;
            Outcome::failure(error)
        }
    };
    let answer = Document {
        header: request.header.clone(),
        request: request.request.clone(),
        response: Some(response),
        outcome: Some(outcome),
    };
    Dispatched::Answer(answer, effect)
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

fn status(snapshot: &Snapshot<'_>, details: bool, response: &mut Object) {
    let servers: Vec<Value> = snapshot
        .servers
        .iter()
        .map(|server| {
            let mut entry = Object::new();
            entry.insert("Active".to_owned(), server.active.into());
            entry.insert("Server".to_owned(), server.name.clone().into());
            if details {
                entry.insert("Fips".to_owned(), server.fips.into());
            }
            Value::Object(entry)
        })
        .collect();
    response.insert("NumberOfServers".to_owned(), servers.len().into());
    response.insert("Servers".to_owned(), Value::Array(servers));
    if details {
        response.insert("PgexporterFips".to_owned(), snapshot.fips.into());
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
