//! The throttle on anonymous writes: a count of requests per scope (an operation and a client
//! address) in fixed windows, kept in the database so that every instance shares it.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::db::schema::request_counts;
use crate::db::DbConnection;
use crate::error::AppError;

/// The start of the window of `window` that holds `now` (windows start at the Unix epoch).
pub fn window_start(now: NaiveDateTime, window: Duration) -> NaiveDateTime {
    let width = window.num_seconds().max(1);
    let start = now.and_utc().timestamp().div_euclid(width) * width;
    chrono::DateTime::from_timestamp(start, 0).map_or(now, |t| t.naive_utc())
}

/// The refusal for a scope whose window is full: 429 with the seconds to the window's end.
pub fn refusal(now: NaiveDateTime, window: Duration) -> AppError {
    let retry_after_secs = (window_start(now, window) + window - now).num_seconds().max(1) as u64;
    AppError::TooManyRequests { retry_after_secs }
}

/// Requests of `scope` counted so far in the window that holds `now` (a read: a flood that is
/// already refused costs no write).
pub fn counted(conn: &mut DbConnection, scope: &str, now: NaiveDateTime, window: Duration) -> Result<i64, AppError> {
    Ok(request_counts::table
        .filter(request_counts::scope.eq(scope))
        .filter(request_counts::window_start.eq(window_start(now, window)))
        .select(request_counts::hits)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}

/// Counts one request of `scope` in the window that holds `now`; answers the count with it.
pub fn count(conn: &mut DbConnection, scope: &str, now: NaiveDateTime, window: Duration) -> Result<i64, AppError> {
    use request_counts::dsl as c;
    let row = (
        c::scope.eq(scope),
        c::window_start.eq(window_start(now, window)),
        c::hits.eq(1_i64),
    );
    // Upserts do not go through the MultiConnection enum: one branch per backend.
    Ok(match conn {
        DbConnection::Postgresql(pg) => diesel::insert_into(c::request_counts)
            .values(row)
            .on_conflict((c::scope, c::window_start))
            .do_update()
            .set(c::hits.eq(c::hits + 1))
            .returning(c::hits)
            .get_result(pg)?,
        DbConnection::Sqlite(lite) => diesel::insert_into(c::request_counts)
            .values(row)
            .on_conflict((c::scope, c::window_start))
            .do_update()
            .set(c::hits.eq(c::hits + 1))
            .returning(c::hits)
            .get_result(lite)?,
    })
}

/// Forgets windows that ended more than a day ago (the housekeeping job).
pub fn purge(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, AppError> {
    Ok(
        diesel::delete(request_counts::table.filter(request_counts::window_start.lt(now - Duration::days(1))))
            .execute(conn)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_window_holds_the_time_it_starts_for(secs in 0_i64..4_000_000_000, width in 1_i64..100_000) {
            let now = chrono::DateTime::from_timestamp(secs, 0).unwrap().naive_utc();
            let start = window_start(now, Duration::seconds(width));
            prop_assert!(start <= now);
            prop_assert!(now < start + Duration::seconds(width));
            prop_assert_eq!(start.and_utc().timestamp() % width, 0);
        }
    }
}
