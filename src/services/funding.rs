//! Match funding: funds, applications, approval (the commitment reserved in the ledger, so no
//! fund is ever overcommitted), the recompute that keeps each pledge's match equal to the pure
//! engine's answer, release on cancellation, and simulation.
//!
//! Ledger: a fund's budget is a posted transfer `funder:<funder>` → `fund:<fund>`; approval
//! posts `fund:<fund>` → `commitment:<application>` (both accounts refuse to pay out more than
//! they hold, so the UPDATE itself stops an overcommitment); each pledge's match is a pending
//! transfer `commitment:<application>` → `match:<offer>`. When a pledge's match changes, its
//! pending transfer is voided and a new one made for the new amount; pledges whose match did
//! not change are not touched.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock;
use crate::db::schema::{funders, funds, match_applications, offers, pledge_matches, pledges, users};
use crate::db::DbConnection;
use crate::domain::matching::{compute, MatchPledge, OfferFacts, Rule, Timing};
use crate::domain::money::Pence;
use crate::domain::offer::OfferStatus;
use crate::error::AppError;
use crate::ledger::{self, AccountKind, LedgerError, NewTransfer, Resolution};
use crate::notify::{self, Kind};
use crate::services::offers::{self as offer_service, OfferRow};
use crate::services::page::{Page, PageRequest};
use serde_json::json;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = funds)]
pub struct FundRow {
    pub id: String,
    pub funder_id: String,
    pub name: String,
    pub budget_pence: i64,
    pub rule: String,
    pub created_at: NaiveDateTime,
}

impl FundRow {
    pub fn rule(&self) -> Result<Rule, AppError> {
        serde_json::from_str(&self.rule)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("fund {} has an unreadable rule: {e}", self.id)))
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = match_applications)]
pub struct ApplicationRow {
    pub id: String,
    pub fund_id: String,
    pub offer_id: String,
    pub status: String,
    pub commitment_pence: i64,
    pub match_pence: i64,
    pub reason: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

/// An application as shown to societies and funders.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationView {
    pub id: String,
    pub fund_id: String,
    pub offer_id: String,
    /// `pending`, `approved`, `rejected` or `released`.
    pub status: String,
    pub commitment_pence: Pence,
    pub match_pence: Pence,
    pub reason: Option<String>,
    pub decided_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<ApplicationRow> for ApplicationView {
    fn from(row: ApplicationRow) -> Self {
        ApplicationView {
            id: row.id,
            fund_id: row.fund_id,
            offer_id: row.offer_id,
            status: row.status,
            commitment_pence: Pence::new(row.commitment_pence),
            match_pence: Pence::new(row.match_pence),
            reason: row.reason,
            decided_at: row.decided_at.map(clock::utc),
            created_at: clock::utc(row.created_at),
        }
    }
}

/// A fund's offer in its public summary.
#[derive(Debug, Serialize, ToSchema)]
pub struct FundOffer {
    pub offer_id: String,
    pub application_status: String,
    pub commitment_pence: Pence,
    pub match_pence: Pence,
}

/// A funder backing an offer, as anyone who may see the offer may see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MatchFunder {
    pub funder_id: String,
    pub funder_name: String,
    pub fund_id: String,
    pub fund_name: String,
    /// `approved` (backing the offer now) or `released` (its part is settled: allocated, or
    /// returned to the fund).
    pub status: String,
    pub commitment_pence: Pence,
    /// Match given to the offer's pledges so far.
    pub match_pence: Pence,
}

/// The funders whose applications for `offer_id` were approved, oldest first.
pub fn match_funders(conn: &mut DbConnection, offer_id: &str) -> Result<Vec<MatchFunder>, AppError> {
    let rows: Vec<(String, String, String, String, String, i64, i64)> = match_applications::table
        .inner_join(funds::table.inner_join(funders::table))
        .filter(match_applications::offer_id.eq(offer_id))
        .filter(match_applications::status.eq_any(["approved", "released"]))
        .order((match_applications::created_at.asc(), match_applications::id.asc()))
        .select((
            funders::id,
            funders::name,
            funds::id,
            funds::name,
            match_applications::status,
            match_applications::commitment_pence,
            match_applications::match_pence,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(funder_id, funder_name, fund_id, fund_name, status, commitment, matched)| MatchFunder {
                funder_id,
                funder_name,
                fund_id,
                fund_name,
                status,
                commitment_pence: Pence::new(commitment),
                match_pence: Pence::new(matched),
            },
        )
        .collect())
}

