//! The incremental match: a pledge appended at the end of pledge order (a new pledge always is:
//! pledge order is numbered by the reservation under the offer's row lock) is matched from the
//! funds' running totals alone, in constant work, whenever no earlier pledge's match changes.
//! [`compute_offer`](super::offer::compute_offer) stays the definition; this is a faster road
//! to the same answer, and says when it is not one.
//!
//! Earlier pledges' matches can change on an append only when (each a [`Recompute`]):
//! - **a `per_pledge` trigger is crossed** by it: the earlier pledges are matched too;
//! - **the headroom is reached**: a fund's budget (the commitment within the per-offer cap and
//!   the `max_target` headroom left by the community money and the match of the funds approved
//!   before it) falls below what it has matched already, so its last matches shrink. This
//!   covers a second fund sharing the headroom: the first fund's match of the new pledge
//!   lowers the second's headroom.
//!
//! Anything else that is not an append (a cancellation, expiry or refund of a pledge, a part
//! payment that lowers a pledge, an approval, the close for at-close funds) is a full
//! recompute by the caller. Otherwise the earlier matches are unchanged, which is proved as
//! follows. A fund's budget never grows on an append (more community money and more match
//! ahead only shrink the headroom). The `per_pledge` engine hands the budget out in pledge
//! order, each pledge taking `floor-to-shares(min(ratio, cap room, budget left))`; once the
//! budget binds, what is left is less than one share, so every later pledge gets nothing. So
//! with the old budget `B` giving matches summing to `S` (`B − S` less than a share when the
//! budget bound, any amount when it did not), every budget in `[S, B]` gives the same matches.
//! A lump sum is `floor-to-shares(min(lump, budget))` on one pledge: the same argument. The
//! property tests below check this against `compute_offer` over thousands of sequences.

use super::offer::ApprovedFund;
use super::{trigger_holds_at, MatchPledge, OfferFacts, RuleKind, Timing};
use crate::domain::money::Pence;

/// Why a pledge cannot be matched incrementally: the caller recomputes the whole offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recompute {
    /// The new pledge makes a `per_pledge` fund's trigger hold: earlier pledges are matched.
    TriggerCrossed,
    /// A fund's budget fell below what it has matched: its last matches shrink.
    HeadroomReached,
}

impl Recompute {
    pub fn as_str(self) -> &'static str {
        match self {
            Recompute::TriggerCrossed => "trigger_crossed",
            Recompute::HeadroomReached => "headroom_reached",
        }
    }
}

/// The offer's live pledges before the append, as the triggers see them.
#[derive(Debug, Clone, Copy)]
pub struct Before {
    /// Pence pledged by the live pledges.
    pub community: i64,
    /// Distinct investors among them.
    pub investors: i64,
}

/// One approved fund's running figures before the append. `fund.held` is its match of the
/// live pledges so far.
#[derive(Debug, Clone, Copy)]
pub struct Running<'a> {
    pub fund: &'a ApprovedFund,
    /// What the new pledge's investor holds of this fund's match already (for
    /// `per_pledge_cap_pence`).
    pub investor_held: Pence,
}

