//! Match funding: funds and their public summaries ([`funds`]), applications and their approval
//! ([`applications`]), the rematch that keeps each pledge's match equal to the pure engine's
//! answer and releases it ([`rematch`]), and simulation ([`simulate`]).
//!
//! Ledger: a fund's budget is a posted transfer `funder:<funder>` → `fund:<fund>`; approval
//! posts `fund:<fund>` → `commitment:<application>` (both accounts refuse to pay out more than
//! they hold, so the UPDATE itself stops an overcommitment); each pledge's match is a pending
//! transfer `commitment:<application>` → `match:<offer>`.

pub mod applications;
pub mod confirmation;
pub mod funds;
pub mod rematch;
pub mod simulate;

pub use applications::{applications, apply, approve, confirm, decline, get_application, reject, Approval};
pub use funds::{
    create_fund, get_fund, match_funders, summary, ApplicationRow, ApplicationView, FundOffer, FundRow, FundSummary,
    MatchFunder,
};
pub use rematch::{match_new_pledge, refresh_offer, release_offer, NewlyPledged};
pub use simulate::{simulate, SimulatedPledge, Simulation};

/// A funder admin deciding: who (for the audit trail) and the cooling-off that the two-person
/// rule applies to the second person ([`crate::domain::governance::may_second`]).
#[derive(Debug, Clone, Copy)]
pub struct Decider<'a> {
    pub actor: crate::services::audit::Actor<'a>,
    pub cooling_off: chrono::Duration,
}

impl Decider<'_> {
    pub fn user_id(&self) -> &str {
        self.actor.user_id
    }
}
