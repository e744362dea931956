//! Metric history (SPEC §11): every scrape's exposition kept as a snapshot in a database the
//! host owns, pruned after `history_retention`, and served by `/history/<metric>`.
//!
//! Everything decided about history is decided here, without a database: when a snapshot is
//! due and what rows it holds ([`samples`]), when to prune and how much at once, how an API
//! request becomes queries and its JSON answer ([`api`]), and what a failing database does to
//! the exporter ([`Keeper`]: it logs once per change of state, counts failed snapshots, and
//! never stops `/metrics`). The storage work itself is a [`StoreTask`] that the daemon hands
//! the host as a host task, so that no database IO runs on an event loop: the host answers
//! with a [`StoreOutcome`] or a [`StoreError`].

pub mod api;
mod keeper;
pub mod samples;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

pub use api::{Cursor, HistoryRequest, StoredRow, Window};
pub use keeper::{HistoryAnswer, HistoryJob, Keeper, KeeperTicket, PageStart};

use crate::exposition::Format;
use crate::scrape::{ExporterCounters, ScrapeResult};

/// How long a connection waits for a piece of an answer before it may give up (the fork
/// runtime's children wait with an alarm): the pieces are small, but wait behind snapshot
/// writes.
pub const PIECE_TIMEOUT: Duration = Duration::from_secs(30);

/// Most rows one query reads: one page of an answer.
pub const PAGE_ROWS: usize = 1000;

/// Most rows one prune deletes, so that it holds the database (and, in the fork runtime, the
/// parent) only briefly; the next batch follows at once.
pub const PRUNE_BATCH_ROWS: usize = 50_000;

/// Which database a task is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// `history_path`: snapshots of `/metrics` scrapes.
    Metrics,
    /// `bridge_history_path`: snapshots of bridge scrapes.
    Bridge,
}

/// How often snapshots are taken and how long they are kept (`history_interval`,
/// `history_retention` or their `bridge_` twins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistorySettings {
    /// Least time between snapshots taken on a timer; zero: only scrapes take them.
    pub interval: Duration,
    /// Snapshots older than this are pruned; zero keeps them forever.
    pub retention: Duration,
}

/// What a snapshot is made of.
#[derive(Debug, Clone)]
pub enum SnapshotBody {
    /// A finished `/metrics` scrape and the exporter's own counters of that moment.
    Scrape {
        /// The scrape.
        result: Arc<ScrapeResult>,
        /// The counters rendered with it.
        counters: ExporterCounters,
    },
    /// An exposition body in the text format, as a bridge scrape produces it.
    Exposition(Bytes),
}

/// The exposition of one moment, to store.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// When it was taken, seconds since the epoch: every row's timestamp.
    pub timestamp: i64,
    /// What it holds.
    pub body: SnapshotBody,
}

impl Snapshot {
    /// The body in the text format, whose sample lines are the rows
    /// ([`samples::Samples`]).
    pub fn text(&self) -> Bytes {
        match &self.body {
            SnapshotBody::Scrape { result, counters } => {
                let mut out = BytesMut::new();
                result.render(Format::Text, counters, &mut out);
                out.freeze()
            }
            SnapshotBody::Exposition(body) => body.clone(),
        }
    }
}

/// A read of one page of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    /// The sample name.
    pub metric: String,
    /// The snapshots asked for.
    pub window: Window,
    /// Rows up to this `(timestamp, series)` were sent already.
    pub after: Option<(i64, i64)>,
    /// Most rows to read.
    pub limit: usize,
}

/// Storage work for the host.
#[derive(Debug, Clone)]
pub enum StoreTask {
    /// Store every sample of the snapshot, all or nothing: [`StoreOutcome::Written`].
    Write(Snapshot),
    /// Delete up to `max_rows` rows of snapshots taken before `before` (seconds since the
    /// epoch): [`StoreOutcome::Pruned`].
    Prune {
        /// The oldest time kept.
        before: i64,
        /// Most rows deleted by this task.
        max_rows: usize,
    },
    /// Read rows of one metric, ordered by snapshot time then series:
    /// [`StoreOutcome::Page`].
    Query(PageQuery),
}

/// A [`StoreTask`] for one database.
#[derive(Debug, Clone)]
pub struct HistoryTask {
    /// The database.
    pub store: StoreKind,
    /// The work.
    pub task: StoreTask,
}

/// What a [`StoreTask`] came to.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreOutcome {
    /// The snapshot is stored.
    Written {
        /// Rows stored.
        rows: usize,
        /// Lines of the body that were not stored (malformed or over the limits).
        skipped: usize,
    },
    /// Old rows are deleted.
    Pruned {
        /// Rows deleted.
        rows: usize,
        /// Whether older rows than `before` remain (the batch was full).
        more: bool,
    },
    /// The rows read, at most the query's limit; fewer means the window is exhausted.
    Page(Vec<StoredRow>),
}

/// Why a [`StoreTask`] failed: the kind decides when the log speaks again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    /// What kind of failure.
    pub kind: StoreErrorKind,
    /// What the database said, naming the file.
    pub message: String,
}

/// The kinds of storage failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreErrorKind {
    /// Another process holds a lock on the database.
    Locked,
    /// The disk (or the file size limit) is full.
    Full,
    /// The file or its directory cannot be written.
    ReadOnly,
    /// The file cannot be opened or created.
    CannotOpen,
    /// The file is not a database, or is damaged.
    Corrupt,
    /// Anything else.
    Other,
}

/// The history families' counts (`pgexporter_history_*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryCounters {
    /// Snapshots stored.
    pub snapshots: u64,
    /// Snapshots that could not be stored.
    pub failures: u64,
}
