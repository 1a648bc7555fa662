//! Importing a bank statement into an offer: each credit line whose text holds one of the
//! offer's pledge references is a receipt for that pledge (`services::receipts`), applied once
//! however often the statement, or one overlapping it, is imported (its fingerprint). Debits
//! and zero lines are skipped with the reason; every other line that does not become a receipt
//! is answered with why.
//!
//! A real import runs in transactions of [`CHUNK`] lines, so a crash keeps what was applied and
//! a second import applies the rest; a dry run runs them all in one transaction that is rolled
//! back, so it answers exactly what the import would do and keeps nothing.

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::{self, Db, DbConnection};
use crate::domain::money::Pence;
use crate::domain::pledge::{find_bank_references, FoundReferences};
use crate::error::AppError;
use crate::payments::statement::{Statement, StatementLine};
use crate::services::receipts::{self, Receipt, Recorded, Source};

/// Statement lines recorded per transaction.
pub const CHUNK: usize = 500;

/// What an import did (or, for a dry run, would do).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportResult {
    /// True when nothing was kept: the answer is what the import would do.
    pub dry_run: bool,
    /// How the file was read: the bank whose layout it has (`Starling`, `Nationwide`, ...),
    /// `OFX`, `date, reference, amount`, `named by the admin`, or the columns found.
    pub layout: String,
    /// The encoding the file was read in: `UTF-8`, `windows-1252` or `UTF-16LE`/`UTF-16BE`.
    pub encoding: String,
    /// Lines recorded as receipts by this import.
    pub matched: u64,
    /// Lines recorded by an earlier import of this or an overlapping statement: nothing done.
    pub already_imported: u64,
    /// Each line recorded (or already recorded), with what it did.
    pub receipts: Vec<ReceiptLine>,
    /// Credit lines that are not receipts for a pledge of this offer, with why.
    pub unmatched: Vec<UnmatchedLine>,
    /// Debits and zero lines.
    pub skipped: Vec<SkippedLine>,
}

/// What a receipt did to its pledge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptOutcome {
    /// It completed the pledge's amount: the pledge is `paid`.
    Paid,
    /// It paid part of what the pledge owes; the pledge stays `pending` for the rest.
    PartPayment,
    /// It completed the pledge and paid more: the excess is owed back (`owed_back_pence`).
    OverPayment,
    /// Nothing was owed (the pledge was paid, or had ended): all of it is owed back.
    OwedBack,
    /// This line was recorded by an earlier import.
    AlreadyImported,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReceiptLine {
    /// The line of the file where the statement line starts (a CSV header is line 1).
    pub line: u64,
    /// The pledge reference found in the line.
    pub reference: String,
    pub amount_pence: Pence,
    /// The pledge paid (absent when already imported).
    pub pledge_id: Option<String>,
    pub outcome: ReceiptOutcome,
    /// What is owed back to the payer by a bank refund instruction, in pence.
    pub owed_back_pence: Pence,
    /// Why, in words.
    pub reason: String,
}

/// A statement line that did not become a receipt.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnmatchedLine {
    /// The line of the file where the statement line starts (a CSV header is line 1).
    pub line: u64,
    /// The line's text searched for a reference: its reference, description and payer cells
    /// as written, joined by ` / `.
    pub reference: String,
    /// The amount as written, in pounds (text: it may not be a number at all).
    pub amount: String,
    /// The amount in pence, when the line reads.
    pub amount_pence: Option<i64>,
    pub reason: String,
}

/// A debit or a zero line: not money in.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SkippedLine {
    pub line: u64,
    /// The amount as written.
    pub amount: String,
    pub reason: String,
}

/// A credit line whose text holds one pledge reference.
#[derive(Debug, Clone)]
struct Credit {
    line: u64,
    reference: String,
    amount: Pence,
    date: NaiveDate,
    fingerprint: String,
}

/// Imports `statement` into `offer_id`, recorded as by `recorded_by`.
pub async fn import(
    db: &Db,
    offer_id: &str,
    statement: Statement,
    recorded_by: &str,
    dry_run: bool,
) -> Result<ImportResult, AppError> {
    let (credits, unmatched, skipped) = sort(&statement.lines);
    let mut result = ImportResult {
        dry_run,
        layout: statement.layout,
        encoding: statement.encoding.to_owned(),
        matched: 0,
        already_imported: 0,
        receipts: Vec::new(),
        unmatched,
        skipped,
    };
    let chunks: Vec<Vec<Credit>> = if dry_run {
        vec![credits]
    } else {
        credits.chunks(CHUNK).map(<[Credit]>::to_vec).collect()
    };
    for chunk in chunks {
        let (offer_id, by) = (offer_id.to_owned(), recorded_by.to_owned());
        let outcomes = db
            .write(move |conn| {
                if dry_run {
                    db::rolled_back(conn, |c| record_all(c, &offer_id, &chunk, &by))
                } else {
                    record_all(conn, &offer_id, &chunk, &by)
                }
            })
            .await?;
        for outcome in outcomes {
            match outcome {
                Ok(receipt) => {
                    match receipt.outcome {
                        ReceiptOutcome::AlreadyImported => result.already_imported += 1,
                        _ => result.matched += 1,
                    }
                    result.receipts.push(receipt);
                }
                Err(line) => result.unmatched.push(line),
            }
        }
    }
    result.unmatched.sort_by_key(|l| l.line);
    Ok(result)
}

