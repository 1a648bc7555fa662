//! OFX statements, as UK banks offer them for Microsoft Money and Quicken: OFX 1.0.2 (SGML,
//! whose leaf elements have no end tags, after a `KEY:VALUE` header block) and OFX 2 (XML).
//! Only the statement's transactions are read (`<STMTTRN>`: `DTPOSTED`, `TRNAMT`, `FITID`,
//! `NAME`, `MEMO`), by a tolerant scanner: every start tag ends the text of the leaf before it,
//! end tags may be there or not, a bare `&` (as in `M&S`) is text. No maintained Rust crate
//! reads OFX 1.x SGML (README "Bank statements" says which were tried and why not), so this is
//! ours; the OFX 1.0.2 specification §2.3 (SGML) and §11.4 (STMTTRN) are its sources.

/// One `<STMTTRN>` of the file, its values as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transaction {
    /// The line of the file where it starts.
    pub line: u64,
    pub posted: String,
    pub amount: String,
    pub fit_id: String,
    pub name: String,
    pub memo: String,
}

/// Whether the text is an OFX file: its header block (`OFXHEADER:100`, or `<?OFX` in OFX 2)
/// or an `<OFX>` element near the top.
pub fn is_ofx(text: &str) -> bool {
    let head: String = text
        .trim_start()
        .chars()
        .take(2048)
        .collect::<String>()
        .to_ascii_uppercase();
    head.starts_with("OFXHEADER") || head.contains("<?OFX") || head.contains("<OFX>")
}

/// The transactions of an OFX file, in file order. `Err` when there is no `<OFX>` element.
pub fn transactions(text: &str) -> Result<Vec<Transaction>, String> {
    let upper = text.to_ascii_uppercase();
    let start = upper.find("<OFX>").ok_or("an OFX file must have an <OFX> element")?;
    let mut found = Vec::new();
    let mut current: Option<Transaction> = None;
    let mut line = 1 + text[..start].matches('\n').count() as u64;
    let mut at = start;
    while let Some(open) = text[at..].find('<').map(|i| at + i) {
        line += text[at..open].matches('\n').count() as u64;
        let Some(close) = text[open..].find('>').map(|i| open + i) else {
            break;
        };
        let tag = upper[open + 1..close].trim();
        let value_end = text[close + 1..].find('<').map_or(text.len(), |i| close + 1 + i);
        let value = unescape(text[close + 1..value_end].trim());
        match tag {
            "STMTTRN" => {
                found.extend(current.take());
                current = Some(Transaction {
                    line,
                    ..Transaction::default()
                });
            }
            "/STMTTRN" | "/BANKTRANLIST" => found.extend(current.take()),
            _ => {
                if let Some(t) = current.as_mut() {
                    let field = match tag {
                        "DTPOSTED" => &mut t.posted,
                        "TRNAMT" => &mut t.amount,
                        "FITID" => &mut t.fit_id,
                        "NAME" => &mut t.name,
                        "MEMO" => &mut t.memo,
                        _ => {
                            at = close + 1;
                            continue;
                        }
                    };
                    *field = value;
                }
            }
        }
        at = close + 1;
    }
    found.extend(current);
    Ok(found)
}

/// SGML/XML character references in a value; a bare `&` stays as it is.
fn unescape(value: &str) -> String {
    if !value.contains('&') {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let entity = rest.find(';').filter(|end| *end <= 8).and_then(|end| {
            let decoded = match &rest[1..end] {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                numeric => numeric
                    .strip_prefix('#')
                    .and_then(|n| n.parse::<u32>().ok())
                    .and_then(char::from_u32),
            };
            decoded.map(|c| (c, end))
        });
        match entity {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SGML: &str = "OFXHEADER:100\r\nDATA:OFXSGML\r\nVERSION:102\r\nCHARSET:1252\r\n\r\n<OFX>\r\n<BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>GBP\r\n<BANKTRANLIST>\r\n<DTSTART>20261101\r\n<STMTTRN>\r\n<TRNTYPE>CREDIT\r\n<DTPOSTED>20261130\r\n<TRNAMT>25.00\r\n<FITID>202611300001\r\n<NAME>J SMITH\r\n<MEMO>CS7K2M9QXT4 FP 30/11/26 1031\r\n</STMTTRN>\r\n<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20261129120000.000[0:GMT]<TRNAMT>-12.40<FITID>2<NAME>M&S SIMPLY FOOD<MEMO>CARD &amp; CONTACTLESS\r\n</BANKTRANLIST>\r\n</STMTRS></STMTTRNRS></BANKMSGSRSV1>\r\n</OFX>\r\n";

    #[test]
    fn sgml_with_and_without_end_tags() {
        assert!(is_ofx(SGML));
        let found = transactions(SGML).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[0],
            Transaction {
                line: 10,
                posted: "20261130".into(),
                amount: "25.00".into(),
                fit_id: "202611300001".into(),
                name: "J SMITH".into(),
                memo: "CS7K2M9QXT4 FP 30/11/26 1031".into(),
            }
        );
        assert_eq!(found[1].name, "M&S SIMPLY FOOD");
        assert_eq!(found[1].memo, "CARD & CONTACTLESS");
        assert_eq!(found[1].posted, "20261129120000.000[0:GMT]");
    }

    #[test]
    fn xml() {
        let xml = "<?xml version=\"1.0\"?>\n<?OFX OFXHEADER=\"200\" VERSION=\"220\"?>\n<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><BANKTRANLIST>\n<STMTTRN><DTPOSTED>20261130</DTPOSTED><TRNAMT>1250.00</TRNAMT><FITID>a</FITID><NAME>Siân Ó Briain</NAME></STMTTRN>\n</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>";
        assert!(is_ofx(xml));
        let found = transactions(xml).unwrap();
        assert_eq!(
            (found.len(), found[0].line, found[0].name.as_str()),
            (1, 4, "Siân Ó Briain")
        );
        assert!(!is_ofx("Date,Reference,Amount\n"));
        assert!(transactions("OFXHEADER:100\n").is_err());
        assert_eq!(unescape("a &#163;5 &bogus; & b"), "a £5 &bogus; & b");
    }
}
