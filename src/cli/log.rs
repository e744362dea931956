//! What `pgexporter-cli` reports while it works: errors always, a trace of each step with
//! `-v`. Lines go to the `-L` file (appended) when one is given; errors also go to standard
//! error as one line. Nothing logged here ever holds a password: callers pass only messages
//! built from error types that carry none.

use std::fmt::Display;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::clock;

/// The program name that starts every line on standard error.
const PROGRAM: &str = "pgexporter-cli";

/// The client's log: an optional append-only file and the verbosity.
#[derive(Debug)]
pub struct Log {
    file: Option<File>,
    verbose: bool,
}

/// The log file could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the log file {}: {source}", path.display())]
pub struct LogFileError {
    /// The `-L` file.
    pub path: PathBuf,
    /// What the operating system said.
    pub source: io::Error,
}

impl Log {
    /// A log that appends to `path` (created when missing) and traces when `verbose`.
    pub fn open(path: Option<&Path>, verbose: bool) -> Result<Log, LogFileError> {
        let file = path
            .map(|path| {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| LogFileError {
                        path: path.to_owned(),
                        source,
                    })
            })
            .transpose()?;
        Ok(Log { file, verbose })
    }

    /// A log that writes nothing but errors to standard error.
    pub fn quiet() -> Log {
        Log {
            file: None,
            verbose: false,
        }
    }

    /// Records one step with `-v`: to the log file when there is one, else to standard error.
    pub fn trace(&mut self, message: impl Display) {
        if !self.verbose {
            return;
        }
        if self.file.is_some() {
            self.append("DEBUG", &message);
        } else {
            eprintln!("{PROGRAM}: {message}");
        }
    }

    /// Reports a failure: one line on standard error, and a line in the log file.
    pub fn error(&mut self, message: impl Display) {
        eprintln!("{PROGRAM}: {message}");
        self.append("ERROR", &message);
    }

    fn append(&mut self, level: &str, message: &dyn Display) {
        if let Some(file) = &mut self.file {
            // A log line that cannot be written must not stop the command itself.
            let _ = writeln!(file, "{} {level} {message}", clock::log_time());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::test_support::TempDir;

    #[test]
    fn errors_and_verbose_traces_are_appended() {
        let dir = TempDir::new("log");
        let path = dir.path().join("cli.log");
        std::fs::write(&path, "earlier line\n").unwrap();
        let mut log = Log::open(Some(&path), true).unwrap();
        log.trace("connecting to /tmp/.s.pgexporter");
        log.error("the server closed the connection");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0], "earlier line");
        assert!(
            lines[1].ends_with(" DEBUG connecting to /tmp/.s.pgexporter"),
            "{text}"
        );
        assert!(
            lines[2].ends_with(" ERROR the server closed the connection"),
            "{text}"
        );
    }

    #[test]
    fn traces_need_verbose() {
        let dir = TempDir::new("log-quiet");
        let path = dir.path().join("cli.log");
        let mut log = Log::open(Some(&path), false).unwrap();
        log.trace("not written");
        log.error("written");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("not written"), "{text}");
        assert!(text.contains("ERROR written"), "{text}");
    }

    #[test]
    fn an_unwritable_log_file_is_an_error() {
        let error = Log::open(Some(Path::new("/nonexistent-dir/cli.log")), false)
            .expect_err("no such directory");
        assert!(error.to_string().contains("/nonexistent-dir/cli.log"));
    }
}
