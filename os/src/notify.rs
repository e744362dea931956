//! Service manager notifications (`sd_notify`): READY, RELOADING and STOPPING datagrams to the
//! socket named by `NOTIFY_SOCKET`, when it is set.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

use nix::time::{ClockId, clock_gettime};
use pgexporter_core::daemon::Notice;

/// The environment variable a service manager sets to the socket it listens on.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";

/// Tells the service manager about `notice`, when `NOTIFY_SOCKET` is set.
pub fn send(notice: Notice) {
    match notice {
        Notice::Ready => ready(),
        Notice::Reloading => reloading(),
        Notice::Stopping => stopping(),
    }
}

/// The daemon is serving.
fn ready() {
    send_state("READY=1\nSTATUS=serving");
}

/// The daemon is reloading its configuration; [`ready`] follows when it is done.
fn reloading() {
    // systemd matches the reload by the monotonic clock's reading.
    match clock_gettime(ClockId::CLOCK_MONOTONIC) {
        Ok(now) => {
            let micros = now.tv_sec() * 1_000_000 + now.tv_nsec() / 1_000;
            send_state(&format!("RELOADING=1\nMONOTONIC_USEC={micros}"));
        }
        Err(_) => send_state("RELOADING=1"),
    }
}

/// The daemon is stopping.
fn stopping() {
    send_state("STOPPING=1");
}

/// Sends `state` when `NOTIFY_SOCKET` is set; a failure is logged, never fatal.
fn send_state(state: &str) {
    let Some(socket) = std::env::var_os(NOTIFY_SOCKET_ENV) else {
        return;
    };
    let Some(socket) = socket.to_str() else {
        tracing::warn!("{NOTIFY_SOCKET_ENV} is not valid UTF-8");
        return;
    };
    if let Err(error) = send_to(socket, state) {
        tracing::warn!("cannot notify the service manager at {socket}: {error}");
    }
}

/// Sends one datagram to `socket`: a path, or an abstract name when it starts with `@`.
fn send_to(socket: &str, state: &str) -> io::Result<()> {
    let address = match socket.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(socket)?,
    };
    UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &address)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_reach_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("pgexporter-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let receiver = UnixDatagram::bind(&path).unwrap();
        send_to(path.to_str().unwrap(), "READY=1").unwrap();
        let mut buffer = [0u8; 64];
        let count = receiver.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..count], b"READY=1");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn datagrams_reach_an_abstract_socket() {
        let name = format!("pgexporter-notify-test-{}", std::process::id());
        let address = SocketAddr::from_abstract_name(&name).unwrap();
        let receiver = UnixDatagram::bind_addr(&address).unwrap();
        send_to(&format!("@{name}"), "STOPPING=1").unwrap();
        let mut buffer = [0u8; 64];
        let count = receiver.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..count], b"STOPPING=1");
    }
}
