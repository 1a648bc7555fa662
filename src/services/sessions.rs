//! Sessions: login with throttling, refresh-token rotation with reuse detection, logout, and
//! resolving the caller of an access token. A login starts a refresh *family*; each refresh
//! marks the presented token used and issues the next one in the family; presenting a used token
//! again (a sign it was stolen) revokes the whole family, and so every token and access token of
//! that session.

use chrono::{Duration, NaiveDateTime};
use diesel::dsl::count_star;
use diesel::prelude::*;
use secrecy::SecretString;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::tokens::{hash_refresh_token, new_refresh_token};
use crate::clock;
use crate::db::schema::{login_failures, refresh_families, refresh_tokens, users};
use crate::db::{write_transaction, DbConnection};
use crate::domain::identity::Email;
use crate::error::AppError;
use crate::services::accounts;
use crate::state::AppState;

/// Tokens handed out at login and refresh.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub session_id: String,
    pub is_platform_admin: bool,
    /// The id of the request it made (`X-Request-Id`), for the audit trail.
    pub request_id: Option<String>,
}

const BAD_CREDENTIALS: &str = "the email or password is wrong";

/// Checks the password and starts a session. Unknown email and wrong password give the same
/// 401 after the same work (a hash is verified either way); more than `login_max_failures`
/// failed (or concurrent) attempts for one email or one client address within the window give
/// 429.
pub async fn login(
    state: &AppState,
    email: &str,
    password: SecretString,
    client_addr: &str,
) -> Result<TokenPair, AppError> {
    let auth = &state.settings.auth;
    let email = Email::parse(email).ok();
    let mut scopes = vec![format!("addr:{client_addr}")];
    if let Some(email) = &email {
        scopes.push(format!("email:{}", email.as_str()));
    }
    let (window, max_failures) = (
        Duration::seconds(auth.login_window_secs as i64),
        i64::from(auth.login_max_failures),
    );
    // The attempt is recorded (and committed) before it is counted, so concurrent guesses see
    // each other: of any burst, at most `max_failures` per window get a password check.
    let now = clock::now();
    let attempt_ids = {
        let scopes = scopes.clone();
        state.db.write(move |conn| record_attempt(conn, &scopes, now)).await?
    };
    let forget_attempt =
        |ids: Vec<String>| async move { state.db.write(move |conn| forget_attempts(conn, &ids)).await };
    let throttled = {
        let scopes = scopes.clone();
        state
            .db
            .run(move |conn| check_throttle(conn, &scopes, window, max_failures, now))
            .await
    };
    if let Err(e) = throttled {
        // A refused attempt does not count: otherwise a flood would extend the lock-out forever.
        forget_attempt(attempt_ids).await?;
        return Err(e);
    }
    let user = state
        .db
        .run(move |conn| match &email {
            Some(email) => accounts::find_by_email(conn, email),
            None => Ok(None),
        })
        .await?;
    let verified = state
        .passwords
        .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
        .await?;
    let Some(user) = user.filter(|_| verified) else {
        // The recorded attempt stays: it was a failure.
        return Err(AppError::Unauthorized(BAD_CREDENTIALS));
    };
    forget_attempt(attempt_ids).await?;
    let refresh_token = new_refresh_token()?;
    let refresh_hash = hash_refresh_token(&refresh_token);
    let ttl = Duration::seconds(auth.refresh_token_ttl_secs as i64);
    let user_id = user.id.clone();
    let family_id = state
        .db
        .write(move |conn| start_family(conn, &user_id, &refresh_hash, ttl))
        .await?;
    token_pair(state, &user.id, &family_id, refresh_token)
}

