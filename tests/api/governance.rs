//! Who may act for a funder, written as the attacks that once worked: one funder admin with a
//! second account adding it as co-admin and confirming their own approval; the same pair
//! switching the two-person rule off; a new fund with no threshold; a platform admin adding
//! itself to a funder. Each now fails and says why; every step is on the funder's audit trail
//! and e-mailed to all its admins.

use serde_json::{json, Value};

use crate::both_backends;
use crate::support::{live_rule, Answer, TestApp, TestUser};

struct Scene {
    app: TestApp,
    platform: TestUser,
    society_admin: TestUser,
    /// The funder's first two admins (invited by the platform admin, accepted).
    alice: TestUser,
    bob: TestUser,
    funder: String,
    /// A fund as it starts: every approval needs a second admin.
    fund: String,
}

async fn scene(backend: crate::support::Backend) -> Scene {
    let app = TestApp::spawn(backend).await;
    let (society_admin, platform, _) = app.open_offer_scene().await;
    let alice = app.user("alice").await;
    let funder = app.funder(&platform, &alice).await;
    let bob = app.colleague(&funder);
    let fund = app.fund_needing_two(&alice, &funder, 1_000_000, live_rule()).await;
    Scene {
        app,
        platform,
        society_admin,
        alice,
        bob,
        funder,
        fund,
    }
}

impl Scene {
    async fn add_admin(&self, by: &TestUser, email: &str) -> Answer {
        let path = format!("/api/v1/funders/{}/admins", self.funder);
        self.app
            .post(&path, Some(&by.access_token), &json!({"email": email}))
            .await
    }

    /// A new application to the fund by an open offer of a new society.
    async fn application(&self) -> String {
        let society = self.app.society(&self.society_admin).await;
        self.app.bank_details(&self.society_admin, &society).await;
        let offer = self.app.open_offer(&self.society_admin, &self.platform, &society).await;
        self.app.apply(&self.society_admin, &offer, &self.fund).await
    }

    async fn act(&self, who: &TestUser, application: &str, action: &str, body: Value) -> Answer {
        let path = format!("/api/v1/funds/{}/applications/{application}/{action}", self.fund);
        self.app.post(&path, Some(&who.access_token), &body).await
    }

