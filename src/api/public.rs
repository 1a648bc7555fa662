//! The public side of match funding (anyone, no token): a fund's public page, the impact of a
//! fund and of a funder, the 360Giving open data of a fund and of the platform. Nothing here
//! names an investor; see [`crate::services::public_funds`] and [`crate::services::open_data`].

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::access::FunderAdmin;
use super::closeout::spreadsheet_safe;
use super::extract::Json;
use super::problem::Problem;
use crate::domain::identity::{is_organisation_id, is_web_address};
use crate::domain::impact::Impact;
use crate::error::AppError;
use crate::services::open_data::{self, Package, CSV_TITLES};
use crate::services::public_funds::{self, PublicFund, PublicFunder, Scope};
use crate::state::AppState;

/// A fund's public page: its funder, budget, rule (also in plain words), totals, every public
/// offer it backs with the society and amounts, and every transfer of its money with its place
/// in the transparency log.
#[utoipa::path(get, path = "/api/v1/funds/{id}/public", tag = "public", params(("id" = String, Path)),
    responses((status = 200, body = PublicFund), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn public_fund(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let fund = state.db.run(move |conn| public_funds::public_fund(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(fund))
}

/// A fund's or a funder's impact.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImpactView {
    pub funder: PublicFunder,
    /// The funds counted (one for a fund's view; every fund of the funder otherwise).
    pub funds: Vec<FundName>,
    pub impact: Impact,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FundName {
    pub id: String,
    pub name: String,
}

fn view(conn: &mut crate::db::DbConnection, funder_id: &str, fund: Option<&str>) -> Result<ImpactView, AppError> {
    use crate::db::schema::funds;
    use diesel::prelude::*;
    let funder = PublicFunder::load(conn, funder_id)?;
    let mut query = funds::table
        .filter(funds::funder_id.eq(funder_id.to_owned()))
        .order((funds::created_at, funds::id))
        .select((funds::id, funds::name))
        .into_boxed();
    if let Some(fund) = fund {
        query = query.filter(funds::id.eq(fund.to_owned()));
    }
    let names: Vec<(String, String)> = query.load(conn)?;
    let impact = match fund {
        Some(fund) => public_funds::impact(conn, Scope::Fund(fund))?,
        None => public_funds::impact(conn, Scope::Funder(funder_id))?,
    };
    Ok(ImpactView {
        funder,
        funds: names.into_iter().map(|(id, name)| FundName { id, name }).collect(),
        impact,
    })
}

/// What a fund's match money did: matched, community money brought in (leverage), investors,
/// the share of them local to the offer, the median pledge, offers succeeded or failed, month
/// by month. Counts and sums only.
#[utoipa::path(get, path = "/api/v1/funds/{id}/impact", tag = "public", params(("id" = String, Path)),
    responses((status = 200, body = ImpactView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn fund_impact(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let answer = state
        .db
        .run(move |conn| {
            let fund = crate::services::funding::funds::get_fund(conn, &id)?;
            view(conn, &fund.funder_id, Some(&id))
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// As a fund's impact, over all of a funder's funds.
#[utoipa::path(get, path = "/api/v1/funders/{id}/impact", tag = "public", params(("id" = String, Path)),
    responses((status = 200, body = ImpactView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn funder_impact(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let answer = state.db.run(move |conn| view(conn, &id, None)).await?;
    Ok(HttpResponse::Ok().json(answer))
}

async fn package(state: &web::Data<AppState>, fund: Option<String>) -> Result<Package, AppError> {
    let settings = state.settings.open_data.clone();
    state
        .db
        .run(move |conn| match &fund {
            Some(fund) => {
                crate::services::funding::funds::get_fund(conn, fund)?;
                open_data::package(conn, Scope::Fund(fund), &settings)
            }
            None => open_data::package(conn, Scope::All, &settings),
        })
        .await
}

fn json(package: &Package, name: &str) -> Result<HttpResponse, AppError> {
    let body =
        serde_json::to_string(package).map_err(|e| AppError::Internal(anyhow::anyhow!("360Giving JSON: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Content-Disposition", format!("inline; filename=\"{name}.json\"")))
        .body(body))
}

/// The 360Giving CSV: the standard's column titles (as its template and flattentool read
/// them), one row per record, UTF-8; a cell a spreadsheet would run as a formula is prefixed
/// with `'`.
fn csv(package: &Package, name: &str) -> Result<HttpResponse, AppError> {
    let failed = |e: csv::Error| AppError::Internal(anyhow::anyhow!("360Giving CSV: {e}"));
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(CSV_TITLES).map_err(failed)?;
    for grant in &package.grants {
        let row: Vec<String> = open_data::csv_row(grant)
            .iter()
            .map(|cell| spreadsheet_safe(cell))
            .collect();
        writer.write_record(row).map_err(failed)?;
    }
    let body = writer
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("360Giving CSV: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{name}.csv\"")))
        .body(body))
}

/// One fund's match awards as a 360Giving package (JSON). 404 before it backs a public offer.
#[utoipa::path(get, path = "/api/v1/funds/{id}/360giving.json", tag = "public", params(("id" = String, Path)),
    responses(
        (status = 200, description = "A 360Giving 1.4 package (README, \"Open data (360Giving)\")", content_type = "application/json", body = Object),
        (status = 404, description = "No such fund, or no award to a public offer yet", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn fund_json(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    json(
        &package(&state, Some(id.clone())).await?,
        &format!("360giving-fund-{id}"),
    )
}

/// As the JSON, as 360Giving's CSV.
#[utoipa::path(get, path = "/api/v1/funds/{id}/360giving.csv", tag = "public", params(("id" = String, Path)),
    responses(
        (status = 200, content_type = "text/csv", body = String),
        (status = 404, description = "No such fund, or no award to a public offer yet", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn fund_csv(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    csv(
        &package(&state, Some(id.clone())).await?,
        &format!("360giving-fund-{id}"),
    )
}

/// Every fund's match awards on the platform as one 360Giving package (JSON).
#[utoipa::path(get, path = "/api/v1/open-data/360giving.json", tag = "public",
    responses(
        (status = 200, description = "A 360Giving 1.4 package", content_type = "application/json", body = Object),
        (status = 404, description = "No award to a public offer yet", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn all_json(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    json(&package(&state, None).await?, "360giving")
}

/// As the JSON, as 360Giving's CSV.
#[utoipa::path(get, path = "/api/v1/open-data/360giving.csv", tag = "public",
    responses(
        (status = 200, content_type = "text/csv", body = String),
        (status = 404, description = "No award to a public offer yet", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn all_csv(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    csv(&package(&state, None).await?, "360giving")
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct FunderOpenDataRequest {
    /// Its organisation identifier (org-id.guide: `GB-LAE-STO` for Stroud District Council,
    /// `GB-CHC-1164883` for a charity), or null.
    #[schema(max_length = 200)]
    organisation_id: Option<String>,
    /// Its website (http or https), or null.
    #[schema(max_length = 2000)]
    website: Option<String>,
    /// The open licence its data is published under (the licence's URL), or null for the
    /// platform's (`open_data.licence_url`).
    #[schema(max_length = 2000)]
    licence_url: Option<String>,
}

/// What the open data says of the funder (a funder admin).
#[utoipa::path(put, path = "/api/v1/funders/{id}/open-data", tag = "public", security(("bearer" = ["funder_admin"])),
    params(("id" = String, Path)), request_body = FunderOpenDataRequest,
    responses(
        (status = 204, description = "Set"),
        (status = 422, description = "Not an organisation identifier or an http(s) address", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_funder_open_data(
    state: web::Data<AppState>,
    admin: FunderAdmin,
    body: Json<FunderOpenDataRequest>,
) -> Result<HttpResponse, AppError> {
    let FunderOpenDataRequest {
        organisation_id,
        website,
        licence_url,
    } = body.0;
    let mut errors = Vec::new();
    if organisation_id.as_deref().is_some_and(|id| !is_organisation_id(id)) {
        errors.push(crate::error::FieldError::new(
            "organisation_id",
            "must be an org-id.guide identifier such as GB-LAE-STO or GB-CHC-1164883",
        ));
    }
    for (field, url) in [("website", &website), ("licence_url", &licence_url)] {
        if url.as_deref().is_some_and(|u| !is_web_address(u)) {
            errors.push(crate::error::FieldError::new(field, "must be an http(s) address"));
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let funder_id = admin.funder_id;
    state
        .db
        .write(move |conn| {
            open_data::set_funder(
                conn,
                &funder_id,
                organisation_id.as_deref(),
                website.as_deref(),
                licence_url.as_deref(),
            )
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
