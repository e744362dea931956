//! ErrorResponse and NoticeResponse bodies: a list of typed fields.

use std::fmt;

use super::ProtocolError;
use super::reader::BodyReader;

/// Field code of the localized severity (`ERROR`, `FATAL`, ...).
const SEVERITY_LOCALIZED: u8 = b'S';
/// Field code of the severity that is never translated (PostgreSQL 9.6 and later).
const SEVERITY: u8 = b'V';
/// Field code of the SQLSTATE.
const CODE: u8 = b'C';
/// Field code of the primary message.
const MESSAGE: u8 = b'M';
/// Field code of the detail.
const DETAIL: u8 = b'D';
/// Field code of the hint.
const HINT: u8 = b'H';

/// An error or notice sent by the server, with every field it carried.
///
/// Field codes are those of the protocol documentation ("Error and Notice Message Fields"):
/// `S`/`V` severity, `C` SQLSTATE, `M` message, `D` detail, `H` hint, `P` position, `W` where,
/// `s` schema, `t` table, `c` column, `n` constraint, `F` file, `L` line, `R` routine, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    fields: Vec<(u8, String)>,
}

impl ServerError {
    /// Builds an error from `(code, value)` pairs, in the order the server would send them.
    pub fn from_fields(fields: Vec<(u8, String)>) -> Self {
        ServerError { fields }
    }

    /// Parses the field list of an ErrorResponse or NoticeResponse body.
    pub(crate) fn parse(reader: &mut BodyReader) -> Result<Self, ProtocolError> {
        let mut fields = Vec::new();
        loop {
            let code = reader.u8()?;
            if code == 0 {
                return Ok(ServerError { fields });
            }
            fields.push((code, reader.cstr()?));
        }
    }

    /// The value of field `code`, if the server sent it.
    pub fn field(&self, code: u8) -> Option<&str> {
        self.fields
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, value)| value.as_str())
    }

    /// Every field, in the order received.
    pub fn fields(&self) -> impl Iterator<Item = (u8, &str)> {
        self.fields
            .iter()
            .map(|(code, value)| (*code, value.as_str()))
    }

    /// The severity (`ERROR`, `FATAL`, `PANIC`, `WARNING`, `NOTICE`, ...), untranslated when
    /// the server sent the untranslated field; empty when absent.
    pub fn severity(&self) -> &str {
        self.field(SEVERITY)
            .or_else(|| self.field(SEVERITY_LOCALIZED))
            .unwrap_or("")
    }

    /// The SQLSTATE code, e.g. `28P01` for a wrong password; empty when absent.
    pub fn code(&self) -> &str {
        self.field(CODE).unwrap_or("")
    }

    /// The primary message; empty when absent.
    pub fn message(&self) -> &str {
        self.field(MESSAGE).unwrap_or("")
    }

    /// The optional detail message.
    pub fn detail(&self) -> Option<&str> {
        self.field(DETAIL)
    }

    /// The optional hint.
    pub fn hint(&self) -> Option<&str> {
        self.field(HINT)
    }

    /// Whether the server ends the session after this error (`FATAL` or `PANIC`).
    pub fn is_fatal(&self) -> bool {
        matches!(self.severity(), "FATAL" | "PANIC")
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity(), self.message())?;
        if !self.code().is_empty() {
            write!(f, " (SQLSTATE {})", self.code())?;
        }
        Ok(())
    }
}

impl std::error::Error for ServerError {}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn parses_every_field() {
        let body = Bytes::from_static(
            b"SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user \"x\"\0Dd\0Hh\0Fauth.c\0\0",
        );
        let error = ServerError::parse(&mut BodyReader::new(body, "ErrorResponse")).unwrap();
        assert_eq!(error.severity(), "FATAL");
        assert_eq!(error.code(), "28P01");
        assert_eq!(
            error.message(),
            "password authentication failed for user \"x\""
        );
        assert_eq!(error.detail(), Some("d"));
        assert_eq!(error.hint(), Some("h"));
        assert_eq!(error.field(b'F'), Some("auth.c"));
        assert_eq!(error.fields().count(), 7);
        assert!(error.is_fatal());
        assert_eq!(
            error.to_string(),
            "FATAL: password authentication failed for user \"x\" (SQLSTATE 28P01)"
        );
    }

    #[test]
    fn missing_terminator_is_malformed() {
        let body = Bytes::from_static(b"SERROR\0");
        assert!(ServerError::parse(&mut BodyReader::new(body, "ErrorResponse")).is_err());
    }
}
