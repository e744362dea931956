//! `promtool`, the Prometheus project's own tool: `check metrics` (its parser and linter of the
//! exposition) and whatever else the tests ask it.

use std::io::Write;
use std::process::{Child, Command, Stdio};

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
    let mut child = spawn(&["check", "metrics"], Stdio::piped());
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(body)
        .expect("write the body to promtool");
    report(child)
}

/// Runs `promtool args` (for example `check rules FILE`, `test rules FILE`) to completion.
/// Panics, saying what to install, when promtool is missing.
pub fn run(args: &[&str]) -> Report {
    report(spawn(args, Stdio::null()))
}

/// `promtool args` started with `stdin`, its output captured.
fn spawn(args: &[&str], stdin: Stdio) -> Child {
    match Command::new("promtool")
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            panic!("promtool not found: install the Debian package `prometheus`")
        }
        Err(error) => panic!("cannot run promtool: {error}"),
    }
}

/// The exit code and output of `child` once it ends.
fn report(child: Child) -> Report {
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

/// promtool's naming lints that the reference's family names trip; dashboards depend on the
/// names, so they are kept (README, "Compatibility notes"). The camel-case ones are settings
/// families named after PostgreSQL's settings (`pgexporter_pg_settings_DateStyle`).
pub const INHERITED_NAMING_LINTS: [&str; 5] = [
    "counter metrics should have \"_total\" suffix",
    "non-histogram and non-summary metrics should not have \"_count\" suffix",
    "metric name should not include type 'summary'",
    "metric names should not contain abbreviated units",
    "metric names should be written in 'snake_case' not 'camelCase'",
];

/// Runs `promtool check metrics` on `body`; panics on a parse error or a lint other than
/// [`INHERITED_NAMING_LINTS`].
pub fn assert_valid_exposition(body: &str) {
    let report = check_metrics(body.as_bytes());
    // 0: clean; 3: lint findings only; anything else: the body did not parse.
    assert!(
        matches!(report.code, Some(0) | Some(3)),
        "promtool exit {:?}:\n{}",
        report.code,
        report.output
    );
    let unexpected: Vec<&str> = report
        .findings()
        .into_iter()
        .filter(|line| {
            !INHERITED_NAMING_LINTS
                .iter()
                .any(|lint| line.contains(lint))
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "promtool found:\n{}",
        unexpected.join("\n")
    );
}
