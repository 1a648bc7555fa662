//! Pledge surge load generator: starts the real server (release build) on a fresh database,
//! makes one hot open offer, and drives it with concurrent clients, each pledging £1 at a time
//! over HTTP with its own Idempotency-Key. Reports pledges/s and latency percentiles, then
//! checks the ledger.
//!
//! `cargo run --release --example pledge_surge -- sqlite [clients] [pledges] [match]`
//! `cargo run --release --example pledge_surge -- postgres [clients] [pledges] [match]` (needs
//! CS_TEST_POSTGRES_URL; `scripts/bench` starts a throwaway PostgreSQL and runs both).
//! With `match`, a live match fund is approved for the offer before the surge, so that every
//! pledge also runs the match engine.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

mod common;
use common::{put, user};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let backend = args.get(1).map(String::as_str).unwrap_or("sqlite").to_owned();
    let clients: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(64);
    let total: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let with_match = match args.get(4).map(String::as_str) {
        None => false,
        Some("match") => true,
        Some(other) => anyhow::bail!("unknown option {other}: the fourth argument is `match` or nothing"),
    };

    let bench = common::start(
        &backend,
        clients,
        |_| {},
        json!({
        "min_target_pence": 100_000, "target_pence": 1_000_000_000, "max_target_pence": 100_000_000_000i64,
        "min_holding_pence": 100, "max_holding_pence": 10_000_000}),
    )
    .await?;
    if with_match {
        common::live_match_fund(&bench).await?;
    }
    let common::Bench {
        http,
        base,
        admin,
        offer,
        ..
    } = bench;
    let mut tokens = Vec::new();
    for i in 0..clients {
        let token = user(&http, &base, &format!("investor{i}@bench.org")).await?;
        put(
            &http,
            &base,
            "/api/v1/me/profile",
            &token,
            json!({"full_name": "Bench Investor", "address_line1": "1 St",
            "town": "Bristol", "postcode": "BS1 4DJ", "date_of_birth": "1980-01-01"}),
        )
        .await?;
        tokens.push(token);
    }

    let remaining = Arc::new(AtomicUsize::new(total));
    let started = Instant::now();
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|token| {
            let (http, base, offer, remaining) = (http.clone(), base.clone(), offer.clone(), remaining.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0usize;
                while remaining
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let t = Instant::now();
                    let response = http
                        .post(format!("{base}/api/v1/offers/{offer}/pledges"))
                        .bearer_auth(&token)
                        .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
                        .json(&json!({"amount_pence": 100, "payment_method": "bank_transfer", "accept_terms": true}))
                        .send()
                        .await;
                    latencies.push(t.elapsed());
                    if !matches!(response, Ok(r) if r.status() == 201) {
                        failures += 1;
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(total);
    let mut failures = 0;
    for task in tasks {
        let (l, f) = task.await?;
        latencies.extend(l);
        failures += f;
    }
    let wall = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    let verdict: Value = http
        .get(format!("{base}/api/v1/admin/ledger/verify"))
        .bearer_auth(&admin)
        .send()
        .await?
        .json()
        .await?;
    let matched = if with_match {
        let offer_now: Value = http
            .get(format!("{base}/api/v1/offers/{offer}"))
            .send()
            .await?
            .json()
            .await?;
        format!(" (live match fund, {} pence matched)", offer_now["match_pence"])
    } else {
        String::new()
    };
    println!(
        "{backend}{matched}: {} pledges by {clients} clients in {:.2} s = {:.0} pledges/s; p50 {:.1} ms, p99 {:.1} ms; {failures} failed; ledger balanced: {}",
        latencies.len(),
        wall.as_secs_f64(),
        latencies.len() as f64 / wall.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        verdict["balanced"]
    );
    Ok(())
}
