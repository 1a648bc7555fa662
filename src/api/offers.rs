//! Share offers: drafting, lifecycle actions, eligibility, and the public views.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::api::access::{MaybeCaller, OfferAdmin, OfferManager, PlatformAdmin, SocietyAdmin};
use crate::api::extract::{Json, Query};
use crate::api::idempotent::{run_idempotent, MaybeIdempotencyKey};
use crate::api::problem::Problem;
use crate::clock;
use crate::db::DbConnection;
use crate::domain::money::Pence;
use crate::domain::offer::{OfferAction, OfferStatus, Terms};
use crate::domain::postcode;
use crate::error::AppError;
use crate::services::offers::{self, Actor, AdminOffer, AuditEntry, Description, OfferPatch, OfferRow, OfferView};
use crate::services::organisations;
use crate::services::page::{Page, PageRequest};
use crate::state::AppState;

#[derive(Deserialize, Validate, ToSchema)]
pub struct OfferRequest {
    #[schema(format = "not-blank", max_length = 200)]
    title: String,
    #[schema(max_length = 5000)]
    summary: String,
    share_price_pence: Pence,
    min_target_pence: Pence,
    target_pence: Pence,
    max_target_pence: Pence,
    min_holding_pence: Pence,
    max_holding_pence: Pence,
    opens_at: chrono::DateTime<chrono::Utc>,
    closes_at: chrono::DateTime<chrono::Utc>,
    /// Days after pledging in which an investor may cancel; default 14, at most the server's
    /// `offers.max_cooling_off_days` (30 by default).
    #[schema(minimum = 0)]
    cooling_off_days: Option<i64>,
    /// Annual interest in basis points (10000 = 100%); default 0.
    #[schema(minimum = 0, maximum = 10000)]
    interest_rate_bps: Option<i64>,
    /// The offer document investors accept when they pledge.
    #[schema(format = "web-url", max_length = 2000)]
    document_url: Option<String>,
}

/// Drafts a share offer for the society.
#[utoipa::path(post, path = "/api/v1/societies/{id}/offers", tag = "offers", security(("bearer" = ["society_admin"])),
    params(("id" = String, Path, description = "Society id")), request_body = OfferRequest,
    responses(
        (status = 201, body = OfferView),
        (status = 422, description = "Terms break a rule (every broken field listed)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_offer(
    state: web::Data<AppState>,
    admin: SocietyAdmin,
    body: Json<OfferRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.0;
    let description = Description {
        title: body.title.trim().to_owned(),
        summary: body.summary.trim().to_owned(),
        document_url: body.document_url,
    };
    let terms = Terms {
        share_price: body.share_price_pence,
        min_target: body.min_target_pence,
        target: body.target_pence,
        max_target: body.max_target_pence,
        min_holding: body.min_holding_pence,
        max_holding: body.max_holding_pence,
        opens_at: clock::naive(body.opens_at),
        closes_at: clock::naive(body.closes_at),
        cooling_off_days: body
            .cooling_off_days
            .unwrap_or(state.settings.offers.default_cooling_off_days),
        interest_rate_bps: body.interest_rate_bps.unwrap_or(0),
    };
    let policy = state.settings.offers.policy();
    let actor = Actor::User(admin.caller.user_id.clone());
    let offer = state
        .db
        .write(move |conn| offers::create(conn, &admin.society_id, &actor, &description, &terms, &policy))
        .await?;
    Ok(HttpResponse::Created().json(offer))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

/// Every offer of the society, in any state (for its admins).
#[utoipa::path(get, path = "/api/v1/societies/{id}/offers", tag = "offers", security(("bearer" = ["society_admin"])),
    params(("id" = String, Path, description = "Society id"), PageQuery),
    responses((status = 200, body = Page<OfferView>)))]
