//! A pending pledge is paid: its transfer posted, the offer's paid total raised, the investor
//! told.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use super::{PledgeRow, PledgeStatus};
use crate::db::schema::{offers, pledges};
use crate::db::DbConnection;
use crate::domain::money::Pence;
use crate::error::AppError;
use crate::ledger::totals;
use crate::ledger::{self, Resolution};
use crate::notify::{self, Kind, Queued};

/// A pending pledge's money has arrived: `pending → paid`, its transfer posted, the offer's paid
/// total raised, the investor told. Call in a write transaction with the offer's row locked.
/// Returns false (and writes nothing) when the pledge was no longer pending.
pub fn mark_paid(
    conn: &mut DbConnection,
    row: &PledgeRow,
    paid_at: NaiveDateTime,
    cause: &str,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    let changed = diesel::update(
        pledges::table
            .filter(pledges::id.eq(&row.id))
            .filter(pledges::status.eq(PledgeStatus::Pending)),
    )
    .set((
        pledges::status.eq(PledgeStatus::Paid),
        pledges::paid_at.eq(paid_at),
        pledges::received_pence.eq(row.amount_pence),
        pledges::updated_at.eq(now),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Ok(false);
    }
    crate::metrics::staged::stage(crate::metrics::staged::Event::PledgePaid {
        pence: row.amount_pence,
    });
    ledger::resolve_pending(conn, &row.transfer_id, Resolution::Post, cause)?;
    totals::add_paid(conn, &row.offer_id, row.amount_pence, now)?;
    let (email, name) = notify::user_contact(conn, &row.investor_id)?;
    let title: String = offers::table.find(&row.offer_id).select(offers::title).first(conn)?;
    notify::enqueue_many(
        conn,
        Kind::PaymentConfirmed,
        &[payment_confirmed(row, email, &name, &title)],
    )?;
    Ok(true)
}

/// The investor's email that the pledge is paid (`Kind::PaymentConfirmed`).
pub(crate) fn payment_confirmed(row: &PledgeRow, email: String, name: &str, title: &str) -> Queued {
    Queued {
        recipient: email,
        context: json!({
            "name": name, "amount": Pence::new(row.amount_pence).to_string(), "offer": title,
            "reference": row.bank_reference, "shares": row.shares,
        }),
        dedupe_key: format!("paid:{}", row.id),
    }
}
