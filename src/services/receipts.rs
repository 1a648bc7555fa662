//! Money that arrives by bank transfer, as it really arrives (DESIGN §3): a receipt pays towards
//! its pledge, in parts if it comes in parts, and the pledge is paid when its receipts reach its
//! amount. What is more than the pledge still owes, or arrives for a pledge that has ended, is
//! owed back as a refund instruction for the society's treasurer: never kept.
//!
//! In the ledger every receipt is a posted transfer into the offer's escrow. The pledge's pending
//! transfer holds what is still owed: a part voids it and leaves a pending transfer for the
//! rest; the receipt that completes the pledge posts it. An excess is a posted transfer into the
//! offer's suspense account, and its refund a pending transfer back out of it.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use crate::clock;
use crate::db::fixed::{Param, Rows};
use crate::db::schema::{bank_receipts, offers, pledges};
use crate::db::DbConnection;
use crate::domain::money::Pence;
use crate::domain::pledge::{parse_bank_reference, receipt_effect, Owing, ReceiptEffect, ReceiptSplit};
use crate::domain::reconcile;
use crate::error::AppError;
use crate::ledger::totals;
use crate::ledger::{self, AccountKind, NewTransfer, Resolution};
use crate::notify::{self, Kind, Queued};
use crate::services::offers as offer_service;
use crate::services::pledges::{self as pledge_service, PledgeRow, PledgeStatus};
use crate::services::refunds::{self, RefundReason};

/// A bank transfer received for a pledge of an offer.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// As the payer typed it (spaces, dashes and case do not matter).
    pub reference: String,
    pub amount: Pence,
    pub received_at: NaiveDateTime,
}

/// Where a receipt comes from. Typed by an admin, a receipt for a pledge already paid is
/// refused (409), and one for a pledge that has ended too (422): most likely it was typed
/// twice, or for the wrong pledge. From a statement line, which is applied once (its
/// fingerprint), it is money that arrived: owed back.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    ByHand,
    Statement { fingerprint: &'a str },
}

/// What a receipt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// It paid towards its pledge (all of it, or up to what was owed: the excess is owed back).
    Applied {
        pledge_id: String,
        split: ReceiptSplit,
        refund_id: Option<String>,
    },
    /// Nothing was owed (the pledge was paid, or had ended): all of it is owed back.
    OwedBack {
        pledge_id: String,
        refund_id: String,
        why: &'static str,
    },
    /// This statement line was applied before.
    AlreadyImported,
    /// This statement line is money an admin recorded by hand (see `domain::reconcile`): the
    /// hand receipt stands for it, and nothing more is done.
    RecordedByHand {
        pledge_id: String,
        received_at: NaiveDateTime,
    },
}

/// A statement line found among the offer's receipts: recorded by an import, or matched to a
/// receipt recorded by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportedLine {
    FromStatement,
    ByHand {
        pledge_id: String,
        received_at: NaiveDateTime,
    },
}

impl ImportedLine {
    /// What meeting this line again does: nothing, and why.
    pub fn recorded(&self) -> Recorded {
        match self {
            ImportedLine::FromStatement => Recorded::AlreadyImported,
            ImportedLine::ByHand { pledge_id, received_at } => Recorded::RecordedByHand {
                pledge_id: pledge_id.clone(),
                received_at: *received_at,
            },
        }
    }
}

/// A receipt typed by hand that no statement line has been matched to yet.
#[derive(Debug, Clone, Queryable)]
pub struct HandReceipt {
    pub id: String,
    pub pledge_id: String,
    pub amount_pence: i64,
    pub received_at: NaiveDateTime,
}

/// Why a receipt is owed back, in words.
pub fn owed_back_why(already_paid: bool) -> &'static str {
    if already_paid {
        "the pledge was already paid: owed back"
    } else {
        "the pledge had ended: owed back"
    }
}

/// A reference no pledge of the offer has.
pub const NO_SUCH_PLEDGE: &str = "no pledge to this offer has this reference";

