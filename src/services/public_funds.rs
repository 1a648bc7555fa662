//! The public side of match funding: what anyone may know of a fund's money (the public fund
//! page, the open data, the impact view), read from the ledger and the applications. Offers not
//! yet open are not the public's to know of; no investor's name, email, address or postcode
//! ever leaves here (only sums, counts and postcode districts of societies).

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::schema::{
    funders, funds, ledger_transfers, match_applications, offers, societies, transparency_entries,
};
use crate::db::DbConnection;
use crate::domain::matching::ApplicationStatus;
use crate::domain::matching::Rule;
use crate::domain::money::Pence;
use crate::domain::postcode::district;
use crate::error::AppError;
use crate::services::funding::funds as fund_service;

/// Which funds.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    Fund(&'a str),
    Funder(&'a str),
    All,
}

/// A funder as the public sees it.
#[derive(Debug, Clone, Serialize, ToSchema, Queryable, Selectable)]
#[diesel(table_name = funders)]
pub struct PublicFunder {
    pub id: String,
    pub name: String,
    /// Its organisation identifier (org-id.guide: `GB-LAE-STO`, `GB-CHC-1164883`), if set.
    pub organisation_id: Option<String>,
    pub website: Option<String>,
    /// The licence its open data is published under (a URL), if set.
    pub licence_url: Option<String>,
}

impl PublicFunder {
    /// 404 when there is no such funder.
    pub fn load(conn: &mut DbConnection, id: &str) -> Result<Self, AppError> {
        funders::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .optional()?
            .ok_or(AppError::NotFound("funder"))
    }
}

/// An approved (or released) application of a fund to an offer that has opened: one award of
/// match money.
#[derive(Debug, Clone)]
pub struct Award {
    pub application_id: String,
    pub status: String,
    pub commitment_pence: i64,
    pub match_pence: i64,
    pub decided_at: Option<NaiveDateTime>,
    pub fund_id: String,
    pub fund_name: String,
    pub rule: Rule,
    pub funder: PublicFunder,
    pub offer_id: String,
    pub offer_title: String,
    pub offer_status: String,
    pub opens_at: NaiveDateTime,
    pub closes_at: NaiveDateTime,
    pub share_price_pence: i64,
    pub areas: Vec<String>,
    pub society_id: String,
    pub society_name: String,
    pub registration_number: String,
    pub society_postcode: String,
}

impl Award {
    /// Match money that became the funder's shares (the offer is allocated).
    pub fn allocated_pence(&self) -> i64 {
        if self.offer_status == "allocated" {
            self.match_pence
        } else {
            0
        }
    }

    /// Commitment returned to the fund: all of it when the offer failed or was cancelled, the
    /// part not matched once it is allocated.
    pub fn released_pence(&self) -> i64 {
        if self.status == ApplicationStatus::Released.as_str() {
            self.commitment_pence
        } else if self.offer_status == "allocated" {
            self.commitment_pence - self.match_pence
        } else {
            0
        }
    }

    /// The society's organisation identifier: co-operative and community benefit societies
    /// are registered by the FCA (Co-operative and Community Benefit Societies Act 2014), whose
    /// Mutuals Public Register is org-id.guide's `GB-MPR`.
    pub fn society_organisation_id(&self) -> String {
        let number: String = self
            .registration_number
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_uppercase();
        format!("GB-MPR-{number}")
    }

    pub fn district(&self) -> Option<String> {
        district(&self.society_postcode)
    }
}

type AwardRow = (
    String,
    String,
    i64,
    i64,
    Option<NaiveDateTime>,
    String,
    String,
    String,
    PublicFunder,
);
type OfferRow = (
    String,
    String,
    String,
    NaiveDateTime,
    NaiveDateTime,
    i64,
    String,
    String,
    String,
    String,
    String,
);

