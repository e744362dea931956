//! How `pgexporter-cli` prints an answer: text output (indented `Key: value` lines, two spaces
//! a level, list items `- `, numeric codes shown as names) and the bare value of one
//! configuration key for `conf get KEY`.

use std::fmt::Write as _;

use serde_json::Value;

use super::codes::{Command, ErrorCode};
use super::document::{Document, Object, Outcome};

/// The whole document as text, sections and keys in byte order, ending with a newline.
pub fn render(document: &Document) -> String {
    let mut root = Object::new();
    root.insert("Header".into(), Value::Object(named_header(document)));
    root.insert("Request".into(), Value::Object(document.request.clone()));
    if let Some(response) = &document.response {
        root.insert("Response".into(), Value::Object(response.clone()));
    }
    if let Some(outcome) = &document.outcome {
        root.insert("Outcome".into(), Value::Object(named_outcome(outcome)));
    }
    let mut text = String::new();
    write_object(&mut text, &root, 0);
    text
}

fn named_header(document: &Document) -> Object {
    let header = &document.header;
    let mut object = Object::new();
    object.insert("ClientVersion".into(), header.client_version.clone().into());
    let command = Command::from_code(header.command)
        .map_or_else(|| header.command.to_string(), |c| c.name().to_owned());
    object.insert("Command".into(), command.into());
    object.insert("Compression".into(), header.compression.name().into());
    object.insert("Encryption".into(), header.encryption.name().into());
    object.insert("Output".into(), header.output.name().into());
    object.insert("Timestamp".into(), header.timestamp.clone().into());
    object
}

fn named_outcome(outcome: &Outcome) -> Object {
    let mut object = Object::new();
    match outcome {
        Outcome::Success { time } => {
            object.insert("Status".into(), true.into());
            object.insert("Time".into(), time.clone().into());
        }
        Outcome::Failure { error } => {
            object.insert("Status".into(), false.into());
            let shown = ErrorCode::from_code(*error)
                .map_or_else(|| error.to_string(), |e| e.description().to_owned());
            object.insert("Error".into(), shown.into());
        }
    }
    object
}

/// A scalar as text: strings bare, `null` empty.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn write_object(out: &mut String, object: &Object, indent: usize) {
    let mut entries: Vec<(&String, &Value)> = object.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    for (key, value) in entries {
        write_entry(out, key, value, indent);
    }
}

fn write_entry(out: &mut String, key: &str, value: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(object) => {
            // Writing to a String cannot fail.
            let _ = writeln!(out, "{pad}{key}:");
            write_object(out, object, indent + 2);
        }
        Value::Array(items) => {
            let _ = writeln!(out, "{pad}{key}:");
            write_items(out, items, indent + 2);
        }
        other => {
            let _ = writeln!(out, "{pad}{key}: {}", scalar(other));
        }
    }
}

fn write_items(out: &mut String, items: &[Value], indent: usize) {
    let pad = " ".repeat(indent);
    for item in items {
        match item {
            Value::Object(object) => {
                let mut nested = String::new();
                write_object(&mut nested, object, indent + 2);
                // The first line of the item takes the dash in place of its indentation.
                let _ = write!(out, "{pad}- {}", nested.trim_start());
            }
            Value::Array(inner) => {
                let _ = writeln!(out, "{pad}-");
                write_items(out, inner, indent + 2);
            }
            other => {
                let _ = writeln!(out, "{pad}- {}", scalar(other));
            }
        }
    }
}

/// The value of one key in a `conf get` response: `KEY` or `pgexporter.KEY` for a main key,
/// `server.NAME.KEY` (or `NAME.KEY`) for a server key; `None` when absent.
pub fn conf_get_value<'a>(response: &'a Object, address: &str) -> Option<&'a Value> {
    let address = address.strip_prefix("pgexporter.").unwrap_or(address);
    if let Some(value) = response.get(address) {
        return Some(value);
    }
    let (server, key) = address
        .strip_prefix("server.")
        .unwrap_or(address)
        .rsplit_once('.')?;
    response.get("server")?.get(server)?.get(key)
}

/// The bare text of a configuration value: the `string_value` of a typed value, else the
/// scalar as text.
pub fn bare_value(value: &Value) -> String {
    match value.get("string_value") {
        Some(text) => scalar(text),
        None => scalar(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::management::codes::Output;
    use crate::management::document::Header;
    use serde_json::json;
    use std::time::Duration;

    fn status_answer() -> Document {
        let mut document = Document::request(
            Header::new(Command::Status, Output::Text, "20261124235707"),
            Object::new(),
        );
        document.response = json!({
            "NumberOfServers": 2,
            "ServerVersion": "0.9.0",
            "Servers": [
                {"Active": false, "Server": "primary"},
                {"Active": true, "Server": "replica"}
            ]
        })
        .as_object()
        .cloned();
        document.outcome = Some(Outcome::success(Duration::ZERO));
        document
    }

    #[test]
    fn status_as_text() {
        assert_eq!(
            render(&status_answer()),
            "Header:\n  ClientVersion: 0.9.0\n  Command: status\n  Compression: none\n  \
             Encryption: none\n  Output: text\n  Timestamp: 20261124235707\nOutcome:\n  \
             Status: true\n  Time: 00:00:00\nRequest:\nResponse:\n  NumberOfServers: 2\n  \
             ServerVersion: 0.9.0\n  Servers:\n    - Active: false\n      Server: primary\n    \
             - Active: true\n      Server: replica\n"
        );
    }

    #[test]
    fn errors_and_unknown_numbers_as_text() {
        let mut document = status_answer();
        document.header.command = 99;
        document.outcome = Some(Outcome::failure(ErrorCode::ConfSetUnknownKey));
        let text = render(&document);
        assert!(text.contains("  Command: 99\n"), "{text}");
        assert!(
            text.contains("Outcome:\n  Error: unknown configuration key\n  Status: false\n"),
            "{text}"
        );
        document.outcome = Some(Outcome::Failure { error: 4242 });
        assert!(render(&document).contains("  Error: 4242\n"));
    }

    #[test]
    fn nested_lists_and_scalars() {
        let mut document = status_answer();
        document.response = json!({"a": [1, [2, "x"], null]}).as_object().cloned();
        let text = render(&document);
        assert!(
            text.contains("Response:\n  a:\n    - 1\n    -\n      - 2\n      - x\n    - \n"),
            "{text}"
        );
    }

    #[test]
    fn conf_get_lookups() {
        let response = json!({
            "log_level": {"string_value": "info", "value": 4},
            "host": "*",
            "metrics": 5002,
            "server": {"primary": {"port": 5432, "tls": {"string_value": "try", "value": 1}}}
        });
        let response = response.as_object().unwrap();
        let get = |address| conf_get_value(response, address).map(bare_value);
        assert_eq!(get("log_level").as_deref(), Some("info"));
        assert_eq!(get("pgexporter.host").as_deref(), Some("*"));
        assert_eq!(get("metrics").as_deref(), Some("5002"));
        assert_eq!(get("server.primary.port").as_deref(), Some("5432"));
        assert_eq!(get("primary.tls").as_deref(), Some("try"));
        assert_eq!(get("server.replica.port"), None);
        assert_eq!(get("nope"), None);
    }
}
