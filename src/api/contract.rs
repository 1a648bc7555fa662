//! The API contract as served: the OpenAPI document generated from the handlers' annotations,
//! completed here, in one place, with what every operation of a kind shares (the problems it
//! can answer, the text rule), and the request-body rules read back from that same document, so
//! that the server enforces exactly the constraints it publishes (see [`check_body`]).
//!
//! What an operation can answer besides its own statuses follows from its shape:
//! - a bearer requirement: 401; a requirement naming roles (`bearer: ["society_admin"]`): 403;
//! - any operation: 400 (a NUL in the URL, if nothing else is malformed);
//! - a request body: 400 (not JSON, a wrong type, a missing field), 413, 415; and 422 when its
//!   schema constrains a value (a length, a bound, a pattern, a format);
//! - a path parameter: 404 (no such thing, or not one the caller may know of);
//! - an anonymous write ([`ANONYMOUS_WRITES`]): 429 with `Retry-After`;
//! - the database (every operation but [`NO_DATABASE`]): 503 with `Retry-After`.

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::api::rules::TEXT_FORMS;
use crate::api::ApiDoc;
use crate::domain::identity::PASSWORD_MAX_BYTES;
use crate::domain::offer::MAX_AMOUNT;
use crate::error::{AppError, FieldError};
use crate::services::idempotency::IdempotencyKey;

/// Text the API takes never holds NUL (U+0000): PostgreSQL cannot store it. Every request
/// string without a pattern or format of its own carries this pattern, and breaking it is
/// malformed (400); a URL with a NUL is refused before anything else. (Fields a request type
/// does not know are ignored, whatever they hold.)
pub const NO_NUL: &str = "^[^\\u0000]*$";

/// The writes anyone may make with nothing to show for who they are: throttled per client
/// address (429 with `Retry-After`). The other unauthenticated writes prove something: a login
/// a password (and has its own throttle on failures, per email and per address), a refresh its
/// refresh token (256 random bits), and Stripe's webhook its signature (Stripe sends bursts from
/// a few addresses).
pub const ANONYMOUS_WRITES: &[&str] = &["/api/v1/auth/register"];

/// Operations that answer without the database (so never 503).
const NO_DATABASE: &[&str] = &["/health", "/api/v1/payment-methods"];

/// Formats whose values cannot hold NUL (so no pattern is added).
const TEXT_FORMATS: &[&str] = &["date-time", "date", "email", "uri"];

const PROBLEM_JSON: &str = "application/problem+json";

/// The document as served at `/api/v1/openapi.json` and checked in as `openapi.json`.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        use utoipa::OpenApi;
        let mut document =
            serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document is plain data and always serialises");
        complete(&mut document);
        document
    })
}

/// [`document`] as pretty JSON with a final newline.
pub fn document_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        serde_json::to_string_pretty(document()).expect("the OpenAPI document always serialises") + "\n"
    })
}

fn complete(document: &mut Value) {
    if let Some(pence) = document.pointer_mut("/components/schemas/Pence") {
        pence["minimum"] = json!(0);
        pence["maximum"] = json!(MAX_AMOUNT.get());
        pence["description"] = json!(format!("An amount of money in pence (GBP), at most {MAX_AMOUNT}."));
    }
    let request_schemas = request_schema_names(document);
    if let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for name in &request_schemas {
            if let Some(schema) = schemas.get_mut(name) {
                add_text_rules(schema);
            }
        }
    }
    let schemas = document["components"]["schemas"].clone();
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(operations) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in operations.iter_mut() {
            let parameters = operation.get_mut("parameters").and_then(Value::as_array_mut);
            for parameter in parameters.into_iter().flatten() {
                if parameter["name"] == "Idempotency-Key" {
                    parameter["schema"] = json!({"type": "string", "pattern": IdempotencyKey::PATTERN});
                    parameter["description"] = json!(
                        "Unique per attempt (a UUID, say): a repeat with the same key and body answers the first answer \
                         (with `Idempotent-Replayed: true`); with another body, 409. 1 to 255 visible ASCII characters."
                    );
                }
                add_text_rules(&mut parameter["schema"]);
            }
            let problems = Problems::of(path, method, operation, &schemas);
            problems.add_to(operation);
        }
    }
}

