//! One connection on an HTTP port of the exporter: the metrics port (`/metrics`, `/probe`,
//! the overview page), the bridge port (`/metrics`, its overview page) or the bridge's JSON
//! port; HTTP in, pages, refusals and daemon answers out.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;

use super::site::{Reply, Site};
use super::{Answer, BridgeJob, BridgeView, Job, ProbeJob, ScrapeJob};
use crate::exposition::Format;
use crate::http::{Event, HttpConnection, Request, Route, Status};
use crate::machine::{Machine, Peer};
use crate::plan::Served;

/// Which HTTP port a connection was accepted on: what its paths mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpPort {
    /// `metrics`: `/metrics`, `/probe?target=<server>`, `/`.
    Metrics,
    /// `bridge`: `/metrics` (every bridge endpoint's samples), `/`.
    Bridge,
    /// `bridge_json`: the bridge's JSON view on `/` and `/metrics`.
    BridgeJson,
}

/// An HTTP connection as a [`Machine`] whose events are [`Job`]s: a request that needs the
/// daemon (a scrape, a probe, the bridge) becomes a job, answered with [`Answer::Scrape`]
/// (rendered here, in the format the request prefers) or [`Answer::Rendered`]. Everything else
/// (the overview pages, refusals, timeouts) is answered here: a `/probe` without a `target`
/// gets 400, one whose target is not a configured server 404, without any job.
pub struct HttpService {
    http: HttpConnection,
    served: Arc<Served>,
    port: HttpPort,
    /// The request waiting for its job's answer.
    pending: Option<Request>,
    jobs: VecDeque<Job>,
    /// The rendered body, reused across requests of the connection.
    body: BytesMut,
}

impl HttpService {
    /// A connection accepted on `port` at `now`, served with `served`.
    pub fn new(served: Arc<Served>, port: HttpPort, now: Instant) -> Self {
        HttpService {
            http: HttpConnection::new(served.http.clone(), now),
            served,
            port,
            pending: None,
            jobs: VecDeque::new(),
            body: BytesMut::new(),
        }
    }

    /// Takes the connection's events: requests are answered or become jobs.
    fn follow(&mut self, now: Instant) {
        while let Some(event) = self.http.poll_event() {
            match event {
                Event::Request(request) => match self.job_for(&request) {
                    Ok(job) => {
                        self.pending = Some(request);
                        self.jobs.push_back(job);
                    }
                    Err(reply) => self.respond(now, reply),
                },
                Event::Rejected { status, reason } => {
                    tracing::debug!("HTTP request refused with {}: {reason:?}", status.code());
                }
                Event::Closed(reason) => tracing::trace!("HTTP connection closed: {reason:?}"),
            }
        }
    }

    /// The job `request` needs, or the reply that answers it at once.
    fn job_for(&self, request: &Request) -> Result<Job, Reply<'static>> {
        let timeout = request.scrape_timeout;
        let bridge = |view| Job::Bridge(BridgeJob { timeout, view });
        match (self.port, request.route) {
            (HttpPort::Metrics, Route::Metrics) => Ok(Job::Scrape(ScrapeJob {
                timeout,
                format: Site::format_for(request),
            })),
            (HttpPort::Metrics, Route::Probe) => self.probe_job(request),
            (HttpPort::Metrics, Route::Index) => Err(Reply::Overview),
            (HttpPort::Bridge, Route::Metrics) => Ok(bridge(BridgeView::Text)),
            (HttpPort::Bridge, Route::Index) => Err(Reply::BridgeOverview),
            (HttpPort::BridgeJson, Route::Metrics | Route::Index) => Ok(bridge(BridgeView::Json)),
            (HttpPort::Bridge | HttpPort::BridgeJson, Route::Probe) => Err(Reply::Refused(
                Status::Forbidden,
                "/probe is served on the metrics port",
            )),
            // These ports route no history path (their connections read `Paths::Metrics`).
            (_, Route::History) => Err(Reply::Refused(
                Status::Forbidden,
                "the history API is served on the history port",
            )),
        }
    }

    /// The probe of a configured server; nothing else is ever contacted.
    fn probe_job(&self, request: &Request) -> Result<Job, Reply<'static>> {
        let Some(target) = request.query_parameter("target") else {
            return Err(Reply::Refused(
                Status::BadRequest,
                "/probe needs ?target=<server section>",
            ));
        };
        if !self.served.servers.contains(&target) {
            return Err(Reply::Refused(
                Status::NotFound,
                "the target is not a configured server",
            ));
        }
        Ok(Job::Probe(ProbeJob {
            target,
            timeout: request.scrape_timeout,
            format: Site::format_for(request),
        }))
    }

    fn respond(&mut self, now: Instant, reply: Reply<'_>) {
        let served = Arc::clone(&self.served);
        if let Err(error) = served.site.respond(&mut self.http, now, reply) {
            tracing::error!("cannot answer an HTTP request: {error}");
        }
    }

    /// The reply to `request` with `body`, an answer rendered by the daemon.
    fn rendered_reply<'b>(&self, request: &Request, body: Option<&'b [u8]>) -> Reply<'b> {
        match self.port {
            HttpPort::BridgeJson => Reply::Json(body),
            HttpPort::Bridge => Reply::Exposition(Format::Text, body),
            HttpPort::Metrics => Reply::Exposition(Site::format_for(request), body),
        }
    }
}

