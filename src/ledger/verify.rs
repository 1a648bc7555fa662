//! `ledger verify`: recomputes every balance from the transfers and checks the invariants of
//! DESIGN §3 in one consistent snapshot. Plain SQL aggregates, the same text on both backends
//! (`SUM` is cast to BIGINT because PostgreSQL sums BIGINT as NUMERIC).

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::DbConnection;
use crate::error::AppError;

/// The verdict.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Verification {
    /// True when no problem was found.
    pub balanced: bool,
    pub accounts_checked: i64,
    pub transfers_checked: i64,
    /// One line per broken invariant.
    pub problems: Vec<String>,
    /// One line per card pledge whose recorded payment state disagrees with what the payment
    /// provider last told the platform (a flag not acted on, money Stripe says was refunded
    /// that is not recorded, a dispute lost whose money is still counted): the ledger may
    /// balance, but a person must look.
    pub payment_disagreements: Vec<String>,
}

#[derive(QueryableByName)]
struct Disagreement {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    what: String,
}

/// What the provider last said against what is recorded, per card pledge.
const PAYMENT_CHECKS: [&str; 3] = [
    "SELECT c.pledge_id AS id, c.flag AS what FROM card_payments c WHERE c.flag IS NOT NULL",
    "SELECT c.pledge_id AS id, 'Stripe says ' || CAST(c.provider_refunded_pence AS TEXT) || 'p was refunded; the platform has '
            || CAST(COALESCE((SELECT SUM(r.amount_pence) FROM refunds r WHERE r.pledge_id = c.pledge_id AND r.method = 'card'
               AND (r.status = 'succeeded' OR r.reason = 'refunded_outside')), 0) AS TEXT) || 'p' AS what
     FROM card_payments c
     WHERE c.provider_refunded_pence > COALESCE((SELECT SUM(r.amount_pence) FROM refunds r WHERE r.pledge_id = c.pledge_id
           AND r.method = 'card' AND r.status IN ('pending', 'succeeded') AND r.reason <> 'dispute_lost'), 0)",
    "SELECT c.pledge_id AS id, 'a dispute was lost, but no refund records the money gone' AS what
     FROM card_payments c JOIN pledges p ON p.id = c.pledge_id
     WHERE c.dispute_status = 'lost' AND p.status IN ('paid', 'allocated')
       AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.pledge_id = c.pledge_id AND r.reason = 'dispute_lost')",
];

#[derive(QueryableByName)]
#[cfg_attr(test, derive(Default))]
struct AccountCheck {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Bool)]
    debits_must_not_exceed_credits: bool,
    #[diesel(sql_type = BigInt)]
    debits_pending: i64,
    #[diesel(sql_type = BigInt)]
    debits_posted: i64,
    #[diesel(sql_type = BigInt)]
    credits_pending: i64,
    #[diesel(sql_type = BigInt)]
    credits_posted: i64,
    #[diesel(sql_type = BigInt)]
    sum_debits_pending: i64,
    #[diesel(sql_type = BigInt)]
    sum_debits_posted: i64,
    #[diesel(sql_type = BigInt)]
    sum_credits_pending: i64,
    #[diesel(sql_type = BigInt)]
    sum_credits_posted: i64,
}

const ACCOUNT_CHECK: &str = "
SELECT a.id, a.debits_must_not_exceed_credits,
       a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted,
       CAST(COALESCE((SELECT SUM(t.amount) FROM ledger_transfers t
            WHERE t.debit_account_id = a.id AND t.phase = 'pending' AND t.state = 'pending'), 0) AS BIGINT) AS sum_debits_pending,
       CAST(COALESCE((SELECT SUM(t.amount) FROM ledger_transfers t
            WHERE t.debit_account_id = a.id AND t.phase IN ('single', 'post')), 0) AS BIGINT) AS sum_debits_posted,
       CAST(COALESCE((SELECT SUM(t.amount) FROM ledger_transfers t
            WHERE t.credit_account_id = a.id AND t.phase = 'pending' AND t.state = 'pending'), 0) AS BIGINT) AS sum_credits_pending,
       CAST(COALESCE((SELECT SUM(t.amount) FROM ledger_transfers t
            WHERE t.credit_account_id = a.id AND t.phase IN ('single', 'post')), 0) AS BIGINT) AS sum_credits_posted
