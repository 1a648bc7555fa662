//! Transparency log benchmark: N transfers of public money (a funder's budget paid into a fund,
//! £0.01 each) are made through the ledger, which queues each for the log in its transaction;
//! then the sequencer is timed putting them in the tree and signing checkpoints (batches of
//! `sequence::BATCH`), then the export, verifying it as an outsider does, inclusion proofs
//! from the database, and `ledger verify` with its check of the log.
//!
//! `cargo run --release --example transparency_bench -- sqlite [transfers]`
//! `cargo run --release --example transparency_bench -- postgres [transfers]` (needs
//! CS_TEST_POSTGRES_URL; `scripts/bench` starts a throwaway PostgreSQL and runs both).

use std::time::Instant;

use community_shares::config::Settings;
use community_shares::db::{migrate, Db};
use community_shares::domain::money::Pence;
use community_shares::ledger::{self, AccountKind, NewTransfer};
use community_shares::transparency::{keys::LogKey, sequence, store, verify};
use secrecy::SecretString;

mod common;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let backend = args.get(1).map(String::as_str).unwrap_or("sqlite").to_owned();
    let count: i64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let dir = tempfile::tempdir()?;
    let url = match backend.as_str() {
        "sqlite" => format!("sqlite://{}", dir.path().join("bench.db").display()),
        "postgres" => common::fresh_postgres_database()?,
        other => anyhow::bail!("unknown backend {other}: sqlite or postgres"),
    };
    let mut settings = Settings::default();
    settings.database.url = SecretString::from(url);
    let db = Db::connect(&settings.database, settings.database_target()?)?;
    migrate::run_pending(&mut *db.conn()?)?;
    let key = LogKey::from_seed("bench.example/transparency", &[7; 32]).map_err(anyhow::Error::msg)?;

    let started = Instant::now();
    for chunk in (0..count).collect::<Vec<_>>().chunks(2_000) {
        let chunk = chunk.to_vec();
        db.write_blocking(move |conn| {
            let [funder, fund] =
                ledger::ensure_accounts(conn, [(AccountKind::Funder, "bench"), (AccountKind::Fund, "bench")])?;
            for i in &chunk {
                ledger::create_posted(
                    conn,
                    &NewTransfer {
                        id: &format!("bench:{i}"),
                        debit_account_id: &funder,
                        credit_account_id: &fund,
                        amount: Pence::new(1),
                        kind: "budget",
                        cause: "bench",
                    },
                )?;
            }
            Ok(())
        })?;
    }
    let made = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut checkpoints = 0;
    loop {
        let key = LogKey::from_seed("bench.example/transparency", &[7; 32]).map_err(anyhow::Error::msg)?;
        let added = db.write_blocking(move |conn| sequence::sequence(conn, &key, sequence::BATCH))?;
        if added == 0 {
            break;
        }
        checkpoints += 1;
    }
    let sequenced = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let export = store::export(&mut *db.conn()?, &key)?;
    let exported = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let report = verify::verify(&export, &verify::Trust::default()).map_err(|f| anyhow::anyhow!(f.message))?;
    let verified = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        report.entries == count as u64,
        "{} entries, not {count}",
        report.entries
    );

    let started = Instant::now();
    let proofs = 200;
    for i in 0..proofs {
        store::inclusion(&mut *db.conn()?, (i * 7_919) % count, count)?;
    }
    let proof_ms = started.elapsed().as_secs_f64() * 1_000.0 / proofs as f64;

    let started = Instant::now();
    let verdict = ledger::verify::verify(&mut *db.conn()?)?;
    let ledger_verified = started.elapsed().as_secs_f64();
    common::ensure_balanced(&verdict)?;

    let bytes = serde_json::to_vec(&export)?.len();
    println!(
        "{backend}: {count} public transfers made (and queued) in {made:.2} s; sequenced into {checkpoints} checkpoints in {sequenced:.2} s ({:.0} entries/s); export {exported:.2} s ({:.1} MB); verify {verified:.2} s; inclusion proof {proof_ms:.2} ms; ledger verify {ledger_verified:.2} s",
        count as f64 / sequenced,
        bytes as f64 / 1e6
    );
    println!(
        "| {backend} | {count} | {:.0}/s | {:.0}/s | {exported:.2} s | {verified:.2} s | {proof_ms:.2} ms | {ledger_verified:.2} s |",
        count as f64 / made,
        count as f64 / sequenced
    );
    Ok(())
}
