//! Card payments and refunds around the ledger: what Stripe's answers and events mean for
//! pledges. Provider calls happen outside transactions (`ensure_intent`, `send_refund`,
//! `reconcile`); each answer is then applied in a short write transaction that checks the state
//! it changes (a conditional update), so a repeat, a redelivered event or two instances racing
//! change nothing twice.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::clock;
use crate::db::schema::{card_payments, offers, pledges, refunds, stripe_events};
use crate::db::{Db, DbConnection};
use crate::domain::money::Pence;
use crate::error::AppError;
use crate::payments::webhook::{Event, Happening};
use crate::payments::{
    PaymentRequest, PaymentStart, PaymentState, Payments, ProviderError, RefundRequest, RefundState,
};
use crate::services::offers as offer_service;
use crate::services::outside;
use crate::services::pledges::{self as pledge_service, PaymentMethod, PledgeStatus};
use crate::services::refunds as refund_service;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = card_payments)]
pub struct CardRow {
    pub pledge_id: String,
    pub payment_intent_id: Option<String>,
    pub client_secret: Option<String>,
    pub stripe_status: String,
    pub failure_reason: Option<String>,
    pub flag: Option<String>,
    pub flagged_at: Option<NaiveDateTime>,
    pub check_after: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// What Stripe last said has been refunded of the charge, by anyone.
    pub provider_refunded_pence: i64,
    pub dispute_id: Option<String>,
    /// `open`, `won` or `lost`; none when never disputed.
    pub dispute_status: Option<String>,
    pub disputed_pence: i64,
}

/// Writes a card pledge's payment row (in the pledge's transaction).
pub fn insert_card_payment(
    conn: &mut DbConnection,
    pledge_id: &str,
    now: NaiveDateTime,
    check_after: NaiveDateTime,
) -> Result<CardRow, AppError> {
    let row = CardRow {
        pledge_id: pledge_id.to_owned(),
        payment_intent_id: None,
        client_secret: None,
        stripe_status: "creating".into(),
        failure_reason: None,
        flag: None,
        flagged_at: None,
        check_after,
        created_at: now,
        updated_at: now,
        provider_refunded_pence: 0,
        dispute_id: None,
        dispute_status: None,
        disputed_pence: 0,
    };
    diesel::insert_into(card_payments::table)
        .values((
            card_payments::pledge_id.eq(&row.pledge_id),
            card_payments::stripe_status.eq(&row.stripe_status),
            card_payments::check_after.eq(row.check_after),
            card_payments::created_at.eq(now),
            card_payments::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(row)
}

pub fn card_payments_of(conn: &mut DbConnection, pledge_ids: &[&str]) -> Result<HashMap<String, CardRow>, AppError> {
    let rows: Vec<CardRow> = card_payments::table
        .filter(card_payments::pledge_id.eq_any(pledge_ids))
        .select(CardRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.pledge_id.clone(), r)).collect())
}

fn card_of(conn: &mut DbConnection, pledge_id: &str) -> Result<Option<CardRow>, AppError> {
    Ok(card_payments_of(conn, &[pledge_id])?.remove(pledge_id))
}

fn provider_error(error: ProviderError, pledge_id: &str) -> AppError {
    match error {
        ProviderError::Unavailable(cause) => {
            tracing::warn!(pledge_id, %cause, "Stripe unavailable while starting a card payment");
            AppError::PaymentProvider {
                detail: format!(
                    "card payments are unavailable right now, so the payment form could not be prepared. Your \
                     pledge {pledge_id} is recorded and holds its shares until its payment deadline: repeat this \
                     request with the same Idempotency-Key (or open the pledge) in a minute to pay."
                ),
                refused: false,
            }
        }
        ProviderError::Refused(cause) => {
            tracing::error!(pledge_id, %cause, "Stripe refused to start a card payment");
            AppError::PaymentProvider {
                detail: format!(
                    "the card payment provider refused to start the payment for pledge {pledge_id}; cancel the \
                     pledge and pledge again by bank transfer, or contact the society"
                ),
                refused: true,
            }
        }
    }
}