FROM ledger_accounts a ORDER BY a.id";

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = Text)]
    id: String,
}

/// Pending transfers whose state disagrees with their resolving record, and records that do not
/// match the transfer they resolve.
const TRANSFER_CHECKS: [(&str, &str); 13] = [
    (
        "SELECT p.id FROM ledger_transfers p LEFT JOIN ledger_transfers r ON r.pending_id = p.id
         WHERE p.phase = 'pending' AND ((p.state = 'pending' AND r.id IS NOT NULL)
            OR (p.state = 'posted' AND (r.id IS NULL OR r.phase <> 'post'))
            OR (p.state = 'voided' AND (r.id IS NULL OR r.phase <> 'void')))",
        "pending transfer's state does not match its resolution",
    ),
    (
        "SELECT r.id FROM ledger_transfers r LEFT JOIN ledger_transfers p ON p.id = r.pending_id
         WHERE r.phase IN ('post', 'void') AND (p.id IS NULL OR p.phase <> 'pending' OR r.amount <> p.amount
            OR r.debit_account_id <> p.debit_account_id OR r.credit_account_id <> p.credit_account_id)",
        "resolving record does not match its pending transfer",
    ),
    (
        "SELECT p.id FROM pledges p JOIN ledger_transfers t ON t.id = p.transfer_id
         WHERE NOT ((p.status = 'pending' AND t.state = 'pending')
            OR (p.status IN ('paid', 'allocated', 'refunded') AND t.state = 'posted')
            OR (p.status IN ('cancelled', 'expired') AND t.state = 'voided'))",
        "pledge's status does not match its transfer",
    ),
    (
        "SELECT pm.pledge_id AS id FROM pledge_matches pm LEFT JOIN ledger_transfers t ON t.id = pm.transfer_id
         WHERE (pm.amount_pence = 0 AND pm.transfer_id IS NOT NULL)
            OR (pm.amount_pence > 0 AND (t.id IS NULL OR t.state = 'voided' OR t.amount <> pm.amount_pence))",
        "pledge's match does not match its transfer",
    ),
    (
        "SELECT p.id FROM pledges p
         WHERE p.match_pence <> CAST(COALESCE((SELECT SUM(pm.amount_pence) FROM pledge_matches pm WHERE pm.pledge_id = p.id), 0) AS BIGINT)",
        "pledge's match_pence differs from its matches",
    ),
    (
        "SELECT s.application_id || ':' || s.investor_id AS id
         FROM (SELECT pm.application_id, p.investor_id, CAST(SUM(pm.amount_pence) AS BIGINT) AS total
               FROM pledge_matches pm JOIN pledges p ON p.id = pm.pledge_id
               GROUP BY pm.application_id, p.investor_id) s
         LEFT JOIN match_investor_totals t ON t.application_id = s.application_id AND t.investor_id = s.investor_id
         WHERE COALESCE(t.matched_pence, 0) <> s.total
         UNION ALL
         SELECT t.application_id || ':' || t.investor_id AS id FROM match_investor_totals t
         WHERE t.matched_pence <> 0 AND NOT EXISTS (SELECT 1 FROM pledge_matches pm JOIN pledges p ON p.id = pm.pledge_id
               WHERE pm.application_id = t.application_id AND p.investor_id = t.investor_id)",
        "investor's running match total (application:investor) differs from their matches",
    ),
    (
        "SELECT o.id FROM offers o
         WHERE o.match_room_pence <> CAST(COALESCE((SELECT SUM(a.commitment_pence - a.match_pence)
            FROM match_applications a JOIN funds f ON f.id = a.fund_id
            WHERE a.offer_id = o.id AND a.status = 'approved' AND f.rule LIKE '%\"timing\":\"live\"%'), 0) AS BIGINT)",
        "offer's match_room_pence differs from its live funds' commitments less their match",
    ),
    (
        "SELECT r.id FROM refunds r LEFT JOIN ledger_transfers t ON t.id = r.transfer_id
         WHERE t.id IS NULL OR t.amount <> r.amount_pence
            OR NOT ((r.status IN ('pending', 'failed') AND t.state = 'pending')
                 OR (r.status = 'succeeded' AND t.state = 'posted'))",
        "refund's status or amount does not match its transfer",
    ),
    (
        "SELECT p.id FROM pledges p LEFT JOIN refunds r ON r.pledge_id = p.id
         WHERE p.status = 'refunded' AND r.id IS NULL",
        "refunded pledge without a refund",
    ),
    (
        "SELECT p.id FROM pledges p
         WHERE p.received_pence < 0 OR p.received_pence > p.amount_pence
            OR (p.status IN ('paid', 'allocated') AND p.received_pence <> p.amount_pence)
            OR (p.status = 'pending' AND p.received_pence >= p.amount_pence)",
        "pledge's received_pence does not fit its status",
    ),
    (
        "SELECT p.id FROM pledges p
         WHERE p.payment_method = 'bank_transfer' AND p.received_pence <> CAST(COALESCE((SELECT SUM(b.applied_pence)
            FROM bank_receipts b WHERE b.pledge_id = p.id), 0) AS BIGINT)",
        "bank pledge's receipts do not add up to what it has received",
    ),
    // Match only on money that exists: a receipt typed by hand while its offer held match money
    // (an approval decided before it, or a commitment held for a second funder admin) counts
    // only with a second person's confirmation, unless a bank statement line has since shown it.
    (
        "SELECT b.id FROM bank_receipts b
         WHERE b.by_hand AND b.fingerprint IS NULL
           AND (b.confirmed_by IS NULL OR b.confirmed_by = b.recorded_by)
           AND EXISTS (SELECT 1 FROM pledge_matches pm WHERE pm.pledge_id = b.pledge_id AND pm.amount_pence > 0)
           AND (EXISTS (SELECT 1 FROM match_applications a WHERE a.offer_id = b.offer_id
                        AND a.status IN ('approved', 'released') AND a.decided_at <= b.created_at)
             OR EXISTS (SELECT 1 FROM commitment_requests c JOIN match_applications a ON a.id = c.application_id
                        WHERE a.offer_id = b.offer_id AND c.requested_at <= b.created_at
                          AND (c.resolved_at IS NULL OR c.resolved_at > b.created_at)))",
        "match rests on a receipt typed by hand that no second person confirmed",
    ),
    (
        "SELECT b.id FROM bank_receipts b LEFT JOIN refunds r ON r.id = b.refund_id
         WHERE (b.excess_pence > 0 AND (r.id IS NULL OR r.amount_pence <> b.excess_pence OR r.pledge_id <> b.pledge_id))
            OR (b.excess_pence = 0 AND b.refund_id IS NOT NULL)",
        "receipt's excess is not owed back",
    ),
];

