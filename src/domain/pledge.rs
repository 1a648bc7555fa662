//! Pledge rules (DESIGN §2), pure: whether a pledge may be made, its shares, its windows, and
//! bank transfer references.

use chrono::{Duration, NaiveDate, NaiveDateTime};

use crate::domain::money::Pence;
use crate::domain::offer::{OfferStatus, Terms};
use crate::domain::postcode;
use crate::error::{AppError, FieldError};

/// Where a pledge is in its life.
// (DESIGN §2; stored as its text: `db::text`.)
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum PledgeStatus {
    Pending,
    Paid,
    Allocated,
    Cancelled,
    Expired,
    Refunded,
}

text_names!(PledgeStatus {
    Pending => "pending",
    Paid => "paid",
    Allocated => "allocated",
    Cancelled => "cancelled",
    Expired => "expired",
    Refunded => "refunded",
});

impl PledgeStatus {
    /// The live statuses: a pledge in one of them counts towards its offer (totals, holdings,
    /// the match).
    pub const LIVE: [PledgeStatus; 3] = [PledgeStatus::Pending, PledgeStatus::Paid, PledgeStatus::Allocated];
}

/// How a pledge is paid.
// (Stored as its text: `db::text`.)
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    Card,
    BankTransfer,
}

text_names!(PaymentMethod {
    Card => "card",
    BankTransfer => "bank_transfer",
});

/// What an investor's cancellation of their pledge does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancellation {
    /// An unpaid pledge is withdrawn: its transfer voided.
    Withdraw,
    /// A paid pledge in its cooling-off period is refunded.
    Refund,
}

/// Whether an investor may cancel a pledge in `status` at `now` (`offer_open`: the offer is
/// open and before its close), and how; else why not, in words (409). An unpaid pledge may be
/// withdrawn at any time before the close; a paid one only within its cooling-off period,
/// which ends at `cancellable_until` (the offer's `cooling_off_days` from the pledge, or the
/// close if sooner: DESIGN §2; no statute sets a cooling-off period for community shares, so
/// it is the offer's own policy).
pub fn cancellation(
    status: PledgeStatus,
    offer_open: bool,
    now: NaiveDateTime,
    cancellable_until: NaiveDateTime,
) -> Result<Cancellation, String> {
    match status {
        PledgeStatus::Pending if offer_open => Ok(Cancellation::Withdraw),
        PledgeStatus::Pending => Err("the offer has closed; the pledge can no longer be cancelled".into()),
        PledgeStatus::Paid if offer_open && now <= cancellable_until => Ok(Cancellation::Refund),
        PledgeStatus::Paid => Err("the cooling-off period for this pledge has ended".into()),
        other => Err(format!("the pledge is {other} already")),
    }
}

/// What a pledge is checked against.
#[derive(Debug, Clone)]
pub struct PledgeContext<'a> {
    pub status: OfferStatus,
    pub terms: &'a Terms,
    /// Live community pledges plus live match already on the offer.
    pub offer_total: Pence,
    /// The investor's live pledges to this offer.
    pub investor_total: Pence,
    pub min_age: i64,
    pub postcode_prefixes: &'a [String],
    pub profile: Option<InvestorProfile<'a>>,
    pub accept_terms: bool,
    pub now: NaiveDateTime,
}

/// The parts of a complete investor profile the rules look at.
#[derive(Debug, Clone, Copy)]
pub struct InvestorProfile<'a> {
    pub date_of_birth: NaiveDate,
    pub postcode: &'a str,
}

/// Checks a new pledge of `amount`. The offer not being open (or past its closing time) is 409;
/// every other broken rule is 422 naming its field. Returns the number of shares.
pub fn check_new_pledge(ctx: &PledgeContext<'_>, amount: Pence) -> Result<i64, AppError> {
    if ctx.status != OfferStatus::Open || ctx.now >= ctx.terms.closes_at {
        return Err(AppError::conflict(format!(
            "the offer is {} and not taking pledges",
            if ctx.status == OfferStatus::Open {
                "closing"
            } else {
                ctx.status.as_str()
            }
        )));
    }
    let mut errors = investor_errors(ctx);
    let shares = match check_amount(ctx, amount) {
        Ok(shares) => shares,
        Err(error) => {
            errors.push(error);
            0
        }
    };
    if errors.is_empty() {
        Ok(shares)
    } else {
        Err(AppError::Validation(errors))
    }
}

