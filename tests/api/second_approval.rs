//! Two people for public money: a fund's threshold makes an approval wait for a second,
//! different funder admin; the first approval holds the budget; the one who asked cannot
//! confirm, an admin of the applying society can do neither; two confirmations at once commit
//! once, and concurrent holds never overcommit the budget.

use serde_json::{json, Value};

use crate::both_backends;
use crate::support::{live_rule, offer_body, TestApp, TestUser};

struct Scene {
    app: TestApp,
    platform: TestUser,
    society_admin: TestUser,
    society: String,
    /// Three admins of one funder.
    admins: Vec<TestUser>,
    funder: String,
}

async fn scene(backend: crate::support::Backend) -> Scene {
    // No cooling-off: the third admin, brought in by the first two, may confirm their
    // approvals at once (the cooling-off has its own tests, in `governance`).
    let database = crate::support::TestDatabase::new(backend).await;
    let app = TestApp::spawn_with(backend, database, |s| s.governance.admin_cooling_off_days = 0).await;
    let (society_admin, platform, _offer) = app.open_offer_scene().await;
    let society = app.society(&society_admin).await;
    app.bank_details(&society_admin, &society).await;
    let first = app.user("funder-a").await;
    let funder = app.funder(&platform, &first).await;
    let third = app.user("funder-c").await;
    let admins = vec![first, app.colleague(&funder), third];
    app.add_funder_admin_by_two(&admins[0], &admins[1], &funder, &admins[2])
        .await;
    Scene {
        app,
        platform,
        society_admin,
        society,
        admins,
        funder,
    }
}

impl Scene {
    /// A fund of £10,000 whose approvals of `threshold` or more need a second admin.
    async fn fund(&self, budget: i64, threshold: Option<i64>) -> String {
        let fund = self.app.fund(&self.admins[0], &self.funder, budget, live_rule()).await;
        let set = self
            .app
            .put(
                &format!("/api/v1/funds/{fund}/second-approval"),
                Some(&self.admins[0].access_token),
                &json!({"threshold_pence": threshold}),
            )
            .await;
        set.expect(200);
        assert_eq!(set.body["second_approval_threshold_pence"], json!(threshold));
        fund
    }

    async fn application(&self, fund: &str) -> (String, String) {
        let offer = self
            .app
            .open_offer(&self.society_admin, &self.platform, &self.society)
            .await;
        (offer.clone(), self.app.apply(&self.society_admin, &offer, fund).await)
    }

    async fn act(
        &self,
        who: &TestUser,
        fund: &str,
        application: &str,
        action: &str,
        body: Value,
    ) -> crate::support::Answer {
        self.app
            .post(
                &format!("/api/v1/funds/{fund}/applications/{application}/{action}"),
                Some(&who.access_token),
                &body,
            )
            .await
    }

    async fn summary(&self, fund: &str) -> Value {
        self.app.get(&format!("/api/v1/funds/{fund}"), None).await.body
    }

    async fn balanced(&self) {
        let verdict = self.app.verify_ledger(&self.platform).await;
        assert_eq!(verdict["balanced"], true, "{verdict}");
    }
}

