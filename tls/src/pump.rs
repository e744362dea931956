//! [`TlsPump`]: ciphertext in, plaintext out, plaintext in, ciphertext out, no IO.

use std::io::{Read, Write};
use std::ops::DerefMut;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ConnectionCommon, SideData};

/// Why the pump refused bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The peer broke the TLS protocol or failed verification (for example a certificate that
    /// does not chain to the CA). rustls has queued an alert: drain
    /// [`TlsPump::poll_transmit`] once more and send it before closing.
    #[error("TLS: {0}")]
    Protocol(#[from] rustls::Error),
    /// rustls refused buffered data; a bug in the caller's use of the pump rather than the peer.
    #[error("TLS buffer: {0}")]
    Buffer(#[source] std::io::Error),
}

/// A rustls connection (client or server) with the IO taken out.
///
/// Drive it like the core's state machines: after [`TlsPump::receive`] or [`TlsPump::send`],
/// drain [`TlsPump::poll_transmit`] and write what it gives to the transport. The plaintext that
/// [`TlsPump::send`] accepts is buffered without limit until the handshake ends and the caller
/// drains it, so the caller bounds it (a PostgreSQL client writes only what it has queued).
#[derive(Debug)]
pub struct TlsPump<C> {
    connection: C,
    peer_closed: bool,
}

impl TlsPump<ClientConnection> {
    /// Starts a client handshake with `server_name` (the name or IP address the certificate is
    /// checked against, when the configuration checks names; see [`crate::tls::client_config`]).
    /// The ClientHello is ready in [`TlsPump::poll_transmit`].
    pub fn client(
        config: Arc<ClientConfig>,
        server_name: ServerName<'static>,
    ) -> Result<Self, TlsError> {
        Ok(TlsPump::new(ClientConnection::new(config, server_name)?))
    }
}

impl<C, S> TlsPump<C>
where
    C: DerefMut<Target = ConnectionCommon<S>>,
    S: SideData,
{
    /// Wraps a fresh rustls connection, lifting its plaintext buffer limit (see the type docs).
    pub fn new(mut connection: C) -> Self {
        connection.set_buffer_limit(None);
        TlsPump {
            connection,
            peer_closed: false,
        }
    }

    /// Feeds `ciphertext` received from the transport (any split is fine) and appends the
    /// plaintext it carried to `plaintext`. An error means the connection is unusable. Bytes
    /// after the peer's close_notify are ignored.
    pub fn receive(&mut self, ciphertext: &[u8], plaintext: &mut BytesMut) -> Result<(), TlsError> {
        let mut rest = ciphertext;
        while !rest.is_empty() {
            // rustls takes nothing more once the peer sent close_notify: the rest is dropped.
            if self
                .connection
                .read_tls(&mut rest)
                .map_err(TlsError::Buffer)?
                == 0
            {
                break;
            }
            let state = self.connection.process_new_packets()?;
            let available = state.plaintext_bytes_to_read();
            if available > 0 {
                let mut decrypted = self.connection.reader().take(available as u64);
                std::io::copy(&mut decrypted, &mut plaintext.writer()).map_err(TlsError::Buffer)?;
            }
            if state.peer_has_closed() {
                self.peer_closed = true;
            }
        }
        Ok(())
    }

    /// Queues `plaintext` for the peer; it is encrypted once the handshake allows and then
    /// available from [`TlsPump::poll_transmit`].
    pub fn send(&mut self, plaintext: &[u8]) -> Result<(), TlsError> {
        self.connection
            .writer()
            .write_all(plaintext)
            .map_err(TlsError::Buffer)
    }

    /// Appends the ciphertext waiting to be sent (handshake, data, alerts) to `out`; false when
    /// there is none.
    #[must_use]
    pub fn poll_transmit(&mut self, out: &mut BytesMut) -> bool {
        let mut wrote = false;
        while self.connection.wants_write() {
            match self.connection.write_tls(&mut out.writer()) {
                Ok(0) | Err(_) => break,
                Ok(_) => wrote = true,
            }
        }
        wrote
    }

    /// True until the handshake has completed.
    pub fn is_handshaking(&self) -> bool {
        self.connection.is_handshaking()
    }

    /// True once the peer has sent close_notify: no more plaintext will come.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Queues close_notify; drain [`TlsPump::poll_transmit`] afterwards.
    pub fn close(&mut self) {
        self.connection.send_close_notify();
    }

    /// The rustls connection, for inspection (protocol version, peer certificates).
    pub fn connection(&self) -> &C {
        &self.connection
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{HandshakeFailure, client_pump, server_pump, shuttle};
    use pgexporter_core::plan::ClientTlsFiles;

    fn exchange(chunk: usize) {
        let mut client = client_pump(&ClientTlsFiles::default(), "localhost");
        let mut server = server_pump(false);
        let (mut at_client, mut at_server) = (BytesMut::new(), BytesMut::new());
        client
            .send(b"startup before the handshake ends")
            .expect("queue plaintext");
        assert!(client.is_handshaking());
        shuttle(
            &mut client,
            &mut server,
            chunk,
            &mut at_client,
            &mut at_server,
        )
        .expect("handshake");
        assert!(!client.is_handshaking());
        assert!(!server.is_handshaking());
        assert_eq!(&at_server[..], b"startup before the handshake ends");

        let big = vec![7u8; 100_000];
        server.send(&big).expect("queue plaintext");
        shuttle(
            &mut client,
            &mut server,
            chunk,
            &mut at_client,
            &mut at_server,
        )
        .expect("data");
        assert_eq!(at_client.len(), big.len());
        assert!(at_client.iter().all(|&b| b == 7));
        assert!(!client.peer_closed());

        server.close();
        shuttle(
            &mut client,
            &mut server,
            chunk,
            &mut at_client,
            &mut at_server,
        )
        .expect("close");
        assert!(client.peer_closed());
        let before = at_client.len();
        client
            .receive(b"after close_notify", &mut at_client)
            .expect("ignored");
        assert_eq!(at_client.len(), before);
    }

    #[test]
    fn handshake_data_and_close_notify_in_whole_records() {
        exchange(usize::MAX);
    }

    #[test]
    fn handshake_and_data_arriving_one_byte_at_a_time() {
        exchange(1);
    }

    #[test]
    fn odd_split_sizes() {
        exchange(13);
    }

    #[test]
    fn garbage_from_the_peer_is_a_protocol_error_with_an_alert_to_send() {
        let mut client = client_pump(&ClientTlsFiles::default(), "localhost");
        let mut hello = BytesMut::new();
        assert!(client.poll_transmit(&mut hello));
        let error = client
            .receive(b"HTTP/1.1 400 Bad Request\r\n\r\n", &mut BytesMut::new())
            .expect_err("not TLS");
        assert!(matches!(error, TlsError::Protocol(_)), "{error:?}");
        let mut alert = BytesMut::new();
        assert!(client.poll_transmit(&mut alert));
    }

    #[test]
    fn nothing_to_transmit_once_drained() {
        let mut client = client_pump(&ClientTlsFiles::default(), "localhost");
        let mut out = BytesMut::new();
        assert!(client.poll_transmit(&mut out));
        assert!(!out.is_empty());
        assert!(!client.poll_transmit(&mut out));
    }

    #[test]
    fn server_refuses_a_client_without_a_certificate_when_it_requires_one() {
        let mut client = client_pump(&ClientTlsFiles::default(), "localhost");
        let mut server = server_pump(true);
        let (mut at_client, mut at_server) = (BytesMut::new(), BytesMut::new());
        let outcome = shuttle(
            &mut client,
            &mut server,
            usize::MAX,
            &mut at_client,
            &mut at_server,
        );
        assert!(
            matches!(
                outcome,
                Err(HandshakeFailure::Server(TlsError::Protocol(_)))
            ),
            "{outcome:?}"
        );
    }
}
