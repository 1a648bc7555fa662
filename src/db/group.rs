//! Group commit: write transactions that queue while one runs are run together, each in its
//! own savepoint, under one transaction and one commit. Each keeps its own outcome (a failing
//! one is rolled back to its savepoint alone), and no one hears of theirs until the shared
//! commit is done, so each is exactly as if it had committed on its own, in queue order. If
//! the shared transaction itself fails (a busy or broken database, a serialization failure or
//! deadlock, a failed commit), each is run again on its own, with the usual retries: a write
//! transaction's work does nothing outside the database (see [`super::write_transaction`]), so
//! running it again is safe. Used by SQLite's one writer ([`super::writer`]) and by the queues
//! at PostgreSQL's hot rows ([`super::hot`]).

use std::panic::{catch_unwind, AssertUnwindSafe};

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use tokio::sync::oneshot;

use super::{write_transaction, DbConnection};
use crate::error::AppError;

/// The connection's transaction manager: at depth 0 it begins and commits, deeper it takes,
/// releases and rolls back to savepoints.
type Transactions = <DbConnection as diesel::Connection>::TransactionManager;

/// Where a batch's connection comes from: SQLite's writer keeps one, a hot row's queue takes
/// one from the pool.
pub(super) trait Connections {
    /// The connection, opened if there is none.
    fn open(&mut self) -> Result<&mut DbConnection, AppError>;
    /// Closes a connection left broken or inside a transaction (closing rolls back what it
    /// left open); the next `open` makes another.
    fn drop_if_unusable(&mut self);
}

/// Runs `work`, turning a panic into an error so that the writer thread outlives it.
pub(super) fn guarded<T>(work: impl FnOnce() -> Result<T, AppError>) -> Result<T, AppError> {
    catch_unwind(AssertUnwindSafe(work))
        .unwrap_or_else(|_| Err(AppError::Internal(anyhow::anyhow!("a database write panicked"))))
}

/// A write transaction in the queue, with its caller's reply.
pub(super) trait TransactionJob: Send {
    /// Runs the work in a savepoint of the shared transaction, keeping its outcome. `Err`
    /// means the shared transaction can no longer be trusted.
    fn run_in_savepoint(&mut self, conn: &mut DbConnection) -> Result<(), AppError>;
    /// Runs the work in a transaction of its own (with the usual retries), keeping its outcome.
    fn run_alone(&mut self, conn: &mut DbConnection);
    /// Forgets the kept outcome (its transaction was rolled back).
    fn forget(&mut self);
    /// Keeps `error` as the outcome, without running the work (no connection could be had).
    fn fail(&mut self, error: AppError);
    /// Answers the caller with the kept outcome. There is none only when the writer could not
    /// open its connection to run the work.
    fn finish(self: Box<Self>);
}

pub(super) struct Pending<T, F> {
    work: F,
    outcome: Option<Result<T, AppError>>,
    reply: oneshot::Sender<Result<T, AppError>>,
    span: tracing::Span,
}

impl<T, F> Pending<T, F> {
    pub(super) fn new(work: F, reply: oneshot::Sender<Result<T, AppError>>) -> Self {
        Self {
            work,
            outcome: None,
            reply,
            span: tracing::Span::current(),
        }
    }
}

impl<T, F> TransactionJob for Pending<T, F>
where
    T: Send,
    F: FnMut(&mut DbConnection) -> Result<T, AppError> + Send,
{
    fn run_in_savepoint(&mut self, conn: &mut DbConnection) -> Result<(), AppError> {
        let _entered = self.span.enter();
        // Inside the shared transaction these are `SAVEPOINT`, `RELEASE` and `ROLLBACK TO`.
        Transactions::begin_transaction(conn)?;
        let ours = depth(conn);
        let staged = crate::metrics::staged::mark();
        let work = &mut self.work;
        let outcome = guarded(|| work(&mut *conn));
        if depth(conn) != ours {
            // The work left a transaction of its own open (it panicked inside one): only
            // rolling everything back is safe.
            return Err(AppError::Internal(anyhow::anyhow!(
                "a write left its transaction unbalanced"
            )));
        }
        match outcome {
            Ok(value) => {
                Transactions::commit_transaction(conn)?;
                self.outcome = Some(Ok(value));
                Ok(())
            }
            // Busy or broken: the work may succeed on its own.
            Err(e) if e.is_retryable() => Err(e),
            Err(e) => {
                crate::metrics::staged::discard_from(staged);
                Transactions::rollback_transaction(conn)?;
                self.outcome = Some(Err(e));
                Ok(())
            }
        }
    }

    fn run_alone(&mut self, conn: &mut DbConnection) {
        let _entered = self.span.enter();
        let work = &mut self.work;
        self.outcome = Some(guarded(|| write_transaction(conn, &mut *work)));
    }

    fn forget(&mut self) {
        self.outcome = None;
    }

    fn fail(&mut self, error: AppError) {
        self.outcome = Some(Err(error));
    }

    fn finish(self: Box<Self>) {
        let outcome = self
            .outcome
            .unwrap_or_else(|| Err(AppError::Unavailable("cannot open the database for writing".into())));
        // The caller may have gone (a dropped request): its outcome stands regardless.
        let _ = self.reply.send(outcome);
    }
}

