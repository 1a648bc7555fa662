//! The core pledge ledger (DESIGN §3): double-entry, append-only, modelled on TigerBeetle's
//! accounts and two-phase transfers. This module is the only writer of balance columns.
//!
//! - An account holds `debits_pending`, `debits_posted`, `credits_pending`, `credits_posted`.
//!   `debits_must_not_exceed_credits` is enforced in the same `UPDATE` that moves a balance
//!   (a conditional `WHERE`, row count checked).
//! - A transfer's id is its idempotency key: submitting the same id again with the same fields
//!   answers `Exists` and changes nothing; with other fields it is refused.
//! - A pending transfer reserves; a `post` record (its own id, `pending_id` = the pending one)
//!   makes it final; a `void` record cancels it. The pending row's `state` is the only column of
//!   a transfer ever updated.
//!
//! Every function here runs inside the caller's transaction, beside the state change it records.

pub mod batch;
pub mod totals;
pub mod verify;

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::fixed::{Fixed, Param};
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock;
use crate::db::schema::{ledger_accounts, ledger_transfers};
use crate::db::DbConnection;
use crate::domain::money::Pence;
use crate::error::AppError;

/// What an account stands for. Its id is `<kind>:<owner id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    /// An investor's side of their pledges (money owed to, then paid into, escrow).
    Investor,
    /// An offer's community money held until close-out. Cannot pay out more than it received.
    Escrow,
    /// A funder's side of its funds' budgets.
    Funder,
    /// A fund's budget. Cannot commit more than it holds.
    Fund,
    /// One approved application's commitment. Cannot match more than it holds.
    Commitment,
    /// An offer's match money held until close-out.
    Match,
    /// Card money that arrived for a pledge that had already ended, held until it is refunded.
    Suspense,
    /// A society's share capital: what allocated offers raised.
    Capital,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Investor => "investor",
            AccountKind::Escrow => "escrow",
            AccountKind::Funder => "funder",
            AccountKind::Fund => "fund",
            AccountKind::Commitment => "commitment",
            AccountKind::Match => "match",
            AccountKind::Suspense => "suspense",
            AccountKind::Capital => "capital",
        }
    }

    fn debits_must_not_exceed_credits(self) -> bool {
        matches!(
            self,
            AccountKind::Escrow | AccountKind::Fund | AccountKind::Commitment | AccountKind::Suspense
        )
    }

    pub fn account_id(self, owner_id: &str) -> String {
        format!("{}:{owner_id}", self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("account {0} does not exist")]
    AccountMissing(String),
    #[error("account {0} would have more debits than posted credits")]
    DebitsExceedCredits(String),
    #[error("transfer {0} exists with other fields")]
    TransferConflict(String),
    #[error("transfer {0} is not a pending transfer awaiting resolution")]
    NotPending(String),
}

/// Whether a call made a new transfer or found the same one already made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Exists,
}

/// A transfer to make.
#[derive(Debug, Clone)]
pub struct NewTransfer<'a> {
    pub id: &'a str,
    pub debit_account_id: &'a str,
    pub credit_account_id: &'a str,
    pub amount: Pence,
    /// `pledge`, `refund`, `match`, `allocation`, ...
    pub kind: &'a str,
    /// What caused it, e.g. `pledge:<id>`.
    pub cause: &'a str,
}

/// A transfer as listed to admins.
#[derive(Debug, Serialize, ToSchema, Queryable)]
pub struct TransferRow {
    pub id: String,
    pub debit_account_id: String,
    pub credit_account_id: String,
    pub amount_pence: i64,
    /// The same as `amount_pence`; deprecated, and kept until 2027-06-01 for clients written
    /// before money fields were all named `_pence`.
    #[schema(deprecated)]
    pub amount: i64,
    pub kind: String,
    pub phase: String,
    pub state: String,
    pub pending_id: Option<String>,
    pub cause: String,
    #[diesel(deserialize_as = NaiveDateTime)]
    pub created_at: crate::clock::Timestamp,
}

