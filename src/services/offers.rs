//! Share offers: drafting, the lifecycle transitions (each one conditional update, audited in
//! the same transaction, so that of two racing instances exactly one moves the offer), the
//! scheduler's opening and closing, eligibility, and the public and admin views.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock;
use crate::db::schema::{commitment_requests, funds, match_applications, offer_audit, offers, societies};
use crate::db::{write_transaction, DbConnection};
use crate::domain::governance::AuditAction;
use crate::domain::matching::ApplicationStatus;
use crate::domain::money::Pence;
use crate::domain::offer::{
    check_terms, next_status, OfferAction, OfferStatus, Terms, TermsPolicy, COMMUNITY_SHARES_MINIMUM,
};
use crate::error::AppError;
use crate::services::audit;
use crate::services::page::{Page, PageRequest};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = offers)]
pub struct OfferRow {
    pub id: String,
    pub society_id: String,
    pub status: String,
    pub title: String,
    pub summary: String,
    pub document_url: Option<String>,
    pub share_price_pence: i64,
    pub min_target_pence: i64,
    pub target_pence: i64,
    pub max_target_pence: i64,
    pub min_holding_pence: i64,
    pub max_holding_pence: i64,
    pub opens_at: NaiveDateTime,
    pub closes_at: NaiveDateTime,
    pub cooling_off_days: i32,
    pub interest_rate_bps: i32,
    pub min_age: i32,
    pub postcode_prefixes: String,
    pub community_pledged_pence: i64,
    pub community_paid_pence: i64,
    pub match_pence: i64,
    pub investor_count: i32,
    pub pledge_count: i32,
    pub opened_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl OfferRow {
    pub fn status(&self) -> Result<OfferStatus, AppError> {
        OfferStatus::parse(&self.status).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "unknown offer status {:?} in the database",
                self.status
            ))
        })
    }

    pub fn is_public(&self) -> Result<bool, AppError> {
        Ok(self.status()?.is_public(self.opened_at.is_some()))
    }

    pub fn terms(&self) -> Terms {
        Terms {
            share_price: Pence::new(self.share_price_pence),
            min_target: Pence::new(self.min_target_pence),
            target: Pence::new(self.target_pence),
            max_target: Pence::new(self.max_target_pence),
            min_holding: Pence::new(self.min_holding_pence),
            max_holding: Pence::new(self.max_holding_pence),
            opens_at: self.opens_at,
            closes_at: self.closes_at,
            cooling_off_days: i64::from(self.cooling_off_days),
            interest_rate_bps: i64::from(self.interest_rate_bps),
        }
    }

    pub fn postcode_prefixes(&self) -> Vec<String> {
        self.postcode_prefixes
            .split(',')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// The terms as stored: written by both `create` and `patch`.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = offers)]
struct TermsColumns {
    share_price_pence: i64,
    min_target_pence: i64,
    target_pence: i64,
    max_target_pence: i64,
    min_holding_pence: i64,
    max_holding_pence: i64,
    opens_at: NaiveDateTime,
    closes_at: NaiveDateTime,
    cooling_off_days: i32,
    interest_rate_bps: i32,
}

impl From<&Terms> for TermsColumns {
    /// The day counts and basis points were range-checked by `check_terms`, so they fit i32.
    fn from(terms: &Terms) -> Self {
        TermsColumns {
            share_price_pence: terms.share_price.get(),
            min_target_pence: terms.min_target.get(),
            target_pence: terms.target.get(),
            max_target_pence: terms.max_target.get(),
            min_holding_pence: terms.min_holding.get(),
            max_holding_pence: terms.max_holding.get(),
            opens_at: terms.opens_at,
            closes_at: terms.closes_at,
            cooling_off_days: terms.cooling_off_days as i32,
            interest_rate_bps: terms.interest_rate_bps as i32,
        }
    }
}

/// Who may invest in an offer. (Named `OfferEligibility` in the OpenAPI document: a fund's
/// rule has an `Eligibility` of its own.)
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OfferEligibility)]
pub struct Eligibility {
    /// Minimum age on the day of pledging.
    pub min_age: i32,
    /// Investors' postcodes must start with one of these; empty means anywhere.
    pub postcode_prefixes: Vec<String>,
}