#[derive(QueryableByName)]
#[cfg_attr(test, derive(Default))]
struct OfferCheck {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = BigInt)]
    community_pledged_pence: i64,
    #[diesel(sql_type = BigInt)]
    community_paid_pence: i64,
    #[diesel(sql_type = BigInt)]
    match_pence: i64,
    #[diesel(sql_type = BigInt)]
    max_target_pence: i64,
    #[diesel(sql_type = BigInt)]
    pledge_count: i64,
    #[diesel(sql_type = BigInt)]
    investor_count: i64,
    #[diesel(sql_type = BigInt)]
    escrow_net: i64,
    #[diesel(sql_type = BigInt)]
    escrow_paid: i64,
    #[diesel(sql_type = BigInt)]
    part_received: i64,
    #[diesel(sql_type = BigInt)]
    match_net: i64,
    #[diesel(sql_type = BigInt)]
    applications_match: i64,
    #[diesel(sql_type = BigInt)]
    live_sum: i64,
    #[diesel(sql_type = BigInt)]
    paid_sum: i64,
    #[diesel(sql_type = BigInt)]
    live_count: i64,
    #[diesel(sql_type = BigInt)]
    live_investors: i64,
    #[diesel(sql_type = BigInt)]
    allocated_pence: i64,
    #[diesel(sql_type = BigInt)]
    match_allocated_pence: i64,
    #[diesel(sql_type = BigInt)]
    register_sum: i64,
}

