//! An offer's money totals (`community_pledged_pence`, `community_paid_pence`, `match_pence`,
//! `allocated_pence`, `match_allocated_pence`) and its pledge and investor counts: what the
//! offer page shows and the capacity check reads, kept beside the ledger and written here only,
//! as account balances are written by the ledger alone. Each change is one statement on the
//! offer's row, in the transaction of the transfer that causes it (which holds the offer's row
//! lock); `ledger verify` checks the totals against the pledges and the accounts.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::fixed::{Fixed, Param};
use crate::db::schema::offers;
use crate::db::DbConnection;
use crate::domain::money::Pence;
use crate::domain::offer::OfferStatus;
use crate::error::AppError;

/// Reserves a new pledge of `amount` pence in an open offer's capacity, counting the pledge
/// (and its investor when `new_investor`) and numbering it (`pledges_made`: its place in pledge
/// order, which the pledge's insert reads): one conditional update of fixed text, prepared once
/// per connection, which takes the offer's row lock until the commit. False (nothing written)
/// when the offer is not open at `now` or pledges and match would pass its maximum.
pub fn reserve(
    conn: &mut DbConnection,
    offer_id: &str,
    amount: Pence,
    new_investor: bool,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    let reserved = Fixed {
        parts: &[
            "UPDATE offers SET community_pledged_pence = community_pledged_pence + ",
            ", pledge_count = pledge_count + 1, pledges_made = pledges_made + 1, investor_count = investor_count + ",
            ", updated_at = ",
            " WHERE id = ",
            " AND status = ",
            " AND closes_at > ",
            " AND community_pledged_pence + match_pence + ",
            " <= max_target_pence",
        ],
        params: [
            Param::BigInt(amount.get()),
            Param::Integer(i32::from(new_investor)),
            Param::Timestamp(now),
            Param::Text(offer_id),
            Param::Text(OfferStatus::Open.as_str()),
            Param::Timestamp(now),
            Param::BigInt(amount.get()),
        ],
    }
    .execute(conn)?;
    Ok(reserved == 1)
}

/// Corrects the investor count by `by` (−1, 0 or 1) when a reservation's guess of whether its
/// investor was new turned out wrong.
pub fn correct_investor_count(conn: &mut DbConnection, offer_id: &str, by: i32) -> Result<(), AppError> {
    if by != 0 {
        diesel::update(offers::table.find(offer_id))
            .set(offers::investor_count.eq(offers::investor_count + by))
            .execute(conn)?;
    }
    Ok(())
}

/// A pledge of `amount` pence left the live states: out of the pledged total (and of the paid
/// total by `paid` pence), one pledge fewer, and one investor fewer when it was their last.
pub fn remove_pledge(
    conn: &mut DbConnection,
    offer_id: &str,
    amount: i64,
    paid: i64,
    last_of_investor: bool,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    diesel::update(offers::table.find(offer_id))
        .set((
            offers::community_pledged_pence.eq(offers::community_pledged_pence - amount),
            offers::community_paid_pence.eq(offers::community_paid_pence - paid),
            offers::pledge_count.eq(offers::pledge_count - 1),
            offers::investor_count.eq(offers::investor_count - i32::from(last_of_investor)),
            offers::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// `amount` pence of pledges were paid.
pub fn add_paid(conn: &mut DbConnection, offer_id: &str, amount: i64, now: NaiveDateTime) -> Result<(), AppError> {
    if amount != 0 {
        diesel::update(offers::table.find(offer_id))
            .set((
                offers::community_paid_pence.eq(offers::community_paid_pence + amount),
                offers::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// A paid pledge was lowered by `less` pence (money gone outside the platform).
pub fn lower_paid_pledge(
    conn: &mut DbConnection,
    offer_id: &str,
    less: i64,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    diesel::update(offers::table.find(offer_id))
        .set((
            offers::community_pledged_pence.eq(offers::community_pledged_pence - less),
            offers::community_paid_pence.eq(offers::community_paid_pence - less),
            offers::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The offer's match is now `total` pence, and its live funds may still match `room` (a full
/// recompute; both 0 on release).
pub fn set_match(conn: &mut DbConnection, offer_id: &str, total: i64, room: i64) -> Result<(), AppError> {
    diesel::update(offers::table.find(offer_id))
        .set((offers::match_pence.eq(total), offers::match_room_pence.eq(room)))
        .execute(conn)?;
    Ok(())
}

/// A new pledge's match of `amount` pence was added (from live funds: their room shrinks).
pub fn add_match(conn: &mut DbConnection, offer_id: &str, amount: i64) -> Result<(), AppError> {
    diesel::update(offers::table.find(offer_id))
        .set((
            offers::match_pence.eq(offers::match_pence + amount),
            offers::match_room_pence.eq(offers::match_room_pence - amount),
        ))
        .execute(conn)?;
    Ok(())
}

/// `amount` pence moved to the society's capital at close-out: community money (`match_money`
/// false) or match.
pub fn add_allocated(conn: &mut DbConnection, offer_id: &str, amount: i64, match_money: bool) -> Result<(), AppError> {
    let target = offers::table.find(offer_id);
    if match_money {
        diesel::update(target)
            .set(offers::match_allocated_pence.eq(offers::match_allocated_pence + amount))
            .execute(conn)?;
    } else {
        diesel::update(target)
            .set(offers::allocated_pence.eq(offers::allocated_pence + amount))
            .execute(conn)?;
    }
    Ok(())
}
