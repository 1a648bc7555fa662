//! Who may call what: every route of the OpenAPI document × every kind of caller → the status
//! expected. A route in the document without a row (or a row for a route not in it) fails.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::both_backends;
use crate::support::{offer_body, TestApp, TestUser, PASSWORD};

const ROLES: [&str; 7] = [
    "anonymous",
    "investor",
    "other investor",
    "society admin",
    "other society's admin",
    "funder admin",
    "platform admin",
];

/// What `{id}` stands for in a row's path, for the caller of the given role.
type Id = fn(&Ctx, usize) -> String;

fn no_id(_: &Ctx, _: usize) -> String {
    String::new()
}
fn society(ctx: &Ctx, _: usize) -> String {
    ctx.society.clone()
}
fn funder(ctx: &Ctx, _: usize) -> String {
    ctx.funder.clone()
}
fn draft(ctx: &Ctx, _: usize) -> String {
    ctx.draft.clone()
}

struct Row {
    method: &'static str,
    path: &'static str,
    id: Id,
    /// Expected status per role, in the order of `ROLES`.
    expect: [u16; 7],
    body: fn(&Ctx, usize) -> Option<Value>,
    /// Call with a session of its own (for calls that end the session).
    fresh_session: bool,
    special: Special,
}

/// What a row sends besides JSON.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Special {
    None,
    /// A fresh `Idempotency-Key` header.
    IdempotencyKey,
    /// An empty bank statement as `text/csv` instead of the JSON body.
    Csv,
}

struct Ctx {
    /// The caller per role (`None` for anonymous).
    callers: Vec<Option<TestUser>>,
    /// Accounts with no role, one per caller, to be added as admins.
    spares: Vec<TestUser>,
    /// Unused refresh tokens, one per caller.
    refresh_tokens: Vec<String>,
    login_email: String,
    society: String,
    funder: String,
    /// A fund of `funder`, with two pending applications and a draft that has not applied.
    fund: String,
    to_approve: String,
    to_reject: String,
    unapplied_draft: String,
    /// A society of the society admin with no offers (its bank details may change).
    quiet_society: String,
    /// A draft offer of `society`.
    draft: String,
    /// Offers of `society`, one per caller, in the state each action needs.
    drafts_to_submit: Vec<String>,
    drafts_to_cancel: Vec<String>,
    submitted: Vec<String>,
    open: Vec<String>,
    /// An open offer of `society` with pledges.
    pledged_offer: String,
    /// A pending pledge of the investor to `pledged_offer`.
    pledge: String,
    /// References of pending pledges to `pledged_offer`, one per caller.
    references: Vec<String>,
    /// Pending bank refunds of `pledged_offer`, one per caller.
    refunds: Vec<String>,
    /// An open invitation of someone who is none of the callers.
    invitation: String,
}

fn none(_: &Ctx, _: usize) -> Option<Value> {
    None
}

