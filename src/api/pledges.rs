//! Pledges, bank receipts, and the ledger views.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::api::access::{OfferManager, PlatformAdmin};
use crate::api::extract::{read_body, Json, Query};
use crate::api::idempotent::{run_idempotent, stored_response, MaybeIdempotencyKey};
use crate::api::offers::PageQuery;
use crate::api::problem::Problem;
use crate::clock;
use crate::domain::money::Pence;
use crate::domain::pledge::PledgeStatus;
use crate::error::AppError;
use crate::ledger::{self, verify::Verification, AccountKind, TransferRow};
use crate::payments::statement::Mapping;
use crate::services::hand_receipts::{self, ReceiptStatus};
use crate::services::idempotency::Request;
use crate::services::page::{Page, PageRequest};
use crate::services::pledges::{
    self, NewPledge, OfferPledgeView, PaymentMethod, PledgeFilter, PledgePolicy, PledgeView, PledgesOf, Viewer,
};
use crate::services::receipts::Receipt;
use crate::services::sessions::Caller;
use crate::services::statements::{self, ImportOptions, ImportResult};
use crate::state::AppState;

#[derive(Deserialize, Serialize, Validate, ToSchema)]
pub struct PledgeRequest {
    /// A whole number of shares' worth, within the offer's holding limits.
    amount_pence: Pence,
    payment_method: PaymentMethod,
    /// Must be true: the investor has read and accepts the offer document.
    accept_terms: bool,
}

/// Pledges to an open offer. Requires `Idempotency-Key`: a repeat with the same key and body
/// answers the first answer (with `Idempotent-Replayed: true`); the same key with another body
/// is 409. A card pledge (only when Stripe is configured) is recorded first, then its Stripe
/// PaymentIntent is made and its `payment.client_secret` answered; when Stripe cannot be
/// reached the answer is 503 and the pledge stays pending: the same request again (same key)
/// answers it with the secret once Stripe is back, and the reconciliation job makes the intent
/// meanwhile.
#[utoipa::path(post, path = "/api/v1/offers/{id}/pledges", tag = "pledges", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = String, Header, description = "Unique per pledge attempt")),
    request_body = PledgeRequest,
    responses(
        (status = 201, body = PledgeView),
        (status = 400, description = "No Idempotency-Key, or a malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The offer is not open, or the key was used for another request", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A rule is broken (the field says which)", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Stripe refused to start the card payment", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Stripe unreachable: the pledge is kept pending; repeat with the same key", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_pledge(
    state: web::Data<AppState>,
    caller: Caller,
    key: MaybeIdempotencyKey,
    offer_id: web::Path<String>,
    body: Json<PledgeRequest>,
) -> Result<HttpResponse, AppError> {
    let offer_id = offer_id.into_inner();
    let path = format!("/api/v1/offers/{offer_id}/pledges");
    let request = Request::post(&caller.user_id, Some(key.required()?), &path, &body.0)?;
    let new = NewPledge {
        amount: body.amount_pence,
        payment_method: body.payment_method,
        accept_terms: body.accept_terms,
    };
    let policy = PledgePolicy {
        payment_deadline_days: state.settings.pledges.payment_deadline_days,
        card_check_after: state.payments.card_enabled().then(|| reconcile_after(&state)),
    };
    let stored = pledges::pledge(&state.db, &state.payments, request, offer_id, new, policy).await?;
    Ok(stored_response(stored))
}

/// How long the reconciliation job leaves a card payment or refund before looking it up.
pub fn reconcile_after(state: &AppState) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(state.settings.stripe.reconcile_after_secs).unwrap_or(86_400))
}

/// One pledge: its investor, the offer's society admins and platform admins may see it.
#[utoipa::path(get, path = "/api/v1/pledges/{id}", tag = "pledges", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = PledgeView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_pledge(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let pledge = state
        .db
        .run(move |conn| pledges::get_for(conn, &id, &caller.user_id, caller.is_platform_admin))
        .await?;
    Ok(HttpResponse::Ok().json(pledge))
}

