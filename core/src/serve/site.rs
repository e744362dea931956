//! What the exporter answers on its HTTP ports: the overview pages, the expositions
//! (`/metrics`, `/probe`, the bridge's `/metrics`), the bridge's JSON view, and refusals.

use std::fmt::Write;

use crate::console;
use crate::exposition::Format;
use crate::http::{
    HttpConnection, HttpError, Request, Response, SharedBody, SharedResponse, Status,
};
use crate::metrics::{FIXED_FAMILIES, MetricSet};

/// The bridge port's `/` page.
const BRIDGE_OVERVIEW: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>pgexporter: bridge</title></head>\n\
<body><h1>pgexporter</h1>\n<p>Bridge for Prometheus: the samples of every configured exporter, \
each labelled with its endpoint, at <a href=\"/metrics\">/metrics</a>.</p>\n</body></html>\n";

/// What answers a request.
#[derive(Debug, Clone, Copy)]
pub enum Reply<'a> {
    /// An exposition body in `format`, sent as it is shared; `None` when there is none (503).
    Exposition(Format, Option<&'a dyn SharedBody>),
    /// The bridge's JSON view, sent as it is shared; `None` when there is none (503).
    Json(Option<&'a dyn SharedBody>),
    /// The metrics port's overview page.
    Overview,
    /// The bridge port's overview page.
    BridgeOverview,
    /// The console's page.
    ConsolePage,
    /// The console's `/api` JSON, built from this exposition text; `None` when there is no
    /// scrape result (503).
    ConsoleApi(Option<&'a [u8]>),
    /// A refusal: the status and a line saying why.
    Refused(Status, &'a str),
    /// `/healthz` or `/readyz`: 200 with the line of `Ok`, 503 with the reason of `Err`.
    Health(Result<&'a [u8], &'a [u8]>),
}

/// The responses of one exporter: built once per metric set, shared by every connection.
#[derive(Debug, Clone)]
pub struct Site {
    overview: String,
}

impl Site {
    /// The site for `metrics`.
    pub fn new(metrics: &MetricSet) -> Site {
        Site {
            overview: overview_page(metrics),
        }
    }

    /// The exposition format to answer `request` in: OpenMetrics when its `Accept` header
    /// prefers it and the connection allows it (`metrics_openmetrics`), else text 0.0.4.
    pub fn format_for(request: &Request) -> Format {
        if request.accepts_openmetrics {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }

    /// Answers the pending request on `http` with `reply`.
    ///
    /// # Errors
    /// The connection's [`HttpError`] when no request is waiting for an answer (a caller bug).
    pub fn respond(
        &self,
        http: &mut HttpConnection,
        now: std::time::Instant,
        reply: Reply<'_>,
    ) -> Result<(), HttpError> {
        let refusal;
        let json;
        let shared = |content_type, body| SharedResponse {
            status: Status::Ok,
            content_type,
            body,
        };
        let response = match reply {
            Reply::Exposition(format, Some(body)) => {
                return http.respond_shared(now, shared(format.content_type(), body));
            }
            Reply::Exposition(_, None) => unavailable(b"no scrape result\n"),
            Reply::Json(Some(body)) => {
                return http.respond_shared(now, shared("application/json", body));
            }
            Reply::Json(None) => unavailable(b"no bridge result\n"),
            Reply::Overview => page(&self.overview),
            Reply::BridgeOverview => page(BRIDGE_OVERVIEW),
            Reply::ConsolePage => page(console::PAGE),
            Reply::ConsoleApi(Some(text)) => {
                json = console::api_json(&String::from_utf8_lossy(text));
                Response {
                    status: Status::Ok,
                    content_type: "application/json",
                    body: json.as_bytes(),
                    allow_gzip: true,
                }
            }
            Reply::ConsoleApi(None) => Response {
                status: Status::ServiceUnavailable,
                content_type: "application/json",
                body: b"{\"error\":\"no scrape result\"}",
                allow_gzip: false,
            },
            Reply::Health(state) => {
                let (status, body) = match state {
                    Ok(line) => (Status::Ok, line),
                    Err(reason) => (Status::ServiceUnavailable, reason),
                };
                Response {
                    status,
                    content_type: "text/plain; charset=utf-8",
                    body,
                    allow_gzip: false,
                }
            }
            Reply::Refused(status, why) => {
                refusal = format!("{} {}: {why}\n", status.code(), status.reason());
                Response {
                    status,
                    content_type: "text/plain; charset=utf-8",
                    body: refusal.as_bytes(),
                    allow_gzip: false,
                }
            }
        };
        http.respond(now, response)
    }
}

/// A 503 saying `what` is missing.
fn unavailable(what: &'static [u8]) -> Response<'static> {
    Response {
        status: Status::ServiceUnavailable,
        content_type: "text/plain; charset=utf-8",
        body: what,
        allow_gzip: false,
    }
}

/// An HTML page.
fn page(body: &str) -> Response<'_> {
    Response {
        status: Status::Ok,
        content_type: "text/html; charset=utf-8",
        body: body.as_bytes(),
        allow_gzip: true,
    }
}

/// The `/` page: what the exporter is and which families it can write, with a link to
/// `/metrics`.
fn overview_page(metrics: &MetricSet) -> String {
    let mut families: Vec<String> = metrics
        .definitions()
        .iter()
        .flat_map(|definition| definition.family_names())
        .collect();
    families.sort();
    let mut page = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>pgexporter</title></head>\n\
         <body><h1>pgexporter</h1>\n<p>Prometheus exporter for PostgreSQL. \
         The metrics are at <a href=\"/metrics\">/metrics</a>; one configured server's alone at \
         <code>/probe?target=&lt;server&gt;</code>.</p>\n<h2>Metric families</h2>\n<ul>\n",
    );
    for name in FIXED_FAMILIES
        .iter()
        .copied()
        .chain(families.iter().map(String::as_str))
    {
        // Family names are letters, digits, '_' and '*': nothing to escape.
        let _ = writeln!(page, "<li>{name}</li>");
    }
    page.push_str("</ul>\n</body></html>\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::Machine;
    use crate::metrics::{Source, SourceFormat};
    use bytes::{Bytes, BytesMut};

    /// The bytes `site` answers to `head` with `reply`.
    fn answer(head: &str, reply: impl FnOnce(&Request) -> Reply<'static>) -> String {
        answer_allowing(head, true, reply)
    }

    /// The bytes `site` answers to `head` with `reply`, on a connection that allows
    /// OpenMetrics when `openmetrics` is set.
    fn answer_allowing(
        head: &str,
        openmetrics: bool,
        reply: impl FnOnce(&Request) -> Reply<'static>,
    ) -> String {
        let site = Site::new(&MetricSet::builtin().unwrap());
        let now = crate::test_clock::origin();
        let config = crate::http::HttpConfig {
            openmetrics,
            ..crate::http::HttpConfig::new(std::time::Duration::from_secs(5))
        };
        let mut http = HttpConnection::new(config, now);
        http.handle_input(now, head.as_bytes());
        let Some(crate::http::Event::Request(request)) = http.poll_event() else {
            panic!("a request");
        };
        site.respond(&mut http, now, reply(&request)).unwrap();
        let mut out = BytesMut::new();
        while http.poll_transmit(&mut out) {}
        String::from_utf8_lossy(&out).into_owned()
    }

    const METRICS: &str = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    static UP: Bytes = Bytes::from_static(b"up 1\n");
    static EOF: Bytes = Bytes::from_static(b"# EOF\n");
    static EMPTY_JSON: Bytes = Bytes::from_static(b"{}");

    #[test]
    fn a_rendered_body_is_served_in_the_format_the_request_prefers() {
        let text = answer(METRICS, |request| {
            Reply::Exposition(Site::format_for(request), Some(&UP))
        });
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.contains(Format::Text.content_type()), "{text}");
        assert!(text.ends_with("up 1\n"), "{text}");
        let prefers_openmetrics = "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text;version=1.0.0\r\n\r\n";
        let openmetrics = answer(prefers_openmetrics, |request| {
            Reply::Exposition(Site::format_for(request), Some(&EOF))
        });
        assert!(
            openmetrics.contains(Format::OpenMetrics.content_type()),
            "{openmetrics}"
        );
        let by_default = answer_allowing(prefers_openmetrics, false, |request| {
            Reply::Exposition(Site::format_for(request), Some(&UP))
        });
        assert!(
            by_default.contains(Format::Text.content_type()),
            "{by_default}"
        );
        let missing = answer(METRICS, |_| Reply::Exposition(Format::Text, None));
        assert!(missing.starts_with("HTTP/1.1 503"), "{missing}");
    }

    #[test]
    fn json_pages_and_refusals() {
        let json = answer(METRICS, |_| Reply::Json(Some(&EMPTY_JSON)));
        assert!(
            json.contains("Content-Type: application/json\r\n"),
            "{json}"
        );
        assert!(json.ends_with("\r\n\r\n{}"), "{json}");
        let bridge = answer(METRICS, |_| Reply::BridgeOverview);
        assert!(
            bridge.contains("<a href=\"/metrics\">/metrics</a>"),
            "{bridge}"
        );
        let refused = answer(METRICS, |_| {
            Reply::Refused(Status::NotFound, "unknown target x")
        });
        assert!(
            refused.starts_with("HTTP/1.1 404 Not Found\r\n"),
            "{refused}"
        );
        assert!(
            refused.ends_with("404 Not Found: unknown target x\n"),
            "{refused}"
        );
    }

    #[test]
    fn the_overview_lists_fixed_and_defined_families() {
        let yaml = "metrics:\n  - tag: t\n    collector: c\n    queries:\n      - query: SELECT 1 AS v\n        columns:\n          - name: v\n            type: gauge\n";
        let set =
            MetricSet::from_sources(&[Source::new("t.yaml", yaml, SourceFormat::Yaml)]).unwrap();
        let site = Site::new(&set);
        assert!(site.overview.contains("<a href=\"/metrics\">/metrics</a>"));
        assert!(
            site.overview
                .contains("<li>pgexporter_postgresql_active</li>")
        );
        assert!(site.overview.contains("<li>pgexporter_t_v</li>"));
    }
}
