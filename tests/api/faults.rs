//! Faults injected where money and email flow, each on the real binary:
//! - PostgreSQL stopped in the middle of a pledge surge and started again;
//! - the server killed (SIGKILL) while it delivers email to an SMTP server that holds each
//!   message a while;
//! - the server killed between a Stripe call and the commit of what Stripe answered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::json;

use crate::both_backends;
use crate::support::binary::{self, RunningServer};
use crate::support::cluster::Cluster;
use crate::support::smtp::SmtpServer;
use crate::support::stripe::{StripeFake, StripeProxy, SECRET_KEY, WEBHOOK_SECRET};
use crate::support::{Backend, TestApp, TestDatabase, TestUser, PASSWORD};

/// The binary over `database` with fast jobs; `extra` adds or overrides settings.
fn server(database: &TestDatabase, extra: &[(&str, String)]) -> RunningServer {
    let mut command = binary::serve_command(database);
    command
        .env("CS__AUTH__ANONYMOUS_WRITES_MAX", "100000")
        .env("CS__JOBS__TICK_MS", "50");
    for (key, value) in extra {
        command.env(key, value);
    }
    RunningServer::start(command)
}

/// An in-process app over `database` for making data (and opening offers). It has no card
/// payments, so its jobs never call Stripe: only the binary under test does.
async fn maker(backend: Backend, database: &TestDatabase) -> TestApp {
    TestApp::spawn_with(backend, database.share(), |s| s.auth.anonymous_writes_max = 100_000).await
}

/// What one pledge attempt saw, retried with its key until it was answered for good.
#[derive(Debug, Default)]
struct Attempts {
    statuses: HashMap<u16, usize>,
    unavailable_without_retry_after: usize,
    slowest: Duration,
    created: Vec<String>,
}