/// Makes sure a card pledge has its PaymentIntent, creating it in Stripe if needed (with an
/// idempotency key from the pledge id, so a retry never makes a second charge), and returns its
/// client secret. Nothing for a pledge no longer awaiting payment. Stripe unavailable: a 503
/// problem; the pledge stays pending and the reconciliation job creates the intent later.
pub async fn ensure_intent(db: &Db, payments: &Payments, pledge_id: &str) -> Result<Option<String>, AppError> {
    let id = pledge_id.to_owned();
    let (card, pledge, title) = db
        .run(move |conn| {
            let pledge = pledge_service::get(conn, &id)?;
            let card = card_of(conn, &id)?;
            let title: String = offers::table.find(&pledge.offer_id).select(offers::title).first(conn)?;
            Ok((card, pledge, title))
        })
        .await?;
    let Some(card) = card else { return Ok(None) };
    if pledge.status != PledgeStatus::Pending {
        return Ok(None);
    }
    if card.client_secret.is_some() {
        return Ok(card.client_secret);
    }
    let description = format!("Shares in {title}");
    let request = PaymentRequest {
        pledge_id,
        amount: Pence::new(pledge.amount_pence),
        description: &description,
    };
    let provider = payments.provider(PaymentMethod::Card)?;
    let start = provider
        .create_payment(&request)
        .await
        .map_err(|e| provider_error(e, pledge_id))?;
    let PaymentStart::Card(intent) = start else {
        return Err(AppError::Internal(anyhow::anyhow!(
            "the card provider answered a bank transfer"
        )));
    };
    let id = pledge_id.to_owned();
    db.write(move |conn| {
        // Only the first intent stored counts (with Stripe's idempotency there is only one).
        diesel::update(
            card_payments::table
                .filter(card_payments::pledge_id.eq(&id))
                .filter(card_payments::payment_intent_id.is_null()),
        )
        .set((
            card_payments::payment_intent_id.eq(&intent.intent_id),
            card_payments::client_secret.eq(&intent.client_secret),
            card_payments::stripe_status.eq(status_text(&intent.state)),
            card_payments::updated_at.eq(clock::now()),
        ))
        .execute(conn)?;
        Ok(card_of(conn, &id)?.and_then(|c| c.client_secret))
    })
    .await
}

fn status_text(state: &PaymentState) -> String {
    match state {
        PaymentState::Succeeded { .. } => "succeeded".into(),
        PaymentState::AwaitingPayer { status, .. } | PaymentState::Processing { status } => status.clone(),
        PaymentState::Canceled => "canceled".into(),
        PaymentState::AwaitingTransfer => "awaiting_transfer".into(),
    }
}

/// The card payment row of an intent; when this platform never stored the intent's id (a crash
/// between Stripe's answer and the write), the pledge named in its metadata adopts it.
fn card_for_intent(
    conn: &mut DbConnection,
    intent_id: &str,
    pledge_hint: Option<&str>,
) -> Result<Option<CardRow>, AppError> {
    let found = card_payments::table
        .filter(card_payments::payment_intent_id.eq(intent_id))
        .select(CardRow::as_select())
        .first(conn)
        .optional()?;
    if found.is_some() {
        return Ok(found);
    }
    let Some(pledge_id) = pledge_hint else { return Ok(None) };
    diesel::update(
        card_payments::table
            .filter(card_payments::pledge_id.eq(pledge_id))
            .filter(card_payments::payment_intent_id.is_null()),
    )
    .set((
        card_payments::payment_intent_id.eq(intent_id),
        card_payments::updated_at.eq(clock::now()),
    ))
    .execute(conn)?;
    Ok(card_payments::table
        .filter(card_payments::payment_intent_id.eq(intent_id))
        .select(CardRow::as_select())
        .first(conn)
        .optional()?)
}

fn set_card_status(
    conn: &mut DbConnection,
    pledge_id: &str,
    status: &str,
    failure: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    diesel::update(card_payments::table.find(pledge_id))
        .set((
            card_payments::stripe_status.eq(status),
            card_payments::updated_at.eq(now),
        ))
        .execute(conn)?;
    if let Some(reason) = failure {
        diesel::update(card_payments::table.find(pledge_id))
            .set(card_payments::failure_reason.eq(reason))
            .execute(conn)?;
    }
    Ok(())
}

/// What applying a payment's success did.
#[derive(Debug, Clone)]
pub enum Settled {
    /// The pledge became paid.
    Paid,
    /// It was paid already (a repeat).
    AlreadyPaid,
    /// Stripe reports another amount than the pledge's: flagged for people, not paid.
    AmountFlagged,
    /// The pledge had ended: the money is being refunded (this refund).
    RefundStarted(String),
    /// Not a payment of this platform.
    Unknown,
}

