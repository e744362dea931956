//! Assembling the result of one query (simple or extended protocol) from the messages that
//! answer it.

use super::error::QueryError;
use crate::pg::backend::{Column, Row, ServerError};

/// Identifies a query queued with `Connection::query`; its `QueryDone` event carries the same
/// id. Ids increase in the order queries were queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueryId(u64);

impl QueryId {
    /// The id following this one.
    pub(crate) fn next(self) -> QueryId {
        QueryId(self.0 + 1)
    }

    /// The first id of a connection.
    pub(crate) fn first() -> QueryId {
        QueryId(0)
    }
}

/// The result of a successful query.
///
/// When the query string holds several statements, this is the result of the last one: its
/// columns, rows and command tag (earlier result sets are dropped as the next statement
/// starts). An empty query string gives no columns, no rows and an empty tag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryResult {
    /// The columns of the rows; empty for a statement that returns no rows (e.g. `SET`).
    pub columns: Vec<Column>,
    /// The rows, in the order the server sent them.
    pub rows: Vec<Row>,
    /// The command tag, e.g. `SELECT 3`.
    pub command_tag: String,
}

/// A query sent (or about to be sent) whose ReadyForQuery has not arrived yet.
pub(crate) struct PendingQuery {
    id: QueryId,
    result: QueryResult,
    error: Option<ServerError>,
    statement_done: bool,
    /// The prepared statement executed, for the extended protocol.
    statement: Option<String>,
    /// The SQL of the Parse sent with this execution, until ParseComplete confirms it.
    parsing: Option<String>,
    /// SQL to run again with the simple protocol once this execution's ReadyForQuery arrives.
    retry: Option<String>,
}

impl PendingQuery {
    /// A simple query with no answer yet.
    pub(crate) fn new(id: QueryId) -> Self {
        PendingQuery {
            id,
            result: QueryResult::default(),
            error: None,
            statement_done: false,
            statement: None,
            parsing: None,
            retry: None,
        }
    }

    /// An execution of prepared statement `name`; `parse_sql` is the SQL when a Parse was
    /// sent with it.
    pub(crate) fn prepared(id: QueryId, name: &str, parse_sql: Option<&str>) -> Self {
        PendingQuery {
            statement: Some(name.to_owned()),
            parsing: parse_sql.map(str::to_owned),
            ..PendingQuery::new(id)
        }
    }

    /// The query's id.
    pub(crate) fn id(&self) -> QueryId {
        self.id
    }

    /// The prepared statement this execution runs; `None` for a simple query.
    pub(crate) fn statement(&self) -> Option<&str> {
        self.statement.as_deref()
    }

    /// Whether a Parse was sent with this execution and not yet confirmed.
    pub(crate) fn is_parsing(&self) -> bool {
        self.parsing.is_some()
    }

    /// A ParseComplete: the statement is prepared.
    pub(crate) fn parse_complete(&mut self) {
        self.parsing = None;
    }

    /// The Parse failed because the SQL cannot be prepared: instead of failing, the query is
    /// to run again with the simple protocol (see [`PendingQuery::take_retry`]).
    pub(crate) fn retry_as_simple_query(&mut self) {
        self.retry = self.parsing.take();
    }

    /// At ReadyForQuery: the SQL to send again as a simple query, if this execution is retried
    /// rather than finished.
    pub(crate) fn take_retry(&mut self) -> Option<String> {
        self.retry.take()
    }

    /// Drops the previous statement's result when a new statement starts answering.
    fn begin_statement(&mut self) {
        if self.statement_done {
            self.result = QueryResult::default();
            self.statement_done = false;
        }
    }

    /// A RowDescription: the columns of the rows that follow.
    pub(crate) fn row_description(&mut self, columns: Vec<Column>) {
        self.begin_statement();
        self.result.columns = columns;
    }

    /// A DataRow.
    pub(crate) fn data_row(&mut self, row: Row) {
        self.begin_statement();
        self.result.rows.push(row);
    }

    /// A CommandComplete: the current statement ended with `tag`.
    pub(crate) fn command_complete(&mut self, tag: String) {
        self.begin_statement();
        self.result.command_tag = tag;
        self.statement_done = true;
    }

