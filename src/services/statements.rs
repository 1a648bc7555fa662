//! Importing a bank statement into an offer: each credit line whose text holds one of the
//! offer's pledge references is a receipt for that pledge (`services::receipts`), applied once
//! however often the statement, or one overlapping it, is imported (its fingerprint). Debits
//! and zero lines are skipped with the reason; every other line that does not become a receipt
//! is answered with why.
//!
//! A line that is money an admin already recorded by hand (`domain::reconcile`: the same
//! pledge and amount, a few days apart) is matched to that receipt and applies nothing: a
//! treasurer who logs transfers as they arrive and imports the month's statement later never
//! sees the money twice, nor owes any of it back. The admin may leave any line out of an import.
//!
//! A real import runs in transactions of [`CHUNK`] lines, so a crash keeps what was applied and
//! a second import applies the rest. A dry run reads, and decides each line with the same rule
//! (`domain::pledge::receipt_effect`) as the pledge would meet it after the lines before it:
//! it answers what the import would do and writes nothing.

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::clock;
use crate::db::{Db, DbConnection};
use crate::domain::money::Pence;
use crate::domain::pledge::{find_bank_references, owing_after, receipt_effect, FoundReferences, Owing, ReceiptEffect};
use crate::domain::reconcile::{match_hand_receipts, Received};
use crate::error::AppError;
use crate::payments::statement::{self, Mapping, Statement, StatementError, StatementLine};
use crate::services::offers as offer_service;
use crate::services::pledges::{self as pledge_service, PledgeRow};
use crate::services::receipts::{self, HandReceipt, ImportedLine, PaidInParts, Receipt, Recorded, Source};

/// Statement lines recorded per transaction.
pub const CHUNK: usize = 200;

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
    /// Lines that are money an admin already recorded by hand (the same pledge and amount,
    /// dated at most 5 days apart): matched to that receipt, nothing more done.
    pub already_recorded_by_hand: u64,
    /// Each line recorded (or already recorded), with what it did.
    pub receipts: Vec<ReceiptLine>,
    /// Credit lines that are not receipts for a pledge of this offer, with why.
    pub unmatched: Vec<UnmatchedLine>,
    /// Debits, zero lines, and the lines the admin left out.
    pub skipped: Vec<SkippedLine>,
}

/// How to import: for real or as a dry run, and which lines of the file to leave out (by the
/// line number where each starts, as the answer numbers them).
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub dry_run: bool,
    pub leave_out: BTreeSet<u64>,
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
    /// This line is money an admin recorded by hand: that receipt stands for it.
    RecordedByHand,
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

/// A debit, a zero line, or a line the admin left out: nothing done.
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

/// Reads a statement file as its bank exported it (`mapping`: the columns an admin named, for a
/// layout not recognised) and imports it into `offer_id` (see [`import`]). An unreadable file
/// is 400; a named column the file does not have is 422 on its parameter; a layout not
/// recognised is 422 on `body`.
pub async fn import_file(
    db: &Db,
    offer_id: &str,
    file: &[u8],
    mapping: &Mapping,
    recorded_by: &str,
    options: &ImportOptions,
) -> Result<ImportResult, AppError> {
    let statement = statement::read(file, mapping, clock::now().date()).map_err(|e| match e {
        StatementError::Unreadable(_) => AppError::BadRequest {
            detail: e.to_string(),
            errors: Vec::new(),
        },
        StatementError::NoSuchColumn { param, .. } => AppError::field(param, e.to_string()),
        StatementError::NotRecognised { .. } => AppError::field("body", e.to_string()),
    })?;
    import(db, offer_id, statement, recorded_by, options).await
}

