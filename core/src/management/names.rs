//! The words `pgexporter-cli` uses for the protocol's numbers: command words, `-C`/`-E`/`-F`
//! values, and the names text output shows instead of numbers.

use super::codes::{Command, ErrorCode, Output};
use super::compress::Compression;
use super::frame::Encryption;

impl Command {
    /// The command as typed on the command line, e.g. `status details`, `conf get`.
    pub fn name(self) -> &'static str {
        match self {
            Command::Shutdown => "shutdown",
            Command::Status => "status",
            Command::StatusDetails => "status details",
            Command::Ping => "ping",
            Command::ClearPrometheus => "clear prometheus",
            Command::ConfReload => "conf reload",
            Command::ConfLs => "conf ls",
            Command::ConfGet => "conf get",
            Command::ConfSet => "conf set",
            Command::MasterKey => "master-key",
            Command::UserAdd => "user add",
            Command::UserEdit => "user edit",
            Command::UserDel => "user del",
            Command::UserLs => "user ls",
            Command::Encrypt => "encrypt",
            Command::Decrypt => "decrypt",
        }
    }
}

impl ErrorCode {
    /// A short description for text output, e.g. `unknown configuration key`.
    pub fn description(self) -> &'static str {
        match self {
            ErrorCode::BadPayload => "bad payload",
            ErrorCode::UnknownCommand => "unknown command",
            ErrorCode::Allocation => "allocation failed",
            ErrorCode::StatusInternal => "status failed",
            ErrorCode::StatusNetwork => "status: network error",
            ErrorCode::StatusDetailsInternal => "status details failed",
            ErrorCode::StatusDetailsNetwork => "status details: network error",
            ErrorCode::ConfGetInternal => "conf get failed",
            ErrorCode::ConfGetNetwork => "conf get: network error",
            ErrorCode::ConfGetError => "conf get error",
            ErrorCode::ConfSetInternal => "conf set failed",
            ErrorCode::ConfSetNoRequest => "conf set: no request",
            ErrorCode::ConfSetMissingKeyOrValue => "conf set: missing key or value",
            ErrorCode::ConfSetNoResponse => "conf set: no response",
            ErrorCode::ConfSetUnknownKey => "unknown configuration key",
            ErrorCode::ConfSetUnknownServer => "unknown server",
            ErrorCode::ConfSetNetwork => "conf set: network error",
            ErrorCode::ConfSetError => "error",
            ErrorCode::ConfSetRequiresRestart => "restart required",
            ErrorCode::ConfSetInvalidValue => "invalid value",
        }
    }
}

impl Compression {
    /// The `-C` value: `none`, `gz`, `zstd`, `lz4`, `bz2`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gz",
            Compression::Zstd => "zstd",
            Compression::Lz4 => "lz4",
            Compression::Bzip2 => "bz2",
        }
    }

    /// Parses a `-C` value (case-insensitive); `None` when unknown.
    pub fn from_name(name: &str) -> Option<Compression> {
        let name = name.to_ascii_lowercase();
        Compression::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl Encryption {
    /// The canonical `-E` value: `none`, `aes256`, `aes192`, `aes128`.
    pub fn name(self) -> &'static str {
        match self {
            Encryption::None => "none",
            Encryption::Aes256 => "aes256",
            Encryption::Aes192 => "aes192",
            Encryption::Aes128 => "aes128",
        }
    }

    /// Parses a `-E` value (case-insensitive); `aes` means `aes256`. `None` when unknown.
    pub fn from_name(name: &str) -> Option<Encryption> {
        let name = name.to_ascii_lowercase();
        if name == "aes" {
            return Some(Encryption::Aes256);
        }
        Encryption::ALL.into_iter().find(|e| e.name() == name)
    }
}

impl Output {
    /// The `-F` value: `text`, `json`, `raw`.
    pub fn name(self) -> &'static str {
        match self {
            Output::Text => "text",
            Output::Json => "json",
            Output::Raw => "raw",
        }
    }

    /// Parses a `-F` value (case-insensitive); `None` when unknown.
    pub fn from_name(name: &str) -> Option<Output> {
        let name = name.to_ascii_lowercase();
        Output::ALL.iter().copied().find(|o| o.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_values_round_trip() {
        for compression in Compression::ALL {
            assert_eq!(
                Compression::from_name(compression.name()),
                Some(compression)
            );
        }
        for encryption in Encryption::ALL {
            assert_eq!(Encryption::from_name(encryption.name()), Some(encryption));
        }
        for output in Output::ALL {
            assert_eq!(Output::from_name(output.name()), Some(*output));
        }
        assert_eq!(Encryption::from_name("AES"), Some(Encryption::Aes256));
        assert_eq!(Compression::from_name("GZ"), Some(Compression::Gzip));
        assert_eq!(Compression::from_name("gzip"), None);
        assert_eq!(Output::from_name("yaml"), None);
    }

    #[test]
    fn every_command_and_error_has_a_distinct_name() {
        let mut names: Vec<&str> = Command::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Command::ALL.len());
        let mut descriptions: Vec<&str> = ErrorCode::ALL.iter().map(|e| e.description()).collect();
        descriptions.sort_unstable();
        descriptions.dedup();
        assert_eq!(descriptions.len(), ErrorCode::ALL.len());
        assert_eq!(Command::StatusDetails.name(), "status details");
    }
}
