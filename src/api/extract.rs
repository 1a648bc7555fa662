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

use crate::api::contract;
use crate::error::{AppError, FieldError};

/// The largest body a route accepts, set from `server.body_limit_bytes`.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON body, checked against its request schema in the published document (see
/// [`contract::check_body`]), deserialised, then checked by the type's own `validator` rules. A
/// body that is not JSON, or whose shape does not fit (a missing field, a wrong type), is 400
/// naming the field; a value that breaks a rule of the schema or of the type is 422 with every
/// broken field (the type's own message where both speak of one field).
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + Validate + utoipa::ToSchema + 'static> FromRequest for Json<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<BodyLimit>().map_or(64 * 1024, |l| l.0);
        let content_type_ok = is_json(req);
        let body = read_body(req, payload, limit);
        Box::pin(async move {
            if !content_type_ok {
                return Err(AppError::UnsupportedMediaType(
                    "the body must be JSON (Content-Type: application/json)".into(),
                ));
            }
            let bytes = body.await?;
            read_json_body(&bytes).map(Json)
        })
    }
}

/// Reads a JSON body as the extractor does once its bytes are in: JSON, then the request
/// schema of `T` in the document, then `T` itself, then `T`'s own rules (see [`Json`]).
pub fn read_json_body<T: DeserializeOwned + Validate + utoipa::ToSchema>(bytes: &[u8]) -> Result<T, AppError> {
    let (value, broken) = parse_against_schema::<T>(bytes, &T::name())?;
    let own = match value.validate() {
        Ok(()) => Vec::new(),
        Err(errors) => match AppError::from(errors) {
            AppError::Validation(errors) => errors,
            other => return Err(other),
        },
    };
    let mut errors: Vec<FieldError> = broken
        .into_iter()
        .filter(|b| !own.iter().any(|o| o.field == b.field))
        .collect();
    errors.extend(own);
    if errors.is_empty() {
        return Ok(value);
    }
    errors.sort_by(|a, b| a.field.cmp(&b.field));
    Err(AppError::Validation(errors))
}

/// Whether the request says its body is JSON (`application/json` or a `+json` type).
pub fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        })
        .unwrap_or(false)
}

/// Reads JSON and checks it against the request schema `schema` of the document: malformed or
/// of the wrong shape is `Err` (400); also answers the constraints it breaks (for a 422).
fn parse_against_schema<T: DeserializeOwned>(bytes: &[u8], schema: &str) -> Result<(T, Vec<FieldError>), AppError> {
    let json: serde_json::Value = parse_json(bytes)?;
    let broken = contract::check_body(schema, &json)?;
    match from_json_value(json) {
        Ok(value) => Ok((value, broken)),
        // A broken rule (a date that is not a date) can also stop the value being read: the
        // rule is the better answer.
        Err(_) if !broken.is_empty() => Err(AppError::Validation(broken)),
        Err(malformed) => Err(malformed),
    }
}

/// As the JSON extractor, for a body read by hand (a signed webhook): any broken rule of the
/// schema is refused as malformed (400), since the sender is a machine.
pub fn parse_checked<T: DeserializeOwned>(bytes: &[u8], schema: &str) -> Result<T, AppError> {
    let (value, broken) = parse_against_schema(bytes, schema)?;
    if !broken.is_empty() {
        return Err(AppError::BadRequest {
            detail: "the body does not have the expected shape; see errors".into(),
            errors: broken,
        });
    }
    Ok(value)
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

/// Deserialises JSON, reporting where in the document it went wrong. A number written with a
/// fraction of zero (`487.0`, `1e2`) is the integer it equals, as JSON Schema counts it.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let mut value: serde_json::Value = serde_path_to_error::deserialize(&mut deserializer).map_err(shape_error)?;
    deserializer.end().map_err(|e| AppError::BadRequest {
        detail: format!("the body is not valid JSON: {}", strip_position(&e.to_string())),
        errors: Vec::new(),
    })?;
    integral_numbers_as_integers(&mut value);
    from_json_value(value)
}