/// What stops this investor pledging to the offer: the terms not accepted, no profile for the
/// share register, under the offer's minimum age, outside its local areas.
fn investor_errors(ctx: &PledgeContext<'_>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !ctx.accept_terms {
        errors.push(FieldError::new(
            "accept_terms",
            "must be true: read and accept the offer document",
        ));
    }
    let Some(profile) = &ctx.profile else {
        errors.push(FieldError::new(
            "profile",
            "complete your profile (name, address, postcode, date of birth) first: the share register needs it",
        ));
        return errors;
    };
    if age_on(profile.date_of_birth, ctx.now.date()) < ctx.min_age {
        errors.push(FieldError::new(
            "date_of_birth",
            format!("investors in this offer must be at least {}", ctx.min_age),
        ));
    }
    if !postcode::in_any(ctx.postcode_prefixes, profile.postcode) {
        errors.push(FieldError::new(
            "postcode",
            format!(
                "this offer is open to investors in {} (postcode areas, districts or sectors); {} is not in them",
                ctx.postcode_prefixes.join(", "),
                profile.postcode
            ),
        ));
    }
    errors
}

/// The number of shares `amount` buys, if it is a whole number of them that keeps the
/// investor's holding within the offer's minimum and maximum and the offer within its maximum
/// target; else why not (on `amount_pence`).
fn check_amount(ctx: &PledgeContext<'_>, amount: Pence) -> Result<i64, FieldError> {
    let terms = ctx.terms;
    let price = terms.share_price.get();
    if amount.get() <= 0 {
        return Err(FieldError::new("amount_pence", "must be more than zero"));
    }
    if amount.get() % price != 0 {
        return Err(FieldError::new(
            "amount_pence",
            format!("must be a whole number of shares ({} each)", terms.share_price),
        ));
    }
    let holding = ctx.investor_total.get().saturating_add(amount.get());
    if holding < terms.min_holding.get() {
        return Err(FieldError::new(
            "amount_pence",
            format!(
                "the minimum holding is {}; you would hold {}",
                terms.min_holding,
                Pence::new(holding)
            ),
        ));
    }
    if holding > terms.max_holding.get() {
        let room = (terms.max_holding.get() - ctx.investor_total.get()).max(0);
        return Err(FieldError::new(
            "amount_pence",
            format!(
                "the maximum holding is {}; you can pledge up to {} more",
                terms.max_holding,
                Pence::new(room)
            ),
        ));
    }
    if ctx.offer_total.get().saturating_add(amount.get()) > terms.max_target.get() {
        return Err(capacity_error(terms.max_target, ctx.offer_total));
    }
    Ok(amount.get() / price)
}

/// The answer when a pledge would take the offer past its maximum.
pub fn capacity_error(max_target: Pence, offer_total: Pence) -> FieldError {
    let room = (max_target.get() - offer_total.get()).max(0);
    FieldError::new(
        "amount_pence",
        format!("the offer is nearly full: only {} of shares remain", Pence::new(room)),
    )
}

/// Whole years between a date of birth and a day.
pub fn age_on(date_of_birth: NaiveDate, day: NaiveDate) -> i64 {
    i64::from(day.years_since(date_of_birth).unwrap_or(0))
}

/// Until when an investor may cancel a paid pledge: the cooling-off period, and never after
/// the offer closes.
pub fn cancellable_until(created_at: NaiveDateTime, cooling_off_days: i64, closes_at: NaiveDateTime) -> NaiveDateTime {
    (created_at + Duration::days(cooling_off_days)).min(closes_at)
}

