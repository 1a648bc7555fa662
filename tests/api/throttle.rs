//! Anonymous writes (registration, login, token refresh) are throttled per client address,
//! with `Retry-After`, on every instance alike (the count is in the database).

use community_shares::api::contract::ANONYMOUS_WRITES;
use serde_json::json;

use crate::both_backends;
use crate::support::{TestApp, TestDatabase};

/// A body each anonymous write takes; `n` makes it unique.
fn body(path: &str, n: usize) -> serde_json::Value {
    match path {
        "/api/v1/auth/register" => {
            json!({"email": format!("flood-{n}@example.org"), "password": "correct horse battery", "display_name": "Flood"})
        }
        "/api/v1/auth/login" => json!({"email": "nobody@example.org", "password": "wrong password here"}),
        "/api/v1/auth/refresh" => json!({"refresh_token": format!("not-a-token-{n}")}),
        other => panic!("no body for {other}: add one when adding an anonymous write"),
    }
}

both_backends! {
    async fn every_anonymous_write_is_throttled_per_address_with_retry_after(backend) {
        let database = TestDatabase::new(backend).await;
        let app = TestApp::spawn_with(backend, database, |s| {
            s.auth.anonymous_writes_max = 3;
            s.auth.login_max_failures = 100;
        })
        .await;
        for path in ANONYMOUS_WRITES {
            for n in 0..3 {
                let answer = app.post(path, None, &body(path, n)).await;
                assert_ne!(answer.status, 429, "{path} refused request {n} of 3: {}", answer.text);
            }
            let refused = app.post(path, None, &body(path, 3)).await;
            refused.expect(429);
            assert_eq!(refused.content_type(), "application/problem+json");
            let retry_after: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=600).contains(&retry_after), "{path}: Retry-After {retry_after}");
        }
        // The refused registration wrote nothing.
        let registered = app
            .with_db(|conn| {
                use community_shares::db::schema::users;
                use diesel::prelude::*;
                Ok(users::table.filter(users::email.like("flood-%")).count().get_result::<i64>(conn)?)
            })
            .await;
        assert_eq!(registered, 3);
    }

    async fn behind_a_trusted_proxy_each_client_address_has_its_own_count(backend) {
        let database = TestDatabase::new(backend).await;
        let app = TestApp::spawn_with(backend, database, |s| {
            s.auth.anonymous_writes_max = 2;
            s.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        })
        .await;
        let register = |n: usize, client: &'static str| {
            app.client
                .post(format!("{}/api/v1/auth/register", app.address))
                .header("x-forwarded-for", client)
                .json(&body("/api/v1/auth/register", n))
                .send()
        };
        for n in 0..2 {
            assert_eq!(register(n, "198.51.100.7").await.unwrap().status(), 201);
        }
        assert_eq!(register(2, "198.51.100.7").await.unwrap().status(), 429);
        assert_eq!(register(3, "203.0.113.20").await.unwrap().status(), 201);
    }
}

#[test]
fn the_document_declares_429_exactly_on_the_anonymous_writes() {
    let document = community_shares::api::contract::document();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let anonymous = operation.get("security").is_none();
            let throttled = operation["responses"].get("429").is_some();
            let listed = method == "post" && ANONYMOUS_WRITES.contains(&path.as_str());
            assert_eq!(
                throttled, listed,
                "{method} {path}: 429 documented {throttled}, listed {listed}"
            );
            if anonymous && method != "get" && !listed {
                // The one anonymous write not throttled: each Stripe event is authenticated by
                // its signature.
                assert_eq!(
                    path, "/api/v1/webhooks/stripe",
                    "{method} {path} is an unthrottled anonymous write"
                );
            }
        }
    }
}
