//! The JSON document a management frame carries (SPEC §4.2):
//! `{"Header":{...},"Request":{...},"Response":{...},"Outcome":{...}}`.
//!
//! [`Document::to_json`] writes compact JSON with the keys of every object in byte order,
//! whatever the map type inside `serde_json` (so the `preserve_order` feature cannot change
//! the bytes). [`Document::parse`] reads one back; a request has no `Response` or `Outcome`.

use std::time::Duration;

use serde_json::{Map, Value};
use thiserror::Error;

use super::codes::{Command, ErrorCode, Output};
use super::compress::Compression;
use super::frame::Encryption;

/// The version both sides announce (`ClientVersion`, `ServerVersion`): the reference release
/// whose protocol this implementation speaks.
pub const PROTOCOL_VERSION: &str = "0.9.0";

/// A JSON object as used in `Request` and `Response`.
pub type Object = Map<String, Value>;

/// The `Header` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `ClientVersion`.
    pub client_version: String,
    /// `Command`: the raw number, which may be one no [`Command`] has.
    pub command: u32,
    /// `Compression` the client asks the answer to use.
    pub compression: Compression,
    /// `Encryption` the client asks the answer to use.
    pub encryption: Encryption,
    /// `Output`: how the client prints the answer.
    pub output: Output,
    /// `Timestamp`: local time as `YYYYMMDDHHMMSS`, formatted by the caller.
    pub timestamp: String,
}

impl Header {
    /// A header for `command` with the protocol's client version.
    pub fn new(command: Command, output: Output, timestamp: impl Into<String>) -> Header {
        Header {
            client_version: PROTOCOL_VERSION.to_owned(),
            command: command.code(),
            compression: Compression::None,
            encryption: Encryption::None,
            output,
            timestamp: timestamp.into(),
        }
    }

    /// The command, `None` for an unknown number.
    pub fn command(&self) -> Option<Command> {
        Command::from_code(self.command)
    }
}

/// The `Outcome` object of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `{"Status":true,"Time":"HH:MM:SS"}`.
    Success {
        /// How long the command took, `HH:MM:SS`.
        time: String,
    },
    /// `{"Status":false,"Error":N}`; the raw number, see [`ErrorCode::from_code`].
    Failure {
        /// The error number.
        error: u32,
    },
}

impl Outcome {
    /// A success that took `elapsed`.
    pub fn success(elapsed: Duration) -> Outcome {
        let seconds = elapsed.as_secs();
        Outcome::Success {
            time: format!(
                "{:02}:{:02}:{:02}",
                seconds / 3600,
                seconds / 60 % 60,
                seconds % 60
            ),
        }
    }

    /// A failure with `error`.
    pub fn failure(error: ErrorCode) -> Outcome {
        Outcome::Failure {
            error: error.code(),
        }
    }

    /// Whether the command succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Success { .. })
    }
}

/// A whole document: a request (no response, no outcome) or an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// `Header`.
    pub header: Header,
    /// `Request`: the command's arguments (empty for most commands).
    pub request: Object,
    /// `Response`: present in answers that have one.
    pub response: Option<Object>,
    /// `Outcome`: present in answers.
    pub outcome: Option<Outcome>,
}

