//! The bridge (SPEC §8): one port that answers the samples of many exporters as one body.
//!
//! A request fetches every `bridge_endpoints` entry at once, each within the request's
//! deadline; the answer merges what arrived ([`BridgeResult`]): every sample labelled
//! `endpoint="host:port"` first, each family once, with `pgexporter_bridge_endpoint_up` and
//! `pgexporter_bridge_endpoint_scrape_duration_seconds` per endpoint. An endpoint that is down,
//! slow, answers garbage or too much costs only its own samples. Concurrent requests share the
//! fetches in progress, each answered by its own deadline (the fetches go on until the last),
//! and a finished result younger than `bridge_cache_max_age` (whose body fits in
//! `bridge_cache_max_size`) answers without fetching.
//!
//! Drive it like the collector: [`Bridge::request`], then the [`LinkAction`]s of
//! [`Bridge::poll_action`], [`Bridge::handle_link`], [`Bridge::handle_timeout`] at
//! [`Bridge::poll_timeout`], and [`BridgeEvent::Finished`] from [`Bridge::poll_event`].

mod render;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::fetch::{Endpoint, FetchEvent, Fetched, Fetcher};
use crate::flight::{Flights, Landed};
use crate::http::client::ClientLimits;
use crate::link::{ConnId, LinkAction, LinkEvent, LinkOwner};
use crate::scrape::{Ticket, request_deadline};

pub use render::{ENDPOINT_SCRAPE_DURATION, ENDPOINT_UP};

/// What the bridge is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSettings {
    /// `bridge_endpoints`.
    pub endpoints: Vec<Endpoint>,
    /// `bridge_cache_max_age`: a result this young answers without fetching; zero is off.
    pub cache_max_age: Duration,
    /// `bridge_cache_max_size`: the largest body kept for the cache.
    pub cache_max_size: usize,
    /// `bridge_json_cache_max_size`: the largest JSON body served.
    pub json_max_size: usize,
    /// How long a request may take when it does not say.
    pub default_timeout: Duration,
}

/// One bridge scrape: what each endpoint brought, and the merged body.
#[derive(Debug)]
pub struct BridgeResult {
    /// Per endpoint, in configuration order: its name and what its fetch brought (`None` when
    /// it did not end before the request's deadline).
    pub endpoints: Vec<(String, Option<Arc<Fetched>>)>,
    /// When the scrape ended.
    pub finished: Instant,
    /// The merged body, text format 0.0.4.
    pub body: Bytes,
}

/// What the bridge reports.
#[derive(Debug, Clone)]
pub enum BridgeEvent {
    /// A bridge scrape ended: answer every ticket with this result.
    Finished {
        /// The result.
        result: Arc<BridgeResult>,
        /// The requests that waited for it.
        tickets: Vec<Ticket>,
        /// Whether it is an early answer at a request's deadline while the fetches go on for
        /// others (then it is neither cached nor a history snapshot).
        early: bool,
    },
}

/// The bridge's state; see the module documentation.
pub struct Bridge {
    settings: BridgeSettings,
    fetcher: Fetcher,
    flights: Flights<Ticket, Arc<Fetched>>,
    cached: Option<Arc<BridgeResult>>,
    actions: VecDeque<LinkAction>,
    events: VecDeque<BridgeEvent>,
}

