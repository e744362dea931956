//! The client connection: SSLRequest, startup, authentication, pipelined simple queries and
//! executions of named prepared statements, and Terminate, as a sans-IO state machine.

mod auth;
mod error;
mod prepared;
mod query;
mod version;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};

use crate::machine::{Machine, Outbox};
use crate::pg::backend::{Message, ProtocolError, ServerError};
use crate::pg::frontend::{self, EncodeError};
use crate::secret::Secret;
use auth::{AuthProgress, Authenticator};
pub use error::{Error, QueryError, UnsupportedAuth};
use prepared::Statements;
use query::PendingQuery;
pub use query::{QueryId, QueryResult};

/// Whether to ask for TLS (SPEC §2.3 `tls`): `off`, `try` or `on` in a server section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsMode {
    /// No SSLRequest: plain TCP or a Unix socket.
    Off,
    /// Send SSLRequest; use TLS when the server accepts, continue in clear when it refuses.
    Try,
    /// Send SSLRequest; fail with [`Error::TlsRefused`] when the server refuses.
    On,
}

/// Everything needed to open a session.
#[derive(Debug, Clone)]
pub struct ConnectParams {
    /// The role to log in as.
    pub user: String,
    /// The database to connect to.
    pub database: String,
    /// The password, when the server may ask for one.
    pub password: Option<Secret>,
    /// Reported in `pg_stat_activity.application_name`.
    pub application_name: String,
    /// Whether to ask for TLS.
    pub tls: TlsMode,
    /// Extra startup parameters, e.g. `("statement_timeout", "5000")`. `client_encoding` is
    /// `UTF8` unless set here.
    pub options: Vec<(String, String)>,
    /// Startup, TLS and authentication must finish within this.
    pub connect_timeout: Duration,
}

/// What happened on a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Authentication succeeded and the first ReadyForQuery arrived.
    Ready,
    /// A query finished, successfully or not.
    QueryDone {
        /// The id [`Connection::query`] or [`Connection::query_prepared`] returned.
        id: QueryId,
        /// The result, or why it failed.
        result: Result<QueryResult, QueryError>,
    },
    /// The server sent a notice or warning.
    Notice(ServerError),
    /// The connection is over; close the socket. `error` is `None` after
    /// [`Connection::terminate`], once the server closed its end or [`TERMINATE_TIMEOUT`]
    /// passed. Every query still pending got its `QueryDone` before this.
    Closed {
        /// Why it ended, when it did not end by request.
        error: Option<Error>,
    },
}

/// Where the conversation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// SSLRequest queued or sent; waiting for the one-byte answer.
    SslResponse,
    /// The server accepted TLS; waiting for `handle_tls_established`.
    TlsHandshake,
    /// StartupMessage sent; answering authentication requests.
    Authenticating,
    /// AuthenticationOk received; waiting for the first ReadyForQuery.
    AwaitingReady,
    /// Ready: queries are sent as soon as they are queued.
    Ready,
    /// Terminate queued; the connection closes at the server's end of stream or at the
    /// terminate deadline.
    Terminating,
    /// Over; `Closed` was emitted.
    Closed,
}

/// How long a terminated connection waits for the server to close its end of the stream.
/// PostgreSQL closes the socket of a session only when its backend process exits, after its
/// cleanup, so the end of stream tells that the session no longer holds a process; a server
/// that never closes does not hold the connection longer than this.
pub const TERMINATE_TIMEOUT: Duration = Duration::from_secs(2);

/// A client connection to PostgreSQL, without IO. See the crate docs for how to drive it.
pub struct Connection {
    phase: Phase,
    tls: TlsMode,
    /// While connecting, the end of `connect_timeout`; while terminating, when the wait for
    /// the server's end of stream ends.
    deadline: Instant,
    /// The encoded StartupMessage, sent after the SSLRequest answer or right away.
    startup: BytesMut,
    auth: Authenticator,
    /// Bytes to transmit and events to report.
    outbox: Outbox<Event>,
    /// The server accepted TLS and the driver has not been told yet.
    tls_requested: bool,
    /// Queries queued before the connection became ready, already encoded.
    deferred_queries: BytesMut,
    /// Received bytes not yet parsed: at most one incomplete message.
    received: BytesMut,
    /// Queries sent or deferred, oldest first; each ends with its ReadyForQuery.
    pending: VecDeque<PendingQuery>,
    /// The named prepared statements of this session.
    statements: Statements,
    next_query_id: QueryId,
    parameters: HashMap<String, String>,
    backend_key: Option<CancelKey>,
}

