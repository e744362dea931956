//! The [`Keeper`] of one history database: when snapshots are taken and written, when the
//! database is pruned, the API's queries, and what a failing database does.
//!
//! Work on the database goes to the host one [`HistoryTask`] at a time on the write side
//! (a snapshot, then a prune batch), so writes never overlap and a slow database delays
//! snapshots instead of piling them up: at most [`MAX_PENDING_SNAPSHOTS`] wait, and older ones
//! are dropped and counted as failures. Queries run beside the writes, at most
//! [`MAX_RUNNING_QUERIES`] at once, with [`MAX_WAITING_QUERIES`] more waiting; beyond that a
//! request gets 503. A failure is logged when the database's state changes (it starts
//! failing, fails differently, or works again), not at every snapshot.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::api::{AnswerPiece, Cursor, Window};
use super::{
    HistoryCounters, HistorySettings, HistoryTask, PAGE_ROWS, PRUNE_BATCH_ROWS, PageQuery,
    Snapshot, SnapshotBody, StoreError, StoreErrorKind, StoreKind, StoreOutcome, StoreTask,
};
use crate::bridge::BridgeResult;
use crate::daemon::PeerId;
use crate::scrape::{ExporterCounters, ScrapeResult};

/// Most snapshots waiting while one is written.
pub const MAX_PENDING_SNAPSHOTS: usize = 2;

/// Most queries the host runs at once for one database.
pub const MAX_RUNNING_QUERIES: usize = 2;

/// Most queries waiting for one of those; more are answered 503.
pub const MAX_WAITING_QUERIES: usize = 32;

/// The size at which a piece of a JSON answer is sent and the next page asked for. A row is
/// at most a few times [`MAX_LABELS_BYTES`](super::samples::MAX_LABELS_BYTES), so a piece
/// stays well under 256 KiB.
pub const PIECE_BYTES: usize = 128 * 1024;

/// Longest time between two prunes.
const MAX_PRUNE_PERIOD: Duration = Duration::from_secs(600);

/// What a connection of the history port asks the daemon for: the next piece of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryJob {
    /// The database asked: the port's.
    pub store: StoreKind,
    /// The sample name.
    pub metric: String,
    /// Where the piece starts.
    pub start: PageStart,
}

/// Where a piece of an answer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageStart {
    /// At the beginning of the request's window; `timestamp` `None` is now.
    First {
        /// The `timestamp` parameter.
        timestamp: Option<i64>,
        /// The `duration` parameter.
        duration: i64,
    },
    /// After the row the cursor names.
    After(Cursor),
}

/// The daemon's answer to a [`HistoryJob`].
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryAnswer {
    /// A piece of the JSON body (200); the next one starts at `next`, if any.
    Piece {
        /// The bytes.
        body: Bytes,
        /// Where the rest starts; `None`: the body is complete.
        next: Option<Cursor>,
    },
    /// The database cannot be read (500).
    Failed,
    /// Too many queries wait already (503).
    Busy,
}

/// What a task handed to the host was for: give it back with its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeeperTicket {
    /// A snapshot.
    Write,
    /// A prune batch.
    Prune,
    /// A page of `peer`'s answer.
    Query {
        /// The connection.
        peer: PeerId,
        /// The sample name.
        metric: String,
        /// The window.
        window: Window,
        /// Whether earlier pieces sent rows.
        continuing: bool,
    },
}

/// The decisions about one history database; see the module documentation.
#[derive(Debug)]
pub struct Keeper {
    store: StoreKind,
    settings: HistorySettings,
    last_snapshot: Instant,
    /// The result stored last (a scrape's or a bridge scrape's), to know a cached one again.
    last_result: Option<Weak<dyn Any + Send + Sync>>,
    /// The second of the snapshot taken last.
    last_timestamp: Option<i64>,
    scrape_asked: bool,
    writing: bool,
    pending: VecDeque<Snapshot>,
    prune_at: Instant,
    running_queries: usize,
    waiting: VecDeque<(PeerId, HistoryJob)>,
    work: VecDeque<(KeeperTicket, HistoryTask)>,
    answers: VecDeque<(PeerId, HistoryAnswer)>,
    write_failing: Option<StoreErrorKind>,
    read_failing: Option<StoreErrorKind>,
    behind: bool,
    counters: HistoryCounters,
}

