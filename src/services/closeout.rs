//! Close-out (DESIGN §2): once an offer has closed and its unpaid pledges have been paid or have
//! expired, it is decided (community paid + match ≥ `min_target` → succeeded, else failed), then
//! either allocated (every paid pledge and every match becomes shares written into the society's
//! register of members, the money moved from escrow to the society's capital account) or refunded
//! (every paid pledge refunded by its own method, every commitment released).
//!
//! The work is a sequence of small steps, each one write transaction that locks the offer's row
//! first and changes only what is still to change (a paid pledge becomes allocated, a pending
//! match transfer is posted, a paid pledge is refunded), recording its progress in those very
//! rows. So a process killed at any point, or several instances running the job at once, allocate
//! no pledge twice, skip none, and refund none twice.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::clock;
use crate::db::schema::{
    card_payments, funders, funds, ledger_transfers, match_applications, offers, pledge_matches, pledges, refunds,
    share_register, societies, users,
};
use crate::db::{Db, DbConnection};
use crate::domain::matching::ApplicationStatus;
use crate::domain::money::Pence;
use crate::domain::offer::OfferStatus;
use crate::error::AppError;
use crate::ledger::totals;
use crate::ledger::{self, AccountKind, NewTransfer, Resolution};
use crate::notify::{self, Kind, Queued};
use crate::services::funding;
use crate::services::offers::{self as offer_service, move_status, Actor, OfferRow};
use crate::services::pledges::{PledgeRow, PledgeStatus};
use crate::services::refunds::{self as refund_service, RefundReason};

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Something was done; there may be more.
    Progress,
    /// Nothing to do now (unpaid pledges still within their deadline, refunds not yet confirmed).
    Waiting,
    /// The offer is finished (allocated or refunded), or not one to close out.
    Done,
}

fn pending_count(conn: &mut DbConnection, offer_id: &str) -> Result<i64, AppError> {
    Ok(pledges::table
        .filter(pledges::offer_id.eq(offer_id))
        .filter(pledges::status.eq(PledgeStatus::Pending))
        .select(count_star())
        .first(conn)?)
}

fn paid_batch(conn: &mut DbConnection, offer_id: &str, batch: i64) -> Result<Vec<PledgeRow>, AppError> {
    Ok(pledges::table
        .filter(pledges::offer_id.eq(offer_id))
        .filter(pledges::status.eq(PledgeStatus::Paid))
        .order(pledges::id)
        .limit(batch)
        .select(PledgeRow::as_select())
        .load(conn)?)
}

/// One step of an offer's close-out, handling at most `batch` pledges (or matches). Call in a
/// write transaction (it locks the offer's row).
pub fn step(conn: &mut DbConnection, offer_id: &str, now: NaiveDateTime, batch: i64) -> Result<Step, AppError> {
    offer_service::lock(conn, offer_id, now)?;
    let offer = offer_service::get(conn, offer_id)?;
    match offer.status()? {
        OfferStatus::Closed => decide(conn, &offer, now),
        OfferStatus::Succeeded => allocate(conn, &offer, now, batch),
        status @ (OfferStatus::Failed | OfferStatus::Cancelled) => refund(conn, &offer, status, now, batch),
        _ => Ok(Step::Done),
    }
}

/// Paid card pledges of the offer whose payment the card holder disputes, and no one has yet
/// won or lost: their money may yet go.
fn disputed(conn: &mut DbConnection, offer_id: &str) -> Result<Vec<String>, AppError> {
    let paid = pledges::table
        .filter(pledges::offer_id.eq(offer_id))
        .filter(pledges::status.eq(PledgeStatus::Paid))
        .select(pledges::id);
    Ok(card_payments::table
        .filter(card_payments::dispute_status.eq("open"))
        .filter(card_payments::pledge_id.eq_any(paid))
        .select(card_payments::pledge_id)
        .order(card_payments::pledge_id)
        .load(conn)?)
}

/// What an offer's close-out waits for, for its admins.
#[derive(Debug, Serialize, ToSchema)]
pub struct CloseoutState {
    pub status: OfferStatus,
    /// Unpaid pledges within their payment deadline: a closed offer is decided once each is
    /// paid or has expired.
    pub pending_pledges: i64,
    /// Paid card pledges whose payment the card holder disputes: a closed offer is decided
    /// once each dispute is won or lost (money lost in a dispute buys no shares).
    pub disputed_pledges: Vec<String>,
    /// Why a closed offer is not yet decided, in words; none when it is not waiting.
    pub waiting_for: Option<String>,
}

