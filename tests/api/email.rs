//! Email through a real local SMTP server: what arrives, retries while the server is down, two
//! workers delivering once, the at-least-once resend with the same Message-ID, dead emails and
//! their retry, closing reminders and the opt-out, and the default file transport.

use std::collections::HashSet;

use community_shares::config::{EmailTransport, Settings, SmtpTls};
use serde_json::json;

use crate::both_backends;
use crate::support::smtp::SmtpServer;
use crate::support::{offer_body, Backend, TestApp, TestDatabase};

pub(crate) fn smtp(server: &SmtpServer) -> impl Fn(&mut Settings) + '_ {
    move |s: &mut Settings| {
        s.email.transport = EmailTransport::Smtp;
        s.email.smtp.host = "127.0.0.1".into();
        s.email.smtp.port = server.port;
        s.email.smtp.tls = SmtpTls::None;
        s.email.smtp.timeout_secs = 2;
        s.email.retry_base_secs = 1;
    }
}

async fn app_with_smtp(backend: Backend, server: &SmtpServer) -> TestApp {
    TestApp::spawn_with(backend, TestDatabase::new(backend).await, smtp(server)).await
}

async fn outbox_statuses(app: &TestApp) -> Vec<(String, String, i32)> {
    use community_shares::db::schema::outbox;
    use diesel::prelude::*;
    app.with_db(|conn| {
        Ok(outbox::table
            .select((outbox::kind, outbox::status, outbox::attempts))
            .load(conn)?)
    })
    .await
}

