//! The collector task: owns the core's collector and executes its actions.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgexporter_core::scrape::{Action, Collector, ConnId, ScrapeResult};
use pgexporter_net::collect::{SocketEvent, Waiting};
use pgexporter_net::control::LivePlan;
use pgexporter_net::random;
use pgexporter_net::serve::PgEndpoint;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::postgres::{self, SocketCommand};
use crate::sleep_until;

/// How long stopping waits for Terminate to reach each server.
const TERMINATE_GRACE: Duration = Duration::from_secs(1);

/// What the collector task is told.
pub(crate) enum Message {
    /// An HTTP request wants a scrape result.
    Request {
        scrape_timeout: Option<Duration>,
        reply: oneshot::Sender<Arc<ScrapeResult>>,
    },
    /// A reload changed the servers, definitions or settings.
    Reconfigure(Box<LivePlan>),
    /// `clear prometheus`: reset the counters and the cache.
    Clear,
    /// Something happened on a PostgreSQL socket.
    Socket { conn: ConnId, event: SocketEvent },
    /// The exporter is stopping.
    Shutdown,
}

/// Asks the collector task for scrape results.
#[derive(Clone)]
pub(crate) struct ScrapeHandle(mpsc::UnboundedSender<Message>);

impl ScrapeHandle {
    /// A scrape result: the cached one, the one in progress, or a new one. `None` when the
    /// collector has stopped.
    pub(crate) async fn get(&self, scrape_timeout: Option<Duration>) -> Option<Arc<ScrapeResult>> {
        let (reply, answer) = oneshot::channel();
        self.0
            .send(Message::Request {
                scrape_timeout,
                reply,
            })
            .ok()?;
        answer.await.ok()
    }

    /// Stops the collector task.
    pub(crate) fn shutdown(&self) {
        let _ = self.0.send(Message::Shutdown);
    }

    /// Hands a reloaded plan to the collector task.
    pub(crate) fn reconfigure(&self, plan: LivePlan) {
        let _ = self.0.send(Message::Reconfigure(Box::new(plan)));
    }

    /// Resets the query counters and forgets the cached result.
    pub(crate) fn clear(&self) {
        let _ = self.0.send(Message::Clear);
    }
}

/// Per server: whether the last finished scrape reached it.
pub(crate) type Activity = watch::Receiver<Vec<bool>>;

/// Starts the collector task for `plan`.
pub(crate) fn spawn(plan: &LivePlan) -> (ScrapeHandle, Activity, JoinHandle<()>) {
    let collector = Collector::new(
        plan.servers.clone(),
        Arc::clone(&plan.metrics),
        plan.filter.clone(),
        plan.collector.clone(),
        Box::new(random::bytes),
    );
    let (sender, receiver) = mpsc::unbounded_channel();
    let (activity, activity_receiver) = watch::channel(collector.activity().to_vec());
    let task = CollectorTask {
        collector,
        activity,
        endpoints: plan.endpoints.clone(),
        messages: receiver,
        sender: sender.clone(),
        sockets: HashMap::new(),
        socket_tasks: tokio::task::JoinSet::new(),
        waiting: Waiting::default(),
    };
    (
        ScrapeHandle(sender),
        activity_receiver,
        tokio::spawn(task.run()),
    )
}

struct CollectorTask {
    collector: Collector,
    activity: watch::Sender<Vec<bool>>,
    endpoints: Vec<PgEndpoint>,
    messages: mpsc::UnboundedReceiver<Message>,
    sender: mpsc::UnboundedSender<Message>,
    sockets: HashMap<ConnId, mpsc::UnboundedSender<SocketCommand>>,
    socket_tasks: tokio::task::JoinSet<()>,
    waiting: Waiting<oneshot::Sender<Arc<ScrapeResult>>>,
}

impl CollectorTask {
    async fn run(mut self) {
        loop {
            let wake = self.collector.poll_timeout();
            let message = tokio::select! {
                message = self.messages.recv() => message,
                () = sleep_until(wake) => {
                    self.collector.handle_timeout(Instant::now());
                    self.execute();
                    continue;
                }
            };
            let now = Instant::now();
            match message {
                Some(Message::Request {
                    scrape_timeout,
                    reply,
                }) => {
                    let ready =
                        self.waiting
                            .request(&mut self.collector, now, scrape_timeout, reply);
                    if let Some((reply, result)) = ready {
                        let _ = reply.send(result);
                    }
                }
                Some(Message::Reconfigure(plan)) => {
                    self.collector.reconfigure(now, plan.reconfiguration());
                    self.endpoints = plan.endpoints;
                }
                Some(Message::Clear) => self.collector.reset_counters(),
                Some(Message::Socket { conn, event }) => {
                    event.deliver(&mut self.collector, now, conn)
                }
                Some(Message::Shutdown) | None => {
                    self.collector.shutdown(now);
                    self.execute();
                    break;
                }
            }
            self.execute();
        }
        let _ = tokio::time::timeout(TERMINATE_GRACE, async {
            while self.socket_tasks.join_next().await.is_some() {}
        })
        .await;
    }

    /// Carries out the collector's actions and answers finished tickets.
    fn execute(&mut self) {
        while let Some(action) = self.collector.poll_action() {
            match action {
                Action::Connect { conn, server } => {
                    let (commands, receiver) = mpsc::unbounded_channel();
                    self.sockets.insert(conn, commands);
                    self.socket_tasks.spawn(postgres::run(
                        conn,
                        self.endpoints[server].clone(),
                        receiver,
                        self.sender.clone(),
                    ));
                }
                Action::StartTls { conn, .. } => self.command(conn, SocketCommand::StartTls),
                Action::Send { conn, bytes } => self.command(conn, SocketCommand::Send(bytes)),
                Action::Close { conn } => {
                    self.command(conn, SocketCommand::Close);
                    self.sockets.remove(&conn);
                }
            }
        }
        self.waiting
            .answer_finished(&mut self.collector, |reply, result| {
                let _ = reply.send(result);
            });
        self.publish_activity();
    }

    /// Publishes which servers the last scrape reached, when that changed.
    fn publish_activity(&self) {
        let activity = self.collector.activity();
        self.activity.send_if_modified(|current| {
            let changed = current.as_slice() != activity;
            if changed {
                *current = activity.to_vec();
            }
            changed
        });
    }

    fn command(&self, conn: ConnId, command: SocketCommand) {
        if let Some(socket) = self.sockets.get(&conn) {
            let _ = socket.send(command);
        }
    }
}