/// What the offer's close-out waits for (`GET /api/v1/offers/{id}/closeout`).
pub fn state(conn: &mut DbConnection, offer_id: &str) -> Result<CloseoutState, AppError> {
    let offer = offer_service::get(conn, offer_id)?;
    let status = offer.status()?;
    let pending_pledges = pending_count(conn, offer_id)?;
    let disputed_pledges = disputed(conn, offer_id)?;
    let mut reasons = Vec::new();
    if status == OfferStatus::Closed {
        if pending_pledges > 0 {
            reasons.push(format!(
                "{pending_pledges} unpaid pledge(s) within their payment deadline"
            ));
        }
        if !disputed_pledges.is_empty() {
            reasons.push(format!(
                "{} disputed card payment(s), until each dispute is won or lost",
                disputed_pledges.len()
            ));
        }
    }
    Ok(CloseoutState {
        status,
        pending_pledges,
        waiting_for: (!reasons.is_empty()).then(|| reasons.join("; ")),
        disputed_pledges,
    })
}

/// Closed: once no pledge awaits payment and no card payment is in dispute, succeeded or
/// failed.
fn decide(conn: &mut DbConnection, offer: &OfferRow, now: NaiveDateTime) -> Result<Step, AppError> {
    if pending_count(conn, &offer.id)? > 0 || !disputed(conn, &offer.id)?.is_empty() {
        return Ok(Step::Waiting);
    }
    let raised = offer.community_paid_pence + offer.match_pence;
    let to = if raised >= offer.min_target_pence {
        OfferStatus::Succeeded
    } else {
        OfferStatus::Failed
    };
    move_status(conn, &offer.id, OfferStatus::Closed, to, &Actor::Scheduler, now)?;
    tracing::info!(offer_id = %offer.id, outcome = to.as_str(), raised, "offer decided");
    tell_organisations(conn, offer, to, Pence::new(raised))?;
    Ok(Step::Progress)
}

/// Succeeded: paid pledges in batches, then matches in batches, then the rest.
fn allocate(conn: &mut DbConnection, offer: &OfferRow, now: NaiveDateTime, size: i64) -> Result<Step, AppError> {
    let capital = ledger::ensure_account(conn, AccountKind::Capital, &offer.society_id)?;
    let batch = paid_batch(conn, &offer.id, size)?;
    if !batch.is_empty() {
        allocate_pledges(conn, offer, &batch, &capital, now)?;
        return Ok(Step::Progress);
    }
    if allocate_matches(conn, offer, &capital, now, size)? {
        return Ok(Step::Progress);
    }
    // Approvals still awaiting a second admin can no longer be confirmed: their holds return.
    crate::services::funding::confirmation::release_offer_holds(conn, &offer.id)?;
    // What a fund committed beyond its match goes back to the fund.
    let applications: Vec<(String, String, i64, i64)> = match_applications::table
        .filter(match_applications::offer_id.eq(&offer.id))
        .filter(match_applications::status.eq(ApplicationStatus::Approved))
        .select((
            match_applications::id,
            match_applications::fund_id,
            match_applications::commitment_pence,
            match_applications::match_pence,
        ))
        .load(conn)?;
    for (application_id, fund_id, commitment, matched) in applications {
        if commitment > matched {
            ledger::create_posted(
                conn,
                &NewTransfer {
                    id: &format!("commitment:{application_id}:remainder"),
                    debit_account_id: &AccountKind::Commitment.account_id(&application_id),
                    credit_account_id: &AccountKind::Fund.account_id(&fund_id),
                    amount: Pence::new(commitment - matched),
                    kind: "release",
                    cause: &format!("offer:{}:allocated", offer.id),
                },
            )?;
        }
    }
    move_status(
        conn,
        &offer.id,
        OfferStatus::Succeeded,
        OfferStatus::Allocated,
        &Actor::Scheduler,
        now,
    )?;
    tracing::info!(offer_id = %offer.id, "offer allocated");
    tell_organisations(
        conn,
        offer,
        OfferStatus::Allocated,
        Pence::new(offer.community_paid_pence + offer.match_pence),
    )?;
    Ok(Step::Done)
}

