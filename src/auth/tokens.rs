//! Access tokens are JWTs signed with HS256 (the only algorithm accepted when verifying), valid
//! for `auth.access_token_ttl_secs`, naming the user (`sub`) and the refresh family (`sid`) so
//! that logout ends the session at once. Refresh tokens are 256 random bits, stored only as a
//! SHA-256 hash.

use std::path::Path;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::AuthSettings;
use crate::error::AppError;

const ISSUER: &str = "community-shares";
const AUDIENCE: &str = "community-shares-api";

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    access_ttl_secs: i64,
}

impl TokenKeys {
    pub fn new(secret: &SecretString, access_ttl_secs: u64) -> Self {
        let key = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            access_ttl_secs: i64::try_from(access_ttl_secs).unwrap_or(900),
        }
    }

    pub fn access_ttl_secs(&self) -> i64 {
        self.access_ttl_secs
    }

    /// Signs an access token for `user_id` in session (refresh family) `family_id`.
    pub fn issue(&self, user_id: &str, family_id: &str, now: DateTime<Utc>) -> Result<String, AppError> {
        let claims = Claims {
            sub: user_id.to_owned(),
            sid: family_id.to_owned(),
            iat: now.timestamp(),
            exp: now.timestamp() + self.access_ttl_secs,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("cannot sign a token: {e}")))
    }

    /// Verifies signature, algorithm (HS256 only), issuer, audience and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, AppError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| AppError::Unauthorized("the access token is missing, invalid or expired"))
    }
}

/// A new opaque refresh token (256 random bits, URL-safe base64).
pub fn new_refresh_token() -> Result<String, AppError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Internal(anyhow::anyhow!("no randomness: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// What is stored for a refresh token: its SHA-256, hex. (The token has 256 bits of entropy, so
/// a fast hash is enough; a stolen table yields no usable token.)
pub fn hash_refresh_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The signing key: from configuration, or (where the profile allows) generated once and kept
/// in `auth.secret_file` ([`kept_secret`]).
pub fn load_or_generate_secret(settings: &AuthSettings) -> anyhow::Result<SecretString> {
    if let Some(secret) = &settings.jwt_secret {
        return Ok(secret.clone());
    }
    kept_secret(&settings.secret_file, "a token signing secret", || {
        let mut bytes = [0u8; 48];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for a secret: {e}"))?;
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    })
}

/// The secret kept in `path` (at least 32 bytes), or, when there is none, one made by `make`
/// and written there with owner-only permissions. Several instances starting together agree
/// on one file: the first to create it wins and the others read it.
pub fn kept_secret(
    path: &Path,
    what: &str,
    make: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<SecretString> {
    if let Some(secret) = read_secret_file(path)? {
        return Ok(secret);
    }
    let secret = make()?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            std::io::Write::write_all(&mut file, secret.as_bytes())?;
            file.sync_all()?;
            tracing::info!(file = %path.display(), "generated {what}");
            Ok(SecretString::from(secret))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // Another instance created it between our read and our create.
            std::thread::sleep(std::time::Duration::from_millis(50));
            read_secret_file(path)?.ok_or_else(|| anyhow::anyhow!("{} is empty", path.display()))
        }
        Err(e) => Err(anyhow::anyhow!("cannot write {}: {e}", path.display())),
    }
}

fn read_secret_file(path: &Path) -> anyhow::Result<Option<SecretString>> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().len() >= 32 => Ok(Some(SecretString::from(text.trim().to_owned()))),
        Ok(text) if text.trim().is_empty() => Ok(None),
        Ok(_) => Err(anyhow::anyhow!(
            "{} holds a secret shorter than 32 bytes",
            path.display()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(&SecretString::from("0123456789abcdef0123456789abcdef"), 900)
    }

    #[test]
    fn a_token_verifies_with_its_claims() {
        let keys = keys();
        let token = keys.issue("user-1", "family-1", Utc::now()).unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!(claims.sub, "user-1");
        assert_eq!(claims.sid, "family-1");
    }

    #[test]
    fn expired_tokens_and_other_algorithms_are_refused() {
        let keys = keys();
        let old = keys.issue("u", "f", Utc::now() - chrono::Duration::hours(1)).unwrap();
        assert!(keys.verify(&old).is_err());
        let claims = Claims {
            sub: "u".into(),
            sid: "f".into(),
            iat: Utc::now().timestamp(),
            exp: Utc::now().timestamp() + 60,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .unwrap();
        assert!(keys.verify(&hs512).is_err());
        let other_key = TokenKeys::new(&SecretString::from("another secret of thirty-two bytes!"), 900);
        assert!(keys.verify(&other_key.issue("u", "f", Utc::now()).unwrap()).is_err());
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let a = new_refresh_token().unwrap();
        let b = new_refresh_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash_refresh_token(&a).len(), 64);
        assert_eq!(hash_refresh_token(&a), hash_refresh_token(&a));
    }
}
