//! Pledges: making one ([`create`]: capacity and holding limits enforced under the offer's row
//! lock, then the match), paid ([`paid`]: a receipt or a card payment posts the pending
//! transfer), ended ([`end`]: cancelled, expired), and seen ([`view`]). Every change writes its
//! ledger transfer, the pledge and the offer totals in one transaction.

mod create;
mod end;
mod flows;
mod paid;
mod view;

pub use create::create;
pub(crate) use end::remove_from_totals;
pub use end::{cancel, cancel_all_for_offer, expire_unpaid};
pub use flows::{cancel_once, pledge, Viewer};
pub use paid::mark_paid;
pub(crate) use paid::payment_confirmed;
pub use view::{
    get_for, list, list_for_offer, view, Extras, OfferPledgeView, PaymentInstructions, PledgeFilter, PledgeView,
    PledgesOf,
};

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::db::schema::{offers, pledges, societies};
use crate::db::DbConnection;
use crate::domain::money::Pence;
pub use crate::domain::pledge::{PaymentMethod, PledgeStatus};
use crate::error::AppError;
use crate::services::offers::OfferRow;
use crate::services::organisations::BankDetails;

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
    /// Its place in pledge order among its offer's pledges (1, 2, ...; numbered by the
    /// reservation under the offer's row lock): the order the match engine follows.
    pub offer_seq: i64,
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

pub fn get(conn: &mut DbConnection, id: &str) -> Result<PledgeRow, AppError> {
    pledges::table
        .find(id)
        .select(PledgeRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound("pledge"))
}
