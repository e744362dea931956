//! What the daemon's listeners serve: one [`Service`] per accepted connection, built from the
//! [`Served`] in force when it was accepted.
//!
//! A service is a [`Machine`] whose events are [`Job`]s (what it needs from the running
//! daemon: a scrape result, the answer to a management request) and a [`Peer`] whose messages
//! are the [`Answer`]s. A runtime accepts a socket, makes the service its listener's kind asks
//! for ([`Service::accept`]), wraps it in the TLS its listener asks for ([`listener_tls`]),
//! and pumps it: bytes in and out, jobs to the daemon, answers back. A new kind of listener is
//! a new variant here and nothing new in any runtime. How long a listener rests after a failed
//! accept is decided here as well ([`AcceptBackoff`]), and, for a runtime that serves each
//! connection in a process of its own, when a connection takes a process ([`Admission`]).

mod admission;
mod backoff;
mod bodies;
/// Implements [`Machine`] for an HTTP service: bytes, timeouts and end of input go to its
/// `http` connection, whose events its `follow(now)` takes; its events are the jobs it queued in
/// `jobs`; it waits and ends as the connection does. The optional method given after the type
/// is called once everything queued was handed to the transmit path.
macro_rules! http_machine {
    ($service:ty $(, $sent:ident)?) => {
        impl Machine for $service {
            type Event = Job;

            fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
                self.http.handle_input(now, bytes);
                self.follow(now);
            }

            fn handle_timeout(&mut self, now: Instant) {
                self.http.handle_timeout(now);
                self.follow(now);
            }

            fn handle_eof(&mut self, now: Instant) {
                self.http.handle_eof(now);
                self.follow(now);
            }

            fn poll_transmit(&mut self, out: &mut BytesMut) -> bool {
                let wrote = self.http.poll_transmit(out);
                $(self.$sent();)?
                wrote
            }

            fn poll_send(&mut self) -> Option<bytes::Bytes> {
                let sent = self.http.poll_send();
                $(if sent.is_none() {
                    self.$sent();
                })?
                sent
            }

            fn poll_event(&mut self) -> Option<Job> {
                self.jobs.pop_front()
            }

            fn poll_timeout(&self) -> Option<Instant> {
                self.http.poll_timeout()
            }

            fn is_finished(&self) -> bool {
                self.http.is_finished()
            }
        }
    };
}

mod history;
mod http;
pub mod readiness;
mod site;
mod wire;

use core::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

pub use admission::{Admission, MAX_WAITING, Slot, WaitingId, slots, source_share};
pub use backoff::{AcceptBackoff, FIRST_REST, LONGEST_REST};
pub(crate) use bodies::LatestBodies;
pub use bodies::{InFormat, ScrapeBodies};
pub use history::HistoryService;
pub use http::{HttpPort, HttpService};
pub use site::{Reply, Site};
pub use wire::MalformedJob;

use crate::exposition::Format;
use crate::history::{HistoryAnswer, HistoryJob, StoreKind};
use crate::http::HttpConfig;
use crate::machine::{Machine, Peer};
use crate::management::handshake::SERVER_NONCE_LEN;
use crate::management::{Document, Request, SealRandom, Session, SessionEvent, SessionSettings};
use crate::plan::{ListenerKind, Served, ServerTlsFiles};

/// What a connection needs from the running daemon.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    /// A scrape result for `/metrics` or the console's `/api`.
    Scrape(ScrapeJob),
    /// The answer to a management request.
    Management(Request),
    /// A piece of a history answer.
    History(HistoryJob),
    /// A `/probe` request's scrape of one configured server.
    Probe(ProbeJob),
    /// A request on the bridge's ports.
    Bridge(BridgeJob),
    /// A `/readyz` request: whether the exporter is ready ([`readiness::answer`]).
    Readiness,
    /// A remote login was refused: how long before its refusal is told
    /// ([`Answer::RefusalDelay`]), so that refusals to one source are spaced out.
    LoginRefused {
        /// The client's address.
        source: Option<IpAddr>,
    },
}