/// The component schemas that request bodies name, and those they name in turn.
fn request_schema_names(document: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut pending: Vec<String> = document["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(Value::as_object)
        .flat_map(|operations| operations.values())
        .filter_map(|operation| operation.pointer("/requestBody/content/application~1json/schema"))
        .flat_map(referenced_names)
        .collect();
    while let Some(name) = pending.pop() {
        if names.insert(name.clone()) {
            pending.extend(referenced_names(&document["components"]["schemas"][&name]));
        }
    }
    names
}

fn referenced_names(schema: &Value) -> Vec<String> {
    let mut names = Vec::new();
    let mut stack = vec![schema];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(name) = map
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    names.push(name.to_owned());
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    names
}

/// Anywhere in `schema`: states each named text form ([`TEXT_FORMS`]) as its pattern, adds
/// [`NO_NUL`] to every other string without a pattern or a NUL-free format, and the bounds of
/// its width to every integer without bounds.
fn add_text_rules(schema: &mut Value) {
    let Value::Object(map) = schema else {
        if let Value::Array(items) = schema {
            items.iter_mut().for_each(add_text_rules);
        }
        return;
    };
    let types = |t: &str| match map.get("type") {
        Some(Value::String(one)) => one == t,
        Some(Value::Array(many)) => many.iter().any(|m| m == t),
        _ => false,
    };
    let (is_string, is_integer) = (types("string"), types("integer"));
    let format = map.get("format").and_then(Value::as_str).unwrap_or_default().to_owned();
    if let Some(form) = TEXT_FORMS.iter().find(|form| form.name == format) {
        map.remove("format");
        map.insert("pattern".into(), json!(form.pattern));
        let description = match map.get("description").and_then(Value::as_str) {
            Some(own) => format!("{own}\n\n{}", form.meaning),
            None => form.meaning.to_owned(),
        };
        map.insert("description".into(), json!(description));
    }
    if format == "password" && !map.contains_key("maxLength") {
        // Characters, which bound bytes from below: every password ever accepted fits.
        map.insert("maxLength".into(), json!(PASSWORD_MAX_BYTES));
    }
    if is_string
        && !map.contains_key("pattern")
        && !map.contains_key("enum")
        && !TEXT_FORMATS.contains(&format.as_str())
    {
        map.insert("pattern".into(), json!(NO_NUL));
    }
    if is_integer {
        let (low, high) = match format.as_str() {
            "int32" => (i64::from(i32::MIN), i64::from(i32::MAX)),
            _ => (i64::MIN, i64::MAX),
        };
        map.entry("minimum").or_insert(json!(low));
        map.entry("maximum").or_insert(json!(high));
    }
    for value in map.values_mut() {
        add_text_rules(value);
    }
}

/// The problems an operation can answer because of its shape (see the module doc).
struct Problems {
    unauthenticated: bool,
    forbidden: Option<String>,
    body: Option<String>,
    /// Takes an `Idempotency-Key`, which may have been used for another request.
    idempotent: bool,
    constrained: bool,
    not_found: bool,
    throttled: bool,
    unavailable: bool,
}

impl Problems {
    fn of(path: &str, method: &str, operation: &Value, schemas: &Value) -> Self {
        let requirements: Vec<&Map<String, Value>> = operation["security"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .collect();
        let roles: Vec<&str> = requirements
            .iter()
            .filter_map(|r| r.get("bearer"))
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let body = operation["requestBody"]["content"]
            .as_object()
            .and_then(|content| content.keys().next().cloned());
        let parameters: Vec<&Value> = operation["parameters"].as_array().into_iter().flatten().collect();
        let bounded_query = parameters.iter().any(|p| {
            p["in"] == "query" && (p["schema"].get("minimum").is_some() || p["schema"].get("maximum").is_some())
        });
        let constrained = bounded_query
            || operation
                .pointer("/requestBody/content/application~1json/schema")
                .is_some_and(|schema| constrains(schema, schemas, &mut BTreeSet::new()));
        Problems {
            unauthenticated: requirements.iter().any(|r| r.contains_key("bearer")),
            forbidden: (!roles.is_empty()).then(|| roles.join(" or ").replace('_', " ")),
            body,
            idempotent: parameters.iter().any(|p| p["name"] == "Idempotency-Key"),
            constrained,
            not_found: parameters.iter().any(|p| p["in"] == "path"),
            throttled: method == "post" && ANONYMOUS_WRITES.contains(&path),
            unavailable: !NO_DATABASE.contains(&path),
        }
    }

    fn add_to(&self, operation: &mut Value) {
        let responses = &mut operation["responses"];
        if self.unauthenticated {
            add(
                responses,
                401,
                "No valid access token (send `Authorization: Bearer <access_token>`)",
            );
        }
        if let Some(roles) = &self.forbidden {
            add(
                responses,
                403,
                &format!("Signed in, but not a {roles} of this resource"),
            );
        }
        // Any request may be malformed: a NUL in its URL, if nothing else.
        add(
            responses,
            400,
            "Malformed: a NUL in the URL, a body that is not readable, a wrong type, a missing field or a bad parameter (`errors` names each)",
        );
        if let Some(media_type) = &self.body {
            add(responses, 413, "The body is larger than this server accepts");
            add(responses, 415, &format!("The body is not `{media_type}`"));
        }
        if self.idempotent {
            add(responses, 409, "The `Idempotency-Key` was used for another request");
            replayed(responses);
        }
        if self.constrained {
            add(responses, 422, "A value breaks a rule (`errors` names each field)");
        }
        if self.not_found {
            add(responses, 404, "No such resource, or not one the caller may know of");
        }
        if self.throttled {
            add(
                responses,
                429,
                "Too many requests from this address; try again after `Retry-After` seconds",
            );
            retry_after(responses, 429);
        }
        if self.unavailable {
            add(
                responses,
                503,
                "Temporarily unavailable (the database); try again after `Retry-After` seconds",
            );
        }
        if responses.get("503").is_some() {
            retry_after(responses, 503);
        }
    }
}

/// Whether a request schema constrains any value beyond its type.
fn constrains(schema: &Value, schemas: &Value, seen: &mut BTreeSet<String>) -> bool {
    const KEYWORDS: &[&str] = &["minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems"];
    match schema {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                if seen.insert(name.to_owned()) && constrains(&schemas[name], schemas, seen) {
                    return true;
                }
            }
            let pattern = map.get("pattern").and_then(Value::as_str);
            let own = KEYWORDS.iter().any(|k| map.contains_key(*k))
                || pattern.is_some_and(|p| p != NO_NUL)
                || map
                    .get("format")
                    .and_then(Value::as_str)
                    .is_some_and(|f| ["email", "date", "date-time"].contains(&f));
            own || map.values().any(|v| constrains(v, schemas, seen))
        }
        Value::Array(items) => items.iter().any(|v| constrains(v, schemas, seen)),
        _ => false,
    }
}

