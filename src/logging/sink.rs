//! Where rendered lines go: standard error, the log file or the system log.

use std::io::{self, Write as _};

use pgexporter_core::config::LogMode;

use super::file::{FileSink, Rotation, WriteError};
use super::format::{Pattern, Record, Stamp, Style, render_line};
use super::syslog::{SyslogSink, render_datagram};

/// A line buffer that grew past this is given back after use.
const KEPT_BUFFER_BYTES: usize = 64 * 1024;

/// The destination of lines (`log_type`).
#[derive(Debug)]
pub(super) enum Sink {
    /// Standard error, coloured when it is a terminal.
    Console(Style),
    File(FileSink),
    Syslog(SyslogSink),
}

/// The sink with the live line prefix and a reusable line buffer; one per process, behind a lock
/// so that lines never interleave.
#[derive(Debug)]
pub(super) struct Output {
    prefix: Pattern,
    sink: Sink,
    buffer: String,
}

impl Output {
    /// Lines prefixed by `prefix` (a parsed `log_line_prefix`) going to `sink`.
    pub(super) fn new(prefix: Pattern, sink: Sink) -> Output {
        Output {
            prefix,
            sink,
            buffer: String::new(),
        }
    }

    /// Writes one line with a single write. `Ok` means the line was written; a failed rotation
    /// of the log file is reported on standard error and the line still counts as written.
    pub(super) fn write(&mut self, stamp: Stamp, record: &Record<'_>) -> io::Result<()> {
        self.buffer.clear();
        let written = match &mut self.sink {
            Sink::Console(style) => {
                render_line(&mut self.buffer, &self.prefix, &stamp.local, record, *style);
                io::stderr().lock().write_all(self.buffer.as_bytes())
            }
            Sink::File(file) => {
                render_line(
                    &mut self.buffer,
                    &self.prefix,
                    &stamp.local,
                    record,
                    Style::Plain,
                );
                match file.write_line(stamp, self.buffer.as_bytes()) {
                    Ok(()) => Ok(()),
                    Err(WriteError::Write(err)) => Err(err),
                    Err(WriteError::Rotate(err)) => {
                        let path = file.path().display();
                        eprintln!("pgexporter: cannot rotate the log file {path}: {err}");
                        Ok(())
                    }
                }
            }
            Sink::Syslog(syslog) => {
                let pid = std::process::id();
                render_datagram(
                    &mut self.buffer,
                    &stamp.local,
                    record.severity,
                    pid,
                    record.message,
                );
                syslog.send(self.buffer.as_bytes())
            }
        };
        if self.buffer.capacity() > KEPT_BUFFER_BYTES {
            self.buffer = String::new();
        }
        written
    }

    /// Takes a new `log_line_prefix`.
    pub(super) fn set_prefix(&mut self, prefix: Pattern) {
        self.prefix = prefix;
    }

    /// Takes new `log_mode` and rotation settings (used by the file sink only).
    pub(super) fn configure_file(&mut self, mode: LogMode, rotation: Rotation) {
        if let Sink::File(file) = &mut self.sink {
            file.configure(mode, rotation);
        }
    }

    /// Reopens the log file, or reconnects to the system log; nothing to do on the console.
    /// A log file that cannot be reopened (its directory gone, say) is also reported on
    /// standard error: the line saying so would otherwise go to the file that stays open.
    pub(super) fn reopen(&mut self, stamp: Stamp) -> io::Result<()> {
        match &mut self.sink {
            Sink::Console(_) => Ok(()),
            Sink::File(file) => file.reopen(stamp).inspect_err(|err| {
                let path = file.path().display();
                eprintln!(
                    "pgexporter: cannot reopen the log file ({err}); still writing to {path}"
                );
            }),
            Sink::Syslog(syslog) => syslog.reconnect(),
        }
    }
}
