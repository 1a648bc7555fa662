//! A funder's impact, from the facts of the offers its match money went into: leverage,
//! investors, local share, median pledge, outcomes, month by month. Pure: the service loads
//! the facts; nothing personal comes out (counts, sums and a median only).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDateTime;
use serde::Serialize;
use utoipa::ToSchema;

use super::postcode::{district, in_any};

/// One live, paid or allocated pledge to an offer the fund (or funder) matched.
#[derive(Debug, Clone)]
pub struct PledgeFact {
    pub offer_id: String,
    pub investor_id: String,
    /// The investor's postcode as stored (None: not given).
    pub postcode: Option<String>,
    pub amount_pence: i64,
    /// Whether the money is paid (or allocated) and held.
    pub paid: bool,
    /// This fund's (or funder's) match on the pledge.
    pub match_pence: i64,
    pub created_at: NaiveDateTime,
}

/// One offer the fund (or funder) committed to.
#[derive(Debug, Clone)]
pub struct OfferFact {
    pub offer_id: String,
    pub status: String,
    /// The offer's eligibility areas (stored forms); none: the society's own district is local.
    pub areas: Vec<String>,
    pub society_postcode: String,
}

/// The impact view (`GET /funds/{id}/impact`, `GET /funders/{id}/impact`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Impact {
    /// Match money given to pledges still live, paid or allocated.
    pub matched_pence: i64,
    /// Community money paid into those offers and held (refunded money is not counted).
    pub community_pence: i64,
    /// Community pounds per match pound, two decimals (`"3.25"`); null before any match.
    pub leverage: Option<String>,
    /// Distinct investors with a live, paid or allocated pledge in those offers.
    pub investors: i64,
    /// Of the investors who gave a postcode, the share local to the offer they pledged to (in
    /// its eligibility areas, or else in the society's postcode district), in basis points.
    pub local_investor_share_bps: Option<i64>,
    /// The median pledge (the lower middle of an even count), pence.
    pub median_pledge_pence: Option<i64>,
    pub offers_open: i64,
    pub offers_succeeded: i64,
    pub offers_failed: i64,
    /// Month by month (UK time, `YYYY-MM`), by when pledges were made.
    pub by_month: Vec<MonthImpact>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MonthImpact {
    pub month: String,
    pub community_pence: i64,
    pub matched_pence: i64,
    pub pledges: i64,
}

/// Computes the impact view.
pub fn impact(offers: &[OfferFact], pledges: &[PledgeFact]) -> Impact {
    let offer = |id: &str| offers.iter().find(|o| o.offer_id == id);
    let matched: i64 = pledges.iter().map(|p| p.match_pence).sum();
    let community: i64 = pledges.iter().filter(|p| p.paid).map(|p| p.amount_pence).sum();
    let investors: BTreeSet<&str> = pledges.iter().map(|p| p.investor_id.as_str()).collect();
    let mut located: BTreeMap<&str, bool> = BTreeMap::new();
    for p in pledges {
        let (Some(postcode), Some(o)) = (&p.postcode, offer(&p.offer_id)) else {
            continue;
        };
        let local = is_local(o, postcode);
        let entry = located.entry(p.investor_id.as_str()).or_insert(false);
        *entry = *entry || local;
    }
    let local = located.values().filter(|l| **l).count() as i64;
    let mut amounts: Vec<i64> = pledges.iter().map(|p| p.amount_pence).collect();
    amounts.sort_unstable();
    let count = |statuses: &[&str]| offers.iter().filter(|o| statuses.contains(&o.status.as_str())).count() as i64;
    Impact {
        matched_pence: matched,
        community_pence: community,
        leverage: (matched > 0).then(|| two_decimals(community, matched)),
        investors: investors.len() as i64,
        local_investor_share_bps: (!located.is_empty()).then(|| local * 10_000 / located.len() as i64),
        median_pledge_pence: (!amounts.is_empty()).then(|| amounts[(amounts.len() - 1) / 2]),
        offers_open: count(&["open", "closed"]),
        offers_succeeded: count(&["succeeded", "allocated"]),
        offers_failed: count(&["failed", "refunded", "cancelled"]),
        by_month: by_month(pledges),
    }
}

