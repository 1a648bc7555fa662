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
