//! The log as the public API reads it from the database: checkpoints with their cosignatures,
//! entries, inclusion and consistency proofs, the export, and the funders' witnesses.

use diesel::prelude::*;
use serde::Serialize;
use signed_note::{Note, Verifier as _};
use tlog_tiles::{Checkpoint, Hash};
use utoipa::ToSchema;

use super::keys::{LogKey, WitnessVerifier};
use super::sequence::DbHashes;
use super::verify::{Export, Witness};
use crate::clock;
use crate::db::schema::{funders, transparency_checkpoints, transparency_cosignatures, transparency_entries};
use crate::db::DbConnection;
use crate::error::AppError;

/// The most entries one page of `GET /transparency/entries` holds.
pub const PAGE: i64 = 1_000;

fn internal(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(anyhow::anyhow!("transparency log: {e}"))
}

/// The size of the latest signed checkpoint's tree (0 before the first).
pub fn tree_size(conn: &mut DbConnection) -> Result<i64, AppError> {
    Ok(transparency_checkpoints::table
        .select(diesel::dsl::max(transparency_checkpoints::tree_size))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// The signed checkpoint of `size` with every witness's cosignature line after the log's.
fn note_at(conn: &mut DbConnection, size: i64) -> Result<Option<String>, AppError> {
    let Some(note) = transparency_checkpoints::table
        .find(size)
        .select(transparency_checkpoints::note)
        .first::<String>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let lines: Vec<String> = transparency_cosignatures::table
        .filter(transparency_cosignatures::tree_size.eq(size))
        .order(transparency_cosignatures::funder_id)
        .select(transparency_cosignatures::signature_line)
        .load(conn)?;
    Ok(Some(note + &lines.concat()))
}

/// The latest signed checkpoint, cosignatures included; `None` before the first entry.
pub fn latest_checkpoint(conn: &mut DbConnection) -> Result<Option<String>, AppError> {
    let size = tree_size(conn)?;
    if size == 0 {
        return Ok(None);
    }
    note_at(conn, size)
}

/// Entries `[start, end)` of the tree (capped at the latest checkpoint and at [`PAGE`]).
pub fn entries(conn: &mut DbConnection, start: i64, end: i64) -> Result<(i64, Vec<(i64, String)>), AppError> {
    // The size read once: the page never holds an entry beyond the size it reports.
    let size = tree_size(conn)?;
    let end = end.min(size).min(start.saturating_add(PAGE));
    let rows: Vec<(Option<i64>, Option<String>)> = transparency_entries::table
        .filter(transparency_entries::leaf_index.ge(start))
        .filter(transparency_entries::leaf_index.lt(end))
        .order(transparency_entries::leaf_index)
        .select((transparency_entries::leaf_index, transparency_entries::body))
        .load(conn)?;
    let entries = rows
        .into_iter()
        .filter_map(|(index, body)| Some((index?, body?)))
        .collect();
    Ok((size, entries))
}

/// An inclusion proof (RFC 6962 §2.1.1 audit path, base64 hashes, leaf to root).
#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionProof {
    pub index: i64,
    pub tree_size: i64,
    /// The entry's bytes (canonical JSON).
    pub entry: String,
    /// `SHA-256(0x00 || entry)`, base64.
    pub leaf_hash: String,
    /// The tree's root at `tree_size`, base64.
    pub root_hash: String,
    pub proof: Vec<String>,
}

/// A consistency proof (RFC 6962 §2.1.2) between two tree sizes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyProof {
    pub from_size: i64,
    pub to_size: i64,
    pub from_root: String,
    pub to_root: String,
    pub proof: Vec<String>,
}

fn check_size(conn: &mut DbConnection, field: &'static str, size: i64, least: i64) -> Result<(), AppError> {
    let latest = tree_size(conn)?;
    if size < least || size > latest {
        return Err(AppError::field(
            field,
            format!("must be from {least} to the latest checkpoint's size, {latest}"),
        ));
    }
    Ok(())
}

pub fn inclusion(conn: &mut DbConnection, index: i64, tree_size: i64) -> Result<InclusionProof, AppError> {
    check_size(conn, "tree_size", tree_size, 1)?;
    if index < 0 || index >= tree_size {
        return Err(AppError::field(
            "index",
            format!("must be below tree_size ({tree_size})"),
        ));
    }
    let entry = entries(conn, index, index + 1)?
        .1
        .pop()
        .map(|(_, body)| body)
        .ok_or(AppError::NotFound("entry"))?;
    let hashes = DbHashes::new(conn);
    let (t, n) = (tree_size as u64, index as u64);
    let proof = tlog_tiles::prove_record(t, n, &hashes).map_err(internal)?;
    let root = tlog_tiles::tree_hash(t, &hashes).map_err(internal)?;
    Ok(InclusionProof {
        index,
        tree_size,
        leaf_hash: tlog_tiles::record_hash(entry.as_bytes()).to_string(),
        entry,
        root_hash: root.to_string(),
        proof: proof.iter().map(Hash::to_string).collect(),
    })
}

pub fn consistency(conn: &mut DbConnection, from: i64, to: i64) -> Result<ConsistencyProof, AppError> {
    check_size(conn, "to", to, 1)?;
    if from < 1 || from > to {
        return Err(AppError::field("from", format!("must be from 1 to `to` ({to})")));
    }
    let hashes = DbHashes::new(conn);
    let proof = tlog_tiles::prove_tree(to as u64, from as u64, &hashes).map_err(internal)?;
    Ok(ConsistencyProof {
        from_size: from,
        to_size: to,
        from_root: tlog_tiles::tree_hash(from as u64, &hashes)
            .map_err(internal)?
            .to_string(),
        to_root: tlog_tiles::tree_hash(to as u64, &hashes).map_err(internal)?.to_string(),
        proof: proof.iter().map(Hash::to_string).collect(),
    })
}

