//! The stored form of a SCRAM-SHA-256 password.

use super::crypto::{hmac, normalize_password, salted_password, sha256};
use super::{MAX_ITERATIONS, MAX_SALT_LEN, ScramError};
use crate::secret::Secret;

/// What a server stores instead of the password: enough to check a client's proof and to
/// prove itself, not enough to log in as the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramVerifier {
    /// The salt, sent to clients in server-first.
    pub salt: Vec<u8>,
    /// The PBKDF2 iteration count, sent to clients in server-first.
    pub iterations: u32,
    /// `H(HMAC(SaltedPassword, "Client Key"))`, 32 bytes.
    pub stored_key: Secret,
    /// `HMAC(SaltedPassword, "Server Key")`, 32 bytes.
    pub server_key: Secret,
}

impl ScramVerifier {
    /// Derives the verifier of `password` (SASLprep-normalised like the client does) with
    /// `salt` and `iterations`. Remote management uses a random 16-byte salt and 4096
    /// iterations.
    ///
    /// Errors (caller misuse): [`ScramError::InvalidIterationCount`] for 0 or more than
    /// [`MAX_ITERATIONS`], [`ScramError::InvalidSalt`] for an empty salt or one longer than
    /// [`MAX_SALT_LEN`].
    pub fn derive(password: &Secret, salt: &[u8], iterations: u32) -> Result<Self, ScramError> {
        if iterations == 0 || iterations > MAX_ITERATIONS {
            return Err(ScramError::InvalidIterationCount(iterations));
        }
        if salt.is_empty() || salt.len() > MAX_SALT_LEN {
            return Err(ScramError::InvalidSalt);
        }
        let salted = salted_password(normalize_password(password).expose(), salt, iterations);
        Ok(ScramVerifier {
            salt: salt.to_vec(),
            iterations,
            stored_key: Secret::new(sha256(&hmac(&salted, b"Client Key")).to_vec()),
            server_key: Secret::new(hmac(&salted, b"Server Key").to_vec()),
        })
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    #[test]
    fn derives_the_rfc_7677_keys() {
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let verifier = ScramVerifier::derive(&Secret::from("pencil"), &salt, 4096).unwrap();
        // Stored and server keys of the RFC 7677 example, as PostgreSQL would store them in
        // `SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=`.
        assert_eq!(
            STANDARD.encode(verifier.stored_key.expose()),
            "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
        );
        assert_eq!(
            STANDARD.encode(verifier.server_key.expose()),
            "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
        );
        assert_eq!(format!("{verifier:?}").matches("<redacted>").count(), 2);
    }

    #[test]
    fn refuses_bad_parameters() {
        let password = Secret::from("pw");
        assert_eq!(
            ScramVerifier::derive(&password, b"salt", 0),
            Err(ScramError::InvalidIterationCount(0))
        );
        assert_eq!(
            ScramVerifier::derive(&password, b"", 4096),
            Err(ScramError::InvalidSalt)
        );
        assert_eq!(
            ScramVerifier::derive(&password, &[0; MAX_SALT_LEN + 1], 4096),
            Err(ScramError::InvalidSalt)
        );
    }
}
