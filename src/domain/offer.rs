//! Share offer terms and lifecycle (DESIGN §2). Pure: no I/O, the time is a parameter.

use chrono::{Duration, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::money::Pence;
use crate::error::FieldError;

/// A community shares society needs £10,000 to be viable (the Community Shares Standard); an
/// offer aiming lower is accepted but flagged in its public view.
pub const COMMUNITY_SHARES_MINIMUM: Pence = Pence::from_pounds(10_000);

/// No amount in an offer's terms may exceed £1bn: far above any community offer, and far below
/// where sums of amounts could overflow.
pub const MAX_AMOUNT: Pence = Pence::from_pounds(1_000_000_000);

/// Platform-wide limits on terms, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct TermsPolicy {
    /// The statutory cap on an individual's withdrawable shares in a society: £100,000
    /// (Co-operative and Community Benefit Societies Act 2014, s. 24).
    pub individual_cap: Pence,
    /// Longest an offer may stay open.
    pub max_days: i64,
    /// Longest cooling-off period an offer may promise.
    pub max_cooling_off_days: i64,
}

impl Default for TermsPolicy {
    fn default() -> Self {
        Self {
            individual_cap: Pence::from_pounds(100_000),
            max_days: 180,
            max_cooling_off_days: 30,
        }
    }
}

/// The money and time terms of an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    pub share_price: Pence,
    pub min_target: Pence,
    pub target: Pence,
    pub max_target: Pence,
    pub min_holding: Pence,
    pub max_holding: Pence,
    pub opens_at: NaiveDateTime,
    pub closes_at: NaiveDateTime,
    pub cooling_off_days: i64,
    pub interest_rate_bps: i64,
}

/// Every rule the terms break, each with its field (empty when the terms are valid). `now`
/// matters only for `closes_at`, which must still be ahead.
pub fn check_terms(terms: &Terms, policy: &TermsPolicy, now: NaiveDateTime) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut fail = |field: &str, message: String| errors.push(FieldError::new(field, message));
    let price = terms.share_price;
    if price.get() < 1 {
        fail("share_price_pence", "must be at least 1p".into());
    }
    let whole_shares = |amount: Pence| price.get() >= 1 && amount.get() % price.get() == 0;
    let amounts = [
        ("min_target_pence", terms.min_target),
        ("target_pence", terms.target),
        ("max_target_pence", terms.max_target),
        ("min_holding_pence", terms.min_holding),
        ("max_holding_pence", terms.max_holding),
    ];
    for (field, amount) in amounts {
        if amount.get() <= 0 {
            fail(field, "must be more than zero".into());
        } else if amount > MAX_AMOUNT {
            fail(field, format!("must not exceed {MAX_AMOUNT}"));
        } else if price.get() >= 1 && !whole_shares(amount) {
            fail(field, format!("must be a whole number of shares ({price} each)"));
        }
    }
    if terms.target < terms.min_target {
        fail("target_pence", "must not be below min_target_pence".into());
    }
    if terms.max_target < terms.target {
        fail("max_target_pence", "must not be below target_pence".into());
    }
    if terms.max_holding < terms.min_holding {
        fail("max_holding_pence", "must not be below min_holding_pence".into());
    }
    if terms.max_holding > policy.individual_cap {
        fail(
            "max_holding_pence",
            format!(
                "must not exceed the statutory individual limit of {}",
                policy.individual_cap
            ),
        );
    }
    if terms.min_holding > terms.max_target {
        fail("min_holding_pence", "must not exceed max_target_pence".into());
    }
    if terms.closes_at <= terms.opens_at {
        fail("closes_at", "must be after opens_at".into());
    } else if terms.closes_at - terms.opens_at > Duration::days(policy.max_days) {
        fail(
            "closes_at",
            format!("must be at most {} days after opens_at", policy.max_days),
        );
    }
    if terms.closes_at <= now {
        fail("closes_at", "must be in the future".into());
    }
    if !(0..=policy.max_cooling_off_days).contains(&terms.cooling_off_days) {
        fail(
            "cooling_off_days",
            format!("must be between 0 and {}", policy.max_cooling_off_days),
        );
    }
    if !(0..=10_000).contains(&terms.interest_rate_bps) {
        fail("interest_rate_bps", "must be between 0 and 10000 (100%)".into());
    }
    errors
}

/// Where an offer is in its life (DESIGN §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfferStatus {
    Draft,
    Submitted,
    Approved,
    Open,
    Closed,
    Succeeded,
    Allocated,
    Failed,
    Refunded,
    Cancelled,
}

