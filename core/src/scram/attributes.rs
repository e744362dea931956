//! The `name=value,name=value` syntax of SCRAM messages.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::ScramError;

/// `message` as text; SCRAM messages are UTF-8.
pub(crate) fn text(message: &[u8]) -> Result<&str, ScramError> {
    std::str::from_utf8(message).map_err(|_| ScramError::Malformed("not UTF-8"))
}

/// Takes the next attribute from `parts`, requiring it to be named `name`; returns its value.
pub(crate) fn expect<'a>(
    parts: &mut impl Iterator<Item = &'a str>,
    name: char,
    missing: &'static str,
) -> Result<&'a str, ScramError> {
    parts
        .next()
        .and_then(|part| part.strip_prefix(name))
        .and_then(|rest| rest.strip_prefix('='))
        .ok_or(ScramError::Malformed(missing))
}

/// Refuses a message that starts with a mandatory extension (`m=`): none is defined for
/// SCRAM-SHA-256, so none can be honoured.
pub(crate) fn refuse_mandatory_extension(message: &str) -> Result<(), ScramError> {
    if message.starts_with("m=") {
        Err(ScramError::Malformed("unsupported mandatory extension"))
    } else {
        Ok(())
    }
}

/// Whether `nonce` is a valid SCRAM nonce: non-empty printable ASCII without commas.
pub(crate) fn is_valid_nonce(nonce: &str) -> bool {
    !nonce.is_empty()
        && nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// Decodes standard padded base64.
pub(crate) fn decode_base64(value: &str, what: &'static str) -> Result<Vec<u8>, ScramError> {
    STANDARD
        .decode(value)
        .map_err(|_| ScramError::Malformed(what))
}

/// Encodes standard padded base64.
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Escapes a user name for `n=`: `,` becomes `=2C` and `=` becomes `=3D`.
pub(crate) fn escape_username(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expect_checks_the_name() {
        let mut parts = text(b"r=abc,s=xyz").unwrap().split(',');
        assert_eq!(expect(&mut parts, 'r', "nonce"), Ok("abc"));
        assert_eq!(
            expect(&mut parts, 'i', "iterations"),
            Err(ScramError::Malformed("iterations"))
        );
        assert_eq!(
            expect(&mut parts, 'i', "iterations"),
            Err(ScramError::Malformed("iterations"))
        );
    }

    #[test]
    fn nonce_validity() {
        assert!(is_valid_nonce("rOprNGfwEbeRWgbNEkqO"));
        assert!(!is_valid_nonce(""));
        assert!(!is_valid_nonce("a,b"));
        assert!(!is_valid_nonce("a b"));
        assert!(!is_valid_nonce("é"));
    }

    #[test]
    fn username_escaping() {
        assert_eq!(escape_username("a=b,c"), "a=3Db=2Cc");
    }

    #[test]
    fn mandatory_extension_is_refused() {
        assert!(refuse_mandatory_extension("m=x").is_err());
        assert!(refuse_mandatory_extension("r=x").is_ok());
    }
}
