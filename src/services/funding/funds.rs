//! Funds: a funder's budget and rule, the fund's public summary, and the funders backing an
//! offer.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock;
use crate::db::fixed::{Fixed, Param};
use crate::db::schema::{funders, funds, match_applications, offers};
use crate::db::DbConnection;
use crate::domain::governance::AuditAction;
use crate::domain::matching::{ApplicationStatus, Rule};
use crate::domain::money::Pence;
use crate::error::AppError;
use crate::ledger::{self, AccountKind, NewTransfer};
use crate::services::audit::{self, Actor};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = funds)]
pub struct FundRow {
    pub id: String,
    pub funder_id: String,
    pub name: String,
    pub budget_pence: i64,
    pub rule: String,
    pub created_at: NaiveDateTime,
    /// An approval of at least this commitment needs a second admin's confirmation (0: every
    /// one; none: no approval does).
    pub second_approval_threshold_pence: Option<i64>,
    /// Who asked to relax the threshold, while that waits for a second admin.
    pub threshold_change_by: Option<String>,
    /// The threshold asked for (none: no threshold).
    pub threshold_change_to: Option<i64>,
    pub threshold_change_at: Option<NaiveDateTime>,
}

impl FundRow {
    pub fn rule(&self) -> Result<Rule, AppError> {
        stored_rule(&self.id, &self.rule)
    }
}

/// A fund's rule from the JSON its creation stored (a 500 if it cannot be read: a bug).
pub(crate) fn stored_rule(fund_id: &str, json: &str) -> Result<Rule, AppError> {
    serde_json::from_str(json)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("fund {fund_id} has an unreadable rule: {e}")))
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = match_applications)]
pub struct ApplicationRow {
    pub id: String,
    pub fund_id: String,
    pub offer_id: String,
    pub status: ApplicationStatus,
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
    /// The latest approval that needed a second admin's confirmation, if any: who asked, when,
    /// for what commitment, and who confirmed or declined it, when.
    pub confirmation: Option<super::confirmation::Confirmation>,
}

impl From<ApplicationRow> for ApplicationView {
    fn from(row: ApplicationRow) -> Self {
        ApplicationView {
            id: row.id,
            fund_id: row.fund_id,
            offer_id: row.offer_id,
            status: row.status.to_string(),
            commitment_pence: Pence::new(row.commitment_pence),
            match_pence: Pence::new(row.match_pence),
            reason: row.reason,
            decided_at: row.decided_at.map(clock::utc),
            created_at: clock::utc(row.created_at),
            confirmation: None,
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
        .filter(match_applications::status.eq_any([ApplicationStatus::Approved, ApplicationStatus::Released]))
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
    /// Commitments held for approvals awaiting a second admin's confirmation.
    pub awaiting_confirmation_pence: Pence,
    /// Budget neither committed nor held.
    pub available_pence: Pence,
    /// An approval of at least this commitment needs a second funder admin's confirmation
    /// (0: every approval; null: none).
    pub second_approval_threshold_pence: Option<Pence>,
    /// A relaxation of that threshold one admin has asked for, waiting for a second.
    pub second_approval_change: Option<ThresholdChange>,
    pub offers: Vec<FundOffer>,
}

/// A relaxation of a fund's second-approval threshold waiting for a second funder admin to ask
/// for the same.
#[derive(Debug, Serialize, ToSchema)]
pub struct ThresholdChange {
    /// The threshold asked for (null: none).
    pub threshold_pence: Option<Pence>,
    pub requested_at: chrono::DateTime<chrono::Utc>,
}

pub fn get_fund(conn: &mut DbConnection, id: &str) -> Result<FundRow, AppError> {
    funds::table
        .find(id)
        .select(FundRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound("fund"))
}

/// Whether moving a fund's second-approval threshold from `current` to `wanted` relaxes the
/// rule (fewer approvals would need a second admin): removing it, or raising it. `None` is no
/// threshold. Pure.
pub fn relaxes(current: Option<i64>, wanted: Option<i64>) -> bool {
    match (current, wanted) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(c), Some(w)) => w > c,
    }
}

