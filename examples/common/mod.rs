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
                "document_url": "https://example.org/bench-offer.pdf",
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

/// What [`seed_pledges`] writes: pledges paid by a bank receipt each, or pending with a bank
/// reference.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Seeded {
    Paid,
    Pending,
}

/// `count` investors, each with one bank pledge of `amount` pence to `offer`, `seeded` paid or
/// pending, written in multi-row inserts: the same rows a pledge (and, paid, its receipt)
/// writes: the investor, the pledge, its pending transfer (and the post record and the
/// receipt), the balances and the offer's totals. Answers the pledges' bank references.
pub fn seed_pledges(
    conn: &mut community_shares::db::DbConnection,
    offer: &str,
    count: usize,
    amount: i64,
    seeded: Seeded,
) -> anyhow::Result<Vec<String>> {
    use community_shares::ledger::{self, AccountKind};
    let now = community_shares::clock::now().format("%Y-%m-%d %H:%M:%S").to_string();
    let later = (community_shares::clock::now() + chrono::Duration::days(14))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let escrow = ledger::ensure_account(conn, AccountKind::Escrow, offer)?;
    let paid = seeded == Seeded::Paid;
    let mut references = Vec::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(1_000) {
        // (user, pledge, reference): references counted in base 32, so each is different.
        let ids: Vec<(String, String, String)> = chunk
            .iter()
            .map(|i| {
                let digits: [u8; 8] = std::array::from_fn(|k| ((*i as u64 >> (5 * k)) & 31) as u8);
                let reference = community_shares::domain::pledge::bank_reference(digits);
                (
                    community_shares::clock::new_id(),
                    community_shares::clock::new_id(),
                    reference,
                )
            })
            .collect();
        references.extend(ids.iter().map(|(_, _, r)| r.clone()));
        let rows = |f: &dyn Fn(&(String, String, String)) -> String| ids.iter().map(f).collect::<Vec<_>>().join(",");
        let (status, state, balance, paid_at, received) = if paid {
            ("paid", "posted", "debits_posted", format!("'{now}'"), amount)
        } else {
            ("pending", "pending", "debits_pending", "NULL".to_owned(), 0)
        };
        let mut statements = vec![
            format!(
                "INSERT INTO users (id, email, password_hash, display_name, is_platform_admin, full_name, address_line1, \
                 town, postcode, date_of_birth, created_at, updated_at) VALUES {}",
                rows(&|(u, _, _)| format!(
                    "('{u}', '{u}@bench.org', 'x', 'Bench', FALSE, 'Bench Investor {u}', '1 Quay Street', 'Bristol', \
                     'BS1 4DJ', '1980-05-01', '{now}', '{now}')"
                ))
            ),
            format!(
                "INSERT INTO ledger_accounts (id, kind, owner_id, debits_must_not_exceed_credits, {balance}, created_at) VALUES {}",
                rows(&|(u, _, _)| format!("('investor:{u}', 'investor', '{u}', FALSE, {amount}, '{now}')"))
            ),
            format!(
                "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, kind, phase, state, cause, created_at) VALUES {}",
                rows(&|(u, p, _)| format!(
                    "('pledge:{p}', 'investor:{u}', '{escrow}', {amount}, 'pledge', 'pending', '{state}', 'pledge:{p}', '{now}')"
                ))
            ),
            format!(
                "INSERT INTO pledges (id, offer_id, investor_id, status, amount_pence, shares, match_pence, payment_method, \
                 bank_reference, transfer_id, cancellable_until, payment_due_at, paid_at, received_pence, created_at, updated_at) VALUES {}",
                rows(&|(u, p, r)| format!(
                    "('{p}', '{offer}', '{u}', '{status}', {amount}, {}, 0, 'bank_transfer', '{r}', 'pledge:{p}', '{later}', \
                     '{later}', {paid_at}, {received}, '{now}', '{now}')",
                    amount / 100
                ))
            ),
        ];
        if paid {
            statements.push(format!(
                "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, kind, phase, state, pending_id, cause, created_at) VALUES {}",
                rows(&|(u, p, _)| format!(
                    "('pledge:{p}:post', 'investor:{u}', '{escrow}', {amount}, 'pledge', 'post', 'posted', 'pledge:{p}', 'bench', '{now}')"
                ))
            ));
            statements.push(format!(
                "INSERT INTO bank_receipts (id, offer_id, pledge_id, reference, amount_pence, applied_pence, excess_pence, \
                 received_at, recorded_by, created_at) VALUES {}",
                rows(&|(u, p, r)| format!("('{p}', '{offer}', '{p}', '{r}', {amount}, {amount}, 0, '{now}', '{u}', '{now}')"))
            ));
        }
        let n = ids.len() as i64;
        let escrow_balance = if paid { "credits_posted" } else { "credits_pending" };
        let paid_total = if paid { n * amount } else { 0 };
        statements.push(format!(
            "UPDATE ledger_accounts SET {escrow_balance} = {escrow_balance} + {} WHERE id = '{escrow}'",
            n * amount
        ));
        statements.push(format!(
            "UPDATE offers SET community_pledged_pence = community_pledged_pence + {}, \
             community_paid_pence = community_paid_pence + {paid_total}, pledge_count = pledge_count + {n}, \
             investor_count = investor_count + {n} WHERE id = '{offer}'",
            n * amount
        ));
        community_shares::db::write_transaction(conn, |c| {
            for sql in &statements {
                diesel::sql_query(sql.as_str()).execute(c)?;
            }
            Ok(())
        })?;
    }
    Ok(references)
}

/// Fails with the first few problems when `ledger verify` found any.
pub fn ensure_balanced(verdict: &community_shares::ledger::verify::Verification) -> anyhow::Result<()> {
    anyhow::ensure!(
        verdict.balanced,
        "ledger problems: {:?}",
        verdict.problems.iter().take(5).collect::<Vec<_>>()
    );
    Ok(())
}