impl OfferStatus {
    pub const ALL: [OfferStatus; 10] = [
        OfferStatus::Draft,
        OfferStatus::Submitted,
        OfferStatus::Approved,
        OfferStatus::Open,
        OfferStatus::Closed,
        OfferStatus::Succeeded,
        OfferStatus::Allocated,
        OfferStatus::Failed,
        OfferStatus::Refunded,
        OfferStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OfferStatus::Draft => "draft",
            OfferStatus::Submitted => "submitted",
            OfferStatus::Approved => "approved",
            OfferStatus::Open => "open",
            OfferStatus::Closed => "closed",
            OfferStatus::Succeeded => "succeeded",
            OfferStatus::Allocated => "allocated",
            OfferStatus::Failed => "failed",
            OfferStatus::Refunded => "refunded",
            OfferStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether anyone may see an offer in this state. Before it opens, only its society's
    /// admins and platform admins see it; a cancelled offer is public if it had opened.
    pub fn is_public(self, has_opened: bool) -> bool {
        match self {
            OfferStatus::Draft | OfferStatus::Submitted | OfferStatus::Approved => false,
            OfferStatus::Cancelled => has_opened,
            _ => true,
        }
    }
}

/// What moves an offer from one state to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferAction {
    Submit,
    Approve,
    Open,
    Close,
    Cancel,
    Succeed,
    Fail,
    Allocate,
    Refund,
}