/// What a request to set the threshold did.
pub enum ThresholdOutcome {
    /// The threshold is now what was asked.
    Set(FundSummary),
    /// A relaxation waits for a second funder admin to ask for the same.
    Awaiting(FundSummary),
}

/// Sets the fund's threshold for a second admin's confirmation (`None`: no approval needs
/// one). Tightening it (or keeping it) takes effect at once and drops any relaxation pending.
/// Relaxing it takes two people too: the first request waits (its asker's repeats change
/// nothing), the fund's other admins are emailed, and it takes effect when a different admin
/// asks for the same threshold; a different relaxation replaces the one pending. A negative
/// threshold is 422.
pub fn set_second_approval(
    conn: &mut DbConnection,
    fund_id: &str,
    threshold: Option<Pence>,
    decider: &super::Decider<'_>,
) -> Result<ThresholdOutcome, AppError> {
    let by = decider.user_id();
    if threshold.is_some_and(|t| t.get() < 0) {
        return Err(AppError::field(
            "threshold_pence",
            "must be 0 or more (0: every approval)",
        ));
    }
    // Take the fund's row lock first (a write of nothing), so that two admins' requests are
    // decided one after the other on what the first left.
    let locked = diesel::update(funds::table.find(fund_id))
        .set(funds::id.eq(fund_id))
        .execute(conn)?;
    if locked == 0 {
        return Err(AppError::NotFound("fund"));
    }
    let fund = get_fund(conn, fund_id)?;
    let wanted = threshold.map(|t| t.get());
    if !relaxes(fund.second_approval_threshold_pence, wanted) {
        apply_threshold(conn, &fund, wanted, decider)?;
        return Ok(ThresholdOutcome::Set(summary(conn, fund_id)?));
    }
    let pending = fund.threshold_change_by.as_deref();
    if let (Some(asker), Some(asked_at)) = (pending, fund.threshold_change_at) {
        if asker != by && fund.threshold_change_to == wanted {
            super::confirmation::check_second(conn, &fund.funder_id, asker, asked_at, decider)?;
            apply_threshold(conn, &fund, wanted, decider)?;
            return Ok(ThresholdOutcome::Set(summary(conn, fund_id)?));
        }
    }
    if pending != Some(by) || fund.threshold_change_to != wanted {
        diesel::update(funds::table.find(fund_id))
            .set((
                funds::threshold_change_by.eq(by),
                funds::threshold_change_to.eq(wanted),
                funds::threshold_change_at.eq(clock::now()),
            ))
            .execute(conn)?;
        tell_admins_of_relaxation(conn, &fund, wanted, by)?;
        let detail = format!(
            "asked that {} {}; a second admin must ask for the same",
            fund.name,
            threshold_words(wanted)
        );
        audit::record(
            conn,
            &fund.funder_id,
            decider.actor,
            AuditAction::ThresholdChangeAsked,
            &detail,
        )?;
    }
    Ok(ThresholdOutcome::Awaiting(summary(conn, fund_id)?))
}

/// What a threshold means, in words.
fn threshold_words(threshold: Option<i64>) -> String {
    match threshold {
        None => "no longer need a second admin for any approval".to_owned(),
        Some(0) => "need a second admin for every approval".to_owned(),
        Some(t) => format!("need a second admin only for approvals of {} or more", Pence::new(t)),
    }
}

