//! What every handler and worker shares.

use std::sync::Arc;

use crate::auth::password::PasswordHasher;
use crate::auth::tokens::{load_or_generate_secret, TokenKeys};
use crate::config::Settings;
use crate::db::{migrate, Db};

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub tokens: Arc<TokenKeys>,
    pub passwords: PasswordHasher,
    pub mailer: Arc<crate::notify::delivery::Transport>,
    pub payments: Arc<crate::payments::Payments>,
    /// The transparency log's signing key.
    pub log_key: Arc<crate::transparency::keys::LogKey>,
}

impl AppState {
    /// Connects to the database, applies pending migrations, and loads the signing key.
    pub async fn initialise(settings: Settings) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let s = settings.clone();
        let (db, tokens, passwords, mailer, log_key) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let db = Db::connect(&s.database, s.database_target()?)?;
            let mut conn = db.conn()?;
            let applied = migrate::run_pending(&mut conn)?;
            if applied > 0 {
                tracing::info!(applied, "applied migrations");
            }
            let secret = load_or_generate_secret(&s.auth)?;
            let tokens = TokenKeys::new(&secret, s.auth.access_token_ttl_secs);
            let passwords = PasswordHasher::new(&s.auth)?;
            let mailer = crate::notify::delivery::Transport::from_settings(&s.email)?;
            let log_key = crate::transparency::keys::load_for_log(&mut conn, &s.transparency)?;
            Ok((db, tokens, passwords, mailer, log_key))
        })
        .await??;
        let payments = Arc::new(crate::payments::Payments::new(&settings.stripe));
        Ok(Self {
            db,
            settings,
            tokens: Arc::new(tokens),
            passwords,
            mailer: Arc::new(mailer),
            payments,
            log_key: Arc::new(log_key),
        })
    }
}
