//! Each server's collection (its run): started for the requests that wait for it, ended when
//! the server has answered everything or the last deadline of those requests passed, and
//! handed to every request waiting for it; a request whose own deadline comes first is
//! answered early with what has arrived. A `type = prometheus` server's run is one fetch of
//! its `/metrics`.

use std::sync::Arc;
use std::time::Instant;

use crate::config::ServerType;
use crate::fetch::{Endpoint, FetchEvent};
use crate::flight::Landed;

use super::super::discovery::Probe;
use super::super::plan::{MAIN_DATABASE, needs_database_list};
use super::super::result::{ScrapeResult, ServerSnapshot};
use super::capacity::WaitingWork;
use super::extensions::ExtensionDiscovery;
use super::queries::Purpose;
use super::{Collector, Event, Ticket};

/// One server's collection in progress.
pub(super) struct ServerRun {
    /// Numbers the run among all servers' runs: answers to queries of an earlier run are
    /// dropped.
    pub(super) id: u64,
    pub(super) snapshot: ServerSnapshot,
    /// Queries sent for this run and not yet answered.
    pub(super) outstanding: usize,
    /// Work waiting for a connection under the server's cap.
    pub(super) waiting: WaitingWork,
    /// The extensions found in its databases so far.
    pub(super) extensions: ExtensionDiscovery,
    /// When the run is abandoned: the latest deadline of the requests waiting for it.
    pub(super) deadline: Instant,
    /// The settings and extension probes sent with its role probe ([`facts`](super::facts)).
    pub(super) fact_probes: Vec<Probe>,
}

impl Collector {
    /// Makes `ticket` wait for `parts` (server indices) until `deadline` (or with the waiting
    /// request for the same parts), starting the runs that are not in progress and letting
    /// those that are go on as long as a request waits for them.
    pub(super) fn wait_for(
        &mut self,
        now: Instant,
        ticket: Ticket,
        parts: Vec<usize>,
        deadline: Instant,
    ) {
        self.flights.join(ticket, parts.clone(), deadline);
        for server in parts {
            // A part the joined flight already has needs no run.
            let Some(deadline) = self.flights.deadline_of(server) else {
                continue;
            };
            match self.runs[server].as_mut() {
                Some(run) => {
                    if deadline > run.deadline {
                        run.deadline = deadline;
                    }
                    if self.servers[server].kind == ServerType::Prometheus {
                        let endpoint = self.endpoint_of(server);
                        self.fetcher.fetch(now, server, &endpoint, deadline);
                    }
                }
                None => self.start_run(now, server, deadline),
            }
        }
        self.follow_fetcher(now);
        self.finish_done_runs(now);
    }

    /// Starts collecting `server`: the probes on its main connection, or the fetch of a
    /// `type = prometheus` server. A PostgreSQL server in its reconnect backoff without a
    /// connection gets a run with nothing to do: it ends at once, the server inactive.
    fn start_run(&mut self, now: Instant, server: usize, deadline: Instant) {
        let list_databases = needs_database_list(&self.metrics, &self.filter);
        self.main_load[server].begin_run();
        self.next_run += 1;
        self.runs[server] = Some(ServerRun {
            id: self.next_run,
            snapshot: ServerSnapshot {
                name: self.servers[server].name.clone(),
                kind: self.servers[server].kind,
                ..ServerSnapshot::default()
            },
            outstanding: 0,
            waiting: WaitingWork::new(),
            extensions: ExtensionDiscovery::new(list_databases),
            deadline,
            fact_probes: Vec::new(),
        });
        if self.servers[server].kind == ServerType::Prometheus {
            let endpoint = self.endpoint_of(server);
            self.fetcher.fetch(now, server, &endpoint, deadline);
            return;
        }
        if self.find_link(server, MAIN_DATABASE).is_none()
            && !self.reachability[server].may_connect(now)
        {
            return;
        }
        let fact_probes = self.fact_probes(now, server);
        let mut probes = vec![Probe::Role];
        probes.extend_from_slice(&fact_probes);
        if list_databases {
            probes.push(Probe::Databases);
        } else {
            self.databases_counted(server, 1);
        }
        if let Some(run) = self.runs[server].as_mut() {
            run.fact_probes = fact_probes;
        }
        let work = probes.into_iter().map(Purpose::Probe).collect();
        self.dispatch(now, server, MAIN_DATABASE, work);
    }

