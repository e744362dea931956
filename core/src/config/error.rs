//! Errors and warnings of loading a configuration, each with the file, line and key it is
//! about.

use std::fmt;

use thiserror::Error;

use super::ini::SyntaxError;
use super::values::ValueError;

/// A rule of the configuration that a set of values breaks. Found by validation, which knows
/// no files; the loader adds the place.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Problem {
    /// A required key is missing or empty.
    #[error("required in section [{section}]")]
    MissingKey {
        /// The section it is missing from.
        section: String,
    },
    /// Neither `metrics` nor `bridge` is set.
    #[error("at least one of 'metrics' or 'bridge' must be set")]
    NoListener,
    /// Two listeners share a port.
    #[error("port {port} is already used by '{other}'")]
    PortConflict {
        /// The port.
        port: u16,
        /// The other key that has it.
        other: &'static str,
    },
    /// `bridge_json` is set and `bridge` is not.
    #[error("needs 'bridge' to be set")]
    BridgeJsonWithoutBridge,
    /// A value outside the range of its key (the ranges are in
    /// [`bounds`](super::bounds)).
    #[error("{value} is out of range (expected {range})")]
    OutOfRange {
        /// The value, as `conf get` would show it.
        value: String,
        /// What the key accepts.
        range: String,
    },
    /// A text longer than its key takes.
    #[error("{length} bytes is longer than the {max} bytes allowed")]
    TooLong {
        /// The length given.
        length: usize,
        /// The most accepted.
        max: usize,
    },
    /// A strftime pattern with a specifier the log writer cannot render.
    #[error(transparent)]
    Pattern(#[from] super::strftime::PatternError),
    /// A socket directory whose socket path would not fit a Unix socket address.
    #[error("the socket path would be {length} bytes, more than the {max} a Unix socket takes")]
    SocketPathTooLong {
        /// The socket path's length.
        length: usize,
        /// The most a Unix socket address holds.
        max: usize,
    },
    /// More than 64 server sections.
    #[error("more than {max} servers", max = super::model::MAX_SERVERS)]
    TooManyServers,
    /// No server section, and no bridge to serve instead.
    #[error("no server sections (at least one is needed unless 'bridge' is set)")]
    NoServers,
}

/// What is wrong at a place of a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is not valid INI.
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    /// The text is not valid TOML (the parser's message).
    #[error("invalid TOML: {0}")]
    Toml(String),
    /// A TOML item that has no place in the configuration shape.
    #[error("unexpected {found} (expected {expected})")]
    TomlShape {
        /// What was found, e.g. `array of tables`.
        found: String,
        /// What belongs there.
        expected: &'static str,
    },
    /// A value with the wrong syntax.
    #[error(transparent)]
    Value(#[from] ValueError),
    /// A rule broken by the values together.
    #[error(transparent)]
    Problem(#[from] Problem),
    /// `[pgexporter]` or `[all]` used as a server name, or `[all]` anywhere.
    #[error("section name '{0}' is reserved")]
    ReservedSection(String),
    /// A section given twice.
    #[error("duplicate section [{name}] (first at line {first_line})")]
    DuplicateSection {
        /// The section.
        name: String,
        /// Where it appeared first.
        first_line: usize,
    },
    /// No `[pgexporter]` section.
    #[error("missing [pgexporter] section")]
    MissingMainSection,
}

/// An error that stops a configuration from loading: its place and what is wrong.
///
/// Displays as `file:line: key 'name': message`, leaving out the line or key when the error
/// has none.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct ConfigError {
    /// The file name given to the loader.
    pub file: String,
    /// 1-based line, when the error is at one.
    pub line: Option<usize>,
    /// The key concerned, when there is one.
    pub key: Option<String>,
    /// What is wrong.
    pub kind: ErrorKind,
}

fn write_place(
    f: &mut fmt::Formatter<'_>,
    file: &str,
    line: Option<usize>,
    key: Option<&str>,
) -> fmt::Result {
    write!(f, "{file}")?;
    if let Some(line) = line {
        write!(f, ":{line}")?;
    }
    if let Some(key) = key {
        write!(f, ": key '{key}'")?;
    }
    Ok(())
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_place(f, &self.file, self.line, self.key.as_deref())?;
        write!(f, ": {}", self.kind)
    }
}

/// Something worth telling the user that does not stop the load.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WarningKind {
    /// A key that no section knows; it is ignored.
    UnknownKey,
    /// A key given twice in one section; the last value wins.
    DuplicateKey {
        /// Where the earlier value was.
        first_line: usize,
    },
}

/// A warning with its place; displays as `file:line: key 'name': message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file name given to the loader.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// The key concerned.
    pub key: String,
    /// What was noticed.
    pub kind: WarningKind,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_place(f, &self.file, Some(self.line), Some(&self.key))?;
        match self.kind {
            WarningKind::UnknownKey => write!(f, ": unknown key, ignored"),
            WarningKind::DuplicateKey { first_line } => write!(
                f,
                ": given again (first at line {first_line}); the last value is used"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_and_key() {
        let err = ConfigError {
            file: "pgexporter.conf".into(),
            line: Some(12),
            key: Some("metrics_query_timeout".into()),
            kind: ValueError::Invalid {
                what: "duration",
                value: "5x".into(),
                expected: "digits with optional unit ms, s, m, h, d or w",
            }
            .into(),
        };
        assert_eq!(
            err.to_string(),
            "pgexporter.conf:12: key 'metrics_query_timeout': invalid duration '5x' (expected digits with optional unit ms, s, m, h, d or w)"
        );
        let err = ConfigError {
            file: "x.conf".into(),
            line: None,
            key: None,
            kind: ErrorKind::MissingMainSection,
        };
        assert_eq!(err.to_string(), "x.conf: missing [pgexporter] section");
    }

    #[test]
    fn warnings_display_their_place() {
        let warning = Warning {
            file: "a.conf".into(),
            line: 3,
            key: "colour".into(),
            kind: WarningKind::UnknownKey,
        };
        assert_eq!(
            warning.to_string(),
            "a.conf:3: key 'colour': unknown key, ignored"
        );
    }
}
