//! Liveness and readiness.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::problem::Problem;
use crate::db::migrate;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Status {
    /// `ok`
    status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "The process is up", body = Status)))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}

/// Readiness: the database answers and every migration is applied.
#[utoipa::path(get, path = "/ready", tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = Status),
        (status = 503, description = "Database unreachable or migrations pending", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let pending = state
        .db
        .run(|conn| migrate::pending_count(conn).map_err(|e| AppError::Unavailable(e.to_string())))
        .await
        .map_err(|e| match e {
            AppError::Unavailable(detail) => AppError::Unavailable(detail),
            other => AppError::Unavailable(other.to_string()),
        })?;
    if pending > 0 {
        return Err(AppError::Unavailable(format!("{pending} migrations are not applied")));
    }
    Ok(HttpResponse::Ok().json(Status { status: "ok" }))
}
