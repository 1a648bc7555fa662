//! Two people for public money: a fund may require a second, different funder admin to confirm
//! an approval whose commitment is at or above its threshold (`0`: every approval). The first
//! approval **holds** the commitment in the ledger (a posted transfer `hold:<request>` from the
//! fund to the application's commitment account, so the fund account's own rule stops any
//! overcommitment) as a request awaiting confirmation; the application stays `pending`. A
//! second admin **confirms** (the application is approved with the held commitment, which is
//! already where an approval puts it) or **declines** (`hold:<request>:release` returns it). The
//! one who asked cannot confirm or decline; a funder admin who also administers the applying
//! society can do none of it. A hold still awaiting when its application is rejected or its
//! offer is cancelled, fails or is allocated returns to the fund.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApplicationView;
use crate::clock;
use crate::db::schema::{commitment_requests, match_applications, society_admins};
use crate::db::DbConnection;
use crate::domain::money::Pence;
use crate::error::AppError;
use crate::ledger::{self, AccountKind, LedgerError, NewTransfer};

/// A request for a second admin's confirmation, as funders and societies see it.
#[derive(Debug, Clone, Serialize, ToSchema, Queryable, Selectable)]
#[diesel(table_name = commitment_requests)]
pub struct Confirmation {
    pub id: String,
    #[serde(skip)]
    pub application_id: String,
    pub commitment_pence: i64,
    /// The funder admin who approved first (asked for the confirmation).
    pub requested_by: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(serialize_with = "utc")]
    pub requested_at: NaiveDateTime,
    /// `awaiting`, `confirmed`, `declined` or `released` (its offer ended first, or the
    /// application was rejected).
    pub state: String,
    /// Who confirmed or declined it.
    pub resolved_by: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(serialize_with = "utc_opt")]
    pub resolved_at: Option<NaiveDateTime>,
    /// Why it was declined.
    pub reason: Option<String>,
}

fn utc<S: serde::Serializer>(at: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    clock::utc(*at).serialize(s)
}

fn utc_opt<S: serde::Serializer>(at: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
    at.map(clock::utc).serialize(s)
}

/// Whether an approval of `commitment` needs a second admin under the fund's threshold.
pub fn needs_second(threshold: Option<i64>, commitment: Pence) -> bool {
    threshold.is_some_and(|t| commitment.get() >= t)
}

/// 403 when the funder admin also administers the society whose offer applied: they may not
/// decide on their own society's public money.
pub fn check_not_interested(conn: &mut DbConnection, user_id: &str, society_id: &str) -> Result<(), AppError> {
    let interested = society_admins::table
        .find((society_id, user_id))
        .select(society_admins::user_id)
        .first::<String>(conn)
        .optional()?
        .is_some();
    if interested {
        return Err(AppError::ForbiddenBecause(
            "you administer the society that applied: another funder admin must decide".into(),
        ));
    }
    Ok(())
}

/// The latest request of each of `applications`.
pub fn latest(conn: &mut DbConnection, applications: &[String]) -> Result<Vec<Confirmation>, AppError> {
    let mut all: Vec<Confirmation> = commitment_requests::table
        .filter(commitment_requests::application_id.eq_any(applications))
        .order((commitment_requests::requested_at.desc(), commitment_requests::id.desc()))
        .select(Confirmation::as_select())
        .load(conn)?;
    let mut seen = std::collections::HashSet::new();
    all.retain(|c| seen.insert(c.application_id.clone()));
    Ok(all)
}

/// Fills each view's `confirmation` with its latest request.
pub fn with_confirmations(
    conn: &mut DbConnection,
    mut views: Vec<ApplicationView>,
) -> Result<Vec<ApplicationView>, AppError> {
    let ids: Vec<String> = views.iter().map(|v| v.id.clone()).collect();
    let latest = latest(conn, &ids)?;
    for view in &mut views {
        view.confirmation = latest.iter().find(|c| c.application_id == view.id).cloned();
    }
    Ok(views)
}

