//! The test harness: each test starts the real application on a random port against a fresh
//! database (a temporary SQLite file, or a new PostgreSQL database in the cluster that
//! `scripts/test` starts) and talks HTTP to it. `both_backends!` writes a test once and runs it
//! on each backend.

#![allow(dead_code)]

pub mod binary;
pub mod cluster;
pub mod patience;
pub mod smtp;
pub mod stripe;

use std::sync::atomic::{AtomicU64, Ordering};

use community_shares::config::Settings;
use community_shares::db::Db;
use community_shares::server::Application;
use diesel::prelude::*;
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{json, Value};

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";
pub const PASSWORD: &str = "correct horse battery staple";
/// The transparency log's key for every instance a test starts over one database, as a real
/// deployment sets one for all its instances: a server refuses to sign a log under a key that did
/// not sign its latest checkpoint.
pub const LOG_KEY: &str = "Y29tbXVuaXR5LXNoYXJlcyB0ZXN0IGxvZyBrZXkgMzI=";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Writes each test once and runs it on SQLite and on PostgreSQL:
/// `both_backends! { async fn name(backend) { ... } }` makes `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($(async fn $name:ident($backend:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn run($backend: $crate::support::Backend) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    run($crate::support::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    run($crate::support::Backend::Postgres).await
                }
            }
        )*
    };
}

/// A fresh, empty database of the given backend, kept alive with the value.
pub struct TestDatabase {
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl TestDatabase {
    /// The same database, for a second instance (with a folder of its own).
    pub fn share(&self) -> Self {
        TestDatabase {
            url: self.url.clone(),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("test.db").display()),
            Backend::Postgres => tokio::task::spawn_blocking(create_postgres_database)
                .await
                .expect("create database task"),
        };
        TestDatabase { url, dir }
    }
}

fn create_postgres_database() -> String {
    let admin_url = std::env::var("CS_TEST_POSTGRES_URL").expect(
        "CS_TEST_POSTGRES_URL is not set: run the suite with ./scripts/test, which starts a throwaway PostgreSQL",
    );
    let name = format!("cs_test_{}", uuid::Uuid::now_v7().simple());
    let mut admin = PgConnection::establish(&admin_url).expect("connect to the test PostgreSQL server");
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .expect("create test database");
    let (base, _) = admin_url.rsplit_once('/').expect("URL has a database path");
    format!("{base}/{name}")
}

/// Settings for a test app: random port, the given database, fast (weak) argon2 parameters.
pub fn test_settings(db: &TestDatabase) -> Settings {
    let mut settings = Settings::default();
    settings.server.bind = "127.0.0.1:0".into();
    settings.server.workers = 2;
    settings.database.url = SecretString::from(db.url.clone());
    settings.database.pool_size = 4;
    settings.auth.jwt_secret = Some(SecretString::from(JWT_SECRET));
    settings.auth.secret_file = db.dir.path().join("jwt-secret");
    settings.transparency.signing_key = Some(SecretString::from(LOG_KEY));
    settings.transparency.key_file = db.dir.path().join("transparency-key");
    // Checkpoints at every tick, so tests see public money on the record at once.
    settings.transparency.checkpoint_interval_secs = 0;
    // Weak parameters keep the suite fast; production defaults are in config/default.toml.
    settings.auth.argon2_memory_kib = 256;
    settings.auth.argon2_iterations = 1;
    // A fast scheduler, so that offers open and close promptly in tests.
    settings.jobs.tick_ms = 50;
    settings.email.file_dir = db.dir.path().join("outbox");
    settings.jobs.reminder_interval_secs = 0;
    settings
}

/// A live rule: £1 for £1, up to £250 per investor and £5,000 per offer.
pub fn live_rule() -> Value {
    json!({
        "kind": "per_pledge", "ratio_num": 1, "ratio_den": 1,
        "per_pledge_cap_pence": 25_000, "per_offer_cap_pence": 500_000,
        "trigger": {"kind": "none"}, "timing": "live",
    })
}

