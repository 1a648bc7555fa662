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

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApplicationView;
use crate::clock;
use chrono::Duration;

use crate::db::schema::{commitment_requests, match_applications, society_admins, users};
use crate::db::DbConnection;
use crate::domain::governance;
use crate::domain::money::Pence;
use crate::error::AppError;
use crate::ledger::{self, AccountKind, LedgerError, NewTransfer};
use crate::notify;
use crate::services::organisations;

/// A request for a second admin's confirmation, as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = commitment_requests)]
pub struct RequestRow {
    pub id: String,
    pub application_id: String,
    pub commitment_pence: i64,
    pub requested_by: String,
    pub requested_at: NaiveDateTime,
    pub state: String,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<NaiveDateTime>,
    pub reason: Option<String>,
}

/// A request for a second admin's confirmation, as funders and societies see it: who asked and
/// who answered, by user id and display name, and when.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Confirmation {
    pub id: String,
    pub commitment_pence: i64,
    /// The funder admin who approved first (asked for the confirmation).
    pub requested_by: String,
    /// Their display name.
    pub requested_by_name: String,
    pub requested_at: chrono::DateTime<chrono::Utc>,
    /// `awaiting`, `confirmed`, `declined` or `released` (its offer ended first, or the
    /// application was rejected).
    pub state: String,
    /// Who confirmed or declined it.
    pub resolved_by: Option<String>,
    /// Their display name.
    pub resolved_by_name: Option<String>,
    pub resolved_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Why it was declined.
    pub reason: Option<String>,
}

impl Confirmation {
    /// The view of a stored request; `names` maps user ids to display names.
    fn from_row(row: RequestRow, names: &HashMap<String, String>) -> Self {
        let name = |id: &str| names.get(id).cloned().unwrap_or_default();
        Confirmation {
            requested_by_name: name(&row.requested_by),
            resolved_by_name: row.resolved_by.as_deref().map(name),
            id: row.id,
            commitment_pence: row.commitment_pence,
            requested_by: row.requested_by,
            requested_at: clock::utc(row.requested_at),
            state: row.state,
            resolved_by: row.resolved_by,
            resolved_at: row.resolved_at.map(clock::utc),
            reason: row.reason,
        }
    }
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
fn latest(conn: &mut DbConnection, applications: &[String]) -> Result<Vec<RequestRow>, AppError> {
    let mut all: Vec<RequestRow> = commitment_requests::table
        .filter(commitment_requests::application_id.eq_any(applications))
        .order((commitment_requests::requested_at.desc(), commitment_requests::id.desc()))
        .select(RequestRow::as_select())
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
    let people: Vec<&str> = latest
        .iter()
        .flat_map(|c| [Some(c.requested_by.as_str()), c.resolved_by.as_deref()])
        .flatten()
        .collect();
    let names: HashMap<String, String> = users::table
        .filter(users::id.eq_any(&people))
        .select((users::id, users::display_name))
        .load(conn)?
        .into_iter()
        .collect();
    for view in &mut views {
        view.confirmation = latest
            .iter()
            .find(|c| c.application_id == view.id)
            .map(|c| Confirmation::from_row(c.clone(), &names));
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

/// The email addresses of the fund's admins who may answer a request `requested_by` makes now
/// for this offer: each may be its second person ([`governance::may_second`]) and none is an
/// admin of the applying society.
pub fn second_admins(
    conn: &mut DbConnection,
    fund: &super::funds::FundRow,
    offer: &crate::services::offers::OfferRow,
    requested_by: &str,
    cooling_off: Duration,
) -> Result<Vec<String>, AppError> {
    let now = clock::now();
    let interested: Vec<String> = society_admins::table
        .filter(society_admins::society_id.eq(&offer.society_id))
        .select(society_admins::user_id)
        .load(conn)?;
    let eligible: Vec<String> = organisations::funder_seats(conn, &fund.funder_id)?
        .into_iter()
        .filter(|seat| !interested.contains(&seat.user_id))
        .filter(|seat| governance::may_second(requested_by, now, seat, cooling_off).is_ok())
        .map(|seat| seat.user_id)
        .collect();
    Ok(users::table
        .filter(users::id.eq_any(&eligible))
        .select(users::email)
        .order(users::email)
        .load(conn)?)
}

/// Why an approval that needs a second admin cannot be asked for (409): the funder has one
/// admin, or none of the others may be the second person.
pub fn no_second_admin(conn: &mut DbConnection, funder_id: &str) -> Result<AppError, AppError> {
    let admins = organisations::funder_seats(conn, funder_id)?.len();
    Ok(AppError::conflict(if admins < 2 {
        "approving needs a second admin of this funder, and it has only you: invite a colleague \
         (Add an admin in the funder console). Until then you can create funds and simulate."
    } else {
        "this approval needs a second funder admin, and no other admin of the funder may confirm it \
         (not you, not an admin of the society that applied, not someone you brought in within the cooling-off): \
         invite a colleague first"
    }))
}

/// 403 unless `by` may be the second person on a request `requested_by` made at
/// `requested_at` ([`governance::may_second`]).
pub fn check_second(
    conn: &mut DbConnection,
    funder_id: &str,
    requested_by: &str,
    requested_at: NaiveDateTime,
    by: &super::Decider<'_>,
) -> Result<(), AppError> {
    let seats = organisations::funder_seats(conn, funder_id)?;
    let seat = seats
        .iter()
        .find(|s| s.user_id == by.user_id())
        .ok_or(AppError::Forbidden)?;
    governance::may_second(requested_by, requested_at, seat, by.cooling_off)
        .map_err(|why| AppError::ForbiddenBecause(why.explain(by.cooling_off)))
}

/// Emails `recipients` (from [`second_admins`]) that an approval awaits their confirmation.
pub fn tell_second_admins(
    conn: &mut DbConnection,
    fund: &super::funds::FundRow,
    offer: &crate::services::offers::OfferRow,
    commitment: Pence,
    requested_by: &str,
    recipients: &[String],
) -> Result<(), AppError> {
    let name: String = users::table
        .find(requested_by)
        .select(users::display_name)
        .first(conn)?;
    let context = serde_json::json!({
        "name": name, "fund": fund.name, "offer": offer.title, "commitment": commitment.to_string(),
    });
    for email in recipients {
        notify::enqueue(conn, notify::Kind::ConfirmationAwaited, email, &context, None)?;
    }
    Ok(())
}

/// The request awaiting for the application; 409 when none does.
pub fn awaiting(conn: &mut DbConnection, application_id: &str) -> Result<RequestRow, AppError> {
    commitment_requests::table
        .filter(commitment_requests::application_id.eq(application_id))
        .filter(commitment_requests::state.eq("awaiting"))
        .select(RequestRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::conflict("no approval of this application awaits confirmation"))
}

/// Moves the awaiting request to `state` (once: a second caller finds it moved, 409).
pub fn resolve(
    conn: &mut DbConnection,
    request: &RequestRow,
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
pub fn release_hold(conn: &mut DbConnection, fund_id: &str, request: &RequestRow) -> Result<(), AppError> {
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
    let awaiting: Vec<(RequestRow, String)> = commitment_requests::table
        .inner_join(match_applications::table)
        .filter(match_applications::offer_id.eq(offer_id))
        .filter(commitment_requests::state.eq("awaiting"))
        .select((RequestRow::as_select(), match_applications::fund_id))
        .load(conn)?;
    for (request, fund_id) in awaiting {
        resolve(conn, &request, "released", None, None)?;
        release_hold(conn, &fund_id, &request)?;
    }
    Ok(())
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