/// A fund as anyone may see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FundSummary {
    pub id: String,
    pub funder_id: String,
    pub name: String,
    pub rule: Rule,
    pub budget_pence: Pence,
    /// Outstanding commitments to approved offers (for an allocated offer, its match).
    pub committed_pence: Pence,
    /// Match currently given to pledges.
    pub matched_pence: Pence,
    /// Commitments returned to the fund (offers cancelled or failed).
    pub released_pence: Pence,
    /// Budget not committed.
    pub available_pence: Pence,
    pub offers: Vec<FundOffer>,
}

/// A simulated match of one pledge.
#[derive(Debug, Serialize, ToSchema)]
pub struct SimulatedPledge {
    pub pledge_id: String,
    pub amount_pence: Pence,
    pub match_pence: Pence,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Simulation {
    pub match_pence: Pence,
    pub per_pledge: Vec<SimulatedPledge>,
}

pub fn get_fund(conn: &mut DbConnection, id: &str) -> Result<FundRow, AppError> {
    funds::table
        .find(id)
        .select(FundRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound("fund"))
}

/// Creates a fund and moves its budget into it.
pub fn create_fund(
    conn: &mut DbConnection,
    funder_id: &str,
    name: &str,
    budget: Pence,
    rule: &Rule,
) -> Result<FundSummary, AppError> {
    let errors = rule.check();
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let id = clock::new_id();
    let rule_json = serde_json::to_string(rule).map_err(|e| AppError::Internal(anyhow::anyhow!("rule JSON: {e}")))?;
    diesel::insert_into(funds::table)
        .values((
            funds::id.eq(&id),
            funds::funder_id.eq(funder_id),
            funds::name.eq(name),
            funds::budget_pence.eq(budget.get()),
            funds::rule.eq(&rule_json),
            funds::created_at.eq(clock::now()),
        ))
        .execute(conn)?;
    let [source, fund_account] =
        ledger::ensure_accounts(conn, [(AccountKind::Funder, funder_id), (AccountKind::Fund, &id)])?;
    ledger::create_posted(
        conn,
        &NewTransfer {
            id: &format!("fund:{id}:budget"),
            debit_account_id: &source,
            credit_account_id: &fund_account,
            amount: budget,
            kind: "budget",
            cause: &format!("fund:{id}"),
        },
    )?;
    summary(conn, &id)
}

pub fn summary(conn: &mut DbConnection, fund_id: &str) -> Result<FundSummary, AppError> {
    let fund = get_fund(conn, fund_id)?;
    let rows: Vec<(ApplicationRow, String)> = match_applications::table
        .inner_join(offers::table)
        .filter(match_applications::fund_id.eq(fund_id))
        .filter(match_applications::status.eq_any(["approved", "released"]))
        .order(match_applications::id)
        .select((ApplicationRow::as_select(), offers::status))
        .load(conn)?;
    // Once an offer is allocated its match is spent and the rest of the commitment is back in
    // the fund: the commitment that counts is the match.
    let outstanding = |(a, status): &(ApplicationRow, String)| {
        if status == OfferStatus::Allocated.as_str() {
            a.match_pence
        } else {
            a.commitment_pence
        }
    };
    let committed: i64 = rows
        .iter()
        .filter(|(a, _)| a.status == "approved")
        .map(outstanding)
        .sum();
    let applications: Vec<ApplicationRow> = rows.into_iter().map(|(a, _)| a).collect();
    let sum = |status: &str, pick: fn(&ApplicationRow) -> i64| {
        applications
            .iter()
            .filter(|a| a.status == status)
            .map(pick)
            .sum::<i64>()
    };
    // Offers not yet open are not the public's to know of: they count in the totals only.
    let public: Vec<String> = offers::table
        .filter(offers::id.eq_any(applications.iter().map(|a| a.offer_id.clone()).collect::<Vec<_>>()))
        .filter(
            offers::status
                .eq_any(["open", "closed", "succeeded", "allocated", "failed", "refunded"])
                .or(offers::status.eq("cancelled").and(offers::opened_at.is_not_null())),
        )
        .select(offers::id)
        .load(conn)?;
    Ok(FundSummary {
        rule: fund.rule()?,
        committed_pence: Pence::new(committed),
        matched_pence: Pence::new(sum("approved", |a| a.match_pence)),
        released_pence: Pence::new(sum("released", |a| a.commitment_pence)),
        available_pence: Pence::new(fund.budget_pence - committed),
        budget_pence: Pence::new(fund.budget_pence),
        offers: applications
            .into_iter()
            .filter(|a| public.contains(&a.offer_id))
            .map(|a| FundOffer {
                offer_id: a.offer_id,
                application_status: a.status,
                commitment_pence: Pence::new(a.commitment_pence),
                match_pence: Pence::new(a.match_pence),
            })
            .collect(),
        id: fund.id,
        funder_id: fund.funder_id,
        name: fund.name,
    })
}

/// A society applies its offer to a fund.
pub fn apply(conn: &mut DbConnection, offer: &OfferRow, fund_id: &str) -> Result<ApplicationView, AppError> {
    if funds::table
        .find(fund_id)
        .select(funds::id)
        .first::<String>(conn)
        .optional()?
        .is_none()
    {
        return Err(AppError::field("fund_id", "no fund has this id"));
    }
    let status = offer.status()?;
    if !matches!(
        status,
        OfferStatus::Draft | OfferStatus::Submitted | OfferStatus::Approved | OfferStatus::Open
    ) {
        return Err(AppError::conflict(format!(
            "an offer that is {} cannot apply for match funding",
            status.as_str()
        )));
    }
    let id = clock::new_id();
    let inserted = diesel::insert_into(match_applications::table)
        .values((
            match_applications::id.eq(&id),
            match_applications::fund_id.eq(fund_id),
            match_applications::offer_id.eq(&offer.id),
            match_applications::status.eq("pending"),
            match_applications::created_at.eq(clock::now()),
        ))
        .execute(conn)
        .map_err(AppError::from);
    match inserted {
        Err(e) if e.is_unique_violation() => Err(AppError::conflict("this offer has already applied to this fund")),
        Err(e) => Err(e),
        Ok(_) => Ok(get_application(conn, &id)?.into()),
    }
}

pub fn get_application(conn: &mut DbConnection, id: &str) -> Result<ApplicationRow, AppError> {
    match_applications::table
        .find(id)
        .select(ApplicationRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound("application"))
}

/// An application of this fund (404 if it belongs to another).
fn application_of(conn: &mut DbConnection, fund_id: &str, application_id: &str) -> Result<ApplicationRow, AppError> {
    let application = get_application(conn, application_id)?;
    if application.fund_id != fund_id {
        return Err(AppError::NotFound("application"));
    }
    Ok(application)
}

pub fn applications(
    conn: &mut DbConnection,
    fund_id: &str,
    page: &PageRequest,
) -> Result<Page<ApplicationView>, AppError> {
    let mut query = match_applications::table
        .filter(match_applications::fund_id.eq(fund_id))
        .select(ApplicationRow::as_select())
        .order(match_applications::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(match_applications::id.lt(after));
    }
    Page::from_rows(query.load(conn)?, page, |a| a.id.clone(), |a| Ok(a.into()))
}

/// Approves an application with a commitment, reserving it from the fund's budget in the
/// ledger; a live fund's match is computed at once. Over the per-offer cap or the available
/// budget is 422; a decided application, an offer past its close, or a clash with an exclusive
/// fund is 409.
pub fn approve(
    conn: &mut DbConnection,
    fund_id: &str,
    application_id: &str,
    commitment: Pence,
    decided_by: &str,
) -> Result<ApplicationView, AppError> {
    let now = clock::now();
    let application = application_of(conn, fund_id, application_id)?;
    offer_service::lock(conn, &application.offer_id, now)?;
    let application = application_of(conn, fund_id, application_id)?;
    if application.status != "pending" {
        return Err(AppError::conflict(format!(
            "the application is {} already",
            application.status
        )));
    }
    let offer = offer_service::get(conn, &application.offer_id)?;
    let status = offer.status()?;
    if !matches!(
        status,
        OfferStatus::Draft | OfferStatus::Submitted | OfferStatus::Approved | OfferStatus::Open
    ) || (status == OfferStatus::Open && offer.closes_at <= now)
    {
        return Err(AppError::conflict(format!(
            "the offer is {} and can no longer be matched",
            status.as_str()
        )));
    }
    let fund = get_fund(conn, fund_id)?;
    let rule = fund.rule()?;
    if commitment.get() <= 0 {
        return Err(AppError::field("commitment_pence", "must be more than zero"));
    }
    if commitment > rule.per_offer_cap_pence {
        return Err(AppError::field(
            "commitment_pence",
            format!(
                "must not exceed the fund's per-offer cap of {}",
                rule.per_offer_cap_pence
            ),
        ));
    }
    if commitment.get() % offer.share_price_pence != 0 {
        return Err(AppError::field(
            "commitment_pence",
            format!(
                "must be a whole number of shares ({} each)",
                Pence::new(offer.share_price_pence)
            ),
        ));
    }
    let others: Vec<String> = match_applications::table
        .filter(match_applications::offer_id.eq(&offer.id))
        .filter(match_applications::status.eq("approved"))
        .select(match_applications::fund_id)
        .load(conn)?;
    if !others.is_empty() {
        let mut exclusive = rule.exclusive;
        for other in &others {
            exclusive |= get_fund(conn, other)?.rule()?.exclusive;
        }
        if exclusive {
            return Err(AppError::conflict(
                "an exclusive fund cannot share an offer with another fund's match",
            ));
        }
    }
    let [fund_account, commitment_account] = ledger::ensure_accounts(
        conn,
        [(AccountKind::Fund, fund_id), (AccountKind::Commitment, application_id)],
    )?;
    let reserved = ledger::create_posted(
        conn,
        &NewTransfer {
            id: &format!("commitment:{application_id}"),
            debit_account_id: &fund_account,
            credit_account_id: &commitment_account,
            amount: commitment,
            kind: "commitment",
            cause: &format!("application:{application_id}"),
        },
    );
    if let Err(AppError::Ledger(LedgerError::DebitsExceedCredits(_))) = &reserved {
        // The fund account refused the debit: the budget left is smaller than the commitment.
        let available = summary(conn, fund_id)?.available_pence;
        return Err(AppError::field(
            "commitment_pence",
            format!("is more than the fund's available budget of {available}"),
        ));
    }
    reserved?;
    let decided = diesel::update(
        match_applications::table
            .filter(match_applications::id.eq(application_id))
            .filter(match_applications::status.eq("pending")),
    )
    .set((
        match_applications::status.eq("approved"),
        match_applications::commitment_pence.eq(commitment.get()),
        match_applications::decided_by.eq(decided_by),
        match_applications::decided_at.eq(now),
    ))
    .execute(conn)?;
    if decided == 0 {
        // Rejected meanwhile; the rollback undoes the commitment posted above.
        return Err(AppError::conflict("the application was decided meanwhile"));
    }
    if rule.timing == Timing::Live {
        refresh_offer(conn, &offer.id)?;
    }
    let available = summary(conn, fund_id)?.available_pence;
    let decision = json!({"decision": "approved", "commitment": commitment.to_string(), "reason": ""});
    tell_society(conn, &offer, &fund, decision)?;
    tell_funder(conn, &offer, &fund, "made", commitment, available)?;
    Ok(get_application(conn, application_id)?.into())
}

fn tell_society(
    conn: &mut DbConnection,
    offer: &OfferRow,
    fund: &FundRow,
    mut context: serde_json::Value,
) -> Result<(), AppError> {
    context["offer"] = json!(offer.title);
    context["fund"] = json!(fund.name);
    for (_, email) in notify::society_admin_emails(conn, &offer.society_id, false)? {
        notify::enqueue(conn, Kind::ApplicationDecided, &email, &context, None)?;
    }
    Ok(())
}

fn tell_funder(
    conn: &mut DbConnection,
    offer: &OfferRow,
    fund: &FundRow,
    event: &str,
    commitment: Pence,
    available: Pence,
) -> Result<(), AppError> {
    let context = json!({
        "fund": fund.name, "offer": offer.title, "event": event,
        "commitment": commitment.to_string(), "available": available.to_string(),
    });
    for email in notify::funder_admin_emails(conn, &fund.funder_id)? {
        notify::enqueue(conn, Kind::Commitment, &email, &context, None)?;
    }
    Ok(())
}

pub fn reject(
    conn: &mut DbConnection,
    fund_id: &str,
    application_id: &str,
    reason: &str,
    decided_by: &str,
) -> Result<ApplicationView, AppError> {
    let application = application_of(conn, fund_id, application_id)?;
    offer_service::lock(conn, &application.offer_id, clock::now())?;
    let changed = diesel::update(
        match_applications::table
            .filter(match_applications::id.eq(&application.id))
            .filter(match_applications::status.eq("pending")),
    )
    .set((
        match_applications::status.eq("rejected"),
        match_applications::reason.eq(reason),
        match_applications::decided_by.eq(decided_by),
        match_applications::decided_at.eq(clock::now()),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Err(AppError::conflict(format!(
            "the application is {} already",
            application.status
        )));
    }
    let offer = offer_service::get(conn, &application.offer_id)?;
    let fund = get_fund(conn, fund_id)?;
    tell_society(
        conn,
        &offer,
        &fund,
        json!({"decision": "rejected", "commitment": "", "reason": reason}),
    )?;
    Ok(get_application(conn, application_id)?.into())
}

type LivePledge = (String, String, i64, Option<String>);

/// The offer's live pledges in pledge order, with their investors' postcodes.
fn live_pledges(conn: &mut DbConnection, offer_id: &str) -> Result<Vec<LivePledge>, AppError> {
    Ok(pledges::table
        .inner_join(users::table)
        .filter(pledges::offer_id.eq(offer_id))
        .filter(pledges::status.eq_any(["pending", "paid", "allocated"]))
        .order((pledges::created_at, pledges::id))
        .select((
            pledges::id,
            pledges::investor_id,
            pledges::amount_pence,
            users::postcode,
        ))
        .load(conn)?)
}

fn facts(offer: &OfferRow) -> OfferFacts {
    OfferFacts {
        share_price: Pence::new(offer.share_price_pence),
        min_target: Pence::new(offer.min_target_pence),
        target: Pence::new(offer.target_pence),
        max_target: Pence::new(offer.max_target_pence),
    }
}

fn engine_pledges(live: &[LivePledge]) -> Vec<MatchPledge> {
    live.iter()
        .map(|(_, investor, amount, postcode)| MatchPledge {
            investor_id: investor.clone(),
            amount: Pence::new(*amount),
            postcode: postcode.clone().unwrap_or_default().to_ascii_uppercase(),
        })
        .collect()
}

/// Recomputes every approved fund's match on the offer from its live pledges, and moves only
/// what changed: per pledge, the old pending match transfer is voided and a new one made.
/// At-close funds are computed once the offer has closed. Call with the offer row locked.
/// Returns each pledge's new total match.
pub fn refresh_offer(conn: &mut DbConnection, offer_id: &str) -> Result<HashMap<String, i64>, AppError> {
    let applications: Vec<ApplicationRow> = match_applications::table
        .filter(match_applications::offer_id.eq(offer_id))
        .filter(match_applications::status.eq("approved"))
        .order((match_applications::decided_at, match_applications::id))
        .select(ApplicationRow::as_select())
        .load(conn)?;
    if applications.is_empty() {
        return Ok(HashMap::new());
    }
    let offer = offer_service::get(conn, offer_id)?;
    let status = offer.status()?;
    if matches!(
        status,
        OfferStatus::Cancelled | OfferStatus::Failed | OfferStatus::Refunded
    ) {
        // Released, not matched: nothing to recompute.
        return Ok(HashMap::new());
    }
    let closed = matches!(
        status,
        OfferStatus::Closed | OfferStatus::Succeeded | OfferStatus::Allocated
    );
    let live = live_pledges(conn, offer_id)?;
    let engine = engine_pledges(&live);
    let facts = facts(&offer);
    let match_account = ledger::ensure_account(conn, AccountKind::Match, offer_id)?;
    let mut current: Vec<i64> = applications.iter().map(|a| a.match_pence).collect();
    let mut changed_pledges: Vec<String> = Vec::new();
    for (index, application) in applications.iter().enumerate() {
        let rule = get_fund(conn, &application.fund_id)?.rule()?;
        if rule.timing == Timing::AtClose && !closed {
            continue;
        }
        // Funds share the headroom in approval order: only those before this one count, so
        // the split is a function of the pledges and the approvals, not of history.
        let other: i64 = current[..index].iter().sum();
        let amounts = compute(
            &rule,
            Pence::new(application.commitment_pence),
            &facts,
            &engine,
            Pence::new(other),
        );
        let existing: HashMap<String, (i64, Option<String>, i32)> = pledge_matches::table
            .filter(pledge_matches::application_id.eq(&application.id))
            .select((
                pledge_matches::pledge_id,
                pledge_matches::amount_pence,
                pledge_matches::transfer_id,
                pledge_matches::version,
            ))
            .load::<(String, i64, Option<String>, i32)>(conn)?
            .into_iter()
            .map(|(pledge, amount, transfer, version)| (pledge, (amount, transfer, version)))
            .collect();
        let commitment_account = AccountKind::Commitment.account_id(&application.id);
        // Pledges no longer live keep no match.
        let mut wanted: HashMap<&str, i64> = live
            .iter()
            .zip(&amounts)
            .map(|((id, ..), m)| (id.as_str(), m.get()))
            .collect();
        for pledge_id in existing.keys() {
            wanted.entry(pledge_id.as_str()).or_insert(0);
        }
        let mut total = 0;
        // Decreases first, then increases: the commitment account refuses to hold more pending
        // match than the commitment, even for a moment, when budget moves between pledges.
        let mut ordered: Vec<(&str, i64)> = wanted.into_iter().collect();
        ordered.sort_by_key(|(pledge_id, amount)| {
            let old = existing.get(*pledge_id).map_or(0, |e| e.0);
            (*amount > old, *pledge_id)
        });
        for (pledge_id, amount) in ordered {
            total += amount;
            let (old_amount, old_transfer, version) = existing.get(pledge_id).cloned().unwrap_or((0, None, 0));
            if old_amount == amount {
                continue;
            }
            if let Some(old) = &old_transfer {
                ledger::resolve_pending(conn, old, Resolution::Void, &format!("rematch:{pledge_id}"))?;
            }
            let version = version + 1;
            let transfer = (amount > 0).then(|| format!("match:{}:{pledge_id}:{version}", application.id));
            if let Some(transfer) = &transfer {
                ledger::create_pending(
                    conn,
                    &NewTransfer {
                        id: transfer,
                        debit_account_id: &commitment_account,
                        credit_account_id: &match_account,
                        amount: Pence::new(amount),
                        kind: "match",
                        cause: &format!("pledge:{pledge_id}"),
                    },
                )?;
            }
            if existing.contains_key(pledge_id) {
                diesel::update(pledge_matches::table.find((&application.id, pledge_id)))
                    .set((
                        pledge_matches::amount_pence.eq(amount),
                        pledge_matches::transfer_id.eq(&transfer),
                        pledge_matches::version.eq(version),
                    ))
                    .execute(conn)?;
            } else {
                diesel::insert_into(pledge_matches::table)
                    .values((
                        pledge_matches::application_id.eq(&application.id),
                        pledge_matches::pledge_id.eq(pledge_id),
                        pledge_matches::amount_pence.eq(amount),
                        pledge_matches::transfer_id.eq(&transfer),
                        pledge_matches::version.eq(version),
                    ))
                    .execute(conn)?;
            }
            changed_pledges.push(pledge_id.to_owned());
        }
        if total != application.match_pence {
            diesel::update(match_applications::table.find(&application.id))
                .set(match_applications::match_pence.eq(total))
                .execute(conn)?;
        }
        current[index] = total;
    }
    diesel::update(offers::table.find(offer_id))
        .set(offers::match_pence.eq(current.iter().sum::<i64>()))
        .execute(conn)?;
    let mut totals = HashMap::new();
    changed_pledges.sort();
    changed_pledges.dedup();
    for pledge_id in changed_pledges {
        let amounts: Vec<i64> = pledge_matches::table
            .filter(pledge_matches::pledge_id.eq(&pledge_id))
            .select(pledge_matches::amount_pence)
            .load(conn)?;
        let total: i64 = amounts.iter().sum();
        diesel::update(pledges::table.find(&pledge_id))
            .set(pledges::match_pence.eq(total))
            .execute(conn)?;
        totals.insert(pledge_id, total);
    }
    Ok(totals)
}

/// When an offer is cancelled (or fails): every pending match is voided and every commitment
/// returns to its fund. Call with the offer row locked.
pub fn release_offer(conn: &mut DbConnection, offer_id: &str) -> Result<(), AppError> {
    let applications: Vec<ApplicationRow> = match_applications::table
        .filter(match_applications::offer_id.eq(offer_id))
        .filter(match_applications::status.eq("approved"))
        .select(ApplicationRow::as_select())
        .load(conn)?;
    for application in applications {
        let matches: Vec<(String, Option<String>)> = pledge_matches::table
            .filter(pledge_matches::application_id.eq(&application.id))
            .select((pledge_matches::pledge_id, pledge_matches::transfer_id))
            .load(conn)?;
        for (pledge_id, transfer) in matches {
            if let Some(transfer) = transfer {
                ledger::resolve_pending(conn, &transfer, Resolution::Void, &format!("release:{pledge_id}"))?;
            }
            diesel::update(pledge_matches::table.find((&application.id, &pledge_id)))
                .set((
                    pledge_matches::amount_pence.eq(0),
                    pledge_matches::transfer_id.eq(None::<String>),
                ))
                .execute(conn)?;
            diesel::update(pledges::table.find(&pledge_id))
                .set(pledges::match_pence.eq(0))
                .execute(conn)?;
        }
        let fund_account = AccountKind::Fund.account_id(&application.fund_id);
        let commitment_account = AccountKind::Commitment.account_id(&application.id);
        ledger::create_posted(
            conn,
            &NewTransfer {
                id: &format!("commitment:{}:release", application.id),
                debit_account_id: &commitment_account,
                credit_account_id: &fund_account,
                amount: Pence::new(application.commitment_pence),
                kind: "release",
                cause: &format!("offer:{offer_id}"),
            },
        )?;
        diesel::update(match_applications::table.find(&application.id))
            .set((
                match_applications::status.eq("released"),
                match_applications::match_pence.eq(0),
            ))
            .execute(conn)?;
        let (offer, fund) = (
            offer_service::get(conn, offer_id)?,
            get_fund(conn, &application.fund_id)?,
        );
        let available = summary(conn, &fund.id)?.available_pence;
        tell_funder(
            conn,
            &offer,
            &fund,
            "released",
            Pence::new(application.commitment_pence),
            available,
        )?;
    }
    diesel::update(offers::table.find(offer_id))
        .set(offers::match_pence.eq(0))
        .execute(conn)?;
    Ok(())
}

/// Runs the engine over an offer's current pledges with the fund's rule (or a draft rule) and a
/// commitment (default: the approved one, else the rule's per-offer cap). Writes nothing.
pub fn simulate(
    conn: &mut DbConnection,
    fund_id: &str,
    offer_id: &str,
    rule: Option<Rule>,
    commitment: Option<Pence>,
) -> Result<Simulation, AppError> {
    let fund = get_fund(conn, fund_id)?;
    let offer =
        offer_service::find(conn, offer_id)?.ok_or_else(|| AppError::field("offer_id", "no offer has this id"))?;
    let application: Option<ApplicationRow> = match_applications::table
        .filter(match_applications::offer_id.eq(offer_id))
        .filter(match_applications::fund_id.eq(fund_id))
        .select(ApplicationRow::as_select())
        .first(conn)
        .optional()?;
    if !offer.is_public()? && application.is_none() {
        // A draft that has not applied to this fund is not the funder's to see.
        return Err(AppError::field("offer_id", "no offer has this id"));
    }
    let rule = match rule {
        Some(rule) => {
            let errors = rule.check();
            if !errors.is_empty() {
                return Err(AppError::Validation(errors));
            }
            rule
        }
        None => fund.rule()?,
    };
    // As in `refresh_offer`: the headroom goes to funds in approval order, so only those
    // approved before this one count (all of them, for a fund not approved yet).
    let approved: Vec<ApplicationRow> = match_applications::table
        .filter(match_applications::offer_id.eq(offer_id))
        .filter(match_applications::status.eq("approved"))
        .order((match_applications::decided_at, match_applications::id))
        .select(ApplicationRow::as_select())
        .load(conn)?;
    let ahead: i64 = approved
        .iter()
        .take_while(|a| a.fund_id != fund_id)
        .map(|a| a.match_pence)
        .sum();
    let commitment = commitment.unwrap_or_else(|| {
        application
            .as_ref()
            .filter(|a| a.status == "approved")
            .map_or(rule.per_offer_cap_pence, |a| Pence::new(a.commitment_pence))
    });
    let live = live_pledges(conn, offer_id)?;
    let amounts = compute(
        &rule,
        commitment,
        &facts(&offer),
        &engine_pledges(&live),
        Pence::new(ahead),
    );
    Ok(Simulation {
        match_pence: Pence::new(amounts.iter().map(|a| a.get()).sum()),
        per_pledge: live
            .into_iter()
            .zip(amounts)
            .map(|((pledge_id, _, amount, _), matched)| SimulatedPledge {
                pledge_id,
                amount_pence: Pence::new(amount),
                match_pence: matched,
            })
            .collect(),
    })
}
