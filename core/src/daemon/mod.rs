//! The running daemon as one state machine: the collector and its connections, the bridge and
//! its connections, the jobs of accepted connections, management commands, reloads and signals.
//!
//! A runtime feeds the [`Daemon`] what happens ([`Daemon::handle_job`],
//! [`Daemon::handle_link`], [`Daemon::handle_host`], [`Daemon::handle_signal`],
//! [`Daemon::handle_timeout`]) and carries out each [`Action`] it queues, in order, without
//! deciding anything: open and drive outbound connections, hand answers to connections, run
//! [`HostTask`]s (file reading and the like, which the core cannot do) off the event loop, serve
//! new connections with a new [`Served`], stop accepting. After any call, drain
//! [`Daemon::poll_action`]; call [`Daemon::handle_timeout`] at [`Daemon::poll_timeout`].
//!
//! Changes of the running configuration (`conf set`, `conf reload`, SIGHUP) are made one at a
//! time, in the order they arrive, so each is decided on the configuration the one before left.

mod answers;
mod changes;
mod history;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bridge::Bridge;
use crate::config::Config;
use crate::history::{HistoryTask, Keeper, KeeperTicket, StoreError, StoreKind, StoreOutcome};
use crate::link::{ConnId, LinkAction, LinkEvent, LinkOwner};
use crate::management::{ConfigPaths, LoginThrottle, ServerStatus};
use crate::plan::{Plan, Served};
use crate::scrape::{Collector, ExporterCounters, LogCounters, Ticket};
use crate::serve::{Answer, Job, LatestBodies};

use answers::Waiting;

use changes::Change;

/// The collector's and the bridge's ticket of the scrapes the daemon starts for timed history
/// snapshots; no connection has it (runtimes number connections from zero, or by process id).
const HISTORY_TICKET: Ticket = Ticket(u64::MAX);

/// An accepted connection, numbered by the runtime; its answers go to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

/// A [`HostTask`] in flight, numbered by the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskId(u64);

/// Work for the host: what needs files, the environment or the service manager. The runtime
/// runs it off its event loop and reports with [`Daemon::handle_host`].
#[derive(Debug, Clone)]
pub enum HostTask {
    /// Read and parse the configuration file again, with the command line's overrides:
    /// [`HostResult::Config`].
    ReadConfig,
    /// Build the plan of this configuration (reading its users, metric and TLS files) and,
    /// when it can be built, apply its logging keys: [`HostResult::Plan`].
    BuildPlan(Box<Config>),
    /// Close and reopen the log file: [`HostResult::Done`].
    ReopenLogs,
    /// Tell the service manager: [`HostResult::Done`].
    Notify(Notice),
    /// Work on a history database: [`HostResult::History`].
    History(HistoryTask),
}

/// What carries out [`HostTask`]s: the binary, which owns the files, the logging and the
/// environment. Runtimes call it off their event loops; the core never calls it.
pub trait Host: Send + Sync {
    /// Carries out `work` (blocking) and says what it came to.
    fn run(&self, work: HostTask) -> HostResult;
}

/// What a [`HostTask`] came to.
#[derive(Clone)]
pub enum HostResult {
    /// The configuration file; the error names file, line and key.
    Config(Result<Box<Config>, String>),
    /// The plan; the error names the file or key at fault.
    Plan(Result<Box<Plan>, String>),
    /// Done, nothing to report.
    Done,
    /// What the history database work came to.
    History(Result<StoreOutcome, StoreError>),
}

/// A state the service manager is told about (`sd_notify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Serving (again, after a reload).
    Ready,
    /// Reloading the configuration.
    Reloading,
    /// Stopping.
    Stopping,
}

/// What a signal asks for (SPEC §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM, SIGINT, SIGALRM: graceful shutdown.
    Stop,
    /// SIGHUP: reload the configuration.
    Reload,
    /// SIGUSR1: reopen the log file.
    ReopenLogs,
}

/// Something the runtime must do.
#[derive(Clone)]
pub enum Action {
    /// Open, drive or close an outbound connection, reporting on it with
    /// [`Daemon::handle_link`].
    Link(LinkAction),
    /// Hand `answer` to the service of `peer` (drop it when the peer is gone).
    Answer {
        /// The connection.
        peer: PeerId,
        /// Its answer.
        answer: Answer,
    },
    /// Run `work` on the host and report with [`Daemon::handle_host`].
    Host {
        /// Names the result.
        task: TaskId,
        /// What to do.
        work: HostTask,
    },
    /// Serve connections accepted from now on with this.
    Serve(Arc<Served>),
    /// Stop accepting; let the connections in flight finish within `grace`; then call
    /// [`Daemon::terminate`], let the PostgreSQL connections close, and return.
    Shutdown {
        /// How long connections in flight may take.
        grace: Duration,
    },
}