/// A card payment succeeded: its pending pledge becomes paid. Call in a write transaction.
pub fn settle_success(
    conn: &mut DbConnection,
    intent_id: &str,
    pledge_hint: Option<&str>,
    amount: Pence,
    now: NaiveDateTime,
) -> Result<Settled, AppError> {
    let Some(card) = card_for_intent(conn, intent_id, pledge_hint)? else {
        tracing::warn!(intent_id, "a succeeded payment intent that no pledge knows");
        return Ok(Settled::Unknown);
    };
    let row = pledge_service::get(conn, &card.pledge_id)?;
    offer_service::lock(conn, &row.offer_id, now)?;
    let row = pledge_service::get(conn, &card.pledge_id)?;
    set_card_status(conn, &row.id, "succeeded", None, now)?;
    if amount.get() != row.amount_pence {
        // Stripe charged what this platform asked; a difference is for people to look at.
        outside::flag(
            conn,
            &row.id,
            &format!(
                "Stripe reports {amount} paid for a pledge of {}",
                Pence::new(row.amount_pence)
            ),
            now,
        )?;
        tracing::error!(pledge_id = %row.id, intent_id, "card payment amount differs from the pledge");
        return Ok(Settled::AmountFlagged);
    }
    match row.status {
        PledgeStatus::Pending => {
            pledge_service::mark_paid(conn, &row, now, &format!("stripe:{intent_id}"), now)?;
            Ok(Settled::Paid)
        }
        PledgeStatus::Cancelled | PledgeStatus::Expired => Ok(Settled::RefundStarted(
            refund_service::refund_late_payment(conn, &row, now)?.id,
        )),
        PledgeStatus::Paid | PledgeStatus::Allocated | PledgeStatus::Refunded => Ok(Settled::AlreadyPaid),
    }
}

/// A card payment is not (yet) final: its Stripe status is kept, with the reason of a failed
/// attempt; the pledge stays pending (the investor may try again). Out of date (the payment
/// succeeded meanwhile), it changes nothing.
pub fn record_status(
    conn: &mut DbConnection,
    intent_id: &str,
    pledge_hint: Option<&str>,
    status: &str,
    reason: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let Some(card) = card_for_intent(conn, intent_id, pledge_hint)? else {
        return Ok(());
    };
    if card.stripe_status == "succeeded" {
        return Ok(());
    }
    set_card_status(conn, &card.pledge_id, status, reason, now)
}

/// Handles a verified Stripe event once: the event id is recorded in the same transaction as
/// its effect, so a redelivery (even a concurrent one) finds it and changes nothing. Returns
/// whether it was new.
pub fn handle_event(conn: &mut DbConnection, event: &Event, happening: &Happening) -> Result<bool, AppError> {
    let now = clock::now();
    let row = (
        stripe_events::id.eq(&event.id),
        stripe_events::event_type.eq(&event.kind),
        stripe_events::received_at.eq(now),
    );
    // Upserts do not go through the MultiConnection enum: one branch per backend. Only a
    // known event id is skipped.
    let inserted = match conn {
        DbConnection::Postgresql(pg) => diesel::insert_into(stripe_events::table)
            .values(row)
            .on_conflict(stripe_events::id)
            .do_nothing()
            .execute(pg)?,
        DbConnection::Sqlite(lite) => diesel::insert_into(stripe_events::table)
            .values(row)
            .on_conflict(stripe_events::id)
            .do_nothing()
            .execute(lite)?,
    };
    if inserted == 0 {
        return Ok(false);
    }
    match happening {
        Happening::PaymentSucceeded {
            intent_id,
            pledge_id,
            amount,
            currency,
        } => {
            if !currency.eq_ignore_ascii_case("gbp") {
                tracing::error!(intent_id, currency, "a card payment in another currency; ignored");
                return Ok(true);
            }
            settle_success(conn, intent_id, pledge_id.as_deref(), *amount, now)?;
        }
        Happening::PaymentFailed {
            intent_id,
            pledge_id,
            reason,
        } => record_status(
            conn,
            intent_id,
            pledge_id.as_deref(),
            "requires_payment_method",
            reason.as_deref(),
            now,
        )?,
        Happening::ChargeRefunded {
            intent_id,
            amount_refunded,
        } => match card_for_intent(conn, intent_id, None)? {
            Some(card) => outside::charge_refunded(conn, &card.pledge_id, *amount_refunded, now)?,
            None => untied(event, "a refund of a charge no pledge knows"),
        },
        Happening::DisputeOpened {
            intent_id,
            dispute_id,
            amount,
            reason,
        } => match card_for_intent(conn, intent_id, None)? {
            Some(card) => outside::dispute_opened(conn, &card.pledge_id, dispute_id, *amount, reason, now)?,
            None => untied(event, "a dispute of a charge no pledge knows"),
        },
        Happening::DisputeClosed {
            intent_id,
            dispute_id,
            amount,
            lost,
        } => match card_for_intent(conn, intent_id, None)? {
            Some(card) => outside::dispute_closed(conn, &card.pledge_id, dispute_id, *amount, *lost, now)?,
            None => untied(event, "a dispute of a charge no pledge knows"),
        },
        Happening::Untied { reason } => untied(event, reason),
        Happening::Other => {
            tracing::info!(event_id = %event.id, event_type = %event.kind, "Stripe event of a kind not used here")
        }
    }
    Ok(true)
}

