//! Applications for match funding: a society applies its offer to a fund; a funder admin
//! approves it with a commitment (reserved in the ledger, so no fund is ever overcommitted) or
//! rejects it.

use diesel::prelude::*;
use serde_json::json;

use super::{confirmation, get_fund, summary, ApplicationRow, ApplicationView, Decider, FundRow};
use crate::clock;
use crate::db::schema::{funds, match_applications, offers};
use crate::db::DbConnection;
use crate::domain::governance::AuditAction;
use crate::domain::matching::{ApplicationStatus, Rule, Timing};
use crate::domain::money::Pence;
use crate::domain::offer::OfferStatus;
use crate::error::AppError;
use crate::ledger::{self, AccountKind, LedgerError, NewTransfer};
use crate::notify::{self, Kind};
use crate::services::audit;
use crate::services::offers::{self as offer_service, OfferRow};
use crate::services::page::{Page, PageRequest};

/// A society applies its offer to a fund.
pub fn apply(conn: &mut DbConnection, offer: &OfferRow, fund_id: &str) -> Result<ApplicationView, AppError> {
    if funds::table
        .find(fund_id)
        .select(funds::id)
        .first::<String>(conn)
        .optional()?
        .is_none()
    {
        return Err(AppError::field("fund_id", "no fund has this id"));
    }
    let status = offer.status()?;
    if !matches!(
        status,
        OfferStatus::Draft | OfferStatus::Submitted | OfferStatus::Approved | OfferStatus::Open
    ) {
        return Err(AppError::conflict(format!(
            "an offer that is {} cannot apply for match funding",
            status.as_str()
        )));
    }
    let id = clock::new_id();
    let inserted = diesel::insert_into(match_applications::table)
        .values((
            match_applications::id.eq(&id),
            match_applications::fund_id.eq(fund_id),
            match_applications::offer_id.eq(&offer.id),
            match_applications::status.eq(ApplicationStatus::Pending),
            match_applications::created_at.eq(clock::now()),
        ))
        .execute(conn)
        .map_err(AppError::from);
    match inserted {
        Err(e) if e.is_unique_violation() => Err(AppError::conflict("this offer has already applied to this fund")),
        Err(e) => Err(e),
        Ok(_) => Ok(get_application(conn, &id)?.into()),
    }
}

pub fn get_application(conn: &mut DbConnection, id: &str) -> Result<ApplicationRow, AppError> {
    match_applications::table
        .find(id)
        .select(ApplicationRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound("application"))
}

/// An application of this fund (404 if it belongs to another).
fn application_of(conn: &mut DbConnection, fund_id: &str, application_id: &str) -> Result<ApplicationRow, AppError> {
    let application = get_application(conn, application_id)?;
    if application.fund_id != fund_id {
        return Err(AppError::NotFound("application"));
    }
    Ok(application)
}

/// An application as its fund's admins weigh it: the application, the offer that applied (its
/// terms and progress, whatever its state: applying shows it to the fund) and its society.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct FundApplication {
    #[serde(flatten)]
    pub application: ApplicationView,
    pub offer: crate::services::offers::OfferView,
    pub society: crate::services::organisations::Society,
}

/// The fund's applications, newest first, each with its offer and society (five queries,
/// whatever the page's size: see [`weigh`]).
pub fn applications(
    conn: &mut DbConnection,
    fund_id: &str,
    page: &PageRequest,
) -> Result<Page<FundApplication>, AppError> {
    let mut query = match_applications::table
        .filter(match_applications::fund_id.eq(fund_id))
        .select(ApplicationRow::as_select())
        .order(match_applications::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(match_applications::id.lt(after));
    }
    let listed: Page<ApplicationView> = Page::from_rows(query.load(conn)?, page, |a| a.id.clone(), |a| Ok(a.into()))?;
    Ok(Page {
        items: weigh(conn, listed.items)?,
        next_cursor: listed.next_cursor,
    })
}