/// Pledges £100 by bank transfer with `key`, again and again while the answer is 503 or the
/// connection fails, as a client would; records every answer.
async fn pledge_until_answered(
    client: &reqwest::Client,
    base: &str,
    offer: &str,
    investor: &TestUser,
    log: &Mutex<Attempts>,
) {
    let key = uuid::Uuid::now_v7().to_string();
    let body = json!({"amount_pence": 10_000, "payment_method": "bank_transfer", "accept_terms": true});
    loop {
        let started = Instant::now();
        let sent = client
            .post(format!("{base}/api/v1/offers/{offer}/pledges"))
            .bearer_auth(&investor.access_token)
            .header("Idempotency-Key", &key)
            .json(&body)
            .send()
            .await;
        let elapsed = started.elapsed();
        let Ok(response) = sent else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key("retry-after");
        let answer: serde_json::Value = response.json().await.unwrap_or_default();
        let answered = {
            let mut log = log.lock().expect("log");
            *log.statuses.entry(status).or_default() += 1;
            log.slowest = log.slowest.max(elapsed);
            match status {
                503 => {
                    log.unavailable_without_retry_after += usize::from(!retry_after);
                    false
                }
                201 => {
                    log.created.push(answer["id"].as_str().unwrap_or_default().to_owned());
                    true
                }
                _ => true,
            }
        };
        if answered {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const INVESTORS: usize = 16;
const PLEDGES_EACH: usize = 10;

/// Each investor pledges `PLEDGES_EACH` times over `base`, every attempt retried until it is
/// answered for good; meanwhile, once 20 pledges are in, the cluster stops for three seconds.
async fn surge_through_an_outage(
    cluster: &Arc<Cluster>,
    base: &str,
    offer: &str,
    investors: Vec<TestUser>,
) -> Attempts {
    let log = Arc::new(Mutex::new(Attempts::default()));
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for investor in investors {
        let (client, base, offer, log) = (client.clone(), base.to_owned(), offer.to_owned(), log.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..PLEDGES_EACH {
                pledge_until_answered(&client, &base, &offer, &investor, &log).await;
            }
        }));
    }
    while log.lock().expect("log").created.len() < 20 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let outage = cluster.clone();
    tokio::task::spawn_blocking(move || {
        outage.pause();
        std::thread::sleep(Duration::from_secs(3));
        outage.resume();
    })
    .await
    .expect("the outage");
    for task in tasks {
        task.await.expect("a client");
    }
    Arc::try_unwrap(log).expect("one owner").into_inner().expect("log")
}

/// Only 201 and 503 (always with Retry-After), none slow, and the outage reached requests both
/// ways: waiting for a connection, and losing theirs mid-request.
fn assert_answers_through_the_outage(log: &Attempts, server: &RunningServer, pool_timeout: Duration) {
    eprintln!("answers: {:?}; slowest {:?}", log.statuses, log.slowest);
    for status in log.statuses.keys() {
        assert!([201, 503].contains(status), "answered {status}: {:?}", log.statuses);
    }
    assert_eq!(log.unavailable_without_retry_after, 0);
    // Never a hang: a request waits at most the pool timeout at each of its few database steps,
    // plus its own work, which a loaded machine may stretch to seconds (hence the slack).
    assert!(
        log.slowest < pool_timeout * 4 + Duration::from_secs(5),
        "slowest answer {:?}",
        log.slowest
    );
    let refusals: Vec<String> = server
        .log_text()
        .lines()
        .filter(|line| line.contains("request refused: unavailable"))
        .map(|line| line.split("error=").nth(1).unwrap_or_default().to_owned())
        .collect();
    let lost = refusals
        .iter()
        .filter(|e| !e.contains("no database connection available"))
        .count();
    eprintln!(
        "503s: {} waiting for a connection, {lost} with the connection lost",
        refusals.len() - lost
    );
    assert!(
        refusals.len() > lost && lost > 0,
        "the outage was not seen both ways: {refusals:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_mid_surge_is_503_with_retry_after_and_the_same_server_serves_again() {
    let cluster = Arc::new(Cluster::start());
    let database = TestDatabase {
        url: cluster.database("surge"),
        dir: tempfile::tempdir().expect("temp dir"),
    };
    let app = maker(Backend::Postgres, &database).await;
    let (_admin, platform, offer) = app.open_offer_scene().await;
    let mut investors = Vec::new();
    for i in 0..INVESTORS {
        investors.push(app.investor(&format!("surge-{i}")).await);
    }
    let pool_timeout = Duration::from_millis(1_000);
    let mut server = server(
        &database,
        &[("CS__DATABASE__POOL_TIMEOUT_MS", pool_timeout.as_millis().to_string())],
    );
    let log = surge_through_an_outage(&cluster, &server.base_url, &offer, investors).await;
    assert!(
        server.child.try_wait().expect("wait").is_none(),
        "the server stopped: {}",
        server.log_text()
    );
    assert_answers_through_the_outage(&log, &server, pool_timeout);
    // Each attempt made one pledge, and nothing is half-written: the pledges stored are those
    // answered, the ledger balances, the offer's totals are its pledges'.
    let made: std::collections::HashSet<&String> = log.created.iter().collect();
    assert_eq!(
        (log.created.len(), made.len()),
        (INVESTORS * PLEDGES_EACH, INVESTORS * PLEDGES_EACH)
    );
    let stored = app
        .with_db(|conn| {
            use community_shares::db::schema::pledges;
            Ok(pledges::table.count().get_result::<i64>(conn)?)
        })
        .await;
    assert_eq!(stored as usize, INVESTORS * PLEDGES_EACH);
    // The same process serves again, with no restart.
    let ready = reqwest::get(format!("{}/ready", server.base_url))
        .await
        .expect("ready answers");
    assert_eq!(ready.status(), 200);
    assert_eq!(app.verify_ledger(&platform).await["balanced"], true);
    let offer_view = app.get(&format!("/api/v1/offers/{offer}"), None).await;
    assert_eq!(
        offer_view.body["community_pledged_pence"],
        (INVESTORS * PLEDGES_EACH * 10_000) as i64
    );
    server.terminate();
}

/// Rows of the outbox: (id, status).
async fn outbox(database: &TestDatabase) -> Vec<(String, String)> {
    let app_settings = crate::support::test_settings(database);
    tokio::task::spawn_blocking(move || {
        use community_shares::db::schema::outbox;
        let db =
            community_shares::db::Db::connect(&app_settings.database, app_settings.database_target().expect("URL"))
                .expect("connect");
        let mut conn = db.conn().expect("connection");
        outbox::table
            .select((outbox::id, outbox::status))
            .load::<(String, String)>(&mut *conn)
            .expect("outbox")
    })
    .await
    .expect("outbox task")
}

both_backends! {
    async fn killed_while_smtp_holds_its_emails_every_email_arrives_and_a_resend_keeps_its_message_id(backend) {
        const ACCOUNTS: usize = 5;
        let hold = Duration::from_millis(1_500);
        let smtp = SmtpServer::holding(hold);
        let database = TestDatabase::new(backend).await;
        let settings = [
            ("CS__EMAIL__TRANSPORT", "smtp".to_owned()),
            ("CS__EMAIL__SMTP__HOST", "127.0.0.1".to_owned()),
            ("CS__EMAIL__SMTP__PORT", smtp.port.to_string()),
            ("CS__EMAIL__SMTP__TLS", "none".to_owned()),
            ("CS__EMAIL__LEASE_SECS", "2".to_owned()),
        ];
        let mut first = server(&database, &settings);
        let client = reqwest::Client::new();
        for i in 0..ACCOUNTS {
            let registered = client
                .post(format!("{}/api/v1/auth/register", first.base_url))
                .json(&json!({"email": format!("mail-{i}@example.org"), "password": PASSWORD, "display_name": "Mail"}))
                .send()
                .await
                .expect("registered");
            assert_eq!(registered.status(), 201);
        }
        // A welcome email each. The first is in the SMTP server's hands, its answer held: kill.
        let deadline = crate::support::patience::deadline();
        while smtp.arrivals() == 0 {
            assert!(Instant::now() < deadline, "no email reached the SMTP server");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        first.child.kill().expect("SIGKILL");
        first.child.wait().expect("reaped");
        let _second = server(&database, &settings);
        let deadline = crate::support::patience::deadline();
        loop {
            let rows = outbox(&database).await;
            if rows.len() == ACCOUNTS && rows.iter().all(|(_, status)| status == "sent") {
                break;
            }
            assert!(Instant::now() < deadline, "not every email was sent: {rows:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let rows = outbox(&database).await;
        let messages = smtp.messages();
        let mut per_id: HashMap<String, usize> = HashMap::new();
        for message in &messages {
            *per_id.entry(message.message_id.clone()).or_default() += 1;
        }
        let expected: std::collections::HashSet<String> =
            rows.iter().map(|(id, _)| format!("<{id}@community-shares>")).collect();
        let received: std::collections::HashSet<String> = per_id.keys().cloned().collect();
        assert_eq!(received, expected, "every email arrives, and nothing else");
        // A resend only for what SMTP took before the kill, whose answer never came: the one
        // held message, sent again under its own Message-ID.
        let resent: Vec<_> = per_id.iter().filter(|(_, n)| **n > 1).collect();
        assert!(resent.len() == 1 && resent.iter().all(|(_, n)| **n == 2), "{per_id:?}");
        eprintln!("{} emails, {} messages received, resent: {resent:?}", rows.len(), messages.len());
    }

    async fn killed_between_a_stripe_call_and_its_commit_nothing_is_charged_or_refunded_twice(backend) {
        let stripe = StripeFake::start();
        let proxy = StripeProxy::start(&stripe);
        let database = TestDatabase::new(backend).await;
        let maker = maker(backend, &database).await;
        let (_admin, platform, offer) = maker.open_offer_scene().await;
        let investor = maker.investor("card").await;
        let card = [
            ("CS__STRIPE__SECRET_KEY", SECRET_KEY.to_owned()),
            ("CS__STRIPE__WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
            ("CS__STRIPE__API_BASE", proxy.url()),
            ("CS__STRIPE__TIMEOUT_SECS", "30".to_owned()),
            ("CS__STRIPE__RECONCILE_AFTER_SECS", "1".to_owned()),
        ];
        let client = reqwest::Client::new();
        let pledge = |base: String, key: String| {
            let (client, token, offer) = (client.clone(), investor.access_token.clone(), offer.clone());
            async move {
                client
                    .post(format!("{base}/api/v1/offers/{offer}/pledges"))
                    .bearer_auth(token)
                    .header("Idempotency-Key", key)
                    .json(&json!({"amount_pence": 10_000, "payment_method": "card", "accept_terms": true}))
                    .send()
                    .await
            }
        };
        // 1. Stripe makes the PaymentIntent; the server dies before it records it.
        let key = uuid::Uuid::now_v7().to_string();
        let first = server(&database, &card);
        let request = pledge(first.base_url.clone(), key.clone());
        assert!(!kill_after_stripe_call(&proxy, first, "/v1/payment_intents", request).await);
        // The investor's page sends the same request again, to a server started again.
        let second = server(&database, &card);
        let again = pledge(second.base_url.clone(), key).await.expect("answered");
        assert_eq!(again.status(), 201);
        let again: serde_json::Value = again.json().await.expect("JSON");
        let secret = again["payment"]["client_secret"].as_str().unwrap_or_default();
        let intent = secret.split("_secret").next().unwrap_or_default().to_owned();
        let pledge_id = again["id"].as_str().unwrap_or_default().to_owned();
        assert!(intent.starts_with("pi_"), "{again}");
        assert_eq!(count_calls(&proxy, "forwarded", "/v1/payment_intents"), 1, "one PaymentIntent at Stripe");
        // 2. Paid; cancelled in cooling-off: Stripe refunds, the server dies before it records it.
        stripe.pay(&intent).await;
        maker.wait_for_pledge(&pledge_id, &investor.access_token, "paid", |p| p["status"] == "paid").await;
        let cancel = client
            .post(format!("{}/api/v1/pledges/{pledge_id}/cancel", second.base_url))
            .bearer_auth(&investor.access_token)
            .send();
        assert!(!kill_after_stripe_call(&proxy, second, "/v1/refunds", cancel).await);
        // Started again, the reconciliation job sends the refund again, with the same key.
        let _third = server(&database, &card);
        maker.wait_for_pledge(&pledge_id, &investor.access_token, "refunded", |p| p["status"] == "refunded").await;
        assert_eq!(count_calls(&proxy, "forwarded", "/v1/refunds"), 1, "one refund at Stripe: {:?}", proxy.calls());
        assert_eq!(stripe.refunds_of(&intent).await.len(), 1);
        assert_eq!(maker.verify_ledger(&platform).await["balanced"], true);
    }
}

/// Sends `request` to `server` with Stripe's answers held, and kills the server (SIGKILL) once
/// Stripe has had the call to `path`: Stripe has acted and the server never hears of it.
/// Answers whether the killed server answered the request (it must not have).
async fn kill_after_stripe_call(
    proxy: &StripeProxy,
    mut server: RunningServer,
    path: &str,
    request: impl std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static,
) -> bool {
    proxy.hold();
    let in_flight = tokio::spawn(request);
    wait_for_call(proxy, "forwarded", path, 1).await;
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    proxy.release();
    in_flight.await.expect("the request task").is_ok()
}

fn count_calls(proxy: &StripeProxy, how: &str, path: &str) -> usize {
    proxy.calls().iter().filter(|(h, p)| h == how && p == path).count()
}

async fn wait_for_call(proxy: &StripeProxy, how: &str, path: &str, n: usize) {
    let deadline = crate::support::patience::deadline();
    while count_calls(proxy, how, path) < n {
        assert!(Instant::now() < deadline, "no {how} {path}: {:?}", proxy.calls());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
