//! The parent process: one poll loop over the listeners, the signal descriptor, the children's
//! channels and the PostgreSQL sockets. It forks a child per accepted connection, answers the
//! children's scrape requests from its collector, and carries out what management children
//! and signals ask.

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, poll};
use nix::unistd::Pid;
use pgexporter_core::config::load_ini;
use pgexporter_core::management::handshake::AdminVerifiers;
use pgexporter_core::scrape::ConnId;
use pgexporter_core::serve::Site;
use pgexporter_net::control::{Control, Effects, LivePlan};
use pgexporter_net::notify;
use pgexporter_net::serve::LogSource;
use rustls::ServerConfig;

use crate::channel::{Channel, ChannelError, Request};
use crate::child::{self, ChildContext, Connection};
use crate::children::Children;
use crate::collector::{Answer, CollectorDriver, Waiter};
use crate::listeners::{accept_tcp, accept_unix};
use crate::poll_timeout;
use crate::shared::{self, SharedState};
use crate::signals::{self, Signals};

/// The file name given to configurations that management children pass to the parent.
const APPLIED_CONFIG: &str = "<management>";

/// Something the parent polls.
#[derive(Debug, Clone, Copy)]
enum Source {
    Signals,
    Child(Pid),
    Postgres(ConnId),
    Metrics(usize),
    Remote(usize),
    Local,
}

/// The listeners, closed when a shutdown starts.
#[derive(Debug, Default)]
pub(crate) struct Listeners {
    /// The metrics port, one per address.
    pub(crate) metrics: Vec<TcpListener>,
    /// The remote management port, one per address.
    pub(crate) remote: Vec<TcpListener>,
    /// The management socket.
    pub(crate) local: Option<UnixListener>,
}

/// The parent's state.
pub(crate) struct Parent {
    /// The state shared with the children.
    pub(crate) shared: &'static SharedState,
    /// The handled signals (`None` in a child).
    pub(crate) signals: Option<Signals>,
    /// The listeners (empty once a shutdown starts, and in a child).
    pub(crate) listeners: Listeners,
    /// The live children.
    pub(crate) children: Children,
    /// The collector and its PostgreSQL sockets.
    pub(crate) collector: CollectorDriver,
    /// The running configuration.
    pub(crate) control: Control,
    /// The live plan in force: children forked from now on serve with it.
    pub(crate) plan: LivePlan,
    /// The HTTP answers of `plan`.
    pub(crate) site: Site,
    /// The admins of remote management.
    pub(crate) admins: Arc<AdminVerifiers>,
    /// HTTPS on the metrics port.
    pub(crate) metrics_tls: Option<Arc<ServerConfig>>,
    /// This process's own log counts (a child reports what it adds to them).
    pub(crate) own_logs: LogSource,
    /// How long a shutdown waits for children.
    pub(crate) grace: Duration,
    /// When a shutdown started: the moment children still running are killed.
    pub(crate) stop_deadline: Option<Instant>,
}

/// What management commands and SIGHUP do, carried out in the parent.
struct ParentEffects<'a> {
    collector: &'a mut CollectorDriver,
    plan: &'a mut LivePlan,
    site: &'a mut Site,
    stop_requested: bool,
    answers: Vec<Answer>,
}

impl Effects for ParentEffects<'_> {
    fn activity(&self) -> Vec<bool> {
        self.collector.activity()
    }

    fn apply(&mut self, plan: LivePlan) {
        let answers = self.collector.reconfigure(Instant::now(), &plan);
        self.answers.extend(answers);
        *self.site = Site::new(&plan.metrics);
        *self.plan = plan;
    }

    fn shutdown(&mut self) {
        self.stop_requested = true;
    }

    fn clear_prometheus(&mut self) {
        self.collector.clear();
    }
}

