//! Roles are invitations accepted (see [`crate::domain::governance`] for the rules). An
//! invitation names an existing account; a society admin's invitation reaches the invitee at
//! once, a funder admin's only when a second person agrees by making the same request. The
//! role starts when the invitee accepts: that time is what the two-person rule compares with.
//! Every step on a funder is in its audit trail and e-mailed to all its admins.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::{self, Timestamp};
use crate::db::schema::{funder_admins, funders, invitations, societies, society_admins, users};
use crate::db::DbConnection;
use crate::domain::governance::{self, AuditAction, FunderInvitation, InvitationKind, InvitationStatus, Inviter, Seat};
use crate::domain::identity::Email;
use crate::error::AppError;
use crate::notify;
use crate::services::audit::{self, Actor};
use crate::services::organisations;
use crate::services::sessions::Caller;

/// An invitation as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invitations)]
pub struct InvitationRow {
    pub id: String,
    pub kind: InvitationKind,
    pub organisation_id: String,
    pub user_id: String,
    pub invited_by: String,
    pub seconded_by: Option<String>,
    pub status: InvitationStatus,
    pub created_at: NaiveDateTime,
}

/// What a request to add an admin did.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationAnswer {
    pub invitation_id: String,
    /// `invited`: the person must now accept; `awaiting_second_admin`: a second admin of the
    /// funder (or a platform admin, for a funder's first admins) must make the same request.
    pub status: InvitationStatus,
}

impl From<&InvitationRow> for InvitationAnswer {
    fn from(row: &InvitationRow) -> Self {
        InvitationAnswer {
            invitation_id: row.id.clone(),
            status: row.status,
        }
    }
}

/// The invitee: an existing account (422 on `email` otherwise).
fn invitee(conn: &mut DbConnection, email: &Email) -> Result<(String, String, bool), AppError> {
    users::table
        .filter(users::email.eq(email.as_str()))
        .select((users::id, users::display_name, users::is_platform_admin))
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::field("email", "no account has this email; ask them to register first"))
}

fn open_invitation(
    conn: &mut DbConnection,
    kind: InvitationKind,
    organisation_id: &str,
    user_id: &str,
) -> Result<Option<InvitationRow>, AppError> {
    Ok(invitations::table
        .filter(invitations::kind.eq(kind))
        .filter(invitations::organisation_id.eq(organisation_id))
        .filter(invitations::user_id.eq(user_id))
        .filter(invitations::status.eq_any(InvitationStatus::OPEN))
        .select(InvitationRow::as_select())
        .first(conn)
        .optional()?)
}

fn insert(
    conn: &mut DbConnection,
    kind: InvitationKind,
    organisation_id: &str,
    user_id: &str,
    by: &str,
    status: InvitationStatus,
) -> Result<InvitationRow, AppError> {
    let row = InvitationRow {
        id: clock::new_id(),
        kind,
        organisation_id: organisation_id.to_owned(),
        user_id: user_id.to_owned(),
        invited_by: by.to_owned(),
        seconded_by: None,
        status,
        created_at: clock::now(),
    };
    diesel::insert_into(invitations::table)
        .values((
            invitations::id.eq(&row.id),
            invitations::kind.eq(kind),
            invitations::organisation_id.eq(organisation_id),
            invitations::user_id.eq(user_id),
            invitations::invited_by.eq(by),
            invitations::status.eq(status),
            invitations::created_at.eq(row.created_at),
        ))
        .execute(conn)?;
    Ok(row)
}

/// A society admin invites an existing account to administer the society too: 202, the
/// person must accept. An admin already is 409; an open invitation is answered as it stands.
pub fn invite_society_admin(
    conn: &mut DbConnection,
    society_id: &str,
    by: &Caller,
    email: &Email,
) -> Result<InvitationAnswer, AppError> {
    let (user_id, _, _) = invitee(conn, email)?;
    if organisations::is_society_admin(conn, society_id, &user_id)? {
        return Err(AppError::conflict("this account is already an admin"));
    }
    if let Some(open) = open_invitation(conn, InvitationKind::Society, society_id, &user_id)? {
        return Ok((&open).into());
    }
    let row = insert(
        conn,
        InvitationKind::Society,
        society_id,
        &user_id,
        &by.user_id,
        InvitationStatus::Invited,
    )?;
    tell_invitee(conn, &row)?;
    Ok((&row).into())
}

