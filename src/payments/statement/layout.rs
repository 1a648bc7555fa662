//! Which column of a bank's CSV export holds what. Each UK bank names its columns its own way
//! (see README "Bank statements" for the layouts this reads): the header row is found among the
//! first lines (Nationwide puts an account summary above it, NatWest a blank line), and each of
//! its cells is given a role by the names banks use for it. A header this does not recognise is
//! read with the admin's own names for the columns ([`Mapping`]); HSBC's export, which has no
//! header, is recognised by its three cells (date, description, amount).

use super::cells::{bare, collapse_spaces, parse_amount, parse_date};

/// How many lines from the top the header row may be.
pub const HEADER_SEARCH_LINES: usize = 15;

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Date,
    /// A signed amount: credits positive, debits negative.
    Amount,
    /// Credits only (positive; the cell is empty on a debit).
    PaidIn,
    /// Debits only (positive or negative; the cell is empty on a credit).
    PaidOut,
    /// Text searched for the pledge reference: reference, description, payer.
    Text,
    /// The running balance after the line.
    Balance,
}

/// The admin's names for the columns (as written in the header row, any case), for a layout
/// that is not recognised, or to override what was. Any role left out is found by its usual
/// names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    pub date: Option<String>,
    pub amount: Option<String>,
    pub paid_in: Option<String>,
    pub paid_out: Option<String>,
    /// One or more columns whose text holds the reference.
    pub text: Vec<String>,
    pub balance: Option<String>,
}

impl Mapping {
    pub fn is_empty(&self) -> bool {
        self == &Mapping::default()
    }

    /// Each named column with its role and the query parameter that named it.
    fn named(&self) -> Vec<(&'static str, Role, &str)> {
        let single = [
            ("date", Role::Date, &self.date),
            ("amount", Role::Amount, &self.amount),
            ("paid_in", Role::PaidIn, &self.paid_in),
            ("paid_out", Role::PaidOut, &self.paid_out),
            ("balance", Role::Balance, &self.balance),
        ];
        let mut named: Vec<_> = single
            .into_iter()
            .filter_map(|(param, role, name)| name.as_deref().map(|n| (param, role, n)))
            .collect();
        named.extend(self.text.iter().map(|n| ("text", Role::Text, n.as_str())));
        named
    }
}

/// The names banks give each role, lower case, after [`header_name`]'s clean-up.
const NAMES: &[(Role, &[&str])] = &[
    (
        Role::Date,
        &[
            "date",
            "transaction date",
            "posting date",
            "posted date",
            "date posted",
            "entry date",
            "booking date",
            "value date",
        ],
    ),
    (
        Role::Amount,
        &["amount", "value", "transaction amount", "debit/credit", "net amount"],
    ),
    (
        Role::PaidIn,
        &[
            "paid in",
            "money in",
            "credit amount",
            "credit",
            "credits",
            "in",
            "inflow",
            "receipts",
        ],
    ),
    (
        Role::PaidOut,
        &[
            "paid out",
            "money out",
            "debit amount",
            "debit",
            "debits",
            "out",
            "outflow",
            "payments",
        ],
    ),
    (
        Role::Text,
        &[
            "reference",
            "description",
            "counter party",
            "counterparty",
            "name",
            "memo",
            "transaction description",
            "details",
            "transaction details",
            "payee",
            "payer",
            "notes",
            "notes and #tags",
            "narrative",
            "customer reference",
            "merchant/description",
            "particulars",
            "payment reference",
            "transaction reference",
            "additional information",
        ],
    ),
    (Role::Balance, &["balance", "running balance"]),
];

/// Layouts named after their bank, by header names they alone have (for the import's answer).
const KNOWN: &[(&str, &[&str])] = &[
    ("Starling", &["counter party", "reference", "spending category"]),
    ("Monzo", &["transaction id", "emoji", "local amount"]),
    ("Barclays", &["number", "account", "subcategory", "memo"]),
    (
        "Lloyds, Halifax or Bank of Scotland",
        &["transaction type", "sort code", "debit amount", "credit amount"],
    ),
    (
        "NatWest or RBS",
        &["type", "description", "value", "account name", "account number"],
    ),
    (
        "Nationwide",
        &["transaction type", "description", "paid out", "paid in"],
    ),
    ("HSBC Business", &["type", "description", "paid out", "paid in"]),
    (
        "Co-operative Bank or smile",
        &["description", "type", "money in", "money out"],
    ),
    (
        "Metro Bank",
        &["reference", "transaction type", "money in", "money out"],
    ),
    ("date, reference, amount", &["date", "reference", "amount"]),
];

