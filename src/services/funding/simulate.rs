//! Simulation: the engine run over an offer's current pledges with a fund's rule (or a draft
//! rule), writing nothing.

use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::rematch::{engine_pledges, facts, live_pledges};
use super::{get_fund, ApplicationRow};
use crate::db::schema::match_applications;
use crate::db::DbConnection;
use crate::domain::matching::{compute, trigger_met_after, ApplicationStatus, Rule};
use crate::domain::money::Pence;
use crate::error::AppError;
use crate::services::offers as offer_service;

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
    /// The live pledges in the order they were made, each with the match it would get.
    pub per_pledge: Vec<SimulatedPledge>,
    /// The commitment simulated (the one asked for, the approved one, else the per-offer cap).
    pub commitment_pence: Pence,
    /// What the fund may give these pledges in all: the commitment within the per-offer cap and
    /// the offer's maximum target less the pledges and other funds' match.
    pub budget_pence: Pence,
    /// The rule's cap on one investor's match in the offer (`null`: none).
    pub per_investor_cap_pence: Option<Pence>,
    /// How many pledges, in order, it takes for the rule's trigger to hold: `0` when it holds
    /// from the start, `null` when the current pledges do not meet it (then nothing is matched).
    pub trigger_met_after: Option<u32>,
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
        .filter(match_applications::status.eq(ApplicationStatus::Approved))
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
            .filter(|a| a.status == ApplicationStatus::Approved)
            .map_or(rule.per_offer_cap_pence, |a| Pence::new(a.commitment_pence))
    });
    let live = live_pledges(conn, offer_id)?;
    let (offer, pledges) = (facts(&offer), engine_pledges(&live));
    let amounts = compute(&rule, commitment, &offer, &pledges, Pence::new(ahead));
    let community: i64 = pledges.iter().map(|p| p.amount.get()).sum();
    Ok(Simulation {
        match_pence: Pence::new(amounts.iter().map(|a| a.get()).sum()),
        commitment_pence: commitment,
        budget_pence: Pence::new(rule.budget(commitment, &offer, community, ahead)),
        per_investor_cap_pence: rule.per_pledge_cap_pence,
        trigger_met_after: trigger_met_after(&rule.trigger, &offer, &pledges).map(|n| n as u32),
        per_pledge: live
            .into_iter()
            .zip(amounts)
            .map(|((pledge_id, _, amount, ..), matched)| SimulatedPledge {
                pledge_id,
                amount_pence: Pence::new(amount),
                match_pence: matched,
            })
            .collect(),
    })
}