impl Keeper {
    /// The keeper of `store`, started at `now`: the first timed snapshot is due an interval
    /// later, the first prune at once.
    pub fn new(store: StoreKind, settings: HistorySettings, now: Instant) -> Keeper {
        Keeper {
            store,
            settings,
            last_snapshot: now,
            last_result: None,
            last_timestamp: None,
            scrape_asked: false,
            writing: false,
            pending: VecDeque::new(),
            prune_at: now,
            running_queries: 0,
            waiting: VecDeque::new(),
            work: VecDeque::new(),
            answers: VecDeque::new(),
            write_failing: None,
            read_failing: None,
            behind: false,
            counters: HistoryCounters::default(),
        }
    }

    /// Takes new settings (a reload).
    pub fn reconfigure(&mut self, settings: HistorySettings) {
        self.settings = settings;
    }

    /// Snapshots stored and failed so far.
    pub fn counters(&self) -> HistoryCounters {
        self.counters
    }

    /// A scrape finished at `now` (`wall` seconds since the epoch): its snapshot is due,
    /// unless it is the result stored last (a cached one).
    pub fn scrape_finished(
        &mut self,
        now: Instant,
        wall: i64,
        result: &Arc<ScrapeResult>,
        counters: ExporterCounters,
    ) {
        self.result_finished(now, wall, result, || SnapshotBody::Scrape {
            result: Arc::clone(result),
            counters,
        });
    }

    /// A bridge scrape finished at `now`: its merged body is the snapshot, unless it is the
    /// result stored last (a cached one).
    pub fn bridge_finished(&mut self, now: Instant, wall: i64, result: &Arc<BridgeResult>) {
        self.result_finished(now, wall, result, || {
            SnapshotBody::Exposition(result.body.clone())
        });
    }

    /// Stores the snapshot `body` makes of `result`, unless `result` is the one stored last.
    fn result_finished<T: Any + Send + Sync>(
        &mut self,
        now: Instant,
        wall: i64,
        result: &Arc<T>,
        body: impl FnOnce() -> SnapshotBody,
    ) {
        self.scrape_asked = false;
        let stored_last = self
            .last_result
            .as_ref()
            .is_some_and(|last| std::ptr::addr_eq(last.as_ptr(), Arc::as_ptr(result)));
        if stored_last {
            self.last_snapshot = now;
            return;
        }
        let erased: Arc<dyn Any + Send + Sync> = Arc::clone(result) as _;
        self.last_result = Some(Arc::downgrade(&erased));
        self.store(now, wall, body());
    }

    /// Stores `body` as the snapshot of `wall` (seconds since the epoch), taken at `now`.
    /// A snapshot's rows are keyed by its second, so a second snapshot within the second of
    /// the one taken last is not taken: it would only replace those rows, at the cost of a
    /// write, for scrapes faster than one a second.
    pub fn store(&mut self, now: Instant, wall: i64, body: SnapshotBody) {
        self.last_snapshot = now;
        if self.last_timestamp.replace(wall) == Some(wall) {
            return;
        }
        if self.pending.len() == MAX_PENDING_SNAPSHOTS {
            self.pending.pop_front();
            self.counters.failures += 1;
            if !self.behind {
                self.behind = true;
                tracing::warn!(
                    "{}: snapshots are taken faster than the database stores them; the oldest waiting one is dropped",
                    self.name()
                );
            }
        }
        self.pending.push_back(Snapshot {
            timestamp: wall,
            body,
        });
        self.pump(now, wall);
    }

