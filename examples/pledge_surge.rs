//! Pledge surge load generator: starts the real server (release build) on a fresh database,
//! makes one hot open offer, and drives it with concurrent clients, each pledging £1 at a time
//! over HTTP with its own Idempotency-Key. Reports pledges/s and latency percentiles, then
//! checks the ledger.
//!
//! `cargo run --release --example pledge_surge -- sqlite [clients] [pledges]`
//! `cargo run --release --example pledge_surge -- postgres [clients] [pledges]` (needs
//! CS_TEST_POSTGRES_URL; `scripts/bench` starts a throwaway PostgreSQL and runs both).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use community_shares::config::Settings;
use community_shares::server::Application;
use diesel::prelude::*;
use secrecy::SecretString;
use serde_json::{json, Value};

const PASSWORD: &str = "a benchmark password";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let backend = args.get(1).map(String::as_str).unwrap_or("sqlite").to_owned();
    let clients: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(64);
    let total: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(10_000);

    let dir = tempfile::tempdir()?;
    let url = match backend.as_str() {
        "sqlite" => format!("sqlite://{}", dir.path().join("bench.db").display()),
        "postgres" => fresh_postgres_database()?,
        other => anyhow::bail!("unknown backend {other}: sqlite or postgres"),
    };
    let mut settings = Settings::default();
    settings.server.bind = "127.0.0.1:0".into();
    settings.database.url = SecretString::from(url.clone());
    settings.database.pool_size = 16;
    settings.auth.secret_file = dir.path().join("jwt-secret");
    // Logins are not what is measured here.
    settings.auth.argon2_memory_kib = 256;
    settings.auth.argon2_iterations = 1;
    settings.auth.login_max_failures = u32::MAX;
    settings.jobs.tick_ms = 100;
    let app = Application::build(settings).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;

    // An open offer big enough never to fill, and one investor per client.
    let admin = user(&http, &base, "admin@bench.org").await?;
    let society: Value = post(
        &http,
        &base,
        "/api/v1/societies",
        &admin,
        json!({
        "name": "Bench Society", "kind": "co_operative", "registration_number": "B1", "postcode": "BS1 4DJ"}),
    )
    .await?;
    let society = society["id"].as_str().unwrap_or_default().to_owned();
    put(
        &http,
        &base,
        &format!("/api/v1/societies/{society}/bank-details"),
        &admin,
        json!({"account_name": "Bench", "sort_code": "123456", "account_number": "12345678"}),
    )
    .await?;
    let now = chrono::Utc::now();
    let offer: Value = post(
        &http,
        &base,
        &format!("/api/v1/societies/{society}/offers"),
        &admin,
        json!({
        "title": "Bench", "summary": "", "share_price_pence": 100,
        "min_target_pence": 100_000, "target_pence": 1_000_000_000, "max_target_pence": 100_000_000_000i64,
        "min_holding_pence": 100, "max_holding_pence": 10_000_000,
        "opens_at": (now - chrono::Duration::minutes(1)).to_rfc3339(),
        "closes_at": (now + chrono::Duration::days(30)).to_rfc3339()}),
    )
    .await?;
    let offer = offer["id"].as_str().unwrap_or_default().to_owned();
    post(
        &http,
        &base,
        &format!("/api/v1/offers/{offer}/submit"),
        &admin,
        json!({}),
    )
    .await?;
    make_platform_admin(&url, "admin@bench.org")?;
    let admin = user_login(&http, &base, "admin@bench.org").await?;
    post(
        &http,
        &base,
        &format!("/api/v1/offers/{offer}/approve"),
        &admin,
        json!({}),
    )
    .await?;
    loop {
        let status: Value = http
            .get(format!("{base}/api/v1/offers/{offer}"))
            .send()
            .await?
            .json()
            .await?;
        if status["status"] == "open" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
    println!(
        "{backend}: {} pledges by {clients} clients in {:.2} s = {:.0} pledges/s; p50 {:.1} ms, p99 {:.1} ms; {failures} failed; ledger balanced: {}",
        latencies.len(),
        wall.as_secs_f64(),
        latencies.len() as f64 / wall.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        verdict["balanced"]
    );
    Ok(())
}

fn fresh_postgres_database() -> anyhow::Result<String> {
    let admin_url = std::env::var("CS_TEST_POSTGRES_URL")
        .map_err(|_| anyhow::anyhow!("set CS_TEST_POSTGRES_URL (scripts/bench does)"))?;
    let name = format!("cs_bench_{}", uuid::Uuid::now_v7().simple());
    let mut conn = PgConnection::establish(&admin_url)?;
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn)?;
    let (base, _) = admin_url
        .rsplit_once('/')
        .ok_or_else(|| anyhow::anyhow!("URL without a database"))?;
    Ok(format!("{base}/{name}"))
}

fn make_platform_admin(url: &str, email: &str) -> anyhow::Result<()> {
    use community_shares::db::schema::users;
    let settings = {
        let mut s = Settings::default();
        s.database.url = SecretString::from(url.to_owned());
        s
    };
    let db = community_shares::db::Db::connect(&settings.database, settings.database_target()?)?;
    diesel::update(users::table.filter(users::email.eq(email)))
        .set(users::is_platform_admin.eq(true))
        .execute(&mut *db.conn()?)?;
    Ok(())
}

async fn user(http: &reqwest::Client, base: &str, email: &str) -> anyhow::Result<String> {
    http.post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"email": email, "password": PASSWORD, "display_name": "Bench"}))
        .send()
        .await?
        .error_for_status()?;
    user_login(http, base, email).await
}

async fn user_login(http: &reqwest::Client, base: &str, email: &str) -> anyhow::Result<String> {
    let tokens: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(tokens["access_token"].as_str().unwrap_or_default().to_owned())
}

async fn post(http: &reqwest::Client, base: &str, path: &str, token: &str, body: Value) -> anyhow::Result<Value> {
    let response = http
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status.is_success(), "{path}: {status} {text}");
    Ok(serde_json::from_str(&text)?)
}

async fn put(http: &reqwest::Client, base: &str, path: &str, token: &str, body: Value) -> anyhow::Result<Value> {
    let response = http
        .put(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status.is_success(), "{path}: {status} {text}");
    Ok(serde_json::from_str(&text)?)
}