/// One fund's applications with what its admins weigh them by: each one's confirmation, offer
/// and society, read in four queries (confirmations and their names, offers, societies).
fn weigh(conn: &mut DbConnection, views: Vec<ApplicationView>) -> Result<Vec<FundApplication>, AppError> {
    let offer_ids: Vec<&str> = views.iter().map(|a| a.offer_id.as_str()).collect();
    let offers: Vec<OfferRow> = offers::table
        .filter(offers::id.eq_any(&offer_ids))
        .select(OfferRow::as_select())
        .load(conn)?;
    let society_ids: Vec<&str> = offers.iter().map(|o| o.society_id.as_str()).collect();
    let societies = crate::services::organisations::societies_by_id(conn, &society_ids)?;
    // A fund has one application per offer (a unique index): each offer is taken once.
    let mut offers: std::collections::HashMap<String, OfferRow> =
        offers.into_iter().map(|o| (o.id.clone(), o)).collect();
    confirmation::with_confirmations(conn, views)?
        .into_iter()
        .map(|application| {
            let offer = offers
                .remove(&application.offer_id)
                .ok_or(AppError::NotFound("offer"))?;
            let society = societies
                .get(&offer.society_id)
                .cloned()
                .ok_or(AppError::NotFound("society"))?;
            Ok(FundApplication {
                offer: crate::services::offers::OfferView::from_row(offer)?,
                society,
                application,
            })
        })
        .collect()
}

/// What an approval did: approved at once, or held awaiting a second admin's confirmation
/// (the fund's threshold, [`super::confirmation`]).
pub enum Approval {
    Approved(ApplicationView),
    Awaiting(ApplicationView),
}

/// The application with its latest confirmation request.
fn view_of(conn: &mut DbConnection, application_id: &str) -> Result<ApplicationView, AppError> {
    let view = get_application(conn, application_id)?.into();
    Ok(confirmation::with_confirmations(conn, vec![view])?.remove(0))
}

/// 409 unless the offer can still be matched (not closed, cancelled or decided).
fn check_matchable(offer: &OfferRow, now: chrono::NaiveDateTime) -> Result<(), AppError> {
    let status = offer.status()?;
    if !matches!(
        status,
        OfferStatus::Draft | OfferStatus::Submitted | OfferStatus::Approved | OfferStatus::Open
    ) || (status == OfferStatus::Open && offer.closes_at <= now)
    {
        return Err(AppError::conflict(format!(
            "the offer is {} and can no longer be matched",
            status.as_str()
        )));
    }
    Ok(())
}

/// The application, still pending, and its offer, with the offer's row locked.
fn pending_application(
    conn: &mut DbConnection,
    fund_id: &str,
    application_id: &str,
    now: chrono::NaiveDateTime,
) -> Result<(ApplicationRow, OfferRow), AppError> {
    let application = application_of(conn, fund_id, application_id)?;
    offer_service::lock(conn, &application.offer_id, now)?;
    let application = application_of(conn, fund_id, application_id)?;
    if application.status != ApplicationStatus::Pending {
        return Err(AppError::conflict(format!(
            "the application is {} already",
            application.status
        )));
    }
    let offer = offer_service::get(conn, &application.offer_id)?;
    Ok((application, offer))
}

/// Approves an application with a commitment, reserving it from the fund's budget in the
/// ledger; a live fund's match is computed at once. When the fund's threshold asks for a second
/// admin, the commitment is held instead and the application waits for their confirmation.
/// Over the per-offer cap or the available budget is 422; a decided application, an offer past
/// its close, a clash with an exclusive fund, an approval already awaiting, or one needing a
/// second admin when the funder has no other admin who may confirm it is 409; an admin of the
/// applying society is 403.
pub fn approve(
    conn: &mut DbConnection,
    fund_id: &str,
    application_id: &str,
    commitment: Pence,
    by: &Decider<'_>,
) -> Result<Approval, AppError> {
    let decided_by = by.user_id();
    let now = clock::now();
    let (_, offer) = pending_application(conn, fund_id, application_id, now)?;
    check_matchable(&offer, now)?;
    confirmation::check_not_interested(conn, decided_by, &offer.society_id)?;
    let fund = get_fund(conn, fund_id)?;
    let rule = fund.rule()?;
    if let Err(message) = rule.check_commitment(commitment, Pence::new(offer.share_price_pence)) {
        return Err(AppError::field("commitment_pence", message));
    }
    check_exclusive(conn, &offer.id, &rule)?;
    if confirmation::needs_second(fund.second_approval_threshold_pence, commitment) {
        let second = confirmation::second_admins(conn, &fund, &offer, decided_by, by.cooling_off)?;
        if second.is_empty() {
            // Held, it would wait for an answer no one may give.
            return Err(confirmation::no_second_admin(conn, &fund.funder_id)?);
        }
        confirmation::hold(conn, fund_id, application_id, commitment, decided_by)?;
        confirmation::tell_second_admins(conn, &fund, &offer, commitment, decided_by, &second)?;
        let detail = format!(
            "approved {}'s application to {} for {commitment}; held until a second admin confirms",
            offer.title, fund.name
        );
        audit::record(conn, &fund.funder_id, by.actor, AuditAction::ApprovalHeld, &detail)?;
        return Ok(Approval::Awaiting(view_of(conn, application_id)?));
    }
    reserve_commitment(conn, fund_id, application_id, &offer.id, commitment)?;
    finish_approval(conn, &fund, &offer, application_id, commitment, decided_by, now)?;
    let detail = format!(
        "approved {}'s application to {} for {commitment} (below the fund's threshold for a second admin)",
        offer.title, fund.name
    );
    audit::record(
        conn,
        &fund.funder_id,
        by.actor,
        AuditAction::ApplicationApproved,
        &detail,
    )?;
    Ok(Approval::Approved(view_of(conn, application_id)?))
}

