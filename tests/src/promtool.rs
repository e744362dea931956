//! `promtool check metrics`, the Prometheus project's own parser and linter of the exposition.

use std::io::Write;
use std::process::{Command, Stdio};

/// What `promtool check metrics` said of a body.
#[derive(Debug, Clone)]
pub struct Report {
    /// The exit code: 0 clean, 3 lint findings only, anything else a parse failure.
    pub code: Option<i32>,
    /// Standard output and error, one finding a line.
    pub output: String,
}

impl Report {
    /// The findings, without blank lines.
    pub fn findings(&self) -> Vec<&str> {
        self.output
            .lines()
            .filter(|line| !line.trim().is_empty())
            .collect()
    }
}

/// Runs `promtool check metrics` on `body`. Panics, saying what to install, when promtool is
/// missing.
pub fn check_metrics(body: &[u8]) -> Report {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            panic!("promtool not found: install the Debian package `prometheus`")
        }
        Err(error) => panic!("cannot run promtool: {error}"),
    };
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(body)
        .expect("write the body to promtool");
    let output = child.wait_with_output().expect("promtool finishes");
    Report {
        code: output.status.code(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}
