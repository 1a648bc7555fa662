//! Bank statements as a society's treasurer downloads them and uploads them unchanged: the
//! CSV export of their bank (any of the layouts in [`layout`], or columns they name), or OFX.
//! Reading a statement is pure: its bytes to lines with a day, a signed amount in pence, the
//! text to search for a pledge reference, and a fingerprint. Matching the lines to pledges is
//! `services::statements`.

pub mod cells;
pub mod layout;
pub mod ofx;

use std::collections::HashMap;

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

pub use layout::Mapping;
use layout::{Amounts, Columns, LayoutError};

/// A statement, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The layout it was read as: a bank's name, `OFX`, or the columns found.
    pub layout: String,
    /// The encoding its bytes were read in (`UTF-8` or `windows-1252`).
    pub encoding: &'static str,
    pub lines: Vec<StatementLine>,
    /// The file's SHA-256 (lower-case hex): kept on every receipt imported from it.
    pub sha256: String,
}

/// One line (transaction) of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    /// The line of the file where it starts (a CSV header is a line too).
    pub line: u64,
    /// The text searched for the reference: the reference, description and payer cells, in
    /// the file's order, joined by ` / `, white space collapsed.
    pub text: String,
    /// The amount as written (for a paid in / paid out layout, the cell that is filled).
    pub amount_text: String,
    /// What the line says, or why it cannot be read (its date or amount).
    pub entry: Result<Entry, String>,
}

/// A line that reads: money in (positive) or out (negative) on a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub date: NaiveDate,
    /// Signed pence: credits positive.
    pub amount_pence: i64,
    /// Stable across downloads of the same account: SHA-256 (hex) of the date, the amount,
    /// the text, the running balance where the file has one, and the line's place among lines
    /// identical in all of these (so two genuine identical transfers on one day are two).
    pub fingerprint: String,
}

/// Why a statement cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    /// Not a statement file at all (malformed OFX, or CSV the reader refuses): 400.
    #[error("{0}")]
    Unreadable(String),
    /// The admin named a column (with the query parameter `param`) the file does not have: 422.
    #[error("no column of the header is named '{name}'")]
    NoSuchColumn { param: &'static str, name: String },
    /// No header row was recognised: 422, naming the parameters that would name the columns.
    #[error(
        "the columns were not recognised: name them with the query parameters date, amount (or paid_in and \
         paid_out), text and balance; the first line reads '{first}'"
    )]
    NotRecognised { first: String },
}

/// Reads a statement. `today` bounds the dates a line may have (see [`cells::plausible`]).
pub fn read(bytes: &[u8], mapping: &Mapping, today: NaiveDate) -> Result<Statement, StatementError> {
    let (text, encoding) = cells::decode(bytes);
    let (layout, raw) = if ofx::is_ofx(&text) {
        ("OFX".to_owned(), ofx_lines(&text)?)
    } else {
        csv_lines(&text, mapping)?
    };
    Ok(Statement {
        layout,
        encoding,
        lines: finish(raw, today),
        sha256: format!("{:x}", Sha256::digest(bytes)),
    })
}

/// A line as read, before its date is checked and its fingerprint taken.
struct RawLine {
    line: u64,
    date: String,
    amount: Result<i64, String>,
    amount_text: String,
    text: String,
    balance: String,
}

fn ofx_lines(text: &str) -> Result<Vec<RawLine>, StatementError> {
    let transactions = ofx::transactions(text).map_err(StatementError::Unreadable)?;
    Ok(transactions
        .into_iter()
        .map(|t| RawLine {
            line: t.line,
            amount: cells::parse_amount(&t.amount).ok_or_else(|| unreadable_amount(&t.amount)),
            amount_text: t.amount,
            date: t.posted,
            text: joined(&[&t.name, &t.memo]),
            balance: String::new(),
        })
        .collect())
}

