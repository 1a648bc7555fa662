//! Card payments through the real async-stripe client against localstripe, signed webhooks,
//! reconciliation when Stripe was unreachable or a webhook was lost, and refunds.

use serde_json::{json, Value};

use crate::both_backends;
use crate::support::stripe::{app_with_cards, free_port, signed_event, StripeFake, WEBHOOK_SECRET};
use crate::support::{Answer, Backend, TestApp, TestUser};

struct Scene {
    app: TestApp,
    admin: TestUser,
    platform: TestUser,
    offer: String,
}

/// An app with card payments on, over `stripe_url`; the reconciliation job looks at an
/// unsettled card payment after `reconcile_after_secs`.
async fn scene(backend: Backend, stripe_url: &str, reconcile_after_secs: u64) -> Scene {
    let app = app_with_cards(backend, stripe_url.to_owned(), reconcile_after_secs).await;
    let (admin, platform, offer) = app.open_offer_scene().await;
    Scene {
        app,
        admin,
        platform,
        offer,
    }
}

impl Scene {
    async fn card_pledge(&self, investor: &TestUser, amount: i64, key: &str) -> Answer {
        let response = self
            .app
            .client
            .post(format!("{}/api/v1/offers/{}/pledges", self.app.address, self.offer))
            .bearer_auth(&investor.access_token)
            .header("Idempotency-Key", key)
            .json(&json!({"amount_pence": amount, "payment_method": "card", "accept_terms": true}))
            .send()
            .await
            .expect("request sent");
        Answer::read(response).await
    }

