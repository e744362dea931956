//! The daemon's side of history: snapshots after scrapes and bridge scrapes and on the
//! keepers' timers, the keepers' storage work as host tasks, and the history ports' jobs.

use std::sync::Arc;
use std::time::Instant;

use super::{Action, Daemon, HISTORY_TICKET, HostTask, PeerId, TaskId};
use crate::bridge::BridgeResult;
use crate::history::{HistoryAnswer, HistoryJob, Keeper, StoreError, StoreKind, StoreOutcome};
use crate::scrape::ScrapeResult;
use crate::serve::Answer;

impl Daemon {
    /// The keeper of `store`, when that history is on.
    fn keeper(&mut self, store: StoreKind) -> Option<&mut Keeper> {
        match store {
            StoreKind::Metrics => self.history.as_mut(),
            StoreKind::Bridge => self.bridge_history.as_mut(),
        }
    }

    /// A piece of a history answer is asked for.
    pub(super) fn history_job(&mut self, now: Instant, peer: PeerId, job: HistoryJob) {
        let wall = (self.wall_clock)();
        match self.keeper(job.store) {
            Some(keeper) => keeper.job(now, wall, peer, job),
            None => self.actions.push_back(Action::Answer {
                peer,
                answer: Answer::History(HistoryAnswer::Failed),
            }),
        }
        self.follow_history();
    }

    /// A history task came back from the host.
    pub(super) fn history_done(
        &mut self,
        now: Instant,
        task: TaskId,
        outcome: Result<StoreOutcome, StoreError>,
    ) {
        let wall = (self.wall_clock)();
        if let Some((store, ticket)) = self.history_tasks.remove(&task)
            && let Some(keeper) = self.keeper(store)
        {
            keeper.handle(now, wall, ticket, outcome);
        }
        self.follow_history();
    }

    /// A scrape finished: its snapshot.
    pub(super) fn history_snapshot(&mut self, now: Instant, result: &Arc<ScrapeResult>) {
        if self.history.is_none() {
            return;
        }
        let wall = (self.wall_clock)();
        let counters = self.counters();
        if let Some(keeper) = &mut self.history {
            keeper.scrape_finished(now, wall, result, counters);
        }
        self.follow_history();
    }

    /// A bridge scrape finished: its snapshot.
    pub(super) fn bridge_history_snapshot(&mut self, now: Instant, result: &Arc<BridgeResult>) {
        let wall = (self.wall_clock)();
        if let Some(keeper) = &mut self.bridge_history {
            keeper.bridge_finished(now, wall, result);
            self.follow_history();
        }
    }

    /// The time passed: a prune, or a scrape for a timed snapshot, may be due.
    pub(super) fn history_timeout(&mut self, now: Instant) {
        let wall = (self.wall_clock)();
        if let Some(keeper) = &mut self.history {
            keeper.handle_timeout(now, wall);
            if keeper.wants_scrape(now) {
                if let Some(cached) = self.collector.request(now, HISTORY_TICKET, None) {
                    self.history_snapshot(now, &cached);
                }
                self.follow(now);
            }
        }
        if let Some(keeper) = &mut self.bridge_history {
            keeper.handle_timeout(now, wall);
            if keeper.wants_scrape(now) {
                if let Some(cached) = self.bridge.request(now, HISTORY_TICKET, None) {
                    self.bridge_history_snapshot(now, &cached);
                }
                self.follow(now);
            }
        }
        self.follow_history();
    }

