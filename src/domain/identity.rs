//! Identity values parsed at the edge: email addresses, UK postcodes, passwords.

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

/// A UK postcode, upper-cased with one space before the inward code (`SW1A 1AA`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Postcode(String);

impl Postcode {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        const MESSAGE: &str = "must be a UK postcode, e.g. SW1A 1AA";
        let compact: String = raw
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if !(5..=7).contains(&compact.len()) || !compact.is_ascii() {
            return Err(MESSAGE);
        }
        let (outward, inward) = compact.split_at(compact.len() - 3);
        let inward_ok = matches!(inward.as_bytes(), [d, a, b] if d.is_ascii_digit() && a.is_ascii_alphabetic() && b.is_ascii_alphabetic());
        if !inward_ok || !(outward_code_is_valid(outward) || outward == "GIR") {
            return Err(MESSAGE);
        }
        Ok(Postcode(format!("{outward} {inward}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Outward codes have the shapes A9, A99, AA9, AA99, A9A and AA9A.
fn outward_code_is_valid(outward: &str) -> bool {
    let b = outward.as_bytes();
    let letter = |c: u8| c.is_ascii_alphabetic();
    let digit = |c: u8| c.is_ascii_digit();
    match b {
        [a, n] => letter(*a) && digit(*n),
        [a, x, y] => letter(*a) && ((digit(*x) && (digit(*y) || letter(*y))) || (letter(*x) && digit(*y))),
        [a, b2, n, y] => letter(*a) && letter(*b2) && digit(*n) && (digit(*y) || letter(*y)),
        _ => false,
    }
}

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
    use proptest::prelude::*;

    #[test]
    fn emails_are_normalised_to_lower_case() {
        assert_eq!(Email::parse("  Ann@Example.ORG ").unwrap().as_str(), "ann@example.org");
        assert!(Email::parse("not-an-email").is_err());
        assert!(Email::parse("").is_err());
    }

    #[test]
    fn postcodes_are_normalised() {
        assert_eq!(Postcode::parse("sw1a1aa").unwrap().as_str(), "SW1A 1AA");
        assert_eq!(Postcode::parse("M1 1AE").unwrap().as_str(), "M1 1AE");
        assert_eq!(Postcode::parse("b33 8th").unwrap().as_str(), "B33 8TH");
        assert_eq!(Postcode::parse("CR2 6XH").unwrap().as_str(), "CR2 6XH");
        assert_eq!(Postcode::parse("DN55 1PT").unwrap().as_str(), "DN55 1PT");
        assert_eq!(Postcode::parse("W1A 0AX").unwrap().as_str(), "W1A 0AX");
        for bad in ["", "12345", "SW1A", "SW1A 1A1", "ABCDE FG", "SW1A  1AAA", "É1 1AA"] {
            assert!(Postcode::parse(bad).is_err(), "{bad:?} should be rejected");
        }
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

    proptest! {
        #[test]
        fn any_text_is_a_postcode_or_refused_and_a_parsed_one_parses_to_itself(raw in "\\PC{0,12}|[A-Za-z0-9 ]{0,10}") {
            if let Ok(code) = Postcode::parse(&raw) {
                prop_assert_eq!(Postcode::parse(code.as_str()), Ok(code.clone()));
                prop_assert!(code.as_str().is_ascii() && code.as_str().len() <= 8);
            }
        }

        #[test]
        fn a_normalised_postcode_parses_to_itself(raw in "[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}") {
            if let Ok(code) = Postcode::parse(&raw) {
                prop_assert_eq!(Postcode::parse(code.as_str()).unwrap(), code.clone());
                prop_assert_eq!(code.as_str().len(), raw.chars().filter(|c| !c.is_whitespace()).count() + 1);
            }
        }
    }
}
