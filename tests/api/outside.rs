//! Money that moves outside the platform, through the real async-stripe client against
//! localstripe and signed webhooks shaped as Stripe sends them, on both backends: refunds made
//! in the Stripe Dashboard (whole and part), disputes opened, won and lost (an open one holds
//! the offer's close-out), and authentic events the platform cannot tie to a pledge.

use std::time::Duration;

use serde_json::{json, Value};

use crate::both_backends;
use crate::support::stripe::{app_with_cards, deliver, paid_card_pledge, StripeFake};
use crate::support::{Answer, Backend, TestApp, TestUser};

struct Scene {
    app: TestApp,
    admin: TestUser,
    platform: TestUser,
    offer: String,
    stripe: StripeFake,
}

/// An open offer (£1 shares, holdings of £100 to £5,000) on an app with card payments over a
/// local Stripe, refunds sent within a second.
async fn scene(backend: Backend) -> Scene {
    let stripe = StripeFake::start();
    let app = app_with_cards(backend, stripe.url(), 1).await;
    let (admin, platform, offer) = app.open_offer_scene().await;
    Scene {
        app,
        admin,
        platform,
        offer,
        stripe,
    }
}

impl Scene {
    async fn paid_card_pledge(&self, investor: &TestUser, amount: i64) -> (String, String) {
        paid_card_pledge(&self.app, &self.stripe, &self.offer, investor, amount).await
    }

    async fn event(&self, id: &str, kind: &str, object: &Value) -> Answer {
        deliver(&self.app, id, kind, object).await
    }

    /// A refund made in Stripe by someone else (the Dashboard), then Stripe's `charge.refunded`
    /// with the charge's whole refunded total.
    async fn refund_in_dashboard(&self, intent_id: &str, amount: i64, charged: i64) {
        self.stripe.refund_outside(intent_id, amount).await;
        let refunded: i64 = self
            .stripe
            .refunds_of(intent_id)
            .await
            .iter()
            .map(|r| r["amount"].as_i64().unwrap())
            .sum();
        self.charge_refunded(
            intent_id,
            refunded,
            charged,
            &format!("evt_refunded_{intent_id}_{refunded}"),
        )
        .await;
    }

    async fn charge_refunded(&self, intent_id: &str, refunded: i64, charged: i64, event_id: &str) {
        let charge = json!({"id": format!("ch_{intent_id}"), "object": "charge", "amount": charged,
            "amount_refunded": refunded, "refunded": refunded == charged, "currency": "gbp",
            "payment_intent": intent_id, "status": "succeeded"});
        self.event(event_id, "charge.refunded", &charge).await.expect(200);
    }

    async fn dispute(&self, kind: &str, intent_id: &str, amount: i64, status: &str) {
        let dispute = json!({"id": format!("dp_{intent_id}"), "object": "dispute", "amount": amount,
            "charge": format!("ch_{intent_id}"), "currency": "gbp", "payment_intent": intent_id,
            "reason": "fraudulent", "status": status});
        self.event(&format!("evt_{kind}_{intent_id}_{status}"), kind, &dispute)
            .await
            .expect(200);
    }

    async fn pledge(&self, id: &str) -> Value {
        let answer = self
            .app
            .get(&format!("/api/v1/pledges/{id}"), Some(&self.platform.access_token))
            .await;
        answer.expect(200);
        answer.body
    }

    async fn offer(&self) -> Value {
        self.app.get(&format!("/api/v1/offers/{}", self.offer), None).await.body
    }