/// Asks to add a funder admin. `is_admin`: the caller administers the funder (else they are a
/// platform admin only). See [`governance::start_funder_invitation`] and
/// [`governance::may_second`]; every step is audited and e-mailed to all the funder's admins.
pub fn invite_funder_admin(
    conn: &mut DbConnection,
    funder_id: &str,
    by: &Caller,
    is_admin: bool,
    email: &Email,
    cooling_off: Duration,
) -> Result<InvitationAnswer, AppError> {
    organisations::lock_funder(conn, funder_id)?;
    let (user_id, _, invitee_is_platform_admin) = invitee(conn, email)?;
    if invitee_is_platform_admin {
        return Err(AppError::ForbiddenBecause(
            "a platform admin cannot be a funder admin: the platform's operators and a funder's people are kept apart"
                .into(),
        ));
    }
    if organisations::is_funder_admin(conn, funder_id, &user_id)? {
        return Err(AppError::conflict("this account is already an admin"));
    }
    let admins = organisations::funder_seats(conn, funder_id)?;
    match open_invitation(conn, InvitationKind::Funder, funder_id, &user_id)? {
        Some(open) if open.status == InvitationStatus::AwaitingSecondAdmin && open.invited_by != by.user_id => {
            second_funder_invitation(conn, open, by, is_admin, &admins, cooling_off)
        }
        Some(open) => Ok((&open).into()),
        None => start_funder_invitation(conn, funder_id, &user_id, by, is_admin, admins.len()),
    }
}

fn start_funder_invitation(
    conn: &mut DbConnection,
    funder_id: &str,
    user_id: &str,
    by: &Caller,
    is_admin: bool,
    admins: usize,
) -> Result<InvitationAnswer, AppError> {
    let inviter = if is_admin {
        Inviter::FunderAdmin
    } else {
        Inviter::PlatformAdmin
    };
    let status = match governance::start_funder_invitation(inviter, user_id == by.user_id, admins) {
        FunderInvitation::Refuse(why) => return Err(AppError::ForbiddenBecause(why.into())),
        FunderInvitation::Invite => InvitationStatus::Invited,
        FunderInvitation::AwaitSecond => InvitationStatus::AwaitingSecondAdmin,
    };
    let row = insert(conn, InvitationKind::Funder, funder_id, user_id, &by.user_id, status)?;
    let names = Names::of(conn, &row)?;
    let detail = match status {
        InvitationStatus::Invited => {
            tell_invitee(conn, &row)?;
            format!(
                "{} (a platform admin) invited {} as one of the funder's first admins",
                names.inviter, names.invitee
            )
        }
        _ => format!(
            "{} asked to add {} as an admin; another admin must agree by adding the same e-mail address",
            names.inviter, names.invitee
        ),
    };
    audit::record(conn, funder_id, by.actor(), AuditAction::AdminInvited, &detail)?;
    tell_funder_admins(conn, funder_id, &detail)?;
    Ok((&row).into())
}

/// A second person agrees to an invitation awaiting them: an admin of the funder who may
/// second the inviter's request, or a platform admin for a funder's first admins.
fn second_funder_invitation(
    conn: &mut DbConnection,
    open: InvitationRow,
    by: &Caller,
    is_admin: bool,
    admins: &[Seat],
    cooling_off: Duration,
) -> Result<InvitationAnswer, AppError> {
    if is_admin {
        let seat = admins
            .iter()
            .find(|s| s.user_id == by.user_id)
            .ok_or(AppError::Forbidden)?;
        governance::may_second(&open.invited_by, open.created_at, seat, cooling_off)
            .map_err(|why| AppError::ForbiddenBecause(why.explain(cooling_off)))?;
    } else if !governance::platform_may_second(admins.len()) {
        return Err(AppError::ForbiddenBecause(
            "this funder has its admins: another of them must agree (a platform admin agrees only for a funder's first two)"
                .into(),
        ));
    }
    let moved = diesel::update(
        invitations::table
            .filter(invitations::id.eq(&open.id))
            .filter(invitations::status.eq(InvitationStatus::AwaitingSecondAdmin)),
    )
    .set((
        invitations::status.eq(InvitationStatus::Invited),
        invitations::seconded_by.eq(&by.user_id),
    ))
    .execute(conn)?;
    if moved == 0 {
        return Err(AppError::conflict("the invitation was answered meanwhile"));
    }
    let row = InvitationRow {
        status: InvitationStatus::Invited,
        seconded_by: Some(by.user_id.clone()),
        ..open
    };
    let names = Names::of(conn, &row)?;
    let detail = format!(
        "{} agreed with {} to invite {} as an admin; the invitation is sent",
        names.seconder.as_deref().unwrap_or_default(),
        names.inviter,
        names.invitee
    );
    audit::record(
        conn,
        &row.organisation_id,
        by.actor(),
        AuditAction::AdminInvitationSeconded,
        &detail,
    )?;
    tell_funder_admins(conn, &row.organisation_id, &detail)?;
    tell_invitee(conn, &row)?;
    Ok((&row).into())
}

/// The display names an invitation's sentences use.
struct Names {
    inviter: String,
    seconder: Option<String>,
    invitee: String,
}

