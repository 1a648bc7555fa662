//! The match funding rules engine (DESIGN §2): one pure, deterministic function from a fund's
//! rule, its commitment to an offer, the offer's terms and its live pledges (in pledge order)
//! to the match of each pledge.
//!
//! Integer arithmetic throughout, always rounding down: each pledge's match is
//! `floor(amount × num / den)`, then capped, then rounded down to whole shares (the match
//! becomes the funder's shares at close, so it must be a whole number of them). Caps apply in
//! pledge order, first come first served:
//! 1. the trigger must hold over all live pledges (so a trigger crossed later matches earlier
//!    pledges too), else nothing is matched;
//! 2. only pledges from eligible postcodes are matched;
//! 3. `per_pledge_cap` caps the match of one investor in the offer (all their pledges);
//! 4. the running total may not pass the commitment (itself ≤ `per_offer_cap` and the budget);
//! 5. community money plus all match may not pass `max_target`.
//!
//! A lump sum is matched once, to the pledge at which the trigger first holds.
//!
//! Several funds on one offer share its `max_target` headroom in approval order
//! ([`offer::compute_offer`]); a pledge appended in pledge order is usually matched from running
//! totals alone ([`append::append`], which says when it cannot be).

pub mod append;
pub mod offer;
pub mod plan;
pub mod words;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::money::Pence;
use crate::error::FieldError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    PerPledge,
    LumpSum,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    None,
    /// Community total ≥ `value` pence.
    Amount,
    /// Community total ≥ `value` basis points of the target.
    PercentOfTarget,
    /// Community total ≥ the offer's minimum target.
    MinTarget,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Trigger {
    pub kind: TriggerKind,
    /// Pence for `amount`, basis points for `percent_of_target`.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub value: Option<i64>,
    /// And at least this many distinct investors.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub min_investors: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Eligibility {
    /// Only investors whose postcode starts with one of these are matched.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub postcode_prefixes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Timing {
    /// Matched and reserved as pledges arrive.
    Live,
    /// Decided once, when the offer closes.
    AtClose,
}

/// A fund's rule, as funders write it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Rule {
    pub kind: RuleKind,
    /// For `per_pledge`: the match is `ratio_num / ratio_den` of each pound pledged.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100)]
    pub ratio_num: Option<i64>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100)]
    pub ratio_den: Option<i64>,
    #[serde(default)]
    pub lump_sum_pence: Option<Pence>,
    /// Cap on the match for one investor in one offer.
    #[serde(default)]
    pub per_pledge_cap_pence: Option<Pence>,
    /// Cap for one offer (an approved commitment may be lower).
    pub per_offer_cap_pence: Pence,
    pub trigger: Trigger,
    #[serde(default)]
    pub eligibility: Eligibility,
    /// The offer may hold no other fund's match.
    #[serde(default)]
    pub exclusive: bool,
    pub timing: Timing,
}

impl Rule {
    /// Every problem with the rule, each with its field (`rule.*`).
    pub fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut fail = |field: &str, message: &str| errors.push(FieldError::new(format!("rule.{field}"), message));
        match self.kind {
            RuleKind::PerPledge => match (self.ratio_num, self.ratio_den) {
                (Some(num), Some(den)) if (1..=100).contains(&num) && (1..=100).contains(&den) => {}
                _ => fail(
                    "ratio_num",
                    "a per_pledge rule needs ratio_num and ratio_den between 1 and 100",
                ),
            },
            RuleKind::LumpSum => match self.lump_sum_pence {
                Some(sum) if sum.get() > 0 => {}
                _ => fail("lump_sum_pence", "a lump_sum rule needs lump_sum_pence above zero"),
            },
        }
        if self.per_offer_cap_pence.get() <= 0 {
            fail("per_offer_cap_pence", "must be more than zero");
        }
        let too_big = |p: Option<Pence>| p.is_some_and(|p| p > crate::domain::offer::MAX_AMOUNT);
        if too_big(Some(self.per_offer_cap_pence))
            || too_big(self.per_pledge_cap_pence)
            || too_big(self.lump_sum_pence)
            || self
                .trigger
                .value
                .is_some_and(|v| v > crate::domain::offer::MAX_AMOUNT.get())
        {
            fail("per_offer_cap_pence", "amounts must not exceed £1,000,000,000.00");
        }
        if self.per_pledge_cap_pence.is_some_and(|c| c.get() <= 0) {
            fail("per_pledge_cap_pence", "must be more than zero");
        }
        match (&self.trigger.kind, self.trigger.value) {
            (TriggerKind::Amount, Some(v)) if v > 0 => {}
            (TriggerKind::PercentOfTarget, Some(v)) if (1..=10_000).contains(&v) => {}
            (TriggerKind::Amount, _) => fail("trigger.value", "an amount trigger needs a value in pence above zero"),
            (TriggerKind::PercentOfTarget, _) => fail(
                "trigger.value",
                "a percent_of_target trigger needs a value in basis points, 1 to 10000",
            ),
            (TriggerKind::None | TriggerKind::MinTarget, _) => {}
        }
        if self.trigger.min_investors.is_some_and(|n| n < 1) {
            fail("trigger.min_investors", "must be at least 1");
        }
        if let Err((index, message)) = crate::domain::postcode::local_areas(&self.eligibility.postcode_prefixes) {
            fail(&format!("eligibility.postcode_prefixes[{index}]"), &message);
        }
        errors
    }
}