/// Imports `statement` into `offer_id`, recorded as by `recorded_by`; a dry run reads and
/// answers, writing nothing. Leaving out a line the statement does not have is 422 on
/// `leave_out`.
pub async fn import(
    db: &Db,
    offer_id: &str,
    statement: Statement,
    recorded_by: &str,
    options: &ImportOptions,
) -> Result<ImportResult, AppError> {
    check_leave_out(&statement.lines, &options.leave_out)?;
    let (credits, unmatched, skipped) = sort(&statement.lines, &options.leave_out);
    let dry_run = options.dry_run;
    let mut result = ImportResult {
        dry_run,
        layout: statement.layout,
        encoding: statement.encoding.to_owned(),
        matched: 0,
        already_imported: 0,
        already_recorded_by_hand: 0,
        receipts: Vec::new(),
        unmatched,
        skipped,
    };
    let outcomes = if dry_run {
        let offer_id = offer_id.to_owned();
        db.run(move |conn| simulate(conn, &offer_id, &credits)).await?
    } else {
        let mut outcomes = Vec::with_capacity(credits.len());
        for chunk in credits.chunks(CHUNK) {
            let (offer_id, by, chunk) = (offer_id.to_owned(), recorded_by.to_owned(), chunk.to_vec());
            let sha256 = statement.sha256.clone();
            outcomes.extend(
                db.write(move |conn| {
                    let outcomes = record_chunk(conn, &offer_id, &chunk, &by)?;
                    let lines: Vec<(&str, u64)> = chunk.iter().map(|c| (c.fingerprint.as_str(), c.line)).collect();
                    receipts::note_statement(conn, &offer_id, &sha256, &lines)?;
                    Ok(outcomes)
                })
                .await?,
            );
        }
        outcomes
    };
    for outcome in outcomes {
        match outcome {
            Ok(receipt) => {
                match receipt.outcome {
                    ReceiptOutcome::AlreadyImported => result.already_imported += 1,
                    ReceiptOutcome::RecordedByHand => result.already_recorded_by_hand += 1,
                    _ => result.matched += 1,
                }
                result.receipts.push(receipt);
            }
            Err(line) => result.unmatched.push(line),
        }
    }
    result.unmatched.sort_by_key(|l| l.line);
    Ok(result)
}

/// Every line to leave out is a line of the statement (422 on `leave_out` otherwise).
fn check_leave_out(lines: &[StatementLine], leave_out: &BTreeSet<u64>) -> Result<(), AppError> {
    let known: HashSet<u64> = lines.iter().map(|l| l.line).collect();
    match leave_out.iter().find(|n| !known.contains(n)) {
        Some(n) => Err(AppError::field(
            "leave_out",
            format!("line {n} is not a line of this statement (the answer numbers its lines)"),
        )),
        None => Ok(()),
    }
}

