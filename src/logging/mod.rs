//! Log output of the daemon (SPEC §7): console, file with rotation, or syslog; the live
//! `log_*` settings; and the count of lines written at each level for the
//! `pgexporter_logging_*` families.
//!
//! A line is `<log_line_prefix> <LEVEL> <file>:<line> <message>`, the prefix rendered with
//! strftime on local time. tracing has no FATAL level: a FATAL line comes from
//! [`Logging::fatal`], or from an ERROR event carrying a field named `fatal`
//! (`tracing::error!(fatal = true, "...")`); such lines pass every `log_level`.

mod counting;
mod file;
mod format;
mod layer;
mod level;
mod repeats;
mod sink;
mod syslog;

use std::fmt::Display;
use std::io;
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use pgexporter_core::config::{LogType, MainConfig};
use pgexporter_core::scrape::LogCounters;
use tracing::Subscriber;
use tracing_subscriber::layer::SubscriberExt;

use counting::LineCounts;
use file::{FileSink, Rotation};
use format::{Pattern, Record, Stamp, Style};
use layer::LogLayer;
use level::{Severity, Threshold};
use repeats::{Repeats, Verdict};
use sink::{Output, Sink};
use syslog::{DEV_LOG, SyslogSink};

pub use level::FATAL_FIELD;

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoggingError {
    /// `log_line_prefix` has an unknown or incomplete `%` specifier.
    #[error("log_line_prefix {0:?} is not a valid strftime format")]
    Prefix(String),
    /// `log_path` has an unknown or incomplete `%` specifier.
    #[error("log_path {0:?} is not a valid strftime pattern")]
    PathPattern(String),
    /// The log file could not be opened.
    #[error("cannot open the log file {path}: {source}")]
    Open {
        /// `log_path` as expanded.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// [`init`] was called when a global subscriber was already installed.
    #[error("logging is already set up in this process")]
    AlreadyInstalled,
}

/// The daemon's handle on its log output; clones share it.
#[derive(Clone)]
pub struct Logging {
    shared: Arc<Shared>,
}

/// State shared by the handle and the tracing layer.
struct Shared {
    threshold: Threshold,
    counts: LineCounts,
    output: Mutex<Output>,
    repeats: Mutex<Repeats>,
}

impl Shared {
    /// Writes one line and counts it when it was written. A line but a FATAL one that was
    /// written less than a second ago is left out; the next one written says how many were
    /// (see [`repeats`]).
    fn emit(&self, stamp: Stamp, record: &Record<'_>) {
        let verdict = if record.severity == Severity::Fatal {
            Verdict::Write { left_out: 0 }
        } else {
            self.repeats
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .check(stamp.instant, record.file, record.line, record.message)
        };
        let with_count;
        let record = match verdict {
            Verdict::LeaveOut => return,
            Verdict::Write { left_out: 0 } => record,
            Verdict::Write { left_out } => {
                with_count = format!(
                    "{} (and {left_out} more times since it was last written)",
                    record.message
                );
                &Record {
                    message: &with_count,
                    ..*record
                }
            }
        };
        if self.lock_output().write(stamp, record).is_ok() {
            self.counts.count(record.severity);
        }
    }

    fn lock_output(&self) -> MutexGuard<'_, Output> {
        // A panic while writing leaves nothing half-updated that matters: carry on.
        self.output.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Opens the output `main` describes, installs it as the global tracing subscriber, and returns
/// the handle the daemon keeps for reloads, SIGUSR1, FATAL lines and the line counts. Call once,
/// before anything logs; a second call fails with [`LoggingError::AlreadyInstalled`].
///
/// With `log_type = syslog` and no usable `/dev/log`, lines go to standard error and the first
/// one is a warning saying so.
pub fn init(main: &MainConfig) -> Result<Logging, LoggingError> {
    let (logging, syslog_unreachable) = Logging::open(main, Path::new(DEV_LOG))?;
    tracing::subscriber::set_global_default(logging.subscriber())
        .map_err(|_| LoggingError::AlreadyInstalled)?;
    if let Some(err) = syslog_unreachable {
        tracing::warn!(
            "cannot reach the system log at {DEV_LOG} ({err}); logging to standard error"
        );
    }
    Ok(logging)
}

impl Logging {
    /// Builds the output of `main` without installing it; `syslog_socket` is where
    /// `log_type = syslog` sends. The second value is why the syslog socket could not be used
    /// when the output fell back to standard error.
    fn open(
        main: &MainConfig,
        syslog_socket: &Path,
    ) -> Result<(Logging, Option<io::Error>), LoggingError> {
        let prefix = Pattern::parse(&main.log_line_prefix)
            .map_err(|_| LoggingError::Prefix(main.log_line_prefix.clone()))?;
        let mut syslog_unreachable = None;
        let sink = match main.log_type {
            LogType::Console => console(),
            LogType::File => {
                let pattern = Pattern::parse(&main.log_path)
                    .map_err(|_| LoggingError::PathPattern(main.log_path.clone()))?;
                let stamp = Stamp::now();
                let path = PathBuf::from(pattern.expand(&stamp.local));
                let file = FileSink::open(pattern, main.log_mode, rotation(main), stamp)
                    .map_err(|source| LoggingError::Open { path, source })?;
                Sink::File(file)
            }
            LogType::Syslog => match SyslogSink::connect(syslog_socket) {
                Ok(syslog) => Sink::Syslog(syslog),
                Err(err) => {
                    syslog_unreachable = Some(err);
                    console()
                }
            },
        };
        let shared = Shared {
            threshold: Threshold::new(Severity::threshold(main.log_level)),
            counts: LineCounts::default(),
            output: Mutex::new(Output::new(prefix, sink)),
            repeats: Mutex::new(Repeats::default()),
        };
        let logging = Logging {
            shared: Arc::new(shared),
        };
        Ok((logging, syslog_unreachable))
    }

    /// A subscriber that writes through this handle's output.
    fn subscriber(&self) -> impl Subscriber + Send + Sync + use<> {
        tracing_subscriber::registry().with(LogLayer::new(Arc::clone(&self.shared)))
    }

    /// The counts of INFO, WARN, ERROR and FATAL lines written so far, for the metrics server.
    pub fn source(&self) -> impl Fn() -> LogCounters + Send + Sync + 'static {
        let shared = Arc::clone(&self.shared);
        move || shared.counts.snapshot()
    }

    /// Takes the reloadable keys of a new configuration: `log_level`, `log_line_prefix`,
    /// `log_mode`, `log_rotation_age` and `log_rotation_size`. `log_type` and `log_path` need a
    /// restart and are not looked at. A `log_line_prefix` that is not a valid strftime format is
    /// refused with a warning and the previous one stays.
    pub fn apply(&self, main: &MainConfig) {
        let prefix = Pattern::parse(&main.log_line_prefix);
        {
            let mut output = self.shared.lock_output();
            if let Ok(prefix) = &prefix {
                output.set_prefix(prefix.clone());
            }
            output.configure_file(main.log_mode, rotation(main));
        }
        if self
            .shared
            .threshold
            .set(Severity::threshold(main.log_level))
        {
            tracing::callsite::rebuild_interest_cache();
        }
        if prefix.is_err() {
            tracing::warn!(
                "log_line_prefix {:?} is not a valid strftime format; the previous one stays",
                main.log_line_prefix
            );
        }
    }

    /// Closes the log file and opens `log_path` again, appending (for SIGUSR1, after the file was
    /// moved away). With syslog, connects to the socket again; on the console, does nothing.
    /// On error the previous file or connection stays in use.
    pub fn reopen(&self) -> io::Result<()> {
        self.shared.lock_output().reopen(Stamp::now())
    }

    /// Writes `message` as a FATAL line, located at the caller, whatever `log_level` is, and
    /// counts it. The daemon exits after this.
    #[track_caller]
    pub fn fatal(&self, message: &dyn Display) {
        let location = Location::caller();
        let message = message.to_string();
        let record = Record {
            severity: Severity::Fatal,
            file: location.file(),
            line: location.line(),
            message: &message,
        };
        self.shared.emit(Stamp::now(), &record);
    }
}

/// Standard error, coloured when it is a terminal.
fn console() -> Sink {
    let style = if io::IsTerminal::is_terminal(&io::stderr()) {
        Style::Coloured
    } else {
        Style::Plain
    };
    Sink::Console(style)
}

/// The rotation settings of `main`.
fn rotation(main: &MainConfig) -> Rotation {
    Rotation {
        age: main.log_rotation_age,
        size: main.log_rotation_size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgexporter_core::config::{LogLevel, LogMode};
    use pgexporter_core::scrape::LogCounters;
    use std::os::unix::net::UnixDatagram;

    /// A file logging configuration writing to `dir/name`, with a fixed-width prefix.
    fn file_config(dir: &Path, name: &str) -> MainConfig {
        MainConfig {
            log_type: LogType::File,
            log_path: dir.join(name).display().to_string(),
            log_line_prefix: "[%Y]".to_owned(),
            ..MainConfig::default()
        }
    }

    fn open(main: &MainConfig) -> Logging {
        let (logging, syslog_unreachable) = Logging::open(main, Path::new(DEV_LOG)).unwrap();
        assert!(syslog_unreachable.is_none());
        logging
    }

    /// The lines of `path` without their prefix (the year).
    fn lines_after_prefix(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|line| {
                let (prefix, rest) = line.split_once(' ').unwrap();
                assert!(prefix.starts_with("[20"), "{line}");
                rest.to_owned()
            })
            .collect()
    }

    fn counts(logging: &Logging) -> LogCounters {
        (logging.source())()
    }

    #[test]
    fn the_handle_can_be_shared_between_threads() {
        fn shareable<T: Clone + Send + Sync + 'static>() {}
        shareable::<Logging>();
    }

    #[test]
    fn events_become_lines_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let logging = open(&file_config(dir.path(), "events.log"));
        let first = line!() + 2;
        tracing::subscriber::with_default(logging.subscriber(), || {
            tracing::info!("hello");
            tracing::warn!(port = 5432, name = "db", "bound");
            tracing::debug!("below the level");
            tracing::error!(fatal = true, "cannot go on");
            tracing::error!(error = %"refused", "scrape failed");
        });
        let file = file!();
        assert_eq!(
            lines_after_prefix(&dir.path().join("events.log")),
            [
                format!("INFO  {file}:{first} hello"),
                format!("WARN  {file}:{} bound port=5432 name=db", first + 1),
                format!("FATAL {file}:{} cannot go on", first + 3),
                format!("ERROR {file}:{} scrape failed error=refused", first + 4),
            ]
        );
        let expected = LogCounters {
            info: 1,
            warn: 1,
            error: 1,
            fatal: 1,
        };
        assert_eq!(counts(&logging), expected);
    }

    #[test]
    fn level_change_takes_effect() {
        let dir = tempfile::tempdir().unwrap();
        let mut main = file_config(dir.path(), "level.log");
        main.log_level = LogLevel::Warn;
        let logging = open(&main);
        let subscriber = logging.subscriber();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("dropped at warn");
            main.log_level = LogLevel::Debug1;
            logging.apply(&main);
            tracing::debug!("written at debug1");
            tracing::trace!("dropped at debug1");
            main.log_level = LogLevel::Debug3;
            logging.apply(&main);
            tracing::trace!("written at debug3");
            main.log_level = LogLevel::Fatal;
            logging.apply(&main);
            tracing::error!("dropped at fatal");
            tracing::error!(fatal = true, "written at fatal");
        });
        let messages: Vec<String> = lines_after_prefix(&dir.path().join("level.log"))
            .iter()
            .map(|line| {
                line.rsplit_once(' ')
                    .map_or("", |(_, word)| word)
                    .to_owned()
            })
            .collect();
        assert_eq!(messages, ["debug1", "debug3", "fatal"]);
        let expected = LogCounters {
            fatal: 1,
            ..LogCounters::default()
        };
        assert_eq!(counts(&logging), expected);
    }

    #[test]
    fn fatal_is_located_at_the_caller_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut main = file_config(dir.path(), "fatal.log");
        main.log_level = LogLevel::Fatal;
        let logging = open(&main);
        let line = line!() + 1;
        logging.fatal(&"cannot bind to port 5002");
        assert_eq!(
            lines_after_prefix(&dir.path().join("fatal.log")),
            [format!("FATAL {}:{line} cannot bind to port 5002", file!())]
        );
        assert_eq!(counts(&logging).fatal, 1);
        assert_eq!(counts(&logging.clone()).fatal, 1);
    }

    #[test]
    fn apply_changes_prefix_mode_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let mut main = file_config(dir.path(), "live.log");
        let logging = open(&main);
        tracing::subscriber::with_default(logging.subscriber(), || {
            tracing::info!("one");
            main.log_line_prefix = "<%Y>".to_owned();
            main.log_rotation_size = 1;
            main.log_mode = LogMode::Create;
            logging.apply(&main);
            tracing::info!("two");
            main.log_line_prefix = "%Y-%".to_owned();
            main.log_rotation_size = 0;
            logging.apply(&main);
            tracing::info!("three");
        });
        let archived: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.file_name().unwrap() != "live.log")
            .collect();
        assert_eq!(archived.len(), 1, "{archived:?}");
        let old = std::fs::read_to_string(&archived[0]).unwrap();
        assert!(old.starts_with("[20") && old.ends_with(" one\n"), "{old}");
        let current = std::fs::read_to_string(dir.path().join("live.log")).unwrap();
        let lines: Vec<&str> = current.lines().collect();
        assert_eq!(lines.len(), 3, "{current}");
        assert!(lines[0].starts_with("<20") && lines[0].ends_with(" two"));
        assert!(lines[1].contains("WARN") && lines[1].contains("the previous one stays"));
        assert!(lines[2].starts_with("<20") && lines[2].ends_with(" three"));
    }

    #[test]
    fn reopen_follows_a_moved_file() {
        let dir = tempfile::tempdir().unwrap();
        let logging = open(&file_config(dir.path(), "moved.log"));
        logging.fatal(&"before");
        let moved = dir.path().join("moved.log.old");
        std::fs::rename(dir.path().join("moved.log"), &moved).unwrap();
        logging.reopen().unwrap();
        logging.fatal(&"after");
        let old = std::fs::read_to_string(&moved).unwrap();
        let new = std::fs::read_to_string(dir.path().join("moved.log")).unwrap();
        assert!(
            old.ends_with(" before\n") && old.lines().count() == 1,
            "{old}"
        );
        assert!(
            new.ends_with(" after\n") && new.lines().count() == 1,
            "{new}"
        );
    }

    #[test]
    fn syslog_datagrams_arrive_at_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("log");
        let server = UnixDatagram::bind(&socket).unwrap();
        let main = MainConfig {
            log_type: LogType::Syslog,
            ..MainConfig::default()
        };
        let (logging, syslog_unreachable) = Logging::open(&main, &socket).unwrap();
        assert!(syslog_unreachable.is_none());
        tracing::subscriber::with_default(logging.subscriber(), || {
            tracing::warn!("disk almost full");
        });
        logging.fatal(&"stopping");
        let pid = std::process::id();
        let mut buf = [0u8; 256];
        for (priority, message) in [(12, "disk almost full"), (10, "stopping")] {
            let n = server.recv(&mut buf).unwrap();
            let datagram = std::str::from_utf8(&buf[..n]).unwrap();
            let head = format!("<{priority}>");
            let tail = format!(" pgexporter[{pid}]: {message}");
            assert!(
                datagram.starts_with(&head) && datagram.ends_with(&tail),
                "{datagram}"
            );
        }
        assert_eq!(counts(&logging).warn, 1);
        assert_eq!(counts(&logging).fatal, 1);
    }

    #[test]
    fn missing_syslog_socket_falls_back_to_the_console() {
        let dir = tempfile::tempdir().unwrap();
        let main = MainConfig {
            log_type: LogType::Syslog,
            ..MainConfig::default()
        };
        let (logging, syslog_unreachable) =
            Logging::open(&main, &dir.path().join("absent")).unwrap();
        assert!(syslog_unreachable.is_some());
        logging.fatal(&"written to standard error");
        assert_eq!(counts(&logging).fatal, 1);
    }

    #[test]
    fn bad_settings_are_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut main = file_config(dir.path(), "missing/dir.log");
        assert!(matches!(
            Logging::open(&main, Path::new(DEV_LOG)),
            Err(LoggingError::Open { .. })
        ));
        main.log_path = dir.path().join("%").display().to_string();
        assert!(matches!(
            Logging::open(&main, Path::new(DEV_LOG)),
            Err(LoggingError::PathPattern(_))
        ));
        main.log_line_prefix = "%Y %".to_owned();
        assert!(matches!(
            Logging::open(&main, Path::new(DEV_LOG)),
            Err(LoggingError::Prefix(_))
        ));
    }
}