impl Parent {
    /// Serves until a signal or a management command stops the exporter and the children
    /// have finished (or the grace has passed), then terminates the PostgreSQL connections.
    ///
    /// # Errors
    /// When `poll` or the signal descriptor fails.
    pub(crate) fn serve(&mut self) -> io::Result<()> {
        loop {
            self.reap();
            if let Some(deadline) = self.stop_deadline
                && (self.children.is_empty() || Instant::now() >= deadline)
            {
                break;
            }
            let wake = [self.collector.poll_timeout(), self.stop_deadline]
                .into_iter()
                .flatten()
                .min();
            for (source, flags) in self.wait(wake)? {
                self.handle(source, flags)?;
            }
            let now = Instant::now();
            if self.collector.poll_timeout().is_some_and(|at| at <= now) {
                let answers = self.collector.handle_timeout(now);
                self.deliver(answers);
            }
        }
        self.children.kill_all();
        self.collector.shutdown(Instant::now());
        Ok(())
    }

    /// Polls every source until one is ready or `wake` passes.
    fn wait(&self, wake: Option<Instant>) -> io::Result<Vec<(Source, PollFlags)>> {
        let mut sources: Vec<(Source, BorrowedFd<'_>, PollFlags)> = Vec::new();
        if let Some(signals) = &self.signals {
            sources.push((Source::Signals, signals.descriptor(), PollFlags::POLLIN));
        }
        for (child, channel) in self.children.channels() {
            sources.push((
                Source::Child(child),
                channel.socket().as_fd(),
                PollFlags::POLLIN,
            ));
        }
        for (conn, fd, interest) in self.collector.poll_interests() {
            let mut flags = PollFlags::empty();
            if interest.readable {
                flags |= PollFlags::POLLIN;
            }
            if interest.writable {
                flags |= PollFlags::POLLOUT;
            }
            sources.push((Source::Postgres(conn), fd, flags));
        }
        if self.stop_deadline.is_none() && !self.children.is_full() {
            let listeners = &self.listeners;
            for (index, listener) in listeners.metrics.iter().enumerate() {
                sources.push((Source::Metrics(index), listener.as_fd(), PollFlags::POLLIN));
            }
            for (index, listener) in listeners.remote.iter().enumerate() {
                sources.push((Source::Remote(index), listener.as_fd(), PollFlags::POLLIN));
            }
            if let Some(listener) = &listeners.local {
                sources.push((Source::Local, listener.as_fd(), PollFlags::POLLIN));
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
            Source::Postgres(conn) => {
                let answers = self
                    .collector
                    .on_ready(Instant::now(), conn, readable, writable);
                self.deliver(answers);
            }
            Source::Metrics(_) | Source::Remote(_) | Source::Local => self.accept(source),
        }
        Ok(())
    }

    /// Accepts the connections waiting on the listener `source`, a child for each, up to the
    /// cap.
    fn accept(&mut self, source: Source) {
        while !self.children.is_full() {
            let listeners = &self.listeners;
            let accepted = match source {
                Source::Metrics(index) => listeners
                    .metrics
                    .get(index)
                    .map(|listener| accept_tcp(listener).map(|s| s.map(Connection::Metrics))),
                Source::Remote(index) => listeners
                    .remote
                    .get(index)
                    .map(|listener| accept_tcp(listener).map(|s| s.map(Connection::Remote))),
                Source::Local => listeners
                    .local
                    .as_ref()
                    .map(|listener| accept_unix(listener).map(|s| s.map(Connection::Local))),
                Source::Signals | Source::Child(_) | Source::Postgres(_) => None,
            };
            match accepted {
                Some(Ok(Some(connection))) => self.spawn(connection),
                Some(Err(error)) => {
                    tracing::warn!("accept failed: {error}");
                    return;
                }
                Some(Ok(None)) | None => return,
            }
        }
    }

    fn handle_signals(&mut self) -> io::Result<()> {
        loop {
            let Some(signals) = &self.signals else {
                return Ok(());
            };
            let Some(request) = signals.next()? else {
                return Ok(());
            };
            match request {
                signals::Request::Stop => self.begin_stop(),
                signals::Request::Reload => {
                    notify::reloading();
                    self.change(|control, effects| control.reload(effects));
                    notify::ready();
                }
                signals::Request::ReopenLogs => self.control.reopen_logs(),
                signals::Request::Reap => self.reap(),
            }
        }
    }

    /// Collects the children that have exited and reads what they sent last.
    fn reap(&mut self) {
        for (child, mut channel) in self.children.reap() {
            while let Ok(Some(request)) = channel.receive_request() {
                self.handle_request(child, request);
            }
        }
    }

    /// Reads every request waiting on `child`'s channel.
    fn handle_child(&mut self, child: Pid) {
        loop {
            let Some(channel) = self.children.channel_mut(child) else {
                return;
            };
            match channel.receive_request() {
                Ok(Some(request)) => self.handle_request(child, request),
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

    fn handle_request(&mut self, child: Pid, request: Request) {
        match request {
            Request::Scrape { format, timeout } => {
                let answers =
                    self.collector
                        .request(Instant::now(), Waiter { child, format }, timeout);
                self.deliver(answers);
            }
            Request::Apply(text) => {
                let env = |name: &str| std::env::var(name).ok();
                match load_ini(&text, APPLIED_CONFIG, &env) {
                    Ok(loaded) => {
                        // A failure is logged by `apply`; the running configuration stays.
                        self.change(|control, effects| {
                            let _ = control.apply(loaded.config, effects);
                        });
                    }
                    Err(error) => {
                        tracing::error!("the configuration from management is invalid: {error}");
                    }
                }
            }
            Request::Shutdown => self.begin_stop(),
            Request::Clear => self.collector.clear(),
        }
    }

    /// Runs `act` on the control with the parent's effects, then delivers what it left to do.
    fn change(&mut self, act: impl FnOnce(&mut Control, &mut ParentEffects<'_>)) {
        let mut effects = ParentEffects {
            collector: &mut self.collector,
            plan: &mut self.plan,
            site: &mut self.site,
            stop_requested: false,
            answers: Vec::new(),
        };
        act(&mut self.control, &mut effects);
        let (stop, answers) = (effects.stop_requested, effects.answers);
        self.deliver(answers);
        if stop {
            self.begin_stop();
        }
    }

    /// Tells children their scrape results are published.
    fn deliver(&mut self, answers: Vec<Answer>) {
        for answer in answers {
            if let Some(channel) = self.children.channel_mut(answer.child) {
                // A child that is gone has nothing to be told.
                let _ = channel.send_ready(answer.published);
            }
        }
    }

    /// Starts a graceful shutdown: the listeners close, children get the grace to finish.
    fn begin_stop(&mut self) {
        if self.stop_deadline.is_some() {
            return;
        }
        notify::stopping();
        tracing::info!("shutting down");
        self.listeners = Listeners::default();
        self.stop_deadline = Some(Instant::now() + self.grace);
    }

    /// Forks a child to serve `connection`; the parent keeps no copy of it.
    fn spawn(&mut self, connection: Connection) {
        let (parent_end, child_end) = match Channel::pair() {
            Ok(pair) => pair,
            Err(error) => {
                tracing::error!("cannot make a channel for a child: {error}");
                return;
            }
        };
        if let Err(error) = parent_end.socket().set_nonblocking(true) {
            tracing::error!("cannot make a channel for a child: {error}");
            return;
        }
        match shared::fork() {
            Ok(None) => {
                drop(parent_end);
                self.release_in_child();
                let context = ChildContext {
                    shared: self.shared,
                    channel: child_end,
                    plan: &self.plan,
                    site: &self.site,
                    metrics_tls: self.metrics_tls.clone(),
                    admins: &self.admins,
                    control: &mut self.control,
                };
                child::run(connection, context, &self.own_logs)
            }
            Ok(Some(child)) => self.children.insert(child, parent_end),
            Err(error) => tracing::error!("cannot fork a child for a connection: {error}"),
        }
    }

    /// In a new child: closes what belongs to the parent (listeners, siblings' channels,
    /// PostgreSQL sockets, the signal descriptor).
    fn release_in_child(&mut self) {
        self.listeners = Listeners::default();
        self.children.release_in_child();
        self.collector.release_in_child();
        self.signals = None;
    }
}
