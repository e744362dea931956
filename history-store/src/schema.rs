//! The tables, created when missing.
//!
//! - `metric(id, name)`: each sample name once.
//! - `series(id, metric_id, server, labels, last_ts)`: each label set of a metric once.
//!   `last_ts` is a snapshot time at which the series had a sample, at most an hour
//!   ([`write::LAST_SEEN_STEP`](crate::write)) older than its newest sample, so a prune
//!   can tell which series have no samples left without reading them.
//! - `snapshot(ts, rows)`: each snapshot's time and size, which bound a prune batch.
//! - `sample(metric_id, ts, series_id, value)`, keyed in that order, without rowid: the rows
//!   of one metric in a window are one range of the key, in answer order. A NULL value is
//!   NaN, which SQLite cannot store.

use rusqlite::Connection;

/// The layout's version, in `PRAGMA user_version`.
pub(crate) const VERSION: i64 = 1;

const TABLES: &str = "
BEGIN;
CREATE TABLE IF NOT EXISTS metric (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    metric_id INTEGER NOT NULL,
    server TEXT NOT NULL,
    labels TEXT NOT NULL,
    last_ts INTEGER NOT NULL,
    UNIQUE (metric_id, labels)
);
CREATE INDEX IF NOT EXISTS series_last_ts ON series (last_ts);
CREATE TABLE IF NOT EXISTS snapshot (
    ts INTEGER PRIMARY KEY,
    rows INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sample (
    metric_id INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    series_id INTEGER NOT NULL,
    value REAL,
    PRIMARY KEY (metric_id, ts, series_id)
) WITHOUT ROWID;
COMMIT;
";

/// Creates what is missing and checks the layout's version.
///
/// # Errors
/// SQLite's, or `SQLITE_NOTADB`-like corruption when the file holds another version.
pub(crate) fn ensure(connection: &Connection) -> rusqlite::Result<()> {
    match version(connection)? {
        0 => {
            connection.execute_batch(TABLES)?;
            connection.pragma_update(None, "user_version", VERSION)
        }
        VERSION => Ok(()),
        other => Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_NOTADB),
            Some(format!(
                "history layout version {other}, expected {VERSION}"
            )),
        )),
    }
}

/// The layout's version in the file: 0 while the writer has not created the tables yet.
///
/// # Errors
/// SQLite's.
pub(crate) fn version(connection: &Connection) -> rusqlite::Result<i64> {
    connection.pragma_query_value(None, "user_version", |row| row.get(0))
}
