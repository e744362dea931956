//! The server side of SCRAM-SHA-256, for remote management.

use super::attributes::{
    decode_base64, encode_base64, expect, is_valid_nonce, refuse_mandatory_extension, text,
};
use super::crypto::{KEY_LEN, constant_time_eq, hmac, sha256};
use super::{ScramError, ScramVerifier};

/// The first step of the server: a verifier and the server's part of the nonce.
#[derive(Debug)]
pub struct ScramServer {
    verifier: ScramVerifier,
    server_nonce: String,
}

impl ScramServer {
    /// Prepares to authenticate a client against `verifier`; `server_nonce` is appended to the
    /// client's nonce (printable ASCII without commas, e.g. base64 of 18 random bytes).
    ///
    /// Error: [`ScramError::InvalidNonce`] when `server_nonce` is not valid (caller misuse).
    pub fn new(verifier: ScramVerifier, server_nonce: &str) -> Result<Self, ScramError> {
        if !is_valid_nonce(server_nonce) {
            return Err(ScramError::InvalidNonce);
        }
        Ok(ScramServer {
            verifier,
            server_nonce: server_nonce.to_owned(),
        })
    }

    /// Takes the client-first message and produces the server-first message.
    ///
    /// Errors (the client misbehaved): [`ScramError::ChannelBindingUnsupported`] for a `p=`
    /// GS2 header, [`ScramError::Malformed`] otherwise (including an authorization identity,
    /// which is not supported).
    pub fn handle_client_first(self, client_first: &[u8]) -> Result<ServerFirst, ScramError> {
        let message = text(client_first)?;
        let mut parts = message.splitn(3, ',');
        let gs2_flag = parts.next().unwrap_or("");
        match gs2_flag {
            "n" | "y" => {}
            flag if flag.starts_with("p=") => return Err(ScramError::ChannelBindingUnsupported),
            _ => return Err(ScramError::Malformed("bad GS2 channel binding flag")),
        }
        if parts.next() != Some("") {
            return Err(ScramError::Malformed(
                "authorization identity is not supported",
            ));
        }
        let bare = parts
            .next()
            .ok_or(ScramError::Malformed("client-first lacks the bare message"))?;
        refuse_mandatory_extension(bare)?;
        let mut attributes = bare.split(',');
        expect(&mut attributes, 'n', "client-first lacks the user name")?;
        let client_nonce = expect(&mut attributes, 'r', "client-first lacks the nonce")?;
        if !is_valid_nonce(client_nonce) {
            return Err(ScramError::Malformed("client nonce is not printable"));
        }
        let nonce = format!("{client_nonce}{}", self.server_nonce);
        let message = format!(
            "r={nonce},s={},i={}",
            encode_base64(&self.verifier.salt),
            self.verifier.iterations
        );
        Ok(ServerFirst {
            channel_binding: encode_base64(format!("{gs2_flag},,").as_bytes()),
            client_first_bare: bare.to_owned(),
            nonce,
            message,
            verifier: self.verifier,
        })
    }
}

/// The second step of the server: holds the server-first message.
#[derive(Debug)]
pub struct ServerFirst {
    verifier: ScramVerifier,
    channel_binding: String,
    client_first_bare: String,
    nonce: String,
    message: String,
}

impl ServerFirst {
    /// The server-first message, `r=<nonce>,s=<salt>,i=<iterations>`.
    pub fn message(&self) -> &[u8] {
        self.message.as_bytes()
    }

    /// Takes the client-final message, checks the proof in constant time and returns the
    /// server-final message (`v=<signature>`).
    ///
    /// Errors: [`ScramError::WrongProof`] when the client does not know the password;
    /// [`ScramError::NonceMismatch`] or [`ScramError::Malformed`] when the message is not a
    /// valid continuation of this exchange.
    pub fn handle_client_final(self, client_final: &[u8]) -> Result<Vec<u8>, ScramError> {
        let message = text(client_final)?;
        let (without_proof, proof) = message
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("client-final lacks the proof"))?;
        let mut attributes = without_proof.split(',');
        let channel_binding = expect(&mut attributes, 'c', "client-final lacks channel binding")?;
        if channel_binding != self.channel_binding {
            return Err(ScramError::Malformed(
                "channel binding does not match the GS2 header",
            ));
        }
        let nonce = expect(&mut attributes, 'r', "client-final lacks the nonce")?;
        if nonce != self.nonce {
            return Err(ScramError::NonceMismatch);
        }
        let proof = decode_base64(proof, "proof is not base64")?;
        let proof: [u8; KEY_LEN] = proof
            .try_into()
            .map_err(|_| ScramError::Malformed("proof has the wrong length"))?;

