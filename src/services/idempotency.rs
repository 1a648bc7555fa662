//! Idempotency keys for POSTs that move money. A request claims `(user, key)` at the start of
//! its transaction and stores its answer at the end of the same transaction, so the stored
//! answer exists exactly when the effect does. A concurrent repeat blocks on the claim (the
//! unique key) until the first commits, then replays its answer; on SQLite the write lock
//! already serialises them. A failed request (4xx) rolls back and releases its key, so a
//! corrected retry may reuse it. Keys are kept at least 24 hours (purged after 48).

use chrono::Duration;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::clock;
use crate::db::fixed::{Fixed, Param};
use crate::db::schema::idempotency_keys;
use crate::db::{Db, DbConnection};
use crate::error::{AppError, FieldError};

/// How long keys are kept before the housekeeping job may delete them.
pub const RETENTION: Duration = Duration::hours(48);

/// A client's key: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The rule [`IdempotencyKey::parse`] checks, as the document's pattern for the header.
    pub const PATTERN: &'static str = "^[!-~]{1,255}$";

    pub fn parse(raw: &str) -> Result<Self, AppError> {
        if raw.is_empty() || raw.len() > 255 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AppError::BadRequest {
                detail: "the Idempotency-Key header is not valid".into(),
                errors: vec![FieldError::new(
                    "Idempotency-Key",
                    "must be 1 to 255 visible ASCII characters",
                )],
            });
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An answer as stored and replayed.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
    /// True when this is a replay of an earlier request's answer.
    pub replayed: bool,
}

/// What identifies "the same request": method, path and body (JSON with sorted keys).
pub fn request_hash(method: &str, path: &str, body: &serde_json::Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b" ");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(body.to_string().as_bytes());
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `work` once per `(user, key)`, inside the caller's transaction. `work` answers a
/// status and a JSON body.
pub fn once<F>(
    conn: &mut DbConnection,
    user_id: &str,
    key: &IdempotencyKey,
    request_hash: &str,
    work: F,
) -> Result<StoredResponse, AppError>
where
    F: FnOnce(&mut DbConnection) -> Result<(u16, serde_json::Value), AppError>,
{
    // `ON CONFLICT ... DO NOTHING` is the same text on both backends (SQLite since 3.24).
    let claimed = Fixed {
        parts: &[
            "INSERT INTO idempotency_keys (user_id, idempotency_key, request_hash, created_at) VALUES (",
            ", ",
            ", ",
            ", ",
            ") ON CONFLICT (user_id, idempotency_key) DO NOTHING",
        ],
        params: [
            Param::Text(user_id),
            Param::Text(key.as_str()),
            Param::Text(request_hash),
            Param::Timestamp(clock::now()),
        ],
    }
    .execute(conn)?;
    if claimed == 0 {
        let (stored_hash, status, body): (String, Option<i32>, Option<String>) = idempotency_keys::table
            .find((user_id, key.as_str()))
            .select((
                idempotency_keys::request_hash,
                idempotency_keys::response_status,
                idempotency_keys::response_body,
            ))
            .first(conn)?;
        if stored_hash != request_hash {
            return Err(AppError::conflict(
                "this Idempotency-Key was used for a different request; use a new key",
            ));
        }
        return match (status, body) {
            (Some(status), Some(body)) => Ok(StoredResponse {
                status: u16::try_from(status).unwrap_or(200),
                body,
                replayed: true,
            }),
            _ => Err(AppError::conflict(
                "a request with this Idempotency-Key is still in progress",
            )),
        };
    }
    let (status, body) = work(conn)?;
    let body = body.to_string();
    Fixed {
        parts: &[
            "UPDATE idempotency_keys SET response_status = ",
            ", response_body = ",
            " WHERE user_id = ",
            " AND idempotency_key = ",
            "",
        ],
        params: [
            Param::Integer(i32::from(status)),
            Param::Text(&body),
            Param::Text(user_id),
            Param::Text(key.as_str()),
        ],
    }
    .execute(conn)?;
    Ok(StoredResponse {
        status,
        body,
        replayed: false,
    })
}

/// A request that moves money, as the store knows it: who sent it, with which key (optional on
/// some routes), and the hash of its method, path and JSON body.
#[derive(Debug, Clone)]
pub struct Request {
    pub user_id: String,
    pub key: Option<IdempotencyKey>,
    pub hash: String,
}

impl Request {
    /// A POST to `path` with `body`.
    pub fn post<B: serde::Serialize>(
        user_id: &str,
        key: Option<IdempotencyKey>,
        path: &str,
        body: &B,
    ) -> Result<Self, AppError> {
        Ok(Request {
            user_id: user_id.to_owned(),
            key,
            hash: request_hash("POST", path, &to_json(body)?),
        })
    }
}

/// A value as JSON (a 500 if it cannot be: a bug).
pub fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, AppError> {
    serde_json::to_value(value).map_err(|e| AppError::Internal(anyhow::anyhow!("serialising an answer: {e}")))
}

/// Runs `work` in a write transaction (queued at the hot row `row` when given, on PostgreSQL),
/// once per key when the request has one: a repeat answers the stored answer. `work` answers a
/// status and a body.
pub async fn run<T, F>(db: &Db, request: Request, row: Option<&str>, work: F) -> Result<StoredResponse, AppError>
where
    T: serde::Serialize,
    F: Fn(&mut DbConnection) -> Result<(u16, T), AppError> + Send + 'static,
{
    let transaction = move |conn: &mut DbConnection| {
        let answer = |conn: &mut DbConnection| {
            let (status, answer) = work(conn)?;
            Ok((status, to_json(&answer)?))
        };
        match &request.key {
            Some(key) => once(conn, &request.user_id, key, &request.hash, answer),
            None => answer(conn).map(|(status, body)| StoredResponse {
                status,
                body: body.to_string(),
                replayed: false,
            }),
        }
    };
    match row {
        Some(row) => db.write_at(row, transaction).await,
        None => db.write(transaction).await,
    }
}

/// Housekeeping: deletes keys older than [`RETENTION`].
pub fn purge_expired(conn: &mut DbConnection) -> Result<usize, AppError> {
    Ok(
        diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(clock::now() - RETENTION)))
            .execute(conn)?,
    )
}
