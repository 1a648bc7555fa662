//! Making a pledge: the checks (DESIGN §2), then, under the offer's row lock, the capacity
//! reserved, the pledge and its pending ledger transfer written, the holding limit held in the
//! insert itself, and the match.

use crate::metrics::staged::{self, Event};
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde_json::json;

use super::view::{Extras, PledgeView};
use super::{investor_total, offer_with_bank_details, NewPledge, PaymentMethod, PledgePolicy, PledgeRow, PledgeStatus};
use crate::clock;
use crate::db::fixed::{Fixed, Param};
use crate::db::schema::{offers, pledges};
use crate::db::DbConnection;
use crate::domain::money::Pence;
use crate::domain::offer::OfferStatus;
use crate::domain::pledge::{
    bank_reference, cancellable_until, capacity_error, check_new_pledge, InvestorProfile, PledgeContext,
};
use crate::error::AppError;
use crate::ledger::totals;
use crate::ledger::{self, AccountKind, NewTransfer};
use crate::notify::{self, Kind};
use crate::services::accounts::{self, UserRow};
use crate::services::offers::{self as offer_service, OfferRow};
use crate::services::organisations::BankDetails;
use crate::services::{funding, payments as payment_service};

/// Makes a pledge. Call inside a write transaction. A card pledge gets its card payment row
/// here; its Stripe PaymentIntent is made after the commit (`payments::ensure_intent`).
/// 404 for an offer that is not public; 409 when it is not open; 422 for a broken rule.
pub fn create(
    conn: &mut DbConnection,
    investor_id: &str,
    offer_id: &str,
    new: &NewPledge,
    policy: PledgePolicy,
) -> Result<PledgeView, AppError> {
    let now = clock::now();
    let (offer, bank_details) = offer_with_bank_details(conn, offer_id)?;
    if !offer.is_public()? {
        return Err(AppError::NotFound("offer"));
    }
    let card = new.payment_method == PaymentMethod::Card;
    if card && policy.card_check_after.is_none() {
        return Err(crate::payments::card_not_configured());
    }
    let user = accounts::get(conn, investor_id)?;
    let (terms, prefixes) = (offer.terms(), offer.postcode_prefixes());
    let mut context = PledgeContext {
        status: offer.status()?,
        terms: &terms,
        offer_total: Pence::new(offer.community_pledged_pence + offer.match_pence),
        investor_total: Pence::new(investor_total(conn, offer_id, investor_id)?),
        min_age: i64::from(offer.min_age),
        postcode_prefixes: &prefixes,
        profile: profile_of(&user),
        accept_terms: new.accept_terms,
        now,
    };
    // A first check for clear answers; the conditional update under the lock is what holds
    // under concurrency.
    let shares = check_new_pledge(&context, new.amount)?;
    // Everything that does not need the offer's row lock happens before it is taken: the lock
    // is held from the reservation to the commit, and every pledge to the offer queues on it.
    let id = clock::new_id();
    let mut row = PledgeRow {
        transfer_id: format!("pledge:{id}"),
        id,
        offer_id: offer_id.to_owned(),
        investor_id: investor_id.to_owned(),
        status: PledgeStatus::Pending,
        amount_pence: new.amount.get(),
        shares,
        match_pence: 0,
        payment_method: new.payment_method,
        bank_reference: if card { None } else { new_reference(conn)? },
        cancellable_until: cancellable_until(now, terms.cooling_off_days, terms.closes_at),
        payment_due_at: now + Duration::days(policy.payment_deadline_days),
        paid_at: None,
        ended_at: None,
        created_at: now,
        updated_at: now,
        received_pence: 0,
        offer_seq: 0,
    };
    if !card {
        // A card payer pays on the page at once; they hear from us when the payment succeeds.
        tell_bank_payer(conn, &user, &offer, bank_details.as_ref(), &row)?;
    }
    let (matched, new_investor) = write_locked(conn, &mut row, &mut context)?;
    if matched {
        let newly = funding::NewlyPledged {
            id: &row.id,
            investor_id,
            amount: new.amount,
            postcode: user.postcode.as_deref().unwrap_or_default(),
            new_investor,
        };
        row.match_pence = funding::match_new_pledge(conn, offer_id, &newly)?;
    }
    answer(conn, row, bank_details, policy)
}

/// A card pledge's card payment row, and the investor's view of the new pledge, built from
/// what was written without reading it back.
fn answer(
    conn: &mut DbConnection,
    row: PledgeRow,
    bank_details: Option<BankDetails>,
    policy: PledgePolicy,
) -> Result<PledgeView, AppError> {
    let card = match policy.card_check_after {
        Some(after) if row.payment_method == PaymentMethod::Card => Some(payment_service::insert_card_payment(
            conn,
            &row.id,
            row.created_at,
            row.created_at + after,
        )?),
        _ => None,
    };
    // A new pledge has no receipts yet.
    let extras = Extras {
        card,
        refund: None,
        awaiting: Vec::new(),
        for_investor: true,
    };
    PledgeView::build(row, bank_details, extras)
}