    /// Whether a timed snapshot is due at `now`: then the caller starts a scrape and hands
    /// its result to [`Keeper::scrape_finished`] (or [`Keeper::bridge_finished`]). Answers `true` once per due snapshot.
    pub fn wants_scrape(&mut self, now: Instant) -> bool {
        let due = self.timed_snapshot_due().is_some_and(|at| at <= now);
        if due {
            self.scrape_asked = true;
        }
        due
    }

    /// A connection asks for a piece of an answer.
    pub fn job(&mut self, now: Instant, wall: i64, peer: PeerId, job: HistoryJob) {
        if self.waiting.len() >= MAX_WAITING_QUERIES {
            self.answers.push_back((peer, HistoryAnswer::Busy));
            return;
        }
        self.waiting.push_back((peer, job));
        self.pump(now, wall);
    }

    /// The host finished the task of `ticket`.
    pub fn handle(
        &mut self,
        now: Instant,
        wall: i64,
        ticket: KeeperTicket,
        outcome: Result<StoreOutcome, StoreError>,
    ) {
        match ticket {
            KeeperTicket::Write => {
                self.writing = false;
                match outcome {
                    Ok(StoreOutcome::Written { rows, skipped }) => {
                        self.counters.snapshots += 1;
                        self.write_works();
                        tracing::debug!(
                            "{}: snapshot of {rows} samples stored ({skipped} lines skipped)",
                            self.name()
                        );
                    }
                    Ok(other) => tracing::error!("{}: a write answered {other:?}", self.name()),
                    Err(error) => {
                        self.counters.failures += 1;
                        self.write_failed(&error);
                    }
                }
            }
            KeeperTicket::Prune => {
                self.writing = false;
                let period =
                    (self.settings.retention / 10).clamp(Duration::from_secs(1), MAX_PRUNE_PERIOD);
                self.prune_at = now + period;
                match outcome {
                    Ok(StoreOutcome::Pruned { rows, more }) => {
                        self.write_works();
                        if more {
                            self.prune_at = now;
                        }
                        tracing::debug!("{}: {rows} old rows pruned", self.name());
                    }
                    Ok(other) => tracing::error!("{}: a prune answered {other:?}", self.name()),
                    Err(error) => self.write_failed(&error),
                }
            }
            KeeperTicket::Query {
                peer,
                metric,
                window,
                continuing,
            } => {
                self.running_queries -= 1;
                let answer = match outcome {
                    Ok(StoreOutcome::Page(rows)) => {
                        self.read_works();
                        piece(&metric, window, continuing, &rows)
                    }
                    Ok(other) => {
                        tracing::error!("{}: a query answered {other:?}", self.name());
                        HistoryAnswer::Failed
                    }
                    Err(error) => {
                        self.read_failed(&error);
                        HistoryAnswer::Failed
                    }
                };
                self.answers.push_back((peer, answer));
            }
        }
        self.pump(now, wall);
    }

    /// The next task for the host, with the ticket to hand back with its outcome.
    #[must_use]
    pub fn poll_work(&mut self) -> Option<(KeeperTicket, HistoryTask)> {
        self.work.pop_front()
    }

    /// The next answer for a connection.
    #[must_use]
    pub fn poll_answer(&mut self) -> Option<(PeerId, HistoryAnswer)> {
        self.answers.pop_front()
    }

