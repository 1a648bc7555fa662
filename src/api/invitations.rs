//! The caller's invitations to administer a society or a funder.

use actix_web::{web, HttpResponse};

use crate::error::AppError;
use crate::services::invitations::{self, Accepted, MyInvitation};
use crate::services::sessions::Caller;
use crate::state::AppState;

/// The caller's invitations that wait for them to accept, oldest first (a funder's only once a
/// second person agreed to it).
#[utoipa::path(get, path = "/api/v1/me/invitations", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Vec<MyInvitation>)))]
pub async fn mine(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, AppError> {
    let list = state
        .db
        .run(move |conn| invitations::mine(conn, &caller.user_id))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Accepts an invitation: the role starts now (its start is what the two-person rule compares
/// with). Not the caller's, or not waiting, is 404.
#[utoipa::path(post, path = "/api/v1/me/invitations/{id}/accept", tag = "accounts", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = Accepted),
        (status = 404, description = "No invitation of yours waits with this id", body = crate::api::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Answered meanwhile, or already an admin", body = crate::api::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn accept(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let accepted = state
        .db
        .write(move |conn| invitations::accept(conn, &id, caller.actor()))
        .await?;
    Ok(HttpResponse::Ok().json(accepted))
}

/// Declines an invitation. Not the caller's, or not waiting, is 404.
#[utoipa::path(post, path = "/api/v1/me/invitations/{id}/decline", tag = "accounts", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "Declined"),
        (status = 404, description = "No invitation of yours waits with this id", body = crate::api::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Answered meanwhile", body = crate::api::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn decline(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    state
        .db
        .write(move |conn| invitations::decline(conn, &id, caller.actor()))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "declined"})))
}
