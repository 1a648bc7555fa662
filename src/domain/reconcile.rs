//! Reconciling a bank statement with the receipts a treasurer typed by hand. Treasurers record a
//! transfer as it arrives and import the month's statement later: the statement line for that
//! transfer is the same money, not a second payment. A line is the money already recorded by
//! hand when a hand receipt of the same pledge, for the same amount, received within
//! [`WINDOW_DAYS`] of the line's date (a bank books a transfer on the next working day, after a
//! weekend or a bank holiday), has not already been matched to another line. Each hand receipt
//! is matched at most once, to the first such line in the statement's order, choosing the hand
//! receipt nearest in date (the earlier on a tie). Pure: the import and its dry run both use it.

use chrono::NaiveDate;

use crate::domain::money::Pence;

/// Where a receipt typed by hand on an offer holding match money stands.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    utoipa::ToSchema,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptConfirmation {
    /// It counts only once a second person confirms it.
    AwaitingConfirmation,
    /// It counts.
    Confirmed,
    /// Typed in error; it never counted.
    Withdrawn,
}

text_names!(ReceiptConfirmation {
    AwaitingConfirmation => "awaiting_confirmation",
    Confirmed => "confirmed",
    Withdrawn => "withdrawn",
});

/// How many days apart a statement line and the hand receipt it repeats may be dated.
pub const WINDOW_DAYS: i64 = 5;

/// Money received, as the statement line or the hand receipt says: for which pledge, how much,
/// on which (UK) day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received<'a> {
    pub pledge_id: &'a str,
    pub amount: Pence,
    pub on: NaiveDate,
}

/// For each statement line (`lines`, in the statement's order), the index in `by_hand` of the
/// hand receipt it repeats, if any.
pub fn match_hand_receipts(lines: &[Received<'_>], by_hand: &[Received<'_>]) -> Vec<Option<usize>> {
    let mut taken = vec![false; by_hand.len()];
    lines
        .iter()
        .map(|line| {
            let found = by_hand
                .iter()
                .enumerate()
                .filter(|(i, hand)| !taken[*i] && repeats(line, hand))
                .min_by_key(|(_, hand)| ((hand.on - line.on).num_days().abs(), hand.on))
                .map(|(i, _)| i);
            if let Some(i) = found {
                taken[i] = true;
            }
            found
        })
        .collect()
}

/// Whether the statement `line` can be the money of the hand receipt `hand`.
fn repeats(line: &Received<'_>, hand: &Received<'_>) -> bool {
    line.pledge_id == hand.pledge_id
        && line.amount == hand.amount
        && (line.on - hand.on).num_days().abs() <= WINDOW_DAYS
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
    }

    fn received(pledge_id: &str, pence: i64, d: u32) -> Received<'_> {
        Received {
            pledge_id,
            amount: Pence::new(pence),
            on: day(d),
        }
    }

    #[test]
    fn a_line_repeats_the_hand_receipt_of_its_pledge_amount_and_days() {
        let by_hand = [received("a", 25_000, 3)];
        // Booked on the Monday after a Friday's transfer: the same money.
        assert_eq!(
            match_hand_receipts(&[received("a", 25_000, 7)], &by_hand),
            vec![Some(0)]
        );
        // Another amount, another pledge, or far apart: other money.
        assert_eq!(match_hand_receipts(&[received("a", 20_000, 3)], &by_hand), vec![None]);
        assert_eq!(match_hand_receipts(&[received("b", 25_000, 3)], &by_hand), vec![None]);
        assert_eq!(match_hand_receipts(&[received("a", 25_000, 9)], &by_hand), vec![None]);
    }

    #[test]
    fn each_hand_receipt_is_matched_once_the_nearest_first() {
        // Two equal parts typed by hand, and the statement shows both, then a third.
        let by_hand = [received("a", 10_000, 1), received("a", 10_000, 8)];
        let lines = [
            received("a", 10_000, 8),
            received("a", 10_000, 2),
            received("a", 10_000, 9),
        ];
        assert_eq!(match_hand_receipts(&lines, &by_hand), vec![Some(1), Some(0), None]);
    }

    proptest! {
        #[test]
        fn a_match_is_the_same_money_and_no_hand_receipt_serves_twice(
            lines in proptest::collection::vec((0..3usize, 1..4i64, 1..20u32), 0..12),
            hands in proptest::collection::vec((0..3usize, 1..4i64, 1..20u32), 0..12),
        ) {
            let ids = ["a", "b", "c"];
            let as_received = |v: &[(usize, i64, u32)]| -> Vec<Received<'static>> {
                v.iter().map(|(p, a, d)| received(ids[*p], a * 5_000, *d)).collect()
            };
            let (lines, hands) = (as_received(&lines), as_received(&hands));
            let matched = match_hand_receipts(&lines, &hands);
            prop_assert_eq!(matched.len(), lines.len());
            let mut used = std::collections::HashSet::new();
            for (line, found) in lines.iter().zip(&matched) {
                if let Some(i) = found {
                    prop_assert!(used.insert(*i), "hand receipt {} matched twice", i);
                    prop_assert!(repeats(line, &hands[*i]));
                }
            }
            // A line left unmatched had no unused hand receipt it could repeat.
            for (line, found) in lines.iter().zip(&matched) {
                if found.is_none() {
                    let free = hands.iter().enumerate().any(|(i, h)| !used.contains(&i) && repeats(line, h));
                    prop_assert!(!free, "a line was left unmatched beside a free hand receipt");
                }
            }
        }
    }
}
