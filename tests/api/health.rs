use crate::both_backends;
use crate::support::{binary, TestApp, TestDatabase};

both_backends! {
    async fn health_answers_ok_with_a_request_id(backend) {
        let app = TestApp::spawn(backend).await;
        let answer = app.get("/health", None).await;
        answer.expect(200);
        assert_eq!(answer.body, serde_json::json!({"status": "ok"}));
        assert!(answer.headers.contains_key("x-request-id"));
    }

    async fn a_well_formed_request_id_is_echoed(backend) {
        let app = TestApp::spawn(backend).await;
        let response = app
            .client
            .get(format!("{}/health", app.address))
            .header("x-request-id", "trace-123")
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["x-request-id"], "trace-123");
        let response = app
            .client
            .get(format!("{}/health", app.address))
            .header("x-request-id", "not allowed; spaces")
            .send()
            .await
            .unwrap();
        assert_ne!(response.headers()["x-request-id"], "not allowed; spaces");
    }

    async fn ready_when_the_database_answers_and_migrations_are_applied(backend) {
        let app = TestApp::spawn(backend).await;
        app.get("/ready", None).await.expect(200);
    }

    async fn migrate_is_idempotent_and_safe_to_run_concurrently(backend) {
        let database = TestDatabase::new(backend).await;
        let dir = database.dir.path().to_owned();
        let url = database.url.clone();
        let outputs = tokio::task::spawn_blocking(move || {
            let children: Vec<_> = (0..3)
                .map(|_| {
                    let mut command = binary::command(&dir);
                    command.arg("migrate").env("CS__DATABASE__URL", &url).env("CS__LOG__FILTER", "warn");
                    std::thread::spawn(move || binary::run(command, ""))
                })
                .collect();
            children.into_iter().map(|c| c.join().unwrap()).collect::<Vec<_>>()
        })
        .await
        .unwrap();
        let mut applied = Vec::new();
        for output in &outputs {
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(output.status.success(), "migrate failed: {stdout} {}", String::from_utf8_lossy(&output.stderr));
            applied.push(stdout.trim().to_owned());
        }
        // Exactly one run applied the migrations; the others found nothing to do.
        assert_eq!(applied.iter().filter(|line| line.as_str() == "applied 0 migrations").count(), 2, "{applied:?}");
        // A later run does nothing, and the server starts ready on the migrated database.
        let app = TestApp::spawn_with(backend, database, |_| {}).await;
        app.get("/ready", None).await.expect(200);
        let mut again = binary::command(app.database.dir.path());
        again.arg("migrate").env("CS__DATABASE__URL", &app.database.url);
        let output = binary::run(again, "");
        assert!(output.status.success());
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "applied 0 migrations");
    }
}

/// PostgreSQL only: the database disappears under a running server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_is_503_when_the_database_is_gone() {
    use diesel::prelude::*;
    let app = TestApp::spawn(crate::support::Backend::Postgres).await;
    app.get("/ready", None).await.expect(200);
    let url = app.database.url.clone();
    tokio::task::spawn_blocking(move || {
        let (base, name) = url.rsplit_once('/').unwrap();
        let mut admin = PgConnection::establish(&format!("{base}/postgres")).unwrap();
        diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut admin)
            .unwrap();
    })
    .await
    .unwrap();
    let answer = app.get("/ready", None).await;
    answer.expect(503);
    assert_eq!(answer.content_type(), "application/problem+json");
    assert_eq!(answer.body["status"], 503);
}