    /// When to call [`Keeper::wants_scrape`] or hand in the time for a prune.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let prune = (!self.writing && !self.settings.retention.is_zero()).then_some(self.prune_at);
        [self.timed_snapshot_due(), prune]
            .into_iter()
            .flatten()
            .min()
    }

    /// The time passed: start a prune if one is due.
    pub fn handle_timeout(&mut self, now: Instant, wall: i64) {
        self.pump(now, wall);
    }

    fn timed_snapshot_due(&self) -> Option<Instant> {
        let interval = self.settings.interval;
        (!interval.is_zero() && !self.scrape_asked).then(|| self.last_snapshot + interval)
    }

    /// Hands the host what is due: the oldest waiting snapshot or a prune on the write side,
    /// and waiting queries up to the limit.
    fn pump(&mut self, now: Instant, wall: i64) {
        if !self.writing {
            if let Some(snapshot) = self.pending.pop_front() {
                self.writing = true;
                self.behind &= !self.pending.is_empty();
                self.push_work(KeeperTicket::Write, StoreTask::Write(snapshot));
            } else if !self.settings.retention.is_zero() && now >= self.prune_at {
                self.writing = true;
                let retention =
                    i64::try_from(self.settings.retention.as_secs()).unwrap_or(i64::MAX);
                let before = wall.saturating_sub(retention);
                self.push_work(
                    KeeperTicket::Prune,
                    StoreTask::Prune {
                        before,
                        max_rows: PRUNE_BATCH_ROWS,
                    },
                );
            }
        }
        while self.running_queries < MAX_RUNNING_QUERIES {
            let Some((peer, job)) = self.waiting.pop_front() else {
                break;
            };
            self.running_queries += 1;
            let (window, after) = match job.start {
                PageStart::First {
                    timestamp,
                    duration,
                } => (Window::around(timestamp.unwrap_or(wall), duration), None),
                PageStart::After(cursor) => {
                    (cursor.window, Some((cursor.timestamp, cursor.series)))
                }
            };
            let ticket = KeeperTicket::Query {
                peer,
                metric: job.metric.clone(),
                window,
                continuing: after.is_some(),
            };
            let query = PageQuery {
                metric: job.metric,
                window,
                after,
                limit: PAGE_ROWS,
            };
            self.push_work(ticket, StoreTask::Query(query));
        }
    }

    fn push_work(&mut self, ticket: KeeperTicket, task: StoreTask) {
        let task = HistoryTask {
            store: self.store,
            task,
        };
        self.work.push_back((ticket, task));
    }

    fn name(&self) -> &'static str {
        match self.store {
            StoreKind::Metrics => "history",
            StoreKind::Bridge => "bridge history",
        }
    }

    fn write_works(&mut self) {
        if self.write_failing.take().is_some() {
            tracing::info!("{}: the database is written again", self.name());
        }
    }

    fn write_failed(&mut self, error: &StoreError) {
        if self.write_failing.replace(error.kind) != Some(error.kind) {
            tracing::error!(
                "{}: cannot write the database: {error}; snapshots are counted as failed until it works again, /metrics is served as usual",
                self.name()
            );
        }
    }

    fn read_works(&mut self) {
        if self.read_failing.take().is_some() {
            tracing::info!("{}: the database is read again", self.name());
        }
    }

    fn read_failed(&mut self, error: &StoreError) {
        if self.read_failing.replace(error.kind) != Some(error.kind) {
            tracing::error!("{}: cannot read the database: {error}", self.name());
        }
    }
}

/// The piece of the answer made of `rows`: rows until the piece reaches [`PIECE_BYTES`];
/// complete when every row fit and the page was not full.
fn piece(
    metric: &str,
    window: Window,
    continuing: bool,
    rows: &[super::StoredRow],
) -> HistoryAnswer {
    let mut body = BytesMut::new();
    let mut piece = AnswerPiece::new(metric, continuing, &mut body);
    let mut sent = 0;
    for row in rows {
        if piece.len() >= PIECE_BYTES {
            break;
        }
        piece.push(row);
        sent += 1;
    }
    let next = if sent == rows.len() && rows.len() < PAGE_ROWS {
        piece.finish();
        None
    } else {
        sent.checked_sub(1)
            .map(|index| &rows[index])
            .map(|row| Cursor {
                window,
                timestamp: row.timestamp,
                series: row.series,
            })
    };
    HistoryAnswer::Piece {
        body: body.freeze(),
        next,
    }
}

#[cfg(test)]
mod tests;
