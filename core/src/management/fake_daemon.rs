//! A daemon for the management tests: a configuration, a file to reload, and a record of
//! the actions asked for.

use crate::config::{Config, load_ini};

use super::dispatch::{ConfigPaths, Context, ServerStatus};

/// A configuration with one server.
pub(crate) const CONFIG: &str = "[pgexporter]\nhost = *\nunix_socket_dir = /tmp\nmetrics = 5002\n\
                      [primary]\nhost = localhost\nport = 5432\nuser = pgexporter\n";

/// Records what the dispatcher asked of it; `file` is what `load_config` reads.
pub(crate) struct FakeDaemon {
    pub(crate) config: Config,
    pub(crate) file: Result<String, String>,
    pub(crate) applied: Vec<Config>,
    pub(crate) shutdowns: usize,
    pub(crate) clears: usize,
    pub(crate) refuse_apply: bool,
}

impl FakeDaemon {
    pub(crate) fn new() -> FakeDaemon {
        FakeDaemon {
            config: parse(CONFIG),
            file: Ok(CONFIG.to_owned()),
            applied: Vec::new(),
            shutdowns: 0,
            clears: 0,
            refuse_apply: false,
        }
    }
}

pub(crate) fn parse(text: &str) -> Config {
    load_ini(text, "pgexporter.conf", &|_| None).unwrap().config
}

impl Context for FakeDaemon {
    fn config(&self) -> &Config {
        &self.config
    }
    fn servers(&self) -> Vec<ServerStatus> {
        vec![ServerStatus {
            name: "primary".into(),
            active: false,
            fips: false,
        }]
    }
    fn fips(&self) -> bool {
        false
    }
    fn paths(&self) -> ConfigPaths {
        ConfigPaths {
            main: Some("/etc/pgexporter/pgexporter.conf".into()),
            users: Some("/etc/pgexporter/pgexporter_users.conf".into()),
            admins: None,
        }
    }
    fn env(&self, name: &str) -> Option<String> {
        (name == "HOME").then(|| "/home/pg".to_owned())
    }
    fn load_config(&mut self) -> Result<Config, String> {
        self.file.clone().map(|text| parse(&text))
    }
    fn apply_config(&mut self, config: Config) -> Result<(), String> {
        if self.refuse_apply {
            return Err("a file of the new configuration cannot be read".to_owned());
        }
        self.config = config.clone();
        self.applied.push(config);
        Ok(())
    }
    fn shutdown(&mut self) {
        self.shutdowns += 1;
    }
    fn clear_prometheus(&mut self) {
        self.clears += 1;
    }
}
