//! Targets for the text formats read from files and from query results: configuration,
//! metric definitions, vault files and values, PostgreSQL array text.

use pgexporter_core::config::{load_ini, load_toml};
use pgexporter_core::exposition::value::{parse_array, parse_number_array};
use pgexporter_core::metrics::{
    DEFAULT_TOP_STATEMENTS, Source, SourceFormat, parse_extension_source, parse_source,
};
use pgexporter_core::vault::master_key::MASTER_KEY_LEN;
use pgexporter_core::vault::{self, Cipher, CredentialsFile, FileKind, MasterKey, MasterKeyFile};

use super::text;

/// The master key every vault target decrypts with; the seed values were encrypted with it.
pub const FUZZ_MASTER_KEY: [u8; MASTER_KEY_LEN] = [0x5a; MASTER_KEY_LEN];

/// The array limits `exposition_array` parses with: one small enough to be hit often.
const ARRAY_LIMITS: [usize; 2] = [4, 1024];

/// `config_ini`: [`load_ini`] on the input as text, with no environment variables set.
pub fn config_ini(data: &[u8]) {
    if let Some(text) = text(data) {
        let _ = load_ini(text, "pgexporter.conf", &|_| None);
    }
}

/// `config_toml`: [`load_toml`] on the input as text, with no environment variables set.
pub fn config_toml(data: &[u8]) {
    if let Some(text) = text(data) {
        let _ = load_toml(text, "pgexporter.toml", &|_| None);
    }
}

/// `metrics_yaml`: [`parse_source`] and [`parse_extension_source`] on the input as YAML text.
pub fn metrics_yaml(data: &[u8]) {
    metrics(data, "metrics.yaml", SourceFormat::Yaml);
}

/// `metrics_json`: [`parse_source`] and [`parse_extension_source`] on the input as JSON text.
pub fn metrics_json(data: &[u8]) {
    metrics(data, "metrics.json", SourceFormat::Json);
}

fn metrics(data: &[u8], name: &str, format: SourceFormat) {
    if let Some(text) = text(data) {
        let source = Source::new(name, text, format);
        let _ = parse_source(&source);
        let _ = parse_extension_source(&source, DEFAULT_TOP_STATEMENTS);
    }
}

/// `vault_credentials`: [`CredentialsFile::parse`] on the input as a users file; a file that
/// parses must render to text that parses back to it, and each entry is decrypted with
/// [`FUZZ_MASTER_KEY`].
pub fn vault_credentials(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let Ok(file) = CredentialsFile::parse(text, FileKind::Users) else {
        return;
    };
    let rendered = file.render();
    let reparsed = CredentialsFile::parse(&rendered, FileKind::Users);
    assert_eq!(
        reparsed.as_ref(),
        Ok(&file),
        "a rendered file must parse back to itself"
    );
    let key = MasterKey::from_bytes(FUZZ_MASTER_KEY);
    for entry in file.entries() {
        let _ = entry.decrypt(&key);
    }
}

/// `vault_blob`: [`vault::decode`] on the input as text, and [`vault::decrypt`] with
/// [`FUZZ_MASTER_KEY`] and each cipher.
pub fn vault_blob(data: &[u8]) {
    let Some(text) = text(data) else { return };
    if vault::blob::decode(text).is_err() {
        return;
    }
    let key = MasterKey::from_bytes(FUZZ_MASTER_KEY);
    for cipher in [Cipher::Aes256, Cipher::Aes192, Cipher::Aes128] {
        let _ = vault::decrypt(&key, text, cipher);
    }
}

/// `master_key`: [`MasterKeyFile::parse`] on the input as text; a file that parses must render
/// to text that parses back to it. The slow key derivation is not run.
pub fn master_key(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let Ok(file) = MasterKeyFile::parse(text) else {
        return;
    };
    let rendered = file.render();
    let rendered = rendered
        .expose_str()
        .expect("a rendered master key file is text");
    assert_eq!(
        MasterKeyFile::parse(rendered).as_ref(),
        Ok(&file),
        "a rendered master key file must parse back to itself"
    );
}

/// `exposition_array`: [`parse_array`] and [`parse_number_array`] on the input as text, with a
/// small and a large element limit; neither may return more elements than the limit.
pub fn exposition_array(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let mut elements = Vec::new();
    let mut numbers = Vec::new();
    for limit in ARRAY_LIMITS {
        let _ = parse_array(text, limit, &mut elements);
        assert!(elements.len() <= limit, "more elements than the limit");
        let _ = parse_number_array(text, limit, &mut numbers);
        assert!(numbers.len() <= limit, "more numbers than the limit");
    }
}
