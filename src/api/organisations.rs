//! Societies and funders.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;
use validator::Validate;

use crate::api::access::{FunderManager, PlatformAdmin, SocietyAdmin};
use crate::api::extract::{Json, Query};
use crate::api::offers::PageQuery;
use crate::api::problem::Problem;
use crate::api::rules;
use crate::domain::identity::{Email, Postcode};
use crate::error::AppError;
use crate::services::audit::{self, AuditEntry};
use crate::services::invitations::{self, FunderPeople, InvitationAnswer};
use crate::services::organisations::{self, BankDetails, Funder, FunderListing, NewSociety, Society, SocietyKind};
use crate::services::page::{Page, PageRequest};
use crate::services::sessions::Caller;
use crate::state::AppState;

#[derive(Deserialize, Validate, ToSchema)]
pub struct SocietyRequest {
    #[schema(format = "not-blank", max_length = 200)]
    name: String,
    kind: SocietyKind,
    /// The society's number in the FCA Mutuals Public Register.
    #[schema(format = "not-blank", max_length = 20)]
    registration_number: String,
    #[validate(custom(function = "rules::postcode"))]
    #[schema(format = "uk-postcode")]
    postcode: String,
}

/// Registers a society on the platform; the caller becomes its first admin.
#[utoipa::path(post, path = "/api/v1/societies", tag = "societies", security(("bearer" = [])), request_body = SocietyRequest,
    responses(
        (status = 201, body = Society),
        (status = 409, description = "Registration number already on the platform", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_society(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<SocietyRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.0;
    let new = NewSociety {
        name: body.name.trim().to_owned(),
        kind: body.kind,
        registration_number: body.registration_number.trim().to_uppercase(),
        postcode: Postcode::parse(&body.postcode).map_err(|m| AppError::field("postcode", m))?,
    };
    let society = state
        .db
        .write(move |conn| organisations::create_society(conn, &caller.user_id, &new))
        .await?;
    Ok(HttpResponse::Created().json(society))
}

/// A society's public profile.
#[utoipa::path(get, path = "/api/v1/societies/{id}", tag = "societies",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = Society),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_society(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let society = state.db.run(move |conn| organisations::get_society(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(society))
}

#[derive(Deserialize, Validate, ToSchema)]
pub struct AdminRequest {
    #[validate(custom(function = "rules::email"))]
    #[schema(format = Email, max_length = 254)]
    email: String,
}

/// Invites an existing account to administer the society too: 202, the person must accept
/// (`POST /api/v1/me/invitations/{id}/accept`); the role starts then.
#[utoipa::path(post, path = "/api/v1/societies/{id}/admins", tag = "societies", security(("bearer" = ["society_admin"])),
    params(("id" = String, Path)), request_body = AdminRequest,
    responses(
        (status = 202, body = InvitationAnswer),
        (status = 409, description = "Already an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No account has this email", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_society_admin(
    state: web::Data<AppState>,
    admin: SocietyAdmin,
    body: Json<AdminRequest>,
) -> Result<HttpResponse, AppError> {
    let email = Email::parse(&body.email).map_err(|m| AppError::field("email", m))?;
    let answer = state
        .db
        .write(move |conn| invitations::invite_society_admin(conn, &admin.society_id, &admin.caller, &email))
        .await?;
    Ok(HttpResponse::Accepted().json(answer))
}

#[derive(Deserialize, Validate, ToSchema)]
pub struct BankDetailsRequest {
    #[schema(format = "not-blank", max_length = 100)]
    account_name: String,
    #[schema(format = "sort-code")]
    sort_code: String,
    #[schema(format = "account-number")]
    account_number: String,
}

/// Sets the account investors pay into by bank transfer.
#[utoipa::path(put, path = "/api/v1/societies/{id}/bank-details", tag = "societies", security(("bearer" = ["society_admin"])),
    params(("id" = String, Path)), request_body = BankDetailsRequest,
    responses(
        (status = 200, body = BankDetails),
        (status = 409, description = "An offer of the society is submitted, approved, open or closed: its bank details are fixed", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_bank_details(
    state: web::Data<AppState>,
    admin: SocietyAdmin,
    body: Json<BankDetailsRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.0;
    let details = BankDetails {
        account_name: body.account_name.trim().to_owned(),
        sort_code: rules::only_digits(&body.sort_code),
        account_number: rules::only_digits(&body.account_number),
    };
    let saved = state
        .db
        .write(move |conn| organisations::set_bank_details(conn, &admin.society_id, &details))
        .await?;
    Ok(HttpResponse::Ok().json(saved))
}

#[derive(Deserialize, Validate, ToSchema)]
pub struct FunderRequest {
    #[schema(format = "not-blank", max_length = 200)]
    name: String,
}

/// Registers a funder (a council, a lottery fund, a programme).
#[utoipa::path(post, path = "/api/v1/funders", tag = "funders", security(("bearer" = ["platform_admin"])), request_body = FunderRequest,
    responses(
        (status = 201, body = Funder),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_funder(
    state: web::Data<AppState>,
    _admin: PlatformAdmin,
    body: Json<FunderRequest>,
) -> Result<HttpResponse, AppError> {
    let name = body.name.trim().to_owned();
    let funder = state
        .db
        .write(move |conn| organisations::create_funder(conn, &name))
        .await?;
    Ok(HttpResponse::Created().json(funder))
}

/// Every funder, newest first, with its admins and number of funds.
#[utoipa::path(get, path = "/api/v1/funders", tag = "funders", security(("bearer" = ["platform_admin"])), params(PageQuery),
    responses((status = 200, body = Page<FunderListing>)))]
pub async fn list_funders(
    state: web::Data<AppState>,
    _admin: PlatformAdmin,
    query: Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let page = PageRequest::new(query.limit, query.cursor)?;
    let list = state
        .db
        .run(move |conn| organisations::list_funders(conn, &page))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Asks to add an admin to the funder. Two people: a funder admin's request waits
/// (`awaiting_second_admin`) until another admin of the funder who may be the second person
/// makes the same request (an admin from before the request, not brought in by the requester
/// within the cooling-off); for a funder's first two admins a platform admin invites (or is
/// the second person). Then the invitee must accept. Every admin of the funder is e-mailed, and
/// each step is in the funder's audit trail. A platform admin naming itself, or adding to a
/// funder that has its admins, is 403; so is inviting a platform admin's account.
#[utoipa::path(post, path = "/api/v1/funders/{id}/admins", tag = "funders", security(("bearer" = ["funder_admin", "platform_admin"])),
    params(("id" = String, Path)), request_body = AdminRequest,
    responses(
        (status = 202, body = InvitationAnswer),
        (status = 403, description = "Not allowed to invite, or not allowed to be the second person (the reason is in `detail`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No account has this email", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_funder_admin(
    state: web::Data<AppState>,
    manager: FunderManager,
    body: Json<AdminRequest>,
) -> Result<HttpResponse, AppError> {
    let email = Email::parse(&body.email).map_err(|m| AppError::field("email", m))?;
    let cooling_off = state.settings.governance.cooling_off();
    let answer = state
        .db
        .write(move |conn| {
            invitations::invite_funder_admin(
                conn,
                &manager.funder_id,
                &manager.caller,
                manager.is_admin,
                &email,
                cooling_off,
            )
        })
        .await?;
    Ok(HttpResponse::Accepted().json(answer))
}

/// The funder's admins (since when, invited by whom) and its open invitations.
#[utoipa::path(get, path = "/api/v1/funders/{id}/admins", tag = "funders", security(("bearer" = ["funder_admin", "platform_admin"])),
    params(("id" = String, Path)),
    responses((status = 200, body = FunderPeople)))]
pub async fn funder_admins(state: web::Data<AppState>, manager: FunderManager) -> Result<HttpResponse, AppError> {
    let people = state
        .db
        .run(move |conn| invitations::funder_people(conn, &manager.funder_id))
        .await?;
    Ok(HttpResponse::Ok().json(people))
}

/// The funder's audit trail, newest first: who did what for the funder, when, from which
/// request.
#[utoipa::path(get, path = "/api/v1/funders/{id}/audit", tag = "funders", security(("bearer" = ["funder_admin", "platform_admin"])),
    params(("id" = String, Path), PageQuery),
    responses((status = 200, body = Page<AuditEntry>)))]
pub async fn funder_audit(
    state: web::Data<AppState>,
    manager: FunderManager,
    query: Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let page = PageRequest::new(query.limit, query.cursor)?;
    let trail = state
        .db
        .run(move |conn| audit::trail(conn, &manager.funder_id, &page))
        .await?;
    Ok(HttpResponse::Ok().json(trail))
}
