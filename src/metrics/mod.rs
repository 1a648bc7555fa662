//! Prometheus metrics, in the text exposition format (`metrics` with
//! `metrics-exporter-prometheus`), served at `GET /metrics` on a listener of their own
//! (`metrics.bind`), never on the public one: nothing is exported unless it is set.
//!
//! Series (counters end in `_total`; every one is this instance's own unless it says
//! "database-wide", in which case every instance reports the same figure: take `max`, not
//! `sum`, across instances):
//! - `cs_http_requests_total{method,route,status}` and `cs_http_request_duration_seconds`
//!   (histogram, same labels): every request, by route template (`/api/v1/offers/{id}`, or
//!   `unmatched`), never by raw path.
//! - `cs_pledges_created_total`, `cs_pledged_pence_total`, `cs_pledges_paid_total`,
//!   `cs_paid_pence_total`, `cs_pledges_cancelled_total`, `cs_pledges_expired_total`,
//!   `cs_pledges_refunded_total`: counted when their transaction commits ([`staged`]).
//! - `cs_db_pool_connections{state="in_use"|"idle"}`, `cs_db_pool_waiting` (requests waiting
//!   for a connection), `cs_db_transaction_retries_total` (serialization failures, deadlocks,
//!   a busy SQLite), `cs_db_group_commit_failures_total` (group commits, of SQLite's writer or
//!   of a PostgreSQL hot row, that failed and whose writes ran again alone).
//! - `cs_outbox_emails{status="pending"|"dead"}` and `cs_outbox_oldest_pending_age_seconds`
//!   (database-wide).
//! - `cs_job_lag_seconds{job}` (how late the job's last run started after its tick was due),
//!   `cs_job_runs_total{job,outcome="ok"|"error"}`, `cs_job_run_duration_seconds{job}`.
//! - `cs_ledger_last_verify_timestamp_seconds` and `cs_ledger_last_verify_balanced` (1 or 0),
//!   from the last `ledger verify` run by anyone (database-wide; absent before the first).
//! - `cs_build_info{version}` = 1.

pub mod staged;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use diesel::prelude::*;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::db::schema::outbox;
use crate::db::DbConnection;
use crate::error::AppError;
use crate::state::AppState;

/// Histogram buckets, in seconds: from 1 ms to 10 s.
const BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether the recorder is installed (what is recorded before is dropped).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Installs the process's recorder (once; later calls answer the same handle). Until it is
/// installed, every `metrics::…!` call does nothing.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let mut installed = HANDLE
        .lock()
        .map_err(|_| anyhow::anyhow!("the metrics recorder lock is poisoned"))?;
    if let Some(handle) = installed.as_ref() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets(&BUCKETS)?
        .install_recorder()
        .map_err(|e| anyhow::anyhow!("cannot install the metrics recorder: {e}"))?;
    describe();
    metrics::gauge!("cs_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    *installed = Some(handle.clone());
    ENABLED.store(true, Ordering::Relaxed);
    Ok(handle)
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "cs_http_requests_total",
        "HTTP requests answered, by route template and status"
    );
    describe_histogram!(
        "cs_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency"
    );
    describe_counter!("cs_pledges_created_total", "pledges made (committed)");
    describe_counter!("cs_pledged_pence_total", "money pledged, in pence");
    describe_counter!("cs_pledges_paid_total", "pledges paid in full");
    describe_counter!("cs_paid_pence_total", "money of pledges paid in full, in pence");
    describe_counter!("cs_pledges_cancelled_total", "pending pledges cancelled");
    describe_counter!("cs_pledges_expired_total", "pending pledges expired unpaid");
    describe_counter!("cs_pledges_refunded_total", "paid pledges refunded");
    describe_gauge!("cs_db_pool_connections", "database pool connections, in use or idle");
    describe_gauge!("cs_db_pool_waiting", "requests waiting for a database connection");
    describe_counter!(
        "cs_db_transaction_retries_total",
        "write transactions run again after a conflict"
    );
    describe_counter!(
        "cs_db_group_commit_failures_total",
        "group commits that failed (each write then ran alone)"
    );
    describe_gauge!("cs_outbox_emails", "emails in the outbox by status (database-wide)");
    describe_gauge!(
        "cs_outbox_oldest_pending_age_seconds",
        Unit::Seconds,
        "age of the oldest email not yet sent (database-wide)"
    );
    describe_gauge!(
        "cs_job_lag_seconds",
        Unit::Seconds,
        "how late the job's last run started"
    );
    describe_counter!("cs_job_runs_total", "background job runs by outcome");
    describe_histogram!("cs_job_run_duration_seconds", Unit::Seconds, "background job run time");
    describe_gauge!(
        "cs_ledger_last_verify_timestamp_seconds",
        Unit::Seconds,
        "when ledger verify last ran (Unix time)"
    );
    describe_gauge!(
        "cs_ledger_last_verify_balanced",
        "1 if the last ledger verify found the ledger balanced, else 0"
    );
    describe_gauge!("cs_build_info", "the running version");
}

