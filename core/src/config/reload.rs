//! What a reload would change, and whether a running daemon can take it. SIGHUP and
//! `conf reload` use the plan to refuse as a whole when any change needs a restart.

use super::keys::{self, MAIN_KEYS, Reload, SERVER_KEYS};
use super::model::{Config, ServerConfig};

/// The section a change is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `[pgexporter]`.
    Main,
    /// The server section of that name.
    Server(String),
}

/// What happened to a key or a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// A key has a new value (canonical texts).
    Value {
        /// The key.
        key: &'static str,
        /// The running value.
        old: String,
        /// The value in the new file.
        new: String,
    },
    /// A server section is new.
    ServerAdded,
    /// A server section is gone.
    ServerRemoved,
}

/// One difference between the running and the new configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Where.
    pub scope: Scope,
    /// What.
    pub kind: ChangeKind,
    /// Whether a reload can apply it.
    pub reload: Reload,
}

/// Every difference between two configurations, in key order: main keys first, then servers
/// in the running order, then added servers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReloadPlan {
    /// The differences; empty when the configurations are equal.
    pub changes: Vec<Change>,
}

impl ReloadPlan {
    /// Whether any change needs a restart; such a reload is refused as a whole.
    pub fn requires_restart(&self) -> bool {
        self.changes
            .iter()
            .any(|change| change.reload == Reload::Restart)
    }

    /// Whether the configurations are equal.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The changes that need a restart, for the refusal message.
    pub fn restart_changes(&self) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(|change| change.reload == Reload::Restart)
    }
}

fn value_changes<T>(
    scope: &Scope,
    table: &'static [keys::KeyInfo],
    running: &T,
    new: &T,
    value: fn(&T, &str) -> Option<String>,
    out: &mut Vec<Change>,
) {
    for info in table {
        let old = value(running, info.name).unwrap_or_default();
        let new = value(new, info.name).unwrap_or_default();
        if old != new {
            out.push(Change {
                scope: scope.clone(),
                kind: ChangeKind::Value {
                    key: info.name,
                    old,
                    new,
                },
                reload: info.reload,
            });
        }
    }
}

fn find<'a>(servers: &'a [ServerConfig], name: &str) -> Option<&'a ServerConfig> {
    servers.iter().find(|server| server.name == name)
}

/// Compares the running configuration with a newly loaded one. Each changed key is classified
/// by its table (SPEC §2.2); a server's host or port and a removed server need a restart; an
/// added server and its other keys are live.
pub fn diff(running: &Config, new: &Config) -> ReloadPlan {
    let mut changes = Vec::new();
    value_changes(
        &Scope::Main,
        MAIN_KEYS,
        &running.main,
        &new.main,
        keys::main_value,
        &mut changes,
    );
    for old_server in &running.servers {
        let scope = Scope::Server(old_server.name.clone());
        match find(&new.servers, &old_server.name) {
            Some(new_server) => value_changes(
                &scope,
                SERVER_KEYS,
                old_server,
                new_server,
                keys::server_value,
                &mut changes,
            ),
            None => changes.push(Change {
                scope,
                kind: ChangeKind::ServerRemoved,
                reload: Reload::Restart,
            }),
        }
    }
    for new_server in &new.servers {
        if find(&running.servers, &new_server.name).is_none() {
            changes.push(Change {
                scope: Scope::Server(new_server.name.clone()),
                kind: ChangeKind::ServerAdded,
                reload: Reload::Live,
            });
        }
    }
    ReloadPlan { changes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::load_ini;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn config(main_extra: &str, servers: &str) -> Config {
        let text = format!(
            "[pgexporter]\nhost = *\nunix_socket_dir = /tmp\nmetrics = 5002\n{main_extra}\n{servers}"
        );
        load_ini(&text, "t.conf", &no_env).unwrap().config
    }

    const PRIMARY: &str = "[primary]\nhost = a\nport = 5432\nuser = u\n";

    #[test]
    fn equal_configs_have_an_empty_plan() {
        let plan = diff(&config("", PRIMARY), &config("", PRIMARY));
        assert!(plan.is_empty());
        assert!(!plan.requires_restart());
    }

    #[test]
    fn live_keys_reload() {
        let plan = diff(
            &config("", PRIMARY),
            &config("log_level = debug\nmetrics_query_timeout = 5s", PRIMARY),
        );
        assert_eq!(
            plan.changes,
            vec![
                Change {
                    scope: Scope::Main,
                    kind: ChangeKind::Value {
                        key: "metrics_query_timeout",
                        old: "0".into(),
                        new: "5s".into()
                    },
                    reload: Reload::Live,
                },
                Change {
                    scope: Scope::Main,
                    kind: ChangeKind::Value {
                        key: "log_level",
                        old: "info".into(),
                        new: "debug".into()
                    },
                    reload: Reload::Live,
                },
            ]
        );
        assert!(!plan.requires_restart());
    }

    #[test]
    fn restart_keys_are_refused() {
        let plan = diff(
            &config("", PRIMARY),
            &config("metrics_cache_max_size = 512K\nlog_level = warn", PRIMARY),
        );
        assert!(plan.requires_restart());
        let restart: Vec<_> = plan.restart_changes().collect();
        assert_eq!(restart.len(), 1);
        assert!(matches!(
            restart[0].kind,
            ChangeKind::Value {
                key: "metrics_cache_max_size",
                ..
            }
        ));
    }

    #[test]
    fn server_changes() {
        let running = config("", PRIMARY);
        let user_changed = config("", "[primary]\nhost = a\nport = 5432\nuser = v\n");
        assert!(!diff(&running, &user_changed).requires_restart());
        let port_changed = config("", "[primary]\nhost = a\nport = 5433\nuser = u\n");
        assert!(diff(&running, &port_changed).requires_restart());
        let host_changed = config("", "[primary]\nhost = b\nport = 5432\nuser = u\n");
        assert!(diff(&running, &host_changed).requires_restart());

        let added = config(
            "",
            &format!("{PRIMARY}[replica]\nhost = r\nport = 5432\nuser = u\n"),
        );
        let plan = diff(&running, &added);
        assert_eq!(
            plan.changes,
            vec![Change {
                scope: Scope::Server("replica".into()),
                kind: ChangeKind::ServerAdded,
                reload: Reload::Live
            }]
        );
        let plan = diff(&added, &running);
        assert_eq!(plan.changes[0].kind, ChangeKind::ServerRemoved);
        assert!(plan.requires_restart());
    }
}
