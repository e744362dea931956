//! Reading one request head with httparse and deciding what it asks for.

use std::time::Duration;

use super::negotiate::{AcceptEncoding, AcceptMedia};
use super::{RejectReason, Status};

/// The most header lines a request head may have, whatever the configuration says; the array
/// httparse fills lives on the stack.
pub const MAX_HEADERS_LIMIT: usize = 64;

/// The longest scrape timeout taken from `X-Prometheus-Scrape-Timeout-Seconds` (a day); a
/// larger value is ignored like an unreadable one.
const MAX_SCRAPE_TIMEOUT: Duration = Duration::from_secs(86_400);

/// What the client may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `/metrics`, with any query string.
    Metrics,
    /// `/` or `/index.html`: the overview page.
    Index,
    /// `/api`: the console's JSON.
    Api,
    /// `/history/...`: the history API; [`Request::target`] says what.
    History,
    /// `/probe`: one configured server's metrics (the `target` query parameter).
    Probe,
    /// `/healthz`: whether the process serves.
    Health,
    /// `/readyz`: whether the exporter is ready to be scraped.
    Ready,
}

/// The paths a port serves; every other path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Paths {
    /// The metrics port: `/metrics`, `/probe`, `/` and `/index.html`; others get 403.
    Metrics,
    /// The history port: `/history/...`; others get 404.
    History,
    /// The console: `/`, `/index.html` and `/api`; others get 403.
    Console,
}

/// A request the caller must answer with [`HttpConnection::respond`] or
/// [`HttpConnection::respond_streaming`](super::HttpConnection::respond_streaming).
///
/// [`HttpConnection::respond`]: super::HttpConnection::respond
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// What is asked for.
    pub route: Route,
    /// The target's path and query in origin form (`/history/x?duration=-60`), also when the
    /// request gave it in absolute form.
    pub target: String,
    /// `HEAD`: the response gets its headers only (the connection drops the body itself).
    pub head_only: bool,
    /// The `Accept` header prefers OpenMetrics 1.0.0 over the text format.
    pub accepts_openmetrics: bool,
    /// The `Accept-Encoding` header accepts gzip.
    pub accepts_gzip: bool,
    /// `X-Prometheus-Scrape-Timeout-Seconds` when present and a positive number of seconds no
    /// larger than a day.
    pub scrape_timeout: Option<Duration>,
}

/// HTTP version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Version {
    Http10,
    Http11,
}

/// How the connection goes on after the response to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Exchange {
    pub version: Version,
    pub head_only: bool,
    pub keep_alive: bool,
    pub accepts_gzip: bool,
}

/// The outcome of reading the start of the input buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Head {
    /// The head is not complete yet.
    Partial,
    /// A request to hand to the caller; `length` bytes of input belong to it.
    Accepted {
        request: Request,
        exchange: Exchange,
        length: usize,
    },
    /// A request the connection answers itself with `status`.
    Refused {
        status: Status,
        reason: RejectReason,
        exchange: Exchange,
        length: usize,
    },
}

/// An exchange for a head that could not be read: answer once, then close.
pub(super) const BROKEN: Exchange = Exchange {
    version: Version::Http11,
    head_only: false,
    keep_alive: false,
    accepts_gzip: false,
};