fn is_local(offer: &OfferFact, postcode: &str) -> bool {
    if offer.areas.is_empty() {
        district(postcode).is_some() && district(postcode) == district(&offer.society_postcode)
    } else {
        in_any(&offer.areas, postcode)
    }
}

/// `a / b` to two decimals, rounded down, in integer arithmetic.
fn two_decimals(a: i64, b: i64) -> String {
    let hundredths = (i128::from(a) * 100) / i128::from(b);
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

fn by_month(pledges: &[PledgeFact]) -> Vec<MonthImpact> {
    let mut months: BTreeMap<String, MonthImpact> = BTreeMap::new();
    for p in pledges {
        let month = crate::clock::uk_month(p.created_at);
        let m = months.entry(month.clone()).or_insert(MonthImpact {
            month,
            community_pence: 0,
            matched_pence: 0,
            pledges: 0,
        });
        if p.paid {
            m.community_pence += p.amount_pence;
        }
        m.matched_pence += p.match_pence;
        m.pledges += 1;
    }
    months.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn pledge(
        offer: &str,
        investor: &str,
        postcode: Option<&str>,
        amount: i64,
        matched: i64,
        when: &str,
    ) -> PledgeFact {
        PledgeFact {
            offer_id: offer.into(),
            investor_id: investor.into(),
            postcode: postcode.map(str::to_owned),
            amount_pence: amount,
            paid: true,
            match_pence: matched,
            created_at: at(when),
        }
    }

    #[test]
    fn impact_counts_what_the_match_brought_in() {
        let offers = vec![
            OfferFact {
                offer_id: "a".into(),
                status: "allocated".into(),
                areas: vec![],
                society_postcode: "GL5 1AA".into(),
            },
            OfferFact {
                offer_id: "b".into(),
                status: "refunded".into(),
                areas: vec!["BS1".into()],
                society_postcode: "GL5 1AA".into(),
            },
        ];
        let mut unpaid = pledge("b", "dan", Some("GL5 2BB"), 5_000, 0, "2026-12-01 10:00:00");
        unpaid.paid = false;
        let pledges = vec![
            pledge("a", "ann", Some("GL5 3AB"), 500_000, 25_000, "2026-11-30 23:30:00"),
            pledge("a", "bob", Some("BS1 4DJ"), 400_000, 25_000, "2026-10-02 09:00:00"),
            pledge("a", "ann", Some("GL5 3AB"), 100_000, 0, "2026-10-03 09:00:00"),
            pledge("a", "cat", None, 10_000, 10_000, "2026-10-04 09:00:00"),
            unpaid,
        ];
        let view = impact(&offers, &pledges);
        assert_eq!(view.matched_pence, 60_000);
        assert_eq!(view.community_pence, 1_010_000);
        assert_eq!(view.leverage.as_deref(), Some("16.83"));
        assert_eq!(view.investors, 4);
        // ann (GL5, the society's district) local; bob (BS1) not; dan (GL5, offer b's area is BS1) not; cat gave none.
        assert_eq!(view.local_investor_share_bps, Some(3_333));
        assert_eq!(view.median_pledge_pence, Some(100_000));
        assert_eq!((view.offers_open, view.offers_succeeded, view.offers_failed), (0, 1, 1));
        // 23:30 UTC on 30 November is still November in London (GMT); months in order.
        let months: Vec<&str> = view.by_month.iter().map(|m| m.month.as_str()).collect();
        assert_eq!(months, ["2026-10", "2026-11", "2026-12"]);
        assert_eq!(view.by_month[0].community_pence, 510_000);
        assert_eq!(view.by_month[2].community_pence, 0);
    }

    #[test]
    fn nothing_matched_has_no_leverage_or_median() {
        let view = impact(&[], &[]);
        assert_eq!(
            (view.leverage, view.median_pledge_pence, view.local_investor_share_bps),
            (None, None, None)
        );
    }
}
