//! The daemon's side of [`Host`]: reading its files again on a reload, and its logging.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pgexporter_core::config::{Config, MainConfig};
use pgexporter_core::management::ConfigPaths;
use pgexporter_core::metrics::MetricSet;
use pgexporter_core::scrape::LogCounters;
use pgexporter_core::vault::MasterKey;
use pgexporter_net::control::{Host, LivePlan};

use crate::config_files;
use crate::logging::Logging;
use crate::metric_files::{self, Replacement};
use crate::serve_plan;

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

/// The running daemon's files and logging, for the runtime.
pub struct DaemonHost {
    files: StartFiles,
    master_key: Option<Arc<MasterKey>>,
    logging: Logging,
    /// The metric set in use: a reload that reads equal definitions keeps it, so that the
    /// connections and their prepared statements stay.
    metrics: Mutex<Option<Arc<MetricSet>>>,
}

impl DaemonHost {
    /// A host for a daemon started with `files`.
    pub fn new(files: StartFiles, master_key: Option<Arc<MasterKey>>, logging: Logging) -> Self {
        DaemonHost {
            files,
            master_key,
            logging,
            metrics: Mutex::new(None),
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

    /// The metric set for `config`, the one in use when the definitions read are the same.
    fn metric_set(&self, config: &Config) -> Result<Arc<MetricSet>, String> {
        let fresh = metric_files::load(self.files.replacement.as_ref(), &config.main)?;
        let mut current = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
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
    fn load_config(&self) -> Result<Config, String> {
        DaemonHost::read_config(&self.files)
    }

    fn live_plan(&self, config: &Config) -> Result<LivePlan, String> {
        let passwords = serve_plan::server_passwords(
            config,
            self.files.users.as_deref(),
            self.master_key.as_deref(),
        )?;
        let metrics = self.metric_set(config)?;
        serve_plan::live_plan(config, &passwords, metrics)
    }

    fn apply_logging(&self, main: &MainConfig) {
        self.logging.apply(main);
    }

    fn reopen_logs(&self) {
        if let Err(error) = self.logging.reopen() {
            tracing::error!("cannot reopen the log file: {error}");
        }
    }

    fn log_counters(&self) -> LogCounters {
        (self.logging.source())()
    }

    fn paths(&self) -> ConfigPaths {
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
}
