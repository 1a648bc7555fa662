//! Several instances, tested as deployed: two `serve` instances and one `worker` (the real
//! binary) over one PostgreSQL database, behind nginx configured from `deploy/nginx.conf`
//! (Debian's nginx, unpacked by `scripts/test`; `CS_TEST_NGINX`), emails through a real SMTP
//! server. Everything goes through nginx: the set-up, a pledge surge on an offer with a live
//! match fund, during which one `serve` instance is killed with SIGKILL and started again, the
//! bank receipts, the close, and the close-out. Clients retry what failed with the same
//! Idempotency-Key, as a real client would. Afterwards no pledge is lost or doubled, every
//! offer transition was made once, every email arrived under one Message-ID, the close-out is
//! complete and `ledger verify` finds the ledger balanced.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use community_shares::db::schema::{offer_audit, outbox, pledges, share_register};
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::support::binary::{self, RunningServer};
use crate::support::smtp::SmtpServer;
use crate::support::{offer_body, Backend, TestApp, TestDatabase, TestUser};

const INVESTORS: usize = 30;
const PLEDGES_EACH: usize = 6;
const AMOUNT: i64 = 10_000;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = crate::support::patience::deadline();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// nginx with `deploy/nginx.conf`, its placeholders filled in, in a folder of its own.
struct Nginx {
    child: Child,
    port: u16,
    _prefix: tempfile::TempDir,
}