/// The investor's profile as the rules look at it, when it is complete.
fn profile_of(user: &UserRow) -> Option<InvestorProfile<'_>> {
    match (user.profile_complete(), user.date_of_birth, user.postcode.as_deref()) {
        (true, Some(date_of_birth), Some(postcode)) => Some(InvestorProfile {
            date_of_birth,
            postcode,
        }),
        _ => None,
    }
}

/// Emails a bank payer how to pay: the society's account, the reference, the deadline.
fn tell_bank_payer(
    conn: &mut DbConnection,
    user: &UserRow,
    offer: &OfferRow,
    pay: Option<&BankDetails>,
    row: &PledgeRow,
) -> Result<(), AppError> {
    notify::enqueue(
        conn,
        Kind::PledgeReceived,
        &user.email,
        &json!({
            "name": user.display_name, "amount": Pence::new(row.amount_pence).to_string(), "shares": row.shares,
            "offer": offer.title, "due": clock::for_people(row.payment_due_at),
            "account_name": pay.map(|b| b.account_name.clone()),
            "sort_code": pay.map(|b| b.sort_code.clone()),
            "account_number": pay.map(|b| b.account_number.clone()),
            "reference": row.bank_reference, "cancellable_until": clock::for_people(row.cancellable_until),
        }),
        None,
    )?;
    Ok(())
}

/// Writes the pledge and its pending transfer under the offer's row lock, and sets its place in
/// pledge order and its `created_at` (taken under the lock). Answers whether a fund
/// matches the offer and whether the investor had no live pledge to it before.
///
/// The offer's capacity is reserved between writing the pledge's transfer and moving its
/// balances, so that the rows every pledge to the offer writes (the offer's and its escrow
/// account's) are locked last, for the few statements from here to the commit, and the offer
/// row first, as by everything else that moves the offer's money.
fn write_locked(
    conn: &mut DbConnection,
    row: &mut PledgeRow,
    context: &mut PledgeContext<'_>,
) -> Result<(bool, bool), AppError> {
    let [investor_account, escrow_account] = ledger::ensure_accounts(
        conn,
        [
            (AccountKind::Investor, &row.investor_id),
            (AccountKind::Escrow, &row.offer_id),
        ],
    )?;
    let amount = Pence::new(row.amount_pence);
    let transfer = NewTransfer {
        id: &row.transfer_id,
        debit_account_id: &investor_account,
        credit_account_id: &escrow_account,
        amount,
        kind: "pledge",
        cause: &row.transfer_id,
    };
    let offer_id = row.offer_id.clone();
    let created_at =
        ledger::create_pending_credit_last(conn, &transfer, |conn| reserve(conn, &offer_id, amount, context))?;
    row.created_at = created_at;
    row.updated_at = created_at;
    staged::stage(Event::PledgeCreated {
        pence: row.amount_pence,
    });
    // The offer row is locked until the commit, so the investor's live pledges to it are
    // current: the insert checks them in the same statement.
    // The match engine runs when the offer's live funds have room left: with none left, a new
    // pledge (last in pledge order) is matched nothing and changes no other match
    // (`offers.match_room_pence`).
    if let Some(match_room) = insert_if_holding_is(conn, row, context.investor_total)? {
        return Ok((match_room > 0, context.investor_total == Pence::ZERO));
    }
    // Another pledge of this investor to this offer committed after the first look (rare):
    // check the limits again, and correct the investor count the reservation assumed.
    let held = investor_total(conn, &row.offer_id, &row.investor_id)?;
    let correction = i32::from(held == 0) - i32::from(context.investor_total == Pence::ZERO);
    context.investor_total = Pence::new(held);
    context.offer_total = Pence::ZERO;
    check_new_pledge(context, amount)?;
    totals::correct_investor_count(conn, &row.offer_id, correction)?;
    row.offer_seq = offers::table
        .find(&row.offer_id)
        .select(offers::pledges_made)
        .first(conn)?;
    insert_pledge(conn, row)?;
    Ok((true, held == 0))
}

/// Reserves the pledge's amount of the offer's capacity, in one conditional update of the offer
/// row, which locks it until the commit. Answers the pledge's place in pledge order (numbered by
/// the reservation: the order the match engine follows is the order in which pledges reserved
/// their capacity) and its time of creation.
fn reserve(
    conn: &mut DbConnection,
    offer_id: &str,
    amount: Pence,
    context: &PledgeContext<'_>,
) -> Result<NaiveDateTime, AppError> {
    let new_investor = context.investor_total == Pence::ZERO;
    if !totals::reserve(conn, offer_id, amount, new_investor, context.now)? {
        let fresh = offer_service::get(conn, offer_id)?;
        if fresh.status()? != OfferStatus::Open {
            return Err(AppError::conflict(format!(
                "the offer is {} and not taking pledges",
                fresh.status
            )));
        }
        return Err(AppError::Validation(vec![capacity_error(
            context.terms.max_target,
            Pence::new(fresh.community_pledged_pence + fresh.match_pence),
        )]));
    }
    Ok(clock::now())
}

