//! Registration, `me` and the investor profile.

use serde_json::json;

use crate::both_backends;
use crate::support::{TestApp, PASSWORD};

both_backends! {
    async fn register_creates_an_account_with_a_normalised_email(backend) {
        let app = TestApp::spawn(backend).await;
        let answer = app
            .post(
                "/api/v1/auth/register",
                None,
                &json!({"email": "Ann.Jones@Example.ORG", "password": PASSWORD, "display_name": " Ann ", "postcode": "bs14dj"}),
            )
            .await;
        answer.expect(201);
        assert_eq!(answer.body["email"], "ann.jones@example.org");
        assert_eq!(answer.body["display_name"], "Ann");
        assert!(answer.body["id"].is_string());
        assert!(answer.body.get("password").is_none() && answer.body.get("password_hash").is_none());
        // Login works with the address in any case.
        app.login("ANN.JONES@example.org", PASSWORD).await;
    }

    async fn an_email_taken_in_any_case_is_409(backend) {
        let app = TestApp::spawn(backend).await;
        let body = json!({"email": "bob@example.org", "password": PASSWORD, "display_name": "Bob"});
        app.post("/api/v1/auth/register", None, &body).await.expect(201);
        let again = json!({"email": "BOB@example.org", "password": PASSWORD, "display_name": "Bob 2"});
        let answer = app.post("/api/v1/auth/register", None, &again).await;
        answer.expect(409);
        assert_eq!(answer.content_type(), "application/problem+json");
    }

    async fn a_weak_password_is_422(backend) {
        let app = TestApp::spawn(backend).await;
        let answer = app
            .post("/api/v1/auth/register", None, &json!({"email": "c@example.org", "password": "elevenchars", "display_name": "C"}))
            .await;
        answer.expect(422);
        assert_eq!(answer.error_fields(), vec!["password"]);
        let huge = "x".repeat(1025);
        let answer = app
            .post("/api/v1/auth/register", None, &json!({"email": "c@example.org", "password": huge, "display_name": "C"}))
            .await;
        answer.expect(422);
        assert_eq!(answer.error_fields(), vec!["password"]);
    }

    async fn me_shows_roles_memberships_and_profile_completeness(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.user("dana").await;
        let me = app.get("/api/v1/me", Some(&user.access_token)).await;
        me.expect(200);
        assert_eq!(me.body["roles"], json!(["investor"]));
        assert_eq!(me.body["societies"], json!([]));
        assert_eq!(me.body["profile_complete"], false);
        assert_eq!(me.body["email"], user.email);

        let society = app.society(&user).await;
        let me = app.get("/api/v1/me", Some(&user.access_token)).await;
        assert_eq!(me.body["roles"], json!(["investor", "society_admin"]));
        assert_eq!(me.body["societies"], json!([society]));
    }

    async fn the_profile_is_saved_and_completes_the_account(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.user("erin").await;
        let profile = json!({
            "full_name": "Erin Example",
            "address_line1": "1 Mill Lane",
            "town": "Stroud",
            "postcode": "gl5 1aa",
            "date_of_birth": "1980-02-29",
        });
        let answer = app.put("/api/v1/me/profile", Some(&user.access_token), &profile).await;
        answer.expect(200);
        assert_eq!(answer.body["postcode"], "GL5 1AA");
        assert_eq!(answer.body["profile_complete"], true);
        assert_eq!(answer.body["address_line2"], serde_json::Value::Null);
        let read = app.get("/api/v1/me/profile", Some(&user.access_token)).await;
        read.expect(200);
        assert_eq!(read.body, answer.body);
        let me = app.get("/api/v1/me", Some(&user.access_token)).await;
        assert_eq!(me.body["profile_complete"], true);
    }

    async fn a_bad_profile_is_422_with_every_field_and_changes_nothing(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.user("finn").await;
        let tomorrow = (chrono::Utc::now().date_naive() + chrono::Days::new(1)).to_string();
        let profile = json!({
            "full_name": " ",
            "address_line1": "1 Mill Lane",
            "town": "Stroud",
            "postcode": "nowhere",
            "date_of_birth": tomorrow,
        });
        let answer = app.put("/api/v1/me/profile", Some(&user.access_token), &profile).await;
        answer.expect(422);
        assert_eq!(answer.error_fields(), vec!["date_of_birth", "full_name", "postcode"]);
        let read = app.get("/api/v1/me/profile", Some(&user.access_token)).await;
        assert_eq!(read.body["full_name"], serde_json::Value::Null);
        assert_eq!(read.body["profile_complete"], false);
        let bad_date = json!({
            "full_name": "Finn", "address_line1": "1 Mill Lane", "town": "Stroud",
            "postcode": "GL5 1AA", "date_of_birth": "29/02/1980",
        });
        let answer = app.put("/api/v1/me/profile", Some(&user.access_token), &bad_date).await;
        answer.expect(422);
        assert!(answer.text.contains("RFC 3339"), "{}", answer.text);
        assert_eq!(answer.error_fields(), vec!["date_of_birth"]);
    }
}
