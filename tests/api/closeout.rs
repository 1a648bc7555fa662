//! Close-out journeys over HTTP: an offer that succeeds is allocated into the share register
//! (investors by card and bank transfer, and the funder of its match); one that fails refunds
//! every payment by its own method and releases its match.

use std::time::Duration;

use serde_json::{json, Value};

use crate::both_backends;
use crate::support::stripe::{app_with_cards, paid_card_pledge, StripeFake};
use crate::support::{Backend, TestApp, TestUser};

struct Scene {
    app: TestApp,
    admin: TestUser,
    platform: TestUser,
    funder_admin: TestUser,
    offer: String,
    fund: String,
    stripe: StripeFake,
}

/// An open offer (£10,000 minimum) with an approved live match (£1 for £1 up to £250 per
/// investor), on an app with card payments over a local Stripe.
async fn scene(backend: Backend) -> Scene {
    let stripe = StripeFake::start();
    let app = app_with_cards(backend, stripe.url(), 1).await;
    let (admin, platform, offer) = app.open_offer_scene().await;
    let (funder_admin, fund) = app.approved_live_fund(&admin, &platform, &offer, 500_000).await;
    Scene {
        app,
        admin,
        platform,
        funder_admin,
        offer,
        fund,
        stripe,
    }
}

impl Scene {
    async fn bank_pledge_paid(&self, investor: &TestUser, amount: i64) -> String {
        let pledge = self.app.pledge(investor, &self.offer, amount).await;
        pledge.expect(201);
        // The offer holds match money: a platform admin is the receipt's second person.
        self.app
            .receipt_by_hand(
                &self.admin,
                &self.platform,
                &self.offer,
                &pledge.body["payment"]["bank_reference"],
                amount,
            )
            .await;
        pledge.body["id"].as_str().unwrap().to_owned()
    }

    async fn card_pledge_paid(&self, investor: &TestUser, amount: i64) -> (String, String) {
        paid_card_pledge(&self.app, &self.stripe, &self.offer, investor, amount).await
    }

    async fn close(&self) {
        self.app
            .post(
                &format!("/api/v1/offers/{}/close", self.offer),
                Some(&self.platform.access_token),
                &json!({}),
            )
            .await
            .expect(200);
    }

    async fn wait_for_offer(&self, status: &str) -> Value {
        self.app
            .wait_for_status(&self.offer, Some(&self.admin.access_token), status)
            .await
    }

    async fn pledge(&self, id: &str) -> Value {
        self.app
            .get(&format!("/api/v1/pledges/{id}"), Some(&self.platform.access_token))
            .await
            .body
    }

    async fn assert_balanced(&self) {
        let verdict = self.app.verify_ledger(&self.platform).await;
        assert_eq!(verdict["balanced"], true, "{verdict}");
    }
}