/// A receipt typed by hand that repeats money already imported from a statement (the same
/// pledge and amount, dated within `domain::reconcile::WINDOW_DAYS` of the line) is refused
/// (409): it is most likely that money, and recording it would count it twice. A second
/// payment of the same amount is recorded when the statement that shows it is imported.
pub fn refuse_if_on_a_statement(conn: &mut DbConnection, row: &PledgeRow, receipt: &Receipt) -> Result<(), AppError> {
    let window = chrono::Duration::days(reconcile::WINDOW_DAYS + 1);
    // Every candidate, not only the first: the one in the window of UK days may not be the
    // earliest the wider UTC window finds.
    let on_statement: Vec<NaiveDateTime> = bank_receipts::table
        .filter(bank_receipts::pledge_id.eq(&row.id))
        .filter(bank_receipts::by_hand.eq(false))
        .filter(bank_receipts::amount_pence.eq(receipt.amount.get()))
        .filter(bank_receipts::received_at.between(receipt.received_at - window, receipt.received_at + window))
        .select(bank_receipts::received_at)
        .load(conn)?;
    let near = on_statement.into_iter().find(|at| {
        let days = (clock::uk_date(*at) - clock::uk_date(receipt.received_at)).num_days();
        days.abs() <= reconcile::WINDOW_DAYS
    });
    match near {
        Some(at) => Err(AppError::conflict(format!(
            "{} for this pledge was already recorded from a bank statement (a line dated {}); \
             if this is a second payment, import the statement that shows it",
            receipt.amount,
            clock::uk_date(at).format("%-d %B %Y")
        ))),
        None => Ok(()),
    }
}

/// Keeps on each receipt that now holds one of these statement lines (by fingerprint, with
/// its line number: imported, or typed by hand and matched to the line) where it came from:
/// the file's SHA-256 and the line. A receipt keeps the first file that showed it.
pub fn note_statement(
    conn: &mut DbConnection,
    offer_id: &str,
    sha256: &str,
    lines: &[(&str, u64)],
) -> Result<(), AppError> {
    for (fingerprint, line) in lines {
        diesel::update(
            bank_receipts::table
                .filter(bank_receipts::offer_id.eq(offer_id))
                .filter(bank_receipts::fingerprint.eq(fingerprint))
                .filter(bank_receipts::statement_sha256.is_null()),
        )
        .set((
            bank_receipts::statement_sha256.eq(sha256),
            bank_receipts::statement_line.eq(i64::try_from(*line).unwrap_or(i64::MAX)),
        ))
        .execute(conn)?;
    }
    Ok(())
}

/// Records a receipt an admin typed (`Source::ByHand`) so that it counts at once; answers its
/// pledge's id. (Whether it may count at once, or waits for a second person, is
/// [`crate::services::hand_receipts`]' to decide.)
pub fn record_by_hand(
    conn: &mut DbConnection,
    offer_id: &str,
    receipt: &Receipt,
    recorded_by: &str,
) -> Result<String, AppError> {
    let now = clock::now();
    let row = typed_pledge(conn, offer_id, receipt, now)?;
    match record_locked(conn, &row, receipt, recorded_by, Source::ByHand, now)? {
        Recorded::Applied { pledge_id, .. } | Recorded::OwedBack { pledge_id, .. } => Ok(pledge_id),
        Recorded::AlreadyImported | Recorded::RecordedByHand { .. } => {
            Err(AppError::conflict("this receipt was recorded before"))
        }
    }
}

/// The pledge a receipt typed by hand is for, read under the offer's row lock (taken here): 422
/// on `reference` when the offer has no such pledge; 409 when the receipt repeats a statement
/// line already imported ([`refuse_if_on_a_statement`]).
pub fn typed_pledge(
    conn: &mut DbConnection,
    offer_id: &str,
    receipt: &Receipt,
    now: NaiveDateTime,
) -> Result<PledgeRow, AppError> {
    let reference = parse_bank_reference(&receipt.reference)
        .ok_or_else(|| AppError::field("reference", "is not a pledge reference (e.g. CSK7M29QXT2)"))?;
    offer_service::lock(conn, offer_id, now)?;
    let row = by_reference(conn, offer_id, &[reference])?
        .into_values()
        .next()
        .ok_or_else(|| AppError::field("reference", NO_SUCH_PLEDGE))?;
    refuse_if_on_a_statement(conn, &row, receipt)?;
    Ok(row)
}

