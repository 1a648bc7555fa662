//! Access rules, declared once per route by the extractor a handler takes:
//! `Caller` (any signed-in user), `PlatformAdmin`, `SocietyAdmin` (of the society in the path),
//! `FunderManager` (an admin of the funder in the path, or a platform admin), `OfferAdmin` (an
//! admin of the society making the offer in the path), `OfferManager` (that, or a platform
//! admin), `FunderAdmin` (an admin of the funder in the path), `FundAdmin` (an admin of the
//! funder of the fund in the path), `MaybeCaller` (anyone; signed in or not).
//! No token is 401; a thing that does not exist is 404; a known thing the caller may not
//! administer is 403.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::error::AppError;
use crate::services::offers::{self, OfferRow};
use crate::services::organisations;
use crate::services::sessions::{self, Caller};
use crate::state::AppState;

/// The bearer token of the request, and the request's id (for the audit trail).
fn bearer_token(req: &HttpRequest) -> Credentials {
    let token = (|| {
        let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
    })();
    let request_id = req
        .extensions()
        .get::<super::request_context::RequestId>()
        .map(|id| id.0.clone());
    Credentials { token, request_id }
}

struct Credentials {
    token: Option<String>,
    request_id: Option<String>,
}

fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, AppError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("application state missing")))
}

/// Verifies the bearer token and resolves its live session.
async fn authenticate(state: web::Data<AppState>, credentials: Credentials) -> Result<Caller, AppError> {
    let token = credentials.token.ok_or(AppError::Unauthorized(
        "an access token is required (Authorization: Bearer ...)",
    ))?;
    let claims = state.tokens.verify(&token)?;
    let mut caller = state
        .db
        .run(move |conn| sessions::caller(conn, &claims.sub, &claims.sid))
        .await?;
    caller.request_id = credentials.request_id;
    Ok(caller)
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

/// Which organisation the `{id}` path segment names.
#[derive(Clone, Copy)]
enum Organisation {
    Society,
    Funder,
}

/// Authenticates the caller and checks they administer the organisation named by `{id}`
/// (or are a platform admin, when `platform_admins_too`). A missing organisation is 404; a
/// caller who is not an admin is 403 (organisations are public).
async fn organisation_admin(
    req: HttpRequest,
    organisation: Organisation,
    platform_admins_too: bool,
) -> Result<(Caller, String, bool), AppError> {
    let state = app_state(&req)?;
    let caller = authenticate(state.clone(), bearer_token(&req)).await?;
    let (what, id) = match organisation {
        Organisation::Society => ("society", req.match_info().get("id").map(str::to_owned)),
        Organisation::Funder => ("funder", req.match_info().get("id").map(str::to_owned)),
    };
    let id = id.ok_or(AppError::NotFound(what))?;
    let (org_id, user) = (id.clone(), caller.user_id.clone());
    let admin = state
        .db
        .run(move |conn| match organisation {
            Organisation::Society => {
                if !organisations::society_exists(conn, &org_id)? {
                    return Err(AppError::NotFound("society"));
                }
                organisations::is_society_admin(conn, &org_id, &user)
            }
            Organisation::Funder => {
                if !organisations::funder_exists(conn, &org_id)? {
                    return Err(AppError::NotFound("funder"));
                }
                organisations::is_funder_admin(conn, &org_id, &user)
            }
        })
        .await?;
    if !(admin || (platform_admins_too && caller.is_platform_admin)) {
        return Err(AppError::Forbidden);
    }
    Ok((caller, id, admin))
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
        let req = req.clone();
        Box::pin(async move {
            let (caller, society_id, _) = organisation_admin(req, Organisation::Society, false).await?;
            Ok(SocietyAdmin { caller, society_id })
        })
    }
}

/// An admin of the funder named by the `{id}` path segment, or a platform admin.
pub struct FunderManager {
    pub caller: Caller,
    pub funder_id: String,
    /// Whether the caller is an admin of the funder (else they are a platform admin only).
    pub is_admin: bool,
}

