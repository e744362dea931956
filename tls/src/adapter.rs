//! TLS as one adapter around any machine of the core: the runtime moves ciphertext, the
//! machine sees plaintext, and a machine's request for TLS ([`Machine::poll_tls_start`]) is
//! honoured here.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use pgexporter_core::machine::{Machine, Peer};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};

use crate::{TlsError, TlsPump};

/// The most plaintext encrypted per [`Machine::poll_transmit`] call once some ciphertext is
/// ready: what a connection holds encrypted at a time.
const PLAINTEXT_PIECE: usize = 256 * 1024;

/// How a plain stream becomes TLS when the machine asks.
enum Upgrade {
    /// The machine is the server side.
    Server(Arc<ServerConfig>),
    /// The machine is the client side; the name is given to the handshake.
    Client(Arc<ClientConfig>, ServerName<'static>),
}

/// A TLS connection of either side.
enum Session {
    Server(TlsPump<ServerConnection>),
    Client(TlsPump<ClientConnection>),
}

/// Forwards a call to whichever side the session is.
macro_rules! either {
    ($session:expr, $pump:ident => $body:expr) => {
        match $session {
            Session::Server($pump) => $body,
            Session::Client($pump) => $body,
        }
    };
}

impl Session {
    fn start(upgrade: Upgrade) -> Result<Session, TlsError> {
        Ok(match upgrade {
            Upgrade::Server(config) => {
                Session::Server(TlsPump::new(ServerConnection::new(config)?))
            }
            Upgrade::Client(config, name) => Session::Client(TlsPump::client(config, name)?),
        })
    }
}

enum State {
    /// Bytes pass through; `upgrade` is taken when the machine asks for TLS (none: the
    /// request fails the connection).
    Plain { upgrade: Option<Upgrade> },
    /// TLS is on. `established` once the handshake completed; `broken` after a TLS failure,
    /// when only the alert rustls queued is still sent; `closing` once close_notify is queued.
    Active {
        session: Box<Session>,
        established: bool,
        broken: bool,
        closing: bool,
    },
    /// The machine asked for TLS that is not configured.
    Refused,
}

/// A machine behind TLS: a [`Machine`] (and [`Peer`]) itself, taking and giving ciphertext.
///
/// TLS failures (a handshake the peer breaks, a certificate that does not verify) are the
/// peer's doing: they are logged, rustls' alert is sent, and the inner machine sees the end of
/// the stream. When the inner machine finishes under TLS, close_notify is sent after its last
/// bytes.
pub struct Tls<M> {
    inner: M,
    state: State,
    /// Plaintext received, on its way from the session to the inner machine.
    plaintext: BytesMut,
    /// Plaintext the inner machine queued, not yet encrypted.
    unsent: Bytes,
    /// Why TLS failed, until taken.
    failure: Option<TlsError>,
}

impl<M: Machine> Tls<M> {
    /// `inner` without TLS: a request for TLS fails the connection.
    pub fn plain(inner: M) -> Self {
        Tls::with_state(inner, State::Plain { upgrade: None })
    }

    /// `inner` as the server side of TLS from the first byte (HTTPS).
    ///
    /// # Errors
    /// When rustls refuses the configuration.
    pub fn server(inner: M, config: Arc<ServerConfig>) -> Result<Self, TlsError> {
        let session = Session::start(Upgrade::Server(config))?;
        Ok(Tls::with_state(inner, active(session)))
    }

    /// `inner` as the server side of TLS once it asks for it.
    pub fn server_on_request(inner: M, config: Arc<ServerConfig>) -> Self {
        let upgrade = Some(Upgrade::Server(config));
        Tls::with_state(inner, State::Plain { upgrade })
    }

    /// `inner` as the client side of TLS with server `name` once it asks for it.
    pub fn client_on_request(
        inner: M,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> Self {
        let upgrade = Some(Upgrade::Client(config, name));
        Tls::with_state(inner, State::Plain { upgrade })
    }

    fn with_state(inner: M, state: State) -> Self {
        Tls {
            inner,
            state,
            plaintext: BytesMut::new(),
            unsent: Bytes::new(),
            failure: None,
        }
    }

    /// The machine inside.
    pub fn inner(&self) -> &M {
        &self.inner
    }

    /// The machine inside, for its own commands (queue a query, say); drain this adapter
    /// afterwards as after any `handle_*` call.
    pub fn inner_mut(&mut self) -> &mut M {
        &mut self.inner
    }

    /// Whether the stream is under TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.state, State::Active { .. })
    }

    /// Why TLS failed, once: for callers that report it.
    pub fn take_failure(&mut self) -> Option<TlsError> {
        self.failure.take()
    }

    /// A TLS failure: only the alert is still sent, and the inner machine sees the end.
    fn fail(&mut self, now: Instant, error: TlsError) {
        tracing::debug!("TLS: {error}");
        if let State::Active { broken, .. } = &mut self.state {
            *broken = true;
        }
        self.failure = Some(error);
        self.inner.handle_eof(now);
    }
}

fn active(session: Session) -> State {
    State::Active {
        session: Box::new(session),
        established: false,
        broken: false,
        closing: false,
    }
}

impl<M: Machine> Machine for Tls<M> {
    type Event = M::Event;

    fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        let State::Active {
            session,
            established,
            broken: false,
            ..
        } = &mut self.state
        else {
            if let State::Plain { .. } = self.state {
                self.inner.handle_input(now, bytes);
            }
            return;
        };
        let received = either!(session.as_mut(), pump => pump.receive(bytes, &mut self.plaintext));
        if let Err(error) = received {
            self.plaintext.clear();
            return self.fail(now, error);
        }
        let handshaking = either!(session.as_ref(), pump => pump.is_handshaking());
        let peer_closed = either!(session.as_ref(), pump => pump.peer_closed());
        if !*established && !handshaking {
            *established = true;
            self.inner.handle_tls_established(now);
        }
        if !self.plaintext.is_empty() {
            let plaintext = self.plaintext.split();
            self.inner.handle_input(now, &plaintext);
        }
        if peer_closed {
            self.inner.handle_eof(now);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
    }

