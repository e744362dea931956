//! What the operating system gives the runtimes and binaries, kept out of the core: listening
//! sockets and the management socket file, service-manager notifications, the clock, random
//! bytes and the open files limit.
//!
//! - [`activation`]: sockets passed by a service manager (`LISTEN_FDS`).
//! - [`listen`]: binding the TCP listeners of a plan.
//! - [`unix_socket`]: the management socket file.
//! - [`notify`]: service manager notifications.
//! - [`clock`]: the monotonic and the local clock.
//! - [`random`]: random bytes; [`accept`]: what the core needs of an accepted connection.
//! - [`limits`]: the limit on open files, raised at start.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod accept;
pub mod activation;
pub mod clock;
pub mod limits;
pub mod listen;
pub mod notify;
pub mod random;
pub mod unix_socket;