/// The awards in scope whose offers have opened, oldest application first.
pub fn awards(conn: &mut DbConnection, scope: Scope<'_>) -> Result<Vec<Award>, AppError> {
    let mut query = match_applications::table
        .inner_join(funds::table.inner_join(funders::table))
        .filter(match_applications::status.eq_any([ApplicationStatus::Approved, ApplicationStatus::Released]))
        .order((match_applications::created_at, match_applications::id))
        .select((
            match_applications::id,
            match_applications::status,
            match_applications::commitment_pence,
            match_applications::match_pence,
            match_applications::decided_at,
            match_applications::offer_id,
            funds::id,
            funds::name,
            PublicFunder::as_select(),
        ))
        .into_boxed();
    query = match scope {
        Scope::Fund(id) => query.filter(funds::id.eq(id.to_owned())),
        Scope::Funder(id) => query.filter(funders::id.eq(id.to_owned())),
        Scope::All => query,
    };
    let rows: Vec<AwardRow> = query.load(conn)?;
    let rules: HashMap<String, String> = funds::table
        .filter(funds::id.eq_any(rows.iter().map(|r| r.6.clone()).collect::<Vec<_>>()))
        .select((funds::id, funds::rule))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let offers: HashMap<String, OfferRow> = public_offers(conn, rows.iter().map(|r| r.5.clone()).collect())?;
    rows.into_iter()
        .filter_map(|row| offers.get(&row.5).map(|offer| (row, offer)))
        .map(|(row, offer)| {
            let rule = fund_service::stored_rule(&row.6, rules.get(&row.6).map(String::as_str).unwrap_or_default())?;
            Ok(award(row, offer, rule))
        })
        .collect()
}

fn award(row: AwardRow, offer: &OfferRow, rule: Rule) -> Award {
    let (application_id, status, commitment_pence, match_pence, decided_at, _, fund_id, fund_name, funder) = row;
    Award {
        application_id,
        status,
        commitment_pence,
        match_pence,
        decided_at,
        fund_id,
        fund_name,
        rule,
        funder,
        offer_id: offer.0.clone(),
        offer_title: offer.1.clone(),
        offer_status: offer.2.clone(),
        opens_at: offer.3,
        closes_at: offer.4,
        share_price_pence: offer.5,
        areas: serde_json::from_str(&offer.6).unwrap_or_default(),
        society_id: offer.7.clone(),
        society_name: offer.8.clone(),
        registration_number: offer.9.clone(),
        society_postcode: offer.10.clone(),
    }
}

/// Offers (with their society) among `ids` that the public may know of: opened at some time.
fn public_offers(conn: &mut DbConnection, ids: Vec<String>) -> Result<HashMap<String, OfferRow>, AppError> {
    let rows: Vec<OfferRow> = offers::table
        .inner_join(societies::table)
        .filter(offers::id.eq_any(ids))
        .filter(offers::opened_at.is_not_null())
        .select((
            offers::id,
            offers::title,
            offers::status,
            offers::opens_at,
            offers::closes_at,
            offers::share_price_pence,
            offers::postcode_prefixes,
            societies::id,
            societies::name,
            societies::registration_number,
            societies::postcode,
        ))
        .load(conn)?;
    Ok(rows.into_iter().map(|row| (row.0.clone(), row)).collect())
}

/// One offer a fund backs, on its public page.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicFundOffer {
    pub offer_id: String,
    pub title: String,
    /// The offer's state: `open`, `closed`, `succeeded`, `allocated`, `failed`, `refunded`,
    /// `cancelled`.
    pub offer_status: String,
    pub society_id: String,
    pub society_name: String,
    /// `GB-MPR-<FCA registration number>`.
    pub society_organisation_id: String,
    /// The society's postcode district (`GL5`), never its full postcode.
    pub district: Option<String>,
    pub application_id: String,
    /// `approved` or `released`.
    pub application_status: String,
    pub approved_at: Option<chrono::DateTime<chrono::Utc>>,
    pub commitment_pence: Pence,
    /// Match currently given to the offer's pledges (posted once allocated).
    pub matched_pence: Pence,
    /// Match that became the funder's shares.
    pub allocated_pence: Pence,
    /// The funder's shares in the society from this match.
    pub funder_shares: i64,
    /// Commitment returned to the fund.
    pub released_pence: Pence,
}

