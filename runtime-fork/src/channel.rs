//! The channel between the parent and one child: a `SOCK_SEQPACKET` socket pair made before
//! the fork, so that every message arrives whole and a child's exit reads as end of file.

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use bytes::Bytes;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use pgexporter_core::exposition::Format;
use pgexporter_core::history::{Cursor, HistoryAnswer, HistoryJob, PageStart, Window};
use pgexporter_core::management::{Document, Request, Transport};
use pgexporter_core::serve::{Job, ScrapeJob};

/// Largest message: a management document and a few bytes. Documents a client sends are
/// bounded by the frame size limit; those larger than this are refused.
pub(crate) const MAX_MESSAGE: usize = 256 << 10;

const SCRAPE: u8 = 1;
const MANAGEMENT: u8 = 2;
const RENDERED: u8 = 3;
const ANSWER: u8 = 4;
const HISTORY: u8 = 5;
const HISTORY_PIECE: u8 = 6;
const HISTORY_FAILED: u8 = 7;
const HISTORY_BUSY: u8 = 8;

/// The parent's answer to a child's job.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    /// The scrape is done: whether the body of the job's format is in the shared state.
    Rendered(bool),
    /// The answer document of a management request.
    Management(Document),
    /// A piece of a history answer.
    History(HistoryAnswer),
}

/// Why a message cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ChannelError {
    /// The socket failed.
    #[error("channel: {0}")]
    Io(#[from] io::Error),
    /// The other side closed.
    #[error("channel closed")]
    Closed,
    /// The other side sent something that is not a message.
    #[error("malformed channel message")]
    Malformed,
    /// A message to send is larger than [`MAX_MESSAGE`].
    #[error("channel message of {0} bytes is too large")]
    TooLarge(usize),
}

/// One end of a parent-child channel.
#[derive(Debug)]
pub(crate) struct Channel {
    socket: UnixStream,
    buffer: Vec<u8>,
}

impl Channel {
    /// A connected pair: the parent's end, then the child's.
    ///
    /// # Errors
    /// When the sockets cannot be made (out of file descriptors).
    pub(crate) fn pair() -> io::Result<(Channel, Channel)> {
        let (parent, child) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        Ok((Channel::new(parent), Channel::new(child)))
    }

    fn new(socket: OwnedFd) -> Channel {
        Channel {
            socket: UnixStream::from(socket),
            buffer: vec![0; MAX_MESSAGE + 1],
        }
    }

    /// The socket, for `poll`.
    pub(crate) fn socket(&self) -> &UnixStream {
        &self.socket
    }

    /// Sends `job` (child side; blocks until the kernel takes it).
    ///
    /// # Errors
    /// When the parent is gone or the message is too large.
    pub(crate) fn send_job(&mut self, job: &Job) -> Result<(), ChannelError> {
        let mut message = Vec::new();
        match job {
            Job::Scrape(ScrapeJob { format, timeout }) => {
                message.push(SCRAPE);
                message.push(u8::from(*format == Format::OpenMetrics));
                let millis = timeout.map_or(0, |timeout| timeout.as_millis().max(1));
                let millis = u64::try_from(millis).unwrap_or(u64::MAX);
                message.extend_from_slice(&millis.to_be_bytes());
            }
            Job::Management(request) => {
                message.push(MANAGEMENT);
                message.push(u8::from(request.transport == Transport::Remote));
                message.extend_from_slice(&request.document.to_json());
            }
            Job::History(job) => {
                message.push(HISTORY);
                let (kind, numbers) = match job.start {
                    PageStart::First {
                        timestamp,
                        duration,
                    } => (
                        u8::from(timestamp.is_some()),
                        [timestamp.unwrap_or(0), duration, 0, 0],
                    ),
                    PageStart::After(cursor) => (2, cursor_numbers(cursor)),
                };
                message.push(kind);
                for number in numbers {
                    message.extend_from_slice(&number.to_be_bytes());
                }
                message.extend_from_slice(job.metric.as_bytes());
            }
        }
        self.send(&message)
    }