/// Creates the account if it does not exist (concurrent callers agree on one row).
pub fn ensure_account(conn: &mut DbConnection, kind: AccountKind, owner_id: &str) -> Result<String, AppError> {
    let id = kind.account_id(owner_id);
    // Almost always the account exists: a (prepared, cached) lookup spares the insert.
    let exists = ledger_accounts::table
        .find(&id)
        .select(ledger_accounts::id)
        .first::<String>(conn)
        .optional()?
        .is_some();
    if !exists {
        create_account(conn, kind, owner_id, &id)?;
    }
    Ok(id)
}

/// As [`ensure_account`] for two accounts, looked up in one statement.
pub fn ensure_accounts(conn: &mut DbConnection, accounts: [(AccountKind, &str); 2]) -> Result<[String; 2], AppError> {
    let ids = accounts.map(|(kind, owner_id)| kind.account_id(owner_id));
    let found: Vec<String> = ledger_accounts::table
        .filter(ledger_accounts::id.eq(&ids[0]).or(ledger_accounts::id.eq(&ids[1])))
        .select(ledger_accounts::id)
        .load(conn)?;
    for ((kind, owner_id), id) in accounts.iter().zip(&ids) {
        if !found.contains(id) {
            create_account(conn, *kind, owner_id, id)?;
        }
    }
    Ok(ids)
}

fn create_account(conn: &mut DbConnection, kind: AccountKind, owner_id: &str, id: &str) -> Result<(), AppError> {
    use ledger_accounts::dsl as a;
    let row = (
        a::id.eq(id),
        a::kind.eq(kind.as_str()),
        a::owner_id.eq(owner_id),
        a::debits_must_not_exceed_credits.eq(kind.debits_must_not_exceed_credits()),
        a::created_at.eq(clock::now()),
    );
    // Upserts do not go through the MultiConnection enum: one branch per backend. Only a taken
    // id is skipped; a broken constraint of any other kind is still an error.
    match conn {
        DbConnection::Postgresql(pg) => diesel::insert_into(a::ledger_accounts)
            .values(row)
            .on_conflict(a::id)
            .do_nothing()
            .execute(pg)?,
        DbConnection::Sqlite(lite) => diesel::insert_into(a::ledger_accounts)
            .values(row)
            .on_conflict(a::id)
            .do_nothing()
            .execute(lite)?,
    };
    Ok(())
}

type ExistingTransfer = (String, String, i64, String, String, String, Option<String>);

fn existing(conn: &mut DbConnection, id: &str) -> Result<Option<ExistingTransfer>, AppError> {
    Ok(ledger_transfers::table
        .find(id)
        .select((
            ledger_transfers::debit_account_id,
            ledger_transfers::credit_account_id,
            ledger_transfers::amount,
            ledger_transfers::kind,
            ledger_transfers::phase,
            ledger_transfers::state,
            ledger_transfers::pending_id,
        ))
        .first(conn)
        .optional()?)
}

/// Moves `amount` into the debit columns of an account (pending or posted), refusing, in the
/// same statement, to break `debits_must_not_exceed_credits`.
fn add_debit(conn: &mut DbConnection, account: &str, amount: i64, posted: bool) -> Result<(), AppError> {
    const FLAG: &str = " AND (NOT debits_must_not_exceed_credits OR debits_pending + debits_posted + ";
    const PENDING: &[&str] = &[
        "UPDATE ledger_accounts SET debits_pending = debits_pending + ",
        " WHERE id = ",
        FLAG,
        " <= credits_posted)",
    ];
    const POSTED: &[&str] = &[
        "UPDATE ledger_accounts SET debits_posted = debits_posted + ",
        " WHERE id = ",
        FLAG,
        " <= credits_posted)",
    ];
    let changed = Fixed {
        parts: if posted { POSTED } else { PENDING },
        params: [Param::BigInt(amount), Param::Text(account), Param::BigInt(amount)],
    }
    .execute(conn)?;
    if changed == 0 {
        return Err(refusal(conn, account)?.into());
    }
    Ok(())
}