/// One transfer of the fund's money, as the ledger and the transparency log hold it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicTransfer {
    /// The ledger transfer's id.
    pub transfer_id: String,
    pub at: chrono::DateTime<chrono::Utc>,
    /// `budget`, `commitment`, `match`, `release`.
    pub kind: String,
    /// `single`, `pending` (a match reserved), `post` (a match made final at allocation) or
    /// `void` (a match undone: a pledge cancelled, expired or refunded, or the offer failed).
    pub phase: String,
    /// For a pending match: `pending`, `posted` or `voided` now.
    pub state: String,
    pub offer_id: Option<String>,
    pub amount_pence: Pence,
    /// Its leaf index in the transparency log (null until the next checkpoint).
    pub log_index: Option<i64>,
}

/// A fund's public page (`GET /funds/{id}/public`).
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicFund {
    pub id: String,
    pub name: String,
    pub funder: PublicFunder,
    pub budget_pence: Pence,
    pub rule: Rule,
    /// The rule in plain words.
    pub rule_text: String,
    pub committed_pence: Pence,
    pub matched_pence: Pence,
    pub allocated_pence: Pence,
    pub released_pence: Pence,
    pub available_pence: Pence,
    pub offers: Vec<PublicFundOffer>,
    /// Every transfer of the fund's money on public offers, oldest first.
    pub transfers: Vec<PublicTransfer>,
}

/// The fund's public page; 404 when there is no such fund.
pub fn public_fund(conn: &mut DbConnection, fund_id: &str) -> Result<PublicFund, AppError> {
    let fund = fund_service::get_fund(conn, fund_id)?;
    let summary = fund_service::summary(conn, fund_id)?;
    let funder = PublicFunder::load(conn, &fund.funder_id)?;
    let awards = awards(conn, Scope::Fund(fund_id))?;
    let transfers = transfers(conn, fund_id, &awards)?;
    let rule = fund.rule()?;
    Ok(PublicFund {
        id: fund.id.clone(),
        name: fund.name.clone(),
        funder,
        budget_pence: Pence::new(fund.budget_pence),
        rule_text: rule.in_words(),
        rule,
        committed_pence: summary.committed_pence,
        matched_pence: summary.matched_pence,
        allocated_pence: Pence::new(awards.iter().map(Award::allocated_pence).sum()),
        released_pence: Pence::new(awards.iter().map(Award::released_pence).sum()),
        available_pence: summary.available_pence,
        offers: awards.iter().map(public_offer).collect(),
        transfers,
    })
}

fn public_offer(a: &Award) -> PublicFundOffer {
    PublicFundOffer {
        offer_id: a.offer_id.clone(),
        title: a.offer_title.clone(),
        offer_status: a.offer_status.clone(),
        society_id: a.society_id.clone(),
        society_name: a.society_name.clone(),
        society_organisation_id: a.society_organisation_id(),
        district: a.district(),
        application_id: a.application_id.clone(),
        application_status: a.status.clone(),
        approved_at: a.decided_at.map(crate::clock::utc),
        commitment_pence: Pence::new(a.commitment_pence),
        matched_pence: Pence::new(a.match_pence),
        allocated_pence: Pence::new(a.allocated_pence()),
        funder_shares: a.allocated_pence() / a.share_price_pence.max(1),
        released_pence: Pence::new(a.released_pence()),
    }
}

/// A ledger transfer: id, debit, credit, amount, kind, phase, state, made at, and its leaf
/// index in the transparency log (none until sequenced).
pub type TransferRow = (
    String,
    String,
    String,
    i64,
    String,
    String,
    String,
    NaiveDateTime,
    Option<i64>,
);

/// The transfers that debit or credit any of `accounts`, oldest first, with their leaf indexes.
pub fn account_transfers(conn: &mut DbConnection, accounts: &[String]) -> Result<Vec<TransferRow>, AppError> {
    Ok(ledger_transfers::table
        .left_join(transparency_entries::table)
        .filter(
            ledger_transfers::debit_account_id
                .eq_any(accounts)
                .or(ledger_transfers::credit_account_id.eq_any(accounts)),
        )
        .order((ledger_transfers::created_at, ledger_transfers::id))
        .select((
            ledger_transfers::id,
            ledger_transfers::debit_account_id,
            ledger_transfers::credit_account_id,
            ledger_transfers::amount,
            ledger_transfers::kind,
            ledger_transfers::phase,
            ledger_transfers::state,
            ledger_transfers::created_at,
            transparency_entries::leaf_index.nullable(),
        ))
        .load(conn)?)
}