/// A second funder admin confirms the approval awaiting for the application: it is approved
/// with the held commitment. The admin who asked is 403, as is an admin of the applying
/// society; none awaiting, or one confirmed or declined meanwhile, is 409.
pub fn confirm(
    conn: &mut DbConnection,
    fund_id: &str,
    application_id: &str,
    decider: &Decider<'_>,
) -> Result<ApplicationView, AppError> {
    let by = decider.user_id();
    let now = clock::now();
    let (_, offer) = pending_application(conn, fund_id, application_id, now)?;
    let fund = get_fund(conn, fund_id)?;
    let request = second_admin(conn, application_id, decider, &offer, &fund)?;
    check_matchable(&offer, now)?;
    check_exclusive(conn, &offer.id, &fund.rule()?)?;
    confirmation::resolve(conn, &request, "confirmed", Some(by), None)?;
    // The held commitment is where an approval puts it: in the application's commitment account.
    ledger::ensure_account(conn, AccountKind::Match, &offer.id)?;
    finish_approval(
        conn,
        &fund,
        &offer,
        application_id,
        Pence::new(request.commitment_pence),
        by,
        now,
    )?;
    let detail = format!(
        "confirmed the approval of {}'s application to {} for {}",
        offer.title,
        fund.name,
        Pence::new(request.commitment_pence)
    );
    audit::record(
        conn,
        &fund.funder_id,
        decider.actor,
        AuditAction::ApprovalConfirmed,
        &detail,
    )?;
    view_of(conn, application_id)
}

/// A second funder admin declines the approval awaiting: the hold returns to the fund and the
/// application stays pending (it may be approved again). 403 and 409 as [`confirm`].
pub fn decline(
    conn: &mut DbConnection,
    fund_id: &str,
    application_id: &str,
    decider: &Decider<'_>,
    reason: &str,
) -> Result<ApplicationView, AppError> {
    let (_, offer) = pending_application(conn, fund_id, application_id, clock::now())?;
    let fund = get_fund(conn, fund_id)?;
    let request = second_admin(conn, application_id, decider, &offer, &fund)?;
    confirmation::resolve(conn, &request, "declined", Some(decider.user_id()), Some(reason))?;
    confirmation::release_hold(conn, fund_id, &request)?;
    let detail = format!(
        "declined the approval of {}'s application to {}: {reason}",
        offer.title, fund.name
    );
    audit::record(
        conn,
        &fund.funder_id,
        decider.actor,
        AuditAction::ApprovalDeclined,
        &detail,
    )?;
    view_of(conn, application_id)
}

/// The request awaiting, when `by` may answer it: the second person on the request
/// ([`crate::domain::governance::may_second`]: not the admin who asked, an admin from before
/// the request, not brought in by the asker within the cooling-off), and not an admin of the
/// applying society.
fn second_admin(
    conn: &mut DbConnection,
    application_id: &str,
    by: &Decider<'_>,
    offer: &OfferRow,
    fund: &FundRow,
) -> Result<confirmation::RequestRow, AppError> {
    let request = confirmation::awaiting(conn, application_id)?;
    confirmation::check_second(conn, &fund.funder_id, &request.requested_by, request.requested_at, by)?;
    confirmation::check_not_interested(conn, by.user_id(), &offer.society_id)?;
    Ok(request)
}

