//! The numbers of the management document: commands, output formats and error codes (SPEC §4.2).

/// Declares a `u32`-coded enum with `code`, `from_code` and `ALL`.
macro_rules! coded_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every variant, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The number on the wire.
            pub fn code(self) -> u32 {
                match self {
                    $($name::$variant => $code,)*
                }
            }

            /// The variant of a number; `None` when no variant has it.
            pub fn from_code(code: u32) -> Option<$name> {
                match code {
                    $($code => Some($name::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

coded_enum!(
    /// The `Command` of a document's header.
    Command {
        /// 2: stop the daemon.
        Shutdown = 2,
        /// 3: server list with their state.
        Status = 3,
        /// 4: status with FIPS details.
        StatusDetails = 4,
        /// 5: is the daemon alive.
        Ping = 5,
        /// 6: reset the Prometheus counters and the cached body.
        ClearPrometheus = 6,
        /// 7: reload the configuration file.
        ConfReload = 7,
        /// 8: the paths of the configuration files.
        ConfLs = 8,
        /// 9: the running configuration.
        ConfGet = 9,
        /// 10: change one key of the running configuration.
        ConfSet = 10,
        /// 11: `pgexporter-admin master-key` (local tool output only).
        MasterKey = 11,
        /// 12: `user add` (local tool output only).
        UserAdd = 12,
        /// 13: `user edit` (local tool output only).
        UserEdit = 13,
        /// 14: `user del` (local tool output only).
        UserDel = 14,
        /// 15: `user ls` (local tool output only).
        UserLs = 15,
        /// 16: `pgexporter-cli encrypt` (local tool output only).
        Encrypt = 16,
        /// 17: `pgexporter-cli decrypt` (local tool output only).
        Decrypt = 17,
    }
);

impl Command {
    /// Whether the daemon answers this command; 11–17 are local tools whose documents are
    /// only printed.
    pub fn is_served(self) -> bool {
        self.code() <= Command::ConfSet.code()
    }
}

coded_enum!(
    /// The `Output` of a document's header: how the client prints the answer.
    Output {
        /// 0: indented `Key: value` text.
        Text = 0,
        /// 1: the JSON document.
        Json = 1,
        /// 2: the bare value.
        Raw = 2,
    }
);

coded_enum!(
    /// The `Error` of a failed outcome.
    ErrorCode {
        /// 1: the request payload could not be read.
        BadPayload = 1,
        /// 2: the command is unknown (or not served over this transport).
        UnknownCommand = 2,
        /// 3: the server ran out of memory.
        Allocation = 3,
        /// 700: status could not be produced.
        StatusInternal = 700,
        /// 701: status could not be sent.
        StatusNetwork = 701,
        /// 800: status details could not be produced.
        StatusDetailsInternal = 800,
        /// 801: status details could not be sent.
        StatusDetailsNetwork = 801,
        /// 1000: conf get could not be produced.
        ConfGetInternal = 1000,
        /// 1001: conf get could not be sent.
        ConfGetNetwork = 1001,
        /// 1002: conf get failed.
        ConfGetError = 1002,
        /// 1100: conf set failed internally.
        ConfSetInternal = 1100,
        /// 1101: conf set without a request object.
        ConfSetNoRequest = 1101,
        /// 1102: conf set without `ConfigKey` or `ConfigValue`.
        ConfSetMissingKeyOrValue = 1102,
        /// 1103: conf set could not build its response.
        ConfSetNoResponse = 1103,
        /// 1104: conf set of an unknown key.
        ConfSetUnknownKey = 1104,
        /// 1105: conf set of a key of an unknown server.
        ConfSetUnknownServer = 1105,
        /// 1106: conf set could not be sent.
        ConfSetNetwork = 1106,
        /// 1107: a generic failure, also a failed or refused reload.
        ConfSetError = 1107,
        /// 1108: the change needs a restart.
        ConfSetRequiresRestart = 1108,
        /// 1109: the value is not valid for the key.
        ConfSetInvalidValue = 1109,
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_numbers_are_those_of_the_spec() {
        let codes: Vec<u32> = Command::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(codes, (2..=17).collect::<Vec<_>>());
        assert_eq!(Command::Ping.code(), 5);
        assert_eq!(Command::ConfSet.code(), 10);
        assert_eq!(Command::from_code(1), None);
        assert_eq!(Command::from_code(18), None);
        for command in Command::ALL {
            assert_eq!(Command::from_code(command.code()), Some(*command));
        }
        assert!(Command::ConfSet.is_served());
        assert!(!Command::MasterKey.is_served());
    }

    #[test]
    fn error_numbers_are_those_of_the_spec() {
        let codes: Vec<u32> = ErrorCode::ALL.iter().map(|c| c.code()).collect();
        let expected: Vec<u32> = [1, 2, 3, 700, 701, 800, 801, 1000, 1001, 1002]
            .into_iter()
            .chain(1100..=1109)
            .collect();
        assert_eq!(codes, expected);
        for error in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(error.code()), Some(*error));
        }
        assert_eq!(ErrorCode::from_code(4), None);
    }

    #[test]
    fn output_numbers() {
        assert_eq!(Output::Text.code(), 0);
        assert_eq!(Output::Json.code(), 1);
        assert_eq!(Output::Raw.code(), 2);
        assert_eq!(Output::from_code(3), None);
    }
}