/// The text of [`insert_if_holding_is`], around its 21 parameters.
#[rustfmt::skip]
const INSERT_IF_HOLDING_IS: &[&str] = &[
    "INSERT INTO pledges (id, offer_id, investor_id, status, amount_pence, shares, payment_method, \
     bank_reference, transfer_id, cancellable_until, payment_due_at, created_at, updated_at, offer_seq) SELECT ",
    ", ", ", ", ", ", ", ", ", ", ", ", ", ", ", ", ", ", ", ", ", ", ", ", ", (SELECT pledges_made FROM offers WHERE id = ",
    ") WHERE (SELECT COALESCE(SUM(amount_pence), 0) FROM pledges WHERE offer_id = ",
    " AND investor_id = ",
    " AND (status = ",
    " OR status = ",
    " OR status = ",
    ")) = ",
    " RETURNING (SELECT match_room_pence FROM offers WHERE id = ",
    ") AS n",
];

/// Inserts the pending pledge, numbered by the reservation (the offer's `pledges_made`), if the
/// investor's live pledges to the offer still come to `expected`, and in the same statement
/// reads what the offer's live funds may still match. Answers that, or `None` (and inserts
/// nothing) if the investor's total has changed. One statement, because it runs while the
/// offer row is locked.
fn insert_if_holding_is(conn: &mut DbConnection, row: &PledgeRow, expected: Pence) -> Result<Option<i64>, AppError> {
    Fixed {
        parts: INSERT_IF_HOLDING_IS,
        params: [
            Param::Text(&row.id),
            Param::Text(&row.offer_id),
            Param::Text(&row.investor_id),
            Param::Text(PledgeStatus::Pending.as_str()),
            Param::BigInt(row.amount_pence),
            Param::BigInt(row.shares),
            Param::Text(row.payment_method.as_str()),
            Param::OptText(row.bank_reference.as_deref()),
            Param::Text(&row.transfer_id),
            Param::Timestamp(row.cancellable_until),
            Param::Timestamp(row.payment_due_at),
            Param::Timestamp(row.created_at),
            Param::Timestamp(row.created_at),
            Param::Text(&row.offer_id),
            Param::Text(&row.offer_id),
            Param::Text(&row.investor_id),
            Param::Text(PledgeStatus::LIVE[0].as_str()),
            Param::Text(PledgeStatus::LIVE[1].as_str()),
            Param::Text(PledgeStatus::LIVE[2].as_str()),
            Param::BigInt(expected.get()),
            Param::Text(&row.offer_id),
        ],
    }
    .first_number(conn)
}

/// Inserts the pending pledge.
fn insert_pledge(conn: &mut DbConnection, row: &PledgeRow) -> Result<(), AppError> {
    diesel::insert_into(pledges::table)
        .values((
            pledges::id.eq(&row.id),
            pledges::offer_id.eq(&row.offer_id),
            pledges::investor_id.eq(&row.investor_id),
            pledges::status.eq(PledgeStatus::Pending),
            pledges::amount_pence.eq(row.amount_pence),
            pledges::shares.eq(row.shares),
            pledges::payment_method.eq(row.payment_method.as_str()),
            pledges::bank_reference.eq(&row.bank_reference),
            pledges::transfer_id.eq(&row.transfer_id),
            pledges::cancellable_until.eq(row.cancellable_until),
            pledges::payment_due_at.eq(row.payment_due_at),
            pledges::created_at.eq(row.created_at),
            pledges::updated_at.eq(row.created_at),
            pledges::offer_seq.eq(row.offer_seq),
        ))
        .execute(conn)?;
    Ok(())
}

fn new_reference(conn: &mut DbConnection) -> Result<Option<String>, AppError> {
    // 40 random bits: collisions are rare but not impossible over millions of pledges.
    for _ in 0..8 {
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).map_err(|e| AppError::Internal(anyhow::anyhow!("no randomness: {e}")))?;
        let reference = bank_reference(random);
        let taken = pledges::table
            .filter(pledges::bank_reference.eq(&reference))
            .select(pledges::id)
            .first::<String>(conn)
            .optional()?
            .is_some();
        if !taken {
            return Ok(Some(reference));
        }
    }
    Err(AppError::Internal(anyhow::anyhow!(
        "no free bank reference after 8 tries"
    )))
}
