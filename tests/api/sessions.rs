//! Login, throttling, token rotation, reuse detection, logout, and token verification.

use base64::Engine as _;
use serde_json::json;

use crate::both_backends;
use crate::support::{TestApp, JWT_SECRET, PASSWORD};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

both_backends! {
    async fn login_gives_a_bearer_pair_that_opens_me(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.user("gail").await;
        let answer = app
            .post("/api/v1/auth/login", None, &json!({"email": user.email, "password": PASSWORD}))
            .await;
        answer.expect(200);
        assert_eq!(answer.body["token_type"], "Bearer");
        assert_eq!(answer.body["expires_in"], 900);
        let token = answer.body["access_token"].as_str().unwrap();
        app.get("/api/v1/me", Some(token)).await.expect(200);
    }

    async fn wrong_password_and_unknown_email_get_the_same_401(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.user("hal").await;
        let wrong = app
            .post("/api/v1/auth/login", None, &json!({"email": user.email, "password": "not the password at all"}))
            .await;
        let unknown = app
            .post("/api/v1/auth/login", None, &json!({"email": "nobody@example.org", "password": "not the password at all"}))
            .await;
        wrong.expect(401);
        unknown.expect(401);
        assert_eq!(wrong.body, unknown.body);
    }

    async fn repeated_failures_for_one_email_are_throttled_with_retry_after(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.user("ida").await;
        let max = app.settings.auth.login_max_failures;
        for _ in 0..max {
            app.post("/api/v1/auth/login", None, &json!({"email": user.email, "password": "wrong password here"}))
                .await
                .expect(401);
        }
        // Now even the right password waits.
        let answer = app
            .post("/api/v1/auth/login", None, &json!({"email": user.email, "password": PASSWORD}))
            .await;
        answer.expect(429);
        let retry_after: u64 = answer.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry_after > 0 && retry_after <= app.settings.auth.login_window_secs);
    }

    async fn repeated_failures_from_one_address_are_throttled_across_emails(backend) {
        let app = TestApp::spawn(backend).await;
        let max = app.settings.auth.login_max_failures;
        for i in 0..max {
            app.post("/api/v1/auth/login", None, &json!({"email": format!("guess{i}@example.org"), "password": "wrong password here"}))
                .await
                .expect(401);
        }
        app.post("/api/v1/auth/login", None, &json!({"email": "another@example.org", "password": "wrong password here"}))
            .await
            .expect(429);
    }

    async fn a_burst_of_concurrent_guesses_gets_no_more_password_checks_than_the_limit(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.user("burst").await;
        let max = app.settings.auth.login_max_failures as usize;
        let body = json!({"email": user.email, "password": "a wrong guess of a password"});
        let answers = futures_util::future::join_all((0..3 * max).map(|_| app.post("/api/v1/auth/login", None, &body))).await;
        let checked = answers.iter().filter(|a| a.status == 401).count();
        let throttled = answers.iter().filter(|a| a.status == 429).count();
        assert!(checked <= max, "{checked} guesses were checked; the limit is {max}");
        assert_eq!(checked + throttled, 3 * max);
    }

    async fn refresh_rotates_and_the_old_token_stops_working(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.user("jo").await;
        let first = app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": user.refresh_token})).await;
        first.expect(200);
        let second_token = first.body["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(second_token, user.refresh_token);
        app.get("/api/v1/me", first.body["access_token"].as_str()).await.expect(200);
        // The new one rotates again.
        let second = app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": second_token})).await;
        second.expect(200);
        app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": "made-up"})).await.expect(401);
    }

    async fn reusing_a_refresh_token_revokes_the_whole_family(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.user("kim").await;
        let rotated = app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": user.refresh_token})).await;
        rotated.expect(200);
        let new_refresh = rotated.body["refresh_token"].as_str().unwrap().to_owned();
        let new_access = rotated.body["access_token"].as_str().unwrap().to_owned();
        // An attacker replays the old token: refused, and the session ends for everyone.
        app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": user.refresh_token})).await.expect(401);
        app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": new_refresh})).await.expect(401);
        app.get("/api/v1/me", Some(&new_access)).await.expect(401);
        app.get("/api/v1/me", Some(&user.access_token)).await.expect(401);
        // Other sessions of the same user are untouched.
        let other = app.login(&user.email, PASSWORD).await;
        app.get("/api/v1/me", Some(&other.access_token)).await.expect(200);
    }

    async fn concurrent_refreshes_with_one_token_let_at_most_one_through(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.user("lee").await;
        let body = json!({"refresh_token": user.refresh_token});
        let answers = futures_util::future::join_all((0..5).map(|_| app.post("/api/v1/auth/refresh", None, &body))).await;
        let ok = answers.iter().filter(|a| a.status == 200).count();
        assert!(ok <= 1, "{ok} refreshes succeeded with one token");
        assert!(answers.iter().all(|a| a.status == 200 || a.status == 401));
    }

    async fn logout_ends_the_session(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.user("max").await;
        let response = app
            .client
            .post(format!("{}/api/v1/auth/logout", app.address))
            .bearer_auth(&user.access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        app.get("/api/v1/me", Some(&user.access_token)).await.expect(401);
        app.post("/api/v1/auth/refresh", None, &json!({"refresh_token": user.refresh_token})).await.expect(401);
    }

    async fn tokens_with_another_algorithm_key_or_expiry_are_401(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.user("ned").await;
        let parts: Vec<&str> = user.access_token.split('.').collect();
        let claims: serde_json::Value =
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();

        // alg "none", no signature.
        let none = format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), parts[1]);
        app.get("/api/v1/me", Some(&none)).await.expect(401);

        // HS512 with the right secret: the algorithm is pinned to HS256.
        let hs512 = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
        )
        .unwrap();
        app.get("/api/v1/me", Some(&hs512)).await.expect(401);

        // HS256 with another key.
        let forged = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"some other secret of enough length!!"),
        )
        .unwrap();
        app.get("/api/v1/me", Some(&forged)).await.expect(401);

        // Expired.
        let mut expired_claims = claims.clone();
        let now = chrono::Utc::now().timestamp();
        expired_claims["iat"] = json!(now - 3600);
        expired_claims["exp"] = json!(now - 1800);
        let expired = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &expired_claims,
            &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
        )
        .unwrap();
        app.get("/api/v1/me", Some(&expired)).await.expect(401);

        // Tampered payload.
        let mut tampered_claims = claims.clone();
        tampered_claims["sub"] = json!("someone-else");
        let tampered = format!("{}.{}.{}", parts[0], b64(tampered_claims.to_string().as_bytes()), parts[2]);
        app.get("/api/v1/me", Some(&tampered)).await.expect(401);

        // The genuine token still works.
        app.get("/api/v1/me", Some(&user.access_token)).await.expect(200);
        app.get("/api/v1/me", None).await.expect(401);
    }
}
