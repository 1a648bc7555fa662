//! What the platform and funder consoles read beside the contract's routes: every offer by
//! state with its society (the approval queue), every funder with its admins, and a
//! simulation's budget, per-investor cap and the pledge that meets the trigger.

use serde_json::{json, Value};

use crate::both_backends;
use crate::support::{live_rule, offer_body, TestApp};

fn ids(page: &Value, key: &str) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item.pointer(key).and_then(Value::as_str).unwrap().to_owned())
        .collect()
}

both_backends! {
    async fn platform_admins_list_offers_by_state_with_their_society(backend) {
        let app = TestApp::spawn(backend).await;
        let (admin, platform, open) = app.open_offer_scene().await;
        let society = app.society(&admin).await;
        app.bank_details(&admin, &society).await;
        let draft = app.draft_offer(&admin, &society, &offer_body()).await;
        let submitted = app.draft_offer(&admin, &society, &offer_body()).await;
        app.post(&format!("/api/v1/offers/{submitted}/submit"), Some(&admin.access_token), &json!({})).await.expect(200);
        let list = |query: &'static str| {
            let (app, token) = (&app, platform.access_token.clone());
            async move { app.get(&format!("/api/v1/admin/offers{query}"), Some(&token)).await }
        };
        let queue = list("?status=submitted").await;
        queue.expect(200);
        assert_eq!(ids(&queue.body, "/offer/id"), [submitted.as_str()]);
        let item = &queue.body["items"][0];
        assert_eq!(item["offer"]["status"], "submitted");
        assert_eq!(item["offer"]["target_pence"], 2_000_000);
        assert_eq!(item["society"]["id"], society.as_str());
        assert!(item["society"]["name"].is_string() && item["society"]["registration_number"].is_string());
        assert_eq!(ids(&list("?status=open").await.body, "/offer/id"), [open.as_str()]);
        assert_eq!(ids(&list("?status=draft").await.body, "/offer/id"), [draft.as_str()]);
        // Every state, newest first, paged.
        let all = list("").await.body;
        assert_eq!(ids(&all, "/offer/id"), [submitted.as_str(), draft.as_str(), open.as_str()]);
        let first = list("?limit=2").await.body;
        assert_eq!(ids(&first, "/offer/id"), [submitted.as_str(), draft.as_str()]);
        let cursor = first["next_cursor"].as_str().unwrap().to_owned();
        let rest = app.get(&format!("/api/v1/admin/offers?limit=2&cursor={cursor}"), Some(&platform.access_token)).await.body;
        assert_eq!(ids(&rest, "/offer/id"), [open.as_str()]);
        assert!(rest["next_cursor"].is_null());
        list("?status=finished").await.expect(400);
        // Only platform admins: the society's own admin is refused.
        app.get("/api/v1/admin/offers", Some(&admin.access_token)).await.expect(403);
        // Approved from the queue, it leaves it.
        app.post(&format!("/api/v1/offers/{submitted}/approve"), Some(&platform.access_token), &json!({})).await.expect(200);
        assert!(ids(&list("?status=submitted").await.body, "/offer/id").is_empty());
    }

    async fn platform_admins_list_funders_with_their_admins_and_funds(backend) {
        let app = TestApp::spawn(backend).await;
        let platform = app.platform_admin().await;
        let alex = app.user("alex").await;
        let first = app.funder(&platform, &alex).await;
        app.fund(&alex, &first, 100_000, live_rule()).await;
        app.fund(&alex, &first, 200_000, live_rule()).await;
        let bea = app.user("bea").await;
        let colleague = app.colleague(&first);
        app.add_funder_admin_by_two(&alex, &colleague, &first, &bea).await;
        let second = app.post("/api/v1/funders", Some(&platform.access_token), &json!({"name": "Stroud Lottery Fund"})).await;
        second.expect(201);
        let second = second.body["id"].as_str().unwrap().to_owned();
        let listed = app.get("/api/v1/funders", Some(&platform.access_token)).await;
        listed.expect(200);
        assert_eq!(ids(&listed.body, "/id"), [second.as_str(), first.as_str()], "newest first");
        let (new, old) = (&listed.body["items"][0], &listed.body["items"][1]);
        assert_eq!((new["name"].as_str(), new["fund_count"].as_i64()), (Some("Stroud Lottery Fund"), Some(0)));
        assert_eq!(new["admins"], json!([]));
        assert_eq!(old["fund_count"], 2);
        let mut admins: Vec<(&str, &str)> = old["admins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["email"].as_str().unwrap(), a["display_name"].as_str().unwrap()))
            .collect();
        admins.sort();
        let mut expected = vec![
            (alex.email.as_str(), "alex"),
            (bea.email.as_str(), "bea"),
            (colleague.email.as_str(), "funder-colleague"),
        ];
        expected.sort();
        assert_eq!(admins, expected);
        let page = app.get("/api/v1/funders?limit=1", Some(&platform.access_token)).await.body;
        assert_eq!(ids(&page, "/id"), [second.as_str()]);
        let cursor = page["next_cursor"].as_str().unwrap().to_owned();
        let rest = app.get(&format!("/api/v1/funders?limit=1&cursor={cursor}"), Some(&platform.access_token)).await.body;
        assert_eq!(ids(&rest, "/id"), [first.as_str()]);
        app.get("/api/v1/funders", Some(&alex.access_token)).await.expect(403);
        app.get("/api/v1/funders", None).await.expect(401);
    }

    async fn a_simulation_says_where_the_trigger_is_met_and_what_caps_it(backend) {
        let app = TestApp::spawn(backend).await;
        let (admin, platform, offer) = app.open_offer_scene().await;
        let funder_admin = app.user("funder").await;
        let funder = app.funder(&platform, &funder_admin).await;
        // £1 for £1 up to £250 per investor, once two investors have pledged.
        let mut rule = live_rule();
        rule["trigger"] = json!({"kind": "none", "min_investors": 2});
        let fund = app.fund(&funder_admin, &funder, 1_000_000, rule).await;
        let simulate = |body: Value| {
            let (app, token, path) = (&app, funder_admin.access_token.clone(), format!("/api/v1/funds/{fund}/simulate"));
            async move {
                let answer = app.post(&path, Some(&token), &body).await;
                answer.expect(200);
                answer.body
            }
        };
        let none = simulate(json!({"offer_id": offer})).await;
        assert_eq!(none["per_pledge"], json!([]));
        assert!(none["trigger_met_after"].is_null());
        assert_eq!((none["commitment_pence"].as_i64(), none["budget_pence"].as_i64()), (Some(500_000), Some(500_000)));
        assert_eq!(none["per_investor_cap_pence"], 25_000);
        for (label, amount) in [("ann", 40_000), ("ann", 10_000), ("bob", 20_000), ("cat", 10_000)] {
            let investor = app.investor(&format!("{label}-{amount}")).await;
            app.pledge(&investor, &offer, amount).await.expect(201);
        }
        // Four pledges from four accounts: the trigger holds after the second.
        let four = simulate(json!({"offer_id": offer, "commitment_pence": 60_000})).await;
        assert_eq!(four["trigger_met_after"], 2);
        assert_eq!(four["commitment_pence"], 60_000);
        assert_eq!(four["budget_pence"], 60_000);
        let matched: Vec<i64> = four["per_pledge"].as_array().unwrap().iter().map(|p| p["match_pence"].as_i64().unwrap()).collect();
        assert_eq!(matched, [25_000, 10_000, 20_000, 5_000], "capped per investor, then by the commitment");
        // A draft rule with no trigger holds from the start; one needing ten investors is not met.
        let mut open_rule = live_rule();
        open_rule["per_pledge_cap_pence"] = Value::Null;
        let from_start = simulate(json!({"offer_id": offer, "rule": open_rule})).await;
        assert_eq!(from_start["trigger_met_after"], 0);
        assert!(from_start["per_investor_cap_pence"].is_null());
        let mut ten = live_rule();
        ten["trigger"] = json!({"kind": "percent_of_target", "value": 1000, "min_investors": 10});
        let unmet = simulate(json!({"offer_id": offer, "rule": ten})).await;
        assert!(unmet["trigger_met_after"].is_null());
        assert_eq!(unmet["match_pence"], 0);
        let _ = admin;
    }

    async fn a_fund_weighs_each_application_with_its_offer_and_society(backend) {
        let app = TestApp::spawn(backend).await;
        let (admin, platform, open) = app.open_offer_scene().await;
        let society = app.society(&admin).await;
        let draft = app.draft_offer(&admin, &society, &offer_body()).await;
        let funder_admin = app.user("funder").await;
        let funder = app.funder(&platform, &funder_admin).await;
        let fund = app.fund(&funder_admin, &funder, 1_000_000, live_rule()).await;
        let on_draft = app.apply(&admin, &draft, &fund).await;
        let on_open = app.apply(&admin, &open, &fund).await;
        let list = app.get(&format!("/api/v1/funds/{fund}/applications"), Some(&funder_admin.access_token)).await;
        list.expect(200);
        assert_eq!(ids(&list.body, "/id"), [on_open.as_str(), on_draft.as_str()]);
        // A draft is not public, but applying shows it (terms and all) to the fund's admins.
        let weighed = &list.body["items"][1];
        assert_eq!((weighed["offer"]["id"].as_str(), weighed["offer"]["status"].as_str()), (Some(draft.as_str()), Some("draft")));
        assert_eq!(weighed["offer"]["min_target_pence"], 1_000_000);
        assert_eq!(weighed["society"]["id"], society.as_str());
        assert!(weighed["society"]["registration_number"].is_string());
        assert_eq!((weighed["status"].as_str(), weighed["offer_id"].as_str()), (Some("pending"), Some(draft.as_str())));
        assert_eq!(list.body["items"][0]["offer"]["status"], "open");
        // Another funder's admin sees none of it.
        let other = app.user("other-funder").await;
        app.funder(&platform, &other).await;
        app.get(&format!("/api/v1/funds/{fund}/applications"), Some(&other.access_token)).await.expect(403);
    }
}
