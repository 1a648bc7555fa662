//! Statement import benchmark: an offer with pending £10 bank pledges (written in bulk) and a
//! bank statement in Starling's layout of N lines (default 10,000), imported through the API as
//! a treasurer would: a dry run, the import, and the same file again; each is timed, then the
//! ledger is verified.
//!
//! `cargo run --release --example statement_bench -- <sqlite|postgres> [lines] [receipt lines]`
//! (PostgreSQL needs CS_TEST_POSTGRES_URL; `scripts/bench` starts a throwaway one).
//!
//! By default every line is a receipt: each pledge is paid in two parts (£4, then £6), the
//! slowest statement there can be. With fewer receipt lines, the rest are card payments out
//! and credits without a reference, as a society's own account has.

use std::time::Instant;

use community_shares::db::Db;
use serde_json::{json, Value};

mod common;

const AMOUNT: i64 = 1_000; // £10 each

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let backend = args.get(1).map(String::as_str).unwrap_or("sqlite").to_owned();
    let lines: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let receipts: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(lines).min(lines) / 2 * 2;
    let bench = common::start(
        &backend,
        4,
        |s| s.jobs.tick_ms = 3_600_000,
        json!({"min_target_pence": 100_000, "target_pence": 100_000, "max_target_pence": 100_000_000_000i64,
               "min_holding_pence": 100, "max_holding_pence": 10_000_000}),
    )
    .await?;
    let db = Db::connect(&bench.settings.database, bench.settings.database_target()?)?;
    let references = common::seed_pledges(
        &mut *db.conn()?,
        &bench.offer,
        receipts / 2,
        AMOUNT,
        common::Seeded::Pending,
    )?;
    let statement = statement(&references, lines);
    println!(
        "{backend}: {lines} lines ({receipts} receipts for {} pledges), {} KiB",
        references.len(),
        statement.len() / 1024
    );
    for (what, query) in [("dry run", "?dry_run=true"), ("import", ""), ("again", "")] {
        let started = Instant::now();
        let answer: Value = bench
            .http
            .post(format!(
                "{}/api/v1/offers/{}/bank-receipts/import{query}",
                bench.base, bench.offer
            ))
            .bearer_auth(&bench.admin)
            .header("content-type", "text/csv")
            .body(statement.clone())
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        println!(
            "{backend}: {what:8} {:6.2} s: matched {}, already imported {}, unmatched {}, skipped {}",
            started.elapsed().as_secs_f64(),
            answer["matched"],
            answer["already_imported"],
            answer["unmatched"].as_array().map_or(0, Vec::len),
            answer["skipped"].as_array().map_or(0, Vec::len),
        );
    }
    let offer: Value = bench
        .http
        .get(format!("{}/api/v1/offers/{}", bench.base, bench.offer))
        .send()
        .await?
        .json()
        .await?;
    let verdict = community_shares::ledger::verify::verify(&mut *db.conn()?)?;
    println!(
        "{backend}: community_paid_pence {} (expected {}); ledger balanced: {}",
        offer["community_paid_pence"],
        references.len() as i64 * AMOUNT,
        verdict.balanced
    );
    common::ensure_balanced(&verdict)
}

/// Starling's layout: two parts for each reference, then other lines up to `lines`.
fn statement(references: &[String], lines: usize) -> String {
    let mut out =
        String::from("Date,Counter Party,Reference,Type,Amount (GBP),Balance (GBP),Spending Category,Notes\n");
    let mut balance = 0i64;
    let mut line = |out: &mut String, date: &str, payer: &str, reference: &str, pence: i64| {
        balance += pence;
        out.push_str(&format!(
            "{date},{payer},{reference},FASTER PAYMENT,{}.{:02},{}.{:02},INCOME,\n",
            pence / 100,
            pence.abs() % 100,
            balance / 100,
            balance.abs() % 100
        ));
    };
    for (i, reference) in references.iter().enumerate() {
        line(&mut out, "27/11/2026", &format!("Investor {i}"), reference, 400);
        line(&mut out, "28/11/2026", &format!("Investor {i}"), reference, 600);
    }
    for i in 2 * references.len()..lines {
        if i % 2 == 0 {
            line(&mut out, "29/11/2026", "Bristol Bakery", "CARD", -1_240);
        } else {
            line(&mut out, "29/11/2026", &format!("Donor {i}"), "GIFT", 2_500);
        }
    }
    out
}
