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

/// A time as emails show it: `1 Dec 2026, 14:00 UTC`.
pub fn for_people(time: NaiveDateTime) -> String {
    time.format("%-d %b %Y, %H:%M UTC").to_string()
}

/// A time from the API, stored as UTC at microsecond precision.
pub fn naive(time: DateTime<Utc>) -> NaiveDateTime {
    time.naive_utc().trunc_subsecs(6)
}