/// Offer terms as JSON: £1 shares, £10,000 minimum, £20,000 target, £30,000 maximum, holdings
/// of £100 to £5,000, open since a minute ago and closing in 30 days.
pub fn offer_body() -> Value {
    let now = chrono::Utc::now();
    json!({
        "title": "Solar roofs for Riverside",
        "summary": "Panels on the school and the village hall.",
        "share_price_pence": 100,
        "min_target_pence": 1_000_000,
        "target_pence": 2_000_000,
        "max_target_pence": 3_000_000,
        "min_holding_pence": 10_000,
        "max_holding_pence": 500_000,
        "opens_at": (now - chrono::Duration::minutes(1)).to_rfc3339(),
        "closes_at": (now + chrono::Duration::days(30)).to_rfc3339(),
        "cooling_off_days": 14,
        "interest_rate_bps": 300,
        "document_url": "https://example.org/riverside-offer.pdf",
    })
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    /// The metrics listener's port, when the settings gave it one.
    pub metrics_port: Option<u16>,
    pub client: reqwest::Client,
    pub backend: Backend,
    pub settings: Settings,
    pub database: TestDatabase,
    counter: AtomicU64,
    /// Each funder made by [`TestApp::funder`] gets a second admin (a colleague), who agrees
    /// when a helper needs two people (see [`TestApp::fund`]).
    colleagues: std::sync::Mutex<std::collections::HashMap<String, TestUser>>,
}

