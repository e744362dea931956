//! What the exporter answers on its metrics port: the overview page and `/metrics`.

use std::fmt::Write;

use crate::exposition::Format;
use crate::http::{HttpConnection, HttpError, Request, Response, Route, Status};
use crate::metrics::{FIXED_FAMILIES, MetricSet};

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

    /// Whether answering `request` needs a scrape result ([`Site::answer`] then wants one).
    pub fn needs_scrape(request: &Request) -> bool {
        request.route == Route::Metrics
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

    /// Answers `request` on `http`, with the `/metrics` body rendered in the format
    /// [`Site::format_for`] gives for `request` (`None` when there is no scrape result: 503).
    ///
    /// # Errors
    /// The connection's [`HttpError`] when no request is waiting for an answer (a caller bug).
    pub fn respond(
        &self,
        http: &mut HttpConnection,
        now: std::time::Instant,
        request: &Request,
        rendered: Option<&[u8]>,
    ) -> Result<(), HttpError> {
        let response = match (request.route, rendered) {
            (Route::Metrics, Some(body)) => Response {
                status: Status::Ok,
                content_type: Site::format_for(request).content_type(),
                body,
                allow_gzip: true,
            },
            (Route::Metrics, None) => Response {
                status: Status::ServiceUnavailable,
                content_type: "text/plain; charset=utf-8",
                body: b"no scrape result\n",
                allow_gzip: false,
            },
            (Route::Index, _) => Response {
                status: Status::Ok,
                content_type: "text/html; charset=utf-8",
                body: self.overview.as_bytes(),
                allow_gzip: true,
            },
            // The metrics port routes no history path (`Paths::Metrics`).
            (Route::History, _) => Response {
                status: Status::Forbidden,
                content_type: "text/plain; charset=utf-8",
                body: b"",
                allow_gzip: false,
            },
        };
        http.respond(now, response)
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
         The metrics are at <a href=\"/metrics\">/metrics</a>.</p>\n<h2>Metric families</h2>\n<ul>\n",
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
    use bytes::BytesMut;

    /// The bytes `site` answers to `head` with `rendered` as the `/metrics` body, on a
    /// connection that allows OpenMetrics when `openmetrics` is set.
    fn rendered_answer(head: &str, rendered: Option<&[u8]>, openmetrics: bool) -> String {
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
        assert!(Site::needs_scrape(&request));
        site.respond(&mut http, now, &request, rendered).unwrap();
        let mut out = BytesMut::new();
        while http.poll_transmit(&mut out) {}
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn a_rendered_body_is_served_in_the_format_the_request_prefers() {
        let text = rendered_answer(
            "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
            Some(b"up 1\n"),
            true,
        );
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.contains(Format::Text.content_type()), "{text}");
        assert!(text.ends_with("up 1\n"), "{text}");
        let prefers_openmetrics = "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text;version=1.0.0\r\n\r\n";
        let openmetrics = rendered_answer(prefers_openmetrics, Some(b"# EOF\n"), true);
        assert!(
            openmetrics.contains(Format::OpenMetrics.content_type()),
            "{openmetrics}"
        );
        let by_default = rendered_answer(prefers_openmetrics, Some(b"up 1\n"), false);
        assert!(
            by_default.contains(Format::Text.content_type()),
            "{by_default}"
        );
        let missing = rendered_answer("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", None, false);
        assert!(missing.starts_with("HTTP/1.1 503"), "{missing}");
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
