//! Backups of a SQLite deployment (`community-shares backup` / `restore`). A PostgreSQL
//! deployment is backed up with PostgreSQL's own `pg_dump` and `pg_restore` (README,
//! "Backups"), which these commands name when asked to do it.
//!
//! - Backup: `VACUUM INTO` a temporary file beside the destination, then rename. `VACUUM INTO`
//!   reads one snapshot (a read transaction), so the copy is consistent while the server
//!   writes: it holds every transaction committed before it started and none after. The copy
//!   is then checked (`PRAGMA integrity_check`) before it gets its final name.
//! - Restore, into a stopped deployment: the backup is checked (integrity, and no migration
//!   this binary does not know), the deployment's database is taken out of WAL mode, which
//!   SQLite only allows when no other connection has it open (so a running `serve` or `worker`
//!   makes the restore refuse), and the backup is copied over it (temporary file, fsync,
//!   rename). The next start puts it back into WAL mode.

use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::SqliteConnection;
use diesel_migrations::MigrationHarness;

/// What a backup holds: its size and its schema's last migration.
#[derive(Debug)]
pub struct Copied {
    pub bytes: u64,
    pub last_migration: String,
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// A SQL string literal (single quotes doubled).
fn literal(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', "''"))
}

/// The file beside `path` that a copy is written to before it takes the final name.
fn partial(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Copies the database `conn` is connected to into `destination`, which must not exist.
pub fn backup(conn: &mut SqliteConnection, destination: &Path) -> anyhow::Result<Copied> {
    if destination.exists() {
        anyhow::bail!(
            "{} exists already: a backup never overwrites a file",
            destination.display()
        );
    }
    let temporary = partial(destination);
    let _ = std::fs::remove_file(&temporary);
    conn.batch_execute(&format!("VACUUM INTO {}", literal(&temporary)))
        .map_err(|e| anyhow::anyhow!("cannot write the backup {}: {e}", temporary.display()))?;
    let checked = check(&temporary);
    let copied = match checked {
        Ok(copied) => copied,
        Err(e) => {
            let _ = std::fs::remove_file(&temporary);
            return Err(e);
        }
    };
    std::fs::File::open(&temporary)?.sync_all()?;
    std::fs::rename(&temporary, destination)?;
    Ok(copied)
}

/// Opens `file` and checks that it is a whole SQLite database of this application, with no
/// migration this binary does not know.
pub fn check(file: &Path) -> anyhow::Result<Copied> {
    if !file.is_file() {
        anyhow::bail!("{} is not a file", file.display());
    }
    let url = format!("file:{}?mode=ro", file.to_string_lossy());
    let mut conn =
        SqliteConnection::establish(&url).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", file.display()))?;
    let integrity: Vec<Line> = diesel::sql_query("SELECT integrity_check AS line FROM pragma_integrity_check")
        .load(&mut conn)
        .map_err(|e| anyhow::anyhow!("{} is not a SQLite database: {e}", file.display()))?;
    if integrity.len() != 1 || integrity[0].line != "ok" {
        let first = integrity.first().map_or("", |l| l.line.as_str());
        anyhow::bail!("{} is damaged: {first}", file.display());
    }
    let applied = conn
        .applied_migrations()
        .map_err(|e| anyhow::anyhow!("{} is not a community-shares database: {e}", file.display()))?;
    let known = super::migrate::known_versions()?;
    if let Some(unknown) = applied.iter().find(|v| !known.contains(&v.to_string())) {
        anyhow::bail!(
            "{} was made by a newer version (migration {unknown} is unknown to this one)",
            file.display()
        );
    }
    Ok(Copied {
        bytes: std::fs::metadata(file)?.len(),
        last_migration: applied.iter().map(|v| v.to_string()).max().unwrap_or_default(),
    })
}

/// Replaces the database at `target` (a stopped deployment's) with the backup `from`.
pub fn restore(from: &Path, target: &Path) -> anyhow::Result<Copied> {
    let copied = check(from)?;
    if target.exists() {
        ensure_unused(target)?;
    } else if let Some(folder) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)?;
    }
    let temporary = partial(target);
    std::fs::copy(from, &temporary)?;
    std::fs::File::open(&temporary)?.sync_all()?;
    std::fs::rename(&temporary, target)?;
    for stale in ["-wal", "-shm"] {
        let mut name = target.as_os_str().to_os_string();
        name.push(stale);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
    Ok(copied)
}

/// Checkpoints and leaves WAL mode, which SQLite refuses while another connection (a running
/// `serve` or `worker`) has the database open.
fn ensure_unused(target: &Path) -> anyhow::Result<()> {
    let mut conn = SqliteConnection::establish(&target.to_string_lossy())
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", target.display()))?;
    let mode: Vec<JournalMode> = diesel::sql_query("PRAGMA journal_mode = DELETE")
        .load(&mut conn)
        .unwrap_or_default();
    if mode.first().map(|m| m.journal_mode.as_str()) != Some("delete") {
        anyhow::bail!(
            "{} is in use: stop every `serve` and `worker` of this deployment, then restore",
            target.display()
        );
    }
    Ok(())
}

#[derive(QueryableByName)]
struct JournalMode {
    #[diesel(sql_type = Text)]
    journal_mode: String,
}