/// A header cell's name, cleaned: case, spaces, and a currency after it (`Amount (GBP)`,
/// `Paid in (£)`).
fn header_name(cell: &str) -> String {
    let name = collapse_spaces(bare(cell)).to_lowercase();
    for currency in ["(gbp)", "(£)", " gbp", " £"] {
        if let Some(stripped) = name.strip_suffix(currency) {
            return stripped.trim_end().to_owned();
        }
    }
    name
}

fn role_of(name: &str) -> Option<Role> {
    NAMES
        .iter()
        .find(|(_, names)| names.contains(&name))
        .map(|(role, _)| *role)
}

/// Where each role is, by cell index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    pub date: usize,
    pub amount: Amounts,
    pub text: Vec<usize>,
    pub balance: Option<usize>,
    /// Cells in the header (or in a headerless file's lines).
    pub width: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amounts {
    Signed(usize),
    Split { paid_in: usize, paid_out: Option<usize> },
}

/// A layout found: its columns, the index of its header record (`None`: no header), its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub columns: Columns,
    pub header: Option<usize>,
    pub name: String,
}

/// Why no layout was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    /// The admin named a column (by `param`) that no header row of the first lines has.
    NoSuchColumn { param: &'static str, name: String },
    /// No header row was recognised; `first` is the first line with anything in it.
    NotRecognised { first: String },
}

/// Finds the layout of `records` (the file's first lines, as CSV cells).
pub fn find(records: &[Vec<String>], mapping: &Mapping) -> Result<Layout, LayoutError> {
    let top = &records[..records.len().min(HEADER_SEARCH_LINES)];
    let named = mapping.named();
    for (index, record) in top.iter().enumerate() {
        let names: Vec<String> = without_trailing_empty(record).iter().map(|c| header_name(c)).collect();
        let Some(roles) = roles_of(&names, &named) else {
            continue;
        };
        if let Some(columns) = columns_of(&roles, names.len()) {
            let name = if named.is_empty() {
                layout_name(&names)
            } else {
                "named by the admin".to_owned()
            };
            return Ok(Layout {
                columns,
                header: Some(index),
                name,
            });
        }
    }
    if let Some((param, _, name)) = named
        .iter()
        .find(|(_, _, name)| !top.iter().any(|r| has_column(r, name)))
    {
        return Err(LayoutError::NoSuchColumn {
            param,
            name: (*name).to_owned(),
        });
    }
    let first = top.iter().find(|r| r.iter().any(|c| !c.trim().is_empty()));
    match first {
        Some(record) if named.is_empty() && is_headerless_line(record) => Ok(Layout {
            columns: Columns {
                date: 0,
                amount: Amounts::Signed(2),
                text: vec![1],
                balance: None,
                width: 3,
            },
            header: None,
            name: "HSBC (no header: date, description, amount)".to_owned(),
        }),
        first => Err(LayoutError::NotRecognised {
            first: first.map(|r| r.join(",")).unwrap_or_default(),
        }),
    }
}

fn has_column(record: &[String], name: &str) -> bool {
    let wanted = header_name(name);
    record.iter().any(|c| header_name(c) == wanted)
}

