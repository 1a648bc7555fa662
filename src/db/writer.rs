//! SQLite's one writer. SQLite lets one connection write at a time, so this process gives all
//! its writes to one thread with one connection, in the order they were asked for:
//! - Writers do not contend for the file lock. SQLite's busy handler sleeps in growing steps
//!   (1 ms up to 100 ms) rather than waking when the lock frees, which wrecks throughput and
//!   latency under load; a mutex is not first come, first served either, and its tail latency
//!   shows it. Other processes on the same file still meet the busy timeout.
//! - The connection's page cache and prepared statements stay warm: a connection whose file
//!   another connection changed drops its whole cache at its next transaction.
//! - Group commit ([`super::group`]): write transactions that queue while one runs are run
//!   together, each in its own savepoint, under one `BEGIN IMMEDIATE ... COMMIT`.

use std::sync::mpsc;

use diesel::r2d2::{ManageConnection, R2D2Connection};
use tokio::sync::oneshot;

use super::group::{self, guarded, in_transaction, Pending, TransactionJob};
use super::{ConnectionManager, DbConnection};
use crate::error::AppError;

/// At most this many write transactions share one commit: enough to spread the commit's cost,
/// few enough that the first of them does not wait long for the last.
const MAX_BATCH: usize = 16;

/// The handle on the writer thread. The thread ends when the last handle is dropped.
pub struct SqliteWriter {
    queue: mpsc::Sender<Job>,
}

enum Job {
    /// A write transaction, which may share its commit with its neighbours in the queue.
    Transaction(Box<dyn TransactionJob>),
    /// Work that manages its own transactions (or none), run alone.
    Alone(AloneWork),
}

/// Work run alone, given the writer connection or the reason there is none.
type AloneWork = Box<dyn FnOnce(Result<&mut DbConnection, AppError>) + Send>;

impl SqliteWriter {
    /// Starts the writer thread; it opens its connection when first needed, and again after a
    /// failure broke it.
    pub fn start(manager: ConnectionManager) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(&manager, &jobs))?;
        Ok(Self { queue })
    }

    /// Runs `work` in a write transaction, waiting asynchronously for its turn.
    pub async fn transaction<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    {
        self.enqueue(work)?.await.map_err(|_| writer_gone())?
    }

    /// Blocking code: as [`Self::transaction`], blocking the calling thread. Not for async code.
    pub fn transaction_blocking<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    {
        self.enqueue(work)?.blocking_recv().map_err(|_| writer_gone())?
    }

    /// Blocking code: runs `work`, which manages its own transactions, on the writer
    /// connection in its turn. Not for async code.
    pub fn alone_blocking<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let span = tracing::Span::current();
        self.send(Job::Alone(Box::new(
            move |conn: Result<&mut DbConnection, AppError>| {
                let result = conn.and_then(|conn| span.in_scope(|| guarded(|| work(conn))));
                let _ = reply.send(result);
            },
        )))?;
        answer.blocking_recv().map_err(|_| writer_gone())?
    }

    /// Queues a write transaction; its outcome comes on the answer.
    fn enqueue<T, F>(&self, work: F) -> Result<oneshot::Receiver<Result<T, AppError>>, AppError>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Transaction(Box::new(Pending::new(work, reply))))?;
        Ok(answer)
    }

    fn send(&self, job: Job) -> Result<(), AppError> {
        self.queue.send(job).map_err(|_| writer_gone())
    }
}

fn writer_gone() -> AppError {
    AppError::Internal(anyhow::anyhow!("the SQLite writer thread has stopped"))
}

/// The writer thread: takes jobs in order until every handle is dropped.
fn run(manager: &ConnectionManager, jobs: &mpsc::Receiver<Job>) {
    let mut connection: Option<DbConnection> = None;
    let mut next: Option<Job> = None;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        match job {
            Job::Alone(work) => match open(manager, &mut connection) {
                Ok(conn) => work(Ok(conn)),
                Err(e) => work(Err(e)),
            },
            Job::Transaction(first) => {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match jobs.try_recv() {
                        Ok(Job::Transaction(job)) => batch.push(job),
                        Ok(alone) => {
                            next = Some(alone);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                group::run_batch(
                    &mut WriterConnection {
                        manager,
                        connection: &mut connection,
                    },
                    &mut batch,
                );
                for job in batch {
                    job.finish();
                }
            }
        }
        drop_if_unusable(&mut connection);
    }
}

/// A connection left broken, or inside a transaction (work that manages its own and failed
/// half-way, or a rollback that failed), is closed, which rolls back what it left open; the
/// next job opens another.
fn drop_if_unusable(connection: &mut Option<DbConnection>) {
    if connection.as_mut().is_some_and(|c| c.is_broken() || in_transaction(c)) {
        *connection = None;
    }
}

/// The writer's one connection, as a batch takes it.
struct WriterConnection<'a> {
    manager: &'a ConnectionManager,
    connection: &'a mut Option<DbConnection>,
}

impl group::Connections for WriterConnection<'_> {
    fn open(&mut self) -> Result<&mut DbConnection, AppError> {
        open(self.manager, self.connection)
    }

    fn drop_if_unusable(&mut self) {
        drop_if_unusable(self.connection);
    }
}