/// What cancels the running query of one backend (BackendKeyData): its process id and the
/// secret key. The key is a credential of the session: it is never shown.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CancelKey {
    process_id: i32,
    secret_key: i32,
}

impl CancelKey {
    /// The process id of the backend.
    pub fn process_id(&self) -> i32 {
        self.process_id
    }

    /// Appends the CancelRequest packet that cancels the backend's running query; send it
    /// alone on a new connection to the same server.
    pub fn cancel_request(&self, out: &mut BytesMut) {
        frontend::cancel_request(out, self.process_id, self.secret_key);
    }
}

/// Shows the process id only.
impl fmt::Debug for CancelKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelKey")
            .field("process_id", &self.process_id)
            .finish_non_exhaustive()
    }
}

/// Shows the state, never the buffers: they may hold a password message.
impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("phase", &self.phase)
            .field("pending_queries", &self.pending.len())
            .field("backend_key", &self.backend_key)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Starts a connection: queues SSLRequest (tls Try/On) or the StartupMessage (tls Off).
    ///
    /// `now` starts the `connect_timeout` clock. `scram_client_nonce` should be 18 random
    /// bytes; it is used only if the server asks for SCRAM-SHA-256. Parameters that cannot be
    /// sent (a NUL byte in a name or value) make the connection close at once with
    /// [`Error::InvalidParameter`].
    pub fn new(params: ConnectParams, now: Instant, scram_client_nonce: [u8; 18]) -> Connection {
        let mut connection = Connection {
            phase: Phase::Authenticating,
            tls: params.tls,
            deadline: now + params.connect_timeout,
            startup: BytesMut::new(),
            auth: Authenticator::new(
                params.user.clone(),
                params.password.clone(),
                scram_client_nonce,
            ),
            outbox: Outbox::default(),
            tls_requested: false,
            deferred_queries: BytesMut::new(),
            received: BytesMut::new(),
            pending: VecDeque::new(),
            statements: Statements::default(),
            next_query_id: QueryId::first(),
            parameters: HashMap::new(),
            backend_key: None,
        };
        if let Err(error) =
            frontend::startup_message(&mut connection.startup, &startup_parameters(&params))
        {
            connection.close(Some(Error::InvalidParameter(error)));
            return connection;
        }
        if params.tls == TlsMode::Off {
            connection.send_startup();
        } else {
            frontend::ssl_request(connection.outbox.bytes());
            connection.phase = Phase::SslResponse;
        }
        connection
    }

    /// Queues a simple query; may be called before `Ready` (sent once authenticated). Queries
    /// are pipelined: all queued queries are written without waiting for earlier results, and
    /// their `QueryDone` events come in the order they were queued (but see
    /// [`Connection::query_prepared`] for SQL that cannot be prepared).
    ///
    /// A query string may hold several statements; the result is that of the last one (see
    /// [`QueryResult`]). On a closed connection, or for SQL that cannot be sent (a NUL byte),
    /// the `QueryDone` failure is queued at once. Like after any `handle_*`, drain
    /// `poll_transmit` and `poll_event` afterwards.
    pub fn query(&mut self, sql: &str) -> QueryId {
        self.enqueue(|out, id| frontend::query(out, sql).map(|()| PendingQuery::new(id)))
            .0
    }

    /// Queues an execution of `sql` as the prepared statement `name`, with the extended query
    /// protocol, so that the server parses and plans it once per connection. The first use of
    /// `name` sends Parse; every use sends Bind, Describe, Execute and Sync, so each execution
    /// ends with its own ReadyForQuery and a failure affects only its own `QueryDone`. The
    /// result is that of [`Connection::query`]: columns, rows, command tag. Queuing,
    /// pipelining and errors are as for [`Connection::query`].
    ///
    /// `name` must always stand for the same `sql` on a connection (a reconnect starts afresh);
    /// the SQL given with a later use is not sent. An execution that fails makes the next use
    /// parse again. SQL that cannot be prepared (several statements: SQLSTATE 42601) is run
    /// again at once with the simple protocol, and every later use of `name` on this
    /// connection is a simple query; that retried `QueryDone` comes after those of the
    /// queries queued before the retry was sent.
    pub fn query_prepared(&mut self, name: &str, sql: &str) -> QueryId {
        let plan = self.statements.plan(name);
        let (id, queued) = self.enqueue(|out, id| {
            prepared::encode_execution(out, plan, name, sql).map(|()| match plan {
                prepared::Plan::Simple => PendingQuery::new(id),
                prepared::Plan::Execute => PendingQuery::prepared(id, name, None),
                prepared::Plan::Prepare { .. } => PendingQuery::prepared(id, name, Some(sql)),
            })
        });
        if queued {
            self.statements.sent(name, plan);
        }
        id
    }

    /// Takes a new id and, when the connection can still send, lets `encode` append the
    /// query's messages to the right buffer and describe the pending query. A closed connection
    /// or an encoding error queues the failed `QueryDone` at once. Returns the id and whether
    /// the query was queued.
    fn enqueue(
        &mut self,
        encode: impl FnOnce(&mut BytesMut, QueryId) -> Result<PendingQuery, EncodeError>,
    ) -> (QueryId, bool) {
        let id = self.next_query_id;
        self.next_query_id = id.next();
        if matches!(self.phase, Phase::Closed | Phase::Terminating) {
            self.outbox.push(Event::QueryDone {
                id,
                result: Err(QueryError::ConnectionClosed),
            });
            return (id, false);
        }
        let out = if self.phase == Phase::Ready {
            self.outbox.bytes()
        } else {
            &mut self.deferred_queries
        };
        match encode(out, id) {
            Ok(query) => {
                self.pending.push_back(query);
                (id, true)
            }
            Err(error) => {
                self.outbox.push(Event::QueryDone {
                    id,
                    result: Err(QueryError::InvalidQuery(error)),
                });
                (id, false)
            }
        }
    }

    /// Queues Terminate; the connection then waits for the server to close its end (the
    /// driver's `handle_eof`) and ends with `Closed { error: None }` then, or at
    /// [`TERMINATE_TIMEOUT`] after `now` if the server never closes (`poll_timeout` returns
    /// that deadline). Input received meanwhile is ignored, and queries without a result
    /// fail with [`QueryError::ConnectionClosed`] when it closes, so call it once the results
    /// needed have arrived. Before the startup message was sent there is nothing to
    /// terminate: the connection closes at once. Drain `poll_transmit` and `poll_event`
    /// afterwards.
    pub fn terminate(&mut self, now: Instant) {
        match self.phase {
            Phase::Closed | Phase::Terminating => {}
            Phase::SslResponse | Phase::TlsHandshake => {
                self.outbox.discard_bytes();
                self.close(None);
            }
            Phase::Authenticating | Phase::AwaitingReady | Phase::Ready => {
                frontend::terminate(self.outbox.bytes());
                self.phase = Phase::Terminating;
                self.deadline = now + TERMINATE_TIMEOUT;
            }
        }
    }

    /// Whether authentication finished and the connection is open.
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// The last value the server reported for parameter `name` (ParameterStatus), e.g.
    /// `server_version`, `server_encoding`, `TimeZone`, `is_superuser`.
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters.get(name).map(String::as_str)
    }

    /// The server version in `server_version_num` form (e.g. 150018 for "15.18 (Debian...)",
    /// 130000 + minor for 13.x), from the `server_version` parameter.
    pub fn server_version_num(&self) -> Option<u32> {
        version::server_version_num(self.parameter("server_version")?)
    }

    /// What cancels this session's running query, once the server sent it (before the first
    /// ReadyForQuery).
    pub fn cancel_key(&self) -> Option<CancelKey> {
        self.backend_key
    }

    /// Whether the session has not reached its first ReadyForQuery yet (startup, TLS or
    /// authentication in progress).
    pub fn is_connecting(&self) -> bool {
        matches!(
            self.phase,
            Phase::SslResponse | Phase::TlsHandshake | Phase::Authenticating | Phase::AwaitingReady
        )
    }

    /// Queues the StartupMessage and starts authenticating.
    fn send_startup(&mut self) {
        self.outbox.bytes().extend_from_slice(&self.startup);
        self.phase = Phase::Authenticating;
    }

    /// Parses and handles every complete message received.
    fn process_received(&mut self) -> Result<(), Error> {
        loop {
            match self.phase {
                Phase::SslResponse => {
                    if !self.handle_ssl_response()? {
                        return Ok(());
                    }
                }
                Phase::Authenticating | Phase::AwaitingReady | Phase::Ready => {
                    let Some(message) = Message::parse(&mut self.received)? else {
                        return Ok(());
                    };
                    self.handle_message(message)?;
                }
                Phase::TlsHandshake | Phase::Terminating | Phase::Closed => return Ok(()),
            }
        }
    }

    /// Handles the one-byte answer to SSLRequest; `false` when it has not arrived yet.
    fn handle_ssl_response(&mut self) -> Result<bool, Error> {
        let Some(&answer) = self.received.first() else {
            return Ok(false);
        };
        match answer {
            b'S' => {
                self.received.advance(1);
                if !self.received.is_empty() {
                    return Err(ProtocolError::DataAfterSslAccept.into());
                }
                self.phase = Phase::TlsHandshake;
                self.tls_requested = true;
            }
            b'N' => {
                self.received.advance(1);
                if self.tls == TlsMode::On {
                    return Err(Error::TlsRefused);
                }
                self.send_startup();
            }
            // A server too old to know SSLRequest answers with an ErrorResponse, which the
            // authentication phase reports.
            b'E' => self.phase = Phase::Authenticating,
            other => return Err(ProtocolError::InvalidSslResponse(other).into()),
        }
        Ok(true)
    }

    /// Handles one backend message according to the phase.
    fn handle_message(&mut self, message: Message) -> Result<(), Error> {
        match message {
            Message::ParameterStatus { name, value } => {
                self.parameters.insert(name, value);
            }
            Message::NoticeResponse(notice) => self.outbox.push(Event::Notice(notice)),
            Message::NotificationResponse { .. } => {}
            Message::ErrorResponse(error) => return self.handle_error(error),
            Message::Authentication(request) if self.phase == Phase::Authenticating => {
                if self.auth.handle(request, self.outbox.bytes())? == AuthProgress::Done {
                    self.phase = Phase::AwaitingReady;
                }
            }
            Message::BackendKeyData {
                process_id,
                secret_key,
            } if self.phase == Phase::AwaitingReady => {
                self.backend_key = Some(CancelKey {
                    process_id,
                    secret_key,
                });
            }
            Message::ReadyForQuery(_) if self.phase == Phase::AwaitingReady => {
                self.phase = Phase::Ready;
                self.outbox
                    .bytes()
                    .extend_from_slice(&self.deferred_queries);
                self.deferred_queries = BytesMut::new();
                self.outbox.push(Event::Ready);
            }
            message if self.phase == Phase::Ready => self.handle_query_message(message)?,
            message => return Err(ProtocolError::Unexpected(message.name()).into()),
        }
        Ok(())
    }

    /// Handles a message answering the oldest pending query.
    fn handle_query_message(&mut self, message: Message) -> Result<(), Error> {
        let name = message.name();
        let Some(query) = self.pending.front_mut() else {
            return Err(ProtocolError::Unexpected(name).into());
        };
        match message {
            Message::RowDescription(columns) => query.row_description(columns),
            Message::DataRow(row) => query.data_row(row),
            Message::CommandComplete { tag } => query.command_complete(tag),
            Message::EmptyQueryResponse => query.empty_query(),
            Message::ParseComplete => query.parse_complete(),
            // Acknowledgements and descriptions that add nothing to the result.
            Message::BindComplete | Message::CloseComplete | Message::NoData => {}
            Message::ReadyForQuery(_) => {
                if let Some(query) = self.pending.pop_front() {
                    self.finish_query(query);
                }
            }
            _ => return Err(ProtocolError::Unexpected(name).into()),
        }
        Ok(())
    }

    /// Reports `query` done, or sends it again as a simple query when its SQL could not be
    /// prepared.
    fn finish_query(&mut self, mut query: PendingQuery) {
        let (id, result) = match query.take_retry() {
            Some(sql) => match frontend::query(self.outbox.bytes(), &sql) {
                Ok(()) => {
                    self.pending.push_back(PendingQuery::new(query.id()));
                    return;
                }
                Err(error) => (query.id(), Err(QueryError::InvalidQuery(error))),
            },
            None => query.finish(),
        };
        self.outbox.push(Event::QueryDone { id, result });
    }

    /// An ErrorResponse: a query's failure when one is running and the error is not fatal;
    /// otherwise the end of the connection (the failing query, if any, keeps the error).
    /// A failed prepared execution updates what is known of its statement, and is retried as
    /// a simple query when the SQL cannot be prepared.
    fn handle_error(&mut self, error: ServerError) -> Result<(), Error> {
        let fatal = error.is_fatal();
        match self.pending.front_mut() {
            Some(query) if self.phase == Phase::Ready => {
                if let Some(name) = query.statement()
                    && self.statements.failed(name, query.is_parsing(), &error)
                    && !fatal
                {
                    query.retry_as_simple_query();
                    return Ok(());
                }
                query.error(error.clone());
                if fatal {
                    return Err(Error::Server(error));
                }
                Ok(())
            }
            _ => Err(Error::Server(error)),
        }
    }

    /// Fails every pending query, then queues `Closed`.
    fn close(&mut self, error: Option<Error>) {
        for query in std::mem::take(&mut self.pending) {
            let (id, result) = query.abandon();
            self.outbox.push(Event::QueryDone { id, result });
        }
        self.outbox.push(Event::Closed { error });
        self.phase = Phase::Closed;
        self.tls_requested = false;
        self.outbox.discard_bytes();
        self.deferred_queries = BytesMut::new();
        self.received = BytesMut::new();
    }
}

