//! One execution per SQL text: definitions whose chosen variants run the same SQL in the same
//! database of a server share one execution in a scrape. The first of them (in definition
//! order) is sent; the others are its readers and take their rows from its result, each
//! through its own columns (found by name, so a reader may use any subset of the result).
//! The built-in set uses this to read each database's table statistics once for several
//! families.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::metrics::MetricSet;
use crate::pg::{QueryError, QueryResult};

use super::super::plan::PlannedQuery;
use super::super::result::MetricRows;
use super::Collector;

/// The executions of a scrape that others read: by server, database and the query sent, the
/// planned queries that read its result.
pub(super) type Readers = HashMap<(usize, String, PlannedQuery), Vec<PlannedQuery>>;

/// Splits `due` (in definition order) into the queries to send, in the same order, and for
/// each sent query whose SQL others repeat, those others.
pub(super) fn share(
    metrics: &MetricSet,
    due: &[PlannedQuery],
) -> (Vec<PlannedQuery>, Vec<(PlannedQuery, Vec<PlannedQuery>)>) {
    let sql_of = |planned: &PlannedQuery| {
        metrics.definitions()[planned.metric].queries[planned.variant]
            .sql
            .as_str()
    };
    let mut first_with: HashMap<&str, usize> = HashMap::with_capacity(due.len());
    let mut sent: Vec<(PlannedQuery, Vec<PlannedQuery>)> = Vec::with_capacity(due.len());
    for planned in due {
        match first_with.get(sql_of(planned)) {
            Some(&index) => sent[index].1.push(*planned),
            None => {
                first_with.insert(sql_of(planned), sent.len());
                sent.push((*planned, Vec::new()));
            }
        }
    }
    let queries = sent.iter().map(|(planned, _)| *planned).collect();
    let shared = sent
        .into_iter()
        .filter(|(_, readers)| !readers.is_empty())
        .collect();
    (queries, shared)
}

impl Collector {
    /// Of `due` for `database` of `server`, the queries to send; records who reads each of
    /// their results (and forgets readers recorded for queries of an earlier scrape there).
    pub(super) fn share_executions(
        &mut self,
        server: usize,
        database: &str,
        due: &[PlannedQuery],
    ) -> Vec<PlannedQuery> {
        let (queries, shared) = share(&self.metrics, due);
        for planned in &queries {
            self.readers
                .remove(&(server, database.to_owned(), *planned));
        }
        for (planned, readers) in shared {
            self.readers
                .insert((server, database.to_owned(), planned), readers);
        }
        queries
    }

    /// The answer to metric query `planned` in `database` of `server` arrived after `spent`:
    /// every definition reading it (the one sent first) records its share of the time and the
    /// outcome, and the readers' rows join the run. The sent query's own rows are left to the
    /// caller.
    pub(super) fn metric_answered(
        &mut self,
        now: Instant,
        server: usize,
        database: &str,
        planned: PlannedQuery,
        spent: Duration,
        result: &Result<QueryResult, QueryError>,
    ) {
        let readers = self
            .readers
            .remove(&(server, database.to_owned(), planned))
            .unwrap_or_default();
        let share = spent / u32::try_from(readers.len() + 1).unwrap_or(u32::MAX);
        self.record_collector(server, planned.metric, share, result.is_ok());
        // One copy for all the readers (the sender's rows are the caller's).
        let shared = match (result, readers.is_empty()) {
            (Ok(result), false) => Some(Arc::new(result.clone())),
            _ => None,
        };
        for reader in readers {
            self.record_collector(server, reader.metric, share, result.is_ok());
            if let Some(result) = &shared {
                self.add_rows(
                    server,
                    MetricRows {
                        metric: reader.metric,
                        variant: reader.variant,
                        database: database.to_owned(),
                        result: Arc::clone(result),
                        fetched: now,
                    },
                );
            }
        }
    }

    /// Adds fresh `rows` to the run of `server`, keeping them for their metric's `ttl`.
    pub(super) fn add_rows(&mut self, server: usize, rows: MetricRows) {
        if self.metrics.definitions()[rows.metric].ttl.is_some() {
            let key = (server, rows.metric, rows.database.clone());
            self.kept.insert(key, rows.clone());
        }
        if let Some(run) = self.runs[server].as_mut() {
            run.snapshot.rows.push(rows);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Source, SourceFormat};

    const SET: &str = "
metrics:
  - tag: a
    collector: one
    queries:
      - query: SELECT 1 AS x, 2 AS y
        columns: [{name: x, type: gauge}]
  - tag: b
    collector: two
    queries:
      - query: SELECT 3 AS z
        columns: [{name: z, type: gauge}]
  - tag: c
    collector: three
    queries:
      - query: SELECT 1 AS x, 2 AS y
        columns: [{name: y, type: gauge}]
  - tag: d
    collector: four
    queries:
      - query: SELECT 1 AS x, 2 AS y
        columns: [{name: x, type: counter}]
";

    fn planned(metric: usize) -> PlannedQuery {
        PlannedQuery { metric, variant: 0 }
    }

    #[test]
    fn the_first_definition_of_each_sql_text_is_sent_and_the_others_read_it() {
        let set =
            MetricSet::from_sources(&[Source::new("t.yaml", SET, SourceFormat::Yaml)]).unwrap();
        let due: Vec<PlannedQuery> = (0..4).map(planned).collect();
        let (queries, shared) = share(&set, &due);
        assert_eq!(queries, [planned(0), planned(1)]);
        assert_eq!(shared, [(planned(0), vec![planned(2), planned(3)])]);

        let (queries, shared) = share(&set, &[planned(1), planned(3)]);
        assert_eq!(queries, [planned(1), planned(3)], "nothing repeated");
        assert!(shared.is_empty());
    }
}