    fn endpoint_of(&self, server: usize) -> Endpoint {
        let target = &self.servers[server].target;
        Endpoint {
            name: target.address.to_string(),
            target: Arc::clone(target),
        }
    }

    /// Hands the fetcher's actions to the runtime and ends the runs of the fetches that ended.
    pub(super) fn follow_fetcher(&mut self, now: Instant) {
        while let Some(action) = self.fetcher.poll_action() {
            self.actions.push_back(action);
        }
        while let Some(FetchEvent::Done { key, fetched }) = self.fetcher.poll_event() {
            let Some(run) = self.runs[key].as_mut() else {
                continue;
            };
            run.snapshot.active = fetched.is_up();
            run.snapshot.fetched = Some(fetched);
            self.finish_run(now, key);
        }
    }

    /// Ends the PostgreSQL runs that have no query outstanding and no work waiting.
    pub(super) fn finish_done_runs(&mut self, now: Instant) {
        for server in 0..self.runs.len() {
            let done = self.servers[server].kind == ServerType::Postgresql
                && self.runs[server]
                    .as_ref()
                    .is_some_and(|run| run.outstanding == 0 && run.waiting.is_empty());
            if done {
                self.finish_run(now, server);
            }
        }
    }

    /// Ends the run of `server`: its snapshot goes to every request waiting for it.
    fn finish_run(&mut self, now: Instant, server: usize) {
        let Some(run) = self.runs[server].take() else {
            return;
        };
        self.late[server] = false;
        self.active[server] = run.snapshot.active;
        let snapshot = Arc::new(run.snapshot);
        self.last[server] = Some((now, Arc::clone(&snapshot)));
        let landed = self.flights.deliver(server, &snapshot);
        self.land(now, landed);
    }

    /// Ends the runs past their deadline: each such server is reported inactive, its partial
    /// rows are dropped and its running queries cancelled (answers of an ended run never reach
    /// the next one). Then the requests past their own deadline are answered early with what
    /// arrived.
    pub(super) fn abandon_late_runs(&mut self, now: Instant) {
        for server in 0..self.runs.len() {
            if self.runs[server]
                .as_ref()
                .is_some_and(|run| run.deadline <= now)
            {
                self.abandon_run(now, server);
            }
        }
        let landed = self.flights.expire(now);
        self.land(now, landed);
    }

    /// Ends the run of `server` at once, as at its deadline; a PostgreSQL server's queries
    /// still running are cancelled.
    pub(super) fn abandon_run(&mut self, now: Instant, server: usize) {
        let Some(run) = self.runs[server].as_mut() else {
            return;
        };
        let (run_id, late) = (run.id, run.outstanding > 0);
        run.outstanding = 0;
        run.snapshot.active = false;
        run.snapshot.rows.clear();
        match self.servers[server].kind {
            ServerType::Postgresql if late => self.cancel_late_queries(now, server, run_id),
            ServerType::Postgresql => {}
            ServerType::Prometheus => {
                tracing::warn!(server = %self.servers[server].name, "missed the scrape deadline");
            }
        }
        self.finish_run(now, server);
        self.late[server] = late;
    }

    /// Answers landed flights: one result each, the servers in the order asked, a server that
    /// did not make it reported inactive. An early answer is [`Event::Partial`], never cached.
    pub(super) fn land(&mut self, now: Instant, landed: Vec<Landed<Ticket, Arc<ServerSnapshot>>>) {
        for flight in landed {
            let servers = flight
                .parts
                .iter()
                .zip(flight.results)
                .map(|(&server, result)| {
                    result.unwrap_or_else(|| {
                        Arc::new(ServerSnapshot {
                            name: self.servers[server].name.clone(),
                            kind: self.servers[server].kind,
                            ..ServerSnapshot::default()
                        })
                    })
                })
                .collect();
            let result = Arc::new(ScrapeResult {
                metrics: Arc::clone(&self.metrics),
                filter: self.filter.clone(),
                servers,
                queries: self.counters,
                alerts: self.settings.alerts.clone(),
                finished: now,
            });
            let tickets = flight.tickets;
            if flight.early {
                self.events.push_back(Event::Partial { result, tickets });
                continue;
            }
            if flight.parts.len() == self.servers.len() && !self.settings.cache_max_age.is_zero() {
                self.cached = Some(Arc::clone(&result));
            }
            self.events.push_back(Event::Finished { result, tickets });
        }
    }
}
