//! What a runtime needs to serve: the plan the daemon builds from its configuration, and the
//! small pieces of plumbing every runtime shares.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use std::path::PathBuf;

use pgexporter_core::management::handshake::AdminVerifiers;
use pgexporter_core::scrape::LogCounters;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};
use socket2::{Domain, Socket, Type};

use crate::control::{Control, LivePlan};
use crate::pg::PgTarget;

/// Where one PostgreSQL server is and how to start TLS with it.
#[derive(Debug, Clone)]
pub struct PgEndpoint {
    /// TCP host and port, or Unix socket directory and port.
    pub target: PgTarget,
    /// The client TLS configuration (its CA and client certificate), used when the server
    /// accepts TLS.
    pub tls: Arc<ClientConfig>,
    /// The name given to the TLS handshake.
    pub server_name: ServerName<'static>,
}

/// Reports the log lines written so far, for the `pgexporter_logging_*` families.
pub type LogSource = Arc<dyn Fn() -> LogCounters + Send + Sync>;

/// Everything a runtime needs to serve, built once by the daemon.
pub struct ServePlan {
    /// Addresses of the Prometheus HTTP listener.
    pub metrics_listeners: Vec<SocketAddr>,
    /// HTTPS on the metrics listener (`metrics_cert_file`, `metrics_key_file`, mutual TLS with
    /// `metrics_ca_file`); `None` serves plain HTTP.
    pub metrics_tls: Option<Arc<ServerConfig>>,
    /// The management socket, `<unix_socket_dir>/.s.pgexporter`.
    pub unix_socket: PathBuf,
    /// Addresses of the remote management listener; empty when `management` is off.
    pub management_listeners: Vec<SocketAddr>,
    /// The admins' SCRAM verifiers, derived once from the admins file.
    pub admins: Arc<AdminVerifiers>,
    /// What a reload may change.
    pub live: LivePlan,
    /// The running configuration and the means to change it.
    pub control: Control,
    /// How long a shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
    /// Listen backlog (`backlog`).
    pub backlog: u32,
    /// The log line counters.
    pub logs: LogSource,
}

/// The name of the management socket in `unix_socket_dir`.
pub const MANAGEMENT_SOCKET: &str = ".s.pgexporter";

/// The socket addresses for `host` and `port`: `*` is every interface (the IPv6 wildcard,
/// which on Linux also accepts IPv4; see [`bind_candidates`]), anything else is resolved (a
/// name may give several addresses).
///
/// # Errors
/// When the name does not resolve.
pub fn listen_addresses(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if host == "*" {
        return Ok(vec![SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))]);
    }
    let mut addresses: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    addresses.dedup();
    Ok(addresses)
}

/// The addresses to try, in order, to listen on `address`: the IPv6 wildcard falls back to the
/// IPv4 one on hosts without IPv6.
pub fn bind_candidates(address: SocketAddr) -> Vec<SocketAddr> {
    if address.ip() == Ipv6Addr::UNSPECIFIED {
        vec![
            address,
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, address.port())),
        ]
    } else {
        vec![address]
    }
}

/// Binds a listening socket (`SO_REUSEADDR`, `backlog` pending connections) for every address,
/// in order, trying each address's [`bind_candidates`]. The listeners are blocking; a runtime
/// makes them non-blocking when it needs to.
///
/// # Errors
/// When an address cannot be bound; the error names it.
pub fn bind_listeners(addresses: &[SocketAddr], backlog: u32) -> io::Result<Vec<TcpListener>> {
    addresses
        .iter()
        .map(|address| {
            let mut last_error = None;
            for candidate in bind_candidates(*address) {
                match listen(candidate, backlog) {
                    Ok(listener) => return Ok(listener),
                    Err(error) => last_error = Some(error),
                }
            }
            let error = last_error.unwrap_or_else(|| io::ErrorKind::AddrNotAvailable.into());
            Err(io::Error::new(error.kind(), format!("{address}: {error}")))
        })
        .collect()
}

fn listen(address: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_means_every_interface() {
        let addresses = listen_addresses("*", 9187).unwrap();
        assert_eq!(addresses, vec!["[::]:9187".parse().unwrap()]);
        assert_eq!(
            bind_candidates(addresses[0]),
            vec![
                "[::]:9187".parse().unwrap(),
                "0.0.0.0:9187".parse().unwrap()
            ]
        );
        let loopback = "127.0.0.1:1".parse().unwrap();
        assert_eq!(bind_candidates(loopback), vec![loopback]);
    }

    #[test]
    fn names_and_addresses_resolve() {
        assert_eq!(
            listen_addresses("127.0.0.1", 1).unwrap(),
            vec!["127.0.0.1:1".parse::<SocketAddr>().unwrap()]
        );
        assert!(!listen_addresses("localhost", 1).unwrap().is_empty());
    }

    #[test]
    fn listeners_accept_and_name_the_address_they_cannot_bind() {
        let any_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let listeners = bind_listeners(&[any_port, any_port], 16).unwrap();
        assert_eq!(listeners.len(), 2);
        let address = listeners[0].local_addr().unwrap();
        let _client = std::net::TcpStream::connect(address).unwrap();
        let (accepted, _) = listeners[0].accept().unwrap();
        assert_eq!(accepted.local_addr().unwrap(), address);

        let error = bind_listeners(&[address], 16).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
        assert!(
            error.to_string().starts_with(&address.to_string()),
            "{error}"
        );
    }
}