/// Each cell's role: the admin's name for it if they gave one, else its usual name (a role
/// the admin placed is nowhere else). `None` when the admin named a column this record does
/// not have.
fn roles_of(names: &[String], named: &[(&'static str, Role, &str)]) -> Option<Vec<Option<Role>>> {
    let mut roles: Vec<Option<Role>> = names.iter().map(|n| role_of(n)).collect();
    for role in roles.iter_mut().filter(|r| r.is_some()) {
        if named
            .iter()
            .any(|(_, placed, _)| role.is_some_and(|r| displaces(*placed, r)))
        {
            *role = None;
        }
    }
    for (_, role, name) in named {
        let index = names.iter().position(|n| *n == header_name(name))?;
        roles[index] = Some(*role);
    }
    Some(roles)
}

/// Whether a column the admin named for `placed` takes the place of one found for `found`:
/// the same role, or the other way of giving amounts (signed, or paid in and out).
fn displaces(placed: Role, found: Role) -> bool {
    let split = |r: Role| matches!(r, Role::PaidIn | Role::PaidOut);
    placed == found || (placed == Role::Amount && split(found)) || (split(placed) && found == Role::Amount)
}

/// The columns, if the roles make a statement: a date, an amount (signed, or paid in), and text.
fn columns_of(roles: &[Option<Role>], width: usize) -> Option<Columns> {
    let first = |role: Role| roles.iter().position(|r| *r == Some(role));
    let amount = match (first(Role::Amount), first(Role::PaidIn)) {
        (Some(signed), _) => Amounts::Signed(signed),
        (None, Some(paid_in)) => Amounts::Split {
            paid_in,
            paid_out: first(Role::PaidOut),
        },
        (None, None) => return None,
    };
    let text: Vec<usize> = (0..roles.len()).filter(|i| roles[*i] == Some(Role::Text)).collect();
    if text.is_empty() {
        return None;
    }
    Some(Columns {
        date: first(Role::Date)?,
        amount,
        text,
        balance: first(Role::Balance),
        width,
    })
}

fn layout_name(names: &[String]) -> String {
    let known = KNOWN
        .iter()
        .find(|(_, required)| required.iter().all(|r| names.iter().any(|n| n == r)));
    match known {
        Some((name, _)) => (*name).to_owned(),
        None => format!(
            "columns: {}",
            names
                .iter()
                .filter(|n| !n.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// HSBC's headerless line: a date, some text, an amount, and nothing else.
fn is_headerless_line(record: &[String]) -> bool {
    let cells = without_trailing_empty(record);
    cells.len() == 3 && parse_date(&cells[0]).is_some() && parse_amount(&cells[2]).is_some()
}

fn without_trailing_empty(record: &[String]) -> &[String] {
    let end = record.iter().rposition(|c| !c.trim().is_empty()).map_or(0, |i| i + 1);
    &record[..end]
}

/// A data record's cells in the header's places. A record with more cells than the header
/// and a single text column had commas in that text that the bank did not quote (Metro Bank
/// does this): the extra cells are put back into the text.
pub fn align(record: &[String], columns: &Columns) -> Vec<String> {
    let cells = without_trailing_empty(record);
    let extra = cells.len().saturating_sub(columns.width);
    match columns.text.as_slice() {
        [text] if extra > 0 => {
            let mut aligned: Vec<String> = cells[..*text].to_vec();
            aligned.push(cells[*text..=*text + extra].join(","));
            aligned.extend_from_slice(&cells[*text + extra + 1..]);
            aligned
        }
        _ => cells.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(line: &str) -> Vec<String> {
        line.split(',').map(str::to_owned).collect()
    }

    #[test]
    fn each_banks_header_is_recognised() {
        for (header, bank) in [
            ("Date,Counter Party,Reference,Type,Amount (GBP),Balance (GBP),Spending Category,Notes", "Starling"),
            ("Transaction ID,Date,Time,Type,Name,Emoji,Category,Amount,Currency,Local amount,Local currency,Notes and #tags,Address,Receipt,Description,Category split,Money Out,Money In", "Monzo"),
            ("Number,Date,Account,Amount,Subcategory,Memo", "Barclays"),
            ("Transaction Date,Transaction Type,Sort Code,Account Number,Transaction Description,Debit Amount,Credit Amount,Balance,", "Lloyds, Halifax or Bank of Scotland"),
            ("Date, Type, Description, Value, Balance, Account Name, Account Number", "NatWest or RBS"),
            ("Date,Transaction type,Description,Paid out,Paid in,Balance", "Nationwide"),
            ("Date,Type,Description,Paid out,Paid in,Balance", "HSBC Business"),
            ("Date,Description,Type,Money In,Money Out,Balance", "Co-operative Bank or smile"),
            ("Date,Reference,Transaction Type,Money In, Money Out,Balance", "Metro Bank"),
            ("date,reference,amount", "date, reference, amount"),
        ] {
            let layout = find(&[record(header)], &Mapping::default()).unwrap();
            assert_eq!(layout.name, bank, "{header}");
            assert_eq!(layout.header, Some(0));
        }
    }

    #[test]
    fn roles_come_from_the_header_names() {
        let monzo = find(&[record("Transaction ID,Date,Time,Type,Name,Emoji,Category,Amount,Currency,Local amount,Local currency,Notes and #tags,Address,Receipt,Description,Category split,Money Out,Money In")], &Mapping::default()).unwrap();
        assert_eq!(
            monzo.columns.amount,
            Amounts::Signed(7),
            "the signed amount, not Money In/Out"
        );
        assert_eq!(monzo.columns.text, vec![4, 11, 14]);
        let lloyds = find(&[record("Transaction Date,Transaction Type,Sort Code,Account Number,Transaction Description,Debit Amount,Credit Amount,Balance")], &Mapping::default()).unwrap();
        assert_eq!(
            lloyds.columns.amount,
            Amounts::Split {
                paid_in: 6,
                paid_out: Some(5)
            }
        );
        assert_eq!(lloyds.columns.balance, Some(7));
    }

    #[test]
    fn the_header_is_found_below_a_preamble() {
        let records = vec![
            record("Account Name:,FlexAccount ****45678"),
            record("Account Balance:,£1234.56"),
            record("Available Balance: ,£1234.56"),
            vec![String::new()],
            record("Date,Transaction type,Description,Paid out,Paid in,Balance"),
        ];
        let layout = find(&records, &Mapping::default()).unwrap();
        assert_eq!((layout.header, layout.name.as_str()), (Some(4), "Nationwide"));
    }

    #[test]
    fn hsbcs_headerless_export_is_recognised_and_other_text_is_not() {
        let layout = find(
            &[record("30/11/2026,J SMITH CS7K2M9QXT4 CR,25.00")],
            &Mapping::default(),
        )
        .unwrap();
        assert_eq!(layout.header, None);
        assert_eq!(layout.columns.amount, Amounts::Signed(2));
        let err = find(&[record("When,What,How much")], &Mapping::default()).unwrap_err();
        assert_eq!(
            err,
            LayoutError::NotRecognised {
                first: "When,What,How much".into()
            }
        );
    }

    #[test]
    fn the_admin_names_the_columns() {
        let mapping = Mapping {
            date: Some("when".into()),
            amount: Some("HOW MUCH".into()),
            text: vec!["What".into()],
            ..Mapping::default()
        };
        let layout = find(&[record("When,What,How much,Balance")], &mapping).unwrap();
        assert_eq!(
            layout.columns,
            Columns {
                date: 0,
                amount: Amounts::Signed(2),
                text: vec![1],
                balance: Some(3),
                width: 4
            }
        );
        let wrong = Mapping {
            date: Some("Posted".into()),
            ..mapping
        };
        assert_eq!(
            find(&[record("When,What,How much")], &wrong).unwrap_err(),
            LayoutError::NoSuchColumn {
                param: "date",
                name: "Posted".into()
            }
        );
    }

    #[test]
    fn unquoted_commas_in_a_single_text_column_go_back_into_it() {
        let layout = find(
            &[record("Date,Reference,Transaction Type,Money In, Money Out,Balance")],
            &Mapping::default(),
        )
        .unwrap();
        let aligned = align(
            &record("30/11/2026,J SMITH, CS7K2M9QXT4,Faster Payment,25.00,,1234.56"),
            &layout.columns,
        );
        assert_eq!(
            aligned,
            record("30/11/2026,J SMITH, CS7K2M9QXT4,Faster Payment,25.00,,1234.56")
                .iter()
                .take(1)
                .cloned()
                .chain(["J SMITH, CS7K2M9QXT4".to_owned()])
                .chain(record("Faster Payment,25.00,,1234.56"))
                .collect::<Vec<_>>()
        );
    }
}