/// An authentic event that cannot be tied to a pledge: acknowledged and recorded, so that
/// Stripe does not retry it for days; logged for anyone who wants to look in the Dashboard.
fn untied(event: &Event, reason: &str) {
    tracing::info!(event_id = %event.id, event_type = %event.kind, reason, "Stripe event not tied to a pledge");
}

/// How long handled Stripe event ids are kept for de-duplication. Stripe retries an event for
/// up to three days; a month is ample.
pub const EVENT_RETENTION: Duration = Duration::days(30);

/// Housekeeping: forgets handled Stripe event ids older than `EVENT_RETENTION`.
pub fn purge_events(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, AppError> {
    use crate::db::schema::stripe_events;
    Ok(
        diesel::delete(stripe_events::table.filter(stripe_events::received_at.lt(now - EVENT_RETENTION)))
            .execute(conn)?,
    )
}

/// Sends a card refund to Stripe (or asks about one sent before) and applies the answer. Bank
/// refunds wait for the treasurer: nothing to send. The caller that moves the refund's
/// `check_after` on from the value it read is the one that sends (so concurrent callers, or
/// instances, send it once); the refund also carries an idempotency key from the pledge, and
/// confirming is a conditional update.
pub async fn send_refund(db: &Db, payments: &Payments, refund_id: &str, retry_after: Duration) -> Result<(), AppError> {
    let id = refund_id.to_owned();
    let claimed = db
        .write(move |conn| {
            let refund = refund_service::get(conn, &id)?;
            if refund.status == "succeeded" || refund.method != PaymentMethod::Card {
                return Ok(None);
            }
            if !claim(conn, ClaimTable::Refund, &id, retry_after)? {
                return Ok(None);
            }
            let card = card_of(conn, &refund.pledge_id)?;
            Ok(Some((refund, card)))
        })
        .await?;
    let Some((refund, card)) = claimed else {
        return Ok(());
    };
    let provider = payments.provider(refund.method)?;
    let answer = match &refund.stripe_refund_id {
        Some(provider_id) => provider.refund_state(provider_id).await,
        None => {
            provider
                .refund(&RefundRequest {
                    refund_id: &refund.id,
                    pledge_id: &refund.pledge_id,
                    whole_payment: refund_service::is_whole_payment(&refund),
                    amount: Pence::new(refund.amount_pence),
                    payment_id: card.as_ref().and_then(|c| c.payment_intent_id.as_deref()),
                })
                .await
        }
    };
    let next = clock::now() + retry_after;
    db.write(move |conn| {
        let now = clock::now();
        match answer.clone() {
            Ok(RefundState::Succeeded { provider_id }) => {
                // The offer's row first, as every transaction that moves its money does.
                offer_service::lock(conn, &refund.offer_id, now)?;
                refund_service::record_progress(conn, &refund.id, Some(&provider_id), None, next)?;
                refund_service::confirm(conn, &refund, None, now)?;
            }
            Ok(RefundState::Pending { provider_id, .. }) => {
                refund_service::record_progress(conn, &refund.id, Some(&provider_id), None, next)?
            }
            Ok(RefundState::Failed { provider_id, reason }) => {
                tracing::error!(refund_id = %refund.id, %reason, "Stripe could not make a refund");
                refund_service::record_progress(conn, &refund.id, Some(&provider_id), Some(&reason), next)?
            }
            Ok(RefundState::AwaitingTreasurer) => {}
            Err(ProviderError::Unavailable(cause)) => {
                tracing::warn!(refund_id = %refund.id, %cause, "Stripe unavailable for a refund; will retry");
                refund_service::record_progress(conn, &refund.id, None, None, next)?
            }
            Err(ProviderError::Refused(cause)) => {
                tracing::error!(refund_id = %refund.id, %cause, "Stripe refused a refund");
                refund_service::record_progress(conn, &refund.id, None, Some(&cause), next)?
            }
        }
        Ok(())
    })
    .await
}

/// Claims a due row (its `check_after` has come) for `lease`, by moving `check_after` on in a
/// conditional update: of several callers, whether concurrent or one after another within the
/// lease, one wins.
fn claim(conn: &mut DbConnection, table: ClaimTable, id: &str, lease: Duration) -> Result<bool, AppError> {
    let now = clock::now();
    let claimed = match table {
        ClaimTable::Card => diesel::update(
            card_payments::table
                .filter(card_payments::pledge_id.eq(id))
                .filter(card_payments::check_after.le(now)),
        )
        .set(card_payments::check_after.eq(now + lease))
        .execute(conn)?,
        ClaimTable::Refund => diesel::update(
            refunds::table
                .filter(refunds::id.eq(id))
                .filter(refunds::check_after.le(now)),
        )
        .set(refunds::check_after.eq(now + lease))
        .execute(conn)?,
    };
    Ok(claimed == 1)
}

#[derive(Debug, Clone, Copy)]
enum ClaimTable {
    Card,
    Refund,
}

/// Reconciliation, one pass: card pledges still awaiting payment whose check is due are looked
/// up in Stripe (an intent never made is made; one that succeeded is settled, so a lost webhook
/// loses nothing), and card refunds not yet confirmed are sent or looked up. Returns how many
/// rows were looked at.
pub async fn reconcile(db: &Db, payments: &Payments, interval: Duration, batch: i64) -> Result<usize, AppError> {
    if !payments.card_enabled() {
        return Ok(0);
    }
    let now = clock::now();
    let (due_cards, due_refunds) = db
        .run(move |conn| {
            let cards: Vec<String> = card_payments::table
                .inner_join(pledges::table)
                .filter(pledges::status.eq(PledgeStatus::Pending))
                .filter(card_payments::check_after.le(now))
                .select(card_payments::pledge_id)
                .order(card_payments::check_after)
                .limit(batch)
                .load(conn)?;
            let refunds: Vec<String> = refunds::table
                .filter(refunds::method.eq(PaymentMethod::Card.as_str()))
                .filter(refunds::status.eq("pending"))
                .filter(refunds::check_after.le(now))
                .select(refunds::id)
                .order(refunds::check_after)
                .limit(batch)
                .load(conn)?;
            Ok((cards, refunds))
        })
        .await?;
    let mut looked_at = 0;
    for pledge_id in due_cards {
        let id = pledge_id.clone();
        let claimed = db
            .write(move |conn| claim(conn, ClaimTable::Card, &id, interval))
            .await?;
        if claimed {
            looked_at += 1;
            if let Err(e) = reconcile_card(db, payments, &pledge_id, interval).await {
                tracing::warn!(%pledge_id, error = %e, "could not reconcile a card payment");
            }
        }
    }
    for refund_id in due_refunds {
        // send_refund claims the refund itself.
        looked_at += 1;
        if let Err(e) = send_refund(db, payments, &refund_id, interval).await {
            tracing::warn!(%refund_id, error = %e, "could not reconcile a refund");
        }
    }
    Ok(looked_at)
}

async fn reconcile_card(db: &Db, payments: &Payments, pledge_id: &str, interval: Duration) -> Result<(), AppError> {
    let id = pledge_id.to_owned();
    let card = db.run(move |conn| card_of(conn, &id)).await?;
    let Some(card) = card else { return Ok(()) };
    let Some(intent_id) = card.payment_intent_id else {
        // The intent was never made (Stripe was down, or the process died): make it now, so
        // the investor finds the payment form on their pledge.
        ensure_intent(db, payments, pledge_id).await?;
        return Ok(());
    };
    let state = payments
        .provider(PaymentMethod::Card)?
        .payment_state(&intent_id)
        .await
        .map_err(|e| AppError::PaymentProvider {
            detail: e.to_string(),
            refused: matches!(e, ProviderError::Refused(_)),
        })?;
    let settled = db
        .write(move |conn| {
            let now = clock::now();
            match &state {
                PaymentState::Succeeded { amount } => return settle_success(conn, &intent_id, None, *amount, now),
                PaymentState::AwaitingPayer { status, failure } => {
                    record_status(conn, &intent_id, None, status, failure.as_deref(), now)?
                }
                other => record_status(conn, &intent_id, None, &status_text(other), None, now)?,
            }
            Ok(Settled::Unknown)
        })
        .await?;
    if let Settled::RefundStarted(refund_id) = settled {
        send_refund(db, payments, &refund_id, interval).await?;
    }
    Ok(())
}
