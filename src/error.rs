//! The one error type of the application. Every variant maps to an HTTP status and an RFC 9457
//! problem (see `api::problem`); services and extractors return it, handlers pass it through.

use serde::Serialize;
use utoipa::ToSchema;

/// A problem with one input field: `field` is a dotted path into the request body
/// (`rule.trigger.kind`), or a query/header name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request could not be read: not JSON, wrong shape, bad query string (400).
    #[error("malformed request: {detail}")]
    BadRequest { detail: String, errors: Vec<FieldError> },
    /// Well-formed input that breaks a rule (422).
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// Missing or invalid credentials (401). The text is safe to show.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// The caller is known but may not do this (403).
    #[error("forbidden")]
    Forbidden,
    /// As `Forbidden`, saying why (the caller is allowed to know the rule that stops them).
    #[error("forbidden: {0}")]
    ForbiddenBecause(String),
    /// The thing does not exist, or the caller may not know it exists (404).
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// Wrong lifecycle state, duplicate, or an idempotency key reused with another body (409).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Body larger than the configured limit (413).
    #[error("payload too large")]
    PayloadTooLarge { limit: usize },
    /// Body of a media type the route does not take (415).
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// Throttled (429).
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    /// A dependency (the database pool) is unavailable or saturated (503).
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// The payment provider (Stripe) could not be reached or failed (503), or refused the
    /// request (502). The detail is ours and safe to show; it says what was kept.
    #[error("payment provider: {detail}")]
    PaymentProvider { detail: String, refused: bool },
    /// The ledger refused a transfer (a flag would break, an id was reused, ...).
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Validation(vec![FieldError::new(field, message)])
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        AppError::Conflict(detail.into())
    }

    /// Whether retrying the whole transaction may succeed (a serialization failure or deadlock
    /// on PostgreSQL, a busy database on SQLite).
    pub fn is_retryable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            AppError::Database(Error::DatabaseError(kind, info)) => {
                matches!(kind, DatabaseErrorKind::SerializationFailure)
                    || info.message().contains("deadlock detected")
                    || info.message().contains("database is locked")
            }
            _ => false,
        }
    }

    /// Whether the database itself could not be reached or went away mid-request (PostgreSQL
    /// stopped or restarting, a connection cut): 503, not 500. The request may be repeated: if
    /// the cut came during its COMMIT it may have been committed, and a repeat with the same
    /// `Idempotency-Key` answers what was committed.
    pub fn is_database_unreachable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        const GONE: [&str; 8] = [
            "server closed the connection",
            "terminating connection",
            "no connection to the server",
            "could not receive data from server",
            "could not send data to server",
            "connection to server at",
            "the database system is shutting down",
            "the database system is starting up",
        ];
        match self {
            AppError::Database(Error::DatabaseError(kind, info)) => {
                matches!(
                    kind,
                    DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand
                ) || GONE.iter().any(|gone| info.message().contains(gone))
            }
            AppError::Database(Error::BrokenTransactionManager) => true,
            _ => false,
        }
    }

    /// Whether this is a unique-constraint violation (a duplicate insert).
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            AppError::Database(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

impl From<validator::ValidationErrors> for AppError {
    fn from(errors: validator::ValidationErrors) -> Self {
        let mut out = Vec::new();
        collect_validation_errors("", &errors, &mut out);
        out.sort_by(|a, b| a.field.cmp(&b.field));
        AppError::Validation(out)
    }
}

fn collect_validation_errors(prefix: &str, errors: &validator::ValidationErrors, out: &mut Vec<FieldError>) {
    use validator::ValidationErrorsKind;
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for error in list {
                    let message = error
                        .message
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| format!("is invalid ({})", error.code));
                    out.push(FieldError::new(path.clone(), message));
                }
            }
            ValidationErrorsKind::Struct(inner) => collect_validation_errors(&path, inner, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect_validation_errors(&format!("{path}[{index}]"), inner, out);
                }
            }
        }
    }
}
