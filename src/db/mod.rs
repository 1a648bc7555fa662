//! Storage: one code path over SQLite and PostgreSQL through diesel's `MultiConnection`, an r2d2
//! pool whose connections are set up per backend, write transactions (`BEGIN IMMEDIATE` on
//! SQLite) with retry, and running blocking database work off the async executor.

pub mod backup;
pub mod fixed;
mod group;
mod hot;
pub mod migrate;
pub mod schema;
pub mod text;
mod writer;

use std::path::PathBuf;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection, R2D2Connection};

use crate::config::{DatabaseSettings, DatabaseTarget};
use crate::error::AppError;

/// A connection to either backend. Queries built with diesel's DSL run on both.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl DbConnection {
    pub fn backend(&self) -> Backend {
        match self {
            DbConnection::Postgresql(_) => Backend::Postgres,
            DbConnection::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// Opens connections for the backend the URL names. (The derived `establish` tries every
/// backend and drops their errors, so a PostgreSQL server that is down would show as a bad URL.)
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    target: DatabaseTarget,
    sqlite_busy_timeout_ms: u32,
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = diesel::ConnectionError;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        match &self.target {
            DatabaseTarget::Postgres(url) => Ok(DbConnection::Postgresql(diesel::PgConnection::establish(url)?)),
            DatabaseTarget::Sqlite(path) => {
                let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())?;
                set_up_sqlite(&mut conn, self.sqlite_busy_timeout_ms)
                    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

/// The busy timeout comes first so that the rest waits for a lock instead of failing. WAL lets
/// readers run beside the one writer; NORMAL sync is durable at checkpoints under WAL. Switching
/// a new file to WAL can still answer "database is locked" at once, without waiting, while
/// another process switches it (several `migrate` at once): that is tried again until the busy
/// timeout has passed.
fn set_up_sqlite(conn: &mut diesel::SqliteConnection, busy_timeout_ms: u32) -> QueryResult<()> {
    let deadline = std::time::Instant::now() + Duration::from_millis(u64::from(busy_timeout_ms));
    loop {
        let set_up = conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {busy_timeout_ms}; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;"
        ));
        match set_up {
            Err(e) if e.to_string().contains("database is locked") && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            done => return done,
        }
    }
}

pub type DbPool = Pool<ConnectionManager>;
pub type PooledDb = PooledConnection<ConnectionManager>;

/// The database handle shared by handlers and workers.
#[derive(Clone)]
pub struct Db {
    pool: DbPool,
    backend: Backend,
    /// SQLite: this process's one writer (see [`writer`]).
    sqlite_writer: Option<std::sync::Arc<writer::SqliteWriter>>,
    /// PostgreSQL: the queues at hot rows, for group commit (see [`hot`]).
    hot_rows: std::sync::Arc<hot::HotRows>,
    /// How many callers are waiting for a pooled connection now (for `/metrics`).
    waiting: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// The pool's state now: connections in use and idle, and callers waiting for one.
#[derive(Debug, Clone, Copy)]
pub struct PoolStatus {
    pub in_use: u32,
    pub idle: u32,
    pub waiting: usize,
}

/// How many times a transaction that hit a serialization failure or deadlock (PostgreSQL) is
/// tried in all. SQLite has already waited its busy timeout before reporting a busy database,
/// so it gets fewer tries.
const POSTGRES_TRANSACTION_ATTEMPTS: u32 = 8;
const SQLITE_TRANSACTION_ATTEMPTS: u32 = 2;

impl Db {
    /// Creates the pool and opens a first connection, so that a wrong URL or an unreachable
    /// server stops the start with the real error. Creates the SQLite file's folder.
    pub fn connect(settings: &DatabaseSettings, target: DatabaseTarget) -> anyhow::Result<Self> {
        let backend = match &target {
            DatabaseTarget::Sqlite(path) => {
                create_parent_dir(path)?;
                Backend::Sqlite
            }
            DatabaseTarget::Postgres(_) => Backend::Postgres,
        };
        let manager = ConnectionManager {
            target,
            sqlite_busy_timeout_ms: settings.sqlite_busy_timeout_ms,
        };
        // Open one connection by hand first: r2d2 would only report a time-out.
        let first = manager
            .connect()
            .map_err(|e| anyhow::anyhow!("cannot connect to the database: {e}"))?;
        drop(first);
        let pool = Pool::builder()
            .max_size(settings.pool_size)
            .min_idle(Some(1))
            // No `SELECT 1` before every checkout (a round trip per request on the hot path):
            // a broken connection is noticed by `has_broken` and replaced.
            .test_on_check_out(false)
            .connection_timeout(Duration::from_millis(settings.pool_timeout_ms))
            .build(manager.clone())
            .map_err(|e| anyhow::anyhow!("cannot open the database pool: {e}"))?;
        let sqlite_writer = match backend {
            Backend::Sqlite => Some(std::sync::Arc::new(
                writer::SqliteWriter::start(manager.clone())
                    .map_err(|e| anyhow::anyhow!("cannot start the SQLite writer thread: {e}"))?,
            )),
            Backend::Postgres => None,
        };
        Ok(Self {
            pool,
            backend,
            sqlite_writer,
            hot_rows: Default::default(),
            waiting: Default::default(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A connection from the pool, for blocking code (workers, the CLI).
    pub fn conn(&self) -> Result<PooledDb, AppError> {
        use std::sync::atomic::Ordering;
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let got = self.pool.get();
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        got.map_err(|e| AppError::Unavailable(format!("no database connection available: {e}")))
    }

    /// The pool's state now (for `/metrics`).
    pub fn pool_status(&self) -> PoolStatus {
        let state = self.pool.state();
        PoolStatus {
            in_use: state.connections.saturating_sub(state.idle_connections),
            idle: state.idle_connections,
            waiting: self.waiting.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Runs blocking database work on the blocking thread pool, inside the caller's tracing span.
    pub async fn run<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    {
        let db = self.clone();
        spawn_blocking_in_span(move || {
            let mut conn = db.conn()?;
            work(&mut conn)
        })
        .await
    }

    /// Runs `work` in a write transaction (see [`write_transaction`]): on SQLite by this
    /// process's writer, on PostgreSQL on the blocking pool.
    pub async fn write<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    {
        match &self.sqlite_writer {
            Some(writer) => writer.transaction(work).await,
            None => {
                let db = self.clone();
                spawn_blocking_in_span(move || db.write_blocking(work)).await
            }
        }
    }
}

impl Db {
    /// As [`Db::write`], for a transaction that updates the hot row named `row` (such as
    /// `offer:<id>` for a pledge): on PostgreSQL it is queued at that row and may share its
    /// transaction and commit with the others queued there (see [`hot`]). SQLite's writer
    /// already runs every write in order, with group commit.
    pub async fn write_at<T, F>(&self, row: &str, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    {
        match self.sqlite_writer {
            Some(_) => self.write(work).await,
            None => self.hot_rows.write(self, row, work).await,
        }
    }
}

impl Db {
    /// Blocking code (jobs): runs `work`, which manages its own transactions, by this
    /// process's SQLite writer in its turn, or on a pooled PostgreSQL connection.
    pub fn with_writer_turn<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    {
        match &self.sqlite_writer {
            Some(writer) => writer.alone_blocking(work),
            None => work(&mut *self.conn()?),
        }
    }

    /// Blocking code (jobs): one write transaction, as [`Db::write`].
    pub fn write_blocking<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    {
        match &self.sqlite_writer {
            Some(writer) => writer.transaction_blocking(work),
            None => write_transaction(&mut *self.conn()?, work),
        }
    }
}

/// Runs a blocking closure on tokio's blocking pool, keeping the current tracing span.
pub async fn spawn_blocking_in_span<T, F>(work: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, AppError> + Send + 'static,
{
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("blocking task failed: {e}")))?
}

/// Runs `work` in one database transaction that takes the write lock up front (`BEGIN
/// IMMEDIATE` on SQLite, so concurrent writers queue on the busy timeout instead of failing on
/// upgrade), committing on `Ok` and rolling back on `Err`. A serialization failure, deadlock or
/// busy database retries the whole closure, so it must do nothing outside the database.
/// Metrics staged by the work ([`crate::metrics::staged`]) are published after the commit.
pub fn write_transaction<T, F>(conn: &mut DbConnection, mut work: F) -> Result<T, AppError>
where
    F: FnMut(&mut DbConnection) -> Result<T, AppError>,
{
    let attempts = match conn.backend() {
        Backend::Postgres => POSTGRES_TRANSACTION_ATTEMPTS,
        Backend::Sqlite => SQLITE_TRANSACTION_ATTEMPTS,
    };
    let mut attempt = 1;
    loop {
        match transaction_once(conn, &mut work) {
            Err(e) if e.is_retryable() && attempt < attempts => {
                tracing::debug!(attempt, error = %e, "retrying transaction");
                metrics::counter!("cs_db_transaction_retries_total").increment(1);
                std::thread::sleep(Duration::from_millis(2u64 << attempt.min(6)));
                attempt += 1;
            }
            // Still contended after every try: the client may retry later (503); it did nothing wrong.
            Err(e) if e.is_retryable() => {
                tracing::warn!(error = %e, "transaction still contended after retries");
                return Err(AppError::Unavailable("the database is busy".into()));
            }
            result => return result,
        }
    }
}

fn transaction_once<T, F>(conn: &mut DbConnection, work: &mut F) -> Result<T, AppError>
where
    F: FnMut(&mut DbConnection) -> Result<T, AppError>,
{
    match conn {
        DbConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConnection::Postgresql(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    let staged = crate::metrics::staged::mark();
    match work(conn) {
        Ok(value) => {
            let committed = match conn {
                DbConnection::Sqlite(c) => AnsiTransactionManager::commit_transaction(c),
                DbConnection::Postgresql(c) => AnsiTransactionManager::commit_transaction(c),
            };
            if let Err(e) = committed {
                crate::metrics::staged::discard_from(staged);
                return Err(e.into());
            }
            if !group::in_transaction(conn) {
                crate::metrics::staged::publish_from(staged);
            }
            Ok(value)
        }
        Err(e) => {
            crate::metrics::staged::discard_from(staged);
            let rolled_back = match conn {
                DbConnection::Sqlite(c) => AnsiTransactionManager::rollback_transaction(c),
                DbConnection::Postgresql(c) => AnsiTransactionManager::rollback_transaction(c),
            };
            if let Err(rollback_error) = rolled_back {
                tracing::error!(error = %rollback_error, "rollback failed");
            }
            Err(e)
        }
    }
}

fn create_parent_dir(path: &std::path::Path) -> anyhow::Result<()> {
    let parent: PathBuf = path.parent().map(PathBuf::from).unwrap_or_default();
    if !parent.as_os_str().is_empty() {
        std::fs::create_dir_all(&parent)
            .map_err(|e| anyhow::anyhow!("cannot create the database folder {}: {e}", parent.display()))?;
    }
    Ok(())
}
