//! The running daemon's configuration and what management commands and signals do to it,
//! shared by every runtime.
//!
//! A runtime owns one [`Control`] and implements [`Effects`]: how to read the state of its
//! collector and how to hand it a new configuration, clear it or stop. Everything else — which
//! command does what, whether a change can be applied live, what a reload refuses — is the
//! core's [`dispatch`](pgexporter_core::management::dispatch), reached through
//! [`Control::answer`] (a management request) and [`Control::reload`] (SIGHUP).

use std::sync::Arc;
use std::time::Duration;

use pgexporter_core::config::{Config, MainConfig};
use pgexporter_core::http::HttpConfig;
use pgexporter_core::management::{
    CloseReason, Command, ConfigPaths, Context, Document, Header, Object, Output, SealRandom,
    ServerStatus, Session, Transport, dispatch,
};
use pgexporter_core::metrics::{CollectorFilter, MetricSet};
use pgexporter_core::scrape::{CollectorSettings, LogCounters, Reconfiguration, ServerSpec};
use pgexporter_core::vault::MasterKey;
use rustls::ServerConfig;

use crate::random;
use crate::serve::PgEndpoint;

/// Everything a reload may change while the daemon runs, built from one configuration.
#[derive(Clone)]
pub struct LivePlan {
    /// The servers, in configuration order.
    pub servers: Vec<ServerSpec>,
    /// Where each server of `servers` is, same order.
    pub endpoints: Vec<PgEndpoint>,
    /// The metric definitions.
    pub metrics: Arc<MetricSet>,
    /// Which collectors run.
    pub filter: CollectorFilter,
    /// Timeouts and cache of the collector.
    pub collector: CollectorSettings,
    /// Limits and timeouts of HTTP connections.
    pub http: HttpConfig,
    /// `authentication_timeout`: how long a management client may take to send its request.
    pub management_timeout: Duration,
    /// TLS of remote management (`tls = on` with `tls_cert_file`, `tls_key_file`, and client
    /// certificates checked against `tls_ca_file` when set); `None` answers `N` to SSLRequest.
    pub management_tls: Option<Arc<ServerConfig>>,
}

impl LivePlan {
    /// The parts the collector takes.
    pub fn reconfiguration(&self) -> Reconfiguration {
        Reconfiguration {
            servers: self.servers.clone(),
            metrics: Arc::clone(&self.metrics),
            filter: self.filter.clone(),
            settings: self.collector.clone(),
        }
    }
}

/// What the daemon's files and logging give a runtime while it runs. Implemented by the
/// `pgexporter` binary, which owns the files.
pub trait Host: Send + Sync {
    /// Reads the configuration file again, with the command line's overrides; the error names
    /// file, line and key.
    fn load_config(&self) -> Result<Config, String>;
    /// The live plan for `config`: reads the metric files, the users file and the TLS files
    /// again. The error names what cannot be read.
    fn live_plan(&self, config: &Config) -> Result<LivePlan, String>;
    /// Applies the live logging keys of `main` (level, prefix, rotation, mode).
    fn apply_logging(&self, main: &MainConfig);
    /// Closes and reopens the log file (SIGUSR1).
    fn reopen_logs(&self);
    /// The log lines written so far, by level.
    fn log_counters(&self) -> LogCounters;
    /// The files the daemon was started with, for `conf ls`.
    fn paths(&self) -> ConfigPaths;
}

/// What a runtime does for a management command; each method only starts the action.
pub trait Effects {
    /// Whether the last finished scrape reached each server, in configuration order.
    fn activity(&self) -> Vec<bool>;
    /// Makes `plan` the running one: the collector, HTTP and management listeners take it.
    fn apply(&mut self, plan: LivePlan);
    /// Starts a graceful shutdown, after the answer in hand is sent.
    fn shutdown(&mut self);
    /// Resets the query counters and forgets the cached `/metrics` body.
    fn clear_prometheus(&mut self);
}

/// The running configuration and the means to change it.
pub struct Control {
    config: Config,
    host: Arc<dyn Host>,
    master_key: Option<Arc<MasterKey>>,
}

impl Control {
    /// The control of a daemon started with `config`. `master_key` opens and seals encrypted
    /// management frames (`None` when the daemon has no master key file).
    pub fn new(config: Config, host: Arc<dyn Host>, master_key: Option<Arc<MasterKey>>) -> Self {
        Control {
            config,
            host,
            master_key,
        }
    }

