//! Open data of match funding in the 360Giving Data Standard (1.4): a package of grant-shaped
//! records, one per award of match money to a public offer. The mapping, field by field, is in
//! README ("Open data (360Giving)"). Every record is an equity match: the platform's match
//! money becomes the funder's withdrawable shares in the society (DESIGN §2), so each carries
//! the funding type `equity-withdrawable-shares` and says so in words; there are no cash-grant
//! funds on the platform.
//!
//! Amounts are pounds written as exact decimal literals from integer pence (`250.50`), never
//! through a float.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::value::RawValue;

use super::public_funds::{awards, Award, Scope};
use crate::clock;
use crate::config::OpenDataSettings;
use crate::db::schema::funders;
use crate::db::DbConnection;
use crate::domain::matching::words::money;
use crate::error::AppError;

/// The 360Giving version the packages follow.
pub const VERSION: &str = "1.4";

/// Pounds as an exact decimal (`1234.50`) from pence.
pub fn pounds(pence: i64) -> String {
    let sign = if pence < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", pence.unsigned_abs() / 100, pence.unsigned_abs() % 100)
}

fn amount(pence: i64) -> Box<RawValue> {
    RawValue::from_string(pounds(pence)).expect("a decimal literal is JSON")
}

#[derive(Debug, Serialize)]
pub struct Organisation {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub name: String,
    pub country_code: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dates {
    pub start_date: String,
    pub end_date: String,
}

#[derive(Debug, Serialize)]
pub struct Programme {
    pub code: String,
    pub title: String,
}

#[derive(Debug, Serialize)]
pub struct Classification {
    pub vocabulary: String,
    pub code: &'static str,
    pub title: &'static str,
    pub description: &'static str,
}

/// What the platform adds to the standard's fields (360Giving allows additional fields).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Extra {
    /// Always `withdrawable shares`.
    pub instrument: &'static str,
    pub application_id: String,
    pub offer_id: String,
    pub society_id: String,
    /// `approved` or `released`.
    pub status: String,
    pub offer_status: String,
    /// The funder's shares from this match (once the offer is allocated).
    pub funder_shares: i64,
    /// The ledger transfers of this award's commitment account, oldest first.
    pub ledger_transfers: Vec<String>,
    /// Their leaf indexes in the transparency log (those already in a checkpoint).
    pub transparency_log_entries: Vec<i64>,
}

/// One record (a 360Giving grant).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    pub id: String,
    pub title: String,
    pub description: String,
    pub currency: &'static str,
    pub amount_awarded: Box<RawValue>,
    pub amount_disbursed: Box<RawValue>,
    pub award_date: String,
    pub planned_dates: Vec<Dates>,
    pub recipient_organization: Vec<Organisation>,
    pub funding_organization: Vec<Organisation>,
    pub beneficiary_location: Vec<Location>,
    pub grant_programme: Vec<Programme>,
    pub funding_type: Vec<Classification>,
    pub date_modified: String,
    pub community_shares: Extra,
}

#[derive(Debug, Serialize)]
pub struct Publisher {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
}

/// A 360Giving package.
#[derive(Debug, Serialize)]
pub struct Package {
    pub version: &'static str,
    pub title: String,
    pub identifier: String,
    pub issued: String,
    pub modified: String,
    pub publisher: Publisher,
    pub license: String,
    pub grants: Vec<Grant>,
}

/// The package of one fund (`Scope::Fund`) or of the whole platform (`Scope::All`). 404 when
/// it would hold no record (a package holds at least one).
pub fn package(conn: &mut DbConnection, scope: Scope<'_>, settings: &OpenDataSettings) -> Result<Package, AppError> {
    let awards = awards(conn, scope)?;
    if awards.is_empty() {
        return Err(AppError::NotFound("award of match money to a public offer"));
    }
    let transfers = transfers(conn, &awards)?;
    let now = clock::now();
    let grants = awards.iter().map(|a| grant(a, settings, &transfers, now)).collect();
    let (title, identifier, publisher, license) = match scope {
        Scope::Fund(fund_id) => {
            let funder = &awards[0].funder;
            let publisher = Publisher {
                name: funder.name.clone(),
                identifier: funder.organisation_id.clone(),
                website: funder.website.clone(),
            };
            let license = funder
                .licence_url
                .clone()
                .unwrap_or_else(|| settings.licence_url.clone());
            let title = format!("Match investment from {} ({})", awards[0].fund_name, funder.name);
            (
                title,
                format!("{}-fund-{fund_id}", settings.grant_prefix),
                publisher,
                license,
            )
        }
        _ => {
            let publisher = Publisher {
                name: settings.publisher_name.clone(),
                identifier: None,
                website: settings.publisher_website.clone(),
            };
            let title = format!("Match investment through {}", settings.publisher_name);
            (
                title,
                format!("{}-all", settings.grant_prefix),
                publisher,
                settings.licence_url.clone(),
            )
        }
    };
    Ok(Package {
        version: VERSION,
        title,
        identifier,
        issued: clock::uk_date(now).to_string(),
        modified: date_time(now),
        publisher,
        license,
        grants,
    })
}