    /// Reads one job (parent side). `Ok(None)` when none is waiting on a non-blocking socket.
    ///
    /// # Errors
    /// [`ChannelError::Closed`] when the child has exited; the others when it misbehaved.
    pub(crate) fn receive_job(&mut self) -> Result<Option<Job>, ChannelError> {
        let Some(message) = self.receive()? else {
            return Ok(None);
        };
        let job = match message {
            [SCRAPE, format, millis @ ..] => {
                let millis: [u8; 8] = millis.try_into().map_err(|_| ChannelError::Malformed)?;
                let millis = u64::from_be_bytes(millis);
                Job::Scrape(ScrapeJob {
                    format: if *format == 1 {
                        Format::OpenMetrics
                    } else {
                        Format::Text
                    },
                    timeout: (millis > 0).then(|| Duration::from_millis(millis)),
                })
            }
            [MANAGEMENT, remote, json @ ..] => Job::Management(Request {
                document: Document::parse(json).map_err(|_| ChannelError::Malformed)?,
                transport: if *remote == 1 {
                    Transport::Remote
                } else {
                    Transport::Local
                },
            }),
            [HISTORY, kind, rest @ ..] => {
                let (numbers, metric) = read_numbers(rest)?;
                let [first, second, third, fourth] = numbers;
                let start = match kind {
                    0 | 1 => PageStart::First {
                        timestamp: (*kind == 1).then_some(first),
                        duration: second,
                    },
                    2 => PageStart::After(Cursor {
                        window: Window {
                            from: first,
                            to: second,
                        },
                        timestamp: third,
                        series: fourth,
                    }),
                    _ => return Err(ChannelError::Malformed),
                };
                let metric = std::str::from_utf8(metric).map_err(|_| ChannelError::Malformed)?;
                Job::History(HistoryJob {
                    metric: metric.to_owned(),
                    start,
                })
            }
            _ => return Err(ChannelError::Malformed),
        };
        Ok(Some(job))
    }

    /// Answers the child's job (parent side).
    ///
    /// # Errors
    /// When the child is gone or the document is too large.
    pub(crate) fn send_reply(&mut self, reply: &Reply) -> Result<(), ChannelError> {
        match reply {
            Reply::Rendered(published) => self.send(&[RENDERED, u8::from(*published)]),
            Reply::Management(document) => {
                let mut message = vec![ANSWER];
                message.extend_from_slice(&document.to_json());
                self.send(&message)
            }
            Reply::History(HistoryAnswer::Piece { body, next }) => {
                let mut message = vec![HISTORY_PIECE, u8::from(next.is_some())];
                for number in next.map_or([0; 4], cursor_numbers) {
                    message.extend_from_slice(&number.to_be_bytes());
                }
                message.extend_from_slice(body);
                self.send(&message)
            }
            Reply::History(HistoryAnswer::Failed) => self.send(&[HISTORY_FAILED]),
            Reply::History(HistoryAnswer::Busy) => self.send(&[HISTORY_BUSY]),
        }
    }

    /// Reads the parent's reply (child side).
    ///
    /// # Errors
    /// When the parent is gone or sent something else.
    pub(crate) fn receive_reply(&mut self) -> Result<Reply, ChannelError> {
        match self.receive()? {
            Some([RENDERED, published]) => Ok(Reply::Rendered(*published == 1)),
            Some([ANSWER, json @ ..]) => Document::parse(json)
                .map(Reply::Management)
                .map_err(|_| ChannelError::Malformed),
            Some([HISTORY_PIECE, more, rest @ ..]) => {
                let ([from, to, timestamp, series], body) = read_numbers(rest)?;
                let next = (*more == 1).then_some(Cursor {
                    window: Window { from, to },
                    timestamp,
                    series,
                });
                Ok(Reply::History(HistoryAnswer::Piece {
                    body: Bytes::copy_from_slice(body),
                    next,
                }))
            }
            Some([HISTORY_FAILED]) => Ok(Reply::History(HistoryAnswer::Failed)),
            Some([HISTORY_BUSY]) => Ok(Reply::History(HistoryAnswer::Busy)),
            Some(_) => Err(ChannelError::Malformed),
            None => Err(ChannelError::Closed),
        }
    }

    fn send(&mut self, message: &[u8]) -> Result<(), ChannelError> {
        if message.len() > MAX_MESSAGE {
            return Err(ChannelError::TooLarge(message.len()));
        }
        let written = self.socket.write(message)?;
        if written != message.len() {
            return Err(ChannelError::TooLarge(message.len()));
        }
        Ok(())
    }

