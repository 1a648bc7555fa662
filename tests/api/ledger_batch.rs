//! `ledger::batch` against the one-at-a-time ledger functions, on both databases: random
//! sequences of pending, posted, posted-after-pending and voided transfers, made once each way
//! on accounts of their own, leave the same transfers (id for id: phase, state, amount, the
//! pending each record resolves) and the same four balances on every account.

use community_shares::db::schema::{ledger_accounts, ledger_transfers};
use community_shares::db::{write_transaction, DbConnection};
use community_shares::domain::money::Pence;
use community_shares::error::AppError;
use community_shares::ledger::batch::{Batch, Pending};
use community_shares::ledger::{self, AccountKind, NewTransfer, Resolution};
use diesel::prelude::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::both_backends;
use crate::support::TestApp;

#[derive(Debug, Clone)]
enum Op {
    Pending {
        investor: usize,
        amount: i64,
    },
    Posted {
        investor: usize,
        amount: i64,
    },
    /// Resolve the `nth` still-pending transfer (modulo how many there are).
    Resolve {
        nth: usize,
        post: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0usize..3, 1i64..100_000).prop_map(|(investor, amount)| Op::Pending { investor, amount }),
        (0usize..3, 1i64..100_000).prop_map(|(investor, amount)| Op::Posted { investor, amount }),
        (any::<usize>(), any::<bool>()).prop_map(|(nth, post)| Op::Resolve { nth, post }),
    ]
}

/// The accounts of one side: three investors and one escrow (flagged), named after `side`.
fn accounts(conn: &mut DbConnection, side: &str) -> Result<(Vec<String>, String), AppError> {
    let investors = (0..3)
        .map(|i| ledger::ensure_account(conn, AccountKind::Investor, &format!("{side}-{i}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((investors, ledger::ensure_account(conn, AccountKind::Escrow, side)?))
}

/// Applies `ops` with the one-at-a-time functions (`batch` false) or one batch.
fn apply(conn: &mut DbConnection, side: &str, ops: &[Op], batch: bool) -> Result<(), AppError> {
    let (investors, escrow) = accounts(conn, side)?;
    let mut open: Vec<Pending> = Vec::new();
    let mut many = Batch::default();
    for (i, op) in ops.iter().enumerate() {
        let id = format!("{side}:t{i}");
        let transfer = |investor: usize, amount: i64| NewTransfer {
            id: &id,
            debit_account_id: &investors[investor],
            credit_account_id: &escrow,
            amount: Pence::new(amount),
            kind: "pledge",
            cause: "test",
        };
        match op {
            Op::Pending { investor, amount } if batch => open.push(many.pending(&transfer(*investor, *amount))?),
            Op::Pending { investor, amount } => {
                ledger::create_pending(conn, &transfer(*investor, *amount))?;
                open.push(Pending {
                    id: id.clone(),
                    debit_account_id: investors[*investor].clone(),
                    credit_account_id: escrow.clone(),
                    amount: *amount,
                    kind: "pledge".into(),
                });
            }
            Op::Posted { investor, amount } if batch => many.posted(&transfer(*investor, *amount))?,
            Op::Posted { investor, amount } => {
                ledger::create_posted(conn, &transfer(*investor, *amount))?;
            }
            Op::Resolve { nth, post } if !open.is_empty() => {
                let pending = open.remove(nth % open.len());
                let resolution = if *post { Resolution::Post } else { Resolution::Void };
                if batch {
                    many.resolve(&pending, resolution, "test")?;
                } else {
                    ledger::resolve_pending(conn, &pending.id, resolution, "test")?;
                }
            }
            Op::Resolve { .. } => {}
        }
    }
    if batch {
        many.write(conn)?;
    }
    Ok(())
}

type Transfers = Vec<(String, String, String, i64, String, Option<String>)>;
type Balances = Vec<(String, i64, i64, i64, i64)>;

/// One side's transfers and balances, with the side's name taken out of every id.
fn state_of(conn: &mut DbConnection, side: &str) -> Result<(Transfers, Balances), AppError> {
    let strip = |id: &str| id.replace(side, "SIDE");
    let transfers: Vec<(String, String, String, i64, String, Option<String>)> = ledger_transfers::table
        .filter(ledger_transfers::id.like(format!("{side}:%")))
        .select((
            ledger_transfers::id,
            ledger_transfers::phase,
            ledger_transfers::state,
            ledger_transfers::amount,
            ledger_transfers::debit_account_id,
            ledger_transfers::pending_id,
        ))
        .order(ledger_transfers::id)
        .load(conn)?;
    let balances: Vec<(String, i64, i64, i64, i64)> = ledger_accounts::table
        .filter(ledger_accounts::owner_id.like(format!("{side}%")))
        .select((
            ledger_accounts::id,
            ledger_accounts::debits_pending,
            ledger_accounts::debits_posted,
            ledger_accounts::credits_pending,
            ledger_accounts::credits_posted,
        ))
        .order(ledger_accounts::id)
        .load(conn)?;
    Ok((
        transfers
            .into_iter()
            .map(|(id, phase, state, amount, debit, pending)| {
                (
                    strip(&id),
                    phase,
                    state,
                    amount,
                    strip(&debit),
                    pending.map(|p| strip(&p)),
                )
            })
            .collect(),
        balances
            .into_iter()
            .map(|(id, a, b, c, d)| (strip(&id), a, b, c, d))
            .collect(),
    ))
}

both_backends! {
    async fn a_batch_leaves_what_one_transfer_at_a_time_leaves(backend) {
        let app = TestApp::spawn(backend).await;
        app.with_db(|conn| {
            let config = Config { cases: 48, failure_persistence: None, ..Config::default() };
            let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]));
            // The runner takes a `Fn`: the connection and the case number are borrowed in turn.
            let (conn, case) = (std::cell::RefCell::new(conn), std::cell::Cell::new(0));
            let outcome = runner.run(&proptest::collection::vec(op(), 1..40), |ops| {
                case.set(case.get() + 1);
                let (one, many) = (format!("one{}x", case.get()), format!("many{}x", case.get()));
                let mut conn = conn.borrow_mut();
                let (left, right) = write_transaction(&mut conn, |c| {
                    apply(c, &one, &ops, false)?;
                    apply(c, &many, &ops, true)?;
                    Ok((state_of(c, &one)?, state_of(c, &many)?))
                })
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(left, right);
                Ok(())
            });
            if let Err(e) = outcome {
                panic!("{e}");
            }
            Ok(())
        })
        .await;
    }
}
