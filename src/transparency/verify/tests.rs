use proptest::prelude::*;

use super::*;
use crate::transparency::entry::{pseudonym, Entry, VERSION};
use crate::transparency::keys::{LogKey, WitnessKey};

const ORIGIN: &str = "shares.example.org/transparency";

fn entry(transfer: &str, kind: &str, phase: &str, pending: Option<&str>, amount: i64) -> String {
    Entry {
        v: VERSION,
        transfer: transfer.into(),
        kind: kind.into(),
        phase: phase.into(),
        pending: pending.map(str::to_owned),
        debit: "commitment:a1".into(),
        credit: "match:o1".into(),
        amount_pence: amount,
        funder: Some("f1".into()),
        fund: Some("fund1".into()),
        offer: Some("o1".into()),
        investor: Some(pseudonym(&[7; 32], "investor")),
        at: "2026-12-01T09:30:00.000000Z".into(),
    }
    .canonical()
}

fn entries() -> Vec<String> {
    vec![
        entry("commitment:a1", "commitment", "single", None, 500_000),
        entry("match:a1:p1:1", "match", "pending", None, 2_500),
        entry("match:a1:p2:1", "match", "pending", None, 10_000),
        entry("match:a1:p1:1:void", "match", "void", Some("match:a1:p1:1"), 2_500),
        entry("match:a1:p2:1:post", "match", "post", Some("match:a1:p2:1"), 10_000),
    ]
}

fn log() -> LogKey {
    LogKey::from_seed(ORIGIN, &[11; 32]).unwrap()
}

/// An export of `entries` with a checkpoint at each of `sizes` (signed by `log`).
fn export(log: &LogKey, entries: &[String], sizes: &[u64]) -> Export {
    let mut tree = MemoryTree::default();
    for e in entries {
        tree.push(e.as_bytes()).unwrap();
    }
    Export {
        origin: ORIGIN.into(),
        log_key: log.vkey().into(),
        witnesses: vec![],
        checkpoints: sizes
            .iter()
            .map(|&s| log.sign_checkpoint(s, tree.root(s).unwrap()).unwrap())
            .collect(),
        entries: entries.to_vec(),
    }
}

fn failure(export: &Export, trust: &Trust) -> Failure {
    verify(export, trust).expect_err("must not verify")
}

#[test]
fn an_honest_export_verifies() {
    let log = log();
    let report = verify(&export(&log, &entries(), &[2, 5]), &Trust::default()).unwrap();
    assert_eq!((report.entries, report.checkpoints, report.tree_size), (5, 2, 5));
    assert!(!report.log_key_pinned);
}

#[test]
fn a_changed_entry_fails_at_the_checkpoint_that_covers_it() {
    let log = log();
    let mut export = export(&log, &entries(), &[2, 5]);
    export.entries[3] = entries()[3].replace("match:a1:p1:1:void", "match:a1:p9:1:void");
    let f = failure(&export, &Trust::default());
    assert!(f.message.contains("from 2 to 4 was changed"), "{}", f.message);
    assert_eq!(f.entry, Some(2));
    // With the entries kept from before, the exact entry is named.
    let kept = Trust {
        kept_entries: Some(entries()),
        ..Trust::default()
    };
    let f = failure(&export, &kept);
    assert_eq!(
        (f.entry, f.message.as_str()),
        (Some(3), "entry 3 differs from the copy you kept")
    );
}

#[test]
fn a_removed_entry_fails() {
    let log = log();
    let mut export = export(&log, &entries(), &[5]);
    export.entries.remove(2);
    let f = failure(&export, &Trust::default());
    assert!(f.message.contains("resolves match:a1:p2:1"), "{}", f.message);
    assert_eq!(f.entry, Some(3));
    let mut export = self::export(&log, &entries(), &[5]);
    export.entries.pop();
    let f = failure(&export, &Trust::default());
    assert!(f.message.contains("entries were removed"), "{}", f.message);
}

#[test]
fn reordered_entries_fail() {
    let log = log();
    let mut swapped = entries();
    swapped.swap(1, 2);
    let mut export = export(&log, &entries(), &[5]);
    export.entries = swapped;
    let f = failure(&export, &Trust::default());
    assert!(f.message.contains("changed, removed or reordered"), "{}", f.message);
    let mut export = self::export(&log, &entries(), &[5]);
    export.entries.swap(1, 3);
    let f = failure(&export, &Trust::default());
    assert_eq!(f.entry, Some(1));
    assert!(f.message.contains("not an earlier pending entry"), "{}", f.message);
}

