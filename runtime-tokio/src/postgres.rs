//! One PostgreSQL connection: a socket, its TLS, and the bytes between it and the collector.

use std::io;

use bytes::{Bytes, BytesMut};
use pgexporter_core::scrape::ConnId;
use pgexporter_net::collect::SocketEvent;
use pgexporter_net::pg::PgTarget;
use pgexporter_net::serve::PgEndpoint;
use pgexporter_net::transport::Transport;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::mpsc;

use crate::collector::Message;

/// Size of one socket read.
const READ_SIZE: usize = 16 * 1024;

/// What the collector asks of a socket.
pub(crate) enum SocketCommand {
    /// Write these (plaintext) bytes.
    Send(Bytes),
    /// Start the TLS handshake.
    StartTls,
    /// Close the socket.
    Close,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

async fn connect(target: &PgTarget) -> io::Result<Box<dyn Stream>> {
    Ok(match target {
        PgTarget::Tcp { host, port } => {
            let stream = TcpStream::connect((host.as_str(), *port)).await?;
            stream.set_nodelay(true)?;
            Box::new(stream)
        }
        PgTarget::Unix { .. } => {
            let path = target
                .socket_path()
                .expect("a Unix target has a socket path");
            Box::new(UnixStream::connect(path).await?)
        }
    })
}

/// Serves connection `conn` to `endpoint` until the collector closes it or the peer does.
pub(crate) async fn run(
    conn: ConnId,
    endpoint: PgEndpoint,
    mut commands: mpsc::UnboundedReceiver<SocketCommand>,
    collector: mpsc::UnboundedSender<Message>,
) {
    let report = |event| {
        let _ = collector.send(Message::Socket { conn, event });
    };
    let stream = tokio::select! {
        stream = connect(&endpoint.target) => stream,
        // Only Close can come before the socket is reported open.
        _ = commands.recv() => return,
    };
    let mut stream = match stream {
        Ok(stream) => stream,
        Err(error) => {
            report(SocketEvent::ConnectFailed(format!(
                "{}: {error}",
                endpoint.target
            )));
            return;
        }
    };
    report(SocketEvent::Connected);
    let mut transport = Transport::default();
    let mut buffer = vec![0u8; READ_SIZE];
    let mut plaintext = BytesMut::new();
    let mut outgoing = BytesMut::new();
    loop {
        tokio::select! {
            read = stream.read(&mut buffer) => {
                let received = match read {
                    Ok(0) | Err(_) => None,
                    Ok(count) => transport.receive(&buffer[..count], &mut plaintext).ok(),
                };
                let Some(handshake_done) = received else {
                    report(SocketEvent::Eof);
                    return;
                };
                if handshake_done {
                    report(SocketEvent::TlsEstablished);
                }
                if !plaintext.is_empty() {
                    report(SocketEvent::Input(plaintext.split().freeze()));
                }
            }
            command = commands.recv() => match command {
                Some(SocketCommand::Send(bytes)) => {
                    if transport.send(&bytes).is_err() {
                        report(SocketEvent::Eof);
                        return;
                    }
                }
                Some(SocketCommand::StartTls) => {
                    let started = transport.start_tls(endpoint.tls.clone(), endpoint.server_name.clone());
                    if started.is_err() {
                        report(SocketEvent::Eof);
                        return;
                    }
                }
                Some(SocketCommand::Close) | None => {
                    flush(&mut stream, &mut transport, &mut outgoing).await.ok();
                    return;
                }
            },
        }
        if flush(&mut stream, &mut transport, &mut outgoing)
            .await
            .is_err()
        {
            report(SocketEvent::Eof);
            return;
        }
    }
}

/// Writes everything the transport has to send.
async fn flush(
    stream: &mut Box<dyn Stream>,
    transport: &mut Transport,
    outgoing: &mut BytesMut,
) -> io::Result<()> {
    while transport.poll_transmit(outgoing) {
        stream.write_all(outgoing).await?;
        outgoing.clear();
    }
    Ok(())
}
