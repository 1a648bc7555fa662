//! Terms a funder approved stay approved, written as the attack that once worked: after a
//! funder approved, the society rewrote the offer's terms and the approval stood. Now a change
//! of a material term (targets, holdings, price, dates, cooling-off, interest, document,
//! eligibility) while a fund has approved or holds a commitment is 409 naming the fund; the
//! title and summary may be corrected, and the funder sees the correction in its audit trail;
//! the society may withdraw its application before the offer opens (the commitment returns).

use serde_json::{json, Value};

use crate::both_backends;
use crate::support::{live_rule, offer_body, Answer, TestApp, TestUser};

struct Scene {
    app: TestApp,
    admin: TestUser,
    platform: TestUser,
    funder_admin: TestUser,
    funder: String,
    society: String,
    offer: String,
    fund: String,
    application: String,
}

/// A draft offer that applied to a fund.
async fn scene(backend: crate::support::Backend, fund_needs_two: bool) -> Scene {
    let app = TestApp::spawn(backend).await;
    let admin = app.user("society-admin").await;
    let platform = app.platform_admin().await;
    let society = app.society(&admin).await;
    app.bank_details(&admin, &society).await;
    let funder_admin = app.user("funder-admin").await;
    let funder = app.funder(&platform, &funder_admin).await;
    let fund = if fund_needs_two {
        app.fund_needing_two(&funder_admin, &funder, 1_000_000, live_rule())
            .await
    } else {
        app.fund(&funder_admin, &funder, 1_000_000, live_rule()).await
    };
    let offer = app.draft_offer(&admin, &society, &offer_body()).await;
    let application = app.apply(&admin, &offer, &fund).await;
    Scene {
        app,
        admin,
        platform,
        funder_admin,
        funder,
        society,
        offer,
        fund,
        application,
    }
}

impl Scene {
    async fn approve(&self) -> Answer {
        let path = format!("/api/v1/funds/{}/applications/{}/approve", self.fund, self.application);
        self.app
            .post(
                &path,
                Some(&self.funder_admin.access_token),
                &json!({"commitment_pence": 300_000}),
            )
            .await
    }

    async fn patch(&self, body: Value) -> Answer {
        let path = format!("/api/v1/offers/{}", self.offer);
        self.app
            .call(
                reqwest::Method::PATCH,
                &path,
                Some(&self.admin.access_token),
                Some(&body),
            )
            .await
    }

    async fn available(&self) -> i64 {
        self.app.get(&format!("/api/v1/funds/{}", self.fund), None).await.body["available_pence"]
            .as_i64()
            .unwrap()
    }

