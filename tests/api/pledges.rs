//! Pledges on the ledger: rules, idempotency, cancelling, bank receipts, statement import,
//! expiry, verification, and a concurrent surge.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::both_backends;
use crate::support::{binary, offer_body, Answer, TestApp, TestUser};

struct Scene {
    app: TestApp,
    admin: TestUser,
    platform: TestUser,
    offer: String,
}

async fn scene(backend: crate::support::Backend) -> Scene {
    let app = TestApp::spawn(backend).await;
    let (admin, platform, offer) = app.open_offer_scene().await;
    Scene {
        app,
        admin,
        platform,
        offer,
    }
}

async fn offer(s: &Scene) -> Value {
    s.app.get(&format!("/api/v1/offers/{}", s.offer), None).await.body
}

async fn assert_balanced(s: &Scene) {
    let verdict = s.app.verify_ledger(&s.platform).await;
    assert_eq!(verdict["balanced"], true, "{verdict}");
}

async fn receipt(s: &Scene, reference: &str, amount: i64) -> Answer {
    s.app
        .post(
            &format!("/api/v1/offers/{}/bank-receipts", s.offer),
            Some(&s.admin.access_token),
            &json!({"reference": reference, "amount_pence": amount, "received_at": chrono::Utc::now().to_rfc3339()}),
        )
        .await
}