/// The caller's pledges, newest first.
#[utoipa::path(get, path = "/api/v1/me/pledges", tag = "pledges", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = Page<PledgeView>)))]
pub async fn my_pledges(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let page = query.into_inner().page()?;
    let list = state
        .db
        .run(move |conn| pledges::list(conn, PledgesOf::Investor(&caller.user_id), &page, &caller.user_id))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Cancels the caller's pledge: an unpaid one any time before the close (`cancelled`); a paid
/// one within the cooling-off period (`refunded`: a card payment is refunded through Stripe at
/// once, a bank transfer is listed for the society's treasurer to pay back). Takes an optional
/// `Idempotency-Key` (a repeat answers the first answer); without one, a repeat is 409. Sent
/// several times at once, it refunds once.
#[utoipa::path(post, path = "/api/v1/pledges/{id}/cancel", tag = "pledges", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 200, body = PledgeView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Outside the window, or already ended", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cancel_pledge(
    state: web::Data<AppState>,
    caller: Caller,
    key: MaybeIdempotencyKey,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let path = format!("/api/v1/pledges/{id}/cancel");
    let request = Request::post(&caller.user_id, key.0, &path, &serde_json::json!({}))?;
    let viewer = Viewer {
        user_id: caller.user_id,
        is_platform_admin: caller.is_platform_admin,
    };
    let after = reconcile_after(&state);
    let (pledge, replayed) = pledges::cancel_once(&state.db, &state.payments, request, id, viewer, after).await?;
    let mut response = HttpResponse::Ok();
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(response.json(pledge))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OfferPledgesQuery {
    /// Items per page (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
    /// Only pledges in this state.
    #[param(inline)]
    status: Option<PledgeStatus>,
    /// A bank reference, or part of the investor's name (any case; SQLite folds ASCII letters only).
    #[param(max_length = 100)]
    q: Option<String>,
}

/// The offer's pledges, newest first, each with its investor's name; narrowed by state and by
/// a search of bank references and names.
#[utoipa::path(get, path = "/api/v1/offers/{id}/pledges", tag = "pledges", security(("bearer" = ["society_admin", "platform_admin"])),
    params(("id" = String, Path), OfferPledgesQuery), responses((status = 200, body = Page<OfferPledgeView>)))]
pub async fn offer_pledges(
    state: web::Data<AppState>,
    manager: OfferManager,
    query: Query<OfferPledgesQuery>,
) -> Result<HttpResponse, AppError> {
    let OfferPledgesQuery {
        limit,
        cursor,
        status,
        q,
    } = query.into_inner();
    if q.as_ref().is_some_and(|q| q.chars().count() > 100) {
        return Err(AppError::field("q", "must be at most 100 characters"));
    }
    let page = PageQuery { limit, cursor }.page()?;
    let filter = PledgeFilter { status, search: q };
    let offer_id = manager.offer.id;
    let viewer = manager.caller.user_id;
    let list = state
        .db
        .run(move |conn| pledges::list_for_offer(conn, &offer_id, &filter, &page, &viewer))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// The offer's money day by day (UK days), for its society's dashboard: running totals of its
/// live pledges, pledged, paid and matched.
#[utoipa::path(get, path = "/api/v1/offers/{id}/progress", tag = "pledges", security(("bearer" = ["society_admin", "platform_admin"])),
    params(("id" = String, Path)), responses((status = 200, body = crate::services::progress::Progress)))]
pub async fn offer_progress(state: web::Data<AppState>, manager: OfferManager) -> Result<HttpResponse, AppError> {
    let offer_id = manager.offer.id;
    let progress = state
        .db
        .run(move |conn| crate::services::progress::progress(conn, &offer_id))
        .await?;
    Ok(HttpResponse::Ok().json(progress))
}

#[derive(Deserialize, Serialize, Validate, ToSchema)]
pub struct ReceiptRequest {
    /// The pledge's bank reference as it appears on the statement.
    #[schema(min_length = 1, max_length = 64)]
    reference: String,
    amount_pence: Pence,
    received_at: chrono::DateTime<chrono::Utc>,
}

