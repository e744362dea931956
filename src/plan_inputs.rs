//! The files a plan is made from besides the configuration: the master key, the users file's
//! passwords, the admins' verifiers, and the TLS files the plan names (checked, so that a
//! reload naming a broken file is refused).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use pgexporter_core::config::Config;
use pgexporter_core::management::handshake::AdminVerifiers;
use pgexporter_core::plan::Plan;
use pgexporter_core::secret::Secret;
use pgexporter_core::vault::{FileKind, MasterKey};
use pgexporter_os::random;
use pgexporter_tls::{client_config, server_config};

use crate::vault_files;

/// The master key, when `~/.pgexporter/master.key` exists: its 600,000-iteration derivation
/// is paid once, at start. It decrypts the users and admins files and seals encrypted
/// management frames.
///
/// # Errors
/// A message naming the file when it exists but cannot be used (loose permissions, malformed).
pub fn master_key() -> Result<Option<Arc<MasterKey>>, String> {
    let home = vault_files::home_dir().map_err(|error| error.to_string())?;
    match vault_files::read_master_key(&vault_files::master_key_path(&home)) {
        Ok(file) => Ok(Some(Arc::new(file.derive()))),
        Err(vault_files::VaultFileError::NoMasterKey { .. }) => Ok(None),
        Err(error) => Err(error.to_string()),
    }
}

/// The passwords of the roles the servers log in as, from the users file. A role without an
/// entry gets no password: the server may trust it.
///
/// # Errors
/// A message naming the file at fault: gone, unreadable, malformed, no or a wrong master key.
pub fn server_passwords(
    config: &Config,
    users_file: Option<&Path>,
    master_key: Option<&MasterKey>,
) -> Result<HashMap<String, Secret>, String> {
    let Some(path) = users_file else {
        return Ok(HashMap::new());
    };
    // The daemon has a users file: one that is gone since is refused, not read as empty, so
    // that a reload keeps the passwords read before.
    let users = vault_files::read_credentials(path, FileKind::Users)
        .map_err(|error| error.to_string())?
        .ok_or_else(|| format!("the users file {} is gone", path.display()))?;
    let roles: Vec<&str> = config
        .servers
        .iter()
        .filter_map(|server| server.user.as_deref())
        .collect();
    users
        .entries()
        .filter(|entry| roles.contains(&entry.user))
        .map(|entry| {
            let key = master_key.ok_or_else(|| {
                format!("{}: decrypting needs the master key file", path.display())
            })?;
            let password = entry
                .decrypt(key)
                .map_err(|error| format!("{}: {error}", path.display()))?;
            Ok((entry.user.to_owned(), password))
        })
        .collect()
}

/// The SCRAM verifiers of the admins in the admins file, for remote management; empty without
/// the file.
///
/// # Errors
/// A message naming the file at fault: unreadable, malformed, no or a wrong master key.
pub fn admin_verifiers(
    admins_file: Option<&Path>,
    master_key: Option<&MasterKey>,
) -> Result<AdminVerifiers, String> {
    let mut verifiers = AdminVerifiers::new();
    let Some(path) = admins_file else {
        return Ok(verifiers);
    };
    let Some(admins) =
        vault_files::read_credentials(path, FileKind::Admins).map_err(|error| error.to_string())?
    else {
        return Ok(verifiers);
    };
    for entry in admins.entries() {
        let key = master_key
            .ok_or_else(|| format!("{}: decrypting needs the master key file", path.display()))?;
        let password = entry
            .decrypt(key)
            .map_err(|error| format!("{}: {error}", path.display()))?;
        verifiers
            .insert(entry.user, &password, random::bytes())
            .map_err(|error| format!("{}: {error}", path.display()))?;
    }
    Ok(verifiers)
}

/// Checks that every TLS file `plan` names can be used: each server's client files and the
/// listeners' certificates.
///
/// # Errors
/// A message naming the server or listener and the file at fault.
pub fn check_tls_files(plan: &Plan) -> Result<(), String> {
    for server in &plan.servers {
        client_config(&server.target.tls_files)
            .map_err(|error| format!("server '{}': {error}", server.name))?;
    }
    if let Some(files) = &plan.served.metrics_tls {
        server_config(files).map_err(|error| format!("metrics TLS: {error}"))?;
    }
    if let Some(files) = &plan.served.management_tls {
        server_config(files).map_err(|error| format!("management TLS: {error}"))?;
    }
    Ok(())
}