/// Adds a problem response unless the operation already documents the status.
fn add(responses: &mut Value, status: u16, description: &str) {
    let Some(responses) = responses.as_object_mut() else {
        return;
    };
    responses.entry(status.to_string()).or_insert_with(|| {
        json!({
            "description": description,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        })
    });
}

/// Marks the success answers of an operation that takes an `Idempotency-Key` as possibly replayed.
fn replayed(responses: &mut Value) {
    let Some(responses) = responses.as_object_mut() else {
        return;
    };
    for (_, response) in responses.iter_mut().filter(|(status, _)| status.starts_with('2')) {
        response["headers"]["Idempotent-Replayed"] = json!({
            "description": "`true` when this is the stored answer to an earlier request with the same key",
            "required": false,
            "schema": {"type": "string", "enum": ["true"]},
        });
    }
}

fn retry_after(responses: &mut Value, status: u16) {
    responses[status.to_string()]["headers"]["Retry-After"] = json!({
        "description": "Seconds to wait before trying again",
        "required": true,
        "schema": {"type": "integer", "minimum": 1},
    });
}

/// The rules of each request body, compiled from the document once.
fn validators() -> &'static HashMap<String, jsonschema::Validator> {
    static VALIDATORS: OnceLock<HashMap<String, jsonschema::Validator>> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        let document = document();
        let components = json!({"schemas": document["components"]["schemas"].clone()});
        request_schema_names(document)
            .into_iter()
            .map(|name| {
                let root = json!({"$ref": format!("#/components/schemas/{name}"), "components": components});
                let validator = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .should_validate_formats(true)
                    .with_pattern_options(jsonschema::PatternOptions::regex())
                    .build(&root)
                    .unwrap_or_else(|e| panic!("the request schema {name} does not compile: {e}"));
                (name, validator)
            })
            .collect()
    })
}