/// Where a society's application to a fund is.
// (DESIGN §2; stored as its text: `db::text`.)
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    ToSchema,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationStatus {
    /// Waiting for the funder's decision.
    Pending,
    /// Approved with a commitment: the fund backs the offer.
    Approved,
    Rejected,
    /// Its part is settled: allocated, or the commitment returned to the fund.
    Released,
}

text_names!(ApplicationStatus {
    Pending => "pending",
    Approved => "approved",
    Rejected => "rejected",
    Released => "released",
});

/// The offer facts the engine needs.
#[derive(Debug, Clone, Copy)]
pub struct OfferFacts {
    pub share_price: Pence,
    pub min_target: Pence,
    pub target: Pence,
    pub max_target: Pence,
}

/// A live pledge, as the engine sees it.
#[derive(Debug, Clone)]
pub struct MatchPledge {
    pub investor_id: String,
    pub amount: Pence,
    /// The investor's postcode, upper-case.
    pub postcode: String,
}

/// The match of each pledge (same order as `pledges`). `other_match` is the match other funds
/// hold on the offer (it shares the `max_target` headroom).
pub fn compute(
    rule: &Rule,
    commitment: Pence,
    offer: &OfferFacts,
    pledges: &[MatchPledge],
    other_match: Pence,
) -> Vec<Pence> {
    let mut matched = vec![Pence::ZERO; pledges.len()];
    let community: i64 = pledges.iter().map(|p| p.amount.get()).sum();
    let mut budget = rule.budget(commitment, offer, community, other_match.get());
    match rule.kind {
        RuleKind::PerPledge => {
            if !trigger_holds(&rule.trigger, offer, pledges) {
                return matched;
            }
            let mut per_investor: std::collections::HashMap<&str, i64> = Default::default();
            for (i, pledge) in pledges.iter().enumerate() {
                if budget <= 0 {
                    break;
                }
                if !rule.eligible(&pledge.postcode) {
                    continue;
                }
                let held = per_investor.entry(pledge.investor_id.as_str()).or_default();
                let amount = rule.pledge_match(offer, pledge.amount, Pence::new(*held), budget);
                *held += amount;
                budget -= amount;
                matched[i] = Pence::new(amount);
            }
        }
        RuleKind::LumpSum => {
            // A trigger met from the start is crossed by the first pledge.
            let crossed = trigger_met_after(&rule.trigger, offer, pledges).map(|n| n.max(1));
            if let Some(i) = crossed.filter(|&n| n <= pledges.len()) {
                // The lump goes to the pledge that crossed the trigger, however its
                // investor's postcode reads: eligibility limits whose money counts towards
                // ratios, and a lump sum matches the offer, not an investor.
                matched[i - 1] = Pence::new(rule.lump_match(offer, budget));
            }
        }
    }
    matched
}

impl Rule {
    /// Whether `commitment` may be approved under this rule for an offer of shares at
    /// `share_price`: more than zero, within the per-offer cap, whole shares (the match becomes
    /// the funder's shares at close). Else why not, in words.
    pub fn check_commitment(&self, commitment: Pence, share_price: Pence) -> Result<(), String> {
        if commitment.get() <= 0 {
            return Err("must be more than zero".into());
        }
        if commitment > self.per_offer_cap_pence {
            return Err(format!(
                "must not exceed the fund's per-offer cap of {}",
                self.per_offer_cap_pence
            ));
        }
        if commitment.get() % share_price.get().max(1) != 0 {
            return Err(format!("must be a whole number of shares ({share_price} each)"));
        }
        Ok(())
    }

