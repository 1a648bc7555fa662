//! Money that leaves outside the platform (DESIGN §3): a refund made in the Stripe Dashboard,
//! or a dispute the card holder's bank decided against the society. The money is gone, so it
//! is recorded as gone, and shares are only ever issued for money held:
//!
//! - a paid pledge keeps the whole shares the money still held buys (the rest of the money,
//!   less than a share, is refunded by the platform); if that is no share at all, or less than
//!   the offer's minimum holding, the pledge is `refunded` and all that is held is refunded;
//! - the money gone is a posted transfer escrow → investor with a refund row of its own
//!   (`refunded_outside` or `dispute_lost`, already `succeeded`), in the same transaction;
//! - the offer's totals and its match are recomputed, and the investor and the society's
//!   admins are told by email;
//! - money gone from a pledge whose shares were issued, or that the platform never saw paid,
//!   cannot be undone here: it is flagged on the card payment for people, and `ledger verify`
//!   reports it.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use crate::db::schema::{card_payments, offers, pledges, refunds as refund_rows};
use crate::db::DbConnection;
use crate::domain::money::Pence;
use crate::error::AppError;
use crate::ledger::totals;
use crate::ledger::AccountKind;
use crate::notify::{self, Kind};
use crate::services::funding;
use crate::services::offers as offer_service;
use crate::services::pledges::{self as pledge_service, PaymentMethod, PledgeRow, PledgeStatus};
use crate::services::refunds::{self, RefundReason, RefundRow};

/// How the money left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// Refunded in the Stripe Dashboard (or through Stripe's API by someone else).
    RefundedInStripe,
    /// The card holder's bank took it back: a dispute was lost.
    DisputeLost,
}

impl Gone {
    fn reason(self) -> RefundReason {
        match self {
            Gone::RefundedInStripe => RefundReason::RefundedOutside,
            Gone::DisputeLost => RefundReason::DisputeLost,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Gone::RefundedInStripe => "was refunded in Stripe, outside the platform",
            Gone::DisputeLost => "was taken back by the card holder's bank (a dispute was lost)",
        }
    }
}

/// What the money still held buys: whole shares, at least the minimum holding with the
/// investor's other live pledges to the offer. Pure.
///
/// `held` is what the pledge still holds; answers the pence kept for shares (0: none).
pub fn kept_for_shares(held: i64, share_price: i64, min_holding: i64, other_pledges: i64) -> i64 {
    if held <= 0 || share_price <= 0 {
        return 0;
    }
    let kept = held / share_price * share_price;
    if kept == 0 || kept + other_pledges < min_holding {
        0
    } else {
        kept
    }
}

/// Stripe says `refunded` of the card pledge's charge has been refunded so far, by anyone.
/// The platform's own card refunds of the pledge that this covers are confirmed, oldest
/// first; what they do not account for left outside the platform. Call in a write
/// transaction (it locks the offer's row).
pub fn charge_refunded(
    conn: &mut DbConnection,
    pledge_id: &str,
    refunded: Pence,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let row = locked_pledge(conn, pledge_id, now)?;
    diesel::update(card_payments::table.find(pledge_id))
        .set((
            card_payments::provider_refunded_pence.eq(refunded.get()),
            card_payments::updated_at.eq(now),
        ))
        .execute(conn)?;
    let all: Vec<RefundRow> = refund_rows::table
        .filter(refund_rows::pledge_id.eq(&row.id))
        .select(RefundRow::as_select())
        .order(refund_rows::id)
        .load(conn)?;
    let outside_reason = RefundReason::RefundedOutside.as_str();
    let recorded_outside: i64 = all
        .iter()
        .filter(|r| r.reason == outside_reason)
        .map(|r| r.amount_pence)
        .sum();
    let ours: Vec<&RefundRow> = all
        .iter()
        .filter(|r| r.method == PaymentMethod::Card && r.status != "failed")
        .filter(|r| r.reason != outside_reason && r.reason != RefundReason::DisputeLost.as_str())
        .collect();
    let mut covered = refunded.get() - recorded_outside;
    for refund in &ours {
        if covered < refund.amount_pence {
            break;
        }
        covered -= refund.amount_pence;
        refunds::confirm(conn, refund, None, now)?;
    }
    let outside = refunded.get() - recorded_outside - ours.iter().map(|r| r.amount_pence).sum::<i64>();
    if outside > 0 {
        record(conn, &row, Pence::new(outside), Gone::RefundedInStripe, now)?;
    }
    Ok(())
}

