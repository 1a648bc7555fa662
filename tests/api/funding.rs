//! Match funding through the admin API: funds, applications, approvals under concurrency, live
//! and at-close matching, exclusivity, release, and simulation.

use serde_json::{json, Value};

use crate::both_backends;
use crate::support::{live_rule, offer_body, TestApp, TestUser};

struct Scene {
    app: TestApp,
    society_admin: TestUser,
    platform: TestUser,
    funder_admin: TestUser,
    society: String,
    funder: String,
}

async fn scene(backend: crate::support::Backend) -> Scene {
    let app = TestApp::spawn(backend).await;
    let society_admin = app.user("society-admin").await;
    let platform = app.platform_admin().await;
    let funder_admin = app.user("funder-admin").await;
    let society = app.society(&society_admin).await;
    app.bank_details(&society_admin, &society).await;
    let funder = app.funder(&platform, &funder_admin).await;
    Scene {
        app,
        society_admin,
        platform,
        funder_admin,
        society,
        funder,
    }
}

impl Scene {
    async fn approve(&self, fund: &str, application: &str, commitment: i64) -> crate::support::Answer {
        self.app
            .post(
                &format!("/api/v1/funds/{fund}/applications/{application}/approve"),
                Some(&self.funder_admin.access_token),
                &json!({"commitment_pence": commitment}),
            )
            .await
    }

    async fn offer(&self, id: &str) -> Value {
        self.app.get(&format!("/api/v1/offers/{id}"), None).await.body
    }

    async fn fund(&self, id: &str) -> Value {
        self.app.get(&format!("/api/v1/funds/{id}"), None).await.body
    }

    async fn balanced(&self) {
        let verdict = self.app.verify_ledger(&self.platform).await;
        assert_eq!(verdict["balanced"], true, "{verdict}");
    }
}

