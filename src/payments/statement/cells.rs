//! The cells of a bank statement as UK banks and spreadsheets write them: the file's bytes to
//! text, an amount to signed pence, a date to a day. Pure functions, no I/O.

use chrono::{Days, NaiveDate};
use encoding_rs::{UTF_8, WINDOWS_1252};

/// The file's bytes as text: UTF-8 (with or without a byte-order mark; a UTF-16 BOM is
/// honoured too), else Windows-1252, which is what Excel's "CSV (Comma delimited)" and
/// Nationwide write (`£` is the byte 0xA3). Windows-1252 maps every byte to a character, so
/// decoding never fails. Answers the text and the encoding's name.
pub fn decode(bytes: &[u8]) -> (String, &'static str) {
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom..]);
        return (text.into_owned(), encoding.name());
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_owned(), UTF_8.name()),
        Err(_) => {
            let (text, _) = WINDOWS_1252.decode_without_bom_handling(bytes);
            (text.into_owned(), WINDOWS_1252.name())
        }
    }
}

/// A cell as the bank wrote it, without what banks put around the value: surrounding white
/// space, and the leading `'` with which NatWest and Lloyds keep spreadsheets from reading a
/// cell as a number.
pub fn bare(cell: &str) -> &str {
    let cell = cell.trim();
    cell.strip_prefix('\'').unwrap_or(cell).trim()
}

/// Text cells as one line: runs of white space (Barclays pads with spaces and TABs) as one
/// space.
pub fn collapse_spaces(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads an amount in pounds as signed pence: `25`, `250.5`, `1,250.00`, `£1,250.00`,
/// `GBP 25.00`, `-42.50`, `-£42.50`, `£-42.50`, `+£25.00`, `(42.50)`, `42.50-`, `42.50 CR`,
/// `42.50 DR`. Thousands separators must group by three. `None` when it is not an amount;
/// `Some(0)` for an empty cell is the caller's choice, not this function's.
pub fn parse_amount(cell: &str) -> Option<i64> {
    let mut text = bare(cell).to_ascii_uppercase();
    let mut negative = false;
    if let Some(inner) = text.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
        negative = true;
        text = inner.trim().to_owned();
    }
    for (suffix, is_debit) in [("CR", false), ("DR", true), ("-", true)] {
        if let Some(rest) = text.strip_suffix(suffix) {
            negative |= is_debit;
            text = rest.trim().to_owned();
            break;
        }
    }
    let mut digits = text.as_str();
    for _ in 0..2 {
        digits = digits.trim();
        if let Some(rest) = digits.strip_prefix('-') {
            negative = !negative;
            digits = rest;
        } else if let Some(rest) = digits.strip_prefix('+') {
            digits = rest;
        }
        digits = digits.trim_start_matches('£').trim_start_matches("GBP").trim();
    }
    let digits = digits.trim_end_matches("GBP").trim();
    let pence = pounds_to_pence(digits)?;
    Some(if negative { -pence } else { pence })
}

/// `1,250.00` → 125000: digits, optional thousands separators grouping by three, up to two
/// decimals.
fn pounds_to_pence(text: &str) -> Option<i64> {
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) if (1..=2).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()) => (w, f),
        Some(_) => return None,
        None => (text, ""),
    };
    let groups: Vec<&str> = whole.split(',').collect();
    let grouped_by_three = groups.len() == 1
        || (!groups[0].is_empty() && groups[0].len() <= 3 && groups[1..].iter().all(|g| g.len() == 3));
    if whole.is_empty() || !grouped_by_three || !groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let pounds: i64 = groups.concat().parse().ok()?;
    let pence: i64 = format!("{fraction:0<2}").parse().ok()?;
    pounds.checked_mul(100)?.checked_add(pence)
}

