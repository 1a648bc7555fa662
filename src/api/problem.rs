//! RFC 9457 `application/problem+json` for every error the app or actix produces.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{AppError, FieldError};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem. `type` is a relative URI naming the kind of problem; `errors` lists
/// field-level reasons for bad input.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    pub fn new(status: StatusCode, slug: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("/problems/{slug}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub fn into_response(self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        HttpResponse::build(status).content_type(PROBLEM_JSON).json(self)
    }
}

impl AppError {
    fn problem(&self) -> Problem {
        use AppError::*;
        match self {
            BadRequest { detail, errors } => Problem {
                errors: errors.clone(),
                ..Problem::new(StatusCode::BAD_REQUEST, "malformed-request", detail.clone())
            },
            Validation(errors) => Problem {
                errors: errors.clone(),
                ..Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation-failed",
                    "the request breaks one or more rules; see errors",
                )
            },
            Unauthorized(detail) => Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", *detail),
            Forbidden => Problem::new(StatusCode::FORBIDDEN, "forbidden", "you may not do this"),
            ForbiddenBecause(why) => Problem::new(StatusCode::FORBIDDEN, "forbidden", why.clone()),
            NotFound(what) => Problem::new(StatusCode::NOT_FOUND, "not-found", format!("{what} not found")),
            Conflict(detail) => Problem::new(StatusCode::CONFLICT, "conflict", detail.clone()),
            PayloadTooLarge { limit } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                format!("the request body is larger than {limit} bytes"),
            ),
            UnsupportedMediaType(detail) => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                detail.clone(),
            ),
            TooManyRequests { retry_after_secs } => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-requests",
                format!("too many attempts; try again in {retry_after_secs} s"),
            ),
            Unavailable(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the service is temporarily unavailable; try again shortly",
            ),
            PaymentProvider { detail, refused: false } => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "payment-provider-unavailable",
                detail.clone(),
            ),
            PaymentProvider { detail, refused: true } => {
                Problem::new(StatusCode::BAD_GATEWAY, "payment-provider-refused", detail.clone())
            }
            Ledger(crate::ledger::LedgerError::TransferConflict(_) | crate::ledger::LedgerError::NotPending(_)) => {
                Problem::new(StatusCode::CONFLICT, "conflict", self.to_string())
            }
            Database(_) if self.is_database_unreachable() => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the service is temporarily unavailable; try again shortly",
            ),
            Ledger(_) | Database(_) | Internal(_) => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "an unexpected error occurred; it has been logged",
            ),
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.problem().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let problem = self.problem();
        if problem.status == 503 {
            tracing::warn!(error = %self, "request refused: unavailable");
        } else if problem.status >= 500 {
            // The cause goes to the log (with the request id of the current span), not to the client.
            tracing::error!(error = %self, "request failed");
        }
        let mut response = problem.into_response();
        let retry_after = match self {
            AppError::TooManyRequests { retry_after_secs } => Some(*retry_after_secs),
            AppError::Unavailable(_) => Some(1),
            AppError::Database(_) if self.is_database_unreachable() => Some(1),
            AppError::PaymentProvider { refused: false, .. } => Some(30),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        response
    }
}

/// Middleware hook: turns any error response that is not already a problem (actix's own 404,
/// 405, and the like) into one, keeping its status and headers.
pub fn render_plain_errors<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = res
        .response()
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (slug, detail) = match status {
        StatusCode::NOT_FOUND => ("not-found", "no such resource".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method-not-allowed",
            format!("{} is not allowed on this resource", res.request().method()),
        ),
        _ => ("error", status.canonical_reason().unwrap_or("error").to_lowercase()),
    };
    let mut problem_response = Problem::new(status, slug, detail).into_response();
    for (name, value) in res.response().headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem_response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    let (req, _) = res.into_parts();
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, problem_response).map_into_right_body(),
    ))
}
