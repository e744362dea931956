//! The bridge's answers: the merged text body, and the JSON view in the reference's shape.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use serde::Serialize;

use crate::exposition::merge::{Source, plan, write_merged};
use crate::exposition::parse::unescape_label_value;
use crate::exposition::{Encoder, Format, write_sample_value};
use crate::fetch::{Fetched, HealthFamilies};

use super::BridgeResult;

/// 1 when an endpoint answered the bridge scrape with a readable body.
pub const ENDPOINT_UP: &str = "pgexporter_bridge_endpoint_up";
/// How long fetching an endpoint took.
pub const ENDPOINT_SCRAPE_DURATION: &str = "pgexporter_bridge_endpoint_scrape_duration_seconds";

/// The health families of the endpoints.
const HEALTH: HealthFamilies = HealthFamilies {
    up: (
        ENDPOINT_UP,
        "1 when the endpoint answered the bridge scrape with a readable body, else 0.",
    ),
    duration: (
        ENDPOINT_SCRAPE_DURATION,
        "Seconds the fetch of the endpoint's /metrics took.",
    ),
};

/// The label that names where a sample came from.
const ENDPOINT_LABEL: &str = "endpoint";

impl BridgeResult {
    /// The result of the fetches `endpoints` (name, and what the fetch brought), ended at
    /// `finished`, with its body rendered.
    pub(super) fn new(endpoints: Vec<(String, Option<Arc<Fetched>>)>, finished: Instant) -> Self {
        let mut result = BridgeResult {
            endpoints,
            finished,
            body: bytes::Bytes::new(),
        };
        let mut body = BytesMut::new();
        result.render_text(&mut body);
        result.body = body.freeze();
        result
    }

    fn sources(&self) -> Vec<Source<'_>> {
        self.endpoints
            .iter()
            .filter_map(|(name, fetched)| {
                Some(Source {
                    label: ENDPOINT_LABEL,
                    value: name,
                    exposition: fetched.as_ref()?.exposition()?,
                })
            })
            .collect()
    }

    /// The text body: each endpoint's up and fetch duration, then every endpoint's families
    /// merged.
    fn render_text(&self, out: &mut BytesMut) {
        let fetches: Vec<(&str, Option<&Fetched>)> = self
            .endpoints
            .iter()
            .map(|(name, fetched)| (name.as_str(), fetched.as_deref()))
            .collect();
        HEALTH.write(&Encoder::new(Format::Text), out, ENDPOINT_LABEL, &fetches);
        let own = |name: &str| name == ENDPOINT_UP || name == ENDPOINT_SCRAPE_DURATION;
        write_merged(out, Format::Text, &self.sources(), &own);
    }

    /// The JSON view of the result (the reference's `bridge_json`): per family (as in the text
    /// body) `{Name, Help, Type, Definitions: [{Attributes: [{Key, Value}], Values:
    /// [{Timestamp, Value}]}]}`, keyed and ordered by name; each definition is one sample,
    /// its attributes the labels (`endpoint` first, and `__name__` when the sample's name is
    /// not the family's), its value stamped with the Unix time of its fetch. `now` and
    /// `unix_now` (the wall clock at `now`) place the fetches in time.
    pub fn render_json(&self, now: Instant, unix_now: Duration) -> Vec<u8> {
        let sources = self.sources();
        let stamps: Vec<i64> = sources
            .iter()
            .map(|source| {
                let fetched = self
                    .endpoints
                    .iter()
                    .find(|(name, _)| name == source.value)
                    .and_then(|(_, fetched)| fetched.as_ref());
                let age = fetched.map_or(Duration::ZERO, |fetched| {
                    now.saturating_duration_since(fetched.finished)
                });
                i64::try_from(unix_now.saturating_sub(age).as_secs()).unwrap_or(i64::MAX)
            })
            .collect();
        let mut families = BTreeMap::new();
        for group in plan(&sources, Format::Text, &|_| false) {
            let first = &group[0];
            let mut definitions = Vec::new();
            for family in &group {
                let source = &sources[family.source];
                for (name, sample) in family.samples() {
                    let mut attributes = vec![JsonAttribute {
                        key: Cow::Borrowed(ENDPOINT_LABEL),
                        value: Cow::Borrowed(source.value),
                    }];
                    if name != first.name {
                        attributes.push(JsonAttribute {
                            key: Cow::Borrowed("__name__"),
                            value: name.clone(),
                        });
                    }
                    attributes.extend(sample.labels().map(|(key, value)| JsonAttribute {
                        key: Cow::Borrowed(key),
                        value: unescape_label_value(value),
                    }));
                    let mut value = BytesMut::new();
                    write_sample_value(&mut value, sample.value());
                    definitions.push(JsonDefinition {
                        attributes,
                        values: [JsonValue {
                            timestamp: stamps[family.source],
                            value: String::from_utf8_lossy(&value).into_owned(),
                        }],
                    });
                }
            }
            families.insert(
                first.name.clone(),
                JsonFamily {
                    definitions,
                    help: first.family.help().unwrap_or_default(),
                    name: first.name.clone(),
                    kind: first.type_word,
                },
            );
        }
        // Serializing strings and numbers into a Vec cannot fail.
        serde_json::to_vec(&families).unwrap_or_default()
    }
}

#[derive(Serialize)]
struct JsonFamily<'a> {
    #[serde(rename = "Definitions")]
    definitions: Vec<JsonDefinition<'a>>,
    #[serde(rename = "Help")]
    help: Cow<'a, str>,
    #[serde(rename = "Name")]
    name: Cow<'a, str>,
    #[serde(rename = "Type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct JsonDefinition<'a> {
    #[serde(rename = "Attributes")]
    attributes: Vec<JsonAttribute<'a>>,
    #[serde(rename = "Values")]
    values: [JsonValue; 1],
}

#[derive(Serialize)]
struct JsonAttribute<'a> {
    #[serde(rename = "Key")]
    key: Cow<'a, str>,
    #[serde(rename = "Value")]
    value: Cow<'a, str>,
}

#[derive(Serialize)]
struct JsonValue {
    #[serde(rename = "Timestamp")]
    timestamp: i64,
    #[serde(rename = "Value")]
    value: String,
}