impl Names {
    fn of(conn: &mut DbConnection, row: &InvitationRow) -> Result<Self, AppError> {
        let ids = [
            Some(row.invited_by.as_str()),
            row.seconded_by.as_deref(),
            Some(row.user_id.as_str()),
        ];
        let ids: Vec<&str> = ids.into_iter().flatten().collect();
        let contacts = notify::user_contacts(conn, &ids)?;
        let contact = |id: &str| contacts.get(id).cloned().unwrap_or_default();
        let (email, invitee) = contact(&row.user_id);
        Ok(Names {
            inviter: contact(&row.invited_by).1,
            seconder: row.seconded_by.as_deref().map(|id| contact(id).1),
            invitee: format!("{invitee} ({email})"),
        })
    }
}

fn organisation_name(conn: &mut DbConnection, kind: InvitationKind, id: &str) -> Result<String, AppError> {
    Ok(match kind {
        InvitationKind::Funder => funders::table.find(id).select(funders::name).first(conn)?,
        InvitationKind::Society => societies::table.find(id).select(societies::name).first(conn)?,
    })
}

fn tell_invitee(conn: &mut DbConnection, row: &InvitationRow) -> Result<(), AppError> {
    let (email, name) = notify::user_contact(conn, &row.user_id)?;
    let (_, inviter) = notify::user_contact(conn, &row.invited_by)?;
    let organisation = organisation_name(conn, row.kind, &row.organisation_id)?;
    let context = serde_json::json!({"name": name, "inviter": inviter, "organisation": organisation});
    notify::enqueue(conn, notify::Kind::Invitation, &email, &context, None)
}

/// E-mails every admin of the funder what changed in who may act for it.
fn tell_funder_admins(conn: &mut DbConnection, funder_id: &str, event: &str) -> Result<(), AppError> {
    let organisation = organisation_name(conn, InvitationKind::Funder, funder_id)?;
    let context = serde_json::json!({"organisation": organisation, "event": format!("{event}.")});
    for email in notify::funder_admin_emails(conn, funder_id)? {
        notify::enqueue(conn, notify::Kind::AdminChange, &email, &context, None)?;
    }
    Ok(())
}

/// An open invitation of the caller's, as they see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyInvitation {
    pub id: String,
    pub kind: InvitationKind,
    pub organisation_id: String,
    pub organisation_name: String,
    pub invited_by_name: String,
    pub created_at: Timestamp,
}

/// The caller's invitations that wait for them (a funder's only once seconded), oldest first.
pub fn mine(conn: &mut DbConnection, user_id: &str) -> Result<Vec<MyInvitation>, AppError> {
    let rows: Vec<(InvitationRow, String)> = invitations::table
        .inner_join(users::table.on(users::id.eq(invitations::invited_by)))
        .filter(invitations::user_id.eq(user_id))
        .filter(invitations::status.eq(InvitationStatus::Invited))
        .order(invitations::created_at)
        .select((InvitationRow::as_select(), users::display_name))
        .load(conn)?;
    rows.into_iter()
        .map(|(row, invited_by_name)| {
            Ok(MyInvitation {
                organisation_name: organisation_name(conn, row.kind, &row.organisation_id)?,
                id: row.id,
                kind: row.kind,
                organisation_id: row.organisation_id,
                invited_by_name,
                created_at: row.created_at.into(),
            })
        })
        .collect()
}

/// The caller's invitation `id` that waits for them; 404 when there is none.
fn waiting_for(conn: &mut DbConnection, id: &str, user_id: &str) -> Result<InvitationRow, AppError> {
    invitations::table
        .find(id)
        .filter(invitations::user_id.eq(user_id))
        .filter(invitations::status.eq(InvitationStatus::Invited))
        .select(InvitationRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound("invitation"))
}

fn decide(conn: &mut DbConnection, row: &InvitationRow, status: InvitationStatus) -> Result<NaiveDateTime, AppError> {
    let now = clock::now();
    let moved = diesel::update(
        invitations::table
            .filter(invitations::id.eq(&row.id))
            .filter(invitations::status.eq(InvitationStatus::Invited)),
    )
    .set((invitations::status.eq(status), invitations::decided_at.eq(now)))
    .execute(conn)?;
    if moved == 0 {
        return Err(AppError::conflict("the invitation was answered meanwhile"));
    }
    Ok(now)
}

/// A role just accepted.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub kind: InvitationKind,
    pub organisation_id: String,
    /// When the role started.
    pub since: Timestamp,
}

