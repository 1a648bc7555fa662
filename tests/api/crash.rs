//! Close-out survives the process dying: the real binary is killed with SIGKILL again and
//! again while it allocates an offer of 2,000 paid pledges (with a match fund) and refunds a
//! failed offer of 1,000, and restarted each time. At the end every pledge is allocated or
//! refunded exactly once, the register is exact, and the ledger balances.

use std::time::{Duration, Instant};

use community_shares::db::schema::{outbox, pledges, refunds, share_register, users};
use community_shares::domain::money::Pence;
use community_shares::services::pledges::{self as pledge_service, NewPledge, PaymentMethod, PledgePolicy};
use community_shares::services::receipts::{self, Receipt};
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::binary::{self, RunningServer};
use crate::support::{live_rule, offer_body, TestApp, TestDatabase};

const AMOUNT: i64 = 1_000; // £10 each

/// `count` investors with complete profiles, each with one paid £10 bank pledge to `offer`.
async fn paid_pledges(app: &TestApp, offer: &str, recorder: &str, count: usize) {
    let (offer, recorder) = (offer.to_owned(), recorder.to_owned());
    app.with_db(move |conn| {
        let now = community_shares::clock::now();
        let born = chrono::NaiveDate::from_ymd_opt(1980, 5, 1).expect("date");
        let policy = PledgePolicy {
            payment_deadline_days: 7,
            card_check_after: None,
        };
        for i in 0..count {
            let id = community_shares::clock::new_id();
            diesel::insert_into(users::table)
                .values((
                    users::id.eq(&id),
                    users::email.eq(format!("crash-{id}@example.org")),
                    users::password_hash.eq("not a hash: these investors never sign in"),
                    users::display_name.eq(format!("Investor {i}")),
                    users::is_platform_admin.eq(false),
                    users::full_name.eq(format!("Investor {i} {id}")),
                    users::address_line1.eq("1 Quay Street"),
                    users::town.eq("Bristol"),
                    users::postcode.eq("BS1 4DJ"),
                    users::date_of_birth.eq(born),
                    users::created_at.eq(now),
                    users::updated_at.eq(now),
                ))
                .execute(conn)?;
            let new = NewPledge {
                amount: Pence::new(AMOUNT),
                payment_method: PaymentMethod::BankTransfer,
                accept_terms: true,
            };
            let pledge = community_shares::db::write_transaction(conn, |c| {
                pledge_service::create(c, &id, &offer, &new, policy)
            })?;
            let receipt = Receipt {
                reference: pledge.payment.bank_reference.clone().expect("a bank reference"),
                amount: Pence::new(AMOUNT),
                received_at: now,
            };
            community_shares::db::write_transaction(conn, |c| {
                receipts::record_by_hand(c, &offer, &receipt, &recorder)
            })?;
        }
        // The emails of the set-up are not what this test is about.
        diesel::update(outbox::table)
            .set(outbox::status.eq("sent"))
            .execute(conn)?;
        Ok(())
    })
    .await;
}

