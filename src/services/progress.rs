//! An offer's money over time, for its society's dashboard: at the end of each UK day on which
//! one of its live pledges was made or paid, the running totals of its live pledges (pending,
//! paid or allocated now). A pledge cancelled, expired or refunded since is not counted on any
//! day: the chart shows how the money that stands came in.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock;
use crate::db::schema::pledges;
use crate::db::DbConnection;
use crate::domain::money::Pence;
use crate::domain::pledge::PledgeStatus;
use crate::error::AppError;

/// The running totals at the end of one UK day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Day {
    /// The UK date, `YYYY-MM-DD`.
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    pub community_pledged_pence: Pence,
    pub community_paid_pence: Pence,
    pub match_pence: Pence,
    /// Live pledges made by then.
    pub pledges: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Progress {
    /// Oldest first; a day appears when something happened on it.
    pub days: Vec<Day>,
}

/// One live pledge: made at, paid at, amount, match (pence).
pub type Fact = (NaiveDateTime, Option<NaiveDateTime>, i64, i64);

/// The running totals by UK day. Pure.
pub fn by_day(facts: &[Fact]) -> Vec<Day> {
    let mut changes: BTreeMap<NaiveDate, [i64; 4]> = BTreeMap::new();
    for &(made, paid, amount, matched) in facts {
        let day = changes.entry(clock::uk_date(made)).or_default();
        day[0] += amount;
        day[2] += matched;
        day[3] += 1;
        if let Some(paid) = paid {
            changes.entry(clock::uk_date(paid)).or_default()[1] += amount;
        }
    }
    let mut running = [0i64; 4];
    changes
        .into_iter()
        .map(|(date, change)| {
            for (total, delta) in running.iter_mut().zip(change) {
                *total += delta;
            }
            Day {
                date,
                community_pledged_pence: Pence::new(running[0]),
                community_paid_pence: Pence::new(running[1]),
                match_pence: Pence::new(running[2]),
                pledges: running[3],
            }
        })
        .collect()
}

/// The offer's progress.
pub fn progress(conn: &mut DbConnection, offer_id: &str) -> Result<Progress, AppError> {
    let facts: Vec<Fact> = pledges::table
        .filter(pledges::offer_id.eq(offer_id))
        .filter(pledges::status.eq_any([PledgeStatus::Pending, PledgeStatus::Paid, PledgeStatus::Allocated]))
        .select((
            pledges::created_at,
            pledges::paid_at,
            pledges::amount_pence,
            pledges::match_pence,
        ))
        .load(conn)?;
    Ok(Progress { days: by_day(&facts) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn totals_run_by_uk_day() {
        let facts = [
            (
                at("2027-04-30 23:30:00"),
                Some(at("2027-05-02 09:00:00")),
                10_000,
                2_500,
            ),
            (at("2027-04-30 10:00:00"), None, 5_000, 0),
            (at("2027-05-02 08:00:00"), Some(at("2027-05-02 08:05:00")), 1_000, 1_000),
        ];
        let days = by_day(&facts);
        let dates: Vec<String> = days.iter().map(|d| d.date.to_string()).collect();
        // 23:30 UTC on 30 April is 1 May in the UK (BST).
        assert_eq!(dates, ["2027-04-30", "2027-05-01", "2027-05-02"]);
        let totals: Vec<(i64, i64, i64, i64)> = days
            .iter()
            .map(|d| {
                (
                    d.community_pledged_pence.get(),
                    d.community_paid_pence.get(),
                    d.match_pence.get(),
                    d.pledges,
                )
            })
            .collect();
        assert_eq!(
            totals,
            [(5_000, 0, 0, 1), (15_000, 0, 2_500, 2), (16_000, 11_000, 3_500, 3)]
        );
        assert!(by_day(&[]).is_empty());
    }
}
