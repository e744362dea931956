//! The samples of `type = prometheus` servers in a scrape's body: each server's families merged
//! with the others', every sample labelled `server` first, after the exporter's own families (a
//! family the body already has is left out), with each server's `up` and fetch duration.

use bytes::BytesMut;

use crate::config::ServerType;
use crate::exposition::Encoder;
use crate::exposition::merge::{Source, typed_families, write_merged};
use crate::fetch::{Fetched, HealthFamilies};

use super::result::{ScrapeResult, ServerSnapshot};

/// 1 when a `type = prometheus` server answered the scrape with a readable body.
pub const PROMETHEUS_UP: &str = "pgexporter_prometheus_up";
/// How long fetching a `type = prometheus` server took.
pub const PROMETHEUS_SCRAPE_DURATION: &str = "pgexporter_prometheus_scrape_duration_seconds";

/// The health families of `type = prometheus` servers.
const HEALTH: HealthFamilies = HealthFamilies {
    up: (
        PROMETHEUS_UP,
        "1 when the type = prometheus server answered this scrape with a readable body, else 0.",
    ),
    duration: (
        PROMETHEUS_SCRAPE_DURATION,
        "Seconds the fetch of the type = prometheus server's /metrics took.",
    ),
};

impl ScrapeResult {
    /// Appends the families of the `type = prometheus` servers to the body that began at
    /// `start` of `out`.
    pub(super) fn render_fetched(&self, encoder: &Encoder, start: usize, out: &mut BytesMut) {
        let remote: Vec<&ServerSnapshot> = self
            .servers
            .iter()
            .map(|server| &**server)
            .filter(|server| server.kind == ServerType::Prometheus)
            .collect();
        if remote.is_empty() {
            return;
        }
        let fetches: Vec<(&str, Option<&Fetched>)> = remote
            .iter()
            .map(|server| (server.name.as_str(), server.fetched.as_deref()))
            .collect();
        HEALTH.write(encoder, out, "server", &fetches);
        let sources: Vec<Source<'_>> = remote
            .iter()
            .filter_map(|server| {
                Some(Source {
                    label: "server",
                    value: &server.name,
                    exposition: server.fetched.as_ref()?.exposition()?,
                })
            })
            .collect();
        let written = typed_families(&out[start..]);
        write_merged(out, encoder.format(), &sources, &|name| {
            written.contains(name)
        });
    }
}
