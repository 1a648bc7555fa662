//! The `community-shares` binary: `serve`, `worker`, `migrate`, `backup`, `restore`, `admin create-user`,
//! `ledger verify`, `transparency verify | witness-key | cosign`.
//! Exit codes: 0 success, 1 failure, 2 bad configuration or usage.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};

use community_shares::config::{DatabaseTarget, Settings};
use community_shares::db::{backup, migrate, Db, DbConnection};
use community_shares::domain::identity::{check_password, Email};
use community_shares::jobs::JobRunner;
use community_shares::metrics::Exporter;
use community_shares::server::{Application, StopSignal};
use community_shares::services::accounts::{self, NewUser};
use community_shares::state::AppState;
use community_shares::{ledger, telemetry};

#[derive(Parser)]
#[command(
    name = "community-shares",
    version,
    about = "Community share offers with match funding"
)]
struct Cli {
    /// Folder holding default.toml and <profile>.toml.
    #[arg(long, env = "CS_CONFIG_DIR", default_value = "config", global = true)]
    config_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and run the background jobs.
    Serve,
    /// Run the background jobs only.
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Copy the SQLite database, consistently, while the server runs, into FILE (which must
    /// not exist). PostgreSQL: use pg_dump (README, "Backups").
    Backup { file: PathBuf },
    /// Replace a stopped deployment's SQLite database with the backup FILE.
    /// PostgreSQL: use pg_restore (README, "Backups").
    Restore { file: PathBuf },
    /// Administration.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The pledge ledger.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// The public transparency log of match money (anyone can run these; no database needed).
    #[command(subcommand)]
    Transparency(TransparencyCommand),
}

#[derive(Subcommand)]
enum TransparencyCommand {
    /// Verify the log from its export (a file, or a URL: the site's root or the export's
    /// address): exit 0 when every entry, signature and cosignature checks, 1 with the first
    /// problem.
    Verify {
        /// An export file, or https://<site> (GET /api/v1/transparency/export).
        #[arg(long)]
        from: String,
        /// The log's public key you trust (C2SP vkey); without it, the export's own is used.
        #[arg(long)]
        log_key: Option<String>,
        /// A checkpoint (or a whole export) you kept from before: the log must extend it.
        #[arg(long)]
        kept: Option<PathBuf>,
        /// A witness key you trust, got from the witness (C2SP vkey; repeatable). Only these
        /// count as witnessed: cosignatures under keys the export alone lists are reported as
        /// unverified.
        #[arg(long = "witness")]
        witnesses: Vec<String>,
        /// A file of witness keys you trust, one vkey a line (as --witness).
        #[arg(long)]
        witness_file: Option<PathBuf>,
        /// Fail unless the latest checkpoint carries every trusted witness's cosignature.
        #[arg(long)]
        require_witness: bool,
        /// After a successful check, write the latest checkpoint here (use it as --kept next time).
        #[arg(long)]
        save: Option<PathBuf>,
    },
    /// Make a witness key pair for a funder: writes the private key to KEY_FILE (owner-only; it
    /// must not exist) and prints the public key (register it: PUT /api/v1/funders/{id}/witness).
    WitnessKey {
        /// The witness's name, e.g. council.example.gov.uk/witness (no spaces or '+').
        #[arg(long)]
        name: String,
        /// Where to write the private key.
        #[arg(long)]
        key_file: PathBuf,
    },
    /// As a funder's witness: verify the log at SITE against the checkpoint in STATE (if any),
    /// cosign its latest checkpoint, send the cosignature, keep that checkpoint in STATE.
    Cosign {
        /// The platform's address, e.g. https://shares.example.org.
        #[arg(long)]
        from: String,
        /// The file holding the witness's private key (from `witness-key`).
        #[arg(long)]
        key_file: PathBuf,
        /// Where the last cosigned checkpoint is kept between runs.
        #[arg(long)]
        state: PathBuf,
        /// The log's public key the witness trusts.
        #[arg(long)]
        log_key: Option<String>,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Check every invariant of the ledger, and card payments against what Stripe last said:
    /// exit 0 when balanced and in agreement, 1 with the problems printed.
    Verify,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a user. The password is read from standard input (one line) or from the
    /// CS_ADMIN_PASSWORD environment variable, never from the command line.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        display_name: String,
        /// Make the user a platform admin.
        #[arg(long)]
        platform_admin: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(&cli.config_dir) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli.command, settings)) {
        Ok(Verdict::Fine) => ExitCode::SUCCESS,
        Ok(Verdict::Problems) => ExitCode::from(1),
        Err(e) if e.is::<Usage>() => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        // A configuration that only the database shows to be wrong (the transparency log's key).
        Err(e) if e.is::<community_shares::config::ConfigError>() => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// How a command ended, when it did not fail outright.
enum Verdict {
    Fine,
    Problems,
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<Verdict> {
    match command {
        Command::Serve => Application::build(settings).await?.run_until_stopped().await?,
        Command::Worker => worker(settings).await?,
        Command::Migrate => {
            let applied = tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
                let db = Db::connect(&settings.database, settings.database_target()?)?;
                migrate::run_pending(&mut *db.conn()?)
            })
            .await??;
            println!("applied {applied} migrations");
        }
        Command::Backup { file } => backup(&settings, file).await?,
        Command::Restore { file } => restore(&settings, file)?,
        Command::Admin(AdminCommand::CreateUser {
            email,
            display_name,
            platform_admin,
        }) => create_user(settings, &email, &display_name, platform_admin).await?,
        Command::Ledger(LedgerCommand::Verify) => return verify_ledger(settings).await,
        Command::Transparency(command) => return tokio::task::spawn_blocking(move || transparency(command)).await?,
    }
    Ok(Verdict::Fine)
}

/// `worker`: the jobs (and the metrics listener, when set) until SIGTERM or SIGINT.
async fn worker(settings: Settings) -> anyhow::Result<()> {
    let stop = StopSignal::listen()?;
    let state = AppState::initialise(settings).await?;
    let metrics = Exporter::start(&state)?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "worker started");
    let jobs = JobRunner::spawn(state);
    stop.received().await;
    jobs.stop().await;
    if let Some(metrics) = metrics {
        metrics.stop().await;
    }
    Ok(())
}

