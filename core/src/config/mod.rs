//! Configuration: `pgexporter.conf` (INI) or its TOML form, read into a typed [`Config`].
//!
//! Nothing here reads files or the environment: the caller passes the text, a file name for
//! messages, and a lookup for `$VAR` expansion.
//!
//! - [`load_ini`] / [`load_toml`]: text to a validated [`Config`] plus [`Warning`]s, or one
//!   [`ConfigError`] naming file, line and key.
//! - [`Config::string_value`] / [`Config::set`]: one key by name, for `conf get` / `conf set`.
//! - [`Config::to_ini`]: the configuration written back as INI.
//! - [`IniDocument`]: a file edited in place (a key set or removed, a section removed) with
//!   its comments and layout kept, for `pgexporter-config`.
//! - [`diff`]: what a reload would change and whether it needs a restart.
//! - [`MainConfig::override_collectors`]: `-C` / `-X` from the command line.
//!
//! Decisions beyond the reference: a key repeated in a section is a warning and the last value
//! wins; a configuration without server sections is an error unless `bridge` is set.

mod access;
pub mod bounds;
mod error;
pub mod ini;
mod ini_edit;
mod key_docs;
mod keys;
mod load;
mod model;
mod reload;
pub mod strftime;
mod toml;
mod validate;
pub mod values;

pub use access::{RenderError, SetError, SetOutcome};
pub use bounds::{MAX_LOG_LINE_PREFIX, MAX_METRICS_QUERY_TIMEOUT, MAX_SOCKET_PATH};
pub use error::{ConfigError, ErrorKind, Problem, Warning, WarningKind};
pub use ini_edit::{EditError, IniDocument};
pub use key_docs::{KeyDoc, MAIN_KEY_DOCS, SERVER_KEY_DOCS};
pub use keys::{
    IGNORED_MAIN_KEYS, IGNORED_SERVER_KEYS, KeyInfo, MAIN_KEYS, PATH_KEYS, Reload, SERVER_KEYS,
    main_value, reload_class, server_value,
};
pub use load::{Loaded, MAIN_SECTION, RESERVED_SECTION, load_ini};
pub use model::{
    BridgeEndpoint, Config, DEFAULT_HISTORY_RETENTION, DEFAULT_METRICS_CACHE_MAX_SIZE,
    HistoryBackend, Hugepage, LogLevel, LogMode, LogType, MAX_METRICS_CACHE_MAX_SIZE, MAX_SERVERS,
    MIN_METRICS_QUERY_TIMEOUT, MainConfig, ProcessTitle, ServerConfig, ServerType, TlsMode,
};
pub use reload::{Change, ChangeKind, ReloadPlan, Scope, diff};
pub use toml::{SERVERS_TABLE, load_toml};
pub use validate::{Violation, validate};
pub use values::{EnvLookup, ValueError};
