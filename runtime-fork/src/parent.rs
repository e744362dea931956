//! The parent process: one poll loop over the listeners, the signal descriptor, the children's
//! channels, the accepted connections waiting for their first bytes ([`Admission`]) and the
//! PostgreSQL connections, around the core's [`Daemon`]. It forks a child per connection the
//! admission lets in, carries the children's jobs to the daemon and its answers back, and
//! carries out the daemon's actions.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, poll};
use nix::unistd::Pid;
use pgexporter_core::daemon::{Action, Daemon, Host, PeerId};
use pgexporter_core::exposition::Format;
use pgexporter_core::link::{ConnId, LinkAction, LinkEvent};
use pgexporter_core::plan::{ListenerKind, Served, Target};
use pgexporter_core::scrape::{ExporterCounters, LogCounters, ScrapeResult};
use pgexporter_core::serve::{
    AcceptBackoff, Admission, Answer, Job, ScrapeBodies, ServedBy, Service, Slot, WaitingId,
    listener_tls,
};
use pgexporter_os::{accept, clock};
use pgexporter_tls::TlsConfigs;

use crate::channel::{Channel, ChannelError, Reply};
use crate::child;
use crate::children::Children;
use crate::links::Link;
use crate::listeners::{Listener, Stream};
use crate::poll_timeout;
use crate::shared::{self, SharedState};
use crate::signals::{self, Signals};

/// How long stopping waits for Terminate to reach each server.
const TERMINATE_GRACE: Duration = Duration::from_secs(1);

/// A child forked and the parent's end of its channel, `None`, or why none could be made.
type ForkResult = Result<Option<(Pid, Channel)>, String>;

/// Something the parent polls.
#[derive(Debug, Clone, Copy)]
enum Source {
    Signals,
    Child(Pid),
    Link(ConnId),
    Listener(usize),
    Waiting(WaitingId),
}

/// The body last published in one format: rendered from this result with these counts.
struct Published {
    result: Arc<ScrapeResult>,
    counters: ExporterCounters,
}

impl Published {
    /// Whether `bodies` render the body this was published from.
    fn is_of(&self, bodies: &ScrapeBodies) -> bool {
        Arc::ptr_eq(&self.result, bodies.result()) && self.counters == bodies.counters()
    }
}

/// The parent's state.
pub(crate) struct Parent {
    daemon: Daemon,
    host: Arc<dyn Host>,
    shared: &'static SharedState,
    signals: Option<Signals>,
    listeners: Vec<Listener>,
    /// Each listener's rest after a failed accept (by index in `listeners`): a listener that
    /// rests is not polled, so an accept out of file descriptors does not spin.
    accept_backoff: Vec<AcceptBackoff>,
    /// The accepted connections not yet served by a child, and the slots children hold.
    admission: Admission<(Stream, Option<IpAddr>)>,
    /// The rest after a child could not be made: no waiting connection is let in meanwhile.
    spawn_backoff: AcceptBackoff,
    children: Children,
    /// Each child waiting for a scrape, and the format it wants.
    scrapes: HashMap<Pid, Format>,
    links: HashMap<ConnId, Link>,
    tls: TlsConfigs,
    served: Option<Arc<Served>>,
    /// This process's own log counts (children add theirs to the shared state).
    own_logs: Arc<dyn Fn() -> LogCounters + Send + Sync>,
    published: [Option<Published>; 2],
    /// When a shutdown began to wait for the children: the moment those still running are
    /// killed.
    stop_deadline: Option<Instant>,
}

impl Parent {
    /// The parent of `daemon`, serving `listeners`; `own_logs` counts this process's lines.
    pub(crate) fn new(
        daemon: Daemon,
        host: Arc<dyn Host>,
        shared: &'static SharedState,
        signals: Signals,
        listeners: Vec<Listener>,
        own_logs: Arc<dyn Fn() -> LogCounters + Send + Sync>,
    ) -> Parent {
        Parent {
            daemon,
            host,
            shared,
            signals: Some(signals),
            accept_backoff: vec![AcceptBackoff::default(); listeners.len()],
            listeners,
            admission: Admission::default(),
            spawn_backoff: AcceptBackoff::default(),
            children: Children::default(),
            scrapes: HashMap::new(),
            links: HashMap::new(),
            tls: TlsConfigs::default(),
            served: None,
            own_logs,
            published: [None, None],
            stop_deadline: None,
        }
    }