/// The first approval: holds the commitment and records the request. 422 when the fund's
/// available budget is short; 409 when a request already awaits.
pub fn hold(
    conn: &mut DbConnection,
    fund_id: &str,
    application_id: &str,
    commitment: Pence,
    requested_by: &str,
) -> Result<(), AppError> {
    let id = clock::new_id();
    let [fund_account, commitment_account] = ledger::ensure_accounts(
        conn,
        [(AccountKind::Fund, fund_id), (AccountKind::Commitment, application_id)],
    )?;
    let held = ledger::create_posted(
        conn,
        &NewTransfer {
            id: &format!("hold:{id}"),
            debit_account_id: &fund_account,
            credit_account_id: &commitment_account,
            amount: commitment,
            kind: "commitment",
            cause: &format!("application:{application_id}:awaiting"),
        },
    );
    if let Err(AppError::Ledger(LedgerError::DebitsExceedCredits(_))) = &held {
        let available = super::summary(conn, fund_id)?.available_pence;
        return Err(AppError::field(
            "commitment_pence",
            format!("is more than the fund's available budget of {available}"),
        ));
    }
    held?;
    let inserted = diesel::insert_into(commitment_requests::table)
        .values((
            commitment_requests::id.eq(&id),
            commitment_requests::application_id.eq(application_id),
            commitment_requests::commitment_pence.eq(commitment.get()),
            commitment_requests::requested_by.eq(requested_by),
            commitment_requests::requested_at.eq(clock::now()),
            commitment_requests::state.eq("awaiting"),
        ))
        .execute(conn)
        .map_err(AppError::from);
    match inserted {
        Err(e) if e.is_unique_violation() => Err(AppError::conflict(
            "an approval of this application already awaits a second admin's confirmation",
        )),
        other => other.map(|_| ()),
    }
}

/// The request awaiting for the application; 409 when none does.
pub fn awaiting(conn: &mut DbConnection, application_id: &str) -> Result<Confirmation, AppError> {
    commitment_requests::table
        .filter(commitment_requests::application_id.eq(application_id))
        .filter(commitment_requests::state.eq("awaiting"))
        .select(Confirmation::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::conflict("no approval of this application awaits confirmation"))
}

/// Moves the awaiting request to `state` (once: a second caller finds it moved, 409).
pub fn resolve(
    conn: &mut DbConnection,
    request: &Confirmation,
    state: &str,
    by: Option<&str>,
    reason: Option<&str>,
) -> Result<(), AppError> {
    let moved = diesel::update(
        commitment_requests::table
            .filter(commitment_requests::id.eq(&request.id))
            .filter(commitment_requests::state.eq("awaiting")),
    )
    .set((
        commitment_requests::state.eq(state),
        commitment_requests::resolved_by.eq(by),
        commitment_requests::resolved_at.eq(clock::now()),
        commitment_requests::reason.eq(reason),
    ))
    .execute(conn)?;
    if moved == 0 {
        return Err(AppError::conflict("the approval was confirmed or declined meanwhile"));
    }
    Ok(())
}

/// Returns a request's hold to its fund.
pub fn release_hold(conn: &mut DbConnection, fund_id: &str, request: &Confirmation) -> Result<(), AppError> {
    ledger::create_posted(
        conn,
        &NewTransfer {
            id: &format!("hold:{}:release", request.id),
            debit_account_id: &AccountKind::Commitment.account_id(&request.application_id),
            credit_account_id: &AccountKind::Fund.account_id(fund_id),
            amount: Pence::new(request.commitment_pence),
            kind: "release",
            cause: &format!("application:{}:not-confirmed", request.application_id),
        },
    )
    .map(|_| ())
}

/// Every hold still awaiting on the offer's applications returns to its fund (the offer was
/// cancelled, failed or is allocated: nothing can be approved any more).
pub fn release_offer_holds(conn: &mut DbConnection, offer_id: &str) -> Result<(), AppError> {
    let awaiting: Vec<(Confirmation, String)> = commitment_requests::table
        .inner_join(match_applications::table)
        .filter(match_applications::offer_id.eq(offer_id))
        .filter(commitment_requests::state.eq("awaiting"))
        .select((Confirmation::as_select(), match_applications::fund_id))
        .load(conn)?;
    for (request, fund_id) in awaiting {
        resolve(conn, &request, "released", None, None)?;
        release_hold(conn, &fund_id, &request)?;
    }
    Ok(())
}

/// What the fund's holds awaiting confirmation add up to.
pub fn awaiting_total(conn: &mut DbConnection, fund_id: &str) -> Result<i64, AppError> {
    let amounts: Vec<i64> = commitment_requests::table
        .inner_join(match_applications::table)
        .filter(match_applications::fund_id.eq(fund_id))
        .filter(commitment_requests::state.eq("awaiting"))
        .select(commitment_requests::commitment_pence)
        .load(conn)?;
    Ok(amounts.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_decides_who_must_confirm() {
        assert!(!needs_second(None, Pence::new(1_000_000)));
        assert!(needs_second(Some(0), Pence::new(1)));
        assert!(needs_second(Some(500_000), Pence::new(500_000)));
        assert!(!needs_second(Some(500_000), Pence::new(499_999)));
    }
}