/// The date formats UK banks write, day first: `30/11/2026`, `30/11/26`, `2026-11-30`,
/// `30 Nov 2026`, `30 November 2026`, `30-Nov-2026`, `30-Nov-26`, `30.11.2026`, `30-11-2026`,
/// and OFX's `20261130` (a time after the date, as in `2026-11-30 10:31:07` or OFX's
/// `20261130103107.000[0:GMT]`, is ignored). Month first (`11/30/2026`) is not a UK form: it
/// reads as no date.
pub fn parse_date(cell: &str) -> Option<NaiveDate> {
    let text = bare(cell);
    let text = text
        .strip_suffix(']')
        .map_or(text, |t| t.split('[').next().unwrap_or(t))
        .trim();
    whole_date(text).or_else(|| {
        // A date followed by a time: `2026-11-30 10:31:07`, `30/11/2026 10:31`, `2026-11-30T10:31`.
        let first = text.split([' ', 'T']).next().unwrap_or("");
        if first.len() < text.len() {
            whole_date(first)
        } else if text.len() > 8 && text.bytes().take(8).all(|b| b.is_ascii_digit()) {
            whole_date(&text[..8]) // OFX: YYYYMMDDHHMMSS[.XXX]
        } else {
            None
        }
    })
}

fn whole_date(text: &str) -> Option<NaiveDate> {
    // Which year form a numeric date has is read from its last part, so that `30/11/26` is 2026
    // and `30/11/0026` the year 26 (refused by `plausible`), never one taken for the other.
    let year_first = text.len() > 4 && text.as_bytes()[..4].iter().all(u8::is_ascii_digit);
    let last = text.rsplit(['/', '-', '.', ' ']).next().unwrap_or("");
    let formats: &[&str] = if year_first {
        &["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"]
    } else if last.len() == 2 {
        &["%d/%m/%y", "%d-%m-%y", "%d.%m.%y", "%d %b %y", "%d-%b-%y", "%d %B %y"]
    } else {
        &["%d/%m/%Y", "%d %b %Y", "%d %B %Y", "%d-%b-%Y", "%d-%m-%Y", "%d.%m.%Y"]
    };
    formats.iter().find_map(|f| NaiveDate::parse_from_str(text, f).ok())
}