    /// Pence this fund may give the offer's pledges in all: the commitment, within the
    /// per-offer cap and the offer's `max_target` headroom left by `community` pence pledged
    /// and `other` pence of other funds' match; never below zero.
    pub fn budget(&self, commitment: Pence, offer: &OfferFacts, community: i64, other: i64) -> i64 {
        let headroom = offer.max_target.get() - community - other;
        commitment
            .get()
            .min(self.per_offer_cap_pence.get())
            .min(headroom)
            .max(0)
    }

    /// Whether an investor at this (upper-case) postcode may be matched.
    pub fn eligible(&self, postcode: &str) -> bool {
        crate::domain::postcode::in_any(&self.eligibility.postcode_prefixes, postcode)
    }

    /// A `per_pledge` rule's match of one eligible pledge of `amount`, whose investor holds
    /// `held` of this fund's match already, with `budget` pence of the fund's budget left:
    /// `floor(amount × num / den)`, within the per-investor cap and the budget, rounded down
    /// to whole shares.
    pub fn pledge_match(&self, offer: &OfferFacts, amount: Pence, held: Pence, budget: i64) -> i64 {
        let (num, den) = (self.ratio_num.unwrap_or(1).max(0), self.ratio_den.unwrap_or(1).max(1));
        let ratio = (i128::from(amount.get()) * i128::from(num) / i128::from(den)) as i64;
        let cap_room = self.per_pledge_cap_pence.map_or(i64::MAX, |cap| cap.get() - held.get());
        offer.whole_shares(ratio.min(cap_room).min(budget).max(0))
    }

    /// A `lump_sum` rule's match, given to the pledge that crosses its trigger.
    pub fn lump_match(&self, offer: &OfferFacts, budget: i64) -> i64 {
        let lump = self.lump_sum_pence.map_or(0, Pence::get);
        offer.whole_shares(lump.min(budget).max(0))
    }
}

impl OfferFacts {
    /// `amount` rounded down to whole shares (the match becomes the funder's shares at close).
    pub fn whole_shares(&self, amount: i64) -> i64 {
        amount - amount.rem_euclid(self.share_price.get().max(1))
    }
}

/// Whether the trigger holds over these pledges.
pub fn trigger_holds(trigger: &Trigger, offer: &OfferFacts, pledges: &[MatchPledge]) -> bool {
    let community: i64 = pledges.iter().map(|p| p.amount.get()).sum();
    let distinct: std::collections::HashSet<&str> = pledges.iter().map(|p| p.investor_id.as_str()).collect();
    trigger_holds_at(trigger, offer, community, distinct.len() as i64)
}

/// How many of `pledges` (in order) it takes for the trigger to hold: `Some(0)` when it holds
/// with none (no trigger), `None` when it does not hold over them all.
pub fn trigger_met_after(trigger: &Trigger, offer: &OfferFacts, pledges: &[MatchPledge]) -> Option<usize> {
    if trigger_holds_at(trigger, offer, 0, 0) {
        return Some(0);
    }
    let mut community = 0i64;
    let mut investors = std::collections::HashSet::new();
    pledges
        .iter()
        .position(|pledge| {
            community = community.saturating_add(pledge.amount.get());
            investors.insert(pledge.investor_id.as_str());
            trigger_holds_at(trigger, offer, community, investors.len() as i64)
        })
        .map(|i| i + 1)
}