impl Bridge {
    /// A bridge with `settings`.
    pub fn new(settings: BridgeSettings) -> Bridge {
        let limits = ClientLimits::default();
        Bridge {
            settings,
            fetcher: Fetcher::new(LinkOwner::Bridge, limits),
            flights: Flights::default(),
            cached: None,
            actions: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &BridgeSettings {
        &self.settings
    }

    /// Takes new settings (a reload). When the endpoints change, the fetches in progress end,
    /// the waiting requests are answered with what arrived, and the connections are closed.
    pub fn reconfigure(&mut self, now: Instant, settings: BridgeSettings) {
        if settings.endpoints != self.settings.endpoints {
            let landed = self.flights.abandon();
            self.land(now, landed);
            self.fetcher.reset();
            self.follow_fetcher(now);
        }
        self.settings = settings;
        self.cached = None;
    }

    /// Asks for a bridge result for `ticket`: the cached one when it is young enough, else
    /// the ticket is answered by [`BridgeEvent::Finished`] once every endpoint has answered or
    /// the deadline of a request that waits `timeout` (else the default) has passed, held to
    /// the bounds of `/metrics` ([`request_deadline`]).
    pub fn request(
        &mut self,
        now: Instant,
        ticket: Ticket,
        timeout: Option<Duration>,
    ) -> Option<Arc<BridgeResult>> {
        if let Some(cached) = &self.cached
            && now.saturating_duration_since(cached.finished) < self.settings.cache_max_age
        {
            return Some(Arc::clone(cached));
        }
        if self.settings.endpoints.is_empty() {
            return Some(Arc::new(BridgeResult::new(Vec::new(), now)));
        }
        let timeout = timeout.unwrap_or(self.settings.default_timeout);
        let deadline = request_deadline(now, timeout);
        let parts: Vec<usize> = (0..self.settings.endpoints.len()).collect();
        self.flights.join(ticket, parts.clone(), deadline);
        for key in parts {
            // An endpoint the joined request already has needs no fetch.
            if let Some(until) = self.flights.deadline_of(key) {
                let endpoint = &self.settings.endpoints[key];
                self.fetcher.fetch(now, key, endpoint, until);
            }
        }
        self.follow_fetcher(now);
        None
    }

    /// Something happened on one of the bridge's connections.
    pub fn handle_link(&mut self, now: Instant, conn: ConnId, event: LinkEvent) {
        self.fetcher.handle_link(now, conn, event);
        self.follow_fetcher(now);
    }

    /// The instant from [`Bridge::poll_timeout`] has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.fetcher.handle_timeout(now);
        self.follow_fetcher(now);
        let landed = self.flights.expire(now);
        self.land(now, landed);
    }

    /// When [`Bridge::handle_timeout`] wants to be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.fetcher.poll_timeout(), self.flights.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next action for the runtime.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<LinkAction> {
        self.actions.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<BridgeEvent> {
        self.events.pop_front()
    }

    /// Closes every connection and forgets the waiting requests; call when the exporter stops.
    pub fn shutdown(&mut self, now: Instant) {
        self.flights.abandon();
        self.fetcher.reset();
        self.follow_fetcher(now);
    }

    fn follow_fetcher(&mut self, now: Instant) {
        while let Some(action) = self.fetcher.poll_action() {
            self.actions.push_back(action);
        }
        while let Some(FetchEvent::Done { key, fetched }) = self.fetcher.poll_event() {
            let landed = self.flights.deliver(key, &fetched);
            self.land(now, landed);
        }
    }

    /// Answers landed flights, each with its merged result; an early answer at a request's
    /// deadline, while the fetches go on for others, is not cached.
    fn land(&mut self, now: Instant, landed: Vec<Landed<Ticket, Arc<Fetched>>>) {
        for flight in landed {
            let endpoints = flight
                .parts
                .iter()
                .zip(flight.results)
                .filter_map(|(&key, fetched)| {
                    let endpoint = self.settings.endpoints.get(key)?;
                    Some((endpoint.name.clone(), fetched))
                })
                .collect();
            let result = Arc::new(BridgeResult::new(endpoints, now));
            if !flight.early {
                self.keep(&result);
            }
            self.events.push_back(BridgeEvent::Finished {
                result,
                tickets: flight.tickets,
                early: flight.early,
            });
        }
    }

    /// Keeps `result` for the cache when the cache is on and its body fits.
    fn keep(&mut self, result: &Arc<BridgeResult>) {
        if self.settings.cache_max_age.is_zero() {
            return;
        }
        if result.body.len() > self.settings.cache_max_size {
            tracing::warn!(
                "the bridge body of {} bytes is not cached: bridge_cache_max_size is {}",
                result.body.len(),
                self.settings.cache_max_size
            );
            self.cached = None;
            return;
        }
        self.cached = Some(Arc::clone(result));
    }
}
