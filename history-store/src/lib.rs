//! SQLite storage of pgexporter's metric history: the host side of the core's
//! [`history`](pgexporter_core::history) decisions.
//!
//! [`Stores`] carries out each [`HistoryTask`] on the database of its kind (`history_path`,
//! `bridge_history_path`). A database is opened on first use, in WAL mode (readers never wait
//! for the writer, and a process killed in the middle of a write leaves the database as it was
//! before that snapshot), and created with its schema when missing. Before each task the file
//! is checked to be the one opened: a database deleted or replaced under the exporter is
//! opened (created) again instead of being written while unlinked.
//!
//! Layout ([`schema`]): one row per sample in `sample`, keyed by `(metric, snapshot time,
//! series)`, which is the API's access path and keeps a page of an answer one range scan; the
//! metric names and label sets are stored once, in `metric` and `series`.

#![forbid(unsafe_code)]

mod error;
mod open;
mod prune;
mod read;
mod schema;
mod write;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use pgexporter_core::history::{
    HistoryTask, StoreError, StoreErrorKind, StoreKind, StoreOutcome, StoreTask,
};

use open::Opened;
use write::Writer;

/// Most idle read connections kept per database.
const MAX_IDLE_READERS: usize = 4;

/// The history databases of one daemon.
#[derive(Debug)]
pub struct Stores {
    metrics: Store,
    bridge: Store,
}

impl Stores {
    /// The databases at `metrics` (`history_path`) and `bridge` (`bridge_history_path`);
    /// nothing is opened yet.
    pub fn new(metrics: &Path, bridge: &Path) -> Stores {
        Stores {
            metrics: Store::new(metrics),
            bridge: Store::new(bridge),
        }
    }

    /// Carries out `task` (blocking).
    ///
    /// # Errors
    /// What the database reported, sorted into the kinds the core tells apart.
    pub fn run(&self, task: HistoryTask) -> Result<StoreOutcome, StoreError> {
        let store = match task.store {
            StoreKind::Metrics => &self.metrics,
            StoreKind::Bridge => &self.bridge,
        };
        store.run(task.task)
    }
}

/// One database: a writer (snapshots and prunes, one at a time) and read connections.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    writer: Mutex<Option<Writer>>,
    readers: Mutex<Vec<Opened>>,
}

impl Store {
    /// The database at `path`; opened on first use.
    pub fn new(path: &Path) -> Store {
        Store {
            path: path.to_owned(),
            writer: Mutex::new(None),
            readers: Mutex::new(Vec::new()),
        }
    }

    /// Carries out `task` (blocking).
    ///
    /// # Errors
    /// As [`Stores::run`].
    pub fn run(&self, task: StoreTask) -> Result<StoreOutcome, StoreError> {
        match task {
            StoreTask::Write(snapshot) => self.with_writer(|writer| writer.write(&snapshot)),
            StoreTask::Prune { before, max_rows } => {
                self.with_writer(|writer| writer.prune(before, max_rows))
            }
            StoreTask::Query(_) if self.not_created_yet() => Ok(StoreOutcome::Page(Vec::new())),
            StoreTask::Query(query) => {
                let reader = self.reader()?;
                let page = read::page(reader.connection(), &query)
                    .map_err(|error| error::store_error(&self.path, &error));
                if page.is_ok() {
                    let mut idle = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
                    if idle.len() < MAX_IDLE_READERS {
                        idle.push(reader);
                    }
                }
                page.map(StoreOutcome::Page)
            }
        }
    }

    /// Runs `work` with the writer, opening (or re-opening) the database first when needed.
    /// A failed task drops the connection, so the next one starts from the file.
    fn with_writer(
        &self,
        work: impl FnOnce(&mut Writer) -> rusqlite::Result<StoreOutcome>,
    ) -> Result<StoreOutcome, StoreError> {
        let mut slot = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if slot
            .as_ref()
            .is_some_and(|writer| !writer.opened().is_current())
        {
            tracing::warn!(
                "history database {} was removed or replaced; starting a new one",
                self.path.display()
            );
            *slot = None;
        }
        let writer = match slot.as_mut() {
            Some(writer) => writer,
            None => slot.insert(Writer::new(Opened::for_writing(&self.path)?)),
        };
        work(writer).map_err(|error| {
            let failure = error::store_error(&self.path, &error);
            *slot = None;
            failure
        })
    }

    /// Whether no snapshot was written yet: the file is missing from a directory that exists
    /// (a missing directory is a failure the query reports).
    fn not_created_yet(&self) -> bool {
        let directory = match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        directory.is_dir() && !self.path.exists()
    }

    /// An idle read connection to the current file, or a new one.
    fn reader(&self) -> Result<Opened, StoreError> {
        let mut idle = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(reader) = idle.pop() {
            if reader.is_current() {
                return Ok(reader);
            }
        }
        drop(idle);
        Opened::for_reading(&self.path)
    }
}

/// A failure that is not the database's: a file the exporter cannot stat, say.
fn other_error(path: &Path, message: impl std::fmt::Display) -> StoreError {
    StoreError {
        kind: StoreErrorKind::Other,
        message: format!("{}: {message}", path.display()),
    }
}

#[cfg(test)]
mod tests;