fn rows() -> Vec<Row> {
    const ANY: [u16; 7] = [200; 7];
    vec![
        Row {
            method: "get",
            path: "/health",
            id: no_id,
            expect: ANY,
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/ready",
            id: no_id,
            expect: ANY,
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "post",
            path: "/api/v1/auth/register",
            id: no_id,
            expect: [201; 7],
            fresh_session: false,
            special: Special::None,
            body: |_, role| {
                Some(
                    json!({"email": format!("matrix-new-{role}@example.org"), "password": PASSWORD, "display_name": "New"}),
                )
            },
        },
        Row {
            method: "post",
            path: "/api/v1/auth/login",
            id: no_id,
            expect: ANY,
            fresh_session: false,
            special: Special::None,
            body: |ctx, _| Some(json!({"email": ctx.login_email, "password": PASSWORD})),
        },
        Row {
            method: "post",
            path: "/api/v1/auth/refresh",
            id: no_id,
            expect: ANY,
            fresh_session: false,
            special: Special::None,
            body: |ctx, role| Some(json!({"refresh_token": ctx.refresh_tokens[role]})),
        },
        Row {
            method: "post",
            path: "/api/v1/auth/logout",
            id: no_id,
            expect: [401, 204, 204, 204, 204, 204, 204],
            body: none,
            fresh_session: true,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/me",
            id: no_id,
            expect: [401, 200, 200, 200, 200, 200, 200],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/me/profile",
            id: no_id,
            expect: [401, 200, 200, 200, 200, 200, 200],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "put",
            path: "/api/v1/me/profile",
            id: no_id,
            expect: [401, 200, 200, 200, 200, 200, 200],
            fresh_session: false,
            special: Special::None,
            body: |_, _| {
                Some(json!({
                    "full_name": "Matrix Person", "address_line1": "2 Quay St", "town": "Bristol",
                    "postcode": "BS1 4DJ", "date_of_birth": "1975-06-01",
                }))
            },
        },
        Row {
            method: "post",
            path: "/api/v1/societies",
            id: no_id,
            expect: [401, 201, 201, 201, 201, 201, 201],
            fresh_session: false,
            special: Special::None,
            body: |_, role| {
                Some(json!({
                    "name": "Matrix Society", "kind": "co_operative",
                    "registration_number": format!("MX{role}"), "postcode": "BS1 4DJ",
                }))
            },
        },
        Row {
            method: "get",
            path: "/api/v1/societies/{id}",
            id: society,
            expect: ANY,
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "post",
            path: "/api/v1/societies/{id}/admins",
            id: society,
            expect: [401, 403, 403, 202, 403, 403, 403],
            fresh_session: false,
            special: Special::None,
            body: |ctx, role| Some(json!({"email": ctx.spares[role].email})),
        },
        Row {
            method: "put",
            path: "/api/v1/societies/{id}/bank-details",
            id: |ctx, _| ctx.quiet_society.clone(),
            expect: [401, 403, 403, 200, 403, 403, 403],
            fresh_session: false,
            special: Special::None,
            body: |_, _| Some(json!({"account_name": "Matrix", "sort_code": "123456", "account_number": "12345678"})),
        },
        Row {
            method: "get",
            path: "/api/v1/funders",
            id: no_id,
            expect: [401, 403, 403, 403, 403, 403, 200],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/admin/offers",
            id: no_id,
            expect: [401, 403, 403, 403, 403, 403, 200],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "post",
            path: "/api/v1/funders",
            id: no_id,
            expect: [401, 403, 403, 403, 403, 403, 201],
            fresh_session: false,
            special: Special::None,
            body: |_, _| Some(json!({"name": "Matrix Fund"})),
        },
        // A funder admin's request waits for a second admin (202); the funder has its two first
        // admins, so a platform admin may not add more (403, as the two-person rule says).
        Row {
            method: "post",
            path: "/api/v1/funders/{id}/admins",
            id: funder,
            expect: [401, 403, 403, 403, 403, 202, 403],
            fresh_session: false,
            special: Special::None,
            body: |ctx, role| Some(json!({"email": ctx.spares[role].email})),
        },
        Row {
            method: "get",
            path: "/api/v1/funders/{id}/admins",
            id: funder,
            expect: [401, 403, 403, 403, 403, 200, 200],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/funders/{id}/audit",
            id: funder,
            expect: [401, 403, 403, 403, 403, 200, 200],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/me/invitations",
            id: no_id,
            expect: [401, 200, 200, 200, 200, 200, 200],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        // Only the invitee may answer an invitation: anyone else's is as if there were none.
        Row {
            method: "post",
            path: "/api/v1/me/invitations/{id}/accept",
            id: |ctx, _| ctx.invitation.clone(),
            expect: [401, 404, 404, 404, 404, 404, 404],
            body: |_, _| Some(json!({})),
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "post",
            path: "/api/v1/me/invitations/{id}/decline",
            id: |ctx, _| ctx.invitation.clone(),
            expect: [401, 404, 404, 404, 404, 404, 404],
            body: |_, _| Some(json!({})),
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "post",
            path: "/api/v1/societies/{id}/offers",
            id: society,
            expect: [401, 403, 403, 201, 403, 403, 403],
            fresh_session: false,
            special: Special::None,
            body: |_, _| Some(offer_body()),
        },
        Row {
            method: "get",
            path: "/api/v1/societies/{id}/offers",
            id: society,
            expect: [401, 403, 403, 200, 403, 403, 403],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/offers",
            id: no_id,
            expect: ANY,
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/offers/{id}",
            id: draft,
            expect: [404, 404, 404, 200, 404, 404, 200],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "patch",
            path: "/api/v1/offers/{id}",
            id: draft,
            expect: [401, 404, 404, 200, 404, 404, 403],
            fresh_session: false,
            special: Special::None,
            body: |_, _| Some(json!({"summary": "Edited"})),
        },
        Row {
            method: "post",
            path: "/api/v1/offers/{id}/submit",
            id: |ctx, role| ctx.drafts_to_submit[role].clone(),
            expect: [401, 404, 404, 200, 404, 404, 403],
            body: empty,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "post",
            path: "/api/v1/offers/{id}/approve",
            id: |ctx, role| ctx.submitted[role].clone(),
            expect: [401, 403, 403, 403, 403, 403, 200],
            body: empty,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "post",
            path: "/api/v1/offers/{id}/close",
            id: |ctx, role| ctx.open[role].clone(),
            expect: [401, 403, 403, 403, 403, 403, 200],
            body: empty,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "post",
            path: "/api/v1/offers/{id}/cancel",
            id: |ctx, role| ctx.drafts_to_cancel[role].clone(),
            expect: [401, 404, 404, 200, 404, 404, 200],
            body: empty,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "post",
            path: "/api/v1/offers/{id}/eligibility",
            id: draft,
            expect: [401, 404, 404, 200, 404, 404, 403],
            fresh_session: false,
            special: Special::None,
            body: |_, _| Some(json!({"min_age": 18})),
        },
        Row {
            method: "get",
            path: "/api/v1/offers/{id}/audit",
            id: draft,
            expect: [401, 404, 404, 200, 404, 404, 200],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "post",
            path: "/api/v1/offers/{id}/pledges",
            id: pledged_offer,
            expect: [401, 201, 201, 201, 201, 201, 201],
            fresh_session: false,
            special: Special::IdempotencyKey,
            body: |_, _| Some(json!({"amount_pence": 10_000, "payment_method": "bank_transfer", "accept_terms": true})),
        },
        Row {
            method: "get",
            path: "/api/v1/offers/{id}/pledges",
            id: pledged_offer,
            expect: [401, 403, 403, 200, 403, 403, 200],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/offers/{id}/progress",
            id: pledged_offer,
            expect: [401, 403, 403, 200, 403, 403, 200],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/offers/{id}/match-applications",
            id: pledged_offer,
            expect: [401, 403, 403, 200, 403, 403, 200],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/funds",
            id: no_id,
            expect: ANY,
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "post",
            path: "/api/v1/offers/{id}/bank-receipts",
            id: pledged_offer,
            expect: [401, 403, 403, 201, 403, 403, 201],
            fresh_session: false,
            special: Special::None,
            body: |ctx, role| {
                Some(
                    json!({"reference": ctx.references[role], "amount_pence": 10_000, "received_at": "2026-11-20T12:00:00Z"}),
                )
            },
        },
        Row {
            method: "post",
            path: "/api/v1/offers/{id}/bank-receipts/import",
            id: pledged_offer,
            expect: [401, 403, 403, 200, 403, 403, 200],
            body: none,
            fresh_session: false,
            special: Special::Csv,
        },
        Row {
            method: "get",
            path: "/api/v1/offers/{id}/closeout",
            id: pledged_offer,
            expect: [401, 403, 403, 200, 403, 403, 200],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            // The offer is open: its register is not written yet (409) for those who may see it.
            method: "get",
            path: "/api/v1/offers/{id}/register",
            id: pledged_offer,
            expect: [401, 403, 403, 409, 403, 403, 409],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/me/holdings",
            id: no_id,
            expect: [401, 200, 200, 200, 200, 200, 200],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/offers/{id}/refunds",
            id: pledged_offer,
            expect: [401, 403, 403, 200, 403, 403, 200],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        // Only the society withdraws its application; a draft is hidden from all but its society
        // (404) and platform admins (403); none has this application (404).
        Row {
            method: "post",
            path: "/api/v1/offers/{id}/match-applications/{app_id}/withdraw",
            id: |ctx, _| format!("{}/match-applications/no-such-application", ctx.draft),
            expect: [401, 404, 404, 404, 404, 404, 403],
            body: |_, _| Some(json!({})),
            fresh_session: false,
            special: Special::None,
        },
        // The offer's admins and platform admins reach the receipt (none has this id: 404).
        Row {
            method: "post",
            path: "/api/v1/offers/{id}/bank-receipts/{receipt_id}/confirm",
            id: |ctx, _| format!("{}/bank-receipts/no-such-receipt", ctx.pledged_offer),
            expect: [401, 403, 403, 404, 403, 403, 404],
            body: |_, _| Some(json!({})),
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "post",
            path: "/api/v1/offers/{id}/bank-receipts/{receipt_id}/withdraw",
            id: |ctx, _| format!("{}/bank-receipts/no-such-receipt", ctx.pledged_offer),
            expect: [401, 403, 403, 404, 403, 403, 404],
            body: |_, _| Some(json!({})),
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "post",
            path: "/api/v1/offers/{id}/refunds/{refund_id}/complete",
            id: |ctx, role| format!("{}/refunds/{}", ctx.pledged_offer, ctx.refunds[role]),
            expect: [401, 403, 403, 200, 403, 403, 200],
            body: none,
            fresh_session: false,
            special: Special::IdempotencyKey,
        },
        Row {
            // Stripe is not configured in this test: the endpoint is 404 to everyone. With
            // Stripe configured it needs no token, only a valid signature (tests/api/payments.rs).
            method: "post",
            path: "/api/v1/webhooks/stripe",
            id: no_id,
            expect: [404, 404, 404, 404, 404, 404, 404],
            body: |_, _| Some(json!({"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {}}})),
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/offers/{id}/ledger",
            id: pledged_offer,
            expect: [401, 403, 403, 200, 403, 403, 200],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/pledges/{id}",
            id: |ctx, _| ctx.pledge.clone(),
            expect: [401, 200, 404, 200, 404, 404, 200],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "post",
            path: "/api/v1/pledges/{id}/cancel",
            id: |ctx, _| ctx.pledge.clone(),
            expect: [401, 200, 404, 404, 404, 404, 404],
            body: empty,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/me/pledges",
            id: no_id,
            expect: [401, 200, 200, 200, 200, 200, 200],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/admin/ledger/verify",
            id: no_id,
            expect: [401, 403, 403, 403, 403, 403, 200],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "post",
            path: "/api/v1/funders/{id}/funds",
            id: funder,
            expect: [401, 403, 403, 403, 403, 201, 403],
            fresh_session: false,
            special: Special::None,
            body: |_, _| {
                Some(json!({"name": "Matrix Fund", "budget_pence": 100_000, "rule": crate::support::live_rule()}))
            },
        },
        Row {
            method: "get",
            path: "/api/v1/funds/{id}",
            id: |ctx, _| ctx.fund.clone(),
            expect: ANY,
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        // The public record of match money: anyone, the same answer (the fund has made no
        // award to a public offer, so its open data is 404 for all).
        Row {
            method: "get",
            path: "/api/v1/funds/{id}/public",
            id: |ctx, _| ctx.fund.clone(),
            expect: ANY,
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/funds/{id}/impact",
            id: |ctx, _| ctx.fund.clone(),
            expect: ANY,
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/funders/{id}/impact",
            id: funder,
            expect: ANY,
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/funds/{id}/360giving.json",
            id: |ctx, _| ctx.fund.clone(),
            expect: [404; 7],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/funds/{id}/360giving.csv",
            id: |ctx, _| ctx.fund.clone(),
            expect: [404; 7],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/open-data/360giving.json",
            id: no_id,
            expect: [404; 7],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/open-data/360giving.csv",
            id: no_id,
            expect: [404; 7],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "put",
            path: "/api/v1/funders/{id}/open-data",
            id: funder,
            expect: [401, 403, 403, 403, 403, 204, 403],
            body: |_, _| Some(json!({"organisation_id": "GB-LAE-STO", "website": null, "licence_url": null})),
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "put",
            path: "/api/v1/funders/{id}/witness",
            id: funder,
            expect: [401, 403, 403, 403, 403, 204, 403],
            body: |_, _| {
                let key = community_shares::transparency::keys::WitnessKey::generate("matrix.example/witness");
                Some(json!({"key": key.expect("a key").vkey()}))
            },
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/transparency/checkpoint",
            id: no_id,
            expect: ANY,
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/transparency/entries",
            id: no_id,
            expect: ANY,
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/transparency/entries/{index}/inclusion",
            id: no_id,
            expect: ANY,
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/transparency/consistency",
            id: no_id,
            expect: [400; 7],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/transparency/export",
            id: no_id,
            expect: ANY,
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "post",
            path: "/api/v1/transparency/cosignatures",
            id: no_id,
            expect: [422; 7],
            body: |_, _| Some(json!({"checkpoint": "not a checkpoint"})),
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/offers/{id}/match-funders",
            id: draft,
            expect: [404, 404, 404, 200, 404, 404, 200],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/payment-methods",
            id: no_id,
            expect: ANY,
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "post",
            path: "/api/v1/offers/{id}/match-applications",
            id: |ctx, _| ctx.unapplied_draft.clone(),
            expect: [401, 404, 404, 201, 404, 404, 403],
            fresh_session: false,
            special: Special::None,
            body: |ctx, _| Some(json!({"fund_id": ctx.fund})),
        },
        Row {
            method: "get",
            path: "/api/v1/funds/{id}/applications",
            id: |ctx, _| ctx.fund.clone(),
            expect: [401, 403, 403, 403, 403, 200, 403],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "post",
            path: "/api/v1/funds/{id}/applications/{app_id}/approve",
            id: |ctx, _| format!("{}/applications/{}", ctx.fund, ctx.to_approve),
            expect: [401, 403, 403, 403, 403, 200, 403],
            fresh_session: false,
            special: Special::None,
            body: |_, _| Some(json!({"commitment_pence": 100_000})),
        },
        Row {
            method: "post",
            path: "/api/v1/funds/{id}/applications/{app_id}/reject",
            id: |ctx, _| format!("{}/applications/{}", ctx.fund, ctx.to_reject),
            expect: [401, 403, 403, 403, 403, 200, 403],
            fresh_session: false,
            special: Special::None,
            body: |_, _| Some(json!({"reason": "no"})),
        },
        // Confirming or declining needs an approval awaiting: the rejected one has none (409).
        Row {
            method: "post",
            path: "/api/v1/funds/{id}/applications/{app_id}/confirm",
            id: |ctx, _| format!("{}/applications/{}", ctx.fund, ctx.to_reject),
            expect: [401, 403, 403, 403, 403, 409, 403],
            fresh_session: false,
            special: Special::None,
            body: none,
        },
        Row {
            method: "post",
            path: "/api/v1/funds/{id}/applications/{app_id}/decline",
            id: |ctx, _| format!("{}/applications/{}", ctx.fund, ctx.to_reject),
            expect: [401, 403, 403, 403, 403, 409, 403],
            fresh_session: false,
            special: Special::None,
            body: |_, _| Some(json!({"reason": "no"})),
        },
        Row {
            method: "put",
            path: "/api/v1/funds/{id}/second-approval",
            id: |ctx, _| ctx.fund.clone(),
            expect: [401, 403, 403, 403, 403, 200, 403],
            fresh_session: false,
            special: Special::None,
            body: |_, _| Some(json!({"threshold_pence": null})),
        },
        Row {
            method: "post",
            path: "/api/v1/funds/{id}/simulate",
            id: |ctx, _| ctx.fund.clone(),
            expect: [401, 403, 403, 403, 403, 200, 403],
            fresh_session: false,
            special: Special::None,
            body: |ctx, _| Some(json!({"offer_id": ctx.pledged_offer})),
        },
        Row {
            method: "get",
            path: "/api/v1/admin/outbox",
            id: no_id,
            expect: [401, 403, 403, 403, 403, 403, 200],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            // No such email: a platform admin gets past the access rule to the 404.
            method: "post",
            path: "/api/v1/admin/outbox/{id}/retry",
            id: |_, _| "no-such-email".into(),
            expect: [401, 403, 403, 403, 403, 403, 404],
            body: empty,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "get",
            path: "/api/v1/me/email-preferences",
            id: no_id,
            expect: [401, 200, 200, 200, 200, 200, 200],
            body: none,
            fresh_session: false,
            special: Special::None,
        },
        Row {
            method: "put",
            path: "/api/v1/me/email-preferences",
            id: no_id,
            expect: [401, 200, 200, 200, 200, 200, 200],
            fresh_session: false,
            special: Special::None,
            body: |_, _| Some(json!({"closing_reminders": true})),
        },
    ]
}

fn pledged_offer(ctx: &Ctx, _: usize) -> String {
    ctx.pledged_offer.clone()
}

fn empty(_: &Ctx, _: usize) -> Option<Value> {
    Some(json!({}))
}

async fn context(app: &TestApp) -> Ctx {
    let investor = app.user("investor").await;
    let other_investor = app.user("other-investor").await;
    let society_admin = app.user("society-admin").await;
    let other_society_admin = app.user("other-society-admin").await;
    let funder_admin = app.user("funder-admin").await;
    let platform_admin = app.platform_admin().await;
    let society = app.society(&society_admin).await;
    app.bank_details(&society_admin, &society).await;
    app.society(&other_society_admin).await;
    let funder = app.funder(&platform_admin, &funder_admin).await;
    let mut spares = Vec::new();
    for _ in ROLES {
        spares.push(app.user("spare").await);
    }
    let login_user = app.user("login").await;
    let mut refresh_tokens = Vec::new();
    for _ in ROLES {
        refresh_tokens.push(app.login(&login_user.email, PASSWORD).await.refresh_token);
    }
    let draft = app.draft_offer(&society_admin, &society, &offer_body()).await;
    let (mut drafts_to_submit, mut drafts_to_cancel, mut submitted, mut open) = (vec![], vec![], vec![], vec![]);
    for _ in ROLES {
        drafts_to_submit.push(app.draft_offer(&society_admin, &society, &offer_body()).await);
        drafts_to_cancel.push(app.draft_offer(&society_admin, &society, &offer_body()).await);
        let id = app.draft_offer(&society_admin, &society, &offer_body()).await;
        app.post(
            &format!("/api/v1/offers/{id}/submit"),
            Some(&society_admin.access_token),
            &json!({}),
        )
        .await
        .expect(200);
        submitted.push(id);
        open.push(app.open_offer(&society_admin, &platform_admin, &society).await);
    }
    // Everyone may pledge: complete every caller's profile.
    for user in [
        &investor,
        &other_investor,
        &society_admin,
        &other_society_admin,
        &funder_admin,
        &platform_admin,
    ] {
        app.put(
            "/api/v1/me/profile",
            Some(&user.access_token),
            &json!({"full_name": "M", "address_line1": "1 St", "town": "T", "postcode": "BS1 4DJ", "date_of_birth": "1970-01-01"}),
        )
        .await
        .expect(200);
    }
    let pledged_offer = app.open_offer(&society_admin, &platform_admin, &society).await;
    let pledge = app.pledge(&investor, &pledged_offer, 10_000).await;
    pledge.expect(201);
    let pledge = pledge.body["id"].as_str().expect("pledge id").to_owned();
    let mut references = Vec::new();
    for _ in ROLES {
        let payer = app.investor("payer").await;
        let answer = app.pledge(&payer, &pledged_offer, 10_000).await;
        answer.expect(201);
        references.push(
            answer.body["payment"]["bank_reference"]
                .as_str()
                .expect("reference")
                .to_owned(),
        );
    }
    let mut refunds = Vec::new();
    for _ in ROLES {
        let payer = app.investor("refunded").await;
        let answer = app.pledge(&payer, &pledged_offer, 10_000).await;
        answer.expect(201);
        let id = answer.body["id"].as_str().expect("pledge id").to_owned();
        app.post(
            &format!("/api/v1/offers/{pledged_offer}/bank-receipts"),
            Some(&society_admin.access_token),
            &json!({"reference": answer.body["payment"]["bank_reference"], "amount_pence": 10_000, "received_at": "2026-11-20T12:00:00Z"}),
        )
        .await
        .expect(201);
        let cancelled = app
            .post(
                &format!("/api/v1/pledges/{id}/cancel"),
                Some(&payer.access_token),
                &json!({}),
            )
            .await;
        cancelled.expect(200);
        refunds.push(cancelled.body["refund"]["id"].as_str().expect("refund id").to_owned());
    }
    let quiet_society = app.society(&society_admin).await;
    let invitee = app.user("invitee").await;
    let invited = app
        .post(
            &format!("/api/v1/societies/{quiet_society}/admins"),
            Some(&society_admin.access_token),
            &json!({"email": invitee.email}),
        )
        .await;
    invited.expect(202);
    let invitation = invited.body["invitation_id"]
        .as_str()
        .expect("invitation id")
        .to_owned();
    let fund = app
        .fund(&funder_admin, &funder, 10_000_000, crate::support::live_rule())
        .await;
    let to_approve = app.apply(&society_admin, &drafts_to_submit[0], &fund).await;
    let to_reject = app.apply(&society_admin, &drafts_to_submit[1], &fund).await;
    let unapplied_draft = app.draft_offer(&society_admin, &society, &offer_body()).await;
    // The fund's budget is public money: wait for the log's first checkpoint.
    let deadline = crate::support::patience::deadline();
    while app.get("/api/v1/transparency/checkpoint", None).await.status != 200 {
        assert!(std::time::Instant::now() < deadline, "no transparency checkpoint");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ctx {
        invitation,
        fund,
        to_approve,
        to_reject,
        unapplied_draft,
        quiet_society,
        pledged_offer,
        pledge,
        references,
        refunds,
        draft,
        drafts_to_submit,
        drafts_to_cancel,
        submitted,
        open,
        callers: vec![
            None,
            Some(investor),
            Some(other_investor),
            Some(society_admin),
            Some(other_society_admin),
            Some(funder_admin),
            Some(platform_admin),
        ],
        spares,
        refresh_tokens,
        login_email: login_user.email,
        society,
        funder,
    }
}

both_backends! {
    async fn every_route_answers_each_kind_of_caller_as_declared(backend) {
        let app = TestApp::spawn(backend).await;
        let document = app.get("/api/v1/openapi.json", None).await.body;
        let documented: BTreeSet<(String, String)> = document["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .into_iter()
                    .flat_map(|ops| ops.keys())
                    .filter(|m| ["get", "put", "post", "patch", "delete"].contains(&m.as_str()))
                    .map(move |method| (method.clone(), path.clone()))
            })
            .collect();
        let rows = rows();
        let covered: BTreeSet<(String, String)> = rows.iter().map(|r| (r.method.to_owned(), r.path.to_owned())).collect();
        let missing: Vec<_> = documented.difference(&covered).collect();
        let stale: Vec<_> = covered.difference(&documented).collect();
        assert!(missing.is_empty(), "routes in the OpenAPI document with no access row: {missing:?}");
        assert!(stale.is_empty(), "access rows for routes not in the OpenAPI document: {stale:?}");
        // Every status of the matrix is documented for its route (403 among them where a route
        // names the roles it needs).
        for row in &rows {
            let operation = &document["paths"][row.path][row.method];
            for status in &row.expect {
                assert!(
                    operation["responses"].get(status.to_string()).is_some(),
                    "{} {} answers {status} but does not document it",
                    row.method,
                    row.path
                );
            }
        }

        let ctx = context(&app).await;
        let mut failures = Vec::new();
        for row in &rows {
            for (role, name) in ROLES.iter().enumerate() {
                let path = row
                    .path
                    .replace("{id}/applications/{app_id}", "{id}")
                    .replace("{id}/refunds/{refund_id}", "{id}")
                    .replace("{id}/bank-receipts/{receipt_id}", "{id}")
                    .replace("{id}/match-applications/{app_id}", "{id}")
                    .replace("{index}", "0")
                    .replace("{id}", &(row.id)(&ctx, role));
                let token = match (&ctx.callers[role], row.fresh_session) {
                    (None, _) => None,
                    (Some(user), true) => Some(app.login(&user.email, PASSWORD).await.access_token),
                    (Some(user), false) => Some(user.access_token.clone()),
                };
                let method: reqwest::Method = row.method.to_uppercase().parse().expect("method");
                let mut request = app.client.request(method, format!("{}{path}", app.address));
                if let Some(token) = &token {
                    request = request.bearer_auth(token);
                }
                request = match row.special {
                    Special::Csv => request.header("content-type", "text/csv").body("date,reference,amount\n"),
                    Special::IdempotencyKey => request.header("Idempotency-Key", uuid::Uuid::now_v7().to_string()),
                    Special::None => request,
                };
                if let (Some(body), false) = ((row.body)(&ctx, role), row.special == Special::Csv) {
                    request = request.json(&body);
                }
                let answer = crate::support::Answer::read(request.send().await.expect("request sent")).await;
                if answer.status != row.expect[role] {
                    failures.push(format!(
                        "{} {} as {name}: expected {}, got {} {}",
                        row.method, row.path, row.expect[role], answer.status, answer.text
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "access matrix mismatches:\n{}", failures.join("\n"));
    }
}
