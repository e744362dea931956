//! Text of a log line: the strftime prefix (also used to expand `log_path`) and the line layout
//! `<prefix> <LEVEL> <file>:<line> <message>`.

use std::fmt::Write as _;
use std::time::Instant;

use chrono::format::{Item, ParseError, StrftimeItems};
use chrono::{DateTime, Local};

use super::level::Severity;

/// The moment a line is written: the monotonic instant (rotation by age) and the local wall-clock
/// time (prefix, file names).
#[derive(Debug, Clone, Copy)]
pub(super) struct Stamp {
    pub(super) instant: Instant,
    pub(super) local: DateTime<Local>,
}

impl Stamp {
    /// The current moment.
    pub(super) fn now() -> Stamp {
        Stamp {
            instant: Instant::now(),
            local: Local::now(),
        }
    }
}

/// One line to write, before its prefix is rendered.
#[derive(Debug, Clone, Copy)]
pub(super) struct Record<'a> {
    pub(super) severity: Severity,
    /// Source file of the call, as compiled.
    pub(super) file: &'a str,
    pub(super) line: u32,
    pub(super) message: &'a str,
}

/// A strftime format, parsed once.
#[derive(Debug, Clone)]
pub(super) struct Pattern(Vec<Item<'static>>);

impl Pattern {
    /// Parses a strftime format; an unknown or incomplete `%` specifier is an error.
    pub(super) fn parse(format: &str) -> Result<Pattern, ParseError> {
        StrftimeItems::new(format).parse_to_owned().map(Pattern)
    }

    /// Appends `time` formatted by this pattern to `out`. A specifier that cannot be rendered for
    /// a local time leaves `out` unchanged.
    pub(super) fn render(&self, time: &DateTime<Local>, out: &mut String) {
        let formatted = time.format_with_items(self.0.iter());
        let start = out.len();
        if write!(out, "{formatted}").is_err() {
            out.truncate(start);
        }
    }

    /// This pattern formatted at `time`, as a new string.
    pub(super) fn expand(&self, time: &DateTime<Local>) -> String {
        let mut out = String::new();
        self.render(time, &mut out);
        out
    }
}

/// How the level and location are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    Plain,
    /// ANSI colours, for a terminal.
    Coloured,
}

/// Appends the whole line, newline included, to `out`.
pub(super) fn render_line(
    out: &mut String,
    prefix: &Pattern,
    time: &DateTime<Local>,
    record: &Record<'_>,
    style: Style,
) {
    let start = out.len();
    prefix.render(time, out);
    if out.len() > start {
        out.push(' ');
    }
    let level = record.severity.name();
    let file = display_file(record.file);
    let line = record.line;
    let message = record.message;
    // Formatting into a String cannot fail.
    let _ = match style {
        Style::Plain => writeln!(out, "{level:<5} {file}:{line} {message}"),
        Style::Coloured => writeln!(
            out,
            "{colour}{level:<5}\x1b[0m \x1b[90m{file}:{line}\x1b[0m {message}",
            colour = record.severity.colour()
        ),
    };
}

/// The source file as shown: paths inside this workspace stay relative (`net/src/serve.rs`); an
/// absolute path (a dependency's source) is cut to its file name.
fn display_file(file: &str) -> &str {
    if file.starts_with('/') {
        file.rsplit('/').next().unwrap_or(file)
    } else {
        file
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn time() -> DateTime<Local> {
        Local
            .with_ymd_and_hms(2026, 3, 7, 9, 5, 2)
            .earliest()
            .expect("a plain local time")
    }

    fn record(message: &str) -> Record<'_> {
        Record {
            severity: Severity::Warn,
            file: "net/src/serve.rs",
            line: 42,
            message,
        }
    }

    #[test]
    fn prefix_renders_strftime_on_local_time() {
        let default = Pattern::parse("%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(default.expand(&time()), "2026-03-07 09:05:02");
        let custom = Pattern::parse("[%d/%b/%Y %T] %%").unwrap();
        assert_eq!(custom.expand(&time()), "[07/Mar/2026 09:05:02] %");
    }

    #[test]
    fn invalid_specifier_is_refused() {
        assert!(Pattern::parse("%Y-%").is_err());
        assert!(Pattern::parse("%Q").is_err());
    }

    #[test]
    fn plain_line_layout() {
        let prefix = Pattern::parse("%Y-%m-%d %H:%M:%S").unwrap();
        let mut out = String::new();
        render_line(&mut out, &prefix, &time(), &record("ready"), Style::Plain);
        assert_eq!(out, "2026-03-07 09:05:02 WARN  net/src/serve.rs:42 ready\n");
    }

    #[test]
    fn coloured_line_layout() {
        let prefix = Pattern::parse("%H:%M").unwrap();
        let mut out = String::new();
        let fatal = Record {
            severity: Severity::Fatal,
            ..record("gone")
        };
        render_line(&mut out, &prefix, &time(), &fatal, Style::Coloured);
        assert_eq!(
            out,
            "09:05 \x1b[35mFATAL\x1b[0m \x1b[90mnet/src/serve.rs:42\x1b[0m gone\n"
        );
    }

    #[test]
    fn empty_prefix_adds_no_separator() {
        let prefix = Pattern::parse("").unwrap();
        let mut out = String::new();
        render_line(&mut out, &prefix, &time(), &record("x"), Style::Plain);
        assert_eq!(out, "WARN  net/src/serve.rs:42 x\n");
    }

    #[test]
    fn dependency_paths_are_cut_to_the_file_name() {
        assert_eq!(
            display_file("/home/u/.cargo/registry/src/x/rustls-0.23/src/conn.rs"),
            "conn.rs"
        );
        assert_eq!(
            display_file("src/bin/pgexporter.rs"),
            "src/bin/pgexporter.rs"
        );
    }
}