/// Sorts the lines: credits with one reference (to record), lines that cannot be (unmatched,
/// with why), debits, zero lines and lines left out (skipped).
fn sort(lines: &[StatementLine], leave_out: &BTreeSet<u64>) -> (Vec<Credit>, Vec<UnmatchedLine>, Vec<SkippedLine>) {
    let (mut credits, mut unmatched, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    for line in lines {
        if leave_out.contains(&line.line) {
            skipped.push(SkippedLine {
                line: line.line,
                amount: line.amount_text.clone(),
                reason: "left out of this import by the admin".into(),
            });
            continue;
        }
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

type Outcome = Result<ReceiptLine, UnmatchedLine>;
/// The offer's pledges, by reference.
type Pledges = HashMap<String, PledgeRow>;
/// The statement lines the offer's receipts hold already, by fingerprint.
type Settled = HashMap<String, ImportedLine>;

/// Records a chunk of credits in one write transaction: the offer's row locked once, its
/// pledges and the lines imported before read in one query each. The pledges whose every line
/// pays part of what they owe (the usual case) are written together
/// ([`receipts::record_parts`]); any other line is recorded on its own, after them.
fn record_chunk(
    conn: &mut DbConnection,
    offer_id: &str,
    credits: &[Credit],
    recorded_by: &str,
) -> Result<Vec<Outcome>, AppError> {
    let now = clock::now();
    offer_service::lock(conn, offer_id, now)?;
    let (rows, imported) = lookups(conn, offer_id, credits)?;
    let by_hand = hand_matches(conn, offer_id, credits, &rows, &imported)?;
    let settled: HashSet<&str> = credits
        .iter()
        .enumerate()
        .filter(|(i, c)| imported.contains_key(&c.fingerprint) || by_hand.contains_key(i))
        .map(|(_, c)| c.fingerprint.as_str())
        .collect();
    let in_parts = paid_in_parts(credits, &rows, &settled)?;
    let mut outcomes: Vec<Option<Outcome>> = vec![None; credits.len()];
    let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
    let mut one_by_one = Vec::new();
    for (i, credit) in credits.iter().enumerate() {
        if let Some(line) = imported.get(&credit.fingerprint) {
            outcomes[i] = Some(Ok(receipt_line(credit, line.recorded())));
        } else if let Some(hand) = by_hand.get(&i) {
            receipts::match_to_line(conn, &hand.id, &credit.fingerprint)?;
            outcomes[i] = Some(Ok(receipt_line(credit, recorded_by_hand(hand))));
        } else if !rows.contains_key(&credit.reference) {
            outcomes[i] = Some(Err(no_such_pledge(credit)));
        } else if in_parts.contains(credit.reference.as_str()) {
            match groups.iter_mut().find(|(reference, _)| *reference == credit.reference) {
                Some((_, lines)) => lines.push(i),
                None => groups.push((&credit.reference, vec![i])),
            }
        } else {
            one_by_one.push(i);
        }
    }
    let batch: Vec<PaidInParts> = groups
        .iter()
        .map(|(reference, lines)| PaidInParts {
            row: rows[*reference].clone(),
            receipts: lines
                .iter()
                .map(|i| (receipt_of(&credits[*i]), credits[*i].fingerprint.clone()))
                .collect(),
        })
        .collect();
    let answers = receipts::record_parts(conn, offer_id, &batch, recorded_by, now)?;
    for ((_, lines), recorded) in groups.iter().zip(answers) {
        for (i, recorded) in lines.iter().zip(recorded) {
            outcomes[*i] = Some(Ok(receipt_line(&credits[*i], recorded)));
        }
    }
    for i in one_by_one {
        let credit = &credits[i];
        // Read again: an earlier line of this chunk may have paid towards the same pledge.
        let row = pledge_service::get(conn, &rows[&credit.reference].id)?;
        let source = Source::Statement {
            fingerprint: &credit.fingerprint,
        };
        let recorded = receipts::record_locked(conn, &row, &receipt_of(credit), recorded_by, source, now)?;
        outcomes[i] = Some(Ok(receipt_line(credit, recorded)));
    }
    outcomes
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("a statement line was left unrecorded")))
}

/// The references of the chunk's pledges whose every line (not imported before) pays part of
/// what they owe, or the rest, and nothing more: decided line by line, as the pledge would
/// meet each.
fn paid_in_parts<'a>(
    credits: &'a [Credit],
    rows: &HashMap<String, PledgeRow>,
    settled: &HashSet<&str>,
) -> Result<HashSet<&'a str>, AppError> {
    let mut owing: HashMap<&str, Owing> = HashMap::new();
    let mut other: HashSet<&str> = HashSet::new();
    for credit in credits.iter().filter(|c| !settled.contains(c.fingerprint.as_str())) {
        let Some(row) = rows.get(&credit.reference) else {
            continue;
        };
        let state = match owing.get(credit.reference.as_str()) {
            Some(state) => *state,
            None => receipts::owing(row)?,
        };
        let effect = receipt_effect(state, credit.amount);
        if !matches!(effect, ReceiptEffect::Pays(split) if split.excess == Pence::ZERO) {
            other.insert(&credit.reference);
        }
        owing.insert(&credit.reference, owing_after(state, effect));
    }
    Ok(owing
        .into_keys()
        .filter(|reference| !other.contains(reference))
        .collect())
}

/// What the credits would do, read and decided with the same rule as [`record_chunk`], each
/// line meeting the pledge as the lines before it left it; nothing is written.
fn simulate(conn: &mut DbConnection, offer_id: &str, credits: &[Credit]) -> Result<Vec<Outcome>, AppError> {
    let mut all_rows: HashMap<String, PledgeRow> = HashMap::new();
    let mut imported = HashMap::new();
    for chunk in credits.chunks(CHUNK) {
        let (rows, found) = lookups(conn, offer_id, chunk)?;
        imported.extend(found);
        all_rows.extend(rows);
    }
    let by_hand = hand_matches(conn, offer_id, credits, &all_rows, &imported)?;
    let mut owing: HashMap<String, (String, Owing)> = HashMap::new();
    for (reference, row) in all_rows {
        let state = receipts::owing(&row)?;
        owing.insert(reference, (row.id, state));
    }
    Ok(credits
        .iter()
        .enumerate()
        .map(|(i, credit)| {
            if let Some(line) = imported.get(&credit.fingerprint) {
                return Ok(receipt_line(credit, line.recorded()));
            }
            if let Some(hand) = by_hand.get(&i) {
                return Ok(receipt_line(credit, recorded_by_hand(hand)));
            }
            let Some((pledge_id, state)) = owing.get_mut(&credit.reference) else {
                return Err(no_such_pledge(credit));
            };
            let pledge_id = pledge_id.clone();
            let effect = receipt_effect(*state, credit.amount);
            *state = owing_after(*state, effect);
            let recorded = match effect {
                ReceiptEffect::Pays(split) => Recorded::Applied {
                    pledge_id,
                    split,
                    refund_id: None,
                },
                ReceiptEffect::OwedBack { already_paid } => Recorded::OwedBack {
                    pledge_id,
                    refund_id: String::new(),
                    why: receipts::owed_back_why(already_paid),
                },
            };
            Ok(receipt_line(credit, recorded))
        })
        .collect())
}

