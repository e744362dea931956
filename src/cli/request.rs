//! From a command line to what to do: a request document for the daemon, or a local file job.

use std::path::PathBuf;

use pgexporter_core::management::{
    Command, Compression, Document, Encryption, Header, Object, Output,
};

use super::args::{ClearTarget, CliCommand, ConfCommand, StatusDetails};
use super::files::{Direction, FileJob};

/// `Request` member naming the key of `conf set`.
pub const CONFIG_KEY: &str = "ConfigKey";
/// `Request` member holding the value of `conf set`.
pub const CONFIG_VALUE: &str = "ConfigValue";

/// What a command asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    /// A request the daemon answers.
    Served(ServedRequest),
    /// `encrypt` or `decrypt`: local file work, no socket.
    File(FileJob),
}

/// A command for the daemon, with its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedRequest {
    /// The command number.
    pub command: Command,
    /// The `Request` object.
    pub arguments: Object,
    /// For `conf get KEY`: the key whose bare value text output prints.
    pub conf_get_key: Option<String>,
}

/// How the frames of a request are written and its answer printed (`-F`, `-C`, `-E`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSettings {
    /// `-F`.
    pub output: Output,
    /// `-C`.
    pub compression: Compression,
    /// `-E`.
    pub encryption: Encryption,
}

impl Job {
    /// The job of a parsed command.
    pub fn of(command: &CliCommand) -> Job {
        let served = |command: Command| ServedRequest {
            command,
            arguments: Object::new(),
            conf_get_key: None,
        };
        let file = |direction, source: &PathBuf, destination: &Option<PathBuf>| {
            Job::File(FileJob::new(direction, source.clone(), destination.clone()))
        };
        match command {
            CliCommand::Ping => Job::Served(served(Command::Ping)),
            CliCommand::Shutdown => Job::Served(served(Command::Shutdown)),
            CliCommand::Status { details: None } => Job::Served(served(Command::Status)),
            CliCommand::Status {
                details: Some(StatusDetails::Details),
            } => Job::Served(served(Command::StatusDetails)),
            CliCommand::Clear(ClearTarget::Prometheus) => {
                Job::Served(served(Command::ClearPrometheus))
            }
            CliCommand::Conf(ConfCommand::Reload) => Job::Served(served(Command::ConfReload)),
            CliCommand::Conf(ConfCommand::Ls) => Job::Served(served(Command::ConfLs)),
            CliCommand::Conf(ConfCommand::Get { key }) => Job::Served(ServedRequest {
                // The daemon always sends the whole configuration; the client picks the key.
                conf_get_key: key.clone(),
                ..served(Command::ConfGet)
            }),
            CliCommand::Conf(ConfCommand::Set { key, value }) => {
                let mut arguments = Object::new();
                arguments.insert(CONFIG_KEY.to_owned(), key.clone().into());
                arguments.insert(CONFIG_VALUE.to_owned(), value.clone().into());
                Job::Served(ServedRequest {
                    arguments,
                    ..served(Command::ConfSet)
                })
            }
            CliCommand::Encrypt { file: source, out } => file(Direction::Encrypt, source, out),
            CliCommand::Decrypt { file: source, out } => file(Direction::Decrypt, source, out),
        }
    }
}

impl ServedRequest {
    /// The request document stamped `timestamp`, asking for the answer in `settings`.
    pub fn document(&self, settings: FrameSettings, timestamp: &str) -> Document {
        let mut header = Header::new(self.command, settings.output, timestamp);
        header.compression = settings.compression;
        header.encryption = settings.encryption;
        Document::request(header, self.arguments.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::Args;
    use clap::Parser;

    fn job(words: &[&str]) -> Job {
        let args =
            Args::try_parse_from(std::iter::once("pgexporter-cli").chain(words.iter().copied()))
                .unwrap();
        Job::of(&args.command)
    }

    fn served(words: &[&str]) -> ServedRequest {
        match job(words) {
            Job::Served(request) => request,
            Job::File(file) => panic!("{words:?} is a file job: {file:?}"),
        }
    }

    const SETTINGS: FrameSettings = FrameSettings {
        output: Output::Text,
        compression: Compression::None,
        encryption: Encryption::None,
    };

    #[test]
    fn command_numbers() {
        let cases: [(&[&str], u32); 9] = [
            (&["shutdown"], 2),
            (&["status"], 3),
            (&["status", "details"], 4),
            (&["ping"], 5),
            (&["clear", "prometheus"], 6),
            (&["conf", "reload"], 7),
            (&["conf", "ls"], 8),
            (&["conf", "get"], 9),
            (&["conf", "set", "log_level", "debug"], 10),
        ];
        for (words, number) in cases {
            let document = served(words).document(SETTINGS, "20261124235707");
            assert_eq!(document.header.command, number, "{words:?}");
        }
    }

    #[test]
    fn ping_request_golden_json() {
        let document = served(&["ping"]).document(SETTINGS, "20261124235707");
        assert_eq!(
            String::from_utf8(document.to_json()).unwrap(),
            r#"{"Header":{"ClientVersion":"0.9.0","Command":5,"Compression":0,"Encryption":0,"Output":0,"Timestamp":"20261124235707"},"Request":{}}"#
        );
    }

    #[test]
    fn conf_set_carries_key_and_value() {
        let settings = FrameSettings {
            output: Output::Json,
            compression: Compression::Lz4,
            encryption: Encryption::Aes128,
        };
        let document =
            served(&["conf", "set", "primary.port", "5433"]).document(settings, "20261124235707");
        assert_eq!(
            String::from_utf8(document.to_json()).unwrap(),
            r#"{"Header":{"ClientVersion":"0.9.0","Command":10,"Compression":3,"Encryption":3,"Output":1,"Timestamp":"20261124235707"},"Request":{"ConfigKey":"primary.port","ConfigValue":"5433"}}"#
        );
    }

    #[test]
    fn conf_get_key_stays_on_the_client() {
        let request = served(&["conf", "get", "server.primary.port"]);
        assert_eq!(request.conf_get_key.as_deref(), Some("server.primary.port"));
        assert!(request.document(SETTINGS, "t").request.is_empty());
        assert_eq!(served(&["conf", "get"]).conf_get_key, None);
    }

    #[test]
    fn encrypt_and_decrypt_are_file_jobs() {
        assert_eq!(
            job(&["encrypt", "a.txt"]),
            Job::File(FileJob::new(Direction::Encrypt, "a.txt".into(), None))
        );
        assert_eq!(
            job(&["decrypt", "a.txt.aes", "b"]),
            Job::File(FileJob::new(
                Direction::Decrypt,
                "a.txt.aes".into(),
                Some("b".into())
            ))
        );
    }
}
