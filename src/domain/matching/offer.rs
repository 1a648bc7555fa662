//! Every approved fund on one offer: the definition of the offer's match, which the stored
//! matches must always equal.

use super::{compute, MatchPledge, OfferFacts, Rule, Timing};
use crate::domain::money::Pence;

/// One approved fund of an offer, as the engine sees it.
#[derive(Debug, Clone)]
pub struct ApprovedFund {
    pub rule: Rule,
    /// The approved commitment, in pence.
    pub commitment: Pence,
    /// Its match of the offer's live pledges now, in pence (for an at-close fund while the
    /// offer is open, what it holds until the close: nothing).
    pub held: Pence,
}

/// Each approved fund's match of each live pledge (pledges in pledge order, funds in approval
/// order). An at-close fund is computed only once the offer has `closed`; until then it is
/// `None` and keeps what it holds.
///
/// Funds share the `max_target` headroom in approval order: only the funds approved before a
/// fund count against its headroom, so the split is a function of the pledges and the
/// approvals, not of the order in which things happened.
pub fn compute_offer(
    funds: &[ApprovedFund],
    offer: &OfferFacts,
    pledges: &[MatchPledge],
    closed: bool,
) -> Vec<Option<Vec<Pence>>> {
    let mut ahead = 0;
    funds
        .iter()
        .map(|fund| {
            if fund.rule.timing == Timing::AtClose && !closed {
                ahead += fund.held.get();
                return None;
            }
            let amounts = compute(&fund.rule, fund.commitment, offer, pledges, Pence::new(ahead));
            ahead += amounts.iter().map(|a| a.get()).sum::<i64>();
            Some(amounts)
        })
        .collect()
}
