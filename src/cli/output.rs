//! Printing an answer as `-F` says: text (indented `Key: value` lines, or the bare value for
//! `conf get KEY`), json (the document, compact with sorted keys), or raw (the JSON payload
//! exactly as it arrived).

use pgexporter_core::management::text::{bare_value, conf_get_value, render};
use pgexporter_core::management::{Document, Output};

/// An answer: the parsed document and the JSON it was parsed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The parsed document.
    pub document: Document,
    /// The JSON bytes as received (after decryption and decompression).
    pub json: Vec<u8>,
}

impl Answer {
    /// An answer made on this side (encrypt, decrypt): its JSON is the document's.
    pub fn local(document: Document) -> Answer {
        let json = document.to_json();
        Answer { document, json }
    }
}

/// `conf get KEY` found no such key in the daemon's configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("conf get: the configuration has no key {0}")]
pub struct NoSuchKey(pub String);

/// What to print for `answer` in `format`, ending with a newline. `conf_get_key` is the KEY of
/// `conf get KEY`: with text output and a successful answer only its bare value is printed,
/// and a key the answer lacks is [`NoSuchKey`].
pub fn format_answer(
    format: Output,
    answer: &Answer,
    conf_get_key: Option<&str>,
) -> Result<String, NoSuchKey> {
    match format {
        Output::Text => {
            let document = &answer.document;
            let succeeded = document.outcome.as_ref().is_some_and(|o| o.is_success());
            match (conf_get_key, &document.response) {
                (Some(key), Some(response)) if succeeded => conf_get_value(response, key)
                    .map(|value| format!("{}\n", bare_value(value)))
                    .ok_or_else(|| NoSuchKey(key.to_owned())),
                _ => Ok(render(document)),
            }
        }
        Output::Json => Ok(with_newline(answer.document.to_json())),
        Output::Raw => Ok(with_newline(answer.json.clone())),
    }
}

fn with_newline(bytes: Vec<u8>) -> String {
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgexporter_core::management::{Command, ErrorCode, Header, Object, Outcome};
    use serde_json::json;
    use std::time::Duration;

    /// A conf get answer as the daemon sends it, with its keys in a different order.
    const CONF_GET_JSON: &str = r#"{"Request":{},"Header":{"Timestamp":"20261124235707","Output":0,"Encryption":0,"Compression":0,"Command":9,"ClientVersion":"0.9.0"},"Response":{"ServerVersion":"0.9.0","log_level":{"value":4,"string_value":"info"},"metrics":5002,"server":{"primary":{"port":5432}}},"Outcome":{"Time":"00:00:00","Status":true}}"#;

    fn conf_get_answer() -> Answer {
        Answer {
            document: Document::parse(CONF_GET_JSON.as_bytes()).unwrap(),
            json: CONF_GET_JSON.as_bytes().to_vec(),
        }
    }

    #[test]
    fn conf_get_key_prints_the_bare_value() {
        let answer = conf_get_answer();
        let get = |key| format_answer(Output::Text, &answer, Some(key));
        assert_eq!(get("log_level").unwrap(), "info\n");
        assert_eq!(get("pgexporter.metrics").unwrap(), "5002\n");
        assert_eq!(get("server.primary.port").unwrap(), "5432\n");
        assert_eq!(get("nope"), Err(NoSuchKey("nope".into())));
    }

    #[test]
    fn text_renders_the_whole_document() {
        let text = format_answer(Output::Text, &conf_get_answer(), None).unwrap();
        assert!(
            text.starts_with("Header:\n  ClientVersion: 0.9.0\n  Command: conf get\n"),
            "{text}"
        );
        assert!(
            text.contains("  log_level:\n    string_value: info\n    value: 4\n"),
            "{text}"
        );
        assert!(text.contains("Outcome:\n  Status: true\n"), "{text}");
    }

    #[test]
    fn json_is_sorted_and_raw_is_as_received() {
        let answer = conf_get_answer();
        let json = format_answer(Output::Json, &answer, Some("log_level")).unwrap();
        assert!(
            json.starts_with(r#"{"Header":{"ClientVersion":"0.9.0","Command":9,"#),
            "{json}"
        );
        assert!(json.ends_with("}}\n"), "{json}");
        assert_eq!(json.matches('\n').count(), 1);
        let raw = format_answer(Output::Raw, &answer, None).unwrap();
        assert_eq!(raw, format!("{CONF_GET_JSON}\n"));
    }

    #[test]
    fn a_failed_conf_get_is_rendered_whole() {
        let mut document = Document::request(
            Header::new(Command::ConfGet, Output::Text, "20261124235707"),
            Object::new(),
        );
        document.response = json!({"ServerVersion": "0.9.0"}).as_object().cloned();
        document.outcome = Some(Outcome::failure(ErrorCode::ConfGetError));
        let text =
            format_answer(Output::Text, &Answer::local(document), Some("log_level")).unwrap();
        assert!(
            text.contains("  Error: conf get error\n  Status: false\n"),
            "{text}"
        );
    }

    #[test]
    fn local_answers_print_their_document_as_raw() {
        let mut document = Document::request(
            Header::new(Command::Encrypt, Output::Raw, "20261124235707"),
            Object::new(),
        );
        document.outcome = Some(Outcome::success(Duration::ZERO));
        let answer = Answer::local(document.clone());
        assert_eq!(
            format_answer(Output::Raw, &answer, None)
                .unwrap()
                .trim_end()
                .as_bytes(),
            &document.to_json()[..]
        );
    }
}
