//! The channel between the parent and one child: a `SOCK_SEQPACKET` socket pair made before
//! the fork, so that every message arrives whole and a child's exit reads as end of file.

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use pgexporter_core::exposition::Format;

/// Largest message: a configuration rendered as INI and a tag byte.
pub(crate) const MAX_MESSAGE: usize = 128 << 10;

const SCRAPE: u8 = 1;
const APPLY: u8 = 2;
const SHUTDOWN: u8 = 3;
const CLEAR: u8 = 4;
const READY: u8 = 5;

/// What a child asks of the parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// A `/metrics` request wants a scrape result rendered in `format`, within `timeout` when
    /// the request said (`X-Prometheus-Scrape-Timeout-Seconds`).
    Scrape {
        format: Format,
        timeout: Option<Duration>,
    },
    /// A management command made this configuration (INI text) the running one.
    Apply(String),
    /// A management command asked for a graceful shutdown.
    Shutdown,
    /// `clear prometheus`.
    Clear,
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

    /// Sends `request` (child side; blocks until the kernel takes it).
    ///
    /// # Errors
    /// When the parent is gone or the message is too large.
    pub(crate) fn send_request(&mut self, request: &Request) -> Result<(), ChannelError> {
        let mut message = Vec::new();
        match request {
            Request::Scrape { format, timeout } => {
                message.push(SCRAPE);
                message.push(u8::from(*format == Format::OpenMetrics));
                let millis = timeout.map_or(0, |timeout| timeout.as_millis().max(1));
                let millis = u64::try_from(millis).unwrap_or(u64::MAX);
                message.extend_from_slice(&millis.to_be_bytes());
            }
            Request::Apply(text) => {
                message.push(APPLY);
                message.extend_from_slice(text.as_bytes());
            }
            Request::Shutdown => message.push(SHUTDOWN),
            Request::Clear => message.push(CLEAR),
        }
        self.send(&message)
    }

    /// Reads one request (parent side). `Ok(None)` when none is waiting on a non-blocking
    /// socket.
    ///
    /// # Errors
    /// [`ChannelError::Closed`] when the child has exited; the others when it misbehaved.
    pub(crate) fn receive_request(&mut self) -> Result<Option<Request>, ChannelError> {
        let Some(message) = self.receive()? else {
            return Ok(None);
        };
        let request = match message {
            [SCRAPE, format, millis @ ..] => {
                let millis: [u8; 8] = millis.try_into().map_err(|_| ChannelError::Malformed)?;
                let millis = u64::from_be_bytes(millis);
                Request::Scrape {
                    format: if *format == 1 {
                        Format::OpenMetrics
                    } else {
                        Format::Text
                    },
                    timeout: (millis > 0).then(|| Duration::from_millis(millis)),
                }
            }
            [APPLY, text @ ..] => Request::Apply(
                String::from_utf8(text.to_vec()).map_err(|_| ChannelError::Malformed)?,
            ),
            [SHUTDOWN] => Request::Shutdown,
            [CLEAR] => Request::Clear,
            _ => return Err(ChannelError::Malformed),
        };
        Ok(Some(request))
    }

    /// Tells the child its scrape is answered (parent side): `published` when the body for its
    /// format is in the shared state.
    ///
    /// # Errors
    /// When the child is gone.
    pub(crate) fn send_ready(&mut self, published: bool) -> Result<(), ChannelError> {
        self.send(&[READY, u8::from(published)])
    }

    /// Waits for the parent's answer to a scrape request (child side): whether a body is
    /// published.
    ///
    /// # Errors
    /// When the parent is gone or answered something else.
    pub(crate) fn receive_ready(&mut self) -> Result<bool, ChannelError> {
        match self.receive()? {
            Some([READY, published]) => Ok(*published == 1),
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

    #[test]
    fn requests_and_answers_cross_whole() {
        let (mut parent, mut child) = Channel::pair().unwrap();
        let requests = [
            Request::Scrape {
                format: Format::OpenMetrics,
                timeout: Some(Duration::from_millis(1500)),
            },
            Request::Scrape {
                format: Format::Text,
                timeout: None,
            },
            Request::Apply("[pgexporter]\nhost = *\n".to_owned()),
            Request::Shutdown,
            Request::Clear,
        ];
        for request in &requests {
            child.send_request(request).unwrap();
        }
        for request in &requests {
            assert_eq!(parent.receive_request().unwrap().as_ref(), Some(request));
        }
        parent.send_ready(true).unwrap();
        parent.send_ready(false).unwrap();
        assert!(child.receive_ready().unwrap());
        assert!(!child.receive_ready().unwrap());
    }

    #[test]
    fn a_closed_child_and_garbage_are_told_apart() {
        let (mut parent, mut child) = Channel::pair().unwrap();
        child.send(&[SCRAPE, 0, 1]).unwrap();
        assert!(matches!(
            parent.receive_request(),
            Err(ChannelError::Malformed)
        ));
        let oversized = Request::Apply("x".repeat(MAX_MESSAGE));
        assert!(matches!(
            child.send_request(&oversized),
            Err(ChannelError::TooLarge(_))
        ));
        drop(child);
        assert!(matches!(
            parent.receive_request(),
            Err(ChannelError::Closed)
        ));
    }
}
