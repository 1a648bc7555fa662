//! The log's signing key and the funders' witness keys, in the C2SP formats: a checkpoint is a
//! signed note (<https://c2sp.org/signed-note>, Ed25519, algorithm byte `0x01`) and a witness
//! cosignature is a `cosignature/v1` signature (<https://c2sp.org/tlog-cosignature>, algorithm
//! byte `0x04`: Ed25519 over `"cosignature/v1\ntime <t>\n" || checkpoint text`, encoded as the
//! 8-byte big-endian time followed by the 64-byte signature). Keys are written as C2SP vkeys
//! (`<name>+<key id, 8 hex>+<base64(alg || public key)>`) and private keys as
//! `PRIVATE+KEY+<name>+<key id>+<base64(alg || seed)>`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use signed_note::{Note, StandardSigner, StandardVerifier};
use tlog_tiles::{Checkpoint, Hash};

const ALG_ED25519: u8 = 0x01;
const ALG_COSIGNATURE_V1: u8 = 0x04;

fn key_id(name: &str, alg: u8, public: &VerifyingKey) -> u32 {
    let key = [&[alg][..], public.as_bytes()].concat();
    signed_note::key_id(name, &key)
}

fn vkey(name: &str, alg: u8, public: &VerifyingKey) -> String {
    let key = [&[alg][..], public.as_bytes()].concat();
    format!("{name}+{:08x}+{}", key_id(name, alg, public), BASE64.encode(key))
}

/// The log's own key: signs checkpoints under the log's origin, and derives the key of the
/// investors' pseudonyms.
pub struct LogKey {
    origin: String,
    signer: StandardSigner,
    vkey: String,
    pseudonym_key: [u8; 32],
}

impl LogKey {
    /// The key whose Ed25519 seed is `seed`, named by the log's `origin` (C2SP: the key name is
    /// the origin).
    pub fn from_seed(origin: &str, seed: &[u8; 32]) -> Result<Self, String> {
        if !signed_note::is_key_name_valid(origin) {
            return Err(format!("{origin:?} cannot name a key (no spaces or '+')"));
        }
        let signing = SigningKey::from_bytes(seed);
        let public = signing.verifying_key();
        let id = key_id(origin, ALG_ED25519, &public);
        let skey = format!(
            "PRIVATE+KEY+{origin}+{id:08x}+{}",
            BASE64.encode([&[ALG_ED25519][..], seed].concat())
        );
        let signer = StandardSigner::new(&skey).map_err(|e| format!("log key: {e}"))?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(seed).expect("HMAC takes any key length");
        mac.update(b"community-shares transparency investor pseudonym v1");
        Ok(Self {
            origin: origin.to_owned(),
            signer,
            vkey: vkey(origin, ALG_ED25519, &public),
            pseudonym_key: mac.finalize().into_bytes().into(),
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The public key anyone verifies checkpoints with (a C2SP vkey).
    pub fn vkey(&self) -> &str {
        &self.vkey
    }

    pub fn pseudonym_key(&self) -> &[u8; 32] {
        &self.pseudonym_key
    }

    /// A signed checkpoint (C2SP tlog-checkpoint as a signed note) of the tree of `size`
    /// entries whose root is `root`.
    pub fn sign_checkpoint(&self, size: u64, root: Hash) -> Result<String, String> {
        let checkpoint = Checkpoint::new(&self.origin, size, root, "").map_err(|e| e.to_string())?;
        let mut note = Note::new(&checkpoint.to_bytes(), &[]).map_err(|e| e.to_string())?;
        note.add_sigs(&[&self.signer]).map_err(|e| e.to_string())?;
        String::from_utf8(note.to_bytes()).map_err(|e| e.to_string())
    }
}

/// The 32-byte seed written as base64 (`transparency.signing_key`, the key file).
pub fn seed_from_text(text: &str) -> Result<[u8; 32], String> {
    BASE64
        .decode(text.trim())
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| "must be 32 bytes in base64 (e.g. `openssl rand -base64 32`)".to_owned())
}

/// The log's key from configuration, or (where the profile allows) generated once and kept in
/// `transparency.key_file`.
pub fn load_log_key(settings: &crate::config::TransparencySettings) -> anyhow::Result<LogKey> {
    use secrecy::ExposeSecret;
    let text = match &settings.signing_key {
        Some(key) => key.clone(),
        None => crate::auth::tokens::kept_secret(&settings.key_file, "a transparency log key", || {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness for a key: {e}"))?;
            Ok(BASE64.encode(seed))
        })?,
    };
    let seed = seed_from_text(text.expose_secret())
        .map_err(|e| anyhow::anyhow!("transparency log key ({}): {e}", settings.key_file.display()))?;
    LogKey::from_seed(&settings.origin, &seed).map_err(|e| anyhow::anyhow!(e))
}

/// The log's key for a server over this database: as [`load_log_key`], but never made anew
/// over a log that has signed checkpoints, and never one that did not sign the latest of them.
/// Either would sign the old history with a new key, silently, and every outsider holding a
/// checkpoint would then see a log that no longer verifies. Both stop the start with one line
/// naming `transparency.signing_key` (exit 2). (A key cannot be rotated over an existing log:
/// that would need a rotation entry signed by the old key, which is not built.)
pub fn load_for_log(
    conn: &mut crate::db::DbConnection,
    settings: &crate::config::TransparencySettings,
) -> anyhow::Result<LogKey> {
    use crate::config::ConfigError;
    let size = super::store::tree_size(conn)?;
    let latest = super::store::latest_checkpoint(conn)?;
    let key_file_holds_a_key = std::fs::read_to_string(&settings.key_file).is_ok_and(|text| !text.trim().is_empty());
    if latest.is_some() && settings.signing_key.is_none() && !key_file_holds_a_key {
        return Err(ConfigError::new(
            "transparency.signing_key",
            format!(
                "the transparency log holds {size} entries signed by its key, and no key is set nor kept in {}; \
                 a log's key is never made anew: set CS__TRANSPARENCY__SIGNING_KEY to the key that signed it, \
                 or restore that file",
                settings.key_file.display()
            ),
        )
        .into());
    }
    let key = load_log_key(settings)?;
    if let Some(note) = latest {
        if !signed_by(&note, &key) {
            return Err(ConfigError::new(
                "transparency.signing_key",
                format!(
                    "this key did not sign the transparency log's latest checkpoint ({size} entries); a log's key \
                     is never replaced: set CS__TRANSPARENCY__SIGNING_KEY (or {}) to the key that signed it",
                    settings.key_file.display()
                ),
            )
            .into());
        }
    }
    Ok(key)
}

/// Whether the log's signature on the checkpoint `note` verifies with `key`.
fn signed_by(note: &str, key: &LogKey) -> bool {
    let Ok(verifier) = log_verifier(key.vkey()) else {
        return false;
    };
    let verifiers = signed_note::VerifierList::new(vec![Box::new(verifier)]);
    Note::from_bytes(note.as_bytes())
        .ok()
        .and_then(|note| note.verify(&verifiers).ok())
        .is_some_and(|(verified, _)| verified.iter().any(|s| s.name() == key.origin()))
}

/// A verifier of the log's checkpoints from its vkey.
pub fn log_verifier(vkey: &str) -> Result<StandardVerifier, String> {
    StandardVerifier::new(vkey).map_err(|e| format!("not a log key (C2SP Ed25519 vkey): {e}"))
}

/// A witness's key for `cosignature/v1`.
pub struct WitnessKey {
    name: String,
    id: u32,
    signing: SigningKey,
}

impl WitnessKey {
    /// A new key named `name` (a witness names itself, e.g. `council.example.gov.uk/witness`).
    pub fn generate(name: &str) -> Result<Self, String> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| format!("no randomness for a key: {e}"))?;
        Self::from_seed(name, &seed)
    }

    fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, String> {
        if !signed_note::is_key_name_valid(name) {
            return Err(format!("{name:?} cannot name a key (no spaces or '+')"));
        }
        let signing = SigningKey::from_bytes(seed);
        let id = key_id(name, ALG_COSIGNATURE_V1, &signing.verifying_key());
        Ok(Self {
            name: name.to_owned(),
            id,
            signing,
        })
    }

    /// Reads a private key written by [`WitnessKey::private_text`].
    pub fn parse(skey: &str) -> Result<Self, String> {
        let bad = || "not a witness private key (PRIVATE+KEY+<name>+<id>+<base64>)".to_owned();
        let rest = skey.trim().strip_prefix("PRIVATE+KEY+").ok_or_else(bad)?;
        let (name, id, seed) = cosignature_key_parts(rest).ok_or_else(bad)?;
        let key = Self::from_seed(name, &seed)?;
        if format!("{:08x}", key.id) != id {
            return Err("the witness key's id does not match its key".into());
        }
        Ok(key)
    }

    pub fn private_text(&self) -> String {
        let bytes = [&[ALG_COSIGNATURE_V1][..], self.signing.as_bytes()].concat();
        format!("PRIVATE+KEY+{}+{:08x}+{}", self.name, self.id, BASE64.encode(bytes))
    }

    pub fn vkey(&self) -> String {
        vkey(&self.name, ALG_COSIGNATURE_V1, &self.signing.verifying_key())
    }

    /// The cosignature line (`— <name> <base64>`) of `checkpoint_text` (the note's text, without
    /// signatures) at `time` (Unix seconds).
    pub fn cosign(&self, checkpoint_text: &str, time: u64) -> String {
        let signature = self.signing.sign(&cosigned_message(checkpoint_text.as_bytes(), time));
        let mut bytes = self.id.to_be_bytes().to_vec();
        bytes.extend(time.to_be_bytes());
        bytes.extend(signature.to_bytes());
        format!("\u{2014} {} {}\n", self.name, BASE64.encode(bytes))
    }
}