impl Nginx {
    fn start(upstreams: [u16; 2]) -> Self {
        let nginx = std::env::var("CS_TEST_NGINX")
            .expect("CS_TEST_NGINX (Debian's nginx; scripts/test unpacks it into target/tools/deb) is not set");
        let prefix = tempfile::tempdir().unwrap();
        // Run as root, nginx's workers are `nobody`: they must reach the folder.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(prefix.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let port = free_port();
        let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx.conf")).unwrap();
        let conf = template
            .replace("@PREFIX@", &prefix.path().to_string_lossy())
            .replace("@LISTEN@", &port.to_string())
            .replace("@SERVE_1@", &upstreams[0].to_string())
            .replace("@SERVE_2@", &upstreams[1].to_string());
        let file = prefix.path().join("nginx.conf");
        std::fs::write(&file, conf).unwrap();
        let child = Command::new(nginx)
            .arg("-p")
            .arg(prefix.path())
            .arg("-c")
            .arg(&file)
            .args(["-e", "stderr"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        wait_for_port(port, "nginx");
        Nginx {
            child,
            port,
            _prefix: prefix,
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// A process killed when dropped (the worker).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The binary over the shared database, on `port` (0 for the worker), emails by SMTP.
fn instance(database: &TestDatabase, port: u16, smtp: &SmtpServer) -> Command {
    let mut command = binary::serve_command(database);
    command
        .env("CS__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("CS__SERVER__WORKERS", "2")
        .env("CS__SERVER__TRUSTED_PROXIES", "127.0.0.1")
        .env("CS__DATABASE__POOL_SIZE", "8")
        .env("CS__JOBS__TICK_MS", "50")
        .env("CS__JOBS__CLOSEOUT_BATCH", "25")
        .env("CS__EMAIL__TRANSPORT", "smtp")
        .env("CS__EMAIL__SMTP__HOST", "127.0.0.1")
        .env("CS__EMAIL__SMTP__PORT", smtp.port.to_string())
        .env("CS__EMAIL__SMTP__TLS", "none")
        .env("CS__EMAIL__LEASE_SECS", "5");
    command
}

/// A client's POST: sent again with the same Idempotency-Key while the answer is a lost
/// connection or a 502/503/504 (an instance died under it, or was busy). Counts the retries.
async fn post_until_answered(
    app: &TestApp,
    path: &str,
    token: &str,
    body: &Value,
    retries: &AtomicUsize,
) -> (u16, Value) {
    let key = uuid::Uuid::now_v7().to_string();
    for _ in 0..50 {
        let sent = app
            .client
            .post(format!("{}{path}", app.address))
            .bearer_auth(token)
            .header("Idempotency-Key", &key)
            .json(body)
            .send()
            .await;
        match sent {
            Ok(response) if ![502, 503, 504].contains(&response.status().as_u16()) => {
                let status = response.status().as_u16();
                return (status, response.json().await.unwrap_or(Value::Null));
            }
            _ => {
                retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    panic!("{path} was never answered");
}

/// The offer's pledges by id: (investor, amount, status).
async fn pledges_of(app: &TestApp, offer: &str) -> BTreeMap<String, (String, i64, String)> {
    let offer = offer.to_owned();
    let rows: Vec<(String, String, i64, String)> = app
        .with_db(move |conn| {
            Ok(pledges::table
                .filter(pledges::offer_id.eq(&offer))
                .select((
                    pledges::id,
                    pledges::investor_id,
                    pledges::amount_pence,
                    pledges::status,
                ))
                .load(conn)?)
        })
        .await;
    rows.into_iter()
        .map(|(id, investor, amount, status)| (id, (investor, amount, status)))
        .collect()
}

/// Emails in the outbox: (sent, not yet sent).
async fn outbox_counts(app: &TestApp) -> (i64, i64) {
    app.with_db(|conn| {
        let sent: i64 = outbox::table
            .filter(outbox::status.eq("sent"))
            .count()
            .get_result(conn)?;
        let unsent: i64 = outbox::table
            .filter(outbox::status.ne("sent"))
            .count()
            .get_result(conn)?;
        Ok((sent, unsent))
    })
    .await
}

/// Every pledge by every investor, at once, while `kill` kills and restarts one instance.
async fn surge(app: &Arc<TestApp>, offer: &str, investors: Vec<TestUser>, retries: &Arc<AtomicUsize>) -> Vec<Value> {
    let tasks: Vec<_> = investors
        .into_iter()
        .map(|investor| {
            let (app, offer, retries) = (app.clone(), offer.to_owned(), retries.clone());
            tokio::spawn(async move {
                let mut made = Vec::new();
                for _ in 0..PLEDGES_EACH {
                    let body = json!({"amount_pence": AMOUNT, "payment_method": "bank_transfer", "accept_terms": true});
                    let path = format!("/api/v1/offers/{offer}/pledges");
                    let (status, pledge) =
                        post_until_answered(&app, &path, &investor.access_token, &body, &retries).await;
                    assert_eq!(status, 201, "{pledge}");
                    made.push(pledge);
                }
                made
            })
        })
        .collect();
    let mut made = Vec::new();
    for task in tasks {
        made.extend(task.await.expect("an investor's pledges"));
    }
    made
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_and_a_worker_behind_nginx_survive_a_sigkill_mid_surge() {
    let started = Instant::now();
    let smtp = SmtpServer::start();
    let database = TestDatabase::new(Backend::Postgres).await;
    let ports = [free_port(), free_port()];
    // The instances' working folder (they keep nothing there: emails go by SMTP).
    let shared = database.share();
    let mut first = RunningServer::start(instance(&shared, ports[0], &smtp));
    let _second = RunningServer::start(instance(&shared, ports[1], &smtp));
    let mut worker_command = instance(&shared, 0, &smtp);
    worker_command.arg("worker").stdout(Stdio::null()).stderr(Stdio::null());
    let _worker = Killed(worker_command.spawn().expect("the worker starts"));
    let nginx = Nginx::start(ports);
    // This process's own app only reads the database for the checks (its jobs asleep); every
    // request goes through nginx.
    let mut app = TestApp::spawn_with(Backend::Postgres, database, |s| s.jobs.tick_ms = 3_600_000).await;
    app.address = format!("http://127.0.0.1:{}", nginx.port);
    let app = Arc::new(app);

    let admin = app.user("society-admin").await;
    let platform = app.platform_admin().await;
    let society = app.society(&admin).await;
    app.bank_details(&admin, &society).await;
    let mut terms = offer_body();
    terms["max_target_pence"] = json!(5_000_000);
    let offer = app.approved_offer(&admin, &platform, &society, &terms).await;
    app.wait_for_status(&offer, None, "open").await;
    app.approved_live_fund(&admin, &platform, &offer, 500_000).await;
    let mut investors = Vec::new();
    for i in 0..INVESTORS {
        investors.push(app.investor(&format!("surge-{i}")).await);
    }
    let set_up = started.elapsed();

    // The surge, with one instance killed in the middle of it and started again.
    let retries = Arc::new(AtomicUsize::new(0));
    let surge_started = Instant::now();
    let surging = tokio::spawn({
        let (app, offer, retries) = (app.clone(), offer.clone(), retries.clone());
        async move { surge(&app, &offer, investors, &retries).await }
    });
    let total = INVESTORS * PLEDGES_EACH;
    while pledges_of(&app, &offer).await.len() < total / 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("reaped");
    let killed_at = pledges_of(&app, &offer).await.len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let first_again = RunningServer::start(instance(&shared, ports[0], &smtp));
    let answered = surging.await.expect("the surge");
    let surge_took = surge_started.elapsed();

    // No pledge lost or doubled: one per answered request, each answered once.
    let held = pledges_of(&app, &offer).await;
    let answered_ids: BTreeSet<String> = answered.iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(answered.len(), total);
    assert_eq!(answered_ids.len(), total, "every request answered a pledge of its own");
    assert_eq!(
        held.keys().cloned().collect::<BTreeSet<_>>(),
        answered_ids,
        "the database holds exactly the answered pledges"
    );
    let page = app.get(&format!("/api/v1/offers/{offer}"), None).await.body;
    assert_eq!(page["pledge_count"], total);
    assert_eq!(page["community_pledged_pence"], total as i64 * AMOUNT);

    // Every pledge paid by a bank receipt, then the offer closed and closed out.
    for pledge in &answered {
        let body = json!({"reference": pledge["payment"]["bank_reference"], "amount_pence": AMOUNT,
            "received_at": chrono::Utc::now().to_rfc3339()});
        let (status, receipt) = post_until_answered(
            &app,
            &format!("/api/v1/offers/{offer}/bank-receipts"),
            &admin.access_token,
            &body,
            &retries,
        )
        .await;
        assert_eq!(status, 201, "{receipt}");
        // The offer holds match money: a platform admin is the receipt's second person.
        if receipt["receipt"]["status"] == "awaiting_confirmation" {
            let id = receipt["receipt"]["id"].as_str().expect("receipt id");
            let (status, confirmed) = post_until_answered(
                &app,
                &format!("/api/v1/offers/{offer}/bank-receipts/{id}/confirm"),
                &platform.access_token,
                &json!({}),
                &retries,
            )
            .await;
            // A retry after an answer lost on the way finds it confirmed already.
            let again = status == 409
                && confirmed["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("confirmed already"));
            assert!(status == 200 || again, "{status} {confirmed}");
        }
    }
    let (status, closed) = post_until_answered(
        &app,
        &format!("/api/v1/offers/{offer}/close"),
        &platform.access_token,
        &json!({}),
        &retries,
    )
    .await;
    assert!(
        status == 200 || (status == 409 && retries.load(Ordering::Relaxed) > 0),
        "{status} {closed}"
    );
    let deadline = crate::support::patience::deadline();
    while app.get(&format!("/api/v1/offers/{offer}"), None).await.body["status"] != "allocated" {
        assert!(Instant::now() < deadline, "the close-out did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(pledges_of(&app, &offer).await.values().all(|p| p.2 == "allocated"));

    let (transitions, register) = app
        .with_db({
            let offer = offer.clone();
            move |conn| {
                let transitions: Vec<(Option<String>, String)> = offer_audit::table
                    .filter(offer_audit::offer_id.eq(&offer))
                    .order(offer_audit::at)
                    .select((offer_audit::from_status, offer_audit::to_status))
                    .load(conn)?;
                let register: i64 = share_register::table
                    .filter(share_register::offer_id.eq(&offer))
                    .count()
                    .get_result(conn)?;
                Ok((transitions, register))
            }
        })
        .await;
    let distinct: BTreeSet<_> = transitions.iter().collect();
    assert_eq!(
        distinct.len(),
        transitions.len(),
        "an offer transition was made twice: {transitions:?}"
    );
    assert_eq!(
        transitions.last().map(|t| t.1.as_str()),
        Some("allocated"),
        "{transitions:?}"
    );
    assert_eq!(
        register,
        INVESTORS as i64 + 1,
        "one entry per investor and one for the funder"
    );

    // Every email queued reaches the SMTP server, each under one Message-ID.
    let deadline = crate::support::patience::deadline();
    let (sent, unsent) = loop {
        let (sent, unsent) = outbox_counts(&app).await;
        if unsent == 0 {
            break (sent, unsent);
        }
        assert!(Instant::now() < deadline, "{unsent} emails were never sent");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(unsent, 0);
    let arrived = smtp.wait_for_distinct(sent as usize).await;
    let message_ids: BTreeSet<&str> = arrived.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(message_ids.len() as i64, sent, "one Message-ID per email in the outbox");

    // nginx holds the killed instance out for its fail_timeout (2 s), then sends it requests
    // again: of a few reads, some reach it.
    for _ in 0..6 {
        app.get(&format!("/api/v1/offers/{offer}"), None).await.expect(200);
    }
    assert!(
        first_again.log_text().contains("request finished"),
        "the restarted instance serves again"
    );

    let mut verify = binary::command(app.database.dir.path());
    verify
        .env("CS__DATABASE__URL", &app.database.url)
        .args(["ledger", "verify"]);
    let output = verify.output().expect("ledger verify runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    eprintln!(
        "deployed: set-up {set_up:.1?}; {total} pledges by {INVESTORS} investors in {surge_took:.1?} ({:.0}/s) with one of two \
         instances killed after {killed_at}; {} requests retried with their Idempotency-Key; {sent} emails sent, \
         {} arrivals (a resend keeps its Message-ID); whole test {:.1?}",
        total as f64 / surge_took.as_secs_f64(),
        retries.load(Ordering::Relaxed),
        arrived.len(),
        started.elapsed()
    );
}
