//! The API against its own document: Schemathesis (pinned in the test virtualenv by
//! `scripts/test`) fuzzes the real server, on a fresh database holding realistic data (open,
//! draft and allocated offers; pending, paid and refunded pledges; a fund with an approved and
//! a pending application), as each kind of caller, with every check, positive and negative
//! data and the stateful phase. Any 5xx, undocumented status, body or header that does not
//! match its schema, or schema-valid request refused as malformed (400) fails the test. A 409
//! or 422 for a rule that depends on state is accepted (`tests/fuzz/schemathesis.toml` says
//! which statuses each check accepts, and why).
//!
//! Each caller is its own test on each backend, so that each part is short and nextest runs
//! them side by side. A run is bounded by its work (examples per operation, steps per stateful
//! scenario), never by the clock: the server under test waits as long as a loaded machine needs
//! for a database connection or the local Stripe, and Schemathesis waits as long for an answer,
//! so that a slow day cannot turn into a 503 or a timeout that the contract would call a
//! failure (the fault tests are where the database and Stripe go away). A failing run prints
//! each problem whole (operation, check, the request as a curl line, the answer) and keeps the
//! whole report in `target/fuzz-reports/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::support::patience::PATIENCE;

use serde_json::{json, Value};

use crate::both_backends;
use crate::support::stripe::{card_payments, StripeFake, WEBHOOK_SECRET};
use crate::support::{live_rule, offer_body, Backend, TestApp, TestDatabase, TestUser, PASSWORD};

