//! The daemon's side of metric history: snapshots after scrapes and on the keeper's timer,
//! the keeper's storage work as host tasks, and the history port's jobs.

use std::sync::Arc;
use std::time::Instant;

use super::{Action, Daemon, HISTORY_TICKET, HostTask, PeerId, TaskId};
use crate::history::{HistoryAnswer, HistoryJob, StoreError, StoreOutcome};
use crate::scrape::ScrapeResult;
use crate::serve::Answer;

impl Daemon {
    /// A piece of a history answer is asked for.
    pub(super) fn history_job(&mut self, now: Instant, peer: PeerId, job: HistoryJob) {
        let wall = (self.wall_clock)();
        match &mut self.history {
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
        if let (Some(ticket), Some(keeper)) = (self.history_tasks.remove(&task), &mut self.history)
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

    /// The time passed: a prune, or a scrape for a timed snapshot, may be due.
    pub(super) fn history_timeout(&mut self, now: Instant) {
        let wall = (self.wall_clock)();
        let Some(keeper) = &mut self.history else {
            return;
        };
        keeper.handle_timeout(now, wall);
        if keeper.wants_scrape(now) {
            if let Some(cached) = self.collector.request(now, HISTORY_TICKET, None) {
                self.history_snapshot(now, &cached);
            }
            self.follow_collector(now);
        }
        self.follow_history();
    }

    /// Moves the keeper's work into host tasks and its answers into actions.
    fn follow_history(&mut self) {
        let Some(keeper) = &mut self.history else {
            return;
        };
        let mut work = Vec::new();
        while let Some(item) = keeper.poll_work() {
            work.push(item);
        }
        while let Some((peer, answer)) = keeper.poll_answer() {
            self.actions.push_back(Action::Answer {
                peer,
                answer: Answer::History(answer),
            });
        }
        for (ticket, task) in work {
            let id = self.host(HostTask::History(task));
            self.history_tasks.insert(id, ticket);
        }
    }
}
