//! The rematch plan: which stored matches of one fund change, and in what order, to bring them
//! to what the engine says.

use std::collections::HashMap;

/// One pledge's match of one fund changing from `from` to `to` pence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change<'a> {
    pub pledge_id: &'a str,
    pub from: i64,
    pub to: i64,
}

/// The changes that bring a fund's stored matches (`stored`: pledge id → pence) to `wanted`
/// (each live pledge's new match). A stored pledge that is not wanted any more (no longer
/// live) goes to zero; pledges whose match does not change are left out. Decreases come
/// first, then increases, each by pledge id: the fund's commitment account refuses to hold
/// more pending match than the commitment, even for a moment, when budget moves between
/// pledges.
pub fn plan<'a>(stored: &'a HashMap<String, i64>, wanted: &[(&'a str, i64)]) -> Vec<Change<'a>> {
    let mut target: HashMap<&str, i64> = wanted.iter().copied().collect();
    for pledge_id in stored.keys() {
        target.entry(pledge_id.as_str()).or_insert(0);
    }
    let mut changes: Vec<Change<'a>> = target
        .into_iter()
        .map(|(pledge_id, to)| Change {
            pledge_id,
            from: stored.get(pledge_id).copied().unwrap_or(0),
            to,
        })
        .filter(|c| c.from != c.to)
        .collect();
    changes.sort_by_key(|c| (c.to > c.from, c.pledge_id));
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decreases_come_first_and_ended_pledges_go_to_zero() {
        let stored: HashMap<String, i64> = [("a".into(), 100), ("b".into(), 50), ("gone".into(), 30)].into();
        let wanted = [("a", 100), ("b", 80), ("c", 20)];
        let changes = plan(&stored, &wanted);
        let summary: Vec<(&str, i64, i64)> = changes.iter().map(|c| (c.pledge_id, c.from, c.to)).collect();
        assert_eq!(summary, vec![("gone", 30, 0), ("b", 50, 80), ("c", 0, 20)]);
    }

    proptest! {
        /// Applied in order, the changes never hold more in all than the larger of the totals
        /// before and after, and end at `wanted`.
        #[test]
        fn the_running_total_never_passes_the_larger_end(
            stored in prop::collection::hash_map("[a-f]", 0i64..100, 0..6),
            wanted in prop::collection::hash_map("[a-f]", 0i64..100, 0..6),
        ) {
            let wanted_list: Vec<(&str, i64)> = wanted.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            let mut now = stored.clone();
            let bound = stored.values().sum::<i64>().max(wanted.values().sum());
            for change in plan(&stored, &wanted_list) {
                prop_assert_eq!(now.get(change.pledge_id).copied().unwrap_or(0), change.from);
                now.insert(change.pledge_id.to_owned(), change.to);
                prop_assert!(now.values().sum::<i64>() <= bound);
            }
            for (pledge, amount) in &now {
                prop_assert_eq!(*amount, wanted.get(pledge).copied().unwrap_or(0));
            }
        }
    }
}