/// The invitee accepts: the role starts now.
pub fn accept(conn: &mut DbConnection, id: &str, by: Actor<'_>) -> Result<Accepted, AppError> {
    let row = waiting_for(conn, id, by.user_id)?;
    let since = decide(conn, &row, InvitationStatus::Accepted)?;
    let inserted = match row.kind {
        InvitationKind::Funder => diesel::insert_into(funder_admins::table)
            .values((
                funder_admins::funder_id.eq(&row.organisation_id),
                funder_admins::user_id.eq(&row.user_id),
                funder_admins::created_at.eq(since),
                funder_admins::invited_by.eq(&row.invited_by),
                funder_admins::seconded_by.eq(&row.seconded_by),
            ))
            .execute(conn),
        InvitationKind::Society => diesel::insert_into(society_admins::table)
            .values((
                society_admins::society_id.eq(&row.organisation_id),
                society_admins::user_id.eq(&row.user_id),
                society_admins::created_at.eq(since),
                society_admins::invited_by.eq(&row.invited_by),
            ))
            .execute(conn),
    }
    .map_err(AppError::from);
    match inserted {
        Err(e) if e.is_unique_violation() => return Err(AppError::conflict("you are already an admin")),
        other => other?,
    };
    if row.kind == InvitationKind::Funder {
        let names = Names::of(conn, &row)?;
        let detail = format!("{} accepted the invitation and is now an admin", names.invitee);
        audit::record(conn, &row.organisation_id, by, AuditAction::AdminJoined, &detail)?;
        tell_funder_admins(conn, &row.organisation_id, &detail)?;
    }
    Ok(Accepted {
        kind: row.kind,
        organisation_id: row.organisation_id,
        since: since.into(),
    })
}

/// The invitee declines.
pub fn decline(conn: &mut DbConnection, id: &str, by: Actor<'_>) -> Result<(), AppError> {
    let row = waiting_for(conn, id, by.user_id)?;
    decide(conn, &row, InvitationStatus::Declined)?;
    if row.kind == InvitationKind::Funder {
        let names = Names::of(conn, &row)?;
        let detail = format!("{} declined the invitation to be an admin", names.invitee);
        audit::record(conn, &row.organisation_id, by, AuditAction::InvitationDeclined, &detail)?;
        tell_funder_admins(conn, &row.organisation_id, &detail)?;
    }
    Ok(())
}

/// An admin of a funder, as its admins and platform admins see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct FunderAdminView {
    pub user_id: String,
    pub display_name: String,
    pub email: String,
    /// When their role started.
    pub since: Timestamp,
    pub invited_by_name: Option<String>,
}

/// An open invitation to a funder.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenInvitation {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub status: InvitationStatus,
    pub invited_by_name: String,
    pub seconded_by_name: Option<String>,
    pub created_at: Timestamp,
}

/// Who acts for a funder, and who is invited to.
#[derive(Debug, Serialize, ToSchema)]
pub struct FunderPeople {
    pub admins: Vec<FunderAdminView>,
    pub invitations: Vec<OpenInvitation>,
}

pub fn funder_people(conn: &mut DbConnection, funder_id: &str) -> Result<FunderPeople, AppError> {
    let seats = organisations::funder_seats(conn, funder_id)?;
    let open: Vec<InvitationRow> = invitations::table
        .filter(invitations::kind.eq(InvitationKind::Funder))
        .filter(invitations::organisation_id.eq(funder_id))
        .filter(invitations::status.eq_any(InvitationStatus::OPEN))
        .order(invitations::created_at)
        .select(InvitationRow::as_select())
        .load(conn)?;
    let mut ids: Vec<&str> = seats.iter().map(|s| s.user_id.as_str()).collect();
    ids.extend(seats.iter().filter_map(|s| s.invited_by.as_deref()));
    ids.extend(
        open.iter()
            .flat_map(|i| {
                [
                    Some(i.user_id.as_str()),
                    Some(i.invited_by.as_str()),
                    i.seconded_by.as_deref(),
                ]
            })
            .flatten(),
    );
    let contacts = notify::user_contacts(conn, &ids)?;
    let contact = |id: &str| contacts.get(id).cloned().unwrap_or_default();
    Ok(FunderPeople {
        admins: seats
            .iter()
            .map(|s| FunderAdminView {
                user_id: s.user_id.clone(),
                email: contact(&s.user_id).0,
                display_name: contact(&s.user_id).1,
                since: s.since.into(),
                invited_by_name: s.invited_by.as_deref().map(|id| contact(id).1),
            })
            .collect(),
        invitations: open
            .iter()
            .map(|i| OpenInvitation {
                id: i.id.clone(),
                email: contact(&i.user_id).0,
                display_name: contact(&i.user_id).1,
                status: i.status,
                invited_by_name: contact(&i.invited_by).1,
                seconded_by_name: i.seconded_by.as_deref().map(|id| contact(id).1),
                created_at: i.created_at.into(),
            })
            .collect(),
    })
}
