//! The part of a collector task that every runtime shares and that does no IO: handing socket
//! events to the core's [`Collector`], and keeping the requests that wait for a scrape result
//! until it finishes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pgexporter_core::scrape::{Collector, ConnId, Event, ScrapeResult, Ticket};

/// What a PostgreSQL socket reports to the collector.
#[derive(Debug)]
pub enum SocketEvent {
    /// The connection is open.
    Connected,
    /// The connection could not be opened; the reason names the target.
    ConnectFailed(String),
    /// The TLS handshake completed.
    TlsEstablished,
    /// Plaintext received.
    Input(Bytes),
    /// Closed by the peer, or failed.
    Eof,
}

impl SocketEvent {
    /// Hands this event of connection `conn` to `collector`; drain its actions and events
    /// afterwards.
    pub fn deliver(self, collector: &mut Collector, now: Instant, conn: ConnId) {
        match self {
            SocketEvent::Connected => collector.handle_connected(now, conn),
            SocketEvent::ConnectFailed(reason) => {
                collector.handle_connect_failed(now, conn, &reason)
            }
            SocketEvent::TlsEstablished => collector.handle_tls_established(now, conn),
            SocketEvent::Input(bytes) => collector.handle_input(now, conn, &bytes),
            SocketEvent::Eof => collector.handle_eof(now, conn),
        }
    }
}

/// The requests waiting for a scrape result, each with `R`, the means of answering it (a
/// channel's sending half, for example).
#[derive(Debug)]
pub struct Waiting<R> {
    next_ticket: u64,
    replies: HashMap<Ticket, R>,
}

impl<R> Default for Waiting<R> {
    fn default() -> Self {
        Waiting {
            next_ticket: 0,
            replies: HashMap::new(),
        }
    }
}

impl<R> Waiting<R> {
    /// Asks `collector` for a result for a new request answered through `reply`. Returns
    /// `reply` with the result when one is ready now (the cached one); otherwise `reply` waits
    /// for [`Waiting::answer_finished`]. Drain the collector's actions afterwards: the request
    /// may have started a scrape.
    pub fn request(
        &mut self,
        collector: &mut Collector,
        now: Instant,
        scrape_timeout: Option<Duration>,
        reply: R,
    ) -> Option<(R, Arc<ScrapeResult>)> {
        let ticket = Ticket(self.next_ticket);
        self.next_ticket += 1;
        match collector.request(now, ticket, scrape_timeout) {
            Some(result) => Some((reply, result)),
            None => {
                self.replies.insert(ticket, reply);
                None
            }
        }
    }

    /// Drains the collector's events: every waiting reply whose scrape finished is passed to
    /// `answer` with the result. Call after the collector's actions are drained.
    pub fn answer_finished(
        &mut self,
        collector: &mut Collector,
        mut answer: impl FnMut(R, Arc<ScrapeResult>),
    ) {
        while let Some(event) = collector.poll_event() {
            let Event::Finished { result, tickets } = event;
            for ticket in tickets {
                if let Some(reply) = self.replies.remove(&ticket) {
                    answer(reply, Arc::clone(&result));
                }
            }
        }
    }

    /// How many requests wait.
    pub fn len(&self) -> usize {
        self.replies.len()
    }

    /// Whether no request waits.
    pub fn is_empty(&self) -> bool {
        self.replies.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgexporter_core::metrics::{CollectorFilter, MetricSet};
    use pgexporter_core::pg::TlsMode;
    use pgexporter_core::scrape::{Action, CollectorSettings, ServerSpec};

    fn collector(servers: usize, cache_max_age: Duration) -> Collector {
        let specs = (0..servers)
            .map(|index| ServerSpec {
                name: format!("server{index}"),
                user: "monitor".into(),
                password: None,
                tls: TlsMode::Off,
            })
            .collect();
        let settings = CollectorSettings {
            query_timeout: None,
            connect_timeout: Duration::from_secs(10),
            application_name: "pgexporter".into(),
            cache_max_age,
            default_scrape_timeout: Duration::from_secs(10),
        };
        Collector::new(
            specs,
            Arc::new(MetricSet::builtin().unwrap()),
            CollectorFilter::default(),
            settings,
            Box::new(|| [7; 18]),
        )
    }

    fn drain_actions(collector: &mut Collector) -> Vec<Action> {
        std::iter::from_fn(|| collector.poll_action()).collect()
    }

    #[test]
    fn a_request_waits_for_the_scrape_then_the_cache_answers_at_once() {
        let now = Instant::now();
        let mut collector = collector(0, Duration::from_secs(60));
        let mut waiting = Waiting::default();
        assert!(
            waiting
                .request(&mut collector, now, None, "first")
                .is_none()
        );
        assert_eq!(waiting.len(), 1);
        let mut answered = Vec::new();
        waiting.answer_finished(&mut collector, |reply, _| answered.push(reply));
        assert_eq!(answered, ["first"]);
        assert!(waiting.is_empty());

        let (reply, _) = waiting
            .request(&mut collector, now, None, "second")
            .expect("the cached result answers at once");
        assert_eq!(reply, "second");
        assert!(waiting.is_empty());
    }

    #[test]
    fn a_failed_connect_reaches_the_collector_and_finishes_the_scrape() {
        let now = Instant::now();
        let mut collector = collector(1, Duration::ZERO);
        let mut waiting = Waiting::default();
        assert!(waiting.request(&mut collector, now, None, 1).is_none());
        let conn = drain_actions(&mut collector)
            .into_iter()
            .find_map(|action| match action {
                Action::Connect { conn, .. } => Some(conn),
                _ => None,
            })
            .expect("the scrape connects to the server");
        let mut answered = Vec::new();
        waiting.answer_finished(&mut collector, |reply, _| answered.push(reply));
        assert!(
            answered.is_empty(),
            "nothing finished before the socket reported"
        );

        SocketEvent::ConnectFailed("refused".into()).deliver(&mut collector, now, conn);
        drain_actions(&mut collector);
        waiting.answer_finished(&mut collector, |reply, _| answered.push(reply));
        assert_eq!(answered, [1]);
        assert_eq!(collector.activity(), [false]);
    }
}
