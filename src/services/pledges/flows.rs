//! The pledge requests that have work to do after their transaction commits: a card pledge's
//! Stripe PaymentIntent, and the card refund of a paid pledge cancelled in its cooling-off
//! period. Stripe is called after the commit and outside any transaction; when it cannot be
//! reached, the reconciliation job finishes the work.

use chrono::Duration;
use diesel::prelude::*;

use super::view::{get_for, PledgeView};
use super::{cancel, create, NewPledge, PaymentMethod, PledgePolicy};
use crate::db::schema::{pledges, refunds};
use crate::db::Db;
use crate::error::AppError;
use crate::payments::Payments;
use crate::services::idempotency::{self, Request, StoredResponse};
use crate::services::payments as payment_service;
use crate::services::refunds::RefundReason;

/// Makes a pledge once per Idempotency-Key, queued at the offer's row, then, for a card pledge,
/// its PaymentIntent (made, or found on a repeat). Answers the stored answer (201), with the
/// card's `payment.client_secret` added: the secret is never stored. 503 when Stripe cannot be
/// reached (the pledge stays pending; the same request again answers it).
pub async fn pledge(
    db: &Db,
    payments: &Payments,
    request: Request,
    offer_id: String,
    new: NewPledge,
    policy: PledgePolicy,
) -> Result<StoredResponse, AppError> {
    let card = new.payment_method == PaymentMethod::Card;
    let investor = request.user_id.clone();
    let row = format!("offer:{offer_id}");
    let mut stored = idempotency::run(db, request, Some(&row), move |conn| {
        Ok((201, create(conn, &investor, &offer_id, &new, policy)?))
    })
    .await?;
    if card && stored.status == 201 {
        stored.body = with_client_secret(db, payments, &stored.body).await?;
    }
    Ok(stored)
}

/// The stored answer to a card pledge with its PaymentIntent's client secret in
/// `payment.client_secret`.
async fn with_client_secret(db: &Db, payments: &Payments, stored: &str) -> Result<String, AppError> {
    let mut answer: serde_json::Value = serde_json::from_str(stored)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored pledge answer unreadable: {e}")))?;
    let pledge_id = answer["id"].as_str().unwrap_or_default().to_owned();
    let secret = payment_service::ensure_intent(db, payments, &pledge_id).await?;
    answer["payment"]["client_secret"] = serde_json::json!(secret);
    Ok(answer.to_string())
}

/// Who asks for a pledge (what they may see of it).
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user_id: String,
    pub is_platform_admin: bool,
}

/// The investor cancels their pledge, once per Idempotency-Key. A card refund it starts is
/// sent to Stripe after the commit (a failure is logged: the reconciliation job sends it
/// `retry_after` later). Answers the pledge as it is now, and whether this was a repeat.
pub async fn cancel_once(
    db: &Db,
    payments: &Payments,
    request: Request,
    pledge_id: String,
    viewer: Viewer,
    retry_after: Duration,
) -> Result<(PledgeView, bool), AppError> {
    let investor = request.user_id.clone();
    // Queued at the pledge's offer with its other pledges (a cancel moves the offer's totals);
    // an unknown pledge is answered 404 by the work itself.
    let id = pledge_id.clone();
    let offer: Option<String> = db
        .run(move |conn| {
            Ok(pledges::table
                .find(&id)
                .select(pledges::offer_id)
                .first(conn)
                .optional()?)
        })
        .await?;
    let row = offer.map(|offer| format!("offer:{offer}"));
    let id = pledge_id.clone();
    let stored = idempotency::run(db, request, row.as_deref(), move |conn| {
        Ok((200, cancel(conn, &id, &investor)?.0))
    })
    .await?;
    let id = pledge_id.clone();
    let refund: Option<String> = db
        .run(move |conn| {
            Ok(refunds::table
                .filter(refunds::pledge_id.eq(&id))
                .filter(refunds::method.eq(PaymentMethod::Card))
                .filter(refunds::status.eq("pending"))
                .filter(refunds::reason.eq(RefundReason::Cancelled.as_str()))
                .select(refunds::id)
                .first(conn)
                .optional()?)
        })
        .await?;
    if let Some(refund_id) = refund {
        if let Err(e) = payment_service::send_refund(db, payments, &refund_id, retry_after).await {
            tracing::warn!(%refund_id, error = %e, "card refund not sent yet; the reconciliation job retries");
        }
    }
    let pledge = db
        .run(move |conn| get_for(conn, &pledge_id, &viewer.user_id, viewer.is_platform_admin))
        .await?;
    Ok((pledge, stored.replayed))
}
