//! Every kind of error is an RFC 9457 problem with the right status.

use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::support::TestApp;

fn assert_problem(answer: &crate::support::Answer, status: u16) {
    answer.expect(status);
    assert_eq!(answer.content_type(), "application/problem+json", "{}", answer.text);
    assert_eq!(answer.body["status"], status);
    for member in ["type", "title", "detail"] {
        assert!(
            answer.body[member].is_string(),
            "problem lacks {member}: {}",
            answer.text
        );
    }
}

both_backends! {
    async fn unknown_route_is_404_problem(backend) {
        let app = TestApp::spawn(backend).await;
        assert_problem(&app.get("/api/v1/no-such-thing", None).await, 404);
    }

    async fn wrong_method_is_405_problem_with_allow(backend) {
        let app = TestApp::spawn(backend).await;
        let answer = app.call(Method::DELETE, "/health", None, None).await;
        assert_problem(&answer, 405);
        assert_eq!(answer.headers["allow"], "GET");
    }

    async fn malformed_json_is_400_problem(backend) {
        let app = TestApp::spawn(backend).await;
        let response = app
            .client
            .post(format!("{}/api/v1/auth/register", app.address))
            .header("content-type", "application/json")
            .body("{\"email\": ")
            .send()
            .await
            .unwrap();
        let answer = crate::support::Answer::read(response).await;
        assert_problem(&answer, 400);
        assert!(answer.body["detail"].as_str().unwrap().contains("not valid JSON"));
    }

    async fn a_body_of_the_wrong_shape_is_400_naming_the_field(backend) {
        let app = TestApp::spawn(backend).await;
        let answer = app
            .post("/api/v1/auth/register", None, &json!({"email": 42, "password": "x", "display_name": "A"}))
            .await;
        assert_problem(&answer, 400);
        assert_eq!(answer.error_fields(), vec!["email"]);
        let answer = app.post("/api/v1/auth/register", None, &json!({"email": "a@example.org"})).await;
        assert_problem(&answer, 400);
        assert_eq!(answer.error_fields(), vec!["display_name", "password"]);
    }

    async fn a_body_that_is_not_json_is_415_problem(backend) {
        let app = TestApp::spawn(backend).await;
        let response = app
            .client
            .post(format!("{}/api/v1/auth/register", app.address))
            .header("content-type", "text/plain")
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_problem(&crate::support::Answer::read(response).await, 415);
    }

    async fn a_body_over_the_limit_is_413_problem(backend) {
        let app = TestApp::spawn(backend).await;
        let big = "x".repeat(app.settings.server.body_limit_bytes + 1);
        let answer = app
            .post("/api/v1/auth/register", None, &json!({"email": "a@example.org", "password": big, "display_name": "A"}))
            .await;
        assert_problem(&answer, 413);
    }

    async fn broken_rules_are_422_with_every_field(backend) {
        let app = TestApp::spawn(backend).await;
        let answer = app
            .post(
                "/api/v1/auth/register",
                None,
                &json!({"email": "not-an-email", "password": "short", "display_name": "  ", "postcode": "nowhere"}),
            )
            .await;
        assert_problem(&answer, 422);
        assert_eq!(answer.error_fields(), vec!["display_name", "email", "password", "postcode"]);
        // Nothing was written: the same email registers fine afterwards.
        assert!(answer.body["errors"][0]["message"].is_string());
    }

    async fn a_nul_character_anywhere_is_400_not_a_database_error(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.user("nul").await;
        let answer = app
            .post("/api/v1/societies", Some(&user.access_token), &json!({"name": "a\u{0}b", "kind": "co_operative", "registration_number": "R1", "postcode": "BS1 4DJ"}))
            .await;
        assert_problem(&answer, 400);
        assert_problem(&app.get("/api/v1/offers?cursor=%00", None).await, 400);
        assert_problem(&app.get("/api/v1/offers/%00", None).await, 400);
        assert_problem(&app.get("/api/v1/societies/a%00b", None).await, 400);
    }

    async fn a_wrong_type_or_a_nul_in_an_optional_member_is_400_naming_it(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.user("optional").await;
        let society = app.society(&admin).await;
        let draft = app.draft_offer(&admin, &society, &crate::support::offer_body()).await;
        let path = format!("/api/v1/offers/{draft}");
        let token = Some(admin.access_token.as_str());
        // An optional amount is `oneOf: [null, Pence]` in the document: a string is neither.
        let answer = app.call(Method::PATCH, &path, token, Some(&json!({"share_price_pence": "ten"}))).await;
        assert_problem(&answer, 400);
        assert_eq!(answer.error_fields(), vec!["share_price_pence"]);
        let answer = app.call(Method::PATCH, &path, token, Some(&json!({"title": "a\u{0}b"}))).await;
        assert_problem(&answer, 400);
        assert_eq!(answer.error_fields(), vec!["title"]);
        // A number out of its bounds is a broken rule, named too.
        let answer = app.call(Method::PATCH, &path, token, Some(&json!({"share_price_pence": -1}))).await;
        assert_problem(&answer, 422);
        assert_eq!(answer.error_fields(), vec!["share_price_pence"]);
    }

    async fn a_path_id_that_names_nothing_is_404_problem(backend) {
        let app = TestApp::spawn(backend).await;
        assert_problem(&app.get("/api/v1/societies/no-such-society", None).await, 404);
    }
}
