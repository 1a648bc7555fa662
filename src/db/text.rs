//! Domain enums stored as their text (`pending`, `approved`, ...) in TEXT columns on both
//! backends: read and written as the enum, so that no query filters on a string literal and an
//! unknown value in the database is an error at the boundary, not a string passed along.
//! (`ToSql`/`FromSql` for each backend and for the `MultiBackend` of [`DbConnection`](super::DbConnection),
//! which hands each value to the backend in use.)

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;

use super::MultiBackend;
use crate::domain::governance::{AuditAction, InvitationKind, InvitationStatus};
use crate::domain::matching::ApplicationStatus;
use crate::domain::pledge::{PaymentMethod, PledgeStatus};
use crate::domain::reconcile::ReceiptConfirmation;

/// Each type has `as_str(self) -> &'static str` and `from_text(&str) -> Option<Self>`.
macro_rules! stored_as_text {
    ($($ty:ident),*) => {$(
        impl ToSql<Text, Pg> for $ty {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
            }
        }

        impl ToSql<Text, Sqlite> for $ty {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
                out.set_value(self.as_str());
                Ok(IsNull::No)
            }
        }

        impl ToSql<Text, MultiBackend> for $ty {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
                out.set_value((Text, self));
                Ok(IsNull::No)
            }
        }

        impl FromSql<Text, Pg> for $ty {
            fn from_sql(bytes: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                let text = <String as FromSql<Text, Pg>>::from_sql(bytes)?;
                $ty::from_text(&text).ok_or_else(|| unknown(stringify!($ty), &text))
            }
        }

        impl FromSql<Text, Sqlite> for $ty {
            fn from_sql(bytes: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                let text = <String as FromSql<Text, Sqlite>>::from_sql(bytes)?;
                $ty::from_text(&text).ok_or_else(|| unknown(stringify!($ty), &text))
            }
        }

        impl FromSql<Text, MultiBackend> for $ty {
            fn from_sql(bytes: <MultiBackend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                bytes.from_sql::<$ty, Text>()
            }
        }
    )*};
}

fn unknown(what: &str, text: &str) -> Box<dyn std::error::Error + Send + Sync> {
    format!("unknown {what} {text:?} in the database").into()
}

stored_as_text!(
    PledgeStatus,
    PaymentMethod,
    ApplicationStatus,
    InvitationKind,
    InvitationStatus,
    AuditAction,
    ReceiptConfirmation
);
