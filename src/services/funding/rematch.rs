//! Keeping every pledge's stored match equal to the engine's answer
//! ([`compute_offer`](crate::domain::matching::offer::compute_offer)): the full recompute of an
//! offer, the incremental match of a new pledge ([`append`] says when it is exact; otherwise
//! the full recompute), and the release of an offer's match when it is cancelled or fails.
//!
//! A new pledge skips the engine when the offer's live funds have no room left
//! (`offers.match_room_pence`, the sum of their commitments less their match, kept here): it
//! is last in pledge order, so it is matched nothing, and the reservation's cap on pledges plus
//! match keeps every fund's headroom at or above what it holds, so no other match changes.
//!
//! Ledger: each pledge's match of each fund is a pending transfer
//! `commitment:<application>` → `match:<offer>` with id `match:<application>:<pledge>:<version>`.
//! When a pledge's match changes, its pending transfer is voided and a new one made for the new
//! amount (the next version); pledges whose match did not change are not touched. The
//! applications' and the offer's `match_pence` and each pledge's `match_pence` are written here
//! only, in the same transaction.

use std::collections::HashMap;

use diesel::prelude::*;

use super::applications::tell_funder;
use super::funds::stored_rule;
use super::{get_fund, summary, ApplicationRow};
use diesel::sql_types::{BigInt, Text};

use crate::db::fixed::{Fixed, Param};
use crate::db::schema::{funds, match_applications, match_investor_totals, pledge_matches, pledges, users};
use crate::db::DbConnection;
use crate::domain::matching::append::{append, Before, Running};
use crate::domain::matching::offer::{compute_offer, ApprovedFund};
use crate::domain::matching::plan::{plan, Change};
use crate::domain::matching::{ApplicationStatus, MatchPledge, OfferFacts, Rule, Timing};
use crate::domain::money::Pence;
use crate::domain::offer::OfferStatus;
use crate::domain::pledge::PledgeStatus;
use crate::error::AppError;
use crate::ledger::totals;
use crate::ledger::{self, AccountKind, NewTransfer, Resolution};
use crate::services::offers::{self as offer_service, OfferRow};

/// An approved application with its fund's rule.
pub(super) struct Approved {
    pub(super) row: ApplicationRow,
    pub(super) rule: Rule,
}

/// The offer's approved applications in approval order, each with its fund's rule: one query.
pub(super) fn approved(conn: &mut DbConnection, offer_id: &str) -> Result<Vec<Approved>, AppError> {
    let rows: Vec<(ApplicationRow, String)> = match_applications::table
        .inner_join(funds::table)
        .filter(match_applications::offer_id.eq(offer_id))
        .filter(match_applications::status.eq(ApplicationStatus::Approved))
        .order((match_applications::decided_at, match_applications::id))
        .select((ApplicationRow::as_select(), funds::rule))
        .load(conn)?;
    rows.into_iter()
        .map(|(row, rule)| {
            let rule = stored_rule(&row.fund_id, &rule)?;
            Ok(Approved { row, rule })
        })
        .collect()
}

fn engine_funds(approved: &[Approved]) -> Vec<ApprovedFund> {
    approved
        .iter()
        .map(|a| ApprovedFund {
            rule: a.rule.clone(),
            commitment: Pence::new(a.row.commitment_pence),
            held: Pence::new(a.row.match_pence),
        })
        .collect()
}

/// A live pledge: id, investor, pence, the investor's postcode.
type LivePledge = (String, String, i64, Option<String>);

/// The offer's live pledges in pledge order, with their investors' postcodes.
pub(super) fn live_pledges(conn: &mut DbConnection, offer_id: &str) -> Result<Vec<LivePledge>, AppError> {
    Ok(pledges::table
        .inner_join(users::table)
        .filter(pledges::offer_id.eq(offer_id))
        .filter(pledges::status.eq_any(PledgeStatus::LIVE))
        .order((pledges::offer_seq, pledges::id))
        .select((
            pledges::id,
            pledges::investor_id,
            pledges::amount_pence,
            users::postcode,
        ))
        .load(conn)?)
}

