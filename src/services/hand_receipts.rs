//! Match only on money that exists. A receipt an admin types for a pledge of an offer that
//! holds match money (an approved commitment, or one held for a second funder admin) does not
//! count when typed: it waits for a second person, and moves nothing until then. The second
//! person is another admin of the society under the two-person rule
//! ([`crate::domain::governance::may_second`]: an admin before it was typed, not brought in by
//! its recorder within the cooling-off), who is not the pledge's investor, or a platform admin.
//! Confirmed, it is recorded as any receipt is ([`receipts::record_locked`]) and the bank receipt
//! names who confirmed it. On an offer with no match money a receipt counts at once, as before.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::{self, Timestamp};
use crate::db::schema::{bank_receipts, receipt_confirmations, society_admins};
use crate::db::DbConnection;
use crate::domain::governance::{self, Seat};
use crate::domain::money::Pence;
use crate::domain::pledge::{receipt_effect, ReceiptEffect};
use crate::domain::reconcile::ReceiptConfirmation;
use crate::error::AppError;
use crate::services::offers as offer_service;
use crate::services::pledges::{self as pledge_service, PledgeRow};
use crate::services::receipts::{self, Receipt, Recorded, Source};
use crate::services::sessions::Caller;

const AWAITING: ReceiptConfirmation = ReceiptConfirmation::AwaitingConfirmation;

/// A receipt typed by hand, as its answer says.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReceiptStatus {
    pub id: String,
    /// `confirmed`: it counts; `awaiting_confirmation`: a second person must confirm it.
    pub status: ReceiptConfirmation,
}

/// What typing a receipt did, and for which pledge.
pub struct Typed {
    pub pledge_id: String,
    pub receipt: ReceiptStatus,
}

/// Whether the offer holds match money: a fund approved it, or holds a commitment to it
/// awaiting a second funder admin.
pub fn holds_match(conn: &mut DbConnection, offer_id: &str) -> Result<bool, AppError> {
    Ok(!offer_service::funds_committed(conn, offer_id)?.is_empty())
}

/// Records a receipt an admin typed: at once on an offer without match money, else awaiting a
/// second person (checked as it would be applied: a paid pledge is 409, an ended one 422).
pub fn record(
    conn: &mut DbConnection,
    offer_id: &str,
    receipt: &Receipt,
    recorded_by: &str,
) -> Result<Typed, AppError> {
    let now = clock::now();
    let row = receipts::typed_pledge(conn, offer_id, receipt, now)?;
    if !holds_match(conn, offer_id)? {
        let id = clock::new_id();
        receipts::record_locked_as(conn, &row, receipt, recorded_by, Source::ByHand, now, &id)?;
        let receipt = ReceiptStatus {
            id,
            status: ReceiptConfirmation::Confirmed,
        };
        return Ok(Typed {
            pledge_id: row.id,
            receipt,
        });
    }
    if let ReceiptEffect::OwedBack { .. } = receipt_effect(receipts::owing(&row)?, receipt.amount) {
        // The same refusal as applying it now would give.
        receipts::refuse_by_hand(&row, receipt)?;
    }
    let id = clock::new_id();
    diesel::insert_into(receipt_confirmations::table)
        .values((
            receipt_confirmations::id.eq(&id),
            receipt_confirmations::offer_id.eq(offer_id),
            receipt_confirmations::pledge_id.eq(&row.id),
            receipt_confirmations::reference.eq(&receipt.reference),
            receipt_confirmations::amount_pence.eq(receipt.amount.get()),
            receipt_confirmations::received_at.eq(receipt.received_at),
            receipt_confirmations::recorded_by.eq(recorded_by),
            receipt_confirmations::recorded_at.eq(now),
            receipt_confirmations::status.eq(AWAITING),
        ))
        .execute(conn)?;
    Ok(Typed {
        pledge_id: row.id,
        receipt: ReceiptStatus { id, status: AWAITING },
    })
}

/// A receipt awaiting its second person, as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = receipt_confirmations)]
struct AwaitingRow {
    id: String,
    pledge_id: String,
    reference: String,
    amount_pence: i64,
    received_at: NaiveDateTime,
    recorded_by: String,
    recorded_at: NaiveDateTime,
}

/// The offer's receipt `id` awaiting confirmation: 404 when there is no such receipt, 409 when
/// it was confirmed or withdrawn.
fn awaiting(conn: &mut DbConnection, offer_id: &str, id: &str) -> Result<AwaitingRow, AppError> {
    let status: ReceiptConfirmation = receipt_confirmations::table
        .find(id)
        .filter(receipt_confirmations::offer_id.eq(offer_id))
        .select(receipt_confirmations::status)
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound("receipt"))?;
    if status != AWAITING {
        return Err(AppError::conflict(format!(
            "this receipt is {} already",
            status.as_str().replace('_', " ")
        )));
    }
    Ok(receipt_confirmations::table
        .find(id)
        .select(AwaitingRow::as_select())
        .first(conn)?)
}

/// Who is confirming: a platform admin, or an admin of the offer's society.
pub struct Confirmer<'a> {
    pub caller: &'a Caller,
    pub cooling_off: Duration,
}