/// The transfers of the fund's account and of its public awards' commitment accounts.
fn transfers(conn: &mut DbConnection, fund_id: &str, awards: &[Award]) -> Result<Vec<PublicTransfer>, AppError> {
    let fund_account = format!("fund:{fund_id}");
    let offer_of: HashMap<String, &str> = awards
        .iter()
        .map(|a| (format!("commitment:{}", a.application_id), a.offer_id.as_str()))
        .collect();
    let mut accounts: Vec<String> = offer_of.keys().cloned().collect();
    accounts.push(fund_account.clone());
    let rows = account_transfers(conn, &accounts)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, debit, credit, amount, kind, phase, state, at, log_index)| {
            let offer = offer_of
                .get(&debit)
                .or_else(|| offer_of.get(&credit))
                .map(|o| o.to_string());
            // A commitment to an offer not yet open is not shown (its total is in the summary).
            let own = debit == fund_account || credit == fund_account;
            if offer.is_none() && !(own && kind == "budget") {
                return None;
            }
            Some(PublicTransfer {
                transfer_id: id,
                at: crate::clock::utc(at),
                kind,
                phase,
                state,
                offer_id: offer,
                amount_pence: Pence::new(amount),
                log_index,
            })
        })
        .collect())
}

/// A pledge's id, offer, investor, the investor's postcode, amount, status and time.
type PledgeRow = (
    String,
    String,
    String,
    Option<String>,
    i64,
    crate::domain::pledge::PledgeStatus,
    NaiveDateTime,
);

/// The impact of the funds in `scope` (a fund, or all of a funder's): see
/// [`crate::domain::impact`].
pub fn impact(conn: &mut DbConnection, scope: Scope<'_>) -> Result<crate::domain::impact::Impact, AppError> {
    use crate::db::schema::{pledge_matches, pledges, users};
    use crate::domain::impact::{impact, OfferFact, PledgeFact};
    use crate::domain::pledge::PledgeStatus;
    let awards = awards(conn, scope)?;
    let mut offers: Vec<OfferFact> = Vec::new();
    for a in &awards {
        if !offers.iter().any(|o| o.offer_id == a.offer_id) {
            offers.push(OfferFact {
                offer_id: a.offer_id.clone(),
                status: a.offer_status.clone(),
                areas: a.areas.clone(),
                society_postcode: a.society_postcode.clone(),
            });
        }
    }
    let applications: Vec<&str> = awards.iter().map(|a| a.application_id.as_str()).collect();
    let matched: HashMap<String, i64> = pledge_matches::table
        .filter(pledge_matches::application_id.eq_any(&applications))
        .select((pledge_matches::pledge_id, pledge_matches::amount_pence))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .fold(HashMap::new(), |mut sums, (pledge, amount)| {
            *sums.entry(pledge).or_default() += amount;
            sums
        });
    let live = [PledgeStatus::Pending, PledgeStatus::Paid, PledgeStatus::Allocated];
    let rows: Vec<PledgeRow> = pledges::table
        .inner_join(users::table)
        .filter(pledges::offer_id.eq_any(offers.iter().map(|o| o.offer_id.clone()).collect::<Vec<_>>()))
        .filter(pledges::status.eq_any(live))
        .select((
            pledges::id,
            pledges::offer_id,
            pledges::investor_id,
            users::postcode,
            pledges::amount_pence,
            pledges::status,
            pledges::created_at,
        ))
        .load(conn)?;
    let facts: Vec<PledgeFact> = rows
        .into_iter()
        .map(
            |(id, offer_id, investor_id, postcode, amount, status, created_at)| PledgeFact {
                match_pence: matched.get(&id).copied().unwrap_or(0),
                offer_id,
                investor_id,
                postcode,
                amount_pence: amount,
                paid: status != PledgeStatus::Pending,
                created_at,
            },
        )
        .collect();
    Ok(impact(&offers, &facts))
}

