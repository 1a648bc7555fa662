//! Match only on money that exists, written as the attack that once worked: a society admin
//! types bank receipts for pledges never paid (their own among them), and the fund's match
//! follows. Now a receipt typed on an offer holding match money waits for a second person (not
//! the typist, not the pledge's investor, an admin from before it was typed, or a platform
//! admin); `ledger verify` finds a match resting on a receipt no second person confirmed; and an
//! imported receipt keeps the statement file's SHA-256 and its line.

use serde_json::{json, Value};

use crate::both_backends;
use crate::support::{Answer, TestApp, TestUser};

struct Scene {
    app: TestApp,
    treasurer: TestUser,
    platform: TestUser,
    offer: String,
    society: String,
}

/// An open offer with a live fund's approved commitment (so it holds match money).
async fn scene(backend: crate::support::Backend) -> Scene {
    let app = TestApp::spawn(backend).await;
    let (treasurer, platform, offer) = app.open_offer_scene().await;
    app.approved_live_fund(&treasurer, &platform, &offer, 500_000).await;
    let society = app
        .get(&format!("/api/v1/offers/{offer}"), Some(&treasurer.access_token))
        .await
        .body["society_id"]
        .as_str()
        .expect("society id")
        .to_owned();
    Scene {
        app,
        treasurer,
        platform,
        offer,
        society,
    }
}

impl Scene {
    /// A pending bank-transfer pledge of £250 by `investor`: its reference.
    async fn pledge(&self, investor: &TestUser) -> (String, String) {
        let answer = self.app.pledge(investor, &self.offer, 25_000).await;
        answer.expect(201);
        let id = answer.body["id"].as_str().unwrap().to_owned();
        (
            id,
            answer.body["payment"]["bank_reference"].as_str().unwrap().to_owned(),
        )
    }

    async fn typed(&self, by: &TestUser, reference: &str) -> Answer {
        self.app
            .post(
                &format!("/api/v1/offers/{}/bank-receipts", self.offer),
                Some(&by.access_token),
                &json!({"reference": reference, "amount_pence": 25_000, "received_at": chrono::Utc::now().to_rfc3339()}),
            )
            .await
    }

    async fn decide(&self, by: &TestUser, receipt: &str, what: &str) -> Answer {
        let path = format!("/api/v1/offers/{}/bank-receipts/{receipt}/{what}", self.offer);
        self.app.post(&path, Some(&by.access_token), &json!({})).await
    }

    async fn pledge_view(&self, id: &str) -> Value {
        let answer = self
            .app
            .get(&format!("/api/v1/pledges/{id}"), Some(&self.treasurer.access_token))
            .await;
        answer.expect(200);
        answer.body
    }
}

fn detail(answer: &Answer) -> &str {
    answer.body["detail"].as_str().unwrap_or_default()
}

