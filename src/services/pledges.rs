//! Pledges: making one (capacity and holding limits enforced under the offer's row lock),
//! paying by bank transfer (a receipt posts the pending transfer), cancelling, expiring, and
//! the views. Every change writes its ledger transfer, the pledge and the offer totals in one
//! transaction.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock;
use crate::db::fixed::{Fixed, Param};
use crate::db::schema::{offers, pledges, societies};
use crate::db::{write_transaction, DbConnection};
use crate::domain::matching::ApplicationStatus;
use crate::domain::money::Pence;
use crate::domain::offer::OfferStatus;
use crate::domain::pledge::{
    bank_reference, cancellable_until, capacity_error, check_new_pledge, InvestorProfile, PledgeContext,
};
pub use crate::domain::pledge::{PaymentMethod, PledgeStatus};
use crate::error::AppError;
use crate::ledger::{self, AccountKind, NewTransfer, Resolution};
use crate::notify::{self, Kind, Queued};
use crate::services::offers::{self as offer_service, OfferRow};
use crate::services::organisations::BankDetails;
use crate::services::page::{Page, PageRequest};
use crate::services::payments::{self as payment_service, CardRow};
use crate::services::refunds::{self, RefundReason, RefundRow, RefundView};
use crate::services::{accounts, funding, organisations};
use serde_json::json;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pledges)]
pub struct PledgeRow {
    pub id: String,
    pub offer_id: String,
    pub investor_id: String,
    pub status: PledgeStatus,
    pub amount_pence: i64,
    pub shares: i64,
    pub match_pence: i64,
    pub payment_method: PaymentMethod,
    pub bank_reference: Option<String>,
    pub transfer_id: String,
    pub cancellable_until: NaiveDateTime,
    pub payment_due_at: NaiveDateTime,
    pub paid_at: Option<NaiveDateTime>,
    pub ended_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// What has arrived towards the pledge so far (bank transfers may come in parts).
    pub received_pence: i64,
}

/// How to pay.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentInstructions {
    pub method: PaymentMethod,
    /// Quote this reference with the bank transfer.
    pub bank_reference: Option<String>,
    /// The society's account to pay into.
    pub bank_details: Option<BankDetails>,
    /// Card: the Stripe PaymentIntent's client secret for Stripe's payment element; shown only
    /// to the investor, while the pledge awaits payment.
    pub client_secret: Option<String>,
    /// Card: Stripe's last known status of the payment (`creating` until the intent exists).
    pub card_status: Option<String>,
    /// Card: why the last attempt to pay failed, as Stripe said.
    pub failure_reason: Option<String>,
    /// For the society's admins: a dispute opened on the card payment, or a refund made in
    /// Stripe outside the platform.
    pub flag: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PledgeView {
    pub id: String,
    pub offer_id: String,
    pub investor_id: String,
    pub status: PledgeStatus,
    pub amount_pence: Pence,
    pub shares: i64,
    pub match_pence: Pence,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// A paid pledge may be cancelled until then (the cooling-off period, and never after the
    /// close); an unpaid one may be withdrawn any time before the close.
    pub cancellable_until: chrono::DateTime<chrono::Utc>,
    /// An unpaid pledge expires then.
    pub payment_due_at: chrono::DateTime<chrono::Utc>,
    pub paid_at: Option<chrono::DateTime<chrono::Utc>>,
    /// What has arrived towards the pledge, in pence: its amount once `paid`; less while a bank
    /// transfer has come in parts (DESIGN §3).
    pub received_pence: Pence,
    pub payment: PaymentInstructions,
    /// The latest money owed back for this pledge, once one is started: the refund of its
    /// payment when it ended, or what a bank transfer paid beyond its amount.
    pub refund: Option<RefundView>,
}

/// What a view shows beside the pledge row.
#[derive(Debug, Default)]
pub struct Extras {
    pub card: Option<CardRow>,
    pub refund: Option<RefundRow>,
    /// The viewer is the pledge's investor (who alone sees the card client secret).
    pub for_investor: bool,
}