/// The statutory address of an investor, as one line.
fn address(line1: Option<String>, line2: Option<String>, town: Option<String>, postcode: Option<String>) -> String {
    [line1, line2, town, postcode]
        .into_iter()
        .flatten()
        .filter(|part| !part.trim().is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A member's shares to add to the offer's register.
#[derive(Insertable)]
#[diesel(table_name = share_register)]
struct Entry<'a> {
    id: String,
    society_id: &'a str,
    offer_id: &'a str,
    member_kind: &'a str,
    member_id: String,
    name: String,
    address: Option<String>,
    email: Option<String>,
    shares: i64,
    amount_pence: i64,
    entered_at: NaiveDateTime,
}

/// Adds shares to members' entries in the offer's register (creating them). One entry per
/// member in `entries` (a multi-row upsert may not touch a row twice).
fn enter(conn: &mut DbConnection, entries: &[Entry<'_>]) -> Result<(), AppError> {
    use diesel::upsert::excluded;
    let conflict = (
        share_register::offer_id,
        share_register::member_kind,
        share_register::member_id,
    );
    let add = (
        share_register::shares.eq(share_register::shares + excluded(share_register::shares)),
        share_register::amount_pence.eq(share_register::amount_pence + excluded(share_register::amount_pence)),
    );
    // Multi-row upserts do not go through the MultiConnection enum, and diesel has none for
    // SQLite (in-process, no round trips): one branch per backend.
    match conn {
        DbConnection::Postgresql(pg) => {
            diesel::insert_into(share_register::table)
                .values(entries)
                .on_conflict(conflict)
                .do_update()
                .set(add)
                .execute(pg)?;
        }
        DbConnection::Sqlite(lite) => {
            for entry in entries {
                diesel::insert_into(share_register::table)
                    .values(entry)
                    .on_conflict(conflict)
                    .do_update()
                    .set(add)
                    .execute(lite)?;
            }
        }
    }
    Ok(())
}

type Investor = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

/// Allocates a batch of paid pledges: each becomes `allocated`, its investor's entry in the
/// register gains its shares, a shares-issued email is queued, and the batch's money moves from
/// escrow to the society's capital, all in the batch's transaction.
fn allocate_pledges(
    conn: &mut DbConnection,
    offer: &OfferRow,
    batch: &[PledgeRow],
    capital: &str,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let ids: Vec<&str> = batch.iter().map(|p| p.id.as_str()).collect();
    let moved = diesel::update(
        pledges::table
            .filter(pledges::id.eq_any(&ids))
            .filter(pledges::status.eq(PledgeStatus::Paid)),
    )
    .set((pledges::status.eq(PledgeStatus::Allocated), pledges::updated_at.eq(now)))
    .execute(conn)?;
    if moved != batch.len() {
        return Err(AppError::Internal(anyhow::anyhow!(
            "allocation batch of offer {} changed under the offer's lock",
            offer.id
        )));
    }
    let people = investors(conn, batch)?;
    let society: String = societies::table
        .find(&offer.society_id)
        .select(societies::name)
        .first(conn)?;
    let (entries, emails) = register_entries(offer, batch, &people, &society, now)?;
    enter(conn, &entries)?;
    notify::enqueue_many(conn, Kind::SharesIssued, &emails)?;
    let total = batch.iter().map(|p| p.amount_pence).sum();
    to_capital(
        conn,
        offer,
        AccountKind::Escrow,
        &format!("allocate:{}", batch[0].id),
        capital,
        total,
    )
}

/// The register's particulars of the batch's investors, by user id.
fn investors(conn: &mut DbConnection, batch: &[PledgeRow]) -> Result<HashMap<String, Investor>, AppError> {
    let investor_ids: Vec<&str> = batch.iter().map(|p| p.investor_id.as_str()).collect();
    Ok(users::table
        .filter(users::id.eq_any(&investor_ids))
        .select((
            users::id,
            users::display_name,
            users::full_name,
            users::address_line1,
            users::address_line2,
            users::town,
            users::postcode,
            users::email,
        ))
        .load::<Investor>(conn)?
        .into_iter()
        .map(|row| (row.0.clone(), row))
        .collect())
}

/// One register entry per investor of the batch (their pledges' shares and money summed; name
/// and address as the share register needs them, Co-operative and Community Benefit Societies
/// Act 2014 s.30) and one shares-issued email per pledge.
fn register_entries<'a>(
    offer: &'a OfferRow,
    batch: &[PledgeRow],
    people: &HashMap<String, Investor>,
    society: &str,
    now: NaiveDateTime,
) -> Result<(Vec<Entry<'a>>, Vec<Queued>), AppError> {
    let mut entries: Vec<Entry<'a>> = Vec::with_capacity(batch.len());
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut emails = Vec::with_capacity(batch.len());
    for pledge in batch {
        let (_, display_name, full_name, line1, line2, town, postcode, email) = people
            .get(&pledge.investor_id)
            .cloned()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("investor {} missing", pledge.investor_id)))?;
        match index.get(pledge.investor_id.as_str()) {
            Some(&i) => {
                entries[i].shares += pledge.shares;
                entries[i].amount_pence += pledge.amount_pence;
            }
            None => {
                index.insert(&pledge.investor_id, entries.len());
                entries.push(Entry {
                    id: clock::new_id(),
                    society_id: &offer.society_id,
                    offer_id: &offer.id,
                    member_kind: "investor",
                    member_id: pledge.investor_id.clone(),
                    name: full_name.unwrap_or_else(|| display_name.clone()),
                    address: Some(address(line1, line2, town, postcode)),
                    email: Some(email.clone()),
                    shares: pledge.shares,
                    amount_pence: pledge.amount_pence,
                    entered_at: now,
                });
            }
        }
        emails.push(Queued {
            recipient: email,
            context: json!({
                "name": display_name, "amount": Pence::new(pledge.amount_pence).to_string(),
                "shares": pledge.shares, "offer": offer.title, "society": society,
            }),
            dedupe_key: format!("shares:{}", pledge.id),
        });
    }
    Ok((entries, emails))
}