/// Looks up an environment variable.
pub type EnvLookup = Box<dyn Fn(&str) -> Option<String> + Send>;

/// Reads the wall clock: seconds since the Unix epoch.
pub type WallClock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// What the daemon starts from.
pub struct DaemonSetup {
    /// The configuration loaded at start.
    pub config: Config,
    /// Its plan.
    pub plan: Plan,
    /// The files the daemon was started with, for `conf ls`.
    pub paths: ConfigPaths,
    /// How long a shutdown waits for connections in flight.
    pub shutdown_grace: Duration,
    /// Environment variables, for `$VAR` in `conf set` values.
    pub env: EnvLookup,
    /// The log lines written so far, by level.
    pub logs: Arc<dyn Fn() -> LogCounters + Send + Sync>,
    /// 18 random bytes for each new PostgreSQL connection's SCRAM nonce.
    pub random_nonce: Box<dyn FnMut() -> [u8; 18] + Send>,
    /// The wall clock, for the times of history snapshots and the windows of history queries.
    pub wall_clock: WallClock,
    /// When the daemon starts: the first timed history snapshot is due an interval later.
    pub started: Instant,
}

/// The running daemon; see the module documentation.
pub struct Daemon {
    config: Config,
    plan: Plan,
    collector: Collector,
    bridge: Bridge,
    /// What each connection waiting for the collector or the bridge asked for.
    waiting: HashMap<PeerId, Waiting>,
    /// The `/metrics` bodies answered with last, shared by the next answers from that result.
    latest_bodies: LatestBodies,
    paths: ConfigPaths,
    shutdown_grace: Duration,
    env: EnvLookup,
    logs: Arc<dyn Fn() -> LogCounters + Send + Sync>,
    changes: VecDeque<Change>,
    wall_clock: WallClock,
    /// Metric history, when the `history` port is set.
    history: Option<Keeper>,
    /// Bridge history, when the `bridge_history` port is set.
    bridge_history: Option<Keeper>,
    /// The history tasks in flight, with the database each is for.
    history_tasks: HashMap<TaskId, (StoreKind, KeeperTicket)>,
    next_task: u64,
    /// When refusals of remote logins are told, per source.
    logins: LoginThrottle,
    stopping: bool,
    actions: VecDeque<Action>,
}

impl Daemon {
    /// The daemon of `setup`. Its first actions serve the plan and tell the service manager it
    /// is ready: call once the listeners are bound.
    pub fn new(setup: DaemonSetup) -> Daemon {
        let plan = setup.plan;
        let keeper = |store, settings| Keeper::new(store, settings, setup.started);
        let history = plan
            .history
            .map(|settings| keeper(StoreKind::Metrics, settings));
        let bridge_history = plan
            .bridge_history
            .map(|settings| keeper(StoreKind::Bridge, settings));
        let collector = Collector::new(
            plan.servers.clone(),
            Arc::clone(&plan.metrics),
            plan.filter.clone(),
            plan.collector.clone(),
            setup.random_nonce,
        );
        let mut daemon = Daemon {
            config: setup.config,
            collector,
            bridge: Bridge::new(plan.bridge.clone()),
            waiting: HashMap::new(),
            latest_bodies: LatestBodies::default(),
            paths: setup.paths,
            shutdown_grace: setup.shutdown_grace,
            env: setup.env,
            logs: setup.logs,
            changes: VecDeque::new(),
            wall_clock: setup.wall_clock,
            history,
            bridge_history,
            history_tasks: HashMap::new(),
            next_task: 0,
            logins: LoginThrottle::default(),
            stopping: false,
            actions: VecDeque::new(),
            plan,
        };
        daemon.serve_plan();
        daemon.host(HostTask::Notify(Notice::Ready));
        daemon
    }

    /// The running configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A connection needs something.
    pub fn handle_job(&mut self, now: Instant, peer: PeerId, job: Job) {
        match job {
            Job::Management(request) => {
                self.changes.push_back(Change::request(peer, request));
                self.advance_changes();
            }
            Job::History(job) => self.history_job(now, peer, job),
            Job::LoginRefused { source } => {
                let delay = self.logins.refused(now, source);
                let answer = Answer::RefusalDelay(delay);
                self.actions.push_back(Action::Answer { peer, answer });
            }
            Job::Scrape(_) | Job::Probe(_) | Job::Bridge(_) | Job::Readiness => {
                self.collect(now, peer, job);
            }
        }
    }