both_backends! {
    async fn a_large_approval_waits_for_a_second_admin_who_is_not_the_first(backend) {
        let s = scene(backend).await;
        let fund = s.fund(1_000_000, Some(300_000)).await;
        // Below the threshold: approved at once, as before.
        let (_, small) = s.application(&fund).await;
        let answer = s.act(&s.admins[0], &fund, &small, "approve", json!({"commitment_pence": 100_000})).await;
        answer.expect(200);
        assert_eq!(answer.body["status"], "approved");
        assert!(answer.body["confirmation"].is_null());
        // At the threshold: held, awaiting.
        let (offer, large) = s.application(&fund).await;
        let held = s.act(&s.admins[0], &fund, &large, "approve", json!({"commitment_pence": 300_000})).await;
        held.expect(202);
        assert_eq!(held.body["status"], "pending");
        assert_eq!(held.body["confirmation"]["state"], "awaiting");
        assert_eq!(held.body["confirmation"]["commitment_pence"], 300_000);
        assert_eq!(held.body["confirmation"]["requested_by_name"], "funder-a");
        assert!(held.body["confirmation"]["resolved_by_name"].is_null());
        // The other admins are asked by email; the one who asked is not.
        let mut asked = vec![s.admins[1].email.clone(), s.admins[2].email.clone()];
        asked.sort();
        assert_eq!(s.app.recipients("confirmation_awaited").await, asked);
        let summary = s.summary(&fund).await;
        assert_eq!(summary["awaiting_confirmation_pence"], 300_000);
        assert_eq!(summary["committed_pence"], 100_000);
        assert_eq!(summary["available_pence"], 600_000);
        // The list of every fund counts the same (its own batched sums).
        let listed = s.app.get("/api/v1/funds", None).await.body;
        let listed = listed.as_array().unwrap().iter().find(|f| f["id"] == fund.as_str()).unwrap().clone();
        assert_eq!(listed["available_pence"], 600_000);
        // No match while it waits.
        assert_eq!(s.app.get(&format!("/api/v1/offers/{offer}"), None).await.body["match_pence"], 0);
        // A second approval of the same application while one awaits is refused.
        s.act(&s.admins[1], &fund, &large, "approve", json!({"commitment_pence": 300_000})).await.expect(409);
        // The one who asked cannot confirm, nor decline.
        let refused = s.act(&s.admins[0], &fund, &large, "confirm", json!({})).await;
        refused.expect(403);
        assert!(refused.body["detail"].as_str().unwrap().contains("second, different funder admin"));
        s.act(&s.admins[0], &fund, &large, "decline", json!({"reason": "no"})).await.expect(403);
        // A second admin confirms: approved with the held commitment; both names and times kept.
        let confirmed = s.act(&s.admins[1], &fund, &large, "confirm", json!({})).await;
        confirmed.expect(200);
        assert_eq!(confirmed.body["status"], "approved");
        assert_eq!(confirmed.body["commitment_pence"], 300_000);
        let c = &confirmed.body["confirmation"];
        assert_eq!(c["state"], "confirmed");
        assert_eq!((c["requested_by"].as_str(), c["resolved_by"].as_str()), (Some(s.admins[0].id.as_str()), Some(s.admins[1].id.as_str())));
        assert_eq!((c["requested_by_name"].as_str(), c["resolved_by_name"].as_str()), (Some("funder-a"), Some("funder-colleague")));
        assert!(c["requested_at"].is_string() && c["resolved_at"].is_string());
        // Confirmed once: again is 409.
        s.act(&s.admins[2], &fund, &large, "confirm", json!({})).await.expect(409);
        let summary = s.summary(&fund).await;
        assert_eq!((summary["awaiting_confirmation_pence"].as_i64(), summary["committed_pence"].as_i64()), (Some(0), Some(400_000)));
        // The society sees who decided, and the commitment.
        let seen = s.app.get(&format!("/api/v1/offers/{offer}/match-applications"), Some(&s.society_admin.access_token)).await.body;
        assert_eq!(seen[0]["confirmation"]["state"], "confirmed");
        // ...but not which of the funder's people asked or answered.
        let keys: Vec<&String> = seen[0]["confirmation"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["commitment_pence", "requested_at", "resolved_at", "state"]);
        s.balanced().await;
    }

    async fn a_declined_hold_returns_and_an_ended_offer_releases_what_awaits(backend) {
        let s = scene(backend).await;
        let fund = s.fund(1_000_000, Some(0)).await;
        let (_, application) = s.application(&fund).await;
        s.act(&s.admins[0], &fund, &application, "approve", json!({"commitment_pence": 200_000})).await.expect(202);
        let declined = s.act(&s.admins[1], &fund, &application, "decline", json!({"reason": "Too much for one village"})).await;
        declined.expect(200);
        assert_eq!(declined.body["status"], "pending");
        assert_eq!(declined.body["confirmation"]["state"], "declined");
        assert_eq!(declined.body["confirmation"]["reason"], "Too much for one village");
        // The society sees the decline, not the funder's note of why.
        let offer = declined.body["offer_id"].as_str().unwrap().to_owned();
        let seen = s.app.get(&format!("/api/v1/offers/{offer}/match-applications"), Some(&s.society_admin.access_token)).await.body;
        assert_eq!(seen[0]["confirmation"]["state"], "declined");
        assert!(!seen.to_string().contains("Too much for one village"), "{seen}");
        assert_eq!(s.summary(&fund).await["available_pence"], 1_000_000);
        // Approved again (a smaller commitment), then the offer is cancelled while it waits: the hold returns.
        let (offer, other) = s.application(&fund).await;
        s.act(&s.admins[1], &fund, &other, "approve", json!({"commitment_pence": 150_000})).await.expect(202);
        s.act(&s.admins[0], &fund, &application, "approve", json!({"commitment_pence": 100_000})).await.expect(202);
        assert_eq!(s.summary(&fund).await["awaiting_confirmation_pence"], 250_000);
        s.app.post(&format!("/api/v1/offers/{offer}/cancel"), Some(&s.society_admin.access_token), &json!({}))
            .await
            .expect(200);
        let summary = s.summary(&fund).await;
        assert_eq!(summary["awaiting_confirmation_pence"], 100_000);
        assert_eq!(summary["available_pence"], 900_000);
        // A rejection voids what awaits too.
        s.act(&s.admins[2], &fund, &application, "reject", json!({"reason": "Not this year"})).await.expect(200);
        assert_eq!(s.summary(&fund).await["available_pence"], 1_000_000);
        s.balanced().await;
    }

    async fn an_allocated_offer_returns_a_hold_still_awaiting(backend) {
        let s = scene(backend).await;
        let fund = s.fund(1_000_000, Some(0)).await;
        let (offer, application) = s.application(&fund).await;
        s.act(&s.admins[0], &fund, &application, "approve", json!({"commitment_pence": 200_000})).await.expect(202);
        // Three investors pay £4,000 each: £12,000 passes the £10,000 minimum; nobody confirms.
        for n in 0..3 {
            let investor = s.app.investor(&format!("member{n}")).await;
            let pledge = s.app.pledge(&investor, &offer, 400_000).await;
            pledge.expect(201);
            s.app.receipt_by_hand(&s.society_admin, &s.platform, &offer, &pledge.body["payment"]["bank_reference"], 400_000).await;
        }
        s.app.post(&format!("/api/v1/offers/{offer}/close"), Some(&s.platform.access_token), &json!({})).await.expect(200);
        let allocated = s.app.wait_for_status(&offer, Some(&s.society_admin.access_token), "allocated").await;
        assert_eq!(allocated["match_pence"], 0, "an approval never confirmed matches nothing");
        let summary = s.summary(&fund).await;
        assert_eq!((summary["awaiting_confirmation_pence"].as_i64(), summary["available_pence"].as_i64()), (Some(0), Some(1_000_000)));
        let seen = s.app.get(&format!("/api/v1/offers/{offer}/match-applications"), Some(&s.society_admin.access_token)).await.body;
        assert_eq!(seen[0]["confirmation"]["state"], "released");
        s.act(&s.admins[1], &fund, &application, "confirm", json!({})).await.expect(409);
        s.balanced().await;
    }

    async fn an_admin_of_the_applying_society_can_neither_approve_nor_confirm(backend) {
        let s = scene(backend).await;
        let fund = s.fund(1_000_000, Some(0)).await;
        // The society's admin is made an admin of the funder too.
        s.app.add_funder_admin_by_two(&s.admins[0], &s.admins[1], &s.funder, &s.society_admin).await;
        let (_, application) = s.application(&fund).await;
        let refused = s.act(&s.society_admin, &fund, &application, "approve", json!({"commitment_pence": 100_000})).await;
        refused.expect(403);
        assert!(refused.body["detail"].as_str().unwrap().contains("you administer the society"));
        s.act(&s.admins[0], &fund, &application, "approve", json!({"commitment_pence": 100_000})).await.expect(202);
        // Nobody who may not answer is asked to: not the one who asked, not the society's admin.
        let mut asked = vec![s.admins[1].email.clone(), s.admins[2].email.clone()];
        asked.sort();
        assert_eq!(s.app.recipients("confirmation_awaited").await, asked);
        s.act(&s.society_admin, &fund, &application, "confirm", json!({})).await.expect(403);
        s.act(&s.society_admin, &fund, &application, "decline", json!({"reason": "x"})).await.expect(403);
        s.act(&s.admins[1], &fund, &application, "confirm", json!({})).await.expect(200);
        s.balanced().await;
    }

    async fn two_confirmations_at_once_commit_once_and_holds_never_overcommit(backend) {
        let s = scene(backend).await;
        let fund = s.fund(500_000, Some(0)).await;
        let (_, application) = s.application(&fund).await;
        s.act(&s.admins[0], &fund, &application, "approve", json!({"commitment_pence": 300_000})).await.expect(202);
        let (a, b) = tokio::join!(
            s.act(&s.admins[1], &fund, &application, "confirm", json!({})),
            s.act(&s.admins[2], &fund, &application, "confirm", json!({})),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "{} / {}", a.text, b.text);
        let summary = s.summary(&fund).await;
        assert_eq!((summary["committed_pence"].as_i64(), summary["available_pence"].as_i64()), (Some(300_000), Some(200_000)));
        // Four holds of £1,500 at once against the £2,000 left: one is held, three are refused.
        let mut applications = Vec::new();
        for _ in 0..4 {
            let offer = s.app.draft_offer(&s.society_admin, &s.society, &offer_body()).await;
            applications.push(s.app.apply(&s.society_admin, &offer, &fund).await);
        }
        let answers = futures_util::future::join_all(
            applications.iter().map(|a| s.act(&s.admins[0], &fund, a, "approve", json!({"commitment_pence": 150_000}))),
        )
        .await;
        let held = answers.iter().filter(|a| a.status == 202).count();
        assert!(answers.iter().all(|a| a.status == 202 || a.status == 422), "{:?}", answers.iter().map(|a| &a.text).collect::<Vec<_>>());
        assert_eq!(held, 1);
        let summary = s.summary(&fund).await;
        assert_eq!((summary["awaiting_confirmation_pence"].as_i64(), summary["available_pence"].as_i64()), (Some(150_000), Some(50_000)));
        s.balanced().await;
    }

    async fn an_approval_no_one_could_confirm_is_refused_before_anything_is_held(backend) {
        let s = scene(backend).await;
        // A funder with a single admin: nobody else could ever confirm.
        let alone = s.app.user("sole-admin").await;
        let funder = s.app.bare_funder(&s.platform).await;
        s.app.make_funder_admin(&s.platform, &funder, &alone).await;
        let fund = s.app.fund_needing_two(&alone, &funder, 1_000_000, live_rule()).await;
        let (_, application) = s.application(&fund).await;
        let refused = s.act(&alone, &fund, &application, "approve", json!({"commitment_pence": 100_000})).await;
        refused.expect(409);
        assert!(refused.body["detail"].as_str().unwrap().contains("approving needs a second admin of this funder, and it has only you"), "{}", refused.text);
        assert_eq!(s.summary(&fund).await["available_pence"], 1_000_000, "nothing is held");
        // The society's admin made a funder admin does not count: they may not answer either.
        s.app.make_funder_admin(&s.platform, &funder, &s.society_admin).await;
        let refused = s.act(&alone, &fund, &application, "approve", json!({"commitment_pence": 100_000})).await;
        refused.expect(409);
        assert!(refused.body["detail"].as_str().unwrap().contains("no other admin of the funder may confirm it"), "{}", refused.text);
        // A second admin who may answer (the sole admin asks, the society's admin agrees as a
        // funder admin): the approval waits for them.
        s.app.add_funder_admin_by_two(&alone, &s.society_admin, &funder, &s.admins[2]).await;
        s.act(&alone, &fund, &application, "approve", json!({"commitment_pence": 100_000})).await.expect(202);
        assert_eq!(s.app.recipients("confirmation_awaited").await, [s.admins[2].email.clone()]);
        s.balanced().await;
    }

    async fn relaxing_the_rule_takes_two_admins_too(backend) {
        let s = scene(backend).await;
        let fund = s.app.fund_needing_two(&s.admins[0], &s.funder, 1_000_000, live_rule()).await;
        let put = |who: usize, threshold: Value| {
            let (app, token, path) = (&s.app, s.admins[who].access_token.clone(), format!("/api/v1/funds/{fund}/second-approval"));
            async move { app.put(&path, Some(&token), &json!({"threshold_pence": threshold})).await }
        };
        // A alone asks to drop the rule: it waits; the rule still holds; B and C are told.
        let asked = put(0, Value::Null).await;
        asked.expect(202);
        assert_eq!(asked.body["second_approval_threshold_pence"], 0);
        assert!(asked.body["second_approval_change"]["threshold_pence"].is_null());
        assert!(asked.body["second_approval_change"]["requested_at"].is_string());
        let mut others = vec![s.admins[1].email.clone(), s.admins[2].email.clone()];
        others.sort();
        assert_eq!(s.app.recipients("threshold_change").await, others);
        let (_, application) = s.application(&fund).await;
        s.act(&s.admins[0], &fund, &application, "approve", json!({"commitment_pence": 100_000})).await.expect(202);
        // Asking again changes nothing and tells no one again.
        put(0, Value::Null).await.expect(202);
        assert_eq!(s.app.recipients("threshold_change").await.len(), 2);
        // B asks for another relaxation: it replaces A's, and A and C are told.
        let other = put(1, json!(500_000)).await;
        other.expect(202);
        assert_eq!(other.body["second_approval_change"]["threshold_pence"], 500_000);
        assert_eq!(s.app.recipients("threshold_change").await.len(), 4);
        // C asks for the same: it takes effect.
        let set = put(2, json!(500_000)).await;
        set.expect(200);
        assert_eq!(set.body["second_approval_threshold_pence"], 500_000);
        assert!(set.body["second_approval_change"].is_null());
        // Tightening takes effect at once, and drops a relaxation pending.
        put(0, json!(0)).await.expect(200);
        put(1, Value::Null).await.expect(202);
        let kept = put(1, json!(0)).await;
        kept.expect(200);
        assert_eq!(kept.body["second_approval_threshold_pence"], 0);
        assert!(kept.body["second_approval_change"].is_null());
        // Setting a threshold where there was none is a tightening: one admin is enough.
        let open_fund = s.fund(1_000_000, None).await;
        s.app.put(&format!("/api/v1/funds/{open_fund}/second-approval"), Some(&s.admins[1].access_token), &json!({"threshold_pence": 250_000}))
            .await
            .expect(200);
        s.balanced().await;
    }
}
