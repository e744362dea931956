//! One connection on an HTTP port of the exporter: the metrics port (`/metrics`, `/probe`,
//! the overview page), the bridge port (`/metrics`, its overview page), the bridge's JSON
//! port or the console (its page and `/api`); HTTP in, pages, refusals and daemon answers out.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::readiness;
use super::site::{Reply, Site};
use super::{Answer, BridgeJob, BridgeView, Job, ProbeJob, ScrapeBodies, ScrapeJob, ServedBy};
use crate::exposition::Format;
use crate::http::SharedBody;
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
    /// `console`: the console's page on `/`, its JSON on `/api`.
    Console,
}

/// An HTTP connection as a [`Machine`] whose events are [`Job`]s: a request that needs the
/// daemon (a scrape, a probe, the bridge) becomes a job, answered with [`Answer::Scrape`]
/// (the shared body in the format the request prefers, rendered by the first connection that
/// needs it) or [`Answer::Rendered`]; either body is sent without a copy. Everything else
/// (the overview pages, refusals, timeouts) is answered here: a `/probe` without a `target`
/// gets 400, one whose target is not a configured server 404, without any job.
pub struct HttpService {
    http: HttpConnection,
    served: Arc<Served>,
    port: HttpPort,
    /// The request waiting for its job's answer.
    pending: Option<Request>,
    jobs: VecDeque<Job>,
    /// The bodies of the scrape answer being sent, held until it is sent so that the answers
    /// the daemon gives meanwhile from the same result share them.
    sending: Option<Arc<ScrapeBodies>>,
}

impl HttpService {
    /// A connection accepted on `port` at `now`, served with `served` by a runtime that serves
    /// it as `served_by` says: a connection served by a process of its own is not kept alive.
    pub fn new(served: Arc<Served>, port: HttpPort, now: Instant, served_by: ServedBy) -> Self {
        let config = served_by.http(match port {
            HttpPort::Console => &served.console_http,
            _ => &served.http,
        });
        HttpService {
            http: HttpConnection::new(config, now),
            served,
            port,
            pending: None,
            jobs: VecDeque::new(),
            sending: None,
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
            (HttpPort::Metrics, Route::Health) => Err(Reply::Health(Ok(readiness::READY))),
            (HttpPort::Metrics, Route::Ready) => Ok(Job::Readiness),
            (HttpPort::Bridge, Route::Metrics) => Ok(bridge(BridgeView::Text)),
            (HttpPort::Bridge, Route::Index) => Err(Reply::BridgeOverview),
            (HttpPort::BridgeJson, Route::Metrics | Route::Index) => Ok(bridge(BridgeView::Json)),
            (HttpPort::Bridge | HttpPort::BridgeJson, Route::Probe) => Err(Reply::Refused(
                Status::Forbidden,
                "/probe is served on the metrics port",
            )),
            (HttpPort::Bridge | HttpPort::BridgeJson, Route::Health | Route::Ready) => Err(
                Reply::Refused(Status::Forbidden, "served on the metrics port"),
            ),
            // The console reads exposition text back into its categories.
            (HttpPort::Console, Route::Api) => Ok(Job::Scrape(ScrapeJob {
                timeout,
                format: Format::Text,
            })),
            (HttpPort::Console, Route::Index) => Err(Reply::ConsolePage),
            // Routes these ports' paths never give (`Paths::Metrics`, `Paths::Console`).
            (_, Route::History | Route::Api) | (HttpPort::Console, _) => {
                Err(Reply::Refused(Status::Forbidden, "not served on this port"))
            }
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
    fn rendered_reply<'b>(&self, request: &Request, body: Option<&'b Bytes>) -> Reply<'b> {
        let shared = body.map(|body| body as &dyn SharedBody);
        match self.port {
            HttpPort::BridgeJson => Reply::Json(shared),
            HttpPort::Console => Reply::ConsoleApi(body.map(|body| &body[..])),
            HttpPort::Bridge => Reply::Exposition(Format::Text, shared),
            HttpPort::Metrics => Reply::Exposition(Site::format_for(request), shared),
        }
    }