    async fn audit(&self, who: &TestUser) -> Vec<(String, String)> {
        let trail = self
            .app
            .get(
                &format!("/api/v1/funders/{}/audit?limit=100", self.funder),
                Some(&who.access_token),
            )
            .await;
        trail.expect(200);
        trail.body["items"]
            .as_array()
            .expect("items")
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
    async fn a_second_account_cannot_join_or_confirm_for_its_owner(backend) {
        let s = scene(backend).await;
        let application = s.application().await;
        // Alice approves: held for a second admin, not approved.
        let held = s.act(&s.alice, &application, "approve", json!({"commitment_pence": 100_000})).await;
        held.expect(202);
        assert_eq!(held.body["status"], "pending");
        // She registers a second account and adds it: it waits for another admin, and her
        // second account has nothing to accept.
        let alice2 = s.app.user("alice-second").await;
        let asked = s.add_admin(&s.alice, &alice2.email).await;
        asked.expect(202);
        assert_eq!(asked.body["status"], "awaiting_second_admin");
        let invitation = asked.body["invitation_id"].as_str().unwrap().to_owned();
        assert_eq!(s.app.get("/api/v1/me/invitations", Some(&alice2.access_token)).await.body, json!([]));
        s.app.post(&format!("/api/v1/me/invitations/{invitation}/accept"), Some(&alice2.access_token), &json!({}))
            .await
            .expect(404);
        // Everyone who acts for the funder is told, Bob included.
        let told = [s.alice.email.clone(), s.bob.email.clone()];
        let admin_changes = s.app.recipients("admin_change").await;
        assert!(told.iter().all(|e| admin_changes.contains(e)), "{admin_changes:?}");
        // Asking again herself changes nothing.
        let again = s.add_admin(&s.alice, &alice2.email).await;
        assert_eq!(again.body["status"], "awaiting_second_admin");
        // Even if Bob agrees, the second account joined after Alice's approval was asked for...
        let agreed = s.add_admin(&s.bob, &alice2.email).await;
        assert_eq!(agreed.body["status"], "invited");
        s.app.accept_invitation(&alice2, &invitation).await;
        let refused = s.act(&alice2, &application, "confirm", json!({})).await;
        refused.expect(403);
        assert!(detail(&refused).contains("became an admin after this request"), "{}", refused.text);
        // ... and on a new approval it is Alice's own recent invitee.
        s.act(&s.bob, &application, "decline", json!({"reason": "asked again below"})).await.expect(200);
        s.act(&s.alice, &application, "approve", json!({"commitment_pence": 100_000})).await.expect(202);
        let refused = s.act(&alice2, &application, "confirm", json!({})).await;
        refused.expect(403);
        assert!(detail(&refused).contains("brought you in less than 7 days"), "{}", refused.text);
        let refused = s.act(&s.alice, &application, "confirm", json!({})).await;
        refused.expect(403);
        assert!(detail(&refused).contains("you made this request"), "{}", refused.text);
        // Bob, an admin from before, may.
        s.act(&s.bob, &application, "confirm", json!({})).await.expect(200);
    }

    async fn a_sole_admin_cannot_bring_in_a_second_account_to_approve(backend) {
        let app = TestApp::spawn(backend).await;
        let (society_admin, platform, offer) = app.open_offer_scene().await;
        let sole = app.user("sole").await;
        let funder = app.bare_funder(&platform).await;
        app.make_funder_admin(&platform, &funder, &sole).await;
        // A funder with one admin can make funds and simulate, and is told plainly that
        // approving needs a second admin.
        let fund = app.fund_needing_two(&sole, &funder, 500_000, live_rule()).await;
        app.post(&format!("/api/v1/funds/{fund}/simulate"), Some(&sole.access_token), &json!({"offer_id": offer}))
            .await
            .expect(200);
        let application = app.apply(&society_admin, &offer, &fund).await;
        let approve = format!("/api/v1/funds/{fund}/applications/{application}/approve");
        let refused = app.post(&approve, Some(&sole.access_token), &json!({"commitment_pence": 100_000})).await;
        refused.expect(409);
        assert!(detail(&refused).contains("approving needs a second admin of this funder"), "{}", refused.text);
        // Her second account: she asks, a platform admin agrees (a funder's first admins), it
        // accepts; but it is her invitee of today, so it may not be her second person.
        let second = app.user("sole-second").await;
        let path = format!("/api/v1/funders/{funder}/admins");
        let asked = app.post(&path, Some(&sole.access_token), &json!({"email": second.email})).await;
        assert_eq!(asked.body["status"], "awaiting_second_admin");
        let agreed = app.post(&path, Some(&platform.access_token), &json!({"email": second.email})).await;
        assert_eq!(agreed.body["status"], "invited");
        app.accept_invitation(&second, agreed.body["invitation_id"].as_str().unwrap()).await;
        let refused = app.post(&approve, Some(&sole.access_token), &json!({"commitment_pence": 100_000})).await;
        refused.expect(409);
        assert!(detail(&refused).contains("no other admin of the funder may confirm it"), "{}", refused.text);
        let summary = app.get(&format!("/api/v1/funds/{fund}"), None).await.body;
        assert_eq!(summary["available_pence"], 500_000, "nothing is held");
    }

    async fn the_same_pair_cannot_switch_the_rule_off(backend) {
        let s = scene(backend).await;
        // Alice's second account, agreed to by Bob, joins.
        let alice2 = s.app.user("alice-second").await;
        s.app.add_funder_admin_by_two(&s.alice, &s.bob, &s.funder, &alice2).await;
        let relax = |who: &TestUser| {
            let (app, token, path) = (&s.app, who.access_token.clone(), format!("/api/v1/funds/{}/second-approval", s.fund));
            async move { app.put(&path, Some(&token), &json!({"threshold_pence": null})).await }
        };
        relax(&s.alice).await.expect(202);
        let refused = relax(&alice2).await;
        refused.expect(403);
        assert!(detail(&refused).contains("brought you in less than 7 days"), "{}", refused.text);
        let fund = s.app.get(&format!("/api/v1/funds/{}", s.fund), None).await.body;
        assert_eq!(fund["second_approval_threshold_pence"], 0, "the rule still holds");
        // An admin from before the request may agree.
        relax(&s.bob).await.expect(200);
    }

    async fn a_platform_admin_is_not_a_funder_admin_and_cannot_become_one(backend) {
        let s = scene(backend).await;
        let application = s.application().await;
        // A platform admin may not approve as the funder ...
        s.act(&s.platform, &application, "approve", json!({"commitment_pence": 100_000})).await.expect(403);
        // ... nor add itself, to this funder (which has its admins) or to a new one.
        let refused = s.add_admin(&s.platform, &s.platform.email).await;
        refused.expect(403);
        let fresh = s.app.bare_funder(&s.platform).await;
        let refused = s
            .app
            .post(&format!("/api/v1/funders/{fresh}/admins"), Some(&s.platform.access_token), &json!({"email": s.platform.email}))
            .await;
        refused.expect(403);
        assert!(detail(&refused).contains("platform admin"), "{}", refused.text);
        // A funder with its two admins adds more through them, not through the platform.
        let carol = s.app.user("carol").await;
        let refused = s.add_admin(&s.platform, &carol.email).await;
        refused.expect(403);
        assert!(detail(&refused).contains("this funder has its admins"), "{}", refused.text);
        // And a funder admin cannot bring a platform admin's account in.
        s.add_admin(&s.alice, &s.platform.email).await.expect(403);
        assert_eq!(s.app.get("/api/v1/me", Some(&s.platform.access_token)).await.body["funders"], json!([]));
    }

    async fn every_step_is_on_the_funders_audit_trail(backend) {
        let s = scene(backend).await;
        let application = s.application().await;
        s.act(&s.alice, &application, "approve", json!({"commitment_pence": 100_000})).await.expect(202);
        s.act(&s.bob, &application, "confirm", json!({})).await.expect(200);
        let carol = s.app.user("carol").await;
        s.app.add_funder_admin_by_two(&s.alice, &s.bob, &s.funder, &carol).await;
        let dave = s.app.user("dave").await;
        let asked = s.add_admin(&s.alice, &dave.email).await;
        s.add_admin(&s.bob, &dave.email).await.expect(202);
        s.app
            .post(&format!("/api/v1/me/invitations/{}/decline", asked.body["invitation_id"].as_str().unwrap()), Some(&dave.access_token), &json!({}))
            .await
            .expect(200);
        let trail = s.audit(&s.bob).await;
        let actions: Vec<&str> = trail.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(
            actions,
            [
                "invitation_declined", "admin_invitation_seconded", "admin_invited",
                "admin_joined", "admin_invitation_seconded", "admin_invited",
                "approval_confirmed", "approval_held", "fund_created",
                "admin_joined", "admin_invited", "admin_joined", "admin_invited",
            ],
            "newest first: {trail:#?}"
        );
        assert!(trail[3].1.contains("carol") && trail[3].1.contains("is now an admin"), "{trail:#?}");
        assert!(trail[7].1.contains("£1,000.00") && trail[7].1.contains("held until a second admin confirms"), "{trail:#?}");
        // Platform admins may read it; the society's admin may not; nor may Alice's second funder.
        assert_eq!(s.audit(&s.platform).await, trail);
        s.app.get(&format!("/api/v1/funders/{}/audit", s.funder), Some(&s.society_admin.access_token)).await.expect(403);
        // Each entry names the request that made it (the X-Request-Id the caller saw).
        let entry = s.app.get(&format!("/api/v1/funders/{}/audit?limit=1", s.funder), Some(&s.bob.access_token)).await;
        assert!(entry.body["items"][0]["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{entry:?}");
        // The funder's people: three admins (Dave declined), none invited now.
        let people = s.app.get(&format!("/api/v1/funders/{}/admins", s.funder), Some(&s.alice.access_token)).await;
        people.expect(200);
        assert_eq!(people.body["admins"].as_array().unwrap().len(), 3, "{people:?}");
        assert_eq!(people.body["invitations"], json!([]));
    }
}
