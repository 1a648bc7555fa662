//! The share register of an allocated offer, and an investor's holdings.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::api::access::OfferManager;
use crate::api::extract::Query;
use crate::api::problem::Problem;
use crate::domain::money::Pence;
use crate::error::AppError;
use crate::services::closeout::{self, Holding, RegisterEntry};
use crate::services::sessions::Caller;
use crate::state::AppState;

/// How the register is answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegisterFormat {
    #[default]
    Json,
    /// `text/csv` (UTF-8), as a download.
    Csv,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegisterQuery {
    /// `json` (default) or `csv`.
    #[param(inline)]
    format: Option<RegisterFormat>,
}

/// A spreadsheet would run a cell starting with one of these as a formula.
pub(crate) fn spreadsheet_safe(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// The register as CSV that opens right in a spreadsheet: UTF-8 with a byte-order mark (so that
/// Excel reads `Siân`, `Ó Briain` and `£` as written rather than as Windows-1252), every text
/// cell quoted, and a cell a spreadsheet would run as a formula prefixed with `'`. Dates are UK
/// dates.
fn register_csv(entries: &[RegisterEntry]) -> Result<Vec<u8>, AppError> {
    let failed = |e: csv::Error| AppError::Internal(anyhow::anyhow!("writing the register CSV: {e}"));
    let mut writer = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::NonNumeric)
        .from_writer("\u{FEFF}".as_bytes().to_vec());
    writer
        .write_record([
            "member_id",
            "member_kind",
            "name",
            "address",
            "email",
            "shares",
            "amount_paid",
            "date_entered",
            "votes",
        ])
        .map_err(failed)?;
    for e in entries {
        writer
            .write_record([
                e.member_id.clone(),
                e.member_kind.clone(),
                spreadsheet_safe(&e.name),
                spreadsheet_safe(e.address.as_deref().unwrap_or("")),
                spreadsheet_safe(e.email.as_deref().unwrap_or("")),
                e.shares.to_string(),
                Pence::new(e.amount_pence).to_string(),
                crate::clock::uk_date(e.entered_at.naive_utc()).to_string(),
                e.votes.to_string(),
            ])
            .map_err(failed)?;
    }
    writer
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("writing the register CSV: {e}")))
}

/// The share register the offer wrote at allocation: one entry per member (investors, and
/// funders whose match became shares) with the statutory fields and one vote each.
/// `?format=csv` answers `text/csv`. 409 before the offer is allocated.
#[utoipa::path(get, path = "/api/v1/offers/{id}/register", tag = "close-out", security(("bearer" = ["society_admin", "platform_admin"])),
    params(("id" = String, Path), RegisterQuery),
    responses(
        (status = 200, content(
            ([RegisterEntry] = "application/json"),
            (String = "text/csv", example = "member_id,member_kind,name,address,email,shares,amount_paid,date_entered,votes"),
        )),
        (status = 409, description = "Not allocated (yet)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn register(
    state: web::Data<AppState>,
    manager: OfferManager,
    query: Query<RegisterQuery>,
) -> Result<HttpResponse, AppError> {
    let csv = query.format.unwrap_or_default() == RegisterFormat::Csv;
    let offer_id = manager.offer.id;
    let id = offer_id.clone();
    let entries = state.db.run(move |conn| closeout::register(conn, &id)).await?;
    if !csv {
        return Ok(HttpResponse::Ok().json(entries));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"register-{offer_id}.csv\""),
        ))
        .body(register_csv(&entries)?))
}

/// What the offer's close-out waits for: a closed offer is decided once every unpaid pledge
/// is paid or has expired and every disputed card payment's dispute is won or lost.
#[utoipa::path(get, path = "/api/v1/offers/{id}/closeout", tag = "close-out", security(("bearer" = ["society_admin", "platform_admin"])),
    params(("id" = String, Path)),
    responses((status = 200, body = closeout::CloseoutState)))]
pub async fn closeout_state(state: web::Data<AppState>, manager: OfferManager) -> Result<HttpResponse, AppError> {
    let offer_id = manager.offer.id;
    let answer = state.db.run(move |conn| closeout::state(conn, &offer_id)).await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// The shares the caller holds, by society (from the registers of allocated offers).
#[utoipa::path(get, path = "/api/v1/me/holdings", tag = "close-out", security(("bearer" = [])),
    responses((status = 200, body = [Holding])))]
pub async fn holdings(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, AppError> {
    let holdings = state
        .db
        .run(move |conn| closeout::holdings(conn, &caller.user_id))
        .await?;
    Ok(HttpResponse::Ok().json(holdings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_a_spreadsheet_would_run_are_quoted() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(spreadsheet_safe("Ann Example"), "Ann Example");
    }
}