/// The writer connection, opened if there is none.
fn open<'a>(
    manager: &ConnectionManager,
    connection: &'a mut Option<DbConnection>,
) -> Result<&'a mut DbConnection, AppError> {
    if connection.is_none() {
        let conn = manager
            .connect()
            .map_err(|e| AppError::Unavailable(format!("cannot open the database for writing: {e}")))?;
        *connection = Some(conn);
    }
    Ok(connection.as_mut().expect("the writer connection was just opened"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use diesel::sql_types::BigInt;

    use super::*;
    use crate::config::{DatabaseSettings, DatabaseTarget};
    use crate::db::Db;

    type Write<T> = Box<dyn FnMut(&mut DbConnection) -> Result<T, AppError> + Send>;

    fn database(dir: &tempfile::TempDir) -> Db {
        let db = Db::connect(
            &DatabaseSettings::default(),
            DatabaseTarget::Sqlite(dir.path().join("writer.db")),
        )
        .expect("database");
        db.write_blocking(|conn| {
            conn.batch_execute("CREATE TABLE t (n BIGINT PRIMARY KEY)")?;
            Ok(())
        })
        .expect("table");
        db
    }

    fn insert(conn: &mut DbConnection, n: i64) -> Result<(), AppError> {
        diesel::sql_query("INSERT INTO t (n) VALUES (?)")
            .bind::<BigInt, _>(n)
            .execute(match conn {
                DbConnection::Sqlite(c) => c,
                DbConnection::Postgresql(_) => unreachable!("an SQLite test"),
            })?;
        Ok(())
    }

    fn rows(db: &Db) -> BTreeSet<i64> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let mut conn = db.conn().expect("connection");
        let DbConnection::Sqlite(lite) = &mut *conn else {
            unreachable!("an SQLite test")
        };
        diesel::sql_query("SELECT n FROM t")
            .load::<Row>(lite)
            .expect("rows")
            .into_iter()
            .map(|r| r.n)
            .collect()
    }

    /// Queues `writes` behind a write that holds the writer for a while, so that they share
    /// commits, and answers their outcomes in order.
    fn queued<T: Send + 'static>(db: &Db, writes: Vec<Write<T>>) -> Vec<Result<T, AppError>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let slow = {
                let db = db.clone();
                tokio::spawn(async move {
                    db.write(|_| {
                        std::thread::sleep(Duration::from_millis(300));
                        Ok(())
                    })
                    .await
                })
            };
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut handles = Vec::new();
            for work in writes {
                let db = db.clone();
                handles.push(tokio::spawn(async move { db.write(work).await }));
                // Queue them in order.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            slow.await.expect("slow write").expect("slow write");
            let mut outcomes = Vec::new();
            for handle in handles {
                outcomes.push(handle.await.expect("write task"));
            }
            outcomes
        })
    }

    #[test]
    fn writes_sharing_a_commit_keep_their_own_outcomes() {
        let dir = tempfile::tempdir().expect("dir");
        let db = database(&dir);
        let mut writes: Vec<Write<i64>> = Vec::new();
        for n in 1..=20i64 {
            writes.push(Box::new(move |conn| {
                insert(conn, n)?;
                match n {
                    // A rule broken after writing: rolled back alone.
                    5 | 10 => Err(AppError::conflict("no")),
                    // A panic after writing: rolled back alone, and the writer lives on.
                    7 => panic!("a write panics"),
                    // A duplicate of an earlier write in the same commit.
                    12 => insert(conn, 11).map(|()| n),
                    _ => Ok(n),
                }
            }));
        }
        let outcomes = queued(&db, writes);
        for (n, outcome) in (1..=20i64).zip(&outcomes) {
            match n {
                5 | 10 => assert!(matches!(outcome, Err(AppError::Conflict(_))), "{n}: {outcome:?}"),
                7 => assert!(matches!(outcome, Err(AppError::Internal(_))), "{n}: {outcome:?}"),
                12 => assert!(
                    outcome.as_ref().is_err_and(|e| e.is_unique_violation()),
                    "{n}: {outcome:?}"
                ),
                _ => assert_eq!(outcome.as_ref().ok(), Some(&n)),
            }
        }
        let expected: BTreeSet<i64> = (1..=20).filter(|n| ![5, 7, 10, 12].contains(n)).collect();
        assert_eq!(rows(&db), expected);
        // The writer still works.
        db.write_blocking(|conn| insert(conn, 100)).expect("a later write");
        assert!(rows(&db).contains(&100));
    }

    #[test]
    fn a_shared_commit_that_fails_runs_each_write_alone() {
        let dir = tempfile::tempdir().expect("dir");
        let db = database(&dir);
        let runs = Arc::new(AtomicUsize::new(0));
        let mut writes: Vec<Write<i64>> = Vec::new();
        for n in 1..=6i64 {
            let runs = runs.clone();
            writes.push(Box::new(move |conn| {
                insert(conn, n)?;
                // Write 4 meets a busy database the first time only: the shared transaction
                // is abandoned and every write runs again on its own.
                if n == 4 && runs.fetch_add(1, Ordering::SeqCst) == 0 {
                    return Err(AppError::Database(diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::SerializationFailure,
                        Box::new(String::from("database is locked")),
                    )));
                }
                Ok(n)
            }));
        }
        let outcomes = queued(&db, writes);
        for (n, outcome) in (1..=6i64).zip(&outcomes) {
            assert_eq!(outcome.as_ref().ok(), Some(&n), "{n}: {outcome:?}");
        }
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert_eq!(rows(&db), (1..=6).collect());
    }
}