fn date_time(at: NaiveDateTime) -> String {
    at.and_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// By application: its commitment account's ledger transfers, and their leaf indexes.
type Links = HashMap<String, (Vec<String>, Vec<i64>)>;

/// Each award's commitment account's transfers, with their leaf indexes.
fn transfers(conn: &mut DbConnection, awards: &[Award]) -> Result<Links, AppError> {
    let accounts: Vec<String> = awards
        .iter()
        .map(|a| format!("commitment:{}", a.application_id))
        .collect();
    let rows = super::public_funds::account_transfers(conn, &accounts)?;
    let mut by_application = Links::new();
    for (id, debit, credit, _, _, _, _, _, index) in rows {
        let account = if debit.starts_with("commitment:") {
            debit
        } else {
            credit
        };
        let application = account.trim_start_matches("commitment:").to_owned();
        let entry = by_application.entry(application).or_default();
        entry.0.push(id);
        entry.1.extend(index);
    }
    Ok(by_application)
}

fn grant(a: &Award, settings: &OpenDataSettings, transfers: &Links, now: NaiveDateTime) -> Grant {
    let (ledger, log) = transfers.get(&a.application_id).cloned().unwrap_or_default();
    let title: String = format!("Match investment in {}", a.offer_title)
        .chars()
        .take(140)
        .collect();
    Grant {
        id: format!("{}-match-{}", settings.grant_prefix, a.application_id),
        title,
        description: description(a),
        currency: "GBP",
        amount_awarded: amount(a.commitment_pence),
        amount_disbursed: amount(a.allocated_pence()),
        award_date: a.decided_at.map(clock::uk_date).unwrap_or_else(|| clock::uk_date(now)).to_string(),
        planned_dates: vec![Dates {
            start_date: clock::uk_date(a.opens_at).to_string(),
            end_date: clock::uk_date(a.closes_at).to_string(),
        }],
        recipient_organization: vec![Organisation {
            id: a.society_organisation_id(),
            name: a.society_name.clone(),
        }],
        funding_organization: vec![Organisation {
            id: a
                .funder
                .organisation_id
                .clone()
                .unwrap_or_else(|| format!("{}-funder-{}", settings.grant_prefix, a.funder.id)),
            name: a.funder.name.clone(),
        }],
        beneficiary_location: a
            .district()
            .map(|name| Location {
                name,
                country_code: "GB",
            })
            .into_iter()
            .collect(),
        grant_programme: vec![Programme {
            code: a.fund_id.clone(),
            title: a.fund_name.clone(),
        }],
        funding_type: vec![Classification {
            vocabulary: format!("{}-funding-type", settings.grant_prefix),
            code: "equity-withdrawable-shares",
            title: "Equity investment: withdrawable shares",
            description: "Match funding invested in withdrawable shares of a registered co-operative or community benefit society; not a gift",
        }],
        date_modified: date_time(now),
        community_shares: Extra {
            instrument: "withdrawable shares",
            application_id: a.application_id.clone(),
            offer_id: a.offer_id.clone(),
            society_id: a.society_id.clone(),
            status: a.status.clone(),
            offer_status: a.offer_status.clone(),
            funder_shares: a.allocated_pence() / a.share_price_pence.max(1),
            ledger_transfers: ledger,
            transparency_log_entries: log,
        },
    }
}

/// The record in words: what was committed, on what rule, what it became.
pub fn description(a: &Award) -> String {
    let head = format!(
        "{} committed up to {} from its fund \"{}\" ({}) to match community investment in \"{}\", a share offer of {}. The match is an investment in the society's withdrawable shares, not a gift.",
        a.funder.name,
        money(a.commitment_pence),
        a.fund_name,
        a.rule.in_words(),
        a.offer_title,
        a.society_name,
    );
    let outcome = match a.offer_status.as_str() {
        "allocated" => format!(
            " The offer succeeded: {} of match became {} shares held by {}; {} returned to the fund.",
            money(a.allocated_pence()),
            a.allocated_pence() / a.share_price_pence.max(1),
            a.funder.name,
            money(a.released_pence()),
        ),
        "failed" | "refunded" | "cancelled" => {
            format!(
                " The offer did not succeed: the commitment of {} returned to the fund.",
                money(a.commitment_pence)
            )
        }
        _ => format!(" The offer is running: {} matched so far.", money(a.match_pence)),
    };
    head + &outcome
}

/// The CSV columns (360Giving's titles, which flattentool reads with the standard's schema),
/// then the platform's own.
pub const CSV_TITLES: [&str; 26] = [
    "Identifier",
    "Title",
    "Description",
    "Currency",
    "Amount Awarded",
    "Amount Disbursed",
    "Award Date",
    "Planned Dates:Start Date",
    "Planned Dates:End Date",
    "Recipient Org:Identifier",
    "Recipient Org:Name",
    "Funding Org:Identifier",
    "Funding Org:Name",
    "Beneficiary Location:Name",
    "Beneficiary Location:Country Code",
    "Grant Programme:Code",
    "Grant Programme:Title",
    "Funding Type:Vocabulary",
    "Funding Type:Code",
    "Funding Type:Title",
    "Funding Type:Description",
    "Last Modified",
    "Investment Instrument",
    "Offer Status",
    "Ledger Transfers",
    "Transparency Log Entries",
];

/// One CSV row per record, in [`CSV_TITLES`]' order.
pub fn csv_row(g: &Grant) -> Vec<String> {
    let first = |orgs: &[Organisation]| orgs.first().map(|o| (o.id.clone(), o.name.clone())).unwrap_or_default();
    let (recipient_id, recipient) = first(&g.recipient_organization);
    let (funder_id, funder) = first(&g.funding_organization);
    let dates = g.planned_dates.first();
    let location = g.beneficiary_location.first();
    let programme = g.grant_programme.first();
    let kind = g.funding_type.first();
    vec![
        g.id.clone(),
        g.title.clone(),
        g.description.clone(),
        g.currency.to_owned(),
        g.amount_awarded.get().to_owned(),
        g.amount_disbursed.get().to_owned(),
        g.award_date.clone(),
        dates.map(|d| d.start_date.clone()).unwrap_or_default(),
        dates.map(|d| d.end_date.clone()).unwrap_or_default(),
        recipient_id,
        recipient,
        funder_id,
        funder,
        location.map(|l| l.name.clone()).unwrap_or_default(),
        location.map(|l| l.country_code.to_owned()).unwrap_or_default(),
        programme.map(|p| p.code.clone()).unwrap_or_default(),
        programme.map(|p| p.title.clone()).unwrap_or_default(),
        kind.map(|k| k.vocabulary.clone()).unwrap_or_default(),
        kind.map(|k| k.code.to_owned()).unwrap_or_default(),
        kind.map(|k| k.title.to_owned()).unwrap_or_default(),
        kind.map(|k| k.description.to_owned()).unwrap_or_default(),
        g.date_modified.clone(),
        g.community_shares.instrument.to_owned(),
        g.community_shares.offer_status.clone(),
        g.community_shares.ledger_transfers.join(" "),
        g.community_shares
            .transparency_log_entries
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(" "),
    ]
}

/// Sets what the open data says of a funder (each `None` clears it).
pub fn set_funder(
    conn: &mut DbConnection,
    funder_id: &str,
    organisation_id: Option<&str>,
    website: Option<&str>,
    licence_url: Option<&str>,
) -> Result<(), AppError> {
    let changed = diesel::update(funders::table.find(funder_id))
        .set((
            funders::organisation_id.eq(organisation_id),
            funders::website.eq(website),
            funders::licence_url.eq(licence_url),
        ))
        .execute(conn)?;
    if changed == 0 {
        return Err(AppError::NotFound("funder"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pounds_are_exact_decimals_of_pence() {
        assert_eq!(pounds(0), "0.00");
        assert_eq!(pounds(5), "0.05");
        assert_eq!(pounds(25_050), "250.50");
        assert_eq!(pounds(9_007_199_254_740_993), "90071992547409.93");
        assert_eq!(amount(1_234_567).get(), "12345.67");
    }
}