fn add_credit(conn: &mut DbConnection, account: &str, amount: i64, posted: bool) -> Result<(), AppError> {
    const PENDING: &[&str] = &[
        "UPDATE ledger_accounts SET credits_pending = credits_pending + ",
        " WHERE id = ",
        "",
    ];
    const POSTED: &[&str] = &[
        "UPDATE ledger_accounts SET credits_posted = credits_posted + ",
        " WHERE id = ",
        "",
    ];
    let changed = Fixed {
        parts: if posted { POSTED } else { PENDING },
        params: [Param::BigInt(amount), Param::Text(account)],
    }
    .execute(conn)?;
    if changed == 0 {
        return Err(LedgerError::AccountMissing(account.to_owned()).into());
    }
    Ok(())
}

/// An account's flag and balances (debits pending, debits posted, credits pending, credits
/// posted); `None` when there is no such account.
fn balances(conn: &mut DbConnection, account: &str) -> Result<Option<(bool, [i64; 4])>, AppError> {
    let found: Option<(bool, i64, i64, i64, i64)> = ledger_accounts::table
        .find(account)
        .select((
            ledger_accounts::debits_must_not_exceed_credits,
            ledger_accounts::debits_pending,
            ledger_accounts::debits_posted,
            ledger_accounts::credits_pending,
            ledger_accounts::credits_posted,
        ))
        .first(conn)
        .optional()?;
    Ok(found.map(|(flag, dp, dpo, cp, cpo)| (flag, [dp, dpo, cp, cpo])))
}

fn refusal(conn: &mut DbConnection, account: &str) -> Result<LedgerError, AppError> {
    let exists = ledger_accounts::table
        .find(account)
        .select(ledger_accounts::id)
        .first::<String>(conn)
        .optional()?
        .is_some();
    Ok(if exists {
        LedgerError::DebitsExceedCredits(account.to_owned())
    } else {
        LedgerError::AccountMissing(account.to_owned())
    })
}

fn insert_transfer(
    conn: &mut DbConnection,
    t: &NewTransfer<'_>,
    phase: &str,
    state: &str,
    pending_id: Option<&str>,
) -> Result<(), AppError> {
    diesel::insert_into(ledger_transfers::table)
        .values((
            ledger_transfers::id.eq(t.id),
            ledger_transfers::debit_account_id.eq(t.debit_account_id),
            ledger_transfers::credit_account_id.eq(t.credit_account_id),
            ledger_transfers::amount.eq(t.amount.get()),
            ledger_transfers::kind.eq(t.kind),
            ledger_transfers::phase.eq(phase),
            ledger_transfers::state.eq(state),
            ledger_transfers::pending_id.eq(pending_id),
            ledger_transfers::cause.eq(t.cause),
            ledger_transfers::created_at.eq(clock::now()),
        ))
        .execute(conn)?;
    // Public money is also on the public record, queued in this same transaction.
    crate::transparency::enqueue(conn, &[(t.id, t.debit_account_id, t.credit_account_id)])
}

/// Checks a transfer id that exists already against what is asked now.
fn same_or_conflict(
    found: ExistingTransfer,
    t: &NewTransfer<'_>,
    phase: &str,
    pending_id: Option<&str>,
) -> Result<Outcome, AppError> {
    let (debit, credit, amount, kind, found_phase, _, found_pending) = found;
    let same = debit == t.debit_account_id
        && credit == t.credit_account_id
        && amount == t.amount.get()
        && kind == t.kind
        && found_phase == phase
        && found_pending.as_deref() == pending_id;
    if same {
        Ok(Outcome::Exists)
    } else {
        Err(LedgerError::TransferConflict(t.id.to_owned()).into())
    }
}

fn check_amount(t: &NewTransfer<'_>) -> Result<(), AppError> {
    if t.amount.get() <= 0 || t.debit_account_id == t.credit_account_id {
        return Err(AppError::Internal(anyhow::anyhow!(
            "ledger: transfer {} must move a positive amount between two accounts",
            t.id
        )));
    }
    Ok(())
}

/// Reserves `amount` from debit to credit: the first phase of a two-phase transfer.
pub fn create_pending(conn: &mut DbConnection, t: &NewTransfer<'_>) -> Result<Outcome, AppError> {
    check_amount(t)?;
    if let Some(found) = existing(conn, t.id)? {
        return same_or_conflict(found, t, "pending", None);
    }
    add_debit(conn, t.debit_account_id, t.amount.get(), false)?;
    add_credit(conn, t.credit_account_id, t.amount.get(), false)?;
    insert_transfer(conn, t, "pending", "pending", None).map(|()| Outcome::Created)
}

