//! Identity values parsed at the edge: email addresses, passwords (and UK postcodes, from
//! `domain::postcode`).

/// An email address, trimmed and lower-cased so that uniqueness is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let normalised = raw.trim().to_lowercase();
        if normalised.len() > 254 || !validator::ValidateEmail::validate_email(&normalised) {
            return Err("must be a valid email address");
        }
        Ok(Email(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub use crate::domain::postcode::Postcode;

/// A password as received: never printed, and serialised only as `[redacted]` (validation
/// errors record the values they reject).
#[derive(Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct Password(secrecy::SecretString);

impl Password {
    pub fn expose(&self) -> &str {
        secrecy::ExposeSecret::expose_secret(&self.0)
    }

    pub fn into_secret(self) -> secrecy::SecretString {
        self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl serde::Serialize for Password {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[redacted]")
    }
}

/// The shortest password accepted, in characters.
pub const PASSWORD_MIN_CHARS: usize = 12;

/// The longest password accepted, in bytes (argon2's input stays bounded).
pub const PASSWORD_MAX_BYTES: usize = 1024;

/// Password rules: at least [`PASSWORD_MIN_CHARS`] characters, at most [`PASSWORD_MAX_BYTES`]
/// bytes.
pub fn check_password(password: &str) -> Result<(), &'static str> {
    if password.chars().count() < PASSWORD_MIN_CHARS {
        return Err("must be at least 12 characters");
    }
    if password.len() > PASSWORD_MAX_BYTES {
        return Err("must be at most 1,024 bytes");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_to_lower_case() {
        assert_eq!(Email::parse("  Ann@Example.ORG ").unwrap().as_str(), "ann@example.org");
        assert!(Email::parse("not-an-email").is_err());
        assert!(Email::parse("").is_err());
    }

    #[test]
    fn passwords_need_twelve_characters_and_at_most_1024_bytes() {
        assert!(check_password("short").is_err());
        assert!(check_password("twelve chars").is_ok());
        assert!(check_password(&"x".repeat(1024)).is_ok());
        assert!(check_password(&"x".repeat(1025)).is_err());
        // Characters, not bytes, count towards the minimum.
        assert!(check_password("ééééééééééé").is_err());
        assert!(check_password("éééééééééééé").is_ok());
    }
}

/// An http(s) address as open data needs it (a 360Giving `uri`): `http://` or `https://`, a
/// host, no spaces or control characters, at most 2,000 characters.
pub fn is_web_address(text: &str) -> bool {
    let rest = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"));
    let host = rest.and_then(|r| r.split(['/', '?', '#']).next()).unwrap_or_default();
    text.len() <= 2_000
        && !host.is_empty()
        && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// An organisation identifier as org-id.guide writes them (`GB-CHC-1164883`, `GB-LAE-STO`,
/// `GB-MPR-31234R`), or a 360Giving publisher's own (`360G-xyztrust-123`): a list prefix (two
/// letters, a hyphen, the list's code) or `360G`, then a hyphen and the identifier, no spaces.
pub fn is_organisation_id(text: &str) -> bool {
    let mut parts = text.splitn(3, '-');
    let (Some(country), Some(list), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let listed = country.len() == 2
        && country.chars().all(|c| c.is_ascii_uppercase())
        && !list.is_empty()
        && list.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    (listed || country == "360G")
        && !id.is_empty()
        && text.len() <= 200
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
}

#[cfg(test)]
mod open_data_tests {
    use super::*;

    #[test]
    fn web_addresses_and_organisation_ids() {
        for good in [
            "https://creativecommons.org/licenses/by/4.0/",
            "http://example.org",
            "https://x.example:8443/a?b#c",
        ] {
            assert!(is_web_address(good), "{good}");
        }
        for bad in [
            "example.org",
            "ftp://x",
            "https://",
            "https://a b",
            "javascript:alert(1)",
            "https://ex\u{7}ample",
        ] {
            assert!(!is_web_address(bad), "{bad}");
        }
        for good in [
            "GB-CHC-1164883",
            "GB-LAE-STO",
            "GB-MPR-31234R",
            "GB-SC-SC042386",
            "360G-xyztrust-123",
            "GB-LANI-BFS",
        ] {
            assert!(is_organisation_id(good), "{good}");
        }
        for bad in ["GB-CHC", "gb-chc-1", "GB CHC 1", "CHC-1164883", "GB-CHC-11 64", "GB--1"] {
            assert!(!is_organisation_id(bad), "{bad}");
        }
    }
}
