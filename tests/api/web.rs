//! The investor page: how it is served (caching, compression, security headers), the API calls
//! made for it, its pure helpers (`node --test`), and an end-to-end run in headless Chromium
//! (`tests/web/e2e.mjs`, playwright-core from npm, which `scripts/test` installs).

use std::path::PathBuf;
use std::process::Command;

use serde_json::json;

use secrecy::SecretString;

use crate::both_backends;
use crate::support::stripe::{StripeFake, SECRET_KEY, WEBHOOK_SECRET};
use crate::support::{Backend, TestApp, TestDatabase};

const PUBLISHABLE_KEY: &str = "pk_test_e2e";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `node` with `args` in `tests/web` off the async executor (the server under test shares
/// it), failing the test with its output when it fails.
async fn node_async(args: &[&str], env: &[(&str, String)]) -> String {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        node(&args, &env)
    })
    .await
    .expect("node runner")
}

/// Runs `node` with `args` in `tests/web`, failing the test with its output when it fails.
fn node(args: &[&str], env: &[(&str, String)]) -> String {
    let dir = root().join("tests/web");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "tests/web/node_modules is missing: run the suite with ./scripts/test, which installs \
         playwright-core and axe-core there (npm ci) and Chromium (apt)"
    );
    let output = Command::new("node")
        .args(args)
        .current_dir(&dir)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("node runs (scripts/test checks it is installed)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "node {args:?} failed:\n{text}");
    text
}

/// Where a browser run writes its screenshots: docs/screenshots from the SQLite run only (the
/// two runs go at once and would race), nowhere from the PostgreSQL run.
fn screenshots(backend: Backend) -> String {
    if backend == Backend::Sqlite {
        root().join("docs/screenshots").display().to_string()
    } else {
        String::new()
    }
}

/// On the SQLite run, each named screenshot was written since `started`.
fn written_since(backend: Backend, started: std::time::SystemTime, names: &[&str]) {
    if backend != Backend::Sqlite {
        return;
    }
    for name in names {
        let path = root().join(format!("docs/screenshots/{name}.png"));
        let written = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .expect("screenshot written");
        assert!(written >= started, "{} was not written by this run", path.display());
    }
}

#[test]
fn the_page_helpers_hold() {
    node(&["--test", "format.test.mjs"], &[]);
}

/// Every file in `web/` is compiled into the server (a file left out would be a 404).
#[test]
fn every_file_in_web_is_served() {
    let source = std::fs::read_to_string(root().join("src/api/web_page.rs")).unwrap();
    for entry in std::fs::read_dir(root().join("web")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let listed = name == "index.html" || source.contains(&format!("include_bytes!(\"../../web/{name}\")"));
        assert!(listed, "web/{name} is not in web_page::FILES");
    }
}