/// What a receipt does to a pending pledge: the part that pays towards it, the excess owed back
/// (never kept: DESIGN §3), and whether the pledge is now paid in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptSplit {
    pub applied: Pence,
    pub excess: Pence,
    pub completes: bool,
}

/// Splits `received` arriving for a pledge of `amount` that has had `so_far` (bank transfers may
/// come in parts; the pledge is paid when its receipts reach its amount).
pub fn split_receipt(amount: Pence, so_far: Pence, received: Pence) -> ReceiptSplit {
    let owed = (amount.get() - so_far.get()).max(0);
    let applied = received.get().clamp(0, owed);
    ReceiptSplit {
        applied: Pence::new(applied),
        excess: Pence::new(received.get().max(0) - applied),
        completes: owed > 0 && applied == owed,
    }
}

/// Where a pledge stands for money that arrives for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owing {
    /// Pending: it owes its amount less what it has received.
    Pending { amount: Pence, received: Pence },
    /// Paid (or its shares issued): nothing is owed.
    Paid,
    /// Cancelled, expired or refunded: nothing is owed.
    Ended,
}

/// What a receipt does to its pledge (DESIGN §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptEffect {
    /// It pays towards the pledge (the excess, if any, owed back).
    Pays(ReceiptSplit),
    /// Nothing was owed: all of it is owed back.
    OwedBack { already_paid: bool },
}

/// Decides what `received` does to a pledge that stands at `owing`. Pure: both the import and
/// its dry run use it.
pub fn receipt_effect(owing: Owing, received: Pence) -> ReceiptEffect {
    match owing {
        Owing::Pending {
            amount,
            received: so_far,
        } => ReceiptEffect::Pays(split_receipt(amount, so_far, received)),
        Owing::Paid => ReceiptEffect::OwedBack { already_paid: true },
        Owing::Ended => ReceiptEffect::OwedBack { already_paid: false },
    }
}

/// Where a pledge stands after a receipt had `effect` on it.
pub fn owing_after(owing: Owing, effect: ReceiptEffect) -> Owing {
    match (owing, effect) {
        (Owing::Pending { .. }, ReceiptEffect::Pays(split)) if split.completes => Owing::Paid,
        (Owing::Pending { amount, received }, ReceiptEffect::Pays(split)) => Owing::Pending {
            amount,
            received: Pence::new(received.get() + split.applied.get()),
        },
        (owing, _) => owing,
    }
}

/// Bank references use 32 symbols with no 0/O or 1/I, so they survive being read aloud and
/// typed: `CS` + 8 random symbols + 1 check symbol, e.g. `CSK7M29QXT2`.
pub const REFERENCE_ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// A reference from 8 random bytes (each taken modulo 32, which is unbiased).
pub fn bank_reference(random: [u8; 8]) -> String {
    let body: Vec<u8> = random.iter().map(|b| REFERENCE_ALPHABET[(*b % 32) as usize]).collect();
    let check = REFERENCE_ALPHABET[check_symbol(&body)];
    let mut reference = String::from("CS");
    reference.extend(body.iter().map(|&c| c as char));
    reference.push(check as char);
    reference
}

/// Sum of the symbols' values weighted by odd numbers (1, 3, 5, ...) modulo 32. Odd weights are
/// invertible modulo 32, so any single wrong symbol changes the check; neighbours swapped are
/// caught unless their values differ by a multiple of 16.
fn check_symbol(body: &[u8]) -> usize {
    body.iter()
        .enumerate()
        .map(|(i, c)| {
            let value = REFERENCE_ALPHABET.iter().position(|a| a == c).unwrap_or(0);
            value * (2 * i + 1)
        })
        .sum::<usize>()
        % 32
}