    async fn refunds(&self, pledge_id: &str) -> Vec<(String, i64, String)> {
        let listed = self
            .app
            .get(
                &format!("/api/v1/offers/{}/refunds", self.offer),
                Some(&self.admin.access_token),
            )
            .await;
        listed.expect(200);
        let mut refunds: Vec<(String, i64, String)> = listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["pledge_id"] == pledge_id)
            .map(|r| {
                (
                    r["reason"].as_str().unwrap().to_owned(),
                    r["amount_pence"].as_i64().unwrap(),
                    r["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        refunds.sort();
        refunds
    }

    /// `ledger verify`: balanced, and its list of payments that disagree with Stripe.
    async fn verified(&self) -> Vec<String> {
        let verdict = self.app.verify_ledger(&self.platform).await;
        assert_eq!(verdict["balanced"], true, "{verdict}");
        verdict["payment_disagreements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_owned())
            .collect()
    }
}

both_backends! {
    async fn a_refund_made_in_the_stripe_dashboard_is_money_gone(backend) {
        let s = scene(backend).await;
        let ann = s.app.investor("ann").await;
        let bob = s.app.investor("bob").await;
        let cat = s.app.investor("cat").await;
        let (ann_pledge, ann_intent) = s.paid_card_pledge(&ann, 25_000).await;
        let (bob_pledge, bob_intent) = s.paid_card_pledge(&bob, 25_000).await;
        let (cat_pledge, cat_intent) = s.paid_card_pledge(&cat, 12_000).await;
        assert_eq!(s.offer().await["community_paid_pence"], 62_000);

        // All of Ann's payment refunded in the Dashboard: her pledge is refunded, out of the totals.
        s.refund_in_dashboard(&ann_intent, 25_000, 25_000).await;
        let ann_now = s.pledge(&ann_pledge).await;
        assert_eq!(ann_now["status"], "refunded");
        assert_eq!(s.refunds(&ann_pledge).await, vec![("refunded_outside".into(), 25_000, "succeeded".into())]);
        assert_eq!(s.offer().await["community_paid_pence"], 37_000);
        let mut told = vec![s.admin.email.clone(), ann.email.clone()];
        told.sort();
        assert_eq!(s.app.recipients("money_gone_outside").await, told, "the investor and the society's admins");
        assert!(s.verified().await.is_empty());

        // £50.50 of Bob's: he keeps the 199 whole shares the rest buys; 50p goes back to his card.
        s.refund_in_dashboard(&bob_intent, 5_050, 25_000).await;
        let bob_now = s.pledge(&bob_pledge).await;
        assert_eq!((bob_now["status"].as_str(), bob_now["amount_pence"].as_i64(), bob_now["shares"].as_i64()), (Some("paid"), Some(19_900), Some(199)));
        assert_eq!(bob_now["received_pence"], 19_900);
        assert_eq!(s.offer().await["community_paid_pence"], 31_900);
        // The platform's own refund of the 50p is sent to Stripe by the refund job.
        let deadline = crate::support::patience::deadline();
        while s.stripe.refunds_of(&bob_intent).await.len() < 2 {
            assert!(std::time::Instant::now() < deadline, "the rest was not refunded");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Stripe's event for it (the charge's total now £51.00) confirms it and records nothing new.
        s.charge_refunded(&bob_intent, 5_100, 25_000, "evt_bob_rest").await;
        s.app.wait_for_pledge(&bob_pledge, &s.platform.access_token, "the rest's refund", |p| p["refund"]["status"] == "succeeded").await;
        assert_eq!(s.refunds(&bob_pledge).await, vec![
            ("refunded_outside".into(), 5_050, "succeeded".into()),
            ("rest_of_payment".into(), 50, "succeeded".into()),
        ]);
        assert_eq!(s.pledge(&bob_pledge).await["amount_pence"], 19_900);

        // £30 of Cat's £120: the £90 left is below the £100 minimum holding, so her pledge ends
        // and the £90 goes back too.
        s.refund_in_dashboard(&cat_intent, 3_000, 12_000).await;
        assert_eq!(s.pledge(&cat_pledge).await["status"], "refunded");
        let cat_refunds = s.refunds(&cat_pledge).await;
        assert_eq!(cat_refunds[0], ("refunded_outside".into(), 3_000, "succeeded".into()));
        assert_eq!((cat_refunds[1].0.as_str(), cat_refunds[1].1), ("rest_of_payment", 9_000));
        assert_eq!(s.offer().await["community_paid_pence"], 19_900);
        assert!(s.verified().await.is_empty(), "every refund Stripe reported is recorded");

        // The same event again changes nothing.
        s.charge_refunded(&ann_intent, 25_000, 25_000, "evt_ann_again").await;
        assert_eq!(s.refunds(&ann_pledge).await.len(), 1);
        assert_eq!(s.offer().await["community_paid_pence"], 19_900);
    }

    async fn an_open_dispute_holds_the_close_out_until_it_is_won_or_lost(backend) {
        let s = scene(backend).await;
        let ann = s.app.investor("ann").await;
        let bob = s.app.investor("bob").await;
        let (ann_pledge, ann_intent) = s.paid_card_pledge(&ann, 25_000).await;
        let (bob_pledge, bob_intent) = s.paid_card_pledge(&bob, 25_000).await;

        // Bob's dispute is won before the close: nothing changes, and the flag goes.
        s.dispute("charge.dispute.created", &bob_intent, 25_000, "needs_response").await;
        let flag = s.pledge(&bob_pledge).await["payment"]["flag"].as_str().unwrap_or_default().to_owned();
        assert!(flag.contains("disputed by the card holder"), "{flag}");
        let disagreements = s.verified().await;
        assert!(disagreements.iter().any(|d| d.contains(&bob_pledge) && d.contains("disputed")), "{disagreements:?}");
        s.dispute("charge.dispute.closed", &bob_intent, 25_000, "won").await;
        assert!(s.pledge(&bob_pledge).await["payment"]["flag"].is_null());
        assert!(s.verified().await.is_empty());

        // Ann's is open when the offer closes: the offer waits, and says why.
        s.dispute("charge.dispute.created", &ann_intent, 25_000, "needs_response").await;
        s.app.post(&format!("/api/v1/offers/{}/close", s.offer), Some(&s.platform.access_token), &json!({})).await.expect(200);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let held = s.app.get(&format!("/api/v1/offers/{}/closeout", s.offer), Some(&s.admin.access_token)).await;
        held.expect(200);
        assert_eq!(held.body["status"], "closed", "{}", held.text);
        assert_eq!(held.body["disputed_pledges"], json!([ann_pledge]));
        assert!(held.body["waiting_for"].as_str().unwrap().contains("disputed card payment"), "{}", held.text);
        s.app.get(&format!("/api/v1/offers/{}/closeout", s.offer), Some(&ann.access_token)).await.expect(403);

        // Lost: Ann's money is gone, her pledge refunded; the offer is decided without it.
        s.dispute("charge.dispute.closed", &ann_intent, 25_000, "lost").await;
        let ann_now = s.pledge(&ann_pledge).await;
        assert_eq!(ann_now["status"], "refunded");
        assert_eq!(s.refunds(&ann_pledge).await, vec![("dispute_lost".into(), 25_000, "succeeded".into())]);
        // £250 of a £10,000 minimum: the offer fails, and Bob is refunded by the close-out.
        s.app.wait_for_status(&s.offer, None, "failed").await;
        s.app.wait_for_pledge(&bob_pledge, &s.platform.access_token, "Bob's refund", |p| p["status"] == "refunded").await;
        let after = s.app.get(&format!("/api/v1/offers/{}/closeout", s.offer), Some(&s.admin.access_token)).await;
        assert!(after.body["waiting_for"].is_null(), "{}", after.text);
        assert!(s.verified().await.is_empty());
    }

    async fn authentic_events_not_tied_to_a_pledge_are_acknowledged(backend) {
        let s = scene(backend).await;
        // A charge without a PaymentIntent (an invoice's, or one made in the Dashboard).
        let charge = json!({"id": "ch_lone", "object": "charge", "amount": 500, "amount_refunded": 500,
            "payment_intent": null, "currency": "gbp"});
        let first = s.event("evt_lone", "charge.refunded", &charge).await;
        first.expect(200);
        assert_eq!(first.body["duplicate"], false);
        assert_eq!(s.event("evt_lone", "charge.refunded", &charge).await.body["duplicate"], true, "its id is recorded");
        // A PaymentIntent no pledge knows; a dispute of it; a kind of event not used here.
        let unknown = json!({"id": "ch_other", "object": "charge", "amount": 500, "amount_refunded": 500, "payment_intent": "pi_unknown"});
        s.event("evt_unknown", "charge.refunded", &unknown).await.expect(200);
        s.dispute("charge.dispute.created", "pi_unknown", 500, "needs_response").await;
        s.event("evt_payout", "payout.paid", &json!({"id": "po_1", "object": "payout", "amount": 500})).await.expect(200);
        assert!(s.verified().await.is_empty());
    }
}