/// Rotates a refresh token. An unknown, expired or revoked token is 401; an already-used one
/// revokes its family (committed) and is 401.
pub async fn refresh(state: &AppState, presented: &str) -> Result<TokenPair, AppError> {
    let presented_hash = hash_refresh_token(presented);
    let next_token = new_refresh_token()?;
    let next_hash = hash_refresh_token(&next_token);
    let ttl = Duration::seconds(state.settings.auth.refresh_token_ttl_secs as i64);
    let outcome = state
        .db
        .write(move |conn| rotate(conn, &presented_hash, &next_hash, ttl))
        .await?;
    match outcome {
        Rotation::Rotated { user_id, family_id } => token_pair(state, &user_id, &family_id, next_token),
        Rotation::Reused => {
            tracing::warn!("a used refresh token was presented again; its session is revoked");
            Err(AppError::Unauthorized("the refresh token is invalid"))
        }
        Rotation::Invalid => Err(AppError::Unauthorized("the refresh token is invalid")),
    }
}

/// Ends the caller's session: its refresh family and the access tokens that name it.
pub fn logout(conn: &mut DbConnection, caller: &Caller) -> Result<(), AppError> {
    revoke_family(conn, &caller.session_id, clock::now())
}

/// Resolves the caller of a verified access token: the user must exist and the session must not
/// be revoked.
pub fn caller(conn: &mut DbConnection, user_id: &str, session_id: &str) -> Result<Caller, AppError> {
    let found: Option<(String, bool)> = users::table
        .inner_join(refresh_families::table)
        .filter(users::id.eq(user_id))
        .filter(refresh_families::id.eq(session_id))
        .filter(refresh_families::revoked_at.is_null())
        .select((users::id, users::is_platform_admin))
        .first(conn)
        .optional()?;
    let (user_id, is_platform_admin) = found.ok_or(AppError::Unauthorized("the session has ended; log in again"))?;
    Ok(Caller {
        user_id,
        session_id: session_id.to_owned(),
        is_platform_admin,
        request_id: None,
    })
}

fn token_pair(state: &AppState, user_id: &str, family_id: &str, refresh_token: String) -> Result<TokenPair, AppError> {
    Ok(TokenPair {
        access_token: state.tokens.issue(user_id, family_id, chrono::Utc::now())?,
        refresh_token,
        token_type: "Bearer",
        expires_in: state.tokens.access_ttl_secs(),
    })
}

/// Refuses when a scope has more than `max_attempts` recorded attempts (failures, and attempts
/// in flight including the caller's own) in the window.
fn check_throttle(
    conn: &mut DbConnection,
    scopes: &[String],
    window: Duration,
    max_attempts: i64,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let since = now - window;
    for scope in scopes {
        let attempts: i64 = login_failures::table
            .filter(login_failures::scope.eq(scope))
            .filter(login_failures::failed_at.gt(since))
            .select(count_star())
            .first(conn)?;
        if attempts > max_attempts {
            let oldest: NaiveDateTime = login_failures::table
                .filter(login_failures::scope.eq(scope))
                .filter(login_failures::failed_at.gt(since))
                .order(login_failures::failed_at.asc())
                .select(login_failures::failed_at)
                .first(conn)?;
            let retry_after = (oldest + window - now).num_seconds().max(1) as u64;
            return Err(AppError::TooManyRequests {
                retry_after_secs: retry_after,
            });
        }
    }
    Ok(())
}

/// Records a login attempt in every scope; it is forgotten again if the login succeeds.
fn record_attempt(conn: &mut DbConnection, scopes: &[String], now: NaiveDateTime) -> Result<Vec<String>, AppError> {
    let mut ids = Vec::with_capacity(scopes.len());
    for scope in scopes {
        let id = clock::new_id();
        diesel::insert_into(login_failures::table)
            .values((
                login_failures::id.eq(&id),
                login_failures::scope.eq(scope),
                login_failures::failed_at.eq(now),
            ))
            .execute(conn)?;
        ids.push(id);
    }
    Ok(ids)
}

fn forget_attempts(conn: &mut DbConnection, ids: &[String]) -> Result<(), AppError> {
    diesel::delete(login_failures::table.filter(login_failures::id.eq_any(ids))).execute(conn)?;
    Ok(())
}

