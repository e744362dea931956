//! Extension versions, compared as versions: `1.10` is above `1.9`, `3.0` equals `3.0.0`, and a
//! pre-release (`2.5.0-beta1`, `1.6dev`) is below its release.

use std::cmp::Ordering;
use std::fmt;

/// Most numeric components a version may have.
const MAX_COMPONENTS: usize = 8;

/// Longest version text accepted.
const MAX_LEN: usize = 64;

/// A version of an extension, as `pg_extension.extversion` and definition files write it:
/// dot-separated numbers, optionally followed by a pre-release suffix.
///
/// Equality follows the ordering: `3.0` equals `3`.
#[derive(Debug, Clone)]
pub struct ExtensionVersion {
    /// The numeric components, trailing zeros removed so that `3.0` equals `3`.
    numbers: Vec<u32>,
    /// What follows the numbers (`beta1` of `2.5.0-beta1`), empty for a release.
    suffix: String,
    /// The text as written.
    text: String,
}

/// Why a version text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is not an extension version (numbers separated by dots, like 1.10 or 2.0.2)")]
pub struct VersionError {
    /// The text, shortened when long.
    pub text: String,
}

impl ExtensionVersion {
    /// Reads `text`: one to eight dot-separated numbers, then an optional suffix that starts
    /// with a letter, `-`, `_` or `~` (`1.10`, `2.0.2`, `0.8.0`, `2.5.0-beta1`, `1.6dev`).
    pub fn parse(text: &str) -> Result<ExtensionVersion, VersionError> {
        let refuse = || VersionError {
            text: text.chars().take(MAX_LEN).collect(),
        };
        let text = text.trim();
        if text.is_empty() || text.len() > MAX_LEN {
            return Err(refuse());
        }
        let numeric_end = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (numeric, suffix) = text.split_at(numeric_end);
        if !suffix.is_empty()
            && !suffix.starts_with(|c: char| c.is_ascii_alphabetic() || "-_~".contains(c))
        {
            return Err(refuse());
        }
        let mut numbers = Vec::new();
        for part in numeric.split('.') {
            if numbers.len() == MAX_COMPONENTS {
                return Err(refuse());
            }
            numbers.push(part.parse::<u32>().map_err(|_| refuse())?);
        }
        while numbers.len() > 1 && numbers.last() == Some(&0) {
            numbers.pop();
        }
        Ok(ExtensionVersion {
            numbers,
            suffix: suffix.trim_start_matches(['-', '_', '~']).to_owned(),
            text: text.to_owned(),
        })
    }

    /// The lowest version there is: a variant for it applies to every installed version.
    pub fn lowest() -> ExtensionVersion {
        ExtensionVersion {
            numbers: vec![0],
            suffix: String::new(),
            text: "0".to_owned(),
        }
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Ord for ExtensionVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let length = self.numbers.len().max(other.numbers.len());
        let component = |numbers: &[u32], index: usize| numbers.get(index).copied().unwrap_or(0);
        (0..length)
            .map(|index| component(&self.numbers, index).cmp(&component(&other.numbers, index)))
            .find(|ordering| ordering.is_ne())
            .unwrap_or_else(|| match (self.suffix.is_empty(), other.suffix.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.suffix.cmp(&other.suffix),
            })
    }
}

impl PartialEq for ExtensionVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for ExtensionVersion {}

impl PartialOrd for ExtensionVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ExtensionVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> ExtensionVersion {
        ExtensionVersion::parse(text).unwrap()
    }

    #[test]
    fn components_compare_as_numbers() {
        assert!(v("1.10") > v("1.9"));
        assert!(v("1.11") > v("1.10"));
        assert!(v("2.10.0") > v("2.9.9"));
        assert!(v("2.0.2") > v("2.0"));
        assert!(v("0.3.1") > v("0.3.0"));
        assert!(v("12.0") > v("11.0"));
    }

    #[test]
    fn trailing_zeros_do_not_count() {
        assert_eq!(v("3.0").cmp(&v("3")), Ordering::Equal);
        assert_eq!(v("3.0.0").cmp(&v("3.0")), Ordering::Equal);
        assert_eq!(v("2.10.0").cmp(&v("2.10")), Ordering::Equal);
        assert_eq!(v("1.10").as_str(), "1.10");
    }

    #[test]
    fn a_pre_release_is_below_its_release() {
        assert!(v("2.5.0-beta1") < v("2.5.0"));
        assert!(v("2.5.0-beta1") > v("2.4.9"));
        assert!(v("1.6dev") < v("1.6"));
        assert!(v("2.5.0-beta1") < v("2.5.0-beta2"));
    }

    #[test]
    fn garbage_is_refused() {
        for text in [
            "",
            " ",
            "abc",
            "1..2",
            ".1",
            "1.x",
            "1.2.3.4.5.6.7.8.9",
            "99999999999",
            "1+2",
        ] {
            assert!(ExtensionVersion::parse(text).is_err(), "{text:?}");
        }
        let long = "1".repeat(100);
        let error = ExtensionVersion::parse(&long).unwrap_err();
        assert_eq!(error.text.len(), MAX_LEN);
    }

    #[test]
    fn the_lowest_version_is_below_every_other() {
        assert!(ExtensionVersion::lowest() <= v("0"));
        assert!(ExtensionVersion::lowest() < v("0.0.1"));
        assert!(ExtensionVersion::lowest() < v("1.0"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
            let _ = ExtensionVersion::parse(&text);
        }

        #[test]
        fn ordering_is_consistent(a in "[0-9]{1,3}(\\.[0-9]{1,3}){0,3}", b in "[0-9]{1,3}(\\.[0-9]{1,3}){0,3}") {
            let (a, b) = (v(&a), v(&b));
            proptest::prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        }
    }
}