impl PledgeView {
    fn build(row: PledgeRow, bank_details: Option<BankDetails>, extras: Extras) -> Result<Self, AppError> {
        let method = row.payment_method;
        let status = row.status;
        let card = extras.card;
        Ok(PledgeView {
            status,
            amount_pence: Pence::new(row.amount_pence),
            match_pence: Pence::new(row.match_pence),
            created_at: clock::utc(row.created_at),
            cancellable_until: clock::utc(row.cancellable_until),
            payment_due_at: clock::utc(row.payment_due_at),
            paid_at: row.paid_at.map(clock::utc),
            received_pence: Pence::new(row.received_pence),
            payment: PaymentInstructions {
                method,
                bank_reference: row.bank_reference,
                bank_details: if method == PaymentMethod::BankTransfer {
                    bank_details
                } else {
                    None
                },
                client_secret: card
                    .as_ref()
                    .filter(|_| extras.for_investor && status == PledgeStatus::Pending)
                    .and_then(|c| c.client_secret.clone()),
                card_status: card.as_ref().map(|c| c.stripe_status.clone()),
                failure_reason: card.as_ref().and_then(|c| c.failure_reason.clone()),
                flag: card.as_ref().and_then(|c| c.flag.clone()),
            },
            refund: extras.refund.map(RefundView::from),
            id: row.id,
            offer_id: row.offer_id,
            investor_id: row.investor_id,
            shares: row.shares,
        })
    }
}

/// A pledge as asked for.
#[derive(Debug, Clone)]
pub struct NewPledge {
    pub amount: Pence,
    pub payment_method: PaymentMethod,
    pub accept_terms: bool,
}

/// The investor's live pledges to the offer, in pence. Read from the index on (offer,
/// investor, status, amount) alone; the statuses are spelled out (not `IN (...)`) so that the
/// statement is prepared once per connection.
/// What the investor has pledged to the offer in live pledges (pending, paid, allocated).
pub(crate) fn investor_total(conn: &mut DbConnection, offer_id: &str, investor_id: &str) -> Result<i64, AppError> {
    let amounts: Vec<i64> = pledges::table
        .filter(pledges::offer_id.eq(offer_id))
        .filter(pledges::investor_id.eq(investor_id))
        .filter(
            pledges::status
                .eq(PledgeStatus::LIVE[0])
                .or(pledges::status.eq(PledgeStatus::LIVE[1]))
                .or(pledges::status.eq(PledgeStatus::LIVE[2])),
        )
        .select(pledges::amount_pence)
        .load(conn)?;
    Ok(amounts.iter().sum())
}

type BankColumns = (Option<String>, Option<String>, Option<String>);

/// The society's columns that make its bank details.
const BANK_COLUMNS: (
    societies::bank_account_name,
    societies::bank_sort_code,
    societies::bank_account_number,
) = (
    societies::bank_account_name,
    societies::bank_sort_code,
    societies::bank_account_number,
);

fn bank_details_of(columns: BankColumns) -> Option<BankDetails> {
    match columns {
        (Some(account_name), Some(sort_code), Some(account_number)) => Some(BankDetails {
            account_name,
            sort_code,
            account_number,
        }),
        _ => None,
    }
}

/// The bank details of the society that runs the offer.
fn offer_bank_details(conn: &mut DbConnection, offer_id: &str) -> Result<Option<BankDetails>, AppError> {
    let columns: BankColumns = offers::table
        .inner_join(societies::table)
        .filter(offers::id.eq(offer_id))
        .select(BANK_COLUMNS)
        .first(conn)?;
    Ok(bank_details_of(columns))
}

/// The offer and its society's bank details, in one statement; 404 if there is no such offer.
fn offer_with_bank_details(
    conn: &mut DbConnection,
    offer_id: &str,
) -> Result<(OfferRow, Option<BankDetails>), AppError> {
    let (offer, columns): (OfferRow, BankColumns) = offers::table
        .inner_join(societies::table)
        .filter(offers::id.eq(offer_id))
        .select((OfferRow::as_select(), BANK_COLUMNS))
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound("offer"))?;
    Ok((offer, bank_details_of(columns)))
}

/// How pledges are taken on this server.
#[derive(Debug, Clone, Copy)]
pub struct PledgePolicy {
    pub payment_deadline_days: i64,
    /// Card payments are on, and the reconciliation job first looks at a card pledge this long
    /// after it is made.
    pub card_check_after: Option<Duration>,
}