impl FromRequest for FunderManager {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (caller, funder_id, is_admin) = organisation_admin(req, Organisation::Funder, true).await?;
            Ok(FunderManager {
                caller,
                funder_id,
                is_admin,
            })
        })
    }
}

/// The caller if a token was sent (an invalid one is still 401), or nobody.
pub struct MaybeCaller(pub Option<Caller>);

impl FromRequest for MaybeCaller {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = app_state(req);
        let token = bearer_token(req);
        Box::pin(async move {
            match token.token {
                None => Ok(MaybeCaller(None)),
                Some(_) => Ok(MaybeCaller(Some(authenticate(state?, token).await?))),
            }
        })
    }
}

/// Loads the offer named by `{id}` and checks the caller against it: `allow` decides from
/// whether the caller administers the offer's society. A refused caller who may see the offer
/// (it is public, or they are a platform admin) gets 403; anyone else 404.
async fn offer_for(req: &HttpRequest, allow: fn(&Caller, bool) -> bool) -> Result<(Caller, OfferRow), AppError> {
    let state = app_state(req)?;
    let token = bearer_token(req);
    let offer_id = req.match_info().get("id").map(str::to_owned);
    let caller = authenticate(state.clone(), token).await?;
    let offer_id = offer_id.ok_or(AppError::NotFound("offer"))?;
    let user_id = caller.user_id.clone();
    let (offer, is_society_admin) = state
        .db
        .run(move |conn| {
            let offer = offers::get(conn, &offer_id)?;
            let admin = organisations::is_society_admin(conn, &offer.society_id, &user_id)?;
            Ok((offer, admin))
        })
        .await?;
    if allow(&caller, is_society_admin) {
        return Ok((caller, offer));
    }
    if caller.is_platform_admin || is_society_admin || offer.is_public()? {
        Err(AppError::Forbidden)
    } else {
        Err(AppError::NotFound("offer"))
    }
}

/// An admin of the society that makes the offer named by `{id}`.
pub struct OfferAdmin {
    pub caller: Caller,
    pub offer: OfferRow,
}

impl FromRequest for OfferAdmin {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (caller, offer) = offer_for(&req, |_, is_society_admin| is_society_admin).await?;
            Ok(OfferAdmin { caller, offer })
        })
    }
}

/// A society admin of the offer named by `{id}`, or a platform admin.
pub struct OfferManager {
    pub caller: Caller,
    pub offer: OfferRow,
}

impl FromRequest for OfferManager {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (caller, offer) = offer_for(&req, |caller, is_society_admin| {
                is_society_admin || caller.is_platform_admin
            })
            .await?;
            Ok(OfferManager { caller, offer })
        })
    }
}

/// An admin of the funder named by `{id}` (platform admins are not funder admins).
pub struct FunderAdmin {
    pub caller: Caller,
    pub funder_id: String,
}

impl FromRequest for FunderAdmin {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (caller, funder_id, _) = organisation_admin(req, Organisation::Funder, false).await?;
            Ok(FunderAdmin { caller, funder_id })
        })
    }
}

/// An admin of the funder whose fund is named by `{id}`.
pub struct FundAdmin {
    pub caller: Caller,
    pub fund_id: String,
}

impl FromRequest for FundAdmin {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = app_state(req);
        let token = bearer_token(req);
        let fund_id = req.match_info().get("id").map(str::to_owned);
        Box::pin(async move {
            let state = state?;
            let caller = authenticate(state.clone(), token).await?;
            let fund_id = fund_id.ok_or(AppError::NotFound("fund"))?;
            let (id, user) = (fund_id.clone(), caller.user_id.clone());
            let allowed = state
                .db
                .run(move |conn| {
                    let fund = crate::services::funding::get_fund(conn, &id)?;
                    organisations::is_funder_admin(conn, &fund.funder_id, &user)
                })
                .await?;
            if !allowed {
                return Err(AppError::Forbidden);
            }
            Ok(FundAdmin { caller, fund_id })
        })
    }
}