/// The new pledge's match from each fund (in the order given: approval order), for a pledge
/// appended at the end of pledge order to an open offer (at-close funds match nothing yet).
/// `new_investor`: the pledge's investor had no live pledge to the offer before it. Every
/// other pledge's match stays as it was; when that cannot be said, the reason to recompute.
pub fn append(
    funds: &[Running<'_>],
    offer: &OfferFacts,
    before: Before,
    pledge: &MatchPledge,
    new_investor: bool,
) -> Result<Vec<Pence>, Recompute> {
    let community = before.community + pledge.amount.get();
    let investors = before.investors + i64::from(new_investor);
    let mut ahead = 0;
    let mut matched = Vec::with_capacity(funds.len());
    for running in funds {
        let (fund, rule) = (running.fund, &running.fund.rule);
        let held = fund.held.get();
        if rule.timing == Timing::AtClose {
            ahead += held;
            matched.push(Pence::ZERO);
            continue;
        }
        let budget = rule.budget(fund.commitment, offer, community, ahead);
        if budget < held {
            return Err(Recompute::HeadroomReached);
        }
        // With no live pledge before it, nothing earlier can be matched by a crossing.
        let held_before =
            before.investors == 0 || trigger_holds_at(&rule.trigger, offer, before.community, before.investors);
        let holds = trigger_holds_at(&rule.trigger, offer, community, investors);
        let amount = match (&rule.kind, held_before, holds) {
            (_, _, false) => 0,
            (RuleKind::PerPledge, false, true) => return Err(Recompute::TriggerCrossed),
            (RuleKind::PerPledge, true, true) if rule.eligible(&pledge.postcode) => {
                rule.pledge_match(offer, pledge.amount, running.investor_held, budget - held)
            }
            (RuleKind::PerPledge, true, true) => 0,
            // The lump is this pledge's if it is the one that crosses the trigger (with no
            // pledge before it, the trigger was not held "before": it is the first).
            (RuleKind::LumpSum, false, true) => rule.lump_match(offer, budget),
            (RuleKind::LumpSum, true, true) if before.investors == 0 => rule.lump_match(offer, budget),
            (RuleKind::LumpSum, true, true) => 0,
        };
        ahead += held + amount;
        matched.push(Pence::new(amount));
    }
    Ok(matched)
}

#[cfg(test)]
mod tests {
    use super::super::offer::compute_offer;
    use super::super::{Eligibility, Rule, Trigger, TriggerKind};
    use super::*;
    use proptest::prelude::*;

    fn facts(max_target_pounds: i64) -> OfferFacts {
        OfferFacts {
            share_price: Pence::new(100),
            min_target: Pence::from_pounds(2_000),
            target: Pence::from_pounds(4_000),
            max_target: Pence::from_pounds(max_target_pounds),
        }
    }

    fn rule(kind: RuleKind, cap: Option<i64>, offer_cap: i64, trigger: TriggerKind, value: i64) -> Rule {
        Rule {
            kind,
            ratio_num: Some(1),
            ratio_den: Some(1),
            lump_sum_pence: Some(Pence::from_pounds(300)),
            per_pledge_cap_pence: cap.map(Pence::from_pounds),
            per_offer_cap_pence: Pence::from_pounds(offer_cap),
            trigger: Trigger {
                kind: trigger,
                value: Some(value),
                min_investors: None,
            },
            eligibility: Eligibility::default(),
            exclusive: false,
            timing: Timing::Live,
        }
    }

    fn pledge(investor: usize, pounds: i64, postcode: &str) -> MatchPledge {
        MatchPledge {
            investor_id: format!("i{investor}"),
            amount: Pence::from_pounds(pounds),
            postcode: postcode.into(),
        }
    }

    /// Appends `pledges[k]` after `pledges[..k]`, with the running figures `compute_offer`
    /// gives for the prefix: the incremental answer, and the definition's answers before and
    /// after.
    type Answers = Vec<Option<Vec<Pence>>>;

    fn step(
        funds: &[ApprovedFund],
        offer: &OfferFacts,
        pledges: &[MatchPledge],
        k: usize,
    ) -> (Result<Vec<Pence>, Recompute>, Answers, Answers) {
        let before = compute_offer(funds, offer, &pledges[..k], false);
        let after = compute_offer(funds, offer, &pledges[..=k], false);
        let new = &pledges[k];
        let total = |m: &Option<Vec<Pence>>| m.as_ref().map_or(0, |m| m.iter().map(|p| p.get()).sum::<i64>());
        let funds_now: Vec<ApprovedFund> = funds
            .iter()
            .zip(&before)
            .map(|(f, m)| ApprovedFund {
                held: Pence::new(total(m)),
                ..f.clone()
            })
            .collect();
        let running: Vec<Running<'_>> = funds_now
            .iter()
            .zip(&before)
            .map(|(fund, m)| Running {
                fund,
                investor_held: Pence::new(m.as_ref().map_or(0, |m| {
                    pledges[..k]
                        .iter()
                        .zip(m)
                        .filter(|(p, _)| p.investor_id == new.investor_id)
                        .map(|(_, a)| a.get())
                        .sum()
                })),
            })
            .collect();
        let mut seen = std::collections::HashSet::new();
        let investors = pledges[..k].iter().filter(|p| seen.insert(&p.investor_id)).count() as i64;
        let first = !pledges[..k].iter().any(|p| p.investor_id == new.investor_id);
        let answer = append(
            &running,
            offer,
            Before {
                community: pledges[..k].iter().map(|p| p.amount.get()).sum(),
                investors,
            },
            new,
            first,
        );
        (answer, before, after)
    }

    /// The incremental answer agrees with the definition: the earlier matches are unchanged
    /// and the new pledge's is the one given. A headroom fallback is one where an earlier
    /// match does change.
    fn agrees(funds: &[ApprovedFund], offer: &OfferFacts, pledges: &[MatchPledge], k: usize) -> Option<Recompute> {
        let (answer, before, after) = step(funds, offer, pledges, k);
        match answer {
            Ok(new) => {
                for ((b, a), m) in before.iter().zip(&after).zip(&new) {
                    match (b, a) {
                        (Some(b), Some(a)) => {
                            assert_eq!(&a[..k], &b[..], "an earlier match changed");
                            assert_eq!(a[k], *m, "the new pledge's match");
                        }
                        _ => assert_eq!(*m, Pence::ZERO),
                    }
                }
                None
            }
            Err(Recompute::HeadroomReached) => {
                assert!(
                    before.iter().zip(&after).any(|(b, a)| match (b, a) {
                        (Some(b), Some(a)) => a[..k] != b[..],
                        _ => false,
                    }),
                    "a headroom fallback where nothing earlier changed"
                );
                Some(Recompute::HeadroomReached)
            }
            Err(other) => Some(other),
        }
    }

    fn fund(rule: Rule, commitment: i64) -> ApprovedFund {
        ApprovedFund {
            rule,
            commitment: Pence::from_pounds(commitment),
            held: Pence::ZERO,
        }
    }

    #[test]
    fn a_surge_with_a_pound_for_pound_fund_is_matched_incrementally_to_the_end() {
        let funds = [fund(
            rule(RuleKind::PerPledge, Some(250), 5_000, TriggerKind::None, 0),
            5_000,
        )];
        let offer = facts(1_000_000);
        let pledges: Vec<_> = (0..300)
            .map(|i| pledge(i % 40, 10 + (i as i64 % 7), "BS1 4DJ"))
            .collect();
        for k in 0..pledges.len() {
            assert_eq!(agrees(&funds, &offer, &pledges, k), None, "pledge {k}");
        }
    }

    #[test]
    fn crossing_a_trigger_recomputes_once_and_a_lump_sum_does_not() {
        let per_pledge = [fund(
            rule(RuleKind::PerPledge, None, 5_000, TriggerKind::Amount, 10_000),
            5_000,
        )];
        let lump = [fund(
            rule(RuleKind::LumpSum, None, 5_000, TriggerKind::Amount, 10_000),
            5_000,
        )];
        let offer = facts(1_000_000);
        // £60 then £50: the second crosses the £100 trigger.
        let pledges = vec![
            pledge(1, 60, "BS1 4DJ"),
            pledge(2, 50, "BS1 4DJ"),
            pledge(3, 10, "BS1 4DJ"),
        ];
        assert_eq!(agrees(&per_pledge, &offer, &pledges, 0), None);
        assert_eq!(
            agrees(&per_pledge, &offer, &pledges, 1),
            Some(Recompute::TriggerCrossed)
        );
        assert_eq!(agrees(&per_pledge, &offer, &pledges, 2), None);
        for k in 0..3 {
            assert_eq!(agrees(&lump, &offer, &pledges, k), None, "the lump needs no recompute");
        }
        assert_eq!(step(&lump, &offer, &pledges, 1).0, Ok(vec![Pence::from_pounds(300)]));
    }

    #[test]
    fn reaching_the_headroom_recomputes() {
        // £400 maximum: £150 pledged and £150 matched; £200 more leaves £50 of headroom for
        // £150 of match already given. (The server's reservation refuses that pledge, since
        // pledges and match may not pass the maximum; with two funds the headroom is reached
        // within it: the next test.)
        let funds = [fund(
            rule(RuleKind::PerPledge, None, 5_000, TriggerKind::None, 0),
            5_000,
        )];
        let offer = facts(400);
        let pledges = vec![pledge(1, 150, "BS1 4DJ"), pledge(2, 200, "BS1 4DJ")];
        assert_eq!(agrees(&funds, &offer, &pledges, 0), None);
        assert_eq!(agrees(&funds, &offer, &pledges, 1), Some(Recompute::HeadroomReached));
    }

    #[test]
    fn a_second_fund_sharing_the_headroom_recomputes_when_the_first_fund_takes_it() {
        // Two £1-for-£1 funds on a £700 maximum: after £200 pledged (£200 + £200 matched),
        // £100 more is matched by the first fund, leaving the second no room for its £200.
        let live = rule(RuleKind::PerPledge, None, 5_000, TriggerKind::None, 0);
        let funds = [fund(live.clone(), 5_000), fund(live, 5_000)];
        let offer = facts(700);
        let pledges = vec![pledge(1, 200, "BS1 4DJ"), pledge(2, 100, "BS1 4DJ")];
        assert_eq!(agrees(&funds, &offer, &pledges, 0), None);
        assert_eq!(agrees(&funds, &offer, &pledges, 1), Some(Recompute::HeadroomReached));
    }

    #[test]
    fn a_budget_spent_leaves_later_pledges_unmatched_without_a_recompute() {
        let funds = [fund(rule(RuleKind::PerPledge, None, 100, TriggerKind::None, 0), 100)];
        let offer = facts(1_000_000);
        let pledges: Vec<_> = (0..5).map(|i| pledge(i, 40, "BS1 4DJ")).collect();
        for k in 0..5 {
            assert_eq!(agrees(&funds, &offer, &pledges, k), None);
        }
        assert_eq!(step(&funds, &offer, &pledges, 2).0, Ok(vec![Pence::from_pounds(20)]));
        assert_eq!(step(&funds, &offer, &pledges, 3).0, Ok(vec![Pence::ZERO]));
    }

    fn any_fund() -> impl Strategy<Value = ApprovedFund> {
        (
            any::<bool>(),
            (1i64..=3, 1i64..=3),
            prop::option::of(1i64..=300),
            1i64..=3_000,
            prop_oneof![
                Just(TriggerKind::None),
                Just(TriggerKind::Amount),
                Just(TriggerKind::PercentOfTarget),
                Just(TriggerKind::MinTarget)
            ],
            (1i64..=5_000, prop::option::of(1i64..=6)),
            prop::option::of(Just(vec!["BS1".to_owned()])),
            (0u8..8, 1i64..=3_000),
        )
            .prop_map(
                |(lump, (num, den), cap, offer_cap, trigger, (value, min_investors), local, (timing, commitment))| {
                    ApprovedFund {
                        rule: Rule {
                            kind: if lump { RuleKind::LumpSum } else { RuleKind::PerPledge },
                            ratio_num: Some(num),
                            ratio_den: Some(den),
                            lump_sum_pence: Some(Pence::from_pounds(offer_cap / 2 + 1)),
                            per_pledge_cap_pence: cap.map(Pence::from_pounds),
                            per_offer_cap_pence: Pence::from_pounds(offer_cap),
                            trigger: Trigger {
                                value: Some(if trigger == TriggerKind::PercentOfTarget {
                                    value * 2
                                } else {
                                    value * 100
                                }),
                                min_investors,
                                kind: trigger,
                            },
                            eligibility: Eligibility {
                                postcode_prefixes: local.unwrap_or_default(),
                            },
                            exclusive: false,
                            timing: if timing == 0 { Timing::AtClose } else { Timing::Live },
                        },
                        commitment: Pence::from_pounds(commitment),
                        held: Pence::ZERO,
                    }
                },
            )
    }

    fn any_pledges() -> impl Strategy<Value = Vec<MatchPledge>> {
        prop::collection::vec(
            (0usize..10, 1i64..=400, prop_oneof![Just("BS1 4DJ"), Just("GL5 1AA")]),
            1..40,
        )
        .prop_map(|v| v.into_iter().map(|(i, pounds, pc)| pledge(i, pounds, pc)).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]
        #[test]
        fn every_incremental_answer_is_the_definitions(
            funds in prop::collection::vec(any_fund(), 1..=3),
            pledges in any_pledges(),
            max_target in prop_oneof![Just(1_000_000i64), 500i64..=6_000],
        ) {
            let offer = facts(max_target);
            for k in 0..pledges.len() {
                agrees(&funds, &offer, &pledges, k);
            }
        }
    }
}
