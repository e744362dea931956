//! The moment a connection is accepted, as the core's services need it.

use std::net::IpAddr;

use pgexporter_core::management::SealRandom;
use pgexporter_core::serve::{Accepted, ServedBy};

use crate::{clock, random};

/// The clocks and fresh random bytes for a connection from `peer` (`None` on the management
/// socket) accepted now, served as `served_by` says.
pub fn accepted(served_by: ServedBy, peer: Option<IpAddr>) -> Accepted {
    Accepted {
        now: clock::now(),
        served_by,
        peer,
        nonce: random::bytes(),
        seal: SealRandom {
            salt: random::bytes(),
            iv: random::bytes(),
        },
        timestamp: clock::local_timestamp(),
    }
}
