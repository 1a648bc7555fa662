//! The HTTP server: binds, wires middleware and routes, runs the job loop beside it, and shuts
//! down gracefully on SIGTERM/SIGINT (in-flight requests finish, then the jobs stop). The stop
//! signals are listened for from before the address is announced ([`StopSignal`]), so a
//! signal that comes right after the start is never fatal nor missed.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, ErrorHandlers};
use actix_web::{web, App, HttpServer};

use crate::api::{self, extract, problem, request_context};
use crate::config::Settings;
use crate::jobs::JobRunner;
use crate::state::AppState;

pub struct Application {
    port: u16,
    server: Server,
    jobs: JobRunner,
    metrics: Option<crate::metrics::Exporter>,
    stop: StopSignal,
}

/// SIGTERM and SIGINT, listened for from the moment this is made: the process's default
/// action (to die at once) is replaced then, and a signal that comes before anyone awaits
/// [`StopSignal::received`] is kept.
pub struct StopSignal {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignal {
    pub fn listen() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Waits for SIGTERM or SIGINT.
    pub async fn received(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("stop signal received");
    }
}

impl Application {
    /// Prepares the database and binds the listener; nothing is served until
    /// [`Application::run_until_stopped`].
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let stop = StopSignal::listen()?;
        let server_settings = settings.server.clone();
        let state = AppState::initialise(settings).await?;
        let listener = TcpListener::bind(&server_settings.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", server_settings.bind))?;
        let address = listener.local_addr()?;
        api::web_page::prepare();
        api::contract::prepare();
        let body_limit = server_settings.body_limit_bytes;
        let data = web::Data::new(state.clone());
        let mut http = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(extract::BodyLimit(body_limit))
                .app_data(web::PayloadConfig::new(body_limit))
                .app_data(web::PathConfig::default().error_handler(extract::path_error))
                .configure(api::routes)
                .default_service(web::to(api::not_found))
                .wrap(ErrorHandlers::new().default_handler(problem::render_plain_errors))
                .wrap(from_fn(request_context::request_context))
        })
        .listen(listener)?
        .disable_signals()
        .shutdown_timeout(server_settings.shutdown_timeout_secs);
        if server_settings.workers > 0 {
            http = http.workers(server_settings.workers);
        }
        let server = http.run();
        let metrics = crate::metrics::Exporter::start(&state)?;
        log_start(&state.settings, address);
        let jobs = JobRunner::spawn(state);
        Ok(Self {
            port: address.port(),
            server,
            jobs,
            metrics,
            stop,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The metrics listener's port, when `metrics.bind` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|exporter| exporter.address.port())
    }

    /// Serves until a stop signal, then stops the job loop.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let mut server = tokio::spawn(self.server);
        let result = tokio::select! {
            ended = &mut server => ended,
            () = self.stop.received() => {
                // In-flight requests get the shutdown timeout to finish.
                handle.stop(true).await;
                server.await
            }
        }
        .unwrap_or_else(|e| Err(std::io::Error::other(format!("the server task failed: {e}"))));
        if let Some(metrics) = self.metrics {
            metrics.stop().await;
        }
        tokio::time::timeout(Duration::from_secs(30), self.jobs.stop())
            .await
            .ok();
        tracing::info!("stopped");
        result
    }
}

/// The one line `serve` logs at start: what runs, never a secret (the database by its kind only,
/// not its URL).
fn log_start(settings: &Settings, address: std::net::SocketAddr) {
    let database = match settings.database_target() {
        Ok(crate::config::DatabaseTarget::Postgres(_)) => "postgres",
        _ => "sqlite",
    };
    let payment_methods = if settings.stripe.secret_key.is_some() {
        "bank_transfer,card"
    } else {
        "bank_transfer"
    };
    tracing::info!(
        %address,
        version = env!("CARGO_PKG_VERSION"),
        database,
        payment_methods,
        email = match settings.email.transport {
            crate::config::EmailTransport::File => "file",
            crate::config::EmailTransport::Smtp => "smtp",
        },
        metrics = settings.metrics.bind.as_deref().unwrap_or("off"),
        "listening"
    );
}
