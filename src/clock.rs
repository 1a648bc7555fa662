//! The wall clock, read in one place. Times are UTC `NaiveDateTime` at microsecond precision
//! (what PostgreSQL keeps), so a value reads back from either backend unchanged.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// A stored UTC time in a view read straight from a row (`#[diesel(deserialize_as =
/// NaiveDateTime)]`): the API writes it as RFC 3339 with `Z`, like every other time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[schema(value_type = String, format = DateTime)]
pub struct Timestamp(DateTime<Utc>);

impl From<NaiveDateTime> for Timestamp {
    fn from(time: NaiveDateTime) -> Self {
        Timestamp(time.and_utc())
    }
}

/// A stored UTC time as the API shows it (RFC 3339, `Z`).
pub fn utc(time: NaiveDateTime) -> DateTime<Utc> {
    time.and_utc()
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A stored (UTC) time as people in the UK read it: `23:59 on 30 April 2027 (UK time)`, in
/// Europe/London's time (GMT in winter, BST in summer; the IANA time zone database, through
/// chrono-tz). The API and the database keep UTC.
pub fn for_people(time: NaiveDateTime) -> String {
    uk(time).format("%H:%M on %-d %B %Y (UK time)").to_string()
}

/// The UK date of a stored (UTC) time: 23:30 UTC on 30 April is 1 May in the UK (BST).
pub fn uk_date(time: NaiveDateTime) -> chrono::NaiveDate {
    uk(time).date_naive()
}

/// The UK month (`2027-05`) of a stored (UTC) time.
pub fn uk_month(time: NaiveDateTime) -> String {
    uk_date(time).format("%Y-%m").to_string()
}

fn uk(time: NaiveDateTime) -> DateTime<chrono_tz::Tz> {
    use chrono::TimeZone;
    chrono_tz::Europe::London.from_utc_datetime(&time)
}

/// A time from the API, stored as UTC at microsecond precision.
pub fn naive(time: DateTime<Utc>) -> NaiveDateTime {
    time.naive_utc().trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect("a time")
    }

    #[test]
    fn people_read_uk_time_across_both_changes_of_the_clocks() {
        for (stored, read) in [
            // BST: one hour ahead of UTC.
            ("2027-04-30 22:59:00", "23:59 on 30 April 2027 (UK time)"),
            // The clocks go forward at 01:00 UTC on the last Sunday of March (28 March 2027) ...
            ("2027-03-28 00:59:00", "00:59 on 28 March 2027 (UK time)"),
            ("2027-03-28 01:00:00", "02:00 on 28 March 2027 (UK time)"),
            // ... and back at 01:00 UTC on the last Sunday of October (31 October 2027).
            ("2027-10-31 00:59:00", "01:59 on 31 October 2027 (UK time)"),
            ("2027-10-31 01:00:00", "01:00 on 31 October 2027 (UK time)"),
            // GMT: UTC itself.
            ("2026-12-24 10:00:00", "10:00 on 24 December 2026 (UK time)"),
        ] {
            assert_eq!(for_people(utc(stored)), read, "{stored}");
        }
    }

    #[test]
    fn a_late_evening_in_summer_is_the_next_day_in_the_uk() {
        assert_eq!(uk_date(utc("2027-04-30 23:30:00")).to_string(), "2027-05-01");
        assert_eq!(uk_date(utc("2027-01-31 23:30:00")).to_string(), "2027-01-31");
    }
}