/// An offer with its terms and running totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct OfferView {
    pub id: String,
    pub society_id: String,
    pub status: OfferStatus,
    pub title: String,
    pub summary: String,
    pub document_url: Option<String>,
    pub share_price_pence: Pence,
    pub min_target_pence: Pence,
    pub target_pence: Pence,
    pub max_target_pence: Pence,
    pub min_holding_pence: Pence,
    pub max_holding_pence: Pence,
    pub opens_at: chrono::DateTime<chrono::Utc>,
    pub closes_at: chrono::DateTime<chrono::Utc>,
    pub cooling_off_days: i32,
    pub interest_rate_bps: i32,
    pub eligibility: Eligibility,
    /// True when `min_target_pence` is below £10,000, the usual minimum for a community
    /// shares society to be viable.
    pub below_community_shares_minimum: bool,
    /// Live community pledges (pending and paid).
    pub community_pledged_pence: Pence,
    pub community_paid_pence: Pence,
    /// Match funding reserved for this offer.
    pub match_pence: Pence,
    /// Community pledges plus match.
    pub total_pence: Pence,
    pub investor_count: i32,
    pub pledge_count: i32,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl OfferView {
    pub fn from_row(row: OfferRow) -> Result<Self, AppError> {
        let status = row.status()?;
        let postcode_prefixes = row.postcode_prefixes();
        Ok(OfferView {
            status,
            below_community_shares_minimum: Pence::new(row.min_target_pence) < COMMUNITY_SHARES_MINIMUM,
            total_pence: Pence::new(row.community_pledged_pence.saturating_add(row.match_pence)),
            eligibility: Eligibility {
                min_age: row.min_age,
                postcode_prefixes,
            },
            id: row.id,
            society_id: row.society_id,
            title: row.title,
            summary: row.summary,
            document_url: row.document_url,
            share_price_pence: Pence::new(row.share_price_pence),
            min_target_pence: Pence::new(row.min_target_pence),
            target_pence: Pence::new(row.target_pence),
            max_target_pence: Pence::new(row.max_target_pence),
            min_holding_pence: Pence::new(row.min_holding_pence),
            max_holding_pence: Pence::new(row.max_holding_pence),
            opens_at: clock::utc(row.opens_at),
            closes_at: clock::utc(row.closes_at),
            cooling_off_days: row.cooling_off_days,
            interest_rate_bps: row.interest_rate_bps,
            community_pledged_pence: Pence::new(row.community_pledged_pence),
            community_paid_pence: Pence::new(row.community_paid_pence),
            match_pence: Pence::new(row.match_pence),
            investor_count: row.investor_count,
            pledge_count: row.pledge_count,
            created_at: clock::utc(row.created_at),
        })
    }
}

/// The descriptive part of an offer.
#[derive(Debug, Clone)]
pub struct Description {
    pub title: String,
    pub summary: String,
    pub document_url: Option<String>,
}

/// A change to a draft: every field optional.
#[derive(Debug, Clone, Default)]
pub struct OfferPatch {
    pub title: Option<String>,
    pub summary: Option<String>,
    pub document_url: Option<String>,
    pub share_price: Option<Pence>,
    pub min_target: Option<Pence>,
    pub target: Option<Pence>,
    pub max_target: Option<Pence>,
    pub min_holding: Option<Pence>,
    pub max_holding: Option<Pence>,
    pub opens_at: Option<NaiveDateTime>,
    pub closes_at: Option<NaiveDateTime>,
    pub cooling_off_days: Option<i64>,
    pub interest_rate_bps: Option<i64>,
}

/// Who made a change, as the audit log records it.
#[derive(Debug, Clone)]
pub enum Actor {
    User(String),
    Scheduler,
}

