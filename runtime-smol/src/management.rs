//! Management connections: the local Unix socket and the remote TCP port, each carrying one
//! request and its answer through the core's [`Session`].

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use pgexporter_core::management::handshake::AdminVerifiers;
use pgexporter_core::management::{Session, SessionEvent};
use pgexporter_net::control::{Control, log_session_end};
use pgexporter_net::random;
use pgexporter_net::transport::Transport;
use rustls::{ServerConfig, ServerConnection};
use smol::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use smol::net::TcpStream;
use smol::net::unix::UnixStream;

use crate::daemon::{LiveWatch, SmolEffects};
use crate::listeners::write_out;
use crate::{read_until, sleep_until};

/// Size of one socket read.
const READ_SIZE: usize = 8 * 1024;

/// What every management connection shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) control: Rc<RefCell<Control>>,
    pub(crate) effects: SmolEffects,
    pub(crate) live: LiveWatch,
    pub(crate) admins: Arc<AdminVerifiers>,
}

/// Serves one connection on the local socket.
pub(crate) async fn serve_local(stream: UnixStream, shared: Shared) {
    let timeout = shared.live.borrow().plan.management_timeout;
    let session = Session::local(Instant::now(), timeout);
    drive(stream, session, None, &shared).await;
}

/// Serves one connection on the remote management port: handshake, then the request.
pub(crate) async fn serve_remote(stream: TcpStream, shared: Shared) {
    let (timeout, tls) = {
        let live = shared.live.borrow();
        (
            live.plan.management_timeout,
            live.plan.management_tls.clone(),
        )
    };
    let session = Session::remote(
        &shared.admins,
        tls.is_some(),
        Instant::now(),
        timeout,
        random::bytes(),
    );
    drive(stream, session, tls, &shared).await;
}

/// Moves bytes between `stream` and `session` until the session closes.
async fn drive<S>(
    mut stream: S,
    mut session: Session<'_>,
    tls: Option<Arc<ServerConfig>>,
    shared: &Shared,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut transport = Transport::<ServerConnection>::default();
    let mut buffer = vec![0u8; READ_SIZE];
    let mut plaintext = BytesMut::new();
    let mut outgoing = BytesMut::new();
    let mut peer_done = false;
    loop {
        while session.poll_transmit(&mut outgoing) {
            if transport.send(&outgoing).is_err() {
                return;
            }
            outgoing.clear();
        }
        if write_out(&mut stream, &mut transport, &mut outgoing)
            .await
            .is_err()
        {
            return;
        }
        if let Some(event) = session.poll_event() {
            match event {
                SessionEvent::StartTls => {
                    let started = tls.clone().map(Transport::server);
                    match started {
                        Some(Ok(tls_transport)) => transport = tls_transport,
                        Some(Err(error)) => {
                            tracing::error!("cannot start TLS: {error}");
                            return;
                        }
                        None => return,
                    }
                }
                SessionEvent::Authenticated { admin } => {
                    tracing::info!("management: admin '{admin}' logged in");
                }
                SessionEvent::Request => {
                    let mut effects = shared.effects.clone();
                    shared
                        .control
                        .borrow_mut()
                        .answer(&mut session, &mut effects);
                }
                SessionEvent::Close(reason) => {
                    log_session_end(&reason);
                    let _ = stream.close().await;
                    return;
                }
            }
            continue;
        }
        let wake = session.poll_timeout();
        if peer_done && wake.is_none() {
            return;
        }
        let read = if peer_done {
            sleep_until(wake).await;
            None
        } else {
            read_until(&mut stream, &mut buffer, wake).await
        };
        match read {
            Some(Ok(0) | Err(_)) => {
                peer_done = true;
                session.handle_eof(Instant::now());
            }
            Some(Ok(count)) => match transport.receive(&buffer[..count], &mut plaintext) {
                Ok(established) => {
                    if established {
                        session.tls_established(Instant::now());
                    }
                    if !plaintext.is_empty() {
                        session.handle_input(Instant::now(), &plaintext);
                        plaintext.clear();
                    }
                }
                Err(error) => {
                    tracing::debug!("management TLS: {error}");
                    let _ = write_out(&mut stream, &mut transport, &mut outgoing).await;
                    return;
                }
            },
            None => session.handle_timeout(Instant::now()),
        }
    }
}
