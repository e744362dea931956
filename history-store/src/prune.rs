//! Deleting snapshots older than the retention, a bounded batch at a time.

use rusqlite::{Transaction, params};

use crate::write::LAST_SEEN_STEP;

/// What one prune batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pruned {
    /// Sample rows deleted.
    pub rows: usize,
    /// Whether snapshots older than the cut remain.
    pub more: bool,
    /// Series deleted because they have no samples left.
    pub series_deleted: usize,
}

/// Deletes the oldest snapshots taken before `before`: as many as fit in `max_rows` rows, and
/// at least one. Then the series whose newest sample is gone (by `last_ts`), and metrics
/// without series.
pub(crate) fn prune(
    transaction: &Transaction<'_>,
    before: i64,
    max_rows: usize,
) -> rusqlite::Result<Pruned> {
    let mut budget = i64::try_from(max_rows).unwrap_or(i64::MAX);
    let mut upto = None;
    let mut more = false;
    {
        let mut oldest = transaction
            .prepare_cached("SELECT ts, rows FROM snapshot WHERE ts < ?1 ORDER BY ts")?;
        let mut snapshots = oldest.query([before])?;
        while let Some(row) = snapshots.next()? {
            let (ts, rows): (i64, i64) = (row.get(0)?, row.get(1)?);
            if upto.is_some() && rows > budget {
                more = true;
                break;
            }
            budget -= rows;
            upto = Some(ts);
        }
    }
    let Some(upto) = upto else {
        return Ok(Pruned {
            rows: 0,
            more: false,
            series_deleted: 0,
        });
    };
    let metrics: Vec<i64> = transaction
        .prepare_cached("SELECT id FROM metric")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let mut rows = 0;
    {
        let mut delete =
            transaction.prepare_cached("DELETE FROM sample WHERE metric_id = ?1 AND ts <= ?2")?;
        for metric in metrics {
            rows += delete.execute(params![metric, upto])?;
        }
    }
    transaction.execute("DELETE FROM snapshot WHERE ts <= ?1", [upto])?;
    let series_deleted = transaction.execute(
        "DELETE FROM series WHERE last_ts <= ?1",
        [upto.saturating_sub(LAST_SEEN_STEP)],
    )?;
    if series_deleted > 0 {
        transaction.execute(
            "DELETE FROM metric WHERE NOT EXISTS \
             (SELECT 1 FROM series WHERE series.metric_id = metric.id)",
            [],
        )?;
    }
    Ok(Pruned {
        rows,
        more,
        series_deleted,
    })
}