/// The parts of a `cosignature/v1` key's text `<name>+<id>+<base64(0x04 || 32 bytes)>` (the
/// public vkey, and the private key after its `PRIVATE+KEY+`): name, hex id, the 32 key bytes.
/// Names hold no '+' and base64 may, so it splits from the left.
fn cosignature_key_parts(text: &str) -> Option<(&str, &str, [u8; 32])> {
    let mut parts = text.splitn(3, '+');
    let (name, id, key) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = BASE64.decode(key).ok()?;
    match bytes.split_first() {
        Some((&ALG_COSIGNATURE_V1, key)) => Some((name, id, key.try_into().ok()?)),
        _ => None,
    }
}

fn cosigned_message(text: &[u8], time: u64) -> Vec<u8> {
    let mut message = format!("cosignature/v1\ntime {time}\n").into_bytes();
    message.extend_from_slice(text);
    message
}

/// Checks `cosignature/v1` signatures of one witness (a [`signed_note::Verifier`]).
#[derive(Clone)]
pub struct WitnessVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl WitnessVerifier {
    /// From a witness's vkey (`<name>+<id>+<base64(0x04 || key)>`).
    pub fn new(vkey: &str) -> Result<Self, String> {
        let bad = || "not a witness key (C2SP cosignature/v1 vkey: <name>+<id>+<base64>)".to_owned();
        let (name, id, public) = cosignature_key_parts(vkey.trim()).ok_or_else(bad)?;
        let key = VerifyingKey::from_bytes(&public).map_err(|_| bad())?;
        let expected = key_id(name, ALG_COSIGNATURE_V1, &key);
        if !signed_note::is_key_name_valid(name) || format!("{expected:08x}") != id {
            return Err("the witness key's id does not match its name and key".into());
        }
        Ok(Self {
            name: name.to_owned(),
            id: expected,
            key,
        })
    }

    /// The time (Unix seconds) a cosignature was made, from its signature bytes.
    pub fn time_of(signature: &[u8]) -> Option<u64> {
        Some(u64::from_be_bytes(signature.get(..8)?.try_into().ok()?))
    }
}

impl signed_note::Verifier for WitnessVerifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let (Some(time), Some(signature)) = (Self::time_of(sig), sig.get(8..)) else {
            return false;
        };
        let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        self.key.verify(&cosigned_message(msg, time), &signature).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signed_note::{Verifier as _, VerifierList};

    #[test]
    fn a_checkpoint_is_a_signed_note_the_log_key_verifies() {
        let log = LogKey::from_seed("shares.example.org/log", &[3; 32]).unwrap();
        let note = log.sign_checkpoint(5, Hash([9; 32])).unwrap();
        let (text, signature) = note.split_once("\n\n").unwrap();
        assert_eq!(text, format!("shares.example.org/log\n5\n{}", BASE64.encode([9; 32])));
        assert!(signature.starts_with("\u{2014} shares.example.org/log "));
        let verifier = log_verifier(log.vkey()).unwrap();
        let parsed = Note::from_bytes(note.as_bytes()).unwrap();
        parsed.verify(&VerifierList::new(vec![Box::new(verifier)])).unwrap();
        let forged = note.replace("\n5\n", "\n6\n");
        let forged = Note::from_bytes(forged.as_bytes()).unwrap();
        let verifier = log_verifier(log.vkey()).unwrap();
        assert!(forged.verify(&VerifierList::new(vec![Box::new(verifier)])).is_err());
    }

    #[test]
    fn a_cosignature_verifies_with_the_witness_key_only() {
        let witness = WitnessKey::from_seed("council.example/witness", &[5; 32]).unwrap();
        let reread = WitnessKey::parse(&witness.private_text()).unwrap();
        assert_eq!(reread.vkey(), witness.vkey());
        let text = "log\n3\nAAAA\n";
        let line = witness.cosign(text, 1_764_547_200);
        let verifier = WitnessVerifier::new(&witness.vkey()).unwrap();
        let encoded = line.trim_end().rsplit(' ').next().unwrap();
        let bytes = BASE64.decode(encoded).unwrap();
        assert_eq!(u32::from_be_bytes(bytes[..4].try_into().unwrap()), verifier.key_id());
        assert_eq!(WitnessVerifier::time_of(&bytes[4..]), Some(1_764_547_200));
        assert!(verifier.verify(text.as_bytes(), &bytes[4..]));
        assert!(!verifier.verify(b"log\n4\nAAAA\n", &bytes[4..]));
        let other = WitnessKey::from_seed("council.example/witness", &[6; 32]).unwrap();
        assert!(WitnessVerifier::new(&other.vkey()).is_ok());
        assert!(!WitnessVerifier::new(&other.vkey())
            .unwrap()
            .verify(text.as_bytes(), &bytes[4..]));
        assert!(WitnessVerifier::new("council+00000000+AAAA").is_err());
    }
}
