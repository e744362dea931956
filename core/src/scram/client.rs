//! The client side of SCRAM-SHA-256.

use super::attributes::{
    decode_base64, encode_base64, escape_username, expect, is_valid_nonce,
    refuse_mandatory_extension, text,
};
use super::crypto::{
    KEY_LEN, constant_time_eq, hmac, normalize_password, salted_password, sha256, xor,
};
use super::{MAX_ITERATIONS, MAX_SALT_LEN, ScramError};
use crate::secret::Secret;

/// GS2 header of a client without channel binding support.
const GS2_HEADER: &str = "n,,";
/// `c=` value of the client-final message: base64 of [`GS2_HEADER`].
const CHANNEL_BINDING: &str = "biws";

/// The first step of the client: holds the client-first message.
#[derive(Debug)]
pub struct ClientFirst {
    password: Secret,
    client_nonce: String,
    message: String,
}

impl ClientFirst {
    /// Starts an exchange for `username` (PostgreSQL ignores it and libpq sends it empty) with
    /// `password` and `client_nonce` (printable ASCII without commas; PostgreSQL clients use
    /// 18 random bytes in base64).
    ///
    /// The password is SASLprep-normalised, or used raw when SASLprep refuses it.
    /// Error: [`ScramError::InvalidNonce`] when the nonce is not valid.
    pub fn new(username: &str, password: &Secret, client_nonce: &str) -> Result<Self, ScramError> {
        if !is_valid_nonce(client_nonce) {
            return Err(ScramError::InvalidNonce);
        }
        let message = format!(
            "{GS2_HEADER}n={},r={client_nonce}",
            escape_username(username)
        );
        Ok(ClientFirst {
            password: normalize_password(password),
            client_nonce: client_nonce.to_owned(),
            message,
        })
    }

    /// The client-first message, e.g. `n,,n=,r=<nonce>`.
    pub fn message(&self) -> &[u8] {
        self.message.as_bytes()
    }

    /// Takes the server-first message and computes the client-final message with its proof.
    ///
    /// Errors (all mean the server misbehaved): [`ScramError::Malformed`],
    /// [`ScramError::NonceMismatch`] when the nonce does not extend ours,
    /// [`ScramError::InvalidIterationCount`].
    pub fn handle_server_first(self, server_first: &[u8]) -> Result<ClientFinal, ScramError> {
        let server_first_text = text(server_first)?;
        refuse_mandatory_extension(server_first_text)?;
        let mut parts = server_first_text.split(',');
        let nonce = expect(&mut parts, 'r', "server-first lacks the nonce")?;
        if !is_valid_nonce(nonce) {
            return Err(ScramError::Malformed("server nonce is not printable"));
        }
        if nonce.len() <= self.client_nonce.len() || !nonce.starts_with(&self.client_nonce) {
            return Err(ScramError::NonceMismatch);
        }
        let salt = decode_base64(
            expect(&mut parts, 's', "server-first lacks the salt")?,
            "salt is not base64",
        )?;
        if salt.is_empty() || salt.len() > MAX_SALT_LEN {
            return Err(ScramError::Malformed("salt length out of range"));
        }
        let iterations = parse_iterations(expect(
            &mut parts,
            'i',
            "server-first lacks the iteration count",
        )?)?;

        let salted = salted_password(self.password.expose(), &salt, iterations);
        let client_key = hmac(&salted, b"Client Key");
        let server_key = hmac(&salted, b"Server Key");
        let stored_key = sha256(&client_key);
        let without_proof = format!("c={CHANNEL_BINDING},r={nonce}");
        let client_first_bare = &self.message[GS2_HEADER.len()..];
        let auth_message = format!("{client_first_bare},{server_first_text},{without_proof}");
        let client_signature = hmac(&stored_key, auth_message.as_bytes());
        let proof = xor(&client_key, &client_signature);
        let server_signature = hmac(&server_key, auth_message.as_bytes());
        let message = format!("{without_proof},p={}", encode_base64(&proof));
        Ok(ClientFinal {
            message: Secret::new(message.into_bytes()),
            server_signature: Secret::new(server_signature.to_vec()),
        })
    }
}

/// Parses `i=` of server-first, bounded by [`MAX_ITERATIONS`].
fn parse_iterations(text: &str) -> Result<u32, ScramError> {
    let iterations: u32 = text
        .parse()
        .map_err(|_| ScramError::Malformed("iteration count is not a number"))?;
    if iterations == 0 || iterations > MAX_ITERATIONS {
        return Err(ScramError::InvalidIterationCount(iterations));
    }
    Ok(iterations)
}

/// The second step of the client: holds the client-final message and the server signature it
/// expects.
#[derive(Debug)]
pub struct ClientFinal {
    message: Secret,
    server_signature: Secret,
}

impl ClientFinal {
    /// The client-final message, `c=biws,r=<nonce>,p=<proof>`.
    ///
    /// It carries the proof, which is as good as the password for this one exchange: send it,
    /// never log it.
    pub fn message(&self) -> &[u8] {
        self.message.expose()
    }