fn csv_lines(text: &str, mapping: &Mapping) -> Result<(String, Vec<RawLine>), StatementError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut records: Vec<(u64, Vec<String>)> = Vec::new();
    // Lines are counted from the records' byte offsets: the reader's own count skips one after
    // a CRLF, whose record it starts at the LF.
    let (mut counted_to, mut line) = (0, 1u64);
    for record in reader.records() {
        let record = record.map_err(|e| StatementError::Unreadable(format!("not a CSV file: {e}")))?;
        let mut start = record
            .position()
            .map_or(counted_to, |p| p.byte() as usize)
            .clamp(counted_to, text.len());
        if text.as_bytes().get(start) == Some(&b'\n') {
            start += 1;
        }
        line += text.as_bytes()[counted_to..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        counted_to = start;
        records.push((line, record.iter().map(str::to_owned).collect()));
    }
    let cells: Vec<Vec<String>> = records
        .iter()
        .take(layout::HEADER_SEARCH_LINES)
        .map(|(_, r)| r.clone())
        .collect();
    let found = layout::find(&cells, mapping).map_err(|e| match e {
        LayoutError::NoSuchColumn { param, name } => StatementError::NoSuchColumn { param, name },
        LayoutError::NotRecognised { first } => StatementError::NotRecognised { first },
    })?;
    let first_data = found.header.map_or(0, |h| h + 1);
    let lines = records[first_data.min(records.len())..]
        .iter()
        .filter(|(_, record)| record.iter().any(|c| !cells::bare(c).is_empty()))
        .map(|(line, record)| csv_line(*line, &layout::align(record, &found.columns), &found.columns))
        .collect();
    Ok((found.name, lines))
}

fn csv_line(line: u64, record: &[String], columns: &Columns) -> RawLine {
    let cell = |i: usize| record.get(i).map_or("", |c| cells::bare(c));
    let texts: Vec<&str> = columns.text.iter().map(|i| cell(*i)).collect();
    let (amount, amount_text) = match columns.amount {
        Amounts::Signed(i) => (
            cells::parse_amount(cell(i)).ok_or_else(|| unreadable_amount(cell(i))),
            cell(i),
        ),
        Amounts::Split { paid_in, paid_out } => {
            let out = paid_out.map_or("", cell);
            let written = if cell(paid_in).is_empty() || cells::parse_amount(cell(paid_in)) == Some(0) {
                out
            } else {
                cell(paid_in)
            };
            (split_amount(cell(paid_in), out), written)
        }
    };
    RawLine {
        line,
        date: cell(columns.date).to_owned(),
        amount,
        amount_text: amount_text.to_owned(),
        text: joined(&texts),
        balance: columns.balance.map_or("", cell).to_owned(),
    }
}

/// Paid in less paid out: either may be empty; paid out may be written negative (Monzo).
fn split_amount(paid_in: &str, paid_out: &str) -> Result<i64, String> {
    let side = |cell: &str| match cell {
        "" => Ok(0),
        written => cells::parse_amount(written)
            .map(i64::abs)
            .ok_or_else(|| unreadable_amount(written)),
    };
    Ok(side(paid_in)? - side(paid_out)?)
}

fn unreadable_amount(written: &str) -> String {
    format!("the amount '{written}' cannot be read as pounds")
}

fn joined(texts: &[&str]) -> String {
    texts
        .iter()
        .map(|t| cells::collapse_spaces(t))
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Checks each line's date and takes its fingerprint, counting identical lines as it goes.
fn finish(raw: Vec<RawLine>, today: NaiveDate) -> Vec<StatementLine> {
    let mut seen: HashMap<String, u32> = HashMap::new();
    raw.into_iter()
        .map(|r| {
            let entry = entry_of(&r, today).map(|(date, amount_pence)| {
                let key = format!("{date}|{amount_pence}|{}|{}", r.text.to_uppercase(), r.balance);
                let occurrence = seen.entry(key.clone()).or_insert(0);
                *occurrence += 1;
                let fingerprint = format!("{:x}", Sha256::digest(format!("{key}|{occurrence}")));
                Entry {
                    date,
                    amount_pence,
                    fingerprint,
                }
            });
            StatementLine {
                line: r.line,
                text: r.text,
                amount_text: r.amount_text,
                entry,
            }
        })
        .collect()
}

fn entry_of(line: &RawLine, today: NaiveDate) -> Result<(NaiveDate, i64), String> {
    let date = cells::parse_date(&line.date).ok_or_else(|| {
        format!(
            "the date '{}' cannot be read (day first: 30/11/2026, 30/11/26, 2026-11-30 or 30 Nov 2026)",
            line.date
        )
    })?;
    if !cells::plausible(date, today) {
        return Err(format!(
            "the date '{}' is not one a statement holds (before 2000, or more than a year from today)",
            line.date
        ));
    }
    Ok((date, line.amount.clone()?))
}

#[cfg(test)]
mod tests;