impl Machine for HttpService {
    type Event = Job;

    fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.http.handle_input(now, bytes);
        self.follow(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.http.handle_timeout(now);
        self.follow(now);
    }

    fn handle_eof(&mut self, now: Instant) {
        self.http.handle_eof(now);
        self.follow(now);
    }

    fn poll_transmit(&mut self, out: &mut BytesMut) -> bool {
        self.http.poll_transmit(out)
    }

    fn poll_event(&mut self) -> Option<Job> {
        self.jobs.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.http.poll_timeout()
    }

    fn is_finished(&self) -> bool {
        self.http.is_finished()
    }
}

/// The answer to the pending job. Answers of any other kind, or with no job pending, are
/// dropped.
impl Peer for HttpService {
    type Message = Answer;

    fn handle_message(&mut self, now: Instant, answer: Answer) {
        if matches!(answer, Answer::Management(_) | Answer::History(_)) {
            return;
        }
        let Some(request) = self.pending.take() else {
            return;
        };
        match answer {
            Answer::Scrape { result, counters } => {
                let mut body = std::mem::take(&mut self.body);
                body.clear();
                let format = Site::format_for(&request);
                result.render(format, &counters, &mut body);
                self.respond(now, Reply::Exposition(format, Some(&body)));
                self.body = body;
            }
            Answer::Rendered(body) => {
                let reply = self.rendered_reply(&request, body.as_deref());
                self.respond(now, reply);
            }
            Answer::Management(_) | Answer::History(_) => {}
        }
        self.follow(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::management::handshake::AdminVerifiers;
    use crate::metrics::MetricSet;
    use crate::plan::{Plan, PlanInputs};
    use bytes::Bytes;

    fn service(now: Instant) -> HttpService {
        service_on(HttpPort::Metrics, now)
    }

    fn service_on(port: HttpPort, now: Instant) -> HttpService {
        let text = "[pgexporter]\nhost = *\nunix_socket_dir = /tmp\nmetrics = 5002\n\
                    [primary]\nhost = h\nport = 1\nuser = u\n";
        let config = crate::config::load_ini(text, "t.conf", &|_| None)
            .unwrap()
            .config;
        let plan = Plan::new(
            &config,
            PlanInputs {
                passwords: Default::default(),
                metrics: Arc::new(MetricSet::builtin().unwrap()),
                admins: Arc::new(AdminVerifiers::new()),
                master_key: None,
            },
        )
        .unwrap();
        HttpService::new(plan.served, port, now)
    }

    fn drain(service: &mut HttpService) -> String {
        let mut out = BytesMut::new();
        while service.poll_transmit(&mut out) {}
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn metrics_becomes_a_scrape_job_and_its_answer_the_response() {
        let now = crate::test_clock::origin();
        let mut service = service(now);
        service.handle_input(
            now,
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Prometheus-Scrape-Timeout-Seconds: 4\r\n\r\n",
        );
        let Some(Job::Scrape(job)) = service.poll_event() else {
            panic!("a scrape job");
        };
        assert_eq!(job.timeout, Some(std::time::Duration::from_secs(4)));
        assert_eq!(drain(&mut service), "", "nothing before the answer");
        service.handle_message(now, Answer::Rendered(Some(Bytes::from_static(b"up 1\n"))));
        let response = drain(&mut service);
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.ends_with("up 1\n"), "{response}");
        assert!(!service.is_finished(), "kept alive");
    }

    #[test]
    fn the_overview_and_refusals_need_no_job() {
        let now = crate::test_clock::origin();
        let mut service = service(now);
        service.handle_input(
            now,
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\nPOST /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        assert!(service.poll_event().is_none());
        let response = drain(&mut service);
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.contains("HTTP/1.1 405"), "{response}");
    }

    #[test]
    fn no_result_is_a_503_and_a_stray_answer_is_dropped() {
        let now = crate::test_clock::origin();
        let mut service = service(now);
        service.handle_message(now, Answer::Rendered(None));
        assert_eq!(drain(&mut service), "");
        service.handle_input(now, b"GET /metrics HTTP/1.0\r\n\r\n");
        assert!(matches!(service.poll_event(), Some(Job::Scrape(_))));
        service.handle_message(now, Answer::Rendered(None));
        let response = drain(&mut service);
        assert!(response.starts_with("HTTP/1.1 503"), "{response}");
        assert!(service.is_finished(), "HTTP/1.0 closes");
    }

    #[test]
    fn probes_of_configured_servers_only_become_jobs() {
        let now = crate::test_clock::origin();
        let mut service = service(now);
        service.handle_input(
            now,
            b"GET /probe?target=elsewhere HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        assert!(
            service.poll_event().is_none(),
            "an unknown target contacts nothing"
        );
        let response = drain(&mut service);
        assert!(
            response.starts_with("HTTP/1.1 404 Not Found\r\n"),
            "{response}"
        );
        service.handle_input(now, b"GET /probe HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(service.poll_event().is_none());
        assert!(drain(&mut service).starts_with("HTTP/1.1 400"));
        service.handle_input(
            now,
            b"GET /probe?target=primary HTTP/1.1\r\nHost: x\r\nX-Prometheus-Scrape-Timeout-Seconds: 3\r\n\r\n",
        );
        let Some(Job::Probe(job)) = service.poll_event() else {
            panic!("a probe job");
        };
        assert_eq!(job.target, "primary");
        assert_eq!(job.timeout, Some(std::time::Duration::from_secs(3)));
        service.handle_message(now, Answer::Rendered(None));
        assert!(drain(&mut service).starts_with("HTTP/1.1 503"));
    }

    #[test]
    fn the_bridge_ports_ask_for_the_bridge() {
        let now = crate::test_clock::origin();
        let mut bridge = service_on(HttpPort::Bridge, now);
        bridge.handle_input(now, b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /probe?target=primary HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(bridge.poll_event().is_none());
        let pages = drain(&mut bridge);
        assert!(pages.contains("Bridge for Prometheus"), "{pages}");
        assert!(pages.contains("HTTP/1.1 403"), "{pages}");
        bridge.handle_input(
            now,
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text;version=1.0.0\r\n\r\n",
        );
        assert_eq!(
            bridge.poll_event(),
            Some(Job::Bridge(BridgeJob {
                timeout: None,
                view: BridgeView::Text
            }))
        );
        bridge.handle_message(now, Answer::Rendered(Some(Bytes::from_static(b"up 1\n"))));
        let response = drain(&mut bridge);
        assert!(
            response.contains(Format::Text.content_type()),
            "always text: {response}"
        );

        let mut json = service_on(HttpPort::BridgeJson, now);
        json.handle_input(now, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(matches!(
            json.poll_event(),
            Some(Job::Bridge(BridgeJob {
                view: BridgeView::Json,
                ..
            }))
        ));
        json.handle_message(now, Answer::Rendered(Some(Bytes::from_static(b"{}"))));
        let response = drain(&mut json);
        assert!(
            response.contains("Content-Type: application/json\r\n"),
            "{response}"
        );
    }
}