/// Whether the trigger holds when the live pledges come to `community` pence from `investors`
/// distinct investors (all a trigger looks at).
pub fn trigger_holds_at(trigger: &Trigger, offer: &OfferFacts, community: i64, investors: i64) -> bool {
    let amount_ok = match trigger.kind {
        TriggerKind::None => true,
        TriggerKind::Amount => community >= trigger.value.unwrap_or(i64::MAX),
        TriggerKind::PercentOfTarget => {
            i128::from(community) * 10_000
                >= i128::from(offer.target.get()) * i128::from(trigger.value.unwrap_or(10_000))
        }
        TriggerKind::MinTarget => community >= offer.min_target.get(),
    };
    amount_ok && trigger.min_investors.is_none_or(|n| investors >= n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn offer(min_target: i64, target: i64, max_target: i64) -> OfferFacts {
        OfferFacts {
            share_price: Pence::new(100),
            min_target: Pence::from_pounds(min_target),
            target: Pence::from_pounds(target),
            max_target: Pence::from_pounds(max_target),
        }
    }

    fn pledge(investor: &str, pounds: i64) -> MatchPledge {
        MatchPledge {
            investor_id: investor.into(),
            amount: Pence::from_pounds(pounds),
            postcode: "BS1 4DJ".into(),
        }
    }

    fn per_pledge(num: i64, den: i64, cap: i64, trigger: Trigger, timing: Timing) -> Rule {
        Rule {
            kind: RuleKind::PerPledge,
            ratio_num: Some(num),
            ratio_den: Some(den),
            lump_sum_pence: None,
            per_pledge_cap_pence: None,
            per_offer_cap_pence: Pence::from_pounds(cap),
            trigger,
            eligibility: Eligibility::default(),
            exclusive: false,
            timing,
        }
    }

    fn trigger(kind: TriggerKind, value: Option<i64>, min_investors: Option<i64>) -> Trigger {
        Trigger {
            kind,
            value,
            min_investors,
        }
    }

    fn total(m: &[Pence]) -> i64 {
        m.iter().map(|p| p.get()).sum()
    }

    #[test]
    fn booster_matches_pound_for_pound_up_to_half_the_target_once_min_target_is_reached() {
        // Target £300,000: cap min(£100,000, 50% of target) = £100,000.
        let o = offer(150_000, 300_000, 400_000);
        let rule = per_pledge(
            1,
            1,
            100_000,
            trigger(TriggerKind::MinTarget, None, None),
            Timing::AtClose,
        );
        let below: Vec<_> = (0..149).map(|i| pledge(&format!("i{i}"), 1_000)).collect();
        assert_eq!(
            total(&compute(&rule, Pence::from_pounds(100_000), &o, &below, Pence::ZERO)),
            0
        );
        let reached: Vec<_> = (0..150).map(|i| pledge(&format!("i{i}"), 1_000)).collect();
        let m = compute(&rule, Pence::from_pounds(100_000), &o, &reached, Pence::ZERO);
        assert_eq!(total(&m), Pence::from_pounds(100_000).get());
        // First come, first served: the first hundred pledges are matched in full.
        assert!(m[..100].iter().all(|p| *p == Pence::from_pounds(1_000)));
        assert!(m[100..].iter().all(|p| *p == Pence::ZERO));
    }

    #[test]
    fn sports_fund_matches_half_once_a_quarter_of_target_comes_from_ten_investors() {
        let o = offer(20_000, 40_000, 60_000);
        let rule = per_pledge(
            1,
            2,
            10_000,
            trigger(TriggerKind::PercentOfTarget, Some(2_500), Some(10)),
            Timing::AtClose,
        );
        // £10,000 (25% of £40,000) from nine investors: not yet.
        let nine: Vec<_> = (0..9)
            .map(|i| pledge(&format!("i{i}"), if i == 0 { 2_000 } else { 1_000 }))
            .collect();
        assert_eq!(
            total(&compute(&rule, Pence::from_pounds(10_000), &o, &nine, Pence::ZERO)),
            0
        );
        // Ten investors, £11,000: half of every pledge, earlier ones too.
        let mut ten = nine.clone();
        ten.push(pledge("i9", 1_000));
        let m = compute(&rule, Pence::from_pounds(10_000), &o, &ten, Pence::ZERO);
        assert_eq!(m[0], Pence::from_pounds(1_000));
        assert_eq!(total(&m), Pence::from_pounds(5_500).get());
        // Up to the £10,000 cap.
        let many: Vec<_> = (0..30).map(|i| pledge(&format!("i{i}"), 1_000)).collect();
        assert_eq!(
            total(&compute(&rule, Pence::from_pounds(10_000), &o, &many, Pence::ZERO)),
            Pence::from_pounds(10_000).get()
        );
    }

    #[test]
    fn council_lump_sum_once_the_minimum_target_is_reached() {
        let o = offer(20_000, 40_000, 60_000);
        let rule = Rule {
            kind: RuleKind::LumpSum,
            ratio_num: None,
            ratio_den: None,
            lump_sum_pence: Some(Pence::from_pounds(5_000)),
            per_pledge_cap_pence: None,
            per_offer_cap_pence: Pence::from_pounds(5_000),
            trigger: trigger(TriggerKind::MinTarget, None, None),
            eligibility: Eligibility::default(),
            exclusive: false,
            timing: Timing::AtClose,
        };
        let pledges = vec![
            pledge("a", 15_000),
            pledge("b", 4_000),
            pledge("c", 2_000),
            pledge("d", 1_000),
        ];
        let m = compute(&rule, Pence::from_pounds(5_000), &o, &pledges, Pence::ZERO);
        assert_eq!(
            m,
            vec![Pence::ZERO, Pence::ZERO, Pence::from_pounds(5_000), Pence::ZERO]
        );
        assert_eq!(
            total(&compute(
                &rule,
                Pence::from_pounds(5_000),
                &o,
                &pledges[..2],
                Pence::ZERO
            )),
            0
        );
    }

    #[test]
    fn live_match_is_pound_for_pound_up_to_250_per_investor() {
        let o = offer(10_000, 20_000, 30_000);
        let mut rule = per_pledge(1, 1, 5_000, trigger(TriggerKind::None, None, None), Timing::Live);
        rule.per_pledge_cap_pence = Some(Pence::from_pounds(250));
        let pledges = vec![pledge("a", 100), pledge("a", 200), pledge("b", 1_000), pledge("c", 50)];
        let m = compute(&rule, Pence::from_pounds(5_000), &o, &pledges, Pence::ZERO);
        assert_eq!(
            m,
            vec![
                Pence::from_pounds(100),
                Pence::from_pounds(150),
                Pence::from_pounds(250),
                Pence::from_pounds(50)
            ]
        );
    }

    #[test]
    fn rounding_is_down_to_whole_shares_and_headroom_is_respected() {
        let o = OfferFacts {
            share_price: Pence::new(250),
            ..offer(100, 1_000, 1_010)
        };
        let rule = per_pledge(1, 3, 1_000, trigger(TriggerKind::None, None, None), Timing::Live);
        // £10 × 1/3 = 333p → 250p (one £2.50 share).
        assert_eq!(
            compute(&rule, Pence::from_pounds(1_000), &o, &[pledge("a", 10)], Pence::ZERO),
            vec![Pence::new(250)]
        );
        // £1,000 pledged of a £1,010 maximum leaves £10 for match: £10 - £2.50*4 = £10 → 1000p.
        let m = compute(&rule, Pence::from_pounds(1_000), &o, &[pledge("a", 1_000)], Pence::ZERO);
        assert_eq!(m, vec![Pence::new(1_000)]);
        assert_eq!(
            compute(
                &rule,
                Pence::from_pounds(1_000),
                &o,
                &[pledge("a", 1_000)],
                Pence::from_pounds(10)
            ),
            vec![Pence::ZERO]
        );
    }

    #[test]
    fn eligibility_limits_who_is_matched() {
        let o = offer(10_000, 20_000, 30_000);
        let mut rule = per_pledge(1, 1, 5_000, trigger(TriggerKind::None, None, None), Timing::Live);
        rule.eligibility.postcode_prefixes = vec!["gl5".into()];
        let mut local = pledge("a", 100);
        local.postcode = "GL5 1AA".into();
        let m = compute(
            &rule,
            Pence::from_pounds(5_000),
            &o,
            &[pledge("b", 100), local],
            Pence::ZERO,
        );
        assert_eq!(m, vec![Pence::ZERO, Pence::from_pounds(100)]);
    }

    #[test]
    fn rules_are_checked_field_by_field() {
        let mut rule = per_pledge(0, 1, 0, trigger(TriggerKind::Amount, None, Some(0)), Timing::Live);
        rule.per_pledge_cap_pence = Some(Pence::ZERO);
        let fields: Vec<String> = rule.check().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            vec![
                "rule.ratio_num",
                "rule.per_offer_cap_pence",
                "rule.per_pledge_cap_pence",
                "rule.trigger.value",
                "rule.trigger.min_investors"
            ]
        );
    }

    fn any_rule() -> impl Strategy<Value = Rule> {
        (
            1i64..=4,
            1i64..=4,
            prop::option::of(1i64..=50_000),
            1i64..=2_000_000,
            prop_oneof![
                Just(TriggerKind::None),
                Just(TriggerKind::Amount),
                Just(TriggerKind::PercentOfTarget),
                Just(TriggerKind::MinTarget)
            ],
            1i64..=10_000,
            prop::option::of(1i64..=5),
            any::<bool>(),
        )
            .prop_map(|(num, den, cap, offer_cap, kind, value, min_investors, lump)| Rule {
                kind: if lump { RuleKind::LumpSum } else { RuleKind::PerPledge },
                ratio_num: Some(num),
                ratio_den: Some(den),
                lump_sum_pence: Some(Pence::new(offer_cap / 2 + 1)),
                per_pledge_cap_pence: cap.map(Pence::new),
                per_offer_cap_pence: Pence::new(offer_cap),
                trigger: Trigger {
                    kind,
                    value: Some(value * 100),
                    min_investors,
                },
                eligibility: Eligibility::default(),
                exclusive: false,
                timing: Timing::Live,
            })
    }

    fn any_pledges() -> impl Strategy<Value = Vec<MatchPledge>> {
        prop::collection::vec((0usize..8, 1i64..=5_000), 0..40).prop_map(|v| {
            v.into_iter()
                .map(|(investor, pounds)| pledge(&format!("i{investor}"), pounds))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn the_invariants_hold(rule in any_rule(), pledges in any_pledges(), commitment in 0i64..3_000_000, other in 0i64..100_000) {
            let o = offer(10_000, 50_000, 150_000);
            let m = compute(&rule, Pence::new(commitment), &o, &pledges, Pence::new(other));
            prop_assert_eq!(m.len(), pledges.len());
            let sum = total(&m);
            let community: i64 = pledges.iter().map(|p| p.amount.get()).sum();
            prop_assert!(sum <= commitment);
            prop_assert!(sum <= rule.per_offer_cap_pence.get());
            prop_assert!(m.iter().all(|p| p.get() >= 0 && p.get() % 100 == 0));
            if community + other <= o.max_target.get() {
                prop_assert!(community + other + sum <= o.max_target.get());
            } else {
                prop_assert_eq!(sum, 0);
            }
            if rule.kind == RuleKind::PerPledge {
                let (num, den) = (rule.ratio_num.unwrap(), rule.ratio_den.unwrap());
                let mut per_investor: std::collections::HashMap<&str, i64> = Default::default();
                for (p, got) in pledges.iter().zip(&m) {
                    prop_assert!(got.get() <= p.amount.get() * num / den);
                    *per_investor.entry(p.investor_id.as_str()).or_default() += got.get();
                }
                if let Some(cap) = rule.per_pledge_cap_pence {
                    prop_assert!(per_investor.values().all(|v| *v <= cap.get()));
                }
            }
            // Deterministic.
            prop_assert_eq!(compute(&rule, Pence::new(commitment), &o, &pledges, Pence::new(other)), m);
        }

        #[test]
        fn the_trigger_is_met_after_the_first_prefix_over_which_it_holds(rule in any_rule(), pledges in any_pledges()) {
            let o = offer(10_000, 50_000, 150_000);
            let first = (0..=pledges.len()).find(|&n| trigger_holds(&rule.trigger, &o, &pledges[..n]));
            prop_assert_eq!(trigger_met_after(&rule.trigger, &o, &pledges), first);
            // Not met, nothing is matched; a lump goes to the pledge crossing it and no other.
            let m = compute(&rule, Pence::new(3_000_000), &o, &pledges, Pence::ZERO);
            match first {
                None => prop_assert_eq!(total(&m), 0),
                Some(n) if rule.kind == RuleKind::LumpSum && !pledges.is_empty() => {
                    let crossing = n.max(1) - 1;
                    prop_assert!(m.iter().enumerate().all(|(i, p)| i == crossing || p.get() == 0), "{m:?} crossing {crossing}");
                }
                Some(_) => {}
            }
        }

        #[test]
        fn removing_a_pledge_never_raises_another_pledges_match_beyond_the_rule(
            rule in any_rule(), pledges in any_pledges(), commitment in 0i64..3_000_000, drop in 0usize..40,
        ) {
            prop_assume!(!pledges.is_empty());
            let o = offer(10_000, 50_000, 150_000);
            let drop = drop % pledges.len();
            let mut fewer = pledges.clone();
            fewer.remove(drop);
            let m = compute(&rule, Pence::new(commitment), &o, &fewer, Pence::ZERO);
            for (p, got) in fewer.iter().zip(&m) {
                // Whatever the others do, a pledge's match stays within what the rule allows it.
                if rule.kind == RuleKind::PerPledge {
                    prop_assert!(got.get() <= p.amount.get() * rule.ratio_num.unwrap() / rule.ratio_den.unwrap());
                    if let Some(cap) = rule.per_pledge_cap_pence {
                        prop_assert!(got.get() <= cap.get());
                    }
                } else {
                    prop_assert!(got.get() <= rule.lump_sum_pence.unwrap().get());
                }
            }
        }
    }
}
