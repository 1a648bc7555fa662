//! Verifying the log from its export, as an outsider does (`community-shares transparency
//! verify`). Pure: the caller reads the files or the URL.
//!
//! What is checked: every entry is canonical and well formed, no transfer appears twice, and
//! every `post` or `void` resolves an earlier, unresolved `pending` entry of the same accounts
//! and amount (so an entry removed or moved before its cause is named); the tree built from
//! the entries (RFC 6962) has, at each checkpoint's size, that checkpoint's root; every
//! checkpoint carries a valid signature of the log's key, and every cosignature of a known
//! witness verifies (a forged one fails, it is never skipped); a checkpoint kept from before
//! (or an earlier export) is consistent with the export: the log was only ever appended to.
//!
//! A checkpoint is *witnessed* only by the witness keys the verifier brings from outside the
//! export (`--witness`): whoever serves the export could list a key of their own and cosign
//! with it, so cosignatures under keys the export alone names are checked but reported as
//! unverified, never as witnessed. For each trusted witness the report gives the largest
//! checkpoint it cosigned; with `require_witness`, the latest checkpoint must carry every
//! trusted witness's cosignature.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use signed_note::{Note, NoteError, Verifier, VerifierList};
use tlog_tiles::{Checkpoint, Hash, HashReader};
use utoipa::ToSchema;

use super::entry::Entry;
use super::keys::{log_verifier, WitnessVerifier};

/// Everything an outsider needs to verify the log (`GET /api/v1/transparency/export`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Export {
    /// The log's origin (the first line of its checkpoints).
    pub origin: String,
    /// The log's public key (C2SP vkey).
    pub log_key: String,
    /// The funders' witness keys that cosign checkpoints.
    pub witnesses: Vec<Witness>,
    /// Signed checkpoints (C2SP notes, with cosignatures), oldest first: the latest and every
    /// one a witness cosigned.
    pub checkpoints: Vec<String>,
    /// Every entry of the tree of the latest checkpoint, in order: entry `i` is leaf `i`.
    pub entries: Vec<String>,
}

/// A funder's witness key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Witness {
    pub funder_id: String,
    pub funder_name: String,
    /// C2SP vkey of a `cosignature/v1` key.
    pub key: String,
}

/// What an outsider brings of their own.
#[derive(Debug, Default)]
pub struct Trust {
    /// The log key they trust (else the export's own key is used, and the report says so).
    pub log_key: Option<String>,
    /// A signed checkpoint they kept from before.
    pub kept_checkpoint: Option<String>,
    /// The entries of an export they kept from before.
    pub kept_entries: Option<Vec<String>>,
    /// Witness keys they trust, from outside the export (C2SP vkeys). Cosignatures under
    /// keys only the export lists are checked, but not counted as witnessed.
    pub witnesses: Vec<String>,
    /// Fail unless the latest checkpoint carries every trusted witness's cosignature.
    pub require_witness: bool,
}

/// A witness the verifier trusts, and the largest checkpoint it cosigned (none: `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witnessed {
    pub name: String,
    /// The key's id (a cosignature names its key by name and id: a key of the same name the
    /// export lists is another key).
    pub key_id: u32,
    pub latest: Option<u64>,
}

/// A verified log.
#[derive(Debug, PartialEq, Eq)]
pub struct Report {
    pub entries: u64,
    pub checkpoints: usize,
    /// Cosignatures by the witnesses the verifier trusts.
    pub cosignatures: usize,
    /// Each trusted witness, with the latest checkpoint it cosigned.
    pub witnessed: Vec<Witnessed>,
    /// Cosignatures under keys only the export lists: valid signatures, but no evidence that
    /// anyone outside the platform saw the checkpoint.
    pub unverified_cosignatures: usize,
    /// The latest checkpoint's size and root (base64).
    pub tree_size: u64,
    pub root: String,
    /// False when the log key came from the export itself.
    pub log_key_pinned: bool,
}

/// Why the log does not verify: the first problem, and the first entry concerned when one can
/// be named.
#[derive(Debug, PartialEq, Eq)]
pub struct Failure {
    pub entry: Option<u64>,
    pub message: String,
}