both_backends! {
    async fn the_funders_journey_from_fund_to_live_match(backend) {
        let s = scene(backend).await;
        let fund = s.app.fund(&s.funder_admin, &s.funder, 1_000_000, live_rule()).await;
        let summary = s.fund(&fund).await;
        assert_eq!((summary["budget_pence"].clone(), summary["available_pence"].clone(), summary["committed_pence"].clone()), (json!(1_000_000), json!(1_000_000), json!(0)));
        assert_eq!(summary["rule"]["timing"], "live");
        let offer = s.app.open_offer(&s.society_admin, &s.platform, &s.society).await;
        let ann = s.app.investor("ann").await;
        // A pledge made before the approval is matched when the fund approves.
        let early = s.app.pledge(&ann, &offer, 10_000).await.body;
        let application = s.app.apply(&s.society_admin, &offer, &fund).await;
        let list = s.app.get(&format!("/api/v1/funds/{fund}/applications"), Some(&s.funder_admin.access_token)).await;
        assert_eq!(list.body["items"][0]["status"], "pending");
        let approved = s.approve(&fund, &application, 500_000).await;
        approved.expect(200);
        assert_eq!(approved.body["status"], "approved");
        assert_eq!(approved.body["match_pence"], 10_000);
        let early_id = early["id"].as_str().unwrap();
        assert_eq!(s.app.get(&format!("/api/v1/pledges/{early_id}"), Some(&ann.access_token)).await.body["match_pence"], 10_000);
        // £1 for £1 up to £250 per investor: Ann's second £300 gets £150 more.
        let second = s.app.pledge(&ann, &offer, 30_000).await;
        assert_eq!(second.body["match_pence"], 15_000);
        let bob = s.app.investor("bob").await;
        assert_eq!(s.app.pledge(&bob, &offer, 20_000).await.body["match_pence"], 20_000);
        let totals = s.offer(&offer).await;
        assert_eq!((totals["match_pence"].clone(), totals["community_pledged_pence"].clone(), totals["total_pence"].clone()), (json!(45_000), json!(60_000), json!(105_000)));
        let summary = s.fund(&fund).await;
        assert_eq!((summary["committed_pence"].clone(), summary["matched_pence"].clone(), summary["available_pence"].clone()), (json!(500_000), json!(45_000), json!(500_000)));
        // Cancelling Ann's first pledge moves her cap onto her second.
        s.app.post(&format!("/api/v1/pledges/{early_id}/cancel"), Some(&ann.access_token), &json!({})).await.expect(200);
        let second_id = second.body["id"].as_str().unwrap();
        assert_eq!(s.app.get(&format!("/api/v1/pledges/{second_id}"), Some(&ann.access_token)).await.body["match_pence"], 25_000);
        assert_eq!(s.offer(&offer).await["match_pence"], 45_000);
        // The same answer as the pure engine over the final pledges.
        let simulated = s.app.post(&format!("/api/v1/funds/{fund}/simulate"), Some(&s.funder_admin.access_token), &json!({"offer_id": offer})).await;
        simulated.expect(200);
        assert_eq!(simulated.body["match_pence"], 45_000);
        s.balanced().await;
    }

    async fn approvals_respect_the_cap_the_budget_and_the_applications_state(backend) {
        let s = scene(backend).await;
        let fund = s.app.fund(&s.funder_admin, &s.funder, 600_000, live_rule()).await;
        let a = s.app.draft_offer(&s.society_admin, &s.society, &offer_body()).await;
        let b = s.app.draft_offer(&s.society_admin, &s.society, &offer_body()).await;
        let first = s.app.apply(&s.society_admin, &a, &fund).await;
        let second = s.app.apply(&s.society_admin, &b, &fund).await;
        // Twice to one fund: 409; an unknown fund: 422.
        s.app.post(&format!("/api/v1/offers/{a}/match-applications"), Some(&s.society_admin.access_token), &json!({"fund_id": fund})).await.expect(409);
        let unknown = s.app.post(&format!("/api/v1/offers/{a}/match-applications"), Some(&s.society_admin.access_token), &json!({"fund_id": "nope"})).await;
        unknown.expect(422);
        assert_eq!(unknown.error_fields(), vec!["fund_id"]);
        let over_cap = s.approve(&fund, &first, 600_000).await;
        over_cap.expect(422);
        assert_eq!(over_cap.error_fields(), vec!["commitment_pence"]);
        s.approve(&fund, &first, 500_000).await.expect(200);
        // The public summary counts the commitment but does not name an offer not yet open.
        let summary = s.fund(&fund).await;
        assert_eq!(summary["committed_pence"], 500_000);
        assert_eq!(summary["offers"], json!([]));
        let over_budget = s.approve(&fund, &second, 200_000).await;
        over_budget.expect(422);
        assert!(over_budget.body["errors"][0]["message"].as_str().unwrap().contains("£1,000.00"), "{}", over_budget.text);
        s.approve(&fund, &first, 100_000).await.expect(409);
        let rejected = s.app.post(&format!("/api/v1/funds/{fund}/applications/{second}/reject"), Some(&s.funder_admin.access_token), &json!({"reason": "outside our area"})).await;
        rejected.expect(200);
        assert_eq!(rejected.body["reason"], "outside our area");
        s.approve(&fund, &second, 100_000).await.expect(409);
        // Another fund's application is not this fund's: 404.
        let other_fund = s.app.fund(&s.funder_admin, &s.funder, 100_000, live_rule()).await;
        s.approve(&other_fund, &first, 100_000).await.expect(404);
        s.balanced().await;
    }

    async fn concurrent_approvals_across_twenty_offers_never_overcommit_the_fund(backend) {
        let s = scene(backend).await;
        let fund = s.app.fund(&s.funder_admin, &s.funder, 5_000_000, live_rule()).await;
        let mut applications = Vec::new();
        for _ in 0..20 {
            let offer = s.app.draft_offer(&s.society_admin, &s.society, &offer_body()).await;
            applications.push(s.app.apply(&s.society_admin, &offer, &fund).await);
        }
        // Twenty requests of £5,000 against a £50,000 budget, all at once.
        let answers = futures_util::future::join_all(applications.iter().map(|a| s.approve(&fund, a, 500_000))).await;
        let approved = answers.iter().filter(|a| a.status == 200).count();
        assert!(answers.iter().all(|a| a.status == 200 || a.status == 422), "{:?}", answers.iter().map(|a| &a.text).collect::<Vec<_>>());
        assert_eq!(approved, 10);
        let summary = s.fund(&fund).await;
        assert_eq!(summary["committed_pence"], 5_000_000);
        assert_eq!(summary["available_pence"], 0);
        s.balanced().await;
    }

    async fn a_surge_on_a_matched_offer_keeps_the_match_equal_to_the_engine(backend) {
        let s = scene(backend).await;
        let fund = s.app.fund(&s.funder_admin, &s.funder, 10_000_000, live_rule()).await;
        let offer = s.app.open_offer(&s.society_admin, &s.platform, &s.society).await;
        let application = s.app.apply(&s.society_admin, &offer, &fund).await;
        s.approve(&fund, &application, 300_000).await.expect(200);
        let mut investors = Vec::new();
        for i in 0..20 {
            investors.push(s.app.investor(&format!("m{i}")).await);
        }
        let first: Vec<_> = futures_util::future::join_all(investors.iter().map(|inv| s.app.pledge(inv, &offer, 20_000))).await;
        let mut calls = Vec::new();
        for (i, inv) in investors.iter().enumerate() {
            calls.push((inv, None, 10_000 * (1 + (i as i64 % 3))));
            if i % 3 == 0 {
                calls.push((inv, first[i].body["id"].as_str().map(str::to_owned), 0));
            }
        }
        let (app, offer_id) = (&s.app, &offer);
        let answers = futures_util::future::join_all(calls.iter().map(|(inv, cancel, amount)| async move {
            match cancel {
                Some(id) => app.post(&format!("/api/v1/pledges/{id}/cancel"), Some(&inv.access_token), &json!({})).await,
                None => app.pledge(inv, offer_id, *amount).await,
            }
        }))
        .await;
        let unexpected: Vec<(u16, &str)> =
            answers.iter().filter(|a| ![200, 201, 409, 422].contains(&a.status)).map(|a| (a.status, a.text.as_str())).collect();
        assert!(unexpected.is_empty(), "{unexpected:?}");
        let totals = s.offer(&offer).await;
        let matched = totals["match_pence"].as_i64().unwrap();
        assert!(matched <= 300_000);
        assert!(matched + totals["community_pledged_pence"].as_i64().unwrap() <= 3_000_000);
        let simulated = s.app.post(&format!("/api/v1/funds/{fund}/simulate"), Some(&s.funder_admin.access_token), &json!({"offer_id": offer})).await;
        assert_eq!(simulated.body["match_pence"], matched, "{}", simulated.text);
        for p in simulated.body["per_pledge"].as_array().unwrap() {
            let id = p["pledge_id"].as_str().unwrap();
            let pledge = s.app.get(&format!("/api/v1/pledges/{id}"), Some(&s.society_admin.access_token)).await;
            assert_eq!(pledge.body["match_pence"], p["match_pence"], "pledge {id}");
        }
        s.balanced().await;
    }

    async fn an_at_close_fund_decides_when_the_offer_closes(backend) {
        let s = scene(backend).await;
        let booster = json!({
            "kind": "per_pledge", "ratio_num": 1, "ratio_den": 1, "per_offer_cap_pence": 1_000_000,
            "trigger": {"kind": "min_target"}, "timing": "at_close",
        });
        let fund = s.app.fund(&s.funder_admin, &s.funder, 5_000_000, booster).await;
        let offer = s.app.open_offer(&s.society_admin, &s.platform, &s.society).await;
        let application = s.app.apply(&s.society_admin, &offer, &fund).await;
        s.approve(&fund, &application, 1_000_000).await.expect(200);
        for i in 0..3 {
            let investor = s.app.investor(&format!("c{i}")).await;
            s.app.pledge(&investor, &offer, 400_000).await.expect(201);
        }
        // £12,000 pledged, above the £10,000 minimum: nothing is matched while open.
        assert_eq!(s.offer(&offer).await["match_pence"], 0);
        s.app.post(&format!("/api/v1/offers/{offer}/close"), Some(&s.platform.access_token), &json!({})).await.expect(200);
        let closed = s.offer(&offer).await;
        assert_eq!(closed["match_pence"], 1_000_000);
        assert_eq!(closed["total_pence"], 2_200_000);
        s.balanced().await;
    }

    async fn an_exclusive_fund_shares_no_offer_and_cancellation_releases_commitments(backend) {
        let s = scene(backend).await;
        let mut exclusive_rule = live_rule();
        exclusive_rule["exclusive"] = json!(true);
        let exclusive = s.app.fund(&s.funder_admin, &s.funder, 1_000_000, exclusive_rule).await;
        let plain = s.app.fund(&s.funder_admin, &s.funder, 1_000_000, live_rule()).await;
        let offer = s.app.open_offer(&s.society_admin, &s.platform, &s.society).await;
        let first = s.app.apply(&s.society_admin, &offer, &exclusive).await;
        let second = s.app.apply(&s.society_admin, &offer, &plain).await;
        s.approve(&exclusive, &first, 500_000).await.expect(200);
        s.approve(&plain, &second, 500_000).await.expect(409);
        let ann = s.app.investor("ann").await;
        s.app.pledge(&ann, &offer, 20_000).await.expect(201);
        assert_eq!(s.offer(&offer).await["match_pence"], 20_000);
        s.app.post(&format!("/api/v1/offers/{offer}/cancel"), Some(&s.society_admin.access_token), &json!({})).await.expect(200);
        let summary = s.fund(&exclusive).await;
        assert_eq!((summary["committed_pence"].clone(), summary["released_pence"].clone(), summary["available_pence"].clone(), summary["matched_pence"].clone()), (json!(0), json!(500_000), json!(1_000_000), json!(0)));
        assert_eq!(s.offer(&offer).await["match_pence"], 0);
        s.balanced().await;
    }

    async fn rules_are_checked_and_simulation_writes_nothing(backend) {
        let s = scene(backend).await;
        let path = format!("/api/v1/funders/{}/funds", s.funder);
        let bad = s.app.post(&path, Some(&s.funder_admin.access_token), &json!({"name": "F", "budget_pence": 100, "rule": {
            "kind": "per_pledge", "per_offer_cap_pence": 0, "trigger": {"kind": "amount"}, "timing": "live"}})).await;
        bad.expect(422);
        assert_eq!(bad.error_fields(), vec!["rule.ratio_num", "rule.per_offer_cap_pence", "rule.trigger.value"]);
        let malformed = s.app.post(&path, Some(&s.funder_admin.access_token), &json!({"name": "F", "budget_pence": 100, "rule": {
            "kind": "per_pledge", "per_offer_cap_pence": 1, "trigger": {"kind": "sometimes"}, "timing": "live"}})).await;
        malformed.expect(400);
        assert_eq!(malformed.error_fields(), vec!["rule.trigger.kind"]);
        let mut huge = live_rule();
        huge["per_offer_cap_pence"] = json!(i64::MAX);
        let answer = s.app.post(&path, Some(&s.funder_admin.access_token), &json!({"name": "F", "budget_pence": 100, "rule": huge})).await;
        answer.expect(422);
        assert_eq!(answer.error_fields(), vec!["rule.per_offer_cap_pence"]);
        let fund = s.app.fund(&s.funder_admin, &s.funder, 1_000_000, live_rule()).await;
        let offer = s.app.open_offer(&s.society_admin, &s.platform, &s.society).await;
        let ann = s.app.investor("ann").await;
        s.app.pledge(&ann, &offer, 40_000).await.expect(201);
        let half = json!({"kind": "per_pledge", "ratio_num": 1, "ratio_den": 2, "per_offer_cap_pence": 100_000,
            "trigger": {"kind": "none"}, "timing": "live"});
        let sim = s.app.post(&format!("/api/v1/funds/{fund}/simulate"), Some(&s.funder_admin.access_token),
            &json!({"offer_id": offer, "rule": half, "commitment_pence": 100_000})).await;
        sim.expect(200);
        assert_eq!(sim.body["match_pence"], 20_000);
        assert_eq!(sim.body["per_pledge"][0]["amount_pence"], 40_000);
        assert_eq!(s.offer(&offer).await["match_pence"], 0);
        assert_eq!(s.fund(&fund).await["committed_pence"], 0);
        // A draft that never applied to the fund is not the funder's to see.
        let draft = s.app.draft_offer(&s.society_admin, &s.society, &offer_body()).await;
        s.app.post(&format!("/api/v1/funds/{fund}/simulate"), Some(&s.funder_admin.access_token), &json!({"offer_id": draft})).await.expect(422);
    }
}

