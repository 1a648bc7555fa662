//! "Keep it local" means whole parts of a postcode, for offers and funds alike, and investors'
//! postcodes are UK postcodes (GIR 0AA and BFPO included; the rest of the world refused saying
//! so).

use serde_json::{json, Value};

use crate::both_backends;
use crate::support::{live_rule, offer_body, TestApp, TestUser};

/// An investor with a complete profile at `postcode`.
async fn investor_at(app: &TestApp, label: &str, postcode: &str) -> TestUser {
    let investor = app.investor(label).await;
    let profile = json!({"full_name": format!("{label} Example"), "address_line1": "1 Mill Lane", "town": "Stroud",
        "postcode": postcode, "date_of_birth": "1980-05-01"});
    app.put("/api/v1/me/profile", Some(&investor.access_token), &profile)
        .await
        .expect(200);
    investor
}

/// An open offer whose eligibility is `areas`; its admin and a platform admin.
async fn local_offer(app: &TestApp, areas: Value) -> (TestUser, TestUser, String) {
    let admin = app.user("society-admin").await;
    let platform = app.platform_admin().await;
    let society = app.society(&admin).await;
    app.bank_details(&admin, &society).await;
    let offer = app.draft_offer(&admin, &society, &offer_body()).await;
    let eligibility = format!("/api/v1/offers/{offer}/eligibility");
    let set = app
        .post(
            &eligibility,
            Some(&admin.access_token),
            &json!({"postcode_prefixes": areas}),
        )
        .await;
    set.expect(200);
    for step in ["submit", "approve"] {
        let by = if step == "submit" { &admin } else { &platform };
        app.post(
            &format!("/api/v1/offers/{offer}/{step}"),
            Some(&by.access_token),
            &json!({}),
        )
        .await
        .expect(200);
    }
    app.wait_for_status(&offer, Some(&admin.access_token), "open").await;
    (admin, platform, offer)
}

both_backends! {
    async fn an_offer_for_gl5_and_b_takes_gl5_and_birmingham_but_not_gl50_or_bristol(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, _, offer) = local_offer(&app, json!(["gl5", " b ", "GL5"])).await;
        let shown = app.get(&format!("/api/v1/offers/{offer}"), None).await;
        assert_eq!(shown.body["eligibility"]["postcode_prefixes"], json!(["GL5", "B"]));
        for (postcode, allowed) in [("GL5 1AA", true), ("B33 8TH", true), ("GL50 1AA", false), ("GL56 0AA", false), ("BS1 4DJ", false), ("BFPO 61", false)] {
            let investor = investor_at(&app, "local", postcode).await;
            let pledge = app.pledge(&investor, &offer, 10_000).await;
            if allowed {
                pledge.expect(201);
            } else {
                pledge.expect(422);
                assert_eq!(pledge.error_fields(), vec!["postcode"], "{postcode}: {}", pledge.text);
            }
        }
    }

    async fn a_local_area_that_is_not_one_is_422_naming_it_for_offers_and_funds(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.user("society-admin").await;
        let society = app.society(&admin).await;
        let draft = app.draft_offer(&admin, &society, &offer_body()).await;
        let eligibility = format!("/api/v1/offers/{draft}/eligibility");
        for bad in ["GL5 1AA", "GL5 1A", "QQ", "1AB"] {
            let answer = app.post(&eligibility, Some(&admin.access_token), &json!({"postcode_prefixes": ["B", bad]})).await;
            answer.expect(422);
            assert_eq!(answer.error_fields(), vec!["postcode_prefixes[1]"], "{bad}: {}", answer.text);
        }
        let platform = app.platform_admin().await;
        let funder_admin = app.user("funder-admin").await;
        let funder = app.funder(&platform, &funder_admin).await;
        let mut rule = live_rule();
        rule["eligibility"] = json!({"postcode_prefixes": ["GL5 1AA"]});
        let answer = app
            .post(&format!("/api/v1/funders/{funder}/funds"), Some(&funder_admin.access_token),
                &json!({"name": "Stroud match", "budget_pence": 100_000, "rule": rule}))
            .await;
        answer.expect(422);
        assert_eq!(answer.error_fields(), vec!["rule.eligibility.postcode_prefixes[0]"], "{}", answer.text);
    }

    async fn a_fund_for_gl5_matches_gl5_and_not_gl50(backend) {
        let app = TestApp::spawn(backend).await;
        let (admin, platform, offer) = local_offer(&app, json!([])).await;
        let funder_admin = app.user("funder-admin").await;
        let funder = app.funder(&platform, &funder_admin).await;
        let mut rule = live_rule();
        rule["eligibility"] = json!({"postcode_prefixes": ["gl5"]});
        let fund = app.fund(&funder_admin, &funder, 1_000_000, rule).await;
        let application = app.apply(&admin, &offer, &fund).await;
        let approve = app
            .client
            .post(format!("{}/api/v1/funds/{fund}/applications/{application}/approve", app.address))
            .bearer_auth(&funder_admin.access_token)
            .json(&json!({"commitment_pence": 100_000}))
            .send()
            .await
            .unwrap();
        assert_eq!(approve.status(), 200);
        let stroud = investor_at(&app, "stroud", "GL5 1AA").await;
        let cheltenham = investor_at(&app, "cheltenham", "GL50 1AA").await;
        assert_eq!(app.pledge(&stroud, &offer, 10_000).await.body["match_pence"], 10_000);
        assert_eq!(app.pledge(&cheltenham, &offer, 10_000).await.body["match_pence"], 0);
    }

    async fn investors_postcodes_are_uk_postcodes_girobank_and_bfpo_included(backend) {
        let app = TestApp::spawn(backend).await;
        let investor = app.user("postcode").await;
        let profile = |postcode: &str| json!({"full_name": "Pat Example", "address_line1": "1 Mill Lane", "town": "Stroud",
            "postcode": postcode, "date_of_birth": "1980-05-01"});
        for (postcode, stored) in [("gir0aa", "GIR 0AA"), ("bfpo 61", "BFPO 61"), ("sw1a1aa", "SW1A 1AA"), ("JE2 3AB", "JE2 3AB")] {
            let saved = app.put("/api/v1/me/profile", Some(&investor.access_token), &profile(postcode)).await;
            saved.expect(200);
            assert_eq!(saved.body["postcode"], stored);
        }
        for abroad in ["75001", "D02 X285", "10115", "QQ1 1AA"] {
            let refused = app.put("/api/v1/me/profile", Some(&investor.access_token), &profile(abroad)).await;
            refused.expect(422);
            assert_eq!(refused.error_fields(), vec!["postcode"]);
            assert!(refused.body["errors"][0]["message"].as_str().unwrap().contains("UK"), "{abroad}: {}", refused.text);
        }
    }
}
