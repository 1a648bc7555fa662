//! Embedded migrations, run at start-up and by `community-shares migrate`. One portable set
//! serves both backends: ids are TEXT, times TIMESTAMP, money BIGINT, and the SQL is the common
//! subset of SQLite and PostgreSQL. (A migration that ever needs backend-specific SQL splits the
//! folder in two.) Several instances may start at once: on PostgreSQL the run holds an advisory lock,
//! on SQLite an immediate (write-locking) transaction, so exactly one applies each migration.

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::RunQueryDsl;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::DbConnection;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Arbitrary, fixed key of the PostgreSQL advisory lock that serialises migration runs.
const MIGRATION_LOCK_KEY: i64 = 0x6373_6d69_6772;

/// Applies every pending migration; returns how many were applied.
/// Everything, including diesel's creation of its bookkeeping table, happens under the lock:
/// concurrent `CREATE TABLE IF NOT EXISTS` on PostgreSQL can otherwise fail.
pub fn run_pending(conn: &mut DbConnection) -> anyhow::Result<usize> {
    match conn {
        DbConnection::Postgresql(pg) => {
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")).execute(pg)?;
            let result = pg.run_pending_migrations(MIGRATIONS).map(|v| v.len());
            let unlocked = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")).execute(pg);
            let applied = result.map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
            unlocked?;
            Ok(applied)
        }
        DbConnection::Sqlite(lite) => {
            AnsiTransactionManager::begin_transaction_sql(&mut *lite, "BEGIN IMMEDIATE")?;
            match lite.run_pending_migrations(MIGRATIONS).map(|v| v.len()) {
                Ok(applied) => {
                    AnsiTransactionManager::commit_transaction(&mut *lite)?;
                    Ok(applied)
                }
                Err(e) => {
                    AnsiTransactionManager::rollback_transaction(&mut *lite)?;
                    Err(anyhow::anyhow!("migration failed: {e}"))
                }
            }
        }
    }
}

/// How many embedded migrations the database has not applied yet.
pub fn pending_count(conn: &mut DbConnection) -> anyhow::Result<usize> {
    let pending = match conn {
        DbConnection::Postgresql(pg) => pg.pending_migrations(MIGRATIONS).map(|v| v.len()),
        DbConnection::Sqlite(lite) => lite.pending_migrations(MIGRATIONS).map(|v| v.len()),
    };
    pending.map_err(|e| anyhow::anyhow!("cannot read the migration state: {e}"))
}

/// The versions of the migrations this binary holds (`2026-11-30-000013` style, as diesel
/// records them in `__diesel_schema_migrations`).
pub fn known_versions() -> anyhow::Result<Vec<String>> {
    use diesel::migration::MigrationSource;
    let migrations = MigrationSource::<diesel::sqlite::Sqlite>::migrations(&MIGRATIONS)
        .map_err(|e| anyhow::anyhow!("cannot read the embedded migrations: {e}"))?;
    Ok(migrations.iter().map(|m| m.name().version().to_string()).collect())
}