/// A fund as the list of funds shows it (societies browse it to apply).
#[derive(Debug, Serialize, ToSchema)]
pub struct FundListing {
    pub id: String,
    pub name: String,
    pub funder_id: String,
    pub funder_name: String,
    pub budget_pence: Pence,
    /// Budget not committed.
    pub available_pence: Pence,
    pub rule: Rule,
    /// The rule in plain words.
    pub rule_text: String,
}

/// Every fund, newest first.
pub fn list_funds(conn: &mut DbConnection) -> Result<Vec<FundListing>, AppError> {
    let rows: Vec<(String, String, String, String, i64, String)> = funds::table
        .inner_join(funders::table)
        .order((funds::created_at.desc(), funds::id.desc()))
        .select((
            funds::id,
            funds::name,
            funders::id,
            funders::name,
            funds::budget_pence,
            funds::rule,
        ))
        .load(conn)?;
    let budgets: Vec<(&str, i64)> = rows.iter().map(|r| (r.0.as_str(), r.4)).collect();
    let available = fund_service::available_of(conn, &budgets)?;
    rows.into_iter()
        .map(|(id, name, funder_id, funder_name, budget, rule)| {
            let rule = fund_service::stored_rule(&id, &rule)?;
            let available = Pence::new(available.get(&id).copied().unwrap_or(budget));
            Ok(FundListing {
                rule_text: rule.in_words(),
                id,
                name,
                funder_id,
                funder_name,
                budget_pence: Pence::new(budget),
                available_pence: available,
                rule,
            })
        })
        .collect()
}

/// An offer's application to a fund, as its society sees it: the fund's decision and money,
/// not which of the funder's people made it (their names, ids and a decline's reason are the
/// funder's own record).
#[derive(Debug, Serialize, ToSchema)]
pub struct OfferApplication {
    pub id: String,
    pub fund_id: String,
    pub offer_id: String,
    /// `pending`, `approved`, `rejected` or `released`.
    pub status: String,
    pub commitment_pence: Pence,
    pub match_pence: Pence,
    /// Why the fund rejected the application.
    pub reason: Option<String>,
    pub decided_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub fund_name: String,
    pub funder_name: String,
    /// The latest approval that needed a second funder admin, if any.
    pub confirmation: Option<ConfirmationState>,
}

/// Where an approval needing a second funder admin stands, as the applying society sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfirmationState {
    /// `awaiting`, `confirmed`, `declined` or `released`.
    pub state: String,
    pub commitment_pence: i64,
    pub requested_at: chrono::DateTime<chrono::Utc>,
    pub resolved_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Every application of the offer, oldest first.
pub fn offer_applications(conn: &mut DbConnection, offer_id: &str) -> Result<Vec<OfferApplication>, AppError> {
    use crate::services::funding::funds::ApplicationRow;
    let rows: Vec<(ApplicationRow, String, String)> = match_applications::table
        .inner_join(funds::table.inner_join(funders::table))
        .filter(match_applications::offer_id.eq(offer_id))
        .order((match_applications::created_at, match_applications::id))
        .select((ApplicationRow::as_select(), funds::name, funders::name))
        .load(conn)?;
    let views = crate::services::funding::confirmation::with_confirmations(
        conn,
        rows.iter().map(|(a, _, _)| a.clone().into()).collect(),
    )?;
    Ok(views
        .into_iter()
        .zip(rows)
        .map(|(a, (_, fund_name, funder_name))| OfferApplication {
            confirmation: a.confirmation.map(|c| ConfirmationState {
                state: c.state,
                commitment_pence: c.commitment_pence,
                requested_at: c.requested_at,
                resolved_at: c.resolved_at,
            }),
            id: a.id,
            fund_id: a.fund_id,
            offer_id: a.offer_id,
            status: a.status,
            commitment_pence: a.commitment_pence,
            match_pence: a.match_pence,
            reason: a.reason,
            decided_at: a.decided_at,
            created_at: a.created_at,
            fund_name,
            funder_name,
        })
        .collect())
}
