//! The moment a connection is accepted, as the core's services need it.

use pgexporter_core::management::SealRandom;
use pgexporter_core::serve::Accepted;

use crate::{clock, random};

/// The clocks and fresh random bytes for a connection accepted now.
pub fn accepted() -> Accepted {
    Accepted {
        now: clock::now(),
        nonce: random::bytes(),
        seal: SealRandom {
            salt: random::bytes(),
            iv: random::bytes(),
        },
        timestamp: clock::local_timestamp(),
    }
}
