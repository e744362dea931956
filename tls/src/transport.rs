//! The byte stream under a PostgreSQL connection, plain or TLS, without IO.
//!
//! Every runtime moves bytes between a socket and the core with this one type, so TLS is
//! plumbed the same way everywhere: received bytes go through [`Transport::receive`], bytes to
//! send through [`Transport::send`], and [`Transport::poll_transmit`] yields what to write.

use std::ops::DerefMut;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use rustls::pki_types::ServerName;
use rustls::{
    ClientConfig, ClientConnection, ConnectionCommon, ServerConfig, ServerConnection, SideData,
};

use crate::{TlsError, TlsPump};

/// A connection's byte stream, plain or TLS: a PostgreSQL client connection
/// (`Transport<ClientConnection>`, plaintext until [`Transport::start_tls`]) or an accepted HTTPS
/// connection (`Transport<ServerConnection>`, from [`Transport::server`]).
#[derive(Debug)]
pub enum Transport<C = ClientConnection> {
    /// No TLS: bytes pass through.
    Plain {
        /// Bytes waiting to be written.
        outgoing: BytesMut,
    },
    /// TLS through a pump.
    Tls {
        /// The rustls connection.
        pump: Box<TlsPump<C>>,
        /// Whether the handshake had completed at the last look.
        established: bool,
    },
}

impl<C> Default for Transport<C> {
    fn default() -> Self {
        Transport::Plain {
            outgoing: BytesMut::new(),
        }
    }
}

impl Transport<ClientConnection> {
    /// Switches to TLS: the ClientHello is ready in [`Transport::poll_transmit`]. Plaintext
    /// still queued is lost, so call it only when the peer expects a handshake next.
    ///
    /// # Errors
    /// When rustls refuses the configuration or name.
    pub fn start_tls(
        &mut self,
        config: Arc<ClientConfig>,
        server_name: ServerName<'static>,
    ) -> Result<(), TlsError> {
        *self = Transport::Tls {
            pump: Box::new(TlsPump::client(config, server_name)?),
            established: false,
        };
        Ok(())
    }
}

impl Transport<ServerConnection> {
    /// The server side of a TLS connection just accepted; the handshake starts with the client's
    /// first bytes.
    ///
    /// # Errors
    /// When rustls refuses the configuration.
    pub fn server(config: Arc<ServerConfig>) -> Result<Self, TlsError> {
        Ok(Transport::Tls {
            pump: Box::new(TlsPump::new(ServerConnection::new(config)?)),
            established: false,
        })
    }
}

impl<C, S> Transport<C>
where
    C: DerefMut<Target = ConnectionCommon<S>>,
    S: SideData,
{
    /// Takes bytes read from the socket and appends the plaintext they carry to `plaintext`.
    /// Returns `true` when this input completed the TLS handshake.
    ///
    /// # Errors
    /// A TLS failure; the connection is unusable (send what [`Transport::poll_transmit`]
    /// still gives, the alert, then close).
    pub fn receive(&mut self, bytes: &[u8], plaintext: &mut BytesMut) -> Result<bool, TlsError> {
        match self {
            Transport::Plain { .. } => {
                plaintext.put_slice(bytes);
                Ok(false)
            }
            Transport::Tls { pump, established } => {
                pump.receive(bytes, plaintext)?;
                let completed = !*established && !pump.is_handshaking();
                *established |= completed;
                Ok(completed)
            }
        }
    }

    /// Queues plaintext to send.
    ///
    /// # Errors
    /// A TLS failure.
    pub fn send(&mut self, plaintext: &[u8]) -> Result<(), TlsError> {
        match self {
            Transport::Plain { outgoing } => {
                outgoing.put_slice(plaintext);
                Ok(())
            }
            Transport::Tls { pump, .. } => pump.send(plaintext),
        }
    }

    /// Appends the bytes to write to the socket to `out`; `false` when there are none.
    #[must_use]
    pub fn poll_transmit(&mut self, out: &mut BytesMut) -> bool {
        match self {
            Transport::Plain { outgoing } => {
                if outgoing.is_empty() {
                    return false;
                }
                out.put_slice(outgoing);
                outgoing.clear();
                true
            }
            Transport::Tls { pump, .. } => pump.poll_transmit(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_bytes_pass_through() {
        let mut transport: Transport = Transport::default();
        let mut plaintext = BytesMut::new();
        assert!(!transport.receive(b"abc", &mut plaintext).unwrap());
        assert_eq!(&plaintext[..], b"abc");
        let mut out = BytesMut::new();
        assert!(!transport.poll_transmit(&mut out));
        transport.send(b"xy").unwrap();
        transport.send(b"z").unwrap();
        assert!(transport.poll_transmit(&mut out));
        assert_eq!(&out[..], b"xyz");
        assert!(!transport.poll_transmit(&mut out));
    }
}