    async fn webhook(&self, signature: Option<&str>, body: &str) -> Answer {
        let mut request = self
            .app
            .client
            .post(format!("{}/api/v1/webhooks/stripe", self.app.address))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(signature) = signature {
            request = request.header("Stripe-Signature", signature);
        }
        Answer::read(request.send().await.expect("request sent")).await
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

    async fn assert_balanced(&self) {
        let verdict = self.app.verify_ledger(&self.platform).await;
        assert_eq!(verdict["balanced"], true, "{verdict}");
    }

    /// The offer's ledger records as (kind, phase).
    async fn ledger(&self) -> Vec<(String, String)> {
        let ledger = self
            .app
            .get(
                &format!("/api/v1/offers/{}/ledger", self.offer),
                Some(&self.platform.access_token),
            )
            .await;
        ledger.expect(200);
        ledger
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["kind"].as_str().unwrap().to_owned(),
                    t["phase"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// Polls the pledge (as the platform admin) until `done` holds (at most `PATIENCE`).
    async fn wait_for(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        self.app
            .wait_for_pledge(id, &self.platform.access_token, what, done)
            .await
    }
}

fn intent_of(pledge: &Value) -> String {
    let secret = pledge["payment"]["client_secret"].as_str().expect("client secret");
    secret.split("_secret_").next().unwrap().to_owned()
}

both_backends! {
    async fn a_card_pledge_is_paid_once_by_its_signed_webhook(backend) {
        let stripe = StripeFake::start();
        // Reconciliation far off: the webhook alone must settle the payment.
        let s = scene(backend, &stripe.url(), 3600).await;
        let ann = s.app.investor("ann").await;
        let pledge = s.card_pledge(&ann, 25_000, "card-1").await;
        pledge.expect(201);
        assert_eq!(pledge.body["status"], "pending");
        assert_eq!(pledge.body["payment"]["method"], "card");
        assert!(pledge.body["payment"]["bank_reference"].is_null());
        assert!(pledge.body["payment"]["bank_details"].is_null());
        let intent_id = intent_of(&pledge.body);
        let id = pledge.body["id"].as_str().unwrap().to_owned();
        let intent = stripe.intent(&intent_id).await;
        assert_eq!(intent["amount"], 25_000);
        assert_eq!(intent["currency"], "gbp");
        assert_eq!(intent["metadata"]["pledge_id"], id.as_str());
        // A repeat with the same key answers the same pledge and the same intent.
        let again = s.card_pledge(&ann, 25_000, "card-1").await;
        again.expect(201);
        assert_eq!(again.body["id"], pledge.body["id"]);
        assert_eq!(again.body["payment"]["client_secret"], pledge.body["payment"]["client_secret"]);
        // The secret is the investor's alone.
        assert!(s.pledge(&id).await["payment"]["client_secret"].is_null());

        let paid = stripe.pay(&intent_id).await;
        let (signature, body) = signed_event("evt_paid_1", "payment_intent.succeeded", &paid, WEBHOOK_SECRET, 0);
        // Bad signatures change nothing.
        let tampered = body.replace("25000", "25001");
        s.webhook(Some(&signature), &tampered).await.expect(400);
        let (other_key, _) = signed_event("evt_paid_1", "payment_intent.succeeded", &paid, "whsec_wrong", 0);
        s.webhook(Some(&other_key), &body).await.expect(400);
        let (stale, stale_body) = signed_event("evt_paid_1", "payment_intent.succeeded", &paid, WEBHOOK_SECRET, 301);
        let stale_answer = s.webhook(Some(&stale), &stale_body).await;
        stale_answer.expect(400);
        assert_eq!(stale_answer.content_type(), "application/problem+json");
        s.webhook(None, &body).await.expect(400);
        assert_eq!(s.pledge(&id).await["status"], "pending");

        // The same event delivered three times at once, then once more: paid once.
        let deliveries = futures_util::future::join_all((0..3).map(|_| s.webhook(Some(&signature), &body))).await;
        for answer in &deliveries {
            answer.expect(200);
        }
        let firsts = deliveries.iter().filter(|a| a.body["duplicate"] == false).count();
        assert_eq!(firsts, 1, "exactly one delivery is handled");
        let last = s.webhook(Some(&signature), &body).await;
        last.expect(200);
        assert_eq!(last.body["duplicate"], true);
        let now = s.pledge(&id).await;
        assert_eq!(now["status"], "paid");
        assert_eq!(now["payment"]["card_status"], "succeeded");
        assert_eq!(s.offer().await["community_paid_pence"], 25_000);
        assert_eq!(s.ledger().await, vec![("pledge".into(), "pending".into()), ("pledge".into(), "post".into())]);
        // A failure reported after the success (out of order) changes nothing.
        let mut failed = paid.clone();
        failed["status"] = json!("requires_payment_method");
        failed["last_payment_error"] = json!({"message": "Your card was declined."});
        let (signature, body) = signed_event("evt_failed_late", "payment_intent.payment_failed", &failed, WEBHOOK_SECRET, 0);
        s.webhook(Some(&signature), &body).await.expect(200);
        assert_eq!(s.pledge(&id).await["status"], "paid");
        s.assert_balanced().await;
    }

    async fn a_failed_card_attempt_keeps_the_pledge_pending_with_the_reason(backend) {
        let stripe = StripeFake::start();
        let s = scene(backend, &stripe.url(), 3600).await;
        let ann = s.app.investor("ann").await;
        let pledge = s.card_pledge(&ann, 10_000, "card-1").await;
        pledge.expect(201);
        let id = pledge.body["id"].as_str().unwrap().to_owned();
        let mut intent = stripe.intent(&intent_of(&pledge.body)).await;
        intent["last_payment_error"] = json!({"message": "Your card was declined."});
        let (signature, body) = signed_event("evt_failed", "payment_intent.payment_failed", &intent, WEBHOOK_SECRET, 0);
        s.webhook(Some(&signature), &body).await.expect(200);
        let now = s.pledge(&id).await;
        assert_eq!(now["status"], "pending");
        assert_eq!(now["payment"]["failure_reason"], "Your card was declined.");
        // An event of a kind not acted on is acknowledged.
        let (signature, body) = signed_event("evt_other", "customer.created", &json!({"id": "cus_1"}), WEBHOOK_SECRET, 0);
        s.webhook(Some(&signature), &body).await.expect(200);
        // A dispute flags the pledge for the society's admins.
        let dispute = json!({"id": "dp_1", "object": "dispute", "amount": 10_000, "charge": "ch_1", "currency": "gbp",
            "payment_intent": intent["id"], "reason": "fraudulent", "status": "needs_response"});
        let (signature, body) = signed_event("evt_dispute", "charge.dispute.created", &dispute, WEBHOOK_SECRET, 0);
        s.webhook(Some(&signature), &body).await.expect(200);
        let seen_by_admin = s.app.get(&format!("/api/v1/pledges/{id}"), Some(&s.admin.access_token)).await;
        assert!(seen_by_admin.body["payment"]["flag"].as_str().unwrap().contains("fraudulent"));
        s.assert_balanced().await;
    }

    async fn stripe_unreachable_at_pledge_time_is_503_and_reconciliation_settles_it(backend) {
        let port = free_port();
        let mut stripe = StripeFake::on_port(port);
        let s = scene(backend, &stripe.url(), 1).await;
        let ann = s.app.investor("ann").await;
        let refused = s.card_pledge(&ann, 10_000, "card-1").await;
        refused.expect(503);
        assert_eq!(refused.body["type"], "/problems/payment-provider-unavailable");
        let mine = s.app.get("/api/v1/me/pledges", Some(&ann.access_token)).await;
        let kept = &mine.body["items"][0];
        let id = kept["id"].as_str().unwrap().to_owned();
        assert!(refused.body["detail"].as_str().unwrap().contains(&id), "the problem names the pledge kept");
        assert_eq!(kept["status"], "pending");
        assert_eq!(kept["payment"]["card_status"], "creating");
        assert_eq!(s.offer().await["community_pledged_pence"], 10_000, "the pledge holds its shares");
        s.card_pledge(&ann, 10_000, "card-1").await.expect(503);

        // Stripe comes back: the reconciliation job makes the intent...
        stripe.resume();
        let ready = s.wait_for(&id, "the intent", |p| p["payment"]["card_status"] != "creating").await;
        assert_eq!(ready["payment"]["card_status"], "requires_payment_method");
        // ...the investor's repeat gets the payment form...
        let again = s.card_pledge(&ann, 10_000, "card-1").await;
        again.expect(201);
        assert_eq!(again.body["id"], id.as_str());
        let intent_id = intent_of(&again.body);
        // ...and a payment whose webhook never arrives is found by reconciliation.
        stripe.pay(&intent_id).await;
        s.wait_for(&id, "the payment", |p| p["status"] == "paid").await;
        assert_eq!(s.offer().await["community_paid_pence"], 10_000);
        assert_eq!(stripe.refunds_of(&intent_id).await.len(), 0);
        s.assert_balanced().await;
    }

    async fn cancelling_a_card_pledge_in_its_window_refunds_once(backend) {
        let stripe = StripeFake::start();
        let s = scene(backend, &stripe.url(), 3600).await;
        let ann = s.app.investor("ann").await;
        let pledge = s.card_pledge(&ann, 25_000, "card-1").await;
        pledge.expect(201);
        let id = pledge.body["id"].as_str().unwrap().to_owned();
        let intent_id = intent_of(&pledge.body);
        let paid = stripe.pay(&intent_id).await;
        let (signature, body) = signed_event("evt_paid", "payment_intent.succeeded", &paid, WEBHOOK_SECRET, 0);
        s.webhook(Some(&signature), &body).await.expect(200);
        assert_eq!(s.pledge(&id).await["status"], "paid");

        let path = format!("/api/v1/pledges/{id}/cancel");
        let empty = json!({});
        let cancels = futures_util::future::join_all((0..3).map(|_| s.app.post(&path, Some(&ann.access_token), &empty))).await;
        let statuses: Vec<u16> = cancels.iter().map(|a| a.status).collect();
        assert_eq!(statuses.iter().filter(|&&c| c == 200).count(), 1, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|&&c| c == 409).count(), 2, "{statuses:?}");
        let now = s.wait_for(&id, "the refund", |p| p["refund"]["status"] == "succeeded").await;
        assert_eq!(now["status"], "refunded");
        let refunds = stripe.refunds_of(&intent_id).await;
        assert_eq!(refunds.len(), 1, "one refund in Stripe: {refunds:?}");
        assert_eq!(refunds[0]["amount"], 25_000);
        assert_eq!(now["refund"]["method"], "card");
        // Stripe's own confirmation afterwards changes nothing.
        let charge = json!({"id": "ch_1", "object": "charge", "payment_intent": intent_id, "amount_refunded": 25_000});
        let (signature, body) = signed_event("evt_refunded", "charge.refunded", &charge, WEBHOOK_SECRET, 0);
        s.webhook(Some(&signature), &body).await.expect(200);
        let offer = s.offer().await;
        assert_eq!(offer["community_pledged_pence"], 0);
        assert_eq!(offer["community_paid_pence"], 0);
        let expected: Vec<(String, String)> = [("pledge", "pending"), ("pledge", "post"), ("refund", "pending"), ("refund", "post")]
            .iter().map(|(k, p)| (k.to_string(), p.to_string())).collect();
        assert_eq!(s.ledger().await, expected);
        s.assert_balanced().await;
    }

    async fn refunds_wait_out_a_stripe_outage_and_charge_refunded_confirms_them(backend) {
        let mut stripe = StripeFake::start();
        let s = scene(backend, &stripe.url(), 1).await;
        let mut pledges = Vec::new();
        for name in ["ann", "bob"] {
            let investor = s.app.investor(name).await;
            let pledge = s.card_pledge(&investor, 10_000, "card-1").await;
            pledge.expect(201);
            let intent_id = intent_of(&pledge.body);
            let paid = stripe.pay(&intent_id).await;
            let (signature, body) = signed_event(&format!("evt_{name}"), "payment_intent.succeeded", &paid, WEBHOOK_SECRET, 0);
            s.webhook(Some(&signature), &body).await.expect(200);
            pledges.push((investor, pledge.body["id"].as_str().unwrap().to_owned(), intent_id));
        }
        stripe.stop();
        for (investor, id, _) in &pledges {
            let cancel = s.app.post(&format!("/api/v1/pledges/{id}/cancel"), Some(&investor.access_token), &json!({})).await;
            cancel.expect(200);
            assert_eq!(cancel.body["status"], "refunded");
            assert_eq!(cancel.body["refund"]["status"], "pending", "Stripe is down: the refund waits");
        }
        s.assert_balanced().await;
        // Ann's refund is made in Stripe by other means; Stripe's charge.refunded confirms it.
        let (_, ann_pledge, ann_intent) = &pledges[0];
        let charge = json!({"id": "ch_ann", "object": "charge", "payment_intent": ann_intent, "amount_refunded": 10_000});
        let (signature, body) = signed_event("evt_ann_refunded", "charge.refunded", &charge, WEBHOOK_SECRET, 0);
        s.webhook(Some(&signature), &body).await.expect(200);
        assert_eq!(s.pledge(ann_pledge).await["refund"]["status"], "succeeded");
        // Stripe comes back: the reconciliation job sends Bob's refund, once.
        stripe.resume();
        let (_, bob_pledge, bob_intent) = &pledges[1];
        s.wait_for(bob_pledge, "Bob's refund", |p| p["refund"]["status"] == "succeeded").await;
        assert_eq!(stripe.refunds_of(bob_intent).await.len(), 1);
        assert_eq!(stripe.refunds_of(ann_intent).await.len(), 0, "Ann's confirmed refund is not sent again");
        s.assert_balanced().await;
    }

    async fn a_cancel_repeated_with_one_idempotency_key_answers_the_same_refund(backend) {
        let stripe = StripeFake::start();
        let s = scene(backend, &stripe.url(), 3600).await;
        let ann = s.app.investor("ann").await;
        let pledge = s.card_pledge(&ann, 10_000, "card-1").await;
        let id = pledge.body["id"].as_str().unwrap().to_owned();
        let intent_id = intent_of(&pledge.body);
        let paid = stripe.pay(&intent_id).await;
        let (signature, body) = signed_event("evt_paid", "payment_intent.succeeded", &paid, WEBHOOK_SECRET, 0);
        s.webhook(Some(&signature), &body).await.expect(200);
        let cancel = || async {
            let response = s.app.client.post(format!("{}/api/v1/pledges/{id}/cancel", s.app.address))
                .bearer_auth(&ann.access_token).header("Idempotency-Key", "cancel-1").json(&json!({}))
                .send().await.unwrap();
            Answer::read(response).await
        };
        let answers = futures_util::future::join_all((0..3).map(|_| cancel())).await;
        for answer in &answers {
            answer.expect(200);
            assert_eq!(answer.body["status"], "refunded");
            assert_eq!(answer.body["refund"]["id"], answers[0].body["refund"]["id"]);
        }
        s.wait_for(&id, "the refund", |p| p["refund"]["status"] == "succeeded").await;
        assert_eq!(stripe.refunds_of(&intent_id).await.len(), 1);
        s.assert_balanced().await;
    }

    async fn a_card_payment_arriving_after_its_pledge_ended_is_refunded(backend) {
        let stripe = StripeFake::start();
        let s = scene(backend, &stripe.url(), 1).await;
        let ann = s.app.investor("ann").await;
        let pledge = s.card_pledge(&ann, 10_000, "card-1").await;
        pledge.expect(201);
        let id = pledge.body["id"].as_str().unwrap().to_owned();
        let intent_id = intent_of(&pledge.body);
        s.app.post(&format!("/api/v1/pledges/{id}/cancel"), Some(&ann.access_token), &json!({})).await.expect(200);
        // The browser had the form open and pays anyway.
        let paid = stripe.pay(&intent_id).await;
        let (signature, body) = signed_event("evt_late", "payment_intent.succeeded", &paid, WEBHOOK_SECRET, 0);
        s.webhook(Some(&signature), &body).await.expect(200);
        let refunded = s.wait_for(&id, "the late payment's refund", |p| p["refund"]["status"] == "succeeded").await;
        assert_eq!(refunded["status"], "cancelled");
        assert_eq!(refunded["refund"]["reason"], "late_payment");
        assert_eq!(stripe.refunds_of(&intent_id).await.len(), 1);
        let offer = s.offer().await;
        assert_eq!(offer["community_pledged_pence"], 0);
        assert_eq!(offer["community_paid_pence"], 0);
        s.assert_balanced().await;
    }

    async fn handled_event_ids_are_forgotten_after_the_retention(backend) {
        let stripe = StripeFake::start();
        let s = scene(backend, &stripe.url(), 3600).await;
        let (signature, body) = signed_event("evt_kept", "customer.created", &json!({"id": "cus_1"}), WEBHOOK_SECRET, 0);
        s.webhook(Some(&signature), &body).await.expect(200);
        let (purged_now, purged_later) = s.app.with_db(|conn| {
            use community_shares::services::payments::{purge_events, EVENT_RETENTION};
            let now = community_shares::clock::now();
            Ok((purge_events(conn, now)?, purge_events(conn, now + EVENT_RETENTION + chrono::Duration::minutes(1))?))
        }).await;
        assert_eq!((purged_now, purged_later), (0, 1));
        // Forgotten, the event would be handled again (Stripe stops retrying after three days).
        assert_eq!(s.webhook(Some(&signature), &body).await.body["duplicate"], false);
    }

    async fn card_pledges_are_refused_when_stripe_is_not_configured(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, _, offer) = app.open_offer_scene().await;
        let ann = app.investor("ann").await;
        let answer = app.client
            .post(format!("{}/api/v1/offers/{offer}/pledges", app.address))
            .bearer_auth(&ann.access_token)
            .header("Idempotency-Key", "k1")
            .json(&json!({"amount_pence": 10_000, "payment_method": "card", "accept_terms": true}))
            .send().await.unwrap();
        let answer = Answer::read(answer).await;
        answer.expect(422);
        assert_eq!(answer.error_fields(), vec!["payment_method"]);
        assert!(answer.body["errors"][0]["message"].as_str().unwrap().contains("card payments are not configured on this server"));
        let (signature, body) = signed_event("evt_1", "payment_intent.succeeded", &json!({}), WEBHOOK_SECRET, 0);
        let hook = app.client.post(format!("{}/api/v1/webhooks/stripe", app.address))
            .header("Stripe-Signature", signature).header("content-type", "application/json").body(body).send().await.unwrap();
        assert_eq!(hook.status(), 404);
    }
}