/// Reads the request head at the start of `input`, allowing `max_headers` header lines
/// (capped at [`MAX_HEADERS_LIMIT`]) and `max_head_bytes` bytes, routing among `paths`.
pub(super) fn read_head(
    input: &[u8],
    max_headers: usize,
    max_head_bytes: usize,
    paths: Paths,
) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS_LIMIT];
    let allowed = max_headers.min(MAX_HEADERS_LIMIT);
    let mut parsed = httparse::Request::new(&mut headers[..allowed]);
    let refuse = |status, reason| Head::Refused {
        status,
        reason,
        exchange: BROKEN,
        length: 0,
    };
    let length = match parsed.parse(input) {
        Ok(httparse::Status::Complete(length)) if length <= max_head_bytes => length,
        Ok(httparse::Status::Partial) if input.len() <= max_head_bytes => return Head::Partial,
        Ok(_) => {
            return refuse(
                Status::RequestHeaderFieldsTooLarge,
                RejectReason::HeadTooLarge,
            );
        }
        Err(httparse::Error::TooManyHeaders) => {
            return refuse(
                Status::RequestHeaderFieldsTooLarge,
                RejectReason::TooManyHeaders,
            );
        }
        Err(_) => return refuse(Status::BadRequest, RejectReason::Malformed),
    };
    let (Some(method), Some(path), Some(minor)) = (parsed.method, parsed.path, parsed.version)
    else {
        return refuse(Status::BadRequest, RejectReason::Malformed);
    };
    let fields = HeaderFields::collect(parsed.headers);
    let version = if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    };
    let keep_alive = match version {
        Version::Http11 => !fields.close,
        Version::Http10 => fields.keep_alive && !fields.close,
    };
    let head_only = method == "HEAD";
    let mut exchange = Exchange {
        version,
        head_only,
        keep_alive: keep_alive && !fields.has_body,
        accepts_gzip: fields.encoding.accepts_gzip(),
    };
    let refused = |status, reason, exchange| Head::Refused {
        status,
        reason,
        exchange,
        length,
    };
    if fields.malformed {
        exchange.keep_alive = false;
        return refused(Status::BadRequest, RejectReason::Malformed, exchange);
    }
    if method != "GET" && !head_only {
        return refused(
            Status::MethodNotAllowed,
            RejectReason::MethodNotAllowed,
            exchange,
        );
    }
    if fields.has_body {
        return refused(Status::BadRequest, RejectReason::BodyNotAllowed, exchange);
    }
    let target = origin_form(path);
    let path = target.split_once('?').map_or(target, |(path, _query)| path);
    let route = match (paths, path) {
        (Paths::Metrics, "/metrics") => Route::Metrics,
        (Paths::Metrics | Paths::Console, "/" | "/index.html") => Route::Index,
        (Paths::Metrics, "/probe") => Route::Probe,
        (Paths::Metrics, "/healthz") => Route::Health,
        (Paths::Metrics, "/readyz") => Route::Ready,
        (Paths::Console, "/api") => Route::Api,
        (Paths::Metrics | Paths::Console, _) => {
            return refused(Status::Forbidden, RejectReason::ForbiddenPath, exchange);
        }
        (Paths::History, _) if path.starts_with("/history/") => Route::History,
        (Paths::History, _) => return refused(Status::NotFound, RejectReason::NotFound, exchange),
    };
    Head::Accepted {
        request: Request {
            route,
            target: target.to_owned(),
            head_only,
            accepts_openmetrics: fields.media.prefers_openmetrics(),
            accepts_gzip: exchange.accepts_gzip,
            scrape_timeout: fields.scrape_timeout,
        },
        exchange,
        length,
    }
}

impl Request {
    /// The value of the query parameter `name` of the target, percent-decoded (`+` is a
    /// space); `None` when it is absent or does not decode to UTF-8.
    #[must_use]
    pub fn query_parameter(&self, name: &str) -> Option<String> {
        query_parameter(&self.target, name)
    }
}

/// A request target in origin form: the scheme and authority of an absolute-form target
/// (`http://host:9187/metrics?x`) dropped, the query kept.
fn origin_form(target: &str) -> &str {
    for scheme in ["http://", "https://"] {
        let has_scheme = target
            .get(..scheme.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(scheme));
        if has_scheme {
            let after_scheme = &target[scheme.len()..];
            return match after_scheme.find(['/', '?']) {
                Some(at) if after_scheme.as_bytes()[at] == b'/' => &after_scheme[at..],
                _ => "/",
            };
        }
    }
    target
}

/// The path of a request target: [`origin_form`] without the query.
#[cfg(test)]
fn path_of(target: &str) -> &str {
    let target = origin_form(target);
    target.split_once('?').map_or(target, |(path, _query)| path)
}

/// The value of the query parameter `name` of a request target, percent-decoded (`+` is a
/// space); `None` when it is absent or does not decode to UTF-8.
fn query_parameter(target: &str, name: &str) -> Option<String> {
    let (_, query) = target.split_once('?')?;
    let query = query
        .split_once('#')
        .map_or(query, |(query, _fragment)| query);
    let raw = query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })?;
    let mut bytes = Vec::with_capacity(raw.len());
    let mut rest = raw.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                rest = &tail[2..];
                continue;
            }
            other => bytes.push(other),
        }
        rest = tail;
    }
    String::from_utf8(bytes).ok()
}

/// The header fields that matter here, read from all header lines.
#[derive(Default)]
struct HeaderFields {
    close: bool,
    keep_alive: bool,
    has_body: bool,
    malformed: bool,
    media: AcceptMedia,
    encoding: AcceptEncoding,
    scrape_timeout: Option<Duration>,
}

