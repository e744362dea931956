//! One connection on the metrics port: HTTP in, the overview page or a scrape result out.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;

use super::site::Site;
use super::{Answer, Job, ScrapeJob};
use crate::http::{Event, HttpConnection, Request};
use crate::machine::{Machine, Peer};
use crate::plan::Served;

/// An HTTP connection of the metrics port as a [`Machine`] whose events are [`Job`]s: a
/// `/metrics` request becomes [`Job::Scrape`], answered with [`Answer::Scrape`] (rendered
/// here, in the format the request prefers) or [`Answer::Rendered`]. Everything else (the
/// overview page, refusals, timeouts) is answered here.
pub struct HttpService {
    http: HttpConnection,
    served: Arc<Served>,
    /// The `/metrics` request waiting for its scrape.
    pending: Option<Request>,
    jobs: VecDeque<Job>,
    /// The rendered body, reused across requests of the connection.
    body: BytesMut,
}

impl HttpService {
    /// A connection accepted at `now`, served with `served`.
    pub fn new(served: Arc<Served>, now: Instant) -> Self {
        HttpService {
            http: HttpConnection::new(served.http.clone(), now),
            served,
            pending: None,
            jobs: VecDeque::new(),
            body: BytesMut::new(),
        }
    }

    /// Takes the connection's events: requests are answered or become jobs.
    fn follow(&mut self, now: Instant) {
        while let Some(event) = self.http.poll_event() {
            match event {
                Event::Request(request) if Site::needs_scrape(&request) => {
                    self.jobs.push_back(Job::Scrape(ScrapeJob {
                        timeout: request.scrape_timeout,
                        format: Site::format_for(&request),
                    }));
                    self.pending = Some(request);
                }
                Event::Request(request) => self.respond(now, &request, None),
                Event::Rejected { status, reason } => {
                    tracing::debug!("HTTP request refused with {}: {reason:?}", status.code());
                }
                Event::Closed(reason) => tracing::trace!("HTTP connection closed: {reason:?}"),
            }
        }
    }

    fn respond(&mut self, now: Instant, request: &Request, body: Option<&[u8]>) {
        let site = Arc::clone(&self.served);
        if let Err(error) = site.site.respond(&mut self.http, now, request, body) {
            tracing::error!("cannot answer an HTTP request: {error}");
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

/// The answer to the pending scrape. Answers of any other kind, or with no scrape pending,
/// are dropped.
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
                result.render(Site::format_for(&request), &counters, &mut body);
                self.respond(now, &request, Some(&body));
                self.body = body;
            }
            Answer::Rendered(body) => self.respond(now, &request, body.as_deref()),
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
        HttpService::new(plan.served, now)
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
}