    /// The whole response was handed to the transmit path: the scrape bodies it was taken
    /// from are no longer held for it.
    fn sent(&mut self) {
        self.sending = None;
    }
}

http_machine!(HttpService, sent);

/// The answer to the pending job. Answers of any other kind, or with no job pending, are
/// dropped.
impl Peer for HttpService {
    type Message = Answer;

    fn handle_message(&mut self, now: Instant, answer: Answer) {
        if matches!(
            answer,
            Answer::Management(_) | Answer::History(_) | Answer::RefusalDelay(_)
        ) {
            return;
        }
        let Some(request) = self.pending.take() else {
            return;
        };
        match answer {
            Answer::Scrape(bodies) => {
                if self.port == HttpPort::Console {
                    let text = bodies.plain(Format::Text);
                    self.respond(now, Reply::ConsoleApi(Some(&text)));
                } else {
                    let format = Site::format_for(&request);
                    let body = bodies.in_format(format);
                    self.respond(now, Reply::Exposition(format, Some(&body)));
                    self.sending = Some(bodies);
                }
            }
            Answer::Rendered(body) if request.route == Route::Ready => {
                self.respond(now, readiness::reply(body.as_deref()));
            }
            Answer::Rendered(body) => {
                let reply = self.rendered_reply(&request, body.as_ref());
                self.respond(now, reply);
            }
            Answer::Management(_) | Answer::History(_) | Answer::RefusalDelay(_) => {}
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
        service_on(HttpPort::Metrics, now, ServedBy::Task)
    }

    fn served_by(now: Instant, served_by: ServedBy) -> HttpService {
        service_on(HttpPort::Metrics, now, served_by)
    }

    fn service_on(port: HttpPort, now: Instant, served_by: ServedBy) -> HttpService {
        let text = "[pgexporter]\nhost = *\nunix_socket_dir = /tmp\nmetrics = 5002\n\
                    metrics_openmetrics = true\n[primary]\nhost = h\nport = 1\nuser = u\n";
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
                alerts: None,
            },
        )
        .unwrap();
        HttpService::new(plan.served, port, now, served_by)
    }

    /// What `service` sends, piece by piece as it queued them.
    fn pieces(service: &mut HttpService) -> Vec<Bytes> {
        std::iter::from_fn(|| service.poll_send()).collect()
    }

    #[test]
    fn clients_answered_from_one_result_send_the_bodies_rendered_once() {
        let now = crate::test_clock::origin();
        let result = crate::serve::bodies::tests::empty_result(now);
        let bodies = Arc::new(ScrapeBodies::new(
            result,
            crate::serve::bodies::tests::counters(1),
        ));
        let text = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        let gzip = b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n";
        let openmetrics =
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text\r\n\r\n";
        let mut sent = Vec::new();
        for request in [&text[..], text, gzip, gzip, openmetrics, openmetrics] {
            let mut client = service(now);
            client.handle_input(now, request);
            assert!(matches!(client.poll_event(), Some(Job::Scrape(_))));
            client.handle_message(now, Answer::Scrape(Arc::clone(&bodies)));
            assert!(client.sending.is_some(), "held until sent");
            let pieces = pieces(&mut client);
            assert!(client.sending.is_none(), "released once sent");
            let [head, body] = &pieces[..] else {
                panic!("a head and the shared body: {pieces:?}");
            };
            assert!(head.starts_with(b"HTTP/1.1 200 OK\r\n"));
            sent.push((head.clone(), body.clone()));
        }
        for pair in sent.chunks(2) {
            let [(_, first), (_, second)] = pair else {
                unreachable!()
            };
            assert_eq!(first.as_ptr(), second.as_ptr(), "one body for both");
        }
        let [
            (_, plain),
            _,
            (gzip_head, gzipped),
            _,
            (openmetrics_head, openmetrics),
            _,
        ] = &sent[..]
        else {
            unreachable!()
        };
        assert_eq!(plain.as_ptr(), bodies.plain(Format::Text).as_ptr());
        assert_eq!(gzipped.as_ptr(), bodies.gzipped(Format::Text, 1).as_ptr());
        assert!(
            String::from_utf8_lossy(gzip_head).contains("Content-Encoding: gzip\r\n"),
            "{gzip_head:?}"
        );
        assert_eq!(
            openmetrics.as_ptr(),
            bodies.plain(Format::OpenMetrics).as_ptr()
        );
        assert!(
            String::from_utf8_lossy(openmetrics_head).contains(Format::OpenMetrics.content_type()),
            "{openmetrics_head:?}"
        );
        assert_eq!(Arc::strong_count(&bodies), 1, "no client holds them");
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
    fn a_connection_served_by_a_process_closes_after_its_response() {
        let now = crate::test_clock::origin();
        let mut service = served_by(now, ServedBy::Process);
        service.handle_input(
            now,
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        let response = drain(&mut service);
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.contains("Connection: close\r\n"), "{response}");
        assert_eq!(response.matches("HTTP/1.1 ").count(), 1, "{response}");
        assert!(service.is_finished(), "not kept alive");
        let mut refused = served_by(now, ServedBy::Process);
        refused.handle_input(now, b"POST / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(drain(&mut refused).contains("Connection: close\r\n"));
        assert!(refused.is_finished(), "a refusal closes too");
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
    fn healthz_answers_here_and_readyz_asks_the_daemon() {
        let now = crate::test_clock::origin();
        let mut service = service(now);
        service.handle_input(now, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(service.poll_event().is_none(), "no job for /healthz");
        let response = drain(&mut service);
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.ends_with("\r\n\r\nok\n"), "{response}");
        for (state, status) in [
            (Err("no server answered".to_owned()), "HTTP/1.1 503"),
            (Ok(()), "HTTP/1.1 200 OK"),
        ] {
            service.handle_input(now, b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
            assert_eq!(service.poll_event(), Some(Job::Readiness));
            service.handle_message(now, readiness::answer(state.clone()));
            let response = drain(&mut service);
            assert!(response.starts_with(status), "{response}");
            if let Err(reason) = state {
                assert!(
                    response.ends_with(&format!("not ready: {reason}\n")),
                    "{response}"
                );
            }
        }
        let mut bridge = service_on(HttpPort::Bridge, now, ServedBy::Task);
        bridge.handle_input(now, b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(bridge.poll_event().is_none());
        assert!(drain(&mut bridge).starts_with("HTTP/1.1 403"));
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
        let mut bridge = service_on(HttpPort::Bridge, now, ServedBy::Task);
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

        let mut json = service_on(HttpPort::BridgeJson, now, ServedBy::Task);
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

    #[test]
    fn the_console_answers_its_page_and_api_and_refuses_metrics() {
        let now = crate::test_clock::origin();
        let mut console = service_on(HttpPort::Console, now, ServedBy::Task);
        console.handle_input(
            now,
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        assert!(console.poll_event().is_none());
        let response = drain(&mut console);
        assert!(response.contains(crate::console::PAGE), "the page");
        assert!(response.contains("HTTP/1.1 403"), "{response}");
        console.handle_input(
            now,
            b"GET /api HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text\r\n\r\n",
        );
        let Some(Job::Scrape(job)) = console.poll_event() else {
            panic!("a scrape job");
        };
        assert_eq!(
            job.format,
            Format::Text,
            "the console reads exposition text"
        );
        let text =
            "# HELP pgexporter_state S.\n# TYPE pgexporter_state gauge\npgexporter_state 1\n";
        console.handle_message(
            now,
            Answer::Rendered(Some(Bytes::from_static(text.as_bytes()))),
        );
        let response = drain(&mut console);
        assert!(response.contains("application/json"), "{response}");
        assert!(response.contains("\"name\":\"state\""), "{response}");

        let mut metrics = service(now);
        metrics.handle_input(now, b"GET /api HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(metrics.poll_event().is_none());
        assert!(drain(&mut metrics).starts_with("HTTP/1.1 403"));
    }
}
