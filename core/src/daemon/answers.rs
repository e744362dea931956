//! The jobs of the HTTP ports: `/metrics` scrapes, `/probe` scrapes of one server and bridge
//! requests, handed to the collector or the bridge, and answered from their results. A
//! finished scrape of every server is also a history snapshot, and a finished bridge scrape a
//! bridge history snapshot; an early answer at a request's deadline
//! ([`scrape::Event::Partial`], an early [`BridgeEvent::Finished`]) is not.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::bridge::{BridgeEvent, BridgeResult};
use crate::exposition::Format;
use crate::scrape::{self, ScrapeResult, Ticket};
use crate::serve::{Answer, BridgeView, Job, readiness};

use super::{Action, Daemon, HISTORY_TICKET, PeerId};

/// What a connection waiting for a result asked for: how to answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Waiting {
    /// Every server's scrape, for `/metrics`.
    Scrape,
    /// One server's scrape, for `/probe`, in this format.
    Probe(Format),
    /// The bridge, in this view.
    Bridge(BridgeView),
    /// Whether the exporter is ready, for `/readyz`.
    Readiness,
}

impl Daemon {
    /// Hands a scrape, probe or bridge `job` of `peer` to the collector or the bridge; a
    /// result they have at once answers it now.
    pub(super) fn collect(&mut self, now: Instant, peer: PeerId, job: Job) {
        let ticket = Ticket(peer.0);
        match job {
            Job::Scrape(scrape) => match self.collector.request(now, ticket, scrape.timeout) {
                Some(result) => self.answer_scrape(peer, result),
                None => self.wait(peer, Waiting::Scrape),
            },
            Job::Probe(probe) => {
                let requested =
                    self.collector
                        .request_server(now, ticket, &probe.target, probe.timeout);
                match requested {
                    Ok(Some(result)) => self.answer_probe(peer, &result, probe.format),
                    Ok(None) => self.wait(peer, Waiting::Probe(probe.format)),
                    Err(unknown) => {
                        tracing::debug!("probe refused: {unknown}");
                        self.answer(peer, Answer::Rendered(None));
                    }
                }
            }
            Job::Bridge(bridge) => match self.bridge.request(now, ticket, bridge.timeout) {
                Some(result) => self.answer_bridge(now, peer, &result, bridge.view),
                None => self.wait(peer, Waiting::Bridge(bridge.view)),
            },
            Job::Readiness => {
                // A server answered the last scrape: ready without asking again. Else the
                // answer waits for a scrape (the cached result, when young enough).
                if self.collector.activity().contains(&true) {
                    self.answer_readiness(peer);
                } else {
                    match self.collector.request(now, ticket, None) {
                        Some(_) => self.answer_readiness(peer),
                        None => self.wait(peer, Waiting::Readiness),
                    }
                }
            }
            Job::Management(_) | Job::History(_) | Job::LoginRefused { .. } => {}
        }
        self.follow(now);
    }

    fn wait(&mut self, peer: PeerId, waiting: Waiting) {
        self.waiting.insert(peer, waiting);
    }

    /// Moves the collector's and the bridge's actions into the daemon's, and answers the
    /// connections whose results are in.
    pub(super) fn follow(&mut self, now: Instant) {
        while let Some(action) = self.collector.poll_action() {
            self.actions.push_back(Action::Link(action));
        }
        while let Some(action) = self.bridge.poll_action() {
            self.actions.push_back(Action::Link(action));
        }
        while let Some(event) = self.collector.poll_event() {
            let (result, tickets) = match event {
                scrape::Event::Finished { result, tickets } => {
                    if result.servers.len() == self.collector.servers().len() {
                        self.history_snapshot(now, &result);
                    }
                    (result, tickets)
                }
                scrape::Event::Partial { result, tickets } => (result, tickets),
            };
            for ticket in tickets
                .into_iter()
                .filter(|ticket| *ticket != HISTORY_TICKET)
            {
                let peer = PeerId(ticket.0);
                match self.waiting.remove(&peer) {
                    Some(Waiting::Probe(format)) => self.answer_probe(peer, &result, format),
                    Some(Waiting::Readiness) => self.answer_readiness(peer),
                    _ => self.answer_scrape(peer, Arc::clone(&result)),
                }
            }
        }
        while let Some(BridgeEvent::Finished {
            result,
            tickets,
            early,
        }) = self.bridge.poll_event()
        {
            if !early {
                self.bridge_history_snapshot(now, &result);
            }
            for ticket in tickets {
                let peer = PeerId(ticket.0);
                if let Some(Waiting::Bridge(view)) = self.waiting.remove(&peer) {
                    self.answer_bridge(now, peer, &result, view);
                }
            }
        }
    }

    fn answer(&mut self, peer: PeerId, answer: Answer) {
        self.actions.push_back(Action::Answer { peer, answer });
    }

    /// `/readyz`: ready when the configuration is loaded (it is, while the daemon runs) and a
    /// server answered its last scrape; else the reason, naming the servers.
    fn answer_readiness(&mut self, peer: PeerId) {
        let servers = self.collector.servers();
        let state = if servers.is_empty() {
            Err("no server is configured".to_owned())
        } else if self.collector.activity().contains(&true) {
            Ok(())
        } else {
            let names: Vec<&str> = servers.iter().map(|server| server.name.as_str()).collect();
            Err(format!(
                "no server answered its last scrape ({})",
                names.join(", ")
            ))
        };
        self.answer(peer, readiness::answer(state));
    }

    /// A `/metrics` answer: the bodies of `result` with the counts of the moment, shared with
    /// the other answers from that result with equal counts.
    fn answer_scrape(&mut self, peer: PeerId, result: Arc<ScrapeResult>) {
        let counters = self.counters();
        let bodies = self.latest_bodies.share(result, counters);
        self.answer(peer, Answer::Scrape(bodies));
    }

    /// A probe's answer: the server's families, or none (503, so that Prometheus records the
    /// target down) when the server did not answer.
    fn answer_probe(&mut self, peer: PeerId, result: &ScrapeResult, format: Format) {
        let answered = result.servers.first().is_some_and(|server| server.active);
        let body = answered.then(|| {
            let mut out = BytesMut::new();
            result.render_probe(format, &mut out);
            out.freeze()
        });
        self.answer(peer, Answer::Rendered(body));
    }

    /// A bridge request's answer: the merged body, or the JSON view when it fits in
    /// `bridge_json_cache_max_size`.
    fn answer_bridge(
        &mut self,
        now: Instant,
        peer: PeerId,
        result: &BridgeResult,
        view: BridgeView,
    ) {
        let body = match view {
            BridgeView::Text => Some(result.body.clone()),
            BridgeView::Json => {
                let unix_now = u64::try_from((self.wall_clock)()).unwrap_or(0);
                let json = result.render_json(now, Duration::from_secs(unix_now));
                let limit = self.bridge.settings().json_max_size;
                if json.len() > limit {
                    tracing::warn!(
                        "the bridge's JSON view of {} bytes is larger than bridge_json_cache_max_size ({limit})",
                        json.len()
                    );
                    None
                } else {
                    Some(Bytes::from(json))
                }
            }
        };
        self.answer(peer, Answer::Rendered(body));
    }
}
