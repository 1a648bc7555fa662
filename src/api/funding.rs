//! Match funding: funds, applications, approvals and simulation.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::api::access::{FundAdmin, FunderAdmin, MaybeCaller, OfferAdmin};
use crate::api::extract::{Json, Query};
use crate::api::idempotent::{run_idempotent, MaybeIdempotencyKey};
use crate::api::offers::{visible_offer, PageQuery};
use crate::api::problem::Problem;
use crate::domain::matching::Rule;
use crate::domain::money::Pence;
use crate::error::AppError;
use crate::services::funding::{self, ApplicationView, Decider, FundSummary, MatchFunder, Simulation};
use crate::state::AppState;

#[derive(Deserialize, Serialize, Validate, ToSchema)]
pub struct FundRequest {
    #[schema(format = "not-blank", max_length = 200)]
    name: String,
    budget_pence: Pence,
    rule: Rule,
}

/// Creates a fund with a budget and a rule. Takes an optional `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/funders/{id}/funds", tag = "funding", security(("bearer" = ["funder_admin"])),
    params(("id" = String, Path, description = "Funder id"), ("Idempotency-Key" = Option<String>, Header)),
    request_body = FundRequest,
    responses(
        (status = 201, body = FundSummary),
        (status = 422, description = "A broken rule (fields under `rule.`) or budget", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_fund(
    state: web::Data<AppState>,
    admin: FunderAdmin,
    key: MaybeIdempotencyKey,
    body: Json<FundRequest>,
) -> Result<HttpResponse, AppError> {
    if body.budget_pence.get() <= 0 || body.budget_pence > crate::domain::offer::MAX_AMOUNT {
        return Err(AppError::field(
            "budget_pence",
            "must be more than zero and at most £1,000,000,000.00",
        ));
    }
    let path = format!("/api/v1/funders/{}/funds", admin.funder_id);
    let (name, budget, rule) = (body.name.trim().to_owned(), body.budget_pence, body.0.rule.clone());
    let (funder_id, caller) = (admin.funder_id.clone(), admin.caller.clone());
    run_idempotent(&state, None, &admin.caller.user_id, key, &path, &body.0, move |conn| {
        Ok((
            201,
            funding::create_fund(conn, &funder_id, &name, budget, &rule, caller.actor())?,
        ))
    })
    .await
}

/// A fund's public summary: budget, commitments, match given, releases, and its offers.
#[utoipa::path(get, path = "/api/v1/funds/{id}", tag = "funding", params(("id" = String, Path)),
    responses((status = 200, body = FundSummary), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_fund(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let summary = state.db.run(move |conn| funding::summary(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(summary))
}

/// The funders matching an offer (approved applications), for the offer's public page. Anyone
/// who may see the offer may see them.
#[utoipa::path(get, path = "/api/v1/offers/{id}/match-funders", tag = "funding", security((), ("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Vec<MatchFunder>), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn match_funders(
    state: web::Data<AppState>,
    viewer: MaybeCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let funders = state
        .db
        .run(move |conn| {
            let offer = visible_offer(conn, &id, &viewer)?;
            funding::match_funders(conn, &offer.id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(funders))
}

#[derive(Deserialize, Validate, ToSchema)]
pub struct ApplicationRequest {
    #[schema(min_length = 1, max_length = 64)]
    fund_id: String,
}

/// Every fund, newest first, with its rule in plain words and the budget it has left: what a
/// society may apply to.
#[utoipa::path(get, path = "/api/v1/funds", tag = "funding",
    responses((status = 200, body = Vec<crate::services::public_funds::FundListing>)))]
pub async fn list_funds(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let funds = state.db.run(crate::services::public_funds::list_funds).await?;
    Ok(HttpResponse::Ok().json(funds))
}

/// The offer's applications to funds with their state and commitment (its society's admins,
/// platform admins).
#[utoipa::path(get, path = "/api/v1/offers/{id}/match-applications", tag = "funding", security(("bearer" = ["society_admin", "platform_admin"])),
    params(("id" = String, Path)),
    responses((status = 200, body = Vec<crate::services::public_funds::OfferApplication>)))]
pub async fn offer_applications(
    state: web::Data<AppState>,
    manager: crate::api::access::OfferManager,
) -> Result<HttpResponse, AppError> {
    let offer_id = manager.offer.id;
    let list = state
        .db
        .run(move |conn| crate::services::public_funds::offer_applications(conn, &offer_id))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// The society applies its offer to a fund.
#[utoipa::path(post, path = "/api/v1/offers/{id}/match-applications", tag = "funding", security(("bearer" = ["society_admin"])),
    params(("id" = String, Path)), request_body = ApplicationRequest,
    responses(
        (status = 201, body = ApplicationView),
        (status = 409, description = "Already applied, or the offer has closed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No such fund", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn apply(
    state: web::Data<AppState>,
    admin: OfferAdmin,
    body: Json<ApplicationRequest>,
) -> Result<HttpResponse, AppError> {
    let fund_id = body.fund_id.clone();
    let application = state
        .db
        .write(move |conn| funding::apply(conn, &admin.offer, &fund_id))
        .await?;
    Ok(HttpResponse::Created().json(application))
}

/// The society withdraws its offer's application before the offer opens: a commitment approved
/// (or held for a second funder admin) returns to the fund, the application is `released`, and
/// the funder's admins are told. This is how a society changes terms a fund approved. Applying
/// to the same fund again afterwards is not possible (409, one application per fund and offer).
#[utoipa::path(post, path = "/api/v1/offers/{id}/match-applications/{app_id}/withdraw", tag = "funding", security(("bearer" = ["society_admin"])),
    params(("id" = String, Path), ("app_id" = String, Path)),
    responses(
        (status = 200, body = ApplicationView),
        (status = 404, description = "No such application of this offer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The offer is open or has ended, or the application was rejected or released already", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn withdraw_application(
    state: web::Data<AppState>,
    admin: OfferAdmin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let application_id = path.into_inner().1;
    let (offer_id, caller) = (admin.offer.id, admin.caller);
    let application = state
        .db
        .write(move |conn| funding::applications::withdraw(conn, &offer_id, &application_id, caller.actor()))
        .await?;
    Ok(HttpResponse::Ok().json(application))
}

/// The fund's applications, newest first, each with the offer that applied (terms and progress,
/// in any state) and its society.
#[utoipa::path(get, path = "/api/v1/funds/{id}/applications", tag = "funding", security(("bearer" = ["funder_admin"])),
    params(("id" = String, Path), PageQuery),
    responses((status = 200, body = crate::services::page::Page<crate::services::funding::applications::FundApplication>)))]
pub async fn applications(
    state: web::Data<AppState>,
    admin: FundAdmin,
    query: Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let page = query.into_inner().page()?;
    let list = state
        .db
        .run(move |conn| funding::applications(conn, &admin.fund_id, &page))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

#[derive(Deserialize, Serialize, Validate, ToSchema)]
pub struct ApproveRequest {
    commitment_pence: Pence,
}

/// Approves an application with a commitment (≤ the per-offer cap and the available budget,
/// reserved at once): 200, approved. When the fund requires a second admin for a commitment
/// this large (`second_approval_threshold_pence`), the commitment is held and the application
/// waits for another funder admin to confirm: 202, still `pending`, with `confirmation`. An
/// admin of the applying society may not approve (403). Takes an optional `Idempotency-Key`.
///
/// Departs from the first contract (200 only): the two-person rule for public money (issue 23).
#[utoipa::path(post, path = "/api/v1/funds/{id}/applications/{app_id}/approve", tag = "funding", security(("bearer" = ["funder_admin"])),
    params(("id" = String, Path), ("app_id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = ApproveRequest,
    responses(
        (status = 200, description = "Approved", body = ApplicationView),
        (status = 202, description = "Held, awaiting a second funder admin's confirmation", body = ApplicationView),
        (status = 409, description = "Already decided, offer closed, an exclusive fund clashes, an approval already awaits, or it needs a second admin and the funder has no other admin who may confirm it", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Over the per-offer cap or the available budget", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn approve(
    state: web::Data<AppState>,
    admin: FundAdmin,
    key: MaybeIdempotencyKey,
    path: web::Path<(String, String)>,
    body: Json<ApproveRequest>,
) -> Result<HttpResponse, AppError> {
    let (fund_id, application_id) = path.into_inner();
    let route = format!("/api/v1/funds/{fund_id}/applications/{application_id}/approve");
    let commitment = body.commitment_pence;
    let cooling_off = state.settings.governance.cooling_off();
    let caller = admin.caller.clone();
    run_idempotent(&state, None, &admin.caller.user_id, key, &route, &body.0, move |conn| {
        let by = Decider {
            actor: caller.actor(),
            cooling_off,
        };
        Ok(
            match funding::approve(conn, &admin.fund_id, &application_id, commitment, &by)? {
                funding::Approval::Approved(view) => (200, view),
                funding::Approval::Awaiting(view) => (202, view),
            },
        )
    })
    .await
}

#[derive(Deserialize, Validate, ToSchema)]
pub struct RejectRequest {
    #[schema(format = "not-blank", max_length = 2000)]
    reason: String,
}

/// Rejects an application, with a reason for the society.
#[utoipa::path(post, path = "/api/v1/funds/{id}/applications/{app_id}/reject", tag = "funding", security(("bearer" = ["funder_admin"])),
    params(("id" = String, Path), ("app_id" = String, Path)), request_body = RejectRequest,
    responses(
        (status = 200, body = ApplicationView),
        (status = 409, description = "Already decided", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reject(
    state: web::Data<AppState>,
    admin: FundAdmin,
    path: web::Path<(String, String)>,
    body: Json<RejectRequest>,
) -> Result<HttpResponse, AppError> {
    let reason = body.reason.trim().to_owned();
    decide(
        &state,
        admin,
        path.into_inner().1,
        move |conn, fund, application, by| funding::reject(conn, fund, application, &reason, by),
    )
    .await
}

/// Runs a decision on one of the fund's applications as its admin, in one write transaction,
/// and answers the application (200). `work` takes the fund, the application and the admin.
async fn decide<F>(
    state: &web::Data<AppState>,
    admin: FundAdmin,
    application_id: String,
    work: F,
) -> Result<HttpResponse, AppError>
where
    F: Fn(&mut crate::db::DbConnection, &str, &str, &Decider<'_>) -> Result<ApplicationView, AppError> + Send + 'static,
{
    let cooling_off = state.settings.governance.cooling_off();
    let (fund_id, caller) = (admin.fund_id, admin.caller);
    let application = state
        .db
        .write(move |conn| {
            let by = Decider {
                actor: caller.actor(),
                cooling_off,
            };
            work(conn, &fund_id, &application_id, &by)
        })
        .await?;
    Ok(HttpResponse::Ok().json(application))
}

/// A second funder admin confirms the approval awaiting for the application: it is approved
/// with the held commitment. The admin who asked, or an admin of the applying society, is 403;
/// none awaiting (or already confirmed or declined: two confirmations at once commit once) is
/// 409.
#[utoipa::path(post, path = "/api/v1/funds/{id}/applications/{app_id}/confirm", tag = "funding", security(("bearer" = ["funder_admin"])),
    params(("id" = String, Path), ("app_id" = String, Path)),
    responses(
        (status = 200, body = ApplicationView),
        (status = 409, description = "No approval awaits, or it was answered meanwhile; the offer can no longer be matched", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn confirm(
    state: web::Data<AppState>,
    admin: FundAdmin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    decide(&state, admin, path.into_inner().1, funding::confirm).await
}

/// A second funder admin declines the approval awaiting: the held commitment returns to the
/// fund and the application stays pending. 403 and 409 as for confirming.
#[utoipa::path(post, path = "/api/v1/funds/{id}/applications/{app_id}/decline", tag = "funding", security(("bearer" = ["funder_admin"])),
    params(("id" = String, Path), ("app_id" = String, Path)), request_body = RejectRequest,
    responses(
        (status = 200, body = ApplicationView),
        (status = 409, description = "No approval awaits, or it was answered meanwhile", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn decline(
    state: web::Data<AppState>,
    admin: FundAdmin,
    path: web::Path<(String, String)>,
    body: Json<RejectRequest>,
) -> Result<HttpResponse, AppError> {
    let reason = body.reason.trim().to_owned();
    decide(
        &state,
        admin,
        path.into_inner().1,
        move |conn, fund, application, by| funding::decline(conn, fund, application, by, &reason),
    )
    .await
}

#[derive(Deserialize, Validate, ToSchema)]
pub struct SecondApprovalRequest {
    /// An approval of at least this commitment needs a second funder admin's confirmation;
    /// `0`: every approval; `null`: none.
    threshold_pence: Option<Pence>,
}

/// Sets the fund's threshold for a second funder admin's confirmation. Tightening it takes
/// effect at once (200). Relaxing it (raising it, or `null`) takes two people too: the first
/// admin's request answers 202 and waits (`second_approval_change`; the other admins are
/// emailed) until a different admin of the funder asks for the same threshold (200).
#[utoipa::path(put, path = "/api/v1/funds/{id}/second-approval", tag = "funding", security(("bearer" = ["funder_admin"])),
    params(("id" = String, Path)), request_body = SecondApprovalRequest,
    responses(
        (status = 200, description = "The threshold is set", body = FundSummary),
        (status = 202, description = "A relaxation waits for a second funder admin to ask for the same", body = FundSummary),
        (status = 422, description = "A negative threshold", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_second_approval(
    state: web::Data<AppState>,
    admin: FundAdmin,
    body: Json<SecondApprovalRequest>,
) -> Result<HttpResponse, AppError> {
    use funding::funds::ThresholdOutcome;
    let threshold = body.threshold_pence;
    let cooling_off = state.settings.governance.cooling_off();
    let (fund_id, caller) = (admin.fund_id, admin.caller);
    let outcome = state
        .db
        .write(move |conn| {
            let by = Decider {
                actor: caller.actor(),
                cooling_off,
            };
            funding::funds::set_second_approval(conn, &fund_id, threshold, &by)
        })
        .await?;
    Ok(match outcome {
        ThresholdOutcome::Set(summary) => HttpResponse::Ok().json(summary),
        ThresholdOutcome::Awaiting(summary) => HttpResponse::Accepted().json(summary),
    })
}

#[derive(Deserialize, Validate, ToSchema)]
pub struct SimulateRequest {
    #[schema(min_length = 1, max_length = 64)]
    offer_id: String,
    /// A draft rule to try instead of the fund's own.
    rule: Option<Rule>,
    /// Default: the approved commitment, else the rule's per-offer cap.
    commitment_pence: Option<Pence>,
}

/// Runs the rules engine over an offer's current pledges. Writes nothing.
#[utoipa::path(post, path = "/api/v1/funds/{id}/simulate", tag = "funding", security(("bearer" = ["funder_admin"])),
    params(("id" = String, Path)), request_body = SimulateRequest,
    responses(
        (status = 200, body = Simulation),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn simulate(
    state: web::Data<AppState>,
    admin: FundAdmin,
    body: Json<SimulateRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.0;
    let simulation = state
        .db
        .run(move |conn| funding::simulate(conn, &admin.fund_id, &body.offer_id, body.rule, body.commitment_pence))
        .await?;
    Ok(HttpResponse::Ok().json(simulation))
}