pub(super) fn facts(offer: &OfferRow) -> OfferFacts {
    OfferFacts {
        share_price: Pence::new(offer.share_price_pence),
        min_target: Pence::new(offer.min_target_pence),
        target: Pence::new(offer.target_pence),
        max_target: Pence::new(offer.max_target_pence),
    }
}

pub(super) fn engine_pledges(live: &[LivePledge]) -> Vec<MatchPledge> {
    live.iter()
        .map(|(_, investor, amount, postcode)| MatchPledge {
            investor_id: investor.clone(),
            amount: Pence::new(*amount),
            postcode: postcode.clone().unwrap_or_default().to_ascii_uppercase(),
        })
        .collect()
}

/// Recomputes every approved fund's match on the offer from its live pledges, and moves only
/// what changed. At-close funds are computed once the offer has closed. Call with the offer row
/// locked. Returns the new total match (pence) of each pledge whose match changed.
pub fn refresh_offer(conn: &mut DbConnection, offer_id: &str) -> Result<HashMap<String, i64>, AppError> {
    let approved = approved(conn, offer_id)?;
    if approved.is_empty() {
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
    let investors: HashMap<&str, &str> = live
        .iter()
        .map(|(id, investor, ..)| (id.as_str(), investor.as_str()))
        .collect();
    let answers = compute_offer(&engine_funds(&approved), &facts(&offer), &engine_pledges(&live), closed);
    let match_account = ledger::ensure_account(conn, AccountKind::Match, offer_id)?;
    let mut changed: Vec<String> = Vec::new();
    let (mut offer_total, mut room) = (0, 0);
    for (Approved { row: application, rule }, answer) in approved.iter().zip(answers) {
        let Some(amounts) = answer else {
            offer_total += application.match_pence;
            continue;
        };
        let wanted: Vec<(&str, i64)> = live
            .iter()
            .zip(&amounts)
            .map(|((id, ..), m)| (id.as_str(), m.get()))
            .collect();
        changed.extend(rematch_fund(
            conn,
            &application.id,
            &match_account,
            &wanted,
            &investors,
        )?);
        let total: i64 = amounts.iter().map(|a| a.get()).sum();
        if total != application.match_pence {
            diesel::update(match_applications::table.find(&application.id))
                .set(match_applications::match_pence.eq(total))
                .execute(conn)?;
        }
        offer_total += total;
        if rule.timing == Timing::Live {
            room += application.commitment_pence - total;
        }
    }
    totals::set_match(conn, offer_id, offer_total, room)?;
    pledge_totals(conn, changed)
}

/// A stored match: pence, its pending transfer, its version, the pledge's investor.
type Stored = (i64, Option<String>, i32, String);

/// Brings one fund's stored matches to `wanted` (each live pledge's match), per the plan.
/// `investors`: each live pledge's investor. Answers the pledges whose match changed.
fn rematch_fund(
    conn: &mut DbConnection,
    application_id: &str,
    match_account: &str,
    wanted: &[(&str, i64)],
    investors: &HashMap<&str, &str>,
) -> Result<Vec<String>, AppError> {
    let stored: HashMap<String, Stored> = pledge_matches::table
        .inner_join(pledges::table)
        .filter(pledge_matches::application_id.eq(application_id))
        .select((
            pledge_matches::pledge_id,
            pledge_matches::amount_pence,
            pledge_matches::transfer_id,
            pledge_matches::version,
            pledges::investor_id,
        ))
        .load::<(String, i64, Option<String>, i32, String)>(conn)?
        .into_iter()
        .map(|(pledge, amount, transfer, version, investor)| (pledge, (amount, transfer, version, investor)))
        .collect();
    let amounts: HashMap<String, i64> = stored.iter().map(|(k, v)| (k.clone(), v.0)).collect();
    let changes = plan(&amounts, wanted);
    for change in &changes {
        let old = stored.get(change.pledge_id);
        let investor = match old {
            Some(old) => old.3.as_str(),
            None => investors.get(change.pledge_id).copied().unwrap_or_default(),
        };
        set_match(
            conn,
            application_id,
            match_account,
            change,
            old.map(|o| (&o.1, o.2)),
            investor,
        )?;
    }
    Ok(changes.into_iter().map(|c| c.pledge_id.to_owned()).collect())
}

/// Moves one pledge's match of one fund: its old pending transfer voided (`stored`: the old
/// transfer and version, if a row is stored), a new one made for the new amount (none for
/// zero), the stored row and the investor's running total written.
fn set_match(
    conn: &mut DbConnection,
    application_id: &str,
    match_account: &str,
    change: &Change<'_>,
    stored: Option<(&Option<String>, i32)>,
    investor_id: &str,
) -> Result<(), AppError> {
    let pledge_id = change.pledge_id;
    if let Some((Some(old), _)) = stored {
        ledger::resolve_pending(conn, old, Resolution::Void, &format!("rematch:{pledge_id}"))?;
    }
    let version = stored.map_or(0, |s| s.1) + 1;
    let transfer = (change.to > 0).then(|| format!("match:{application_id}:{pledge_id}:{version}"));
    if let Some(transfer) = &transfer {
        let new = NewTransfer {
            id: transfer,
            debit_account_id: &AccountKind::Commitment.account_id(application_id),
            credit_account_id: match_account,
            amount: Pence::new(change.to),
            kind: "match",
            cause: &format!("pledge:{pledge_id}"),
        };
        // Its id is new (a new version), and both accounts move only under the offer's row
        // lock, which the caller holds: two statements instead of four.
        ledger::create_pending_credit_last(conn, &new, |_| Ok(()))?;
    }
    if stored.is_some() {
        diesel::update(pledge_matches::table.find((application_id, pledge_id)))
            .set((
                pledge_matches::amount_pence.eq(change.to),
                pledge_matches::transfer_id.eq(&transfer),
                pledge_matches::version.eq(version),
            ))
            .execute(conn)?;
    } else {
        diesel::insert_into(pledge_matches::table)
            .values((
                pledge_matches::application_id.eq(application_id),
                pledge_matches::pledge_id.eq(pledge_id),
                pledge_matches::amount_pence.eq(change.to),
                pledge_matches::transfer_id.eq(&transfer),
                pledge_matches::version.eq(version),
            ))
            .execute(conn)?;
    }
    add_to_investor_total(conn, application_id, investor_id, change.to - change.from)
}

/// Adds `delta` pence to what the investor holds of the application's match. (A decrease is an
/// update of the row its increases made: PostgreSQL checks an upsert's proposed row, negative,
/// against the table's CHECK before it finds the conflict.)
fn add_to_investor_total(
    conn: &mut DbConnection,
    application_id: &str,
    investor_id: &str,
    delta: i64,
) -> Result<(), AppError> {
    if delta < 0 {
        let changed = Fixed {
            parts: &[
                "UPDATE match_investor_totals SET matched_pence = matched_pence + ",
                " WHERE application_id = ",
                " AND investor_id = ",
                "",
            ],
            params: [
                Param::BigInt(delta),
                Param::Text(application_id),
                Param::Text(investor_id),
            ],
        }
        .execute(conn)?;
        if changed != 1 {
            return Err(AppError::Internal(anyhow::anyhow!(
                "no running match total of application {application_id} for an investor whose match falls"
            )));
        }
        return Ok(());
    }
    Fixed {
        parts: &[
            "INSERT INTO match_investor_totals (application_id, investor_id, matched_pence) VALUES (",
            ", ",
            ", ",
            ") ON CONFLICT (application_id, investor_id) DO UPDATE \
             SET matched_pence = match_investor_totals.matched_pence + excluded.matched_pence",
        ],
        params: [
            Param::Text(application_id),
            Param::Text(investor_id),
            Param::BigInt(delta),
        ],
    }
    .execute(conn)?;
    Ok(())
}

/// Writes each changed pledge's total match (over all funds) to its row; answers them.
fn pledge_totals(conn: &mut DbConnection, mut changed: Vec<String>) -> Result<HashMap<String, i64>, AppError> {
    changed.sort();
    changed.dedup();
    let mut totals = HashMap::new();
    for pledge_id in changed {
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

/// A pledge just written to an open offer whose row is locked until the commit.
#[derive(Debug, Clone, Copy)]
pub struct NewlyPledged<'a> {
    pub id: &'a str,
    pub investor_id: &'a str,
    pub amount: Pence,
    /// The investor's postcode as stored.
    pub postcode: &'a str,
    /// The investor had no other live pledge to the offer.
    pub new_investor: bool,
}

/// Matches a pledge just made: from the funds' running totals when no earlier pledge's match
/// changes ([`append`]: one read and a constant number of writes, whatever the number of
/// pledges), else by the full recompute. Call with the offer row locked, after the pledge's
/// row and the offer's totals are written. Answers the pledge's total match, in pence.
pub fn match_new_pledge(conn: &mut DbConnection, offer_id: &str, pledge: &NewlyPledged<'_>) -> Result<i64, AppError> {
    let rows = running_figures(conn, offer_id, pledge)?;
    let Some(first) = rows.first() else {
        return Ok(0);
    };
    let step = {
        let funds = rows.iter().map(RunningRow::fund).collect::<Result<Vec<_>, _>>()?;
        let running: Vec<Running<'_>> = funds
            .iter()
            .zip(&rows)
            .map(|(fund, row)| Running {
                fund,
                investor_held: Pence::new(row.investor_held),
            })
            .collect();
        let before = Before {
            community: first.community_pledged_pence - pledge.amount.get(),
            investors: first.investor_count - i64::from(pledge.new_investor),
        };
        let new = MatchPledge {
            investor_id: pledge.investor_id.to_owned(),
            amount: pledge.amount,
            postcode: pledge.postcode.to_ascii_uppercase(),
        };
        append(&running, &first.facts(), before, &new, pledge.new_investor)
    };
    match step {
        Ok(amounts) => add_new_matches(conn, offer_id, pledge, &rows, &amounts),
        Err(reason) => {
            tracing::debug!(
                offer_id,
                pledge_id = pledge.id,
                reason = reason.as_str(),
                "full rematch"
            );
            Ok(refresh_offer(conn, offer_id)?.get(pledge.id).copied().unwrap_or(0))
        }
    }
}

/// One approved application of the offer with what the incremental match needs: its fund's
/// rule and running total, what the new pledge's investor holds of it, the offer's terms and
/// totals (the same on every row).
#[derive(QueryableByName)]
struct RunningRow {
    #[diesel(sql_type = Text)]
    application_id: String,
    #[diesel(sql_type = Text)]
    fund_id: String,
    #[diesel(sql_type = BigInt)]
    commitment_pence: i64,
    #[diesel(sql_type = BigInt)]
    match_pence: i64,
    #[diesel(sql_type = Text)]
    rule: String,
    #[diesel(sql_type = BigInt)]
    investor_held: i64,
    #[diesel(sql_type = BigInt)]
    community_pledged_pence: i64,
    #[diesel(sql_type = BigInt)]
    investor_count: i64,
    #[diesel(sql_type = BigInt)]
    share_price_pence: i64,
    #[diesel(sql_type = BigInt)]
    min_target_pence: i64,
    #[diesel(sql_type = BigInt)]
    target_pence: i64,
    #[diesel(sql_type = BigInt)]
    max_target_pence: i64,
}

impl RunningRow {
    fn fund(&self) -> Result<ApprovedFund, AppError> {
        Ok(ApprovedFund {
            rule: stored_rule(&self.fund_id, &self.rule)?,
            commitment: Pence::new(self.commitment_pence),
            held: Pence::new(self.match_pence),
        })
    }

    fn facts(&self) -> OfferFacts {
        OfferFacts {
            share_price: Pence::new(self.share_price_pence),
            min_target: Pence::new(self.min_target_pence),
            target: Pence::new(self.target_pence),
            max_target: Pence::new(self.max_target_pence),
        }
    }
}

/// The text of [`running_figures`], around its 3 parameters.
#[rustfmt::skip]
const RUNNING_FIGURES: &[&str] = &[
    "SELECT a.id AS application_id, a.fund_id, a.commitment_pence, a.match_pence, f.rule, \
     COALESCE((SELECT t.matched_pence FROM match_investor_totals t \
               WHERE t.application_id = a.id AND t.investor_id = ",
    "), 0) AS investor_held, o.community_pledged_pence, \
     CAST(o.investor_count AS BIGINT) AS investor_count, o.share_price_pence, o.min_target_pence, \
     o.target_pence, o.max_target_pence \
     FROM match_applications a JOIN funds f ON f.id = a.fund_id JOIN offers o ON o.id = a.offer_id \
     WHERE a.offer_id = ",
    " AND a.status = ",
    " ORDER BY a.decided_at, a.id",
];

/// The offer's approved applications in approval order with their running figures: one
/// statement of fixed text (each of its reads an index probe), as it runs under the offer's
/// row lock on every pledge to a matched offer.
fn running_figures(
    conn: &mut DbConnection,
    offer_id: &str,
    pledge: &NewlyPledged<'_>,
) -> Result<Vec<RunningRow>, AppError> {
    Fixed {
        parts: RUNNING_FIGURES,
        params: [
            Param::Text(pledge.investor_id),
            Param::Text(offer_id),
            Param::Text(ApplicationStatus::Approved.as_str()),
        ],
    }
    .read(conn)
}

/// Writes a new pledge's match of each fund (`amounts`, in the order of `rows`): a pending
/// transfer, a stored row and the investor's running total per fund that matches it, and the
/// application's, the offer's and the pledge's totals. Answers its total.
fn add_new_matches(
    conn: &mut DbConnection,
    offer_id: &str,
    pledge: &NewlyPledged<'_>,
    rows: &[RunningRow],
    amounts: &[Pence],
) -> Result<i64, AppError> {
    let total: i64 = amounts.iter().map(|a| a.get()).sum();
    if total == 0 {
        return Ok(0);
    }
    // Made when the first fund was approved (`applications::approve`).
    let match_account = AccountKind::Match.account_id(offer_id);
    for (row, amount) in rows.iter().zip(amounts) {
        if amount.get() == 0 {
            continue;
        }
        let change = Change {
            pledge_id: pledge.id,
            from: 0,
            to: amount.get(),
        };
        set_match(
            conn,
            &row.application_id,
            &match_account,
            &change,
            None,
            pledge.investor_id,
        )?;
        diesel::update(match_applications::table.find(&row.application_id))
            .set(match_applications::match_pence.eq(match_applications::match_pence + amount.get()))
            .execute(conn)?;
    }
    totals::add_match(conn, offer_id, total)?;
    diesel::update(pledges::table.find(pledge.id))
        .set(pledges::match_pence.eq(total))
        .execute(conn)?;
    Ok(total)
}

/// When an offer is cancelled (or fails): every pending match is voided and every commitment
/// returns to its fund. Call with the offer row locked.
pub fn release_offer(conn: &mut DbConnection, offer_id: &str) -> Result<(), AppError> {
    super::confirmation::release_offer_holds(conn, offer_id)?;
    let applications: Vec<ApplicationRow> = match_applications::table
        .filter(match_applications::offer_id.eq(offer_id))
        .filter(match_applications::status.eq(ApplicationStatus::Approved))
        .select(ApplicationRow::as_select())
        .load(conn)?;
    for application in applications {
        release_application(conn, offer_id, &application, "released")?;
    }
    totals::set_match(conn, offer_id, 0, 0)?;
    Ok(())
}

/// One approved application's commitment returns to its fund: its pending matches voided, the
/// application `released`, the funder's admins told (`event`: what happened to it, in words).
/// Call with the offer row locked.
pub fn release_application(
    conn: &mut DbConnection,
    offer_id: &str,
    application: &ApplicationRow,
    event: &str,
) -> Result<(), AppError> {
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
    diesel::delete(match_investor_totals::table.filter(match_investor_totals::application_id.eq(&application.id)))
        .execute(conn)?;
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
            match_applications::status.eq(ApplicationStatus::Released),
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
        event,
        Pence::new(application.commitment_pence),
        available,
    )
}