/// Why money typed by hand for `row` is refused when it would all be owed back: the pledge is
/// paid (409; most likely typed twice) or has ended (422; return the money to the payer).
pub fn refuse_by_hand(row: &PledgeRow, receipt: &Receipt) -> Result<(), AppError> {
    match receipt_effect(owing(row)?, receipt.amount) {
        ReceiptEffect::Pays(_) => Ok(()),
        ReceiptEffect::OwedBack { already_paid } => Err(by_hand_refusal(row, already_paid)),
    }
}

fn by_hand_refusal(row: &PledgeRow, already_paid: bool) -> AppError {
    if already_paid {
        return AppError::conflict("this pledge is already paid");
    }
    AppError::field(
        "reference",
        format!(
            "the pledge with this reference is {}; return the money to the payer",
            row.status
        ),
    )
}

/// Records a receipt for `row`, read under the offer's row lock, whose statement line (if it
/// comes from one) was not imported before.
pub fn record_locked(
    conn: &mut DbConnection,
    row: &PledgeRow,
    receipt: &Receipt,
    recorded_by: &str,
    source: Source<'_>,
    now: NaiveDateTime,
) -> Result<Recorded, AppError> {
    record_locked_as(conn, row, receipt, recorded_by, source, now, &clock::new_id())
}

/// As [`record_locked`], with the bank receipt's id given.
pub fn record_locked_as(
    conn: &mut DbConnection,
    row: &PledgeRow,
    receipt: &Receipt,
    recorded_by: &str,
    source: Source<'_>,
    now: NaiveDateTime,
    receipt_id: &str,
) -> Result<Recorded, AppError> {
    let recorded = match (receipt_effect(owing(row)?, receipt.amount), source) {
        (ReceiptEffect::Pays(split), _) => apply(conn, row, receipt_id, receipt, split, now)?,
        (ReceiptEffect::OwedBack { already_paid }, Source::ByHand) => return Err(by_hand_refusal(row, already_paid)),
        (ReceiptEffect::OwedBack { already_paid }, Source::Statement { .. }) => {
            let reason = if already_paid {
                RefundReason::OverPayment
            } else {
                RefundReason::LatePayment
            };
            let refund_id = owe_back_from_suspense(conn, row, receipt_id, receipt.amount, reason, now)?;
            Recorded::OwedBack {
                pledge_id: row.id.clone(),
                refund_id,
                why: owed_back_why(already_paid),
            }
        }
    };
    let reference = row.bank_reference.as_deref().unwrap_or_default();
    insert_receipt(
        conn,
        row,
        receipt_id,
        reference,
        receipt,
        &recorded,
        recorded_by,
        source,
        now,
    )?;
    Ok(recorded)
}

/// Where the pledge stands for money that arrives for it.
pub fn owing(row: &PledgeRow) -> Result<Owing, AppError> {
    Ok(match row.status {
        PledgeStatus::Pending => Owing::Pending {
            amount: Pence::new(row.amount_pence),
            received: Pence::new(row.received_pence),
        },
        PledgeStatus::Paid | PledgeStatus::Allocated => Owing::Paid,
        PledgeStatus::Cancelled | PledgeStatus::Expired | PledgeStatus::Refunded => Owing::Ended,
    })
}

/// The offer's pledges with these (normalised) references, by reference.
pub fn by_reference(
    conn: &mut DbConnection,
    offer_id: &str,
    references: &[String],
) -> Result<HashMap<String, PledgeRow>, AppError> {
    let rows: Vec<PledgeRow> = pledges::table
        .filter(pledges::offer_id.eq(offer_id))
        .filter(pledges::bank_reference.eq_any(references))
        .select(PledgeRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| r.bank_reference.clone().map(|reference| (reference, r)))
        .collect())
}

