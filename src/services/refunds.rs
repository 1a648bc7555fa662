//! Refunds: one function starts every refund (a paid pledge cancelled in cooling-off, an offer
//! cancelled or failed, a card payment that arrived after its pledge had ended). Starting one
//! writes, in the caller's transaction, the pledge's new state, the offer's totals, a pending
//! ledger transfer back to the investor, the refund row and the investor's email. The money
//! then moves outside: a card refund through Stripe (`services::payments`), a bank refund by the
//! society's treasurer, who marks the instruction done. Confirming posts the transfer.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::clock;
use crate::db::schema::{offers, pledges, refunds, users};
use crate::db::DbConnection;
use crate::domain::money::Pence;
use crate::error::AppError;
use crate::ledger::{self, AccountKind, NewTransfer, Resolution};
use crate::notify::{self, Kind};
use crate::services::page::{Page, PageRequest};
use crate::services::pledges::{self as pledge_service, PaymentMethod, PledgeRow, PledgeStatus};
use crate::services::{funding, offers as offer_service};

/// Why a refund is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundReason {
    /// The investor cancelled a paid pledge in its cooling-off period.
    Cancelled,
    /// The offer was cancelled.
    OfferCancelled,
    /// The offer failed to reach its minimum.
    OfferFailed,
    /// A payment arrived after its pledge had been cancelled, had expired or had been
    /// refunded.
    LatePayment,
    /// A bank transfer was more than its pledge owed: the excess goes back.
    OverPayment,
    /// A pledge expired before it was paid in full: what had arrived goes back.
    Expired,
    /// Refunded in the Stripe Dashboard, outside the platform: recorded as done.
    RefundedOutside,
    /// The card holder's bank took the money back (a dispute was lost): recorded as done.
    DisputeLost,
    /// What was left of a card payment after part of it left outside the platform that buys no
    /// whole share (or less than the minimum holding): the platform refunds it.
    RestOfPayment,
}

impl RefundReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundReason::Cancelled => "cancelled",
            RefundReason::OfferCancelled => "offer_cancelled",
            RefundReason::OfferFailed => "offer_failed",
            RefundReason::LatePayment => "late_payment",
            RefundReason::OverPayment => "over_payment",
            RefundReason::Expired => "expired",
            RefundReason::RefundedOutside => "refunded_outside",
            RefundReason::DisputeLost => "dispute_lost",
            RefundReason::RestOfPayment => "rest_of_payment",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refunds)]
pub struct RefundRow {
    pub id: String,
    pub pledge_id: String,
    pub offer_id: String,
    pub method: PaymentMethod,
    pub amount_pence: i64,
    pub status: String,
    pub reason: String,
    pub transfer_id: String,
    pub payee_name: String,
    pub payee_email: String,
    pub payee_reference: Option<String>,
    pub stripe_refund_id: Option<String>,
    pub failure_reason: Option<String>,
    pub check_after: NaiveDateTime,
    pub completed_at: Option<NaiveDateTime>,
    pub completed_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A refund as its investor and the society's admins see it. For a bank transfer it is an
/// instruction for the society's treasurer: pay `amount_pence` back to `payee_name`, quoting
/// `payee_reference`, to the account the payment came from.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefundView {
    pub id: String,
    pub pledge_id: String,
    pub offer_id: String,
    /// `card` (through Stripe) or `bank_transfer` (by the society's treasurer).
    pub method: String,
    pub amount_pence: Pence,
    /// `pending`, `succeeded`, or `failed` (Stripe refused it; the platform's admins act).
    pub status: String,
    /// `cancelled`, `offer_cancelled`, `offer_failed`, `late_payment`, `over_payment` (what a
    /// bank transfer paid beyond its pledge), `expired` (what had arrived of a pledge that
    /// expired before it was paid in full), `refunded_outside` (refunded in the Stripe
    /// Dashboard: recorded, already `succeeded`), `dispute_lost` (taken back by the card
    /// holder's bank: recorded, already `succeeded`) or `rest_of_payment` (what was left after
    /// one of those that buys no whole share).
    pub reason: String,
    pub payee_name: String,
    pub payee_email: String,
    /// Bank transfer: the reference the investor paid with.
    pub payee_reference: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub completed_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<RefundRow> for RefundView {
    fn from(row: RefundRow) -> Self {
        RefundView {
            id: row.id,
            pledge_id: row.pledge_id,
            offer_id: row.offer_id,
            method: row.method.as_str().to_owned(),
            amount_pence: Pence::new(row.amount_pence),
            status: row.status,
            reason: row.reason,
            payee_name: row.payee_name,
            payee_email: row.payee_email,
            payee_reference: row.payee_reference,
            failure_reason: row.failure_reason,
            created_at: clock::utc(row.created_at),
            completed_at: row.completed_at.map(clock::utc),
        }
    }
}

pub fn get(conn: &mut DbConnection, id: &str) -> Result<RefundRow, AppError> {
    refunds::table
        .find(id)
        .select(RefundRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound("refund"))
}

pub fn of_pledge(conn: &mut DbConnection, pledge_id: &str) -> Result<Option<RefundRow>, AppError> {
    Ok(of_pledges(conn, &[pledge_id])?.remove(pledge_id))
}

/// The latest refund of each of these pledges (a pledge may have several: what it received when
/// it ended, an over-payment, money that came after it ended), by pledge id.
pub fn of_pledges(conn: &mut DbConnection, pledge_ids: &[&str]) -> Result<HashMap<String, RefundRow>, AppError> {
    let rows: Vec<RefundRow> = refunds::table
        .filter(refunds::pledge_id.eq_any(pledge_ids))
        .select(RefundRow::as_select())
        .order(refunds::id)
        .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.pledge_id.clone(), r)).collect())
}

