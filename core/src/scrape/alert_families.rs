//! The `pgexporter_alert_<name>` families of a scrape result.

use bytes::BytesMut;

use crate::alerts::{Alert, AlertKind};
use crate::exposition::{Encoder, MetricType};

use super::result::{ScrapeResult, ServerSnapshot};

impl ScrapeResult {
    /// One gauge family per alert, labelled `server`, `alert` and `type`: 1 firing, 0 not, for
    /// every server the alert applies to. A query alert has no sample for a server that did
    /// not answer or whose alert query failed.
    pub(super) fn render_alerts(&self, encoder: &Encoder, out: &mut BytesMut) {
        let Some(set) = &self.alerts else {
            return;
        };
        for (index, alert) in set.alerts().iter().enumerate() {
            let name = alert.family();
            let mut family = encoder.family(out, &name, &alert.description, MetricType::Gauge);
            for server in self.postgresql() {
                if !alert.servers.includes(&server.name) {
                    continue;
                }
                if let Some(firing) = firing(alert, index, server) {
                    let labels = [
                        ("server", server.name.as_str()),
                        ("alert", alert.name.as_str()),
                        ("type", alert.kind.as_str()),
                    ];
                    family.sample(&labels, f64::from(u8::from(firing)));
                }
            }
        }
    }
}

/// Whether `alert`, at `index` of its set, fires on `server`; `None` when nothing is known.
fn firing(alert: &Alert, index: usize, server: &ServerSnapshot) -> Option<bool> {
    match alert.kind {
        AlertKind::Connection => Some(!server.active),
        AlertKind::Query if server.active => server
            .alerts
            .iter()
            .find(|value| value.alert == index)
            .map(|value| alert.fires(value.value)),
        AlertKind::Query => None,
    }
}
