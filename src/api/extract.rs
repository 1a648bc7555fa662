//! Request extractors that answer with problems: JSON bodies (shape errors are 400 with the
//! field path, rule errors 422), and the path/query error handlers.

use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use validator::Validate;

use crate::error::{AppError, FieldError};

/// The largest body a route accepts, set from `server.body_limit_bytes`.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON body, deserialised and then validated. A body that is not JSON, or whose shape does
/// not fit (a missing field, a wrong type), is 400 naming the field; a value that breaks a
/// `validator` rule is 422 with every broken field.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + Validate + 'static> FromRequest for Json<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<BodyLimit>().map_or(64 * 1024, |l| l.0);
        let content_type_ok = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            })
            .unwrap_or(false);
        let body = read_body(req, payload, limit);
        Box::pin(async move {
            if !content_type_ok {
                return Err(AppError::UnsupportedMediaType(
                    "the body must be JSON (Content-Type: application/json)".into(),
                ));
            }
            let bytes = body.await?;
            let value: T = parse_json(&bytes)?;
            value.validate()?;
            Ok(Json(value))
        })
    }
}

/// Reads the whole body up to `limit` bytes; a longer one is 413.
pub fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
    limit: usize,
) -> LocalBoxFuture<'static, Result<web::Bytes, AppError>> {
    let declared_too_large = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|len| len > limit);
    let mut payload = payload.take();
    Box::pin(async move {
        use futures_util::StreamExt;
        if declared_too_large {
            return Err(AppError::PayloadTooLarge { limit });
        }
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| match e {
                PayloadError::Overflow => AppError::PayloadTooLarge { limit },
                other => AppError::BadRequest {
                    detail: format!("could not read the request body: {other}"),
                    errors: Vec::new(),
                },
            })?;
            if body.len() + chunk.len() > limit {
                return Err(AppError::PayloadTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    })
}

/// Deserialises JSON, reporting where in the document it went wrong. A NUL character (which
/// PostgreSQL cannot store in text) is refused outright.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    if bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        return Err(AppError::BadRequest {
            detail: "the body contains a NUL character (\\u0000), which is not allowed".into(),
            errors: Vec::new(),
        });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let inner = error.inner();
        let message = strip_position(&inner.to_string());
        if !inner.is_data() {
            return AppError::BadRequest {
                detail: format!("the body is not valid JSON: {message}"),
                errors: Vec::new(),
            };
        }
        let path = error.path().to_string();
        let parent = if path == "." { String::new() } else { path };
        // serde names a missing field in the message and points the path at its parent.
        let field = match message
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next())
        {
            Some(missing) if parent.is_empty() => missing.to_owned(),
            Some(missing) => format!("{parent}.{missing}"),
            None if parent.is_empty() => "body".to_owned(),
            None => parent,
        };
        AppError::BadRequest {
            detail: "the body does not have the expected shape; see errors".into(),
            errors: vec![FieldError::new(field, message)],
        }
    })?;
    deserializer.end().map_err(|e| AppError::BadRequest {
        detail: format!("the body is not valid JSON: {}", strip_position(&e.to_string())),
        errors: Vec::new(),
    })?;
    Ok(value)
}

/// serde_json appends " at line 1 column 7"; clients get the field path instead.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// A path segment that does not parse (an id of the wrong shape) names nothing that exists.
pub fn path_error(_err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    AppError::NotFound("resource").into()
}

pub fn query_error(err: actix_web::error::QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    AppError::BadRequest {
        detail: format!("invalid query string: {err}"),
        errors: Vec::new(),
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        amount_pence: i64,
    }

    fn field_of(err: AppError) -> String {
        match err {
            AppError::BadRequest { errors, .. } => errors[0].field.clone(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn shape_errors_name_the_field() {
        let err = parse_json::<Outer>(br#"{"name":"a","inner":{"amount_pence":"ten"}}"#).unwrap_err();
        assert_eq!(field_of(err), "inner.amount_pence");
        let err = parse_json::<Outer>(br#"{"name":"a","inner":{}}"#).unwrap_err();
        assert_eq!(field_of(err), "inner.amount_pence");
        let err = parse_json::<Outer>(br#"{"inner":{"amount_pence":1}}"#).unwrap_err();
        assert_eq!(field_of(err), "name");
    }

    #[test]
    fn syntax_errors_have_no_field() {
        match parse_json::<Outer>(b"{not json").unwrap_err() {
            AppError::BadRequest { errors, detail } => {
                assert!(errors.is_empty());
                assert!(detail.starts_with("the body is not valid JSON"), "{detail}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(parse_json::<Outer>(br#"{"name":"a","inner":{"amount_pence":1}} trailing"#).is_err());
    }
}
