//! Writing snapshots and pruning: the one connection that changes a database.

use std::collections::HashMap;

use pgexporter_core::history::samples::Samples;
use pgexporter_core::history::{Snapshot, StoreOutcome};
use rusqlite::{Transaction, params};

use crate::open::Opened;

/// How stale `series.last_ts` may get: it is written again once a snapshot is this much newer,
/// so a series costs one update an hour, not one per snapshot.
pub(crate) const LAST_SEEN_STEP: i64 = 3600;

/// Most series whose ids are kept in memory; past it the cache starts over.
const MAX_CACHED_SERIES: usize = 200_000;

/// A series as cached: its id and the `last_ts` stored for it.
#[derive(Debug, Clone, Copy)]
struct SeriesEntry {
    id: i64,
    last_ts: i64,
}

/// The writing connection, with the ids it looked up.
#[derive(Debug)]
pub(crate) struct Writer {
    opened: Opened,
    metrics: HashMap<String, i64>,
    series: HashMap<i64, HashMap<String, SeriesEntry>>,
    cached_series: usize,
}

impl Writer {
    pub(crate) fn new(opened: Opened) -> Writer {
        Writer {
            opened,
            metrics: HashMap::new(),
            series: HashMap::new(),
            cached_series: 0,
        }
    }

    pub(crate) fn opened(&self) -> &Opened {
        &self.opened
    }

    /// Stores every sample of `snapshot` in one transaction.
    pub(crate) fn write(&mut self, snapshot: &Snapshot) -> rusqlite::Result<StoreOutcome> {
        if self.cached_series > MAX_CACHED_SERIES {
            self.forget_ids();
        }
        let text = snapshot.text();
        let mut samples = Samples::new(&text);
        let ts = snapshot.timestamp;
        let transaction = self.opened.connection_mut().transaction()?;
        let mut rows = 0usize;
        {
            let mut insert_sample = transaction.prepare_cached(
                "INSERT OR REPLACE INTO sample (metric_id, ts, series_id, value) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for sample in samples.by_ref() {
                let metric = metric_id(&transaction, &mut self.metrics, sample.metric)?;
                let known = self.series.entry(metric).or_default();
                let series = match known.get_mut(sample.labels) {
                    Some(entry) => {
                        touch(&transaction, entry, ts)?;
                        entry.id
                    }
                    None => {
                        let entry =
                            series_entry(&transaction, metric, &sample.server, sample.labels, ts)?;
                        known.insert(sample.labels.to_owned(), entry);
                        self.cached_series += 1;
                        entry.id
                    }
                };
                let value = (!sample.value.is_nan()).then_some(sample.value);
                insert_sample.execute(params![metric, ts, series, value])?;
                rows += 1;
            }
        }
        transaction.execute(
            "INSERT INTO snapshot (ts, rows) VALUES (?1, ?2) \
             ON CONFLICT (ts) DO UPDATE SET rows = max(rows, excluded.rows)",
            params![ts, i64::try_from(rows).unwrap_or(i64::MAX)],
        )?;
        transaction.commit()?;
        Ok(StoreOutcome::Written {
            rows,
            skipped: samples.skipped(),
        })
    }

    /// Deletes the oldest snapshots taken before `before`, as many as fit in `max_rows` rows
    /// (at least one), then the series and metrics left without samples.
    pub(crate) fn prune(&mut self, before: i64, max_rows: usize) -> rusqlite::Result<StoreOutcome> {
        let transaction = self.opened.connection_mut().transaction()?;
        let outcome = crate::prune::prune(&transaction, before, max_rows)?;
        transaction.commit()?;
        if outcome.series_deleted > 0 {
            self.forget_ids();
        }
        Ok(StoreOutcome::Pruned {
            rows: outcome.rows,
            more: outcome.more,
        })
    }

    fn forget_ids(&mut self) {
        self.metrics.clear();
        self.series.clear();
        self.cached_series = 0;
    }
}

/// The id of metric `name`, inserted when new.
fn metric_id(
    transaction: &Transaction<'_>,
    cache: &mut HashMap<String, i64>,
    name: &str,
) -> rusqlite::Result<i64> {
    if let Some(id) = cache.get(name) {
        return Ok(*id);
    }
    let found: Option<i64> = transaction
        .prepare_cached("SELECT id FROM metric WHERE name = ?1")?
        .query_row([name], |row| row.get(0))
        .map(Some)
        .or_else(|error| match error {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            other => Err(other),
        })?;
    let id = match found {
        Some(id) => id,
        None => {
            transaction
                .prepare_cached("INSERT INTO metric (name) VALUES (?1)")?
                .execute([name])?;
            transaction.last_insert_rowid()
        }
    };
    cache.insert(name.to_owned(), id);
    Ok(id)
}

/// The series of `labels` under `metric`, inserted when new, [`touch`]ed when known.
fn series_entry(
    transaction: &Transaction<'_>,
    metric: i64,
    server: &str,
    labels: &str,
    ts: i64,
) -> rusqlite::Result<SeriesEntry> {
    let found = transaction
        .prepare_cached("SELECT id, last_ts FROM series WHERE metric_id = ?1 AND labels = ?2")?
        .query_row(params![metric, labels], |row| {
            Ok(SeriesEntry {
                id: row.get(0)?,
                last_ts: row.get(1)?,
            })
        });
    match found {
        Ok(mut entry) => {
            touch(transaction, &mut entry, ts)?;
            Ok(entry)
        }
        Err(rusqlite::Error::QueryReturnedNoRows) => {
            transaction
                .prepare_cached(
                    "INSERT INTO series (metric_id, server, labels, last_ts) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![metric, server, labels, ts])?;
            Ok(SeriesEntry {
                id: transaction.last_insert_rowid(),
                last_ts: ts,
            })
        }
        Err(other) => Err(other),
    }
}

/// Brings the series' `last_ts` to `ts` when it is [`LAST_SEEN_STEP`] or more behind.
fn touch(transaction: &Transaction<'_>, entry: &mut SeriesEntry, ts: i64) -> rusqlite::Result<()> {
    if ts >= entry.last_ts.saturating_add(LAST_SEEN_STEP) {
        transaction
            .prepare_cached("UPDATE series SET last_ts = ?2 WHERE id = ?1")?
            .execute(params![entry.id, ts])?;
        entry.last_ts = ts;
    }
    Ok(())
}