/// Which of these statement lines the offer's receipts hold already (imported before, or
/// matched to a receipt typed by hand), by fingerprint.
pub fn imported(
    conn: &mut DbConnection,
    offer_id: &str,
    fingerprints: &[&str],
) -> Result<HashMap<String, ImportedLine>, AppError> {
    type Found = (Option<String>, bool, String, NaiveDateTime);
    let found: Vec<Found> = bank_receipts::table
        .filter(bank_receipts::offer_id.eq(offer_id))
        .filter(bank_receipts::fingerprint.eq_any(fingerprints))
        .select((
            bank_receipts::fingerprint,
            bank_receipts::by_hand,
            bank_receipts::pledge_id,
            bank_receipts::received_at,
        ))
        .load(conn)?;
    Ok(found
        .into_iter()
        .filter_map(|(fingerprint, by_hand, pledge_id, received_at)| {
            let line = match by_hand {
                true => ImportedLine::ByHand { pledge_id, received_at },
                false => ImportedLine::FromStatement,
            };
            fingerprint.map(|f| (f, line))
        })
        .collect())
}

/// The receipts typed by hand for these pledges of the offer that no statement line has been
/// matched to, oldest first.
pub fn unmatched_by_hand(
    conn: &mut DbConnection,
    offer_id: &str,
    pledge_ids: &[&str],
) -> Result<Vec<HandReceipt>, AppError> {
    Ok(bank_receipts::table
        .filter(bank_receipts::offer_id.eq(offer_id))
        .filter(bank_receipts::pledge_id.eq_any(pledge_ids))
        .filter(bank_receipts::by_hand.eq(true))
        .filter(bank_receipts::fingerprint.is_null())
        .order((bank_receipts::received_at.asc(), bank_receipts::id.asc()))
        .select((
            bank_receipts::id,
            bank_receipts::pledge_id,
            bank_receipts::amount_pence,
            bank_receipts::received_at,
        ))
        .load(conn)?)
}

/// Matches the statement line `fingerprint` to the hand receipt `id` (in the import's write
/// transaction, under the offer's lock): the line is now recorded, as that receipt.
pub fn match_to_line(conn: &mut DbConnection, id: &str, fingerprint: &str) -> Result<(), AppError> {
    let matched = diesel::update(
        bank_receipts::table
            .find(id)
            .filter(bank_receipts::fingerprint.is_null()),
    )
    .set(bank_receipts::fingerprint.eq(fingerprint))
    .execute(conn)?;
    if matched != 1 {
        return Err(AppError::conflict(
            "a receipt of this statement changed meanwhile; import it again",
        ));
    }
    Ok(())
}

/// A receipt for a pending pledge: what it owes is paid (in full, or in part), the rest owed back.
fn apply(
    conn: &mut DbConnection,
    row: &PledgeRow,
    receipt_id: &str,
    receipt: &Receipt,
    split: ReceiptSplit,
    now: NaiveDateTime,
) -> Result<Recorded, AppError> {
    if split.completes {
        if !pledge_service::mark_paid(conn, row, receipt.received_at, &format!("receipt:{receipt_id}"), now)? {
            return Err(AppError::conflict("this pledge is already paid"));
        }
    } else {
        pay_part(conn, row, receipt_id, split.applied, now)?;
    }
    let refund_id = if split.excess > Pence::ZERO {
        Some(owe_back_from_suspense(
            conn,
            row,
            receipt_id,
            split.excess,
            RefundReason::OverPayment,
            now,
        )?)
    } else {
        None
    };
    Ok(Recorded::Applied {
        pledge_id: row.id.clone(),
        split,
        refund_id,
    })
}