both_backends! {
    async fn a_successful_offer_is_allocated_into_the_share_register(backend) {
        let s = scene(backend).await;
        let ann = s.app.investor("ann").await;
        let bob = s.app.investor("bob").await;
        let cat = s.app.investor("cat").await;
        let dan = s.app.investor("dan").await;
        let ann_pledge = s.bank_pledge_paid(&ann, 500_000).await;
        let bob_pledge = s.bank_pledge_paid(&bob, 400_000).await;
        let (cat_pledge, _) = s.card_pledge_paid(&cat, 100_000).await;
        // Dan never pays: the offer waits for his deadline, then his pledge expires.
        let dan_pledge = s.app.pledge(&dan, &s.offer, 10_000).await.body["id"].as_str().unwrap().to_owned();
        // Registers are written only at allocation.
        s.app.get(&format!("/api/v1/offers/{}/register", s.offer), Some(&s.admin.access_token)).await.expect(409);
        // Names a spreadsheet must keep as written, and one it would run as a formula.
        for (investor, name) in [(&bob, "Siân Ó Briain"), (&cat, "=SUM(A1:A9)")] {
            let profile = json!({"full_name": name, "address_line1": "1 Quay Street", "town": "Bristol",
                "postcode": "BS1 4DJ", "date_of_birth": "1980-05-01"});
            s.app.put("/api/v1/me/profile", Some(&investor.access_token), &profile).await.expect(200);
        }
        s.close().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let offer = s.app.get(&format!("/api/v1/offers/{}", s.offer), None).await.body;
        assert_eq!(offer["status"], "closed", "an unpaid pledge within its deadline holds the decision");
        let due = dan_pledge.clone();
        s.app.with_db(move |conn| {
            use diesel::prelude::*;
            diesel::sql_query(format!("UPDATE pledges SET payment_due_at = '2000-01-01 00:00:00' WHERE id = '{due}'"))
                .execute(conn)?;
            Ok(())
        }).await;
        let offer = s.wait_for_offer("allocated").await;
        // £10,000 community (ann, bob, cat) + £750 match (£250 each) ≥ £10,000.
        assert_eq!(offer["community_paid_pence"], 1_000_000);
        assert_eq!(offer["match_pence"], 75_000);
        assert_eq!(s.pledge(&dan_pledge).await["status"], "expired");
        for id in [&ann_pledge, &bob_pledge, &cat_pledge] {
            assert_eq!(s.pledge(id).await["status"], "allocated");
        }

        let register = s.app.get(&format!("/api/v1/offers/{}/register", s.offer), Some(&s.admin.access_token)).await;
        register.expect(200);
        let entries = register.body.as_array().unwrap().clone();
        assert_eq!(entries.len(), 4, "three investors and the funder: {entries:?}");
        let by_name = |name: &str| entries.iter().find(|e| e["name"] == name).unwrap_or_else(|| panic!("{name} in {entries:?}")).clone();
        let ann_entry = by_name("ann Example");
        assert_eq!(ann_entry["shares"], 5_000);
        assert_eq!(ann_entry["amount_pence"], 500_000);
        assert_eq!(ann_entry["votes"], 1);
        assert_eq!(ann_entry["member_kind"], "investor");
        assert!(ann_entry["address"].as_str().unwrap().contains("BS1 4DJ"), "{ann_entry}");
        assert_eq!(ann_entry["email"], ann.email.as_str());
        let funder_entry = entries.iter().find(|e| e["member_kind"] == "funder").unwrap();
        assert_eq!(funder_entry["shares"], 750);
        assert_eq!(funder_entry["amount_pence"], 75_000);
        assert_eq!(funder_entry["votes"], 1);
        let total: i64 = entries.iter().map(|e| e["amount_pence"].as_i64().unwrap()).sum();
        assert_eq!(total, 1_075_000);

        let csv = s.app.client.get(format!("{}/api/v1/offers/{}/register?format=csv", s.app.address, s.offer))
            .bearer_auth(&s.admin.access_token).send().await.unwrap();
        assert_eq!(csv.status(), 200);
        assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let text = csv.text().await.unwrap();
        assert_eq!(text.lines().count(), 5, "{text}");
        // UTF-8 with a byte-order mark, text quoted, formulas defused.
        assert!(text.starts_with("\u{FEFF}\"member_id\",\"member_kind\",\"name\""), "{text}");
        assert!(text.contains("\"£5,000.00\""), "{text}");
        assert!(text.contains("\"Siân Ó Briain\""), "{text}");
        assert!(text.contains("\"'=SUM(A1:A9)\""), "{text}");
        s.app.get(&format!("/api/v1/offers/{}/register?format=xml", s.offer), Some(&s.admin.access_token)).await.expect(400);

        let holdings = s.app.get("/api/v1/me/holdings", Some(&cat.access_token)).await;
        holdings.expect(200);
        assert_eq!(holdings.body[0]["shares"], 1_000);
        assert_eq!(holdings.body[0]["offers"][0]["offer_id"], s.offer.as_str());
        let none = s.app.get("/api/v1/me/holdings", Some(&dan.access_token)).await;
        assert_eq!(none.body, json!([]));

        // What the fund committed beyond its match went back to it.
        let fund = s.app.get(&format!("/api/v1/funds/{}", s.fund), None).await.body;
        assert_eq!(fund["available_pence"], 1_000_000 - 75_000, "{fund}");
        s.assert_balanced().await;
        let _ = &s.funder_admin;
    }

    async fn a_failed_offer_refunds_every_payment_and_releases_its_match(backend) {
        let s = scene(backend).await;
        let ann = s.app.investor("ann").await;
        let bob = s.app.investor("bob").await;
        let ann_pledge = s.bank_pledge_paid(&ann, 200_000).await;
        let (bob_pledge, bob_intent) = s.card_pledge_paid(&bob, 100_000).await;
        s.close().await;
        // £3,000 + £500 match < £10,000: failed, every payment refunded by its own method.
        let bob_now = s.app.wait_for_pledge(&bob_pledge, &s.platform.access_token, "Bob's refund", |p| p["refund"]["status"] == "succeeded").await;
        assert_eq!(bob_now["status"], "refunded");
        assert_eq!(bob_now["refund"]["reason"], "offer_failed");
        assert_eq!(s.stripe.refunds_of(&bob_intent).await.len(), 1);
        let offer = s.app.get(&format!("/api/v1/offers/{}", s.offer), None).await.body;
        assert_eq!(offer["status"], "failed", "a bank refund is still to be paid back");
        assert_eq!(offer["match_pence"], 0);
        let listed = s.app.get(&format!("/api/v1/offers/{}/refunds?status=pending", s.offer), Some(&s.admin.access_token)).await;
        let items = listed.body["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["pledge_id"], ann_pledge.as_str());
        assert_eq!(items[0]["method"], "bank_transfer");
        s.app.post(&format!("/api/v1/offers/{}/refunds/{}/complete", s.offer, items[0]["id"].as_str().unwrap()),
            Some(&s.admin.access_token), &json!({})).await.expect(200);
        s.wait_for_offer("refunded").await;
        let fund = s.app.get(&format!("/api/v1/funds/{}", s.fund), None).await.body;
        assert_eq!(fund["available_pence"], 1_000_000, "the commitment is back in the fund: {fund}");
        s.app.get(&format!("/api/v1/offers/{}/register", s.offer), Some(&s.admin.access_token)).await.expect(409);
        s.assert_balanced().await;
    }
}
