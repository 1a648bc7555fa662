//! Background work run by `serve` and `worker`: a loop that wakes every `jobs.tick_ms` and runs
//! each job that is due, on the blocking pool. Jobs are safe to run from several instances at
//! once (each is idempotent or claims its work in the database).

use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::db::{spawn_blocking_in_span, Db};
use crate::error::AppError;
use crate::services::{closeout, idempotency, offers, payments, pledges, sessions, throttle};
use crate::state::AppState;
use crate::{clock, notify};

struct Job {
    name: &'static str,
    every: fn(&AppState) -> Duration,
    run: Run,
}

/// A job's work: database work on the blocking pool, or async work that calls out (Stripe)
/// and uses the database through `Db`'s async calls.
#[derive(Clone, Copy)]
enum Run {
    Blocking(fn(&Db, &AppState) -> Result<usize, AppError>),
    Async(fn(AppState) -> BoxFuture<'static, Result<usize, AppError>>),
}

fn jobs() -> Vec<Job> {
    vec![
        Job {
            name: "deliver_email",
            every: |_| Duration::ZERO,
            run: Run::Blocking(|db, state| notify::delivery::deliver_due(db, &state.mailer, &state.settings.email)),
        },
        Job {
            name: "closing_reminders",
            every: |state| Duration::from_secs(state.settings.jobs.reminder_interval_secs),
            run: Run::Blocking(|db, _| db.write_blocking(|conn| offers::queue_closing_reminders(conn, clock::now()))),
        },
        Job {
            name: "expire_unpaid_pledges",
            every: |_| Duration::ZERO,
            run: Run::Blocking(|db, _| db.with_writer_turn(|conn| pledges::expire_unpaid(conn, clock::now()))),
        },
        Job {
            name: "offer_transitions",
            every: |_| Duration::ZERO,
            run: Run::Blocking(|db, _| db.with_writer_turn(|conn| offers::run_due_transitions(conn, clock::now()))),
        },
        Job {
            name: "close_out",
            every: |_| Duration::ZERO,
            run: Run::Blocking(|db, state| closeout::run_due(db, 200, state.settings.jobs.closeout_batch)),
        },
        Job {
            name: "purge_expired_sessions",
            every: |_| Duration::from_secs(600),
            run: Run::Blocking(|db, state| {
                let window = chrono::Duration::seconds(state.settings.auth.login_window_secs as i64);
                let mut conn = db.conn()?;
                Ok(sessions::purge_expired(&mut conn, window)?
                    + idempotency::purge_expired(&mut conn)?
                    + payments::purge_events(&mut conn, clock::now())?
                    + throttle::purge(&mut conn, clock::now())?)
            }),
        },
        Job {
            name: "transparency_checkpoint",
            every: |state| Duration::from_secs(state.settings.transparency.checkpoint_interval_secs),
            run: Run::Blocking(|db, state| crate::transparency::sequence::run(db, state.log_key.clone())),
        },
        Job {
            name: "reconcile_payments",
            every: |_| Duration::ZERO,
            run: Run::Async(|state| {
                Box::pin(async move {
                    let interval = chrono::Duration::seconds(
                        i64::try_from(state.settings.stripe.reconcile_after_secs).unwrap_or(600),
                    );
                    payments::reconcile(&state.db, &state.payments, interval, 50).await
                })
            }),
        },
    ]
}

/// The running job loops (one per job, so a slow job, such as email delivery while the SMTP
/// server is down, holds up no other); `stop` ends each after the pass in progress.
pub struct JobRunner {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl JobRunner {
    pub fn spawn(state: AppState) -> Self {
        let (stop, stopped) = watch::channel(false);
        let tick = Duration::from_millis(state.settings.jobs.tick_ms);
        let jobs = jobs();
        tracing::info!(jobs = ?jobs.iter().map(|j| j.name).collect::<Vec<_>>(), tick_ms = tick.as_millis() as u64, "job runner started");
        let handles = jobs
            .into_iter()
            .map(|job| {
                let (state, mut stopped) = (state.clone(), stopped.clone());
                tokio::spawn(async move {
                    let mut interval = tokio::time::interval(tick.max((job.every)(&state)));
                    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        let due = tokio::select! {
                            due = interval.tick() => due,
                            _ = stopped.changed() => break,
                        };
                        let started = tokio::time::Instant::now();
                        let state2 = state.clone();
                        let span = tracing::info_span!("job", name = job.name);
                        let result = match job.run {
                            Run::Blocking(run) => {
                                spawn_blocking_in_span(move || run(&state2.db, &state2))
                                    .instrument(span.clone())
                                    .await
                            }
                            Run::Async(run) => run(state2).instrument(span.clone()).await,
                        };
                        let lag = started.saturating_duration_since(due);
                        crate::metrics::job_run(job.name, lag, started.elapsed(), result.is_ok());
                        span.in_scope(|| match result {
                            Ok(0) => {}
                            Ok(done) => tracing::info!(done, "job did work"),
                            Err(e) => tracing::warn!(error = %e, "job failed; it runs again at its next turn"),
                        });
                    }
                })
            })
            .collect();
        Self { stop, handles }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for handle in self.handles {
            let _ = handle.await;
        }
        tracing::info!("job runner stopped");
    }
}