/// Records a bank transfer received, of any amount: it pays towards the pending pledge with
/// this reference, which becomes `paid` when what it has received reaches its amount; less is a
/// part payment (`received_pence` shows it), more is paid and the excess owed back as a bank
/// refund instruction. On an offer that holds match money the receipt does not count yet: it
/// waits for a second person (`receipt.status` `awaiting_confirmation`, and the pledge's
/// `awaiting_confirmation`) who confirms it with `POST …/bank-receipts/{receipt_id}/confirm`.
/// Takes an optional `Idempotency-Key`.
///
/// Departs from the first contract (which refused an amount other than the pledge's, 422):
/// money arrives in parts, and refusing a receipt does not send the money back (issue 18).
#[utoipa::path(post, path = "/api/v1/offers/{id}/bank-receipts", tag = "pledges", security(("bearer" = ["society_admin", "platform_admin"])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = ReceiptRequest,
    responses(
        (status = 201, body = TypedReceipt),
        (status = 409, description = "Already paid", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No pledge of this offer has the reference, or it has ended", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn record_receipt(
    state: web::Data<AppState>,
    manager: OfferManager,
    key: MaybeIdempotencyKey,
    body: Json<ReceiptRequest>,
) -> Result<HttpResponse, AppError> {
    let offer_id = manager.offer.id;
    let user_id = manager.caller.user_id;
    let path = format!("/api/v1/offers/{offer_id}/bank-receipts");
    let receipt = Receipt {
        reference: body.reference.clone(),
        amount: body.amount_pence,
        received_at: clock::naive(body.received_at),
    };
    let recorder = user_id.clone();
    // Queued at the offer with its pledges (it moves the offer's paid total).
    let row = format!("offer:{offer_id}");
    run_idempotent(&state, Some(&row), &user_id, key, &path, &body.0, move |conn| {
        let typed = hand_receipts::record(conn, &offer_id, &receipt, &recorder)?;
        let row = pledges::get(conn, &typed.pledge_id)?;
        let pledge = pledges::view(conn, row, &recorder)?;
        Ok((
            201,
            TypedReceipt {
                pledge,
                receipt: typed.receipt,
            },
        ))
    })
    .await
}

/// The pledge a receipt typed by hand is for, and where the receipt stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct TypedReceipt {
    #[serde(flatten)]
    pub pledge: PledgeView,
    pub receipt: ReceiptStatus,
}