fn start_family(conn: &mut DbConnection, user_id: &str, refresh_hash: &str, ttl: Duration) -> Result<String, AppError> {
    let now = clock::now();
    let family_id = clock::new_id();
    diesel::insert_into(refresh_families::table)
        .values((
            refresh_families::id.eq(&family_id),
            refresh_families::user_id.eq(user_id),
            refresh_families::created_at.eq(now),
        ))
        .execute(conn)?;
    insert_token(conn, &family_id, refresh_hash, now, ttl)?;
    Ok(family_id)
}

fn insert_token(
    conn: &mut DbConnection,
    family_id: &str,
    hash: &str,
    now: NaiveDateTime,
    ttl: Duration,
) -> Result<(), AppError> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(clock::new_id()),
            refresh_tokens::family_id.eq(family_id),
            refresh_tokens::token_hash.eq(hash),
            refresh_tokens::created_at.eq(now),
            refresh_tokens::expires_at.eq(now + ttl),
        ))
        .execute(conn)?;
    Ok(())
}

/// A refresh token joined with its family: id, family id, expiry, use, owner, family revocation.
type TokenRow = (
    String,
    String,
    NaiveDateTime,
    Option<NaiveDateTime>,
    String,
    Option<NaiveDateTime>,
);

enum Rotation {
    Rotated { user_id: String, family_id: String },
    Reused,
    Invalid,
}

fn rotate(conn: &mut DbConnection, presented_hash: &str, next_hash: &str, ttl: Duration) -> Result<Rotation, AppError> {
    let now = clock::now();
    let found: Option<TokenRow> = refresh_tokens::table
        .inner_join(refresh_families::table)
        .filter(refresh_tokens::token_hash.eq(presented_hash))
        .select((
            refresh_tokens::id,
            refresh_tokens::family_id,
            refresh_tokens::expires_at,
            refresh_tokens::used_at,
            refresh_families::user_id,
            refresh_families::revoked_at,
        ))
        .first(conn)
        .optional()?;
    let Some((token_id, family_id, expires_at, used_at, user_id, revoked_at)) = found else {
        return Ok(Rotation::Invalid);
    };
    if revoked_at.is_some() || expires_at <= now {
        return Ok(Rotation::Invalid);
    }
    if used_at.is_some() {
        revoke_family(conn, &family_id, now)?;
        return Ok(Rotation::Reused);
    }
    // The conditional update is the claim: of two concurrent refreshes with one token, one wins
    // and the other is treated as reuse.
    let claimed = diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::id.eq(&token_id))
            .filter(refresh_tokens::used_at.is_null()),
    )
    .set(refresh_tokens::used_at.eq(now))
    .execute(conn)?;
    if claimed == 0 {
        revoke_family(conn, &family_id, now)?;
        return Ok(Rotation::Reused);
    }
    insert_token(conn, &family_id, next_hash, now, ttl)?;
    Ok(Rotation::Rotated { user_id, family_id })
}

fn revoke_family(conn: &mut DbConnection, family_id: &str, now: NaiveDateTime) -> Result<(), AppError> {
    diesel::update(
        refresh_families::table
            .filter(refresh_families::id.eq(family_id))
            .filter(refresh_families::revoked_at.is_null()),
    )
    .set(refresh_families::revoked_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// Housekeeping: drops throttling rows older than the window and sessions long expired.
pub fn purge_expired(conn: &mut DbConnection, login_window: Duration) -> Result<usize, AppError> {
    let now = clock::now();
    write_transaction(conn, |conn| {
        let failures = diesel::delete(login_failures::table.filter(login_failures::failed_at.lt(now - login_window)))
            .execute(conn)?;
        let tokens =
            diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.lt(now - Duration::days(1))))
                .execute(conn)?;
        Ok(failures + tokens)
    })
}
