//! The system log (`log_type = syslog`): one RFC 3164 datagram per line on the local syslog
//! socket, `<PRI>Mmm dd HH:MM:SS pgexporter[pid]: message`, facility USER, as syslog(3) sends
//! them. The message is the event's text alone, as in the reference: syslog adds its own time
//! and the severity travels in PRI.

use std::fmt::Write as _;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local};

use super::level::Severity;

/// The local syslog socket.
pub(super) const DEV_LOG: &str = "/dev/log";
/// The program name in every datagram.
const IDENT: &str = "pgexporter";
/// Facility `user` (RFC 3164 table 1).
const FACILITY_USER: u8 = 1;
/// Longest message sent; a longer one is cut, so the datagram stays within what syslog daemons
/// accept.
const MAX_MESSAGE_BYTES: usize = 8 * 1024;

/// A connection to the syslog socket.
#[derive(Debug)]
pub(super) struct SyslogSink {
    path: PathBuf,
    socket: UnixDatagram,
}

impl SyslogSink {
    /// Connects to the datagram socket at `path` (normally [`DEV_LOG`]).
    pub(super) fn connect(path: &Path) -> io::Result<SyslogSink> {
        Ok(SyslogSink {
            path: path.to_owned(),
            socket: connect(path)?,
        })
    }

    /// Sends one line. When the send fails (the syslog daemon restarted), connects again and
    /// sends once more.
    pub(super) fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        if self.socket.send(datagram).is_ok() {
            return Ok(());
        }
        self.reconnect()?;
        self.socket.send(datagram).map(drop)
    }

    /// Replaces the connection with a new one; on error the old one stays.
    pub(super) fn reconnect(&mut self) -> io::Result<()> {
        self.socket = connect(&self.path)?;
        Ok(())
    }
}

fn connect(path: &Path) -> io::Result<UnixDatagram> {
    let socket = UnixDatagram::unbound()?;
    socket.connect(path)?;
    Ok(socket)
}

/// Appends the datagram of one line to `out`.
pub(super) fn render_datagram(
    out: &mut String,
    time: &DateTime<Local>,
    severity: Severity,
    pid: u32,
    message: &str,
) {
    let priority = FACILITY_USER * 8 + severity.syslog_code();
    let message = cut_at_char_boundary(message, MAX_MESSAGE_BYTES);
    // Formatting into a String cannot fail.
    let _ = write!(
        out,
        "<{priority}>{} {IDENT}[{pid}]: {message}",
        time.format("%b %e %H:%M:%S")
    );
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn cut_at_char_boundary(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
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

    #[test]
    fn datagram_layout() {
        let mut out = String::new();
        render_datagram(&mut out, &time(), Severity::Warn, 4242, "disk almost full");
        assert_eq!(
            out,
            "<12>Mar  7 09:05:02 pgexporter[4242]: disk almost full"
        );
        out.clear();
        render_datagram(&mut out, &time(), Severity::Fatal, 1, "x");
        assert!(out.starts_with("<10>"), "{out}");
        out.clear();
        render_datagram(&mut out, &time(), Severity::Trace, 1, "x");
        assert!(out.starts_with("<15>"), "{out}");
    }

    #[test]
    fn long_messages_are_cut_on_a_character() {
        let text = "é".repeat(MAX_MESSAGE_BYTES);
        let cut = cut_at_char_boundary(&text, MAX_MESSAGE_BYTES + 1);
        assert_eq!(cut.len(), MAX_MESSAGE_BYTES);
        assert_eq!(cut_at_char_boundary("short", 100), "short");
    }

    #[test]
    fn datagrams_reach_the_socket_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let server = UnixDatagram::bind(&path).unwrap();
        let mut sink = SyslogSink::connect(&path).unwrap();
        sink.send(b"<14>one").unwrap();
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"<14>one");
        // The syslog daemon restarts: a new socket at the same path.
        drop(server);
        std::fs::remove_file(&path).unwrap();
        let server = UnixDatagram::bind(&path).unwrap();
        sink.send(b"<14>two").unwrap();
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"<14>two");
    }

    #[test]
    fn missing_socket_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(SyslogSink::connect(&dir.path().join("absent")).is_err());
    }
}