    fn receive(&mut self) -> Result<Option<&[u8]>, ChannelError> {
        match self.socket.read(&mut self.buffer) {
            Ok(0) => Err(ChannelError::Closed),
            Ok(count) if count > MAX_MESSAGE => Err(ChannelError::Malformed),
            Ok(count) => Ok(self.buffer.get(..count)),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(error) => Err(ChannelError::Io(error)),
        }
    }
}

/// The numbers a history cursor travels as.
fn cursor_numbers(cursor: Cursor) -> [i64; 4] {
    [
        cursor.window.from,
        cursor.window.to,
        cursor.timestamp,
        cursor.series,
    ]
}

/// Four big-endian `i64`s, then the rest of the message.
fn read_numbers(message: &[u8]) -> Result<([i64; 4], &[u8]), ChannelError> {
    let mut numbers = [0i64; 4];
    let mut rest = message;
    for number in &mut numbers {
        let (bytes, after) = rest
            .split_first_chunk::<8>()
            .ok_or(ChannelError::Malformed)?;
        *number = i64::from_be_bytes(*bytes);
        rest = after;
    }
    Ok((numbers, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgexporter_core::management::{Command, Header, Object, Output};

    fn ping() -> Document {
        Document::request(
            Header::new(Command::Ping, Output::Json, "20261125000000"),
            Object::new(),
        )
    }

    fn cursor() -> Cursor {
        Cursor {
            window: Window {
                from: 1,
                to: i64::MAX,
            },
            timestamp: i64::MIN,
            series: 7,
        }
    }

    #[test]
    fn jobs_and_replies_cross_whole() {
        let (mut parent, mut child) = Channel::pair().unwrap();
        let jobs = [
            Job::Scrape(ScrapeJob {
                format: Format::OpenMetrics,
                timeout: Some(Duration::from_millis(1500)),
            }),
            Job::Scrape(ScrapeJob {
                format: Format::Text,
                timeout: None,
            }),
            Job::Management(Request {
                document: ping(),
                transport: Transport::Remote,
            }),
            Job::History(HistoryJob {
                metric: "pgexporter_pg_database_size".into(),
                start: PageStart::First {
                    timestamp: Some(-5),
                    duration: -600,
                },
            }),
            Job::History(HistoryJob {
                metric: "m".into(),
                start: PageStart::First {
                    timestamp: None,
                    duration: 3,
                },
            }),
            Job::History(HistoryJob {
                metric: "m".into(),
                start: PageStart::After(cursor()),
            }),
        ];
        for job in &jobs {
            child.send_job(job).unwrap();
        }
        for job in &jobs {
            assert_eq!(parent.receive_job().unwrap().as_ref(), Some(job));
        }
        for reply in [
            Reply::Rendered(true),
            Reply::Rendered(false),
            Reply::Management(ping()),
            Reply::History(HistoryAnswer::Piece {
                body: Bytes::from_static(b"[{}"),
                next: Some(cursor()),
            }),
            Reply::History(HistoryAnswer::Piece {
                body: Bytes::from_static(b"]"),
                next: None,
            }),
            Reply::History(HistoryAnswer::Failed),
            Reply::History(HistoryAnswer::Busy),
        ] {
            parent.send_reply(&reply).unwrap();
            assert_eq!(child.receive_reply().unwrap(), reply);
        }
    }

    #[test]
    fn a_closed_child_and_garbage_are_told_apart() {
        let (mut parent, mut child) = Channel::pair().unwrap();
        child.send(&[SCRAPE, 0, 1]).unwrap();
        assert!(matches!(parent.receive_job(), Err(ChannelError::Malformed)));
        child.send(&[MANAGEMENT, 0, b'{']).unwrap();
        assert!(matches!(parent.receive_job(), Err(ChannelError::Malformed)));
        child.send(&[HISTORY, 0, 1, 2]).unwrap();
        assert!(matches!(parent.receive_job(), Err(ChannelError::Malformed)));
        child
            .send(&[[HISTORY, 3].as_slice(), &[0; 32]].concat())
            .unwrap();
        assert!(matches!(parent.receive_job(), Err(ChannelError::Malformed)));
        assert!(matches!(
            child.send(&vec![0; MAX_MESSAGE + 1]),
            Err(ChannelError::TooLarge(_))
        ));
        drop(child);
        assert!(matches!(parent.receive_job(), Err(ChannelError::Closed)));
    }
}