/// The lifecycle as a table: the state an action leads to from `from`, or `None` when the
/// action is not allowed there.
pub fn next_status(from: OfferStatus, action: OfferAction) -> Option<OfferStatus> {
    use OfferAction as A;
    use OfferStatus as S;
    match (from, action) {
        (S::Draft, A::Submit) => Some(S::Submitted),
        (S::Submitted, A::Approve) => Some(S::Approved),
        (S::Approved, A::Open) => Some(S::Open),
        (S::Open, A::Close) => Some(S::Closed),
        (S::Closed, A::Succeed) => Some(S::Succeeded),
        (S::Closed, A::Fail) => Some(S::Failed),
        (S::Succeeded, A::Allocate) => Some(S::Allocated),
        (S::Failed | S::Cancelled, A::Refund) => Some(S::Refunded),
        (S::Draft | S::Submitted | S::Approved | S::Open, A::Cancel) => Some(S::Cancelled),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use proptest::prelude::*;

    fn now() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 1)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
    }

    fn valid() -> Terms {
        Terms {
            share_price: Pence::new(100),
            min_target: Pence::from_pounds(50_000),
            target: Pence::from_pounds(100_000),
            max_target: Pence::from_pounds(150_000),
            min_holding: Pence::from_pounds(50),
            max_holding: Pence::from_pounds(20_000),
            opens_at: now() + Duration::days(1),
            closes_at: now() + Duration::days(43),
            cooling_off_days: 14,
            interest_rate_bps: 300,
        }
    }

    fn fields(terms: &Terms) -> Vec<String> {
        let mut f: Vec<String> = check_terms(terms, &TermsPolicy::default(), now())
            .into_iter()
            .map(|e| e.field)
            .collect();
        f.sort();
        f.dedup();
        f
    }

    #[test]
    fn typical_terms_are_valid() {
        assert!(fields(&valid()).is_empty());
    }

    #[test]
    fn each_rule_names_its_field() {
        type BreakRule = fn(&mut Terms);
        let cases: Vec<(BreakRule, &str)> = vec![
            (|t| t.share_price = Pence::ZERO, "share_price_pence"),
            (|t| t.min_target = Pence::new(50_050), "min_target_pence"),
            (|t| t.min_target = Pence::ZERO, "min_target_pence"),
            (|t| t.target = Pence::from_pounds(40_000), "target_pence"),
            (|t| t.max_target = Pence::from_pounds(90_000), "max_target_pence"),
            (|t| t.min_holding = Pence::from_pounds(30_000), "max_holding_pence"),
            (|t| t.max_holding = Pence::from_pounds(100_001), "max_holding_pence"),
            (|t| t.max_holding = Pence::new(2_000_050), "max_holding_pence"),
            (|t| t.closes_at = t.opens_at, "closes_at"),
            (|t| t.closes_at = t.opens_at + Duration::days(181), "closes_at"),
            (|t| t.cooling_off_days = -1, "cooling_off_days"),
            (|t| t.cooling_off_days = 31, "cooling_off_days"),
            (|t| t.interest_rate_bps = 10_001, "interest_rate_bps"),
        ];
        for (break_rule, field) in cases {
            let mut terms = valid();
            break_rule(&mut terms);
            assert_eq!(fields(&terms), vec![field.to_owned()], "breaking {field}");
        }
    }

    #[test]
    fn every_broken_rule_is_reported_not_just_the_first() {
        let mut terms = valid();
        terms.min_target = Pence::new(5);
        terms.max_target = Pence::from_pounds(1);
        terms.closes_at = now() - Duration::days(1);
        terms.opens_at = now() - Duration::days(2);
        assert_eq!(
            fields(&terms),
            vec!["closes_at", "max_target_pence", "min_holding_pence", "min_target_pence"]
        );
    }

    #[test]
    fn the_statutory_cap_is_exactly_one_hundred_thousand_pounds() {
        let mut terms = valid();
        terms.max_target = Pence::from_pounds(200_000);
        terms.max_holding = Pence::from_pounds(100_000);
        assert!(fields(&terms).is_empty());
    }

    #[test]
    fn the_lifecycle_table() {
        use OfferAction as A;
        use OfferStatus as S;
        assert_eq!(next_status(S::Draft, A::Submit), Some(S::Submitted));
        assert_eq!(next_status(S::Submitted, A::Approve), Some(S::Approved));
        assert_eq!(next_status(S::Approved, A::Open), Some(S::Open));
        assert_eq!(next_status(S::Open, A::Close), Some(S::Closed));
        assert_eq!(next_status(S::Closed, A::Succeed), Some(S::Succeeded));
        assert_eq!(next_status(S::Succeeded, A::Allocate), Some(S::Allocated));
        assert_eq!(next_status(S::Closed, A::Fail), Some(S::Failed));
        assert_eq!(next_status(S::Failed, A::Refund), Some(S::Refunded));
        for from in S::ALL {
            let cancellable = matches!(from, S::Draft | S::Submitted | S::Approved | S::Open);
            assert_eq!(next_status(from, A::Cancel).is_some(), cancellable, "{from:?}");
        }
        assert_eq!(next_status(S::Draft, A::Approve), None);
        assert_eq!(next_status(S::Open, A::Submit), None);
        assert_eq!(next_status(S::Closed, A::Close), None);
        for status in S::ALL {
            assert_eq!(OfferStatus::parse(status.as_str()), Some(status));
        }
    }

    fn any_terms() -> impl Strategy<Value = Terms> {
        (
            0i64..=1_000,
            prop::array::uniform5(0i64..=25_000_000),
            -5i64..=400,
            -2i64..=400,
            -3i64..=40,
            -10i64..=20_000,
        )
            .prop_map(|(price, amounts, open_offset, length, cooling_off, bps)| {
                let opens_at = now() + Duration::days(open_offset);
                Terms {
                    share_price: Pence::new(price),
                    min_target: Pence::new(amounts[0]),
                    target: Pence::new(amounts[1]),
                    max_target: Pence::new(amounts[2]),
                    min_holding: Pence::new(amounts[3]),
                    max_holding: Pence::new(amounts[4]),
                    opens_at,
                    closes_at: opens_at + Duration::days(length),
                    cooling_off_days: cooling_off,
                    interest_rate_bps: bps,
                }
            })
    }

    /// Terms built from whole shares, so that valid terms come up often.
    fn share_terms() -> impl Strategy<Value = Terms> {
        (
            prop::sample::select(vec![1i64, 50, 100, 250, 1000]),
            prop::array::uniform5(1i64..=200_000),
            0i64..=200,
        )
            .prop_map(|(price, shares, length)| {
                let mut sorted = [shares[0], shares[1], shares[2]];
                sorted.sort();
                let (lo, hi) = (shares[3].min(shares[4]), shares[3].max(shares[4]));
                let mut terms = valid();
                terms.share_price = Pence::new(price);
                terms.min_target = Pence::new(sorted[0] * price);
                terms.target = Pence::new(sorted[1] * price);
                terms.max_target = Pence::new(sorted[2] * price);
                terms.min_holding = Pence::new(lo * price);
                terms.max_holding = Pence::new(hi * price);
                terms.closes_at = terms.opens_at + Duration::days(length);
                terms
            })
    }

    fn holds_every_invariant(t: &Terms, policy: &TermsPolicy) -> bool {
        let p = t.share_price.get();
        p >= 1
            && [t.min_target, t.target, t.max_target, t.min_holding, t.max_holding]
                .iter()
                .all(|a| a.get() > 0 && *a <= MAX_AMOUNT && a.get() % p == 0)
            && t.min_target <= t.target
            && t.target <= t.max_target
            && t.min_holding <= t.max_holding
            && t.max_holding <= policy.individual_cap
            && t.min_holding <= t.max_target
            && t.opens_at < t.closes_at
            && t.closes_at - t.opens_at <= Duration::days(policy.max_days)
            && t.closes_at > now()
            && (0..=policy.max_cooling_off_days).contains(&t.cooling_off_days)
            && (0..=10_000).contains(&t.interest_rate_bps)
    }

    proptest! {
        #[test]
        fn accepted_terms_satisfy_every_invariant(terms in prop_oneof![any_terms(), share_terms()]) {
            let policy = TermsPolicy::default();
            let errors = check_terms(&terms, &policy, now());
            prop_assert_eq!(errors.is_empty(), holds_every_invariant(&terms, &policy), "{:?}", errors);
        }
    }
}