/// The bytes are not a management document. The peer sent garbage.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// Not UTF-8 JSON, or JSON nested too deeply.
    #[error("document is not valid JSON")]
    Syntax,
    /// A required member is absent; the text names it, e.g. `Header.Command`.
    #[error("document lacks {0}")]
    Missing(&'static str),
    /// A member has the wrong type or an unknown code; the text names it.
    #[error("document has an invalid {0}")]
    Invalid(&'static str),
}

impl Document {
    /// A request document.
    pub fn request(header: Header, request: Object) -> Document {
        Document {
            header,
            request,
            response: None,
            outcome: None,
        }
    }

    /// Parses a document from its JSON bytes.
    pub fn parse(json: &[u8]) -> Result<Document, DocumentError> {
        let value: Value = serde_json::from_slice(json).map_err(|_| DocumentError::Syntax)?;
        let Value::Object(mut root) = value else {
            return Err(DocumentError::Invalid("document"));
        };
        let header = match root.remove("Header") {
            Some(Value::Object(header)) => parse_header(&header)?,
            Some(_) => return Err(DocumentError::Invalid("Header")),
            None => return Err(DocumentError::Missing("Header")),
        };
        let request = optional_object(&mut root, "Request")?.unwrap_or_default();
        let response = optional_object(&mut root, "Response")?;
        let outcome = optional_object(&mut root, "Outcome")?
            .map(|outcome| parse_outcome(&outcome))
            .transpose()?;
        Ok(Document {
            header,
            request,
            response,
            outcome,
        })
    }

    /// The document as compact JSON, keys in byte order at every level.
    pub fn to_json(&self) -> Vec<u8> {
        let mut root = Object::new();
        root.insert("Header".into(), header_value(&self.header));
        root.insert("Request".into(), Value::Object(self.request.clone()));
        if let Some(response) = &self.response {
            root.insert("Response".into(), Value::Object(response.clone()));
        }
        if let Some(outcome) = &self.outcome {
            root.insert("Outcome".into(), outcome_value(outcome));
        }
        let mut out = Vec::with_capacity(256);
        write_sorted(&mut out, &Value::Object(root));
        out
    }

    /// The value of the request member `key` as text, `None` when absent or not a string.
    pub fn request_text(&self, key: &str) -> Option<&str> {
        self.request.get(key).and_then(Value::as_str)
    }
}

fn optional_object(root: &mut Object, name: &'static str) -> Result<Option<Object>, DocumentError> {
    match root.remove(name) {
        None => Ok(None),
        Some(Value::Object(object)) => Ok(Some(object)),
        Some(_) => Err(DocumentError::Invalid(name)),
    }
}

fn number(object: &Object, key: &str, name: &'static str) -> Result<u32, DocumentError> {
    let value = object.get(key).ok_or(DocumentError::Missing(name))?;
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or(DocumentError::Invalid(name))
}

fn text(object: &Object, key: &str, name: &'static str) -> Result<String, DocumentError> {
    let value = object.get(key).ok_or(DocumentError::Missing(name))?;
    value
        .as_str()
        .map(str::to_owned)
        .ok_or(DocumentError::Invalid(name))
}

fn parse_header(header: &Object) -> Result<Header, DocumentError> {
    let compression = number(header, "Compression", "Header.Compression")?;
    let encryption = number(header, "Encryption", "Header.Encryption")?;
    let output = number(header, "Output", "Header.Output")?;
    Ok(Header {
        client_version: text(header, "ClientVersion", "Header.ClientVersion")?,
        command: number(header, "Command", "Header.Command")?,
        compression: u8::try_from(compression)
            .ok()
            .and_then(Compression::from_code)
            .ok_or(DocumentError::Invalid("Header.Compression"))?,
        encryption: u8::try_from(encryption)
            .ok()
            .and_then(Encryption::from_code)
            .ok_or(DocumentError::Invalid("Header.Encryption"))?,
        output: Output::from_code(output).ok_or(DocumentError::Invalid("Header.Output"))?,
        timestamp: text(header, "Timestamp", "Header.Timestamp")?,
    })
}

fn parse_outcome(outcome: &Object) -> Result<Outcome, DocumentError> {
    match outcome.get("Status") {
        Some(Value::Bool(true)) => Ok(Outcome::Success {
            time: text(outcome, "Time", "Outcome.Time")?,
        }),
        Some(Value::Bool(false)) => Ok(Outcome::Failure {
            error: number(outcome, "Error", "Outcome.Error")?,
        }),
        Some(_) => Err(DocumentError::Invalid("Outcome.Status")),
        None => Err(DocumentError::Missing("Outcome.Status")),
    }
}

fn header_value(header: &Header) -> Value {
    let mut object = Object::new();
    object.insert("ClientVersion".into(), header.client_version.clone().into());
    object.insert("Command".into(), header.command.into());
    object.insert("Compression".into(), header.compression.code().into());
    object.insert("Encryption".into(), header.encryption.code().into());
    object.insert("Output".into(), header.output.code().into());
    object.insert("Timestamp".into(), header.timestamp.clone().into());
    Value::Object(object)
}

fn outcome_value(outcome: &Outcome) -> Value {
    let mut object = Object::new();
    match outcome {
        Outcome::Success { time } => {
            object.insert("Status".into(), true.into());
            object.insert("Time".into(), time.clone().into());
        }
        Outcome::Failure { error } => {
            object.insert("Status".into(), false.into());
            object.insert("Error".into(), (*error).into());
        }
    }
    Value::Object(object)
}

/// Writes `value` as compact JSON with object keys in byte order.
pub fn write_sorted(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_sorted(out, item);
            }
            out.push(b']');
        }
        Value::Object(object) => {
            let mut entries: Vec<(&String, &Value)> = object.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(out, &Value::String(key.clone()));
                out.push(b':');
                write_sorted(out, item);
            }
            out.push(b'}');
        }
        scalar => write_scalar(out, scalar),
    }
}

