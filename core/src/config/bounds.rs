//! The range of every value that has one, matched to what the value feeds. Loading a file,
//! SIGHUP and `conf reload` (which load the file) and `conf set` all validate through
//! [`validate`](super::validate()), so a value refused by one path is refused by every path.
//!
//! | key | accepted | because |
//! |---|---|---|
//! | `metrics_query_timeout` | 0 (off), 50ms to 2147483647ms | it becomes `statement_timeout`, whose range ends there |
//! | `metrics_cache_max_age` | 0 (off) to 1d | a body older than that is not worth serving |
//! | `metrics_cache_max_size` | 0 to 1M | the cached body is held in memory |
//! | `authentication_timeout` | 1s to 1h | every request and login must finish within it; 0 would drop every client |
//! | `blocking_timeout` | 0 (off), 100ms to 1h | a PostgreSQL connection (TCP, TLS, authentication) must be established within it |
//! | `log_rotation_age` | 0 (off), 1m to 3650d | a shorter age makes a file every few lines |
//! | `log_rotation_size` | 0 (off), 1M and up | a smaller size makes a file every few lines |
//! | `log_line_prefix` | a strftime pattern of at most 128 bytes | it starts every log line |
//! | `log_path` | a strftime pattern | it names the log file |
//! | `backlog` | 1 to 65535 | the kernel's own limit |
//! | `extensions_top_statements` | 1 to 1000 | each statement is a series in every per-statement family |
//! | `max_connections_per_server` | 1 to 1000 | each is a backend of the server; 0 would collect nothing |
//! | `unix_socket_dir`, a server's socket `host` | a socket path of at most 107 bytes | a Unix socket address holds no more |
//! | every other duration | 0 to 3650d | |

use std::time::Duration;

use super::error::Problem;
use super::model::{
    MAX_EXTENSIONS_TOP_STATEMENTS, MAX_MAX_CONNECTIONS_PER_SERVER, MAX_METRICS_CACHE_MAX_SIZE,
    MIN_METRICS_QUERY_TIMEOUT, MainConfig, ServerConfig,
};
use super::strftime;
use super::values::{render_duration, render_size};

/// The longest `log_line_prefix`, in bytes.
pub const MAX_LOG_LINE_PREFIX: usize = 128;

/// The longest path of a Unix socket, in bytes (`sun_path` holds 108 with the final NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// The longest `metrics_query_timeout`: `statement_timeout` is an `int` of milliseconds.
pub const MAX_METRICS_QUERY_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

const SECOND: u64 = 1_000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
/// The longest duration any key takes: ten years.
const MAX_ANY_DURATION: u64 = 3650 * DAY;

/// How a bounded value is measured and shown.
#[derive(Clone, Copy)]
enum Unit {
    /// A duration, in milliseconds.
    Millis,
    /// A size, in bytes.
    Bytes,
    /// A plain count.
    Count,
}

impl Unit {
    fn render(self, value: u64) -> String {
        match self {
            Unit::Millis => render_duration(Duration::from_millis(value)),
            Unit::Bytes => render_size(value),
            Unit::Count => value.to_string(),
        }
    }
}