/// Sorts the lines: credits with one reference (to record), lines that cannot be (unmatched,
/// with why), debits and zero lines (skipped).
fn sort(lines: &[StatementLine]) -> (Vec<Credit>, Vec<UnmatchedLine>, Vec<SkippedLine>) {
    let (mut credits, mut unmatched, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    for line in lines {
        let not_matched = |reason: String, amount_pence: Option<i64>| UnmatchedLine {
            line: line.line,
            reference: line.text.clone(),
            amount: line.amount_text.clone(),
            amount_pence,
            reason,
        };
        let entry = match &line.entry {
            Ok(entry) => entry,
            Err(why) => {
                unmatched.push(not_matched(why.clone(), None));
                continue;
            }
        };
        if entry.amount_pence <= 0 {
            let reason = if entry.amount_pence == 0 {
                "a zero amount"
            } else {
                "a debit (money out)"
            };
            skipped.push(SkippedLine {
                line: line.line,
                amount: line.amount_text.clone(),
                reason: reason.into(),
            });
            continue;
        }
        match find_bank_references(&line.text) {
            FoundReferences::One(reference) => credits.push(Credit {
                line: line.line,
                reference,
                amount: Pence::new(entry.amount_pence),
                date: entry.date,
                fingerprint: entry.fingerprint.clone(),
            }),
            FoundReferences::None => unmatched.push(not_matched(
                "no pledge reference in the line's text".into(),
                Some(entry.amount_pence),
            )),
            FoundReferences::Ambiguous(references) => unmatched.push(not_matched(
                format!(
                    "ambiguous: the line holds different pledge references ({})",
                    references.join(", ")
                ),
                Some(entry.amount_pence),
            )),
        }
    }
    (credits, unmatched, skipped)
}

/// Records each credit in the caller's transaction: a receipt line, or why it is unmatched.
fn record_all(
    conn: &mut DbConnection,
    offer_id: &str,
    credits: &[Credit],
    recorded_by: &str,
) -> Result<Vec<Result<ReceiptLine, UnmatchedLine>>, AppError> {
    let mut outcomes = Vec::with_capacity(credits.len());
    for credit in credits {
        let receipt = Receipt {
            reference: credit.reference.clone(),
            amount: credit.amount,
            received_at: credit.date.and_hms_opt(12, 0, 0).unwrap_or_default(),
        };
        let source = Source::Statement {
            fingerprint: &credit.fingerprint,
        };
        let outcome = match receipts::record(conn, offer_id, &receipt, recorded_by, source) {
            Ok(recorded) => Ok(receipt_line(credit, recorded)),
            Err(AppError::Validation(errors)) => Err(UnmatchedLine {
                line: credit.line,
                reference: credit.reference.clone(),
                amount: credit.amount.to_string(),
                amount_pence: Some(credit.amount.get()),
                reason: errors.into_iter().map(|e| e.message).collect::<Vec<_>>().join("; "),
            }),
            Err(other) => return Err(other),
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

fn receipt_line(credit: &Credit, recorded: Recorded) -> ReceiptLine {
    let (pledge_id, outcome, owed_back, reason) = match recorded {
        Recorded::Applied { pledge_id, split, .. } => {
            let (outcome, reason) = match (split.completes, split.excess > Pence::ZERO) {
                (true, false) => (ReceiptOutcome::Paid, "the pledge is paid".to_owned()),
                (true, true) => (
                    ReceiptOutcome::OverPayment,
                    format!("the pledge is paid; {} more than it owed is owed back", split.excess),
                ),
                (false, _) => (
                    ReceiptOutcome::PartPayment,
                    format!("{} paid towards the pledge", split.applied),
                ),
            };
            (Some(pledge_id), outcome, split.excess, reason)
        }
        Recorded::OwedBack { pledge_id, why, .. } => {
            (Some(pledge_id), ReceiptOutcome::OwedBack, credit.amount, why.to_owned())
        }
        Recorded::AlreadyImported => (
            None,
            ReceiptOutcome::AlreadyImported,
            Pence::ZERO,
            "recorded by an earlier import".to_owned(),
        ),
    };
    ReceiptLine {
        line: credit.line,
        reference: credit.reference.clone(),
        amount_pence: credit.amount,
        pledge_id,
        outcome,
        owed_back_pence: owed_back,
        reason,
    }
}