/// Counts one answered request (called by the request middleware).
pub fn http_request(method: &str, route: String, status: u16, latency: Duration) {
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", status.to_string()),
    ];
    metrics::counter!("cs_http_requests_total", &labels).increment(1);
    metrics::histogram!("cs_http_request_duration_seconds", &labels).record(latency.as_secs_f64());
}

/// Records one run of a background job: how late it started, how long it took, its outcome.
pub fn job_run(job: &'static str, lag: Duration, took: Duration, ok: bool) {
    metrics::gauge!("cs_job_lag_seconds", "job" => job).set(lag.as_secs_f64());
    metrics::histogram!("cs_job_run_duration_seconds", "job" => job).record(took.as_secs_f64());
    let outcome = if ok { "ok" } else { "error" };
    metrics::counter!("cs_job_runs_total", "job" => job, "outcome" => outcome).increment(1);
}

/// The figures read from the database at each scrape.
struct DatabaseFigures {
    pending: i64,
    dead: i64,
    oldest_pending: Option<chrono::NaiveDateTime>,
    last_verify: Option<(chrono::NaiveDateTime, bool)>,
}

fn database_figures(conn: &mut DbConnection) -> Result<DatabaseFigures, AppError> {
    let count = |conn: &mut DbConnection, status: &str| -> QueryResult<i64> {
        outbox::table.filter(outbox::status.eq(status)).count().get_result(conn)
    };
    Ok(DatabaseFigures {
        pending: count(conn, "pending")?,
        dead: count(conn, "dead")?,
        oldest_pending: outbox::table
            .filter(outbox::status.eq("pending"))
            .select(diesel::dsl::min(outbox::created_at))
            .first(conn)?,
        last_verify: crate::ledger::verify::last_recorded(conn)?,
    })
}

/// The exposition text: this instance's series, with the pool and database figures read now.
async fn render(state: &AppState, handle: &PrometheusHandle) -> Result<String, AppError> {
    let pool = state.db.pool_status();
    metrics::gauge!("cs_db_pool_connections", "state" => "in_use").set(f64::from(pool.in_use));
    metrics::gauge!("cs_db_pool_connections", "state" => "idle").set(f64::from(pool.idle));
    metrics::gauge!("cs_db_pool_waiting").set(pool.waiting as f64);
    let figures = state.db.run(database_figures).await?;
    metrics::gauge!("cs_outbox_emails", "status" => "pending").set(figures.pending as f64);
    metrics::gauge!("cs_outbox_emails", "status" => "dead").set(figures.dead as f64);
    let age = figures.oldest_pending.map_or(0.0, |at| {
        (crate::clock::now() - at).num_milliseconds().max(0) as f64 / 1000.0
    });
    metrics::gauge!("cs_outbox_oldest_pending_age_seconds").set(age);
    if let Some((at, balanced)) = figures.last_verify {
        metrics::gauge!("cs_ledger_last_verify_timestamp_seconds").set(at.and_utc().timestamp_millis() as f64 / 1000.0);
        metrics::gauge!("cs_ledger_last_verify_balanced").set(if balanced { 1.0 } else { 0.0 });
    }
    handle.run_upkeep();
    Ok(handle.render())
}

async fn metrics_endpoint(
    state: web::Data<AppState>,
    handle: web::Data<PrometheusHandle>,
) -> Result<HttpResponse, AppError> {
    let text = render(&state, &handle).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}

/// The metrics listener of `serve` or `worker`, running in the background until stopped.
pub struct Exporter {
    handle: actix_web::dev::ServerHandle,
    pub address: std::net::SocketAddr,
}

impl Exporter {
    /// Starts the listener when `metrics.bind` is set (within the Tokio runtime).
    pub fn start(state: &AppState) -> anyhow::Result<Option<Self>> {
        let Some(bind) = &state.settings.metrics.bind else {
            return Ok(None);
        };
        let (server, address) = serve(bind, state.clone())?;
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Some(Self { handle, address }))
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// The metrics listener on `bind`: `GET /metrics` and nothing else (404). It does not listen
/// for signals: its owner stops it.
fn serve(bind: &str, state: AppState) -> anyhow::Result<(Server, std::net::SocketAddr)> {
    let handle = web::Data::new(install()?);
    let listener = TcpListener::bind(bind).map_err(|e| anyhow::anyhow!("cannot listen on {bind} for metrics: {e}"))?;
    let address = listener.local_addr()?;
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(handle.clone())
            .route("/metrics", web::get().to(metrics_endpoint))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    tracing::info!(%address, "metrics listening");
    Ok((server, address))
}
