//! Turns at a hot row. Every pledge to an offer updates the offer's row (and its escrow
//! account's), and PostgreSQL serialises those updates on the row lock. When many transactions
//! wait on one row lock, each commit wakes the next waiter, which must re-check its update
//! against the new row version, and the waiting backends crowd the processor the lock holder
//! needs. Measured with the pledge-surge benchmark (2 cores, 64 clients, one offer), pool of 16
//! connections: with every transaction free to wait on the row, 422 to 501 pledges/s; with 4
//! at a time, 472 to 572. So this process lets only a few of its write
//! transactions at a time at one row, and the rest wait their turn here, in order, holding no
//! database connection. Other instances have their own turns; the row lock still orders all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Write transactions of this process at one hot row at a time: one holds the lock while the
/// next ones do their work up to it. Measured as above: 3 gave 498 and 549 pledges/s, 4 gave
/// 572, 472 and 564, 5 gave 572 and 532, 6 gave 488 (the machine varies by about 10 %).
pub const WRITERS_PER_ROW: usize = 4;

#[derive(Default)]
pub struct HotRows {
    turns: Mutex<Turns>,
}

/// A semaphore per row in use, removed when its last turn ends. One left by a waiter that gave
/// up (a dropped request) is swept when the map has grown.
#[derive(Default)]
struct Turns {
    rows: HashMap<String, Arc<Semaphore>>,
    sweep_at: usize,
}

/// A turn at a hot row, given back when dropped.
pub struct Turn<'a> {
    rows: &'a HotRows,
    key: String,
    semaphore: Option<Arc<Semaphore>>,
    permit: Option<OwnedSemaphorePermit>,
}

impl HotRows {
    /// Waits for a turn at the row `key` (first come, first served).
    pub async fn turn(&self, key: &str) -> Turn<'_> {
        let semaphore = {
            let mut turns = self.lock();
            if turns.rows.len() >= turns.sweep_at {
                turns.rows.retain(|_, s| Arc::strong_count(s) > 1);
                turns.sweep_at = (2 * turns.rows.len()).max(64);
            }
            turns
                .rows
                .entry(key.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(WRITERS_PER_ROW)))
                .clone()
        };
        // The semaphore is never closed, so acquiring cannot fail; if it somehow did, going
        // on without a turn is still correct (the row lock orders the writes).
        let permit = semaphore.clone().acquire_owned().await.ok();
        Turn {
            rows: self,
            key: key.to_owned(),
            semaphore: Some(semaphore),
            permit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Turns> {
        // The map holds no invariant a panic could break.
        self.turns.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[cfg(test)]
    fn rows_in_use(&self) -> usize {
        self.lock().rows.len()
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut turns = self.rows.lock();
        // Under the map's lock no one can take a new handle on the semaphore, so when only
        // the map and this turn hold it, no one is waiting.
        if let Some(semaphore) = self.semaphore.take() {
            if Arc::strong_count(&semaphore) == 2 {
                turns.rows.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_a_few_hold_a_row_and_the_map_empties() {
        let rows = Arc::new(HotRows::default());
        // Per row: how many hold a turn now, and the most that ever did at once.
        let inside = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let most = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let mut tasks = Vec::new();
        for i in 0..40 {
            let (rows, inside, most) = (rows.clone(), inside.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                let row = i % 2;
                let _turn = rows.turn(&format!("offer:{row}")).await;
                let now = inside[row].fetch_add(1, Ordering::SeqCst) + 1;
                most[row].fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                inside[row].fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        for row in 0..2 {
            let most = most[row].load(Ordering::SeqCst);
            assert!((2..=WRITERS_PER_ROW).contains(&most), "row {row}: {most} at once");
        }
        assert_eq!(rows.rows_in_use(), 0);
        // A waiter that gives up leaves nothing behind once the map is swept.
        let held = rows.turn("offer:x").await;
        let gave_up = tokio::time::timeout(Duration::from_millis(10), async {
            let _all: Vec<_> = take_every_turn(&rows).await;
        })
        .await;
        assert!(gave_up.is_err());
        drop(held);
        assert_eq!(rows.rows_in_use(), 0);
    }

    /// Asks for every turn at `offer:x`: the last never comes while another is held.
    async fn take_every_turn(rows: &HotRows) -> Vec<Turn<'_>> {
        let mut turns = Vec::new();
        for _ in 0..WRITERS_PER_ROW {
            turns.push(rows.turn("offer:x").await);
        }
        turns
    }
}
