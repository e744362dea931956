//! Named prepared statements of one connection: which names are prepared on the server, and
//! the extended-query messages that run one execution.
//!
//! A name is prepared by the first execution that uses it (Parse, then Bind, Describe portal,
//! Execute and Sync in the same write); later executions send only Bind, Describe, Execute and
//! Sync, so the server reuses the parse and plan. A name is marked prepared as soon as its
//! Parse is queued, so that executions pipelined behind it do not parse again.
//!
//! When an execution fails, the name is marked stale: its next use closes the statement (a
//! no-op when the server has none) and parses it again. SQL that cannot be prepared because it
//! holds several statements (SQLSTATE 42601) is run with the simple protocol on this
//! connection from then on, the failed execution included.

use std::collections::HashMap;

use bytes::BytesMut;

use crate::pg::backend::ServerError;
use crate::pg::frontend::{self, EncodeError, Target};

/// SQLSTATE of a syntax error, which is also how the server refuses to prepare a string of
/// several statements ("cannot insert multiple commands into a prepared statement").
const SYNTAX_ERROR: &str = "42601";

/// What the connection knows about one statement name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Parse was sent and has not failed: executions bind it.
    Prepared,
    /// An execution failed: the next one closes and parses again.
    Stale,
    /// The SQL cannot be prepared: executions use the simple protocol.
    Simple,
}

/// How one execution of a named statement goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// A simple-protocol Query.
    Simple,
    /// Bind, Describe portal, Execute, Sync.
    Execute,
    /// Parse first (after a Close of the old statement when `close_first`), then as `Execute`.
    Prepare {
        /// Whether a statement of that name may exist on the server.
        close_first: bool,
    },
}

/// The statement names of one connection and their state.
#[derive(Debug, Default)]
pub(crate) struct Statements {
    by_name: HashMap<String, State>,
}

impl Statements {
    /// How the next execution of `name` is sent. Nothing changes until [`Statements::sent`].
    pub(crate) fn plan(&self, name: &str) -> Plan {
        match self.by_name.get(name) {
            None => Plan::Prepare { close_first: false },
            Some(State::Stale) => Plan::Prepare { close_first: true },
            Some(State::Prepared) => Plan::Execute,
            Some(State::Simple) => Plan::Simple,
        }
    }

    /// An execution planned as `plan` was queued: a Parse makes `name` prepared.
    pub(crate) fn sent(&mut self, name: &str, plan: Plan) {
        if let Plan::Prepare { .. } = plan {
            match self.by_name.get_mut(name) {
                Some(state) => *state = State::Prepared,
                None => {
                    self.by_name.insert(name.to_owned(), State::Prepared);
                }
            }
        }
    }

    /// An execution of `name` failed with `error`; `parsing` tells whether its own Parse had
    /// not been confirmed yet. Returns whether the execution should be run again with the
    /// simple protocol (the SQL cannot be prepared).
    pub(crate) fn failed(&mut self, name: &str, parsing: bool, error: &ServerError) -> bool {
        let Some(state) = self.by_name.get_mut(name) else {
            return false;
        };
        if parsing && error.code() == SYNTAX_ERROR {
            *state = State::Simple;
            return true;
        }
        if *state == State::Prepared {
            *state = State::Stale;
        }
        false
    }
}

