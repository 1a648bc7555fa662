//! The OpenAPI document served by the app is the one checked in as `openapi.json`.
//! Regenerate it with `CS_UPDATE_OPENAPI=1 cargo nextest run openapi` after changing the API.

use crate::support::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_openapi_document_matches_the_checked_in_file() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let served = app.get("/api/v1/openapi.json", None).await;
    served.expect(200);
    assert_eq!(served.body["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    if std::env::var("CS_UPDATE_OPENAPI").is_ok() {
        std::fs::write(path, &served.text).expect("write openapi.json");
    }
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == served.text,
        "openapi.json is out of date: run `CS_UPDATE_OPENAPI=1 cargo nextest run openapi` and commit it"
    );
}