    async fn audit_actions(&self) -> Vec<(String, String)> {
        let trail = self
            .app
            .get(
                &format!("/api/v1/funders/{}/audit", self.funder),
                Some(&self.funder_admin.access_token),
            )
            .await;
        trail.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["action"].as_str().unwrap().to_owned(),
                    e["detail"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

fn detail(answer: &Answer) -> &str {
    answer.body["detail"].as_str().unwrap_or_default()
}

both_backends! {
    async fn terms_a_fund_approved_cannot_be_rewritten(backend) {
        let s = scene(backend, false).await;
        s.approve().await.expect(200);
        // Every material term is refused, naming the fund.
        for body in [
            json!({"target_pence": 2_500_000}),
            json!({"min_target_pence": 500_000}),
            json!({"share_price_pence": 200}),
            json!({"max_holding_pence": 400_000}),
            json!({"closes_at": (chrono::Utc::now() + chrono::Duration::days(20)).to_rfc3339()}),
            json!({"cooling_off_days": 7}),
            json!({"document_url": "https://example.org/another-offer-document.pdf"}),
        ] {
            let refused = s.patch(body.clone()).await;
            refused.expect(409);
            assert!(detail(&refused).contains("Riverside Match Fund approved these terms"), "{body}: {}", refused.text);
        }
        let eligibility = s
            .app
            .post(&format!("/api/v1/offers/{}/eligibility", s.offer), Some(&s.admin.access_token), &json!({"postcode_prefixes": ["GL5"]}))
            .await;
        eligibility.expect(409);
        // The terms are as approved.
        let offer = s.app.get(&format!("/api/v1/offers/{}", s.offer), Some(&s.admin.access_token)).await.body;
        assert_eq!(offer["target_pence"], 2_000_000);
        // Sending the same terms again changes nothing, and is fine; so is correcting the title,
        // which the funder sees in its audit trail.
        s.patch(json!({"target_pence": 2_000_000})).await.expect(200);
        s.patch(json!({"title": "Solar roofs for Riverside and Hilltop"})).await.expect(200);
        let trail = s.audit_actions().await;
        assert_eq!(trail[0].0, "offer_corrected", "{trail:#?}");
        assert!(trail[0].1.contains("\"Solar roofs for Riverside\" to \"Solar roofs for Riverside and Hilltop\""), "{trail:#?}");
        let _ = (&s.platform, &s.society);
    }

    async fn a_held_commitment_fixes_the_terms_too(backend) {
        let s = scene(backend, true).await;
        s.approve().await.expect(202);
        let refused = s.patch(json!({"max_target_pence": 4_000_000})).await;
        refused.expect(409);
        assert!(detail(&refused).contains("Riverside Match Fund"), "{}", refused.text);
    }

    async fn the_society_withdraws_its_application_and_then_may_change_its_terms(backend) {
        let s = scene(backend, false).await;
        let before = s.available().await;
        s.approve().await.expect(200);
        assert_eq!(s.available().await, before - 300_000);
        let path = format!("/api/v1/offers/{}/match-applications/{}/withdraw", s.offer, s.application);
        // Not the funder's to withdraw (a draft offer is not even visible to it).
        s.app.post(&path, Some(&s.funder_admin.access_token), &json!({})).await.expect(404);
        let withdrawn = s.app.post(&path, Some(&s.admin.access_token), &json!({})).await;
        withdrawn.expect(200);
        assert_eq!((withdrawn.body["status"].as_str(), withdrawn.body["reason"].as_str()), (Some("released"), Some("withdrawn by the society")));
        assert_eq!(s.available().await, before, "the commitment is back in the fund");
        s.app.post(&path, Some(&s.admin.access_token), &json!({})).await.expect(409);
        assert_eq!(s.audit_actions().await[0].0, "application_withdrawn");
        let told = s.app.recipients("commitment").await;
        assert!(told.contains(&s.funder_admin.email), "{told:?}");
        s.patch(json!({"target_pence": 2_500_000})).await.expect(200);
        assert_eq!(s.app.verify_ledger(&s.platform).await["balanced"], true);
        // Another offer's application is not found.
        let other = s.app.draft_offer(&s.admin, &s.society, &offer_body()).await;
        s.app
            .post(&format!("/api/v1/offers/{other}/match-applications/{}/withdraw", s.application), Some(&s.admin.access_token), &json!({}))
            .await
            .expect(404);
    }

    async fn an_open_offers_application_stays(backend) {
        let app = TestApp::spawn(backend).await;
        let (admin, platform, offer) = app.open_offer_scene().await;
        let (_, fund) = app.approved_live_fund(&admin, &platform, &offer, 200_000).await;
        let applications = app.get(&format!("/api/v1/offers/{offer}/match-applications"), Some(&admin.access_token)).await.body;
        let application = applications[0]["id"].as_str().unwrap().to_owned();
        let refused = app
            .post(&format!("/api/v1/offers/{offer}/match-applications/{application}/withdraw"), Some(&admin.access_token), &json!({}))
            .await;
        refused.expect(409);
        assert!(detail(&refused).contains("the offer is open"), "{}", refused.text);
        let _ = fund;
    }
}
