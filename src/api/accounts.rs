//! Accounts: register, login, refresh, logout, `me` and the investor profile.

use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;
use validator::Validate;

use crate::api::extract::Json;
use crate::api::problem::Problem;
use crate::api::request_context::client_address;
use crate::api::rules;
use crate::domain::identity::{Email, Password, Postcode};
use crate::error::AppError;
use crate::services::accounts::{self, Me, NewUser, Profile, ProfileUpdate, RegisteredUser};
use crate::services::sessions::{self, Caller, TokenPair};
use crate::state::AppState;

#[derive(Deserialize, Validate, ToSchema)]
pub struct RegisterRequest {
    #[validate(custom(function = "rules::email"))]
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// At least 12 characters, at most 1,024 bytes (the document states at most 1,024
    /// characters; a longer one in bytes is 422 too).
    #[validate(custom(function = "rules::password"))]
    #[schema(value_type = String, format = Password, min_length = 12)]
    password: Password,
    #[schema(format = "not-blank", max_length = 100)]
    display_name: String,
    #[validate(custom(function = "rules::postcode"))]
    #[schema(format = "uk-postcode")]
    postcode: Option<String>,
}

/// Creates an investor account.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "accounts", request_body = RegisterRequest,
    responses(
        (status = 201, body = RegisteredUser),
        (status = 409, description = "Email taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Weak password or bad email", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn register(state: web::Data<AppState>, body: Json<RegisterRequest>) -> Result<HttpResponse, AppError> {
    let body = body.0;
    let email = Email::parse(&body.email).map_err(|m| AppError::field("email", m))?;
    let postcode = body
        .postcode
        .as_deref()
        .map(Postcode::parse)
        .transpose()
        .map_err(|m| AppError::field("postcode", m))?;
    let password_hash = state.passwords.hash(body.password.into_secret()).await?;
    let new = NewUser {
        email,
        display_name: body.display_name.trim().to_owned(),
        postcode,
        password_hash,
        is_platform_admin: false,
    };
    let user = state.db.write(move |conn| accounts::create_user(conn, &new)).await?;
    Ok(HttpResponse::Created().json(user))
}

#[derive(Deserialize, Validate, ToSchema)]
pub struct LoginRequest {
    /// Any text: an address that is not an account's is answered like a wrong password.
    #[schema(max_length = 254)]
    email: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// Exchanges email and password for an access token and a refresh token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = LoginRequest,
    responses(
        (status = 200, body = TokenPair),
        (status = 401, description = "Wrong email or password (the same answer for both)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed logins for this email or from this address, or too many requests from this address; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<LoginRequest>,
) -> Result<HttpResponse, AppError> {
    let client_addr = client_address(&req, &state.settings.server.trusted_proxies);
    let body = body.0;
    let pair = sessions::login(&state, &body.email, body.password, &client_addr).await?;
    Ok(HttpResponse::Ok().json(pair))
}

#[derive(Deserialize, Validate, ToSchema)]
pub struct RefreshRequest {
    #[schema(value_type = String, max_length = 256)]
    refresh_token: SecretString,
}

/// Rotates a refresh token: the old one stops working; presenting it again ends the session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "accounts", request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenPair),
        (status = 401, description = "Unknown, expired, revoked or reused refresh token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn refresh(state: web::Data<AppState>, body: Json<RefreshRequest>) -> Result<HttpResponse, AppError> {
    use secrecy::ExposeSecret;
    let pair = sessions::refresh(&state, body.refresh_token.expose_secret()).await?;
    Ok(HttpResponse::Ok().json(pair))
}

/// Ends the caller's session (its refresh tokens and access tokens).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts", security(("bearer" = [])),
    responses((status = 204, description = "Logged out")))]
pub async fn logout(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, AppError> {
    state.db.write(move |conn| sessions::logout(conn, &caller)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's account, roles and memberships.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Me)))]
pub async fn me(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, AppError> {
    let me = state.db.run(move |conn| accounts::me(conn, &caller.user_id)).await?;
    Ok(HttpResponse::Ok().json(me))
}

/// The caller's investor profile (the share register's fields).
#[utoipa::path(get, path = "/api/v1/me/profile", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Profile)))]
pub async fn get_profile(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, AppError> {
    let profile = state
        .db
        .run(move |conn| accounts::profile(conn, &caller.user_id))
        .await?;
    Ok(HttpResponse::Ok().json(profile))
}

#[derive(Deserialize, Validate, ToSchema)]
pub struct ProfileRequest {
    #[schema(format = "not-blank", max_length = 200)]
    full_name: String,
    #[schema(format = "not-blank", max_length = 200)]
    address_line1: String,
    #[schema(max_length = 200)]
    address_line2: Option<String>,
    #[schema(format = "not-blank", max_length = 100)]
    town: String,
    #[validate(custom(function = "rules::postcode"))]
    #[schema(format = "uk-postcode")]
    postcode: String,
    /// `YYYY-MM-DD`
    #[validate(custom(function = "rules::date_of_birth"))]
    date_of_birth: chrono::NaiveDate,
}

/// Sets the caller's investor profile; every pledge needs it complete.
#[utoipa::path(put, path = "/api/v1/me/profile", tag = "accounts", security(("bearer" = [])), request_body = ProfileRequest,
    responses(
        (status = 200, body = Profile),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_profile(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<ProfileRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.0;
    let update = ProfileUpdate {
        full_name: body.full_name.trim().to_owned(),
        address_line1: body.address_line1.trim().to_owned(),
        address_line2: body
            .address_line2
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty()),
        town: body.town.trim().to_owned(),
        postcode: Postcode::parse(&body.postcode).map_err(|m| AppError::field("postcode", m))?,
        date_of_birth: body.date_of_birth,
    };
    let profile = state
        .db
        .write(move |conn| accounts::update_profile(conn, &caller.user_id, &update))
        .await?;
    Ok(HttpResponse::Ok().json(profile))
}