/// A second person confirms a receipt typed by hand that awaits them: it counts now. Another
/// admin of the society (an admin before it was typed, not brought in by the one who typed it
/// within the cooling-off, not the pledge's investor) or a platform admin; anyone else is 403,
/// saying why. Confirmed or withdrawn already is 409; money for a pledge paid or ended
/// meanwhile is refused as it would be typed now.
#[utoipa::path(post, path = "/api/v1/offers/{id}/bank-receipts/{receipt_id}/confirm", tag = "pledges", security(("bearer" = ["society_admin", "platform_admin"])),
    params(("id" = String, Path), ("receipt_id" = String, Path)),
    responses(
        (status = 200, description = "The receipt counts; the pledge as it now stands", body = PledgeView),
        (status = 403, description = "Not a second person who may confirm it (the reason is in `detail`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such receipt of this offer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Confirmed or withdrawn already, or the pledge is paid", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The pledge has ended: return the money to the payer", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn confirm_receipt(
    state: web::Data<AppState>,
    manager: OfferManager,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (offer_id, receipt_id) = (manager.offer.id, path.into_inner().1);
    let cooling_off = state.settings.governance.cooling_off();
    let caller = manager.caller;
    let row = format!("offer:{offer_id}");
    let pledge = state
        .db
        .write_at(&row, move |conn| {
            let by = hand_receipts::Confirmer {
                caller: &caller,
                cooling_off,
            };
            let pledge_id = hand_receipts::confirm(conn, &offer_id, &receipt_id, &by)?;
            let row = pledges::get(conn, &pledge_id)?;
            pledges::view(conn, row, &caller.user_id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(pledge))
}

/// Withdraws a receipt typed by hand that awaits confirmation (typed in error). It never
/// counted. Confirmed or withdrawn already is 409.
#[utoipa::path(post, path = "/api/v1/offers/{id}/bank-receipts/{receipt_id}/withdraw", tag = "pledges", security(("bearer" = ["society_admin", "platform_admin"])),
    params(("id" = String, Path), ("receipt_id" = String, Path)),
    responses(
        (status = 200, description = "Withdrawn; the pledge as it stands", body = PledgeView),
        (status = 404, description = "No such receipt of this offer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Confirmed or withdrawn already", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn withdraw_receipt(
    state: web::Data<AppState>,
    manager: OfferManager,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (offer_id, receipt_id) = (manager.offer.id, path.into_inner().1);
    let user_id = manager.caller.user_id;
    let pledge = state
        .db
        .write(move |conn| {
            let pledge_id = hand_receipts::withdraw(conn, &offer_id, &receipt_id, &user_id)?;
            let row = pledges::get(conn, &pledge_id)?;
            pledges::view(conn, row, &user_id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(pledge))
}

/// How to read a statement: whether to keep what it does, and the admin's names for its
/// columns when its layout is not recognised.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `true`: answer what the import would do, and keep nothing.
    dry_run: Option<bool>,
    /// The column holding the date (its name in the header row, any case).
    #[param(max_length = 100)]
    date: Option<String>,
    /// The column holding a signed amount (credits positive).
    #[param(max_length = 100)]
    amount: Option<String>,
    /// The column holding money in (with `paid_out`, instead of `amount`).
    #[param(max_length = 100)]
    paid_in: Option<String>,
    /// The column holding money out.
    #[param(max_length = 100)]
    paid_out: Option<String>,
    /// The columns whose text holds the reference, separated by commas.
    #[param(max_length = 500)]
    text: Option<String>,
    /// The column holding the running balance.
    #[param(max_length = 100)]
    balance: Option<String>,
    /// Lines of the file to leave out of this import, by the line number where each starts (as
    /// the answer numbers them), separated by commas: `4,9`. A number that is not a line of the
    /// statement is 422.
    #[param(max_length = 2000, pattern = r"^ *[0-9]{1,9}( *, *[0-9]{1,9})* *$")]
    leave_out: Option<String>,
}

impl ImportQuery {
    /// The import's options: a dry run, and the lines to leave out (422 on `leave_out` when it
    /// is not a list of line numbers).
    fn options(&self) -> Result<ImportOptions, AppError> {
        let leave_out = match self.leave_out.as_deref() {
            None => Default::default(),
            Some(list) => line_numbers(list)
                .ok_or_else(|| AppError::field("leave_out", "must be line numbers separated by commas, e.g. 4,9"))?,
        };
        Ok(ImportOptions {
            dry_run: self.dry_run.unwrap_or(false),
            leave_out,
        })
    }

    fn mapping(&self) -> Mapping {
        let name = |n: &Option<String>| n.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
        Mapping {
            date: name(&self.date),
            amount: name(&self.amount),
            paid_in: name(&self.paid_in),
            paid_out: name(&self.paid_out),
            text: self
                .text
                .as_deref()
                .map(|t| {
                    t.split(',')
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            balance: name(&self.balance),
        }
    }
}

/// Line numbers separated by commas (`4, 9`), exactly as the parameter's pattern says: one to
/// nine digits each, spaces around them allowed.
fn line_numbers(list: &str) -> Option<std::collections::BTreeSet<u64>> {
    list.split(',')
        .map(|n| {
            let n = n.trim_matches(' ');
            let digits = (1..=9).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit());
            digits.then(|| n.parse().ok()).flatten()
        })
        .collect()
}

/// The content types a statement may be sent as: what browsers, `curl` and spreadsheets label
/// a CSV or OFX file with.
pub const STATEMENT_TYPES: &[&str] = &[
    "text/csv",
    "application/csv",
    "text/plain",
    "application/vnd.ms-excel",
    "application/x-ofx",
    "application/ofx",
    "application/octet-stream",
];

/// Imports a bank statement as the bank exports it: CSV in the bank's own layout (Starling,
/// Monzo, Barclays, Lloyds/Halifax, NatWest/RBS, HSBC, Nationwide, Co-operative Bank, Metro,
/// the plain `date,reference,amount`, or columns named with the query parameters) or OFX, in
/// UTF-8 or Windows-1252. Each credit line whose text holds a pledge reference of this offer
/// pays towards that pledge (in parts, if it comes in parts; an excess is owed back); each line
/// is applied once however often the statement is imported. A line that is money already
/// recorded by hand (the same pledge and amount, dated at most 5 days apart) is matched to that
/// receipt and does nothing more. `?dry_run=true` answers the same and keeps nothing;
/// `?leave_out=4,9` leaves those lines of the file out. Every other credit line is listed with
/// why; debits, zero lines and lines left out are skipped.
#[utoipa::path(post, path = "/api/v1/offers/{id}/bank-receipts/import", tag = "pledges", security(("bearer" = ["society_admin", "platform_admin"])),
    params(("id" = String, Path), ImportQuery),
    request_body(
        description = "A bank statement file, unchanged: CSV, or OFX (1.0.2 SGML or 2.x XML); UTF-8 (with or without a byte-order mark) or Windows-1252.",
        content(
            (String = "text/csv", example = "Date,Counter Party,Reference,Type,Amount (GBP),Balance (GBP)\n30/11/2026,Jane Smith,CSK7M29QXT2,FASTER PAYMENT,250.00,1234.56\n"),
            (String = "application/csv"), (String = "text/plain"), (String = "application/vnd.ms-excel"),
            (String = "application/x-ofx"), (String = "application/ofx"), (String = "application/octet-stream"),
        )),
    responses(
        (status = 200, body = ImportResult),
        (status = 400, description = "Not a CSV or OFX file", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not sent as a CSV or OFX file", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The columns are not recognised, a column named in the query is not in the header, or a line to leave out is not a line of the statement", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn import_receipts(
    state: web::Data<AppState>,
    manager: OfferManager,
    req: HttpRequest,
    query: Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    require_statement_type(&req)?;
    let body = read_body(
        &req,
        &mut payload.into_inner(),
        state.settings.pledges.import_limit_bytes,
    )
    .await?;
    let query = query.into_inner();
    let result = statements::import_file(
        &state.db,
        &manager.offer.id,
        &body,
        &query.mapping(),
        &manager.caller.user_id,
        &query.options()?,
    )
    .await?;
    Ok(HttpResponse::Ok().json(result))
}

fn require_statement_type(req: &HttpRequest) -> Result<(), AppError> {
    let essence = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    match essence {
        Some(t) if STATEMENT_TYPES.contains(&t.as_str()) => Ok(()),
        _ => Err(AppError::UnsupportedMediaType(format!(
            "send the statement file as it is, as one of: {}",
            STATEMENT_TYPES.join(", ")
        ))),
    }
}

/// The offer's ledger transfers (its escrow account), oldest first.
#[utoipa::path(get, path = "/api/v1/offers/{id}/ledger", tag = "ledger", security(("bearer" = ["society_admin", "platform_admin"])),
    params(("id" = String, Path)), responses((status = 200, body = [TransferRow])))]
pub async fn offer_ledger(state: web::Data<AppState>, manager: OfferManager) -> Result<HttpResponse, AppError> {
    let account = AccountKind::Escrow.account_id(&manager.offer.id);
    let transfers = state.db.run(move |conn| ledger::transfers_of(conn, &account)).await?;
    Ok(HttpResponse::Ok().json(transfers))
}

/// Recomputes every balance from the transfers and checks the ledger's invariants.
#[utoipa::path(get, path = "/api/v1/admin/ledger/verify", tag = "ledger", security(("bearer" = ["platform_admin"])),
    responses((status = 200, body = Verification)))]
pub async fn verify_ledger(state: web::Data<AppState>, _admin: PlatformAdmin) -> Result<HttpResponse, AppError> {
    let verification = state.db.run(ledger::verify::verify).await?;
    let kept = verification.clone();
    state.db.write(move |conn| ledger::verify::record(conn, &kept)).await?;
    Ok(HttpResponse::Ok().json(verification))
}

impl PageQuery {
    pub fn page(self) -> Result<PageRequest, AppError> {
        PageRequest::new(self.limit, self.cursor)
    }
}
