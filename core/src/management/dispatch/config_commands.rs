//! `conf set`, `conf reload` and SIGHUP's reload: changing the running configuration.
//!
//! A change that a reload can apply is asked for with [`Dispatched::NeedsApply`]; the answer
//! follows from its outcome. A change that needs a restart is not applied: the response says
//! `restart_required` and the outcome fails with [`ErrorCode::ConfSetRequiresRestart`], so that
//! the client exits non-zero.

use crate::config::{ChangeKind, Config, Reload, Scope, SetError, diff};

use super::super::codes::ErrorCode;
use super::super::document::{Document, Object};
use super::{Dispatched, Snapshot, Transport};

/// The `status` field of a `conf set` or `conf reload` response.
const STATUS_SUCCESS: &str = "success";
const STATUS_RESTART_REQUIRED: &str = "restart_required";
const STATUS_NO_CHANGE: &str = "no_change";

/// Where a configuration command stands.
pub(super) enum Step {
    /// Decided: the response is filled in.
    Done(Result<(), ErrorCode>),
    /// Something must be carried out first.
    Needs(Dispatched),
}

fn put_status(response: &mut Object, status: &str, message: String, restart_required: bool) {
    response.insert("status".to_owned(), status.into());
    response.insert("message".to_owned(), message.into());
    response.insert("restart_required".to_owned(), restart_required.into());
}

/// `conf set`: request `ConfigKey` (`KEY`, `pgexporter.KEY`, `SERVER.KEY` or
/// `server.SERVER.KEY`) and `ConfigValue`.
pub(super) fn conf_set(snapshot: &Snapshot<'_>, request: &Document, response: &mut Object) -> Step {
    if request.request.is_empty() {
        return Step::Done(Err(ErrorCode::ConfSetNoRequest));
    }
    let (Some(key), Some(value)) = (
        request.request_text("ConfigKey"),
        request.request_text("ConfigValue"),
    ) else {
        return Step::Done(Err(ErrorCode::ConfSetMissingKeyOrValue));
    };
    let mut candidate = snapshot.config.clone();
    let outcome = match candidate.set(key, value, snapshot.env) {
        Ok(outcome) => outcome,
        Err(error) => {
            return Step::Done(Err(match error {
                SetError::UnknownKey(_) => ErrorCode::ConfSetUnknownKey,
                SetError::UnknownServer(_) => ErrorCode::ConfSetUnknownServer,
                SetError::InvalidValue { .. } | SetError::Rejected { .. } => {
                    ErrorCode::ConfSetInvalidValue
                }
            }));
        }
    };
    response.insert("config_key".to_owned(), key.into());
    response.insert("requested_value".to_owned(), value.into());
    response.insert("old_value".to_owned(), outcome.old_value.clone().into());
    response.insert("new_value".to_owned(), outcome.new_value.clone().into());
    if !outcome.changed() {
        let message = format!("'{key}' is already '{}'", outcome.new_value);
        put_status(response, STATUS_NO_CHANGE, message, false);
        return Step::Done(Ok(()));
    }
    match outcome.reload {
        Reload::Live => match snapshot.applied {
            None => Step::Needs(Dispatched::NeedsApply(Box::new(candidate))),
            Some(Ok(())) => {
                let message = format!("'{key}' changed to '{}'", outcome.new_value);
                put_status(response, STATUS_SUCCESS, message, false);
                Step::Done(Ok(()))
            }
            Some(Err(_)) => Step::Done(Err(ErrorCode::ConfSetError)),
        },
        Reload::Restart => {
            let message = format!("'{key}' can only change with a restart; the value is kept");
            put_status(response, STATUS_RESTART_REQUIRED, message, true);
            Step::Done(Err(ErrorCode::ConfSetRequiresRestart))
        }
    }
}

