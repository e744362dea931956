//! Reading one page of an answer.

use pgexporter_core::history::{PageQuery, StoredRow};
use rusqlite::{Connection, params};

use crate::schema;

/// One page: `?1` metric, `?2`..`?3` the window, `?4`, `?5` the cursor, `?6` the limit.
pub(crate) const PAGE_SQL: &str = "\
    SELECT sample.ts, sample.series_id, series.server, series.labels, sample.value \
    FROM metric \
    JOIN sample ON sample.metric_id = metric.id \
    JOIN series ON series.id = sample.series_id \
    WHERE metric.name = ?1 AND sample.ts >= ?2 AND sample.ts <= ?3 \
      AND (sample.ts, sample.series_id) > (?4, ?5) \
    ORDER BY sample.ts, sample.series_id \
    LIMIT ?6";

/// The rows of `query`: the metric's samples in the window, after the cursor, ordered by
/// snapshot time then series, at most `query.limit`. None while the writer has not created
/// the tables yet.
pub(crate) fn page(connection: &Connection, query: &PageQuery) -> rusqlite::Result<Vec<StoredRow>> {
    if schema::version(connection)? == 0 {
        return Ok(Vec::new());
    }
    let (after_ts, after_series) = query.after.unwrap_or((i64::MIN, i64::MIN));
    // The range starts at the cursor's snapshot, not at the window's start: a later page
    // never walks the rows of the earlier ones again.
    let from = query.window.from.max(after_ts);
    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
    let mut statement = connection.prepare_cached(PAGE_SQL)?;
    let rows = statement.query_map(
        params![
            query.metric,
            from,
            query.window.to,
            after_ts,
            after_series,
            limit
        ],
        |row| {
            Ok(StoredRow {
                timestamp: row.get(0)?,
                series: row.get(1)?,
                server: row.get(2)?,
                labels: row.get(3)?,
                value: row.get::<_, Option<f64>>(4)?.unwrap_or(f64::NAN),
            })
        },
    )?;
    rows.collect()
}