const OFFER_CHECK: &str = "
SELECT o.id, o.community_pledged_pence, o.community_paid_pence, o.match_pence, o.max_target_pence,
       CAST(o.pledge_count AS BIGINT) AS pledge_count, CAST(o.investor_count AS BIGINT) AS investor_count,
       CAST(COALESCE(e.credits_pending + e.credits_posted - e.debits_pending - e.debits_posted, 0) AS BIGINT) AS escrow_net,
       CAST(COALESCE(e.credits_posted - e.debits_posted - e.debits_pending, 0) AS BIGINT) AS escrow_paid,
       CAST(COALESCE((SELECT SUM(p.received_pence) FROM pledges p
            WHERE p.offer_id = o.id AND p.status = 'pending'), 0) AS BIGINT) AS part_received,
       CAST(COALESCE(m.credits_pending + m.credits_posted - m.debits_pending - m.debits_posted, 0) AS BIGINT) AS match_net,
       CAST(COALESCE((SELECT SUM(a.match_pence) FROM match_applications a
            WHERE a.offer_id = o.id AND a.status = 'approved'), 0) AS BIGINT) AS applications_match,
       CAST(COALESCE((SELECT SUM(p.amount_pence) FROM pledges p
            WHERE p.offer_id = o.id AND p.status IN ('pending', 'paid', 'allocated')), 0) AS BIGINT) AS live_sum,
       CAST(COALESCE((SELECT SUM(p.amount_pence) FROM pledges p
            WHERE p.offer_id = o.id AND p.status IN ('paid', 'allocated')), 0) AS BIGINT) AS paid_sum,
       CAST((SELECT COUNT(*) FROM pledges p
            WHERE p.offer_id = o.id AND p.status IN ('pending', 'paid', 'allocated')) AS BIGINT) AS live_count,
       CAST((SELECT COUNT(DISTINCT p.investor_id) FROM pledges p
            WHERE p.offer_id = o.id AND p.status IN ('pending', 'paid', 'allocated')) AS BIGINT) AS live_investors,
       o.allocated_pence, o.match_allocated_pence,
       CAST(COALESCE((SELECT SUM(r.amount_pence) FROM share_register r WHERE r.offer_id = o.id), 0) AS BIGINT) AS register_sum
FROM offers o LEFT JOIN ledger_accounts e ON e.id = 'escrow:' || o.id
     LEFT JOIN ledger_accounts m ON m.id = 'match:' || o.id
ORDER BY o.id";

/// Each society's capital account against what its offers allocated.
const CAPITAL_CHECK: &str = "
SELECT s.id AS society_id,
       CAST(COALESCE(a.credits_posted - a.debits_posted, 0) AS BIGINT) AS balance,
       CAST(COALESCE((SELECT SUM(o.allocated_pence + o.match_allocated_pence) FROM offers o
            WHERE o.society_id = s.id), 0) AS BIGINT) AS allocated
FROM societies s LEFT JOIN ledger_accounts a ON a.id = 'capital:' || s.id
ORDER BY s.id";

