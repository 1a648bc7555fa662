//! Societies and funders, and who administers them.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock;
use crate::db::schema::{funder_admins, funders, funds, offers, societies, society_admins, users};
use crate::db::DbConnection;
use crate::domain::governance::Seat;
use crate::domain::identity::Postcode;
use crate::error::AppError;
use crate::services::page::{Page, PageRequest};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SocietyKind {
    CoOperative,
    CommunityBenefitSociety,
}

impl SocietyKind {
    fn as_str(self) -> &'static str {
        match self {
            SocietyKind::CoOperative => "co_operative",
            SocietyKind::CommunityBenefitSociety => "community_benefit_society",
        }
    }

    fn from_db(text: &str) -> Result<Self, AppError> {
        match text {
            "co_operative" => Ok(SocietyKind::CoOperative),
            "community_benefit_society" => Ok(SocietyKind::CommunityBenefitSociety),
            other => Err(AppError::Internal(anyhow::anyhow!(
                "unknown society kind {other:?} in the database"
            ))),
        }
    }
}

/// A society as anyone may see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Society {
    pub id: String,
    pub name: String,
    pub kind: SocietyKind,
    pub registration_number: String,
    pub postcode: String,
    /// Whether investors can be told where to pay by bank transfer.
    pub has_bank_details: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Where investors pay by bank transfer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BankDetails {
    pub account_name: String,
    /// Six digits, e.g. `123456`.
    pub sort_code: String,
    /// Eight digits.
    pub account_number: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Funder {
    pub id: String,
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A membership just granted.
#[derive(Debug, Serialize, ToSchema)]
pub struct Admin {
    pub user_id: String,
    pub email: String,
    pub display_name: String,
}

pub struct NewSociety {
    pub name: String,
    pub kind: SocietyKind,
    pub registration_number: String,
    pub postcode: Postcode,
}

/// Creates a society with its creator as its first admin.
pub fn create_society(conn: &mut DbConnection, creator_id: &str, new: &NewSociety) -> Result<Society, AppError> {
    let now = clock::now();
    let id = clock::new_id();
    let inserted = diesel::insert_into(societies::table)
        .values((
            societies::id.eq(&id),
            societies::name.eq(&new.name),
            societies::kind.eq(new.kind.as_str()),
            societies::registration_number.eq(&new.registration_number),
            societies::postcode.eq(new.postcode.to_string()),
            societies::created_at.eq(now),
            societies::updated_at.eq(now),
        ))
        .execute(conn)
        .map_err(AppError::from);
    match inserted {
        Err(e) if e.is_unique_violation() => {
            return Err(AppError::conflict(
                "a society with this registration number already exists",
            ))
        }
        other => other?,
    };
    diesel::insert_into(society_admins::table)
        .values((
            society_admins::society_id.eq(&id),
            society_admins::user_id.eq(creator_id),
            society_admins::created_at.eq(now),
        ))
        .execute(conn)?;
    get_society(conn, &id)
}

pub fn get_society(conn: &mut DbConnection, id: &str) -> Result<Society, AppError> {
    societies_by_id(conn, &[id])?
        .remove(id)
        .ok_or(AppError::NotFound("society"))
}

/// These societies (those that exist), by id, in one query.
pub fn societies_by_id(conn: &mut DbConnection, ids: &[&str]) -> Result<HashMap<String, Society>, AppError> {
    type Row = (
        String,
        String,
        String,
        String,
        String,
        Option<String>,
        chrono::NaiveDateTime,
    );
    let rows: Vec<Row> = societies::table
        .filter(societies::id.eq_any(ids))
        .select((
            societies::id,
            societies::name,
            societies::kind,
            societies::registration_number,
            societies::postcode,
            societies::bank_sort_code,
            societies::created_at,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(
            |(id, name, kind, registration_number, postcode, sort_code, created_at)| {
                let society = Society {
                    id: id.clone(),
                    name,
                    kind: SocietyKind::from_db(&kind)?,
                    registration_number,
                    postcode,
                    has_bank_details: sort_code.is_some(),
                    created_at: clock::utc(created_at),
                };
                Ok((id, society))
            },
        )
        .collect()
}

pub fn society_exists(conn: &mut DbConnection, id: &str) -> Result<bool, AppError> {
    Ok(societies::table
        .find(id)
        .select(societies::id)
        .first::<String>(conn)
        .optional()?
        .is_some())
}

pub fn is_society_admin(conn: &mut DbConnection, society_id: &str, user_id: &str) -> Result<bool, AppError> {
    Ok(society_admins::table
        .find((society_id, user_id))
        .select(society_admins::user_id)
        .first::<String>(conn)
        .optional()?
        .is_some())
}

/// Sets where investors pay. Refused (409) while any offer of the society is submitted,
/// approved, open or closed: investors may be paying into the account, and changing it then
/// is how payments get redirected.
pub fn set_bank_details(
    conn: &mut DbConnection,
    society_id: &str,
    details: &BankDetails,
) -> Result<BankDetails, AppError> {
    let live: i64 = offers::table
        .filter(offers::society_id.eq(society_id))
        .filter(offers::status.eq_any(["submitted", "approved", "open", "closed"]))
        .select(diesel::dsl::count_star())
        .first(conn)?;
    if live > 0 {
        return Err(AppError::conflict(
            "bank details cannot change while an offer of the society is submitted, approved, open or closed",
        ));
    }
    let changed = diesel::update(societies::table.find(society_id))
        .set((
            societies::bank_account_name.eq(&details.account_name),
            societies::bank_sort_code.eq(&details.sort_code),
            societies::bank_account_number.eq(&details.account_number),
            societies::updated_at.eq(clock::now()),
        ))
        .execute(conn)?;
    if changed == 0 {
        return Err(AppError::NotFound("society"));
    }
    Ok(details.clone())
}

pub fn create_funder(conn: &mut DbConnection, name: &str) -> Result<Funder, AppError> {
    let now = clock::now();
    let id = clock::new_id();
    diesel::insert_into(funders::table)
        .values((funders::id.eq(&id), funders::name.eq(name), funders::created_at.eq(now)))
        .execute(conn)?;
    Ok(Funder {
        id,
        name: name.to_owned(),
        created_at: clock::utc(now),
    })
}

/// A funder with its admins and how many funds it has, as platform admins list them.
#[derive(Debug, Serialize, ToSchema)]
pub struct FunderListing {
    pub id: String,
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Its admins, by email.
    pub admins: Vec<Admin>,
    pub fund_count: i64,
}

/// Every funder, newest first, with its admins and number of funds.
pub fn list_funders(conn: &mut DbConnection, page: &PageRequest) -> Result<Page<FunderListing>, AppError> {
    let mut query = funders::table
        .select((funders::id, funders::name, funders::created_at))
        .order(funders::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(funders::id.lt(after));
    }
    let rows: Vec<(String, String, chrono::NaiveDateTime)> = query.load(conn)?;
    let ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let admins: Vec<(String, String, String, String)> = funder_admins::table
        .inner_join(users::table)
        .filter(funder_admins::funder_id.eq_any(&ids))
        .select((funder_admins::funder_id, users::id, users::email, users::display_name))
        .order(users::email)
        .load(conn)?;
    let fund_counts: HashMap<String, i64> = funds::table
        .filter(funds::funder_id.eq_any(&ids))
        .group_by(funds::funder_id)
        .select((funds::funder_id, diesel::dsl::count_star()))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    Page::from_rows(
        rows,
        page,
        |r| r.0.clone(),
        |(id, name, created_at)| {
            Ok(FunderListing {
                admins: admins
                    .iter()
                    .filter(|a| a.0 == id)
                    .map(|(_, user_id, email, display_name)| Admin {
                        user_id: user_id.clone(),
                        email: email.clone(),
                        display_name: display_name.clone(),
                    })
                    .collect(),
                fund_count: fund_counts.get(&id).copied().unwrap_or(0),
                id,
                name,
                created_at: clock::utc(created_at),
            })
        },
    )
}

pub fn funder_exists(conn: &mut DbConnection, id: &str) -> Result<bool, AppError> {
    Ok(funders::table
        .find(id)
        .select(funders::id)
        .first::<String>(conn)
        .optional()?
        .is_some())
}

pub fn is_funder_admin(conn: &mut DbConnection, funder_id: &str, user_id: &str) -> Result<bool, AppError> {
    Ok(funder_admins::table
        .find((funder_id, user_id))
        .select(funder_admins::user_id)
        .first::<String>(conn)
        .optional()?
        .is_some())
}

/// Takes the funder's row lock (a write of nothing), so that requests about who administers
/// it are decided one after the other; 404 when there is no such funder.
pub fn lock_funder(conn: &mut DbConnection, funder_id: &str) -> Result<(), AppError> {
    let locked = diesel::update(funders::table.find(funder_id))
        .set(funders::id.eq(funder_id))
        .execute(conn)?;
    if locked == 0 {
        return Err(AppError::NotFound("funder"));
    }
    Ok(())
}

/// The funder's admins' seats (since when, brought in by whom), oldest first.
pub fn funder_seats(conn: &mut DbConnection, funder_id: &str) -> Result<Vec<Seat>, AppError> {
    let rows: Vec<(String, chrono::NaiveDateTime, Option<String>, Option<String>)> = funder_admins::table
        .filter(funder_admins::funder_id.eq(funder_id))
        .order((funder_admins::created_at, funder_admins::user_id))
        .select((
            funder_admins::user_id,
            funder_admins::created_at,
            funder_admins::invited_by,
            funder_admins::seconded_by,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(user_id, since, invited_by, seconded_by)| Seat {
            user_id,
            since,
            invited_by,
            seconded_by,
        })
        .collect())
}
