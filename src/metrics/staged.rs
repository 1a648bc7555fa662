//! Domain counters that count only what committed. A pledge made inside a write transaction
//! that then rolls back (a conflict, a retry after a serialization failure, a shared SQLite
//! commit that failed and ran each write again alone) must not be counted, and one retried
//! three times must be counted once. So work inside a transaction *stages* its events on the
//! thread that runs it, and the transaction code publishes them after its commit, or drops
//! them on a rollback: [`mark`] where a transaction (or savepoint) starts, [`publish_from`]
//! after the outermost commit, [`discard_from`] after a rollback.

use std::cell::RefCell;

/// Something that happened to the money, counted once it is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A pledge was made, of this many pence.
    PledgeCreated { pence: i64 },
    /// A pledge was paid in full, of this many pence.
    PledgePaid { pence: i64 },
    /// A pending pledge was cancelled (by its investor or with its offer).
    PledgeCancelled,
    /// A pending pledge expired unpaid.
    PledgeExpired,
    /// A paid pledge was refunded (cancelled in its cooling-off period, or its offer failed).
    PledgeRefunded,
}

thread_local! {
    static STAGED: RefCell<Vec<Event>> = const { RefCell::new(Vec::new()) };
}

/// Stages an event on this thread, to be published when its transaction commits.
pub fn stage(event: Event) {
    STAGED.with(|staged| staged.borrow_mut().push(event));
}

/// Where a transaction or savepoint starts: what is staged after this mark is its own.
pub fn mark() -> usize {
    STAGED.with(|staged| staged.borrow().len())
}

/// Drops what was staged since `mark` (its transaction or savepoint rolled back).
pub fn discard_from(mark: usize) {
    STAGED.with(|staged| staged.borrow_mut().truncate(mark));
}

/// Publishes what was staged since `mark` (its transaction committed) to the metrics recorder.
pub fn publish_from(mark: usize) {
    let events: Vec<Event> = STAGED.with(|staged| {
        let mut staged = staged.borrow_mut();
        let from = mark.min(staged.len());
        staged.split_off(from)
    });
    events.into_iter().for_each(publish);
}

fn publish(event: Event) {
    match event {
        Event::PledgeCreated { pence } => {
            metrics::counter!("cs_pledges_created_total").increment(1);
            metrics::counter!("cs_pledged_pence_total").increment(pence.max(0).unsigned_abs());
        }
        Event::PledgePaid { pence } => {
            metrics::counter!("cs_pledges_paid_total").increment(1);
            metrics::counter!("cs_paid_pence_total").increment(pence.max(0).unsigned_abs());
        }
        Event::PledgeCancelled => metrics::counter!("cs_pledges_cancelled_total").increment(1),
        Event::PledgeExpired => metrics::counter!("cs_pledges_expired_total").increment(1),
        Event::PledgeRefunded => metrics::counter!("cs_pledges_refunded_total").increment(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged() -> Vec<Event> {
        STAGED.with(|s| s.borrow().clone())
    }

    #[test]
    fn a_rolled_back_savepoint_drops_only_its_own_events() {
        let outer = mark();
        stage(Event::PledgeCreated { pence: 100 });
        let inner = mark();
        stage(Event::PledgeCancelled);
        discard_from(inner);
        assert_eq!(staged()[outer..], [Event::PledgeCreated { pence: 100 }]);
        publish_from(outer);
        assert_eq!(staged().len(), outer, "published events are no longer staged");
    }
}