/// How many transaction levels are open (0 outside a transaction); `u32::MAX` when diesel
/// no longer knows (a broken connection).
pub(super) fn depth(conn: &mut DbConnection) -> u32 {
    match Transactions::transaction_manager_status_mut(conn).transaction_depth() {
        Ok(depth) => depth.map_or(0, u32::from),
        Err(_) => u32::MAX,
    }
}

pub(crate) fn in_transaction(conn: &mut DbConnection) -> bool {
    depth(conn) != 0
}

/// Runs the batch under one commit, or each on its own when that fails. Metrics staged by
/// the work are published after the shared commit ([`crate::metrics::staged`]).
pub(super) fn run_batch(connections: &mut impl Connections, batch: &mut [Box<dyn TransactionJob>]) {
    // With no connection, every write of the batch hears why at once (rather than each waiting
    // for one in turn).
    if let Err(e) = connections.open() {
        return fail_all(batch, &e);
    }
    if batch.len() > 1 {
        let staged = crate::metrics::staged::mark();
        let shared = connections
            .open()
            .and_then(|conn| together(conn, batch).inspect_err(|_| roll_back_everything(conn)));
        match shared {
            Ok(()) => return crate::metrics::staged::publish_from(staged),
            Err(e) => {
                crate::metrics::staged::discard_from(staged);
                metrics::counter!("cs_db_group_commit_failures_total").increment(1);
                tracing::debug!(error = %e, jobs = batch.len(), "shared commit failed; running each write alone");
                batch.iter_mut().for_each(|job| job.forget());
                connections.drop_if_unusable();
            }
        }
    }
    for i in 0..batch.len() {
        match connections.open() {
            Ok(conn) => batch[i].run_alone(conn),
            Err(e) => return fail_all(&mut batch[i..], &e),
        }
        connections.drop_if_unusable();
    }
}

/// Answers each of `jobs` that no connection could be had (503).
fn fail_all(jobs: &mut [Box<dyn TransactionJob>], error: &AppError) {
    tracing::error!(error = %error, jobs = jobs.len(), "cannot open the database for writing");
    let reason = match error {
        AppError::Unavailable(reason) => reason.clone(),
        other => format!("cannot open the database for writing: {other}"),
    };
    for job in jobs {
        job.fail(AppError::Unavailable(reason.clone()));
    }
}

fn together(conn: &mut DbConnection, batch: &mut [Box<dyn TransactionJob>]) -> Result<(), AppError> {
    match conn {
        DbConnection::Sqlite(lite) => AnsiTransactionManager::begin_transaction_sql(lite, "BEGIN IMMEDIATE")?,
        DbConnection::Postgresql(pg) => AnsiTransactionManager::begin_transaction(pg)?,
    }
    for job in batch.iter_mut() {
        job.run_in_savepoint(conn)?;
    }
    if depth(conn) != 1 {
        return Err(AppError::Internal(anyhow::anyhow!(
            "the shared transaction is unbalanced"
        )));
    }
    Transactions::commit_transaction(conn)?;
    Ok(())
}

/// Rolls back every open level of the transaction (best effort: a connection left inside one
/// is replaced after the batch).
fn roll_back_everything(conn: &mut DbConnection) {
    while in_transaction(conn) {
        if Transactions::rollback_transaction(conn).is_err() {
            break;
        }
    }
}