/// The card holder disputed the charge: the dispute is recorded (and shown on the pledge), and
/// the offer's close-out waits for its outcome.
pub fn dispute_opened(
    conn: &mut DbConnection,
    pledge_id: &str,
    dispute_id: &str,
    amount: Pence,
    reason: &str,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    locked_pledge(conn, pledge_id, now)?;
    diesel::update(card_payments::table.find(pledge_id))
        .set((
            card_payments::dispute_id.eq(dispute_id),
            card_payments::dispute_status.eq("open"),
            card_payments::disputed_pence.eq(amount.get()),
        ))
        .execute(conn)?;
    flag(
        conn,
        pledge_id,
        &format!(
            "{amount} disputed by the card holder ({reason}): the offer is decided once the dispute is won or lost"
        ),
        now,
    )
}

/// A dispute ended: won, the money stays (and the flag goes); lost, `amount` has gone.
pub fn dispute_closed(
    conn: &mut DbConnection,
    pledge_id: &str,
    dispute_id: &str,
    amount: Pence,
    lost: bool,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let row = locked_pledge(conn, pledge_id, now)?;
    let outcome = if lost { "lost" } else { "won" };
    let changed = diesel::update(
        card_payments::table.find(pledge_id).filter(
            card_payments::dispute_status
                .is_null()
                .or(card_payments::dispute_status.ne(outcome)),
        ),
    )
    .set((
        card_payments::dispute_id.eq(dispute_id),
        card_payments::dispute_status.eq(outcome),
        card_payments::disputed_pence.eq(amount.get()),
        card_payments::flag.eq(None::<String>),
        card_payments::flagged_at.eq(None::<NaiveDateTime>),
        card_payments::updated_at.eq(now),
    ))
    .execute(conn)?;
    if lost && changed == 1 {
        record(conn, &row, amount, Gone::DisputeLost, now)?;
    }
    Ok(())
}

/// The pledge, read again once its offer's row is locked.
fn locked_pledge(conn: &mut DbConnection, pledge_id: &str, now: NaiveDateTime) -> Result<PledgeRow, AppError> {
    let row = pledge_service::get(conn, pledge_id)?;
    offer_service::lock(conn, &row.offer_id, now)?;
    pledge_service::get(conn, pledge_id)
}

/// Records that `amount` of the card pledge `row`'s money has left outside the platform. Call
/// in a write transaction with the offer's row locked, `row` read under the lock.
pub fn record(
    conn: &mut DbConnection,
    row: &PledgeRow,
    amount: Pence,
    how: Gone,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    match row.status {
        PledgeStatus::Paid => keep_what_is_held(conn, row, amount, how, now),
        status => {
            let why = match status {
                PledgeStatus::Allocated => "after its shares were issued: the register holds shares not paid for",
                PledgeStatus::Refunded => "while the platform was refunding it: check that it was not refunded twice",
                _ => "though the platform never saw it paid",
            };
            flag(conn, &row.id, &format!("{amount} {} {why}", how.words()), now)?;
            tracing::error!(pledge_id = %row.id, %amount, status = status.as_str(), "card money left outside the platform; flagged");
            tell(conn, row, amount, how, None)
        }
    }
}

/// A paid pledge: the money gone is recorded, the pledge keeps what the rest buys, and the
/// rest beyond that is refunded.
fn keep_what_is_held(
    conn: &mut DbConnection,
    row: &PledgeRow,
    amount: Pence,
    how: Gone,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let gone = amount.get().min(row.amount_pence);
    let held = row.amount_pence - gone;
    let offer = offer_service::get(conn, &row.offer_id)?;
    let others = pledge_service::investor_total(conn, &row.offer_id, &row.investor_id)? - row.amount_pence;
    let kept = kept_for_shares(held, offer.share_price_pence, offer.min_holding_pence, others);
    let escrow = AccountKind::Escrow.account_id(&row.offer_id);
    refunds::record_gone(conn, row, &escrow, Pence::new(gone), how.reason(), now)?;
    if kept == 0 {
        end(conn, row, now)?;
    } else {
        reduce(conn, row, kept, offer.share_price_pence, now)?;
    }
    if held > kept {
        refunds::owe_back(
            conn,
            row,
            &escrow,
            Pence::new(held - kept),
            RefundReason::RestOfPayment,
            now,
        )?;
    }
    funding::refresh_offer(conn, &row.offer_id)?;
    tell(conn, row, Pence::new(gone), how, Some(Pence::new(kept)))
}

