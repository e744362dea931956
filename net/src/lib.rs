//! Blocking network plumbing and the TLS pump shared by every runtime and binary.

pub mod tls;