/// `admin create-user`.
async fn create_user(settings: Settings, email: &str, display_name: &str, platform_admin: bool) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|m| anyhow::anyhow!("--email {m}"))?;
    if display_name.trim().is_empty() {
        anyhow::bail!("--display-name must not be blank");
    }
    let password = read_password()?;
    check_password(password.expose_secret()).map_err(|m| anyhow::anyhow!("the password {m}"))?;
    let state = AppState::initialise(settings).await?;
    let password_hash = state.passwords.hash(password).await?;
    let new = NewUser {
        email,
        display_name: display_name.trim().to_owned(),
        postcode: None,
        password_hash,
        is_platform_admin: platform_admin,
    };
    let user = state.db.write(move |conn| accounts::create_user(conn, &new)).await?;
    println!(
        "created user {} ({}){}",
        user.id,
        user.email,
        if platform_admin { " as platform admin" } else { "" }
    );
    Ok(())
}

/// `ledger verify`: the verdict printed and recorded; `Problems` when not balanced or a card
/// payment disagrees with the provider.
async fn verify_ledger(settings: Settings) -> anyhow::Result<Verdict> {
    let verification = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let db = Db::connect(&settings.database, settings.database_target()?)?;
        let verification = ledger::verify::verify(&mut *db.conn()?)?;
        let kept = verification.clone();
        db.write_blocking(move |conn| ledger::verify::record(conn, &kept))?;
        Ok(verification)
    })
    .await??;
    println!(
        "{}: {} accounts and {} transfers checked",
        if verification.balanced {
            "balanced"
        } else {
            "NOT BALANCED"
        },
        verification.accounts_checked,
        verification.transfers_checked
    );
    for problem in &verification.problems {
        println!("problem: {problem}");
    }
    for disagreement in &verification.payment_disagreements {
        println!("payment disagrees with the provider: {disagreement}");
    }
    Ok(
        if !verification.balanced || !verification.payment_disagreements.is_empty() {
            Verdict::Problems
        } else {
            Verdict::Fine
        },
    )
}