/// Makes a pledge. Call inside a write transaction. A card pledge gets its card payment row
/// here; its Stripe PaymentIntent is made after the commit (`payments::ensure_intent`).
pub fn create(
    conn: &mut DbConnection,
    investor_id: &str,
    offer_id: &str,
    new: &NewPledge,
    policy: PledgePolicy,
) -> Result<PledgeView, AppError> {
    let payment_deadline_days = policy.payment_deadline_days;
    let now = clock::now();
    let (offer, bank_details) = offer_with_bank_details(conn, offer_id)?;
    if !offer.is_public()? {
        return Err(AppError::NotFound("offer"));
    }
    if new.payment_method == PaymentMethod::Card && policy.card_check_after.is_none() {
        return Err(crate::payments::card_not_configured());
    }
    let user = accounts::get(conn, investor_id)?;
    let terms = offer.terms();
    let prefixes = offer.postcode_prefixes();
    let profile = match (user.profile_complete(), user.date_of_birth, user.postcode.as_deref()) {
        (true, Some(date_of_birth), Some(postcode)) => Some(InvestorProfile {
            date_of_birth,
            postcode,
        }),
        _ => None,
    };
    let mut context = PledgeContext {
        status: offer.status()?,
        terms: &terms,
        offer_total: Pence::new(offer.community_pledged_pence + offer.match_pence),
        investor_total: Pence::new(investor_total(conn, offer_id, investor_id)?),
        min_age: i64::from(offer.min_age),
        postcode_prefixes: &prefixes,
        profile,
        accept_terms: new.accept_terms,
        now,
    };
    // A first check for clear answers; the conditional update below is what holds under
    // concurrency.
    let shares = check_new_pledge(&context, new.amount)?;
    let amount = new.amount.get();
    // Everything that does not need the offer's row lock happens before it is taken: the lock
    // is held from the reservation to the commit, and every pledge to the offer queues on it.
    let [investor_account, escrow_account] = ledger::ensure_accounts(
        conn,
        [(AccountKind::Investor, investor_id), (AccountKind::Escrow, offer_id)],
    )?;
    let card = new.payment_method == PaymentMethod::Card;
    let reference = if card { None } else { new_reference(conn)? };
    let due_at = now + Duration::days(payment_deadline_days);
    let cancellable_until = cancellable_until(now, terms.cooling_off_days, terms.closes_at);
    if !card {
        // A card payer pays on the page at once; they hear from us when the payment succeeds.
        let pay = bank_details.as_ref();
        notify::enqueue(
            conn,
            Kind::PledgeReceived,
            &user.email,
            &json!({
                "name": user.display_name, "amount": new.amount.to_string(), "shares": shares, "offer": offer.title,
                "due": clock::for_people(due_at),
                "account_name": pay.map(|b| b.account_name.clone()),
                "sort_code": pay.map(|b| b.sort_code.clone()),
                "account_number": pay.map(|b| b.account_number.clone()),
                "reference": reference, "cancellable_until": clock::for_people(cancellable_until),
            }),
            None,
        )?;
    }
    let pledge_id = clock::new_id();
    let transfer_id = format!("pledge:{pledge_id}");
    // The offer's capacity is reserved between writing the pledge's transfer and moving its
    // balances, so that the rows every pledge to the offer writes (the offer's and its escrow
    // account's) are locked last, for the few statements from here to the commit, and the
    // offer row first, as by everything else that moves the offer's money.
    let created_at = ledger::create_pending_credit_last(
        conn,
        &NewTransfer {
            id: &transfer_id,
            debit_account_id: &investor_account,
            credit_account_id: &escrow_account,
            amount: new.amount,
            kind: "pledge",
            cause: &transfer_id,
        },
        |conn| reserve(conn, offer_id, new.amount, &context),
    )?;
    let pledge = NewPledgeRow {
        id: &pledge_id,
        offer_id,
        investor_id,
        amount,
        shares,
        payment_method: new.payment_method,
        reference: reference.as_deref(),
        transfer_id: &transfer_id,
        cancellable_until,
        due_at,
        created_at,
    };
    // The offer row is locked until the commit, so the investor's live pledges to it are
    // current: the insert checks them in the same statement.
    let (matched, new_investor) = match insert_if_holding_is(conn, &pledge, context.investor_total)? {
        Some(approved_applications) => (approved_applications > 0, context.investor_total == Pence::ZERO),
        None => {
            // Another pledge of this investor to this offer committed after the first look
            // (rare): check the limits again, and correct the investor count the reservation
            // assumed.
            let held = investor_total(conn, offer_id, investor_id)?;
            let correction = i32::from(held == 0) - i32::from(context.investor_total == Pence::ZERO);
            context.investor_total = Pence::new(held);
            context.offer_total = Pence::ZERO;
            check_new_pledge(&context, new.amount)?;
            if correction != 0 {
                diesel::update(offers::table.find(offer_id))
                    .set(offers::investor_count.eq(offers::investor_count + correction))
                    .execute(conn)?;
            }
            insert_pledge(conn, &pledge)?;
            (true, held == 0)
        }
    };
    // The match engine runs only when a fund matches the offer.
    let match_pence = if matched {
        let newly = funding::NewlyPledged {
            id: &pledge_id,
            investor_id,
            amount: new.amount,
            postcode: user.postcode.as_deref().unwrap_or_default(),
            new_investor,
        };
        funding::match_new_pledge(conn, offer_id, &newly)?
    } else {
        0
    };
    let card_row = match policy.card_check_after {
        Some(after) if card => Some(payment_service::insert_card_payment(
            conn,
            &pledge_id,
            created_at,
            created_at + after,
        )?),
        _ => None,
    };
    // The answer is built from what was written, without reading it back.
    PledgeView::build(
        PledgeRow {
            id: pledge_id,
            offer_id: offer_id.to_owned(),
            investor_id: investor_id.to_owned(),
            status: PledgeStatus::Pending,
            amount_pence: amount,
            shares,
            match_pence,
            payment_method: new.payment_method,
            bank_reference: reference,
            transfer_id,
            cancellable_until,
            payment_due_at: due_at,
            paid_at: None,
            ended_at: None,
            created_at,
            updated_at: created_at,
            received_pence: 0,
        },
        bank_details,
        Extras {
            card: card_row,
            refund: None,
            for_investor: true,
        },
    )
}

