//! Finding the extensions installed in each database of a server during a scrape, and queueing
//! the extension metrics once every database has answered.
//!
//! The main database's extensions come from the `Extensions` probe (`pg_available_extensions`,
//! read once per scrape); every other database's from a `DatabaseExtensions` probe
//! (`pg_extension`) sent first on its connection. Extension metrics are planned when the
//! database list and all of these have arrived (or failed), so an extension created, updated
//! or dropped between two scrapes changes the metrics of the next one.

use std::time::Instant;

use super::super::discovery::Probe;
use super::super::plan::{
    InstalledExtensions, MAIN_DATABASE, plan_extension_queries, wants_extensions,
};
use super::Collector;
use super::queries::Purpose;

/// One server's extension discovery in the running scrape.
#[derive(Debug, Default)]
pub(super) struct ExtensionDiscovery {
    /// What was found so far: database → extension → version.
    installed: InstalledExtensions,
    /// The main database's probe has answered.
    main_known: bool,
    /// The database list has answered, or is not asked for: no more probes will be sent.
    list_known: bool,
    /// Per-database probes sent and not answered yet.
    awaiting: usize,
    /// The extension metrics were queued.
    planned: bool,
}

impl ExtensionDiscovery {
    /// The discovery of a scrape that asks for the database list when `list_requested`.
    pub(super) fn new(list_requested: bool) -> Self {
        ExtensionDiscovery {
            list_known: !list_requested,
            ..ExtensionDiscovery::default()
        }
    }

    /// Once the main database, the database list and every per-database probe have answered:
    /// the extensions found, handed out once per scrape.
    fn take_when_complete(&mut self) -> Option<InstalledExtensions> {
        if !self.main_known || !self.list_known || self.awaiting > 0 || self.planned {
            return None;
        }
        self.planned = true;
        Some(std::mem::take(&mut self.installed))
    }

    /// Notes the extensions (name and version) installed in `database`.
    fn record(&mut self, database: &str, installed: Vec<(String, String)>) {
        if !installed.is_empty() {
            self.installed
                .entry(database.to_owned())
                .or_default()
                .extend(installed);
        }
    }
}

/// What arrived for one server's discovery.
pub(super) enum Found<'a> {
    /// The main database's extensions: name and version (none when the probe failed).
    Main(Vec<(String, String)>),
    /// Another database's extensions (none when the probe failed).
    Database(&'a str, Vec<(String, String)>),
    /// The database list was handled: every per-database probe has been sent.
    DatabaseList,
}

impl Collector {
    /// The `DatabaseExtensions` probe for a database of `server` other than the main one,
    /// counted as awaited, when some extension metric may run on `server`; the caller sends it
    /// first on that database's connection.
    pub(super) fn database_extensions_probe(&mut self, server: usize) -> Option<Purpose> {
        if !wants_extensions(&self.metrics, &self.filter, &self.servers[server].name) {
            return None;
        }
        let run = self.runs[server].as_mut()?;
        run.extensions.awaiting += 1;
        Some(Purpose::Probe(Probe::DatabaseExtensions))
    }

    /// Records what arrived for `server`'s discovery, and queues the extension metrics once
    /// all is known.
    pub(super) fn extensions_found(&mut self, now: Instant, server: usize, found: Found<'_>) {
        let Some(run) = self.runs[server].as_mut() else {
            return;
        };
        let discovery = &mut run.extensions;
        match found {
            Found::Main(installed) => {
                discovery.main_known = true;
                discovery.record(MAIN_DATABASE, installed);
            }
            Found::Database(database, installed) => {
                discovery.awaiting = discovery.awaiting.saturating_sub(1);
                discovery.record(database, installed);
            }
            Found::DatabaseList => discovery.list_known = true,
        }
        if let Some(installed) = discovery.take_when_complete() {
            self.queue_extension_metrics(now, server, &installed);
        }
    }

    /// Sends the extension metrics of `server` to the databases they run in.
    fn queue_extension_metrics(
        &mut self,
        now: Instant,
        server: usize,
        installed: &InstalledExtensions,
    ) {
        let Some(profile) = self.profile_of(server) else {
            return;
        };
        let planned = plan_extension_queries(
            &self.metrics,
            &self.filter,
            &self.servers[server].name,
            profile,
            installed,
        );
        for (database, queries) in planned {
            let work = self.metric_work(now, server, &database, &queries);
            self.dispatch(now, server, &database, work);
        }
    }
}
