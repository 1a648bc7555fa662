//! The transparency log of public money (DESIGN §3, README "Public accountability").
//!
//! Every ledger transfer that touches a funder's, a fund's, a commitment's or an offer's match
//! account is queued here in the transaction that makes it ([`enqueue`]). The sequencer
//! ([`sequence`]), a job on any instance, one at a time over the deployment, gives queued
//! transfers their place in an RFC 6962 Merkle tree as canonical, pseudonymous entries
//! ([`entry`]), stores the tree's hashes, and signs a checkpoint (C2SP tlog-checkpoint, as a
//! signed note, [`keys`]). [`store`] answers the public API from the database (entries,
//! inclusion and consistency proofs, the export, witnesses' cosignatures); [`verify`] is what
//! an outsider runs over an export.

pub mod audit;
pub mod cli;
pub mod entry;
pub mod keys;
pub mod sequence;
pub mod store;
pub mod verify;

use diesel::prelude::*;

use crate::clock;
use crate::db::fixed::{Param, Rows};
use crate::db::schema::transparency_entries;
use crate::db::DbConnection;
use crate::error::AppError;

/// Queues for the log those of `transfers` (id, debit account, credit account) that move public
/// money, in the caller's transaction: one statement, whatever the number (a single transfer's
/// is kept prepared; a batch's is one multi-row `INSERT`).
pub fn enqueue(conn: &mut DbConnection, transfers: &[(&str, &str, &str)]) -> Result<(), AppError> {
    let now = clock::now();
    let public: Vec<&str> = transfers
        .iter()
        .filter(|(_, debit, credit)| entry::is_public_account(debit) || entry::is_public_account(credit))
        .map(|(id, ..)| *id)
        .collect();
    match public.as_slice() {
        [] => {}
        [id] => {
            diesel::insert_into(transparency_entries::table)
                .values((
                    transparency_entries::transfer_id.eq(*id),
                    transparency_entries::queued_at.eq(now),
                ))
                .execute(conn)?;
        }
        many => {
            Rows {
                head: "INSERT INTO transparency_entries (transfer_id, queued_at) VALUES ",
                rows: many
                    .iter()
                    .map(|id| vec![Param::Text(id), Param::Timestamp(now)])
                    .collect(),
                tail: "",
            }
            .execute(conn)?;
        }
    }
    Ok(())
}

/// A ledger transfer as the log reads it (to make an entry, or to check one).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::db::schema::ledger_transfers)]
pub struct LoggedTransfer {
    pub id: String,
    pub debit_account_id: String,
    pub credit_account_id: String,
    pub amount: i64,
    pub kind: String,
    pub phase: String,
    pub pending_id: Option<String>,
    pub cause: String,
    pub created_at: chrono::NaiveDateTime,
}