both_backends! {
    async fn a_receipt_typed_for_money_never_paid_does_not_count_alone(backend) {
        let s = scene(backend).await;
        // The treasurer pledges to their own society's offer and types a receipt for it.
        s.app.put(
            "/api/v1/me/profile",
            Some(&s.treasurer.access_token),
            &json!({"full_name": "Tam Treasurer", "address_line1": "1 Quay St", "town": "Bristol", "postcode": "BS1 4DJ", "date_of_birth": "1970-01-01"}),
        )
        .await
        .expect(200);
        let (own, own_reference) = s.pledge(&s.treasurer).await;
        let typed = s.typed(&s.treasurer, &own_reference).await;
        typed.expect(201);
        assert_eq!(typed.body["receipt"]["status"], "awaiting_confirmation", "{typed:?}");
        assert_eq!((typed.body["status"].as_str(), typed.body["received_pence"].as_i64()), (Some("pending"), Some(0)));
        let receipt = typed.body["receipt"]["id"].as_str().unwrap().to_owned();
        let shown = s.pledge_view(&own).await;
        assert_eq!(shown["awaiting_confirmation"][0]["id"], json!(receipt));
        assert_eq!(shown["awaiting_confirmation"][0]["amount_pence"], 25_000);
        // The typist cannot confirm it.
        let refused = s.decide(&s.treasurer, &receipt, "confirm").await;
        refused.expect(403);
        assert!(detail(&refused).contains("you typed this receipt"), "{}", refused.text);
        // A colleague who joins afterwards cannot either.
        let late = s.app.user("late-colleague").await;
        s.app.make_society_admin(&s.treasurer, &s.society, &late).await;
        let refused = s.decide(&late, &receipt, "confirm").await;
        refused.expect(403);
        assert!(detail(&refused).contains("after this request was made"), "{}", refused.text);
        // Nor an investor, nor an admin of another society.
        let stranger = s.app.investor("stranger").await;
        s.decide(&stranger, &receipt, "confirm").await.expect(403);
        assert_eq!(s.pledge_view(&own).await["status"], "pending", "nothing counted");
        // A platform admin may; then it counts, once.
        s.decide(&s.platform, &receipt, "confirm").await.expect(200);
        let paid = s.pledge_view(&own).await;
        assert_eq!((paid["status"].as_str(), paid["received_pence"].as_i64()), (Some("paid"), Some(25_000)));
        assert_eq!(paid["awaiting_confirmation"], json!([]));
        let again = s.decide(&s.platform, &receipt, "confirm").await;
        again.expect(409);
        assert!(detail(&again).contains("confirmed already"), "{}", again.text);
        assert_eq!(s.app.verify_ledger(&s.platform).await["balanced"], true);
    }

    async fn a_colleague_confirms_and_the_investor_admin_may_not(backend) {
        let s = scene(backend).await;
        // The treasurer brings in a colleague, who brings in another.
        let colleague = s.app.user("colleague").await;
        s.app.make_society_admin(&s.treasurer, &s.society, &colleague).await;
        let secretary = s.app.user("secretary").await;
        s.app.make_society_admin(&colleague, &s.society, &secretary).await;
        // A pledge by the colleague themselves, typed by the treasurer: the colleague may not
        // confirm money for their own pledge.
        s.app.put(
            "/api/v1/me/profile",
            Some(&colleague.access_token),
            &json!({"full_name": "Col League", "address_line1": "2 Quay St", "town": "Bristol", "postcode": "BS1 4DJ", "date_of_birth": "1971-01-01"}),
        )
        .await
        .expect(200);
        let (_, colleagues_reference) = s.pledge(&colleague).await;
        let typed = s.typed(&s.treasurer, &colleagues_reference).await;
        let refused = s.decide(&colleague, typed.body["receipt"]["id"].as_str().unwrap(), "confirm").await;
        refused.expect(403);
        assert!(detail(&refused).contains("your own pledge"), "{}", refused.text);
        // An investor's pledge: the treasurer's own recent invitee may not confirm it; the
        // secretary, an admin from before it was typed whom the treasurer did not bring in, may.
        let investor = s.app.investor("ivy").await;
        let (id, reference) = s.pledge(&investor).await;
        let typed = s.typed(&s.treasurer, &reference).await;
        let receipt = typed.body["receipt"]["id"].as_str().unwrap().to_owned();
        let refused = s.decide(&colleague, &receipt, "confirm").await;
        refused.expect(403);
        assert!(detail(&refused).contains("brought you in less than 7 days"), "{}", refused.text);
        let confirmed = s.decide(&secretary, &receipt, "confirm").await;
        confirmed.expect(200);
        assert_eq!(confirmed.body["status"], "paid");
        // Typed twice by mistake: the second is withdrawn, and never counted.
        let (other, other_reference) = s.pledge(&s.app.investor("oli").await).await;
        let mistake = s.typed(&s.treasurer, &other_reference).await;
        let mistake = mistake.body["receipt"]["id"].as_str().unwrap().to_owned();
        s.decide(&s.treasurer, &mistake, "withdraw").await.expect(200);
        s.decide(&secretary, &mistake, "confirm").await.expect(409);
        assert_eq!(s.pledge_view(&other).await["received_pence"], 0);
        // Unknown, or another offer's: 404.
        s.decide(&secretary, "no-such-receipt", "confirm").await.expect(404);
        // Who typed it and who confirmed it are both on the receipt.
        let (by, confirmed_by): (String, Option<String>) = s
            .app
            .with_db(move |conn| {
                use community_shares::db::schema::bank_receipts;
                use diesel::prelude::*;
                Ok(bank_receipts::table
                    .filter(bank_receipts::pledge_id.eq(&id))
                    .select((bank_receipts::recorded_by, bank_receipts::confirmed_by))
                    .first(conn)?)
            })
            .await;
        assert_eq!((by, confirmed_by), (s.treasurer.id.clone(), Some(secretary.id.clone())));
    }

    async fn without_match_money_a_typed_receipt_counts_at_once(backend) {
        let app = TestApp::spawn(backend).await;
        let (treasurer, _, offer) = app.open_offer_scene().await;
        let investor = app.investor("una").await;
        let pledge = app.pledge(&investor, &offer, 25_000).await;
        let reference = pledge.body["payment"]["bank_reference"].as_str().unwrap().to_owned();
        let typed = app
            .post(
                &format!("/api/v1/offers/{offer}/bank-receipts"),
                Some(&treasurer.access_token),
                &json!({"reference": reference, "amount_pence": 25_000, "received_at": chrono::Utc::now().to_rfc3339()}),
            )
            .await;
        typed.expect(201);
        assert_eq!((typed.body["receipt"]["status"].as_str(), typed.body["status"].as_str()), (Some("confirmed"), Some("paid")));
    }

    async fn ledger_verify_finds_a_match_resting_on_an_unconfirmed_receipt(backend) {
        let s = scene(backend).await;
        let investor = s.app.investor("vic").await;
        let (id, reference) = s.pledge(&investor).await;
        let typed = s.typed(&s.treasurer, &reference).await;
        s.decide(&s.platform, typed.body["receipt"]["id"].as_str().unwrap(), "confirm").await.expect(200);
        assert!(s.pledge_view(&id).await["match_pence"].as_i64().unwrap() > 0, "the pledge is matched");
        assert_eq!(s.app.verify_ledger(&s.platform).await["balanced"], true);
        // A dishonest insider with the database clears the confirmation: verify says so.
        let cleared = id.clone();
        s.app
            .with_db(move |conn| {
                use community_shares::db::schema::bank_receipts;
                use diesel::prelude::*;
                diesel::update(bank_receipts::table.filter(bank_receipts::pledge_id.eq(&cleared)))
                    .set(bank_receipts::confirmed_by.eq(None::<String>))
                    .execute(conn)?;
                Ok(())
            })
            .await;
        let verdict = s.app.verify_ledger(&s.platform).await;
        assert_eq!(verdict["balanced"], false, "{verdict}");
        let problems = verdict["problems"].to_string();
        assert!(problems.contains("match rests on a receipt typed by hand that no second person confirmed"), "{problems}");
    }

    async fn an_imported_receipt_keeps_its_file_and_line(backend) {
        let s = scene(backend).await;
        let investor = s.app.investor("wyn").await;
        let (id, reference) = s.pledge(&investor).await;
        let today = chrono::Utc::now().format("%d/%m/%Y");
        let statement = format!("date,reference,amount\n{today},{reference},250.00\n");
        let sha256 = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(statement.as_bytes()));
        let answer = s
            .app
            .client
            .post(format!("{}/api/v1/offers/{}/bank-receipts/import", s.app.address, s.offer))
            .bearer_auth(&s.treasurer.access_token)
            .header("content-type", "text/csv")
            .body(statement)
            .send()
            .await
            .expect("import");
        assert_eq!(answer.status(), 200);
        assert_eq!(s.pledge_view(&id).await["status"], "paid", "a statement line is money the bank shows: no second person");
        let evidence: (Option<String>, Option<i64>, String) = s
            .app
            .with_db(move |conn| {
                use community_shares::db::schema::bank_receipts;
                use diesel::prelude::*;
                Ok(bank_receipts::table
                    .filter(bank_receipts::pledge_id.eq(&id))
                    .select((bank_receipts::statement_sha256, bank_receipts::statement_line, bank_receipts::recorded_by))
                    .first(conn)?)
            })
            .await;
        assert_eq!(evidence, (Some(sha256), Some(2), s.treasurer.id.clone()));
    }
}