/// Appends the messages of one execution of statement `name` (holding `sql`) planned as
/// `plan`. The unnamed portal is used; results come in text format, all rows at once. On error
/// nothing is appended.
///
/// Errors: a name or SQL containing NUL, or SQL longer than the protocol allows.
pub(crate) fn encode_execution(
    out: &mut BytesMut,
    plan: Plan,
    name: &str,
    sql: &str,
) -> Result<(), EncodeError> {
    let start = out.len();
    let result = append_execution(out, plan, name, sql);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// [`encode_execution`] without the clean-up on error.
fn append_execution(
    out: &mut BytesMut,
    plan: Plan,
    name: &str,
    sql: &str,
) -> Result<(), EncodeError> {
    match plan {
        Plan::Simple => return frontend::query(out, sql),
        Plan::Execute => {}
        Plan::Prepare { close_first } => {
            if close_first {
                frontend::close(out, Target::Statement, name)?;
            }
            frontend::parse(out, name, sql, &[])?;
        }
    }
    frontend::bind(out, "", name, &[])?;
    frontend::describe(out, Target::Portal, "")?;
    frontend::execute(out, "", 0)?;
    frontend::sync(out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: &str) -> ServerError {
        ServerError::from_fields(vec![(b'C', code.into())])
    }

    fn encoded(plan: Plan, name: &str, sql: &str) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode_execution(&mut out, plan, name, sql).unwrap();
        out.to_vec()
    }

    /// Bind, Describe portal, Execute, Sync of statement `s1`.
    const EXECUTE_S1: &[u8] = b"B\0\0\0\x0e\0s1\0\0\0\0\0\0\0\
D\0\0\0\x06P\0\
E\0\0\0\x09\0\0\0\0\0\
S\0\0\0\x04";

    #[test]
    fn a_name_is_parsed_once_then_executed() {
        let mut statements = Statements::default();
        let first = statements.plan("s1");
        assert_eq!(first, Plan::Prepare { close_first: false });
        statements.sent("s1", first);
        assert_eq!(statements.plan("s1"), Plan::Execute);
        let mut expected = b"P\0\0\0\x10s1\0SELECT\0\0\0".to_vec();
        expected.extend_from_slice(EXECUTE_S1);
        assert_eq!(encoded(first, "s1", "SELECT"), expected);
        assert_eq!(encoded(Plan::Execute, "s1", "SELECT"), EXECUTE_S1);
    }

    #[test]
    fn a_failure_makes_the_next_use_close_and_parse_again() {
        let mut statements = Statements::default();
        statements.sent("s1", Plan::Prepare { close_first: false });
        assert!(!statements.failed("s1", true, &error("42P01")));
        let plan = statements.plan("s1");
        assert_eq!(plan, Plan::Prepare { close_first: true });
        let mut expected = b"C\0\0\0\x08Ss1\0P\0\0\0\x10s1\0SELECT\0\0\0".to_vec();
        expected.extend_from_slice(EXECUTE_S1);
        assert_eq!(encoded(plan, "s1", "SELECT"), expected);
        statements.sent("s1", plan);
        assert!(!statements.failed("s1", false, &error("57014")));
        assert_eq!(statements.plan("s1"), Plan::Prepare { close_first: true });
    }

    #[test]
    fn sql_that_cannot_be_prepared_falls_back_to_simple_queries() {
        let mut statements = Statements::default();
        statements.sent("s1", Plan::Prepare { close_first: false });
        assert!(statements.failed("s1", true, &error(SYNTAX_ERROR)));
        assert_eq!(statements.plan("s1"), Plan::Simple);
        // A Bind pipelined behind the failed Parse fails too; the name stays simple.
        assert!(!statements.failed("s1", false, &error("26000")));
        assert_eq!(statements.plan("s1"), Plan::Simple);
        assert_eq!(
            encoded(Plan::Simple, "s1", "SELECT 1; SELECT 2"),
            b"Q\0\0\0\x17SELECT 1; SELECT 2\0"
        );
    }

    #[test]
    fn a_syntax_error_after_the_parse_is_not_a_fallback() {
        let mut statements = Statements::default();
        statements.sent("s1", Plan::Prepare { close_first: false });
        assert!(!statements.failed("s1", false, &error(SYNTAX_ERROR)));
        assert_eq!(statements.plan("s1"), Plan::Prepare { close_first: true });
        assert!(!statements.failed("unknown", true, &error(SYNTAX_ERROR)));
    }

    #[test]
    fn encoding_errors_append_nothing() {
        let mut out = BytesMut::from(&b"kept"[..]);
        let plan = Plan::Prepare { close_first: true };
        assert!(encode_execution(&mut out, plan, "s1", "SELECT\0").is_err());
        assert!(encode_execution(&mut out, Plan::Execute, "s\0", "SELECT").is_err());
        assert_eq!(&out[..], b"kept");
    }
}