/// Compiles every request schema now, so that a schema that does not compile stops the start
/// rather than a request.
pub fn prepare() {
    validators();
}

/// Checks a JSON body against its request schema in the document. A value of the wrong shape
/// (type, required field, enumeration, NUL in text) is `Err` (400, every field named); a
/// well-shaped value that breaks a constraint (length, bound, pattern, format: an email, a
/// date) is returned as field errors (422 once the handler's own rules are added). Formats are
/// asserted: a `date-time` that is not one breaks the rule, as its description says.
pub fn check_body(schema: &str, body: &Value) -> Result<Vec<FieldError>, AppError> {
    let validator = validators()
        .get(schema)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no request schema named {schema} in the document")))?;
    let (mut shape, mut rules) = (Vec::new(), Vec::new());
    for (field, message, is_shape) in validator.iter_errors(body).flat_map(|error| describe(&error)) {
        let list = if is_shape { &mut shape } else { &mut rules };
        if !list.iter().any(|e: &FieldError| e.field == field) {
            list.push(FieldError::new(field, message));
        }
    }
    if shape.is_empty() {
        return Ok(rules);
    }
    shape.sort_by(|a, b| a.field.cmp(&b.field));
    Err(AppError::BadRequest {
        detail: "the body does not have the expected shape; see errors".into(),
        errors: shape,
    })
}

/// A validation error as (field, message, whether it is a matter of shape). Fields are dotted
/// paths with indexes in brackets (`rule.trigger.kind`, `postcode_prefixes[2]`). An optional
/// member is `oneOf: [null, X]`: when a value is not null, what counts is why it is not an X.
fn describe(error: &jsonschema::ValidationError<'_>) -> Vec<(String, String, bool)> {
    use jsonschema::error::ValidationErrorKind as Kind;
    if let Kind::OneOfNotValid { context } | Kind::AnyOf { context } = error.kind() {
        let not_null = |branch: &&Vec<jsonschema::ValidationError<'static>>| !branch.iter().all(requires_null);
        if let Some(branch) = context.iter().find(not_null) {
            return branch.iter().flat_map(describe).collect();
        }
    }
    let mut field = field_of(error);
    let has_nul = error.instance().as_str().is_some_and(|text| text.contains('\0'));
    let (message, shape) = match error.kind() {
        _ if has_nul => ("must not contain NUL characters".to_owned(), true),
        Kind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            field = if field.is_empty() {
                name.to_owned()
            } else {
                format!("{field}.{name}")
            };
            ("is required".to_owned(), true)
        }
        Kind::Type { .. } | Kind::Enum { .. } | Kind::Constant { .. } => (error.to_string(), true),
        Kind::Format { format } if format == "email" => ("must be a valid email address".to_owned(), false),
        Kind::Format { format } => (format!("must be an RFC 3339 {format}"), false),
        Kind::MinLength { limit } => (format!("must be at least {limit} characters"), false),
        Kind::MaxLength { limit } => (format!("must be at most {limit} characters"), false),
        Kind::Minimum { limit } => (format!("must be at least {limit}"), false),
        Kind::Maximum { limit } => (format!("must be at most {limit}"), false),
        Kind::Pattern { pattern } => (pattern_message(pattern), false),
        _ => (error.to_string(), false),
    };
    let field = if field.is_empty() { "body".to_owned() } else { field };
    vec![(field, message, shape)]
}

/// Whether the error says only that the value should have been null (the `null` branch of an
/// optional member).
fn requires_null(error: &jsonschema::ValidationError<'_>) -> bool {
    use jsonschema::error::{TypeKind, ValidationErrorKind as Kind};
    matches!(error.kind(), Kind::Type { kind: TypeKind::Single(t) } if t.to_string() == "null")
}

fn field_of(error: &jsonschema::ValidationError<'_>) -> String {
    use jsonschema::paths::LocationSegment;
    let mut field = String::new();
    for segment in error.instance_path() {
        match segment {
            LocationSegment::Index(index) => field.push_str(&format!("[{index}]")),
            LocationSegment::Property(name) if field.is_empty() => field.push_str(&name),
            LocationSegment::Property(name) => field.push_str(&format!(".{name}")),
        }
    }
    field
}