/// No share is left: the pledge is `refunded`, out of the offer's totals.
fn end(conn: &mut DbConnection, row: &PledgeRow, now: NaiveDateTime) -> Result<(), AppError> {
    diesel::update(pledges::table.find(&row.id))
        .set((
            pledges::status.eq(PledgeStatus::Refunded),
            pledges::ended_at.eq(now),
            pledges::updated_at.eq(now),
        ))
        .execute(conn)?;
    crate::metrics::staged::stage(crate::metrics::staged::Event::PledgeRefunded);
    pledge_service::remove_from_totals(conn, row, true, now)
}

/// The pledge is for `kept` pence of shares now: its amount, shares and what it has received,
/// and the offer's totals, are lowered to that.
fn reduce(
    conn: &mut DbConnection,
    row: &PledgeRow,
    kept: i64,
    share_price: i64,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let less = row.amount_pence - kept;
    diesel::update(pledges::table.find(&row.id))
        .set((
            pledges::amount_pence.eq(kept),
            pledges::received_pence.eq(kept),
            pledges::shares.eq(kept / share_price),
            pledges::updated_at.eq(now),
        ))
        .execute(conn)?;
    totals::lower_paid_pledge(conn, &row.offer_id, less, now)
}

/// Marks a card payment for people to look at (shown on the pledge, reported by `ledger verify`).
pub fn flag(conn: &mut DbConnection, pledge_id: &str, text: &str, now: NaiveDateTime) -> Result<(), AppError> {
    diesel::update(card_payments::table.find(pledge_id))
        .set((
            card_payments::flag.eq(text),
            card_payments::flagged_at.eq(now),
            card_payments::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The investor and the society's admins, by email. `kept`: what the pledge is for now, when
/// it was paid (None: flagged for people instead).
fn tell(conn: &mut DbConnection, row: &PledgeRow, gone: Pence, how: Gone, kept: Option<Pence>) -> Result<(), AppError> {
    let (title, society_id): (String, String) = offers::table
        .find(&row.offer_id)
        .select((offers::title, offers::society_id))
        .first(conn)?;
    let (email, name) = notify::user_contact(conn, &row.investor_id)?;
    let context = |to_admin: bool, name: &str| {
        json!({
            "to_admin": to_admin, "name": name, "offer": title, "gone": gone.to_string(), "how": how.words(),
            "pledged": Pence::new(row.amount_pence).to_string(), "flagged": kept.is_none(),
            "kept": kept.map(|k| k.to_string()), "ended": kept == Some(Pence::ZERO),
            "rest": kept.map(|k| Pence::new(row.amount_pence - gone.get() - k.get()).to_string()),
            "rest_owed": kept.is_some_and(|k| row.amount_pence - gone.get() > k.get()),
            "pledge_id": row.id,
        })
    };
    let mut recipients = vec![(false, name, email)];
    let admins = notify::society_admin_emails(conn, &society_id, false)?;
    recipients.extend(admins.into_iter().map(|(name, email)| (true, name, email)));
    for (to_admin, name, email) in recipients {
        let key = format!("gone:{}:{}:{}:{email}", row.id, how.reason().as_str(), gone.get());
        notify::enqueue(
            conn,
            Kind::MoneyGoneOutside,
            &email,
            &context(to_admin, &name),
            Some(&key),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn what_is_held_buys_whole_shares_of_at_least_the_minimum() {
        assert_eq!(kept_for_shares(20_000, 100, 10_000, 0), 20_000);
        assert_eq!(
            kept_for_shares(20_050, 100, 10_000, 0),
            20_000,
            "less than a share goes back"
        );
        assert_eq!(
            kept_for_shares(5_000, 100, 10_000, 0),
            0,
            "below the minimum holding: none"
        );
        assert_eq!(
            kept_for_shares(5_000, 100, 10_000, 5_000),
            5_000,
            "other pledges count towards it"
        );
        assert_eq!(kept_for_shares(99, 100, 0, 0), 0);
        assert_eq!(kept_for_shares(0, 100, 0, 0), 0);
    }

    proptest! {
        #[test]
        fn shares_are_only_issued_for_money_held(held in -1_000i64..10_000_000, price in 1i64..10_000, min in 0i64..1_000_000, others in 0i64..1_000_000) {
            let kept = kept_for_shares(held, price, min, others);
            prop_assert!(kept >= 0 && kept <= held.max(0));
            prop_assert_eq!(kept % price, 0);
            prop_assert!(kept == 0 || kept + others >= min);
            prop_assert!(held.max(0) - kept < price || kept == 0);
        }
    }
}
