//! Societies, funders and their admins.

use serde_json::json;

use crate::both_backends;
use crate::support::TestApp;

both_backends! {
    async fn a_society_is_created_with_its_creator_as_admin_and_shown_publicly(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.user("olive").await;
        let answer = app
            .post(
                "/api/v1/societies",
                Some(&admin.access_token),
                &json!({"name": " Hilltop Bakery ", "kind": "co_operative", "registration_number": "rs1234", "postcode": "ex4 3sr"}),
            )
            .await;
        answer.expect(201);
        assert_eq!(answer.body["name"], "Hilltop Bakery");
        assert_eq!(answer.body["registration_number"], "RS1234");
        assert_eq!(answer.body["postcode"], "EX4 3SR");
        assert_eq!(answer.body["has_bank_details"], false);
        let id = answer.body["id"].as_str().unwrap();
        let public = app.get(&format!("/api/v1/societies/{id}"), None).await;
        public.expect(200);
        assert_eq!(public.body, answer.body);
        let me = app.get("/api/v1/me", Some(&admin.access_token)).await;
        assert_eq!(me.body["societies"], json!([id]));
    }

    async fn a_duplicate_registration_number_is_409_and_a_bad_kind_400(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.user("pat").await;
        let body = json!({"name": "A", "kind": "co_operative", "registration_number": "RS9", "postcode": "EX4 3SR"});
        app.post("/api/v1/societies", Some(&admin.access_token), &body).await.expect(201);
        app.post("/api/v1/societies", Some(&admin.access_token), &body).await.expect(409);
        let bad = json!({"name": "A", "kind": "charity", "registration_number": "RS10", "postcode": "EX4 3SR"});
        let answer = app.post("/api/v1/societies", Some(&admin.access_token), &bad).await;
        answer.expect(400);
        assert_eq!(answer.error_fields(), vec!["kind"]);
    }

    async fn society_admins_add_admins_by_email(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.user("quinn").await;
        let colleague = app.user("rae").await;
        let society = app.society(&admin).await;
        let path = format!("/api/v1/societies/{society}/admins");
        let answer = app.post(&path, Some(&admin.access_token), &json!({"email": colleague.email.to_uppercase()})).await;
        answer.expect(202);
        assert_eq!(answer.body["status"], "invited");
        let invitation = answer.body["invitation_id"].as_str().unwrap().to_owned();
        // Asking again answers the invitation as it stands.
        let again = app.post(&path, Some(&admin.access_token), &json!({"email": colleague.email})).await;
        assert_eq!((again.status, &again.body["invitation_id"]), (202, &json!(invitation)));
        // Not an admin until they accept: the society is not theirs yet.
        let early = app
            .put(
                &format!("/api/v1/societies/{society}/bank-details"),
                Some(&colleague.access_token),
                &json!({"account_name": "Hilltop Bakery Ltd", "sort_code": "12-34-56", "account_number": "12345678"}),
            )
            .await;
        early.expect(403);
        // Nobody else may accept it.
        app.post(&format!("/api/v1/me/invitations/{invitation}/accept"), Some(&admin.access_token), &json!({}))
            .await
            .expect(404);
        let mine = app.get("/api/v1/me/invitations", Some(&colleague.access_token)).await;
        assert_eq!(mine.body[0]["kind"], "society");
        assert_eq!(mine.body[0]["organisation_id"], json!(society));
        assert_eq!(mine.body[0]["invited_by_name"], "quinn");
        app.accept_invitation(&colleague, &invitation).await;
        app.post(&format!("/api/v1/me/invitations/{invitation}/accept"), Some(&colleague.access_token), &json!({}))
            .await
            .expect(404);
        app.post(&path, Some(&admin.access_token), &json!({"email": colleague.email})).await.expect(409);
        let unknown = app.post(&path, Some(&admin.access_token), &json!({"email": "stranger@example.org"})).await;
        unknown.expect(422);
        assert_eq!(unknown.error_fields(), vec!["email"]);
        // The colleague now administers the society.
        app.put(
            &format!("/api/v1/societies/{society}/bank-details"),
            Some(&colleague.access_token),
            &json!({"account_name": "Hilltop Bakery Ltd", "sort_code": "12-34-56", "account_number": "12345678"}),
        )
        .await
        .expect(200);
        let missing = app.post("/api/v1/societies/nope/admins", Some(&admin.access_token), &json!({"email": colleague.email})).await;
        missing.expect(404);
    }

    async fn bank_details_are_validated_and_normalised(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.user("sam").await;
        let society = app.society(&admin).await;
        let path = format!("/api/v1/societies/{society}/bank-details");
        let bad = app
            .put(&path, Some(&admin.access_token), &json!({"account_name": "", "sort_code": "12345", "account_number": "1234567X"}))
            .await;
        bad.expect(422);
        assert_eq!(bad.error_fields(), vec!["account_name", "account_number", "sort_code"]);
        let good = app
            .put(&path, Some(&admin.access_token), &json!({"account_name": "Sam's Society", "sort_code": "12 34 56", "account_number": "12345678"}))
            .await;
        good.expect(200);
        assert_eq!(good.body, json!({"account_name": "Sam's Society", "sort_code": "123456", "account_number": "12345678"}));
        let public = app.get(&format!("/api/v1/societies/{society}"), None).await;
        assert_eq!(public.body["has_bank_details"], true);
        assert!(public.body.get("sort_code").is_none(), "bank details are not public");
    }

    async fn funders_are_created_by_platform_admins_and_run_by_their_admins(backend) {
        let app = TestApp::spawn(backend).await;
        let platform = app.platform_admin().await;
        let funder_admin = app.user("tess").await;
        let colleague = app.user("uma").await;
        let funder = app.funder(&platform, &funder_admin).await;
        let me = app.get("/api/v1/me", Some(&funder_admin.access_token)).await;
        assert_eq!(me.body["funders"], json!([funder]));
        assert_eq!(me.body["roles"], json!(["investor", "funder_admin"]));
        // A third admin takes two of the funder's admins, then the invitee's acceptance.
        app.add_funder_admin_by_two(&funder_admin, &app.colleague(&funder), &funder, &colleague).await;
        let path = format!("/api/v1/funders/{funder}/admins");
        app.post(&path, Some(&funder_admin.access_token), &json!({"email": colleague.email})).await.expect(409);
        // A platform admin's account is never a funder admin's.
        app.post(&path, Some(&colleague.access_token), &json!({"email": platform.email})).await.expect(403);
        app.post("/api/v1/funders/nope/admins", Some(&platform.access_token), &json!({"email": colleague.email}))
            .await
            .expect(404);
        let blank = app.post("/api/v1/funders", Some(&platform.access_token), &json!({"name": "  "})).await;
        blank.expect(422);
    }
}