/// Part of what a pledge owes has come: its pending transfer is voided, the part posted, and a
/// pending transfer made for the rest; the investor is told what is still to pay.
fn pay_part(
    conn: &mut DbConnection,
    row: &PledgeRow,
    receipt_id: &str,
    part: Pence,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let received = row.received_pence + part.get();
    let owed = Pence::new(row.amount_pence - received);
    let cause = format!("pledge:{}:receipt:{receipt_id}", row.id);
    ledger::resolve_pending(conn, &row.transfer_id, Resolution::Void, &cause)?;
    let investor = AccountKind::Investor.account_id(&row.investor_id);
    let escrow = AccountKind::Escrow.account_id(&row.offer_id);
    let owed_id = format!("pledge:{}:owed:{received}", row.id);
    let posted = NewTransfer {
        id: &format!("receipt:{receipt_id}"),
        debit_account_id: &investor,
        credit_account_id: &escrow,
        amount: part,
        kind: "pledge",
        cause: &cause,
    };
    ledger::create_posted(conn, &posted)?;
    ledger::create_pending(
        conn,
        &NewTransfer {
            id: &owed_id,
            amount: owed,
            ..posted
        },
    )?;
    diesel::update(pledges::table.find(&row.id))
        .set((
            pledges::transfer_id.eq(&owed_id),
            pledges::received_pence.eq(received),
            pledges::updated_at.eq(now),
        ))
        .execute(conn)?;
    tell_part_received(conn, row, part, owed)
}

fn tell_part_received(conn: &mut DbConnection, row: &PledgeRow, part: Pence, owed: Pence) -> Result<(), AppError> {
    let (email, name) = notify::user_contact(conn, &row.investor_id)?;
    let title: String = offers::table.find(&row.offer_id).select(offers::title).first(conn)?;
    notify::enqueue_many(
        conn,
        Kind::PartPaymentReceived,
        &[part_received(row, email, &name, &title, part, owed)],
    )
}

/// The investor's email that part of a pledge has come (`Kind::PartPaymentReceived`).
fn part_received(row: &PledgeRow, email: String, name: &str, title: &str, part: Pence, owed: Pence) -> Queued {
    Queued {
        recipient: email,
        context: json!({
            "name": name, "received": part.to_string(), "amount": Pence::new(row.amount_pence).to_string(),
            "owed": owed.to_string(), "offer": title, "reference": row.bank_reference,
            "due": clock::for_people(row.payment_due_at),
        }),
        dedupe_key: format!("part:{}:{}", row.id, row.amount_pence - owed.get()),
    }
}

/// Money that arrived but is not the pledge's: into the offer's suspense account, and owed back
/// from there (a bank refund instruction). Answers the refund's id.
fn owe_back_from_suspense(
    conn: &mut DbConnection,
    row: &PledgeRow,
    receipt_id: &str,
    amount: Pence,
    reason: RefundReason,
    now: NaiveDateTime,
) -> Result<String, AppError> {
    let investor = AccountKind::Investor.account_id(&row.investor_id);
    let suspense = ledger::ensure_account(conn, AccountKind::Suspense, &row.offer_id)?;
    ledger::create_posted(
        conn,
        &NewTransfer {
            id: &format!("excess:{receipt_id}"),
            debit_account_id: &investor,
            credit_account_id: &suspense,
            amount,
            kind: "excess",
            cause: &format!("pledge:{}:receipt:{receipt_id}", row.id),
        },
    )?;
    Ok(refunds::owe_back(conn, row, &suspense, amount, reason, now)?.id)
}

#[allow(clippy::too_many_arguments)]
fn insert_receipt(
    conn: &mut DbConnection,
    row: &PledgeRow,
    receipt_id: &str,
    reference: &str,
    receipt: &Receipt,
    recorded: &Recorded,
    recorded_by: &str,
    source: Source<'_>,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let (applied, excess, refund_id) = match recorded {
        Recorded::Applied { split, refund_id, .. } => (split.applied, split.excess, refund_id.clone()),
        Recorded::OwedBack { refund_id, .. } => (Pence::ZERO, receipt.amount, Some(refund_id.clone())),
        Recorded::AlreadyImported | Recorded::RecordedByHand { .. } => return Ok(()),
    };
    let fingerprint = match source {
        Source::Statement { fingerprint } => Some(fingerprint),
        Source::ByHand => None,
    };
    diesel::insert_into(bank_receipts::table)
        .values((
            bank_receipts::id.eq(receipt_id),
            bank_receipts::offer_id.eq(&row.offer_id),
            bank_receipts::pledge_id.eq(&row.id),
            bank_receipts::reference.eq(reference),
            bank_receipts::amount_pence.eq(receipt.amount.get()),
            bank_receipts::applied_pence.eq(applied.get()),
            bank_receipts::excess_pence.eq(excess.get()),
            bank_receipts::refund_id.eq(refund_id),
            bank_receipts::fingerprint.eq(fingerprint),
            bank_receipts::received_at.eq(receipt.received_at),
            bank_receipts::recorded_by.eq(recorded_by),
            bank_receipts::created_at.eq(now),
            bank_receipts::by_hand.eq(matches!(source, Source::ByHand)),
        ))
        .execute(conn)?;
    Ok(())
}