/// Everything `transparency verify` needs: every entry of the latest checkpoint's tree, the
/// latest checkpoint and every cosigned one, the log's key and the witnesses' keys.
pub fn export(conn: &mut DbConnection, key: &LogKey) -> Result<Export, AppError> {
    let size = tree_size(conn)?;
    let mut sizes: Vec<i64> = transparency_cosignatures::table
        .select(transparency_cosignatures::tree_size)
        .distinct()
        .load(conn)?;
    if size > 0 {
        sizes.push(size);
    }
    sizes.sort_unstable();
    sizes.dedup();
    let mut checkpoints = Vec::with_capacity(sizes.len());
    for s in sizes {
        checkpoints.extend(note_at(conn, s)?);
    }
    let entries: Vec<String> = transparency_entries::table
        .filter(transparency_entries::leaf_index.lt(size))
        .order(transparency_entries::leaf_index)
        .select(transparency_entries::body)
        .load::<Option<String>>(conn)?
        .into_iter()
        .flatten()
        .collect();
    Ok(Export {
        origin: key.origin().to_owned(),
        log_key: key.vkey().to_owned(),
        witnesses: witnesses(conn)?,
        checkpoints,
        entries,
    })
}

fn witnesses(conn: &mut DbConnection) -> Result<Vec<Witness>, AppError> {
    Ok(funders::table
        .filter(funders::witness_key.is_not_null())
        .order(funders::id)
        .select((funders::id, funders::name, funders::witness_key))
        .load::<(String, String, Option<String>)>(conn)?
        .into_iter()
        .filter_map(|(funder_id, funder_name, key)| {
            Some(Witness {
                funder_id,
                funder_name,
                key: key?,
            })
        })
        .collect())
}

/// Sets (or replaces) a funder's witness key; 422 when it is not a `cosignature/v1` vkey.
pub fn set_witness(conn: &mut DbConnection, funder_id: &str, vkey: &str) -> Result<(), AppError> {
    WitnessVerifier::new(vkey).map_err(|e| AppError::field("key", e))?;
    let changed = diesel::update(funders::table.find(funder_id))
        .set(funders::witness_key.eq(vkey.trim()))
        .execute(conn)?;
    if changed == 0 {
        return Err(AppError::NotFound("funder"));
    }
    Ok(())
}

/// Keeps the cosignatures in `note` (a signed checkpoint of this log with witness signature
/// lines) that a funder's registered witness key verifies. Returns the tree size and the
/// funders whose cosignatures were kept. 404 when the log signed no checkpoint of that size,
/// 422 when the text is not the log's checkpoint or no registered witness's signature verifies.
pub fn cosign(conn: &mut DbConnection, note: &str) -> Result<(i64, Vec<String>), AppError> {
    let bad = |m: String| AppError::field("checkpoint", m);
    let parsed = Note::from_bytes(note.as_bytes()).map_err(|e| bad(format!("is not a signed note: {e}")))?;
    let checkpoint = Checkpoint::from_bytes(parsed.text()).map_err(|e| bad(e.to_string()))?;
    let size = i64::try_from(checkpoint.size()).map_err(|_| bad("its size is too large".into()))?;
    let stored = transparency_checkpoints::table
        .find(size)
        .select(transparency_checkpoints::note)
        .first::<String>(conn)
        .optional()?
        .ok_or(AppError::NotFound("checkpoint"))?;
    if !stored.as_bytes().starts_with(parsed.text()) || stored.as_bytes().get(parsed.text().len()) != Some(&b'\n') {
        return Err(bad("is not the text of the log's checkpoint of that size".into()));
    }
    let mut kept = Vec::new();
    for (funder_id, _name, key) in witnesses(conn)?
        .into_iter()
        .map(|w| (w.funder_id, w.funder_name, w.key))
    {
        let verifier = WitnessVerifier::new(&key).map_err(internal)?;
        for line in note.lines().filter(|l| l.starts_with('\u{2014}')) {
            let Ok(signature) = signed_note::Signature::from_bytes(line.as_bytes()) else {
                continue;
            };
            if signature.name() != signed_note::Verifier::name(&verifier) || signature.id() != verifier.key_id() {
                continue;
            }
            if !verifier.verify(parsed.text(), signature.signature()) {
                return Err(bad(format!("the cosignature by {} does not verify", signature.name())));
            }
            keep(conn, size, &funder_id, line)?;
            kept.push(funder_id.clone());
        }
    }
    if kept.is_empty() {
        return Err(bad("carries no cosignature of a funder's registered witness key".into()));
    }
    Ok((size, kept))
}

fn keep(conn: &mut DbConnection, size: i64, funder_id: &str, line: &str) -> Result<(), AppError> {
    // A witness cosigns a checkpoint once: a repeat (or a race of two) keeps the first.
    let inserted = diesel::insert_into(transparency_cosignatures::table)
        .values((
            transparency_cosignatures::tree_size.eq(size),
            transparency_cosignatures::funder_id.eq(funder_id),
            transparency_cosignatures::signature_line.eq(format!("{line}\n")),
            transparency_cosignatures::cosigned_at.eq(clock::now()),
        ))
        .execute(conn);
    match inserted.map_err(AppError::from) {
        Err(e) if e.is_unique_violation() => Ok(()),
        other => other.map(|_| ()),
    }
}