/// The credits (by index) that are money already recorded by hand, each with the hand receipt it
/// repeats (`domain::reconcile`): among the credits not recorded before, for pledges of the
/// offer, against the hand receipts of those pledges that no line has been matched to yet.
fn hand_matches(
    conn: &mut DbConnection,
    offer_id: &str,
    credits: &[Credit],
    rows: &HashMap<String, PledgeRow>,
    imported: &HashMap<String, ImportedLine>,
) -> Result<HashMap<usize, HandReceipt>, AppError> {
    let open: Vec<(usize, &str)> = credits
        .iter()
        .enumerate()
        .filter(|(_, c)| !imported.contains_key(&c.fingerprint))
        .filter_map(|(i, c)| rows.get(&c.reference).map(|row| (i, row.id.as_str())))
        .collect();
    let mut pledge_ids: Vec<&str> = open.iter().map(|(_, id)| *id).collect();
    pledge_ids.sort_unstable();
    pledge_ids.dedup();
    let mut hands = Vec::new();
    for chunk in pledge_ids.chunks(CHUNK) {
        hands.extend(receipts::unmatched_by_hand(conn, offer_id, chunk)?);
    }
    if hands.is_empty() {
        return Ok(HashMap::new());
    }
    let lines: Vec<Received<'_>> = open
        .iter()
        .map(|(i, pledge_id)| Received {
            pledge_id,
            amount: credits[*i].amount,
            on: credits[*i].date,
        })
        .collect();
    let by_hand: Vec<Received<'_>> = hands
        .iter()
        .map(|h| Received {
            pledge_id: &h.pledge_id,
            amount: Pence::new(h.amount_pence),
            on: clock::uk_date(h.received_at),
        })
        .collect();
    let pairs = match_hand_receipts(&lines, &by_hand);
    Ok(open
        .iter()
        .zip(pairs)
        .filter_map(|((i, _), found)| found.map(|h| (*i, hands[h].clone())))
        .collect())
}

fn recorded_by_hand(hand: &HandReceipt) -> Recorded {
    Recorded::RecordedByHand {
        pledge_id: hand.pledge_id.clone(),
        received_at: hand.received_at,
    }
}

/// The offer's pledges the credits name, by reference, and which credits the offer's receipts
/// hold already.
fn lookups(conn: &mut DbConnection, offer_id: &str, credits: &[Credit]) -> Result<(Pledges, Settled), AppError> {
    let mut references: Vec<String> = credits.iter().map(|c| c.reference.clone()).collect();
    references.sort();
    references.dedup();
    let fingerprints: Vec<&str> = credits.iter().map(|c| c.fingerprint.as_str()).collect();
    Ok((
        receipts::by_reference(conn, offer_id, &references)?,
        receipts::imported(conn, offer_id, &fingerprints)?,
    ))
}

fn receipt_of(credit: &Credit) -> Receipt {
    Receipt {
        reference: credit.reference.clone(),
        amount: credit.amount,
        received_at: credit.date.and_hms_opt(12, 0, 0).unwrap_or_default(),
    }
}

fn no_such_pledge(credit: &Credit) -> UnmatchedLine {
    UnmatchedLine {
        line: credit.line,
        reference: credit.reference.clone(),
        amount: credit.amount.to_string(),
        amount_pence: Some(credit.amount.get()),
        reason: receipts::NO_SUCH_PLEDGE.to_owned(),
    }
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
        Recorded::RecordedByHand { pledge_id, received_at } => (
            Some(pledge_id),
            ReceiptOutcome::RecordedByHand,
            Pence::ZERO,
            format!(
                "already recorded by hand on {}: the same money, nothing more done",
                clock::uk_date(received_at).format("%-d %B %Y")
            ),
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
