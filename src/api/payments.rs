//! Stripe's webhook, and the refunds an offer's admins see and complete.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::access::OfferManager;
use crate::api::extract;
use crate::api::extract::Query;
use crate::api::idempotent::{run_idempotent, MaybeIdempotencyKey};
use crate::api::problem::Problem;
use crate::error::AppError;
use crate::payments::webhook::{self, Event};
use crate::services::page::{Page, PageRequest};
use crate::services::payments as payment_service;
use crate::services::pledges::PaymentMethod;
use crate::services::refunds::{self, RefundView};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAnswer {
    pub received: bool,
    /// True when this event id was handled before (nothing was changed again).
    pub duplicate: bool,
}

/// How investors may pay on this server.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentMethods {
    /// `bank_transfer` always; `card` when Stripe is configured.
    pub methods: Vec<PaymentMethod>,
    /// Stripe's publishable key for Stripe.js, when card payments are on and it is configured.
    pub stripe_publishable_key: Option<String>,
}

/// The payment methods a pledge may use here (the investor page asks before showing its form).
#[utoipa::path(get, path = "/api/v1/payment-methods", tag = "payments",
    responses((status = 200, body = PaymentMethods)))]
pub async fn payment_methods(state: web::Data<AppState>) -> HttpResponse {
    let mut methods = vec![PaymentMethod::BankTransfer];
    if state.payments.card_enabled() {
        methods.push(PaymentMethod::Card);
    }
    HttpResponse::Ok().json(PaymentMethods {
        methods,
        stripe_publishable_key: stripe_js_key(&state).map(str::to_owned),
    })
}

/// The publishable key a browser gives Stripe.js, when this server takes cards and has one.
pub fn stripe_js_key(state: &AppState) -> Option<&str> {
    state
        .settings
        .stripe
        .publishable_key
        .as_deref()
        .filter(|_| state.payments.card_enabled())
}

/// Stripe's events. The `Stripe-Signature` header is checked over the raw body with the
/// webhook signing secret (timestamp within `stripe.webhook_tolerance_secs`); a missing, bad or
/// stale signature, or a body that is not a Stripe event, is 400 and changes nothing. Each
/// event id is handled once. Acted on: `payment_intent.succeeded` (the pledge becomes paid),
/// `payment_intent.payment_failed` (kept pending, reason recorded), `charge.refunded` (confirms
/// the refund), `charge.dispute.created` (flags the pledge). Every other authentic event,
/// including one of those kinds whose object lacks what is needed, is acknowledged (200) so
/// that Stripe does not retry it. No request can be made valid without the signing secret.
#[utoipa::path(post, path = "/api/v1/webhooks/stripe", tag = "payments",
    params(("Stripe-Signature" = String, Header, description = "`t=<unix time>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\" with the signing secret>`")),
    request_body = Event,
    responses(
        (status = 200, body = WebhookAnswer),
        (status = 400, description = "Bad or stale signature, or a body that is not a Stripe event", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Card payments are not configured on this server", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn stripe_webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    use secrecy::ExposeSecret;
    let settings = &state.settings.stripe;
    let secret = match (&settings.webhook_secret, state.payments.card_enabled()) {
        (Some(secret), true) => secret,
        _ => {
            return Err(AppError::NotFound(
                "Stripe webhook endpoint (card payments are not configured)",
            ))
        }
    };
    let header = req.headers().get("Stripe-Signature").and_then(|v| v.to_str().ok());
    let tolerance = i64::try_from(settings.webhook_tolerance_secs).unwrap_or(i64::MAX);
    webhook::verify(
        header,
        &body,
        secret.expose_secret(),
        chrono::Utc::now().timestamp(),
        tolerance,
    )
    .map_err(|e| AppError::BadRequest {
        detail: format!("the Stripe-Signature is not valid: {e}"),
        errors: vec![crate::error::FieldError::new("Stripe-Signature", e.to_string())],
    })?;
    if !extract::is_json(&req) {
        return Err(AppError::UnsupportedMediaType("a Stripe event is JSON".into()));
    }
    let event: Event = extract::parse_checked(&body, &<Event as utoipa::ToSchema>::name())?;
    let happening = event
        .happening()
        .unwrap_or_else(|reason| webhook::Happening::Untied { reason });
    let event_id = event.id.clone();
    let new = state
        .db
        .write(move |conn| payment_service::handle_event(conn, &event, &happening))
        .await?;
    tracing::info!(event_id, duplicate = !new, "Stripe event handled");
    Ok(HttpResponse::Ok().json(WebhookAnswer {
        received: true,
        duplicate: !new,
    }))
}

/// The one filter of the refund list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundFilter {
    /// Only refunds not yet confirmed (what the treasurer still has to pay back).
    Pending,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RefundQuery {
    /// `pending`, or left out for every refund.
    #[param(inline)]
    status: Option<RefundFilter>,
    /// Items per page (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

/// The offer's refunds, newest first. Bank transfer refunds are instructions for the society's
/// treasurer: pay `amount_pence` back to `payee_name` (the account the payment came from),
/// quoting `payee_reference`, then mark it done.
#[utoipa::path(get, path = "/api/v1/offers/{id}/refunds", tag = "payments", security(("bearer" = ["society_admin", "platform_admin"])),
    params(("id" = String, Path), RefundQuery),
    responses((status = 200, body = Page<RefundView>)))]
pub async fn offer_refunds(
    state: web::Data<AppState>,
    manager: OfferManager,
    query: Query<RefundQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let pending_only = query.status == Some(RefundFilter::Pending);
    let page = PageRequest::new(query.limit, query.cursor)?;
    let offer_id = manager.offer.id;
    let list = state
        .db
        .run(move |conn| refunds::list_for_offer(conn, &offer_id, pending_only, &page))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Marks a bank transfer refund as paid back by the society's treasurer; its ledger transfer
/// is posted. Takes an optional `Idempotency-Key`. A card refund (confirmed by Stripe) or one
/// already done is 409.
#[utoipa::path(post, path = "/api/v1/offers/{id}/refunds/{refund_id}/complete", tag = "payments", security(("bearer" = ["society_admin", "platform_admin"])),
    params(("id" = String, Path), ("refund_id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 200, body = RefundView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A card refund, or already done", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn complete_refund(
    state: web::Data<AppState>,
    manager: OfferManager,
    key: MaybeIdempotencyKey,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (offer_id, refund_id) = path.into_inner();
    let admin = manager.caller.user_id;
    let route = format!("/api/v1/offers/{offer_id}/refunds/{refund_id}/complete");
    let user = admin.clone();
    run_idempotent(&state, None, &user, key, &route, &serde_json::json!({}), move |conn| {
        Ok((200, refunds::complete_bank_refund(conn, &refund_id, &offer_id, &admin)?))
    })
    .await
}