/// Rewrites every number that is a whole number within `i64` (`487.0`) as that integer.
fn integral_numbers_as_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(number) if !number.is_i64() && !number.is_u64() => {
            if let Some(float) = number.as_f64() {
                // The bounds are exact in f64 (±2^63); every whole float strictly inside fits.
                if float.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&float) {
                    *value = Value::from(float as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers_as_integers),
        Value::Object(map) => map.values_mut().for_each(integral_numbers_as_integers),
        _ => {}
    }
}

/// Deserialises a value already read as JSON (and checked against its schema).
fn from_json_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, AppError> {
    serde_path_to_error::deserialize(value).map_err(shape_error)
}

/// A serde error as a problem: not JSON at all, or a value of the wrong shape (the field named).
fn shape_error(error: serde_path_to_error::Error<serde_json::Error>) -> AppError {
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

/// Query parameters, deserialised naming the parameter that does not fit: a value of the wrong
/// type or outside its enumeration is 400 with the parameter as the field.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Query<T> {
    type Error = AppError;
    type Future = futures_util::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let pairs = form_urlencoded::parse(req.query_string().as_bytes());
        let parsed = serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(pairs))
            .map(Query)
            .map_err(|error| {
                let path = error.path().to_string();
                let field = if path == "." { "query".to_owned() } else { path };
                AppError::BadRequest {
                    detail: "a query parameter does not fit; see errors".into(),
                    errors: vec![FieldError::new(field, error.inner().to_string())],
                }
            });
        futures_util::future::ready(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
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

    /// Refused the way the contract says: 400 (malformed) or 422 (a rule), never anything else.
    fn read_or_refused<T: DeserializeOwned + Validate + utoipa::ToSchema>(bytes: &[u8]) -> Result<(), String> {
        match read_json_body::<T>(bytes) {
            Ok(_) | Err(AppError::BadRequest { .. }) | Err(AppError::Validation(_)) => Ok(()),
            Err(other) => Err(format!("{}: {other:?}", T::name())),
        }
    }

    /// Every money body, read from `bytes`.
    fn read_every_money_body(bytes: &[u8]) -> Result<(), String> {
        use crate::api::{funding, offers, pledges};
        read_or_refused::<pledges::PledgeRequest>(bytes)?;
        read_or_refused::<pledges::ReceiptRequest>(bytes)?;
        read_or_refused::<funding::FundRequest>(bytes)?;
        read_or_refused::<funding::ApproveRequest>(bytes)?;
        read_or_refused::<funding::SimulateRequest>(bytes)?;
        read_or_refused::<offers::OfferRequest>(bytes)
    }

    /// A valid pledge, receipt or fund with one member replaced by anything.
    fn near_valid() -> impl Strategy<Value = Vec<u8>> {
        let valid = prop_oneof![
            Just(serde_json::json!({"amount_pence": 10_000, "payment_method": "card", "accept_terms": true})),
            Just(
                serde_json::json!({"reference": "CS2345678ABX", "amount_pence": 10_000, "received_at": "2026-11-30T12:00:00Z"})
            ),
            Just(serde_json::json!({"name": "Booster", "budget_pence": 100_000, "rule": {
                "kind": "per_pledge", "ratio_num": 1, "ratio_den": 1, "per_offer_cap_pence": 50_000,
                "trigger": {"kind": "none"}, "timing": "live"}})),
        ];
        (valid, crate::testing::any_json(), "[a-z_]{1,16}").prop_map(|(mut body, value, key)| {
            let keys: Vec<String> = body
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            let at = keys.get(key.len() % keys.len().max(1)).cloned().unwrap_or(key);
            body[at] = value;
            body.to_string().into_bytes()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]

        #[test]
        fn money_bodies_of_any_shape_are_read_or_refused_as_400_or_422_quickly(
            bytes in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..512),
                crate::testing::any_json().prop_map(|v| v.to_string().into_bytes()),
                near_valid(),
            ]
        ) {
            let started = std::time::Instant::now();
            prop_assert_eq!(read_every_money_body(&bytes), Ok(()));
            prop_assert!(started.elapsed() < std::time::Duration::from_secs(2));
        }
    }
}
