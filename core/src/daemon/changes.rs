//! Management requests and reloads: decided by the dispatcher on a snapshot of the daemon,
//! one at a time, with the host reading and building what they need in between.

use crate::config::Config;
use crate::management::{Dispatched, Effect, ReloadStep, Request, Snapshot, dispatch, reload};
use crate::serve::Answer;

use super::{Daemon, HostTask, Notice, PeerId, TaskId};

/// Who asked for a change.
enum Origin {
    /// A management connection; it gets the answer.
    Peer { peer: PeerId, request: Request },
    /// SIGHUP; the outcome is logged.
    Signal,
}

/// A management request or reload in progress, with the outcomes of what it needed so far.
pub(super) struct Change {
    origin: Origin,
    file: Option<Result<Config, String>>,
    applied: Option<Result<(), String>>,
    /// The running configuration when the change first needed something: it is decided on
    /// that one throughout, also after it applied its own.
    base: Option<Box<Config>>,
    /// The host task it waits for, and the configuration being built.
    waiting: Option<(TaskId, Option<Box<Config>>)>,
}

impl Change {
    /// A management request from `peer`.
    pub(super) fn request(peer: PeerId, request: Request) -> Change {
        Change::new(Origin::Peer { peer, request })
    }

    /// SIGHUP's reload.
    pub(super) fn signal() -> Change {
        Change::new(Origin::Signal)
    }

    fn new(origin: Origin) -> Change {
        Change {
            origin,
            file: None,
            applied: None,
            base: None,
            waiting: None,
        }
    }

    /// Whether the change waits for `task`.
    pub(super) fn awaits(&self, task: TaskId) -> bool {
        matches!(self.waiting, Some((waited, _)) if waited == task)
    }

    /// The configuration file was read (or not).
    pub(super) fn file_read(&mut self, file: Result<Config, String>) {
        if let Err(error) = &file {
            tracing::error!("the configuration cannot be reloaded: {error}");
        }
        self.waiting = None;
        self.file = Some(file);
    }

    /// The plan was built: returns the configuration it was built from, which the daemon
    /// installs with it.
    pub(super) fn plan_built(&mut self) -> Option<Box<Config>> {
        self.applied = Some(Ok(()));
        self.waiting.take().and_then(|(_, config)| config)
    }

    /// The plan could not be built: the running configuration stays.
    pub(super) fn plan_failed(&mut self, error: String) {
        tracing::error!("the new configuration cannot be applied: {error}");
        self.waiting = None;
        self.applied = Some(Err(error));
    }
}

/// Where the change at the front stands.
enum Next {
    File,
    Apply(Box<Config>),
    Answered {
        peer: PeerId,
        answer: Box<crate::management::Document>,
        effect: Option<Effect>,
    },
    Reloaded(crate::management::ReloadOutcome),
}

impl Daemon {
    /// Decides the changes in arrival order until one waits for the host.
    pub(super) fn advance_changes(&mut self) {
        loop {
            let Some(change) = self.changes.front() else {
                return;
            };
            if change.waiting.is_some() {
                return;
            }
            let config = change.base.as_deref().unwrap_or(&self.config);
            let next = match &change.origin {
                Origin::Peer { peer, request } => {
                    let snapshot = Snapshot {
                        config,
                        servers: self.server_statuses(),
                        fips: false,
                        paths: &self.paths,
                        env: &*self.env,
                        file: change.file.as_ref(),
                        applied: change.applied.as_ref(),
                    };
                    match dispatch(&snapshot, &request.document, request.transport) {
                        Dispatched::Answer(answer, effect) => Next::Answered {
                            peer: *peer,
                            answer: Box::new(answer),
                            effect,
                        },
                        Dispatched::NeedsFile => Next::File,
                        Dispatched::NeedsApply(config) => Next::Apply(config),
                    }
                }
                Origin::Signal => {
                    match reload(config, change.file.as_ref(), change.applied.as_ref()) {
                        ReloadStep::NeedsFile => Next::File,
                        ReloadStep::NeedsApply(config) => Next::Apply(config),
                        ReloadStep::Done(outcome) => Next::Reloaded(outcome),
                    }
                }
            };
            match next {
                Next::File => {
                    let task = self.host(HostTask::ReadConfig);
                    self.wait_front(task, None);
                    return;
                }
                Next::Apply(config) => {
                    let task = self.host(HostTask::BuildPlan(config.clone()));
                    self.wait_front(task, Some(config));
                    return;
                }
                Next::Answered {
                    peer,
                    answer,
                    effect,
                } => {
                    self.changes.pop_front();
                    self.actions.push_back(super::Action::Answer {
                        peer,
                        answer: Answer::Management(*answer),
                    });
                    match effect {
                        Some(Effect::Shutdown) => {
                            tracing::info!("shutdown requested over management");
                            self.begin_stop();
                        }
                        Some(Effect::ClearPrometheus) => self.collector.reset_counters(),
                        None => {}
                    }
                }
                Next::Reloaded(outcome) => {
                    self.changes.pop_front();
                    if outcome.is_success() {
                        tracing::info!("SIGHUP: {}", outcome.message);
                    } else {
                        tracing::warn!(
                            "SIGHUP: {}; the running configuration stays",
                            outcome.message
                        );
                    }
                    self.host(HostTask::Notify(Notice::Ready));
                }
            }
        }
    }

    fn wait_front(&mut self, task: TaskId, config: Option<Box<Config>>) {
        let running = &self.config;
        if let Some(change) = self.changes.front_mut() {
            change.base.get_or_insert_with(|| Box::new(running.clone()));
            change.waiting = Some((task, config));
        }
    }
}
