//! Login latency with the configured (default) argon2id parameters: starts the real server on a
//! temporary SQLite database, registers one user, then times logins sequentially and with eight
//! concurrent clients. Run with `cargo run --release --example login_latency`.

use std::time::{Duration, Instant};

use community_shares::config::Settings;
use community_shares::server::Application;
use secrecy::SecretString;
use serde_json::json;

const SEQUENTIAL: usize = 40;
const CLIENTS: usize = 8;
const PER_CLIENT: usize = 10;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut settings = Settings::default();
    settings.server.bind = "127.0.0.1:0".into();
    settings.database.url = SecretString::from(format!("sqlite://{}", dir.path().join("bench.db").display()));
    settings.auth.secret_file = dir.path().join("jwt-secret");
    settings.auth.login_max_failures = u32::MAX;
    let auth = settings.auth.clone();
    let app = Application::build(settings).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let body = json!({"email": "bench@example.org", "password": "a benchmark password", "display_name": "Bench"});
    client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&body)
        .send()
        .await?
        .error_for_status()?;
    let login = json!({"email": "bench@example.org", "password": "a benchmark password"});

    let mut sequential = Vec::new();
    for _ in 0..SEQUENTIAL {
        let started = Instant::now();
        client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&login)
            .send()
            .await?
            .error_for_status()?;
        sequential.push(started.elapsed());
    }
    sequential.sort();

    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (client, base, login) = (client.clone(), base.clone(), login.clone());
            tokio::spawn(async move {
                let mut times = Vec::new();
                for _ in 0..PER_CLIENT {
                    let t = Instant::now();
                    client
                        .post(format!("{base}/api/v1/auth/login"))
                        .json(&login)
                        .send()
                        .await?
                        .error_for_status()?;
                    times.push(t.elapsed());
                }
                anyhow::Ok(times)
            })
        })
        .collect();
    let mut concurrent = Vec::new();
    for task in tasks {
        concurrent.extend(task.await??);
    }
    let wall = started.elapsed();
    concurrent.sort();

    println!(
        "argon2id m={} KiB t={} p={}; {} cores",
        auth.argon2_memory_kib,
        auth.argon2_iterations,
        auth.argon2_parallelism,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "sequential logins: n={SEQUENTIAL} median {:.1} ms, p90 {:.1} ms",
        percentile(&sequential, 0.5).as_secs_f64() * 1e3,
        percentile(&sequential, 0.9).as_secs_f64() * 1e3
    );
    println!(
        "{CLIENTS} concurrent clients: n={} {:.1} logins/s, median {:.1} ms, p99 {:.1} ms",
        concurrent.len(),
        concurrent.len() as f64 / wall.as_secs_f64(),
        percentile(&concurrent, 0.5).as_secs_f64() * 1e3,
        percentile(&concurrent, 0.99).as_secs_f64() * 1e3
    );
    Ok(())
}