/// Moves a batch's money from the offer's escrow (community) or match account to the society's
/// capital, and counts it in the offer's allocated totals, in the batch's transaction.
fn to_capital(
    conn: &mut DbConnection,
    offer: &OfferRow,
    from: AccountKind,
    transfer_id: &str,
    capital: &str,
    total: i64,
) -> Result<(), AppError> {
    ledger::create_posted(
        conn,
        &NewTransfer {
            id: transfer_id,
            debit_account_id: &from.account_id(&offer.id),
            credit_account_id: capital,
            amount: Pence::new(total),
            kind: "allocation",
            cause: &format!("offer:{}:allocated", offer.id),
        },
    )?;
    totals::add_allocated(conn, &offer.id, total, from == AccountKind::Match)
}

/// Posts a batch of the offer's pending match transfers and enters each fund's funder as a
/// member. Returns false when none was left.
fn allocate_matches(
    conn: &mut DbConnection,
    offer: &OfferRow,
    capital: &str,
    now: NaiveDateTime,
    size: i64,
) -> Result<bool, AppError> {
    let batch: Vec<(String, String, i64, String, String, String)> = pledge_matches::table
        .inner_join(match_applications::table.inner_join(funds::table.inner_join(funders::table)))
        .inner_join(ledger_transfers::table.on(pledge_matches::transfer_id.eq(ledger_transfers::id.nullable())))
        .filter(match_applications::offer_id.eq(&offer.id))
        .filter(match_applications::status.eq(ApplicationStatus::Approved))
        .filter(ledger_transfers::state.eq("pending"))
        .order((pledge_matches::application_id, pledge_matches::pledge_id))
        .limit(size)
        .select((
            pledge_matches::application_id,
            pledge_matches::pledge_id,
            pledge_matches::amount_pence,
            ledger_transfers::id,
            funders::id,
            funders::name,
        ))
        .load(conn)?;
    if batch.is_empty() {
        return Ok(false);
    }
    let mut by_funder: HashMap<(String, String), i64> = HashMap::new();
    let mut total = 0;
    for (_, pledge_id, amount, transfer, funder_id, funder_name) in &batch {
        ledger::resolve_pending(conn, transfer, Resolution::Post, &format!("allocate-match:{pledge_id}"))?;
        *by_funder.entry((funder_id.clone(), funder_name.clone())).or_default() += amount;
        total += amount;
    }
    let entries: Vec<Entry<'_>> = by_funder
        .into_iter()
        .map(|((funder_id, funder_name), amount)| Entry {
            id: clock::new_id(),
            society_id: &offer.society_id,
            offer_id: &offer.id,
            member_kind: "funder",
            member_id: funder_id,
            name: funder_name,
            address: None,
            email: None,
            shares: amount / offer.share_price_pence,
            amount_pence: amount,
            entered_at: now,
        })
        .collect();
    enter(conn, &entries)?;
    let transfer_id = format!("allocate-match:{}:{}", batch[0].0, batch[0].1);
    to_capital(conn, offer, AccountKind::Match, &transfer_id, capital, total)?;
    Ok(true)
}

