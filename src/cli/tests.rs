use std::ffi::OsString;

use pgexporter_core::management::frame::Frame;
use pgexporter_core::management::{Command, Compression, Output};
use serde_json::json;

use super::*;

const KEY_BYTES: [u8; 64] = [5; 64];

/// A daemon stand-in: checks the request frame and answers `pong` for any command, framed as
/// the request's header asks.
struct Canned {
    master_key: Option<MasterKey>,
    request: Option<(Frame, Document)>,
}

impl Canned {
    fn new(master_key: Option<MasterKey>) -> Canned {
        Canned {
            master_key,
            request: None,
        }
    }
}

impl Exchange for Canned {
    fn exchange(&mut self, request: &[u8], _log: &mut Log) -> Result<Frame, ExchangeError> {
        let mut buffer = BytesMut::from(request);
        let frame = frame::decode(&mut buffer)
            .unwrap()
            .expect("one whole frame");
        assert!(buffer.is_empty(), "nothing after the frame");
        let json = frame::open(&frame, self.master_key.as_ref()).unwrap();
        let document = Document::parse(&json).unwrap();
        let mut answer = document.clone();
        answer.response = json!({"ServerVersion": "0.9.0", "Pong": true})
            .as_object()
            .cloned();
        answer.outcome = Some(Outcome::Failure { error: 1104 });
        let sealing = self.master_key.as_ref().map(|master_key| Sealing {
            master_key,
            salt: [1; 16],
            iv: [2; 12],
        });
        let mut out = BytesMut::new();
        frame::encode(
            &mut out,
            &answer.to_json(),
            document.header.compression,
            document.header.encryption,
            sealing,
        )
        .unwrap();
        self.request = Some((frame, document));
        Ok(frame::decode(&mut out).unwrap().unwrap())
    }
}

fn ping() -> ServedRequest {
    ServedRequest {
        command: Command::Ping,
        arguments: Default::default(),
        conf_get_key: None,
    }
}

#[test]
fn every_compression_and_encryption_round_trips() {
    let key = MasterKey::from_bytes(KEY_BYTES);
    for compression in Compression::ALL {
        for encryption in Encryption::ALL {
            let settings = FrameSettings {
                output: Output::Json,
                compression,
                encryption,
            };
            let master_key = (encryption != Encryption::None).then(|| key.clone());
            let mut daemon = Canned::new(master_key.clone());
            let answer = ask(
                &mut daemon,
                &ping(),
                settings,
                master_key.as_ref(),
                "20261124235707",
                &mut Log::quiet(),
            )
            .unwrap();
            let (frame, request) = daemon.request.expect("a request was sent");
            assert_eq!(frame.compression, compression);
            assert_eq!(frame.encryption, encryption);
            assert_eq!(request.header.command, 5);
            assert_eq!(request.header.compression, compression);
            assert_eq!(request.header.encryption, encryption);
            assert_eq!(request.header.timestamp, "20261124235707");
            assert_eq!(
                answer.document.response.as_ref().unwrap()["Pong"],
                json!(true),
                "{compression:?} {encryption:?}"
            );
            assert_eq!(Document::parse(&answer.json).unwrap(), answer.document);
        }
    }
}

#[test]
fn encryption_without_a_key_is_refused_before_sending() {
    let settings = FrameSettings {
        output: Output::Text,
        compression: Compression::None,
        encryption: Encryption::Aes256,
    };
    let mut daemon = Canned::new(None);
    let error = ask(&mut daemon, &ping(), settings, None, "t", &mut Log::quiet()).unwrap_err();
    assert!(
        matches!(error, CliError::Encode(EncodeError::NoMasterKey)),
        "{error}"
    );
    assert!(daemon.request.is_none());
}

/// Takes the request like [`Canned`] but answers under another master key.
struct WrongAnswerKey(Canned);

impl Exchange for WrongAnswerKey {
    fn exchange(&mut self, request: &[u8], _log: &mut Log) -> Result<Frame, ExchangeError> {
        self.0.exchange(request, &mut Log::quiet())?;
        let other = MasterKey::from_bytes([6; 64]);
        let sealing = Sealing {
            master_key: &other,
            salt: [1; 16],
            iv: [2; 12],
        };
        let mut out = BytesMut::new();
        frame::encode(
            &mut out,
            b"{}",
            Compression::Gzip,
            Encryption::Aes128,
            Some(sealing),
        )
        .unwrap();
        Ok(frame::decode(&mut out).unwrap().unwrap())
    }
}

#[test]
fn an_answer_under_another_key_does_not_open() {
    let settings = FrameSettings {
        output: Output::Text,
        compression: Compression::Gzip,
        encryption: Encryption::Aes128,
    };
    let key = MasterKey::from_bytes(KEY_BYTES);
    let mut daemon = WrongAnswerKey(Canned::new(Some(key.clone())));
    let error = ask(
        &mut daemon,
        &ping(),
        settings,
        Some(&key),
        "t",
        &mut Log::quiet(),
    )
    .unwrap_err();
    assert!(
        matches!(error, CliError::Open(OpenError::Decrypt(_))),
        "{error}"
    );
    assert!(
        daemon.0.request.is_some(),
        "the request was sent and opened"
    );
}

#[test]
fn failure_lines_name_the_command_and_error() {
    let mut document = ping().document(
        FrameSettings {
            output: Output::Text,
            compression: Compression::None,
            encryption: Encryption::None,
        },
        "t",
    );
    assert_eq!(
        failure_text(&document).as_deref(),
        Some("ping: the answer has no outcome")
    );
    document.outcome = Some(Outcome::failure(ErrorCode::ConfSetUnknownKey));
    assert_eq!(
        failure_text(&document).as_deref(),
        Some("ping failed: unknown configuration key (1104)")
    );
    document.outcome = Some(Outcome::Failure { error: 4242 });
    assert_eq!(
        failure_text(&document).as_deref(),
        Some("ping failed: error 4242 (4242)")
    );
    document.outcome = Some(Outcome::success(std::time::Duration::ZERO));
    assert_eq!(failure_text(&document), None);
}

#[test]
fn the_configuration_file_is_found_like_the_daemon_finds_it() {
    assert_eq!(
        config_path(Some(Path::new("/x/a.conf")), Some(OsString::from("/env"))),
        PathBuf::from("/x/a.conf")
    );
    assert_eq!(
        config_path(None, Some(OsString::from("/env"))),
        PathBuf::from("/env/pgexporter.conf")
    );
    assert_eq!(
        config_path(None, Some(OsString::new())),
        PathBuf::from("/etc/pgexporter/pgexporter.conf")
    );
    assert_eq!(
        config_path(None, None),
        PathBuf::from("/etc/pgexporter/pgexporter.conf")
    );
}