/// The transparency commands (blocking: files and HTTPS only).
fn transparency(command: TransparencyCommand) -> anyhow::Result<Verdict> {
    use community_shares::transparency::{cli, keys::WitnessKey, verify::Trust};
    let fine = match command {
        TransparencyCommand::Verify {
            from,
            log_key,
            kept,
            mut witnesses,
            witness_file,
            require_witness,
            save,
        } => {
            if let Some(file) = witness_file {
                witnesses.extend(cli::read_witness_file(&file)?);
            }
            let mut trust = Trust {
                log_key,
                witnesses,
                require_witness,
                ..Trust::default()
            };
            if let Some(kept) = kept {
                cli::read_kept(&kept, &mut trust)?;
            }
            cli::verify_command(&from, trust, save.as_ref())?
        }
        TransparencyCommand::WitnessKey { name, key_file } => {
            let key = WitnessKey::generate(&name).map_err(anyhow::Error::msg)?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(&key_file)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", key_file.display()))?;
            std::io::Write::write_all(&mut file, format!("{}\n", key.private_text()).as_bytes())?;
            println!("{}", key.vkey());
            true
        }
        TransparencyCommand::Cosign {
            from,
            key_file,
            state,
            log_key,
        } => cli::cosign_command(&from, &key_file, &state, log_key)?,
    };
    Ok(if fine { Verdict::Fine } else { Verdict::Problems })
}

/// `backup FILE` on SQLite; on PostgreSQL, what to run instead (exit 2).
async fn backup(settings: &Settings, file: PathBuf) -> anyhow::Result<()> {
    let DatabaseTarget::Sqlite(_) = settings.database_target()? else {
        return Err(usage(POSTGRES_BACKUPS));
    };
    let (database, target) = (settings.database.clone(), settings.database_target()?);
    let copied = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let db = Db::connect(&database, target)?;
        let mut conn = db.conn()?;
        match &mut *conn {
            DbConnection::Sqlite(lite) => backup::backup(lite, &file).map(|copied| (copied, file)),
            DbConnection::Postgresql(_) => Err(usage(POSTGRES_BACKUPS)),
        }
    })
    .await??;
    println!(
        "backed up to {} ({} bytes, schema at migration {})",
        copied.1.display(),
        copied.0.bytes,
        copied.0.last_migration
    );
    Ok(())
}

/// `restore FILE` into a stopped SQLite deployment; on PostgreSQL, what to run instead (exit 2).
fn restore(settings: &Settings, file: PathBuf) -> anyhow::Result<()> {
    let DatabaseTarget::Sqlite(target) = settings.database_target()? else {
        return Err(usage(POSTGRES_BACKUPS));
    };
    let copied = backup::restore(&file, &target)?;
    println!(
        "restored {} into {} ({} bytes, schema at migration {}); start the server",
        file.display(),
        target.display(),
        copied.bytes,
        copied.last_migration
    );
    Ok(())
}

const POSTGRES_BACKUPS: &str =
    "on PostgreSQL, back up with `pg_dump --format=custom --file=FILE URL` and restore with \
`pg_restore --dbname=URL FILE` into an empty database (README, \"Backups\")";

/// A usage error: the command does not apply here (exit 2).
#[derive(Debug)]
struct Usage(&'static str);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Usage {}

fn usage(message: &'static str) -> anyhow::Error {
    anyhow::Error::new(Usage(message))
}

fn read_password() -> anyhow::Result<SecretString> {
    if let Ok(password) = std::env::var("CS_ADMIN_PASSWORD") {
        return Ok(SecretString::from(password));
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        anyhow::bail!("no password on standard input (or CS_ADMIN_PASSWORD)");
    }
    Ok(SecretString::from(password))
}