        let auth_message = format!(
            "{},{},{without_proof}",
            self.client_first_bare, self.message
        );
        let client_signature = hmac(self.verifier.stored_key.expose(), auth_message.as_bytes());
        let client_key: [u8; KEY_LEN] = std::array::from_fn(|i| proof[i] ^ client_signature[i]);
        if !constant_time_eq(&sha256(&client_key), self.verifier.stored_key.expose()) {
            return Err(ScramError::WrongProof);
        }
        let server_signature = hmac(self.verifier.server_key.expose(), auth_message.as_bytes());
        Ok(format!("v={}", encode_base64(&server_signature)).into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scram::ClientFirst;
    use crate::secret::Secret;

    const SALT: &[u8] = b"0123456789abcdef";

    fn server(password: &str) -> ScramServer {
        let verifier = ScramVerifier::derive(&Secret::from(password), SALT, 4096).unwrap();
        ScramServer::new(verifier, "serverpart").unwrap()
    }

    /// Runs a whole exchange; returns the server's verdict and, on success, the client's.
    fn exchange(client_password: &str, server_password: &str) -> Result<(), ScramError> {
        let client = ClientFirst::new("", &Secret::from(client_password), "clientpart")?;
        let server = server(server_password).handle_client_first(client.message())?;
        let client = client.handle_server_first(server.message())?;
        let server_final = server.handle_client_final(client.message())?;
        client.verify_server_final(&server_final)
    }

    #[test]
    fn client_and_server_agree_on_the_right_password() {
        assert_eq!(exchange("correct horse", "correct horse"), Ok(()));
    }

    #[test]
    fn wrong_password_is_a_wrong_proof() {
        assert_eq!(exchange("wrong", "right"), Err(ScramError::WrongProof));
    }

    #[test]
    fn rfc_7677_client_final_is_accepted() {
        use base64::Engine;
        let salt = base64::engine::general_purpose::STANDARD
            .decode("W22ZaJ0SNY7soEsUEjb6gQ==")
            .unwrap();
        let verifier = ScramVerifier::derive(&Secret::from("pencil"), &salt, 4096).unwrap();
        let server = ScramServer::new(verifier, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0").unwrap();
        let first = server
            .handle_client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
            .unwrap();
        assert_eq!(
            first.message(),
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let server_final = first
            .handle_client_final(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                  p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            )
            .unwrap();
        assert_eq!(
            server_final,
            b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    #[test]
    fn malformed_client_first_messages() {
        let cases: [(&[u8], ScramError); 9] = [
            (
                b"p=tls-server-end-point,,n=,r=abc",
                ScramError::ChannelBindingUnsupported,
            ),
            (
                b"x,,n=,r=abc",
                ScramError::Malformed("bad GS2 channel binding flag"),
            ),
            (
                b"n,a=admin,n=,r=abc",
                ScramError::Malformed("authorization identity is not supported"),
            ),
            (
                b"n,",
                ScramError::Malformed("client-first lacks the bare message"),
            ),
            (
                b"n,,m=ext,n=,r=abc",
                ScramError::Malformed("unsupported mandatory extension"),
            ),
            (
                b"n,,r=abc",
                ScramError::Malformed("client-first lacks the user name"),
            ),
            (
                b"n,,n=",
                ScramError::Malformed("client-first lacks the nonce"),
            ),
            (
                b"n,,n=,r=a b",
                ScramError::Malformed("client nonce is not printable"),
            ),
            (b"\xff", ScramError::Malformed("not UTF-8")),
        ];
        for (message, expected) in cases {
            assert_eq!(
                server("pw").handle_client_first(message).err(),
                Some(expected),
                "{message:?}"
            );
        }
        assert!(server("pw").handle_client_first(b"y,,n=,r=abc").is_ok());
    }

    #[test]
    fn malformed_client_final_messages() {
        let proof = "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        let cases: [(String, ScramError); 6] = [
            (
                "c=biws,r=abcserverpart".into(),
                ScramError::Malformed("client-final lacks the proof"),
            ),
            (
                format!("r=abcserverpart,{proof}"),
                ScramError::Malformed("client-final lacks channel binding"),
            ),
            (
                format!("c=eSws,r=abcserverpart,{proof}"),
                ScramError::Malformed("channel binding does not match the GS2 header"),
            ),
            (format!("c=biws,r=abc,{proof}"), ScramError::NonceMismatch),
            (
                "c=biws,r=abcserverpart,p=***".into(),
                ScramError::Malformed("proof is not base64"),
            ),
            (
                "c=biws,r=abcserverpart,p=QUJD".into(),
                ScramError::Malformed("proof has the wrong length"),
            ),
        ];
        for (message, expected) in cases {
            let first = server("pw").handle_client_first(b"n,,n=,r=abc").unwrap();
            assert_eq!(
                first.handle_client_final(message.as_bytes()).err(),
                Some(expected),
                "{message}"
            );
        }
        let first = server("pw").handle_client_first(b"n,,n=,r=abc").unwrap();
        assert_eq!(
            first.handle_client_final(format!("c=biws,r=abcserverpart,{proof}").as_bytes()),
            Err(ScramError::WrongProof)
        );
    }

    #[test]
    fn invalid_server_nonce_is_a_caller_error() {
        let verifier = ScramVerifier::derive(&Secret::from("pw"), SALT, 1).unwrap();
        assert_eq!(
            ScramServer::new(verifier, "").err(),
            Some(ScramError::InvalidNonce)
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_client_messages_never_panic(
            first in proptest::collection::vec(proptest::num::u8::ANY, 0..80),
            last in proptest::collection::vec(proptest::num::u8::ANY, 0..120),
        ) {
            let verifier = ScramVerifier::derive(&Secret::from("pw"), SALT, 1).unwrap();
            let new_server = || ScramServer::new(verifier.clone(), "serverpart").unwrap();
            let _ = new_server().handle_client_first(&first);
            let server = new_server().handle_client_first(b"n,,n=,r=abc").unwrap();
            let mut client_final = b"c=biws,r=abcserverpart,".to_vec();
            client_final.extend_from_slice(&last);
            proptest::prop_assert!(server.handle_client_final(&client_final).is_err());
        }
    }
}