    /// Serves until a signal or a management command stops the daemon and the children have
    /// finished (or the grace has passed), then terminates the PostgreSQL connections.
    ///
    /// # Errors
    /// When `poll` or the signal descriptor fails.
    pub(crate) fn serve(&mut self) -> io::Result<()> {
        loop {
            self.reap();
            self.execute();
            if let Some(deadline) = self.stop_deadline
                && (self.children.is_empty() || clock::now() >= deadline)
            {
                break;
            }
            let now = clock::now();
            let rests = self.accept_backoff.iter().map(|b| b.resting_until(now));
            let own = [
                self.admission.poll_timeout(),
                self.spawn_backoff.resting_until(now),
            ];
            let wake = [self.daemon.poll_timeout(), self.stop_deadline]
                .into_iter()
                .chain(own)
                .chain(rests)
                .flatten()
                .min();
            for (source, flags) in self.wait(wake, true)? {
                self.handle(source, flags)?;
            }
            let now = clock::now();
            drop(self.admission.expire(now));
            if self.daemon.poll_timeout().is_some_and(|at| at <= now) {
                self.daemon.handle_timeout(now);
            }
        }
        self.children.kill_all();
        self.daemon.terminate(clock::now());
        self.execute();
        let deadline = clock::now() + TERMINATE_GRACE;
        while !self.links.is_empty() && clock::now() < deadline {
            for (source, flags) in self.wait(Some(deadline), false)? {
                self.handle(source, flags)?;
            }
        }
        Ok(())
    }

    /// Carries out the daemon's actions until it has none.
    fn execute(&mut self) {
        while let Some(action) = self.daemon.poll_action() {
            match action {
                Action::Link(LinkAction::Connect { conn, target }) => self.connect(conn, target),
                Action::Link(LinkAction::Command { conn, command }) => {
                    if let Some(link) = self.links.get_mut(&conn) {
                        let events = link.command(clock::now(), command);
                        self.link_events(conn, events);
                    }
                }
                Action::Answer { peer, answer } => self.answer(peer, answer),
                Action::Host { task, work } => {
                    let result = self.host.run(work);
                    self.daemon.handle_host(clock::now(), task, result);
                }
                Action::Serve(served) => {
                    self.tls.clear();
                    self.served = Some(served);
                }
                Action::Shutdown { grace } => {
                    self.listeners.clear();
                    self.admission.clear();
                    self.stop_deadline = Some(clock::now() + grace);
                }
            }
        }
    }

    fn connect(&mut self, conn: ConnId, target: Arc<Target>) {
        match Link::connect(target, &self.tls) {
            Ok((link, events)) => {
                self.links.insert(conn, link);
                self.link_events(conn, events);
            }
            Err(failed) => self.daemon.handle_link(clock::now(), conn, failed),
        }
    }

    /// Hands a link's events to the daemon and forgets the link once it is over.
    fn link_events(&mut self, conn: ConnId, events: Vec<LinkEvent>) {
        let now = clock::now();
        for event in events {
            self.daemon.handle_link(now, conn, event);
        }
        if self.links.get(&conn).is_some_and(Link::is_finished) {
            self.links.remove(&conn);
        }
    }

    /// Tells the child `peer` the daemon's answer to its job.
    fn answer(&mut self, peer: PeerId, answer: Answer) {
        let child = child_of(peer);
        let reply = match answer {
            Answer::Scrape(bodies) => {
                let format = self.scrapes.remove(&child).unwrap_or(Format::Text);
                Reply::Rendered(self.publish(&bodies, format))
            }
            Answer::Rendered(body) => Reply::Body(body),
            Answer::Management(document) => Reply::Management(document),
            Answer::History(answer) => Reply::History(answer),
            Answer::RefusalDelay(delay) => Reply::RefusalDelay(delay),
        };
        if let Some(channel) = self.children.channel_mut(child)
            && let Err(error) = channel.send_reply(&reply)
        {
            tracing::debug!("child {child} takes no answer: {error}");
        }
    }

