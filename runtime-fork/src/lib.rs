//! The fork-per-request runtime of pgexporter.
