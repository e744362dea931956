//! File and terminal work shared by the pgexporter binaries: reading configuration and vault
//! files from disk and handing their contents to the core.

pub mod alert_files;
pub mod cli;
pub mod config_files;
pub mod daemon_host;
pub mod logging;
pub mod metric_files;
pub mod plan_inputs;
pub mod process;
pub mod prompt;
pub mod vault_files;
