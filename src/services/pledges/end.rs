//! A pledge ends: cancelled by its investor (refunded, if it was paid in its cooling-off
//! period), cancelled with its offer, or expired unpaid.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use super::view::{view, PledgeView};
use super::{get, investor_total, PledgeRow, PledgeStatus};
use crate::clock;
use crate::db::schema::{offers, pledges};
use crate::db::{write_transaction, DbConnection};
use crate::domain::money::Pence;
use crate::domain::offer::OfferStatus;
use crate::domain::pledge::{cancellation, Cancellation};
use crate::error::AppError;
use crate::ledger::totals;
use crate::ledger::{self, AccountKind, Resolution};
use crate::notify::{self, Kind};
use crate::services::funding;
use crate::services::offers::{self as offer_service, OfferRow};
use crate::services::refunds::{self, RefundReason, RefundRow};

/// Takes a pledge that has just left the live states out of its offer's totals (`was_paid`: it
/// had been paid, so the paid total drops too).
pub(crate) fn remove_from_totals(
    conn: &mut DbConnection,
    row: &PledgeRow,
    was_paid: bool,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let still_invested = investor_total(conn, &row.offer_id, &row.investor_id)? > 0;
    let paid = if was_paid { row.amount_pence } else { 0 };
    totals::remove_pledge(conn, &row.offer_id, row.amount_pence, paid, !still_invested, now)
}

/// Ends a pending pledge (`cancelled` or `expired`): its pending transfer voided, out of the
/// offer's totals, its match released; what it had received in part payments owed back (for
/// `part_paid_reason`, or as expired). False when it was no longer pending.
fn end_pending(
    conn: &mut DbConnection,
    row: &PledgeRow,
    to: PledgeStatus,
    part_paid_reason: RefundReason,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    offer_service::lock(conn, &row.offer_id, now)?;
    // Read again under the lock: a part payment may have come since the caller read it.
    let row = &get(conn, &row.id)?;
    let changed = diesel::update(
        pledges::table
            .filter(pledges::id.eq(&row.id))
            .filter(pledges::status.eq(PledgeStatus::Pending)),
    )
    .set((
        pledges::status.eq(to.as_str()),
        pledges::ended_at.eq(now),
        pledges::updated_at.eq(now),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Ok(false);
    }
    crate::metrics::staged::stage(match to {
        PledgeStatus::Expired => crate::metrics::staged::Event::PledgeExpired,
        _ => crate::metrics::staged::Event::PledgeCancelled,
    });
    ledger::resolve_pending(
        conn,
        &row.transfer_id,
        Resolution::Void,
        &format!("pledge:{}:{}", row.id, to.as_str()),
    )?;
    remove_from_totals(conn, row, false, now)?;
    if row.received_pence > 0 {
        // Part of it had been paid: that goes back.
        let escrow = AccountKind::Escrow.account_id(&row.offer_id);
        let reason = match to {
            PledgeStatus::Expired => RefundReason::Expired,
            _ => part_paid_reason,
        };
        refunds::owe_back(conn, row, &escrow, Pence::new(row.received_pence), reason, now)?;
    }
    // A cancelled or expired pledge releases its match, and may change others'.
    funding::refresh_offer(conn, &row.offer_id)?;
    let (email, name) = notify::user_contact(conn, &row.investor_id)?;
    let title: String = offers::table.find(&row.offer_id).select(offers::title).first(conn)?;
    notify::enqueue(
        conn,
        Kind::PledgeEnded,
        &email,
        &json!({
            "name": name, "amount": Pence::new(row.amount_pence).to_string(), "offer": title,
            "reference": row.bank_reference, "how": to.as_str(), "due": clock::for_people(row.payment_due_at),
        }),
        None,
    )?;
    Ok(true)
}

/// The investor cancels their pledge. Unpaid: withdrawn any time before the close. Paid: only
/// in the cooling-off period, and its refund is started (the caller sends a card refund to
/// Stripe after the commit; failing that, the reconciliation job does).
pub fn cancel(
    conn: &mut DbConnection,
    id: &str,
    investor_id: &str,
) -> Result<(PledgeView, Option<RefundRow>), AppError> {
    let now = clock::now();
    let row = get(conn, id)?;
    if row.investor_id != investor_id {
        return Err(AppError::NotFound("pledge"));
    }
    // Decide on the state as it is under the offer's lock (the scheduler may close it).
    offer_service::lock(conn, &row.offer_id, now)?;
    let row = get(conn, id)?;
    let offer = offer_service::get(conn, &row.offer_id)?;
    let offer_open = offer.status()? == OfferStatus::Open && now < offer.closes_at;
    let mut refund = None;
    match cancellation(row.status, offer_open, now, row.cancellable_until).map_err(AppError::conflict)? {
        Cancellation::Withdraw => {
            if !end_pending(conn, &row, PledgeStatus::Cancelled, RefundReason::Cancelled, now)? {
                return Err(AppError::conflict("the pledge changed meanwhile; reload it"));
            }
        }
        Cancellation::Refund => {
            refund = Some(refunds::refund_paid_pledge(conn, &row, RefundReason::Cancelled, now)?);
        }
    }
    let row = get(conn, id)?;
    Ok((view(conn, row, investor_id)?, refund))
}

/// When an offer is cancelled: every pending pledge is cancelled with it. Its paid pledges are
/// refunded afterwards by the close-out job, in batches (`services::closeout`). Returns how
/// many pledges ended.
pub fn cancel_all_for_offer(conn: &mut DbConnection, offer: &OfferRow) -> Result<usize, AppError> {
    let now = clock::now();
    let pending: Vec<PledgeRow> = pledges::table
        .filter(pledges::offer_id.eq(&offer.id))
        .filter(pledges::status.eq(PledgeStatus::Pending))
        .select(PledgeRow::as_select())
        .order(pledges::id)
        .load(conn)?;
    let mut ended = 0;
    for row in &pending {
        if end_pending(conn, row, PledgeStatus::Cancelled, RefundReason::OfferCancelled, now)? {
            ended += 1;
        }
    }
    Ok(ended)
}

/// Scheduler step: expires pending pledges past their payment deadline, each in its own
/// transaction (a conditional update, so several instances expire each pledge once).
pub fn expire_unpaid(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, AppError> {
    let due: Vec<PledgeRow> = pledges::table
        .filter(pledges::status.eq(PledgeStatus::Pending))
        .filter(pledges::payment_due_at.le(now))
        .select(PledgeRow::as_select())
        .order(pledges::payment_due_at)
        .limit(500)
        .load(conn)?;
    let mut expired = 0;
    for row in &due {
        match write_transaction(conn, |c| {
            end_pending(c, row, PledgeStatus::Expired, RefundReason::Expired, now)
        }) {
            Ok(true) => expired += 1,
            Ok(false) => {}
            Err(e) => tracing::error!(pledge_id = %row.id, error = %e, "could not expire a pledge"),
        }
    }
    Ok(expired)
}