/// Reserves the pledge's amount of the offer's capacity, in one conditional update of the offer
/// row, which locks it until the commit. Answers the pledge's time of creation, taken under
/// the lock: it is the pledge's place in the queue the match engine follows, so that place is
/// the order in which pledges reserved their capacity.
fn reserve(
    conn: &mut DbConnection,
    offer_id: &str,
    amount: Pence,
    context: &PledgeContext<'_>,
) -> Result<NaiveDateTime, AppError> {
    let now = context.now;
    let first_pledge = context.investor_total == Pence::ZERO;
    // One conditional update (of fixed text, prepared once per connection).
    let reserved = Fixed {
        parts: &[
            "UPDATE offers SET community_pledged_pence = community_pledged_pence + ",
            ", pledge_count = pledge_count + 1, investor_count = investor_count + ",
            ", updated_at = ",
            " WHERE id = ",
            " AND status = ",
            " AND closes_at > ",
            " AND community_pledged_pence + match_pence + ",
            " <= max_target_pence",
        ],
        params: [
            Param::BigInt(amount.get()),
            Param::Integer(i32::from(first_pledge)),
            Param::Timestamp(now),
            Param::Text(offer_id),
            Param::Text(OfferStatus::Open.as_str()),
            Param::Timestamp(now),
            Param::BigInt(amount.get()),
        ],
    }
    .execute(conn)?;
    if reserved == 0 {
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

/// A new pledge row.
struct NewPledgeRow<'a> {
    id: &'a str,
    offer_id: &'a str,
    investor_id: &'a str,
    amount: i64,
    shares: i64,
    payment_method: PaymentMethod,
    reference: Option<&'a str>,
    transfer_id: &'a str,
    cancellable_until: NaiveDateTime,
    due_at: NaiveDateTime,
    created_at: NaiveDateTime,
}

/// The text of [`insert_if_holding_is`], around its 21 parameters.
#[rustfmt::skip]
const INSERT_IF_HOLDING_IS: &[&str] = &[
    "INSERT INTO pledges (id, offer_id, investor_id, status, amount_pence, shares, payment_method, \
     bank_reference, transfer_id, cancellable_until, payment_due_at, created_at, updated_at) SELECT ",
    ", ", ", ", ", ", ", ", ", ", ", ", ", ", ", ", ", ", ", ", ", ", ", ",
    " WHERE (SELECT COALESCE(SUM(amount_pence), 0) FROM pledges WHERE offer_id = ",
    " AND investor_id = ",
    " AND (status = ",
    " OR status = ",
    " OR status = ",
    ")) = ",
    " RETURNING (SELECT COUNT(*) FROM match_applications WHERE offer_id = ",
    " AND status = ",
    ") AS n",
];

/// Inserts the pending pledge if the investor's live pledges to the offer still come to
/// `expected`, and in the same statement counts the offer's approved match applications.
/// Answers that count, or `None` (and inserts nothing) if the investor's total has changed.
/// One statement, because it runs while the offer row is locked.
fn insert_if_holding_is(
    conn: &mut DbConnection,
    row: &NewPledgeRow<'_>,
    expected: Pence,
) -> Result<Option<i64>, AppError> {
    Fixed {
        parts: INSERT_IF_HOLDING_IS,
        params: [
            Param::Text(row.id),
            Param::Text(row.offer_id),
            Param::Text(row.investor_id),
            Param::Text(PledgeStatus::Pending.as_str()),
            Param::BigInt(row.amount),
            Param::BigInt(row.shares),
            Param::Text(row.payment_method.as_str()),
            Param::OptText(row.reference),
            Param::Text(row.transfer_id),
            Param::Timestamp(row.cancellable_until),
            Param::Timestamp(row.due_at),
            Param::Timestamp(row.created_at),
            Param::Timestamp(row.created_at),
            Param::Text(row.offer_id),
            Param::Text(row.investor_id),
            Param::Text(PledgeStatus::LIVE[0].as_str()),
            Param::Text(PledgeStatus::LIVE[1].as_str()),
            Param::Text(PledgeStatus::LIVE[2].as_str()),
            Param::BigInt(expected.get()),
            Param::Text(row.offer_id),
            Param::Text(ApplicationStatus::Approved.as_str()),
        ],
    }
    .first_number(conn)
}

/// Inserts the pending pledge.
fn insert_pledge(conn: &mut DbConnection, row: &NewPledgeRow<'_>) -> Result<(), AppError> {
    diesel::insert_into(pledges::table)
        .values((
            pledges::id.eq(row.id),
            pledges::offer_id.eq(row.offer_id),
            pledges::investor_id.eq(row.investor_id),
            pledges::status.eq(PledgeStatus::Pending),
            pledges::amount_pence.eq(row.amount),
            pledges::shares.eq(row.shares),
            pledges::payment_method.eq(row.payment_method.as_str()),
            pledges::bank_reference.eq(row.reference),
            pledges::transfer_id.eq(row.transfer_id),
            pledges::cancellable_until.eq(row.cancellable_until),
            pledges::payment_due_at.eq(row.due_at),
            pledges::created_at.eq(row.created_at),
            pledges::updated_at.eq(row.created_at),
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

pub fn get(conn: &mut DbConnection, id: &str) -> Result<PledgeRow, AppError> {
    pledges::table
        .find(id)
        .select(PledgeRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound("pledge"))
}

/// Card payments and refunds, by pledge id.
type ExtrasByPledge = (HashMap<String, CardRow>, HashMap<String, RefundRow>);

/// The card payments and refunds of these pledges, one query each.
fn extras_of(conn: &mut DbConnection, rows: &[PledgeRow]) -> Result<ExtrasByPledge, AppError> {
    let card_ids: Vec<&str> = rows
        .iter()
        .filter(|r| r.payment_method == PaymentMethod::Card)
        .map(|r| r.id.as_str())
        .collect();
    let cards = if card_ids.is_empty() {
        HashMap::new()
    } else {
        payment_service::card_payments_of(conn, &card_ids)?
    };
    // Any pledge may owe money back: an ended one its payment, a paid one an over-payment.
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let refunds = if ids.is_empty() {
        HashMap::new()
    } else {
        refunds::of_pledges(conn, &ids)?
    };
    Ok((cards, refunds))
}

/// A pledge as `viewer` sees it (the investor alone sees the card client secret).
pub fn view(conn: &mut DbConnection, row: PledgeRow, viewer: &str) -> Result<PledgeView, AppError> {
    let details = offer_bank_details(conn, &row.offer_id)?;
    let (mut cards, mut refunds) = extras_of(conn, std::slice::from_ref(&row))?;
    let extras = Extras {
        card: cards.remove(&row.id),
        refund: refunds.remove(&row.id),
        for_investor: row.investor_id == viewer,
    };
    PledgeView::build(row, details, extras)
}

/// A pledge as its investor, its offer's society admins or a platform admin may see it; 404 to
/// anyone else.
pub fn get_for(
    conn: &mut DbConnection,
    id: &str,
    user_id: &str,
    is_platform_admin: bool,
) -> Result<PledgeView, AppError> {
    let row = get(conn, id)?;
    if row.investor_id != user_id && !is_platform_admin {
        let society_id: String = offers::table
            .find(&row.offer_id)
            .select(offers::society_id)
            .first(conn)?;
        if !organisations::is_society_admin(conn, &society_id, user_id)? {
            return Err(AppError::NotFound("pledge"));
        }
    }
    view(conn, row, user_id)
}

fn page_of(
    conn: &mut DbConnection,
    rows: Vec<PledgeRow>,
    page: &PageRequest,
    viewer: &str,
) -> Result<Page<PledgeView>, AppError> {
    let mut details_by_offer: HashMap<String, Option<BankDetails>> = Default::default();
    let (mut cards, mut refunds) = extras_of(conn, &rows)?;
    let mut with_details = Vec::with_capacity(rows.len());
    for row in rows {
        if !details_by_offer.contains_key(&row.offer_id) {
            details_by_offer.insert(row.offer_id.clone(), offer_bank_details(conn, &row.offer_id)?);
        }
        let details = details_by_offer[&row.offer_id].clone();
        let extras = Extras {
            card: cards.remove(&row.id),
            refund: refunds.remove(&row.id),
            for_investor: row.investor_id == viewer,
        };
        with_details.push((row, details, extras));
    }
    Page::from_rows(
        with_details,
        page,
        |(r, _, _)| r.id.clone(),
        |(row, details, extras)| PledgeView::build(row, details, extras),
    )
}

/// Whose pledges to list.
#[derive(Debug, Clone, Copy)]
pub enum PledgesOf<'a> {
    Investor(&'a str),
    Offer(&'a str),
}

/// A page of pledges, newest first.
pub fn list(
    conn: &mut DbConnection,
    of: PledgesOf<'_>,
    page: &PageRequest,
    viewer: &str,
) -> Result<Page<PledgeView>, AppError> {
    let mut query = pledges::table
        .select(PledgeRow::as_select())
        .order(pledges::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    query = match of {
        PledgesOf::Investor(id) => query.filter(pledges::investor_id.eq(id)),
        PledgesOf::Offer(id) => query.filter(pledges::offer_id.eq(id)),
    };
    if let Some(after) = &page.after {
        query = query.filter(pledges::id.lt(after));
    }
    let rows = query.load(conn)?;
    page_of(conn, rows, page, viewer)
}

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
    diesel::update(offers::table.find(&row.offer_id))
        .set((
            offers::community_pledged_pence.eq(offers::community_pledged_pence - row.amount_pence),
            offers::community_paid_pence.eq(offers::community_paid_pence - paid),
            offers::pledge_count.eq(offers::pledge_count - 1),
            offers::investor_count.eq(offers::investor_count - if still_invested { 0 } else { 1 }),
            offers::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
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
    match row.status {
        PledgeStatus::Pending if offer_open => {
            if !end_pending(conn, &row, PledgeStatus::Cancelled, RefundReason::Cancelled, now)? {
                return Err(AppError::conflict("the pledge changed meanwhile; reload it"));
            }
        }
        PledgeStatus::Pending => {
            return Err(AppError::conflict(
                "the offer has closed; the pledge can no longer be cancelled",
            ))
        }
        PledgeStatus::Paid if offer_open && now <= row.cancellable_until => {
            refund = Some(refunds::refund_paid_pledge(conn, &row, RefundReason::Cancelled, now)?);
        }
        PledgeStatus::Paid => return Err(AppError::conflict("the cooling-off period for this pledge has ended")),
        other => return Err(AppError::conflict(format!("the pledge is {} already", other.as_str()))),
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
    ledger::resolve_pending(conn, &row.transfer_id, Resolution::Post, cause)?;
    diesel::update(offers::table.find(&row.offer_id))
        .set((
            offers::community_paid_pence.eq(offers::community_paid_pence + row.amount_pence),
            offers::updated_at.eq(now),
        ))
        .execute(conn)?;
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
