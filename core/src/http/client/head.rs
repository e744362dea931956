//! Writing a GET request and reading a response head.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::BytesMut;

use super::ClientError;
use crate::http::MAX_HEADERS_LIMIT;

/// A GET request of [`HttpClient::get`](super::HttpClient::get).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Get<'a> {
    /// The `Host` header: `host:port` of the target.
    pub host: &'a str,
    /// The request target, for example `/metrics`.
    pub path: &'a str,
    /// The `Accept` header.
    pub accept: &'a str,
}

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body (204, 304).
    Empty,
    /// `Content-Length`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

/// The part of a response head the client uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Head {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` value.
    pub content_type: Option<String>,
    /// `Content-Encoding: gzip`.
    pub gzip: bool,
    /// How the body ends.
    pub framing: Framing,
    /// The connection may carry another request after this response.
    pub keep_alive: bool,
}

/// What reading the start of the input came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Parsed {
    /// More bytes are needed.
    Partial,
    /// An informational (1xx) head of `length` bytes to skip; the real head follows.
    Informational(usize),
    /// The head, `length` bytes long.
    Complete(Head, usize),
}

/// Appends a GET request for `get` to `out`; `timeout` becomes
/// `X-Prometheus-Scrape-Timeout-Seconds`, as Prometheus sends it, so that an exporter can keep
/// its own work within it. Carriage returns and line feeds in the values are left out.
pub(super) fn write_get(out: &mut BytesMut, get: &Get<'_>, timeout: Duration) {
    let clean = |value: &str| value.replace(['\r', '\n'], "");
    // Writing into a BytesMut cannot fail: it grows as needed.
    let _ = write!(
        out,
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: pgexporter/{}\r\nAccept: {}\r\n\
         Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: {:.3}\r\n\r\n",
        clean(get.path),
        clean(get.host),
        env!("CARGO_PKG_VERSION"),
        clean(get.accept),
        timeout.as_secs_f64(),
    );
}

/// Reads the response head at the start of `input`, at most `max_bytes` long.
pub(super) fn read_head(input: &[u8], max_bytes: usize) -> Result<Parsed, ClientError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS_LIMIT];
    let mut response = httparse::Response::new(&mut headers);
    let length = match response.parse(input) {
        Ok(httparse::Status::Complete(length)) if length <= max_bytes => length,
        Ok(httparse::Status::Partial) if input.len() <= max_bytes => return Ok(Parsed::Partial),
        Ok(_) => return Err(ClientError::HeadTooLarge),
        Err(httparse::Error::TooManyHeaders) => return Err(ClientError::HeadTooLarge),
        Err(error) => return Err(ClientError::Malformed(error.to_string())),
    };
    let (Some(status), Some(minor)) = (response.code, response.version) else {
        return Err(ClientError::Malformed("incomplete status line".into()));
    };
    if (100..200).contains(&status) && status != 101 {
        return Ok(Parsed::Informational(length));
    }
    if status == 101 {
        return Err(ClientError::Malformed(
            "the server switched protocols".into(),
        ));
    }
    let mut fields = Fields::default();
    for header in response.headers.iter() {
        fields.add(header.name, header.value)?;
    }
    let framing = if status == 204 || status == 304 {
        Framing::Empty
    } else if fields.chunked {
        Framing::Chunked
    } else if let Some(length) = fields.content_length {
        Framing::Length(length)
    } else {
        Framing::UntilClose
    };
    let keep_alive = match minor {
        0 => fields.keep_alive && !fields.close,
        _ => !fields.close,
    } && framing != Framing::UntilClose;
    let head = Head {
        status,
        content_type: fields.content_type,
        gzip: fields.gzip,
        framing,
        keep_alive,
    };
    Ok(Parsed::Complete(head, length))
}

/// The header fields that matter to the client.
#[derive(Default)]
struct Fields {
    content_length: Option<u64>,
    chunked: bool,
    gzip: bool,
    close: bool,
    keep_alive: bool,
    content_type: Option<String>,
}

