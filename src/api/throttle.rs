//! The per-address throttle in front of the anonymous writes (`contract::ANONYMOUS_WRITES`,
//! which the document declares 429 for); a test checks that each of them answers 429.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;

use crate::api::request_context::client_address;
use crate::clock;
use crate::error::AppError;
use crate::services::throttle;
use crate::state::AppState;

/// Counts a POST against its client address and refuses it (429 with `Retry-After`) once the
/// address has made `auth.anonymous_writes_max` of them in the window. The count is kept per
/// route pattern, so that a path spelt another way (`%6C` for `l`) counts as the same.
pub async fn anonymous_writes(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() != Method::POST {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(AppError::Internal(anyhow::anyhow!("application state missing")).into());
    };
    let address = client_address(req.request(), &state.settings.server.trusted_proxies);
    let route = req.match_pattern().unwrap_or_else(|| req.path().to_owned());
    match admit(&state, format!("{route} {address}")).await {
        Ok(()) => Ok(next.call(req).await?.map_into_left_body()),
        Err(refused) => {
            let response = actix_web::ResponseError::error_response(&refused);
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}

/// A read first, so that a refused flood costs no write; then the count itself.
async fn admit(state: &AppState, scope: String) -> Result<(), AppError> {
    let auth = &state.settings.auth;
    let window = chrono::Duration::seconds(auth.anonymous_writes_window_secs as i64);
    let max = i64::from(auth.anonymous_writes_max);
    let now = clock::now();
    let read_scope = scope.clone();
    let so_far = state
        .db
        .run(move |conn| throttle::counted(conn, &read_scope, now, window))
        .await?;
    if so_far >= max {
        return Err(throttle::refusal(now, window));
    }
    let with_this = state
        .db
        .write(move |conn| throttle::count(conn, &scope, now, window))
        .await?;
    if with_this > max {
        return Err(throttle::refusal(now, window));
    }
    Ok(())
}
