//! Bank statements as a society's treasurer uploads them: CSV (RFC 4180, as spreadsheets and
//! banks write it) whose first line names the columns `date`, `reference` and `amount`, in any
//! order and case; other columns are ignored. Reading a statement is pure: matching its lines
//! to pledges is `services::pledges::record_receipt`, one line at a time.

use chrono::{NaiveDate, NaiveDateTime};

/// One line of a statement, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    /// 1-based number of the line of the file where the record starts (the header is line 1).
    pub line: u64,
    /// The reference as written (matching normalises it).
    pub reference: String,
    /// The amount as written, in pounds (`250.00`).
    pub amount: String,
    /// The date, when it reads as `YYYY-MM-DD` or `DD/MM/YYYY`, taken as noon UTC that day.
    pub date: Option<NaiveDateTime>,
}

/// Why a statement cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    /// Not CSV (a record the CSV reader refuses): the request is malformed (400).
    #[error("not a CSV file: {0}")]
    Unreadable(String),
    /// CSV, but the first line does not name the three columns (422).
    #[error("the first line must name the columns date, reference and amount")]
    MissingColumns,
}

/// Reads every line of `body`; a line whose date or amount cannot be read is kept (its caller
/// reports it as unmatched).
pub fn read(body: &[u8]) -> Result<Vec<StatementLine>, StatementError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(body);
    let headers = reader
        .headers()
        .map_err(|e| StatementError::Unreadable(e.to_string()))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(date), Some(reference), Some(amount)) = (column("date"), column("reference"), column("amount")) else {
        return Err(StatementError::MissingColumns);
    };
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| StatementError::Unreadable(e.to_string()))?;
        // Where the record starts in the file (a quoted cell may span lines).
        let line = record.position().map_or(0, csv::Position::line);
        let field = |i: usize| record.get(i).unwrap_or("").to_owned();
        lines.push(StatementLine {
            line,
            reference: field(reference),
            amount: field(amount),
            date: statement_date(&field(date)),
        });
    }
    Ok(lines)
}

fn statement_date(text: &str) -> Option<NaiveDateTime> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(text, "%d/%m/%Y"))
        .ok()
        .and_then(|d| d.and_hms_opt(12, 0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, Instant};

    /// A generous bound: reading is linear; only a pathological input would come near it.
    const BOUND: Duration = Duration::from_secs(2);

    #[test]
    fn columns_are_found_in_any_order_and_case() {
        let lines = read(b"Amount,Ref,DATE,Reference\r\n250.00,x,30/11/2026,CS2345\r\n").unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].reference, "CS2345");
        assert_eq!(lines[0].amount, "250.00");
        assert_eq!(lines[0].date.unwrap().to_string(), "2026-11-30 12:00:00");
        assert_eq!(read(b"date,amount\n"), Err(StatementError::MissingColumns));
        assert_eq!(read(b""), Err(StatementError::MissingColumns));
    }

    /// A cell as a spreadsheet might write it: text with commas, quotes, line breaks, £ signs.
    fn cell() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Za-z0-9 ./£-]{0,12}",
            "\\PC{0,8}",
            Just("\"quoted, with comma\"".to_owned()),
            Just("line\nbreak".to_owned()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_bytes_are_read_or_refused_quickly_and_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let started = Instant::now();
            let _ = read(&bytes);
            prop_assert!(started.elapsed() < BOUND);
        }

        #[test]
        fn a_written_statement_reads_back_line_for_line(
            order in Just(["date", "reference", "amount", "memo"]).prop_shuffle(),
            rows in proptest::collection::vec((cell(), cell(), cell(), cell()), 0..40),
            crlf in any::<bool>(),
        ) {
            let mut writer = csv::WriterBuilder::new()
                .terminator(if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') })
                .from_writer(Vec::new());
            writer.write_record(order.iter().map(|h| h.to_uppercase())).unwrap();
            for (date, reference, amount, memo) in &rows {
                let by_name = |name: &str| match name {
                    "date" => date.clone(),
                    "reference" => reference.clone(),
                    "amount" => amount.clone(),
                    _ => memo.clone(),
                };
                writer.write_record(order.iter().map(|h| by_name(h))).unwrap();
            }
            let bytes = writer.into_inner().unwrap();
            let lines = read(&bytes).unwrap();
            prop_assert_eq!(lines.len(), rows.len());
            for (line, (_, reference, amount, _)) in lines.iter().zip(&rows) {
                prop_assert_eq!(&line.reference, reference.trim());
                prop_assert_eq!(&line.amount, amount.trim());
            }
        }
    }
}
