//! One entry of the transparency log: a ledger transfer of public money, in a canonical,
//! pseudonymous form. Pure: no I/O.
//!
//! The bytes of an entry are its canonical JSON (the fields below, in this order, no spaces),
//! and its leaf hash is RFC 6962's `SHA-256(0x00 || bytes)`. An investor appears only as a
//! keyed hash ([`pseudonym`]), so a person's record can later be erased without changing a
//! byte of the log.

use chrono::NaiveDateTime;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The entry format's version.
pub const VERSION: u32 = 1;

/// A ledger transfer that moved public money (a funder's budget, a fund's commitment to an
/// offer, a match reserved, posted or voided, a commitment released, match money allocated as
/// shares).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// [`VERSION`].
    pub v: u32,
    /// The ledger transfer's id (its idempotency key: `commitment:<application>`, ...).
    pub transfer: String,
    /// `budget`, `commitment`, `match`, `release` or `allocation`.
    pub kind: String,
    /// `single` (posted at once), `pending` (reserved), `post` or `void` (resolving `pending`).
    pub phase: String,
    /// For `post` and `void`: the pending transfer resolved.
    pub pending: Option<String>,
    /// The account debited, `<kind>:<owner id>` (`funder:`, `fund:`, `commitment:`, `match:`,
    /// `capital:`).
    pub debit: String,
    /// The account credited.
    pub credit: String,
    /// Pence, > 0.
    pub amount_pence: i64,
    /// The funder whose money it is (none for an allocation, which moves an offer's whole
    /// match).
    pub funder: Option<String>,
    /// The fund.
    pub fund: Option<String>,
    /// The offer (none for a fund's budget).
    pub offer: Option<String>,
    /// For a match: the investor whose pledge it matches, as [`pseudonym`].
    pub investor: Option<String>,
    /// When the transfer was made, UTC, RFC 3339 with microseconds (`2026-12-01T09:30:00.123456Z`).
    pub at: String,
}

const KINDS: [&str; 5] = ["budget", "commitment", "match", "release", "allocation"];
const PHASES: [&str; 4] = ["single", "pending", "post", "void"];

impl Entry {
    /// The entry's bytes in the log.
    pub fn canonical(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads an entry's bytes, refusing anything that is not exactly the canonical form of a
    /// well-formed entry (so two texts never stand for one entry).
    pub fn parse(text: &str) -> Result<Entry, String> {
        let entry: Entry = serde_json::from_str(text).map_err(|e| format!("is not an entry: {e}"))?;
        if entry.canonical() != text {
            return Err("is not in canonical form".into());
        }
        entry.check()?;
        Ok(entry)
    }

    fn check(&self) -> Result<(), String> {
        if self.v != VERSION {
            return Err(format!("has version {}, not {VERSION}", self.v));
        }
        if !KINDS.contains(&self.kind.as_str()) {
            return Err(format!("has an unknown kind {:?}", self.kind));
        }
        if !PHASES.contains(&self.phase.as_str()) {
            return Err(format!("has an unknown phase {:?}", self.phase));
        }
        if self.amount_pence <= 0 {
            return Err("moves no money (amount_pence must be > 0)".into());
        }
        let resolves = matches!(self.phase.as_str(), "post" | "void");
        if resolves != self.pending.is_some() {
            return Err("names a pending transfer if and only if it posts or voids one".into());
        }
        if self.debit == self.credit {
            return Err("debits and credits one account".into());
        }
        chrono::DateTime::parse_from_rfc3339(&self.at).map_err(|_| "has no RFC 3339 time".to_owned())?;
        Ok(())
    }
}

/// The investor's pseudonym in the log: HMAC-SHA256 under the log's pseudonym key, lower-case
/// hex. The same investor has one pseudonym across entries (so caps per investor can be
/// checked), and without the key nobody can tell who it is.
pub fn pseudonym(key: &[u8; 32], investor_id: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(investor_id.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// A transfer's time as entries write it.
pub fn time_text(at: NaiveDateTime) -> String {
    at.and_utc().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Whether a ledger account holds or moves public money: a funder's, a fund's, an application's
/// commitment, or an offer's match.
pub fn is_public_account(account_id: &str) -> bool {
    ["funder:", "fund:", "commitment:", "match:"]
        .iter()
        .any(|prefix| account_id.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(transfer: &str, phase: &str, pending: Option<&str>) -> Entry {
        Entry {
            v: VERSION,
            transfer: transfer.into(),
            kind: "match".into(),
            phase: phase.into(),
            pending: pending.map(str::to_owned),
            debit: "commitment:a1".into(),
            credit: "match:o1".into(),
            amount_pence: 2_500,
            funder: Some("f1".into()),
            fund: Some("fund1".into()),
            offer: Some("o1".into()),
            investor: Some(pseudonym(&[7; 32], "investor-1")),
            at: "2026-12-01T09:30:00.123456Z".into(),
        }
    }

    #[test]
    fn an_entry_reads_back_only_from_its_canonical_bytes() {
        let entry = sample("match:a1:p1:1", "pending", None);
        let text = entry.canonical();
        assert_eq!(Entry::parse(&text).unwrap(), entry);
        let spaced = text.replace(",\"kind\"", ", \"kind\"");
        assert_eq!(Entry::parse(&spaced).unwrap_err(), "is not in canonical form");
        let extra = text.replacen('{', "{\"note\":1,", 1);
        assert!(Entry::parse(&extra).unwrap_err().contains("unknown field"));
        let free = text.replace("2500", "0");
        assert!(Entry::parse(&free).unwrap_err().contains("moves no money"));
        let orphan = sample("x:post", "post", None).canonical();
        assert!(Entry::parse(&orphan).unwrap_err().contains("pending transfer"));
    }

    #[test]
    fn a_pseudonym_is_stable_keyed_and_not_the_id() {
        let (a, b) = (pseudonym(&[1; 32], "user-1"), pseudonym(&[1; 32], "user-1"));
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        assert_ne!(a, pseudonym(&[2; 32], "user-1"));
        assert_ne!(a, pseudonym(&[1; 32], "user-2"));
        assert!(!a.contains("user"));
    }

    #[test]
    fn public_accounts_are_known_by_their_kind() {
        for id in ["funder:f", "fund:f", "commitment:a", "match:o"] {
            assert!(is_public_account(id), "{id}");
        }
        for id in ["escrow:o", "investor:u", "capital:s", "suspense:p", "matchless:x"] {
            assert!(!is_public_account(id), "{id}");
        }
    }
}