    /// Checks the server-final message: `Ok` when the server proved it knows the password.
    ///
    /// Errors: [`ScramError::ServerRejected`] for `e=...`, [`ScramError::WrongServerSignature`],
    /// [`ScramError::Malformed`].
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), ScramError> {
        let first = text(server_final)?.split(',').next().unwrap_or("");
        if let Some(error) = first.strip_prefix("e=") {
            return Err(ScramError::ServerRejected(error.to_owned()));
        }
        let verifier = first
            .strip_prefix("v=")
            .ok_or(ScramError::Malformed("server-final lacks the verifier"))?;
        let signature = decode_base64(verifier, "server signature is not base64")?;
        if signature.len() != KEY_LEN {
            return Err(ScramError::Malformed(
                "server signature has the wrong length",
            ));
        }
        if constant_time_eq(&signature, self.server_signature.expose()) {
            Ok(())
        } else {
            Err(ScramError::WrongServerSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

    fn rfc_client() -> ClientFirst {
        ClientFirst::new("user", &Secret::from("pencil"), NONCE).unwrap()
    }

    #[test]
    fn rfc_7677_vector() {
        let first = rfc_client();
        assert_eq!(first.message(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let last = first.handle_server_first(SERVER_FIRST.as_bytes()).unwrap();
        assert_eq!(
            std::str::from_utf8(last.message()).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        last.verify_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        assert_eq!(
            last.verify_server_final(b"v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            Err(ScramError::WrongServerSignature)
        );
    }

    #[test]
    fn empty_user_name_as_libpq_sends_it() {
        let first = ClientFirst::new("", &Secret::from("pw"), "abc").unwrap();
        assert_eq!(first.message(), b"n,,n=,r=abc");
    }

    #[test]
    fn invalid_client_nonce_is_a_caller_error() {
        assert_eq!(
            ClientFirst::new("", &Secret::from("pw"), "a,b").err(),
            Some(ScramError::InvalidNonce)
        );
    }

    #[test]
    fn malformed_server_first_messages() {
        let cases: [(&[u8], ScramError); 12] = [
            (b"", ScramError::Malformed("server-first lacks the nonce")),
            (b"\xff", ScramError::Malformed("not UTF-8")),
            (
                b"m=ext,r=rOprNGfwEbeRWgbNEkqOx,s=QUJD,i=1",
                ScramError::Malformed("unsupported mandatory extension"),
            ),
            (b"r=other,s=QUJD,i=1", ScramError::NonceMismatch),
            (
                b"r=rOprNGfwEbeRWgbNEkqO,s=QUJD,i=1",
                ScramError::NonceMismatch,
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqO x,s=QUJD,i=1",
                ScramError::Malformed("server nonce is not printable"),
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqOx,i=1",
                ScramError::Malformed("server-first lacks the salt"),
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqOx,s=!!,i=1",
                ScramError::Malformed("salt is not base64"),
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqOx,s=,i=1",
                ScramError::Malformed("salt length out of range"),
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqOx,s=QUJD",
                ScramError::Malformed("server-first lacks the iteration count"),
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqOx,s=QUJD,i=0",
                ScramError::InvalidIterationCount(0),
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqOx,s=QUJD,i=4294967295",
                ScramError::InvalidIterationCount(u32::MAX),
            ),
        ];
        for (message, expected) in cases {
            assert_eq!(
                rfc_client().handle_server_first(message).err(),
                Some(expected),
                "{message:?}"
            );
        }
        assert_eq!(
            rfc_client()
                .handle_server_first(b"r=rOprNGfwEbeRWgbNEkqOx,s=QUJD,i=-1")
                .err(),
            Some(ScramError::Malformed("iteration count is not a number"))
        );
    }

    #[test]
    fn malformed_server_final_messages() {
        let last = rfc_client()
            .handle_server_first(SERVER_FIRST.as_bytes())
            .unwrap();
        assert_eq!(
            last.verify_server_final(b"e=invalid-proof"),
            Err(ScramError::ServerRejected("invalid-proof".into()))
        );
        assert_eq!(
            last.verify_server_final(b"x=1"),
            Err(ScramError::Malformed("server-final lacks the verifier"))
        );
        assert_eq!(
            last.verify_server_final(b"v=***"),
            Err(ScramError::Malformed("server signature is not base64"))
        );
        assert_eq!(
            last.verify_server_final(b"v=QUJD"),
            Err(ScramError::Malformed(
                "server signature has the wrong length"
            ))
        );
        assert_eq!(
            last.verify_server_final(b""),
            Err(ScramError::Malformed("server-final lacks the verifier"))
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_server_messages_never_panic(
            first in proptest::collection::vec(proptest::num::u8::ANY, 0..120),
            last in proptest::collection::vec(proptest::num::u8::ANY, 0..60),
        ) {
            let mut server_first = b"r=rOprNGfwEbeRWgbNEkqO".to_vec();
            server_first.extend_from_slice(&first);
            let _ = rfc_client().handle_server_first(&first);
            if let Ok(client) = rfc_client().handle_server_first(&server_first) {
                proptest::prop_assert!(client.verify_server_final(&last).is_err());
            }
        }
    }
}
