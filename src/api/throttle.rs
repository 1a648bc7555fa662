//! The per-address throttle in front of the anonymous writes (`contract::ANONYMOUS_WRITES`,
//! which the document declares 429 for); a test checks that each of them answers 429.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

use crate::api::request_context::client_address;
use crate::clock;
use crate::error::AppError;
use crate::services::throttle;
use crate::state::AppState;

/// Counts the request against its client address and refuses it (429 with `Retry-After`)
/// once the address has made `auth.anonymous_writes_max` of them in the window.
pub async fn anonymous_writes(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(AppError::Internal(anyhow::anyhow!("application state missing")).into());
    };
    let auth = &state.settings.auth;
    let address = client_address(req.request(), &state.settings.server.trusted_proxies);
    let scope = format!("{} {address}", req.path());
    let window = chrono::Duration::seconds(auth.anonymous_writes_window_secs as i64);
    let max = auth.anonymous_writes_max;
    let counted = state
        .db
        .write(move |conn| throttle::hit(conn, &scope, clock::now(), window, max))
        .await;
    match counted {
        Ok(()) => Ok(next.call(req).await?.map_into_left_body()),
        Err(refused) => {
            let response = actix_web::ResponseError::error_response(&refused);
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}
