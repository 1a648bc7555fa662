//! The HTTP server: binds, wires middleware and routes, runs the job loop beside it, and shuts
//! down gracefully on SIGTERM/SIGINT (in-flight requests finish, then the jobs stop).

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
}

impl Application {
    /// Prepares the database and binds the listener; nothing is served until
    /// [`Application::run_until_stopped`].
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
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
        .shutdown_timeout(server_settings.shutdown_timeout_secs);
        if server_settings.workers > 0 {
            http = http.workers(server_settings.workers);
        }
        let server = http.run();
        tracing::info!(%address, "listening");
        let jobs = JobRunner::spawn(state);
        Ok(Self {
            port: address.port(),
            server,
            jobs,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until a stop signal, then stops the job loop.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        tokio::time::timeout(Duration::from_secs(30), self.jobs.stop())
            .await
            .ok();
        tracing::info!("stopped");
        result
    }
}