/// Whether a statement could hold this date: from 2000 (no account on the platform is older)
/// to a year after `today`. Anything else (the year 0026 from a spreadsheet that lost two
/// digits; a month-first date read day-first into the wrong year) is an error on its line.
pub fn plausible(date: NaiveDate, today: NaiveDate) -> bool {
    let earliest = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or(NaiveDate::MIN);
    let latest = today.checked_add_days(Days::new(366)).unwrap_or(NaiveDate::MAX);
    (earliest..=latest).contains(&date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn amounts_as_banks_write_them() {
        for (text, pence) in [
            ("25", 2500),
            ("250.5", 25050),
            ("1,250.00", 125_000),
            ("£1,250.00", 125_000),
            ("\"£1,250.00\"", -1), // quotes are the CSV reader's, never a cell's
            ("GBP 25.00", 2500),
            ("25.00 GBP", 2500),
            ("-42.50", -4250),
            ("-£42.50", -4250),
            ("£-42.50", -4250),
            ("+£25.00", 2500),
            ("(42.50)", -4250),
            ("(£1,042.50)", -104_250),
            ("42.50-", -4250),
            ("42.50 CR", 4250),
            ("42.50DR", -4250),
            ("'25.00", 2500),
            ("  7,422.28 ", 742_228),
            ("1,000,000.00", 100_000_000),
        ] {
            let expected = (pence != -1).then_some(pence);
            assert_eq!(parse_amount(text), expected, "{text}");
        }
        for text in [
            "", "-", "£", "1,25.00", ",250.00", "1250,00", "12.345", "1.2.3", "abc", "25.00.", "1 250.00",
        ] {
            assert_eq!(parse_amount(text), None, "{text}");
        }
    }

    #[test]
    fn dates_as_banks_write_them() {
        let expected = day(2026, 11, 30);
        for text in [
            "30/11/2026",
            "30/11/26",
            "2026-11-30",
            "30 Nov 2026",
            "30 nov 2026",
            "30 November 2026",
            "30-Nov-2026",
            "30-Nov-26",
            "30.11.2026",
            "30-11-2026",
            "20261130",
            "20261130103107.000[0:GMT]",
            "2026-11-30 10:31:07",
            "2026-11-30T10:31:07Z",
            "30/11/2026 10:31",
            "'30/11/2026",
        ] {
            assert_eq!(parse_date(text), Some(expected), "{text}");
        }
        assert_eq!(parse_date("01/02/2027"), Some(day(2027, 2, 1)), "day first");
        assert_eq!(
            parse_date("30/11/0026"),
            Some(day(26, 11, 30)),
            "read, then refused as implausible"
        );
        for text in [
            "",
            "11/30/2026",
            "31/11/2026",
            "30/13/2026",
            "yesterday",
            "2026",
            "30/11",
        ] {
            assert_eq!(parse_date(text), None, "{text}");
        }
    }

    #[test]
    fn a_statement_holds_dates_from_2000_to_a_year_ahead() {
        let today = day(2026, 11, 30);
        assert!(plausible(day(2000, 1, 1), today));
        assert!(plausible(day(2027, 11, 30), today));
        assert!(!plausible(day(26, 11, 30), today));
        assert!(!plausible(day(1999, 12, 31), today));
        assert!(!plausible(day(2027, 12, 2), today));
    }

    #[test]
    fn bytes_are_read_as_utf8_with_or_without_a_bom_else_windows_1252() {
        assert_eq!(decode("Siân,£25".as_bytes()), ("Siân,£25".to_owned(), "UTF-8"));
        assert_eq!(decode(b"\xEF\xBB\xBFDate,\xC2\xA325"), ("Date,£25".to_owned(), "UTF-8"));
        assert_eq!(
            decode(b"\"Paid in\",\"\xA325.00\"\r\n"),
            ("\"Paid in\",\"£25.00\"\r\n".to_owned(), "windows-1252")
        );
        assert_eq!(decode(b"\xFF\xFEa\x00"), ("a".to_owned(), "UTF-16LE"));
        assert_eq!(
            collapse_spaces(" J SMITH  \t CS7K2M9QXT4\tBGC "),
            "J SMITH CS7K2M9QXT4 BGC"
        );
    }

    proptest! {
        #[test]
        fn an_amount_written_any_way_a_bank_does_reads_back(pence in 0i64..10_000_000_000, style in 0usize..8) {
            let (pounds, fraction) = (pence / 100, pence % 100);
            let grouped = {
                let digits = pounds.to_string();
                let mut out = String::new();
                for (i, c) in digits.chars().enumerate() {
                    if i > 0 && (digits.len() - i) % 3 == 0 { out.push(','); }
                    out.push(c);
                }
                out
            };
            let (text, signed) = match style {
                0 => (format!("{pounds}.{fraction:02}"), pence),
                1 => (format!("£{grouped}.{fraction:02}"), pence),
                2 => (format!("-{grouped}.{fraction:02}"), -pence),
                3 => (format!("({grouped}.{fraction:02})"), -pence),
                4 => (format!("{pounds}.{fraction:02} DR"), -pence),
                5 => (format!("-£{pounds}.{fraction:02}"), -pence),
                6 => (format!("'{grouped}.{fraction:02}"), pence),
                _ => (format!("+£{grouped}.{fraction:02}"), pence),
            };
            prop_assert_eq!(parse_amount(&text), Some(signed), "{}", text);
        }

        #[test]
        fn any_cell_reads_or_refuses_without_panicking(cell in "\\PC{0,24}") {
            let _ = parse_amount(&cell);
            let _ = parse_date(&cell);
        }

        #[test]
        fn a_day_written_day_first_reads_back(days in 0i64..20_000, form in 0usize..5) {
            let date = day(2000, 1, 1) + chrono::Duration::days(days);
            let text = match form {
                0 => date.format("%d/%m/%Y").to_string(),
                1 => date.format("%d/%m/%y").to_string(),
                2 => date.format("%Y-%m-%d").to_string(),
                3 => date.format("%d %b %Y").to_string(),
                _ => date.format("%Y%m%d").to_string(),
            };
            // Two-digit years read as 2000–2068 (chrono's pivot); these days end in 2054.
            prop_assert_eq!(parse_date(&text), Some(date), "{}", text);
        }
    }
}
