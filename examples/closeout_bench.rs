//! Close-out benchmark: an offer with N paid pledges (default 100,000) and a match fund is
//! closed, and the close-out (decide, allocate every pledge and match into the share register,
//! move the money to the society's capital) is timed, then the ledger is verified.
//!
//! `cargo run --release --example closeout_bench -- sqlite [pledges]`
//! `cargo run --release --example closeout_bench -- postgres [pledges]` (needs
//! CS_TEST_POSTGRES_URL; `scripts/bench` starts a throwaway PostgreSQL and runs both).
//!
//! The paid pledges are written straight into the database in bulk (the same rows a pledge and
//! its bank receipt write: the investor, the pledge, its pending transfer and the post record,
//! the balances and the offer's totals), because making 100,000 pledges through the API is
//! the pledge benchmark's job, not this one's.

use std::time::Instant;

use community_shares::db::Db;
use community_shares::services::closeout;
use serde_json::{json, Value};

mod common;
use common::post;

const AMOUNT: i64 = 1_000; // £10 each

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let backend = args.get(1).map(String::as_str).unwrap_or("sqlite").to_owned();
    let count: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    // The server's own jobs are asleep: the close-out is run and timed here.
    let bench = common::start(
        &backend,
        4,
        |s| s.jobs.tick_ms = 3_600_000,
        json!({
        "min_target_pence": 100_000, "target_pence": 100_000, "max_target_pence": 100_000_000_000i64,
        "min_holding_pence": 100, "max_holding_pence": 10_000_000}),
    )
    .await?;
    let db = Db::connect(&bench.settings.database, bench.settings.database_target()?)?;
    let seeded = Instant::now();
    common::seed_pledges(&mut *db.conn()?, &bench.offer, count, AMOUNT, common::Seeded::Paid)?;
    println!(
        "{backend}: seeded {count} paid pledges in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );

    common::live_match_fund(&bench).await?;
    post(
        &bench.http,
        &bench.base,
        &format!("/api/v1/offers/{}/close", bench.offer),
        &bench.admin,
        json!({}),
    )
    .await?;

    let started = Instant::now();
    let mut steps = 0;
    loop {
        // Blocking work, as the job runs it: off the async executor.
        let (db, batch) = (db.clone(), bench.settings.jobs.closeout_batch);
        let done = tokio::task::spawn_blocking(move || closeout::run_due(&db, 1_000, batch)).await??;
        steps += done;
        if done == 0 {
            break;
        }
    }
    let took = started.elapsed();
    let status: Value = bench
        .http
        .get(format!("{}/api/v1/offers/{}", bench.base, bench.offer))
        .send()
        .await?
        .json()
        .await?;
    let verified = Instant::now();
    let verdict = community_shares::ledger::verify::verify(&mut *db.conn()?)?;
    println!(
        "{backend}: close-out of {count} paid pledges (+ match) in {:.1} s = {:.0} pledges/s, {steps} steps of {}; status {}; ledger verify {:.1} s, balanced: {}",
        took.as_secs_f64(),
        count as f64 / took.as_secs_f64(),
        bench.settings.jobs.closeout_batch,
        status["status"],
        verified.elapsed().as_secs_f64(),
        verdict.balanced
    );
    common::ensure_balanced(&verdict)
}