impl Actor {
    fn label(&self) -> String {
        match self {
            Actor::User(id) => format!("user:{id}"),
            Actor::Scheduler => "scheduler".into(),
        }
    }
}

fn terms_or_422(terms: &Terms, policy: &TermsPolicy, now: NaiveDateTime) -> Result<(), AppError> {
    let errors = check_terms(terms, policy, now);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

pub fn create(
    conn: &mut DbConnection,
    society_id: &str,
    actor: &Actor,
    description: &Description,
    terms: &Terms,
    policy: &TermsPolicy,
) -> Result<OfferView, AppError> {
    let now = clock::now();
    terms_or_422(terms, policy, now)?;
    let id = clock::new_id();
    diesel::insert_into(offers::table)
        .values((
            offers::id.eq(&id),
            offers::society_id.eq(society_id),
            offers::status.eq(OfferStatus::Draft.as_str()),
            offers::title.eq(&description.title),
            offers::summary.eq(&description.summary),
            offers::document_url.eq(&description.document_url),
            TermsColumns::from(terms),
            offers::created_at.eq(now),
            offers::updated_at.eq(now),
        ))
        .execute(conn)?;
    audit(conn, &id, None, OfferStatus::Draft, actor, now)?;
    OfferView::from_row(get(conn, &id)?)
}

pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<OfferRow>, AppError> {
    Ok(offers::table
        .find(id)
        .select(OfferRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn get(conn: &mut DbConnection, id: &str) -> Result<OfferRow, AppError> {
    find(conn, id)?.ok_or(AppError::NotFound("offer"))
}

/// Applies a patch to a draft; the merged terms must be valid. Any other state is 409.
pub fn patch(
    conn: &mut DbConnection,
    id: &str,
    patch: &OfferPatch,
    policy: &TermsPolicy,
    by: audit::Actor<'_>,
) -> Result<OfferView, AppError> {
    let now = clock::now();
    let row = get(conn, id)?;
    require_draft(&row, "edited")?;
    let old = row.terms();
    let terms = Terms {
        share_price: patch.share_price.unwrap_or(old.share_price),
        min_target: patch.min_target.unwrap_or(old.min_target),
        target: patch.target.unwrap_or(old.target),
        max_target: patch.max_target.unwrap_or(old.max_target),
        min_holding: patch.min_holding.unwrap_or(old.min_holding),
        max_holding: patch.max_holding.unwrap_or(old.max_holding),
        opens_at: patch.opens_at.unwrap_or(old.opens_at),
        closes_at: patch.closes_at.unwrap_or(old.closes_at),
        cooling_off_days: patch.cooling_off_days.unwrap_or(old.cooling_off_days),
        interest_rate_bps: patch.interest_rate_bps.unwrap_or(old.interest_rate_bps),
    };
    terms_or_422(&terms, policy, now)?;
    let funds = funds_committed(conn, id)?;
    let document_changes = patch.document_url.is_some() && patch.document_url != row.document_url;
    if terms != old || document_changes {
        refuse_while_committed(&funds)?;
    }
    tell_funders_of_corrections(conn, &funds, &row, patch, by)?;
    let changed = diesel::update(
        offers::table
            .filter(offers::id.eq(id))
            .filter(offers::status.eq(OfferStatus::Draft.as_str())),
    )
    .set((
        offers::title.eq(patch.title.as_ref().unwrap_or(&row.title)),
        offers::summary.eq(patch.summary.as_ref().unwrap_or(&row.summary)),
        offers::document_url.eq(patch.document_url.as_ref().or(row.document_url.as_ref())),
        TermsColumns::from(&terms),
        offers::updated_at.eq(now),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Err(AppError::conflict("the offer left draft while it was being edited"));
    }
    OfferView::from_row(get(conn, id)?)
}

/// Sets who may invest; only in draft. A field left out keeps its value (merged here, inside the
/// transaction, so two partial edits cannot undo each other).
pub fn set_eligibility(
    conn: &mut DbConnection,
    id: &str,
    min_age: Option<i32>,
    prefixes: Option<Vec<String>>,
) -> Result<OfferView, AppError> {
    let row = get(conn, id)?;
    require_draft(&row, "edited")?;
    let min_age = min_age.unwrap_or(row.min_age);
    let prefixes = prefixes.unwrap_or_else(|| row.postcode_prefixes());
    if min_age != row.min_age || prefixes != row.postcode_prefixes() {
        refuse_while_committed(&funds_committed(conn, id)?)?;
    }
    let changed = diesel::update(
        offers::table
            .filter(offers::id.eq(id))
            .filter(offers::status.eq(OfferStatus::Draft.as_str())),
    )
    .set((
        offers::min_age.eq(min_age),
        offers::postcode_prefixes.eq(prefixes.join(",")),
        offers::updated_at.eq(clock::now()),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Err(AppError::conflict("the offer left draft while it was being edited"));
    }
    OfferView::from_row(get(conn, id)?)
}

/// A fund that approved the offer's terms, or holds a commitment to them awaiting a second
/// funder admin.
pub struct Committed {
    pub fund: String,
    pub funder_id: String,
}

/// The funds committed to the offer's terms (see [`Committed`]), by name.
pub fn funds_committed(conn: &mut DbConnection, offer_id: &str) -> Result<Vec<Committed>, AppError> {
    let held = commitment_requests::table
        .filter(commitment_requests::state.eq("awaiting"))
        .select(commitment_requests::application_id);
    let rows: Vec<(String, String)> = match_applications::table
        .inner_join(funds::table)
        .filter(match_applications::offer_id.eq(offer_id))
        .filter(
            match_applications::status
                .eq(ApplicationStatus::Approved)
                .or(match_applications::id.eq_any(held)),
        )
        .select((funds::name, funds::funder_id))
        .order(funds::name)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(fund, funder_id)| Committed { fund, funder_id })
        .collect())
}

/// 409 naming the funds, when any fund is committed to the terms: what a funder approved stays
/// what it approved. The society withdraws its application first (the commitment returns).
fn refuse_while_committed(funds: &[Committed]) -> Result<(), AppError> {
    if funds.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = funds.iter().map(|f| f.fund.as_str()).collect();
    Err(AppError::conflict(format!(
        "{} approved these terms (or holds a commitment to them): they cannot change while it does. \
         Withdraw the application to {} first; the title and summary may still be corrected",
        names.join(", "),
        if names.len() == 1 { "it" } else { "each" }
    )))
}

/// A corrected title or summary is written to the audit trail of each funder committed to
/// the offer, so that the funder sees what changed in what it approved.
fn tell_funders_of_corrections(
    conn: &mut DbConnection,
    funds: &[Committed],
    row: &OfferRow,
    patch: &OfferPatch,
    by: audit::Actor<'_>,
) -> Result<(), AppError> {
    let mut changes = Vec::new();
    if let Some(title) = patch.title.as_ref().filter(|t| **t != row.title) {
        changes.push(format!("its title from \"{}\" to \"{title}\"", row.title));
    }
    if patch.summary.as_ref().is_some_and(|s| *s != row.summary) {
        changes.push("its summary".to_owned());
    }
    if changes.is_empty() {
        return Ok(());
    }
    let detail = format!(
        "the society corrected {} of the offer {}",
        changes.join(" and "),
        row.id
    );
    for funder_id in funds
        .iter()
        .map(|f| f.funder_id.as_str())
        .collect::<std::collections::BTreeSet<_>>()
    {
        audit::record(conn, funder_id, by, AuditAction::OfferCorrected, &detail)?;
    }
    Ok(())
}

fn require_draft(row: &OfferRow, what: &str) -> Result<(), AppError> {
    let status = row.status()?;
    if status != OfferStatus::Draft {
        return Err(AppError::conflict(format!(
            "the offer is {} and can only be {what} in draft",
            status.as_str()
        )));
    }
    Ok(())
}

/// A transition asked for by a person (submit, approve, close, cancel). The action must be
/// allowed from the current state (else 409) and its preconditions hold.
pub fn act(conn: &mut DbConnection, id: &str, action: OfferAction, actor: &Actor) -> Result<OfferView, AppError> {
    let now = clock::now();
    let row = get(conn, id)?;
    let from = row.status()?;
    let to = next_status(from, action).ok_or_else(|| {
        AppError::conflict(format!(
            "an offer that is {} cannot be {}",
            from.as_str(),
            past_tense(action)
        ))
    })?;
    match action {
        OfferAction::Submit => {
            // Investors accept the offer document's terms when they pledge (DESIGN §2): an
            // offer goes to approval with one.
            if row.document_url.as_deref().is_none_or(|url| url.trim().is_empty()) {
                return Err(AppError::field(
                    "document_url",
                    "the offer has no offer document: link it (document_url) before submitting: investors accept its terms when they pledge",
                ));
            }
            let sort_code: Option<String> = societies::table
                .find(&row.society_id)
                .select(societies::bank_sort_code)
                .first(conn)?;
            if sort_code.is_none() {
                return Err(AppError::field(
                    "bank_details",
                    "the society has no bank details yet: set them (PUT /api/v1/societies/{id}/bank-details) before submitting",
                ));
            }
        }
        OfferAction::Cancel if from == OfferStatus::Open && row.closes_at <= now => {
            return Err(AppError::conflict(
                "the offer has reached its closing time; it closes and is decided, not cancelled",
            ));
        }
        OfferAction::Approve if row.closes_at <= now => {
            return Err(AppError::conflict(
                "the offer's closing time has passed; it can only be cancelled",
            ));
        }
        _ => {}
    }
    if !move_status(conn, id, from, to, actor, now)? {
        return Err(AppError::conflict("the offer changed state meanwhile; reload it"));
    }
    if action == OfferAction::Cancel {
        // Release first: with no approved fund left, cancelling each pledge recomputes nothing.
        crate::services::funding::release_offer(conn, id)?;
        crate::services::pledges::cancel_all_for_offer(conn, &row)?;
    }
    OfferView::from_row(get(conn, id)?)
}

fn past_tense(action: OfferAction) -> &'static str {
    match action {
        OfferAction::Submit => "submitted",
        OfferAction::Approve => "approved",
        OfferAction::Open => "opened",
        OfferAction::Close => "closed",
        OfferAction::Cancel => "cancelled",
        OfferAction::Succeed => "marked succeeded",
        OfferAction::Fail => "marked failed",
        OfferAction::Allocate => "allocated",
        OfferAction::Refund => "refunded",
    }
}

/// Takes the offer's row lock (a no-op update) before anything else that moves its money. Every
/// transaction that touches an offer's pledges, escrow and totals locks the offer row first, so
/// they queue in one order and cannot deadlock (pledge creation's conditional update of the
/// offer row is its first write too).
pub fn lock(conn: &mut DbConnection, offer_id: &str, now: NaiveDateTime) -> Result<(), AppError> {
    let locked = diesel::update(offers::table.find(offer_id))
        .set(offers::updated_at.eq(now))
        .execute(conn)?;
    if locked == 0 {
        return Err(AppError::NotFound("offer"));
    }
    Ok(())
}

/// The one conditional update that moves an offer from `from` to `to`, and its audit row.
/// Returns false (and writes nothing) when the offer is no longer in `from`.
pub fn move_status(
    conn: &mut DbConnection,
    id: &str,
    from: OfferStatus,
    to: OfferStatus,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    let changed = diesel::update(
        offers::table
            .filter(offers::id.eq(id))
            .filter(offers::status.eq(from.as_str())),
    )
    .set((offers::status.eq(to.as_str()), offers::updated_at.eq(now)))
    .execute(conn)?;
    if changed == 0 {
        return Ok(false);
    }
    if to == OfferStatus::Closed {
        // At-close funds are decided now; live ones are recomputed with the rest.
        crate::services::funding::refresh_offer(conn, id)?;
    }
    if to == OfferStatus::Open {
        diesel::update(offers::table.find(id))
            .set(offers::opened_at.eq(now))
            .execute(conn)?;
        let offer = get(conn, id)?;
        for (_, email) in crate::notify::society_admin_emails(conn, &offer.society_id, false)? {
            crate::notify::enqueue(
                conn,
                crate::notify::Kind::OfferOpened,
                &email,
                &serde_json::json!({
                    "offer": offer.title, "closes_at": clock::for_people(offer.closes_at),
                    "min_target": Pence::new(offer.min_target_pence).to_string(),
                    "max_target": Pence::new(offer.max_target_pence).to_string(),
                }),
                None,
            )?;
        }
    }
    audit(conn, id, Some(from), to, actor, now)?;
    Ok(true)
}

fn audit(
    conn: &mut DbConnection,
    offer_id: &str,
    from: Option<OfferStatus>,
    to: OfferStatus,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    diesel::insert_into(offer_audit::table)
        .values((
            offer_audit::id.eq(clock::new_id()),
            offer_audit::offer_id.eq(offer_id),
            offer_audit::from_status.eq(from.map(OfferStatus::as_str)),
            offer_audit::to_status.eq(to.as_str()),
            offer_audit::actor.eq(actor.label()),
            offer_audit::at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Scheduler step: opens approved offers whose `opens_at` has come and closes open offers whose
/// `closes_at` has come. Each offer moves in its own transaction by one conditional update, so
/// any number of instances may run this at once and each transition happens exactly once.
/// Returns how many offers this call moved.
pub fn run_due_transitions(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, AppError> {
    let mut moved = 0;
    for (from, action, due_column_is_close) in [
        (OfferStatus::Approved, OfferAction::Open, false),
        (OfferStatus::Open, OfferAction::Close, true),
    ] {
        let to = next_status(from, action).expect("the lifecycle table allows these scheduled moves");
        let query = offers::table
            .filter(offers::status.eq(from.as_str()))
            .select(offers::id)
            .order(offers::id)
            .limit(500)
            .into_boxed();
        let due: Vec<String> = if due_column_is_close {
            query.filter(offers::closes_at.le(now)).load(conn)?
        } else {
            query.filter(offers::opens_at.le(now)).load(conn)?
        };
        for id in due {
            match write_transaction(conn, |c| move_status(c, &id, from, to, &Actor::Scheduler, now)) {
                Ok(true) => {
                    tracing::info!(offer_id = %id, to = to.as_str(), "offer moved by the scheduler");
                    moved += 1;
                }
                Ok(false) => {}
                // One offer that cannot move must not hold up the others; it is tried next tick.
                Err(e) => tracing::error!(offer_id = %id, error = %e, "the scheduler could not move an offer"),
            }
        }
    }
    Ok(moved)
}

/// Scheduler step: a reminder to each society admin who wants one, once per offer, when an open
/// offer is less than 48 hours from closing (the dedupe key makes it once however many
/// instances run this).
pub fn queue_closing_reminders(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, AppError> {
    let closing: Vec<OfferRow> = offers::table
        .filter(offers::status.eq(OfferStatus::Open.as_str()))
        .filter(offers::closes_at.gt(now))
        .filter(offers::closes_at.le(now + chrono::Duration::hours(48)))
        .select(OfferRow::as_select())
        .load(conn)?;
    let mut queued = 0;
    for offer in closing {
        for (user_id, email) in crate::notify::society_admin_emails(conn, &offer.society_id, true)? {
            crate::notify::enqueue(
                conn,
                crate::notify::Kind::OfferClosing,
                &email,
                &serde_json::json!({
                    "offer": offer.title, "closes_at": clock::for_people(offer.closes_at),
                    "pledged": Pence::new(offer.community_pledged_pence).to_string(),
                    "min_target": Pence::new(offer.min_target_pence).to_string(),
                    "matched": Pence::new(offer.match_pence).to_string(),
                }),
                Some(&format!("closing:{}:{user_id}", offer.id)),
            )?;
            queued += 1;
        }
    }
    Ok(queued)
}

/// The public list (`open` and later states), optionally of one status.
pub fn list_public(
    conn: &mut DbConnection,
    status: Option<OfferStatus>,
    page: &PageRequest,
) -> Result<Page<OfferView>, AppError> {
    let public: Vec<&str> = OfferStatus::ALL
        .into_iter()
        .filter(|s| s.is_public(true) && *s != OfferStatus::Cancelled)
        .map(OfferStatus::as_str)
        .collect();
    let mut query = offers::table
        .select(OfferRow::as_select())
        .order(offers::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    query = match status {
        Some(OfferStatus::Cancelled) => query
            .filter(offers::status.eq(OfferStatus::Cancelled.as_str()))
            .filter(offers::opened_at.is_not_null()),
        Some(status) => query.filter(offers::status.eq(status.as_str())),
        None => query.filter(offers::status.eq_any(public)),
    };
    if let Some(after) = &page.after {
        query = query.filter(offers::id.lt(after));
    }
    Page::from_rows(query.load(conn)?, page, |r| r.id.clone(), OfferView::from_row)
}

/// An offer with the society that makes it, as platform admins list them.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminOffer {
    pub offer: OfferView,
    pub society: crate::services::organisations::Society,
}

/// Every offer in `status` (default: every state), newest first, each with its society (for
/// platform admins: `submitted` is the queue awaiting their approval).
pub fn list_for_platform(
    conn: &mut DbConnection,
    status: Option<OfferStatus>,
    page: &PageRequest,
) -> Result<Page<AdminOffer>, AppError> {
    let mut query = offers::table
        .select(OfferRow::as_select())
        .order(offers::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(offers::status.eq(status.as_str()));
    }
    if let Some(after) = &page.after {
        query = query.filter(offers::id.lt(after));
    }
    let rows = query.load(conn)?;
    let ids: Vec<&str> = rows.iter().map(|r| r.society_id.as_str()).collect();
    let societies = crate::services::organisations::societies_by_id(conn, &ids)?;
    Page::from_rows(
        rows,
        page,
        |r| r.id.clone(),
        |row| {
            let society = societies
                .get(&row.society_id)
                .cloned()
                .ok_or(AppError::NotFound("society"))?;
            Ok(AdminOffer {
                offer: OfferView::from_row(row)?,
                society,
            })
        },
    )
}

/// Every offer of a society, whatever its state (for its admins).
pub fn list_for_society(
    conn: &mut DbConnection,
    society_id: &str,
    page: &PageRequest,
) -> Result<Page<OfferView>, AppError> {
    let mut query = offers::table
        .filter(offers::society_id.eq(society_id))
        .select(OfferRow::as_select())
        .order(offers::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(offers::id.lt(after));
    }
    Page::from_rows(query.load(conn)?, page, |r| r.id.clone(), OfferView::from_row)
}

/// An audit entry as shown to admins.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    /// `null` for the creation of the offer.
    pub from_status: Option<String>,
    pub to_status: String,
    /// `user:<id>` or `scheduler`.
    pub actor: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

pub fn audit_log(conn: &mut DbConnection, offer_id: &str) -> Result<Vec<AuditEntry>, AppError> {
    let rows: Vec<(Option<String>, String, String, NaiveDateTime)> = offer_audit::table
        .filter(offer_audit::offer_id.eq(offer_id))
        .order((offer_audit::at, offer_audit::id))
        .select((
            offer_audit::from_status,
            offer_audit::to_status,
            offer_audit::actor,
            offer_audit::at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(from_status, to_status, actor, at)| AuditEntry {
            from_status,
            to_status,
            actor,
            at: clock::utc(at),
        })
        .collect())
}
