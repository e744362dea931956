//! The channel between the parent and one child: a `SOCK_SEQPACKET` socket pair made before
//! the fork, so that every message arrives whole and a child's exit reads as end of file; and
//! an in-memory file (memfd), also made before the fork, through which the parent hands the
//! child a rendered body of any size.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use bytes::Bytes;
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use pgexporter_core::history::HistoryAnswer;
use pgexporter_core::management::Document;
use pgexporter_core::serve::Job;

/// Largest message: a management document and a few bytes. Documents a client sends are
/// bounded by the frame size limit; those larger than this are refused.
pub(crate) const MAX_MESSAGE: usize = 256 << 10;

const RENDERED: u8 = 3;
const ANSWER: u8 = 4;
const BODY: u8 = 5;
const HISTORY: u8 = 6;
const REFUSAL_DELAY: u8 = 7;

/// The parent's answer to a child's job.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    /// The scrape is done: whether the body of the job's format is in the shared state.
    Rendered(bool),
    /// The answer document of a management request.
    Management(Document),
    /// A body the daemon rendered for the job (a probe, the bridge); `None` when there is none.
    Body(Option<Bytes>),
    /// A piece of a history answer.
    History(HistoryAnswer),
    /// How long after its refusal a refused login is told.
    RefusalDelay(Duration),
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
    /// The body of the last [`Reply::Body`], written by the parent and read by the child.
    bodies: File,
    buffer: Vec<u8>,
}

impl Channel {
    /// A connected pair: the parent's end, then the child's.
    ///
    /// # Errors
    /// When the sockets or the file cannot be made (out of file descriptors).
    pub(crate) fn pair() -> io::Result<(Channel, Channel)> {
        let (parent, child) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        let bodies = File::from(memfd_create(c"pgexporter-answer", MFdFlags::MFD_CLOEXEC)?);
        let child_bodies = bodies.try_clone()?;
        Ok((
            Channel::new(parent, bodies),
            Channel::new(child, child_bodies),
        ))
    }

    fn new(socket: OwnedFd, bodies: File) -> Channel {
        Channel {
            socket: UnixStream::from(socket),
            bodies,
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
        self.send(&job.to_wire())
    }

    /// Reads one job (parent side). `Ok(None)` when none is waiting on a non-blocking socket.
    ///
    /// # Errors
    /// [`ChannelError::Closed`] when the child has exited; the others when it misbehaved.
    pub(crate) fn receive_job(&mut self) -> Result<Option<Job>, ChannelError> {
        let Some(message) = self.receive()? else {
            return Ok(None);
        };
        Job::from_wire(message)
            .map(Some)
            .map_err(|_| ChannelError::Malformed)
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
            Reply::Body(None) => self.send(&[BODY]),
            Reply::Body(Some(body)) => {
                self.bodies.set_len(0)?;
                self.bodies.write_all_at(body, 0)?;
                let mut message = vec![BODY];
                message.extend_from_slice(&(body.len() as u64).to_be_bytes());
                self.send(&message)
            }
            Reply::History(answer) => self.send(&[&[HISTORY][..], &answer.to_wire()].concat()),
            Reply::RefusalDelay(delay) => {
                let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                self.send(&[&[REFUSAL_DELAY][..], &millis.to_be_bytes()].concat())
            }
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
            Some([BODY]) => Ok(Reply::Body(None)),
            Some([BODY, length @ ..]) => {
                let length: [u8; 8] = length.try_into().map_err(|_| ChannelError::Malformed)?;
                let length = u64::from_be_bytes(length);
                if length > self.bodies.metadata()?.len() {
                    return Err(ChannelError::Malformed);
                }
                let mut body =
                    vec![0; usize::try_from(length).map_err(|_| ChannelError::Malformed)?];
                self.bodies.read_exact_at(&mut body, 0)?;
                Ok(Reply::Body(Some(Bytes::from(body))))
            }
            Some([HISTORY, answer @ ..]) => HistoryAnswer::from_wire(answer)
                .map(Reply::History)
                .map_err(|_| ChannelError::Malformed),
            Some([REFUSAL_DELAY, millis @ ..]) => {
                let millis = millis.try_into().map_err(|_| ChannelError::Malformed)?;
                Ok(Reply::RefusalDelay(Duration::from_millis(
                    u64::from_be_bytes(millis),
                )))
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use pgexporter_core::exposition::Format;
    use pgexporter_core::management::{Command, Header, Object, Output};
    use pgexporter_core::serve::{BridgeJob, BridgeView, ScrapeJob};

    fn ping() -> Document {
        Document::request(
            Header::new(Command::Ping, Output::Json, "20261125000000"),
            Object::new(),
        )
    }

    #[test]
    fn jobs_and_replies_cross_whole() {
        let (mut parent, mut child) = Channel::pair().unwrap();
        let jobs = [
            Job::Scrape(ScrapeJob {
                format: Format::OpenMetrics,
                timeout: Some(Duration::from_millis(1500)),
            }),
            Job::Bridge(BridgeJob {
                timeout: None,
                view: BridgeView::Json,
            }),
        ];
        for job in &jobs {
            child.send_job(job).unwrap();
        }
        for job in &jobs {
            assert_eq!(parent.receive_job().unwrap().as_ref(), Some(job));
        }
        let large = Bytes::from(vec![b'x'; 3 * MAX_MESSAGE]);
        for reply in [
            Reply::Rendered(true),
            Reply::Rendered(false),
            Reply::Management(ping()),
            Reply::Body(Some(large)),
            Reply::Body(Some(Bytes::from_static(b"short"))),
            Reply::Body(None),
            Reply::History(HistoryAnswer::Failed),
            Reply::RefusalDelay(Duration::from_millis(40_001)),
        ] {
            parent.send_reply(&reply).unwrap();
            assert_eq!(child.receive_reply().unwrap(), reply);
        }
    }

    #[test]
    fn a_closed_child_and_garbage_are_told_apart() {
        let (mut parent, mut child) = Channel::pair().unwrap();
        child.send(&[1, 0, 1]).unwrap();
        assert!(matches!(parent.receive_job(), Err(ChannelError::Malformed)));
        parent.send(&[BODY, 0, 0, 0, 0, 0, 0, 0, 9]).unwrap();
        assert!(matches!(
            child.receive_reply(),
            Err(ChannelError::Malformed)
        ));
        parent.send(&[REFUSAL_DELAY, 0, 1]).unwrap();
        assert!(matches!(
            child.receive_reply(),
            Err(ChannelError::Malformed)
        ));
        parent.send(&[HISTORY, 0]).unwrap();
        assert!(matches!(
            child.receive_reply(),
            Err(ChannelError::Malformed)
        ));
        assert!(matches!(
            child.send(&vec![0; MAX_MESSAGE + 1]),
            Err(ChannelError::TooLarge(_))
        ));
        drop(child);
        assert!(matches!(parent.receive_job(), Err(ChannelError::Closed)));
    }
}
