//! Email: the outbox for platform admins, and each user's preferences.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::api::access::PlatformAdmin;
use crate::api::extract::{Json, Query};
use crate::api::problem::Problem;
use crate::db::schema::users;
use crate::error::AppError;
use crate::notify::{self, OutboxEntry};
use crate::services::page::{Page, PageRequest};
use crate::services::sessions::Caller;
use crate::state::AppState;

/// An email's state in the outbox.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Failed every attempt; waits for a retry.
    #[default]
    Dead,
    Pending,
    Sent,
}

impl OutboxStatus {
    fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Dead => "dead",
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sent => "sent",
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// Which emails (default `dead`).
    #[param(inline)]
    status: Option<OutboxStatus>,
    /// Items per page (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

/// Emails by status, newest first: `dead` ones failed every attempt and wait for a retry.
#[utoipa::path(get, path = "/api/v1/admin/outbox", tag = "email", security(("bearer" = ["platform_admin"])), params(OutboxQuery),
    responses((status = 200, body = Page<OutboxEntry>)))]
pub async fn list_outbox(
    state: web::Data<AppState>,
    _admin: PlatformAdmin,
    query: Query<OutboxQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let status = query.status.unwrap_or_default().as_str();
    let page = PageRequest::new(query.limit, query.cursor)?;
    let list = state.db.run(move |conn| notify::list(conn, status, &page)).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Puts a dead email back in the queue.
#[utoipa::path(post, path = "/api/v1/admin/outbox/{id}/retry", tag = "email", security(("bearer" = ["platform_admin"])),
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Queued again"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not dead", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn retry_email(
    state: web::Data<AppState>,
    _admin: PlatformAdmin,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    state.db.write(move |conn| notify::retry(conn, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Which non-essential emails the user gets (transactional ones always go).
#[derive(Deserialize, Serialize, Validate, ToSchema)]
pub struct EmailPreferences {
    /// Reminders that an offer of a society you administer closes within 48 hours.
    closing_reminders: bool,
}

/// The caller's email preferences.
#[utoipa::path(get, path = "/api/v1/me/email-preferences", tag = "email", security(("bearer" = [])),
    responses((status = 200, body = EmailPreferences)))]
pub async fn get_preferences(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, AppError> {
    let closing_reminders = state
        .db
        .run(move |conn| {
            use diesel::prelude::*;
            Ok(users::table
                .find(&caller.user_id)
                .select(users::closing_reminders)
                .first::<bool>(conn)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(EmailPreferences { closing_reminders }))
}

/// Sets the caller's email preferences.
#[utoipa::path(put, path = "/api/v1/me/email-preferences", tag = "email", security(("bearer" = [])),
    request_body = EmailPreferences, responses((status = 200, body = EmailPreferences)))]
pub async fn put_preferences(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<EmailPreferences>,
) -> Result<HttpResponse, AppError> {
    let closing_reminders = body.closing_reminders;
    state
        .db
        .write(move |conn| {
            use diesel::prelude::*;
            diesel::update(users::table.find(&caller.user_id))
                .set(users::closing_reminders.eq(closing_reminders))
                .execute(conn)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::Ok().json(EmailPreferences { closing_reminders }))
}