pub async fn list_society_offers(
    state: web::Data<AppState>,
    admin: SocietyAdmin,
    query: Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let page = query.into_inner().page()?;
    let list = state
        .db
        .run(move |conn| offers::list_for_society(conn, &admin.society_id, &page))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

#[derive(Deserialize, Validate, ToSchema, Default)]
pub struct OfferPatchRequest {
    #[schema(format = "not-blank", max_length = 200)]
    title: Option<String>,
    #[schema(max_length = 5000)]
    summary: Option<String>,
    #[schema(format = "web-url", max_length = 2000)]
    document_url: Option<String>,
    share_price_pence: Option<Pence>,
    min_target_pence: Option<Pence>,
    target_pence: Option<Pence>,
    max_target_pence: Option<Pence>,
    min_holding_pence: Option<Pence>,
    max_holding_pence: Option<Pence>,
    opens_at: Option<chrono::DateTime<chrono::Utc>>,
    closes_at: Option<chrono::DateTime<chrono::Utc>>,
    #[schema(minimum = 0)]
    cooling_off_days: Option<i64>,
    #[schema(minimum = 0, maximum = 10000)]
    interest_rate_bps: Option<i64>,
}

/// Edits a draft offer (409 once it has been submitted).
#[utoipa::path(patch, path = "/api/v1/offers/{id}", tag = "offers", security(("bearer" = ["society_admin"])),
    params(("id" = String, Path)), request_body = OfferPatchRequest,
    responses(
        (status = 200, body = OfferView),
        (status = 409, description = "Not a draft", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn patch_offer(
    state: web::Data<AppState>,
    admin: OfferAdmin,
    body: Json<OfferPatchRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.0;
    let patch = OfferPatch {
        title: body.title.map(|t| t.trim().to_owned()),
        summary: body.summary.map(|s| s.trim().to_owned()),
        document_url: body.document_url,
        share_price: body.share_price_pence,
        min_target: body.min_target_pence,
        target: body.target_pence,
        max_target: body.max_target_pence,
        min_holding: body.min_holding_pence,
        max_holding: body.max_holding_pence,
        opens_at: body.opens_at.map(clock::naive),
        closes_at: body.closes_at.map(clock::naive),
        cooling_off_days: body.cooling_off_days,
        interest_rate_bps: body.interest_rate_bps,
    };
    let policy = state.settings.offers.policy();
    let offer = state
        .db
        .write(move |conn| offers::patch(conn, &admin.offer.id, &patch, &policy, admin.caller.actor()))
        .await?;
    Ok(HttpResponse::Ok().json(offer))
}

async fn act(
    state: &AppState,
    offer_id: String,
    action: OfferAction,
    user_id: String,
) -> Result<HttpResponse, AppError> {
    let actor = Actor::User(user_id);
    let offer = state
        .db
        .write(move |conn| offers::act(conn, &offer_id, action, &actor))
        .await?;
    Ok(HttpResponse::Ok().json(offer))
}

/// Submits a draft for approval (the society needs bank details first).
#[utoipa::path(post, path = "/api/v1/offers/{id}/submit", tag = "offers", security(("bearer" = ["society_admin"])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = OfferView),
        (status = 409, description = "Not a draft", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The offer has no offer document (field `document_url`), or its society no bank details yet (field `bank_details`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn submit_offer(state: web::Data<AppState>, admin: OfferAdmin) -> Result<HttpResponse, AppError> {
    act(&state, admin.offer.id, OfferAction::Submit, admin.caller.user_id).await
}

/// Approves a submitted offer; the scheduler opens it at `opens_at`.
#[utoipa::path(post, path = "/api/v1/offers/{id}/approve", tag = "offers", security(("bearer" = ["platform_admin"])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = OfferView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not submitted, or its closing time has passed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn approve_offer(
    state: web::Data<AppState>,
    admin: PlatformAdmin,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    act(&state, id.into_inner(), OfferAction::Approve, admin.0.user_id).await
}

/// Closes an open offer now.
#[utoipa::path(post, path = "/api/v1/offers/{id}/close", tag = "offers", security(("bearer" = ["platform_admin"])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = OfferView),
        (status = 409, description = "Not open", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn close_offer(
    state: web::Data<AppState>,
    admin: PlatformAdmin,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    act(&state, id.into_inner(), OfferAction::Close, admin.0.user_id).await
}

/// Cancels an offer that has not closed: its pending pledges are cancelled and its match
/// commitments released at once; its paid pledges are then refunded by the close-out job in
/// batches (card refunds through Stripe, bank refunds listed for the society's treasurer), and
/// the offer becomes `refunded` when every refund is confirmed. Takes an optional `Idempotency-Key`
/// (a repeat with it answers the first answer; without one a repeat is 409).
#[utoipa::path(post, path = "/api/v1/offers/{id}/cancel", tag = "offers", security(("bearer" = ["society_admin", "platform_admin"])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 200, body = OfferView),
        (status = 409, description = "Already closed or cancelled", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cancel_offer(
    state: web::Data<AppState>,
    manager: OfferManager,
    key: MaybeIdempotencyKey,
) -> Result<HttpResponse, AppError> {
    let offer_id = manager.offer.id;
    let user_id = manager.caller.user_id;
    let path = format!("/api/v1/offers/{offer_id}/cancel");
    let actor = Actor::User(user_id.clone());
    run_idempotent(
        &state,
        None,
        &user_id,
        key,
        &path,
        &serde_json::json!({}),
        move |conn| Ok((200, offers::act(conn, &offer_id, OfferAction::Cancel, &actor)?)),
    )
    .await
}

/// The states the public list is filtered by: a draft, submitted or approved offer is never
/// listed; `cancelled` lists offers cancelled after they opened, which the default list leaves
/// out.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListedStatus {
    Open,
    Closed,
    Succeeded,
    Allocated,
    Failed,
    Refunded,
    Cancelled,
}

impl From<ListedStatus> for OfferStatus {
    fn from(status: ListedStatus) -> Self {
        match status {
            ListedStatus::Open => OfferStatus::Open,
            ListedStatus::Closed => OfferStatus::Closed,
            ListedStatus::Succeeded => OfferStatus::Succeeded,
            ListedStatus::Allocated => OfferStatus::Allocated,
            ListedStatus::Failed => OfferStatus::Failed,
            ListedStatus::Refunded => OfferStatus::Refunded,
            ListedStatus::Cancelled => OfferStatus::Cancelled,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OfferListQuery {
    /// Only offers in this state (default: every listed state but `cancelled`).
    #[param(inline)]
    status: Option<ListedStatus>,
    /// Items per page (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

/// Offers the public may see, newest first.
#[utoipa::path(get, path = "/api/v1/offers", tag = "offers", params(OfferListQuery),
    responses((status = 200, body = Page<OfferView>)))]
pub async fn list_offers(state: web::Data<AppState>, query: Query<OfferListQuery>) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let status = query.status.map(OfferStatus::from);
    let page = PageRequest::new(query.limit, query.cursor)?;
    let list = state
        .db
        .run(move |conn| offers::list_public(conn, status, &page))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminOfferQuery {
    /// Only offers in this state (default: every state); `submitted` is the approval queue.
    #[param(inline)]
    status: Option<OfferStatus>,
    /// Items per page (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

/// Every offer, whatever its state, newest first, each with its society: what platform admins
/// approve (`?status=submitted`) and close early (`?status=open`).
#[utoipa::path(get, path = "/api/v1/admin/offers", tag = "offers", security(("bearer" = ["platform_admin"])),
    params(AdminOfferQuery), responses((status = 200, body = Page<AdminOffer>)))]
pub async fn admin_offers(
    state: web::Data<AppState>,
    _admin: PlatformAdmin,
    query: Query<AdminOfferQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let page = PageRequest::new(query.limit, query.cursor)?;
    let list = state
        .db
        .run(move |conn| offers::list_for_platform(conn, query.status, &page))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// One offer. Before it opens, only its society's admins and platform admins see it.
#[utoipa::path(get, path = "/api/v1/offers/{id}", tag = "offers", security((), ("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = OfferView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_offer(
    state: web::Data<AppState>,
    viewer: MaybeCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let offer = state
        .db
        .run(move |conn| OfferView::from_row(visible_offer(conn, &id, &viewer)?))
        .await?;
    Ok(HttpResponse::Ok().json(offer))
}

/// The offer, if `viewer` may see it: anyone once it is public, before that only its society's
/// admins and platform admins (404 for everyone else, who may not know it exists).
pub fn visible_offer(conn: &mut DbConnection, id: &str, viewer: &MaybeCaller) -> Result<OfferRow, AppError> {
    let row = offers::get(conn, id)?;
    let visible = row.is_public()?
        || match &viewer.0 {
            None => false,
            Some(caller) => {
                caller.is_platform_admin || organisations::is_society_admin(conn, &row.society_id, &caller.user_id)?
            }
        };
    if visible {
        Ok(row)
    } else {
        Err(AppError::NotFound("offer"))
    }
}

#[derive(Deserialize, Validate, ToSchema)]
pub struct EligibilityRequest {
    /// Minimum age of an investor on the day of pledging (an offer starts at 16; missing or
    /// `null` keeps the offer's current minimum).
    #[schema(minimum = 0, maximum = 120)]
    min_age: Option<i32>,
    /// "Keep it local": investors' postcodes must be in one of these postcode areas (`B`),
    /// districts (`GL5`, `SW1A`) or sectors (`GL5 1`), matched on whole parts (`GL5` is not
    /// `GL50`); empty = anywhere. Each is checked, and kept in its normal form.
    #[schema(max_items = 50, inline)]
    postcode_prefixes: Option<Vec<String>>,
}

/// Sets who may invest in a draft offer; fields left out keep their value.
#[utoipa::path(post, path = "/api/v1/offers/{id}/eligibility", tag = "offers", security(("bearer" = ["society_admin"])),
    params(("id" = String, Path)), request_body = EligibilityRequest,
    responses(
        (status = 200, body = OfferView),
        (status = 409, description = "Not a draft", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_eligibility(
    state: web::Data<AppState>,
    admin: OfferAdmin,
    body: Json<EligibilityRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.0;
    let prefixes = body
        .postcode_prefixes
        .as_deref()
        .map(postcode::normalised)
        .transpose()
        .map_err(|(index, message)| AppError::field(format!("postcode_prefixes[{index}]"), message))?;
    let (offer_id, min_age) = (admin.offer.id, body.min_age);
    let offer = state
        .db
        .write(move |conn| offers::set_eligibility(conn, &offer_id, min_age, prefixes.clone()))
        .await?;
    Ok(HttpResponse::Ok().json(offer))
}

/// Every change of state of the offer: who, from what, to what, when.
#[utoipa::path(get, path = "/api/v1/offers/{id}/audit", tag = "offers", security(("bearer" = ["society_admin", "platform_admin"])),
    params(("id" = String, Path)),
    responses((status = 200, body = [AuditEntry])))]
pub async fn offer_audit(state: web::Data<AppState>, manager: OfferManager) -> Result<HttpResponse, AppError> {
    let id = manager.offer.id;
    let entries = state.db.run(move |conn| offers::audit_log(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(entries))
}