/// The range of one key of `[pgexporter]`.
struct Range {
    key: &'static str,
    unit: Unit,
    /// Whether 0 is accepted as "off" below `min`.
    zero_is_off: bool,
    min: u64,
    max: u64,
    read: fn(&MainConfig) -> u64,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The ranges of the keys that have one of their own; every other duration gets
/// [`MAX_ANY_DURATION`].
const RANGES: [Range; 15] = [
    Range {
        key: "metrics_query_timeout",
        unit: Unit::Millis,
        zero_is_off: true,
        min: MIN_METRICS_QUERY_TIMEOUT.as_millis() as u64,
        max: MAX_METRICS_QUERY_TIMEOUT.as_millis() as u64,
        read: |main| millis(main.metrics_query_timeout),
    },
    Range {
        key: "metrics_cache_max_age",
        unit: Unit::Millis,
        zero_is_off: false,
        min: 0,
        max: DAY,
        read: |main| millis(main.metrics_cache_max_age),
    },
    Range {
        key: "metrics_cache_max_size",
        unit: Unit::Bytes,
        zero_is_off: false,
        min: 0,
        max: MAX_METRICS_CACHE_MAX_SIZE,
        read: |main| main.metrics_cache_max_size,
    },
    Range {
        key: "authentication_timeout",
        unit: Unit::Millis,
        zero_is_off: false,
        min: SECOND,
        max: HOUR,
        read: |main| millis(main.authentication_timeout),
    },
    Range {
        key: "blocking_timeout",
        unit: Unit::Millis,
        zero_is_off: true,
        min: 100,
        max: HOUR,
        read: |main| millis(main.blocking_timeout),
    },
    Range {
        key: "log_rotation_age",
        unit: Unit::Millis,
        zero_is_off: true,
        min: MINUTE,
        max: MAX_ANY_DURATION,
        read: |main| millis(main.log_rotation_age),
    },
    Range {
        key: "log_rotation_size",
        unit: Unit::Bytes,
        zero_is_off: true,
        min: 1 << 20,
        max: u64::MAX,
        read: |main| main.log_rotation_size,
    },
    Range {
        key: "backlog",
        unit: Unit::Count,
        zero_is_off: false,
        min: 1,
        max: 65_535,
        read: |main| u64::from(main.backlog),
    },
    Range {
        key: "extensions_top_statements",
        unit: Unit::Count,
        zero_is_off: false,
        min: 1,
        max: MAX_EXTENSIONS_TOP_STATEMENTS as u64,
        read: |main| u64::from(main.extensions_top_statements),
    },
    Range {
        key: "max_connections_per_server",
        unit: Unit::Count,
        zero_is_off: false,
        min: 1,
        max: MAX_MAX_CONNECTIONS_PER_SERVER as u64,
        read: |main| u64::from(main.max_connections_per_server),
    },
    any_duration("bridge_cache_max_age", |main| {
        millis(main.bridge_cache_max_age)
    }),
    any_duration("history_interval", |main| millis(main.history_interval)),
    any_duration("history_retention", |main| millis(main.history_retention)),
    any_duration("bridge_history_interval", |main| {
        millis(main.bridge_history_interval)
    }),
    any_duration("bridge_history_retention", |main| {
        millis(main.bridge_history_retention)
    }),
];

/// A duration key with no range of its own: at most [`MAX_ANY_DURATION`].
const fn any_duration(key: &'static str, read: fn(&MainConfig) -> u64) -> Range {
    Range {
        key,
        unit: Unit::Millis,
        zero_is_off: false,
        min: 0,
        max: MAX_ANY_DURATION,
        read,
    }
}

impl Range {
    fn check(&self, main: &MainConfig) -> Result<(), Problem> {
        let value = (self.read)(main);
        let off = self.zero_is_off && value == 0;
        if off || (self.min..=self.max).contains(&value) {
            return Ok(());
        }
        let mut range = if self.zero_is_off {
            "0 (off) or ".to_owned()
        } else {
            String::new()
        };
        range.push_str(&self.unit.render(self.min));
        if self.max == u64::MAX {
            range.push_str(" or more");
        } else {
            range.push_str(" to ");
            range.push_str(&self.unit.render(self.max));
        }
        Err(Problem::OutOfRange {
            value: self.unit.render(value),
            range,
        })
    }
}

/// The first value of `[pgexporter]` outside its range, with its key.
pub(super) fn check_main(main: &MainConfig) -> Result<(), (&'static str, Problem)> {
    for range in &RANGES {
        range.check(main).map_err(|problem| (range.key, problem))?;
    }
    if main.log_line_prefix.len() > MAX_LOG_LINE_PREFIX {
        return Err((
            "log_line_prefix",
            Problem::TooLong {
                length: main.log_line_prefix.len(),
                max: MAX_LOG_LINE_PREFIX,
            },
        ));
    }
    for (key, pattern) in [
        ("log_line_prefix", &main.log_line_prefix),
        ("log_path", &main.log_path),
    ] {
        strftime::check(pattern).map_err(|error| (key, Problem::Pattern(error)))?;
    }
    socket_path(&main.unix_socket_dir, crate::plan::MANAGEMENT_SOCKET)
        .map_err(|problem| ("unix_socket_dir", problem))
}

/// The first value of a server section outside its range, with its key.
pub(super) fn check_server(server: &ServerConfig) -> Result<(), (&'static str, Problem)> {
    if server.host.starts_with('/') {
        let socket = format!(".s.PGSQL.{}", server.port);
        socket_path(&server.host, &socket).map_err(|problem| ("host", problem))?;
    }
    Ok(())
}

/// Refuses a directory in which the socket `name` has a path too long for a Unix socket.
fn socket_path(directory: &str, name: &str) -> Result<(), Problem> {
    let length = directory.trim_end_matches('/').len() + 1 + name.len();
    if length > MAX_SOCKET_PATH {
        return Err(Problem::SocketPathTooLong {
            length,
            max: MAX_SOCKET_PATH,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(change: impl FnOnce(&mut MainConfig)) -> Option<(&'static str, Problem)> {
        let mut main = MainConfig {
            unix_socket_dir: "/tmp".into(),
            ..MainConfig::default()
        };
        change(&mut main);
        check_main(&main).err()
    }

    #[test]
    fn the_defaults_are_in_range() {
        assert_eq!(problem(|_| {}), None);
    }

    #[test]
    fn the_query_timeout_stays_within_statement_timeout() {
        assert_eq!(
            problem(|main| main.metrics_query_timeout = Duration::from_secs(25 * 86_400)),
            Some((
                "metrics_query_timeout",
                Problem::OutOfRange {
                    value: "25d".into(),
                    range: "0 (off) or 50ms to 2147483647ms".into()
                }
            ))
        );
        assert_eq!(
            problem(|main| main.metrics_query_timeout = MAX_METRICS_QUERY_TIMEOUT),
            None
        );
        assert!(problem(|main| main.metrics_query_timeout = Duration::from_millis(49)).is_some());
        assert_eq!(
            problem(|main| main.metrics_query_timeout = Duration::ZERO),
            None
        );
    }

    #[test]
    fn every_range_has_an_edge_on_each_side() {
        for range in &RANGES {
            let too_small = (range.min > 0)
                .then(|| range.min - 1)
                .filter(|value| !(range.zero_is_off && *value == 0));
            let too_large = (range.max < u64::MAX).then(|| range.max + 1);
            for value in [too_small, too_large].into_iter().flatten() {
                let mut main = MainConfig::default();
                // A value the key's syntax refuses never reaches the range.
                if set(&mut main, range.key, value).is_ok() {
                    assert_eq!((range.read)(&main), value, "{}", range.key);
                    assert!(range.check(&main).is_err(), "{} = {value}", range.key);
                }
            }
            for value in [range.min, range.max] {
                let mut main = MainConfig::default();
                set(&mut main, range.key, value).unwrap();
                assert!(range.check(&main).is_ok(), "{} = {value}", range.key);
            }
        }
    }

    /// Sets `key` through the key table from its value in the range's unit.
    fn set(main: &mut MainConfig, key: &str, value: u64) -> Result<(), ()> {
        let text = match key {
            "backlog" | "extensions_top_statements" | "max_connections_per_server" => {
                value.to_string()
            }
            "metrics_cache_max_size" | "log_rotation_size" => value.to_string(),
            _ => format!("{value}ms"),
        };
        super::super::keys::assign_main(main, key, &text, &|_| None)
            .map(drop)
            .map_err(drop)
    }

    #[test]
    fn the_log_prefix_is_a_short_strftime_pattern() {
        assert_eq!(
            problem(|main| main.log_line_prefix = "%Q%".into()).map(|(key, _)| key),
            Some("log_line_prefix")
        );
        assert_eq!(
            problem(|main| main.log_line_prefix = "x".repeat(1 << 20)),
            Some((
                "log_line_prefix",
                Problem::TooLong {
                    length: 1 << 20,
                    max: MAX_LOG_LINE_PREFIX
                }
            ))
        );
        assert_eq!(
            problem(|main| main.log_path = "/var/log/%Y-%".into()).map(|(key, _)| key),
            Some("log_path")
        );
    }

    #[test]
    fn socket_paths_fit_a_socket_address() {
        let long = format!("/{}", "d".repeat(100));
        assert_eq!(
            problem(|main| main.unix_socket_dir = long.clone()),
            Some((
                "unix_socket_dir",
                Problem::SocketPathTooLong {
                    length: 115,
                    max: MAX_SOCKET_PATH
                }
            ))
        );
        let mut server = ServerConfig::new("s");
        server.host = long;
        server.port = 5432;
        assert_eq!(check_server(&server).map_err(|(key, _)| key), Err("host"));
        server.host = "/var/run/postgresql".into();
        assert_eq!(check_server(&server), Ok(()));
    }
}