/// What breaking a pattern means: the named form's message, or (for a pattern of its own, such
/// as the `Idempotency-Key` header's) a pointer to the field's description in the document.
fn pattern_message(pattern: &str) -> String {
    TEXT_FORMS
        .iter()
        .find(|form| form.pattern == pattern)
        .map_or("is not in the form its description gives", |form| form.message)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::identity::{Postcode, PASSWORD_MIN_CHARS};
    use proptest::prelude::*;

    fn matches(pattern: &str, text: &str) -> bool {
        jsonschema::options()
            .with_pattern_options(jsonschema::PatternOptions::regex())
            .build(&json!({"type": "string", "pattern": pattern}))
            .expect("the pattern compiles")
            .is_valid(&json!(text))
    }

    fn form(name: &str) -> &'static str {
        TEXT_FORMS
            .iter()
            .find(|f| f.name == name)
            .expect("a named form")
            .pattern
    }

    #[test]
    fn password_lengths_in_the_document_are_the_domain_s() {
        let schemas = &document()["components"]["schemas"];
        let register = &schemas["RegisterRequest"]["properties"]["password"];
        assert_eq!(register["minLength"], PASSWORD_MIN_CHARS);
        assert_eq!(register["maxLength"], PASSWORD_MAX_BYTES);
        let login = &schemas["LoginRequest"]["properties"]["password"];
        assert_eq!(login["maxLength"], PASSWORD_MAX_BYTES);
        assert!(
            login.get("minLength").is_none(),
            "a short password is a wrong one (401), not a rule"
        );
    }

    #[test]
    fn list_limits_in_the_document_are_the_server_s() {
        use crate::services::page::MAX_LIMIT;
        let mut lists = 0;
        for item in document()["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                for parameter in operation["parameters"].as_array().into_iter().flatten() {
                    if parameter["name"] == "limit" {
                        lists += 1;
                        assert_eq!(parameter["in"], "query");
                        assert_eq!(parameter["schema"]["minimum"], 1);
                        assert_eq!(parameter["schema"]["maximum"], MAX_LIMIT);
                    }
                }
            }
        }
        assert!(lists >= 7, "{lists} list operations");
    }

    #[test]
    fn every_request_schema_compiles_and_every_secured_operation_documents_401() {
        prepare();
        for item in document()["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                let bearer = operation["security"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|r| r.get("bearer").is_some());
                assert!(!bearer || operation["responses"].get("401").is_some(), "{operation}");
            }
        }
    }

    #[test]
    fn the_named_forms_say_what_the_domain_parsers_accept() {
        for good in [
            "SW1A 1AA",
            "sw1a1aa",
            " GL5 1AA ",
            "B33 8TH",
            "GIR 0AA",
            "m1 1ae",
            "BFPO 61",
        ] {
            assert!(matches(form("uk-postcode"), good), "{good}");
            assert!(Postcode::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "SW1A", "12345", "SW1A 1A1", "ABC1 1AA"] {
            assert!(!matches(form("uk-postcode"), bad), "{bad}");
        }
        for (code, ok) in [
            ("12-34-56", true),
            ("123456", true),
            (" 12 34 56 ", true),
            ("12345", false),
            ("12a456", false),
        ] {
            assert_eq!(matches(form("sort-code"), code), ok, "{code}");
        }
        assert!(matches(form("web-url"), "https://example.org/offer.pdf"));
        assert!(!matches(form("web-url"), "ftp://example.org"));
        assert!(!matches(form("web-url"), "https://example.org/a b"));
    }

    proptest! {
        #[test]
        fn not_blank_is_what_trim_leaves_something_of(text in "[ a\\t\\n\\u{85}\\u{a0}\\u{3000}\\u{feff}\\u{1c}-]{0,6}") {
            prop_assert_eq!(matches(form("not-blank"), &text), !text.trim().is_empty());
        }

        #[test]
        fn every_postcode_the_domain_accepts_has_the_documented_form(
            code in "[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}|[Bb][Ff][Pp][Oo] ?[0-9]{1,4}|GIR 0AA"
        ) {
            if Postcode::parse(&code).is_ok() {
                prop_assert!(matches(form("uk-postcode"), &code), "{}", code);
            }
        }

        #[test]
        fn the_idempotency_key_pattern_is_the_rule_the_server_checks(key in "[\\x00-\\x7f]{0,3}|[!-~]{250,260}") {
            prop_assert_eq!(matches(IdempotencyKey::PATTERN, &key), IdempotencyKey::parse(&key).is_ok());
        }
    }
}