    /// An EmptyQueryResponse: the query string held no statement.
    pub(crate) fn empty_query(&mut self) {
        self.begin_statement();
        self.statement_done = true;
    }

    /// An ErrorResponse: the query failed (statements after the failing one do not run).
    pub(crate) fn error(&mut self, error: ServerError) {
        self.error = Some(error);
    }

    /// ReadyForQuery arrived: the query's id and outcome.
    pub(crate) fn finish(self) -> (QueryId, Result<QueryResult, QueryError>) {
        match self.error {
            Some(error) => (self.id, Err(QueryError::Server(error))),
            None => (self.id, Ok(self.result)),
        }
    }

    /// The connection closed first: the server's error if one arrived, else `ConnectionClosed`.
    pub(crate) fn abandon(self) -> (QueryId, Result<QueryResult, QueryError>) {
        let error = self
            .error
            .map_or(QueryError::ConnectionClosed, QueryError::Server);
        (self.id, Err(error))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn column(name: &str) -> Vec<Column> {
        vec![Column {
            name: name.into(),
            type_oid: 25,
        }]
    }

    fn row(value: &'static [u8]) -> Row {
        let mut body = vec![0, 1];
        body.extend_from_slice(&(value.len() as i32).to_be_bytes());
        body.extend_from_slice(value);
        Row::parse(Bytes::from(body)).unwrap()
    }

    #[test]
    fn keeps_the_last_statement_of_several() {
        let mut query = PendingQuery::new(QueryId::first());
        query.row_description(column("a"));
        query.data_row(row(b"1"));
        query.command_complete("SELECT 1".into());
        query.row_description(column("b"));
        query.data_row(row(b"2"));
        query.data_row(row(b"3"));
        query.command_complete("SELECT 2".into());
        let (id, result) = query.finish();
        assert_eq!(id, QueryId::first());
        let result = result.unwrap();
        assert_eq!(result.columns, column("b"));
        assert_eq!(result.rows, [row(b"2"), row(b"3")]);
        assert_eq!(result.command_tag, "SELECT 2");
    }

    #[test]
    fn a_statement_without_rows_after_a_select_clears_them() {
        let mut query = PendingQuery::new(QueryId::first());
        query.row_description(column("a"));
        query.data_row(row(b"1"));
        query.command_complete("SELECT 1".into());
        query.command_complete("SET".into());
        let result = query.finish().1.unwrap();
        assert!(result.columns.is_empty() && result.rows.is_empty());
        assert_eq!(result.command_tag, "SET");
    }

    #[test]
    fn errors_win_over_partial_results() {
        let error = ServerError::from_fields(vec![(b'C', "42P01".into())]);
        let mut query = PendingQuery::new(QueryId::first().next());
        query.row_description(column("a"));
        query.error(error.clone());
        assert_eq!(query.finish().1, Err(QueryError::Server(error.clone())));
        let mut query = PendingQuery::new(QueryId::first());
        query.error(error.clone());
        assert_eq!(query.abandon().1, Err(QueryError::Server(error)));
        let query = PendingQuery::new(QueryId::first());
        assert_eq!(query.abandon().1, Err(QueryError::ConnectionClosed));
    }

    #[test]
    fn a_retried_parse_keeps_the_sql_until_ready() {
        let mut query = PendingQuery::prepared(QueryId::first(), "s1", Some("SELECT 1; SELECT 2"));
        assert_eq!(query.statement(), Some("s1"));
        assert!(query.is_parsing());
        query.retry_as_simple_query();
        assert!(!query.is_parsing());
        assert_eq!(query.take_retry().as_deref(), Some("SELECT 1; SELECT 2"));
        assert_eq!(query.take_retry(), None);
        let mut query = PendingQuery::prepared(QueryId::first(), "s1", Some("SELECT 1"));
        query.parse_complete();
        query.retry_as_simple_query();
        assert_eq!(
            query.take_retry(),
            None,
            "a confirmed Parse is never retried"
        );
        assert_eq!(PendingQuery::new(QueryId::first()).statement(), None);
    }
}
