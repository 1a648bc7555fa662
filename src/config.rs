//! Typed configuration: built-in defaults ← `config/default.toml` ← `config/$CS_PROFILE.toml` ←
//! environment (`CS__SECTION__KEY`). Loaded and validated once at start; a bad value is reported
//! as one line naming the key (the binary exits with code 2).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

/// The whole configuration. Every section has defaults, so an empty environment is valid.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub jobs: JobSettings,
    pub log: LogSettings,
    pub auth: AuthSettings,
    pub offers: OfferSettings,
    pub pledges: PledgeSettings,
    pub email: EmailSettings,
    pub stripe: StripeSettings,
    pub metrics: MetricsSettings,
    pub transparency: TransparencySettings,
    pub open_data: OpenDataSettings,
    pub governance: GovernanceSettings,
}

/// Who may act for an organisation (see [`crate::domain::governance`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GovernanceSettings {
    /// An admin a requester brought in (invited, or agreed to) may be the second person on the
    /// requester's decisions only once they had been an admin this many days when the request
    /// was made.
    pub admin_cooling_off_days: i64,
}

impl Default for GovernanceSettings {
    fn default() -> Self {
        Self {
            admin_cooling_off_days: 7,
        }
    }
}

impl GovernanceSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(0..=90).contains(&self.admin_cooling_off_days) {
            return Err(ConfigError::new(
                "governance.admin_cooling_off_days",
                "must be between 0 and 90",
            ));
        }
        Ok(())
    }

    pub fn cooling_off(&self) -> chrono::Duration {
        chrono::Duration::days(self.admin_cooling_off_days)
    }
}

/// The 360Giving open data (see [`crate::services::open_data`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenDataSettings {
    /// The publisher prefix 360Giving registers for the platform (`360G-...`): records are
    /// `<prefix>-match-<application id>`.
    pub grant_prefix: String,
    /// Who publishes the platform-wide package.
    pub publisher_name: String,
    pub publisher_website: Option<String>,
    /// The licence of the platform-wide package, and of a fund's package when its funder sets
    /// none (an open licence's canonical URL).
    pub licence_url: String,
}

impl Default for OpenDataSettings {
    fn default() -> Self {
        Self {
            grant_prefix: "360G-communityshares".into(),
            publisher_name: "Community Shares".into(),
            publisher_website: None,
            licence_url: "https://creativecommons.org/licenses/by/4.0/".into(),
        }
    }
}

/// The transparency log of public money (see [`crate::transparency`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransparencySettings {
    /// The log's name: the first line of every checkpoint and the name of its key (C2SP
    /// tlog-checkpoint: a schema-less URL, e.g. `shares.example.org/transparency`).
    pub origin: String,
    /// The log's Ed25519 key: 32 random bytes, base64. Unset where the profile allows it: one
    /// is generated and kept in `key_file`. Several instances must share it.
    pub signing_key: Option<SecretString>,
    /// Where a generated key is kept between starts.
    pub key_file: PathBuf,
    /// How often the sequencer adds what is queued to the tree and signs a checkpoint.
    pub checkpoint_interval_secs: u64,
    /// Set from the profile: the `production` profile needs `signing_key`.
    #[serde(skip)]
    pub require_key: bool,
}

impl Default for TransparencySettings {
    fn default() -> Self {
        Self {
            origin: "localhost/community-shares/transparency".into(),
            signing_key: None,
            key_file: PathBuf::from("data/transparency-key"),
            checkpoint_interval_secs: 10,
            require_key: false,
        }
    }
}

/// Prometheus metrics (see [`crate::metrics`]): off unless `bind` is set; then `GET /metrics`
/// is served on that address only, never on the public listener.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Address and port of the metrics listener (e.g. `127.0.0.1:9464`; port 0 picks one).
    pub bind: Option<String>,
}

