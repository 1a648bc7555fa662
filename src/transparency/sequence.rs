//! The sequencer: gives queued transfers their place in the tree, stores the tree's new hashes
//! and signs a checkpoint, in one transaction under the lock of `transparency_tree`'s row (so
//! one sequencer runs at a time over any number of instances). It runs as a job, off the
//! request path: a request that moves public money only queues a row.

use std::cell::RefCell;
use std::collections::HashMap;

use diesel::prelude::*;
use tlog_tiles::{Hash, HashReader};

use super::entry::{pseudonym, time_text, Entry, VERSION};
use super::keys::LogKey;
use crate::clock;
use crate::db::schema::{
    funds, ledger_transfers, match_applications, pledges, transparency_checkpoints, transparency_entries,
    transparency_hashes, transparency_tree,
};
use crate::db::{Db, DbConnection};
use crate::error::AppError;

/// How many queued transfers one run takes at most.
pub const BATCH: i64 = 500;

fn internal(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(anyhow::anyhow!("transparency log: {e}"))
}

/// Sequences everything queued, [`BATCH`] entries and one signed checkpoint per transaction
/// (so the log keeps up with a surge of matched pledges whatever the interval), and returns
/// how many entries were added (0: nothing was queued, nothing written).
pub fn run(db: &Db, key: std::sync::Arc<LogKey>) -> Result<usize, AppError> {
    let mut total = 0;
    loop {
        let key = key.clone();
        let added = db.write_blocking(move |conn| sequence(conn, &key, BATCH))?;
        total += added;
        if added < BATCH as usize {
            return Ok(total);
        }
    }
}

/// One sequencing step in the caller's transaction.
pub fn sequence(conn: &mut DbConnection, key: &LogKey, max: i64) -> Result<usize, AppError> {
    // A no-op update takes the row's lock on PostgreSQL until the commit (on SQLite the writer
    // is alone already).
    diesel::update(transparency_tree::table.find(1))
        .set(transparency_tree::tree_size.eq(transparency_tree::tree_size))
        .execute(conn)?;
    let size: i64 = transparency_tree::table
        .find(1)
        .select(transparency_tree::tree_size)
        .first(conn)?;
    let queued = queue(conn, max)?;
    if queued.is_empty() {
        return Ok(0);
    }
    let bodies = describe(conn, key, &queued)?;
    let size = size as u64;
    let (fresh, root) = {
        let mut hashes = DbHashes::new(conn);
        for (i, body) in bodies.iter().enumerate() {
            let n = size + i as u64;
            let new = tlog_tiles::stored_hashes(n, body.as_bytes(), &hashes).map_err(internal)?;
            let start = tlog_tiles::stored_hash_index(0, n);
            for (k, hash) in new.into_iter().enumerate() {
                hashes.fresh.insert(start + k as u64, hash);
            }
        }
        let root = tlog_tiles::tree_hash(size + bodies.len() as u64, &hashes).map_err(internal)?;
        (hashes.fresh, root)
    };
    write(conn, size, &queued, &bodies, fresh)?;
    let new_size = size + bodies.len() as u64;
    let note = key.sign_checkpoint(new_size, root).map_err(internal)?;
    diesel::insert_into(transparency_checkpoints::table)
        .values((
            transparency_checkpoints::tree_size.eq(new_size as i64),
            transparency_checkpoints::root_hash.eq(root.to_string()),
            transparency_checkpoints::note.eq(&note),
            transparency_checkpoints::signed_at.eq(clock::now()),
        ))
        .execute(conn)?;
    Ok(bodies.len())
}

/// A queued transfer.
type Queued = super::LoggedTransfer;

fn queue(conn: &mut DbConnection, max: i64) -> Result<Vec<Queued>, AppError> {
    Ok(transparency_entries::table
        .inner_join(ledger_transfers::table)
        .filter(transparency_entries::leaf_index.is_null())
        .order((transparency_entries::queued_at, transparency_entries::transfer_id))
        .limit(max)
        .select(Queued::as_select())
        .load(conn)?)
}

fn write(
    conn: &mut DbConnection,
    size: u64,
    queued: &[Queued],
    bodies: &[String],
    fresh: HashMap<u64, Hash>,
) -> Result<(), AppError> {
    let mut fresh: Vec<(u64, Hash)> = fresh.into_iter().collect();
    fresh.sort_by_key(|(index, _)| *index);
    for (index, hash) in fresh {
        diesel::insert_into(transparency_hashes::table)
            .values((
                transparency_hashes::stored_index.eq(index as i64),
                transparency_hashes::hash.eq(hash.to_string()),
            ))
            .execute(conn)?;
    }
    for (i, (row, body)) in queued.iter().zip(bodies).enumerate() {
        diesel::update(
            transparency_entries::table
                .find(&row.id)
                .filter(transparency_entries::leaf_index.is_null()),
        )
        .set((
            transparency_entries::leaf_index.eq((size + i as u64) as i64),
            transparency_entries::body.eq(body),
        ))
        .execute(conn)?;
    }
    diesel::update(transparency_tree::table.find(1))
        .set(transparency_tree::tree_size.eq((size + bodies.len() as u64) as i64))
        .execute(conn)?;
    Ok(())
}

/// What the entries need beyond the transfer rows: each application's fund and offer, each
/// fund's funder, each matched pledge's investor, each resolved match's pending cause.
#[derive(Default)]
pub struct Context {
    applications: HashMap<String, (String, String)>,
    funders: HashMap<String, String>,
    investors: HashMap<String, String>,
    pending_causes: HashMap<String, String>,
}

