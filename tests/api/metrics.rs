//! `GET /metrics`: served on its own listener only, in Prometheus' text format (checked by
//! promtool), with the series README lists, whose counts move with the traffic.

use std::collections::BTreeMap;

use serde_json::json;

use crate::both_backends;
use crate::support::TestApp;

/// The samples of an exposition text: `name{labels}` → value (comments skipped).
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn value(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no sample {series} in {:#?}", samples.keys().collect::<Vec<_>>()))
}

async fn scrape(app: &TestApp) -> String {
    let port = app.metrics_port.expect("a metrics listener");
    let response = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("scraped");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    response.text().await.expect("text")
}

/// promtool's own check of the exposition format and its naming rules.
fn promtool_check(text: &str) {
    use std::io::Write;
    let promtool = std::env::var("CS_TEST_PROMTOOL")
        .expect("CS_TEST_PROMTOOL (Debian's promtool; scripts/test fetches it into target/tools/deb) is not set");
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success() && output.stdout.is_empty() && output.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

both_backends! {
    async fn metrics_are_served_apart_and_count_what_committed(backend) {
        let database = crate::support::TestDatabase::new(backend).await;
        let app = TestApp::spawn_with(backend, database, |s| {
            s.metrics.bind = Some("127.0.0.1:0".into());
            s.jobs.tick_ms = 50;
        }).await;
        // Never on the public listener.
        app.get("/metrics", None).await.expect(404);

        let (admin, platform, offer) = app.open_offer_scene().await;
        let ann = app.investor("ann").await;
        let bob = app.investor("bob").await;
        let paid = app.pledge(&ann, &offer, 25_000).await;
        paid.expect(201);
        let cancelled = app.pledge(&bob, &offer, 10_000).await;
        cancelled.expect(201);
        // Refused (under the minimum holding): not counted as a pledge.
        app.pledge(&bob, &offer, 1).await.expect(422);
        app.post(&format!("/api/v1/pledges/{}/cancel", cancelled.body["id"].as_str().unwrap()),
            Some(&bob.access_token), &json!({})).await.expect(200);
        app.post(&format!("/api/v1/offers/{offer}/bank-receipts"), Some(&admin.access_token), &json!({
            "reference": paid.body["payment"]["bank_reference"], "amount_pence": 25_000,
            "received_at": chrono::Utc::now().to_rfc3339(),
        })).await.expect(201);
        assert_eq!(app.verify_ledger(&platform).await["balanced"], true);

        let text = scrape(&app).await;
        promtool_check(&text);
        let first = samples(&text);
        assert_eq!(value(&first, "cs_pledges_created_total"), 2.0);
        assert_eq!(value(&first, "cs_pledged_pence_total"), 35_000.0);
        assert_eq!(value(&first, "cs_pledges_paid_total"), 1.0);
        assert_eq!(value(&first, "cs_paid_pence_total"), 25_000.0);
        assert_eq!(value(&first, "cs_pledges_cancelled_total"), 1.0);
        let pledges_route = r#"cs_http_requests_total{method="POST",route="/api/v1/offers/{id}/pledges",status="201"}"#;
        assert_eq!(value(&first, pledges_route), 2.0);
        assert_eq!(value(&first, r#"cs_http_requests_total{method="POST",route="/api/v1/offers/{id}/pledges",status="422"}"#), 1.0);
        assert_eq!(value(&first, r#"cs_http_requests_total{method="GET",route="unmatched",status="404"}"#), 1.0);
        assert!(value(&first, r#"cs_http_request_duration_seconds_count{method="POST",route="/api/v1/offers/{id}/pledges",status="201"}"#) == 2.0);
        assert!(first.contains_key(r#"cs_http_request_duration_seconds_bucket{method="POST",route="/api/v1/offers/{id}/pledges",status="201",le="0.1"}"#));
        assert_eq!(value(&first, "cs_ledger_last_verify_balanced"), 1.0);
        let verified_at = value(&first, "cs_ledger_last_verify_timestamp_seconds");
        assert!((chrono::Utc::now().timestamp() as f64 - verified_at).abs() < 60.0, "{verified_at}");
        assert!(value(&first, r#"cs_outbox_emails{status="pending"}"#) >= 0.0);
        assert_eq!(value(&first, r#"cs_outbox_emails{status="dead"}"#), 0.0);
        assert!(value(&first, "cs_outbox_oldest_pending_age_seconds") >= 0.0);
        assert!(value(&first, r#"cs_db_pool_connections{state="idle"}"#) >= 1.0);
        assert!(first.contains_key("cs_db_pool_waiting"));
        assert!(value(&first, r#"cs_job_runs_total{job="offer_transitions",outcome="ok"}"#) >= 1.0);
        assert!(value(&first, r#"cs_job_lag_seconds{job="deliver_email"}"#) >= 0.0);
        assert!(first.contains_key(r#"cs_job_run_duration_seconds_count{job="close_out"}"#));
        assert_eq!(value(&first, r#"cs_build_info{version="0.1.0"}"#), 1.0);

        // The counts move.
        let carl = app.investor("carl").await;
        app.pledge(&carl, &offer, 15_000).await.expect(201);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let second = samples(&scrape(&app).await);
        assert_eq!(value(&second, "cs_pledges_created_total"), 3.0);
        assert_eq!(value(&second, "cs_pledged_pence_total"), 50_000.0);
        assert_eq!(value(&second, pledges_route), 3.0);
        assert!(value(&second, r#"cs_job_runs_total{job="offer_transitions",outcome="ok"}"#)
            > value(&first, r#"cs_job_runs_total{job="offer_transitions",outcome="ok"}"#));
    }
}