fn terms(min_target: i64, max_target: i64) -> Value {
    let mut body = offer_body();
    let changes = json!({
        "min_holding_pence": AMOUNT, "max_holding_pence": 500_000,
        "min_target_pence": min_target, "target_pence": min_target, "max_target_pence": max_target,
    });
    for (key, value) in changes.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

/// Where the two offers are: (success offer's status, pledges allocated, failed offer's status,
/// refunds made).
async fn progress(app: &TestApp, good: &str, bad: &str) -> (String, i64, String, i64) {
    let (good, bad) = (good.to_owned(), bad.to_owned());
    app.with_db(move |conn| {
        use community_shares::db::schema::offers;
        let status = |conn: &mut community_shares::db::DbConnection, id: &str| -> QueryResult<String> {
            offers::table.find(id).select(offers::status).first(conn)
        };
        let allocated: i64 = pledges::table
            .filter(pledges::offer_id.eq(&good))
            .filter(pledges::status.eq("allocated"))
            .count()
            .get_result(conn)?;
        let refunded: i64 = refunds::table
            .filter(refunds::offer_id.eq(&bad))
            .count()
            .get_result(conn)?;
        Ok((status(conn, &good)?, allocated, status(conn, &bad)?, refunded))
    })
    .await
}

fn server(database: &TestDatabase) -> RunningServer {
    let mut command = binary::serve_command(database);
    command
        .env("CS__JOBS__TICK_MS", "10")
        .env("CS__JOBS__CLOSEOUT_BATCH", "50");
    RunningServer::start(command)
}

both_backends! {
    async fn close_out_survives_sigkill_again_and_again(backend) {
        let database = TestDatabase::new(backend).await;
        let worker_db = database.share();
        // The set-up instance runs its jobs once an hour: the close-out is the binary's.
        let app = TestApp::spawn_with(backend, database, |s| s.jobs.tick_ms = 3_600_000).await;
        let admin = app.user("society-admin").await;
        let platform = app.platform_admin().await;
        let society = app.society(&admin).await;
        app.bank_details(&admin, &society).await;
        let good = app.approved_offer(&admin, &platform, &society, &terms(1_000_000, 5_000_000)).await;
        let bad = app.approved_offer(&admin, &platform, &society, &terms(5_000_000, 10_000_000)).await;
        // Opened as the scheduler would (this instance's scheduler is asleep).
        let both = [good.clone(), bad.clone()];
        app.with_db(move |conn| {
            use community_shares::domain::offer::OfferStatus;
            use community_shares::services::offers::{move_status, Actor};
            for id in &both {
                move_status(conn, id, OfferStatus::Approved, OfferStatus::Open, &Actor::Scheduler, community_shares::clock::now())?;
            }
            Ok(())
        })
        .await;
        paid_pledges(&app, &good, &admin.id, 2_000).await;
        paid_pledges(&app, &bad, &admin.id, 1_000).await;
        // A live match on the good offer: £1 for £1 up to £5,000 in all (500 pledges matched).
        let funder_admin = app.user("funder-admin").await;
        let funder = app.funder(&platform, &funder_admin).await;
        let fund = app.fund(&funder_admin, &funder, 1_000_000, live_rule()).await;
        let application = app.apply(&admin, &good, &fund).await;
        app.post(&format!("/api/v1/funds/{fund}/applications/{application}/approve"),
            Some(&funder_admin.access_token), &json!({"commitment_pence": 500_000})).await.expect(200);
        assert_eq!(app.get(&format!("/api/v1/offers/{good}"), None).await.body["match_pence"], 500_000);
        for offer in [&good, &bad] {
            app.post(&format!("/api/v1/offers/{offer}/close"), Some(&platform.access_token), &json!({})).await.expect(200);
        }

        // Kill the worker at varying moments until the work is done.
        let finished = |p: &(String, i64, String, i64)| p.0 == "allocated" && p.3 == 1_000;
        let mut killed_mid_work = 0;
        for round in 0..30u64 {
            let mut running = server(&worker_db);
            tokio::time::sleep(Duration::from_millis(60 + (round * 37) % 250)).await;
            running.child.kill().expect("SIGKILL");
            running.child.wait().expect("reaped");
            let now = progress(&app, &good, &bad).await;
            eprintln!("killed in round {round}: (good offer, allocated, bad offer, refunds) = {now:?}");
            if finished(&now) {
                break;
            }
            if now.1 > 0 || now.3 > 0 {
                killed_mid_work += 1;
            }
        }
        assert!(killed_mid_work >= 3, "the server was killed mid-way only {killed_mid_work} times");
        // A last run to the end.
        let mut running = server(&worker_db);
        let deadline = crate::support::patience::deadline();
        loop {
            let now = progress(&app, &good, &bad).await;
            if finished(&now) {
                break;
            }
            assert!(Instant::now() < deadline, "close-out did not finish: {now:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        running.terminate();

        let (good_status, allocated, bad_status, refunds_made) = progress(&app, &good, &bad).await;
        assert_eq!((good_status.as_str(), allocated), ("allocated", 2_000));
        assert_eq!((bad_status.as_str(), refunds_made), ("failed", 1_000), "bank refunds await the treasurer");
        let (good2, bad2) = (good.clone(), bad.clone());
        let (entries, investors, shares, amount, funder_shares, refunded, distinct_refunds, shares_emails): (i64, i64, i64, i64, i64, i64, i64, i64) = app.with_db(move |conn| {
            let entries: i64 = share_register::table.filter(share_register::offer_id.eq(&good2)).count().get_result(conn)?;
            let investors: i64 = share_register::table.filter(share_register::offer_id.eq(&good2))
                .filter(share_register::member_kind.eq("investor")).filter(share_register::shares.eq(10)).count().get_result(conn)?;
            let rows: Vec<(i64, i64)> = share_register::table.filter(share_register::offer_id.eq(&good2))
                .select((share_register::shares, share_register::amount_pence)).load(conn)?;
            let funder_shares: i64 = share_register::table.filter(share_register::offer_id.eq(&good2))
                .filter(share_register::member_kind.eq("funder")).select(share_register::shares).first(conn)?;
            let refunded: i64 = pledges::table.filter(pledges::offer_id.eq(&bad2)).filter(pledges::status.eq("refunded")).count().get_result(conn)?;
            let refunded_pledges: std::collections::BTreeSet<String> = refunds::table
                .filter(refunds::offer_id.eq(&bad2))
                .select(refunds::pledge_id)
                .load::<String>(conn)?
                .into_iter()
                .collect();
            let distinct_refunds = refunded_pledges.len() as i64;
            let shares_emails: i64 = outbox::table.filter(outbox::kind.eq("shares_issued")).count().get_result(conn)?;
            Ok((entries, investors, rows.iter().map(|r| r.0).sum(), rows.iter().map(|r| r.1).sum(), funder_shares, refunded, distinct_refunds, shares_emails))
        }).await;
        assert_eq!(entries, 2_001, "one entry per investor and one for the funder");
        assert_eq!(investors, 2_000, "every investor holds exactly their 10 shares");
        assert_eq!(funder_shares, 5_000);
        assert_eq!((shares, amount), (25_000, 2_500_000));
        assert_eq!((refunded, distinct_refunds), (1_000, 1_000));
        assert_eq!(shares_emails, 2_000, "one shares email per pledge, however often the work was repeated");
        let offer = app.get(&format!("/api/v1/offers/{good}"), None).await.body;
        assert_eq!(offer["community_paid_pence"], 2_000_000);
        let verdict = app.verify_ledger(&platform).await;
        assert_eq!(verdict["balanced"], true, "{verdict}");
    }
}
