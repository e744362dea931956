//! Binding the TCP listeners: `*` is every interface, a name may give several addresses.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, ToSocketAddrs};

use pgexporter_core::plan::{ListenerKind, Listeners};
use socket2::{Domain, Socket, Type};

/// One bound TCP listener and what it serves.
#[derive(Debug)]
pub struct Bound {
    /// What its connections become.
    pub kind: ListenerKind,
    /// The blocking listener; a runtime makes it non-blocking when it needs to.
    pub listener: TcpListener,
}

/// Binds every TCP listener of `listeners`, one per address `host` resolves to, and logs
/// where each serves.
///
/// # Errors
/// When `host` does not resolve or an address cannot be bound; the error names it.
pub fn bind_all(listeners: &Listeners) -> io::Result<Vec<Bound>> {
    let mut bound = Vec::new();
    for &(kind, port) in &listeners.ports {
        let addresses = listen_addresses(&listeners.host, port).map_err(|error| {
            io::Error::new(error.kind(), format!("host '{}': {error}", listeners.host))
        })?;
        for listener in bind_listeners(&addresses, listeners.backlog)? {
            let address = listener.local_addr()?;
            if let Some(line) = listeners.describe(kind, &address) {
                tracing::info!("{line}");
            }
            bound.push(Bound { kind, listener });
        }
    }
    Ok(bound)
}

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
