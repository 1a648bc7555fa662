//! Backups under load: a copy taken while a pledge surge with live match funding runs
//! (`community-shares backup` on SQLite, `pg_dump` on PostgreSQL), restored into a fresh
//! database (`community-shares restore`, `pg_restore`). The server starts on it, `ledger
//! verify` finds it balanced, and it holds a prefix of what was committed: the first k pledges
//! of the offer in pledge order, each as it was, and nothing half-written.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use community_shares::db::schema::pledges;
use diesel::prelude::*;

use crate::both_backends;
use crate::support::binary::{self, RunningServer};
use crate::support::{Backend, TestApp, TestDatabase};

const AMOUNT: i64 = 10_000;

/// PostgreSQL's own client programs (the newest installed, as `scripts/postgres.sh` picks).
fn postgres_program(name: &str) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| {
            dirs.filter_map(Result::ok)
                .map(|d| d.path().join("bin").join(name))
                .filter(|p| p.exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort_by_key(|p| {
        p.to_string_lossy()
            .split('/')
            .nth(4)
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop().unwrap_or_else(|| PathBuf::from(name))
}

fn run_ok(command: &mut std::process::Command) -> String {
    let output = command.output().expect("the program runs");
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Takes the backup of the running deployment's database into `file`.
fn take_backup(backend: Backend, database: &TestDatabase, file: &Path) {
    match backend {
        Backend::Sqlite => {
            let mut command = binary::command(database.dir.path());
            command.env("CS__DATABASE__URL", &database.url).arg("backup").arg(file);
            assert!(run_ok(&mut command).starts_with("backed up to"));
        }
        Backend::Postgres => {
            run_ok(
                std::process::Command::new(postgres_program("pg_dump"))
                    .args(["--format=custom", "--file"])
                    .arg(file)
                    .arg(&database.url),
            );
        }
    }
}

/// Restores `file` into the fresh database `into`.
fn restore(backend: Backend, file: &Path, into: &TestDatabase) {
    match backend {
        Backend::Sqlite => {
            let mut command = binary::command(into.dir.path());
            command.env("CS__DATABASE__URL", &into.url).arg("restore").arg(file);
            assert!(run_ok(&mut command).starts_with("restored"));
        }
        Backend::Postgres => {
            run_ok(
                std::process::Command::new(postgres_program("pg_restore"))
                    .args(["--no-owner", "--exit-on-error", "--dbname"])
                    .arg(&into.url)
                    .arg(file),
            );
        }
    }
}

/// The offer's pledges in pledge order: (place, id, investor, amount).
async fn pledges_of(app: &TestApp, offer: &str) -> Vec<(i64, String, String, i64)> {
    let offer = offer.to_owned();
    app.with_db(move |conn| {
        Ok(pledges::table
            .filter(pledges::offer_id.eq(&offer))
            .order(pledges::offer_seq)
            .select((
                pledges::offer_seq,
                pledges::id,
                pledges::investor_id,
                pledges::amount_pence,
            ))
            .load(conn)?)
    })
    .await
}

both_backends! {
    async fn a_backup_taken_mid_surge_restores_to_a_balanced_prefix(backend) {
        let database = TestDatabase::new(backend).await;
        let app = Arc::new(TestApp::spawn_with(backend, database, |_| {}).await);
        let (admin, platform, offer) = app.open_offer_scene().await;
        app.approved_live_fund(&admin, &platform, &offer, 500_000).await;
        let mut investors = Vec::new();
        for i in 0..12 {
            investors.push(app.investor(&format!("surge-{i}")).await);
        }

        // The surge: every investor pledges again and again until 30 pledges have been made
        // after the backup was taken.
        let (made, backed_up, made_after) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        let surge: Vec<_> = investors.into_iter().map(|investor| {
            let (app, offer, made, backed_up, made_after) = (app.clone(), offer.clone(), made.clone(), backed_up.clone(), made_after.clone());
            tokio::spawn(async move {
                for _ in 0..40 {
                    if made_after.load(Ordering::SeqCst) >= 30 {
                        break;
                    }
                    app.pledge(&investor, &offer, AMOUNT).await.expect(201);
                    made.fetch_add(1, Ordering::SeqCst);
                    if backed_up.load(Ordering::SeqCst) {
                        made_after.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        }).collect();
        while made.load(Ordering::SeqCst) < 40 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let file = app.database.dir.path().join(match backend { Backend::Sqlite => "backup.db", Backend::Postgres => "backup.dump" });
        let (source, target) = (app.database.share(), file.clone());
        tokio::task::spawn_blocking(move || take_backup(backend, &source, &target)).await.unwrap();
        backed_up.store(true, Ordering::SeqCst);
        for task in surge {
            task.await.expect("the surge ran");
        }
        let committed = pledges_of(&app, &offer).await;

        // Restored into a fresh database, and served.
        let restored_db = TestDatabase::new(backend).await;
        let into = restored_db.share();
        tokio::task::spawn_blocking(move || restore(backend, &file, &into)).await.unwrap();
        let restored = TestApp::spawn_with(backend, restored_db, |s| s.jobs.tick_ms = 3_600_000).await;
        let held = pledges_of(&restored, &offer).await;
        let k = held.len();
        eprintln!("the backup holds {k} of the {} pledges committed", committed.len());
        assert!(k >= 40 && k < committed.len(), "the backup was taken mid-surge: {k} of {} pledges", committed.len());
        assert_eq!(held[..], committed[..k], "the restored pledges are the first {k} committed, each as it was");
        let page = restored.get(&format!("/api/v1/offers/{offer}"), None).await;
        page.expect(200);
        assert_eq!(page.body["pledge_count"], k);
        assert_eq!(page.body["community_pledged_pence"], k as i64 * AMOUNT);
        assert_eq!(restored.verify_ledger(&platform).await["balanced"], true);

        // `ledger verify` from the command line too, as an operator would after a restore.
        let mut verify = binary::command(restored.database.dir.path());
        verify.env("CS__DATABASE__URL", &restored.database.url).args(["ledger", "verify"]);
        assert!(run_ok(&mut verify).starts_with("balanced"));
        assert_eq!(app.verify_ledger(&platform).await["balanced"], true);
    }
}

/// A restore refuses a running deployment, a file that is not a backup, and a PostgreSQL
/// deployment (pg_restore's work); a backup never overwrites a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_and_backup_refuse_what_they_must_not_do() {
    let database = TestDatabase::new(Backend::Sqlite).await;
    let mut server = RunningServer::start(binary::serve_command(&database));
    let backup = database.dir.path().join("copy.db");
    let mut command = binary::command(database.dir.path());
    command
        .env("CS__DATABASE__URL", &database.url)
        .arg("backup")
        .arg(&backup);
    run_ok(&mut command);
    // The same file again: refused, the first copy untouched.
    let mut again = binary::command(database.dir.path());
    again.env("CS__DATABASE__URL", &database.url).arg("backup").arg(&backup);
    let output = binary::run(again, "");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("exists already"));

    // While the server runs, its database is not replaced.
    let mut restore = binary::command(database.dir.path());
    restore
        .env("CS__DATABASE__URL", &database.url)
        .arg("restore")
        .arg(&backup);
    let output = binary::run(restore, "");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("is in use"),
        "{output:?}"
    );
    server.terminate();

    // A file that is not a backup.
    let junk = database.dir.path().join("junk.db");
    std::fs::write(&junk, "not a database").unwrap();
    let mut restore = binary::command(database.dir.path());
    restore
        .env("CS__DATABASE__URL", &database.url)
        .arg("restore")
        .arg(&junk);
    let output = binary::run(restore, "");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("not a SQLite database"),
        "{output:?}"
    );

    // Stopped: the restore goes through.
    let mut restore = binary::command(database.dir.path());
    restore
        .env("CS__DATABASE__URL", &database.url)
        .arg("restore")
        .arg(&backup);
    run_ok(&mut restore);

    // PostgreSQL deployments use pg_dump and pg_restore: a usage error naming them.
    for verb in ["backup", "restore"] {
        let mut command = binary::command(database.dir.path());
        command
            .env("CS__DATABASE__URL", "postgres://nobody@127.0.0.1:9/none")
            .arg(verb)
            .arg(&backup);
        let output = binary::run(command, "");
        assert_eq!(output.status.code(), Some(2), "{verb}: {output:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("pg_dump"),
            "{verb}: {output:?}"
        );
    }
}