async fn raw(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.client.get(format!("{}{path}", app.address));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request sent")
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

both_backends! {
    async fn the_page_is_served_compressed_cached_and_locked_down(backend) {
        let app = TestApp::spawn(backend).await;
        let index = raw(&app, "/", &[("Accept-Encoding", "gzip")]).await;
        assert_eq!(index.status(), 200);
        assert_eq!(header(&index, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&index, "content-encoding"), "gzip");
        assert_eq!(header(&index, "cache-control"), "no-cache");
        let csp = header(&index, "content-security-policy").to_owned();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("stripe"), "no Stripe in the policy when cards are off: {csp}");
        let etag = header(&index, "etag").to_owned();
        let mut total = index.bytes().await.unwrap().len();

        let again = raw(&app, "/", &[("Accept-Encoding", "gzip"), ("If-None-Match", &etag)]).await;
        assert_eq!(again.status(), 304);
        let plain = raw(&app, "/", &[]).await;
        assert_eq!(header(&plain, "content-encoding"), "");
        assert_ne!(header(&plain, "etag"), etag, "each encoding has its own tag");
        let html = plain.text().await.unwrap();

        // Every asset the page names is versioned, cached for a year, and counted in the first load.
        let assets: Vec<&str> = html
            .split('"')
            .filter(|s| s.starts_with("/assets/"))
            .collect();
        assert!(assets.len() >= 6, "{assets:?}");
        for asset in &assets {
            let response = raw(&app, asset, &[("Accept-Encoding", "gzip, br")]).await;
            assert_eq!(response.status(), 200, "{asset}");
            assert_eq!(header(&response, "cache-control"), "public, max-age=31536000, immutable");
            assert_eq!(header(&response, "x-content-type-options"), "nosniff");
            total += response.bytes().await.unwrap().len();
        }
        // pages.js is imported by app.js rather than named by index.html: all modules count.
        for module in ["app.js", "api.js", "format.js", "ui.js", "pages.js"] {
            assert!(assets.iter().any(|a| a.ends_with(module)), "index.html preloads {module}");
        }
        assert!(total < 100_000, "first load is {total} bytes compressed");
        eprintln!("first load, compressed: {total} bytes");

        // An asset of another release is still served, but not cached for long.
        let old = raw(&app, "/assets/0123456789ab/app.js", &[]).await;
        assert_eq!(old.status(), 200);
        assert_eq!(header(&old, "cache-control"), "no-cache");
        let missing = raw(&app, &assets[0].replace("favicon.svg", "nope.js"), &[]).await;
        assert_eq!(missing.status(), 404);
        assert_eq!(header(&missing, "content-type"), "application/problem+json");
    }

    async fn the_page_learns_payment_methods_and_match_funders_from_the_api(backend) {
        let app = TestApp::spawn(backend).await;
        let methods = app.get("/api/v1/payment-methods", None).await;
        methods.expect(200);
        assert_eq!(methods.body, json!({"methods": ["bank_transfer"], "stripe_publishable_key": null}));

        let (admin, platform, offer) = app.open_offer_scene().await;
        let funders = app.get(&format!("/api/v1/offers/{offer}/match-funders"), None).await;
        funders.expect(200);
        assert_eq!(funders.body, json!([]));
        let funder_admin = app.user("funder-admin").await;
        let funder = app.funder(&platform, &funder_admin).await;
        let fund = app.fund(&funder_admin, &funder, 1_000_000, crate::support::live_rule()).await;
        let application = app.apply(&admin, &offer, &fund).await;
        // A pending application is not shown.
        assert_eq!(app.get(&format!("/api/v1/offers/{offer}/match-funders"), None).await.body, json!([]));
        approve(&app, &funder_admin, &fund, &application, 400_000).await;
        let investor = app.investor("investor").await;
        app.pledge(&investor, &offer, 20_000).await.expect(201);
        let funders = app.get(&format!("/api/v1/offers/{offer}/match-funders"), None).await;
        funders.expect(200);
        let only = &funders.body[0];
        assert_eq!(only["funder_id"], funder.as_str());
        assert_eq!(only["fund_id"], fund.as_str());
        assert_eq!(only["fund_name"], "Riverside Match Fund");
        assert_eq!(only["status"], "approved");
        assert_eq!(only["commitment_pence"], 400_000);
        assert_eq!(only["match_pence"], 20_000);
        assert!(only["funder_name"].as_str().unwrap().starts_with("Community Shares Booster"));
        assert_eq!(funders.body.as_array().unwrap().len(), 1);
        app.get("/api/v1/offers/nope/match-funders", None).await.expect(404);
        // A draft's funders are as hidden as the draft.
        let society = app.society(&admin).await;
        let draft = app.draft_offer(&admin, &society, &crate::support::offer_body()).await;
        app.get(&format!("/api/v1/offers/{draft}/match-funders"), None).await.expect(404);
        app.get(&format!("/api/v1/offers/{draft}/match-funders"), Some(&admin.access_token)).await.expect(200);
    }

    async fn an_investor_signs_up_pledges_and_cancels_in_a_real_browser(backend) {
        let app = TestApp::spawn(backend).await;
        let (admin, platform, offer) = app.open_offer_scene().await;
        let offer_view = app.get(&format!("/api/v1/offers/{offer}"), None).await.body;
        let society = app
            .get(&format!("/api/v1/societies/{}", offer_view["society_id"].as_str().unwrap()), None)
            .await
            .body;
        let funder_admin = app.user("funder-admin").await;
        let funder = app.funder(&platform, &funder_admin).await;
        let fund = app.fund(&funder_admin, &funder, 1_000_000, crate::support::live_rule()).await;
        let application = app.apply(&admin, &offer, &fund).await;
        approve(&app, &funder_admin, &fund, &application, 500_000).await;
        // Three neighbours have pledged already: £12,000 of community money and £750 of match.
        let mut neighbours = Vec::new();
        for n in 0..3 {
            let neighbour = app.investor(&format!("neighbour{n}")).await;
            app.pledge(&neighbour, &offer, 400_000).await.expect(201);
            neighbours.push(neighbour.id);
        }
        let funder_name = app.get(&format!("/api/v1/offers/{offer}/match-funders"), None).await.body[0]["funder_name"]
            .as_str()
            .unwrap()
            .to_owned();

        let shots = screenshots(backend);
        let started = std::time::SystemTime::now();
        let out = node_async(
            &["e2e.mjs"],
            &[
                ("CS_E2E_BASE_URL", app.address.clone()),
                ("CS_E2E_OFFER_ID", offer.clone()),
                ("CS_E2E_OFFER_TITLE", offer_view["title"].as_str().unwrap().to_owned()),
                ("CS_E2E_SOCIETY_NAME", society["name"].as_str().unwrap().to_owned()),
                ("CS_E2E_FUNDER_NAME", funder_name),
                ("CS_E2E_SCREENSHOTS", shots),
            ],
        )
        .await;
        eprintln!("{out}");

        // What the browser did is in the database: one cancelled pledge and one pending, both
        // of the account it made, and the ledger balances.
        let pledges = app.get(&format!("/api/v1/offers/{offer}/pledges?limit=100"), Some(&admin.access_token)).await;
        let mine: Vec<&serde_json::Value> = pledges.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| !neighbours.iter().any(|n| p["investor_id"] == n.as_str()))
            .collect();
        let mut states: Vec<(&str, i64)> = mine
            .iter()
            .map(|p| (p["status"].as_str().unwrap(), p["amount_pence"].as_i64().unwrap()))
            .collect();
        states.sort();
        assert_eq!(states, [("cancelled", 25_000), ("pending", 30_000)]);
        assert_eq!(app.verify_ledger(&platform).await["balanced"], true);
        written_since(backend, started, &["offers-desktop", "pledge-form-desktop", "offers-phone", "pledge-form-phone"]);
    }

    async fn a_card_pledge_is_paid_through_stripes_payment_element(backend) {
        let fake = StripeFake::start();
        let url = fake.url();
        let database = crate::support::TestDatabase::new(backend).await;
        let app = TestApp::spawn_with(backend, database, move |settings| {
            settings.stripe.secret_key = Some(SecretString::from(SECRET_KEY));
            settings.stripe.webhook_secret = Some(SecretString::from(WEBHOOK_SECRET));
            settings.stripe.publishable_key = Some(PUBLISHABLE_KEY.into());
            settings.stripe.api_base = url;
            // Two-second access tokens: the page refreshes its session about every second
            // throughout, so a broken rotation (a refresh token used twice revokes the
            // session) would fail this test.
            settings.auth.access_token_ttl_secs = 2;
        })
        .await;
        let methods = app.get("/api/v1/payment-methods", None).await;
        assert_eq!(methods.body, json!({"methods": ["bank_transfer", "card"], "stripe_publishable_key": PUBLISHABLE_KEY}));
        let index = raw(&app, "/", &[]).await;
        assert!(header(&index, "content-security-policy").contains("script-src 'self' https://js.stripe.com"));
        let (_admin, _platform, offer) = app.open_offer_scene().await;
        let investor = app.investor("card-investor").await;
        let out = node_async(
            &["e2e-card.mjs"],
            &[
                ("CS_E2E_BASE_URL", app.address.clone()),
                ("CS_E2E_OFFER_ID", offer.clone()),
                ("CS_E2E_EMAIL", investor.email.clone()),
                ("CS_E2E_PASSWORD", investor.password.clone()),
                ("CS_E2E_PUBLISHABLE_KEY", PUBLISHABLE_KEY.into()),
            ],
        )
        .await;
        eprintln!("{out}");
        // (The investor's first access token has long expired: sign in afresh.)
        let investor = app.login(&investor.email, &investor.password).await;
        let mine = app.get("/api/v1/me/pledges", Some(&investor.access_token)).await;
        let pledge = &mine.body["items"][0];
        assert_eq!(pledge["payment"]["method"], "card");
        assert_eq!(pledge["status"], "pending", "paid only when Stripe's webhook says so");
        assert_eq!(mine.body["items"].as_array().unwrap().len(), 1);
    }

    async fn the_public_fund_page_and_impact_views_in_a_real_browser(backend) {
        let s = crate::public_money::scene(backend).await;
        s.settled_export().await;
        let funder = s.app.get(&format!("/api/v1/funds/{}/public", s.fund_a), None).await.body["funder"]["name"]
            .as_str()
            .unwrap()
            .to_owned();
        let expect = json!({
            "funder": funder, "fund": "Riverside Match Fund", "offers": 2, "matched": "£750.00",
            "totals": {"allocated": "£750.00", "released": "£5,250.00"},
            "impact": {"investors": "3", "succeeded": "1", "failed": "1",
                       "leverage": "£13.33 of community money per £1 of match"},
            "months": 1, "funderMonths": 1,
        });
        let shots = screenshots(backend);
        let out = node_async(
            &["e2e-fund.mjs"],
            &[
                ("BASE_URL", s.app.address.clone()),
                ("FUND_ID", s.fund_a.clone()),
                ("FUNDER_ID", s.funder_a.clone()),
                ("EXPECT", expect.to_string()),
                ("SCREENSHOTS", shots),
            ],
        )
        .await;
        eprintln!("{out}");
        assert!(out.contains(r#""e2e-fund":"passed""#), "{out}");
    }

    async fn a_society_runs_its_offer_from_the_console_in_a_real_browser(backend) {
        let app = TestApp::spawn(backend).await;
        let platform = app.platform_admin().await;
        let shots = screenshots(backend);
        let started = std::time::SystemTime::now();
        let out = node_async(
            &["e2e-console.mjs"],
            &[
                ("BASE_URL", app.address.clone()),
                ("PLATFORM_EMAIL", platform.email.clone()),
                ("PLATFORM_PASSWORD", platform.password.clone()),
                ("SCREENSHOTS", shots),
            ],
        )
        .await;
        eprintln!("{out}");
        assert!(out.contains(r#""e2e-console":"passed""#), "{out}");
        // What the browser did is in the database, and the ledger balances.
        assert_eq!(app.verify_ledger(&platform).await["balanced"], true);
        written_since(backend, started, &["console-offer-form", "console-dashboard", "console-import-preview"]);
    }

    async fn a_funder_builds_a_fund_and_two_admins_approve_in_a_real_browser(backend) {
        let app = TestApp::spawn(backend).await;
        let platform = app.platform_admin().await;
        let started = std::time::SystemTime::now();
        let out = node_async(
            &["e2e-funder.mjs"],
            &[
                ("BASE_URL", app.address.clone()),
                ("PLATFORM_EMAIL", platform.email.clone()),
                ("PLATFORM_PASSWORD", platform.password.clone()),
                ("SCREENSHOTS", screenshots(backend)),
            ],
        )
        .await;
        eprintln!("{out}");
        assert!(out.contains(r#""e2e-funder":"passed""#), "{out}");
        assert_eq!(app.verify_ledger(&platform).await["balanced"], true);
        written_since(backend, started, &["funder-rule-builder", "funder-simulation"]);
    }

    async fn a_platform_admin_approves_closes_registers_verifies_and_retries_in_a_real_browser(backend) {
        // Email goes through a real SMTP server, down while one account registers: its welcome
        // email fails its one attempt and is dead when the browser opens the console.
        let mut server = crate::support::smtp::SmtpServer::start();
        let app = TestApp::spawn_with(backend, TestDatabase::new(backend).await, |s| {
            crate::email::smtp(&server)(s);
            s.email.max_attempts = 1;
        })
        .await;
        let platform = app.platform_admin().await;
        server.stop();
        let unlucky = app.user("unlucky").await;
        let deadline = crate::support::patience::deadline();
        while !app.get("/api/v1/admin/outbox?status=dead", Some(&platform.access_token)).await.text.contains(&unlucky.email) {
            assert!(std::time::Instant::now() < deadline, "the welcome email never died");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        server.resume();
        let started = std::time::SystemTime::now();
        let out = node_async(
            &["e2e-platform.mjs"],
            &[
                ("BASE_URL", app.address.clone()),
                ("PLATFORM_EMAIL", platform.email.clone()),
                ("PLATFORM_PASSWORD", platform.password.clone()),
                ("DEAD_RECIPIENT", unlucky.email.clone()),
                ("SCREENSHOTS", screenshots(backend)),
            ],
        )
        .await;
        eprintln!("{out}");
        assert!(out.contains(r#""e2e-platform":"passed""#), "{out}");
        // The email retried from the browser reaches the (restarted) server.
        let deadline = crate::support::patience::deadline();
        while !server.messages().iter().any(|m| m.to == unlucky.email) {
            assert!(std::time::Instant::now() < deadline, "the retried email never arrived");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(app.verify_ledger(&platform).await["balanced"], true);
        written_since(backend, started, &["platform-approvals", "platform-ledger"]);
    }

    async fn an_investor_sees_issued_shares_in_the_browser(backend) {
        let app = TestApp::spawn(backend).await;
        let (admin, platform, offer) = app.open_offer_scene().await;
        // Three investors pay £4,000 each: £12,000 passes the £10,000 minimum.
        let mut investors = Vec::new();
        for n in 0..3 {
            let investor = app.investor(&format!("member{n}")).await;
            let pledge = app.pledge(&investor, &offer, 400_000).await;
            pledge.expect(201);
            app.post(
                &format!("/api/v1/offers/{offer}/bank-receipts"),
                Some(&admin.access_token),
                &json!({"reference": pledge.body["payment"]["bank_reference"], "amount_pence": 400_000,
                        "received_at": chrono::Utc::now().to_rfc3339()}),
            )
            .await
            .expect(201);
            investors.push(investor);
        }
        app.post(&format!("/api/v1/offers/{offer}/close"), Some(&platform.access_token), &json!({}))
            .await
            .expect(200);
        let allocated = app.wait_for_status(&offer, Some(&admin.access_token), "allocated").await;
        let society = app
            .get(&format!("/api/v1/societies/{}", allocated["society_id"].as_str().unwrap()), None)
            .await
            .body;
        let out = node_async(
            &["e2e-holdings.mjs"],
            &[
                ("CS_E2E_BASE_URL", app.address.clone()),
                ("CS_E2E_EMAIL", investors[0].email.clone()),
                ("CS_E2E_PASSWORD", investors[0].password.clone()),
                ("CS_E2E_SOCIETY_NAME", society["name"].as_str().unwrap().to_owned()),
                ("CS_E2E_OFFER_TITLE", allocated["title"].as_str().unwrap().to_owned()),
            ],
        )
        .await;
        eprintln!("{out}");
    }
}

async fn approve(
    app: &TestApp,
    funder_admin: &crate::support::TestUser,
    fund: &str,
    application: &str,
    commitment: i64,
) {
    let answer = app
        .client
        .post(format!(
            "{}/api/v1/funds/{fund}/applications/{application}/approve",
            app.address
        ))
        .bearer_auth(&funder_admin.access_token)
        .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
        .json(&json!({"commitment_pence": commitment}))
        .send()
        .await
        .expect("request sent");
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap_or_default());
}
