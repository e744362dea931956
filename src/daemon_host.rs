//! The daemon's host work ([`Host`]): reading its files again, building plans, its logging,
//! the service manager and the history databases.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use pgexporter_core::config::Config;
use pgexporter_core::daemon::{Host, HostResult, HostTask};
use pgexporter_core::management::ConfigPaths;
use pgexporter_core::management::handshake::AdminVerifiers;
use pgexporter_core::metrics::MetricSet;
use pgexporter_core::plan::{Plan, PlanInputs};
use pgexporter_core::vault::MasterKey;
use pgexporter_history_store::Stores;
use pgexporter_os::notify;

use crate::config_files;
use crate::logging::Logging;
use crate::metric_files::{self, Replacement};
use crate::plan_inputs;

/// What the daemon was started with that a reload reads again.
#[derive(Debug, Clone, Default)]
pub struct StartFiles {
    /// The main configuration file.
    pub config: PathBuf,
    /// The users file, when there is one.
    pub users: Option<PathBuf>,
    /// The admins file, when there is one.
    pub admins: Option<PathBuf>,
    /// `-Y`/`-J`: definitions that replace the built-in set.
    pub replacement: Option<Replacement>,
    /// `-C`: the collector allow-list that replaces the configuration's.
    pub collectors: Option<Vec<String>>,
    /// `-X`: the collector deny-list that replaces the configuration's.
    pub exclude_collectors: Option<Vec<String>>,
}

/// The running daemon's files and logging.
pub struct DaemonHost {
    files: StartFiles,
    master_key: Option<Arc<MasterKey>>,
    admins: Arc<AdminVerifiers>,
    logging: Logging,
    /// The metric set in use: a reload that reads equal definitions keeps it, so that the
    /// connections and their prepared statements stay.
    metrics: Mutex<Option<Arc<MetricSet>>>,
    /// The history databases (their paths need a restart to change).
    history: Stores,
}

impl DaemonHost {
    /// A host for a daemon started with `files` and `config`, the master key and the admins'
    /// verifiers (both read once, at start).
    pub fn new(
        files: StartFiles,
        config: &Config,
        master_key: Option<Arc<MasterKey>>,
        admins: AdminVerifiers,
        logging: Logging,
    ) -> Self {
        DaemonHost {
            files,
            master_key,
            admins: Arc::new(admins),
            logging,
            metrics: Mutex::new(None),
            history: Stores::new(
                Path::new(&config.main.history_path),
                Path::new(&config.main.bridge_history_path),
            ),
        }
    }

    /// Reads the configuration file with the command line's overrides; warnings are logged.
    ///
    /// # Errors
    /// A message naming file, line and key.
    pub fn read_config(files: &StartFiles) -> Result<Config, String> {
        let loaded = config_files::load(&files.config).map_err(|error| error.to_string())?;
        for warning in &loaded.warnings {
            tracing::warn!("{warning}");
        }
        let mut config = loaded.config;
        config
            .main
            .override_collectors(files.collectors.clone(), files.exclude_collectors.clone());
        Ok(config)
    }

    /// The plan of `config`: reads the users file, the metric files and the TLS files again.
    ///
    /// # Errors
    /// A message naming what cannot be read or is wrong.
    pub fn plan(&self, config: &Config) -> Result<Plan, String> {
        let passwords = plan_inputs::server_passwords(
            config,
            self.files.users.as_deref(),
            self.master_key.as_deref(),
        )?;
        let inputs = PlanInputs {
            passwords,
            metrics: self.metric_set(config)?,
            admins: Arc::clone(&self.admins),
            master_key: self.master_key.clone(),
        };
        let plan = Plan::new(config, inputs).map_err(|error| error.to_string())?;
        plan_inputs::check_tls_files(&plan)?;
        Ok(plan)
    }

    /// The files the daemon was started with, for `conf ls`.
    pub fn paths(&self) -> ConfigPaths {
        let show = |path: &Path| {
            std::path::absolute(path)
                .unwrap_or_else(|_| path.to_owned())
                .display()
                .to_string()
        };
        ConfigPaths {
            main: Some(show(&self.files.config)),
            users: self.files.users.as_deref().map(show),
            admins: self.files.admins.as_deref().map(show),
        }
    }

    /// The metric set for `config`, the one in use when the definitions read are the same.
    fn metric_set(&self, config: &Config) -> Result<Arc<MetricSet>, String> {
        let fresh = metric_files::load(self.files.replacement.as_ref(), &config.main)?;
        let mut current = self.metrics.lock().unwrap_or_else(PoisonError::into_inner);
        match current.as_ref() {
            Some(set) if **set == fresh => Ok(Arc::clone(set)),
            _ => {
                let set = Arc::new(fresh);
                *current = Some(Arc::clone(&set));
                Ok(set)
            }
        }
    }
}

impl Host for DaemonHost {
    fn run(&self, work: HostTask) -> HostResult {
        match work {
            HostTask::ReadConfig => {
                HostResult::Config(DaemonHost::read_config(&self.files).map(Box::new))
            }
            HostTask::BuildPlan(config) => {
                let plan = self.plan(&config);
                if plan.is_ok() {
                    self.logging.apply(&config.main);
                }
                HostResult::Plan(plan.map(Box::new))
            }
            HostTask::ReopenLogs => {
                if let Err(error) = self.logging.reopen() {
                    tracing::error!("cannot reopen the log file: {error}");
                }
                HostResult::Done
            }
            HostTask::Notify(notice) => {
                notify::send(notice);
                HostResult::Done
            }
            HostTask::History(task) => HostResult::History(self.history.run(task)),
        }
    }
}