/// What the run found in the database: the ids the fuzzer is given for path parameters.
struct Scene {
    roles: Vec<(&'static str, Option<TestUser>)>,
    dictionaries: Vec<(&'static str, Vec<String>)>,
}

impl Scene {
    /// The user who signs in as `role` (none for the anonymous caller).
    fn user(&self, role: &str) -> Option<&TestUser> {
        let (_, user) = self
            .roles
            .iter()
            .find(|(name, _)| *name == role)
            .expect("a role of the scene");
        user.as_ref()
    }
}

async fn post_with_key(app: &TestApp, path: &str, user: &TestUser, body: &Value) -> crate::support::Answer {
    let response = app
        .client
        .post(format!("{}{path}", app.address))
        .bearer_auth(&user.access_token)
        .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
        .json(body)
        .send()
        .await
        .expect("request sent");
    crate::support::Answer::read(response).await
}

/// A paid £`pounds` bank pledge of `investor` to `offer` (its receipt typed by `admin`, and
/// confirmed by `platform` when the offer holds match money); returns its id.
async fn paid_pledge(
    app: &TestApp,
    investor: &TestUser,
    (admin, platform): (&TestUser, &TestUser),
    offer: &str,
    pence: i64,
) -> String {
    let pledge = app.pledge(investor, offer, pence).await;
    pledge.expect(201);
    let receipt = json!({
        "reference": pledge.body["payment"]["bank_reference"],
        "amount_pence": pence,
        "received_at": chrono::Utc::now().to_rfc3339(),
    });
    let typed = post_with_key(app, &format!("/api/v1/offers/{offer}/bank-receipts"), admin, &receipt).await;
    typed.expect(201);
    if typed.body["receipt"]["status"] == "awaiting_confirmation" {
        let id = typed.body["receipt"]["id"].as_str().expect("receipt id");
        app.post(
            &format!("/api/v1/offers/{offer}/bank-receipts/{id}/confirm"),
            Some(&platform.access_token),
            &json!({}),
        )
        .await
        .expect(200);
    }
    pledge.body["id"].as_str().expect("pledge id").to_owned()
}

/// An offer with a £100 minimum, paid in full and allocated into the share register.
async fn allocated_offer(
    app: &TestApp,
    admin: &TestUser,
    platform: &TestUser,
    society: &str,
    investor: &TestUser,
) -> String {
    let mut terms = offer_body();
    for (key, value) in [
        ("min_target_pence", 10_000),
        ("target_pence", 10_000),
        ("max_target_pence", 1_000_000),
        ("min_holding_pence", 1_000),
    ] {
        terms[key] = json!(value);
    }
    let offer = app.approved_offer(admin, platform, society, &terms).await;
    app.wait_for_status(&offer, Some(&admin.access_token), "open").await;
    paid_pledge(app, investor, (admin, platform), &offer, 10_000).await;
    app.post(
        &format!("/api/v1/offers/{offer}/close"),
        Some(&platform.access_token),
        &json!({}),
    )
    .await
    .expect(200);
    app.wait_for_status(&offer, Some(&admin.access_token), "allocated")
        .await;
    offer
}

async fn scene(app: &TestApp) -> Scene {
    let platform = app.platform_admin().await;
    let society_admin = app.user("society-admin").await;
    let funder_admin = app.user("funder-admin").await;
    let investor = app.investor("investor").await;
    let other = app.investor("other-investor").await;
    let society = app.society(&society_admin).await;
    app.bank_details(&society_admin, &society).await;
    let funder = app.funder(&platform, &funder_admin).await;
    let fund = app.fund(&funder_admin, &funder, 10_000_000, live_rule()).await;
    let open = app.open_offer(&society_admin, &platform, &society).await;
    let approved = app.apply(&society_admin, &open, &fund).await;
    let approve = format!("/api/v1/funds/{fund}/applications/{approved}/approve");
    post_with_key(app, &approve, &funder_admin, &json!({"commitment_pence": 500_000}))
        .await
        .expect(200);
    let draft = app.draft_offer(&society_admin, &society, &offer_body()).await;
    let pending_application = app.apply(&society_admin, &draft, &fund).await;
    let pending = app.pledge(&investor, &open, 25_000).await.body["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let paid = paid_pledge(app, &other, (&society_admin, &platform), &open, 30_000).await;
    let refunded = paid_pledge(app, &investor, (&society_admin, &platform), &open, 12_000).await;
    let cancelled = app
        .post(
            &format!("/api/v1/pledges/{refunded}/cancel"),
            Some(&investor.access_token),
            &json!({}),
        )
        .await;
    cancelled.expect(200);
    let refund = cancelled.body["refund"]["id"].as_str().unwrap_or_default().to_owned();
    let allocated = allocated_offer(app, &society_admin, &platform, &society, &other).await;
    Scene {
        roles: vec![
            ("anonymous", None),
            ("investor", Some(investor)),
            ("funder admin", Some(funder_admin)),
            ("society admin", Some(society_admin)),
            ("platform admin", Some(platform)),
        ],
        dictionaries: vec![
            ("offers", vec![open, allocated, draft]),
            ("societies", vec![society]),
            ("funders", vec![funder]),
            ("funds", vec![fund]),
            ("applications", vec![approved, pending_application]),
            ("pledges", vec![pending, paid, refunded]),
            ("refunds", vec![refund]),
        ],
    }
}

/// The fuzzing configuration for one role: the checked-in `tests/fuzz/schemathesis.toml`, with
/// the scene's ids as dictionaries for the path parameters that name them, and for a signed-in
/// role how to sign in (again whenever a request is answered 401, say after a fuzzed logout).
fn config(scene: &Scene, dir: &Path, role: &str, user: Option<&TestUser>) -> PathBuf {
    let base = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz/schemathesis.toml"))
        .expect("tests/fuzz/schemathesis.toml");
    let mut text = base;
    for (name, values) in &scene.dictionaries {
        let values: Vec<String> = values
            .iter()
            .filter(|v| !v.is_empty())
            .map(|v| format!("{v:?}"))
            .collect();
        text.push_str(&format!("\n[dictionaries.{name}]\nvalues = [{}]\n", values.join(", ")));
    }
    if let Some(user) = user {
        text.push_str(&format!(
            "\n[auth.dynamic.openapi.bearer]\npath = \"/api/v1/auth/login\"\npayload = {{ email = {:?}, password = {:?} }}\nextract_selector = \"/access_token\"\n",
            user.email, PASSWORD
        ));
    }
    let path = dir.join(format!("schemathesis-{}.toml", role.replace(' ', "-")));
    std::fs::write(&path, text).expect("write the configuration");
    path
}

/// The seed of a role's run: fixed, so that CI is repeatable; `CS_FUZZ_SEED=random` lets each
/// run explore anew, and `CS_FUZZ_SEED=<n>` repeats a run.
fn seed(role: &str) -> Vec<String> {
    match std::env::var("CS_FUZZ_SEED").as_deref() {
        Ok("random") => Vec::new(),
        Ok(seed) => vec!["--seed".into(), seed.to_owned()],
        Err(_) => {
            let fixed = 20261130 + role.len() as u64;
            vec!["--seed".into(), fixed.to_string()]
        }
    }
}

/// Examples per operation and phase: `CS_FUZZ_EXAMPLES`, or the suite's budget.
fn examples(backend: Backend) -> u32 {
    let budget = match backend {
        Backend::Postgres => 25,
        Backend::Sqlite => 10,
    };
    std::env::var("CS_FUZZ_EXAMPLES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(budget)
}

fn schemathesis() -> PathBuf {
    let python = std::env::var("CS_TEST_PYTHON")
        .expect("CS_TEST_PYTHON is not set: run the suite with ./scripts/test, which installs Schemathesis");
    Path::new(&python).with_file_name("schemathesis")
}

/// Where a run's whole report is kept: `target/fuzz-reports/<backend>-<role>.txt`.
fn report_path(backend: Backend, role: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-reports");
    std::fs::create_dir_all(&dir).expect("target/fuzz-reports");
    dir.join(format!("{backend:?}-{}.txt", role.replace(' ', "-")).to_lowercase())
}

/// One Schemathesis run as `role`; panics with every problem it found, whole.
fn fuzz(app_address: &str, config: &Path, role: &str, max_examples: u32, report_file: &Path) {
    let started = Instant::now();
    let mut command = Command::new(schemathesis());
    // Schemathesis and hypothesis keep their caches in the working directory.
    command.current_dir(config.parent().expect("the configuration is in a folder"));
    command
        .arg("--config-file")
        .arg(config)
        .args(["run", &format!("{app_address}/api/v1/openapi.json")])
        .args(["--checks", "all", "--max-examples", &max_examples.to_string()])
        // An answer is awaited as long as a test waits for anything (a loaded machine is slow,
        // not wrong), and shown whole when it is a problem.
        .args(["--request-timeout", &PATIENCE.as_secs().to_string()])
        .args(["--output-truncate", "false"])
        // Two of Hypothesis's own health checks are about the generator, not the API: too few
        // generated bodies pass its filters (the bank-statement import's text body; with a
        // fixed seed it came and went as operations were added), and generating is slow (it
        // times itself by the clock, so a loaded machine trips it). Every check of the API
        // stays.
        .args(["--suppress-health-check", "filter_too_much,too_slow"])
        .args(seed(role))
        .env("CS_FUZZ_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz"))
        .env("NO_COLOR", "1");
    let output = command.output().expect("schemathesis runs");
    let report = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    std::fs::write(report_file, format!("{report}\n{stderr}")).expect("keep the report");
    eprintln!(
        "schemathesis as {role}: {} in {:.0?} (report: {})",
        final_line(&report),
        started.elapsed(),
        report_file.display()
    );
    if std::env::var_os("CS_FUZZ_REPORT").is_some() {
        eprintln!("{report}");
    }
    assert!(
        output.status.success(),
        "Schemathesis as {role} found problems (the whole report: {}):\n{}\n{stderr}",
        report_file.display(),
        problems(&report)
    );
}

/// The report's closing line (`N passed in Ts`, or what failed), for the test's own output.
fn final_line(report: &str) -> &str {
    report
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or_default()
        .trim()
}

/// What a failing report says went wrong: its ERRORS, FAILURES and WARNINGS sections and
/// its SUMMARY, whole (each failure names the operation and the check, and gives the request
/// as a curl line and the answer), without the progress lines before them; the whole report
/// when it has none of these sections (Schemathesis stopped before its summary).
fn problems(report: &str) -> &str {
    let sections = ["ERRORS", "FAILURES", "WARNINGS", "SUMMARY"];
    let first = report.lines().find(|line| {
        let name = line.trim_matches(|c: char| c == '=' || c.is_whitespace());
        line.starts_with("==") && sections.contains(&name)
    });
    match first {
        Some(line) => {
            let at = report.find(line).unwrap_or_default();
            &report[at..]
        }
        None => report,
    }
}

/// The whole run as `role`: a fresh database and server with the scene, fuzzed.
async fn fuzz_as(backend: Backend, role: &'static str) {
    let stripe = StripeFake::start();
    let database = TestDatabase::new(backend).await;
    let url = stripe.url();
    let app = TestApp::spawn_with(backend, database, move |s| {
        card_payments(s, url);
        // The fuzzer signs in again whenever it is signed out, and registers at will.
        s.auth.anonymous_writes_max = 100_000;
        s.auth.login_max_failures = 100_000;
        // Nothing here takes the database or Stripe away, so no answer may be a 503: on a
        // loaded machine a request waits for a connection, the SQLite lock or the local Stripe
        // as long as a test waits for anything, rather than give up after production's limits.
        let patience_ms = u64::try_from(PATIENCE.as_millis()).expect("patience in ms");
        s.database.pool_timeout_ms = patience_ms;
        s.database.sqlite_busy_timeout_ms = u32::try_from(patience_ms).expect("patience in ms");
        s.stripe.timeout_secs = PATIENCE.as_secs();
    })
    .await;
    let scene = scene(&app).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(&scene, dir.path(), role, scene.user(role));
    let examples = examples(backend);
    let address = app.address.clone();
    let report = report_path(backend, role);
    tokio::task::spawn_blocking(move || fuzz(&address, &config, role, examples, &report))
        .await
        .expect("the fuzzing task");
    drop(stripe);
}

both_backends! {
    async fn the_contract_holds_for_anonymous_callers(backend) {
        fuzz_as(backend, "anonymous").await
    }

    async fn the_contract_holds_for_investors(backend) {
        fuzz_as(backend, "investor").await
    }

    async fn the_contract_holds_for_funder_admins(backend) {
        fuzz_as(backend, "funder admin").await
    }

    async fn the_contract_holds_for_society_admins(backend) {
        fuzz_as(backend, "society admin").await
    }

    async fn the_contract_holds_for_platform_admins(backend) {
        fuzz_as(backend, "platform admin").await
    }
}