fn fail(entry: Option<u64>, message: String) -> Failure {
    Failure { entry, message }
}

/// The tree's stored hashes in memory (`tlog_tiles`' layout), built entry by entry.
#[derive(Default)]
pub struct MemoryTree {
    hashes: Vec<Hash>,
    size: u64,
}

impl HashReader for MemoryTree {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.hashes.get(i).copied())
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

impl MemoryTree {
    pub fn push(&mut self, data: &[u8]) -> Result<(), tlog_tiles::Error> {
        let new = tlog_tiles::stored_hashes(self.size, data, self)?;
        self.hashes.extend(new);
        self.size += 1;
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn root(&self, size: u64) -> Result<Hash, tlog_tiles::Error> {
        tlog_tiles::tree_hash(size, self)
    }
}

/// Verifies `export` against what the verifier trusts.
pub fn verify(export: &Export, trust: &Trust) -> Result<Report, Failure> {
    let log_key = trust.log_key.as_deref().unwrap_or(&export.log_key);
    if trust
        .log_key
        .as_deref()
        .is_some_and(|k| k.trim() != export.log_key.trim())
    {
        return Err(fail(
            None,
            "the export is signed by another key than the log key you trust".into(),
        ));
    }
    let tree = check_entries(&export.entries)?;
    if let Some(kept) = &trust.kept_entries {
        compare_kept(kept, &export.entries)?;
    }
    let trusted: Vec<&str> = trust.witnesses.iter().map(|k| k.trim()).collect();
    let mut keys: Vec<&str> = trusted.clone();
    keys.extend(
        export
            .witnesses
            .iter()
            .map(|w| w.key.trim())
            .filter(|k| !trusted.contains(k)),
    );
    let verifiers = verifiers(log_key, &keys)?;
    let mut witnessed = trusted_witnesses(&trusted)?;
    let mut checked: Vec<(u64, Hash)> = Vec::new();
    let (mut cosignatures, mut unverified_cosignatures) = (0, 0);
    for text in &export.checkpoints {
        let (checkpoint, cosigners) = open(text, &verifiers, &export.origin)?;
        let (by_trusted, by_others) = tally(&mut witnessed, &cosigners, checkpoint.size());
        cosignatures += by_trusted;
        unverified_cosignatures += by_others;
        check_root(&tree, &checkpoint, &checked)?;
        checked.push((checkpoint.size(), *checkpoint.hash()));
    }
    let Some(&(tree_size, root)) = checked.iter().max_by_key(|(size, _)| *size) else {
        return Err(fail(None, "the export has no signed checkpoint".into()));
    };
    if tree_size != tree.size() {
        return Err(fail(
            Some(tree_size.min(tree.size())),
            format!(
                "the export has {} entries but its latest checkpoint covers {tree_size}",
                tree.size()
            ),
        ));
    }
    if let Some(kept) = &trust.kept_checkpoint {
        let (checkpoint, _) = open(kept, &verifiers, &export.origin)
            .map_err(|f| fail(None, format!("the checkpoint you kept: {}", f.message)))?;
        check_kept(&tree, &checkpoint, &checked)?;
    }
    if trust.require_witness {
        require_witnesses(&witnessed, tree_size)?;
    }
    Ok(Report {
        entries: tree.size(),
        checkpoints: export.checkpoints.len(),
        cosignatures,
        witnessed,
        unverified_cosignatures,
        tree_size,
        root: root.to_string(),
        log_key_pinned: trust.log_key.is_some(),
    })
}

/// The name and key id of a C2SP vkey (`<name>+<key id, 8 hex>+<key>`), as its signatures
/// carry them.
fn key_name_and_id(vkey: &str) -> Option<(&str, u32)> {
    let mut parts = vkey.splitn(3, '+');
    let name = parts.next()?;
    let id = u32::from_str_radix(parts.next()?, 16).ok()?;
    Some((name, id))
}

/// The witnesses the verifier trusts (their vkeys), none yet seen to cosign.
fn trusted_witnesses(keys: &[&str]) -> Result<Vec<Witnessed>, Failure> {
    keys.iter()
        .map(|key| {
            let (name, key_id) =
                key_name_and_id(key).ok_or_else(|| fail(None, format!("witness {key}: not a C2SP vkey")))?;
            Ok(Witnessed {
                name: name.to_owned(),
                key_id,
                latest: None,
            })
        })
        .collect()
}

/// Counts a checkpoint of tree `size`'s verified cosigners: a trusted witness's (its latest
/// cosigned size moves up), and anyone else's (not witnessed). Answers the two counts.
fn tally(witnessed: &mut [Witnessed], cosigners: &[(String, u32)], size: u64) -> (usize, usize) {
    let mut counts = (0, 0);
    for (name, key_id) in cosigners {
        match witnessed.iter_mut().find(|w| &w.name == name && w.key_id == *key_id) {
            Some(witness) => {
                counts.0 += 1;
                witness.latest = witness.latest.max(Some(size));
            }
            None => counts.1 += 1,
        }
    }
    counts
}

/// With `--require-witness`: every trusted witness cosigned the latest checkpoint.
fn require_witnesses(witnessed: &[Witnessed], tree_size: u64) -> Result<(), Failure> {
    if witnessed.is_empty() {
        return Err(fail(
            None,
            "a witness is required, but no witness key was given (--witness)".into(),
        ));
    }
    match witnessed.iter().find(|w| w.latest != Some(tree_size)) {
        Some(w) => Err(fail(
            None,
            format!(
                "the latest checkpoint (tree size {tree_size}) lacks {}'s cosignature ({})",
                w.name,
                match w.latest {
                    Some(size) => format!("the latest it cosigned has tree size {size}"),
                    None => "it cosigned no checkpoint of this export".into(),
                }
            ),
        )),
        None => Ok(()),
    }
}

/// Reads every entry, checks each against those before it, and builds the tree.
fn check_entries(entries: &[String]) -> Result<MemoryTree, Failure> {
    let mut tree = MemoryTree::default();
    let mut seen = HashSet::new();
    let mut open: HashMap<String, (u64, Entry)> = HashMap::new();
    for (i, text) in entries.iter().enumerate() {
        let index = i as u64;
        let at = |message: String| fail(Some(index), format!("entry {index} {message}"));
        let entry = Entry::parse(text).map_err(at)?;
        if !seen.insert(entry.transfer.clone()) {
            return Err(at(format!("repeats transfer {}", entry.transfer)));
        }
        match (entry.phase.as_str(), &entry.pending) {
            ("pending", _) => {
                open.insert(entry.transfer.clone(), (index, entry.clone()));
            }
            (_, Some(pending)) => {
                let (first, resolved) = open.remove(pending).ok_or_else(|| {
                    at(format!(
                        "resolves {pending}, which is not an earlier pending entry still open"
                    ))
                })?;
                let same = (&resolved.debit, &resolved.credit, resolved.amount_pence, &resolved.kind)
                    == (&entry.debit, &entry.credit, entry.amount_pence, &entry.kind);
                if !same {
                    return Err(fail(
                        Some(first),
                        format!(
                            "entry {index} resolves entry {first} ({pending}) with other accounts, amount or kind: one of the two was changed"
                        ),
                    ));
                }
            }
            _ => {}
        }
        tree.push(text.as_bytes())
            .map_err(|e| at(format!("cannot be hashed into the tree: {e}")))?;
    }
    Ok(tree)
}

fn compare_kept(kept: &[String], entries: &[String]) -> Result<(), Failure> {
    for (i, old) in kept.iter().enumerate() {
        match entries.get(i) {
            Some(new) if new == old => {}
            Some(_) => {
                return Err(fail(
                    Some(i as u64),
                    format!("entry {i} differs from the copy you kept"),
                ))
            }
            None => {
                return Err(fail(
                    Some(i as u64),
                    format!("entry {i} of the copy you kept is missing: the log has fewer entries now"),
                ))
            }
        }
    }
    Ok(())
}

fn verifiers(log_key: &str, witnesses: &[&str]) -> Result<VerifierList, Failure> {
    let mut list: Vec<Box<dyn Verifier>> = vec![Box::new(log_verifier(log_key).map_err(|e| fail(None, e))?)];
    for key in witnesses {
        list.push(Box::new(
            WitnessVerifier::new(key).map_err(|e| fail(None, format!("witness {key}: {e}")))?,
        ));
    }
    Ok(VerifierList::new(list))
}

/// A checkpoint's note opened: signatures verified (the log's is required; a known witness's
/// that fails is a failure), its text parsed. Returns it and the names of the witnesses whose
/// cosignatures verified.
fn open(text: &str, verifiers: &VerifierList, origin: &str) -> Result<(Checkpoint, Vec<(String, u32)>), Failure> {
    let head = text.lines().take(2).collect::<Vec<_>>().join(" ");
    let note = Note::from_bytes(text.as_bytes())
        .map_err(|e| fail(None, format!("checkpoint \"{head}\" is not a signed note: {e}")))?;
    let (verified, _unknown) = note.verify(verifiers).map_err(|e| {
        let why = match e {
            NoteError::InvalidSignature { name, .. } => {
                format!("the signature by {name} does not verify (forged or altered)")
            }
            NoteError::UnverifiedNote => "is not signed by the log's key".into(),
            other => other.to_string(),
        };
        fail(None, format!("checkpoint \"{head}\": {why}"))
    })?;
    if !verified.iter().any(|s| s.name() == origin) {
        return Err(fail(
            None,
            format!("checkpoint \"{head}\" is not signed by the log's key"),
        ));
    }
    let checkpoint =
        Checkpoint::from_bytes(note.text()).map_err(|e| fail(None, format!("checkpoint \"{head}\": {e}")))?;
    if checkpoint.origin() != origin {
        return Err(fail(None, format!("checkpoint \"{head}\" is of another log")));
    }
    let cosigners = verified
        .iter()
        .filter(|s| s.name() != origin)
        .map(|s| (s.name().to_owned(), s.id()))
        .collect();
    Ok((checkpoint, cosigners))
}

/// The tree at the checkpoint's size must have its root; else the first bad entry lies between
/// the largest size already verified below it and its size.
fn check_root(tree: &MemoryTree, checkpoint: &Checkpoint, checked: &[(u64, Hash)]) -> Result<(), Failure> {
    let size = checkpoint.size();
    let good_below = checked.iter().map(|(s, _)| *s).filter(|s| *s < size).max().unwrap_or(0);
    if size > tree.size() {
        return Err(fail(
            Some(tree.size()),
            format!(
                "the checkpoint of size {size} covers more entries than the export has ({}): entries were removed",
                tree.size()
            ),
        ));
    }
    let root = tree.root(size).map_err(|e| fail(None, e.to_string()))?;
    if &root != checkpoint.hash() {
        return Err(fail(
            Some(good_below),
            format!(
                "the entries do not hash to the signed root of the checkpoint of size {size}: an entry from {good_below} to {} was changed, removed or reordered",
                size - 1
            ),
        ));
    }
    Ok(())
}

/// A checkpoint kept from before: the export must extend it (the same first entries).
fn check_kept(tree: &MemoryTree, kept: &Checkpoint, checked: &[(u64, Hash)]) -> Result<(), Failure> {
    let size = kept.size();
    if size > tree.size() {
        return Err(fail(
            Some(tree.size()),
            format!(
                "history rewritten: the checkpoint you kept has {size} entries, the log now has {}",
                tree.size()
            ),
        ));
    }
    let root = tree.root(size).map_err(|e| fail(None, e.to_string()))?;
    if &root != kept.hash() {
        let good_below = checked.iter().map(|(s, _)| *s).filter(|s| *s < size).max().unwrap_or(0);
        return Err(fail(
            Some(good_below),
            format!(
                "history rewritten: the log's first {size} entries no longer hash to the root of the checkpoint you kept (it is not consistent with the log now)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
