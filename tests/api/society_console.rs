//! What the society console reads beside the contract's routes: the funds a society may apply
//! to, its offer's applications, its pledges narrowed by state and searched by reference or
//! name, and its money day by day.

use serde_json::{json, Value};

use crate::both_backends;
use crate::support::{live_rule, TestApp};

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

both_backends! {
    async fn a_society_sees_the_funds_its_applications_and_its_money(backend) {
        let app = TestApp::spawn(backend).await;
        let (admin, platform, offer) = app.open_offer_scene().await;
        let funder_admin = app.user("funder").await;
        let funder = app.funder(&platform, &funder_admin).await;
        let first = app.fund(&funder_admin, &funder, 1_000_000, live_rule()).await;
        let second = app.fund(&funder_admin, &funder, 200_000, live_rule()).await;
        let funds = app.get("/api/v1/funds", None).await;
        funds.expect(200);
        let listed: Vec<&str> = funds.body.as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
        assert_eq!(listed, [second.as_str(), first.as_str()], "newest first");
        assert_eq!(funds.body[1]["rule_text"], "£1 for every £1 pledged, up to £250 per investor and £5,000 per offer; matched as pledges arrive");
        assert_eq!(funds.body[1]["available_pence"], 1_000_000);

        // Applications: pending, then one approved and one rejected with its reason.
        let approved = app.apply(&admin, &offer, &first).await;
        let rejected = app.apply(&admin, &offer, &second).await;
        let list = app.get(&format!("/api/v1/offers/{offer}/match-applications"), Some(&admin.access_token)).await;
        list.expect(200);
        assert_eq!(list.body.as_array().unwrap().len(), 2);
        assert_eq!((list.body[0]["status"].as_str(), list.body[0]["commitment_pence"].as_i64()), (Some("pending"), Some(0)));
        app.post(&format!("/api/v1/funds/{first}/applications/{approved}/approve"), Some(&funder_admin.access_token),
            &json!({"commitment_pence": 300_000})).await.expect(200);
        app.post(&format!("/api/v1/funds/{second}/applications/{rejected}/reject"), Some(&funder_admin.access_token),
            &json!({"reason": "Outside our area this year"})).await.expect(200);
        let list = app.get(&format!("/api/v1/offers/{offer}/match-applications"), Some(&admin.access_token)).await.body;
        assert_eq!(list[0]["id"], approved.as_str());
        assert_eq!((list[0]["status"].as_str(), list[0]["commitment_pence"].as_i64()), (Some("approved"), Some(300_000)));
        assert_eq!(list[0]["fund_name"], "Riverside Match Fund");
        assert!(list[0]["funder_name"].as_str().unwrap().starts_with("Community Shares Booster"));
        assert_eq!((list[1]["status"].as_str(), list[1]["reason"].as_str()), (Some("rejected"), Some("Outside our area this year")));
        assert!(list[1]["decided_at"].is_string());

        // Pledges: one paid by Siân, one pending by Bob; narrowed by state, searched by
        // reference (any case) and by part of a name; wildcards are literal.
        let sian = app.investor("sian").await;
        let profile = json!({"full_name": "Siân Ó Briain", "address_line1": "1 Quay Street", "town": "Bristol",
                             "postcode": "BS1 4DJ", "date_of_birth": "1980-05-01"});
        app.put("/api/v1/me/profile", Some(&sian.access_token), &profile).await.expect(200);
        let bob = app.investor("bob").await;
        let paid = app.pledge(&sian, &offer, 50_000).await;
        paid.expect(201);
        let reference = paid.body["payment"]["bank_reference"].as_str().unwrap().to_owned();
        app.receipt_by_hand(&admin, &platform, &offer, &json!(reference), 50_000).await;
        let pending = app.pledge(&bob, &offer, 20_000).await;
        pending.expect(201);
        let (paid, pending) = (paid.body["id"].as_str().unwrap().to_owned(), pending.body["id"].as_str().unwrap().to_owned());
        let list = |query: &str| {
            let path = format!("/api/v1/offers/{offer}/pledges{query}");
            let token = admin.access_token.clone();
            let app = &app;
            async move { app.get(&path, Some(&token)).await }
        };
        let all = list("").await;
        all.expect(200);
        assert_eq!(ids(&all.body), [pending.as_str(), paid.as_str()]);
        assert_eq!(all.body["items"][1]["investor_name"], "Siân Ó Briain");
        assert_eq!(all.body["items"][1]["amount_pence"], 50_000);
        assert_eq!(ids(&list("?status=paid").await.body), [paid.as_str()]);
        assert_eq!(ids(&list("?status=pending").await.body), [pending.as_str()]);
        assert_eq!(ids(&list(&format!("?q={}", reference.to_lowercase())).await.body), [paid.as_str()]);
        assert_eq!(ids(&list("?q=briain").await.body), [paid.as_str()]);
        assert_eq!(ids(&list("?q=bob%20Ex").await.body), [pending.as_str()]);
        assert!(ids(&list("?q=%25").await.body).is_empty(), "a % is a literal");
        assert!(ids(&list("?status=paid&q=bob").await.body).is_empty());
        list("?status=unknown").await.expect(400);
        let page = list("?limit=1").await.body;
        assert_eq!(ids(&page), [pending.as_str()]);
        let next = list(&format!("?limit=1&cursor={}", page["next_cursor"].as_str().unwrap())).await.body;
        assert_eq!(ids(&next), [paid.as_str()]);

        // The money day by day: today, both pledges made, one paid; Siân's £500 is matched £250.
        let progress = app.get(&format!("/api/v1/offers/{offer}/progress"), Some(&admin.access_token)).await;
        progress.expect(200);
        let days = progress.body["days"].as_array().unwrap();
        assert_eq!(days.len(), 1);
        assert_eq!(days[0]["date"], community_shares::clock::uk_date(community_shares::clock::now()).to_string());
        assert_eq!((days[0]["community_pledged_pence"].as_i64(), days[0]["community_paid_pence"].as_i64()), (Some(70_000), Some(50_000)));
        assert_eq!((days[0]["match_pence"].as_i64(), days[0]["pledges"].as_i64()), (Some(45_000), Some(2)));
        let other = app.user("other-admin").await;
        app.get(&format!("/api/v1/offers/{offer}/progress"), Some(&other.access_token)).await.expect(403);
    }
}