/// Normalises a reference as typed (`cs-k7m2 9qxt`) and checks its check symbol; `None` when
/// it cannot be one of ours.
pub fn parse_bank_reference(raw: &str) -> Option<String> {
    let compact: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let body = compact.strip_prefix("CS")?;
    if body.len() != 9 || !body.bytes().all(|b| REFERENCE_ALPHABET.contains(&b)) {
        return None;
    }
    let (symbols, check) = body.as_bytes().split_at(8);
    (REFERENCE_ALPHABET[check_symbol(symbols)] == check[0]).then_some(compact)
}

/// The pledge references found in a statement line's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FoundReferences {
    None,
    One(String),
    /// Two or more different references: which pledge the money is for is the treasurer's call.
    Ambiguous(Vec<String>),
}

/// Finds pledge references anywhere in `text` (a statement line's reference, description and
/// payer cells): a word that starts `CS`, in any case, whose next nine symbols (spaces and
/// hyphens inside it ignored, as payers and banks add them) end the word and carry the right
/// check symbol. The check symbol keeps a payer's own text from being taken for a reference:
/// a random word of that shape passes it one time in 32. The same reference written twice
/// (banks repeat it across cells) is one.
pub fn find_bank_references(text: &str) -> FoundReferences {
    let chars: Vec<char> = text.chars().collect();
    let mut found: Vec<String> = Vec::new();
    for start in 0..chars.len() {
        let starts_word = start == 0 || !chars[start - 1].is_alphanumeric();
        if !starts_word || !chars[start].eq_ignore_ascii_case(&'c') {
            continue;
        }
        if let Some(reference) = reference_at(&chars[start..]) {
            if !found.contains(&reference) {
                found.push(reference);
            }
        }
    }
    match found.len() {
        0 => FoundReferences::None,
        1 => FoundReferences::One(found.remove(0)),
        _ => FoundReferences::Ambiguous(found),
    }
}