/// The second person confirms the receipt: it is recorded now, as typed, and counts. The one
/// who typed it, the pledge's investor, or an admin who may not second the recorder is 403;
/// money for a pledge paid or ended meanwhile is refused as it would be typed now.
pub fn confirm(conn: &mut DbConnection, offer_id: &str, id: &str, by: &Confirmer<'_>) -> Result<String, AppError> {
    let now = clock::now();
    offer_service::lock(conn, offer_id, now)?;
    let typed = awaiting(conn, offer_id, id)?;
    let row = pledge_service::get(conn, &typed.pledge_id)?;
    check_second(conn, &row, &typed, by)?;
    let receipt = Receipt {
        reference: typed.reference.clone(),
        amount: Pence::new(typed.amount_pence),
        received_at: typed.received_at,
    };
    receipts::refuse_if_on_a_statement(conn, &row, &receipt)?;
    let receipt_id = clock::new_id();
    let recorded = receipts::record_locked_as(
        conn,
        &row,
        &receipt,
        &typed.recorded_by,
        Source::ByHand,
        now,
        &receipt_id,
    )?;
    debug_assert!(matches!(recorded, Recorded::Applied { .. }));
    diesel::update(bank_receipts::table.find(&receipt_id))
        .set(bank_receipts::confirmed_by.eq(&by.caller.user_id))
        .execute(conn)?;
    decide(
        conn,
        &typed.id,
        ReceiptConfirmation::Confirmed,
        &by.caller.user_id,
        Some(&receipt_id),
        now,
    )?;
    Ok(row.id)
}

/// Withdraws a receipt awaiting confirmation (typed in error): any admin of the society, or a
/// platform admin. It never counted, so nothing else changes.
pub fn withdraw(conn: &mut DbConnection, offer_id: &str, id: &str, by: &str) -> Result<String, AppError> {
    let now = clock::now();
    offer_service::lock(conn, offer_id, now)?;
    let typed = awaiting(conn, offer_id, id)?;
    decide(conn, &typed.id, ReceiptConfirmation::Withdrawn, by, None, now)?;
    Ok(typed.pledge_id)
}

fn decide(
    conn: &mut DbConnection,
    id: &str,
    status: ReceiptConfirmation,
    by: &str,
    receipt_id: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let moved = diesel::update(
        receipt_confirmations::table
            .filter(receipt_confirmations::id.eq(id))
            .filter(receipt_confirmations::status.eq(AWAITING)),
    )
    .set((
        receipt_confirmations::status.eq(status),
        receipt_confirmations::decided_by.eq(by),
        receipt_confirmations::decided_at.eq(now),
        receipt_confirmations::receipt_id.eq(receipt_id),
    ))
    .execute(conn)?;
    if moved == 0 {
        return Err(AppError::conflict("the receipt was confirmed or withdrawn meanwhile"));
    }
    Ok(())
}

/// 403 unless `by` may be the second person on the typed receipt.
fn check_second(
    conn: &mut DbConnection,
    row: &PledgeRow,
    typed: &AwaitingRow,
    by: &Confirmer<'_>,
) -> Result<(), AppError> {
    let user = by.caller.user_id.as_str();
    if user == typed.recorded_by {
        return Err(AppError::ForbiddenBecause(
            "you typed this receipt: another admin of the society must confirm it".into(),
        ));
    }
    if user == row.investor_id {
        return Err(AppError::ForbiddenBecause(
            "this is a receipt for your own pledge: another admin of the society must confirm it".into(),
        ));
    }
    let society_id = offer_service::get(conn, &row.offer_id)?.society_id;
    match society_seat(conn, &society_id, user)? {
        Some(seat) => governance::may_second(&typed.recorded_by, typed.recorded_at, &seat, by.cooling_off)
            .map_err(|why| AppError::ForbiddenBecause(why.explain(by.cooling_off).replace("funder admin", "admin"))),
        None if by.caller.is_platform_admin => Ok(()),
        None => Err(AppError::Forbidden),
    }
}

fn society_seat(conn: &mut DbConnection, society_id: &str, user_id: &str) -> Result<Option<Seat>, AppError> {
    let found: Option<(NaiveDateTime, Option<String>)> = society_admins::table
        .find((society_id, user_id))
        .select((society_admins::created_at, society_admins::invited_by))
        .first(conn)
        .optional()?;
    Ok(found.map(|(since, invited_by)| Seat {
        user_id: user_id.to_owned(),
        since,
        invited_by,
        seconded_by: None,
    }))
}

/// A receipt typed by hand that waits for a second person.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AwaitingReceipt {
    pub id: String,
    pub amount_pence: Pence,
    pub received_at: Timestamp,
    pub recorded_at: Timestamp,
}

/// The receipts awaiting confirmation of these pledges, by pledge, oldest first.
pub fn awaiting_of(
    conn: &mut DbConnection,
    pledge_ids: &[&str],
) -> Result<HashMap<String, Vec<AwaitingReceipt>>, AppError> {
    let rows: Vec<AwaitingRow> = receipt_confirmations::table
        .filter(receipt_confirmations::pledge_id.eq_any(pledge_ids))
        .filter(receipt_confirmations::status.eq(AWAITING))
        .order(receipt_confirmations::recorded_at)
        .select(AwaitingRow::as_select())
        .load(conn)?;
    let mut by_pledge: HashMap<String, Vec<AwaitingReceipt>> = HashMap::new();
    for row in rows {
        by_pledge.entry(row.pledge_id).or_default().push(AwaitingReceipt {
            id: row.id,
            amount_pence: Pence::new(row.amount_pence),
            received_at: row.received_at.into(),
            recorded_at: row.recorded_at.into(),
        });
    }
    Ok(by_pledge)
}