both_backends! {
    async fn a_cancelled_pledges_match_moves_to_the_next_pledges_in_order(backend) {
        let s = scene(backend).await;
        // £1 for £1, £250 per investor, a £300 commitment: saturated by Ann's and Bob's pledges.
        let fund = s.app.fund(&s.funder_admin, &s.funder, 1_000_000, live_rule()).await;
        let offer = s.app.open_offer(&s.society_admin, &s.platform, &s.society).await;
        let application = s.app.apply(&s.society_admin, &offer, &fund).await;
        s.approve(&fund, &application, 30_000).await.expect(200);
        let (ann, bob) = (s.app.investor("ann").await, s.app.investor("bob").await);
        let ann_first = s.app.pledge(&ann, &offer, 20_000).await.body;
        let ann_second = s.app.pledge(&ann, &offer, 20_000).await.body;
        let bob_pledge = s.app.pledge(&bob, &offer, 20_000).await.body;
        assert_eq!((ann_first["match_pence"].clone(), ann_second["match_pence"].clone(), bob_pledge["match_pence"].clone()), (json!(20_000), json!(5_000), json!(5_000)));
        // Ann cancels her first pledge: her £250 cap now covers her second pledge first, and the
        // budget left goes to Bob's, in pledge order, in one recompute.
        let id = ann_first["id"].as_str().unwrap();
        s.app.post(&format!("/api/v1/pledges/{id}/cancel"), Some(&ann.access_token), &json!({})).await.expect(200);
        let get = |p: &Value| format!("/api/v1/pledges/{}", p["id"].as_str().unwrap());
        assert_eq!(s.app.get(&get(&ann_second), Some(&ann.access_token)).await.body["match_pence"], 20_000);
        assert_eq!(s.app.get(&get(&bob_pledge), Some(&bob.access_token)).await.body["match_pence"], 10_000);
        s.balanced().await;
    }
}