/// The connection as the driver sees it. A protocol error from the server, a refused TLS
/// request or a missed `connect_timeout` fails every pending query and ends in
/// [`Event::Closed`] with the error.
impl Machine for Connection {
    type Event = Event;

    /// Bytes from the server (TLS plaintext once TLS is established). Input after `Closed` or
    /// `terminate` is dropped.
    fn handle_input(&mut self, _now: Instant, bytes: &[u8]) {
        match self.phase {
            Phase::Closed | Phase::Terminating => return,
            Phase::TlsHandshake if !bytes.is_empty() => {
                return self.close(Some(ProtocolError::DataAfterSslAccept.into()));
            }
            _ => {}
        }
        self.received.extend_from_slice(bytes);
        if let Err(error) = self.process_received() {
            self.close(Some(error));
        }
    }

    /// The connection closes with [`Error::Timeout`] if it is not ready by its deadline, and
    /// with no error if the server has not closed a terminated connection by
    /// [`TERMINATE_TIMEOUT`].
    fn handle_timeout(&mut self, now: Instant) {
        if now < self.deadline {
            return;
        }
        if self.is_connecting() {
            self.close(Some(Error::Timeout));
        } else if self.phase == Phase::Terminating {
            self.close(None);
        }
    }

    /// Pending queries fail with [`QueryError::ConnectionClosed`] (or the server error they
    /// already received), then `Closed` is queued: with no error after `terminate` (the
    /// server's answer to Terminate), else with [`Error::UnexpectedEof`].
    fn handle_eof(&mut self, _now: Instant) {
        match self.phase {
            Phase::Closed => {}
            Phase::Terminating => self.close(None),
            _ => self.close(Some(Error::UnexpectedEof)),
        }
    }