/// Sets the threshold and drops any change pending.
fn apply_threshold(
    conn: &mut DbConnection,
    fund: &FundRow,
    wanted: Option<i64>,
    decider: &super::Decider<'_>,
) -> Result<(), AppError> {
    if fund.second_approval_threshold_pence != wanted {
        let detail = format!("set {}'s rule: approvals {}", fund.name, threshold_words(wanted));
        audit::record(conn, &fund.funder_id, decider.actor, AuditAction::ThresholdSet, &detail)?;
    }
    diesel::update(funds::table.find(&fund.id))
        .set((
            funds::second_approval_threshold_pence.eq(wanted),
            funds::threshold_change_by.eq(None::<String>),
            funds::threshold_change_to.eq(None::<i64>),
            funds::threshold_change_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Emails the fund's other admins that one of them asked to relax its two-person rule.
fn tell_admins_of_relaxation(
    conn: &mut DbConnection,
    fund: &FundRow,
    wanted: Option<i64>,
    by: &str,
) -> Result<(), AppError> {
    let (asker_email, name) = crate::notify::user_contact(conn, by)?;
    let asked = threshold_words(wanted);
    let context = serde_json::json!({"name": name, "fund": fund.name, "asked": asked});
    for email in crate::notify::funder_admin_emails(conn, &fund.funder_id)? {
        if email != asker_email {
            crate::notify::enqueue(conn, crate::notify::Kind::ThresholdChange, &email, &context, None)?;
        }
    }
    Ok(())
}

/// Creates a fund and moves its budget into it.
pub fn create_fund(
    conn: &mut DbConnection,
    funder_id: &str,
    name: &str,
    budget: Pence,
    rule: &Rule,
    by: Actor<'_>,
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
            // Two people for every approval until two admins agree otherwise.
            funds::second_approval_threshold_pence.eq(Some(0_i64)),
        ))
        .execute(conn)?;
    let detail = format!("created the fund {name} with a budget of {budget}; every approval needs a second admin");
    audit::record(conn, funder_id, by, AuditAction::FundCreated, &detail)?;
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

/// The approved and released applications of the fund.
fn decided_applications(conn: &mut DbConnection, fund_id: &str) -> Result<Vec<ApplicationRow>, AppError> {
    Ok(match_applications::table
        .filter(match_applications::fund_id.eq(fund_id))
        .filter(match_applications::status.eq_any([ApplicationStatus::Approved, ApplicationStatus::Released]))
        .order(match_applications::id)
        .select(ApplicationRow::as_select())
        .load(conn)?)
}

/// The SQL of what each fund's approved applications still commit of its budget: the
/// commitment, until the offer is allocated (its match is then spent and the rest is back in
/// the fund, so the match counts). Released applications commit nothing.
macro_rules! committed_sql {
    () => {
        "SELECT a.fund_id AS fund_id, CAST(SUM(CASE WHEN o.status = 'allocated' \
         THEN a.match_pence ELSE a.commitment_pence END) AS BIGINT) AS n \
         FROM match_applications a JOIN offers o ON o.id = a.offer_id WHERE a.status = 'approved'"
    };
}

/// The SQL of what each fund's holds awaiting a second admin's confirmation add up to.
macro_rules! awaiting_sql {
    () => {
        "SELECT a.fund_id AS fund_id, CAST(SUM(r.commitment_pence) AS BIGINT) AS n \
         FROM commitment_requests r JOIN match_applications a ON a.id = r.application_id \
         WHERE r.state = 'awaiting'"
    };
}

/// A per-fund total summed in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Total {
    /// What approved applications still commit ([`committed_sql`]).
    Committed,
    /// What holds awaiting confirmation take ([`awaiting_sql`]).
    Awaiting,
}

#[derive(QueryableByName)]
struct FundTotal {
    #[diesel(sql_type = diesel::sql_types::Text)]
    fund_id: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// A total per fund, of one fund or of every fund (funds with nothing to sum are absent).
fn fund_totals(conn: &mut DbConnection, total: Total, fund: Option<&str>) -> Result<HashMap<String, i64>, AppError> {
    const GROUP: &str = " GROUP BY a.fund_id";
    let rows: Vec<FundTotal> = match (total, fund) {
        (Total::Committed, Some(id)) => Fixed {
            parts: &[concat!(committed_sql!(), " AND a.fund_id = "), GROUP],
            params: [Param::Text(id)],
        }
        .read(conn)?,
        (Total::Awaiting, Some(id)) => Fixed {
            parts: &[concat!(awaiting_sql!(), " AND a.fund_id = "), GROUP],
            params: [Param::Text(id)],
        }
        .read(conn)?,
        (Total::Committed, None) => Fixed {
            parts: &[concat!(committed_sql!(), " GROUP BY a.fund_id")],
            params: [],
        }
        .read(conn)?,
        (Total::Awaiting, None) => Fixed {
            parts: &[concat!(awaiting_sql!(), " GROUP BY a.fund_id")],
            params: [],
        }
        .read(conn)?,
    };
    Ok(rows.into_iter().map(|t| (t.fund_id, t.n)).collect())
}

/// Each of these funds' available budget (its budget less outstanding commitments and holds
/// awaiting confirmation, as [`summary`] counts it), summed in the database over every fund in
/// two grouped queries; `funds` are (id, budget).
pub fn available_of(conn: &mut DbConnection, funds: &[(&str, i64)]) -> Result<HashMap<String, i64>, AppError> {
    let committed = fund_totals(conn, Total::Committed, None)?;
    let awaiting = fund_totals(conn, Total::Awaiting, None)?;
    let taken = |id: &str| committed.get(id).copied().unwrap_or(0) + awaiting.get(id).copied().unwrap_or(0);
    Ok(funds
        .iter()
        .map(|(id, budget)| (id.to_string(), budget - taken(id)))
        .collect())
}

/// The fund's money (budget, committed, awaiting confirmation, matched, released, available) and
/// the public offers it backs. 404 for no such fund.
pub fn summary(conn: &mut DbConnection, fund_id: &str) -> Result<FundSummary, AppError> {
    let fund = get_fund(conn, fund_id)?;
    let committed = fund_totals(conn, Total::Committed, Some(fund_id))?
        .remove(fund_id)
        .unwrap_or(0);
    let awaiting = fund_totals(conn, Total::Awaiting, Some(fund_id))?
        .remove(fund_id)
        .unwrap_or(0);
    let applications = decided_applications(conn, fund_id)?;
    let sum = |status: ApplicationStatus, pick: fn(&ApplicationRow) -> i64| {
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
        matched_pence: Pence::new(sum(ApplicationStatus::Approved, |a| a.match_pence)),
        released_pence: Pence::new(sum(ApplicationStatus::Released, |a| a.commitment_pence)),
        awaiting_confirmation_pence: Pence::new(awaiting),
        available_pence: Pence::new(fund.budget_pence - committed - awaiting),
        second_approval_threshold_pence: fund.second_approval_threshold_pence.map(Pence::new),
        second_approval_change: fund.threshold_change_at.map(|at| ThresholdChange {
            threshold_pence: fund.threshold_change_to.map(Pence::new),
            requested_at: clock::utc(at),
        }),
        budget_pence: Pence::new(fund.budget_pence),
        offers: applications
            .into_iter()
            .filter(|a| public.contains(&a.offer_id))
            .map(|a| FundOffer {
                offer_id: a.offer_id,
                application_status: a.status.to_string(),
                commitment_pence: Pence::new(a.commitment_pence),
                match_pence: Pence::new(a.match_pence),
            })
            .collect(),
        id: fund.id,
        funder_id: fund.funder_id,
        name: fund.name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removing_or_raising_a_threshold_relaxes_the_rule() {
        assert!(relaxes(Some(0), None));
        assert!(relaxes(Some(100), Some(101)));
        assert!(!relaxes(Some(100), Some(100)));
        assert!(!relaxes(Some(100), Some(0)));
        assert!(!relaxes(None, Some(0)));
        assert!(!relaxes(None, None));
    }
}
