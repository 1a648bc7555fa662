//! Share offers: terms, the lifecycle, visibility, eligibility, and the scheduler.

use serde_json::{json, Value};

use crate::both_backends;
use crate::support::{offer_body, TestApp, TestUser};

struct Scene {
    app: TestApp,
    admin: TestUser,
    platform: TestUser,
    society: String,
}

async fn scene(backend: crate::support::Backend) -> Scene {
    let app = TestApp::spawn(backend).await;
    let admin = app.user("society-admin").await;
    let platform = app.platform_admin().await;
    let society = app.society(&admin).await;
    app.bank_details(&admin, &society).await;
    Scene {
        app,
        admin,
        platform,
        society,
    }
}

fn with(mut body: Value, changes: Value) -> Value {
    for (key, value) in changes.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

both_backends! {
    async fn a_draft_offer_has_its_terms_zero_totals_and_default_eligibility(backend) {
        let s = scene(backend).await;
        let answer = s
            .app
            .post(&format!("/api/v1/societies/{}/offers", s.society), Some(&s.admin.access_token), &offer_body())
            .await;
        answer.expect(201);
        let offer = &answer.body;
        assert_eq!(offer["status"], "draft");
        assert_eq!(offer["society_id"], s.society);
        assert_eq!(offer["max_target_pence"], 3_000_000);
        assert_eq!(offer["cooling_off_days"], 14);
        assert_eq!(offer["eligibility"], json!({"min_age": 16, "postcode_prefixes": []}));
        assert_eq!(offer["below_community_shares_minimum"], false);
        for total in ["community_pledged_pence", "community_paid_pence", "match_pence", "total_pence", "investor_count", "pledge_count"] {
            assert_eq!(offer[total], 0, "{total}");
        }
        // Defaults for the optional fields, and the flag for a small minimum target.
        let mut small = with(offer_body(), json!({"min_target_pence": 500_000}));
        small.as_object_mut().unwrap().remove("cooling_off_days");
        small.as_object_mut().unwrap().remove("interest_rate_bps");
        let answer = s.app.post(&format!("/api/v1/societies/{}/offers", s.society), Some(&s.admin.access_token), &small).await;
        answer.expect(201);
        assert_eq!(answer.body["below_community_shares_minimum"], true);
        assert_eq!(answer.body["cooling_off_days"], 14);
        assert_eq!(answer.body["interest_rate_bps"], 0);
    }

    async fn broken_terms_are_422_listing_every_field_and_write_nothing(backend) {
        let s = scene(backend).await;
        let path = format!("/api/v1/societies/{}/offers", s.society);
        let now = chrono::Utc::now();
        let bad = with(offer_body(), json!({
            "min_target_pence": 1_000_050,
            "target_pence": 900_000,
            "max_holding_pence": 10_000_100,
            "closes_at": (now - chrono::Duration::minutes(5)).to_rfc3339(),
            "cooling_off_days": 45,
        }));
        let answer = s.app.post(&path, Some(&s.admin.access_token), &bad).await;
        answer.expect(422);
        let mut fields = answer.error_fields();
        fields.dedup();
        assert_eq!(fields, vec!["min_target_pence", "target_pence", "max_holding_pence", "closes_at", "cooling_off_days"]);
        let too_long = with(offer_body(), json!({"closes_at": (now + chrono::Duration::days(200)).to_rfc3339()}));
        assert_eq!(s.app.post(&path, Some(&s.admin.access_token), &too_long).await.expect(422).error_fields(), vec!["closes_at"]);
        let bad_url = with(offer_body(), json!({"document_url": "ftp://nowhere"}));
        assert_eq!(s.app.post(&path, Some(&s.admin.access_token), &bad_url).await.expect(422).error_fields(), vec!["document_url"]);
        let list = s.app.get(&path, Some(&s.admin.access_token)).await;
        list.expect(200);
        assert_eq!(list.body["items"], json!([]));
    }

    async fn a_draft_can_be_edited_until_it_is_submitted(backend) {
        let s = scene(backend).await;
        let id = s.app.draft_offer(&s.admin, &s.society, &offer_body()).await;
        let path = format!("/api/v1/offers/{id}");
        let answer = s
            .app
            .call(reqwest::Method::PATCH, &path, Some(&s.admin.access_token), Some(&json!({"title": "Bigger roofs", "max_target_pence": 4_000_000})))
            .await;
        answer.expect(200);
        assert_eq!(answer.body["title"], "Bigger roofs");
        assert_eq!(answer.body["max_target_pence"], 4_000_000);
        // The merged terms are checked.
        let answer = s
            .app
            .call(reqwest::Method::PATCH, &path, Some(&s.admin.access_token), Some(&json!({"target_pence": 5_000_000})))
            .await;
        answer.expect(422);
        assert_eq!(answer.error_fields(), vec!["max_target_pence"]);
        s.app.post(&format!("{path}/submit"), Some(&s.admin.access_token), &json!({})).await.expect(200);
        let answer = s
            .app
            .call(reqwest::Method::PATCH, &path, Some(&s.admin.access_token), Some(&json!({"title": "Too late"})))
            .await;
        answer.expect(409);
        assert_eq!(answer.content_type(), "application/problem+json");
    }

    async fn the_lifecycle_runs_from_draft_to_open_and_is_audited(backend) {
        let s = scene(backend).await;
        let no_bank = s.app.user("no-bank").await;
        let bare_society = s.app.society(&no_bank).await;
        let stuck = s.app.draft_offer(&no_bank, &bare_society, &offer_body()).await;
        let answer = s.app.post(&format!("/api/v1/offers/{stuck}/submit"), Some(&no_bank.access_token), &json!({})).await;
        answer.expect(422);
        assert_eq!(answer.error_fields(), vec!["bank_details"]);
        // Nor without an offer document for investors to accept; linking one lets it go.
        let mut body = offer_body();
        body.as_object_mut().unwrap().remove("document_url");
        let bare = s.app.draft_offer(&s.admin, &s.society, &body).await;
        let answer = s.app.post(&format!("/api/v1/offers/{bare}/submit"), Some(&s.admin.access_token), &json!({})).await;
        answer.expect(422);
        assert_eq!(answer.error_fields(), vec!["document_url"]);
        s.app.call(reqwest::Method::PATCH, &format!("/api/v1/offers/{bare}"), Some(&s.admin.access_token),
            Some(&json!({"document_url": "https://example.org/late-offer.pdf"}))).await.expect(200);
        s.app.post(&format!("/api/v1/offers/{bare}/submit"), Some(&s.admin.access_token), &json!({})).await.expect(200);


        let id = s.app.draft_offer(&s.admin, &s.society, &offer_body()).await;
        let admin = Some(s.admin.access_token.as_str());
        let platform = Some(s.platform.access_token.as_str());
        // Out-of-order actions are 409.
        s.app.post(&format!("/api/v1/offers/{id}/approve"), platform, &json!({})).await.expect(409);
        s.app.post(&format!("/api/v1/offers/{id}/close"), platform, &json!({})).await.expect(409);
        let submitted = s.app.post(&format!("/api/v1/offers/{id}/submit"), admin, &json!({})).await;
        assert_eq!(submitted.expect(200).body["status"], "submitted");
        s.app.post(&format!("/api/v1/offers/{id}/submit"), admin, &json!({})).await.expect(409);
        let approved = s.app.post(&format!("/api/v1/offers/{id}/approve"), platform, &json!({})).await;
        assert_eq!(approved.expect(200).body["status"], "approved");
        // Bank details cannot change while an offer is live.
        s.app
            .put(
                &format!("/api/v1/societies/{}/bank-details", s.society),
                Some(&s.admin.access_token),
                &json!({"account_name": "Someone Else", "sort_code": "654321", "account_number": "87654321"}),
            )
            .await
            .expect(409);
        // opens_at has passed, so the scheduler opens it at its next tick.
        s.app.wait_for_status(&id, admin, "open").await;
        let audit = s.app.get(&format!("/api/v1/offers/{id}/audit"), admin).await;
        audit.expect(200);
        let steps: Vec<(Value, Value, String)> = audit
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["from_status"].clone(), e["to_status"].clone(), e["actor"].as_str().unwrap().split(':').next().unwrap().to_owned()))
            .collect();
        assert_eq!(
            steps,
            vec![
                (Value::Null, json!("draft"), "user".to_owned()),
                (json!("draft"), json!("submitted"), "user".to_owned()),
                (json!("submitted"), json!("approved"), "user".to_owned()),
                (json!("approved"), json!("open"), "scheduler".to_owned()),
            ]
        );
        assert_eq!(audit.body[1]["actor"], format!("user:{}", s.admin.id));
        assert_eq!(audit.body[2]["actor"], format!("user:{}", s.platform.id));
        // A platform admin closes it early; closing again is 409.
        let closed = s.app.post(&format!("/api/v1/offers/{id}/close"), platform, &json!({})).await;
        assert_eq!(closed.expect(200).body["status"], "closed");
        s.app.post(&format!("/api/v1/offers/{id}/close"), platform, &json!({})).await.expect(409);
        s.app.post(&format!("/api/v1/offers/{id}/cancel"), admin, &json!({})).await.expect(409);
        s.app.post("/api/v1/offers/no-such-offer/approve", platform, &json!({})).await.expect(404);
    }

    async fn the_scheduler_closes_an_offer_at_its_closing_time(backend) {
        let s = scene(backend).await;
        let body = with(offer_body(), json!({"closes_at": (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339()}));
        let id = s.app.approved_offer(&s.admin, &s.platform, &s.society, &body).await;
        // It closes, and with nothing raised the close-out decides at once that it failed.
        s.app.wait_for_status(&id, None, "failed").await;
        let audit = s.app.get(&format!("/api/v1/offers/{id}/audit"), Some(&s.admin.access_token)).await;
        let moves: Vec<(Value, Value, Value)> = audit.body.as_array().unwrap().iter()
            .map(|a| (a["from_status"].clone(), a["to_status"].clone(), a["actor"].clone())).collect();
        assert_eq!(&moves[moves.len() - 2..], &[
            (json!("open"), json!("closed"), json!("scheduler")),
            (json!("closed"), json!("failed"), json!("scheduler")),
        ]);
    }

    async fn offers_are_cancelled_before_they_close(backend) {
        let s = scene(backend).await;
        let draft = s.app.draft_offer(&s.admin, &s.society, &offer_body()).await;
        let cancelled = s.app.post(&format!("/api/v1/offers/{draft}/cancel"), Some(&s.admin.access_token), &json!({})).await;
        assert_eq!(cancelled.expect(200).body["status"], "cancelled");
        // Never opened, so still private.
        s.app.get(&format!("/api/v1/offers/{draft}"), None).await.expect(404);
        let open = s.app.open_offer(&s.admin, &s.platform, &s.society).await;
        let cancelled = s.app.post(&format!("/api/v1/offers/{open}/cancel"), Some(&s.platform.access_token), &json!({})).await;
        assert_eq!(cancelled.expect(200).body["status"], "cancelled");
        // It had opened, so the public still sees what became of it.
        s.app.get(&format!("/api/v1/offers/{open}"), None).await.expect(200);
        let list = s.app.get("/api/v1/offers?status=cancelled", None).await;
        assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
        s.app.post(&format!("/api/v1/offers/{open}/cancel"), Some(&s.admin.access_token), &json!({})).await.expect(409);
    }

    async fn offers_are_private_until_they_open(backend) {
        let s = scene(backend).await;
        let stranger = s.app.user("stranger").await;
        let draft = s.app.draft_offer(&s.admin, &s.society, &offer_body()).await;
        let path = format!("/api/v1/offers/{draft}");
        s.app.get(&path, None).await.expect(404);
        s.app.get(&path, Some(&stranger.access_token)).await.expect(404);
        s.app.get(&path, Some(&s.admin.access_token)).await.expect(200);
        s.app.get(&path, Some(&s.platform.access_token)).await.expect(200);
        s.app.get(&path, Some("not-a-token")).await.expect(401);
        // Someone who may not know a draft exists cannot act on it either: 404, not 403.
        s.app.post(&format!("{path}/submit"), Some(&stranger.access_token), &json!({})).await.expect(404);
        s.app.post(&format!("{path}/submit"), Some(&s.platform.access_token), &json!({})).await.expect(403);
        let approved = s.app.approved_offer(&s.admin, &s.platform, &s.society, &with(offer_body(), json!({
            "opens_at": (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339(),
        }))).await;
        s.app.get(&format!("/api/v1/offers/{approved}"), None).await.expect(404);
        let open = s.app.open_offer(&s.admin, &s.platform, &s.society).await;
        let public = s.app.get(&format!("/api/v1/offers/{open}"), None).await;
        public.expect(200);
        assert_eq!(public.body["status"], "open");
        // Once public, a stranger's attempt is 403.
        s.app.post(&format!("/api/v1/offers/{open}/cancel"), Some(&stranger.access_token), &json!({})).await.expect(403);
        let list = s.app.get("/api/v1/offers", None).await;
        list.expect(200);
        let ids: Vec<&str> = list.body["items"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
        assert_eq!(ids, vec![open.as_str()]);
        assert_eq!(list.body["next_cursor"], Value::Null);
        // The society's admins see every offer of theirs.
        let all = s.app.get(&format!("/api/v1/societies/{}/offers", s.society), Some(&s.admin.access_token)).await;
        assert_eq!(all.body["items"].as_array().unwrap().len(), 3);
    }

    async fn the_public_list_pages_with_a_cursor_and_filters_by_status(backend) {
        let s = scene(backend).await;
        let mut opened = Vec::new();
        for _ in 0..3 {
            opened.push(s.app.open_offer(&s.admin, &s.platform, &s.society).await);
        }
        s.app.post(&format!("/api/v1/offers/{}/close", opened[0]), Some(&s.platform.access_token), &json!({})).await.expect(200);
        let first = s.app.get("/api/v1/offers?limit=2", None).await;
        first.expect(200);
        let page_one: Vec<String> = first.body["items"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(page_one, vec![opened[2].clone(), opened[1].clone()]);
        let cursor = first.body["next_cursor"].as_str().expect("a next page").to_owned();
        let second = s.app.get(&format!("/api/v1/offers?limit=2&cursor={cursor}"), None).await;
        let page_two: Vec<String> = second.body["items"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(page_two, vec![opened[0].clone()]);
        assert_eq!(second.body["next_cursor"], Value::Null);
        // The close-out job decides the closed offer (no money: `failed`); then filter by status.
        s.app.wait_for_status(&opened[0], None, "failed").await;
        let failed = s.app.get("/api/v1/offers?status=failed", None).await;
        assert_eq!(failed.body["items"][0]["id"], opened[0].as_str());
        assert_eq!(failed.body["items"].as_array().unwrap().len(), 1);
        let closed = s.app.get("/api/v1/offers?status=closed", None).await;
        assert_eq!(closed.body["items"].as_array().unwrap().len(), 0);
        let open = s.app.get("/api/v1/offers?status=open", None).await;
        assert_eq!(open.body["items"].as_array().unwrap().len(), 2);
        let bad = s.app.get("/api/v1/offers?status=draft", None).await;
        bad.expect(400);
        assert_eq!(bad.error_fields(), vec!["status"]);
        s.app.get("/api/v1/offers?limit=0", None).await.expect(422);
        s.app.get("/api/v1/offers?limit=101", None).await.expect(422);
        s.app.get("/api/v1/offers?limit=ten", None).await.expect(400);
    }

    async fn eligibility_is_set_in_draft(backend) {
        let s = scene(backend).await;
        let id = s.app.draft_offer(&s.admin, &s.society, &offer_body()).await;
        let path = format!("/api/v1/offers/{id}/eligibility");
        let answer = s.app.post(&path, Some(&s.admin.access_token), &json!({"min_age": 18, "postcode_prefixes": ["bs", " GL5", "BS"]})).await;
        answer.expect(200);
        assert_eq!(answer.body["eligibility"], json!({"min_age": 18, "postcode_prefixes": ["BS", "GL5"]}));
        // Fields left out keep their value.
        let answer = s.app.post(&path, Some(&s.admin.access_token), &json!({"min_age": 16})).await;
        assert_eq!(answer.body["eligibility"], json!({"min_age": 16, "postcode_prefixes": ["BS", "GL5"]}));
        s.app.post(&path, Some(&s.admin.access_token), &json!({"postcode_prefixes": ["1AB"]})).await.expect(422);
        s.app.post(&path, Some(&s.admin.access_token), &json!({"min_age": 121})).await.expect(422);
        s.app.post(&format!("/api/v1/offers/{id}/submit"), Some(&s.admin.access_token), &json!({})).await.expect(200);
        s.app.post(&path, Some(&s.admin.access_token), &json!({"min_age": 21})).await.expect(409);
    }

    async fn two_instances_open_and_close_each_offer_exactly_once(backend) {
        use community_shares::db::schema::offer_audit;
        use community_shares::domain::offer::OfferStatus;
        use community_shares::services::offers::{self as offer_service, Actor, Description};
        use diesel::prelude::*;

        let first = TestApp::spawn_with(backend, crate::support::TestDatabase::new(backend).await, |s| {
            s.jobs.tick_ms = 3_600_000;
        })
        .await;
        let admin = first.user("admin").await;
        let society = first.society(&admin).await;
        // Forty offers approved directly in the database, all due to open now and to close in 3 s.
        let count = 40;
        let ids: Vec<String> = first
            .with_db(move |conn| {
                let now = community_shares::clock::now();
                let terms = community_shares::domain::offer::Terms {
                    share_price: community_shares::domain::money::Pence::new(100),
                    min_target: community_shares::domain::money::Pence::new(1_000_000),
                    target: community_shares::domain::money::Pence::new(2_000_000),
                    max_target: community_shares::domain::money::Pence::new(3_000_000),
                    min_holding: community_shares::domain::money::Pence::new(10_000),
                    max_holding: community_shares::domain::money::Pence::new(500_000),
                    opens_at: now - chrono::Duration::seconds(1),
                    closes_at: now + chrono::Duration::seconds(3),
                    cooling_off_days: 14,
                    interest_rate_bps: 0,
                };
                let description = Description { title: "Due".into(), summary: String::new(), document_url: None };
                let actor = Actor::User("setup".into());
                let mut ids = Vec::new();
                for _ in 0..count {
                    let offer = offer_service::create(conn, &society, &actor, &description, &terms, &Default::default())?;
                    offer_service::move_status(conn, &offer.id, OfferStatus::Draft, OfferStatus::Submitted, &actor, now)?;
                    offer_service::move_status(conn, &offer.id, OfferStatus::Submitted, OfferStatus::Approved, &actor, now)?;
                    ids.push(offer.id);
                }
                Ok(ids)
            })
            .await;
        // Two instances with a fast tick race for every transition.
        let fast = |s: &mut community_shares::config::Settings| s.jobs.tick_ms = 10;
        let a = TestApp::spawn_with(backend, first.database.share(), fast).await;
        let b = TestApp::spawn_with(backend, first.database.share(), fast).await;
        for id in &ids {
            // Closed, then decided by the close-out (nothing was raised: failed).
            a.wait_for_status(id, Some(&admin.access_token), "failed").await;
        }
        let rows: Vec<(String, Option<String>, String)> = b
            .with_db(|conn| {
                Ok(offer_audit::table
                    .filter(offer_audit::actor.eq("scheduler"))
                    .select((offer_audit::offer_id, offer_audit::from_status, offer_audit::to_status))
                    .load(conn)?)
            })
            .await;
        for id in &ids {
            let opened = rows.iter().filter(|r| &r.0 == id && r.2 == "open").count();
            let closed = rows.iter().filter(|r| &r.0 == id && r.2 == "closed").count();
            let failed = rows.iter().filter(|r| &r.0 == id && r.2 == "failed").count();
            assert_eq!((opened, closed, failed), (1, 1, 1), "offer {id}: opened {opened}, closed {closed}, failed {failed} times");
        }
        assert_eq!(rows.len(), 3 * count);
    }
}
