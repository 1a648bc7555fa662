//! The `Idempotency-Key` header of requests that move money, and their stored answers as HTTP
//! responses (`Idempotent-Replayed: true` on a repeat). The store itself is
//! [`services::idempotency`](crate::services::idempotency).

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use futures_util::future::{ready, Ready};
use serde::Serialize;

use crate::error::{AppError, FieldError};
use crate::services::idempotency::{self, IdempotencyKey, Request, StoredResponse};
use crate::state::AppState;

const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// The `Idempotency-Key` header, when sent (malformed is 400).
pub struct MaybeIdempotencyKey(pub Option<IdempotencyKey>);

impl FromRequest for MaybeIdempotencyKey {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match req.headers().get(IDEMPOTENCY_KEY) {
            None => Ok(MaybeIdempotencyKey(None)),
            Some(value) => value
                .to_str()
                .map_err(|_| IdempotencyKey::parse("").unwrap_err())
                .and_then(IdempotencyKey::parse)
                .map(|key| MaybeIdempotencyKey(Some(key))),
        })
    }
}

impl MaybeIdempotencyKey {
    /// The key, which this route requires (400 without it).
    pub fn required(self) -> Result<IdempotencyKey, AppError> {
        self.0.ok_or_else(|| AppError::BadRequest {
            detail: "this request moves money: send an Idempotency-Key header (any unique string, e.g. a UUID)".into(),
            errors: vec![FieldError::new(IDEMPOTENCY_KEY, "is required")],
        })
    }
}

/// A stored answer as the HTTP response.
pub fn stored_response(stored: StoredResponse) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(stored.status).unwrap_or(actix_web::http::StatusCode::OK);
    let mut response = HttpResponse::build(status);
    response.content_type("application/json");
    if stored.replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    response.body(stored.body)
}

/// Runs `work` in a write transaction, once per Idempotency-Key when one was sent (a repeat
/// replays the stored answer), and answers its status and JSON. Work that updates the hot row
/// `row` (`offer:<id>`) is queued there on PostgreSQL with the offer's pledges and shares their
/// commits; `None` for any other.
pub async fn run_idempotent<B, T, F>(
    state: &AppState,
    row: Option<&str>,
    user_id: &str,
    key: MaybeIdempotencyKey,
    path: &str,
    body: &B,
    work: F,
) -> Result<HttpResponse, AppError>
where
    B: Serialize,
    T: Serialize,
    F: Fn(&mut crate::db::DbConnection) -> Result<(u16, T), AppError> + Send + 'static,
{
    let request = Request::post(user_id, key.0, path, body)?;
    Ok(stored_response(idempotency::run(&state.db, request, row, work).await?))
}
