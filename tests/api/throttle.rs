//! Anonymous writes (registration) are throttled per client address, with `Retry-After`, on
//! every instance alike (the count is in the database); the other unauthenticated writes prove
//! something and are not.

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
        other => panic!("no body for {other}: add one when adding an anonymous write"),
    }
}

/// The path with its first letter after the last slash percent-encoded: the same route.
fn spelt_otherwise(path: &str) -> String {
    let (head, tail) = path.rsplit_once('/').expect("a path");
    let mut letters = tail.chars();
    let first = letters.next().expect("a name");
    format!("{head}/%{:02X}{}", first as u32, letters.as_str())
}

both_backends! {
    async fn every_anonymous_write_is_throttled_per_address_with_retry_after(backend) {
        let database = TestDatabase::new(backend).await;
        let app = TestApp::spawn_with(backend, database, |s| s.auth.anonymous_writes_max = 3).await;
        for path in ANONYMOUS_WRITES {
            // A GET is 405 and does not count.
            assert_eq!(app.get(path, None).await.status, 405);
            for n in 0..3 {
                // Spelt another way, the path still counts for its route.
                let sent_to = if n == 1 { spelt_otherwise(path) } else { (*path).to_owned() };
                let answer = app.post(&sent_to, None, &body(path, n)).await;
                assert_ne!(answer.status, 429, "{sent_to} refused request {n} of 3: {}", answer.text);
            }
            let refused = app.post(path, None, &body(path, 3)).await;
            refused.expect(429);
            assert_eq!(refused.content_type(), "application/problem+json");
            let retry_after: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=600).contains(&retry_after), "{path}: Retry-After {retry_after}");
            app.post(&spelt_otherwise(path), None, &body(path, 4)).await.expect(429);
        }
        // The refused registrations wrote nothing.
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
fn the_document_declares_429_on_every_unauthenticated_write_but_those_that_prove_something() {
    // Each proves something: a password (with its own throttle on failures, which documents
    // its 429), a refresh token, Stripe's signature, a funder's registered witness signature.
    const PROVEN: [&str; 4] = [
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/webhooks/stripe",
        "/api/v1/transparency/cosignatures",
    ];
    let document = community_shares::api::contract::document();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let unauthenticated = operation.get("security").is_none() && method != "get";
            let throttled = operation["responses"].get("429").is_some();
            let listed = ANONYMOUS_WRITES.contains(&path.as_str());
            assert!(
                !listed || (unauthenticated && throttled),
                "{method} {path} is listed but not declared so"
            );
            if unauthenticated && !listed {
                assert!(
                    PROVEN.contains(&path.as_str()),
                    "{method} {path} is an unthrottled anonymous write"
                );
            }
        }
    }
}