    /// Something happened on an outbound connection.
    pub fn handle_link(&mut self, now: Instant, conn: ConnId, event: LinkEvent) {
        match conn.owner() {
            LinkOwner::Bridge => self.bridge.handle_link(now, conn, event),
            LinkOwner::Postgresql | LinkOwner::Prometheus => {
                self.collector.handle_link(now, conn, event);
            }
        }
        self.follow(now);
    }

    /// A host task finished.
    pub fn handle_host(&mut self, now: Instant, task: TaskId, result: HostResult) {
        if let HostResult::History(outcome) = result {
            self.history_done(now, task, outcome);
            return;
        }
        let Some(change) = self.changes.front_mut() else {
            return;
        };
        if !change.awaits(task) {
            return;
        }
        match result {
            HostResult::Config(file) => change.file_read(file.map(|config| *config)),
            HostResult::Plan(Ok(plan)) => {
                if let Some(config) = change.plan_built() {
                    self.install(now, *config, *plan);
                }
            }
            HostResult::Plan(Err(error)) => change.plan_failed(error),
            HostResult::Done | HostResult::History(_) => {}
        }
        self.advance_changes();
    }

    /// A signal arrived.
    pub fn handle_signal(&mut self, _now: Instant, signal: Signal) {
        match signal {
            Signal::Stop => self.begin_stop(),
            Signal::Reload => {
                self.host(HostTask::Notify(Notice::Reloading));
                self.changes.push_back(Change::signal());
                self.advance_changes();
            }
            Signal::ReopenLogs => {
                self.host(HostTask::ReopenLogs);
            }
        }
    }

    /// The instant from [`Daemon::poll_timeout`] has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.collector.handle_timeout(now);
        self.bridge.handle_timeout(now);
        self.follow(now);
        self.history_timeout(now);
    }

    /// When [`Daemon::handle_timeout`] wants to be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let history = self.history.as_ref().and_then(Keeper::poll_timeout);
        let bridge_history = self.bridge_history.as_ref().and_then(Keeper::poll_timeout);
        [
            self.collector.poll_timeout(),
            self.bridge.poll_timeout(),
            history,
            bridge_history,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// After [`Action::Shutdown`], once the connections in flight are done: ends every
    /// PostgreSQL connection politely (Terminate, then close), and every HTTP one.
    pub fn terminate(&mut self, now: Instant) {
        self.collector.shutdown(now);
        self.bridge.shutdown(now);
        self.waiting.clear();
        self.follow(now);
    }

    /// The next action, oldest first.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Queues `work` for the host.
    fn host(&mut self, work: HostTask) -> TaskId {
        let task = TaskId(self.next_task);
        self.next_task += 1;
        self.actions.push_back(Action::Host { task, work });
        task
    }

    fn serve_plan(&mut self) {
        let served = Arc::clone(&self.plan.served);
        self.actions.push_back(Action::Serve(served));
    }

    /// Makes `plan`, built from `config`, the running one.
    fn install(&mut self, now: Instant, config: Config, plan: Plan) {
        self.collector.reconfigure(now, plan.reconfiguration());
        self.bridge.reconfigure(now, plan.bridge.clone());
        if let (Some(keeper), Some(settings)) = (&mut self.history, plan.history) {
            keeper.reconfigure(settings);
        }
        if let (Some(keeper), Some(settings)) = (&mut self.bridge_history, plan.bridge_history) {
            keeper.reconfigure(settings);
        }
        self.config = config;
        self.plan = plan;
        self.serve_plan();
        self.follow(now);
    }

    fn begin_stop(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        tracing::info!("shutting down");
        self.host(HostTask::Notify(Notice::Stopping));
        self.actions.push_back(Action::Shutdown {
            grace: self.shutdown_grace,
        });
    }

    /// The exporter's own counts of this moment, rendered with a scrape.
    fn counters(&self) -> ExporterCounters {
        ExporterCounters {
            logs: (self.logs)(),
            history: self.history.as_ref().map(Keeper::counters),
        }
    }

    /// The state of every configured server, for `status`.
    fn server_statuses(&self) -> Vec<ServerStatus> {
        let active: HashMap<&str, bool> = self
            .collector
            .servers()
            .iter()
            .zip(self.collector.activity())
            .map(|(server, active)| (server.name.as_str(), *active))
            .collect();
        self.config
            .servers
            .iter()
            .map(|server| ServerStatus {
                name: server.name.clone(),
                active: active.get(server.name.as_str()).copied().unwrap_or(false),
                // The TLS library in use has no FIPS mode.
                fips: false,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