/// Failed or cancelled: commitments released, then paid pledges refunded in batches;
/// `refunded` once every refund is confirmed.
fn refund(
    conn: &mut DbConnection,
    offer: &OfferRow,
    status: OfferStatus,
    now: NaiveDateTime,
    size: i64,
) -> Result<Step, AppError> {
    // Release first (a no-op once done): with no approved fund left, refunding a pledge
    // recomputes no match.
    funding::release_offer(conn, &offer.id)?;
    let reason = if status == OfferStatus::Cancelled {
        RefundReason::OfferCancelled
    } else {
        RefundReason::OfferFailed
    };
    let batch = paid_batch(conn, &offer.id, size)?;
    if !batch.is_empty() {
        for pledge in &batch {
            refund_service::refund_paid_pledge(conn, pledge, reason, now)?;
        }
        return Ok(Step::Progress);
    }
    finish_refunds(conn, offer, status, now)
}

/// A failed or cancelled offer becomes `refunded` once every refund it made is confirmed (one
/// that took no money stays `failed` or `cancelled`).
fn finish_refunds(
    conn: &mut DbConnection,
    offer: &OfferRow,
    from: OfferStatus,
    now: NaiveDateTime,
) -> Result<Step, AppError> {
    let (made, open): (i64, i64) = (
        refunds::table
            .filter(refunds::offer_id.eq(&offer.id))
            .select(count_star())
            .first(conn)?,
        refunds::table
            .filter(refunds::offer_id.eq(&offer.id))
            .filter(refunds::status.ne("succeeded"))
            .select(count_star())
            .first(conn)?,
    );
    if made == 0 {
        return Ok(Step::Done);
    }
    if open > 0 || pending_count(conn, &offer.id)? > 0 {
        return Ok(Step::Waiting);
    }
    move_status(conn, &offer.id, from, OfferStatus::Refunded, &Actor::Scheduler, now)?;
    tracing::info!(offer_id = %offer.id, refunds = made, "offer refunded");
    tell_organisations(conn, offer, OfferStatus::Refunded, Pence::new(0))?;
    Ok(Step::Done)
}

/// The society's admins and the funders of its approved applications hear how it ended.
fn tell_organisations(
    conn: &mut DbConnection,
    offer: &OfferRow,
    outcome: OfferStatus,
    raised: Pence,
) -> Result<(), AppError> {
    let mut recipients: Vec<String> = notify::society_admin_emails(conn, &offer.society_id, false)?
        .into_iter()
        .map(|(_, email)| email)
        .collect();
    let funder_ids: Vec<String> = match_applications::table
        .inner_join(funds::table)
        .filter(match_applications::offer_id.eq(&offer.id))
        .filter(match_applications::status.eq_any([ApplicationStatus::Approved, ApplicationStatus::Released]))
        .select(funds::funder_id)
        .distinct()
        .load(conn)?;
    for funder_id in funder_ids {
        recipients.extend(notify::funder_admin_emails(conn, &funder_id)?);
    }
    recipients.sort();
    recipients.dedup();
    for email in recipients {
        notify::enqueue(
            conn,
            Kind::OfferDecided,
            &email,
            &json!({
                "offer": offer.title, "outcome": outcome.as_str(), "raised": raised.to_string(),
                "min_target": Pence::new(offer.min_target_pence).to_string(),
            }),
            Some(&format!("decided:{}:{}:{email}", offer.id, outcome.as_str())),
        )?;
    }
    Ok(())
}

/// Scheduler step: every offer with close-out work, each stepped until it waits or is done (at
/// most `max_steps` steps in all per call, so one huge offer does not starve the other jobs).
/// Each step is its own write transaction (on SQLite, its own turn at the write lock, so
/// requests go on between steps).
pub fn run_due(db: &Db, max_steps: usize, batch: i64) -> Result<usize, AppError> {
    let active: Vec<String> = offers::table
        .filter(
            offers::status
                .eq_any(["closed", "succeeded", "failed"])
                .or(offers::status.eq("cancelled").and(
                    diesel::dsl::exists(refunds::table.filter(refunds::offer_id.eq(offers::id))).or(
                        diesel::dsl::exists(
                            pledges::table
                                .filter(pledges::offer_id.eq(offers::id))
                                .filter(pledges::status.eq(PledgeStatus::Paid)),
                        ),
                    ),
                )),
        )
        .select(offers::id)
        .order(offers::id)
        .load(&mut db.conn()?)?;
    // Round robin: one step of each offer per pass, so that one large offer does not hold up
    // the others.
    let mut steps = 0;
    let mut active = active;
    while !active.is_empty() && steps < max_steps {
        let mut still = Vec::with_capacity(active.len());
        for offer_id in active {
            if steps >= max_steps {
                break;
            }
            let id = offer_id.clone();
            match db.write_blocking(move |conn| step(conn, &id, clock::now(), batch)) {
                Ok(Step::Progress) => {
                    steps += 1;
                    still.push(offer_id);
                }
                Ok(Step::Waiting | Step::Done) => {}
                Err(e) => {
                    tracing::error!(%offer_id, error = %e, "close-out step failed; it is tried again next tick");
                }
            }
        }
        active = still;
    }
    Ok(steps)
}

