//! argon2id password hashing, run on the blocking pool and bounded by a semaphore so that a
//! burst of logins cannot exhaust memory (each hash holds `argon2_memory_kib`).

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::config::AuthSettings;
use crate::db::spawn_blocking_in_span;
use crate::error::AppError;

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// Verified against when the email is unknown, so that both failures take as long.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        let params = Params::new(
            settings.argon2_memory_kib,
            settings.argon2_iterations,
            settings.argon2_parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let dummy_hash = hash_with(&params, "a password nobody has, for timing")?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(cores * 2)),
            dummy_hash: dummy_hash.into(),
        })
    }

    pub async fn hash(&self, password: SecretString) -> Result<String, AppError> {
        let _permit = self.permit().await?;
        let params = self.params.clone();
        spawn_blocking_in_span(move || hash_with(&params, password.expose_secret()).map_err(AppError::Internal)).await
    }

    /// Checks `password` against `stored` (a PHC string); with no stored hash (unknown user) it
    /// checks against a dummy hash and answers false, taking the same time.
    pub async fn verify(&self, password: SecretString, stored: Option<String>) -> Result<bool, AppError> {
        let _permit = self.permit().await?;
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = spawn_blocking_in_span(move || {
            let parsed = PasswordHash::new(&hash)
                .map_err(|e| AppError::Internal(anyhow::anyhow!("stored password hash unreadable: {e}")))?;
            Ok(Argon2::default()
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok())
        })
        .await?;
        Ok(known && matches)
    }

    async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, AppError> {
        self.permits
            .acquire()
            .await
            .map_err(|_| AppError::Unavailable("password hasher closed".into()))
    }
}

/// Hashes with argon2id and a fresh random salt; the PHC string records the parameters, so
/// changing them in configuration keeps old hashes verifiable.
pub fn hash_with(params: &Params, password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness for a salt: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt encoding: {e}"))?;
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    Ok(hasher
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_salted() {
        let params = Params::new(64, 1, 1, None).unwrap();
        let a = hash_with(&params, "correct horse battery").unwrap();
        let b = hash_with(&params, "correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{a}");
        assert_ne!(a, b);
        let parsed = PasswordHash::new(&a).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse battery", &parsed)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"wrong horse battery", &parsed)
            .is_err());
    }
}

#[cfg(test)]
mod timing_tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// An unknown email must cost a full hash verification, like a wrong password does.
    /// (Structural check with the production parameters, not a benchmark: the unknown-email
    /// path must take at least a third of the wrong-password path.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unknown_users_cost_a_full_verification() {
        let hasher = PasswordHasher::new(&AuthSettings::default()).unwrap();
        let stored = hasher.hash(SecretString::from("the real password")).await.unwrap();
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            assert!(!hasher
                .verify(SecretString::from("a wrong password"), Some(stored.clone()))
                .await
                .unwrap());
            known.push(started.elapsed());
            let started = Instant::now();
            assert!(!hasher
                .verify(SecretString::from("a wrong password"), None)
                .await
                .unwrap());
            unknown.push(started.elapsed());
        }
        known.sort();
        unknown.sort();
        let (known, unknown): (Duration, Duration) = (known[2], unknown[2]);
        assert!(unknown * 3 >= known, "unknown {unknown:?} vs known {known:?}");
        assert!(hasher
            .verify(SecretString::from("the real password"), Some(stored))
            .await
            .unwrap());
    }
}
