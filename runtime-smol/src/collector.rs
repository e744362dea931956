//! The collector task: owns the core's collector and executes its actions.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgexporter_core::scrape::{Action, Collector, ConnId, ScrapeResult};
use pgexporter_net::collect::{SocketEvent, Waiting};
use pgexporter_net::control::LivePlan;
use pgexporter_net::random;
use pgexporter_net::serve::PgEndpoint;
use smol::channel::{self, Receiver, Sender};
use smol::{Task, Timer, future};

use crate::postgres::{self, SocketCommand};
use crate::{sleep_until, spawn as spawn_task};

/// How long stopping waits for Terminate to reach each server.
const TERMINATE_GRACE: Duration = Duration::from_secs(1);

/// What the collector task is told.
pub(crate) enum Message {
    /// An HTTP request wants a scrape result.
    Request {
        scrape_timeout: Option<Duration>,
        reply: Sender<Arc<ScrapeResult>>,
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
pub(crate) struct ScrapeHandle(Sender<Message>);

impl ScrapeHandle {
    /// A scrape result: the cached one, the one in progress, or a new one. `None` when the
    /// collector has stopped.
    pub(crate) async fn get(&self, scrape_timeout: Option<Duration>) -> Option<Arc<ScrapeResult>> {
        let (reply, answer) = channel::bounded(1);
        self.0
            .try_send(Message::Request {
                scrape_timeout,
                reply,
            })
            .ok()?;
        answer.recv().await.ok()
    }

    /// Stops the collector task.
    pub(crate) fn shutdown(&self) {
        let _ = self.0.try_send(Message::Shutdown);
    }

    /// Hands a reloaded plan to the collector task.
    pub(crate) fn reconfigure(&self, plan: LivePlan) {
        let _ = self.0.try_send(Message::Reconfigure(Box::new(plan)));
    }

    /// Resets the query counters and forgets the cached result.
    pub(crate) fn clear(&self) {
        let _ = self.0.try_send(Message::Clear);
    }
}

/// Per server: whether the last finished scrape reached it.
pub(crate) type Activity = Rc<RefCell<Vec<bool>>>;

/// Starts the collector task for `plan`.
pub(crate) fn spawn(plan: &LivePlan) -> (ScrapeHandle, Activity, Task<()>) {
    let collector = Collector::new(
        plan.servers.clone(),
        Arc::clone(&plan.metrics),
        plan.filter.clone(),
        plan.collector.clone(),
        Box::new(random::bytes),
    );
    let (sender, receiver) = channel::unbounded();
    let activity = Rc::new(RefCell::new(collector.activity().to_vec()));
    let task = CollectorTask {
        collector,
        activity: Rc::clone(&activity),
        endpoints: plan.endpoints.clone(),
        messages: receiver,
        sender: sender.clone(),
        sockets: HashMap::new(),
        socket_tasks: Vec::new(),
        waiting: Waiting::default(),
    };
    (ScrapeHandle(sender), activity, spawn_task(task.run()))
}

struct CollectorTask {
    collector: Collector,
    activity: Activity,
    endpoints: Vec<PgEndpoint>,
    messages: Receiver<Message>,
    sender: Sender<Message>,
    sockets: HashMap<ConnId, Sender<SocketCommand>>,
    socket_tasks: Vec<Task<()>>,
    waiting: Waiting<Sender<Arc<ScrapeResult>>>,
}

impl CollectorTask {
    async fn run(mut self) {
        loop {
            let wake = self.collector.poll_timeout();
            let received = future::or(async { Some(self.messages.recv().await.ok()) }, async {
                sleep_until(wake).await;
                None
            })
            .await;
            let Some(message) = received else {
                self.collector.handle_timeout(Instant::now());
                self.execute();
                continue;
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
                        let _ = reply.try_send(result);
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
        let socket_tasks = &mut self.socket_tasks;
        future::or(
            async {
                for task in socket_tasks.iter_mut() {
                    task.await;
                }
            },
            async {
                Timer::after(TERMINATE_GRACE).await;
            },
        )
        .await;
    }

    /// Carries out the collector's actions and answers finished tickets.
    fn execute(&mut self) {
        while let Some(action) = self.collector.poll_action() {
            match action {
                Action::Connect { conn, server } => {
                    let (commands, receiver) = channel::unbounded();
                    self.sockets.insert(conn, commands);
                    self.socket_tasks.retain(|task| !task.is_finished());
                    self.socket_tasks.push(spawn_task(postgres::run(
                        conn,
                        self.endpoints[server].clone(),
                        receiver,
                        self.sender.clone(),
                    )));
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
                let _ = reply.try_send(result);
            });
        self.publish_activity();
    }

    /// Publishes which servers the last scrape reached, when that changed.
    fn publish_activity(&self) {
        let activity = self.collector.activity();
        let mut current = self.activity.borrow_mut();
        if current.as_slice() != activity {
            *current = activity.to_vec();
        }
    }

    fn command(&self, conn: ConnId, command: SocketCommand) {
        if let Some(socket) = self.sockets.get(&conn) {
            let _ = socket.try_send(command);
        }
    }
}
