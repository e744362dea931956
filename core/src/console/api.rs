//! The `/api` answer: `{"status", "version", "categories": [{"name", "metrics": [{"name",
//! "type", "help", "server", "labels", "value"}]}]}`, one metric entry per sample.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use crate::exposition::Format;
use crate::exposition::strict_parser::{ParsedFamily, parse};
use crate::scrape::EXPORTER_VERSION;

/// Prefix every family of the exporter has; categories are named without it.
const PREFIX: &str = "pgexporter_";

/// The most name words a category spans.
const MAX_CATEGORY_WORDS: usize = 3;

/// The `/api` JSON of the exposition text `text`; families without samples are left out. Text that does not read (it always does when
/// it comes from the encoder) is answered with an `error` and no categories.
pub fn api_json(text: &str) -> String {
    let families = match parse(text, Format::Text) {
        Ok(families) => families,
        Err(error) => {
            let answer = json!({"status": "running", "version": EXPORTER_VERSION,
                                "error": error, "categories": []});
            return answer.to_string();
        }
    };
    let families: Vec<&ParsedFamily> = families
        .iter()
        .filter(|family| !family.samples.is_empty())
        .collect();
    let names: Vec<&str> = families.iter().map(|family| family.name.as_str()).collect();
    let categories = categories(&names);
    let mut grouped: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for (family, category) in families.iter().zip(&categories) {
        grouped
            .entry(category.as_str())
            .or_default()
            .extend(entries(family));
    }
    let categories: Vec<Value> = grouped
        .into_iter()
        .map(|(name, metrics)| json!({"name": name, "metrics": metrics}))
        .collect();
    json!({"status": "running", "version": EXPORTER_VERSION, "categories": categories}).to_string()
}

/// One entry per sample of `family`; the `server` label is lifted out of `labels`.
fn entries(family: &ParsedFamily) -> impl Iterator<Item = Value> + '_ {
    family.samples.iter().map(move |sample| {
        let mut labels = Map::new();
        let mut server = Value::Null;
        for (name, value) in &sample.labels {
            if name == "server" {
                server = Value::from(value.as_str());
            } else {
                labels.insert(name.clone(), Value::from(value.as_str()));
            }
        }
        json!({
            "name": sample.name,
            "type": family.type_word,
            "help": family.help.as_deref().unwrap_or(""),
            "server": server,
            "labels": labels,
            "value": number(sample.value),
        })
    })
}

/// A sample value as JSON: a number, or `"NaN"`, `"+Inf"`, `"-Inf"`, which JSON cannot hold.
fn number(value: f64) -> Value {
    if value.is_finite() {
        json!(value)
    } else if value.is_nan() {
        Value::from("NaN")
    } else if value > 0.0 {
        Value::from("+Inf")
    } else {
        Value::from("-Inf")
    }
}

/// The category of each of `families`: see [`category_of`].
fn categories(families: &[&str]) -> Vec<String> {
    let mut shared: HashMap<&str, usize> = HashMap::new();
    for family in families {
        for prefix in prefixes(family) {
            *shared.entry(prefix).or_default() += 1;
        }
    }
    families
        .iter()
        .map(|family| category_of(family, |prefix| shared.get(prefix).copied().unwrap_or(0)))
        .collect()
}

/// The category of `family`: the longest run of its first words (up to three, never the whole
/// name) that another family starts with too (`count` says how many families start with a
/// prefix); else its first word. Without the `pgexporter_` prefix.
///
/// ```
/// use pgexporter_core::console::category_of;
///
/// let count = |prefix: &str| usize::from(prefix.starts_with("pg_stat")) * 2;
/// assert_eq!(category_of("pgexporter_pg_stat_database_xact_commit", count), "pg_stat_database");
/// assert_eq!(category_of("pgexporter_state", count), "state");
/// ```
pub fn category_of(family: &str, count: impl Fn(&str) -> usize) -> String {
    let bare = family.strip_prefix(PREFIX).unwrap_or(family);
    prefixes(family)
        .into_iter()
        .rev()
        .find(|prefix| count(prefix) > 1)
        .map_or_else(
            || bare.split('_').next().unwrap_or(bare).to_owned(),
            |prefix| prefix.to_owned(),
        )
}

/// The runs of first words of `family` (without the prefix) a category may be, shortest
/// first: up to [`MAX_CATEGORY_WORDS`] words, never the whole name.
fn prefixes(family: &str) -> Vec<&str> {
    let bare = family.strip_prefix(PREFIX).unwrap_or(family);
    bare.match_indices('_')
        .take(MAX_CATEGORY_WORDS)
        .map(|(end, _)| &bare[..end])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP pgexporter_state The state.\n# TYPE pgexporter_state gauge\n\
        pgexporter_state 1\n\
        # HELP pgexporter_pg_stat_database_xact_commit Commits.\n\
        # TYPE pgexporter_pg_stat_database_xact_commit counter\n\
        pgexporter_pg_stat_database_xact_commit{server=\"primary\",database=\"<b>x</b>\"} 12\n\
        # HELP pgexporter_pg_stat_database_blks_hit Hits.\n\
        # TYPE pgexporter_pg_stat_database_blks_hit counter\n\
        pgexporter_pg_stat_database_blks_hit{server=\"replica\",database=\"postgres\"} NaN\n\
        # HELP pgexporter_empty_family Nothing.\n# TYPE pgexporter_empty_family gauge\n";

    #[test]
    fn samples_are_grouped_by_shared_prefix_with_their_labels() {
        let answer: Value = serde_json::from_str(&api_json(TEXT)).unwrap();
        assert_eq!(answer["status"], "running");
        assert_eq!(answer["version"], EXPORTER_VERSION);
        let categories = answer["categories"].as_array().unwrap();
        let names: Vec<&str> = categories
            .iter()
            .map(|category| category["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["pg_stat_database", "state"]);
        let metrics = categories[0]["metrics"].as_array().unwrap();
        assert_eq!(metrics.len(), 2);
        assert_eq!(
            metrics[0],
            json!({"name": "pgexporter_pg_stat_database_xact_commit", "type": "counter",
                   "help": "Commits.", "server": "primary",
                   "labels": {"database": "<b>x</b>"}, "value": 12.0})
        );
        assert_eq!(metrics[1]["value"], "NaN");
        assert_eq!(categories[1]["metrics"][0]["server"], Value::Null);
    }

    #[test]
    fn text_that_does_not_read_is_an_error_answer() {
        let answer: Value = serde_json::from_str(&api_json("garbage")).unwrap();
        assert!(answer["error"].is_string());
        assert_eq!(answer["categories"], json!([]));
    }

    #[test]
    fn a_lone_family_is_its_first_word() {
        assert_eq!(
            categories(&[
                "pgexporter_version",
                "pgexporter_logging_info",
                "pgexporter_logging_warn"
            ]),
            ["version", "logging", "logging"]
        );
    }
}