impl Fields {
    fn add(&mut self, name: &str, value: &[u8]) -> Result<(), ClientError> {
        let malformed = |what: &str| ClientError::Malformed(format!("unreadable {what} header"));
        let text = || std::str::from_utf8(value).map(str::trim);
        if name.eq_ignore_ascii_case("content-length") {
            let length: u64 = text()
                .ok()
                .and_then(|text| text.parse().ok())
                .ok_or_else(|| malformed("Content-Length"))?;
            if self.content_length.is_some_and(|known| known != length) {
                return Err(malformed("Content-Length"));
            }
            self.content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let codings = text().map_err(|_| malformed("Transfer-Encoding"))?;
            let last = codings.rsplit(',').next().unwrap_or_default().trim();
            if !last.eq_ignore_ascii_case("chunked") {
                return Err(ClientError::Unsupported(format!(
                    "Transfer-Encoding {codings}"
                )));
            }
            self.chunked = true;
        } else if name.eq_ignore_ascii_case("content-encoding") {
            let coding = text().map_err(|_| malformed("Content-Encoding"))?;
            match coding.to_ascii_lowercase().as_str() {
                "" | "identity" => {}
                "gzip" | "x-gzip" => self.gzip = true,
                other => {
                    return Err(ClientError::Unsupported(format!(
                        "Content-Encoding {other}"
                    )));
                }
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for token in text().unwrap_or_default().split(',').map(str::trim) {
                self.close |= token.eq_ignore_ascii_case("close");
                self.keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("content-type") {
            self.content_type = text().ok().map(str::to_owned);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        match read_head(text.as_bytes(), 4096) {
            Ok(Parsed::Complete(head, length)) => {
                assert_eq!(length, text.len());
                head
            }
            other => panic!("not a head: {other:?}"),
        }
    }

    #[test]
    fn the_request_is_exact() {
        let mut out = BytesMut::new();
        let get = Get {
            host: "db1:9187",
            path: "/metrics",
            accept: "text/plain",
        };
        write_get(&mut out, &get, Duration::from_millis(9500));
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            format!(
                "GET /metrics HTTP/1.1\r\nHost: db1:9187\r\nUser-Agent: pgexporter/{}\r\n\
                 Accept: text/plain\r\nAccept-Encoding: gzip\r\n\
                 X-Prometheus-Scrape-Timeout-Seconds: 9.500\r\n\r\n",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn framing_and_connection_reuse() {
        let length =
            head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\n");
        assert_eq!(length.framing, Framing::Length(5));
        assert!(length.keep_alive);
        assert_eq!(length.content_type.as_deref(), Some("text/plain"));
        let chunked = head(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\
             Content-Encoding: gzip\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(chunked.framing, Framing::Chunked);
        assert!(chunked.gzip);
        assert!(!chunked.keep_alive);
        let old = head("HTTP/1.0 200 OK\r\n\r\n");
        assert_eq!(old.framing, Framing::UntilClose);
        assert!(!old.keep_alive);
        let kept = head("HTTP/1.0 204 No Content\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(kept.framing, Framing::Empty);
        assert!(kept.keep_alive);
    }

    #[test]
    fn informational_heads_are_skipped_and_limits_hold() {
        assert_eq!(
            read_head(b"HTTP/1.1 103 Early Hints\r\n\r\n", 100),
            Ok(Parsed::Informational(28))
        );
        assert_eq!(read_head(b"HTTP/1.1 200 OK\r\n", 100), Ok(Parsed::Partial));
        assert_eq!(
            read_head(b"HTTP/1.1 200 OK\r\nX: aaaaaaaaaaaaaaaaaaaaa\r\n", 20),
            Err(ClientError::HeadTooLarge)
        );
        assert!(matches!(
            read_head(b"SSH-2.0-OpenSSH\r\n\r\n", 100),
            Err(ClientError::Malformed(_))
        ));
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ] {
            assert!(matches!(
                read_head(bad.as_bytes(), 100),
                Err(ClientError::Malformed(_))
            ));
        }
        for unsupported in [
            "HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        ] {
            assert!(matches!(
                read_head(unsupported.as_bytes(), 100),
                Err(ClientError::Unsupported(_))
            ));
        }
    }
}