/// A pledge (read under the offer's row lock) and the receipts of a chunk for it, in order,
/// each of which pays towards it and owes nothing back: parts, and perhaps the rest.
pub struct PaidInParts {
    pub row: PledgeRow,
    pub receipts: Vec<(Receipt, String)>,
}

/// Records many pledges' receipts of the kind [`PaidInParts`] holds in a few statements: the
/// same receipts, ledger transfers (through [`ledger::batch`]), balances, pledge rows, offer
/// total and emails as [`record_locked`] makes for each in turn. Answers what each did, in the
/// same order. Call in a write transaction with the offer's row locked.
pub fn record_parts(
    conn: &mut DbConnection,
    offer_id: &str,
    pledges: &[PaidInParts],
    recorded_by: &str,
    now: NaiveDateTime,
) -> Result<Vec<Vec<Recorded>>, AppError> {
    let title: String = offers::table.find(offer_id).select(offers::title).first(conn)?;
    let investors: Vec<&str> = pledges.iter().map(|p| p.row.investor_id.as_str()).collect();
    let contacts = notify::user_contacts(conn, &investors)?;
    let mut pendings = ledger::pending_transfers(
        conn,
        &pledges.iter().map(|p| p.row.transfer_id.as_str()).collect::<Vec<_>>(),
    )?;
    let mut written = Written::default();
    let mut answers = Vec::with_capacity(pledges.len());
    for pledge in pledges {
        let pending = pendings
            .remove(&pledge.row.transfer_id)
            .ok_or_else(|| ledger::LedgerError::NotPending(pledge.row.transfer_id.clone()))?;
        let (email, name) = contacts
            .get(&pledge.row.investor_id)
            .cloned()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("investor {} missing", pledge.row.investor_id)))?;
        answers.push(written.pledge(pledge, pending, (email, &name, &title), offer_id)?);
    }
    written.write(conn, offer_id, recorded_by, now)?;
    Ok(answers)
}

