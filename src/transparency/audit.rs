//! `ledger verify`'s check that the transparency log and the ledger agree: every transfer of
//! public money is queued or in the tree; every entry in the tree says what its transfer says;
//! the tree holds leaves 0..n once each, and its stored hashes and the latest signed
//! checkpoint's root are those of the entries.

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::entry::{time_text, Entry};
use super::verify::MemoryTree;
use crate::db::schema::{ledger_transfers, transparency_checkpoints, transparency_entries, transparency_hashes};
use crate::db::DbConnection;
use crate::error::AppError;

#[derive(QueryableByName)]
struct Missing {
    #[diesel(sql_type = Text)]
    id: String,
}

const PUBLIC: &str = "(t.debit_account_id LIKE 'funder:%' OR t.debit_account_id LIKE 'fund:%' \
    OR t.debit_account_id LIKE 'commitment:%' OR t.debit_account_id LIKE 'match:%' \
    OR t.credit_account_id LIKE 'funder:%' OR t.credit_account_id LIKE 'fund:%' \
    OR t.credit_account_id LIKE 'commitment:%' OR t.credit_account_id LIKE 'match:%')";

/// One line per disagreement (none: they agree). Run in `ledger verify`'s snapshot.
pub fn problems(conn: &mut DbConnection) -> Result<Vec<String>, AppError> {
    let mut problems = Vec::new();
    let missing: Vec<Missing> = diesel::sql_query(format!(
        "SELECT t.id FROM ledger_transfers t WHERE {PUBLIC} \
         AND NOT EXISTS (SELECT 1 FROM transparency_entries e WHERE e.transfer_id = t.id) ORDER BY t.id"
    ))
    .load(conn)?;
    problems.extend(
        missing
            .into_iter()
            .map(|m| format!("transparency log: public transfer {} is not on the log", m.id)),
    );
    let extra: Vec<Missing> = diesel::sql_query(format!(
        "SELECT e.transfer_id AS id FROM transparency_entries e JOIN ledger_transfers t ON t.id = e.transfer_id \
         WHERE NOT {PUBLIC} ORDER BY e.transfer_id"
    ))
    .load(conn)?;
    problems.extend(extra.into_iter().map(|m| {
        format!(
            "transparency log: transfer {} moves no public money but is on the log",
            m.id
        )
    }));
    problems.extend(tree_problems(conn)?);
    Ok(problems)
}

/// A sequenced entry (leaf index, body) with its ledger transfer.
type Sequenced = (Option<i64>, Option<String>, super::LoggedTransfer);

fn tree_problems(conn: &mut DbConnection) -> Result<Vec<String>, AppError> {
    let rows: Vec<Sequenced> = transparency_entries::table
        .inner_join(ledger_transfers::table)
        .filter(transparency_entries::leaf_index.is_not_null())
        .order(transparency_entries::leaf_index)
        .select((
            transparency_entries::leaf_index,
            transparency_entries::body,
            super::LoggedTransfer::as_select(),
        ))
        .load(conn)?;
    let mut problems = Vec::new();
    let mut tree = MemoryTree::default();
    for (expected, row) in rows.iter().enumerate() {
        let (index, body) = (row.0.unwrap_or(-1), row.1.as_deref().unwrap_or_default());
        if index != expected as i64 {
            problems.push(format!(
                "transparency log: leaf {expected} is missing (found {index} next)"
            ));
            return Ok(problems);
        }
        if let Some(problem) = disagreement(body, row) {
            problems.push(format!("transparency log: entry {index} ({}) {problem}", row.2.id));
        }
        tree.push(body.as_bytes())
            .map_err(|e| AppError::Internal(anyhow::anyhow!("transparency tree: {e}")))?;
    }
    problems.extend(stored_hash_problems(conn, &tree)?);
    let latest: Option<(i64, String)> = transparency_checkpoints::table
        .order(transparency_checkpoints::tree_size.desc())
        .select((transparency_checkpoints::tree_size, transparency_checkpoints::root_hash))
        .first(conn)
        .optional()?;
    if let Some((size, root)) = latest {
        match tree.root(size as u64) {
            Ok(computed) if computed.to_string() == root => {}
            Ok(_) => problems.push(format!(
                "transparency log: the entries do not hash to the root of the checkpoint of size {size}"
            )),
            Err(_) => problems.push(format!(
                "transparency log: the checkpoint of size {size} covers more entries than the tree has ({})",
                tree.size()
            )),
        }
    }
    Ok(problems)
}

/// What an entry says that its ledger transfer does not (the investor's pseudonym is not
/// checked here: it needs the log's key).
fn disagreement(body: &str, row: &Sequenced) -> Option<String> {
    let entry = match Entry::parse(body) {
        Ok(entry) => entry,
        Err(e) => return Some(e),
    };
    let says = (
        entry.transfer.as_str(),
        entry.debit.as_str(),
        entry.credit.as_str(),
        entry.amount_pence,
        entry.kind.as_str(),
        entry.phase.as_str(),
        entry.pending.as_deref(),
        entry.at.as_str(),
    );
    let transfer = &row.2;
    let at = time_text(transfer.created_at);
    let ledger = (
        transfer.id.as_str(),
        transfer.debit_account_id.as_str(),
        transfer.credit_account_id.as_str(),
        transfer.amount,
        transfer.kind.as_str(),
        transfer.phase.as_str(),
        transfer.pending_id.as_deref(),
        at.as_str(),
    );
    (says != ledger).then(|| "differs from its ledger transfer".to_owned())
}

/// The stored hashes must be those the entries make.
fn stored_hash_problems(conn: &mut DbConnection, tree: &MemoryTree) -> Result<Vec<String>, AppError> {
    let stored: Vec<(i64, String)> = transparency_hashes::table
        .order(transparency_hashes::stored_index)
        .select((transparency_hashes::stored_index, transparency_hashes::hash))
        .load(conn)?;
    let expected = tlog_tiles::stored_hash_count(tree.size());
    if stored.len() as u64 != expected {
        return Ok(vec![format!(
            "transparency log: {} stored hashes for {} entries (expected {expected})",
            stored.len(),
            tree.size()
        )]);
    }
    let indexes: Vec<u64> = (0..expected).collect();
    let computed = tlog_tiles::HashReader::read_hashes(tree, &indexes)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("transparency tree: {e}")))?;
    Ok(stored
        .iter()
        .zip(computed)
        .find(|((_, text), hash)| *text != hash.to_string())
        .map(|((index, _), _)| {
            vec![format!(
                "transparency log: stored hash {index} is not the entries' hash"
            )]
        })
        .unwrap_or_default())
}
