//! The daemon's event loop: the core's [`Daemon`] fed with what happens, its actions carried
//! out, and the listeners' accept loops.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender};
use futures_lite::future;
use pgexporter_core::daemon::{
    Action, Daemon, DaemonSetup, Host, HostResult, PeerId, Signal, TaskId,
};
use pgexporter_core::link::{ConnId, LinkAction, LinkCommand, LinkEvent, Relay};
use pgexporter_core::plan::{ListenerKind, Listeners, Served, Target};
use pgexporter_core::serve::{AcceptBackoff, Answer, Job, ServedBy, Service, listener_tls};
use pgexporter_os::unix_socket::SocketFile;
use pgexporter_os::{accept, clock, listen};
use pgexporter_tls::TlsConfigs;

use crate::executor::{Accept, Executor};
use crate::pump::{Ending, pump};

/// How long stopping waits for Terminate to reach each server.
const TERMINATE_GRACE: Duration = Duration::from_secs(1);

/// What the daemon's loop is told.
enum Input {
    Job(PeerId, Job),
    Link(ConnId, LinkEvent),
    Host(TaskId, HostResult),
    Signal(Signal),
    PeerDone(PeerId),
    LinkDone(ConnId),
}

/// What the loop, the accept loops and the connections share.
struct Hub<E> {
    executor: E,
    inbox: Sender<Input>,
    served: RefCell<Option<Arc<Served>>>,
    tls: TlsConfigs,
    host: Arc<dyn Host>,
    peers: RefCell<HashMap<PeerId, Sender<Answer>>>,
    links: RefCell<HashMap<ConnId, Sender<LinkCommand>>>,
    /// Host tasks running.
    host_tasks: Cell<usize>,
    next_peer: Cell<u64>,
    /// Closed when the listeners must stop accepting.
    stop: Sender<()>,
    stopped: Receiver<()>,
}

