//! The source of a client connection, as the daemon's per-client bounds count it.

use core::net::IpAddr;

/// Where a connection comes from: an IPv4 address, or an IPv6 `/64` prefix (one host easily
/// holds a whole prefix). An IPv4 address mapped into IPv6 is its IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// An IPv4 address.
    V4(u32),
    /// The first 64 bits of an IPv6 address.
    V6(u64),
}

impl Source {
    /// The source a client connecting from `address` counts as.
    pub fn of(address: IpAddr) -> Source {
        match address.to_canonical() {
            IpAddr::V4(v4) => Source::V4(u32::from(v4)),
            IpAddr::V6(v6) => Source::V6((u128::from(v6) >> 64) as u64),
        }
    }
}
