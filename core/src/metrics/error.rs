//! Errors found in metric definition files.

use std::fmt;

/// Where something was written: a file and, when known, a line and column (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The name the caller gave the source, usually its path.
    pub file: String,
    /// 1-based line, 0 when unknown (JSON values carry no position once parsed).
    pub line: u64,
    /// 1-based column, 0 when unknown.
    pub column: u64,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}", self.file),
            (line, 0) => write!(f, "{}:{line}", self.file),
            (line, column) => write!(f, "{}:{line}:{column}", self.file),
        }
    }
}

/// Why a set of metric definitions was refused. Every variant names the place at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DefinitionError {
    /// The text is not valid YAML/JSON, or does not have the shape of a metrics file (unknown
    /// key, missing key, wrong type, unknown enum value).
    #[error("{place}: {message}")]
    Syntax {
        /// Where the parser stopped.
        place: Place,
        /// The parser's explanation.
        message: String,
    },
    /// The file parses but a metric breaks a rule (no query, a value column missing, a name that
    /// cannot be a Prometheus name, ...).
    #[error("{place}: metric '{tag}': {message}")]
    Invalid {
        /// The metric's tag.
        place: Place,
        /// The tag of the metric at fault.
        tag: String,
        /// What rule was broken.
        message: String,
    },
    /// Two definitions produce the same metric family.
    #[error("{place}: family '{family}' of metric '{tag}' is already defined at {first}")]
    Duplicate {
        /// The later definition.
        place: Place,
        /// Its tag.
        tag: String,
        /// The family both produce.
        family: String,
        /// The earlier definition.
        first: Box<Place>,
    },
    /// More definitions than one scrape may run.
    #[error("{place}: more than {limit} metric definitions")]
    TooMany {
        /// The source in which the limit was passed.
        place: Place,
        /// The limit.
        limit: usize,
    },
}