    /// Writes the body of `bodies` in `format` into the shared state, unless the body there
    /// already is that result with those counts; whether a body is published. The body is
    /// rendered once for every child answered from `bodies`, and not kept here.
    fn publish(&mut self, bodies: &ScrapeBodies, format: Format) -> bool {
        let slot = usize::from(format == Format::OpenMetrics);
        if self.published[slot]
            .as_ref()
            .is_some_and(|published| published.is_of(bodies))
        {
            return true;
        }
        match self.shared.publish_body(format, &bodies.plain(format)) {
            Ok(()) => {
                self.published[slot] = Some(Published {
                    result: Arc::clone(bodies.result()),
                    counters: bodies.counters(),
                });
                true
            }
            Err(error) => {
                tracing::error!("{error}");
                self.published[slot] = None;
                false
            }
        }
    }

    /// Polls every source until one is ready or `wake` passes; listeners and children only
    /// while `serving`.
    fn wait(&self, wake: Option<Instant>, serving: bool) -> io::Result<Vec<(Source, PollFlags)>> {
        let mut sources: Vec<(Source, BorrowedFd<'_>, PollFlags)> = Vec::new();
        if let Some(signals) = &self.signals {
            sources.push((Source::Signals, signals.descriptor(), PollFlags::POLLIN));
        }
        for (conn, link) in &self.links {
            let Some(fd) = link.fd() else { continue };
            sources.push((Source::Link(*conn), fd, link.interest().poll_flags()));
        }
        if serving {
            for (child, channel) in self.children.channels() {
                let fd = channel.socket().as_fd();
                sources.push((Source::Child(child), fd, PollFlags::POLLIN));
            }
            let now = clock::now();
            for (index, listener) in self.listeners.iter().enumerate() {
                let resting = self
                    .accept_backoff
                    .get(index)
                    .and_then(|backoff| backoff.resting_until(now));
                if resting.is_none() {
                    sources.push((Source::Listener(index), listener.fd(), PollFlags::POLLIN));
                }
            }
            if self.spawn_backoff.resting_until(now).is_none() {
                for (id, (stream, _)) in self.admission.watched() {
                    sources.push((Source::Waiting(id), stream.fd(), PollFlags::POLLIN));
                }
            }
        }
        let mut fds: Vec<PollFd<'_>> = sources
            .iter()
            .map(|(_, fd, flags)| PollFd::new(*fd, *flags))
            .collect();
        match poll(&mut fds, poll_timeout(wake)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(errno) => return Err(errno.into()),
        }
        Ok(sources
            .iter()
            .zip(&fds)
            .filter_map(|((source, _, _), fd)| {
                let revents = fd.revents().filter(|revents| !revents.is_empty())?;
                Some((*source, revents))
            })
            .collect())
    }

    fn handle(&mut self, source: Source, flags: PollFlags) -> io::Result<()> {
        let readable =
            flags.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR);
        let writable = flags.intersects(PollFlags::POLLOUT | PollFlags::POLLERR);
        match source {
            Source::Signals => self.handle_signals()?,
            Source::Child(child) => self.handle_child(child),
            Source::Link(conn) => {
                if let Some(link) = self.links.get_mut(&conn) {
                    let events = link.on_ready(clock::now(), readable, writable);
                    self.link_events(conn, events);
                }
            }
            Source::Listener(index) => self.accept(index),
            Source::Waiting(id) => {
                if let Some((slot, (stream, client))) = self.admission.admit(id) {
                    self.spawn(slot, stream, client);
                }
            }
        }
        Ok(())
    }

    /// Accepts the connections waiting on listener `index` into the admission; after a failed
    /// accept the listener rests.
    fn accept(&mut self, index: usize) {
        loop {
            let Some(listener) = self.listeners.get(index) else {
                return;
            };
            let kind = listener.kind();
            match listener.accept() {
                Ok(Some(accepted)) => {
                    if let Some(backoff) = self.accept_backoff.get_mut(index) {
                        backoff.accepted();
                    }
                    if let Some(served) = &self.served {
                        let client = accepted.1;
                        drop(
                            self.admission
                                .wait(kind, client, clock::now(), served, accepted),
                        );
                    }
                }
                Ok(None) => return,
                Err(error) => {
                    tracing::warn!("accept failed: {error}");
                    if let Some(backoff) = self.accept_backoff.get_mut(index) {
                        backoff.failed(clock::now());
                    }
                    return;
                }
            }
        }
    }