#[test]
fn a_forged_signature_fails() {
    let log = log();
    let mut export = export(&log, &entries(), &[5]);
    let (text, line) = export.checkpoints[0].split_once("\n\n").unwrap();
    let (name, signature) = line.trim_end().rsplit_once(' ').unwrap();
    let mut bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, signature).unwrap();
    bytes[10] ^= 1;
    let forged = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes);
    export.checkpoints[0] = format!("{text}\n\n{name} {forged}\n");
    let f = failure(&export, &Trust::default());
    assert!(f.message.contains("does not verify"), "{}", f.message);
    // A checkpoint signed by another key, while the verifier pins the real one.
    let other = LogKey::from_seed(ORIGIN, &[12; 32]).unwrap();
    let export = self::export(&other, &entries(), &[5]);
    let pinned = Trust {
        log_key: Some(log.vkey().into()),
        ..Trust::default()
    };
    assert!(failure(&export, &pinned).message.contains("another key"));
}

#[test]
fn a_rewritten_history_fails_against_a_kept_checkpoint() {
    let log = log();
    let honest = export(&log, &entries(), &[3]);
    let kept = honest.checkpoints[0].clone();
    // The log rewrites entry 1 and re-signs everything: every checkpoint in the export checks,
    // but not the one kept from before.
    let mut rewritten = entries();
    rewritten[1] = entry("match:a1:p1:1", "match", "pending", None, 2_000);
    rewritten[3] = entry("match:a1:p1:1:void", "match", "void", Some("match:a1:p1:1"), 2_000);
    let export = export(&log, &rewritten, &[5]);
    assert!(verify(&export, &Trust::default()).is_ok());
    let trust = Trust {
        kept_checkpoint: Some(kept),
        ..Trust::default()
    };
    let f = failure(&export, &trust);
    assert!(f.message.starts_with("history rewritten"), "{}", f.message);
    // An honest extension of the kept checkpoint verifies.
    let extended = self::export(&log, &entries(), &[5]);
    assert!(verify(&extended, &trust).is_ok());
}

#[test]
fn witnesses_cosignatures_are_checked() {
    let log = log();
    let witness = WitnessKey::generate("council.example/witness").unwrap();
    let mut export = export(&log, &entries(), &[5]);
    let text = export.checkpoints[0].split_once("\n\n").unwrap().0.to_owned();
    export.checkpoints[0].push_str(&witness.cosign(&format!("{text}\n"), 1_764_547_200));
    export.witnesses.push(Witness {
        funder_id: "f1".into(),
        funder_name: "Council".into(),
        key: witness.vkey(),
    });
    // Listed only by the export: checked, but not witnessed.
    let report = verify(&export, &Trust::default()).unwrap();
    assert_eq!((report.cosignatures, report.unverified_cosignatures), (0, 1));
    assert!(report.witnessed.is_empty());
    // Brought by the verifier: witnessed, up to the checkpoint it cosigned.
    let trusted = Trust {
        witnesses: vec![witness.vkey()],
        require_witness: true,
        ..Trust::default()
    };
    let report = verify(&export, &trusted).unwrap();
    assert_eq!((report.cosignatures, report.unverified_cosignatures), (1, 0));
    let (_, key_id) = super::key_name_and_id(&witness.vkey()).unwrap();
    let council = Witnessed {
        name: "council.example/witness".into(),
        key_id,
        latest: Some(5),
    };
    assert_eq!(report.witnessed, vec![council]);
    let line_start = export.checkpoints[0].rfind('\u{2014}').unwrap();
    let mut forged = export.clone();
    forged.checkpoints[0] =
        export.checkpoints[0][..line_start].to_owned() + &witness.cosign("another text\n", 1_764_547_200);
    let f = failure(&forged, &Trust::default());
    assert!(
        f.message.contains("council.example/witness does not verify"),
        "{}",
        f.message
    );
}

