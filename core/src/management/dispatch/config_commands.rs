//! `conf set` and `conf reload`: changing the running configuration.
//!
//! A change that a reload can apply is handed to [`Context::apply_config`]. A change that needs
//! a restart is not applied: the response says `restart_required` and the outcome fails with
//! [`ErrorCode::ConfSetRequiresRestart`], so that the client exits non-zero.

use crate::config::{ChangeKind, Reload, Scope, SetError, diff};

use super::super::codes::ErrorCode;
use super::super::document::{Document, Object};
use super::{Context, Transport};

/// The `status` field of a `conf set` or `conf reload` response.
const STATUS_SUCCESS: &str = "success";
const STATUS_RESTART_REQUIRED: &str = "restart_required";
const STATUS_NO_CHANGE: &str = "no_change";

fn put_status(response: &mut Object, status: &str, message: String, restart_required: bool) {
    response.insert("status".to_owned(), status.into());
    response.insert("message".to_owned(), message.into());
    response.insert("restart_required".to_owned(), restart_required.into());
}

/// `conf set`: request `ConfigKey` (`KEY`, `pgexporter.KEY`, `SERVER.KEY` or
/// `server.SERVER.KEY`) and `ConfigValue`.
pub(super) fn conf_set(
    context: &mut dyn Context,
    request: &Document,
    response: &mut Object,
) -> Result<(), ErrorCode> {
    if request.request.is_empty() {
        return Err(ErrorCode::ConfSetNoRequest);
    }
    let (Some(key), Some(value)) = (
        request.request_text("ConfigKey"),
        request.request_text("ConfigValue"),
    ) else {
        return Err(ErrorCode::ConfSetMissingKeyOrValue);
    };
    let mut candidate = context.config().clone();
    let outcome = {
        let env = |name: &str| context.env(name);
        candidate.set(key, value, &env)
    }
    .map_err(|error| match error {
        SetError::UnknownKey(_) => ErrorCode::ConfSetUnknownKey,
        SetError::UnknownServer(_) => ErrorCode::ConfSetUnknownServer,
        SetError::InvalidValue { .. } | SetError::Rejected { .. } => ErrorCode::ConfSetInvalidValue,
    })?;
    response.insert("config_key".to_owned(), key.into());
    response.insert("requested_value".to_owned(), value.into());
    response.insert("old_value".to_owned(), outcome.old_value.clone().into());
    response.insert("new_value".to_owned(), outcome.new_value.clone().into());
    if !outcome.changed() {
        let message = format!("'{key}' is already '{}'", outcome.new_value);
        put_status(response, STATUS_NO_CHANGE, message, false);
        return Ok(());
    }
    match outcome.reload {
        Reload::Live => {
            context
                .apply_config(candidate)
                .map_err(|_| ErrorCode::ConfSetError)?;
            let message = format!("'{key}' changed to '{}'", outcome.new_value);
            put_status(response, STATUS_SUCCESS, message, false);
            Ok(())
        }
        Reload::Restart => {
            let message = format!("'{key}' can only change with a restart; the value is kept");
            put_status(response, STATUS_RESTART_REQUIRED, message, true);
            Err(ErrorCode::ConfSetRequiresRestart)
        }
    }
}

/// `conf reload`: reads the file again and applies it when every change is live. Refused over
/// remote management, after a broken file, and as a whole when a change needs a restart.
pub(super) fn conf_reload(
    context: &mut dyn Context,
    transport: Transport,
    response: &mut Object,
) -> Result<(), ErrorCode> {
    if transport == Transport::Remote {
        return Err(ErrorCode::ConfSetError);
    }
    let new = context.load_config().map_err(|_| ErrorCode::ConfSetError)?;
    let plan = diff(context.config(), &new);
    if plan.is_empty() {
        put_status(
            response,
            STATUS_NO_CHANGE,
            "the configuration file has no change".to_owned(),
            false,
        );
        return Ok(());
    }
    if plan.requires_restart() {
        let keys: Vec<String> = plan
            .restart_changes()
            .map(|change| change_name(&change.scope, &change.kind))
            .collect();
        let message = format!(
            "reload refused, a restart is required for: {}",
            keys.join(", ")
        );
        put_status(response, STATUS_RESTART_REQUIRED, message, true);
        return Err(ErrorCode::ConfSetRequiresRestart);
    }
    let count = plan.changes.len();
    context
        .apply_config(new)
        .map_err(|_| ErrorCode::ConfSetError)?;
    put_status(
        response,
        STATUS_SUCCESS,
        format!("configuration reloaded, {count} change(s) applied"),
        false,
    );
    Ok(())
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