    /// Moves the keepers' work into host tasks and their answers into actions.
    fn follow_history(&mut self) {
        let mut work = Vec::new();
        for keeper in [&mut self.history, &mut self.bridge_history]
            .into_iter()
            .flatten()
        {
            while let Some((ticket, task)) = keeper.poll_work() {
                work.push((task.store, ticket, task));
            }
            while let Some((peer, answer)) = keeper.poll_answer() {
                self.actions.push_back(Action::Answer {
                    peer,
                    answer: Answer::History(answer),
                });
            }
        }
        for (store, ticket, task) in work {
            let id = self.host(HostTask::History(task));
            self.history_tasks.insert(id, (store, ticket));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::super::tests::{actions, daemon_of};
    use super::*;
    use crate::daemon::HostResult;
    use crate::history::{HistoryTask, PageStart, StoreTask, StoredRow};
    use crate::link::LinkAction;
    use crate::serve::Job;

    const CONFIG: &str = "[pgexporter]\nhost = *\nunix_socket_dir = /tmp\nmetrics = 5002\n\
                          history = 5004\nhistory_interval = 30s\nhistory_retention = 1h\n\
                          [primary]\nhost = h\nport = 1\nuser = u\n";

    fn host_tasks(actions: &[Action]) -> Vec<(TaskId, StoreTask)> {
        actions
            .iter()
            .filter_map(|action| match action {
                Action::Host {
                    task,
                    work: HostTask::History(work),
                } => Some((*task, work.task.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn queries_become_host_tasks_and_their_pages_answers() {
        let now = crate::test_clock::origin();
        let mut daemon = daemon_of(CONFIG, now, Arc::new(|| 1_000_000));
        actions(&mut daemon);
        assert_eq!(daemon.poll_timeout(), Some(now), "a prune at start");
        daemon.handle_timeout(now);
        let prune = host_tasks(&actions(&mut daemon));
        assert!(matches!(
            prune.as_slice(),
            [(
                _,
                StoreTask::Prune {
                    before: 996_400,
                    ..
                }
            )]
        ));
        let job = HistoryJob {
            store: StoreKind::Metrics,
            metric: "up".into(),
            start: PageStart::First {
                timestamp: None,
                duration: -60,
            },
        };
        daemon.handle_job(now, PeerId(9), Job::History(job));
        let query = host_tasks(&actions(&mut daemon));
        let [(task, StoreTask::Query(query))] = query.as_slice() else {
            panic!("one query: {query:?}");
        };
        assert_eq!((query.window.from, query.window.to), (999_940, 1_000_000));
        let row = StoredRow {
            timestamp: 999_950,
            series: 1,
            server: "primary".into(),
            labels: String::new(),
            value: 1.0,
        };
        daemon.handle_host(
            now,
            *task,
            HostResult::History(Ok(StoreOutcome::Page(vec![row]))),
        );
        let answers = actions(&mut daemon);
        assert!(matches!(
            answers.as_slice(),
            [Action::Answer {
                peer: PeerId(9),
                answer: Answer::History(HistoryAnswer::Piece { next: None, .. })
            }]
        ));
    }

    #[test]
    fn the_bridge_history_port_reads_the_bridge_store() {
        let config = "[pgexporter]\nhost = *\nunix_socket_dir = /tmp\nbridge = 5010\n\
                      bridge_endpoints = e:1\nbridge_history = 5011\n\
                      bridge_history_interval = 0\nbridge_history_retention = 0\n";
        let now = crate::test_clock::origin();
        let mut daemon = daemon_of(config, now, Arc::new(|| 1_000_000));
        actions(&mut daemon);
        let job = HistoryJob {
            store: StoreKind::Bridge,
            metric: "up".into(),
            start: PageStart::First {
                timestamp: None,
                duration: -60,
            },
        };
        daemon.handle_job(now, PeerId(3), Job::History(job.clone()));
        let queued = actions(&mut daemon);
        assert!(
            matches!(
                queued.as_slice(),
                [Action::Host {
                    work: HostTask::History(HistoryTask {
                        store: StoreKind::Bridge,
                        task: StoreTask::Query(_),
                    }),
                    ..
                }]
            ),
            "one query of the bridge store"
        );
        daemon.handle_job(
            now,
            PeerId(4),
            Job::History(HistoryJob {
                store: StoreKind::Metrics,
                ..job
            }),
        );
        assert!(
            matches!(
                actions(&mut daemon).as_slice(),
                [Action::Answer {
                    peer: PeerId(4),
                    answer: Answer::History(HistoryAnswer::Failed),
                }]
            ),
            "no metric history without the history port"
        );
    }

    #[test]
    fn a_timed_snapshot_starts_a_scrape() {
        let now = crate::test_clock::origin();
        let mut daemon = daemon_of(CONFIG, now, Arc::new(|| 1_000_000));
        actions(&mut daemon);
        daemon.handle_timeout(now);
        actions(&mut daemon);
        let due = now + Duration::from_secs(30);
        assert_eq!(daemon.poll_timeout(), Some(due));
        daemon.handle_timeout(due);
        let started = actions(&mut daemon);
        assert!(
            started
                .iter()
                .any(|action| matches!(action, Action::Link(LinkAction::Connect { .. }))),
            "the scrape connects to the server"
        );
    }
}
