//! Each funder's audit trail: who did what for the funder, when, and from which request
//! (`X-Request-Id`, which the access log carries too). An entry is written in the same
//! transaction as what it records, and never changed. Readable by the funder's admins and by
//! platform admins.

use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::{self, Timestamp};
use crate::db::schema::{funder_audit, users};
use crate::db::DbConnection;
use crate::domain::governance::AuditAction;
use crate::error::AppError;
use crate::services::page::{Page, PageRequest};
use crate::services::sessions::Caller;

/// Who acted, and in which request.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub user_id: &'a str,
    pub request_id: Option<&'a str>,
}

impl Caller {
    pub fn actor(&self) -> Actor<'_> {
        Actor {
            user_id: &self.user_id,
            request_id: self.request_id.as_deref(),
        }
    }
}

/// Appends an entry to the funder's trail; `detail` is a sentence for people.
pub fn record(
    conn: &mut DbConnection,
    funder_id: &str,
    actor: Actor<'_>,
    action: AuditAction,
    detail: &str,
) -> Result<(), AppError> {
    diesel::insert_into(funder_audit::table)
        .values((
            funder_audit::id.eq(clock::new_id()),
            funder_audit::funder_id.eq(funder_id),
            funder_audit::at.eq(clock::now()),
            funder_audit::actor_id.eq(actor.user_id),
            funder_audit::action.eq(action),
            funder_audit::detail.eq(detail),
            funder_audit::request_id.eq(actor.request_id),
        ))
        .execute(conn)?;
    Ok(())
}

/// An entry of a funder's audit trail.
#[derive(Debug, Serialize, ToSchema, Queryable)]
pub struct AuditEntry {
    pub id: String,
    #[diesel(deserialize_as = chrono::NaiveDateTime)]
    pub at: Timestamp,
    /// Who acted (null when the platform itself did).
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub action: AuditAction,
    /// What happened, in words.
    pub detail: String,
    /// The request that did it (`X-Request-Id`).
    pub request_id: Option<String>,
}

/// The funder's trail, newest first (entry ids are UUIDv7: id order is time order).
pub fn trail(conn: &mut DbConnection, funder_id: &str, page: &PageRequest) -> Result<Page<AuditEntry>, AppError> {
    let mut query = funder_audit::table
        .left_join(users::table.on(users::id.nullable().eq(funder_audit::actor_id)))
        .filter(funder_audit::funder_id.eq(funder_id))
        .select((
            funder_audit::id,
            funder_audit::at,
            funder_audit::actor_id,
            users::display_name.nullable(),
            funder_audit::action,
            funder_audit::detail,
            funder_audit::request_id,
        ))
        .order(funder_audit::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(funder_audit::id.lt(after));
    }
    let rows: Vec<AuditEntry> = query.load(conn)?;
    Page::from_rows(rows, page, |r| r.id.clone(), Ok)
}