/// The approval itself, once the commitment is in the application's commitment account: the
/// application approved (once), the match computed for a live fund, the society and funder told.
fn finish_approval(
    conn: &mut DbConnection,
    fund: &FundRow,
    offer: &OfferRow,
    application_id: &str,
    commitment: Pence,
    decided_by: &str,
    now: chrono::NaiveDateTime,
) -> Result<(), AppError> {
    let decided = diesel::update(
        match_applications::table
            .filter(match_applications::id.eq(application_id))
            .filter(match_applications::status.eq(ApplicationStatus::Pending)),
    )
    .set((
        match_applications::status.eq(ApplicationStatus::Approved),
        match_applications::commitment_pence.eq(commitment.get()),
        match_applications::decided_by.eq(decided_by),
        match_applications::decided_at.eq(now),
    ))
    .execute(conn)?;
    if decided == 0 {
        // Rejected meanwhile; the rollback undoes the commitment posted above.
        return Err(AppError::conflict("the application was decided meanwhile"));
    }
    if fund.rule()?.timing == Timing::Live {
        super::refresh_offer(conn, &offer.id)?;
    }
    let available = summary(conn, &fund.id)?.available_pence;
    let decision = json!({"decision": "approved", "commitment": commitment.to_string(), "reason": ""});
    tell_society(conn, offer, fund, decision)?;
    tell_funder(conn, offer, fund, "made", commitment, available)
}

/// 409 when the offer would hold an exclusive fund's match beside another fund's.
fn check_exclusive(conn: &mut DbConnection, offer_id: &str, rule: &Rule) -> Result<(), AppError> {
    let others = super::rematch::approved(conn, offer_id)?;
    if !others.is_empty() && (rule.exclusive || others.iter().any(|other| other.rule.exclusive)) {
        return Err(AppError::conflict(
            "an exclusive fund cannot share an offer with another fund's match",
        ));
    }
    Ok(())
}

/// Moves the commitment from the fund's budget to the application's commitment account: the
/// fund account refuses to pay out more than it holds, so the UPDATE itself stops an
/// overcommitment (422 naming the budget left).
fn reserve_commitment(
    conn: &mut DbConnection,
    fund_id: &str,
    application_id: &str,
    offer_id: &str,
    commitment: Pence,
) -> Result<(), AppError> {
    let [fund_account, commitment_account] = ledger::ensure_accounts(
        conn,
        [(AccountKind::Fund, fund_id), (AccountKind::Commitment, application_id)],
    )?;
    // The offer's match account is made here, once: a new pledge's match is credited to it
    // without looking it up (`rematch::add_new_matches`).
    ledger::ensure_account(conn, AccountKind::Match, offer_id)?;
    let reserved = ledger::create_posted(
        conn,
        &NewTransfer {
            id: &format!("commitment:{application_id}"),
            debit_account_id: &fund_account,
            credit_account_id: &commitment_account,
            amount: commitment,
            kind: "commitment",
            cause: &format!("application:{application_id}"),
        },
    );
    if let Err(AppError::Ledger(LedgerError::DebitsExceedCredits(_))) = &reserved {
        let available = summary(conn, fund_id)?.available_pence;
        return Err(AppError::field(
            "commitment_pence",
            format!("is more than the fund's available budget of {available}"),
        ));
    }
    reserved.map(|_| ())
}

fn tell_society(
    conn: &mut DbConnection,
    offer: &OfferRow,
    fund: &FundRow,
    mut context: serde_json::Value,
) -> Result<(), AppError> {
    context["offer"] = json!(offer.title);
    context["fund"] = json!(fund.name);
    for (_, email) in notify::society_admin_emails(conn, &offer.society_id, false)? {
        notify::enqueue(conn, Kind::ApplicationDecided, &email, &context, None)?;
    }
    Ok(())
}

pub(super) fn tell_funder(
    conn: &mut DbConnection,
    offer: &OfferRow,
    fund: &FundRow,
    event: &str,
    commitment: Pence,
    available: Pence,
) -> Result<(), AppError> {
    let context = json!({
        "fund": fund.name, "offer": offer.title, "event": event,
        "commitment": commitment.to_string(), "available": available.to_string(),
    });
    for email in notify::funder_admin_emails(conn, &fund.funder_id)? {
        notify::enqueue(conn, Kind::Commitment, &email, &context, None)?;
    }
    Ok(())
}