/// The reference that `chars` starts with, if the word there is one: `CS`, then nine symbols
/// with single spaces or hyphens between them, then the end of the word.
fn reference_at(chars: &[char]) -> Option<String> {
    let mut symbols = String::with_capacity(11);
    let mut i = 0;
    while i < chars.len() && symbols.len() < 11 {
        let c = chars[i];
        if c.is_ascii_alphanumeric() {
            symbols.push(c.to_ascii_uppercase());
        } else if !(matches!(c, ' ' | '-')
            && symbols.len() >= 2
            && i + 1 < chars.len()
            && chars[i + 1].is_ascii_alphanumeric())
        {
            return None;
        }
        i += 1;
    }
    let ends_word = chars.get(i).is_none_or(|c| !c.is_alphanumeric());
    if ends_word {
        parse_bank_reference(&symbols)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn now() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 1)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
    }

    fn terms() -> Terms {
        Terms {
            share_price: Pence::new(100),
            min_target: Pence::from_pounds(10_000),
            target: Pence::from_pounds(20_000),
            max_target: Pence::from_pounds(30_000),
            min_holding: Pence::from_pounds(100),
            max_holding: Pence::from_pounds(5_000),
            opens_at: now() - Duration::days(1),
            closes_at: now() + Duration::days(30),
            cooling_off_days: 14,
            interest_rate_bps: 0,
        }
    }

    fn ctx<'a>(terms: &'a Terms, prefixes: &'a [String]) -> PledgeContext<'a> {
        PledgeContext {
            status: OfferStatus::Open,
            terms,
            offer_total: Pence::ZERO,
            investor_total: Pence::ZERO,
            min_age: 16,
            postcode_prefixes: prefixes,
            profile: Some(InvestorProfile {
                date_of_birth: NaiveDate::from_ymd_opt(1980, 5, 1).unwrap(),
                postcode: "BS1 4DJ",
            }),
            accept_terms: true,
            now: now(),
        }
    }

    fn fields(result: Result<i64, AppError>) -> Vec<String> {
        match result {
            Err(AppError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected 422, got {other:?}"),
        }
    }

    #[test]
    fn a_pledge_within_every_limit_gives_whole_shares() {
        let t = terms();
        assert_eq!(check_new_pledge(&ctx(&t, &[]), Pence::from_pounds(250)).unwrap(), 250);
    }

    #[test]
    fn each_rule_is_422_on_its_field() {
        let t = terms();
        let none: Vec<String> = vec![];
        assert_eq!(
            fields(check_new_pledge(&ctx(&t, &none), Pence::new(25_050))),
            ["amount_pence"]
        );
        assert_eq!(
            fields(check_new_pledge(&ctx(&t, &none), Pence::from_pounds(50))),
            ["amount_pence"]
        );
        assert_eq!(
            fields(check_new_pledge(&ctx(&t, &none), Pence::from_pounds(5_001))),
            ["amount_pence"]
        );
        let mut c = ctx(&t, &none);
        c.investor_total = Pence::from_pounds(4_900);
        assert_eq!(fields(check_new_pledge(&c, Pence::from_pounds(200))), ["amount_pence"]);
        assert!(check_new_pledge(&c, Pence::from_pounds(100)).is_ok());
        let mut c = ctx(&t, &none);
        c.offer_total = Pence::from_pounds(29_900);
        assert_eq!(fields(check_new_pledge(&c, Pence::from_pounds(200))), ["amount_pence"]);
        let mut c = ctx(&t, &none);
        c.accept_terms = false;
        c.profile = None;
        assert_eq!(
            fields(check_new_pledge(&c, Pence::from_pounds(200))),
            ["accept_terms", "profile"]
        );
        let mut c = ctx(&t, &none);
        c.min_age = 50;
        assert_eq!(fields(check_new_pledge(&c, Pence::from_pounds(200))), ["date_of_birth"]);
        let local = vec!["GL5".to_owned(), "B".to_owned()];
        assert_eq!(
            fields(check_new_pledge(&ctx(&t, &local), Pence::from_pounds(200))),
            ["postcode"]
        );
        let local = vec!["BS".to_owned()];
        assert!(check_new_pledge(&ctx(&t, &local), Pence::from_pounds(200)).is_ok());
    }

    #[test]
    fn an_offer_that_is_not_open_is_a_conflict() {
        let t = terms();
        let mut c = ctx(&t, &[]);
        c.status = OfferStatus::Closed;
        assert!(matches!(
            check_new_pledge(&c, Pence::from_pounds(200)),
            Err(AppError::Conflict(_))
        ));
        let mut c = ctx(&t, &[]);
        c.now = t.closes_at;
        assert!(matches!(
            check_new_pledge(&c, Pence::from_pounds(200)),
            Err(AppError::Conflict(_))
        ));
    }

    #[test]
    fn ages_count_whole_years() {
        let dob = NaiveDate::from_ymd_opt(2010, 11, 2).unwrap();
        assert_eq!(age_on(dob, NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()), 15);
        assert_eq!(age_on(dob, NaiveDate::from_ymd_opt(2026, 11, 2).unwrap()), 16);
    }

    #[test]
    fn the_cancellation_window_ends_at_the_close() {
        let closes = now() + Duration::days(3);
        assert_eq!(cancellable_until(now(), 14, closes), closes);
        assert_eq!(cancellable_until(now(), 2, closes), now() + Duration::days(2));
    }

    #[test]
    fn references_are_found_as_banks_write_them() {
        let a = bank_reference([0, 1, 2, 3, 4, 5, 6, 7]);
        let b = bank_reference([9, 9, 9, 9, 9, 9, 9, 9]);
        let one = FoundReferences::One(a.clone());
        let spaced = format!("{} {} {}", &a[..2], &a[2..6], &a[6..]);
        let hyphened = format!("{}-{}-{}", &a[..2], &a[2..6], &a[6..]).to_lowercase();
        for text in [
            format!("J SMITH {a} 400512 30NOV26 10:31"),
            format!("'J SMITH , {spaced} , FP 30/11/26 1031 , 400000000123456789"),
            format!("J SMITH              \t{hyphened} BGC\t"),
            format!("{a} / {a}"),
            format!("Ref:{a}."),
        ] {
            assert_eq!(find_bank_references(&text), one, "{text}");
        }
        assert_eq!(
            find_bank_references(&format!("{a} and {b}")),
            FoundReferences::Ambiguous(vec![a.clone(), b.clone()])
        );
        for text in [
            "CS CLUB SUBS".to_owned(),
            "PHYSICS TEXTBOOKS".to_owned(),
            format!("X{a}"),
            format!("{a}7"),
            format!("{}  {}", &a[..2], &a[2..]),
        ] {
            assert_eq!(find_bank_references(&text), FoundReferences::None, "{text}");
        }
    }

    #[test]
    fn references_have_no_ambiguous_symbols_and_check_themselves() {
        let reference = bank_reference([0, 1, 2, 3, 250, 251, 252, 255]);
        assert_eq!(reference.len(), 11);
        assert!(!reference[2..].contains(['0', 'O', '1', 'I']));
        assert_eq!(parse_bank_reference(&reference).as_deref(), Some(reference.as_str()));
        let typed = format!("cs-{} {}", &reference[2..6].to_lowercase(), &reference[6..]);
        assert_eq!(parse_bank_reference(&typed).as_deref(), Some(reference.as_str()));
        assert_eq!(parse_bank_reference("CS12345678"), None);
        // The example in the README and the error message is a real one.
        assert_eq!(parse_bank_reference("CSK7M29QXT2").as_deref(), Some("CSK7M29QXT2"));
        assert_eq!(parse_bank_reference("hello"), None);
    }

    proptest! {
        #[test]
        fn a_reference_typed_with_spaces_dashes_and_any_case_is_found_and_any_text_is_safe(
            bytes in any::<[u8; 8]>(),
            separators in proptest::collection::vec(prop_oneof![Just(""), Just(" "), Just("-"), Just(" - ")], 11),
            lower in any::<bool>(),
            noise in "\\PC{0,16}",
        ) {
            let reference = bank_reference(bytes);
            let mut typed: String = reference
                .chars()
                .zip(&separators)
                .map(|(c, sep)| format!("{c}{sep}"))
                .collect();
            if lower {
                typed = typed.to_lowercase();
            }
            prop_assert_eq!(parse_bank_reference(&typed), Some(reference));
            let _ = parse_bank_reference(&noise);
        }

        #[test]
        fn a_receipt_pays_what_is_owed_and_the_rest_is_owed_back(
            amount in 1_i64..1_000_000, so_far_share in 0_i64..100, received in 1_i64..2_000_000,
        ) {
            let so_far = amount * so_far_share / 100;
            let split = split_receipt(Pence::new(amount), Pence::new(so_far), Pence::new(received));
            prop_assert_eq!(split.applied.get() + split.excess.get(), received);
            prop_assert!(split.applied.get() <= amount - so_far);
            prop_assert_eq!(split.completes, so_far + split.applied.get() == amount);
            prop_assert!(split.excess == Pence::ZERO || split.completes);
        }

        #[test]
        fn a_reference_is_found_in_any_statement_text_around_it(
            bytes in any::<[u8; 8]>(),
            before in "[A-Za-z0-9 ,/*.]{0,30}",
            after in "[A-Za-z0-9 ,/*.]{0,30}",
            separators in proptest::collection::vec(prop::sample::select(vec!["", "", "", " ", "-"]), 11),
            lower in any::<bool>(),
        ) {
            let reference = bank_reference(bytes);
            // `CS` together, then separators anywhere.
            let mut typed: String = reference
                .chars()
                .zip(&separators)
                .enumerate()
                .map(|(i, (c, sep))| if i == 0 { c.to_string() } else { format!("{c}{sep}") })
                .collect();
            typed = typed.trim_end_matches([' ', '-']).to_owned();
            if lower {
                typed = typed.to_lowercase();
            }
            let text = format!("{before} {typed} {after}");
            match find_bank_references(&text) {
                FoundReferences::One(found) => prop_assert_eq!(&found, &reference),
                // The text around it may, one time in 32 per word of the shape, hold another.
                FoundReferences::Ambiguous(found) => prop_assert!(found.contains(&reference)),
                FoundReferences::None => prop_assert!(false, "not found in {}", text),
            }
            // Glued to a word on either side, it is not a word of its own.
            prop_assert_eq!(find_bank_references(&format!("X{}", reference)), FoundReferences::None);
            prop_assert_eq!(find_bank_references(&format!("{}X", reference)), FoundReferences::None);
        }

        #[test]
        fn a_reference_with_a_wrong_symbol_is_not_found(bytes in any::<[u8; 8]>(), at in 2usize..11, replacement in 0usize..32) {
            let reference = bank_reference(bytes);
            let mut typo = reference.clone().into_bytes();
            prop_assume!(typo[at] != REFERENCE_ALPHABET[replacement]);
            typo[at] = REFERENCE_ALPHABET[replacement];
            let text = format!("J SMITH {} FP 30/11/26 1031", String::from_utf8(typo).unwrap());
            prop_assert_eq!(find_bank_references(&text), FoundReferences::None);
        }

        #[test]
        fn a_single_wrong_symbol_is_caught(bytes in any::<[u8; 8]>(), at in 2usize..11, replacement in 0usize..32) {
            let reference = bank_reference(bytes);
            let mut typo = reference.clone().into_bytes();
            prop_assume!(typo[at] != REFERENCE_ALPHABET[replacement]);
            typo[at] = REFERENCE_ALPHABET[replacement];
            prop_assert_eq!(parse_bank_reference(&String::from_utf8(typo).unwrap()), None);
        }

        #[test]
        fn accepted_pledges_keep_every_limit(
            shares in 1i64..8_000,
            price in prop::sample::select(vec![1i64, 100, 250]),
            investor_total in 0i64..600_000,
            offer_total in 0i64..3_100_000,
        ) {
            let mut t = terms();
            t.share_price = Pence::new(price);
            t.min_holding = Pence::new(price * 100);
            t.max_holding = Pence::new(price * 5_000);
            t.max_target = Pence::new(price * 30_000);
            let mut c = ctx(&t, &[]);
            c.investor_total = Pence::new(investor_total);
            c.offer_total = Pence::new(offer_total);
            let amount = Pence::new(shares * price);
            if let Ok(got) = check_new_pledge(&c, amount) {
                prop_assert_eq!(got * price, amount.get());
                prop_assert!(investor_total + amount.get() >= t.min_holding.get());
                prop_assert!(investor_total + amount.get() <= t.max_holding.get());
                prop_assert!(offer_total + amount.get() <= t.max_target.get());
            }
        }
    }

    #[test]
    fn a_pledge_is_withdrawn_before_the_close_and_refunded_only_in_cooling_off() {
        let now = NaiveDate::from_ymd_opt(2027, 4, 1)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        let until = now + Duration::days(1);
        let past = now - Duration::seconds(1);
        assert_eq!(
            cancellation(PledgeStatus::Pending, true, now, past),
            Ok(Cancellation::Withdraw)
        );
        assert_eq!(
            cancellation(PledgeStatus::Paid, true, now, until),
            Ok(Cancellation::Refund)
        );
        assert_eq!(
            cancellation(PledgeStatus::Paid, true, now, now),
            Ok(Cancellation::Refund)
        );
        assert!(cancellation(PledgeStatus::Paid, true, now, past)
            .unwrap_err()
            .contains("cooling-off"));
        assert!(cancellation(PledgeStatus::Paid, false, now, until)
            .unwrap_err()
            .contains("cooling-off"));
        assert!(cancellation(PledgeStatus::Pending, false, now, until)
            .unwrap_err()
            .contains("closed"));
        for ended in [
            PledgeStatus::Cancelled,
            PledgeStatus::Expired,
            PledgeStatus::Refunded,
            PledgeStatus::Allocated,
        ] {
            assert_eq!(
                cancellation(ended, true, now, until),
                Err(format!("the pledge is {ended} already"))
            );
        }
    }
}