/// Serves until a signal or a `shutdown` command stops the daemon, then stops gracefully: the
/// listeners close, connections in flight get the shutdown grace to finish, and every
/// PostgreSQL connection is terminated. Call it inside `executor`.
///
/// # Errors
/// When a listener cannot be bound or the signal handlers cannot be installed.
pub async fn serve<E: Executor>(
    executor: E,
    listeners: Listeners,
    setup: DaemonSetup,
    host: Arc<dyn Host>,
) -> io::Result<()> {
    let mut signals = executor.signals()?;
    let bound = listen::bind_all(&listeners)?;
    let mut socket_file = SocketFile::bind(&listeners.unix_socket)?;
    let local = socket_file
        .take_listener()
        .ok_or_else(|| io::Error::other("the management socket has no listener"))?;
    tracing::info!("management socket {}", socket_file.path().display());

    let (inbox, messages) = async_channel::unbounded();
    let (stop, stopped) = async_channel::bounded(1);
    let hub = Rc::new(Hub {
        executor: executor.clone(),
        inbox,
        served: RefCell::new(None),
        tls: TlsConfigs::default(),
        host,
        peers: RefCell::new(HashMap::new()),
        links: RefCell::new(HashMap::new()),
        host_tasks: Cell::new(0),
        next_peer: Cell::new(0),
        stop,
        stopped,
    });
    for listener in bound {
        let accepting = executor.tcp_listener(listener.listener)?;
        executor.spawn(accept_loop(Rc::clone(&hub), listener.kind, accepting));
    }
    let local = executor.unix_listener(local)?;
    executor.spawn(accept_loop(
        Rc::clone(&hub),
        ListenerKind::LocalManagement,
        local,
    ));
    let inbox = hub.inbox.clone();
    let signal_executor = executor.clone();
    executor.spawn(async move {
        loop {
            let signal = signal_executor.next_signal(&mut signals).await;
            if inbox.send(Input::Signal(signal)).await.is_err() {
                return;
            }
        }
    });

    let mut daemon = Daemon::new(setup);
    let mut stop_deadline: Option<Instant> = None;
    loop {
        while let Some(action) = daemon.poll_action() {
            if let Some(grace) = hub.execute(action) {
                stop_deadline = Some(clock::now() + grace);
            }
        }
        if let Some(deadline) = stop_deadline
            && (hub.peers.borrow().is_empty() || clock::now() >= deadline)
        {
            break;
        }
        let wake = [daemon.poll_timeout(), stop_deadline]
            .into_iter()
            .flatten()
            .min();
        let input = future::or(async { messages.recv().await.ok() }, async {
            match wake {
                Some(at) => executor.sleep_until(at).await,
                None => future::pending().await,
            }
            None
        })
        .await;
        let now = clock::now();
        match input {
            Some(input) => hub.feed(&mut daemon, now, input),
            None => {
                if daemon.poll_timeout().is_some_and(|at| at <= now) {
                    daemon.handle_timeout(now);
                }
            }
        }
    }
    daemon.terminate(clock::now());
    while let Some(action) = daemon.poll_action() {
        hub.execute(action);
    }
    hub.peers.borrow_mut().clear();
    let finished = async {
        while !hub.links.borrow().is_empty() || hub.host_tasks.get() > 0 {
            match messages.recv().await {
                Ok(input @ (Input::LinkDone(_) | Input::Host(..))) => {
                    hub.feed(&mut daemon, clock::now(), input);
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    };
    future::or(
        finished,
        executor.sleep_until(clock::now() + TERMINATE_GRACE),
    )
    .await;
    drop(socket_file);
    Ok(())
}

impl<E: Executor> Hub<E> {
    /// Hands `input` to the daemon.
    fn feed(&self, daemon: &mut Daemon, now: Instant, input: Input) {
        match input {
            Input::Job(peer, job) => daemon.handle_job(now, peer, job),
            Input::Link(conn, event) => daemon.handle_link(now, conn, event),
            Input::Host(task, result) => {
                self.host_tasks.set(self.host_tasks.get() - 1);
                daemon.handle_host(now, task, result);
            }
            Input::Signal(signal) => daemon.handle_signal(now, signal),
            Input::PeerDone(peer) => {
                self.peers.borrow_mut().remove(&peer);
            }
            Input::LinkDone(conn) => {
                self.links.borrow_mut().remove(&conn);
            }
        }
    }

    /// Carries out `action`; the grace of a shutdown it starts.
    fn execute(self: &Rc<Self>, action: Action) -> Option<Duration> {
        match action {
            Action::Link(LinkAction::Connect { conn, target }) => self.connect(conn, target),
            Action::Link(LinkAction::Command { conn, command }) => {
                if let Some(link) = self.links.borrow().get(&conn) {
                    // A link that has ended takes no more commands.
                    link.try_send(command).ok();
                }
            }
            Action::Answer { peer, answer } => {
                if let Some(waiting) = self.peers.borrow().get(&peer) {
                    // A connection that has gone takes no answer.
                    waiting.try_send(answer).ok();
                }
            }
            Action::Host { task, work } => {
                self.host_tasks.set(self.host_tasks.get() + 1);
                let hub = Rc::clone(self);
                let host = Arc::clone(&self.host);
                self.executor.spawn(async move {
                    let result = hub.executor.unblock(move || host.run(work)).await;
                    hub.inbox.send(Input::Host(task, result)).await.ok();
                });
            }
            Action::Serve(served) => {
                self.tls.clear();
                *self.served.borrow_mut() = Some(served);
            }
            Action::Shutdown { grace } => {
                self.stop.close();
                return Some(grace);
            }
        }
        None
    }

    /// Opens outbound connection `conn` to `target` and pumps a relay over it.
    fn connect(self: &Rc<Self>, conn: ConnId, target: Arc<Target>) {
        let (commands, mailbox) = async_channel::unbounded();
        self.links.borrow_mut().insert(conn, commands);
        let hub = Rc::clone(self);
        self.executor.spawn(async move {
            let report = |event| {
                hub.inbox.try_send(Input::Link(conn, event)).ok();
            };
            let connecting = async { Some(hub.executor.connect(&target.address).await) };
            // Only Close can come before the connection is reported open.
            let closed = async {
                mailbox.recv().await.ok();
                None
            };
            match future::or(connecting, closed).await {
                Some(Ok(stream)) => match hub.tls.connect(Relay::default(), &target) {
                    Ok(relay) => {
                        report(LinkEvent::Connected);
                        let executor = hub.executor.clone();
                        pump(executor, stream, relay, mailbox, Ending::Close, report).await;
                    }
                    Err(error) => report(LinkEvent::ConnectFailed(format!(
                        "{}: {error}",
                        target.address
                    ))),
                },
                Some(Err(error)) => report(LinkEvent::ConnectFailed(format!(
                    "{}: {error}",
                    target.address
                ))),
                None => {}
            }
            hub.inbox.send(Input::LinkDone(conn)).await.ok();
        });
    }

    /// Serves a connection from `client` accepted on a listener of `kind`.
    fn serve_peer<S: crate::Stream>(
        self: &Rc<Self>,
        kind: ListenerKind,
        stream: S,
        client: Option<IpAddr>,
    ) {
        let Some(served) = self.served.borrow().clone() else {
            return;
        };
        let service = Service::accept(kind, &served, accept::accepted(ServedBy::Task, client));
        let peer = match self.tls.accept(service, &listener_tls(kind, &served)) {
            Ok(peer) => peer,
            Err(error) => {
                tracing::error!("cannot serve a connection: {error}");
                return;
            }
        };
        let id = PeerId(self.next_peer.get());
        self.next_peer.set(id.0 + 1);
        let (answers, mailbox) = async_channel::unbounded();
        self.peers.borrow_mut().insert(id, answers);
        let hub = Rc::clone(self);
        self.executor.spawn(async move {
            let report = |job| {
                hub.inbox.try_send(Input::Job(id, job)).ok();
            };
            let executor = hub.executor.clone();
            pump(executor, stream, peer, mailbox, Ending::Linger, report).await;
            hub.inbox.send(Input::PeerDone(id)).await.ok();
        });
    }
}

/// Accepts connections on `listener` until the daemon stops accepting.
/// After a failed accept (out of file descriptors, say) it rests as [`AcceptBackoff`] says, so
/// that it does not spin.
async fn accept_loop<E: Executor, L: Accept>(hub: Rc<Hub<E>>, kind: ListenerKind, listener: L) {
    let mut backoff = AcceptBackoff::default();
    loop {
        let accepted = async { Some(listener.accept().await) };
        let stopped = async {
            hub.stopped.recv().await.ok();
            None
        };
        match future::or(stopped, accepted).await {
            None => return,
            Some(Ok((stream, client))) => {
                backoff.accepted();
                hub.serve_peer(kind, stream, client);
            }
            Some(Err(error)) => {
                tracing::warn!("accept failed: {error}");
                hub.executor.sleep_until(backoff.failed(clock::now())).await;
            }
        }
    }
}