/// The platform lists a witness key of its own under the funder's witness's name and cosigns
/// with it: a verifier holding the funder's real key sees no witness, and with
/// `require_witness` the log does not verify.
#[test]
fn a_witness_key_only_the_export_vouches_for_is_no_witness() {
    let log = log();
    let real = WitnessKey::generate("council.example/witness").unwrap();
    let impostor = WitnessKey::generate("council.example/witness").unwrap();
    let mut export = export(&log, &entries(), &[5]);
    let text = export.checkpoints[0].split_once("\n\n").unwrap().0.to_owned();
    export.checkpoints[0].push_str(&impostor.cosign(&format!("{text}\n"), 1_764_547_200));
    export.witnesses.push(Witness {
        funder_id: "f1".into(),
        funder_name: "Council".into(),
        key: impostor.vkey(),
    });
    let mut trust = Trust {
        witnesses: vec![real.vkey()],
        ..Trust::default()
    };
    let report = verify(&export, &trust).unwrap();
    assert_eq!((report.cosignatures, report.unverified_cosignatures), (0, 1));
    assert_eq!(report.witnessed[0].latest, None);
    trust.require_witness = true;
    let f = failure(&export, &trust);
    assert!(
        f.message
            .contains("lacks council.example/witness's cosignature (it cosigned no checkpoint"),
        "{}",
        f.message
    );
}

/// A witness that stopped cosigning: the report names the last checkpoint it saw, and a
/// verifier that requires it is refused the newer one.
#[test]
fn a_required_witness_must_have_cosigned_the_latest_checkpoint() {
    let log = log();
    let witness = WitnessKey::generate("council.example/witness").unwrap();
    let mut export = export(&log, &entries(), &[2, 5]);
    let text = export.checkpoints[0].split_once("\n\n").unwrap().0.to_owned();
    export.checkpoints[0].push_str(&witness.cosign(&format!("{text}\n"), 1_764_547_200));
    let mut trust = Trust {
        witnesses: vec![witness.vkey()],
        ..Trust::default()
    };
    assert_eq!(verify(&export, &trust).unwrap().witnessed[0].latest, Some(2));
    trust.require_witness = true;
    let f = failure(&export, &trust);
    assert!(
        f.message.contains("the latest checkpoint (tree size 5) lacks council.example/witness's cosignature (the latest it cosigned has tree size 2)"),
        "{}",
        f.message
    );
    // With no witness named, requiring one is refused rather than passed.
    let f = failure(
        &export,
        &Trust {
            require_witness: true,
            ..Trust::default()
        },
    );
    assert!(f.message.contains("no witness key was given"), "{}", f.message);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// For any tree, every inclusion and consistency proof the stored hashes give checks
    /// against the roots, and fails for another leaf or another root.
    #[test]
    fn merkle_proofs_check(leaves in proptest::collection::vec(any::<u32>(), 1..80), picks in any::<(u64, u64, u64)>()) {
        let mut tree = MemoryTree::default();
        for leaf in &leaves {
            tree.push(&leaf.to_be_bytes()).unwrap();
        }
        let n = tree.size();
        let t = 1 + picks.0 % n;
        let i = picks.1 % t;
        let m = 1 + picks.2 % t;
        let root_t = tree.root(t).unwrap();
        let leaf_hash = tlog_tiles::record_hash(&leaves[i as usize].to_be_bytes());
        let proof = tlog_tiles::prove_record(t, i, &tree).unwrap();
        prop_assert!(tlog_tiles::check_record(&proof, t, root_t, i, leaf_hash).is_ok());
        let other = tlog_tiles::record_hash(b"not a leaf");
        prop_assert!(tlog_tiles::check_record(&proof, t, root_t, i, other).is_err());
        let root_m = tree.root(m).unwrap();
        let consistency = tlog_tiles::prove_tree(t, m, &tree).unwrap();
        prop_assert!(tlog_tiles::check_tree(&consistency, t, root_t, m, root_m).is_ok());
        if m < t {
            prop_assert!(tlog_tiles::check_tree(&consistency, t, root_t, m, other).is_err());
        }
        // The stored-hash tree's root is RFC 6962's MTH over the leaves.
        prop_assert_eq!(root_t, reference_root(&leaves[..t as usize]));
    }
}

/// RFC 6962 §2.1's MTH, written out recursively: the reference the stored hashes must match.
fn reference_root(leaves: &[u32]) -> Hash {
    use sha2::{Digest, Sha256};
    if leaves.len() == 1 {
        return tlog_tiles::record_hash(&leaves[0].to_be_bytes());
    }
    let k = leaves.len().next_power_of_two() / 2;
    let (left, right) = (reference_root(&leaves[..k]), reference_root(&leaves[k..]));
    let mut hasher = Sha256::new();
    hasher.update([1]);
    hasher.update(left.0);
    hasher.update(right.0);
    Hash(hasher.finalize().into())
}
