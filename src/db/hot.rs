//! Group commit at a hot row, on PostgreSQL. Every pledge to an offer updates the offer's row
//! (and its escrow account's), and PostgreSQL serialises those updates on the row lock: each
//! commit hands the lock to the next waiter, which must re-check its update against the new row
//! version, and each transaction pays its own commit. So this process runs its write
//! transactions at one hot row ([`super::Db::write_at`], `offer:<id>`) from one queue: one
//! runner takes what has queued (at most [`MAX_BATCH`]) and runs it on one pooled connection in
//! one transaction, each in its own savepoint ([`super::group`]), answering each only after the
//! shared commit; what queues meanwhile is the next batch. The row lock is taken once per batch
//! instead of once per pledge, and waiting pledges hold no connection. Other instances have
//! their own queues; the row lock still orders all of them.
//!
//! It pays where commits cost: on a durable PostgreSQL (fsync, synchronous commit) each commit
//! waits for its WAL flush while it holds the row lock. Measured with the pledge-surge
//! benchmark (2 cores, 64 clients, one offer, 10,000 pledges; README "PostgreSQL at the hot
//! offer"): before, each transaction alone with at most 4 of a process's at the row at once,
//! 996 and 1,083 pledges/s; with group commit 1,239 and 1,296 (interleaved, same cluster).
//! On the tests' cluster (no fsync, asynchronous commit) it gains nothing.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::group::{self, Pending, TransactionJob};
use super::{Db, DbConnection, PooledDb};
use crate::error::AppError;

/// At most this many write transactions at one row share one transaction. Measured on a
/// durable PostgreSQL (fsync and synchronous commit on), 64 clients, 10,000 pledges, one runner:
/// 8 gave 961 and 970 pledges/s, 16 gave 1,068 to 1,269, 32 gave 1,017 to 1,413 (median 1,226),
/// 64 gave 1,013 and 1,365; the machine varies by about 20 % (checkpoints of the durable
/// cluster). Waiting 0.5 or 2 ms for a batch to fill gave 1,249 and 1,108: no wait is kept.
/// Two runners per row (one batch at its work up to the lock while another holds it) gave 357
/// to 518: one runner.
pub const MAX_BATCH: usize = 32;

/// Each hot row's queue; a row is in the map exactly while its runner works on it.
#[derive(Default)]
pub struct HotRows {
    queues: Mutex<HashMap<String, VecDeque<Box<dyn TransactionJob>>>>,
}

impl HotRows {
    /// Runs `work` in a write transaction queued at `row`, perhaps sharing its commit with the
    /// transactions queued with it.
    pub async fn write<T, F>(self: &Arc<Self>, db: &Db, row: &str, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn TransactionJob> = Box::new(Pending::new(work, reply));
        let start_runner = {
            let mut queues = self.lock();
            match queues.get_mut(row) {
                Some(queue) => {
                    queue.push_back(job);
                    false
                }
                None => {
                    queues.insert(row.to_owned(), VecDeque::from([job]));
                    true
                }
            }
        };
        if start_runner {
            let (rows, db, row) = (self.clone(), db.clone(), row.to_owned());
            tokio::task::spawn_blocking(move || rows.run(&db, &row));
        }
        answer
            .await
            .map_err(|_| AppError::Internal(anyhow::anyhow!("a hot row's queue dropped a write")))?
    }

    /// The runner: batches from the row's queue until it is empty, then leaves the map.
    fn run(&self, db: &Db, row: &str) {
        let _cleanup = Cleanup { rows: self, row };
        let mut connection = Pooled { db, conn: None };
        loop {
            let mut batch: Vec<Box<dyn TransactionJob>> = {
                let mut queues = self.lock();
                let Some(queue) = queues.get_mut(row) else { return };
                if queue.is_empty() {
                    queues.remove(row);
                    return;
                }
                let take = queue.len().min(MAX_BATCH);
                queue.drain(..take).collect()
            };
            group::run_batch(&mut connection, &mut batch);
            for job in batch {
                job.finish();
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Box<dyn TransactionJob>>>> {
        // The map holds no invariant a panic could break.
        self.queues.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[cfg(test)]
    fn rows_in_use(&self) -> usize {
        self.lock().len()
    }
}

/// Should a runner stop by a panic, its row leaves the map (the writes still queued are
/// dropped, and their callers hear so), so that the next write starts a new runner.
struct Cleanup<'a> {
    rows: &'a HotRows,
    row: &'a str,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.rows.lock().remove(self.row);
        }
    }
}

/// A batch's connection from the pool, kept across batches while the runner works.
struct Pooled<'a> {
    db: &'a Db,
    conn: Option<PooledDb>,
}

