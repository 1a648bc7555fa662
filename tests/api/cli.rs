//! The binary: configuration errors, serving with no configuration, the admin CLI, and logs
//! that never carry a secret.

use serde_json::json;

use crate::both_backends;
use crate::support::binary::{self, RunningServer};
use crate::support::{TestDatabase, PASSWORD};

fn config_error(envs: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = binary::command(dir.path());
    command.arg("migrate");
    for (key, value) in envs {
        command.env(key, value);
    }
    let output = binary::run(command, "");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_bad_configuration_value_stops_with_one_line_naming_the_key_and_exit_2() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("CS__JOBS__TICK_MS", "soon")], "jobs.tick_ms"),
        (&[("CS__JOBS__TICK_MS", "0")], "jobs.tick_ms"),
        (&[("CS__SERVER__BIND", "everywhere")], "server.bind"),
        (&[("CS__DATABASE__URL", "mysql://user:hunter2@db/x")], "database.url"),
        (&[("CS__LOG__FORMAT", "xml")], "log.format"),
        (&[("CS__SERVER__NO_SUCH_KEY", "1")], "no_such_key"),
        (&[("CS__AUTH__JWT_SECRET", "too-short")], "auth.jwt_secret"),
    ];
    for (envs, key) in cases {
        let (code, stderr) = config_error(envs);
        assert_eq!(code, 2, "{envs:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{envs:?}: {stderr}");
        assert!(stderr.contains(key), "{envs:?}: {stderr}");
        assert!(!stderr.contains("hunter2"), "a secret was echoed: {stderr}");
        assert!(!stderr.contains("too-short"), "a secret was echoed: {stderr}");
    }
}

#[test]
fn the_production_profile_refuses_to_start_without_a_jwt_secret() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    std::fs::write(dir.path().join("config/production.toml"), "[log]\nformat = \"json\"\n").unwrap();
    let mut command = binary::command(dir.path());
    command
        .arg("migrate")
        .env("CS_CONFIG_DIR", dir.path().join("config"))
        .env("CS_PROFILE", "production");
    let output = binary::run(command, "");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("auth.jwt_secret"));
    // A profile with no file is an error too.
    let mut command = binary::command(dir.path());
    command.arg("migrate").env("CS_PROFILE", "staging");
    assert_eq!(binary::run(command, "").status.code(), Some(2));
}

#[test]
fn serve_with_no_configuration_creates_its_sqlite_file_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = binary::command(dir.path());
    // Only the port differs from the defaults, so parallel tests do not fight over 8080.
    command.env("CS__SERVER__BIND", "127.0.0.1:0");
    let mut server = RunningServer::start(command);
    let health: serde_json::Value = binary::get_json(&format!("{}/health", server.base_url));
    assert_eq!(health, json!({"status": "ok"}));
    assert!(dir.path().join("data/community-shares.db").exists());
    assert!(dir.path().join("data/jwt-secret").exists());
    let status = server.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert!(server.log_text().contains("stopped"));
}