/// One member's entry in an offer's share register.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegisterEntry {
    pub member_id: String,
    /// `investor` or `funder`.
    pub member_kind: String,
    pub name: String,
    /// Postal address (not recorded for funders).
    pub address: Option<String>,
    pub email: Option<String>,
    pub shares: i64,
    pub amount_pence: i64,
    pub entered_at: chrono::DateTime<chrono::Utc>,
    /// One member, one vote, whatever the holding.
    pub votes: i64,
}

/// The offer's register entries, by name (409 before the offer is allocated).
pub fn register(conn: &mut DbConnection, offer_id: &str) -> Result<Vec<RegisterEntry>, AppError> {
    let offer = offer_service::get(conn, offer_id)?;
    if offer.status()? != OfferStatus::Allocated {
        return Err(AppError::conflict(format!(
            "the register is written when the offer is allocated; it is {}",
            offer.status
        )));
    }
    let rows: Vec<RegisterRow> = share_register::table
        .filter(share_register::offer_id.eq(offer_id))
        .order((share_register::name, share_register::member_id))
        .select((
            share_register::member_id,
            share_register::member_kind,
            share_register::name,
            share_register::address,
            share_register::email,
            share_register::shares,
            share_register::amount_pence,
            share_register::entered_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| RegisterEntry {
            member_id: r.member_id,
            member_kind: r.member_kind,
            name: r.name,
            address: r.address,
            email: r.email,
            shares: r.shares,
            amount_pence: r.amount_pence,
            entered_at: clock::utc(r.entered_at),
            votes: 1,
        })
        .collect())
}

#[derive(Queryable)]
struct RegisterRow {
    member_id: String,
    member_kind: String,
    name: String,
    address: Option<String>,
    email: Option<String>,
    shares: i64,
    amount_pence: i64,
    entered_at: NaiveDateTime,
}

/// Shares a user holds in one society.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Holding {
    pub society_id: String,
    pub society_name: String,
    pub shares: i64,
    pub amount_pence: i64,
    pub offers: Vec<HoldingOffer>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HoldingOffer {
    pub offer_id: String,
    pub title: String,
    pub shares: i64,
    pub amount_pence: i64,
    pub entered_at: chrono::DateTime<chrono::Utc>,
}

/// The shares `user_id` holds, by society.
pub fn holdings(conn: &mut DbConnection, user_id: &str) -> Result<Vec<Holding>, AppError> {
    let rows: Vec<(String, String, String, String, i64, i64, NaiveDateTime)> = share_register::table
        .inner_join(societies::table)
        .inner_join(offers::table)
        .filter(share_register::member_kind.eq("investor"))
        .filter(share_register::member_id.eq(user_id))
        .order((societies::name, share_register::entered_at))
        .select((
            societies::id,
            societies::name,
            offers::id,
            offers::title,
            share_register::shares,
            share_register::amount_pence,
            share_register::entered_at,
        ))
        .load(conn)?;
    let mut out: Vec<Holding> = Vec::new();
    for (society_id, society_name, offer_id, title, shares, amount, entered_at) in rows {
        if out.last().map(|h| h.society_id != society_id).unwrap_or(true) {
            out.push(Holding {
                society_id: society_id.clone(),
                society_name,
                shares: 0,
                amount_pence: 0,
                offers: Vec::new(),
            });
        }
        let holding = out.last_mut().expect("pushed above");
        holding.shares += shares;
        holding.amount_pence += amount;
        holding.offers.push(HoldingOffer {
            offer_id,
            title,
            shares,
            amount_pence: amount,
            entered_at: clock::utc(entered_at),
        });
    }
    Ok(out)
}