/// Card payments through Stripe: off unless `secret_key` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StripeSettings {
    /// The secret API key (`sk_live_...` / `sk_test_...`). Unset: card payments are off.
    pub secret_key: Option<SecretString>,
    /// The webhook endpoint's signing secret (`whsec_...`); required when `secret_key` is set.
    pub webhook_secret: Option<SecretString>,
    /// The publishable key (`pk_live_...` / `pk_test_...`), public by design: the investor page
    /// hands it to Stripe.js to take card details. Without it the page offers bank transfer
    /// only (the API still takes card pledges from other clients).
    pub publishable_key: Option<String>,
    /// Where the Stripe API is (a local fake in tests).
    pub api_base: String,
    /// Longest wait for one Stripe call.
    pub timeout_secs: u64,
    /// A card pledge (or card refund) with no final state this long after it was made (or last
    /// looked at) is looked up in Stripe by the reconciliation job.
    pub reconcile_after_secs: u64,
    /// Accepted age of a webhook's signed timestamp.
    pub webhook_tolerance_secs: u64,
}

impl Default for StripeSettings {
    fn default() -> Self {
        Self {
            secret_key: None,
            webhook_secret: None,
            publishable_key: None,
            api_base: "https://api.stripe.com/".into(),
            timeout_secs: 10,
            reconcile_after_secs: 600,
            webhook_tolerance_secs: 300,
        }
    }
}