both_backends! {
    async fn pledging_by_bank_transfer_sends_the_reference_and_the_receipt_by_smtp(backend) {
        let server = SmtpServer::start();
        let app = app_with_smtp(backend, &server).await;
        let admin = app.user("admin").await;
        let platform = app.platform_admin().await;
        let society = app.society(&admin).await;
        app.bank_details(&admin, &society).await;
        let offer = app.open_offer(&admin, &platform, &society).await;
        let ann = app.investor("ann").await;
        let pledge = app.pledge(&ann, &offer, 25_000).await.body;
        let reference = pledge["payment"]["bank_reference"].as_str().unwrap().to_owned();
        app.post(
            &format!("/api/v1/offers/{offer}/bank-receipts"),
            Some(&admin.access_token),
            &json!({"reference": reference, "amount_pence": 25_000, "received_at": "2026-11-20T10:00:00Z"}),
        )
        .await
        .expect(201);
        // Welcome ×3, offer opened to the admin, pledge received, payment confirmed.
        let messages = server.wait_for(6).await;
        let to_ann: Vec<_> = messages.iter().filter(|m| m.to == ann.email).collect();
        let received = to_ann.iter().find(|m| m.subject.starts_with("Your pledge of £250.00")).expect("pledge email");
        assert!(received.text.contains(&reference) && received.text.contains("12345678"), "{}", received.text);
        // Deadlines in UK time, as people read them ("23:59 on 30 April 2027 (UK time)").
        let due = community_shares::clock::for_people(community_shares::clock::naive(
            pledge["payment_due_at"].as_str().unwrap().parse().unwrap(),
        ));
        assert!(received.text.contains(&due) && due.ends_with("(UK time)"), "{due} in {}", received.text);
        let paid = to_ann.iter().find(|m| m.subject.starts_with("Payment received: £250.00")).expect("payment email");
        assert!(paid.text.contains(&reference));
        assert!(to_ann.iter().any(|m| m.subject.starts_with("Welcome")));
        assert!(messages.iter().any(|m| m.to == admin.email && m.subject.ends_with("is open for pledges")));
        let ids: HashSet<&str> = messages.iter().map(|m| m.message_id.as_str()).collect();
        assert_eq!(ids.len(), messages.len());
        assert!(messages.iter().all(|m| m.message_id.ends_with("@community-shares>")));
    }

    async fn email_queued_while_smtp_is_down_is_delivered_when_it_returns(backend) {
        let mut server = SmtpServer::start();
        let app = app_with_smtp(backend, &server).await;
        server.stop();
        let user = app.user("patient").await;
        // It is tried and fails, and stays queued.
        let deadline = crate::support::patience::deadline();
        loop {
            let rows = outbox_statuses(&app).await;
            if rows.iter().any(|(_, status, attempts)| status == "pending" && *attempts >= 1) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{rows:?}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        server.resume();
        let messages = server.wait_for(1).await;
        assert_eq!(messages[0].to, user.email);
        assert!(outbox_statuses(&app).await.iter().all(|(_, status, _)| status == "sent"));
    }

    async fn two_workers_over_one_database_deliver_each_email_once(backend) {
        let server = SmtpServer::start();
        let first = app_with_smtp(backend, &server).await;
        let second = TestApp::spawn_with(backend, first.database.share(), smtp(&server)).await;
        for i in 0..30 {
            let app = if i % 2 == 0 { &first } else { &second };
            app.post("/api/v1/auth/register", None, &json!({"email": format!("w{i}@example.org"), "password": crate::support::PASSWORD, "display_name": "W"}))
                .await
                .expect(201);
        }
        let messages = server.wait_for(30).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let messages = if server.messages().len() > messages.len() { server.messages() } else { messages };
        assert_eq!(messages.len(), 30, "each email exactly once");
        let ids: HashSet<&str> = messages.iter().map(|m| m.message_id.as_str()).collect();
        assert_eq!(ids.len(), 30);
    }

    async fn a_worker_that_dies_after_sending_makes_one_resend_with_the_same_message_id(backend) {
        use community_shares::db::schema::outbox;
        use diesel::prelude::*;
        let server = SmtpServer::start();
        let app = app_with_smtp(backend, &server).await;
        app.user("once").await;
        let first = server.wait_for(1).await;
        // The worker sent it, then "died" before marking it sent: the row is still pending,
        // under a lease that has now run out.
        app.with_db(|conn| {
            diesel::update(outbox::table)
                .set((
                    outbox::status.eq("pending"),
                    outbox::sent_at.eq(None::<chrono::NaiveDateTime>),
                    outbox::lease_until.eq(Some(community_shares::clock::now() - chrono::Duration::seconds(1))),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await;
        let both = server.wait_for(2).await;
        assert_eq!(both.len(), 2);
        assert_eq!(both[0].message_id, both[1].message_id);
        assert_eq!(both[0].message_id, first[0].message_id);
    }

    async fn dead_email_is_listed_to_platform_admins_and_retried(backend) {
        let mut server = SmtpServer::start();
        let app = TestApp::spawn_with(backend, TestDatabase::new(backend).await, |s| {
            smtp(&server)(s);
            s.email.max_attempts = 2;
        })
        .await;
        let platform = app.platform_admin().await;
        server.stop();
        let user = app.user("unlucky").await;
        let deadline = crate::support::patience::deadline();
        let dead = loop {
            let list = app.get("/api/v1/admin/outbox?status=dead", Some(&platform.access_token)).await;
            let items = list.body["items"].as_array().unwrap().clone();
            if let Some(item) = items.iter().find(|i| i["recipient"] == user.email.as_str()) {
                break item.clone();
            }
            assert!(std::time::Instant::now() < deadline, "never dead: {}", list.text);
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        assert_eq!(dead["attempts"], 2);
        assert!(dead["last_error"].is_string());
        server.resume();
        let id = dead["id"].as_str().unwrap();
        let retry = app.post(&format!("/api/v1/admin/outbox/{id}/retry"), Some(&platform.access_token), &json!({})).await;
        retry.expect(204);
        let deadline = crate::support::patience::deadline();
        while !server.messages().iter().any(|m| m.to == user.email) {
            assert!(std::time::Instant::now() < deadline, "the retried email never arrived");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        app.post(&format!("/api/v1/admin/outbox/{id}/retry"), Some(&platform.access_token), &json!({})).await.expect(409);
    }

    async fn closing_reminders_go_once_to_admins_who_want_them(backend) {
        use community_shares::db::schema::outbox;
        use diesel::prelude::*;
        let app = TestApp::spawn(backend).await;
        let admin = app.user("keen").await;
        let quiet = app.user("quiet").await;
        let platform = app.platform_admin().await;
        let society = app.society(&admin).await;
        app.bank_details(&admin, &society).await;
        app.make_society_admin(&admin, &society, &quiet).await;
        let prefs = app.put("/api/v1/me/email-preferences", Some(&quiet.access_token), &json!({"closing_reminders": false})).await;
        assert_eq!(prefs.expect(200).body, json!({"closing_reminders": false}));
        assert_eq!(app.get("/api/v1/me/email-preferences", Some(&quiet.access_token)).await.body, json!({"closing_reminders": false}));
        let mut body = offer_body();
        body["closes_at"] = json!((chrono::Utc::now() + chrono::Duration::hours(30)).to_rfc3339());
        let offer = app.approved_offer(&admin, &platform, &society, &body).await;
        app.wait_for_status(&offer, None, "open").await;
        let deadline = crate::support::patience::deadline();
        loop {
            let reminders: Vec<String> = app
                .with_db(|conn| Ok(outbox::table.filter(outbox::kind.eq("offer_closing")).select(outbox::recipient).load(conn)?))
                .await;
            if !reminders.is_empty() {
                assert_eq!(reminders, vec![admin.email.clone()]);
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no reminder");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        // Asking again (as every instance's job does) queues nothing more.
        let again = app.with_db(|conn| community_shares::services::offers::queue_closing_reminders(conn, community_shares::clock::now())).await;
        assert_eq!(again, 1, "one admin asked");
        let count: i64 = app
            .with_db(|conn| Ok(outbox::table.filter(outbox::kind.eq("offer_closing")).count().get_result(conn)?))
            .await;
        assert_eq!(count, 1);
    }
}

/// The default transport writes each email as an `.eml` file named after its outbox id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_file_transport_writes_eml_files() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let user = app.user("filed").await;
    let dir = app.settings.email.file_dir.clone();
    let deadline = crate::support::patience::deadline();
    loop {
        let files: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        if let Some(file) = files.iter().find(|f| f.extension().is_some_and(|e| e == "eml")) {
            let text = std::fs::read_to_string(file).unwrap();
            assert!(text.contains(&format!("To: {}", user.email)), "{text}");
            let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
            assert!(
                text.contains(&format!("Message-ID: <{stem}@community-shares>")),
                "{text}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no .eml file in {}",
            dir.display()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