    fn handle_eof(&mut self, now: Instant) {
        self.inner.handle_eof(now);
    }

    fn poll_transmit(&mut self, out: &mut BytesMut) -> bool {
        let mut wrote = false;
        if let State::Plain { upgrade } = &mut self.state {
            wrote |= self.inner.poll_transmit(out);
            if !self.inner.poll_tls_start() {
                return wrote;
            }
            self.state = match upgrade.take().map(Session::start) {
                Some(Ok(session)) => active(session),
                Some(Err(error)) => {
                    tracing::error!("cannot start TLS: {error}");
                    State::Refused
                }
                None => {
                    tracing::warn!("TLS was asked for on a connection that has none");
                    State::Refused
                }
            };
        }
        let State::Active {
            session,
            broken,
            closing,
            ..
        } = &mut self.state
        else {
            return wrote;
        };
        if *broken {
            self.unsent.clear();
            return wrote | either!(session.as_mut(), pump => pump.poll_transmit(out));
        }
        // A piece of plaintext at a time, until some ciphertext is ready: a large body is
        // never held encrypted whole.
        loop {
            if self.unsent.is_empty() {
                self.unsent = self.inner.poll_send().unwrap_or_default();
            }
            let piece = self.unsent.split_to(self.unsent.len().min(PLAINTEXT_PIECE));
            if !piece.is_empty()
                && let Err(error) = either!(session.as_mut(), pump => pump.send(&piece))
            {
                tracing::debug!("TLS: {error}");
                *broken = true;
                self.failure = Some(error);
                self.unsent.clear();
            } else if self.unsent.is_empty() {
                self.unsent = self.inner.poll_send().unwrap_or_default();
                if self.unsent.is_empty() && self.inner.is_finished() && !*closing {
                    *closing = true;
                    either!(session.as_mut(), pump => pump.close());
                }
            }
            wrote |= either!(session.as_mut(), pump => pump.poll_transmit(out));
            if wrote || self.unsent.is_empty() {
                return wrote;
            }
        }
    }

    /// In the clear, the inner machine's pieces as they are (a shared body without a copy);
    /// under TLS, the ciphertext of what it queued.
    fn poll_send(&mut self) -> Option<Bytes> {
        if let State::Plain { .. } = self.state
            && let Some(bytes) = self.inner.poll_send()
        {
            return Some(bytes);
        }
        let mut out = BytesMut::new();
        self.poll_transmit(&mut out).then(|| out.freeze())
    }

    fn poll_event(&mut self) -> Option<M::Event> {
        self.inner.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }

    fn is_finished(&self) -> bool {
        match &self.state {
            State::Refused | State::Active { broken: true, .. } => true,
            _ => self.inner.is_finished(),
        }
    }
}

impl<M: Peer> Peer for Tls<M> {
    type Message = M::Message;

    fn handle_message(&mut self, now: Instant, message: M::Message) {
        self.inner.handle_message(now, message);
    }
}

#[cfg(test)]
mod tests {
    use pgexporter_core::machine::Outbox;
    use pgexporter_core::plan::ClientTlsFiles;

    use super::*;
    use crate::test_support::{client_pump, server_config};

    /// Answers its first input with a short head and a large shared body, then finishes.
    #[derive(Default)]
    struct Answerer {
        outbox: Outbox<()>,
        answered: bool,
    }

    const BODY: usize = 3 * PLAINTEXT_PIECE + 17;

    impl Machine for Answerer {
        type Event = ();

        fn handle_input(&mut self, _now: Instant, _bytes: &[u8]) {
            self.outbox.bytes().extend_from_slice(b"head");
            self.outbox.push_shared(Bytes::from(vec![7u8; BODY]));
            self.answered = true;
        }

        fn handle_timeout(&mut self, _now: Instant) {}

        fn handle_eof(&mut self, _now: Instant) {}

        fn poll_transmit(&mut self, out: &mut BytesMut) -> bool {
            self.outbox.poll_transmit(out)
        }

        fn poll_send(&mut self) -> Option<Bytes> {
            self.outbox.poll_send()
        }

        fn poll_event(&mut self) -> Option<()> {
            None
        }

        fn poll_timeout(&self) -> Option<Instant> {
            None
        }

        fn is_finished(&self) -> bool {
            self.answered
        }
    }

    #[test]
    fn a_large_body_is_encrypted_a_piece_at_a_time_then_closed() {
        let now = Instant::now();
        let mut server = Tls::server(Answerer::default(), server_config(false)).unwrap();
        let mut client = client_pump(&ClientTlsFiles::default(), "localhost");
        let mut received = BytesMut::new();
        client.send(b"go").unwrap();
        let mut largest = 0;
        for _ in 0..100 {
            let mut to_server = BytesMut::new();
            if client.poll_transmit(&mut to_server) {
                server.handle_input(now, &to_server);
            }
            while let Some(ciphertext) = server.poll_send() {
                largest = largest.max(ciphertext.len());
                client.receive(&ciphertext, &mut received).unwrap();
            }
            if client.peer_closed() {
                break;
            }
        }
        assert!(client.peer_closed(), "close_notify after the body");
        assert_eq!(received.len(), 4 + BODY);
        assert!(received.starts_with(b"head") && received[4..].iter().all(|&b| b == 7));
        assert!(
            largest < PLAINTEXT_PIECE + 4096,
            "at most a piece encrypted at a time: {largest}"
        );
    }
}