    fn handle_signals(&mut self) -> io::Result<()> {
        loop {
            let Some(signals) = &self.signals else {
                return Ok(());
            };
            match signals.next()? {
                None => return Ok(()),
                Some(signals::Request::Daemon(signal)) => {
                    self.daemon.handle_signal(clock::now(), signal);
                }
                Some(signals::Request::Reap) => self.reap(),
            }
        }
    }

    /// Collects the children that have exited and reads what they sent last.
    fn reap(&mut self) {
        for (child, slot, channel) in self.children.reap() {
            self.admission.release(slot);
            let Some(mut channel) = channel else { continue };
            while let Ok(Some(job)) = channel.receive_job() {
                self.job(child, job);
            }
            self.scrapes.remove(&child);
        }
    }

    /// Reads every job waiting on `child`'s channel.
    fn handle_child(&mut self, child: Pid) {
        loop {
            let Some(channel) = self.children.channel_mut(child) else {
                return;
            };
            match channel.receive_job() {
                Ok(Some(job)) => self.job(child, job),
                Ok(None) => return,
                Err(ChannelError::Closed) => {
                    self.children.close_channel(child);
                    return;
                }
                Err(error) => {
                    tracing::warn!("child {child}: {error}");
                    self.children.close_channel(child);
                    return;
                }
            }
        }
    }

    fn job(&mut self, child: Pid, job: Job) {
        if let Job::Scrape(scrape) = &job {
            self.scrapes.insert(child, scrape.format);
        }
        self.daemon.handle_job(clock::now(), peer_of(child), job);
    }

    /// Forks a child holding `slot` to serve `stream` from `client`; the parent keeps no copy
    /// of it. When
    /// the system lacks what a child takes (descriptors for its channel, a process), the
    /// connection is closed, the slot freed, and no other is let in for a rest.
    fn spawn(&mut self, slot: Slot, stream: Stream, client: Option<IpAddr>) {
        match self.fork_child(slot.kind(), stream, client) {
            Ok(Some((child, channel))) => {
                self.spawn_backoff.accepted();
                self.children.insert(child, slot, channel);
            }
            Ok(None) => self.admission.release(slot),
            Err(error) => {
                tracing::error!("{error}");
                self.spawn_backoff.failed(clock::now());
                self.admission.release(slot);
            }
        }
    }

    /// The new child and the parent's end of its channel; `None` when the connection is not
    /// served (no configuration yet, TLS cannot be set up).
    fn fork_child(
        &mut self,
        kind: ListenerKind,
        stream: Stream,
        client: Option<IpAddr>,
    ) -> ForkResult {
        let Some(served) = self.served.clone() else {
            return Ok(None);
        };
        let service = Service::accept(kind, &served, accept::accepted(ServedBy::Process, client));
        let service = match self.tls.accept(service, &listener_tls(kind, &served)) {
            Ok(service) => service,
            Err(error) => {
                tracing::error!("cannot serve a connection: {error}");
                return Ok(None);
            }
        };
        let channel = Channel::pair().and_then(|(parent_end, child_end)| {
            parent_end.socket().set_nonblocking(true)?;
            Ok((parent_end, child_end))
        });
        let (parent_end, child_end) =
            channel.map_err(|error| format!("cannot make a channel for a child: {error}"))?;
        match shared::fork() {
            Ok(None) => {
                drop(parent_end);
                self.release_in_child();
                let logs = Arc::clone(&self.own_logs);
                child::run(
                    stream,
                    service,
                    child_end,
                    self.shared,
                    &*logs,
                    served.management_timeout,
                )
            }
            Ok(Some(child)) => Ok(Some((child, parent_end))),
            Err(error) => Err(format!("cannot fork a child for a connection: {error}")),
        }
    }

    /// In a new child: closes what belongs to the parent (listeners, siblings' channels,
    /// PostgreSQL sockets, the signal descriptor).
    fn release_in_child(&mut self) {
        self.listeners.clear();
        self.admission.clear();
        self.children.release_in_child();
        self.links.clear();
        self.signals = None;
    }
}

/// The daemon's name for a child.
fn peer_of(child: Pid) -> PeerId {
    PeerId(u64::from(child.as_raw().unsigned_abs()))
}

/// The child the daemon's name stands for.
fn child_of(peer: PeerId) -> Pid {
    Pid::from_raw(i32::try_from(peer.0).unwrap_or(i32::MAX))
}