/// As [`create_pending`], for a transfer id not used before, with `between` run after the
/// transfer is written and before either balance is moved. For accounts that every request
/// moves (an offer's escrow, credited by every pledge to the offer) behind a lock of the
/// caller's own (the offer row, which `between` takes): those locks are held until the commit,
/// so the less that happens after them, the more requests per second the offer takes. No
/// balance row is locked before `between`: every transaction that moves an offer's money takes
/// the offer row first, and an account locked earlier could deadlock against one that holds
/// the offer row and wants the account (a receipt, a cancel).
pub fn create_pending_credit_last<T>(
    conn: &mut DbConnection,
    t: &NewTransfer<'_>,
    between: impl FnOnce(&mut DbConnection) -> Result<T, AppError>,
) -> Result<T, AppError> {
    check_amount(t)?;
    // No look-up first: a used id fails on the primary key (and the transaction with it).
    insert_transfer(conn, t, "pending", "pending", None).map_err(|e| {
        if e.is_unique_violation() {
            LedgerError::TransferConflict(t.id.to_owned()).into()
        } else {
            e
        }
    })?;
    let value = between(conn)?;
    add_pending_pair(conn, t)?;
    Ok(value)
}

/// Moves a pending transfer's amount into both accounts' pending columns in one statement,
/// refusing, in it, to break the debit account's `debits_must_not_exceed_credits`. Only for
/// [`create_pending_credit_last`]: one statement locks its two rows in whatever order the
/// database reads them, which is safe there because every transaction that moves the credit
/// account (an offer's escrow) holds the offer row first, so no two of them wait on each
/// other for both rows. Elsewhere the debit row is locked before the credit row.
fn add_pending_pair(conn: &mut DbConnection, t: &NewTransfer<'_>) -> Result<(), AppError> {
    let amount = t.amount.get();
    let changed = Fixed {
        parts: &[
            "UPDATE ledger_accounts SET debits_pending = debits_pending + CASE WHEN id = ",
            " THEN ",
            " ELSE 0 END, credits_pending = credits_pending + CASE WHEN id = ",
            " THEN ",
            " ELSE 0 END WHERE (id = ",
            " AND (NOT debits_must_not_exceed_credits OR debits_pending + debits_posted + ",
            " <= credits_posted)) OR id = ",
            "",
        ],
        params: [
            Param::Text(t.debit_account_id),
            Param::BigInt(amount),
            Param::Text(t.credit_account_id),
            Param::BigInt(amount),
            Param::Text(t.debit_account_id),
            Param::BigInt(amount),
            Param::Text(t.credit_account_id),
        ],
    }
    .execute(conn)?;
    if changed == 2 {
        return Ok(());
    }
    // Nothing is kept: the error rolls back the caller's transaction, with the row that did
    // change.
    let credit_exists = ledger_accounts::table
        .find(t.credit_account_id)
        .select(ledger_accounts::id)
        .first::<String>(conn)
        .optional()?
        .is_some();
    Err(if credit_exists {
        refusal(conn, t.debit_account_id)?
    } else {
        LedgerError::AccountMissing(t.credit_account_id.to_owned())
    }
    .into())
}

/// Moves `amount` from debit to credit at once.
pub fn create_posted(conn: &mut DbConnection, t: &NewTransfer<'_>) -> Result<Outcome, AppError> {
    check_amount(t)?;
    if let Some(found) = existing(conn, t.id)? {
        return same_or_conflict(found, t, "single", None);
    }
    add_debit(conn, t.debit_account_id, t.amount.get(), true)?;
    add_credit(conn, t.credit_account_id, t.amount.get(), true)?;
    insert_transfer(conn, t, "single", "posted", None).map(|()| Outcome::Created)
}

/// How a pending transfer is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Post,
    Void,
}

