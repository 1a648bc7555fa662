//! Field rules for request bodies, used through `validator`'s `custom` attribute. Each wraps a
//! domain parser so the rule and the parse that follows cannot disagree.
//!
//! The forms of text a field takes are also published, as the `format` names of [`TEXT_FORMS`]
//! in the request types' `#[schema(...)]`: the document states each as its `pattern`, and the
//! server checks that pattern before these rules (see `api::contract`).

use std::borrow::Cow;

use validator::ValidationError;

use crate::domain::identity::{check_password, Email, Password, Postcode};

/// What `str::trim` removes (Unicode White_Space), and NUL, as a regular-expression class body.
macro_rules! space_or_nul {
    () => {
        r"\u0000\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
    };
}

/// A named form of text.
pub struct TextForm {
    /// The `format` a request type's `#[schema(...)]` names.
    pub name: &'static str,
    /// The pattern the document states instead (ECMA-262 syntax, also valid for the `regex`
    /// crate and Python's `re`).
    pub pattern: &'static str,
    /// What the form is, for the document.
    pub meaning: &'static str,
    /// What a field error says.
    pub message: &'static str,
}

pub const TEXT_FORMS: &[TextForm] = &[
    TextForm {
        name: "not-blank",
        pattern: concat!(r"^[^\u0000]*[^", space_or_nul!(), r"][^\u0000]*$"),
        meaning: "Not blank: something other than white space.",
        message: "must not be blank",
    },
    TextForm {
        name: "uk-postcode",
        pattern: r"^ *(?:(?:[A-Za-z]{1,2}[0-9][A-Za-z0-9]?|[Gg][Ii][Rr]) *[0-9][A-Za-z]{2}|[Bb][Ff][Pp][Oo] *[1-9][0-9]{0,3}) *$",
        meaning: "A UK postcode, e.g. SW1A 1AA (any case; the space is optional), or a BFPO number (BFPO 61). A postcode outside the UK, or of an area the UK does not have, is 422.",
        message: "must be a UK postcode, e.g. SW1A 1AA (this platform takes UK addresses only)",
    },
    TextForm {
        name: "sort-code",
        pattern: r"^[ -]{0,2}(?:[0-9][ -]{0,2}){6}$",
        meaning: "A sort code: six digits, with at most two spaces or dashes before and after each (12-34-56).",
        message: "must be a 6-digit sort code",
    },
    TextForm {
        name: "account-number",
        pattern: r"^[ -]{0,2}(?:[0-9][ -]{0,2}){8}$",
        meaning: "An account number: eight digits, with at most two spaces or dashes before and after each.",
        message: "must be an 8-digit account number",
    },
    TextForm {
        name: "web-url",
        pattern: concat!(r"^https?://[^", space_or_nul!(), r"]+$"),
        meaning: "An absolute http(s) URL, without white space.",
        message: "must be an http(s) URL",
    },
];

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

/// The digits of a sort code or an account number (spaces and dashes dropped).
pub fn only_digits(value: &str) -> String {
    value.chars().filter(char::is_ascii_digit).collect()
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