both_backends! {
    async fn admin_create_user_reads_the_password_from_stdin_and_makes_a_platform_admin(backend) {
        let database = TestDatabase::new(backend).await;
        let dir = database.dir.path().to_owned();
        let url = database.url.clone();
        let output = tokio::task::spawn_blocking(move || {
            let mut command = binary::command(&dir);
            command
                .args(["admin", "create-user", "--email", "Root@Example.org", "--display-name", "Root", "--platform-admin"])
                .env("CS__DATABASE__URL", &url);
            binary::run(command, &format!("{PASSWORD}\n"))
        })
        .await
        .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let app = crate::support::TestApp::spawn_with(backend, database, |_| {}).await;
        let admin = app.login("root@example.org", PASSWORD).await;
        let me = app.get("/api/v1/me", Some(&admin.access_token)).await;
        assert_eq!(me.body["roles"], json!(["investor", "platform_admin"]));
        // A weak password is refused before anything is written.
        let mut command = binary::command(app.database.dir.path());
        command
            .args(["admin", "create-user", "--email", "weak@example.org", "--display-name", "Weak"])
            .env("CS__DATABASE__URL", &app.database.url);
        let output = binary::run(command, "short\n");
        assert_eq!(output.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&output.stderr).contains("at least 12 characters"));
    }

    async fn no_password_token_or_secret_appears_in_the_logs(backend) {
        let database = TestDatabase::new(backend).await;
        let secret = "log-test-secret-which-must-never-be-printed";
        let mut command = binary::command(database.dir.path());
        command
            .env("CS__SERVER__BIND", "127.0.0.1:0")
            .env("CS__DATABASE__URL", &database.url)
            .env("CS__AUTH__JWT_SECRET", secret)
            .env("CS__STRIPE__SECRET_KEY", "sk_test_log_secret_never_printed")
            .env("CS__STRIPE__WEBHOOK_SECRET", "whsec_log_secret_never_printed")
            .env("CS__STRIPE__API_BASE", "http://127.0.0.1:9/")
            .env("CS__LOG__FILTER", "debug")
            .env("CS__AUTH__ARGON2_MEMORY_KIB", "256")
            .env("CS__AUTH__ARGON2_ITERATIONS", "1");
        let mut server = RunningServer::start(command);
        let base = server.base_url.clone();
        let client = reqwest::Client::new();
        let password = "a very particular password 123";
        let register = client
            .post(format!("{base}/api/v1/auth/register"))
            .json(&json!({"email": "log@example.org", "password": password, "display_name": "Log"}))
            .send()
            .await
            .unwrap();
        assert_eq!(register.status(), 201);
        client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": "log@example.org", "password": "a wrong password 456"}))
            .send()
            .await
            .unwrap();
        let login: serde_json::Value = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": "log@example.org", "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let access = login["access_token"].as_str().unwrap().to_owned();
        let refresh = login["refresh_token"].as_str().unwrap().to_owned();
        let refreshed: serde_json::Value = client
            .post(format!("{base}/api/v1/auth/refresh"))
            .json(&json!({"refresh_token": refresh}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let access2 = refreshed["access_token"].as_str().unwrap().to_owned();
        let refresh2 = refreshed["refresh_token"].as_str().unwrap().to_owned();
        client.get(format!("{base}/api/v1/me")).bearer_auth(&access2).send().await.unwrap();
        // Replay the used refresh token (logged as a warning, without the token).
        client.post(format!("{base}/api/v1/auth/refresh")).json(&json!({"refresh_token": refresh})).send().await.unwrap();
        client.post(format!("{base}/api/v1/auth/logout")).bearer_auth(&access2).send().await.unwrap();
        // Webhooks, well and badly signed.
        let event = json!({"id": "evt_log", "type": "customer.created", "data": {"object": {}}}).to_string();
        let now = chrono::Utc::now().timestamp();
        for key in ["whsec_log_secret_never_printed", "whsec_wrong"] {
            let signature = community_shares::payments::webhook::signature_header(key, now, event.as_bytes());
            client.post(format!("{base}/api/v1/webhooks/stripe")).header("Stripe-Signature", signature)
                .header("content-type", "application/json")
                .body(event.clone()).send().await.unwrap();
        }
        server.terminate();
        let log = server.log_text();
        assert!(log.contains("request finished"), "the log was captured: {log}");
        // One line at start says what runs: version, database kind, address, payment methods,
        // email transport; never the database's URL.
        let start = log.lines().find(|l| l.contains("listening")).expect("the start line");
        let kind = match backend { crate::support::Backend::Sqlite => "sqlite", crate::support::Backend::Postgres => "postgres" };
        for part in [
            format!("version=\"{}\"", env!("CARGO_PKG_VERSION")),
            format!("database=\"{kind}\""),
            "payment_methods=\"bank_transfer,card\"".to_owned(),
            "email=\"file\"".to_owned(),
            format!("address={}", base.trim_start_matches("http://")),
        ] {
            assert!(start.contains(&part), "{part} is not in the start line: {start}");
        }
        assert!(!log.contains(&database.url), "the database URL appears in the log");
        for (what, value) in [
            ("password", password),
            ("wrong password", "a wrong password 456"),
            ("access token", access.as_str()),
            ("rotated access token", access2.as_str()),
            ("refresh token", refresh.as_str()),
            ("rotated refresh token", refresh2.as_str()),
            ("jwt secret", secret),
            ("Stripe secret key", "sk_test_log_secret_never_printed"),
            ("Stripe webhook secret", "whsec_log_secret_never_printed"),
        ] {
            assert!(!log.contains(value), "the {what} appears in the log");
        }
        if backend == crate::support::Backend::Postgres {
            assert!(!log.contains(&database.url), "the database URL appears in the log");
        }
    }
}

both_backends! {
    async fn the_worker_command_runs_the_jobs_and_stops_on_sigterm(backend) {
        // An app whose own job loop has run its first (immediate) pass and then sleeps an hour.
        let app = crate::support::TestApp::spawn_with(backend, TestDatabase::new(backend).await, |s| {
            s.jobs.tick_ms = 3_600_000;
        })
        .await;
        let admin = app.user("admin").await;
        let platform = app.platform_admin().await;
        let society = app.society(&admin).await;
        app.bank_details(&admin, &society).await;
        let offer = app.approved_offer(&admin, &platform, &society, &crate::support::offer_body()).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(app.get(&format!("/api/v1/offers/{offer}"), Some(&admin.access_token)).await.body["status"], "approved");
        // `community-shares worker` over the same database opens it.
        let mut command = binary::command(app.database.dir.path());
        command
            .arg("worker")
            .env("CS__DATABASE__URL", &app.database.url)
            .env("CS__JOBS__TICK_MS", "50")
            .env("CS__AUTH__JWT_SECRET", crate::support::JWT_SECRET)
            .env("CS__EMAIL__FILE_DIR", app.database.dir.path().join("worker-outbox"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut worker = command.spawn().expect("worker starts");
        app.wait_for_status(&offer, Some(&admin.access_token), "open").await;
        let pid = worker.id().to_string();
        std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        let deadline = crate::support::patience::deadline();
        let status = loop {
            if let Some(status) = worker.try_wait().expect("wait") {
                break status;
            }
            assert!(std::time::Instant::now() < deadline, "the worker did not stop on SIGTERM");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert!(status.success(), "{status:?}");
        // Its email worker delivered the "offer opened" email to the society's admin as a file.
        let files = std::fs::read_dir(app.database.dir.path().join("worker-outbox")).map(|d| d.count()).unwrap_or(0);
        assert!(files >= 1, "the worker wrote no email");
    }
}

/// Runs `serve` as configured and expects it to refuse to start: answers its exit code and
/// standard error (a server that starts instead is stopped, and the test fails).
fn refused_start(mut command: std::process::Command) -> (Option<i32>, String) {
    use std::io::Read;
    command
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("the binary starts");
    let deadline = crate::support::patience::deadline();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started instead of refusing");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr read");
    (status.code(), stderr)
}

both_backends! {
    // A server never signs an existing log under a new key: one that finds signed checkpoints
    // and no key set or kept, or a key that did not sign the latest of them, stops with one line
    // naming the setting (exit 2), and makes no key; the log's own key serves.
    async fn a_server_refuses_to_sign_an_existing_log_with_a_new_key(backend) {
        let app = crate::support::TestApp::spawn(backend).await;
        let platform = app.platform_admin().await;
        let funder_admin = app.user("funder-admin").await;
        let funder = app.funder(&platform, &funder_admin).await;
        app.fund(&funder_admin, &funder, 1_000_000, crate::support::live_rule()).await;
        let deadline = crate::support::patience::deadline();
        while app.get("/api/v1/transparency/checkpoint", None).await.status != 200 {
            assert!(std::time::Instant::now() < deadline, "no transparency checkpoint");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }

        let fresh = tempfile::tempdir().unwrap();
        let mut keyless = binary::serve_command(&app.database);
        keyless
            .env_remove("CS__TRANSPARENCY__SIGNING_KEY")
            .env("CS__TRANSPARENCY__KEY_FILE", fresh.path().join("transparency-key"));
        let (code, stderr) = tokio::task::spawn_blocking(move || refused_start(keyless)).await.unwrap();
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("transparency.signing_key") && stderr.contains("never made anew"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(!fresh.path().join("transparency-key").exists(), "a key was made");

        let mut other = binary::serve_command(&app.database);
        other.env("CS__TRANSPARENCY__SIGNING_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
        let (code, stderr) = tokio::task::spawn_blocking(move || refused_start(other)).await.unwrap();
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("transparency.signing_key") && stderr.contains("did not sign"), "{stderr}");

        let mut server = RunningServer::start(binary::serve_command(&app.database));
        assert!(server.terminate().success());
    }
}
