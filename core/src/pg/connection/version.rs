//! `server_version` text to the `server_version_num` form.

/// Converts a `server_version` value such as `15.18 (Debian 15.18-1.pgdg120+1)`, `13.4`,
/// `16beta1` or `9.6.24` to the numeric form PostgreSQL uses in `server_version_num`
/// (150018, 130004, 160000, 90624). Returns `None` when the text does not start with a number.
pub(crate) fn server_version_num(version: &str) -> Option<u32> {
    let mut numbers = version
        .split(|c: char| !c.is_ascii_digit() && c != '.')
        .next()?
        .split('.')
        .map(|part| part.parse::<u32>().ok());
    let major = numbers.next()??;
    let minor = numbers.next().flatten().unwrap_or(0);
    if major >= 10 {
        major.checked_mul(10_000)?.checked_add(minor.min(9_999))
    } else {
        let patch = numbers.next().flatten().unwrap_or(0);
        Some(major * 10_000 + minor.min(99) * 100 + patch.min(99))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_release_and_development_versions() {
        assert_eq!(
            server_version_num("15.18 (Debian 15.18-1.pgdg120+1)"),
            Some(150_018)
        );
        assert_eq!(server_version_num("13.4"), Some(130_004));
        assert_eq!(server_version_num("17.0"), Some(170_000));
        assert_eq!(server_version_num("16beta1"), Some(160_000));
        assert_eq!(server_version_num("18devel"), Some(180_000));
        assert_eq!(server_version_num("9.6.24"), Some(90_624));
        assert_eq!(server_version_num("9.6"), Some(90_600));
        assert_eq!(server_version_num("Debian"), None);
        assert_eq!(server_version_num(""), None);
        assert_eq!(server_version_num("99999999999.1"), None);
    }
}