fn owner<'a>(accounts: [&'a str; 2], kind: &str) -> Option<&'a str> {
    accounts.iter().find_map(|a| a.strip_prefix(kind))
}

fn describe(conn: &mut DbConnection, key: &LogKey, queued: &[Queued]) -> Result<Vec<String>, AppError> {
    let context = load_context(conn, queued)?;
    Ok(queued.iter().map(|row| entry(&context, key, row).canonical()).collect())
}

fn load_context(conn: &mut DbConnection, queued: &[Queued]) -> Result<Context, AppError> {
    let mut context = Context::default();
    let apps: Vec<&str> = queued
        .iter()
        .filter_map(|q| owner([&q.debit_account_id, &q.credit_account_id], "commitment:"))
        .collect();
    context.applications = match_applications::table
        .filter(match_applications::id.eq_any(&apps))
        .select((
            match_applications::id,
            match_applications::fund_id,
            match_applications::offer_id,
        ))
        .load::<(String, String, String)>(conn)?
        .into_iter()
        .map(|(id, fund, offer)| (id, (fund, offer)))
        .collect();
    let mut fund_ids: Vec<String> = queued
        .iter()
        .filter_map(|q| owner([&q.debit_account_id, &q.credit_account_id], "fund:").map(str::to_owned))
        .collect();
    fund_ids.extend(context.applications.values().map(|(fund, _)| fund.clone()));
    context.funders = funds::table
        .filter(funds::id.eq_any(&fund_ids))
        .select((funds::id, funds::funder_id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let pending: Vec<&str> = queued
        .iter()
        .filter(|q| q.kind == "match")
        .filter_map(|q| q.pending_id.as_deref())
        .collect();
    context.pending_causes = ledger_transfers::table
        .filter(ledger_transfers::id.eq_any(&pending))
        .select((ledger_transfers::id, ledger_transfers::cause))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let pledge_ids: Vec<String> = queued
        .iter()
        .filter(|q| q.kind == "match")
        .filter_map(|q| {
            match_cause(&context, q)
                .and_then(|c| c.strip_prefix("pledge:"))
                .map(str::to_owned)
        })
        .collect();
    context.investors = pledges::table
        .filter(pledges::id.eq_any(&pledge_ids))
        .select((pledges::id, pledges::investor_id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    Ok(context)
}

/// A match's cause (`pledge:<id>`): its own, or for a post or void its pending transfer's.
fn match_cause<'a>(context: &'a Context, q: &'a Queued) -> Option<&'a str> {
    match &q.pending_id {
        Some(pending) => context.pending_causes.get(pending).map(String::as_str),
        None => Some(q.cause.as_str()),
    }
}

/// The entry of one queued transfer. Pure given the context.
pub fn entry(context: &Context, key: &LogKey, q: &Queued) -> Entry {
    let accounts = [q.debit_account_id.as_str(), q.credit_account_id.as_str()];
    let application = owner(accounts, "commitment:").and_then(|a| context.applications.get(a));
    let fund = owner(accounts, "fund:")
        .map(str::to_owned)
        .or_else(|| application.map(|(fund, _)| fund.clone()));
    let funder = owner(accounts, "funder:")
        .map(str::to_owned)
        .or_else(|| fund.as_ref().and_then(|f| context.funders.get(f).cloned()));
    let offer = owner(accounts, "match:")
        .map(str::to_owned)
        .or_else(|| application.map(|(_, offer)| offer.clone()));
    let investor = (q.kind == "match")
        .then(|| match_cause(context, q))
        .flatten()
        .and_then(|cause| cause.strip_prefix("pledge:"))
        .and_then(|pledge| context.investors.get(pledge))
        .map(|investor| pseudonym(key.pseudonym_key(), investor));
    Entry {
        v: VERSION,
        transfer: q.id.clone(),
        kind: q.kind.clone(),
        phase: q.phase.clone(),
        pending: q.pending_id.clone(),
        debit: q.debit_account_id.clone(),
        credit: q.credit_account_id.clone(),
        amount_pence: q.amount,
        funder,
        fund,
        offer,
        investor,
        at: time_text(q.created_at),
    }
}

/// The tree's stored hashes, read from the database, with those made in this run beside them.
pub struct DbHashes<'c> {
    conn: RefCell<&'c mut DbConnection>,
    pub fresh: HashMap<u64, Hash>,
}

impl<'c> DbHashes<'c> {
    pub fn new(conn: &'c mut DbConnection) -> Self {
        Self {
            conn: RefCell::new(conn),
            fresh: HashMap::new(),
        }
    }
}

impl HashReader for DbHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        let wanted: Vec<i64> = indexes
            .iter()
            .filter(|i| !self.fresh.contains_key(i))
            .map(|&i| i as i64)
            .collect();
        let stored: HashMap<i64, String> = if wanted.is_empty() {
            HashMap::new()
        } else {
            let mut conn = self.conn.borrow_mut();
            transparency_hashes::table
                .filter(transparency_hashes::stored_index.eq_any(&wanted))
                .select((transparency_hashes::stored_index, transparency_hashes::hash))
                .load::<(i64, String)>(&mut **conn)
                .map_err(|_| tlog_tiles::Error::IndexesNotInTree)?
                .into_iter()
                .collect()
        };
        indexes
            .iter()
            .map(|i| match self.fresh.get(i) {
                Some(hash) => Ok(*hash),
                None => stored
                    .get(&(*i as i64))
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
                    .and_then(|text| Hash::parse_hash(text)),
            })
            .collect()
    }
}
