//! A forked child: serves one accepted connection with blocking IO, then exits.
//!
//! The child drives its connection's core [`Service`] (behind its TLS) with the machine
//! contract's loop over the blocking socket and its channel to the parent: the service's jobs
//! go to the parent, the replies come back (a scrape's body through the shared state, other
//! bodies through the channel's file).
//!
//! A child has a time limit: an alarm (SIGALRM, whose default action ends the process) armed
//! before every wait, for as long as the wait may take plus [`CHILD_GRACE`], so a stuck child
//! cannot outlive its connection's timeouts. Before it exits, the child adds the log lines it
//! wrote to the shared state, where the parent reads them.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use bytes::Bytes;
use nix::poll::{PollFd, PollFlags, poll};
use pgexporter_core::exposition::Format;
use pgexporter_core::machine::{Machine, Peer};
use pgexporter_core::scrape::LogCounters;
use pgexporter_core::serve::{Answer, Job, Service};
use pgexporter_os::clock;
use pgexporter_tls::Tls;

use crate::channel::{Channel, Reply};
use crate::listeners::Stream;
use crate::shared::SharedState;
use crate::{poll_timeout, signals};

/// What a child may take beyond a wait's own bound before its alarm ends it.
pub(crate) const CHILD_GRACE: Duration = Duration::from_secs(5);

/// How long a finished connection keeps reading what the client still sends, after closing its
/// sending side, so that unread request bytes do not make the kernel reset the connection
/// before the client has read the answer.
const LINGER: Duration = Duration::from_secs(1);

/// Size of one socket read.
const READ_SIZE: usize = 16 * 1024;

/// What the child waits for besides its socket.
enum Awaiting {
    /// Nothing.
    Nothing,
    /// The body of a scrape in this format (in the shared state), within this bound.
    Scrape(Format, Duration),
    /// Another answer, within this bound.
    Answer(Duration),
}

/// Serves `stream` with `service` and exits the process. `logs` are the process's own log
/// counts; `management_timeout` bounds how long a management answer may take.
pub(crate) fn run(
    stream: Stream,
    service: Tls<Service>,
    channel: Channel,
    shared: &'static SharedState,
    logs: &dyn Fn() -> LogCounters,
    management_timeout: Duration,
) -> ! {
    let at_fork = logs();
    if let Err(error) = signals::restore_in_child() {
        tracing::error!("child: cannot restore signals: {error}");
        std::process::exit(1);
    }
    let mut child = Child {
        stream,
        service,
        channel,
        shared,
        awaiting: Awaiting::Nothing,
        management_timeout,
    };
    child.serve();
    shared.add_child_logs(lines_since(at_fork, logs()));
    std::process::exit(0)
}

struct Child {
    stream: Stream,
    service: Tls<Service>,
    channel: Channel,
    shared: &'static SharedState,
    awaiting: Awaiting,
    management_timeout: Duration,
}

impl Child {
    /// The machine contract's loop until the service finishes, the socket fails or the parent
    /// goes away.
    fn serve(&mut self) {
        let mut buffer = vec![0u8; READ_SIZE];
        let mut reading = true;
        loop {
            while let Some(out) = self.service.poll_send() {
                if self.stream.write_all(&out).is_err() {
                    return;
                }
            }
            while let Some(job) = self.service.poll_event() {
                if !self.ask(&job) {
                    return;
                }
            }
            if self.service.is_finished() {
                return self.linger(&mut buffer);
            }
            let wake = self.service.poll_timeout();
            arm_alarm(self.bound(wake));
            let Ok((socket, channel)) = self.wait(reading, wake) else {
                return;
            };
            let now = clock::now();
            if channel && !self.take_reply(now) {
                return;
            }
            if socket {
                match self.stream.read(&mut buffer) {
                    Ok(0) | Err(_) => {
                        reading = false;
                        self.service.handle_eof(now);
                    }
                    Ok(count) => self.service.handle_input(now, &buffer[..count]),
                }
            }
            if !socket && !channel {
                self.service.handle_timeout(now);
            }
        }
    }