fn transfer_id(pledge_id: &str) -> String {
    format!("refund:{pledge_id}")
}

/// Whether this is the refund of its pledge's whole payment (when the pledge ended, or a card
/// payment came after it had), of which a pledge has at most one.
pub fn is_whole_payment(refund: &RefundRow) -> bool {
    refund.transfer_id == transfer_id(&refund.pledge_id)
}

/// Starts the refund of a paid pledge: `paid → refunded`, out of the offer's totals (its match
/// recomputed), a pending transfer escrow → investor, the refund row and the email. Call in a
/// write transaction with the offer's row locked. A card refund is due to be sent at once (by
/// whoever claims it first: the request that caused it, or the reconciliation job).
pub fn refund_paid_pledge(
    conn: &mut DbConnection,
    row: &PledgeRow,
    reason: RefundReason,
    now: NaiveDateTime,
) -> Result<RefundRow, AppError> {
    let changed = diesel::update(
        pledges::table
            .filter(pledges::id.eq(&row.id))
            .filter(pledges::status.eq(PledgeStatus::Paid)),
    )
    .set((
        pledges::status.eq(PledgeStatus::Refunded),
        pledges::ended_at.eq(now),
        pledges::updated_at.eq(now),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Err(AppError::conflict("the pledge is no longer paid; reload it"));
    }
    crate::metrics::staged::stage(crate::metrics::staged::Event::PledgeRefunded);
    pledge_service::remove_from_totals(conn, row, true, now)?;
    let escrow = AccountKind::Escrow.account_id(&row.offer_id);
    let amount = Pence::new(row.amount_pence);
    let refund = start(conn, row, &escrow, reason, amount, Some(transfer_id(&row.id)), now)?;
    // A refunded pledge releases its match, and may change others'.
    funding::refresh_offer(conn, &row.offer_id)?;
    Ok(refund)
}

/// Card money arrived for a pledge that had already ended (cancelled or expired): it is taken
/// into the offer's suspense account and refunded at once. The pledge keeps its state.
pub fn refund_late_payment(
    conn: &mut DbConnection,
    row: &PledgeRow,
    now: NaiveDateTime,
) -> Result<RefundRow, AppError> {
    let existing: Option<RefundRow> = refunds::table
        .filter(refunds::pledge_id.eq(&row.id))
        .filter(refunds::transfer_id.eq(transfer_id(&row.id)))
        .select(RefundRow::as_select())
        .first(conn)
        .optional()?;
    if let Some(existing) = existing {
        return Ok(existing);
    }
    let investor = AccountKind::Investor.account_id(&row.investor_id);
    let suspense = ledger::ensure_account(conn, AccountKind::Suspense, &row.offer_id)?;
    ledger::create_posted(
        conn,
        &NewTransfer {
            id: &format!("late-payment:{}", row.id),
            debit_account_id: &investor,
            credit_account_id: &suspense,
            amount: Pence::new(row.amount_pence),
            kind: "late_payment",
            cause: &format!("pledge:{}:late-payment", row.id),
        },
    )?;
    let amount = Pence::new(row.amount_pence);
    start(
        conn,
        row,
        &suspense,
        RefundReason::LatePayment,
        amount,
        Some(transfer_id(&row.id)),
        now,
    )
}

/// Money of a pledge's investor that is owed back to them: `amount` held in `from_account`
/// (the offer's escrow, for what a pledge received before it ended; its suspense account, for
/// money that came when nothing was owed). A refund of its own, whatever the pledge's others.
/// Call in a write transaction with the offer's row locked.
pub fn owe_back(
    conn: &mut DbConnection,
    row: &PledgeRow,
    from_account: &str,
    amount: Pence,
    reason: RefundReason,
    now: NaiveDateTime,
) -> Result<RefundRow, AppError> {
    start(conn, row, from_account, reason, amount, None, now)
}

/// Money that has already gone back to the investor outside the platform (`reason`
/// `RefundedOutside` or `DisputeLost`): a refund row already `succeeded`, its transfer out of
/// `from_account` posted. No email: the caller tells people what happened.
pub fn record_gone(
    conn: &mut DbConnection,
    row: &PledgeRow,
    from_account: &str,
    amount: Pence,
    reason: RefundReason,
    now: NaiveDateTime,
) -> Result<RefundRow, AppError> {
    let (refund, _) = insert(conn, row, from_account, reason, amount, None, now)?;
    confirm(conn, &refund, None, now)?;
    Ok(RefundRow {
        status: "succeeded".into(),
        completed_at: Some(now),
        ..refund
    })
}

/// Starts a refund: its pending transfer (`transfer_id`, or one named after the refund), its
/// row and the investor's email.
fn start(
    conn: &mut DbConnection,
    row: &PledgeRow,
    from_account: &str,
    reason: RefundReason,
    amount: Pence,
    transfer_id: Option<String>,
    now: NaiveDateTime,
) -> Result<RefundRow, AppError> {
    let (refund, display_name) = insert(conn, row, from_account, reason, amount, transfer_id, now)?;
    let title: String = offers::table.find(&row.offer_id).select(offers::title).first(conn)?;
    notify::enqueue(
        conn,
        Kind::RefundStarted,
        &refund.payee_email,
        &json!({
            "name": display_name, "amount": amount.to_string(), "offer": title,
            "card": row.payment_method == PaymentMethod::Card, "reason": reason.as_str(), "reference": row.bank_reference,
        }),
        None,
    )?;
    Ok(refund)
}

/// A refund's pending transfer and its row; answers the row and the investor's display name.
fn insert(
    conn: &mut DbConnection,
    row: &PledgeRow,
    from_account: &str,
    reason: RefundReason,
    amount: Pence,
    transfer_id: Option<String>,
    now: NaiveDateTime,
) -> Result<(RefundRow, String), AppError> {
    let investor = AccountKind::Investor.account_id(&row.investor_id);
    let refund_id = clock::new_id();
    let transfer_id = transfer_id.unwrap_or_else(|| format!("refund:{refund_id}"));
    ledger::create_pending(
        conn,
        &NewTransfer {
            id: &transfer_id,
            debit_account_id: from_account,
            credit_account_id: &investor,
            amount,
            kind: "refund",
            cause: &format!("pledge:{}:{}", row.id, reason.as_str()),
        },
    )?;
    let (email, display_name, full_name): (String, String, Option<String>) = users::table
        .find(&row.investor_id)
        .select((users::email, users::display_name, users::full_name))
        .first(conn)?;
    let refund = RefundRow {
        id: refund_id,
        pledge_id: row.id.clone(),
        offer_id: row.offer_id.clone(),
        method: row.payment_method,
        amount_pence: amount.get(),
        status: "pending".into(),
        reason: reason.as_str().into(),
        transfer_id,
        payee_name: full_name.unwrap_or_else(|| display_name.clone()),
        payee_email: email.clone(),
        payee_reference: row.bank_reference.clone(),
        stripe_refund_id: None,
        failure_reason: None,
        check_after: now,
        completed_at: None,
        completed_by: None,
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(refunds::table)
        .values((
            refunds::id.eq(&refund.id),
            refunds::pledge_id.eq(&refund.pledge_id),
            refunds::offer_id.eq(&refund.offer_id),
            refunds::method.eq(&refund.method),
            refunds::amount_pence.eq(refund.amount_pence),
            refunds::status.eq(&refund.status),
            refunds::reason.eq(&refund.reason),
            refunds::transfer_id.eq(&refund.transfer_id),
            refunds::payee_name.eq(&refund.payee_name),
            refunds::payee_email.eq(&refund.payee_email),
            refunds::payee_reference.eq(&refund.payee_reference),
            refunds::check_after.eq(refund.check_after),
            refunds::created_at.eq(now),
            refunds::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok((refund, display_name))
}

/// Confirms a refund: Stripe reports it succeeded, or an admin marks the bank refund paid.
/// Posts its transfer. Returns false when it was confirmed already (a repeat changes nothing).
pub fn confirm(
    conn: &mut DbConnection,
    refund: &RefundRow,
    completed_by: Option<&str>,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    let changed = diesel::update(
        refunds::table
            .filter(refunds::id.eq(&refund.id))
            .filter(refunds::status.ne("succeeded")),
    )
    .set((
        refunds::status.eq("succeeded"),
        refunds::failure_reason.eq(None::<String>),
        refunds::completed_at.eq(now),
        refunds::completed_by.eq(completed_by),
        refunds::updated_at.eq(now),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Ok(false);
    }
    ledger::resolve_pending(
        conn,
        &refund.transfer_id,
        Resolution::Post,
        &format!("refund:{}", refund.id),
    )?;
    Ok(true)
}

/// Stripe's answer to a refund that is not final yet: remembers its id and when to look again.
pub fn record_progress(
    conn: &mut DbConnection,
    refund_id: &str,
    stripe_refund_id: Option<&str>,
    failure: Option<&str>,
    check_after: NaiveDateTime,
) -> Result<(), AppError> {
    let open = || {
        refunds::table
            .filter(refunds::id.eq(refund_id))
            .filter(refunds::status.ne("succeeded"))
    };
    diesel::update(open())
        .set((
            refunds::check_after.eq(check_after),
            refunds::updated_at.eq(clock::now()),
        ))
        .execute(conn)?;
    if let Some(id) = stripe_refund_id {
        diesel::update(open())
            .set(refunds::stripe_refund_id.eq(id))
            .execute(conn)?;
    }
    if let Some(reason) = failure {
        diesel::update(open())
            .set((refunds::status.eq("failed"), refunds::failure_reason.eq(reason)))
            .execute(conn)?;
    }
    Ok(())
}

/// An admin marks a bank refund instruction as paid back. Card refunds are confirmed by Stripe
/// (409); one already confirmed is 409.
pub fn complete_bank_refund(
    conn: &mut DbConnection,
    refund_id: &str,
    offer_id: &str,
    admin_id: &str,
) -> Result<RefundView, AppError> {
    let refund = get(conn, refund_id)?;
    if refund.offer_id != offer_id {
        return Err(AppError::NotFound("refund"));
    }
    if refund.method != PaymentMethod::BankTransfer {
        return Err(AppError::conflict(
            "card refunds are made through Stripe and confirmed by it, not marked by hand",
        ));
    }
    let now = clock::now();
    offer_service::lock(conn, offer_id, now)?;
    if !confirm(conn, &refund, Some(admin_id), now)? {
        return Err(AppError::conflict("this refund is marked done already"));
    }
    Ok(get(conn, refund_id)?.into())
}

/// A page of an offer's refunds, newest first; `pending_only` lists what is still to pay back.
pub fn list_for_offer(
    conn: &mut DbConnection,
    offer_id: &str,
    pending_only: bool,
    page: &PageRequest,
) -> Result<Page<RefundView>, AppError> {
    let mut query = refunds::table
        .filter(refunds::offer_id.eq(offer_id))
        .select(RefundRow::as_select())
        .order(refunds::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if pending_only {
        query = query.filter(refunds::status.ne("succeeded"));
    }
    if let Some(after) = &page.after {
        query = query.filter(refunds::id.lt(after));
    }
    let rows = query.load(conn)?;
    Page::from_rows(rows, page, |r| r.id.clone(), |r| Ok(RefundView::from(r)))
}

/// When the reconciliation job should look at a card refund again.
pub fn next_check(now: NaiveDateTime, after_secs: u64) -> NaiveDateTime {
    now + Duration::seconds(i64::try_from(after_secs).unwrap_or(i64::MAX / 2).min(86_400 * 365))
}