fn write_scalar(out: &mut Vec<u8>, value: &Value) {
    // Serialising a scalar Value into a Vec cannot fail.
    serde_json::to_writer(out, value).expect("a JSON scalar always serialises");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::{btree_map, vec};
    use proptest::prelude::*;
    use serde_json::json;

    fn ping_request() -> Document {
        Document::request(
            Header::new(Command::Ping, Output::Text, "20261124235707"),
            Object::new(),
        )
    }

    #[test]
    fn request_golden_json() {
        assert_eq!(
            String::from_utf8(ping_request().to_json()).unwrap(),
            r#"{"Header":{"ClientVersion":"0.9.0","Command":5,"Compression":0,"Encryption":0,"Output":0,"Timestamp":"20261124235707"},"Request":{}}"#
        );
    }

    #[test]
    fn keys_are_sorted_at_every_level() {
        let mut document = ping_request();
        document.response = Some(
            json!({"b": 1, "a": {"z": [ {"y": 1, "x": 2} ], "B": null}, "_": "q\"\n"})
                .as_object()
                .unwrap()
                .clone(),
        );
        document.outcome = Some(Outcome::failure(ErrorCode::ConfSetUnknownKey));
        let text = String::from_utf8(document.to_json()).unwrap();
        assert!(text.ends_with(
            r#""Outcome":{"Error":1104,"Status":false},"Request":{},"Response":{"_":"q\"\n","a":{"B":null,"z":[{"x":2,"y":1}]},"b":1}}"#
        ), "{text}");
    }

    #[test]
    fn answers_round_trip() {
        let mut document = ping_request();
        document.response = Some(
            json!({"ServerVersion": "0.9.0"})
                .as_object()
                .unwrap()
                .clone(),
        );
        document.outcome = Some(Outcome::success(Duration::from_secs(3723)));
        assert_eq!(
            document.outcome,
            Some(Outcome::Success {
                time: "01:02:03".into()
            })
        );
        let parsed = Document::parse(&document.to_json()).unwrap();
        assert_eq!(parsed, document);
        assert_eq!(parsed.header.command(), Some(Command::Ping));
    }

    #[test]
    fn garbage_is_a_typed_error() {
        assert_eq!(Document::parse(b"{not json"), Err(DocumentError::Syntax));
        assert_eq!(Document::parse(b"\xff"), Err(DocumentError::Syntax));
        assert_eq!(
            Document::parse(b"[]"),
            Err(DocumentError::Invalid("document"))
        );
        assert_eq!(
            Document::parse(b"{}"),
            Err(DocumentError::Missing("Header"))
        );
        let deep = "[".repeat(100_000);
        assert_eq!(Document::parse(deep.as_bytes()), Err(DocumentError::Syntax));
        let header = |extra: &str| {
            format!(
                r#"{{"Header":{{"ClientVersion":"0.9.0","Command":5,"Compression":0,"Encryption":0,"Output":0,"Timestamp":"t"{extra}}}}}"#
            )
        };
        assert!(Document::parse(header("").as_bytes()).is_ok());
        let bad_compression = header("").replace(r#""Compression":0"#, r#""Compression":9"#);
        assert_eq!(
            Document::parse(bad_compression.as_bytes()),
            Err(DocumentError::Invalid("Header.Compression"))
        );
        let no_command = header("").replace(r#""Command":5,"#, "");
        assert_eq!(
            Document::parse(no_command.as_bytes()),
            Err(DocumentError::Missing("Header.Command"))
        );
        let negative = header("").replace(r#""Command":5"#, r#""Command":-5"#);
        assert_eq!(
            Document::parse(negative.as_bytes()),
            Err(DocumentError::Invalid("Header.Command"))
        );
        let bad_request = header("").replace("}}", r#"},"Request":3}"#);
        assert_eq!(
            Document::parse(bad_request.as_bytes()),
            Err(DocumentError::Invalid("Request"))
        );
        let bad_outcome = header("").replace("}}", r#"},"Outcome":{"Status":1}}"#);
        assert_eq!(
            Document::parse(bad_outcome.as_bytes()),
            Err(DocumentError::Invalid("Outcome.Status"))
        );
    }

    #[test]
    fn an_unknown_command_number_is_kept() {
        let json = ping_request().to_json();
        let text = String::from_utf8(json)
            .unwrap()
            .replace(r#""Command":5"#, r#""Command":99"#);
        let parsed = Document::parse(text.as_bytes()).unwrap();
        assert_eq!(parsed.header.command, 99);
        assert_eq!(parsed.header.command(), None);
    }

    /// Any JSON value a peer could send, nested a few levels.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("JSON has no NaN or infinity", |x| x.is_finite())
                .prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..4).prop_map(Value::from),
                json_object_of(inner).prop_map(Value::Object),
            ]
        })
    }

    fn json_object_of(values: impl Strategy<Value = Value>) -> impl Strategy<Value = Object> {
        btree_map(any::<String>(), values, 0..4).prop_map(|map| map.into_iter().collect())
    }

    fn header() -> impl Strategy<Value = Header> {
        (
            any::<String>(),
            any::<u32>(),
            proptest::sample::select(&Compression::ALL[..]),
            proptest::sample::select(&Encryption::ALL[..]),
            proptest::sample::select(Output::ALL),
            any::<String>(),
        )
            .prop_map(
                |(client_version, command, compression, encryption, output, timestamp)| Header {
                    client_version,
                    command,
                    compression,
                    encryption,
                    output,
                    timestamp,
                },
            )
    }

    fn outcome() -> impl Strategy<Value = Outcome> {
        prop_oneof![
            any::<String>().prop_map(|time| Outcome::Success { time }),
            any::<u32>().prop_map(|error| Outcome::Failure { error }),
        ]
    }

    proptest! {
        #[test]
        fn documents_round_trip(
            header in header(),
            request in json_object_of(json_value()),
            response in proptest::option::of(json_object_of(json_value())),
            outcome in proptest::option::of(outcome()),
        ) {
            let document = Document { header, request, response, outcome };
            let json = document.to_json();
            prop_assert_eq!(Document::parse(&json), Ok(document));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..300)) {
            if let Ok(document) = Document::parse(&bytes) {
                prop_assert_eq!(Document::parse(&document.to_json()), Ok(document));
            }
        }
    }
}