impl HeaderFields {
    fn collect(headers: &[httparse::Header<'_>]) -> Self {
        let mut fields = HeaderFields::default();
        for header in headers {
            // Values that are not UTF-8 carry nothing this server uses.
            let Ok(value) = std::str::from_utf8(header.value) else {
                continue;
            };
            let name = header.name;
            if name.eq_ignore_ascii_case("connection") {
                for token in value.split(',').map(str::trim) {
                    fields.close |= token.eq_ignore_ascii_case("close");
                    fields.keep_alive |= token.eq_ignore_ascii_case("keep-alive");
                }
            } else if name.eq_ignore_ascii_case("accept") {
                fields.media.add_header(value);
            } else if name.eq_ignore_ascii_case("accept-encoding") {
                fields.encoding.add_header(value);
            } else if name.eq_ignore_ascii_case("x-prometheus-scrape-timeout-seconds") {
                fields.scrape_timeout = parse_scrape_timeout(value);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                fields.has_body = true;
            } else if name.eq_ignore_ascii_case("content-length") {
                match value.trim().parse::<u64>() {
                    Ok(0) => {}
                    Ok(_) => fields.has_body = true,
                    Err(_) => fields.malformed = true,
                }
            }
        }
        fields
    }
}

fn parse_scrape_timeout(value: &str) -> Option<Duration> {
    let seconds: f64 = value.trim().parse().ok()?;
    let timeout = Duration::try_from_secs_f64(seconds).ok()?;
    (!timeout.is_zero() && timeout <= MAX_SCRAPE_TIMEOUT).then_some(timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &str) -> Head {
        read_head(input.as_bytes(), 32, 8192, Paths::Metrics)
    }

    fn accepted(input: &str) -> (Request, Exchange) {
        match read(input) {
            Head::Accepted {
                request,
                exchange,
                length,
            } => {
                assert_eq!(length, input.len());
                (request, exchange)
            }
            other => panic!("not accepted: {other:?}"),
        }
    }

    fn refused(input: &str) -> (Status, RejectReason, bool) {
        match read(input) {
            Head::Refused {
                status,
                reason,
                exchange,
                ..
            } => (status, reason, exchange.keep_alive),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn routes() {
        let (request, _) = accepted("GET /metrics?x=1 HTTP/1.1\r\n\r\n");
        assert_eq!(request.route, Route::Metrics);
        assert_eq!(accepted("GET / HTTP/1.1\r\n\r\n").0.route, Route::Index);
        let (request, _) = accepted("HEAD /index.html HTTP/1.0\r\n\r\n");
        assert_eq!(request.route, Route::Index);
        assert!(request.head_only);
    }

    #[test]
    fn console_paths() {
        let console = |input: &str| read_head(input.as_bytes(), 32, 8192, Paths::Console);
        for (target, route) in [
            ("/", Route::Index),
            ("/index.html", Route::Index),
            ("/api", Route::Api),
        ] {
            let Head::Accepted { request, .. } = console(&format!("GET {target} HTTP/1.1\r\n\r\n"))
            else {
                panic!("{target} accepted");
            };
            assert_eq!(request.route, route);
        }
        for target in ["/metrics", "/history/x", "/apis"] {
            let Head::Refused { status, .. } = console(&format!("GET {target} HTTP/1.1\r\n\r\n"))
            else {
                panic!("{target} refused");
            };
            assert_eq!(status, Status::Forbidden);
        }
        assert!(
            matches!(read("GET /api HTTP/1.1\r\n\r\n"), Head::Refused { .. }),
            "not on the metrics port"
        );
    }

    #[test]
    fn history_paths_and_their_targets() {
        let history = |input: &str| read_head(input.as_bytes(), 32, 8192, Paths::History);
        let Head::Accepted { request, .. } =
            history("GET http://h:1/history/up?duration=-60 HTTP/1.1\r\n\r\n")
        else {
            panic!("accepted");
        };
        assert_eq!(request.route, Route::History);
        assert_eq!(request.target, "/history/up?duration=-60");
        for target in ["/metrics", "/", "/historyx", "/history", "/probe?target=a"] {
            let Head::Refused {
                status,
                reason,
                exchange,
                ..
            } = history(&format!("GET {target} HTTP/1.1\r\n\r\n"))
            else {
                panic!("{target} refused");
            };
            assert_eq!((status, reason), (Status::NotFound, RejectReason::NotFound));
            assert!(exchange.keep_alive, "a 404 keeps the connection");
        }
    }

    #[test]
    fn probe_targets_are_decoded() {
        let (request, _) = accepted("GET /probe?module=x&target=my%20db+1 HTTP/1.1\r\n\r\n");
        assert_eq!(request.route, Route::Probe);
        assert_eq!(
            request.query_parameter("target").as_deref(),
            Some("my db 1")
        );
        assert_eq!(
            query_parameter("/probe?target=%C3%A9", "target").as_deref(),
            Some("é")
        );
        for unreadable in [
            "/probe",
            "/probe?targets=a",
            "/probe?target=%zz",
            "/probe?target=%ff",
            "/probe?target=%4",
        ] {
            assert_eq!(query_parameter(unreadable, "target"), None, "{unreadable}");
        }
        assert_eq!(
            query_parameter("/probe?target=a#frag", "target").as_deref(),
            Some("a")
        );
        assert_eq!(
            accepted("GET /metrics HTTP/1.1\r\n\r\n")
                .0
                .query_parameter("target"),
            None
        );
    }

    #[test]
    fn absolute_form_targets() {
        assert_eq!(path_of("http://h:9187/metrics?x"), "/metrics");
        assert_eq!(path_of("HTTPS://h"), "/");
        assert_eq!(path_of("/a?http://h/metrics"), "/a");
        assert_eq!(path_of("ftp://h/metrics"), "ftp://h/metrics");
        let (request, _) = accepted("GET http://localhost/metrics HTTP/1.1\r\n\r\n");
        assert_eq!(request.route, Route::Metrics);
    }

    #[test]
    fn refusals() {
        let forbidden = (Status::Forbidden, RejectReason::ForbiddenPath, true);
        assert_eq!(refused("GET /metrics/ HTTP/1.1\r\n\r\n"), forbidden);
        assert_eq!(refused("GET /etc/passwd HTTP/1.1\r\n\r\n"), forbidden);
        assert_eq!(
            refused("POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\n"),
            (
                Status::MethodNotAllowed,
                RejectReason::MethodNotAllowed,
                false
            )
        );
        assert_eq!(
            refused("GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            (Status::BadRequest, RejectReason::BodyNotAllowed, false)
        );
        assert_eq!(
            refused("GET /metrics HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
            (Status::BadRequest, RejectReason::Malformed, false)
        );
        assert_eq!(
            refused("GET /metrics HTTP/2.0\r\n\r\n"),
            (Status::BadRequest, RejectReason::Malformed, false)
        );
    }

    #[test]
    fn empty_content_length_is_fine() {
        let (_, exchange) = accepted("GET /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert!(exchange.keep_alive);
    }

    #[test]
    fn head_limits() {
        assert_eq!(read("GET /metrics HTTP/1.1\r\nHost: x\r\n"), Head::Partial);
        let long = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n", "a".repeat(9000));
        assert_eq!(
            read(&long),
            Head::Refused {
                status: Status::RequestHeaderFieldsTooLarge,
                reason: RejectReason::HeadTooLarge,
                exchange: BROKEN,
                length: 0
            }
        );
        let many: String = (0..40).map(|i| format!("X-{i}: v\r\n")).collect();
        let (status, reason, _) = refused(&format!("GET / HTTP/1.1\r\n{many}\r\n"));
        assert_eq!(status, Status::RequestHeaderFieldsTooLarge);
        assert_eq!(reason, RejectReason::TooManyHeaders);
    }

    #[test]
    fn connection_semantics() {
        assert!(accepted("GET / HTTP/1.1\r\n\r\n").1.keep_alive);
        assert!(
            !accepted("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n")
                .1
                .keep_alive
        );
        assert!(!accepted("GET / HTTP/1.0\r\n\r\n").1.keep_alive);
        let (_, exchange) = accepted("GET / HTTP/1.0\r\nConnection: foo, Keep-Alive\r\n\r\n");
        assert!(exchange.keep_alive);
        assert_eq!(exchange.version, Version::Http10);
    }

    #[test]
    fn negotiation_and_scrape_timeout() {
        let (request, _) = accepted(concat!(
            "GET /metrics HTTP/1.1\r\n",
            "Accept: application/openmetrics-text;version=1.0.0\r\n",
            "Accept-Encoding: gzip\r\n",
            "X-Prometheus-Scrape-Timeout-Seconds: 9.5\r\n\r\n"
        ));
        assert!(request.accepts_openmetrics);
        assert!(request.accepts_gzip);
        assert_eq!(request.scrape_timeout, Some(Duration::from_millis(9500)));
    }

    #[test]
    fn unreadable_scrape_timeouts_are_ignored() {
        for value in ["0", "-1", "abc", "NaN", "inf", "1e30", "86401"] {
            assert_eq!(parse_scrape_timeout(value), None, "{value}");
        }
        assert_eq!(parse_scrape_timeout(" 10 "), Some(Duration::from_secs(10)));
    }
}