    /// Sends `job` to the parent; `false` when the parent cannot be reached.
    fn ask(&mut self, job: &Job) -> bool {
        let bound = job.answer_bound().unwrap_or(self.management_timeout);
        self.awaiting = match job {
            Job::Scrape(scrape) => Awaiting::Scrape(scrape.format, bound),
            _ => Awaiting::Answer(bound),
        };
        match self.channel.send_job(job) {
            Ok(()) => true,
            Err(error) => {
                tracing::error!("child: cannot reach the parent: {error}");
                false
            }
        }
    }

    /// Hands the parent's reply to the service; `false` when the parent is gone.
    fn take_reply(&mut self, now: Instant) -> bool {
        let reply = match self.channel.receive_reply() {
            Ok(reply) => reply,
            Err(error) => {
                tracing::error!("child: no answer from the parent: {error}");
                return false;
            }
        };
        let answer = match (
            reply,
            std::mem::replace(&mut self.awaiting, Awaiting::Nothing),
        ) {
            (Reply::Rendered(published), Awaiting::Scrape(format, _)) => {
                let mut body = Vec::new();
                let found = published && self.shared.read_body(format, &mut body);
                Answer::Rendered(found.then(|| Bytes::from(body)))
            }
            (Reply::Management(document), _) => Answer::Management(document),
            (Reply::Body(body), _) => Answer::Rendered(body),
            (Reply::History(answer), _) => Answer::History(answer),
            (Reply::RefusalDelay(delay), _) => Answer::RefusalDelay(delay),
            (Reply::Rendered(_), _) => Answer::Rendered(None),
        };
        self.service.handle_message(now, answer);
        true
    }

    /// How long the next wait may take: until the service's own deadline, or the bound of the
    /// answer awaited.
    fn bound(&self, wake: Option<Instant>) -> Duration {
        let answer = match self.awaiting {
            Awaiting::Nothing => Duration::ZERO,
            Awaiting::Scrape(_, bound) | Awaiting::Answer(bound) => bound,
        };
        let own = wake.map_or(Duration::ZERO, |at| {
            at.saturating_duration_since(clock::now())
        });
        own.max(answer)
    }

    /// Waits for the socket (while `reading`) or the channel, until `wake`: which is ready.
    fn wait(&self, reading: bool, wake: Option<Instant>) -> std::io::Result<(bool, bool)> {
        let socket_flags = if reading {
            PollFlags::POLLIN
        } else {
            PollFlags::empty()
        };
        loop {
            let mut fds = [
                PollFd::new(self.stream.fd(), socket_flags),
                PollFd::new(self.channel.socket().as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, poll_timeout(wake)) {
                Ok(_) => {
                    let ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
                    return Ok((reading && ready(&fds[0]), ready(&fds[1])));
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(errno) => return Err(errno.into()),
            }
        }
    }

    /// Stops sending, then reads and drops what the client still sends for [`LINGER`].
    fn linger(&mut self, buffer: &mut [u8]) {
        if self.stream.shutdown_write().is_err() {
            return;
        }
        let until = clock::now() + LINGER;
        arm_alarm(LINGER);
        while matches!(self.wait(true, Some(until)), Ok((true, _)))
            && matches!(self.stream.read(buffer), Ok(count) if count > 0)
        {}
    }
}

/// (Re-)arms the child's alarm for `limit` plus [`CHILD_GRACE`].
fn arm_alarm(limit: Duration) {
    let seconds = (limit + CHILD_GRACE)
        .as_secs()
        .clamp(1, u64::from(u32::MAX));
    nix::unistd::alarm::set(u32::try_from(seconds).unwrap_or(u32::MAX));
}

fn lines_since(before: LogCounters, now: LogCounters) -> LogCounters {
    LogCounters {
        info: now.info.saturating_sub(before.info),
        warn: now.warn.saturating_sub(before.warn),
        error: now.error.saturating_sub(before.error),
        fatal: now.fatal.saturating_sub(before.fatal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_counted_from_the_fork() {
        let before = LogCounters {
            info: 3,
            warn: 1,
            error: 0,
            fatal: 0,
        };
        let now = LogCounters {
            info: 5,
            warn: 1,
            error: 2,
            fatal: 0,
        };
        assert_eq!(
            lines_since(before, now),
            LogCounters {
                info: 2,
                warn: 0,
                error: 2,
                fatal: 0
            }
        );
    }
}
