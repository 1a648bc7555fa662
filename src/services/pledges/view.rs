//! Pledges as their investors, their offers' society admins and platform admins see them.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::{get, offer_bank_details, PaymentMethod, PledgeRow, PledgeStatus};
use crate::clock;
use crate::db::schema::{offers, pledges};
use crate::db::DbConnection;
use crate::domain::money::Pence;
use crate::error::AppError;
use crate::services::hand_receipts::{self, AwaitingReceipt};
use crate::services::organisations::{self, BankDetails};
use crate::services::page::{Page, PageRequest};
use crate::services::payments::{self as payment_service, CardRow};
use crate::services::refunds::{self, RefundRow, RefundView};

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
    /// Receipts typed by hand for this pledge that wait for a second person before they count
    /// (on an offer holding match money).
    pub awaiting_confirmation: Vec<AwaitingReceipt>,
}

/// What a view shows beside the pledge row.
#[derive(Debug, Default)]
pub struct Extras {
    pub card: Option<CardRow>,
    pub refund: Option<RefundRow>,
    pub awaiting: Vec<AwaitingReceipt>,
    /// The viewer is the pledge's investor (who alone sees the card client secret).
    pub for_investor: bool,
}

impl PledgeView {
    pub(super) fn build(row: PledgeRow, bank_details: Option<BankDetails>, extras: Extras) -> Result<Self, AppError> {
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
            awaiting_confirmation: extras.awaiting,
            id: row.id,
            offer_id: row.offer_id,
            investor_id: row.investor_id,
            shares: row.shares,
        })
    }
}

/// Card payments, refunds and receipts awaiting confirmation, by pledge id.
type ExtrasByPledge = (
    HashMap<String, CardRow>,
    HashMap<String, RefundRow>,
    HashMap<String, Vec<AwaitingReceipt>>,
);

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
    // Only a pending bank transfer takes receipts typed by hand.
    let pending: Vec<&str> = rows
        .iter()
        .filter(|r| r.payment_method == PaymentMethod::BankTransfer && r.status == PledgeStatus::Pending)
        .map(|r| r.id.as_str())
        .collect();
    let awaiting = if pending.is_empty() {
        HashMap::new()
    } else {
        hand_receipts::awaiting_of(conn, &pending)?
    };
    Ok((cards, refunds, awaiting))
}

/// A pledge as `viewer` sees it (the investor alone sees the card client secret).
pub fn view(conn: &mut DbConnection, row: PledgeRow, viewer: &str) -> Result<PledgeView, AppError> {
    let details = offer_bank_details(conn, &row.offer_id)?;
    let (mut cards, mut refunds, mut awaiting) = extras_of(conn, std::slice::from_ref(&row))?;
    let extras = Extras {
        card: cards.remove(&row.id),
        refund: refunds.remove(&row.id),
        awaiting: awaiting.remove(&row.id).unwrap_or_default(),
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
    let (mut cards, mut refunds, mut awaiting) = extras_of(conn, &rows)?;
    let mut with_details = Vec::with_capacity(rows.len());
    for row in rows {
        if !details_by_offer.contains_key(&row.offer_id) {
            details_by_offer.insert(row.offer_id.clone(), offer_bank_details(conn, &row.offer_id)?);
        }
        let details = details_by_offer[&row.offer_id].clone();
        let extras = Extras {
            card: cards.remove(&row.id),
            refund: refunds.remove(&row.id),
            awaiting: awaiting.remove(&row.id).unwrap_or_default(),
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

/// What a society's list of its offer's pledges is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct PledgeFilter {
    pub status: Option<PledgeStatus>,
    /// A bank reference, or part of the investor's name (any case).
    pub search: Option<String>,
}

/// A pledge in its offer's list, with the name its investor gave (for the society to tell who
/// paid).
#[derive(Debug, Serialize, ToSchema)]
pub struct OfferPledgeView {
    #[serde(flatten)]
    pub pledge: PledgeView,
    /// The full name on the investor's profile, if given.
    pub investor_name: Option<String>,
}

diesel::define_sql_function!(fn lower(text: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>);

/// `%text%` for `LIKE … ESCAPE '\'`, lower case, its own wildcards escaped.
fn contains_pattern(text: &str) -> String {
    let escaped: String = text
        .trim()
        .to_lowercase()
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("%{escaped}%")
}

/// A page of the offer's pledges, newest first, narrowed by `filter`.
pub fn list_for_offer(
    conn: &mut DbConnection,
    offer_id: &str,
    filter: &PledgeFilter,
    page: &PageRequest,
    viewer: &str,
) -> Result<Page<OfferPledgeView>, AppError> {
    use crate::db::schema::users;
    let mut query = pledges::table
        .inner_join(users::table)
        .filter(pledges::offer_id.eq(offer_id))
        .select((PledgeRow::as_select(), users::full_name))
        .order(pledges::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(status) = filter.status {
        query = query.filter(pledges::status.eq(status));
    }
    if let Some(search) = filter.search.as_deref().filter(|s| !s.trim().is_empty()) {
        let pattern = contains_pattern(search);
        query = query.filter(
            lower(pledges::bank_reference.nullable())
                .like(pattern.clone())
                .escape('\\')
                .or(lower(users::full_name).like(pattern).escape('\\')),
        );
    }
    if let Some(after) = &page.after {
        query = query.filter(pledges::id.lt(after));
    }
    let rows: Vec<(PledgeRow, Option<String>)> = query.load(conn)?;
    let mut names: HashMap<String, Option<String>> = rows.iter().map(|(r, n)| (r.id.clone(), n.clone())).collect();
    let listed = page_of(conn, rows.into_iter().map(|(r, _)| r).collect(), page, viewer)?;
    Ok(Page {
        items: listed
            .items
            .into_iter()
            .map(|pledge| OfferPledgeView {
                investor_name: names.remove(&pledge.id).flatten(),
                pledge,
            })
            .collect(),
        next_cursor: listed.next_cursor,
    })
}

#[cfg(test)]
mod filter_tests {
    use super::contains_pattern;

    #[test]
    fn a_search_is_a_literal_substring_in_any_case() {
        assert_eq!(contains_pattern(" Siân "), "%siân%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