/// A `/probe` request's scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeJob {
    /// The server's section name (one the configuration has when the request arrived).
    pub target: String,
    /// `X-Prometheus-Scrape-Timeout-Seconds`, when the request says.
    pub timeout: Option<Duration>,
    /// The exposition format the request prefers.
    pub format: Format,
}

/// A bridge request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgeJob {
    /// `X-Prometheus-Scrape-Timeout-Seconds`, when the request says.
    pub timeout: Option<Duration>,
    /// What is asked for.
    pub view: BridgeView,
}

/// What a bridge request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeView {
    /// The merged samples, text format (the `bridge` port).
    Text,
    /// The JSON view (the `bridge_json` port).
    Json,
}

/// A `/metrics` request's scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScrapeJob {
    /// `X-Prometheus-Scrape-Timeout-Seconds`, when the request says.
    pub timeout: Option<Duration>,
    /// The exposition format the request prefers.
    pub format: Format,
}

/// The daemon's answer to a [`Job`].
#[derive(Debug, Clone)]
pub enum Answer {
    /// A scrape result with the exporter's own counts of the moment, whose bodies are
    /// rendered once for every connection answered from it ([`ScrapeBodies`]).
    Scrape(Arc<ScrapeBodies>),
    /// A body already rendered in the job's format (a probe, the bridge; and a scrape for
    /// runtimes where results live in another process); `None` when there is none (503).
    Rendered(Option<Bytes>),
    /// The answer document of a management request.
    Management(Document),
    /// A piece of a history answer.
    History(HistoryAnswer),
    /// How long after its refusal a refused login is told ([`Job::LoginRefused`]).
    RefusalDelay(Duration),
}

/// How a runtime serves an accepted connection: what keeping it open costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServedBy {
    /// A task of an event loop: an open connection costs a file descriptor, so HTTP
    /// connections are kept alive between requests.
    Task,
    /// A process of its own: an open connection holds a process, so an HTTP connection closes
    /// after its response (no keep-alive) and an idle client holds no process.
    Process,
}

impl ServedBy {
    /// `config` for an HTTP connection served this way: keep-alive is off for a connection
    /// served by a process of its own.
    pub fn http(self, config: &HttpConfig) -> HttpConfig {
        HttpConfig {
            keep_alive: config.keep_alive && self == ServedBy::Task,
            ..config.clone()
        }
    }
}

/// How the runtime serves an accepted connection, and fresh randomness and the wall clock for
/// it: the runtime states and reads them, the service uses them.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// When the connection was accepted.
    pub now: Instant,
    /// How the runtime serves the connection.
    pub served_by: ServedBy,
    /// The client's address (`None` on the management socket).
    pub peer: Option<IpAddr>,
    /// Random bytes for the remote handshake's server nonce.
    pub nonce: [u8; SERVER_NONCE_LEN],
    /// Random bytes for sealing an encrypted management answer.
    pub seal: SealRandom,
    /// The local time, `YYYYMMDDHHMMSS`, for management answers.
    pub timestamp: String,
}

/// The TLS a listener's connections get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerTls {
    /// None.
    Plain,
    /// TLS from the first byte (HTTPS).
    Immediate(ServerTlsFiles),
    /// TLS when the service asks for it (an SSLRequest on remote management).
    OnRequest(ServerTlsFiles),
}

/// The TLS of connections accepted on a listener of `kind`.
pub fn listener_tls(kind: ListenerKind, served: &Served) -> ListenerTls {
    let files = match kind {
        ListenerKind::Metrics => served.metrics_tls.clone().map(ListenerTls::Immediate),
        ListenerKind::RemoteManagement => served.management_tls.clone().map(ListenerTls::OnRequest),
        ListenerKind::LocalManagement | ListenerKind::Bridge | ListenerKind::BridgeJson => None,
        ListenerKind::History | ListenerKind::BridgeHistory => {
            served.history_tls.clone().map(ListenerTls::Immediate)
        }
        ListenerKind::Console => None,
    };
    files.unwrap_or(ListenerTls::Plain)
}