#[derive(QueryableByName)]
struct CapitalCheck {
    #[diesel(sql_type = Text)]
    society_id: String,
    #[diesel(sql_type = BigInt)]
    balance: i64,
    #[diesel(sql_type = BigInt)]
    allocated: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Keeps the verdict of one run of [`verify`] (`ledger_verifications`), so that every
/// instance's `/metrics` can tell when the ledger was last checked and how it was found.
pub fn record(conn: &mut DbConnection, verification: &Verification) -> Result<(), AppError> {
    use crate::db::schema::ledger_verifications as lv;
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    diesel::insert_into(lv::table)
        .values((
            lv::id.eq(crate::clock::new_id()),
            lv::verified_at.eq(crate::clock::now()),
            lv::balanced.eq(verification.balanced),
            lv::problems.eq(count(verification.problems.len())),
            lv::payment_disagreements.eq(count(verification.payment_disagreements.len())),
            lv::accounts_checked.eq(verification.accounts_checked),
            lv::transfers_checked.eq(verification.transfers_checked),
        ))
        .execute(conn)?;
    Ok(())
}

/// The last recorded run: when, and whether the ledger balanced with no payment disagreement.
pub fn last_recorded(conn: &mut DbConnection) -> Result<Option<(chrono::NaiveDateTime, bool)>, AppError> {
    use crate::db::schema::ledger_verifications as lv;
    let last: Option<(chrono::NaiveDateTime, bool, i64)> = lv::table
        .order(lv::verified_at.desc())
        .select((lv::verified_at, lv::balanced, lv::payment_disagreements))
        .first(conn)
        .optional()?;
    Ok(last.map(|(at, balanced, disagreements)| (at, balanced && disagreements == 0)))
}

/// Checks the whole ledger in one read-only snapshot.
pub fn verify(conn: &mut DbConnection) -> Result<Verification, AppError> {
    match conn {
        DbConnection::Postgresql(pg) => {
            AnsiTransactionManager::begin_transaction_sql(&mut *pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?
        }
        // In WAL mode a deferred transaction reads one snapshot from its first read.
        DbConnection::Sqlite(lite) => AnsiTransactionManager::begin_transaction_sql(&mut *lite, "BEGIN")?,
    }
    let result = checks(conn);
    let ended = match conn {
        DbConnection::Postgresql(pg) => AnsiTransactionManager::rollback_transaction(&mut *pg),
        DbConnection::Sqlite(lite) => AnsiTransactionManager::rollback_transaction(&mut *lite),
    };
    let verification = result?;
    ended?;
    Ok(verification)
}

fn checks(conn: &mut DbConnection) -> Result<Verification, AppError> {
    let accounts: Vec<AccountCheck> = diesel::sql_query(ACCOUNT_CHECK).load(conn)?;
    let mut problems = account_problems(&accounts);
    for (sql, what) in TRANSFER_CHECKS {
        let ids: Vec<Id> = diesel::sql_query(sql).load(conn)?;
        problems.extend(ids.into_iter().map(|row| format!("{what}: {}", row.id)));
    }
    let offers: Vec<OfferCheck> = diesel::sql_query(OFFER_CHECK).load(conn)?;
    problems.extend(offers.iter().flat_map(offer_problems));
    let capital: Vec<CapitalCheck> = diesel::sql_query(CAPITAL_CHECK).load(conn)?;
    problems.extend(capital.iter().filter(|c| c.balance != c.allocated).map(|c| {
        format!(
            "society {}: capital account {} ≠ allocated offers {}",
            c.society_id, c.balance, c.allocated
        )
    }));
    problems.extend(crate::transparency::audit::problems(conn)?);
    let transfers: Vec<Count> =
        diesel::sql_query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM ledger_transfers").load(conn)?;
    let mut payment_disagreements = Vec::new();
    for sql in PAYMENT_CHECKS {
        let found: Vec<Disagreement> = diesel::sql_query(sql).load(conn)?;
        payment_disagreements.extend(found.into_iter().map(|d| format!("pledge {}: {}", d.id, d.what)));
    }
    Ok(Verification {
        payment_disagreements,
        balanced: problems.is_empty(),
        accounts_checked: accounts.len() as i64,
        transfers_checked: transfers.first().map_or(0, |c| c.n),
        problems,
    })
}

/// Each account's stored balances against its transfers' sums and its no-overdraft rule, and
/// the whole ledger's debits against its credits.
fn account_problems(accounts: &[AccountCheck]) -> Vec<String> {
    let mut problems = Vec::new();
    let (mut debits, mut credits) = (0i128, 0i128);
    for a in accounts {
        debits += i128::from(a.debits_pending) + i128::from(a.debits_posted);
        credits += i128::from(a.credits_pending) + i128::from(a.credits_posted);
        let columns = [
            ("debits_pending", a.debits_pending, a.sum_debits_pending),
            ("debits_posted", a.debits_posted, a.sum_debits_posted),
            ("credits_pending", a.credits_pending, a.sum_credits_pending),
            ("credits_posted", a.credits_posted, a.sum_credits_posted),
        ];
        for (column, balance, sum) in columns {
            if balance != sum {
                problems.push(format!(
                    "account {}: {column} is {balance} but its transfers sum to {sum}",
                    a.id
                ));
            }
        }
        if a.debits_must_not_exceed_credits && a.debits_pending + a.debits_posted > a.credits_posted {
            problems.push(format!("account {}: debits exceed posted credits", a.id));
        }
    }
    if debits != credits {
        problems.push(format!("total debits {debits} differ from total credits {credits}"));
    }
    problems
}

/// An offer's stored totals against its escrow and match accounts, its pledges, its
/// applications and its share register, and its maximum target.
fn offer_problems(o: &OfferCheck) -> Vec<String> {
    let pairs = [
        (
            "community_pledged_pence less allocated_pence vs escrow balance",
            o.community_pledged_pence - o.allocated_pence,
            o.escrow_net,
        ),
        (
            "community_paid_pence plus parts received of pending pledges less allocated_pence vs escrow posted balance",
            o.community_paid_pence + o.part_received - o.allocated_pence,
            o.escrow_paid,
        ),
        (
            "community_pledged_pence vs live pledges",
            o.community_pledged_pence,
            o.live_sum,
        ),
        (
            "community_paid_pence vs paid pledges",
            o.community_paid_pence,
            o.paid_sum,
        ),
        ("pledge_count vs live pledges", o.pledge_count, o.live_count),
        ("investor_count vs live investors", o.investor_count, o.live_investors),
        (
            "match_pence less match_allocated_pence vs match account balance",
            o.match_pence - o.match_allocated_pence,
            o.match_net,
        ),
        (
            "allocated_pence plus match_allocated_pence vs the share register",
            o.allocated_pence + o.match_allocated_pence,
            o.register_sum,
        ),
        (
            "match_pence vs approved applications",
            o.match_pence,
            o.applications_match,
        ),
    ];
    let mut problems: Vec<String> = pairs
        .into_iter()
        .filter(|(_, recorded, computed)| recorded != computed)
        .map(|(what, recorded, computed)| format!("offer {}: {what}: {recorded} ≠ {computed}", o.id))
        .collect();
    if o.community_pledged_pence + o.match_pence > o.max_target_pence {
        problems.push(format!("offer {}: community plus match exceeds max_target_pence", o.id));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_checked_against_its_transfers_its_rule_and_the_whole_ledger() {
        let fine = AccountCheck {
            id: "fund:a".into(),
            debits_must_not_exceed_credits: true,
            credits_posted: 500,
            sum_credits_posted: 500,
            debits_posted: 200,
            sum_debits_posted: 200,
            ..Default::default()
        };
        let other = AccountCheck {
            id: "funder:f".into(),
            debits_posted: 300,
            sum_debits_posted: 300,
            credits_posted: 0,
            ..Default::default()
        };
        assert!(account_problems(&[fine, other]).is_empty());
        let wrong = AccountCheck {
            id: "fund:b".into(),
            debits_must_not_exceed_credits: true,
            debits_posted: 700,
            sum_debits_posted: 600,
            credits_posted: 500,
            sum_credits_posted: 500,
            ..Default::default()
        };
        assert_eq!(
            account_problems(&[wrong]),
            [
                "account fund:b: debits_posted is 700 but its transfers sum to 600",
                "account fund:b: debits exceed posted credits",
                "total debits 700 differ from total credits 500",
            ]
        );
    }

    #[test]
    fn an_offer_is_checked_against_its_accounts_pledges_and_register() {
        let offer = OfferCheck {
            id: "o1".into(),
            community_pledged_pence: 1_000,
            live_sum: 1_000,
            escrow_net: 1_000,
            max_target_pence: 1_500,
            match_pence: 500,
            match_net: 500,
            applications_match: 500,
            ..Default::default()
        };
        assert!(offer_problems(&offer).is_empty());
        let over = OfferCheck {
            match_pence: 600,
            match_net: 600,
            applications_match: 500,
            ..offer
        };
        assert_eq!(
            offer_problems(&over),
            [
                "offer o1: match_pence vs approved applications: 600 ≠ 500",
                "offer o1: community plus match exceeds max_target_pence",
            ]
        );
    }
}