    /// The running configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Answers the request of `session` after its
    /// [`SessionEvent::Request`](pgexporter_core::management::SessionEvent::Request), carrying
    /// out what it asks through `effects`.
    pub fn answer(&mut self, session: &mut Session<'_>, effects: &mut dyn Effects) {
        let master_key = self.master_key.clone();
        let mut context = DaemonContext {
            control: self,
            effects,
        };
        session.answer(
            crate::clock::now(),
            &mut context,
            &local_timestamp(),
            master_key.as_deref(),
            seal_random(),
        );
    }

    /// SIGHUP: reloads the configuration file as `conf reload` on the local socket does, and
    /// logs the outcome. A broken file or a change that needs a restart keeps the running
    /// configuration.
    pub fn reload(&mut self, effects: &mut dyn Effects) {
        let timestamp = local_timestamp();
        let request = Document::request(
            Header::new(Command::ConfReload, Output::Json, timestamp.clone()),
            Object::new(),
        );
        let mut context = DaemonContext {
            control: self,
            effects,
        };
        let answer = dispatch(
            &mut context,
            &request,
            Transport::Local,
            &timestamp,
            Duration::ZERO,
        );
        let message = answer
            .response
            .as_ref()
            .and_then(|response| response.get("message"))
            .and_then(|message| message.as_str())
            .unwrap_or("the configuration was not reloaded");
        if answer
            .outcome
            .as_ref()
            .is_some_and(|outcome| outcome.is_success())
        {
            tracing::info!("SIGHUP: {message}");
        } else {
            tracing::warn!("SIGHUP: {message}; the running configuration stays");
        }
    }

    /// Makes `config` the running configuration, as an accepted `conf set` or `conf reload`
    /// does: builds its live plan (reading the metric, users and TLS files again), applies its
    /// logging keys and hands the plan to `effects`. For a runtime whose management commands run
    /// in another process, which passes the configuration they accepted here.
    ///
    /// # Errors
    /// What cannot be read to build the plan; the running configuration stays.
    pub fn apply(&mut self, config: Config, effects: &mut dyn Effects) -> Result<(), String> {
        let plan = self.host.live_plan(&config).inspect_err(|error| {
            tracing::error!("the new configuration cannot be applied: {error}");
        })?;
        self.host.apply_logging(&config.main);
        effects.apply(plan);
        self.config = config;
        Ok(())
    }

    /// The log lines written so far.
    pub fn log_counters(&self) -> LogCounters {
        self.host.log_counters()
    }

    /// SIGUSR1: reopens the log file.
    pub fn reopen_logs(&self) {
        self.host.reopen_logs();
    }
}

/// The core's view of the daemon while one command runs.
struct DaemonContext<'a> {
    control: &'a mut Control,
    effects: &'a mut dyn Effects,
}

impl Context for DaemonContext<'_> {
    fn config(&self) -> &Config {
        &self.control.config
    }

    fn servers(&self) -> Vec<ServerStatus> {
        let activity = self.effects.activity();
        self.control
            .config
            .servers
            .iter()
            .enumerate()
            .map(|(index, server)| ServerStatus {
                name: server.name.clone(),
                active: activity.get(index).copied().unwrap_or(false),
                // The TLS library in use has no FIPS mode.
                fips: false,
            })
            .collect()
    }

    fn fips(&self) -> bool {
        false
    }

    fn paths(&self) -> ConfigPaths {
        self.control.host.paths()
    }

    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn load_config(&mut self) -> Result<Config, String> {
        self.control.host.load_config().inspect_err(|error| {
            tracing::error!("the configuration cannot be reloaded: {error}");
        })
    }

    fn apply_config(&mut self, config: Config) -> Result<(), String> {
        self.control.apply(config, self.effects)
    }

    fn shutdown(&mut self) {
        tracing::info!("shutdown requested over management");
        self.effects.shutdown();
    }

    fn clear_prometheus(&mut self) {
        self.effects.clear_prometheus();
    }
}

/// Logs how a management connection ended: refused logins as warnings, the rest for debugging.
pub fn log_session_end(reason: &CloseReason) {
    match reason {
        CloseReason::Answered => tracing::debug!("management request answered"),
        CloseReason::Refused(_) | CloseReason::Handshake(_) | CloseReason::BadFrame(_) => {
            tracing::warn!("management connection: {reason}");
        }
        _ => tracing::debug!("management connection: {reason}"),
    }
}

/// The local time as `YYYYMMDDHHMMSS`, as management documents carry it.
pub fn local_timestamp() -> String {
    chrono::Local::now().format("%Y%m%d%H%M%S").to_string()
}

/// Fresh random salt and IV for sealing an encrypted answer.
pub fn seal_random() -> SealRandom {
    SealRandom {
        salt: random::bytes(),
        iv: random::bytes(),
    }
}
