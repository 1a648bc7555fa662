//! What the outside sends to the endpoints that move money (a pledge, a bank receipt, a bank
//! statement, an approval, a Stripe event), generated at random and structure-aware: never a
//! 5xx, never a write when the answer is a refusal, and the ledger balanced after. (Schemathesis
//! covers every operation from the document; this drives the money endpoints harder, with
//! bodies the document's schemas would not generate: bytes that are not JSON, CSV of any shape,
//! events Stripe could sign.)

use std::time::{Duration, Instant};

use diesel::prelude::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::stripe::{card_payments, signed_event, StripeFake, WEBHOOK_SECRET};
use crate::support::{live_rule, TestApp, TestDatabase, TestUser};

/// Bodies sent to each endpoint.
const CASES: usize = 60;

/// Hostile input is answered in bounded time: an answer later than this is a parser that blew
/// up (quadratic or worse), not a slow day. A body here is read in milliseconds; the limit is
/// far above that so that a machine several times slower than usual still passes.
const HOSTILE_INPUT_LIMIT: Duration = Duration::from_secs(30);

/// Everything a money endpoint may write: the rows of each table, and every ledger account's
/// four balances.
async fn footprint(app: &TestApp) -> Vec<i64> {
    app.with_db(|conn| {
        use community_shares::db::schema::*;
        let balances: Vec<(String, i64, i64, i64, i64)> = ledger_accounts::table
            .select((
                ledger_accounts::id,
                ledger_accounts::debits_pending,
                ledger_accounts::debits_posted,
                ledger_accounts::credits_pending,
                ledger_accounts::credits_posted,
            ))
            .order(ledger_accounts::id)
            .load(conn)?;
        let approved: i64 = match_applications::table
            .filter(match_applications::status.eq("approved"))
            .count()
            .get_result(conn)?;
        let mut footprint = vec![
            pledges::table.count().get_result(conn)?,
            ledger_transfers::table.count().get_result(conn)?,
            bank_receipts::table.count().get_result(conn)?,
            outbox::table.count().get_result(conn)?,
            refunds::table.count().get_result(conn)?,
            stripe_events::table.count().get_result(conn)?,
            card_payments::table.count().get_result(conn)?,
            approved,
        ];
        footprint.extend(balances.into_iter().flat_map(|(_, a, b, c, d)| [a, b, c, d]));
        Ok(footprint)
    })
    .await
}

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        Just(json!("\u{0}")),
        Just(json!(i64::MAX)),
        Just(json!(-1)),
        Just(json!(1e300)),
        Just(json!("CS2345678ABX")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::hash_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A well-formed body with one field replaced by anything, one removed, or one added.
fn mutated(valid: Value) -> impl Strategy<Value = Value> {
    let keys: Vec<String> = valid
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let count = keys.len().max(1);
    (0..count, any_json(), 0..3u8).prop_map(move |(at, replacement, how)| {
        let mut body = valid.clone();
        let key = keys.get(at).cloned().unwrap_or_else(|| "extra".into());
        match (how, body.as_object_mut()) {
            (0, Some(map)) => drop(map.insert(key, replacement)),
            (1, Some(map)) => drop(map.remove(&key)),
            (_, Some(map)) => drop(map.insert(format!("{key}_extra"), replacement)),
            (_, None) => {}
        }
        body
    })
}

/// Raw bodies for a JSON endpoint: bytes, any JSON, or the valid body mutated.
fn json_bodies(valid: Value) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..256),
        1 => any_json().prop_map(|v| v.to_string().into_bytes()),
        3 => mutated(valid).prop_map(|v| v.to_string().into_bytes()),
    ]
}

/// Bank statements: bytes, or CSV with the columns in any order and cells of any text,
/// quoting a real reference now and then.
fn statements(reference: String) -> impl Strategy<Value = Vec<u8>> {
    let cell = prop_oneof![
        "\\PC{0,10}",
        "-?[0-9]{1,9}(\\.[0-9]{1,3})?",
        "[0-9]{1,2}/[0-9]{1,2}/[0-9]{2,4}",
        Just(reference),
    ];
    let table = (
        Just(vec!["date", "reference", "amount", "memo"]).prop_shuffle(),
        proptest::collection::vec(proptest::collection::vec(cell, 0..6), 0..20),
    )
        .prop_map(|(header, rows)| {
            let mut writer = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
            writer.write_record(&header).expect("header");
            for row in rows {
                writer.write_record(&row).expect("row");
            }
            writer.into_inner().expect("CSV")
        });
    prop_oneof![proptest::collection::vec(any::<u8>(), 0..512), table]
}

/// Stripe events of the kinds acted on (and others), with objects of any shape.
fn events() -> impl Strategy<Value = Value> {
    let kind = prop_oneof![
        Just("payment_intent.succeeded"),
        Just("payment_intent.payment_failed"),
        Just("charge.refunded"),
        Just("charge.dispute.created"),
        Just("customer.created"),
    ];
    (kind, "evt_[a-z0-9]{1,12}", any_json())
        .prop_map(|(kind, id, object)| json!({"id": id, "type": kind, "data": {"object": object}}))
}

fn sample<S: Strategy>(runner: &mut TestRunner, strategy: &S) -> S::Value {
    strategy.new_tree(runner).expect("a value").current()
}

struct Target<'a> {
    path: String,
    user: Option<&'a TestUser>,
    content_type: &'static str,
    idempotency_key: bool,
}

