//! A server's settings and installed extensions, kept between scrapes.
//!
//! Reading them costs PostgreSQL more than most metric queries (`pg_available_extensions`
//! reads every extension's control file from disk) and they seldom change. They are read on a
//! server's first scrape and then again when the role probe's [`Signs`] differ from the last
//! scrape's (a reload, a restart, a promotion, an extension created, updated or dropped: then
//! in that same scrape, one round trip after the role probe), and at the latest once every
//! [`FACTS_MAX_AGE`] (with the role probe). In between, a scrape serves the kept ones.

use std::time::{Duration, Instant};

use crate::link::ConnId;
use crate::metrics::SETTINGS_COLLECTOR;

use super::super::discovery::{self, Extension, Probe, Setting, Signs};
use super::Collector;
use super::extensions::Found;
use super::queries::Purpose;

/// The longest time kept settings and extensions are served without being read again.
pub const FACTS_MAX_AGE: Duration = Duration::from_secs(300);

/// What was last read of one server's settings and extensions, and when.
#[derive(Debug, Clone, Default)]
pub(super) struct KnownFacts {
    signs: Option<Signs>,
    settings: Option<(Instant, Vec<Setting>)>,
    extensions: Option<(Instant, Vec<Extension>)>,
}

impl KnownFacts {
    fn is_young<T>(kept: &Option<(Instant, T)>, now: Instant) -> bool {
        kept.as_ref()
            .is_some_and(|(read, _)| now.saturating_duration_since(*read) < FACTS_MAX_AGE)
    }
}

impl Collector {
    /// The fact probes to send with the role probe when a run of `server` starts: those whose
    /// answer is not kept or is older than [`FACTS_MAX_AGE`].
    pub(super) fn fact_probes(&self, now: Instant, server: usize) -> Vec<Probe> {
        let facts = &self.facts[server];
        let mut probes = Vec::with_capacity(2);
        if !KnownFacts::is_young(&facts.extensions, now) {
            probes.push(Probe::Extensions);
        }
        if self.filter.allows(SETTINGS_COLLECTOR) && !KnownFacts::is_young(&facts.settings, now) {
            probes.push(Probe::Settings);
        }
        probes
    }

    /// The role probe of `server` answered on `conn` with `signs`: each fact the run did not
    /// ask for is asked now when the signs changed (or nothing is kept), else served from
    /// what is kept.
    pub(super) fn signs_read(
        &mut self,
        now: Instant,
        conn: ConnId,
        server: usize,
        signs: Option<Signs>,
    ) {
        let facts = &mut self.facts[server];
        let changed = facts.signs != signs;
        facts.signs = signs;
        let Some(run) = self.runs[server].as_ref() else {
            return;
        };
        let asked = run.fact_probes.clone();
        if !asked.contains(&Probe::Extensions) {
            match self.facts[server].extensions.clone() {
                Some((_, extensions)) if !changed => {
                    self.extensions_read(now, conn, server, extensions);
                }
                _ => self.send_query(
                    conn,
                    Probe::Extensions.sql(),
                    Purpose::Probe(Probe::Extensions),
                ),
            }
        }
        if !asked.contains(&Probe::Settings) && self.filter.allows(SETTINGS_COLLECTOR) {
            match self.facts[server].settings.clone() {
                Some((_, settings)) if !changed => {
                    if let Some(run) = self.runs[server].as_mut() {
                        run.snapshot.settings = settings;
                    }
                }
                _ => self.send_query(conn, Probe::Settings.sql(), Purpose::Probe(Probe::Settings)),
            }
        }
    }

    /// The settings of `server` were read at `now`.
    pub(super) fn settings_read(&mut self, now: Instant, server: usize, settings: Vec<Setting>) {
        self.facts[server].settings = Some((now, settings.clone()));
        if let Some(run) = self.runs[server].as_mut() {
            run.snapshot.settings = settings;
        }
    }

    /// The installed extensions of `server`'s main database were read at `now` (on `conn`).
    pub(super) fn extensions_fetched(
        &mut self,
        now: Instant,
        conn: ConnId,
        server: usize,
        extensions: Vec<Extension>,
    ) {
        self.facts[server].extensions = Some((now, extensions.clone()));
        self.extensions_read(now, conn, server, extensions);
    }

    /// The installed extensions of `server`'s main database are known, read or kept: they
    /// join the run, the FIPS probe goes out on `conn` when the server needs it, and the
    /// extension metrics are planned once every database's extensions are known.
    fn extensions_read(
        &mut self,
        now: Instant,
        conn: ConnId,
        server: usize,
        extensions: Vec<Extension>,
    ) {
        let asks_fips = self
            .links
            .get(&conn)
            .and_then(|link| link.pg.server_version_num())
            .is_some_and(|num| discovery::asks_fips(discovery::version_parts(num).0, &extensions));
        let installed = extensions
            .iter()
            .map(|extension| (extension.name.clone(), extension.version.clone()))
            .collect();
        if let Some(run) = self.runs[server].as_mut() {
            run.snapshot.extensions = extensions;
        }
        if asks_fips {
            self.send_query(conn, Probe::Fips.sql(), Purpose::Probe(Probe::Fips));
        }
        self.extensions_found(now, server, Found::Main(installed));
    }
}
