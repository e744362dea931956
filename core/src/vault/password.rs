//! Password rules shared by the master password and stored passwords, and generated passwords.

use crate::secret::Secret;

/// Longest password accepted, in bytes (cloud tokens are long).
pub const MAX_PASSWORD_LEN: usize = 8191;
/// Longest generated password.
pub const MAX_GENERATED_LEN: usize = 1024;

/// The characters of generated passwords: letters, digits and punctuation that needs no quoting
/// in SQL string literals or shells' double quotes (no quotes, backslash, backtick, `$` or space).
const ALPHABET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#%&()*+,-./:;<=>?@[]^_{|}~";

/// Why a password is not acceptable. Never contains the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The password is empty.
    #[error("the password is empty")]
    Empty,
    /// The password is over [`MAX_PASSWORD_LEN`] bytes.
    #[error("the password is {len} bytes long, over the limit of {MAX_PASSWORD_LEN}")]
    TooLong {
        /// Password length.
        len: usize,
    },
}

/// Checks that `password` is not empty and at most [`MAX_PASSWORD_LEN`] bytes.
pub fn check(password: &[u8]) -> Result<(), PasswordError> {
    match password.len() {
        0 => Err(PasswordError::Empty),
        len if len > MAX_PASSWORD_LEN => Err(PasswordError::TooLong { len }),
        _ => Ok(()),
    }
}

/// A password of `length` characters drawn uniformly from a printable alphabet.
///
/// `fill_random` fills a buffer with bytes from a cryptographic random source; it is called as
/// often as needed (bytes that would bias the choice are dropped). `length` is clamped to
/// `1..=MAX_GENERATED_LEN`.
pub fn generate<E>(
    length: usize,
    mut fill_random: impl FnMut(&mut [u8]) -> Result<(), E>,
) -> Result<Secret, E> {
    let length = length.clamp(1, MAX_GENERATED_LEN);
    // The largest multiple of the alphabet size that fits a byte: bytes below it map uniformly.
    let unbiased_below = 256 - 256 % ALPHABET.len();
    let mut password = Vec::with_capacity(length);
    while password.len() < length {
        let mut buffer = vec![0u8; 64];
        fill_random(&mut buffer)?;
        // Wrapped so that the random bytes are wiped when dropped.
        let random = Secret::new(buffer);
        for &byte in random.expose() {
            if password.len() < length && usize::from(byte) < unbiased_below {
                password.push(ALPHABET[usize::from(byte) % ALPHABET.len()]);
            }
        }
    }
    Ok(Secret::new(password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_enforces_the_bounds() {
        assert_eq!(check(b""), Err(PasswordError::Empty));
        assert_eq!(check(&[b'a'; MAX_PASSWORD_LEN]), Ok(()));
        assert_eq!(
            check(&[b'a'; MAX_PASSWORD_LEN + 1]),
            Err(PasswordError::TooLong {
                len: MAX_PASSWORD_LEN + 1
            })
        );
    }

    #[test]
    fn generated_passwords_have_the_length_and_alphabet() {
        let mut counter = 0u8;
        let password = generate::<()>(100, |buffer| {
            for byte in buffer.iter_mut() {
                *byte = counter;
                counter = counter.wrapping_add(1);
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(password.len(), 100);
        assert!(password.expose().iter().all(|byte| ALPHABET.contains(byte)));
        assert!(ALPHABET.iter().all(u8::is_ascii_graphic));
    }

    #[test]
    fn biased_bytes_are_skipped_and_errors_pass_through() {
        let mut calls = 0;
        let password = generate::<()>(3, |buffer| {
            calls += 1;
            // The first buffer holds only bytes that would bias the choice.
            buffer.fill(if calls == 1 { 255 } else { 1 });
            Ok(())
        })
        .unwrap();
        assert_eq!(calls, 2);
        assert_eq!(password.expose(), b"BBB");
        assert_eq!(generate(5, |_| Err("no entropy")), Err("no entropy"));
    }

    #[test]
    fn length_is_clamped() {
        let fill = |buffer: &mut [u8]| -> Result<(), ()> {
            buffer.fill(0);
            Ok(())
        };
        assert_eq!(generate(0, fill).unwrap().len(), 1);
        assert_eq!(generate(5000, fill).unwrap().len(), MAX_GENERATED_LEN);
    }
}