impl group::Connections for Pooled<'_> {
    fn open(&mut self) -> Result<&mut DbConnection, AppError> {
        if self.conn.is_none() {
            self.conn = Some(self.db.conn()?);
        }
        Ok(self.conn.as_mut().expect("the connection was just taken"))
    }

    fn drop_if_unusable(&mut self) {
        use diesel::r2d2::R2D2Connection;
        if self
            .conn
            .as_mut()
            .is_some_and(|c| c.is_broken() || group::in_transaction(c))
        {
            // Given back broken, the pool closes it rather than lend it again.
            self.conn = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use diesel::sql_types::BigInt;

    use super::*;
    use crate::config::{DatabaseSettings, DatabaseTarget};

    fn database() -> Option<Db> {
        let url = std::env::var("CS_TEST_POSTGRES_URL").ok()?;
        let name = format!("cs_hot_{}", uuid::Uuid::now_v7().simple());
        let mut admin = diesel::PgConnection::establish(&url).expect("connect");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("create");
        let (base, _) = url.rsplit_once('/').expect("a database path");
        let db = Db::connect(
            &DatabaseSettings::default(),
            DatabaseTarget::Postgres(format!("{base}/{name}")),
        )
        .expect("database");
        db.conn()
            .expect("connection")
            .batch_execute("CREATE TABLE t (n BIGINT PRIMARY KEY); CREATE TABLE hot (id INT PRIMARY KEY, total BIGINT NOT NULL); INSERT INTO hot VALUES (1, 0)")
            .expect("tables");
        Some(db)
    }

    /// Adds `n` to the hot row and inserts it: a duplicate `n` fails with a unique violation.
    fn write(conn: &mut DbConnection, n: i64) -> Result<i64, AppError> {
        diesel::sql_query("UPDATE hot SET total = total + $1 WHERE id = 1")
            .bind::<BigInt, _>(n)
            .execute(conn)?;
        diesel::sql_query("INSERT INTO t (n) VALUES ($1)")
            .bind::<BigInt, _>(n)
            .execute(conn)?;
        Ok(n)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_at_a_hot_row_share_commits_and_keep_their_own_outcomes() {
        let Some(db) = database() else {
            panic!("CS_TEST_POSTGRES_URL is not set: run the suite with ./scripts/test");
        };
        // 200 writes at once, every tenth a duplicate of an earlier number: those fail alone.
        let tasks: Vec<_> = (0..200i64)
            .map(|i| {
                let db = db.clone();
                let n = if i % 10 == 9 { i - 1 } else { i };
                tokio::spawn(async move { db.write_at("offer:1", move |conn| write(conn, n)).await })
            })
            .collect();
        let mut ok = BTreeSet::new();
        let mut failed = 0;
        for task in tasks {
            match task.await.expect("task") {
                Ok(n) => assert!(ok.insert(n)),
                Err(_) => failed += 1,
            }
        }
        assert_eq!((ok.len(), failed), (180, 20));
        #[derive(QueryableByName)]
        struct Total {
            #[diesel(sql_type = BigInt)]
            total: i64,
            #[diesel(sql_type = BigInt)]
            rows: i64,
        }
        let mut conn = db.conn().expect("connection");
        let total: Total =
            diesel::sql_query("SELECT (SELECT total FROM hot) AS total, (SELECT COUNT(*) FROM t) AS rows")
                .get_result(&mut *conn)
                .expect("total");
        // Only the committed writes moved the hot row: each failed one was rolled back alone.
        assert_eq!((total.total, total.rows), (ok.iter().sum::<i64>(), 180));
        assert_eq!(db.hot_rows.rows_in_use(), 0, "the runner left the map");
    }
}
