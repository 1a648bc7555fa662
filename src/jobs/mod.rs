//! Background work run by `serve` and `worker`: a loop that wakes every `jobs.tick_ms` and runs
//! each job that is due, on the blocking pool. Jobs are safe to run from several instances at
//! once (each is idempotent or claims its work in the database).

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::db::{spawn_blocking_in_span, Db};
use crate::error::AppError;
use crate::services::{idempotency, offers, pledges, sessions};
use crate::state::AppState;
use crate::{clock, notify};

struct Job {
    name: &'static str,
    every: fn(&AppState) -> Duration,
    run: fn(&Db, &AppState) -> Result<usize, AppError>,
}

fn jobs() -> Vec<Job> {
    vec![
        Job {
            name: "deliver_email",
            every: |_| Duration::ZERO,
            run: |db, state| notify::delivery::deliver_due(&mut *db.conn()?, &state.mailer, &state.settings.email),
        },
        Job {
            name: "closing_reminders",
            every: |state| Duration::from_secs(state.settings.jobs.reminder_interval_secs),
            run: |db, _| offers::queue_closing_reminders(&mut *db.conn()?, clock::now()),
        },
        Job {
            name: "expire_unpaid_pledges",
            every: |_| Duration::ZERO,
            run: |db, _| pledges::expire_unpaid(&mut *db.conn()?, clock::now()),
        },
        Job {
            name: "offer_transitions",
            every: |_| Duration::ZERO,
            run: |db, _| offers::run_due_transitions(&mut *db.conn()?, clock::now()),
        },
        Job {
            name: "purge_expired_sessions",
            every: |_| Duration::from_secs(600),
            run: |db, state| {
                let window = chrono::Duration::seconds(state.settings.auth.login_window_secs as i64);
                let mut conn = db.conn()?;
                Ok(sessions::purge_expired(&mut conn, window)? + idempotency::purge_expired(&mut conn)?)
            },
        },
    ]
}

/// The running job loop; `stop` ends it after the job in progress.
pub struct JobRunner {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl JobRunner {
    pub fn spawn(state: AppState) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let tick = Duration::from_millis(state.settings.jobs.tick_ms);
        let handle = tokio::spawn(async move {
            let jobs = jobs();
            let mut last_run: Vec<Option<Instant>> = vec![None; jobs.len()];
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tracing::info!(jobs = ?jobs.iter().map(|j| j.name).collect::<Vec<_>>(), tick_ms = tick.as_millis() as u64, "job runner started");
            loop {
                tokio::select! {
                    _ = interval.tick() => {}
                    _ = stopped.changed() => break,
                }
                for (job, last) in jobs.iter().zip(last_run.iter_mut()) {
                    if last.is_some_and(|at| at.elapsed() < (job.every)(&state)) {
                        continue;
                    }
                    *last = Some(Instant::now());
                    let (run, state2) = (job.run, state.clone());
                    let span = tracing::info_span!("job", name = job.name);
                    let result = spawn_blocking_in_span(move || run(&state2.db, &state2))
                        .instrument(span.clone())
                        .await;
                    span.in_scope(|| match result {
                        Ok(0) => {}
                        Ok(done) => tracing::info!(done, "job did work"),
                        Err(e) => {
                            tracing::warn!(error = %e, "job failed; it runs again at its next turn")
                        }
                    });
                }
            }
            tracing::info!("job runner stopped");
        });
        Self { stop, handle }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.handle.await;
    }
}
