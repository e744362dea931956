//! The smol runtime of pgexporter.