/// An answer: status, headers and the body parsed as JSON (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        self
    }

    /// The fields named in a problem's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        let database = TestDatabase::new(backend).await;
        Self::spawn_with(backend, database, |_| {}).await
    }

    /// Starts an app over `database` with settings adjusted by `adjust`.
    pub async fn spawn_with(backend: Backend, database: TestDatabase, adjust: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = test_settings(&database);
        adjust(&mut settings);
        let app = Application::build(settings.clone()).await.expect("application starts");
        let (port, metrics_port) = (app.port(), app.metrics_port());
        tokio::spawn(app.run_until_stopped());
        TestApp {
            address: format!("http://127.0.0.1:{port}"),
            port,
            metrics_port,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            backend,
            settings,
            database,
            counter: AtomicU64::new(0),
            colleagues: Default::default(),
        }
    }

    /// A number unique within this app, for unique emails and registration numbers.
    pub fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Answer::read(request.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Answer {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: &Value) -> Answer {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    /// Registers a new user named after `label` and signs them in.
    pub async fn user(&self, label: &str) -> TestUser {
        let email = format!("{label}-{}@example.org", self.next());
        self.post(
            "/api/v1/auth/register",
            None,
            &json!({"email": email, "password": PASSWORD, "display_name": label}),
        )
        .await
        .expect(201);
        self.login(&email, PASSWORD).await
    }

    pub async fn login(&self, email: &str, password: &str) -> TestUser {
        let answer = self
            .post(
                "/api/v1/auth/login",
                None,
                &json!({"email": email, "password": password}),
            )
            .await;
        answer.expect(200);
        let me = self.get("/api/v1/me", answer.body["access_token"].as_str()).await;
        TestUser {
            id: me.body["id"].as_str().expect("me has an id").to_owned(),
            email: email.to_owned(),
            password: password.to_owned(),
            access_token: answer.body["access_token"].as_str().expect("access token").to_owned(),
            refresh_token: answer.body["refresh_token"].as_str().expect("refresh token").to_owned(),
        }
    }

    /// `admin` types a bank receipt of `amount_pence` for the pledge with `reference`, received
    /// now; when the offer holds match money and it awaits a second person, `second` (another
    /// admin of the society, or a platform admin) confirms it. Answers the typed receipt.
    pub async fn receipt_by_hand(
        &self,
        admin: &TestUser,
        second: &TestUser,
        offer: &str,
        reference: &Value,
        amount_pence: i64,
    ) -> Answer {
        let typed = self
            .post(
                &format!("/api/v1/offers/{offer}/bank-receipts"),
                Some(&admin.access_token),
                &json!({"reference": reference, "amount_pence": amount_pence, "received_at": chrono::Utc::now().to_rfc3339()}),
            )
            .await;
        typed.expect(201);
        if typed.body["receipt"]["status"] == "awaiting_confirmation" {
            let id = typed.body["receipt"]["id"].as_str().expect("receipt id");
            self.post(
                &format!("/api/v1/offers/{offer}/bank-receipts/{id}/confirm"),
                Some(&second.access_token),
                &json!({}),
            )
            .await
            .expect(200);
        }
        typed
    }

    /// A platform admin (the CLI's job in production; here the flag is set in the database).
    pub async fn platform_admin(&self) -> TestUser {
        let user = self.user("platform-admin").await;
        let id = user.id.clone();
        self.with_db(move |conn| {
            use community_shares::db::schema::users;
            diesel::update(users::table.find(&id))
                .set(users::is_platform_admin.eq(true))
                .execute(conn)
                .map(|_| ())
                .map_err(Into::into)
        })
        .await;
        user
    }

    /// Creates a society administered by `admin`; returns its id.
    pub async fn society(&self, admin: &TestUser) -> String {
        let n = self.next();
        let answer = self
            .post(
                "/api/v1/societies",
                Some(&admin.access_token),
                &json!({
                    "name": format!("Riverside Community Energy {n}"),
                    "kind": "community_benefit_society",
                    "registration_number": format!("RS{n:06}"),
                    "postcode": "BS1 4DJ",
                }),
            )
            .await;
        answer.expect(201);
        answer.body["id"].as_str().expect("society id").to_owned()
    }

    /// Creates a funder (by `platform_admin`) administered by `admin` and a colleague (both
    /// invited by the platform admin as the funder's first admins, and accepted); returns its
    /// id. The colleague is [`TestApp::colleague`].
    pub async fn funder(&self, platform_admin: &TestUser, admin: &TestUser) -> String {
        let id = self.bare_funder(platform_admin).await;
        self.make_funder_admin(platform_admin, &id, admin).await;
        let colleague = self.user("funder-colleague").await;
        self.make_funder_admin(platform_admin, &id, &colleague).await;
        self.colleagues
            .lock()
            .expect("colleagues")
            .insert(id.clone(), colleague);
        id
    }

    /// Creates a funder with no admins yet (by `platform_admin`); returns its id.
    pub async fn bare_funder(&self, platform_admin: &TestUser) -> String {
        let answer = self
            .post(
                "/api/v1/funders",
                Some(&platform_admin.access_token),
                &json!({"name": format!("Community Shares Booster {}", self.next())}),
            )
            .await;
        answer.expect(201);
        answer.body["id"].as_str().expect("funder id").to_owned()
    }

    /// Two admins of the funder, `first` and `second`, add `user` as an admin (the first asks,
    /// the second agrees), and `user` accepts.
    pub async fn add_funder_admin_by_two(&self, first: &TestUser, second: &TestUser, funder: &str, user: &TestUser) {
        let path = format!("/api/v1/funders/{funder}/admins");
        let asked = self
            .post(&path, Some(&first.access_token), &json!({"email": user.email}))
            .await;
        asked.expect(202);
        assert_eq!(asked.body["status"], "awaiting_second_admin", "{asked:?}");
        let agreed = self
            .post(&path, Some(&second.access_token), &json!({"email": user.email}))
            .await;
        agreed.expect(202);
        assert_eq!(agreed.body["status"], "invited", "{agreed:?}");
        self.accept_invitation(user, agreed.body["invitation_id"].as_str().expect("invitation id"))
            .await;
    }

    /// The second admin [`TestApp::funder`] gave the funder.
    pub fn colleague(&self, funder: &str) -> TestUser {
        self.colleagues.lock().expect("colleagues")[funder].clone()
    }

    /// `by` invites `user` to administer the funder (expecting them invited at once, as a
    /// platform admin's invitation of a funder's first admins is), and `user` accepts.
    pub async fn make_funder_admin(&self, by: &TestUser, funder: &str, user: &TestUser) {
        let invited = self
            .post(
                &format!("/api/v1/funders/{funder}/admins"),
                Some(&by.access_token),
                &json!({"email": user.email}),
            )
            .await;
        invited.expect(202);
        assert_eq!(invited.body["status"], "invited", "{invited:?}");
        self.accept_invitation(user, invited.body["invitation_id"].as_str().expect("invitation id"))
            .await;
    }

    /// `user` accepts their invitation `id` (it must be among their open invitations).
    pub async fn accept_invitation(&self, user: &TestUser, id: &str) {
        let mine = self.get("/api/v1/me/invitations", Some(&user.access_token)).await;
        mine.expect(200);
        assert!(
            mine.body.as_array().expect("a list").iter().any(|i| i["id"] == id),
            "the invitation is among theirs: {mine:?}"
        );
        self.post(
            &format!("/api/v1/me/invitations/{id}/accept"),
            Some(&user.access_token),
            &json!({}),
        )
        .await
        .expect(200);
    }

    /// `admin` invites `user` to administer the society too, and `user` accepts.
    pub async fn make_society_admin(&self, admin: &TestUser, society: &str, user: &TestUser) {
        let invited = self
            .post(
                &format!("/api/v1/societies/{society}/admins"),
                Some(&admin.access_token),
                &json!({"email": user.email}),
            )
            .await;
        invited.expect(202);
        self.accept_invitation(user, invited.body["invitation_id"].as_str().expect("invitation id"))
            .await;
    }

    /// Sets the society's bank details (needed before an offer is submitted).
    pub async fn bank_details(&self, admin: &TestUser, society: &str) {
        self.put(
            &format!("/api/v1/societies/{society}/bank-details"),
            Some(&admin.access_token),
            &json!({"account_name": "Riverside Energy Ltd", "sort_code": "123456", "account_number": "12345678"}),
        )
        .await
        .expect(200);
    }

    /// A draft offer with `body`; returns its id.
    pub async fn draft_offer(&self, admin: &TestUser, society: &str, body: &Value) -> String {
        let answer = self
            .post(
                &format!("/api/v1/societies/{society}/offers"),
                Some(&admin.access_token),
                body,
            )
            .await;
        answer.expect(201);
        answer.body["id"].as_str().expect("offer id").to_owned()
    }

    /// Drafts, submits and approves an offer (the society needs bank details); returns its id.
    pub async fn approved_offer(
        &self,
        admin: &TestUser,
        platform_admin: &TestUser,
        society: &str,
        body: &Value,
    ) -> String {
        let id = self.draft_offer(admin, society, body).await;
        self.post(
            &format!("/api/v1/offers/{id}/submit"),
            Some(&admin.access_token),
            &json!({}),
        )
        .await
        .expect(200);
        self.post(
            &format!("/api/v1/offers/{id}/approve"),
            Some(&platform_admin.access_token),
            &json!({}),
        )
        .await
        .expect(200);
        id
    }

    /// An approved offer that has been opened by the scheduler; returns its id.
    /// A society admin, a platform admin, and an open offer of a society with bank details.
    pub async fn open_offer_scene(&self) -> (TestUser, TestUser, String) {
        let admin = self.user("society-admin").await;
        let platform = self.platform_admin().await;
        let society = self.society(&admin).await;
        self.bank_details(&admin, &society).await;
        let offer = self.open_offer(&admin, &platform, &society).await;
        (admin, platform, offer)
    }

    pub async fn open_offer(&self, admin: &TestUser, platform_admin: &TestUser, society: &str) -> String {
        let id = self.approved_offer(admin, platform_admin, society, &offer_body()).await;
        self.wait_for_status(&id, Some(&admin.access_token), "open").await;
        id
    }

    /// Polls the pledge (seen with `token`) until `done` holds (at most `PATIENCE`).
    pub async fn wait_for_pledge(&self, id: &str, token: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = crate::support::patience::deadline();
        loop {
            let pledge = self.get(&format!("/api/v1/pledges/{id}"), Some(token)).await;
            pledge.expect(200);
            if done(&pledge.body) {
                return pledge.body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}: {}",
                pledge.text
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Polls the offer until it reaches `status` (at most `PATIENCE`).
    pub async fn wait_for_status(&self, offer: &str, token: Option<&str>, status: &str) -> Value {
        let deadline = crate::support::patience::deadline();
        loop {
            let answer = self.get(&format!("/api/v1/offers/{offer}"), token).await;
            if answer.body["status"] == status {
                return answer.body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "offer {offer} did not become {status}: {}",
                answer.text
            );
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    /// A signed-in user with a complete investor profile (postcode BS1 4DJ, born 1980).
    pub async fn investor(&self, label: &str) -> TestUser {
        let user = self.user(label).await;
        self.put(
            "/api/v1/me/profile",
            Some(&user.access_token),
            &json!({
                "full_name": format!("{label} Example"),
                "address_line1": "1 Quay Street",
                "town": "Bristol",
                "postcode": "BS1 4DJ",
                "date_of_birth": "1980-05-01",
            }),
        )
        .await
        .expect(200);
        user
    }

    /// Pledges `amount_pence` by bank transfer with a fresh idempotency key.
    pub async fn pledge(&self, investor: &TestUser, offer: &str, amount_pence: i64) -> Answer {
        let key = uuid::Uuid::now_v7().to_string();
        self.pledge_with_key(investor, offer, amount_pence, &key).await
    }

    pub async fn pledge_with_key(&self, investor: &TestUser, offer: &str, amount_pence: i64, key: &str) -> Answer {
        let response = self
            .client
            .post(format!("{}/api/v1/offers/{offer}/pledges", self.address))
            .bearer_auth(&investor.access_token)
            .header("Idempotency-Key", key)
            .json(&json!({"amount_pence": amount_pence, "payment_method": "bank_transfer", "accept_terms": true}))
            .send()
            .await
            .expect("request sent");
        Answer::read(response).await
    }

    /// A funder with a live fund ([`live_rule`], budget £10,000) whose application for `offer`
    /// (by the society's admin) is approved with `commitment_pence`: (the funder's admin, the
    /// fund's id).
    pub async fn approved_live_fund(
        &self,
        society_admin: &TestUser,
        platform_admin: &TestUser,
        offer: &str,
        commitment_pence: i64,
    ) -> (TestUser, String) {
        let funder_admin = self.user("funder-admin").await;
        let funder = self.funder(platform_admin, &funder_admin).await;
        let fund = self.fund(&funder_admin, &funder, 1_000_000, live_rule()).await;
        let application = self.apply(society_admin, offer, &fund).await;
        self.post(
            &format!("/api/v1/funds/{fund}/applications/{application}/approve"),
            Some(&funder_admin.access_token),
            &json!({"commitment_pence": commitment_pence}),
        )
        .await
        .expect(200);
        (funder_admin, fund)
    }

    /// Creates a fund of `funder` (by one of its admins); returns its id. A new fund needs a
    /// second admin for every approval; tests not about that rule relax it with two admins
    /// (`funder_admin` asks, the funder's colleague agrees), so one admin approves alone.
    pub async fn fund(&self, funder_admin: &TestUser, funder: &str, budget_pence: i64, rule: Value) -> String {
        let fund = self.fund_needing_two(funder_admin, funder, budget_pence, rule).await;
        let relax = |who: TestUser| {
            let path = format!("/api/v1/funds/{fund}/second-approval");
            async move {
                self.put(&path, Some(&who.access_token), &json!({"threshold_pence": null}))
                    .await
            }
        };
        relax(funder_admin.clone()).await.expect(202);
        relax(self.colleague(funder)).await.expect(200);
        fund
    }

    /// Creates a fund as it starts: every approval needs a second admin.
    pub async fn fund_needing_two(
        &self,
        funder_admin: &TestUser,
        funder: &str,
        budget_pence: i64,
        rule: Value,
    ) -> String {
        let answer = self
            .post(
                &format!("/api/v1/funders/{funder}/funds"),
                Some(&funder_admin.access_token),
                &json!({"name": "Riverside Match Fund", "budget_pence": budget_pence, "rule": rule}),
            )
            .await;
        answer.expect(201);
        assert_eq!(answer.body["second_approval_threshold_pence"], json!(0), "{answer:?}");
        answer.body["id"].as_str().expect("fund id").to_owned()
    }

    /// The society applies `offer` to `fund`; returns the application id.
    pub async fn apply(&self, society_admin: &TestUser, offer: &str, fund: &str) -> String {
        let answer = self
            .post(
                &format!("/api/v1/offers/{offer}/match-applications"),
                Some(&society_admin.access_token),
                &json!({"fund_id": fund}),
            )
            .await;
        answer.expect(201);
        answer.body["id"].as_str().expect("application id").to_owned()
    }

    /// The platform's ledger verdict (as a platform admin).
    pub async fn verify_ledger(&self, platform_admin: &TestUser) -> Value {
        let answer = self
            .get("/api/v1/admin/ledger/verify", Some(&platform_admin.access_token))
            .await;
        answer.expect(200);
        answer.body
    }

    /// The recipients of every email of `kind` in the outbox, sorted.
    pub async fn recipients(&self, kind: &'static str) -> Vec<String> {
        use community_shares::db::schema::outbox;
        use diesel::prelude::*;
        let mut recipients: Vec<String> = self
            .with_db(move |conn| {
                Ok(outbox::table
                    .filter(outbox::kind.eq(kind))
                    .select(outbox::recipient)
                    .load(conn)?)
            })
            .await;
        recipients.sort();
        recipients
    }

    /// Runs blocking database work against this app's database.
    pub async fn with_db<T, F>(&self, work: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(&mut community_shares::db::DbConnection) -> Result<T, community_shares::error::AppError>
            + Send
            + 'static,
    {
        let settings = self.settings.clone();
        tokio::task::spawn_blocking(move || {
            let db = Db::connect(&settings.database, settings.database_target().expect("valid URL")).expect("connect");
            let mut conn = db.conn().expect("connection");
            work(&mut conn).expect("database work")
        })
        .await
        .expect("database task")
    }
}

impl Answer {
    pub async fn read(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body read");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }
}
