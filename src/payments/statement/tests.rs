use super::*;
use proptest::prelude::*;
use std::time::{Duration, Instant};

/// A generous bound: reading is linear; only a pathological input would come near it.
const BOUND: Duration = Duration::from_secs(2);

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
}

fn read_plain(bytes: &[u8]) -> Result<Statement, StatementError> {
    read(bytes, &Mapping::default(), today())
}

#[test]
fn the_plain_layout_reads_in_any_order_and_case() {
    let statement = read_plain(b"Amount,Memo,DATE,Reference\r\n250.00,x,30/11/2026,CS2345\r\n").unwrap();
    assert_eq!(statement.layout, "date, reference, amount");
    let line = &statement.lines[0];
    assert_eq!(
        (line.line, line.text.as_str(), line.amount_text.as_str()),
        (2, "x / CS2345", "250.00")
    );
    let entry = line.entry.as_ref().unwrap();
    assert_eq!((entry.date, entry.amount_pence), (today(), 25_000));
    assert!(matches!(
        read_plain(b"date,amount\n"),
        Err(StatementError::NotRecognised { .. })
    ));
    assert!(matches!(read_plain(b""), Err(StatementError::NotRecognised { .. })));
}

#[test]
fn a_line_with_a_date_no_statement_holds_is_that_lines_error() {
    let statement = read_plain(
        b"date,reference,amount\n30/11/0026,CS2345,25.00\n30/11/2028,CS2345,25.00\nyesterday,x,1\n1/1/2026,x,lots\n",
    )
    .unwrap();
    let errors: Vec<String> = statement.lines.iter().map(|l| l.entry.clone().unwrap_err()).collect();
    assert!(
        errors[0].contains("'30/11/0026' is not one a statement holds"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].contains("'30/11/2028' is not one a statement holds"),
        "{}",
        errors[1]
    );
    assert!(errors[2].contains("'yesterday' cannot be read"), "{}", errors[2]);
    assert!(errors[3].contains("'lots' cannot be read as pounds"), "{}", errors[3]);
}

#[test]
fn identical_lines_are_told_apart_by_their_place_and_a_second_download_matches_the_first() {
    let file = b"date,reference,amount\n30/11/2026,CS2345,25.00\n30/11/2026,CS2345,25.00\n01/12/2026,CS2345,25.00\n";
    let fingerprints = |bytes: &[u8]| -> Vec<String> {
        read_plain(bytes)
            .unwrap()
            .lines
            .into_iter()
            .map(|l| l.entry.unwrap().fingerprint)
            .collect()
    };
    let first = fingerprints(file);
    assert_eq!(first.len(), 3);
    assert_ne!(
        first[0], first[1],
        "two genuine identical transfers on one day both count"
    );
    // The same lines downloaded again, in another layout of the same bank's columns and with
    // a day before them (an overlapping statement), are the same lines.
    let again = fingerprints(
        b"Reference,Date,Amount\nCS2345,29/11/2026,10.00\nCS2345,30/11/2026,25.00\nCS2345,30/11/2026,25.00\n",
    );
    assert_eq!(&again[1..], &first[..2]);
}

#[test]
fn split_amounts_give_credits_and_debits() {
    let statement = read_plain(
        "Date,Description,Type,Money In,Money Out,Balance\n30/11/2026,J SMITH CS7K2M9QXT4,CREDIT,25.00,,1234.56\n29/11/2026,COUNCIL TAX,DD,,112.00,1209.56\n28/11/2026,MONZO STYLE,,,-26.50,\n27/11/2026,BOTH,,0.00,6.79,\n".as_bytes(),
    )
    .unwrap();
    let amounts: Vec<i64> = statement
        .lines
        .iter()
        .map(|l| l.entry.as_ref().unwrap().amount_pence)
        .collect();
    assert_eq!(amounts, vec![2500, -11_200, -2650, -679]);
    assert_eq!(statement.lines[1].amount_text, "112.00");
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
        let _ = read_plain(&bytes);
        let mut ofx = b"OFXHEADER:100\n<OFX><STMTTRN>".to_vec();
        ofx.extend(&bytes);
        let _ = read_plain(&ofx);
        prop_assert!(started.elapsed() < BOUND);
    }

    #[test]
    fn a_written_statement_reads_back_line_for_line(
        order in Just(["date", "reference", "amount", "memo"]).prop_shuffle(),
        rows in proptest::collection::vec((cell(), cell(), 0i64..100_000_000, cell()), 1..40),
        crlf in any::<bool>(),
    ) {
        let mut writer = csv::WriterBuilder::new()
            .terminator(if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') })
            .from_writer(Vec::new());
        writer.write_record(order.iter().map(|h| h.to_uppercase())).unwrap();
        for (date, reference, pence, memo) in &rows {
            let by_name = |name: &str| match name {
                "date" => date.clone(),
                "reference" => reference.clone(),
                "amount" => format!("{}.{:02}", pence / 100, pence % 100),
                _ => memo.clone(),
            };
            writer.write_record(order.iter().map(|h| by_name(h))).unwrap();
        }
        let bytes = writer.into_inner().unwrap();
        let statement = read_plain(&bytes).unwrap();
        // Every row has an amount, so none is blank: each is a line, in order.
        prop_assert_eq!(statement.lines.len(), rows.len());
        for (line, (_, _, pence, _)) in statement.lines.iter().zip(&rows) {
            prop_assert_eq!(cells::parse_amount(&line.amount_text), Some(*pence));
        }
    }
}