/// What [`record_parts`] writes, gathered.
#[derive(Default)]
struct Written {
    batch: ledger::batch::Batch,
    receipts: Vec<(String, String, String, Pence, Pence, String, NaiveDateTime)>,
    pledges: Vec<(String, String, i64, &'static str, Option<NaiveDateTime>)>,
    paid_total: i64,
    parts: Vec<Queued>,
    paid: Vec<Queued>,
}

impl Written {
    /// One pledge's receipts, in turn, as `record_locked` would make them.
    fn pledge(
        &mut self,
        pledge: &PaidInParts,
        mut current: ledger::batch::Pending,
        (email, name, title): (String, &str, &str),
        offer_id: &str,
    ) -> Result<Vec<Recorded>, AppError> {
        let row = &pledge.row;
        let investor = AccountKind::Investor.account_id(&row.investor_id);
        let escrow = AccountKind::Escrow.account_id(offer_id);
        let (mut received, mut paid_at) = (row.received_pence, None);
        let mut recorded = Vec::with_capacity(pledge.receipts.len());
        for (receipt, fingerprint) in &pledge.receipts {
            let split = crate::domain::pledge::split_receipt(
                Pence::new(row.amount_pence),
                Pence::new(received),
                receipt.amount,
            );
            if split.excess > Pence::ZERO || split.applied == Pence::ZERO || paid_at.is_some() {
                return Err(AppError::Internal(anyhow::anyhow!(
                    "receipt for pledge {} is not a part of what it owes",
                    row.id
                )));
            }
            let receipt_id = clock::new_id();
            if split.completes {
                self.batch
                    .resolve(&current, Resolution::Post, &format!("receipt:{receipt_id}"))?;
                received = row.amount_pence;
                paid_at = Some(receipt.received_at);
                self.paid_total += row.amount_pence;
                self.paid
                    .push(pledge_service::payment_confirmed(row, email.clone(), name, title));
            } else {
                let cause = format!("pledge:{}:receipt:{receipt_id}", row.id);
                self.batch.resolve(&current, Resolution::Void, &cause)?;
                let posted = NewTransfer {
                    id: &format!("receipt:{receipt_id}"),
                    debit_account_id: &investor,
                    credit_account_id: &escrow,
                    amount: split.applied,
                    kind: "pledge",
                    cause: &cause,
                };
                self.batch.posted(&posted)?;
                received += split.applied.get();
                let owed = Pence::new(row.amount_pence - received);
                let id = format!("pledge:{}:owed:{received}", row.id);
                current = self.batch.pending(&NewTransfer {
                    id: &id,
                    amount: owed,
                    ..posted
                })?;
                self.parts
                    .push(part_received(row, email.clone(), name, title, split.applied, owed));
            }
            let reference = row.bank_reference.clone().unwrap_or_default();
            self.receipts.push((
                receipt_id,
                row.id.clone(),
                reference,
                receipt.amount,
                split.applied,
                fingerprint.clone(),
                receipt.received_at,
            ));
            recorded.push(Recorded::Applied {
                pledge_id: row.id.clone(),
                split,
                refund_id: None,
            });
        }
        let status = if paid_at.is_some() {
            PledgeStatus::Paid
        } else {
            PledgeStatus::Pending
        };
        self.pledges
            .push((row.id.clone(), current.id, received, status.as_str(), paid_at));
        Ok(recorded)
    }

    fn write(
        self,
        conn: &mut DbConnection,
        offer_id: &str,
        recorded_by: &str,
        now: NaiveDateTime,
    ) -> Result<(), AppError> {
        self.batch.write(conn)?;
        let moved = Rows {
            head: "UPDATE pledges SET transfer_id = v.column2, received_pence = v.column3, status = v.column4, \
                   paid_at = v.column5, updated_at = v.column6 FROM (VALUES ",
            rows: self
                .pledges
                .iter()
                .map(|(id, transfer, received, status, paid_at)| {
                    vec![
                        Param::Text(id),
                        Param::Text(transfer),
                        Param::BigInt(*received),
                        Param::Text(status),
                        Param::OptTimestamp(*paid_at),
                        Param::Timestamp(now),
                    ]
                })
                .collect(),
            tail: ") AS v WHERE pledges.id = v.column1 AND pledges.status = 'pending'",
        }
        .execute(conn)?;
        if moved != self.pledges.len() {
            return Err(AppError::conflict(
                "a pledge of this statement changed meanwhile; import it again",
            ));
        }
        Rows {
            head: "INSERT INTO bank_receipts (id, offer_id, pledge_id, reference, amount_pence, applied_pence, excess_pence, \
                   fingerprint, received_at, recorded_by, created_at) VALUES ",
            rows: self
                .receipts
                .iter()
                .map(|(id, pledge, reference, amount, applied, fingerprint, at)| {
                    vec![
                        Param::Text(id), Param::Text(offer_id), Param::Text(pledge), Param::Text(reference), Param::BigInt(amount.get()),
                        Param::BigInt(applied.get()), Param::BigInt(0), Param::Text(fingerprint), Param::Timestamp(*at),
                        Param::Text(recorded_by), Param::Timestamp(now),
                    ]
                })
                .collect(),
            tail: "",
        }
        .execute(conn)?;
        totals::add_paid(conn, offer_id, self.paid_total, now)?;
        notify::enqueue_many(conn, Kind::PartPaymentReceived, &self.parts)?;
        notify::enqueue_many(conn, Kind::PaymentConfirmed, &self.paid)
    }
}
