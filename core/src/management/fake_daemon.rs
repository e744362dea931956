//! A daemon for the management tests: a configuration, a file to reload, and a record of
//! what the dispatcher asked for, carried out the way the daemon does.

use crate::config::{Config, load_ini};

use super::dispatch::{
    ConfigPaths, Dispatched, Effect, ServerStatus, Snapshot, Transport, dispatch,
};
use super::document::Document;

/// A configuration with one server.
pub(crate) const CONFIG: &str = "[pgexporter]\nhost = *\nunix_socket_dir = /tmp\nmetrics = 5002\n\
                      [primary]\nhost = localhost\nport = 5432\nuser = pgexporter\n";

/// Records what the dispatcher asked of it; `file` is what reading the configuration gives.
pub(crate) struct FakeDaemon {
    pub(crate) config: Config,
    pub(crate) file: Result<String, String>,
    pub(crate) applied: Vec<Config>,
    pub(crate) shutdowns: usize,
    pub(crate) clears: usize,
    pub(crate) refuse_apply: bool,
    paths: ConfigPaths,
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
            paths: ConfigPaths {
                main: Some("/etc/pgexporter/pgexporter.conf".into()),
                users: Some("/etc/pgexporter/pgexporter_users.conf".into()),
                admins: None,
            },
        }
    }

    /// Dispatches `request` until it is answered, carrying out what it needs in between, and
    /// then its effect.
    pub(crate) fn answer(&mut self, request: &Document, transport: Transport) -> Document {
        let env = |name: &str| (name == "HOME").then(|| "/home/pg".to_owned());
        let mut file = None;
        let mut applied = None;
        let before = self.config.clone();
        loop {
            let snapshot = Snapshot {
                config: &before,
                servers: vec![ServerStatus {
                    name: "primary".into(),
                    active: false,
                    fips: false,
                }],
                fips: false,
                paths: &self.paths,
                env: &env,
                file: file.as_ref(),
                applied: applied.as_ref(),
            };
            match dispatch(&snapshot, request, transport) {
                Dispatched::Answer(answer, effect) => {
                    match effect {
                        Some(Effect::Shutdown) => self.shutdowns += 1,
                        Some(Effect::ClearPrometheus) => self.clears += 1,
                        None => {}
                    }
                    return answer;
                }
                Dispatched::NeedsFile => {
                    assert!(file.is_none(), "the file is read once");
                    file = Some(self.file.clone().map(|text| parse(&text)));
                }
                Dispatched::NeedsApply(config) => {
                    assert!(applied.is_none(), "a configuration is applied once");
                    applied = Some(if self.refuse_apply {
                        Err("a file of the new configuration cannot be read".to_owned())
                    } else {
                        self.config = (*config).clone();
                        self.applied.push(*config);
                        Ok(())
                    });
                }
            }
        }
    }
}

pub(crate) fn parse(text: &str) -> Config {
    load_ini(text, "pgexporter.conf", &|_| None).unwrap().config
}