/// `conf reload`: [`reload`], refused over remote management.
pub(super) fn conf_reload(
    snapshot: &Snapshot<'_>,
    transport: Transport,
    response: &mut Object,
) -> Step {
    if transport == Transport::Remote {
        return Step::Done(Err(ErrorCode::ConfSetError));
    }
    match reload(snapshot.config, snapshot.file, snapshot.applied) {
        ReloadStep::NeedsFile => Step::Needs(Dispatched::NeedsFile),
        ReloadStep::NeedsApply(config) => Step::Needs(Dispatched::NeedsApply(config)),
        ReloadStep::Done(outcome) => {
            if let Some(status) = outcome.status {
                let restart_required = status == STATUS_RESTART_REQUIRED;
                put_status(response, status, outcome.message, restart_required);
            }
            Step::Done(outcome.error.map_or(Ok(()), Err))
        }
    }
}

/// Where a reload stands.
#[derive(Debug, Clone, PartialEq)]
pub enum ReloadStep {
    /// Read the configuration file again.
    NeedsFile,
    /// Make this configuration the running one.
    NeedsApply(Box<Config>),
    /// Decided.
    Done(ReloadOutcome),
}

/// How a reload ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadOutcome {
    /// The `status` of a `conf reload` response; `None` when the file could not be read or
    /// applied (the error says so).
    pub status: Option<&'static str>,
    /// What happened, for the response or the log.
    pub message: String,
    /// The failure, `None` when the reload succeeded or had nothing to do.
    pub error: Option<ErrorCode>,
}

impl ReloadOutcome {
    /// Whether the running configuration is now the file's (also when nothing changed).
    pub fn is_success(&self) -> bool {
        self.error.is_none()
    }
}

/// Reads the configuration file again and applies it when every change is live: refused
/// after a broken file, and as a whole when a change needs a restart. An unchanged file is
/// applied too: applying reads the users file and the metric files again, so that a changed
/// password takes effect, and a users file that cannot be read (removed, a directory, corrupt)
/// refuses the reload, saying why, while the running passwords stay. `file` and `applied` are
/// the outcomes of the needs carried out so far.
pub fn reload(
    running: &Config,
    file: Option<&Result<Config, String>>,
    applied: Option<&Result<(), String>>,
) -> ReloadStep {
    let new = match file {
        None => return ReloadStep::NeedsFile,
        Some(Err(error)) => {
            return ReloadStep::Done(ReloadOutcome {
                status: None,
                message: format!("the configuration file cannot be loaded: {error}"),
                error: Some(ErrorCode::ConfSetError),
            });
        }
        Some(Ok(new)) => new,
    };
    let plan = diff(running, new);
    if plan.requires_restart() {
        let keys: Vec<String> = plan
            .restart_changes()
            .map(|change| change_name(&change.scope, &change.kind))
            .collect();
        return ReloadStep::Done(ReloadOutcome {
            status: Some(STATUS_RESTART_REQUIRED),
            message: format!(
                "reload refused, a restart is required for: {}",
                keys.join(", ")
            ),
            error: Some(ErrorCode::ConfSetRequiresRestart),
        });
    }
    match applied {
        None => ReloadStep::NeedsApply(Box::new(new.clone())),
        Some(Ok(())) if plan.is_empty() => ReloadStep::Done(ReloadOutcome {
            status: Some(STATUS_NO_CHANGE),
            message:
                "the configuration file has no change; the users and metric files were read again"
                    .to_owned(),
            error: None,
        }),
        Some(Ok(())) => ReloadStep::Done(ReloadOutcome {
            status: Some(STATUS_SUCCESS),
            message: format!(
                "configuration reloaded, {} change(s) applied",
                plan.changes.len()
            ),
            error: None,
        }),
        Some(Err(error)) => ReloadStep::Done(ReloadOutcome {
            status: None,
            message: format!("the new configuration cannot be applied: {error}"),
            error: Some(ErrorCode::ConfSetError),
        }),
    }
}

/// `key`, `server.key`, or `[server]` for an added or removed server.
fn change_name(scope: &Scope, kind: &ChangeKind) -> String {
    match (scope, kind) {
        (Scope::Main, ChangeKind::Value { key, .. }) => (*key).to_owned(),
        (Scope::Server(server), ChangeKind::Value { key, .. }) => format!("{server}.{key}"),
        (Scope::Server(server), _) => format!("[{server}]"),
        (Scope::Main, _) => "[pgexporter]".to_owned(),
    }
}