/// The society withdraws its offer's application, before the offer opens (so that it may
/// change terms a fund approved): a commitment approved, or held for a second funder admin,
/// returns to the fund; the application is `released`; the funder's admins are e-mailed and it
/// is in the funder's audit trail. Another offer's application is 404; an open offer, or an
/// application decided otherwise already, is 409.
pub fn withdraw(
    conn: &mut DbConnection,
    offer_id: &str,
    application_id: &str,
    by: crate::services::audit::Actor<'_>,
) -> Result<ApplicationView, AppError> {
    offer_service::lock(conn, offer_id, clock::now())?;
    let application = get_application(conn, application_id)?;
    if application.offer_id != offer_id {
        return Err(AppError::NotFound("application"));
    }
    let offer = offer_service::get(conn, offer_id)?;
    let status = offer.status()?;
    if !matches!(
        status,
        OfferStatus::Draft | OfferStatus::Submitted | OfferStatus::Approved
    ) {
        return Err(AppError::conflict(format!(
            "the offer is {}: its match belongs to its investors now, and the application stays",
            status.as_str()
        )));
    }
    let fund = get_fund(conn, &application.fund_id)?;
    match application.status {
        ApplicationStatus::Approved => {
            super::rematch::release_application(conn, offer_id, &application, "withdrawn by the society")?;
        }
        ApplicationStatus::Pending => {
            if let Ok(request) = confirmation::awaiting(conn, &application.id) {
                confirmation::resolve(conn, &request, "released", None, None)?;
                confirmation::release_hold(conn, &fund.id, &request)?;
            }
        }
        other => return Err(AppError::conflict(format!("the application is {other} already"))),
    }
    diesel::update(match_applications::table.find(&application.id))
        .set((
            match_applications::status.eq(ApplicationStatus::Released),
            match_applications::reason.eq("withdrawn by the society"),
        ))
        .execute(conn)?;
    // No pledges before the offer opens: the match is nothing, and the room is the commitments
    // of the live funds still approved.
    crate::ledger::totals::set_match(conn, offer_id, 0, 0)?;
    super::refresh_offer(conn, offer_id)?;
    let detail = format!("the society withdrew {}'s application to {}", offer.title, fund.name);
    audit::record(conn, &fund.funder_id, by, AuditAction::ApplicationWithdrawn, &detail)?;
    view_of(conn, application_id)
}

pub fn reject(
    conn: &mut DbConnection,
    fund_id: &str,
    application_id: &str,
    reason: &str,
    by: &Decider<'_>,
) -> Result<ApplicationView, AppError> {
    let decided_by = by.user_id();
    let application = application_of(conn, fund_id, application_id)?;
    offer_service::lock(conn, &application.offer_id, clock::now())?;
    let changed = diesel::update(
        match_applications::table
            .filter(match_applications::id.eq(&application.id))
            .filter(match_applications::status.eq(ApplicationStatus::Pending)),
    )
    .set((
        match_applications::status.eq(ApplicationStatus::Rejected),
        match_applications::reason.eq(reason),
        match_applications::decided_by.eq(decided_by),
        match_applications::decided_at.eq(clock::now()),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Err(AppError::conflict(format!(
            "the application is {} already",
            application.status
        )));
    }
    // An approval awaiting confirmation is void with the rejection: its hold returns.
    if let Ok(request) = confirmation::awaiting(conn, &application.id) {
        confirmation::resolve(conn, &request, "released", None, None)?;
        confirmation::release_hold(conn, fund_id, &request)?;
    }
    let offer = offer_service::get(conn, &application.offer_id)?;
    let fund = get_fund(conn, fund_id)?;
    tell_society(
        conn,
        &offer,
        &fund,
        json!({"decision": "rejected", "commitment": "", "reason": reason}),
    )?;
    let detail = format!("rejected {}'s application to {}: {reason}", offer.title, fund.name);
    audit::record(
        conn,
        &fund.funder_id,
        by.actor,
        AuditAction::ApplicationRejected,
        &detail,
    )?;
    view_of(conn, application_id)
}
