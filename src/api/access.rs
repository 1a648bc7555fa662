//! Access rules, declared once per route by the extractor a handler takes:
//! `Caller` (any signed-in user), `PlatformAdmin`, `SocietyAdmin` (of the society in the path),
//! `FunderManager` (an admin of the funder in the path, or a platform admin).
//! No token is 401; a thing that does not exist is 404; a known thing the caller may not
//! administer is 403.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::error::AppError;
use crate::services::organisations;
use crate::services::sessions::{self, Caller};
use crate::state::AppState;

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, AppError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("application state missing")))
}

/// Verifies the bearer token and resolves its live session.
async fn authenticate(
    state: web::Data<AppState>,
    token: Option<String>,
) -> Result<Caller, AppError> {
    let token = token.ok_or(AppError::Unauthorized(
        "an access token is required (Authorization: Bearer ...)",
    ))?;
    let claims = state.tokens.verify(&token)?;
    state
        .db
        .run(move |conn| sessions::caller(conn, &claims.sub, &claims.sid))
        .await
}

impl FromRequest for Caller {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = app_state(req);
        let token = bearer_token(req);
        Box::pin(async move { authenticate(state?, token).await })
    }
}

/// A platform admin (created only by the CLI).
pub struct PlatformAdmin(pub Caller);

impl FromRequest for PlatformAdmin {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = app_state(req);
        let token = bearer_token(req);
        Box::pin(async move {
            let caller = authenticate(state?, token).await?;
            if !caller.is_platform_admin {
                return Err(AppError::Forbidden);
            }
            Ok(PlatformAdmin(caller))
        })
    }
}

/// An admin of the society named by the `{id}` path segment.
pub struct SocietyAdmin {
    pub caller: Caller,
    pub society_id: String,
}

impl FromRequest for SocietyAdmin {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = app_state(req);
        let token = bearer_token(req);
        let society_id = req.match_info().get("id").map(str::to_owned);
        Box::pin(async move {
            let state = state?;
            let caller = authenticate(state.clone(), token).await?;
            let society_id = society_id.ok_or(AppError::NotFound("society"))?;
            let (id, user) = (society_id.clone(), caller.user_id.clone());
            let allowed = state
                .db
                .run(move |conn| {
                    if !organisations::society_exists(conn, &id)? {
                        return Err(AppError::NotFound("society"));
                    }
                    organisations::is_society_admin(conn, &id, &user)
                })
                .await?;
            if !allowed {
                return Err(AppError::Forbidden);
            }
            Ok(SocietyAdmin { caller, society_id })
        })
    }
}

/// An admin of the funder named by the `{id}` path segment, or a platform admin.
pub struct FunderManager {
    pub caller: Caller,
    pub funder_id: String,
}

impl FromRequest for FunderManager {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = app_state(req);
        let token = bearer_token(req);
        let funder_id = req.match_info().get("id").map(str::to_owned);
        Box::pin(async move {
            let state = state?;
            let caller = authenticate(state.clone(), token).await?;
            let funder_id = funder_id.ok_or(AppError::NotFound("funder"))?;
            let (id, user, platform_admin) = (
                funder_id.clone(),
                caller.user_id.clone(),
                caller.is_platform_admin,
            );
            let allowed = state
                .db
                .run(move |conn| {
                    if !organisations::funder_exists(conn, &id)? {
                        return Err(AppError::NotFound("funder"));
                    }
                    Ok(platform_admin || organisations::is_funder_admin(conn, &id, &user)?)
                })
                .await?;
            if !allowed {
                return Err(AppError::Forbidden);
            }
            Ok(FunderManager { caller, funder_id })
        })
    }
}
