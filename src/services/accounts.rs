//! Users: registration, the `me` view, the investor profile the share register needs, and the
//! CLI's creation of platform admins.

use chrono::NaiveDate;
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock;
use crate::db::schema::{funder_admins, society_admins, users};
use crate::db::DbConnection;
use crate::domain::identity::{Email, Postcode};
use crate::error::AppError;
use crate::notify::{self, Kind};
use serde_json::json;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub display_name: String,
    pub is_platform_admin: bool,
    pub full_name: Option<String>,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub town: Option<String>,
    pub postcode: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
    pub closing_reminders: bool,
}

impl UserRow {
    /// Whether the share register's fields are all present (DESIGN §2: a pledge is an application).
    pub fn profile_complete(&self) -> bool {
        self.full_name.is_some()
            && self.address_line1.is_some()
            && self.town.is_some()
            && self.postcode.is_some()
            && self.date_of_birth.is_some()
    }
}

/// A user as they see themselves.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub id: String,
    pub email: String,
    pub display_name: String,
    /// `investor` for everyone; `platform_admin`, `society_admin`, `funder_admin` as held.
    pub roles: Vec<&'static str>,
    pub societies: Vec<String>,
    pub funders: Vec<String>,
    pub profile_complete: bool,
}

/// The public part of a new account.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredUser {
    pub id: String,
    pub email: String,
    pub display_name: String,
}

/// The investor's details as the share register records them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Profile {
    pub full_name: Option<String>,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub town: Option<String>,
    pub postcode: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub profile_complete: bool,
}

pub struct NewUser {
    pub email: Email,
    pub display_name: String,
    pub postcode: Option<Postcode>,
    pub password_hash: String,
    pub is_platform_admin: bool,
}

pub struct ProfileUpdate {
    pub full_name: String,
    pub address_line1: String,
    pub address_line2: Option<String>,
    pub town: String,
    pub postcode: Postcode,
    pub date_of_birth: NaiveDate,
}

/// Inserts a user; an email already taken (in any case) is 409.
pub fn create_user(conn: &mut DbConnection, new: &NewUser) -> Result<RegisteredUser, AppError> {
    let now = clock::now();
    let id = clock::new_id();
    let inserted = diesel::insert_into(users::table)
        .values((
            users::id.eq(&id),
            users::email.eq(new.email.as_str()),
            users::password_hash.eq(&new.password_hash),
            users::display_name.eq(&new.display_name),
            users::is_platform_admin.eq(new.is_platform_admin),
            users::postcode.eq(new.postcode.as_ref().map(Postcode::to_string)),
            users::created_at.eq(now),
            users::updated_at.eq(now),
        ))
        .execute(conn)
        .map_err(AppError::from);
    match inserted {
        Err(e) if e.is_unique_violation() => Err(AppError::conflict("an account with this email already exists")),
        Err(e) => Err(e),
        Ok(_) => {
            notify::enqueue(
                conn,
                Kind::Welcome,
                new.email.as_str(),
                &json!({"name": new.display_name}),
                None,
            )?;
            Ok(RegisteredUser {
                id,
                email: new.email.as_str().to_owned(),
                display_name: new.display_name.clone(),
            })
        }
    }
}

pub fn find_by_email(conn: &mut DbConnection, email: &Email) -> Result<Option<UserRow>, AppError> {
    Ok(users::table
        .filter(users::email.eq(email.as_str()))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn get(conn: &mut DbConnection, user_id: &str) -> Result<UserRow, AppError> {
    users::table
        .find(user_id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound("user"))
}

pub fn me(conn: &mut DbConnection, user_id: &str) -> Result<Me, AppError> {
    let user = get(conn, user_id)?;
    let societies: Vec<String> = society_admins::table
        .filter(society_admins::user_id.eq(user_id))
        .order(society_admins::society_id)
        .select(society_admins::society_id)
        .load(conn)?;
    let funders: Vec<String> = funder_admins::table
        .filter(funder_admins::user_id.eq(user_id))
        .order(funder_admins::funder_id)
        .select(funder_admins::funder_id)
        .load(conn)?;
    let mut roles = vec!["investor"];
    if user.is_platform_admin {
        roles.push("platform_admin");
    }
    if !societies.is_empty() {
        roles.push("society_admin");
    }
    if !funders.is_empty() {
        roles.push("funder_admin");
    }
    Ok(Me {
        profile_complete: user.profile_complete(),
        id: user.id,
        email: user.email,
        display_name: user.display_name,
        roles,
        societies,
        funders,
    })
}

pub fn profile(conn: &mut DbConnection, user_id: &str) -> Result<Profile, AppError> {
    let user = get(conn, user_id)?;
    Ok(Profile {
        profile_complete: user.profile_complete(),
        full_name: user.full_name,
        address_line1: user.address_line1,
        address_line2: user.address_line2,
        town: user.town,
        postcode: user.postcode,
        date_of_birth: user.date_of_birth,
    })
}

pub fn update_profile(conn: &mut DbConnection, user_id: &str, update: &ProfileUpdate) -> Result<Profile, AppError> {
    let changed = diesel::update(users::table.find(user_id))
        .set((
            users::full_name.eq(&update.full_name),
            users::address_line1.eq(&update.address_line1),
            users::address_line2.eq(&update.address_line2),
            users::town.eq(&update.town),
            users::postcode.eq(update.postcode.to_string()),
            users::date_of_birth.eq(update.date_of_birth),
            users::updated_at.eq(clock::now()),
        ))
        .execute(conn)?;
    if changed == 0 {
        return Err(AppError::NotFound("user"));
    }
    profile(conn, user_id)
}
