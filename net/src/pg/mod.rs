//! A blocking PostgreSQL client: the core's [`Connection`] driven over a blocking socket.
//!
//! [`PgClient`] owns the socket, the optional TLS pump and the core connection, and runs the
//! core's loop: write what `poll_transmit` gives, handle every event, then block on a read whose
//! timeout is the core's `poll_timeout` (the connect deadline). The clock is `Instant::now()` and
//! the SCRAM nonce comes from `getrandom`, both here, outside the core.
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
use pgexporter_core::pg::{ConnectParams, Connection, Event, QueryError, QueryId, QueryResult};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

use crate::tls::{TlsClientFiles, TlsConfigError, TlsError, TlsPump, client_config};
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
    connection: Connection,
    /// The configuration used if the server accepts TLS.
    tls_config: Option<Arc<ClientConfig>>,
    /// Present once the server accepted TLS.
    tls: Option<TlsPump<ClientConnection>>,
    /// The core has not yet been told that the TLS handshake finished.
    tls_pending: bool,
    /// Finished queries whose result has not been collected.
    finished: HashMap<QueryId, Result<QueryResult, QueryError>>,
    /// Set once the core emitted `Closed`.
    closed: bool,
    /// Why the connection ended, until reported.
    close_reason: Option<DriverError>,
    outgoing: BytesMut,
    plaintext: BytesMut,
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
    /// verifying the server (see [`crate::tls::client_config`]). The TLS server name is the TCP
    /// host (`localhost` over a Unix socket, where PostgreSQL refuses TLS anyway). Fails with [`DriverError::Connection`] when the server refuses
    /// the login (the server error carries the SQLSTATE), and with the other variants for
    /// socket and TLS failures; `params.connect_timeout` bounds the whole exchange.
    pub fn connect(
        target: &PgTarget,
        params: ConnectParams,
        tls: Option<Arc<ClientConfig>>,
    ) -> Result<PgClient, DriverError> {
        let timeout = params.connect_timeout;
        let socket = Socket::connect(target, timeout).map_err(|source| DriverError::Connect {
            target: target.clone(),
            source,
        })?;
        let mut nonce = [0u8; 18];
        getrandom::fill(&mut nonce).map_err(DriverError::Random)?;
        let mut client = PgClient {
            target: target.clone(),
            socket,
            connection: Connection::new(params, Instant::now(), nonce),
            tls_config: tls,
            tls: None,
            tls_pending: false,
            finished: HashMap::new(),
            closed: false,
            close_reason: None,
            outgoing: BytesMut::new(),
            plaintext: BytesMut::new(),
        };
        client.run_until(|client| client.connection.is_ready())?;
        Ok(client)
    }

    /// Runs one simple query (it may hold several statements; the result is the last one's).
    ///
    /// A server error is [`DriverError::Query`] with [`QueryError::Server`] and leaves the
    /// session usable. When the connection ends before the result, the error says why (for
    /// example the server's FATAL error, or the socket error).
    pub fn query(&mut self, sql: &str) -> Result<QueryResult, DriverError> {
        let id = self.connection.query(sql);
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
            .map(|sql| self.connection.query(sql))
            .collect();
        // Ending early can only mean the connection closed, and then every query has its result.
        let _ = self.run_until(|client| ids.iter().all(|id| client.finished.contains_key(id)));
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
        self.connection.terminate();
        let flushed = self.flush();
        if let Some(tls) = &mut self.tls {
            tls.close();
        }
        let flushed = flushed.and_then(|()| self.flush());
        self.socket.shutdown();
        flushed
    }

    /// The core connection, for its getters (`server_version_num`, `backend_pid`, `parameter`).
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Whether the session runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
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

    /// Writes everything the core (and TLS) has to send and handles every event, until neither
    /// produces anything more. Socket failures end the connection (see `fail`).
    fn drain(&mut self) {
        loop {
            if let Err(error) = self.flush() {
                self.fail(error);
            }
            let mut handled = false;
            while let Some(event) = self.connection.poll_event() {
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
            Event::StartTls => {
                if let Err(error) = self.start_tls() {
                    self.fail(error);
                }
            }
            Event::QueryDone { id, result } => {
                self.finished.insert(id, result);
            }
            Event::Closed { error } => {
                self.closed = true;
                if self.close_reason.is_none() {
                    let target = self.target.clone();
                    self.close_reason = Some(match error {
                        Some(source) => DriverError::Connection { target, source },
                        None => DriverError::Closed(target),
                    });
                }
            }
            Event::Ready | Event::Notice(_) => {}
        }
    }

    fn start_tls(&mut self) -> Result<(), DriverError> {
        let config = match &self.tls_config {
            Some(config) => config.clone(),
            None => client_config(&TlsClientFiles::default())?,
        };
        let name = match &self.target {
            PgTarget::Tcp { host, .. } => ServerName::try_from(host.clone()),
            PgTarget::Unix { .. } => ServerName::try_from("localhost".to_owned()),
        }
        .map_err(|_| DriverError::InvalidServerName(self.target.clone()))?;
        let pump = TlsPump::client(config, name).map_err(|e| self.tls_error(e))?;
        self.tls = Some(pump);
        self.tls_pending = true;
        Ok(())
    }

    /// Hands the core's bytes to TLS when it is on, and writes the result to the socket.
    fn flush(&mut self) -> Result<(), DriverError> {
        self.outgoing.clear();
        match &mut self.tls {
            None => {
                let _ = self.connection.poll_transmit(&mut self.outgoing);
            }
            Some(tls) => {
                let mut plaintext = BytesMut::new();
                if self.connection.poll_transmit(&mut plaintext) {
                    tls.send(&plaintext).map_err(|e| DriverError::Tls {
                        target: self.target.clone(),
                        source: e,
                    })?;
                }
                let _ = tls.poll_transmit(&mut self.outgoing);
            }
        }
        if self.outgoing.is_empty() {
            return Ok(());
        }
        self.socket
            .write_all(&self.outgoing)
            .map_err(|source| self.io_error(source))
    }

    /// One blocking read, bounded by the core's deadline, and its consequences.
    fn read_once(&mut self) {
        let now = Instant::now();
        let timeout = self.connection.poll_timeout().map(|deadline| {
            deadline
                .saturating_duration_since(now)
                .max(MIN_READ_TIMEOUT)
        });
        if let Err(error) = self.socket.set_read_timeout(timeout) {
            return self.fail(self.io_error(error));
        }
        let mut buffer = [0u8; READ_CHUNK];
        match self.socket.read(&mut buffer) {
            Ok(0) => self.connection.handle_eof(Instant::now()),
            Ok(n) => self.receive(&buffer[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                self.connection.handle_timeout(Instant::now())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => self.fail(self.io_error(e)),
        }
    }

    /// Passes received bytes through TLS (when on) to the core.
    fn receive(&mut self, bytes: &[u8]) {
        let now = Instant::now();
        let Some(tls) = &mut self.tls else {
            // A protocol error also arrives as `Closed`, which carries it to the caller.
            let _ = self.connection.handle_input(now, bytes);
            return;
        };
        self.plaintext.clear();
        if let Err(error) = tls.receive(bytes, &mut self.plaintext) {
            // Send the alert rustls queued, then give up.
            let _ = self.flush();
            return self.fail(self.tls_error(error));
        }
        let peer_closed = tls.peer_closed();
        if self.tls_pending && !tls.is_handshaking() {
            self.tls_pending = false;
            self.connection.tls_established(now);
        }
        if !self.plaintext.is_empty() {
            let _ = self.connection.handle_input(now, &self.plaintext);
        }
        if peer_closed {
            self.connection.handle_eof(now);
        }
    }

    /// Ends the connection because of a driver-side failure, keeping that failure as the reason.
    fn fail(&mut self, error: DriverError) {
        if self.close_reason.is_none() {
            self.close_reason = Some(error);
        }
        self.socket.shutdown();
        self.connection.handle_eof(Instant::now());
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

    fn tls_error(&self, source: TlsError) -> DriverError {
        DriverError::Tls {
            target: self.target.clone(),
            source,
        }
    }
}