impl StripeSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        use secrecy::ExposeSecret;
        let set = |s: &Option<SecretString>| s.as_ref().is_some_and(|v| !v.expose_secret().trim().is_empty());
        if set(&self.secret_key) && !set(&self.webhook_secret) {
            return Err(ConfigError::new(
                "stripe.webhook_secret",
                "is required when stripe.secret_key is set (payments are confirmed by signed webhooks)",
            ));
        }
        if let Some(key) = &self.publishable_key {
            if !key.starts_with("pk_") || key.len() > 255 || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(ConfigError::new(
                    "stripe.publishable_key",
                    "must be a Stripe publishable key (pk_...)",
                ));
            }
            if !set(&self.secret_key) {
                return Err(ConfigError::new(
                    "stripe.publishable_key",
                    "is set but stripe.secret_key is not (card payments need both)",
                ));
            }
        }
        if !(self.api_base.starts_with("https://") || self.api_base.starts_with("http://"))
            || self.api_base.parse::<actix_web::http::Uri>().is_err()
        {
            return Err(ConfigError::new("stripe.api_base", "must be an http(s) URL"));
        }
        if self.timeout_secs == 0 {
            return Err(ConfigError::new("stripe.timeout_secs", "must be at least 1"));
        }
        if self.reconcile_after_secs == 0 {
            return Err(ConfigError::new("stripe.reconcile_after_secs", "must be at least 1"));
        }
        if self.webhook_tolerance_secs == 0 {
            return Err(ConfigError::new("stripe.webhook_tolerance_secs", "must be at least 1"));
        }
        Ok(())
    }

    /// Whether card payments are on.
    pub fn card_enabled(&self) -> bool {
        use secrecy::ExposeSecret;
        self.secret_key
            .as_ref()
            .is_some_and(|v| !v.expose_secret().trim().is_empty())
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EmailTransport {
    File,
    Smtp,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain SMTP (a local relay).
    None,
    /// STARTTLS, required.
    Starttls,
    /// Implicit TLS (port 465).
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailSettings {
    pub transport: EmailTransport,
    /// Where the file transport writes `.eml` files.
    pub file_dir: PathBuf,
    /// The From address, e.g. `Community Shares <no-reply@example.org>`.
    pub from: String,
    /// Tries before an email is dead (listed to platform admins for a retry).
    pub max_attempts: u32,
    /// First retry after about this long; each further one waits twice as long (at most 1 h).
    pub retry_base_secs: u64,
    /// How long a worker holds an email it is sending before another may take it.
    pub lease_secs: u64,
    pub smtp: SmtpSettings,
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self {
            transport: EmailTransport::File,
            file_dir: PathBuf::from("data/outbox"),
            from: "Community Shares <no-reply@localhost>".into(),
            max_attempts: 8,
            retry_base_secs: 30,
            lease_secs: 60,
            smtp: SmtpSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub timeout_secs: u64,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            host: "localhost".into(),
            port: 587,
            tls: SmtpTls::Starttls,
            username: None,
            password: None,
            timeout_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PledgeSettings {
    /// An unpaid pledge expires this many days after it is made.
    pub payment_deadline_days: i64,
    /// Largest bank statement file (CSV or OFX) accepted by the import, in bytes: 4 MiB by
    /// default, room for 10,000 lines of the widest UK export (Monzo's, about 1.5 MiB).
    pub import_limit_bytes: usize,
}

impl Default for PledgeSettings {
    fn default() -> Self {
        Self {
            payment_deadline_days: 7,
            import_limit_bytes: 4 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OfferSettings {
    /// The statutory cap on one person's withdrawable shares in a society (£100,000).
    pub individual_cap_pence: i64,
    /// Longest an offer may stay open.
    pub max_days: i64,
    /// Longest cooling-off period an offer may promise.
    pub max_cooling_off_days: i64,
    /// Cooling-off period when an offer does not set one (no statute sets one).
    pub default_cooling_off_days: i64,
}

impl Default for OfferSettings {
    fn default() -> Self {
        Self {
            individual_cap_pence: 10_000_000,
            max_days: 180,
            max_cooling_off_days: 30,
            default_cooling_off_days: 14,
        }
    }
}

impl OfferSettings {
    pub fn policy(&self) -> crate::domain::offer::TermsPolicy {
        crate::domain::offer::TermsPolicy {
            individual_cap: crate::domain::money::Pence::new(self.individual_cap_pence),
            max_days: self.max_days,
            max_cooling_off_days: self.max_cooling_off_days,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port to listen on; port 0 picks a free port (used by the tests).
    pub bind: String,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Largest request body accepted, in bytes; larger bodies get 413.
    pub body_limit_bytes: usize,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// Addresses of reverse proxies whose `X-Forwarded-For` is believed when finding a client's
    /// address (for login throttling). Empty: the TCP peer is the client. In the environment, a
    /// comma-separated list.
    #[serde(deserialize_with = "ip_list")]
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            workers: 0,
            body_limit_bytes: 64 * 1024,
            shutdown_timeout_secs: 30,
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://relative/path.db`, `sqlite:///absolute/path.db` or `postgres://...`.
    /// Held as a secret because a PostgreSQL URL may carry a password.
    pub url: SecretString,
    /// Connections in the pool.
    pub pool_size: u32,
    /// How long a request waits for a free connection before 503.
    pub pool_timeout_ms: u64,
    /// SQLite only: how long a writer waits for the write lock before giving up.
    pub sqlite_busy_timeout_ms: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: SecretString::from("sqlite://data/community-shares.db"),
            pool_size: 10,
            pool_timeout_ms: 5_000,
            sqlite_busy_timeout_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobSettings {
    /// Scheduler tick in milliseconds.
    pub tick_ms: u64,
    /// How often to look for offers closing within 48 hours (0: every tick).
    pub reminder_interval_secs: u64,
    /// Pledges (or matches) allocated or refunded per close-out step (one transaction each).
    pub closeout_batch: i64,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            tick_ms: 1_000,
            reminder_interval_secs: 60,
            closeout_batch: 500,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter directive, e.g. `info` or `info,community_shares=debug`.
    pub filter: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// HMAC key for access tokens (at least 32 bytes). When unset and
    /// `generate_secret_if_missing` is true, one is generated and kept in `secret_file`.
    pub jwt_secret: Option<SecretString>,
    /// Whether a missing `jwt_secret` may be generated (the default profile); a production
    /// profile sets this to false and refuses to start without a secret.
    pub generate_secret_if_missing: bool,
    /// Where a generated secret is kept between starts.
    pub secret_file: PathBuf,
    /// Lifetime of an access token.
    pub access_token_ttl_secs: u64,
    /// Lifetime of a refresh token (each use rotates it).
    pub refresh_token_ttl_secs: u64,
    /// argon2id memory cost in KiB.
    pub argon2_memory_kib: u32,
    /// argon2id passes.
    pub argon2_iterations: u32,
    /// argon2id lanes.
    pub argon2_parallelism: u32,
    /// Failed logins allowed per email, and per client address, in one window.
    pub login_max_failures: u32,
    /// The throttling window.
    pub login_window_secs: u64,
    /// Anonymous writes (registrations) allowed per client address in one window; more are 429.
    pub anonymous_writes_max: u32,
    /// That window.
    pub anonymous_writes_window_secs: u64,
    /// Set from the profile, not from a key: the `production` profile always needs a secret.
    #[serde(skip)]
    pub require_secret: bool,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            generate_secret_if_missing: true,
            secret_file: PathBuf::from("data/jwt-secret"),
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            // OWASP's second recommended argon2id configuration (19 MiB, 2 passes, 1 lane).
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            login_max_failures: 10,
            login_window_secs: 15 * 60,
            // Generous: a launch evening in a village hall is dozens of people signing up on one
            // address. A script making accounts runs into it within seconds.
            anonymous_writes_max: 120,
            anonymous_writes_window_secs: 10 * 60,
            require_secret: false,
        }
    }
}

/// A configuration problem: the key it concerns and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Which database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Settings {
    /// Loads the layered configuration from `config_dir` (files are optional), `CS_PROFILE` and
    /// the environment, then validates it.
    pub fn load(config_dir: &Path) -> Result<Self, ConfigError> {
        let profile = std::env::var("CS_PROFILE").unwrap_or_else(|_| "default".into());
        Self::load_from(config_dir, &profile, std::env::vars())
    }

    /// As [`Settings::load`], with the profile and the environment given (for tests).
    pub fn load_from(
        config_dir: &Path,
        profile: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        if profile.is_empty()
            || !profile
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ConfigError::new("CS_PROFILE", "must be letters, digits, '-' or '_'"));
        }
        let env: config::Map<String, String> = vars.into_iter().filter(|(k, _)| k.starts_with("CS__")).collect();
        let mut builder =
            config::Config::builder().add_source(config::File::from(config_dir.join("default.toml")).required(false));
        if profile != "default" {
            let file = config_dir.join(format!("{profile}.toml"));
            if !file.exists() {
                return Err(ConfigError::new(
                    "CS_PROFILE",
                    format!("profile {profile:?} has no file {}", file.display()),
                ));
            }
            builder = builder.add_source(config::File::from(file));
        }
        let built = builder
            .add_source(
                config::Environment::with_prefix("CS")
                    .prefix_separator("__")
                    .separator("__")
                    .source(Some(env)),
            )
            .build()
            .map_err(describe_config_error)?;
        let mut settings: Settings = built.try_deserialize().map_err(describe_config_error)?;
        settings.auth.require_secret = profile == "production";
        settings.transparency.require_key = profile == "production";
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.server
            .bind
            .parse::<SocketAddr>()
            .map_err(|e| ConfigError::new("server.bind", format!("{e} (expected host:port, e.g. 127.0.0.1:8080)")))?;
        if self.server.body_limit_bytes < 1024 {
            return Err(ConfigError::new("server.body_limit_bytes", "must be at least 1024"));
        }
        self.database_target()?;
        if self.database.pool_size == 0 {
            return Err(ConfigError::new("database.pool_size", "must be at least 1"));
        }
        if self.jobs.tick_ms == 0 {
            return Err(ConfigError::new("jobs.tick_ms", "must be at least 1"));
        }
        if !(1..=10_000).contains(&self.jobs.closeout_batch) {
            return Err(ConfigError::new("jobs.closeout_batch", "must be between 1 and 10000"));
        }
        if self.offers.individual_cap_pence < 1 {
            return Err(ConfigError::new("offers.individual_cap_pence", "must be at least 1"));
        }
        if self.offers.max_days < 1 {
            return Err(ConfigError::new("offers.max_days", "must be at least 1"));
        }
        if !(0..=self.offers.max_cooling_off_days).contains(&self.offers.default_cooling_off_days) {
            return Err(ConfigError::new(
                "offers.default_cooling_off_days",
                "must be between 0 and offers.max_cooling_off_days",
            ));
        }
        self.governance.validate()?;
        if !(1..=60).contains(&self.pledges.payment_deadline_days) {
            return Err(ConfigError::new(
                "pledges.payment_deadline_days",
                "must be between 1 and 60",
            ));
        }
        if self.email.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::new(
                "email.from",
                "must be an address, e.g. Community Shares <no-reply@example.org>",
            ));
        }
        if self.email.max_attempts == 0 {
            return Err(ConfigError::new("email.max_attempts", "must be at least 1"));
        }
        if self.email.lease_secs == 0 {
            return Err(ConfigError::new("email.lease_secs", "must be at least 1"));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.filter)
            .map_err(|e| ConfigError::new("log.filter", e.to_string()))?;
        self.stripe.validate()?;
        if let Some(bind) = &self.metrics.bind {
            let address = bind.parse::<SocketAddr>().map_err(|e| {
                ConfigError::new("metrics.bind", format!("{e} (expected host:port, e.g. 127.0.0.1:9464)"))
            })?;
            if address.port() != 0 && bind == &self.server.bind {
                return Err(ConfigError::new(
                    "metrics.bind",
                    "must differ from server.bind: metrics stay off the public listener",
                ));
            }
        }
        self.auth.validate()?;
        self.open_data_and_transparency()
    }

    /// The open data's prefix and addresses, the transparency log's origin and key.
    fn open_data_and_transparency(&self) -> Result<(), ConfigError> {
        if !self.open_data.grant_prefix.starts_with("360G-")
            || !self.open_data.grant_prefix[5..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            || self.open_data.grant_prefix.len() < 6
        {
            return Err(ConfigError::new(
                "open_data.grant_prefix",
                "must be a 360Giving prefix: 360G- then letters, digits, '-' or '_'",
            ));
        }
        for (key, url) in [
            ("open_data.licence_url", Some(&self.open_data.licence_url)),
            ("open_data.publisher_website", self.open_data.publisher_website.as_ref()),
        ] {
            if url.is_some_and(|u| !crate::domain::identity::is_web_address(u)) {
                return Err(ConfigError::new(key, "must be an http(s) address"));
            }
        }
        if !signed_note::is_key_name_valid(&self.transparency.origin) {
            return Err(ConfigError::new(
                "transparency.origin",
                "must be a name without spaces or '+' (e.g. shares.example.org/transparency)",
            ));
        }
        if let Some(key) = &self.transparency.signing_key {
            crate::transparency::keys::seed_from_text(secrecy::ExposeSecret::expose_secret(key))
                .map_err(|e| ConfigError::new("transparency.signing_key", e))?;
        }
        if self.transparency.require_key && self.transparency.signing_key.is_none() {
            return Err(ConfigError::new(
                "transparency.signing_key",
                "is required (set CS__TRANSPARENCY__SIGNING_KEY to 32 random bytes in base64, e.g. `openssl rand -base64 32`); this profile does not generate one",
            ));
        }
        Ok(())
    }

    /// Parses `database.url` into the backend it names.
    pub fn database_target(&self) -> Result<DatabaseTarget, ConfigError> {
        use secrecy::ExposeSecret;
        let url = self.database.url.expose_secret();
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() || path.contains(":memory:") {
                return Err(ConfigError::new(
                    "database.url",
                    "a SQLite URL needs a file path (sqlite://data/community-shares.db); in-memory databases are not supported",
                ));
            }
            Ok(DatabaseTarget::Sqlite(PathBuf::from(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseTarget::Postgres(url.to_owned()))
        } else {
            // The value itself is not echoed: it may hold a password.
            Err(ConfigError::new(
                "database.url",
                "must start with sqlite:// or postgres://",
            ))
        }
    }
}

impl AuthSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        use secrecy::ExposeSecret;
        match &self.jwt_secret {
            Some(secret) if secret.expose_secret().len() < 32 => {
                return Err(ConfigError::new("auth.jwt_secret", "must be at least 32 bytes"))
            }
            Some(_) => {}
            None if self.require_secret || !self.generate_secret_if_missing => {
                return Err(ConfigError::new(
                    "auth.jwt_secret",
                    "is required (set CS__AUTH__JWT_SECRET); this profile does not generate one",
                ))
            }
            None => {}
        }
        if self.access_token_ttl_secs == 0 || self.access_token_ttl_secs > 3600 {
            return Err(ConfigError::new(
                "auth.access_token_ttl_secs",
                "must be between 1 and 3600 (access tokens are short-lived)",
            ));
        }
        if self.refresh_token_ttl_secs > 365 * 24 * 3600 {
            return Err(ConfigError::new(
                "auth.refresh_token_ttl_secs",
                "must be at most a year (31536000)",
            ));
        }
        if !(1..=24 * 3600).contains(&self.login_window_secs) {
            return Err(ConfigError::new(
                "auth.login_window_secs",
                "must be between 1 and 86400",
            ));
        }
        if self.refresh_token_ttl_secs < self.access_token_ttl_secs {
            return Err(ConfigError::new(
                "auth.refresh_token_ttl_secs",
                "must not be shorter than auth.access_token_ttl_secs",
            ));
        }
        if self.argon2_memory_kib < 8 * self.argon2_parallelism.max(1) {
            return Err(ConfigError::new(
                "auth.argon2_memory_kib",
                "must be at least 8 × argon2_parallelism",
            ));
        }
        if self.argon2_iterations == 0 {
            return Err(ConfigError::new("auth.argon2_iterations", "must be at least 1"));
        }
        if self.argon2_parallelism == 0 {
            return Err(ConfigError::new("auth.argon2_parallelism", "must be at least 1"));
        }
        if self.anonymous_writes_max == 0 {
            return Err(ConfigError::new("auth.anonymous_writes_max", "must be at least 1"));
        }
        if !(1..=24 * 3600).contains(&self.anonymous_writes_window_secs) {
            return Err(ConfigError::new(
                "auth.anonymous_writes_window_secs",
                "must be between 1 and 86400",
            ));
        }
        if self.login_max_failures == 0 {
            return Err(ConfigError::new("auth.login_max_failures", "must be at least 1"));
        }
        Ok(())
    }
}

/// A list of IP addresses, as a TOML array or a comma-separated string (from the environment).
fn ip_list<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<std::net::IpAddr>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        List(Vec<String>),
    }
    let items = match Raw::deserialize(deserializer)? {
        Raw::Text(text) => text
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        Raw::List(list) => list,
    };
    items
        .iter()
        .map(|item| {
            item.parse()
                .map_err(|_| serde::de::Error::custom(format!("{item:?} is not an IP address")))
        })
        .collect()
}

/// Turns the `config` crate's errors into one line that names the key.
fn describe_config_error(err: config::ConfigError) -> ConfigError {
    match err {
        // The value found is not printed: it may be a secret.
        config::ConfigError::Type { key, expected, .. } => {
            ConfigError::new(key.unwrap_or_else(|| "?".into()), format!("expected {expected}"))
        }
        config::ConfigError::FileParse { uri, cause } => {
            ConfigError::new(uri.unwrap_or_else(|| "config file".into()), cause.to_string())
        }
        other => {
            let text = other.to_string();
            let key = text
                .split("for key `")
                .nth(1)
                .and_then(|rest| rest.split('`').next())
                .unwrap_or("configuration")
                .to_owned();
            ConfigError::new(key, text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_shipped_default_toml_equals_the_built_in_defaults() {
        let from_file = Settings::load_from(&config_dir(), "default", vars(&[])).unwrap();
        let built_in = Settings::load_from(Path::new("/nonexistent"), "default", vars(&[])).unwrap();
        assert_eq!(format!("{from_file:?}"), format!("{built_in:?}"));
        use secrecy::ExposeSecret;
        assert_eq!(
            from_file.database.url.expose_secret(),
            built_in.database.url.expose_secret()
        );
        assert_eq!(from_file.server.bind, "127.0.0.1:8080");
        assert_eq!(
            from_file.database_target().unwrap(),
            DatabaseTarget::Sqlite(PathBuf::from("data/community-shares.db"))
        );
    }

    #[test]
    fn the_environment_overrides_files_and_profiles_layer_over_default() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("default.toml"),
            "[jobs]\ntick_ms = 500\n[log]\nfilter = \"warn\"\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("staging.toml"), "[jobs]\ntick_ms = 250\n").unwrap();
        let settings = Settings::load_from(dir.path(), "staging", vars(&[("CS__LOG__FORMAT", "json")])).unwrap();
        assert_eq!(settings.jobs.tick_ms, 250);
        assert_eq!(settings.log.filter, "warn");
        assert_eq!(settings.log.format, LogFormat::Json);
        let settings = Settings::load_from(dir.path(), "staging", vars(&[("CS__JOBS__TICK_MS", "10")])).unwrap();
        assert_eq!(settings.jobs.tick_ms, 10);
    }

    #[test]
    fn a_postgres_url_selects_postgres() {
        let settings = Settings::load_from(
            Path::new("/nonexistent"),
            "default",
            vars(&[("CS__DATABASE__URL", "postgres://u@h/db")]),
        )
        .unwrap();
        assert_eq!(
            settings.database_target().unwrap(),
            DatabaseTarget::Postgres("postgres://u@h/db".into())
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let settings = Settings::load_from(
            Path::new("/nonexistent"),
            "default",
            vars(&[
                ("CS__AUTH__JWT_SECRET", "a-secret-that-is-long-enough-to-be-valid"),
                ("CS__DATABASE__URL", "postgres://u:pw123@h/db"),
            ]),
        )
        .unwrap();
        let printed = format!("{settings:?}");
        assert!(!printed.contains("a-secret-that"));
        assert!(!printed.contains("pw123"));
    }

    #[test]
    fn card_payments_need_both_stripe_secrets_and_stay_off_without_them() {
        let load = |pairs: &[(&str, &str)]| Settings::load_from(Path::new("/nonexistent"), "default", vars(pairs));
        assert!(!load(&[]).unwrap().stripe.card_enabled());
        let err = load(&[("CS__STRIPE__SECRET_KEY", "sk_test_123")]).unwrap_err();
        assert_eq!(err.key, "stripe.webhook_secret");
        assert!(!err.to_string().contains("sk_test_123"));
        let on = load(&[
            ("CS__STRIPE__SECRET_KEY", "sk_test_123"),
            ("CS__STRIPE__WEBHOOK_SECRET", "whsec_456"),
        ])
        .unwrap();
        assert!(on.stripe.card_enabled());
        let printed = format!("{on:?}");
        assert!(!printed.contains("sk_test_123") && !printed.contains("whsec_456"));
        let err = load(&[("CS__STRIPE__API_BASE", "ftp://x")]).unwrap_err();
        assert_eq!(err.key, "stripe.api_base");
        let err = load(&[("CS__STRIPE__PUBLISHABLE_KEY", "pk_test_789")]).unwrap_err();
        assert_eq!(err.key, "stripe.publishable_key");
        let with_key = |key: &str| {
            load(&[
                ("CS__STRIPE__SECRET_KEY", "sk_test_123"),
                ("CS__STRIPE__WEBHOOK_SECRET", "whsec_456"),
                ("CS__STRIPE__PUBLISHABLE_KEY", key),
            ])
        };
        assert_eq!(
            with_key("pk_test_789").unwrap().stripe.publishable_key.as_deref(),
            Some("pk_test_789")
        );
        assert_eq!(with_key("sk_test_123").unwrap_err().key, "stripe.publishable_key");
        assert_eq!(with_key("pk_test_<script>").unwrap_err().key, "stripe.publishable_key");
    }

    #[test]
    fn values_from_the_environment_keep_their_text_and_lists_split() {
        let settings = Settings::load_from(
            Path::new("/nonexistent"),
            "default",
            vars(&[
                ("CS__AUTH__JWT_SECRET", "00000000000000000000000000000000000012"),
                ("CS__SERVER__TRUSTED_PROXIES", "10.0.0.1,10.0.0.2"),
            ]),
        )
        .unwrap();
        use secrecy::ExposeSecret;
        assert_eq!(
            settings.auth.jwt_secret.unwrap().expose_secret(),
            "00000000000000000000000000000000000012"
        );
        assert_eq!(settings.server.trusted_proxies.len(), 2);
        let bad = Settings::load_from(
            Path::new("/nonexistent"),
            "default",
            vars(&[("CS__SERVER__TRUSTED_PROXIES", "proxy")]),
        );
        let err = bad.unwrap_err();
        assert!(err.message.contains("not an IP address"), "{err}");
    }

    #[test]
    fn the_production_profile_needs_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            config_dir().join("production.example.toml"),
            dir.path().join("production.toml"),
        )
        .unwrap();
        let err = Settings::load_from(dir.path(), "production", vars(&[])).unwrap_err();
        assert_eq!(err.key, "auth.jwt_secret");
        const JWT: (&str, &str) = ("CS__AUTH__JWT_SECRET", "a-secret-that-is-long-enough-to-be-valid");
        let err = Settings::load_from(dir.path(), "production", vars(&[JWT])).unwrap_err();
        assert_eq!(err.key, "transparency.signing_key");
        let short = ("CS__TRANSPARENCY__SIGNING_KEY", "c2hvcnQ=");
        let err = Settings::load_from(dir.path(), "production", vars(&[JWT, short])).unwrap_err();
        assert_eq!(err.key, "transparency.signing_key");
        assert!(!err.message.contains("c2hvcnQ"), "a secret was echoed: {err}");
        let ok = Settings::load_from(
            dir.path(),
            "production",
            vars(&[
                JWT,
                (
                    "CS__TRANSPARENCY__SIGNING_KEY",
                    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                ),
            ]),
        );
        assert!(ok.is_ok());
    }
}