/// Posts or voids the pending transfer `pending_id` with a record of id `<pending_id>:post` or
/// `<pending_id>:void`. Resolving twice the same way answers `Exists`; a pending transfer
/// already resolved the other way is refused (`NotPending`).
pub fn resolve_pending(
    conn: &mut DbConnection,
    pending_id: &str,
    resolution: Resolution,
    cause: &str,
) -> Result<Outcome, AppError> {
    let (phase, state) = match resolution {
        Resolution::Post => ("post", "posted"),
        Resolution::Void => ("void", "voided"),
    };
    // The resolving record's id derives from the pending one: a pending transfer is resolved
    // at most once, so a repeat finds the same record.
    let id = &format!("{pending_id}:{phase}");
    let Some((debit, credit, amount, kind, pending_phase, _, _)) = existing(conn, pending_id)? else {
        return Err(LedgerError::NotPending(pending_id.to_owned()).into());
    };
    if pending_phase != "pending" {
        return Err(LedgerError::NotPending(pending_id.to_owned()).into());
    }
    let record = NewTransfer {
        id,
        debit_account_id: &debit,
        credit_account_id: &credit,
        amount: Pence::new(amount),
        kind: &kind,
        cause,
    };
    if let Some(found) = existing(conn, id)? {
        return same_or_conflict(found, &record, phase, Some(pending_id));
    }
    let claimed = diesel::update(
        ledger_transfers::table
            .filter(ledger_transfers::id.eq(pending_id))
            .filter(ledger_transfers::state.eq("pending")),
    )
    .set(ledger_transfers::state.eq(state))
    .execute(conn)?;
    if claimed == 0 {
        return Err(LedgerError::NotPending(pending_id.to_owned()).into());
    }
    use ledger_accounts::dsl as a;
    // Leaving the pending columns; posting adds to the posted ones. Total debits do not grow,
    // so the debit flag cannot be broken by a post or a void.
    diesel::update(a::ledger_accounts.filter(a::id.eq(&debit)))
        .set(a::debits_pending.eq(a::debits_pending - amount))
        .execute(conn)?;
    diesel::update(a::ledger_accounts.filter(a::id.eq(&credit)))
        .set(a::credits_pending.eq(a::credits_pending - amount))
        .execute(conn)?;
    if resolution == Resolution::Post {
        add_debit(conn, &debit, amount, true)?;
        add_credit(conn, &credit, amount, true)?;
    }
    insert_transfer(conn, &record, phase, state, Some(pending_id))?;
    Ok(Outcome::Created)
}

/// These pending transfers, by id, as a [`batch::Batch`] resolves them; a transfer that is not
/// (or no longer) pending is left out.
pub fn pending_transfers(conn: &mut DbConnection, ids: &[&str]) -> Result<HashMap<String, batch::Pending>, AppError> {
    let rows: Vec<(String, String, String, i64, String)> = ledger_transfers::table
        .filter(ledger_transfers::id.eq_any(ids))
        .filter(ledger_transfers::phase.eq("pending"))
        .filter(ledger_transfers::state.eq("pending"))
        .select((
            ledger_transfers::id,
            ledger_transfers::debit_account_id,
            ledger_transfers::credit_account_id,
            ledger_transfers::amount,
            ledger_transfers::kind,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, debit_account_id, credit_account_id, amount, kind)| {
            (
                id.clone(),
                batch::Pending {
                    id,
                    debit_account_id,
                    credit_account_id,
                    amount,
                    kind,
                },
            )
        })
        .collect())
}

/// Every transfer that touches `account_id`, oldest first.
pub fn transfers_of(conn: &mut DbConnection, account_id: &str) -> Result<Vec<TransferRow>, AppError> {
    Ok(ledger_transfers::table
        .filter(
            ledger_transfers::debit_account_id
                .eq(account_id)
                .or(ledger_transfers::credit_account_id.eq(account_id)),
        )
        .order((ledger_transfers::created_at, ledger_transfers::id))
        .select((
            ledger_transfers::id,
            ledger_transfers::debit_account_id,
            ledger_transfers::credit_account_id,
            ledger_transfers::amount,
            ledger_transfers::amount,
            ledger_transfers::kind,
            ledger_transfers::phase,
            ledger_transfers::state,
            ledger_transfers::pending_id,
            ledger_transfers::cause,
            ledger_transfers::created_at,
        ))
        .load(conn)?)
}