both_backends! {
    async fn a_bank_transfer_pledge_gets_a_reference_and_moves_the_totals(backend) {
        let s = scene(backend).await;
        let ann = s.app.investor("ann").await;
        let answer = s.app.pledge(&ann, &s.offer, 25_000).await;
        answer.expect(201);
        let pledge = &answer.body;
        assert_eq!(pledge["status"], "pending");
        assert_eq!(pledge["shares"], 250);
        assert_eq!(pledge["amount_pence"], 25_000);
        assert_eq!(pledge["match_pence"], 0);
        assert_eq!(pledge["investor_id"], ann.id);
        assert_eq!(pledge["payment"]["method"], "bank_transfer");
        let reference = pledge["payment"]["bank_reference"].as_str().unwrap();
        assert!(reference.starts_with("CS") && reference.len() == 11, "{reference}");
        assert_eq!(pledge["payment"]["bank_details"]["sort_code"], "123456");
        assert!(pledge["cancellable_until"].is_string() && pledge["payment_due_at"].is_string());
        let totals = offer(&s).await;
        assert_eq!((totals["community_pledged_pence"].clone(), totals["pledge_count"].clone(), totals["investor_count"].clone()), (json!(25_000), json!(1), json!(1)));
        assert_eq!(totals["total_pence"], 25_000);
        assert_eq!(totals["community_paid_pence"], 0);
        // Who sees it.
        let id = pledge["id"].as_str().unwrap();
        let other = s.app.investor("bob").await;
        s.app.get(&format!("/api/v1/pledges/{id}"), Some(&ann.access_token)).await.expect(200);
        s.app.get(&format!("/api/v1/pledges/{id}"), Some(&s.admin.access_token)).await.expect(200);
        s.app.get(&format!("/api/v1/pledges/{id}"), Some(&other.access_token)).await.expect(404);
        let mine = s.app.get("/api/v1/me/pledges", Some(&ann.access_token)).await;
        assert_eq!(mine.body["items"][0]["id"], id);
        assert_eq!(s.app.get("/api/v1/me/pledges", Some(&other.access_token)).await.body["items"], json!([]));
        let all = s.app.get(&format!("/api/v1/offers/{}/pledges", s.offer), Some(&s.admin.access_token)).await;
        assert_eq!(all.body["items"].as_array().unwrap().len(), 1);
        // The ledger holds one pending transfer into the offer's escrow.
        let ledger = s.app.get(&format!("/api/v1/offers/{}/ledger", s.offer), Some(&s.admin.access_token)).await;
        ledger.expect(200);
        assert_eq!(ledger.body.as_array().unwrap().len(), 1);
        assert_eq!(ledger.body[0]["phase"], "pending");
        assert_eq!(ledger.body[0]["credit_account_id"], format!("escrow:{}", s.offer));
        assert_balanced(&s).await;
    }

    async fn every_rule_is_422_on_its_field(backend) {
        let s = scene(backend).await;
        let path = format!("/api/v1/offers/{}/pledges", s.offer);
        let bare = s.app.user("no-profile").await;
        let cases = vec![
            (&bare, json!({"amount_pence": 25_000, "payment_method": "bank_transfer", "accept_terms": true}), "profile"),
        ];
        let ann = s.app.investor("ann").await;
        let more = vec![
            (json!({"amount_pence": 25_050, "payment_method": "bank_transfer", "accept_terms": true}), "amount_pence"),
            (json!({"amount_pence": 5_000, "payment_method": "bank_transfer", "accept_terms": true}), "amount_pence"),
            (json!({"amount_pence": 500_100, "payment_method": "bank_transfer", "accept_terms": true}), "amount_pence"),
            (json!({"amount_pence": 25_000, "payment_method": "bank_transfer", "accept_terms": false}), "accept_terms"),
            (json!({"amount_pence": 25_000, "payment_method": "card", "accept_terms": true}), "payment_method"),
        ];
        for (user, body, field) in cases.into_iter().chain(more.into_iter().map(|(b, f)| (&ann, b, f))) {
            let response = s.app.client.post(format!("{}{path}", s.app.address))
                .bearer_auth(&user.access_token)
                .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
                .json(&body).send().await.unwrap();
            let answer = Answer::read(response).await;
            answer.expect(422);
            assert_eq!(answer.error_fields(), vec![field], "{body}");
        }
        // Holding limits count every live pledge of the investor.
        s.app.pledge(&ann, &s.offer, 400_000).await.expect(201);
        let over = s.app.pledge(&ann, &s.offer, 200_000).await;
        over.expect(422);
        assert!(over.body["errors"][0]["message"].as_str().unwrap().contains("£1,000.00 more"), "{}", over.text);
        // Nothing was written by the refusals.
        assert_eq!(offer(&s).await["pledge_count"], 1);
        assert_balanced(&s).await;
    }

    async fn capacity_is_first_come_first_served_up_to_max_target(backend) {
        let s = scene(backend).await;
        let mut investors = Vec::new();
        for i in 0..6 {
            investors.push(s.app.investor(&format!("inv{i}")).await);
        }
        for investor in &investors {
            s.app.pledge(investor, &s.offer, 500_000).await.expect(201);
        }
        // £30,000 maximum reached exactly.
        let late = s.app.investor("late").await;
        let answer = s.app.pledge(&late, &s.offer, 10_000).await;
        answer.expect(422);
        assert!(answer.body["errors"][0]["message"].as_str().unwrap().contains("only £0.00"), "{}", answer.text);
        assert_eq!(offer(&s).await["community_pledged_pence"], 3_000_000);
    }

    async fn eligibility_and_offer_state_are_enforced(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.user("admin").await;
        let platform = app.platform_admin().await;
        let society = app.society(&admin).await;
        app.bank_details(&admin, &society).await;
        let draft = app.draft_offer(&admin, &society, &offer_body()).await;
        app.post(&format!("/api/v1/offers/{draft}/eligibility"), Some(&admin.access_token), &json!({"min_age": 60, "postcode_prefixes": ["GL"]})).await.expect(200);
        let ann = app.investor("ann").await;
        // Not yet open, so not visible: 404.
        app.pledge(&ann, &draft, 25_000).await.expect(404);
        app.post(&format!("/api/v1/offers/{draft}/submit"), Some(&admin.access_token), &json!({})).await.expect(200);
        app.post(&format!("/api/v1/offers/{draft}/approve"), Some(&platform.access_token), &json!({})).await.expect(200);
        app.wait_for_status(&draft, None, "open").await;
        let answer = app.pledge(&ann, &draft, 25_000).await;
        answer.expect(422);
        assert_eq!(answer.error_fields(), vec!["date_of_birth", "postcode"]);
        // Closed: 409.
        app.post(&format!("/api/v1/offers/{draft}/close"), Some(&platform.access_token), &json!({})).await.expect(200);
        app.pledge(&ann, &draft, 25_000).await.expect(409);
    }

    async fn the_idempotency_key_is_required_and_replays_the_first_answer(backend) {
        let s = scene(backend).await;
        let ann = s.app.investor("ann").await;
        let no_key = s.app.post(&format!("/api/v1/offers/{}/pledges", s.offer), Some(&ann.access_token),
            &json!({"amount_pence": 25_000, "payment_method": "bank_transfer", "accept_terms": true})).await;
        no_key.expect(400);
        assert_eq!(no_key.error_fields(), vec!["Idempotency-Key"]);
        let first = s.app.pledge_with_key(&ann, &s.offer, 25_000, "key-1").await;
        first.expect(201);
        let again = s.app.pledge_with_key(&ann, &s.offer, 25_000, "key-1").await;
        again.expect(201);
        assert_eq!(again.body, first.body);
        assert_eq!(again.headers["idempotent-replayed"], "true");
        let other_body = s.app.pledge_with_key(&ann, &s.offer, 30_000, "key-1").await;
        other_body.expect(409);
        // Keys are per user: another investor's key-1 is theirs.
        let bob = s.app.investor("bob").await;
        s.app.pledge_with_key(&bob, &s.offer, 25_000, "key-1").await.expect(201);
        // A refused request does not use up its key.
        s.app.pledge_with_key(&ann, &s.offer, 25_050, "key-2").await.expect(422);
        s.app.pledge_with_key(&ann, &s.offer, 25_000, "key-2").await.expect(201);
        assert_eq!(offer(&s).await["pledge_count"], 3);
        assert_balanced(&s).await;
    }

    async fn the_same_key_sent_twenty_times_at_once_makes_one_pledge(backend) {
        let s = scene(backend).await;
        let ann = s.app.investor("ann").await;
        let answers = futures_util::future::join_all((0..20).map(|_| s.app.pledge_with_key(&ann, &s.offer, 25_000, "once"))).await;
        let ids: std::collections::HashSet<String> = answers
            .iter()
            .map(|a| {
                a.expect(201);
                a.body["id"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(ids.len(), 1, "{ids:?}");
        let totals = offer(&s).await;
        assert_eq!((totals["pledge_count"].clone(), totals["community_pledged_pence"].clone()), (json!(1), json!(25_000)));
        assert_balanced(&s).await;
    }

    async fn a_pending_pledge_is_cancelled_once_and_releases_its_capacity(backend) {
        let s = scene(backend).await;
        let ann = s.app.investor("ann").await;
        let pledge = s.app.pledge(&ann, &s.offer, 25_000).await.body;
        let id = pledge["id"].as_str().unwrap();
        let bob = s.app.investor("bob").await;
        s.app.post(&format!("/api/v1/pledges/{id}/cancel"), Some(&bob.access_token), &json!({})).await.expect(404);
        let path = format!("/api/v1/pledges/{id}/cancel");
        let empty = json!({});
        let answers = futures_util::future::join_all((0..3).map(|_| s.app.post(&path, Some(&ann.access_token), &empty))).await;
        let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
        assert_eq!(statuses.iter().filter(|&&st| st == 200).count(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|&st| st == 200 || st == 409), "{statuses:?}");
        let after = s.app.get(&format!("/api/v1/pledges/{id}"), Some(&ann.access_token)).await;
        assert_eq!(after.body["status"], "cancelled");
        let totals = offer(&s).await;
        assert_eq!((totals["community_pledged_pence"].clone(), totals["pledge_count"].clone(), totals["investor_count"].clone()), (json!(0), json!(0), json!(0)));
        let ledger = s.app.get(&format!("/api/v1/offers/{}/ledger", s.offer), Some(&s.platform.access_token)).await;
        let phases: Vec<&str> = ledger.body.as_array().unwrap().iter().map(|t| t["phase"].as_str().unwrap()).collect();
        assert_eq!(phases, vec!["pending", "void"]);
        assert_balanced(&s).await;
    }

    async fn a_bank_receipt_pays_the_matching_pledge(backend) {
        let s = scene(backend).await;
        let ann = s.app.investor("ann").await;
        let pledge = s.app.pledge(&ann, &s.offer, 25_000).await.body;
        let reference = pledge["payment"]["bank_reference"].as_str().unwrap().to_owned();
        let typed = format!(" {}-{} ", reference[..5].to_lowercase(), &reference[5..]);
        // (A smaller amount is a part payment: tests/api/statements.rs.)
        let unknown = receipt(&s, "CS23456789A", 25_000).await;
        unknown.expect(422);
        assert_eq!(unknown.error_fields(), vec!["reference"]);
        let paid = receipt(&s, &typed, 25_000).await;
        paid.expect(201);
        assert_eq!(paid.body["status"], "paid");
        assert!(paid.body["paid_at"].is_string());
        receipt(&s, &reference, 25_000).await.expect(409);
        let totals = offer(&s).await;
        assert_eq!(totals["community_paid_pence"], 25_000);
        assert_eq!(totals["community_pledged_pence"], 25_000);
        assert_balanced(&s).await;
    }

    async fn cancelling_a_paid_bank_pledge_lists_a_refund_for_the_treasurer(backend) {
        let s = scene(backend).await;
        let ann = s.app.investor("ann").await;
        let pledge = s.app.pledge(&ann, &s.offer, 25_000).await.body;
        let reference = pledge["payment"]["bank_reference"].as_str().unwrap().to_owned();
        receipt(&s, &reference, 25_000).await.expect(201);
        let id = pledge["id"].as_str().unwrap();
        let cancel = s.app.post(&format!("/api/v1/pledges/{id}/cancel"), Some(&ann.access_token), &json!({})).await;
        cancel.expect(200);
        assert_eq!(cancel.body["status"], "refunded");
        assert_eq!(cancel.body["refund"]["status"], "pending");
        assert_eq!(cancel.body["refund"]["method"], "bank_transfer");
        assert_eq!(cancel.body["refund"]["payee_reference"], reference.as_str());
        // Out of the totals at once; the money is owed back (a pending transfer) until paid.
        let totals = offer(&s).await;
        assert_eq!(totals["community_paid_pence"], 0);
        assert_eq!(totals["community_pledged_pence"], 0);
        assert_eq!(totals["investor_count"], 0);
        assert_balanced(&s).await;
        s.app.post(&format!("/api/v1/pledges/{id}/cancel"), Some(&ann.access_token), &json!({})).await.expect(409);
        // The treasurer's list, and marking it paid back.
        let listed = s.app.get(&format!("/api/v1/offers/{}/refunds?status=pending", s.offer), Some(&s.admin.access_token)).await;
        listed.expect(200);
        let items = listed.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["amount_pence"], 25_000);
        let refund_id = items[0]["id"].as_str().unwrap();
        let done_path = format!("/api/v1/offers/{}/refunds/{refund_id}/complete", s.offer);
        let done = s.app.post(&done_path, Some(&s.admin.access_token), &json!({})).await;
        done.expect(200);
        assert_eq!(done.body["status"], "succeeded");
        s.app.post(&done_path, Some(&s.admin.access_token), &json!({})).await.expect(409);
        let listed = s.app.get(&format!("/api/v1/offers/{}/refunds?status=pending", s.offer), Some(&s.admin.access_token)).await;
        assert!(listed.body["items"].as_array().unwrap().is_empty());
        s.app.get(&format!("/api/v1/offers/{}/refunds?status=bogus", s.offer), Some(&s.admin.access_token)).await.expect(400);
        let ledger = s.app.get(&format!("/api/v1/offers/{}/ledger", s.offer), Some(&s.platform.access_token)).await;
        let kinds: Vec<(&str, &str)> = ledger.body.as_array().unwrap().iter()
            .map(|t| (t["kind"].as_str().unwrap(), t["phase"].as_str().unwrap())).collect();
        assert_eq!(kinds, vec![("pledge", "pending"), ("pledge", "post"), ("refund", "pending"), ("refund", "post")]);
        assert_balanced(&s).await;
    }

    async fn cancelling_an_offer_refunds_its_paid_pledges(backend) {
        let s = scene(backend).await;
        let ann = s.app.investor("ann").await;
        let bob = s.app.investor("bob").await;
        let paid = s.app.pledge(&ann, &s.offer, 25_000).await.body;
        let unpaid = s.app.pledge(&bob, &s.offer, 10_000).await.body;
        receipt(&s, paid["payment"]["bank_reference"].as_str().unwrap(), 25_000).await.expect(201);
        let cancel = || async {
            let response = s.app.client.post(format!("{}/api/v1/offers/{}/cancel", s.app.address, s.offer))
                .bearer_auth(&s.platform.access_token).header("Idempotency-Key", "cancel-offer").json(&json!({}))
                .send().await.unwrap();
            Answer::read(response).await
        };
        cancel().await.expect(200);
        let repeat = cancel().await;
        repeat.expect(200);
        assert_eq!(repeat.body["status"], "cancelled");
        s.app.post(&format!("/api/v1/offers/{}/cancel", s.offer), Some(&s.platform.access_token), &json!({})).await.expect(409);
        assert_eq!(offer(&s).await["status"], "cancelled");
        let s = &s;
        let get = |id: String| async move { s.app.get(&format!("/api/v1/pledges/{id}"), Some(&s.platform.access_token)).await };
        // The paid pledge is refunded by the close-out job, moments later.
        let paid_now = s.app.wait_for_pledge(paid["id"].as_str().unwrap(), &s.platform.access_token, "the refund",
            |p| p["status"] == "refunded").await;
        assert_eq!(paid_now["refund"]["reason"], "offer_cancelled");
        assert_eq!(get(unpaid["id"].as_str().unwrap().to_owned()).await.body["status"], "cancelled");
        let listed = s.app.get(&format!("/api/v1/offers/{}/refunds", s.offer), Some(&s.admin.access_token)).await;
        let items = listed.body["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 1);
        assert_balanced(s).await;
        // Once the treasurer has paid it back, the cancelled offer is refunded.
        assert_eq!(offer(s).await["status"], "cancelled");
        s.app.post(&format!("/api/v1/offers/{}/refunds/{}/complete", s.offer, items[0]["id"].as_str().unwrap()),
            Some(&s.admin.access_token), &json!({})).await.expect(200);
        s.app.wait_for_status(&s.offer, None, "refunded").await;
        assert_balanced(s).await;
    }

    async fn receipts_with_an_idempotency_key_replay(backend) {
        let s = scene(backend).await;
        let ann = s.app.investor("ann").await;
        let pledge = s.app.pledge(&ann, &s.offer, 25_000).await.body;
        let reference = pledge["payment"]["bank_reference"].as_str().unwrap();
        let body = json!({"reference": reference, "amount_pence": 25_000, "received_at": "2026-11-20T10:00:00Z"});
        let send = || async {
            let response = s.app.client.post(format!("{}/api/v1/offers/{}/bank-receipts", s.app.address, s.offer))
                .bearer_auth(&s.admin.access_token).header("Idempotency-Key", "receipt-1").json(&body).send().await.unwrap();
            Answer::read(response).await
        };
        let first = send().await;
        first.expect(201);
        let second = send().await;
        second.expect(201);
        assert_eq!(first.body, second.body);
        assert_eq!(offer(&s).await["community_paid_pence"], 25_000);
    }

    async fn a_statement_import_pays_what_matches_and_lists_the_rest(backend) {
        let s = scene(backend).await;
        let mut references = Vec::new();
        for name in ["ann", "bob", "cat"] {
            let investor = s.app.investor(name).await;
            let pledge = s.app.pledge(&investor, &s.offer, 25_000).await.body;
            references.push(pledge["payment"]["bank_reference"].as_str().unwrap().to_owned());
        }
        let csv = format!(
            "Date,Reference,Amount,Balance\n2026-11-20,{},250.00,1000\n21/11/2026,\"{}\",\"£250\",1250\n2026-11-21,{},200.00,1450\n2026-11-21,CSZZZZZZZZZ,250.00,1700\n2026-11-22,{},lots,1950\n",
            references[0], references[1], references[2], references[2]
        );
        let import = |body: String| async {
            let response = s.app.client.post(format!("{}/api/v1/offers/{}/bank-receipts/import", s.app.address, s.offer))
                .bearer_auth(&s.admin.access_token).header("content-type", "text/csv").body(body).send().await.unwrap();
            Answer::read(response).await
        };
        let first = import(csv.clone()).await;
        first.expect(200);
        // Two pay in full; £200 of £250 is a part payment; the others are not receipts.
        assert_eq!(first.body["matched"], 3, "{}", first.text);
        let unmatched: Vec<u64> = first.body["unmatched"].as_array().unwrap().iter().map(|u| u["line"].as_u64().unwrap()).collect();
        assert_eq!(unmatched, vec![5, 6]);
        assert_eq!(offer(&s).await["community_paid_pence"], 50_000);
        // Importing the same statement again pays nothing twice.
        let again = import(csv).await;
        assert_eq!(again.body["matched"], 0);
        assert_eq!(offer(&s).await["community_paid_pence"], 50_000);
        let no_columns = import("no,columns\n1,2\n".into()).await;
        no_columns.expect(422);
        assert_eq!(no_columns.error_fields(), vec!["body"]);
        let response = s.app.client.post(format!("{}/api/v1/offers/{}/bank-receipts/import", s.app.address, s.offer))
            .bearer_auth(&s.admin.access_token).json(&json!({})).send().await.unwrap();
        assert_eq!(response.status(), 415);
        assert_balanced(&s).await;
    }

    async fn unpaid_pledges_expire_after_their_deadline(backend) {
        use community_shares::db::schema::pledges;
        use diesel::prelude::*;
        let s = scene(backend).await;
        let ann = s.app.investor("ann").await;
        let pledge = s.app.pledge(&ann, &s.offer, 25_000).await.body;
        let id = pledge["id"].as_str().unwrap().to_owned();
        let past = id.clone();
        s.app
            .with_db(move |conn| {
                diesel::update(pledges::table.find(&past))
                    .set(pledges::payment_due_at.eq(community_shares::clock::now() - chrono::Duration::seconds(1)))
                    .execute(conn)?;
                Ok(())
            })
            .await;
        let deadline = crate::support::patience::deadline();
        loop {
            let now = s.app.get(&format!("/api/v1/pledges/{id}"), Some(&ann.access_token)).await;
            if now.body["status"] == "expired" {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "did not expire: {}", now.text);
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        assert_eq!(offer(&s).await["community_pledged_pence"], 0);
        assert_balanced(&s).await;
    }

    async fn cancelling_an_open_offer_cancels_its_pending_pledges(backend) {
        let s = scene(backend).await;
        let ann = s.app.investor("ann").await;
        let pledge = s.app.pledge(&ann, &s.offer, 25_000).await.body;
        s.app.post(&format!("/api/v1/offers/{}/cancel", s.offer), Some(&s.admin.access_token), &json!({})).await.expect(200);
        let id = pledge["id"].as_str().unwrap();
        assert_eq!(s.app.get(&format!("/api/v1/pledges/{id}"), Some(&ann.access_token)).await.body["status"], "cancelled");
        assert_eq!(offer(&s).await["community_pledged_pence"], 0);
        assert_balanced(&s).await;
    }

    async fn verify_finds_a_tampered_balance_and_the_cli_exits_1(backend) {
        use community_shares::db::schema::ledger_accounts;
        use diesel::prelude::*;
        let s = scene(backend).await;
        let ann = s.app.investor("ann").await;
        s.app.pledge(&ann, &s.offer, 25_000).await.expect(201);
        let verify = |dir: std::path::PathBuf, url: String| {
            let mut command = binary::command(&dir);
            command.args(["ledger", "verify"]).env("CS__DATABASE__URL", url).env("CS__LOG__FILTER", "warn");
            binary::run(command, "")
        };
        let (dir, url) = (s.app.database.dir.path().to_owned(), s.app.database.url.clone());
        let good = tokio::task::spawn_blocking(move || verify(dir, url)).await.unwrap();
        assert_eq!(good.status.code(), Some(0), "{}", String::from_utf8_lossy(&good.stdout));
        assert!(String::from_utf8_lossy(&good.stdout).starts_with("balanced"));
        // Someone edits a balance behind the ledger's back.
        let escrow = format!("escrow:{}", s.offer);
        s.app
            .with_db(move |conn| {
                diesel::update(ledger_accounts::table.find(&escrow))
                    .set(ledger_accounts::credits_pending.eq(ledger_accounts::credits_pending + 1))
                    .execute(conn)?;
                Ok(())
            })
            .await;
        let (dir, url) = (s.app.database.dir.path().to_owned(), s.app.database.url.clone());
        let bad = tokio::task::spawn_blocking(move || verify(dir, url)).await.unwrap();
        assert_eq!(bad.status.code(), Some(1));
        let out = String::from_utf8_lossy(&bad.stdout);
        assert!(out.contains("credits_pending") && out.contains("total debits"), "{out}");
        let verdict = s.app.verify_ledger(&s.platform).await;
        assert_eq!(verdict["balanced"], false);
        assert!(verdict["problems"].as_array().unwrap().len() >= 2);
        // Only platform admins may ask.
        s.app.get("/api/v1/admin/ledger/verify", Some(&s.admin.access_token)).await.expect(403);
    }

    async fn a_surge_of_pledges_cancels_and_receipts_keeps_every_invariant(backend) {
        let s = scene(backend).await;
        let mut investors = Vec::new();
        for i in 0..50 {
            investors.push(s.app.investor(&format!("surge{i}")).await);
        }
        // Twenty pledges first, to be cancelled or paid during the surge.
        let mut earlier = Vec::new();
        for investor in investors.iter().take(20) {
            let pledge = s.app.pledge(investor, &s.offer, 50_000).await;
            pledge.expect(201);
            earlier.push((investor.clone(), pledge.body));
        }
        // Demand far above the £30,000 maximum, and each investor asking for more than the
        // £5,000 holding limit across four concurrent pledges.
        enum Call { Pledge(usize, i64), Cancel(usize), Receipt(usize) }
        let mut calls = Vec::new();
        for (i, _) in investors.iter().enumerate() {
            for k in 0..4 {
                calls.push(Call::Pledge(i, 100_000 + 25_000 * ((i + k) as i64 % 5)));
            }
        }
        for e in 0..20 {
            calls.push(if e % 2 == 0 { Call::Cancel(e) } else { Call::Receipt(e) });
        }
        let app = &s.app;
        let futures = calls.iter().map(|call| {
            let investors = &investors;
            let earlier = &earlier;
            let s = &s;
            async move {
                match call {
                    Call::Pledge(i, amount) => ("pledge", app.pledge(&investors[*i], &s.offer, *amount).await),
                    Call::Cancel(e) => {
                        let id = earlier[*e].1["id"].as_str().unwrap();
                        ("cancel", app.post(&format!("/api/v1/pledges/{id}/cancel"), Some(&earlier[*e].0.access_token), &json!({})).await)
                    }
                    Call::Receipt(e) => {
                        let reference = earlier[*e].1["payment"]["bank_reference"].as_str().unwrap();
                        ("receipt", receipt(s, reference, 50_000).await)
                    }
                }
            }
        });
        let answers = futures_util::future::join_all(futures).await;
        let mut by_status: HashMap<(&str, u16), usize> = HashMap::new();
        for (kind, answer) in &answers {
            *by_status.entry((kind, answer.status)).or_default() += 1;
            let allowed: &[u16] = match *kind {
                "pledge" => &[201, 409, 422],
                "cancel" => &[200],
                _ => &[201],
            };
            assert!(allowed.contains(&answer.status), "{kind} answered {}: {}", answer.status, answer.text);
        }
        assert!(by_status.get(&("pledge", 201)).copied().unwrap_or(0) > 10, "{by_status:?}");
        assert!(by_status.get(&("pledge", 422)).copied().unwrap_or(0) > 10, "{by_status:?}");

        let totals = offer(&s).await;
        assert!(totals["community_pledged_pence"].as_i64().unwrap() <= 3_000_000, "{totals}");
        assert_eq!(totals["community_paid_pence"], 500_000);
        // Every investor within the holding limits, and the totals equal the pledges.
        let mut per_investor: HashMap<String, i64> = HashMap::new();
        let mut live_sum = 0;
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/offers/{}/pledges?limit=100&cursor={c}", s.offer),
                None => format!("/api/v1/offers/{}/pledges?limit=100", s.offer),
            };
            let page = s.app.get(&path, Some(&s.admin.access_token)).await.body;
            for p in page["items"].as_array().unwrap() {
                if ["pending", "paid"].contains(&p["status"].as_str().unwrap()) {
                    *per_investor.entry(p["investor_id"].as_str().unwrap().to_owned()).or_default() += p["amount_pence"].as_i64().unwrap();
                    live_sum += p["amount_pence"].as_i64().unwrap();
                }
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(live_sum, totals["community_pledged_pence"].as_i64().unwrap());
        assert_eq!(per_investor.len() as i64, totals["investor_count"].as_i64().unwrap());
        for (investor, held) in &per_investor {
            assert!((10_000..=500_000).contains(held), "investor {investor} holds {held}");
        }
        assert_balanced(&s).await;
    }
}

/// Locks the offer's row from a PostgreSQL connection of the test's own, as a pledge does,
/// until the answered sender is dropped or sent to. Requests made meanwhile do their first
/// reads and then queue on the lock together.
async fn hold_offer_row(s: &Scene) -> std::sync::mpsc::Sender<()> {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    let (url, offer) = (s.app.database.url.clone(), s.offer.clone());
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (locked, is_locked) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut conn = PgConnection::establish(&url).expect("connect");
        conn.batch_execute("BEGIN").expect("begin");
        diesel::sql_query("UPDATE offers SET updated_at = updated_at WHERE id = $1")
            .bind::<diesel::sql_types::Text, _>(&offer)
            .execute(&mut conn)
            .expect("lock the offer row");
        locked.send(()).expect("test waits");
        let _ = released.recv();
        conn.batch_execute("COMMIT").expect("commit");
    });
    is_locked.await.expect("offer row locked");
    release
}

/// Waits until `n` sessions of the test's PostgreSQL database wait on a lock.
async fn wait_for_lock_waiters(s: &Scene, n: i64) {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let url = s.app.database.url.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = PgConnection::establish(&url).expect("connect");
        for _ in 0..200 {
            let waiting = diesel::sql_query(
                "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .get_result::<Count>(&mut conn)
            .expect("count waiters")
            .n;
            if waiting >= n {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("{n} requests never queued on the offer's row lock");
    })
    .await
    .expect("waiting task");
}

both_backends! {
    async fn two_pledges_of_one_investor_at_once_are_checked_against_each_other(backend) {
        // Each pledge reads the investor's holding before it takes the offer's row lock, and
        // checks it again, in the statement that inserts the pledge, once it holds the lock.
        // On PostgreSQL the test holds the lock itself while the four requests arrive, so that
        // each pair of requests reads the same (empty) holding first and the second of each
        // pair finds it changed. Each request goes to an instance of its own: one instance
        // queues its pledges to an offer and runs them one after another in one transaction
        // (group commit, src/db/hot.rs), so only across instances do they meet at the lock.
        // On SQLite every write transaction runs whole, one at a time, so the requests are
        // simply concurrent.
        let s = scene(backend).await;
        let ann = s.app.investor("ann").await;
        let bob = s.app.investor("bob").await;
        let mut others = Vec::new();
        if backend == crate::support::Backend::Postgres {
            for _ in 0..3 {
                others.push(TestApp::spawn_with(backend, s.app.database.share(), |_| {}).await);
            }
        }
        let instance = |i: usize| if i == 0 || others.is_empty() { &s.app } else { &others[i - 1] };
        let release = match backend {
            crate::support::Backend::Postgres => Some(hold_offer_row(&s).await),
            crate::support::Backend::Sqlite => None,
        };
        // Ann's two £3,000 pledges break the £5,000 maximum holding together; Bob's two £1,000
        // ones do not, but only the first makes him a new investor in the offer.
        let requests = async {
            tokio::join!(
                instance(0).pledge(&ann, &s.offer, 300_000),
                instance(1).pledge(&ann, &s.offer, 300_000),
                instance(2).pledge(&bob, &s.offer, 100_000),
                instance(3).pledge(&bob, &s.offer, 100_000),
            )
        };
        let unlock = async {
            if let Some(release) = release {
                wait_for_lock_waiters(&s, 4).await;
                release.send(()).expect("lock holder waits");
            }
        };
        let ((ann1, ann2, bob1, bob2), ()) = tokio::join!(requests, unlock);
        let mut ann_statuses = [ann1.status, ann2.status];
        ann_statuses.sort_unstable();
        assert_eq!(ann_statuses, [201, 422], "{} / {}", ann1.text, ann2.text);
        let refused = if ann1.status == 422 { &ann1 } else { &ann2 };
        assert_eq!(refused.error_fields(), vec!["amount_pence"], "{}", refused.text);
        assert!(refused.text.contains("£2,000.00 more"), "{}", refused.text);
        bob1.expect(201);
        bob2.expect(201);
        let totals = offer(&s).await;
        assert_eq!(totals["community_pledged_pence"], 500_000, "{totals}");
        assert_eq!(totals["pledge_count"], 3, "{totals}");
        assert_eq!(totals["investor_count"], 2, "{totals}");
        assert_balanced(&s).await;
    }
}
