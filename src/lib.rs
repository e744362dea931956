//! File and terminal work shared by the pgexporter binaries: reading configuration and vault
//! files from disk and handing their contents to the core.

pub mod admin_args;
pub mod alert_files;
pub mod cli;
pub mod config_args;
pub mod config_files;
pub mod daemon_args;
pub mod daemon_host;
pub mod logging;
pub mod manual;
pub mod metric_files;
pub mod plan_inputs;
pub mod process;
pub mod prompt;
pub mod vault_files;
