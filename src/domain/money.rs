//! Money: integer pence in GBP, never a float. Pounds are parsed and printed only at the edge.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An amount of money in pence (GBP). Arithmetic is checked: an overflow is `None`, not a wrap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = i64)]
pub struct Pence(i64);

impl Pence {
    pub const ZERO: Pence = Pence(0);

    pub const fn new(pence: i64) -> Self {
        Pence(pence)
    }

    pub const fn from_pounds(pounds: i64) -> Self {
        Pence(pounds * 100)
    }

    pub const fn get(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Pence) -> Option<Pence> {
        self.0.checked_add(other.0).map(Pence)
    }

    pub fn checked_sub(self, other: Pence) -> Option<Pence> {
        self.0.checked_sub(other.0).map(Pence)
    }

    pub fn checked_mul(self, factor: i64) -> Option<Pence> {
        self.0.checked_mul(factor).map(Pence)
    }

    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }
}

impl Pence {
    /// Reads an amount in pounds as banks print it: `250`, `250.5`, `1,250.00`, `£1,250.00`.
    /// At most two decimal places; no sign (a receipt is never negative).
    pub fn parse_pounds(text: &str) -> Option<Pence> {
        let text = text.trim().trim_start_matches('£').replace(',', "");
        let (pounds, pence) = match text.split_once('.') {
            Some((p, f)) if (1..=2).contains(&f.len()) => (p, format!("{f:0<2}")),
            Some(_) => return None,
            None => (text.as_str(), "00".to_owned()),
        };
        if pounds.is_empty()
            || !pounds.bytes().all(|b| b.is_ascii_digit())
            || !pence.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let pounds: i64 = pounds.parse().ok()?;
        let pence: i64 = pence.parse().ok()?;
        pounds.checked_mul(100)?.checked_add(pence).map(Pence)
    }
}

/// Prints as pounds with thousands separators: `£1,234.56`, `-£0.05`.
impl fmt::Display for Pence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let pounds = (abs / 100).to_string();
        let mut grouped = String::with_capacity(pounds.len() + pounds.len() / 3);
        for (i, digit) in pounds.chars().enumerate() {
            if i > 0 && (pounds.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        write!(f, "{sign}£{grouped}.{:02}", abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn display_groups_thousands_and_pads_pence() {
        assert_eq!(Pence::new(0).to_string(), "£0.00");
        assert_eq!(Pence::new(5).to_string(), "£0.05");
        assert_eq!(Pence::new(100).to_string(), "£1.00");
        assert_eq!(Pence::new(123_456).to_string(), "£1,234.56");
        assert_eq!(Pence::new(10_000_000).to_string(), "£100,000.00");
        assert_eq!(Pence::new(-5).to_string(), "-£0.05");
        assert_eq!(Pence::new(i64::MIN).to_string(), "-£92,233,720,368,547,758.08");
    }

    #[test]
    fn arithmetic_overflow_is_none() {
        assert_eq!(Pence::new(i64::MAX).checked_add(Pence::new(1)), None);
        assert_eq!(Pence::new(i64::MIN).checked_sub(Pence::new(1)), None);
        assert_eq!(Pence::new(i64::MAX).checked_mul(2), None);
        assert_eq!(Pence::new(250).checked_add(Pence::new(50)), Some(Pence::new(300)));
    }

    #[test]
    fn serialises_as_a_bare_integer() {
        assert_eq!(serde_json::to_string(&Pence::new(1234)).unwrap(), "1234");
        assert_eq!(serde_json::from_str::<Pence>("1234").unwrap(), Pence::new(1234));
        assert!(serde_json::from_str::<Pence>("12.34").is_err());
    }

    #[test]
    fn pounds_parse_as_banks_print_them() {
        assert_eq!(Pence::parse_pounds("250"), Some(Pence::new(25_000)));
        assert_eq!(Pence::parse_pounds("250.5"), Some(Pence::new(25_050)));
        assert_eq!(Pence::parse_pounds(" £1,250.07 "), Some(Pence::new(125_007)));
        for bad in ["", "-5", "1.234", "abc", "1.2.3", "£", ".50", "99999999999999999999"] {
            assert_eq!(Pence::parse_pounds(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn printed_amounts_parse_back(pence in 0i64..=i64::MAX / 100) {
            prop_assert_eq!(Pence::parse_pounds(&Pence::new(pence).to_string()), Some(Pence::new(pence)));
        }

        #[test]
        fn display_reads_back_to_the_same_amount(pence in any::<i64>()) {
            let text = Pence::new(pence).to_string();
            let negative = text.starts_with('-');
            let digits: String = text.chars().filter(|c| c.is_ascii_digit()).collect();
            let magnitude: u64 = digits.parse().unwrap();
            prop_assert_eq!(magnitude, pence.unsigned_abs());
            prop_assert_eq!(negative, pence < 0);
            // Exactly two digits after the point, and groups of three before it.
            let body = text.trim_start_matches('-').trim_start_matches('£');
            let (whole, fraction) = body.split_once('.').unwrap();
            prop_assert_eq!(fraction.len(), 2);
            let groups: Vec<&str> = whole.split(',').collect();
            prop_assert!((1..=3).contains(&groups[0].len()));
            prop_assert!(groups[1..].iter().all(|g| g.len() == 3));
        }

        #[test]
        fn checked_add_matches_wide_arithmetic(a in any::<i64>(), b in any::<i64>()) {
            let wide = a as i128 + b as i128;
            let expected = i64::try_from(wide).ok().map(Pence::new);
            prop_assert_eq!(Pence::new(a).checked_add(Pence::new(b)), expected);
        }
    }
}