    fn poll_transmit(&mut self, out: &mut BytesMut) -> bool {
        self.outbox.poll_transmit(out)
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.outbox.poll_event()
    }

    /// The `connect_timeout` deadline while connecting, the [`TERMINATE_TIMEOUT`] deadline
    /// while terminating; `None` when ready or closed.
    fn poll_timeout(&self) -> Option<Instant> {
        (self.is_connecting() || self.phase == Phase::Terminating).then_some(self.deadline)
    }

    fn is_finished(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// `true` once after the server accepted the SSLRequest.
    fn poll_tls_start(&mut self) -> bool {
        std::mem::take(&mut self.tls_requested)
    }

    /// Queues the StartupMessage, now under TLS.
    fn handle_tls_established(&mut self, _now: Instant) {
        if self.phase == Phase::TlsHandshake {
            self.send_startup();
        }
    }
}

/// The startup parameters: user, database, application name, `client_encoding=UTF8` unless
/// overridden, then the extra options.
fn startup_parameters(params: &ConnectParams) -> Vec<(&str, &str)> {
    let mut parameters = vec![
        ("user", params.user.as_str()),
        ("database", params.database.as_str()),
        ("application_name", params.application_name.as_str()),
    ];
    if !params
        .options
        .iter()
        .any(|(name, _)| name == "client_encoding")
    {
        parameters.push(("client_encoding", "UTF8"));
    }
    parameters.extend(params.options.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    parameters
}

#[cfg(test)]
mod tests;
