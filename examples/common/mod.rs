//! What the benchmarks share: a fresh database, the real server in-process, and an open offer
//! made through the API by a society admin who is also a platform admin.

#![allow(dead_code)]

use community_shares::config::Settings;
use community_shares::server::Application;
use diesel::prelude::*;
use secrecy::SecretString;
use serde_json::{json, Value};

pub const PASSWORD: &str = "a benchmark password";

/// A running benchmark server over a fresh database.
pub struct Bench {
    pub http: reqwest::Client,
    pub base: String,
    pub url: String,
    /// A platform admin who is also the society's admin.
    pub admin: String,
    pub society: String,
    pub offer: String,
    pub settings: Settings,
    _dir: tempfile::TempDir,
}

/// Starts the server on a fresh `backend` database (`sqlite`, or `postgres` with
/// CS_TEST_POSTGRES_URL) with `adjust`ed settings, and opens one offer with `terms`.
pub async fn start(
    backend: &str,
    connections: usize,
    adjust: impl FnOnce(&mut Settings),
    terms: Value,
) -> anyhow::Result<Bench> {
    let dir = tempfile::tempdir()?;
    let url = match backend {
        "sqlite" => format!("sqlite://{}", dir.path().join("bench.db").display()),
        "postgres" => fresh_postgres_database()?,
        other => anyhow::bail!("unknown backend {other}: sqlite or postgres"),
    };
    let mut settings = Settings::default();
    settings.server.bind = "127.0.0.1:0".into();
    settings.database.url = SecretString::from(url.clone());
    settings.database.pool_size = 16;
    settings.auth.secret_file = dir.path().join("jwt-secret");
    settings.email.file_dir = dir.path().join("outbox");
    // Logins are not what is measured here.
    settings.auth.argon2_memory_kib = 256;
    settings.auth.argon2_iterations = 1;
    settings.auth.login_max_failures = u32::MAX;
    settings.jobs.tick_ms = 100;
    adjust(&mut settings);
    let app = Application::build(settings.clone()).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::builder().pool_max_idle_per_host(connections).build()?;
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
    let offer: Value = post(&http, &base, &format!("/api/v1/societies/{society}/offers"), &admin, {
        let mut body = json!({"title": "Bench", "summary": "", "share_price_pence": 100,
                "opens_at": (now - chrono::Duration::minutes(1)).to_rfc3339(),
                "closes_at": (now + chrono::Duration::days(30)).to_rfc3339()});
        for (key, value) in terms.as_object().into_iter().flatten() {
            body[key] = value.clone();
        }
        body
    })
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
    // Opened now as the scheduler would (whose tick may be long), unless it already has.
    let db = community_shares::db::Db::connect(&settings.database, settings.database_target()?)?;
    community_shares::services::offers::move_status(
        &mut *db.conn()?,
        &offer,
        community_shares::domain::offer::OfferStatus::Approved,
        community_shares::domain::offer::OfferStatus::Open,
        &community_shares::services::offers::Actor::Scheduler,
        community_shares::clock::now(),
    )?;
    Ok(Bench {
        http,
        base,
        url,
        admin,
        society,
        offer,
        settings,
        _dir: dir,
    })
}

pub fn fresh_postgres_database() -> anyhow::Result<String> {
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

pub fn make_platform_admin(url: &str, email: &str) -> anyhow::Result<()> {
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

pub async fn user(http: &reqwest::Client, base: &str, email: &str) -> anyhow::Result<String> {
    http.post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"email": email, "password": PASSWORD, "display_name": "Bench"}))
        .send()
        .await?
        .error_for_status()?;
    user_login(http, base, email).await
}

pub async fn user_login(http: &reqwest::Client, base: &str, email: &str) -> anyhow::Result<String> {
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

/// Approves a live match fund for the bench's offer: £1 for £1, up to £250 per investor and
/// £5,000 per offer.
pub async fn live_match_fund(bench: &Bench) -> anyhow::Result<()> {
    let (http, base, admin) = (&bench.http, bench.base.as_str(), bench.admin.as_str());
    let funder = post(http, base, "/api/v1/funders", admin, json!({"name": "Bench Fund"})).await?;
    let funder = funder["id"].as_str().unwrap_or_default().to_owned();
    post(
        http,
        base,
        &format!("/api/v1/funders/{funder}/admins"),
        admin,
        json!({"email": "admin@bench.org"}),
    )
    .await?;
    let fund = post(http, base, &format!("/api/v1/funders/{funder}/funds"), admin,
        json!({"name": "Bench", "budget_pence": 10_000_000, "rule": {"kind": "per_pledge", "ratio_num": 1, "ratio_den": 1,
            "per_pledge_cap_pence": 25_000, "per_offer_cap_pence": 500_000, "trigger": {"kind": "none"}, "timing": "live"}})).await?;
    let fund = fund["id"].as_str().unwrap_or_default().to_owned();
    let application = post(
        http,
        base,
        &format!("/api/v1/offers/{}/match-applications", bench.offer),
        admin,
        json!({"fund_id": fund}),
    )
    .await?;
    let application = application["id"].as_str().unwrap_or_default().to_owned();
    post(
        http,
        base,
        &format!("/api/v1/funds/{fund}/applications/{application}/approve"),
        admin,
        json!({"commitment_pence": 500_000}),
    )
    .await?;
    Ok(())
}

pub async fn post(http: &reqwest::Client, base: &str, path: &str, token: &str, body: Value) -> anyhow::Result<Value> {
    send(http.post(format!("{base}{path}")), path, token, body).await
}

pub async fn put(http: &reqwest::Client, base: &str, path: &str, token: &str, body: Value) -> anyhow::Result<Value> {
    send(http.put(format!("{base}{path}")), path, token, body).await
}

async fn send(request: reqwest::RequestBuilder, path: &str, token: &str, body: Value) -> anyhow::Result<Value> {
    let response = request.bearer_auth(token).json(&body).send().await?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status.is_success(), "{path}: {status} {text}");
    Ok(serde_json::from_str(&text)?)
}
