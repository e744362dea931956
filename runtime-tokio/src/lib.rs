//! The tokio runtime of pgexporter.
