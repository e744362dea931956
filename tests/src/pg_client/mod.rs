//! A blocking PostgreSQL client for the tests: the core's [`Connection`] behind the TLS
//! adapter, driven over a blocking socket.
//!
//! [`PgClient`] owns the socket and the machine, and runs the machine contract's loop: write
//! what `poll_transmit` gives, handle every event, then block on a read whose timeout is the
//! machine's `poll_timeout` (the connect deadline). The clock is `Instant::now()` and the SCRAM
//! nonce comes from `getrandom`, both here, outside the core.
//!
//! Once connected there is no read timeout: a query waits until the server answers or closes the
//! connection. Notices from the server are dropped.

mod socket;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use pgexporter_core::machine::Machine;
use pgexporter_core::pg::{ConnectParams, Connection, Event, QueryError, QueryId, QueryResult};
use pgexporter_core::plan::ClientTlsFiles;

use pgexporter_tls::{Tls, TlsConfigError, TlsError, client_config};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;

pub use socket::PgTarget;
use socket::Socket;

/// Size of the buffer each read fills.
const READ_CHUNK: usize = 16 * 1024;

/// The shortest read timeout used while a deadline is pending (a zero timeout means "none").
const MIN_READ_TIMEOUT: Duration = Duration::from_millis(1);

/// Why connecting or a query failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The socket could not be connected.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// Where the server was expected.
        target: PgTarget,
        /// What the operating system said.
        source: io::Error,
    },
    /// The operating system gave no random bytes for the SCRAM nonce.
    #[error("no random bytes for the SCRAM nonce: {0}")]
    Random(getrandom::Error),
    /// Reading or writing the connected socket failed.
    #[error("connection to {target}: {source}")]
    Io {
        /// The server.
        target: PgTarget,
        /// What the operating system said.
        source: io::Error,
    },
    /// The default TLS configuration (used when none is given) could not be built.
    #[error(transparent)]
    TlsConfig(#[from] TlsConfigError),
    /// The TLS handshake or a TLS record failed, e.g. a certificate not signed by the CA.
    #[error("TLS with {target}: {source}")]
    Tls {
        /// The server.
        target: PgTarget,
        /// What went wrong.
        source: TlsError,
    },
    /// The host is neither a DNS name nor an IP address, so TLS cannot name the server.
    #[error("{0}: the host is not a valid TLS server name")]
    InvalidServerName(PgTarget),
    /// The PostgreSQL connection ended: a server error such as a wrong password (SQLSTATE 28P01),
    /// TLS refused with `tls = on`, the connect timeout, or the server closing the connection.
    #[error("{target}: {source}")]
    Connection {
        /// The server.
        target: PgTarget,
        /// The core's reason.
        source: pgexporter_core::pg::Error,
    },
    /// The connection ended because the client closed it.
    #[error("the connection to {0} was closed")]
    Closed(PgTarget),
    /// The query failed; the connection is still usable unless the error says it closed.
    #[error(transparent)]
    Query(#[from] QueryError),
}

/// A connected, authenticated PostgreSQL session with blocking IO. See the module docs.
pub struct PgClient {
    target: PgTarget,
    socket: Socket,
    machine: Tls<Connection>,
    /// Finished queries whose result has not been collected.
    finished: HashMap<QueryId, Result<QueryResult, QueryError>>,
    /// Set once the core emitted `Closed`.
    closed: bool,
    /// Why the connection ended, until reported.
    close_reason: Option<DriverError>,
    outgoing: BytesMut,
}

impl std::fmt::Debug for PgClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgClient")
            .field("target", &self.target)
            .field("tls", &self.is_tls())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl PgClient {
    /// Connects to `target`, negotiates TLS as `params.tls` says and authenticates.
    ///
    /// `tls` is the configuration used when the server accepts TLS; `None` means encrypt without
    /// verifying the server (see [`pgexporter_tls::client_config`]). The TLS server name is the
    /// TCP host (`localhost` over a Unix socket, where PostgreSQL refuses TLS anyway). Fails
    /// with [`DriverError::Connection`] when the server refuses the login (the server error
    /// carries the SQLSTATE), and with the other variants for socket and TLS failures;
    /// `params.connect_timeout` bounds the whole exchange.
    pub fn connect(
        target: &PgTarget,
        params: ConnectParams,
        tls: Option<Arc<ClientConfig>>,
    ) -> Result<PgClient, DriverError> {
        let timeout = params.connect_timeout;
        let config = match tls {
            Some(config) => config,
            None => client_config(&ClientTlsFiles::default())?,
        };
        let name = match target {
            PgTarget::Tcp { host, .. } => ServerName::try_from(host.clone()),
            PgTarget::Unix { .. } => ServerName::try_from("localhost".to_owned()),
        }
        .map_err(|_| DriverError::InvalidServerName(target.clone()))?;
        let socket = Socket::connect(target, timeout).map_err(|source| DriverError::Connect {
            target: target.clone(),
            source,
        })?;
        let mut nonce = [0u8; 18];
        getrandom::fill(&mut nonce).map_err(DriverError::Random)?;
        let connection = Connection::new(params, Instant::now(), nonce);
        let mut client = PgClient {
            target: target.clone(),
            socket,
            machine: Tls::client_on_request(connection, config, name),
            finished: HashMap::new(),
            closed: false,
            close_reason: None,
            outgoing: BytesMut::new(),
        };
        client.run_until(|client| client.machine.inner().is_ready())?;
        Ok(client)
    }

    /// Runs one simple query (it may hold several statements; the result is the last one's).
    ///
    /// A server error is [`DriverError::Query`] with [`QueryError::Server`] and leaves the
    /// session usable. When the connection ends before the result, the error says why (for
    /// example the server's FATAL error, or the socket error).
    pub fn query(&mut self, sql: &str) -> Result<QueryResult, DriverError> {
        let id = self.machine.inner_mut().query(sql);
        self.run_until(|client| client.finished.contains_key(&id))?;
        match self.finished.remove(&id) {
            Some(Ok(result)) => Ok(result),
            Some(Err(QueryError::ConnectionClosed)) | None => Err(self.take_close_reason()),
            Some(Err(error)) => Err(DriverError::Query(error)),
        }
    }

    /// Sends all `queries` at once, then reads their results, one per query in order. A query
    /// that fails does not disturb the next ones; when the connection ends, the queries without
    /// a result get [`QueryError::ConnectionClosed`] (see [`PgClient::close_reason`] for why).
    pub fn pipeline(&mut self, queries: &[&str]) -> Vec<Result<QueryResult, QueryError>> {
        let ids: Vec<QueryId> = queries
            .iter()
            .map(|sql| self.machine.inner_mut().query(sql))
            .collect();
        // Ending early means the connection closed, and then every query has its result.
        if self
            .run_until(|client| ids.iter().all(|id| client.finished.contains_key(id)))
            .is_err()
        {
            self.closed = true;
        }
        ids.iter()
            .map(|id| {
                self.finished
                    .remove(id)
                    .unwrap_or(Err(QueryError::ConnectionClosed))
            })
            .collect()
    }

    /// Ends the session politely (Terminate, then TLS close_notify) and closes the socket.
    pub fn close(mut self) -> Result<(), DriverError> {
        self.machine.inner_mut().terminate(Instant::now());
        let flushed = self.flush();
        self.socket.shutdown();
        flushed
    }

    /// The core connection, for its getters (`server_version_num`, `cancel_key`, `parameter`).
    pub fn connection(&self) -> &Connection {
        self.machine.inner()
    }

    /// Whether the session runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.machine.is_tls()
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Why the connection ended, when it has and the reason was not yet returned by a query.
    pub fn close_reason(&self) -> Option<&DriverError> {
        self.close_reason.as_ref()
    }

    /// Drives the connection until `done` holds; fails with the close reason when the
    /// connection ends first.
    fn run_until(&mut self, done: impl Fn(&PgClient) -> bool) -> Result<(), DriverError> {
        loop {
            self.drain();
            if done(self) {
                return Ok(());
            }
            if self.closed {
                return Err(self.take_close_reason());
            }
            self.read_once();
        }
    }

    /// Writes everything the machine has to send and handles every event, until neither
    /// produces anything more. Socket failures end the connection (see `fail`).
    fn drain(&mut self) {
        loop {
            if let Err(error) = self.flush() {
                // A TLS failure is why the write of its alert may fail: it is the reason.
                let error = match self.machine.take_failure() {
                    Some(source) => DriverError::Tls {
                        target: self.target.clone(),
                        source,
                    },
                    None => error,
                };
                self.fail(error);
            }
            let mut handled = false;
            while let Some(event) = self.machine.poll_event() {
                handled = true;
                self.handle_event(event);
            }
            if !handled {
                return;
            }
        }
    }

    fn handle_event(&mut self, event: Event) {
        match event {
            Event::QueryDone { id, result } => {
                self.finished.insert(id, result);
            }
            Event::Closed { error } => {
                self.closed = true;
                if self.close_reason.is_none() {
                    let target = self.target.clone();
                    self.close_reason = Some(match (self.machine.take_failure(), error) {
                        (Some(source), _) => DriverError::Tls { target, source },
                        (None, Some(source)) => DriverError::Connection { target, source },
                        (None, None) => DriverError::Closed(target),
                    });
                }
            }
            Event::Ready | Event::Notice(_) => {}
        }
    }

    /// Writes what the machine (through TLS when it is on) has to send.
    fn flush(&mut self) -> Result<(), DriverError> {
        self.outgoing.clear();
        while self.machine.poll_transmit(&mut self.outgoing) {}
        if self.outgoing.is_empty() {
            return Ok(());
        }
        self.socket
            .write_all(&self.outgoing)
            .map_err(|source| self.io_error(source))
    }

    /// One blocking read, bounded by the machine's deadline, and its consequences.
    fn read_once(&mut self) {
        let now = Instant::now();
        let timeout = self.machine.poll_timeout().map(|deadline| {
            deadline
                .saturating_duration_since(now)
                .max(MIN_READ_TIMEOUT)
        });
        if let Err(error) = self.socket.set_read_timeout(timeout) {
            return self.fail(self.io_error(error));
        }
        let mut buffer = [0u8; READ_CHUNK];
        match self.socket.read(&mut buffer) {
            Ok(0) => self.machine.handle_eof(Instant::now()),
            Ok(n) => self.machine.handle_input(Instant::now(), &buffer[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                self.machine.handle_timeout(Instant::now())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => self.fail(self.io_error(e)),
        }
    }

    /// Ends the connection because of a driver-side failure, keeping that failure as the reason.
    fn fail(&mut self, error: DriverError) {
        if self.close_reason.is_none() {
            self.close_reason = Some(error);
        }
        self.socket.shutdown();
        self.machine.handle_eof(Instant::now());
    }

    fn take_close_reason(&mut self) -> DriverError {
        self.close_reason
            .take()
            .unwrap_or(DriverError::Query(QueryError::ConnectionClosed))
    }

    fn io_error(&self, source: io::Error) -> DriverError {
        DriverError::Io {
            target: self.target.clone(),
            source,
        }
    }
}
