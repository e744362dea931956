//! A child's management connection: the core's [`Session`] over a blocking socket, answered
//! through the child's copy of [`Control`]. What a command changes is carried out by the
//! parent: [`ChildEffects`] sends it over the child's channel.

use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Instant;

use bytes::BytesMut;
use pgexporter_core::management::{Session, SessionEvent};
use pgexporter_net::control::{Effects, LivePlan, log_session_end};
use pgexporter_net::random;
use pgexporter_net::transport::Transport;
use rustls::ServerConnection;

use crate::channel::{Channel, Request};
use crate::child::{ChildContext, ChildStream, wait_readable, write_out};
use crate::shared::SharedState;

/// Size of one socket read.
const READ_SIZE: usize = 8 * 1024;

/// What a management command does, seen from a child: reads come from the shared state,
/// changes go to the parent.
struct ChildEffects<'a> {
    shared: &'static SharedState,
    channel: &'a mut Channel,
    /// A command made a new configuration the running one (the child's [`Control`] holds it).
    applied: bool,
}

impl ChildEffects<'_> {
    fn tell_parent(&mut self, request: &Request) {
        if let Err(error) = self.channel.send_request(request) {
            tracing::error!("cannot pass a management command to the parent: {error}");
        }
    }
}

impl Effects for ChildEffects<'_> {
    fn activity(&self) -> Vec<bool> {
        self.shared.activity()
    }

    fn apply(&mut self, _plan: LivePlan) {
        // The plan cannot cross processes; the configuration it was built from is sent once
        // the command is done.
        self.applied = true;
    }

    fn shutdown(&mut self) {
        self.tell_parent(&Request::Shutdown);
    }

    fn clear_prometheus(&mut self) {
        self.tell_parent(&Request::Clear);
    }
}

/// Serves one connection on the local socket.
pub(crate) fn serve_local(stream: UnixStream, context: &mut ChildContext<'_>) {
    let session = Session::local(Instant::now(), context.plan.management_timeout);
    drive(stream, session, context);
}

/// Serves one connection on the remote management port: handshake, then the request.
pub(crate) fn serve_remote(stream: TcpStream, context: &mut ChildContext<'_>) {
    let session = Session::remote(
        context.admins,
        context.plan.management_tls.is_some(),
        Instant::now(),
        context.plan.management_timeout,
        random::bytes(),
    );
    drive(stream, session, context);
}

/// Answers the session's request and passes a new running configuration to the parent.
fn answer(session: &mut Session<'_>, context: &mut ChildContext<'_>) {
    let mut effects = ChildEffects {
        shared: context.shared,
        channel: &mut context.channel,
        applied: false,
    };
    context.control.answer(session, &mut effects);
    if !effects.applied {
        return;
    }
    match context.control.config().to_ini() {
        Ok(text) => effects.tell_parent(&Request::Apply(text)),
        Err(error) => tracing::error!("cannot pass the new configuration to the parent: {error}"),
    }
}

/// Moves bytes between `stream` and `session` until the session closes.
fn drive(mut stream: impl ChildStream, mut session: Session<'_>, context: &mut ChildContext<'_>) {
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
        if write_out(&mut stream, &mut transport, &mut outgoing).is_err() {
            return;
        }
        if let Some(event) = session.poll_event() {
            match event {
                SessionEvent::StartTls => {
                    let started = context.plan.management_tls.clone().map(Transport::server);
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
                SessionEvent::Request => answer(&mut session, context),
                SessionEvent::Close(reason) => {
                    log_session_end(&reason);
                    let _ = stream.shutdown_write();
                    return;
                }
            }
            continue;
        }
        let wake = session.poll_timeout();
        if peer_done && wake.is_none() {
            return;
        }
        if peer_done {
            // Nothing more to read: only the timer can move the session on.
            if let Some(at) = wake {
                std::thread::sleep(at.saturating_duration_since(Instant::now()));
            }
            session.handle_timeout(Instant::now());
            continue;
        }
        match wait_readable(&stream, wake) {
            Ok(true) => {}
            Ok(false) => {
                session.handle_timeout(Instant::now());
                continue;
            }
            Err(_) => return,
        }
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => {
                peer_done = true;
                session.handle_eof(Instant::now());
            }
            Ok(count) => match transport.receive(&buffer[..count], &mut plaintext) {
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
                    let _ = write_out(&mut stream, &mut transport, &mut outgoing);
                    return;
                }
            },
        }
    }
}