/// One accepted connection.
pub enum Service {
    /// The metrics port, the bridge port, the bridge's JSON port and the console.
    Http(HttpService),
    /// Remote or local management.
    Management(Session),
    /// The history ports.
    History(HistoryService),
}

impl Service {
    /// The service of a connection accepted on a listener of `kind`.
    pub fn accept(kind: ListenerKind, served: &Arc<Served>, accepted: Accepted) -> Service {
        let settings = || SessionSettings {
            timeout: served.management_timeout,
            master_key: served.master_key.clone(),
            timestamp: accepted.timestamp.clone(),
            seal: accepted.seal,
            source: accepted.peer,
        };
        let http = |port| {
            Service::Http(HttpService::new(
                Arc::clone(served),
                port,
                accepted.now,
                accepted.served_by,
            ))
        };
        let history = |store| {
            Service::History(HistoryService::new(
                accepted.served_by.http(&served.history_http),
                store,
                accepted.now,
            ))
        };
        match kind {
            ListenerKind::Metrics => http(HttpPort::Metrics),
            ListenerKind::Bridge => http(HttpPort::Bridge),
            ListenerKind::BridgeJson => http(HttpPort::BridgeJson),
            ListenerKind::Console => http(HttpPort::Console),
            ListenerKind::RemoteManagement => Service::Management(Session::remote(
                Arc::clone(&served.admins),
                served.management_tls.is_some(),
                accepted.now,
                settings(),
                accepted.nonce,
            )),
            ListenerKind::LocalManagement => {
                Service::Management(Session::local(accepted.now, settings()))
            }
            ListenerKind::History => history(StoreKind::Metrics),
            ListenerKind::BridgeHistory => history(StoreKind::Bridge),
        }
    }
}

/// Evaluates `$body` with `$service` bound to whichever service this is.
macro_rules! each {
    ($self:expr, $service:ident => $body:expr) => {
        match $self {
            Service::Http($service) => $body,
            Service::Management($service) => $body,
            Service::History($service) => $body,
        }
    };
}

impl Machine for Service {
    type Event = Job;

    fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        each!(self, service => service.handle_input(now, bytes))
    }

    fn handle_timeout(&mut self, now: Instant) {
        each!(self, service => service.handle_timeout(now))
    }

    fn handle_eof(&mut self, now: Instant) {
        each!(self, service => service.handle_eof(now))
    }

    fn poll_transmit(&mut self, out: &mut BytesMut) -> bool {
        each!(self, service => service.poll_transmit(out))
    }

    fn poll_send(&mut self) -> Option<Bytes> {
        each!(self, service => service.poll_send())
    }

    fn poll_event(&mut self) -> Option<Job> {
        match self {
            Service::Http(service) => service.poll_event(),
            Service::Management(session) => session.poll_event().map(|event| match event {
                SessionEvent::Request(request) => Job::Management(request),
                SessionEvent::LoginRefused { source } => Job::LoginRefused { source },
            }),
            Service::History(service) => service.poll_event(),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        each!(self, service => service.poll_timeout())
    }

    fn is_finished(&self) -> bool {
        each!(self, service => service.is_finished())
    }

    fn poll_tls_start(&mut self) -> bool {
        each!(self, service => service.poll_tls_start())
    }

    fn handle_tls_established(&mut self, now: Instant) {
        each!(self, service => service.handle_tls_established(now))
    }
}

impl Peer for Service {
    type Message = Answer;

    fn handle_message(&mut self, now: Instant, answer: Answer) {
        match (self, answer) {
            (Service::Http(service), answer) => service.handle_message(now, answer),
            (Service::Management(session), Answer::Management(document)) => {
                session.handle_message(now, document);
            }
            (Service::Management(session), Answer::RefusalDelay(delay)) => {
                session.delay_refusal(delay);
            }
            (Service::Management(_), _) => {}
            (Service::History(service), answer) => service.handle_message(now, answer),
        }
    }
}