/// Sends one body and checks the answer: no 5xx, a problem when refused, and when refused
/// nothing written. Answers the status.
async fn probe(app: &TestApp, target: &Target<'_>, body: Vec<u8>, signature: Option<String>) -> u16 {
    let before = footprint(app).await;
    let mut request = app
        .client
        .post(format!("{}{}", app.address, target.path))
        .header("content-type", target.content_type)
        .body(body.clone());
    if let Some(user) = target.user {
        request = request.bearer_auth(&user.access_token);
    }
    if target.idempotency_key {
        request = request.header("Idempotency-Key", uuid::Uuid::now_v7().to_string());
    }
    if let Some(signature) = signature {
        request = request.header("Stripe-Signature", signature);
    }
    let started = Instant::now();
    let answer = crate::support::Answer::read(request.send().await.expect("answered")).await;
    let shown = String::from_utf8_lossy(&body);
    assert!(
        answer.status < 500,
        "{} answered {} to {shown:?}: {}",
        target.path,
        answer.status,
        answer.text
    );
    assert!(
        started.elapsed() < HOSTILE_INPUT_LIMIT,
        "{} took {:?}",
        target.path,
        started.elapsed()
    );
    if answer.status >= 400 {
        assert_eq!(answer.content_type(), "application/problem+json", "{}", answer.text);
        assert_eq!(
            footprint(app).await,
            before,
            "{} wrote while refusing {shown:?}: {}",
            target.path,
            answer.text
        );
    }
    answer.status
}

/// The statuses one endpoint answered, counted; at least one of them a success, so that the
/// generated bodies reach past the parsers.
fn tally(path: &str, statuses: &[u16]) {
    let mut counts = std::collections::BTreeMap::new();
    for status in statuses {
        *counts.entry(*status).or_insert(0) += 1;
    }
    eprintln!("{path}: {counts:?}");
    assert!(
        statuses.iter().any(|s| (200..300).contains(s)),
        "{path}: no body was accepted: {counts:?}"
    );
}

both_backends! {
    async fn bodies_of_any_shape_at_the_money_endpoints_never_5xx_nor_write_when_refused(backend) {
        let stripe = StripeFake::start();
        let url = stripe.url();
        let app = TestApp::spawn_with(backend, TestDatabase::new(backend).await, move |s| card_payments(s, url)).await;
        let (admin, platform, offer) = app.open_offer_scene().await;
        let investor = app.investor("investor").await;
        let funder_admin = app.user("funder-admin").await;
        let funder = app.funder(&platform, &funder_admin).await;
        let fund = app.fund(&funder_admin, &funder, 1_000_000, live_rule()).await;
        let application = app.apply(&admin, &offer, &fund).await;
        let pending = app.pledge(&investor, &offer, 10_000).await;
        let reference = pending.body["payment"]["bank_reference"].as_str().unwrap_or_default().to_owned();
        let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::deterministic_rng(RngAlgorithm::ChaCha));

        let json_targets = [
            (format!("/api/v1/offers/{offer}/pledges"), &investor,
             json!({"amount_pence": 10_000, "payment_method": "bank_transfer", "accept_terms": true})),
            (format!("/api/v1/offers/{offer}/bank-receipts"), &admin,
             json!({"reference": reference, "amount_pence": 10_000, "received_at": "2026-11-30T12:00:00Z"})),
            (format!("/api/v1/funds/{fund}/applications/{application}/approve"), &funder_admin,
             json!({"commitment_pence": 100_000})),
        ];
        for (path, user, valid) in json_targets {
            let target = Target { path, user: Some(user), content_type: "application/json", idempotency_key: true };
            let strategy = json_bodies(valid.clone());
            // The valid body first, then the generated ones.
            let mut statuses = vec![probe(&app, &target, valid.to_string().into_bytes(), None).await];
            for _ in 0..CASES {
                statuses.push(probe(&app, &target, sample(&mut runner, &strategy), None).await);
            }
            tally(&target.path, &statuses);
        }
        let import = Target {
            path: format!("/api/v1/offers/{offer}/bank-receipts/import"),
            user: Some(&admin),
            content_type: "text/csv",
            idempotency_key: false,
        };
        let strategy = statements(reference);
        let mut statuses = Vec::new();
        for _ in 0..CASES {
            statuses.push(probe(&app, &import, sample(&mut runner, &strategy), None).await);
        }
        tally(&import.path, &statuses);
        let webhook = Target { path: "/api/v1/webhooks/stripe".into(), user: None, content_type: "application/json", idempotency_key: false };
        let strategy = events();
        let mut statuses = Vec::new();
        for case in 0..CASES {
            let event = sample(&mut runner, &strategy);
            let (signature, body) = signed_event(
                event["id"].as_str().unwrap_or("evt"),
                event["type"].as_str().unwrap_or("x"),
                &event["data"]["object"],
                WEBHOOK_SECRET,
                0,
            );
            // Every third event goes with a valid signature of another body, or none.
            let (elsewhere, _) = signed_event("evt_other", "customer.created", &json!({}), WEBHOOK_SECRET, 0);
            let signature = match case % 3 {
                0 => Some(elsewhere),
                1 => None,
                _ => Some(signature),
            };
            statuses.push(probe(&app, &webhook, body.into_bytes(), signature).await);
        }
        tally(&webhook.path, &statuses);
        assert_eq!(app.verify_ledger(&platform).await["balanced"], true);
        drop(stripe);
    }
}
