//! Field rules for request bodies, used through `validator`'s `custom` attribute. Each wraps a
//! domain parser so the rule and the parse that follows cannot disagree.

use std::borrow::Cow;

use validator::ValidationError;

use crate::domain::identity::{check_password, Email, Password, Postcode};

fn error(code: &'static str, message: impl Into<Cow<'static, str>>) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

pub fn email(value: &str) -> Result<(), ValidationError> {
    Email::parse(value).map(|_| ()).map_err(|m| error("email", m))
}

pub fn postcode(value: &str) -> Result<(), ValidationError> {
    Postcode::parse(value).map(|_| ()).map_err(|m| error("postcode", m))
}

pub fn password(value: &Password) -> Result<(), ValidationError> {
    check_password(value.expose()).map_err(|m| error("password", m))
}

/// Not empty once surrounding white space is removed.
pub fn not_blank(value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(error("blank", "must not be blank"));
    }
    Ok(())
}

/// Exactly `n` digits once spaces and dashes are removed.
fn digits(value: &str, n: usize, what: &'static str) -> Result<(), ValidationError> {
    let digits = only_digits(value);
    if digits.len() != n || value.chars().any(|c| !(c.is_ascii_digit() || c == ' ' || c == '-')) {
        return Err(error("digits", what));
    }
    Ok(())
}

pub fn only_digits(value: &str) -> String {
    value.chars().filter(char::is_ascii_digit).collect()
}

pub fn sort_code(value: &str) -> Result<(), ValidationError> {
    digits(value, 6, "must be a 6-digit sort code")
}

pub fn account_number(value: &str) -> Result<(), ValidationError> {
    digits(value, 8, "must be an 8-digit account number")
}

/// A date of birth: in the past, and not more than 130 years ago.
pub fn date_of_birth(value: &chrono::NaiveDate) -> Result<(), ValidationError> {
    let today = chrono::Utc::now().date_naive();
    if *value >= today {
        return Err(error("date_of_birth", "must be in the past"));
    }
    if today.years_since(*value).unwrap_or(0) > 130 {
        return Err(error("date_of_birth", "must be within the last 130 years"));
    }
    Ok(())
}

/// An absolute http(s) URL.
pub fn web_url(value: &str) -> Result<(), ValidationError> {
    let ok = (value.starts_with("https://") || value.starts_with("http://"))
        && value.len() > "https://".len()
        && !value.chars().any(char::is_whitespace);
    if !ok {
        return Err(error("url", "must be an http(s) URL"));
    }
    Ok(())
}
