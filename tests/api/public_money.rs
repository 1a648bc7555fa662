//! The public record of match money: the fund's public page, the impact view, the 360Giving
//! open data (validated against the standard's schema, and its CSV read back by flattentool),
//! and the transparency log (verified from its export, by proofs, by the CLI, cosigned by a
//! funder's witness, and caught when tampered with). An offer with two funds succeeds and
//! another fails; nothing public names an investor.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::both_backends;
use crate::support::{binary, live_rule, Backend, TestApp, TestUser};

/// Two funders' funds on one offer that succeeds (Annwyl £5,000, Bartholomew £4,000 from GL5,
/// Catrin £1,000) and one of them on another offer that fails (Dafydd £100).
pub struct Scene {
    pub app: TestApp,
    pub platform: TestUser,
    pub funder_admin_a: TestUser,
    pub funder_a: String,
    pub fund_a: String,
    pub funder_b: String,
    pub fund_b: String,
    pub allocated: String,
    pub failed: String,
    pub investors: Vec<TestUser>,
}

/// Fund B: 50p for every £1, up to £100 per investor.
fn rule_b() -> Value {
    json!({"kind": "per_pledge", "ratio_num": 1, "ratio_den": 2, "per_pledge_cap_pence": 10_000,
           "per_offer_cap_pence": 100_000, "trigger": {"kind": "none"}, "timing": "live"})
}

async fn approve(app: &TestApp, admin: &TestUser, fund: &str, application: &str, commitment: i64) {
    app.post(
        &format!("/api/v1/funds/{fund}/applications/{application}/approve"),
        Some(&admin.access_token),
        &json!({"commitment_pence": commitment}),
    )
    .await
    .expect(200);
}

/// A bank pledge paid by a receipt `admin` types (confirmed by `platform` when the offer holds
/// match money).
async fn paid_pledge(
    app: &TestApp,
    admin: &TestUser,
    platform: &TestUser,
    investor: &TestUser,
    offer: &str,
    amount: i64,
) {
    let pledge = app.pledge(investor, offer, amount).await;
    pledge.expect(201);
    app.receipt_by_hand(
        admin,
        platform,
        offer,
        &pledge.body["payment"]["bank_reference"],
        amount,
    )
    .await;
}

pub async fn scene(backend: Backend) -> Scene {
    let app = TestApp::spawn(backend).await;
    let (society_admin, platform, allocated) = app.open_offer_scene().await;
    let society = app.get(&format!("/api/v1/offers/{allocated}"), None).await.body["society_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let funder_admin_a = app.user("funder-a").await;
    let funder_a = app.funder(&platform, &funder_admin_a).await;
    let fund_a = app.fund(&funder_admin_a, &funder_a, 1_000_000, live_rule()).await;
    let funder_admin_b = app.user("funder-b").await;
    let funder_b = app.funder(&platform, &funder_admin_b).await;
    let fund_b = app.fund(&funder_admin_b, &funder_b, 200_000, rule_b()).await;
    let application = app.apply(&society_admin, &allocated, &fund_a).await;
    approve(&app, &funder_admin_a, &fund_a, &application, 500_000).await;
    let application = app.apply(&society_admin, &allocated, &fund_b).await;
    approve(&app, &funder_admin_b, &fund_b, &application, 100_000).await;
    let failed = app.open_offer(&society_admin, &platform, &society).await;
    let application = app.apply(&society_admin, &failed, &fund_a).await;
    approve(&app, &funder_admin_a, &fund_a, &application, 100_000).await;
    let mut investors = Vec::new();
    for (name, amount, offer) in [
        ("Annwyl", 500_000, &allocated),
        ("Bartholomew", 400_000, &allocated),
        ("Catrin", 100_000, &allocated),
        ("Dafydd", 10_000, &failed),
    ] {
        let investor = app.investor(name).await;
        if name == "Bartholomew" {
            let profile = json!({"full_name": "Bartholomew Example", "address_line1": "2 High Street", "town": "Stroud",
                                 "postcode": "GL5 1AA", "date_of_birth": "1980-05-01"});
            app.put("/api/v1/me/profile", Some(&investor.access_token), &profile)
                .await
                .expect(200);
        }
        paid_pledge(&app, &society_admin, &platform, &investor, offer, amount).await;
        investors.push(investor);
    }
    for offer in [&allocated, &failed] {
        app.post(
            &format!("/api/v1/offers/{offer}/close"),
            Some(&platform.access_token),
            &json!({}),
        )
        .await
        .expect(200);
    }
    app.wait_for_status(&allocated, Some(&society_admin.access_token), "allocated")
        .await;
    app.wait_for_status(&failed, Some(&society_admin.access_token), "failed")
        .await;
    // The close-out decides "failed" first and releases the funds' commitments in its next step.
    let deadline = crate::support::patience::deadline();
    loop {
        let applications = app
            .get(
                &format!("/api/v1/offers/{failed}/match-applications"),
                Some(&society_admin.access_token),
            )
            .await
            .body;
        if applications[0]["status"] == "released" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the failed offer's commitment was never released"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Scene {
        app,
        platform,
        funder_admin_a,
        funder_a,
        fund_a,
        funder_b,
        fund_b,
        allocated,
        failed,
        investors,
    }
}

impl Scene {
    /// Waits until every public transfer is in a signed checkpoint; returns the export.
    pub async fn settled_export(&self) -> Value {
        let deadline = crate::support::patience::deadline();
        loop {
            let queued: i64 = self
                .app
                .with_db(|conn| {
                    use community_shares::db::schema::transparency_entries::dsl::*;
                    use diesel::prelude::*;
                    Ok(transparency_entries
                        .filter(leaf_index.is_null())
                        .count()
                        .get_result(conn)?)
                })
                .await;
            let export = self.app.get("/api/v1/transparency/export", None).await;
            if queued == 0 && export.status == 200 && !export.body["entries"].as_array().unwrap().is_empty() {
                return export.body;
            }
            assert!(Instant::now() < deadline, "the log never caught up ({queued} queued)");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every investor's personal data, as the platform holds it.
    async fn personal_data(&self) -> Vec<String> {
        let mut found = vec![
            "BS1 4DJ".to_owned(),
            "GL5 1AA".to_owned(),
            "High Street".to_owned(),
            "Quay Street".to_owned(),
        ];
        for investor in &self.investors {
            let me = self.app.get("/api/v1/me", Some(&investor.access_token)).await.body;
            found.push(investor.email.clone());
            found.push(me["id"].as_str().unwrap().to_owned());
            found.push(me["display_name"].as_str().unwrap().to_owned());
            let profile = self
                .app
                .get("/api/v1/me/profile", Some(&investor.access_token))
                .await
                .body;
            found.push(profile["full_name"].as_str().unwrap().to_owned());
        }
        found
    }

    /// Fails when any personal datum appears in `text`.
    pub async fn assert_names_no_one(&self, what: &str, text: &str) {
        for datum in self.personal_data().await {
            assert!(!text.contains(&datum), "{what} names {datum:?}");
        }
    }
}

fn by_offer<'a>(offers: &'a Value, offer: &str) -> &'a Value {
    offers
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["offer_id"] == offer)
        .unwrap_or_else(|| panic!("offer {offer} in {offers}"))
}

both_backends! {
    async fn a_fund_s_public_page_shows_every_award_and_transfer_and_names_no_one(backend) {
        let s = scene(backend).await;
        let page = s.app.get(&format!("/api/v1/funds/{}/public", s.fund_a), None).await;
        page.expect(200);
        let p = &page.body;
        assert_eq!(p["funder"]["id"], s.funder_a.as_str());
        assert_eq!(p["budget_pence"], 1_000_000);
        assert_eq!(
            p["rule_text"],
            "£1 for every £1 pledged, up to £250 per investor and £5,000 per offer; matched as pledges arrive"
        );
        // ann, bob and cat matched £250 each on the allocated offer; dan's £100 was matched and
        // released with the failed offer.
        assert_eq!(p["allocated_pence"], 75_000);
        assert_eq!(p["released_pence"], 500_000 - 75_000 + 100_000);
        assert_eq!(p["committed_pence"], 75_000);
        assert_eq!(p["available_pence"], 1_000_000 - 75_000);
        let allocated = by_offer(&p["offers"], &s.allocated);
        assert_eq!(allocated["offer_status"], "allocated");
        assert_eq!(allocated["commitment_pence"], 500_000);
        assert_eq!(allocated["allocated_pence"], 75_000);
        assert_eq!(allocated["funder_shares"], 750);
        assert_eq!(allocated["district"], "BS1");
        assert!(allocated["society_organisation_id"].as_str().unwrap().starts_with("GB-MPR-RS"));
        let failed = by_offer(&p["offers"], &s.failed);
        assert_eq!((failed["offer_status"].as_str(), failed["application_status"].as_str()), (Some("failed"), Some("released")));
        assert_eq!((failed["released_pence"].as_i64(), failed["allocated_pence"].as_i64()), (Some(100_000), Some(0)));
        let kinds: Vec<String> = p["transfers"].as_array().unwrap().iter()
            .map(|t| format!("{}/{}", t["kind"].as_str().unwrap(), t["phase"].as_str().unwrap()))
            .collect();
        let count = |k: &str| kinds.iter().filter(|x| *x == k).count();
        assert_eq!(
            (count("budget/single"), count("commitment/single"), count("match/pending"), count("match/post"), count("match/void"), count("release/single")),
            (1, 2, 4, 3, 1, 2),
            "{kinds:?}"
        );
        // Every transfer is on the log once the sequencer has run.
        s.settled_export().await;
        let page = s.app.get(&format!("/api/v1/funds/{}/public", s.fund_a), None).await.body;
        assert!(page["transfers"].as_array().unwrap().iter().all(|t| t["log_index"].is_i64()), "{page}");
        s.assert_names_no_one("the public fund page", &page.to_string()).await;
        // Fund B backs only the allocated offer: 50p per £1 up to £100 each.
        let b = s.app.get(&format!("/api/v1/funds/{}/public", s.fund_b), None).await.body;
        assert_eq!(b["allocated_pence"], 30_000);
        assert_eq!(b["offers"].as_array().unwrap().len(), 1);
        // The list of every fund counts an allocated offer's match and a released commitment
        // as each fund's own summary does.
        let listed = s.app.get("/api/v1/funds", None).await.body;
        for fund in [&s.fund_a, &s.fund_b] {
            let own = s.app.get(&format!("/api/v1/funds/{fund}"), None).await.body;
            let item = listed.as_array().unwrap().iter().find(|f| f["id"] == fund.as_str()).unwrap();
            assert_eq!(item["available_pence"], own["available_pence"], "fund {fund}");
        }
        assert_eq!(listed.as_array().unwrap().iter().find(|f| f["id"] == s.fund_a.as_str()).unwrap()["available_pence"], 1_000_000 - 75_000);
        s.app.get("/api/v1/funds/no-such-fund/public", None).await.expect(404);
    }

    async fn the_impact_view_counts_leverage_investors_and_outcomes(backend) {
        let s = scene(backend).await;
        let view = s.app.get(&format!("/api/v1/funds/{}/impact", s.fund_a), None).await;
        view.expect(200);
        let i = &view.body["impact"];
        // Live, paid or allocated pledges: ann, bob, cat (dan's was refunded with the failed offer).
        assert_eq!(i["matched_pence"], 75_000);
        assert_eq!(i["community_pence"], 1_000_000);
        assert_eq!(i["leverage"], "13.33");
        assert_eq!(i["investors"], 3);
        // ann and cat live in BS1 like the society; bob in GL5.
        assert_eq!(i["local_investor_share_bps"], 6_666);
        assert_eq!(i["median_pledge_pence"], 400_000);
        assert_eq!((i["offers_succeeded"].as_i64(), i["offers_failed"].as_i64(), i["offers_open"].as_i64()), (Some(1), Some(1), Some(0)));
        let months = i["by_month"].as_array().unwrap();
        assert_eq!(months.len(), 1);
        assert_eq!(months[0]["month"], community_shares::clock::uk_month(community_shares::clock::now()));
        assert_eq!(view.body["funds"].as_array().unwrap().len(), 1);
        let funder = s.app.get(&format!("/api/v1/funders/{}/impact", s.funder_b), None).await.body;
        assert_eq!(funder["impact"]["matched_pence"], 30_000);
        assert_eq!(funder["impact"]["leverage"], "33.33");
        s.assert_names_no_one("the impact view", &view.body.to_string()).await;
        s.app.get("/api/v1/funders/nobody/impact", None).await.expect(404);
    }
}

const GRANT_SCHEMA_142: &str =
    "https://raw.githubusercontent.com/ThreeSixtyGiving/standard/1.4.2/schema/360-giving-schema.json";
const GRANT_SCHEMA_143: &str =
    "https://raw.githubusercontent.com/ThreeSixtyGiving/standard/1.4.3/schema/360-giving-schema.json";

fn schema_file(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/360giving")
        .join(name)
}

fn read_schema(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(schema_file(name)).expect("the 360Giving schema")).expect("JSON")
}

/// Every error of `package` against the 360Giving package schema, offline (the grant schema's
/// URLs, 1.4.2 as the package names it and 1.4.3 as it names itself, resolve to the local
/// file), with formats checked (the standard's dates are `date-time` or a date pattern).
fn giving_errors(package: &Value) -> Vec<String> {
    let grant = read_schema("360-giving-schema.json");
    let registry = jsonschema::Registry::new()
        .add(GRANT_SCHEMA_142, grant.clone())
        .and_then(|r| r.add(GRANT_SCHEMA_143, grant))
        .and_then(|r| r.prepare())
        .expect("a registry of the local schemas");
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .with_registry(&registry)
        .build(&read_schema("360-giving-package-schema.json"))
        .expect("the package schema compiles");
    validator
        .iter_errors(package)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// flattentool (360Giving's own CSV reader, from the test virtualenv) turns the CSV into a
/// package, with `base` as the package's metadata.
fn unflatten(csv: &str, base: &Value) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join("grants.csv"), csv).unwrap();
    std::fs::write(dir.path().join("base.json"), base.to_string()).unwrap();
    let python = std::env::var("CS_TEST_PYTHON").expect("CS_TEST_PYTHON (scripts/test sets it)");
    let tool = std::path::Path::new(&python).with_file_name("flatten-tool");
    let output = std::process::Command::new(&tool)
        .args([
            "unflatten",
            "-f",
            "csv",
            "--convert-titles",
            "--root-list-path",
            "grants",
            "--root-id",
            "",
            "--schema",
        ])
        .arg(schema_file("360-giving-schema.json"))
        .arg("--base-json")
        .arg(dir.path().join("base.json"))
        .arg("-o")
        .arg(dir.path().join("package.json"))
        .arg(&input)
        .output()
        .unwrap_or_else(|e| panic!("{} runs: {e}", tool.display()));
    assert!(
        output.status.success(),
        "flatten-tool: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(dir.path().join("package.json")).unwrap()).unwrap()
}

both_backends! {
    async fn the_open_data_is_a_valid_360giving_package_in_json_and_csv(backend) {
        let s = scene(backend).await;
        s.app.get(&format!("/api/v1/funds/{}/360giving.json", "no-such-fund"), None).await.expect(404);
        // What a funder says of itself, checked.
        let bad = json!({"organisation_id": "Stroud council", "website": "stroud.gov.uk", "licence_url": null});
        let refused = s.app.put(&format!("/api/v1/funders/{}/open-data", s.funder_a), Some(&s.funder_admin_a.access_token), &bad).await;
        refused.expect(422);
        assert_eq!(refused.error_fields(), ["organisation_id", "website"]);
        let good = json!({"organisation_id": "GB-LAE-STO", "website": "https://www.stroud.gov.uk",
                          "licence_url": "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/"});
        s.app.put(&format!("/api/v1/funders/{}/open-data", s.funder_a), Some(&s.funder_admin_a.access_token), &good).await.expect(204);

        let response = s.app.get(&format!("/api/v1/funds/{}/360giving.json", s.fund_a), None).await;
        response.expect(200);
        let package = response.body.clone();
        assert_eq!(giving_errors(&package), Vec::<String>::new());
        // The check is a real one: a date in the wrong form, an amount as text, fail it.
        let mut broken = package.clone();
        broken["grants"][0]["awardDate"] = json!("14/03/2026");
        broken["grants"][1]["amountAwarded"] = json!("£1,000.00");
        assert_eq!(giving_errors(&broken).len(), 2, "{:?}", giving_errors(&broken));
        assert_eq!(package["publisher"]["identifier"], "GB-LAE-STO");
        assert_eq!(package["license"], good["licence_url"]);
        let grants = package["grants"].as_array().unwrap();
        assert_eq!(grants.len(), 2, "one record per award: {package}");
        let allocated = grants.iter().find(|g| g["communityShares"]["offerId"] == s.allocated.as_str()).unwrap();
        // Exact pounds from pence, as written: £5,000 awarded, £750 became shares.
        assert!(response.text.contains(r#""amountAwarded":5000.00,"amountDisbursed":750.00"#), "{}", response.text);
        assert_eq!((allocated["amountAwarded"].as_f64(), allocated["amountDisbursed"].as_f64()), (Some(5000.0), Some(750.0)));
        assert_eq!(allocated["currency"], "GBP");
        assert_eq!(allocated["fundingOrganization"][0]["id"], "GB-LAE-STO");
        assert!(allocated["recipientOrganization"][0]["id"].as_str().unwrap().starts_with("GB-MPR-RS"));
        assert_eq!(allocated["beneficiaryLocation"][0]["name"], "BS1");
        assert_eq!(allocated["fundingType"][0]["code"], "equity-withdrawable-shares");
        assert_eq!(allocated["communityShares"]["funderShares"], 750);
        assert!(allocated["description"].as_str().unwrap().contains("not a gift"));
        // Each record links back to its ledger transfers and their places in the log.
        let ledger = allocated["communityShares"]["ledgerTransfers"].as_array().unwrap();
        assert!(ledger.iter().any(|t| t.as_str().unwrap().starts_with("commitment:")), "{ledger:?}");
        let failed = grants.iter().find(|g| g["communityShares"]["offerId"] == s.failed.as_str()).unwrap();
        assert!(response.text.contains(r#""amountAwarded":1000.00,"amountDisbursed":0.00"#));
        assert_eq!(failed["communityShares"]["status"], "released");

        let all = s.app.get("/api/v1/open-data/360giving.json", None).await.body;
        assert_eq!(giving_errors(&all), Vec::<String>::new());
        assert_eq!(all["grants"].as_array().unwrap().len(), 3);

        // The CSV, read by 360Giving's own tool, is the same records, and valid too.
        let csv = s.app.get(&format!("/api/v1/funds/{}/360giving.csv", s.fund_a), None).await;
        csv.expect(200);
        assert!(csv.content_type().starts_with("text/csv"));
        let base = json!({"version": "1.4", "publisher": package["publisher"], "license": package["license"]});
        let text = csv.text.clone();
        let read = tokio::task::spawn_blocking(move || unflatten(&text, &base)).await.unwrap();
        assert_eq!(giving_errors(&read), Vec::<String>::new(), "{read}");
        let read_grants = read["grants"].as_array().unwrap();
        assert_eq!(read_grants.len(), grants.len());
        for (from_csv, from_json) in read_grants.iter().zip(grants) {
            for field in ["id", "title", "description", "currency", "awardDate"] {
                assert_eq!(from_csv[field], from_json[field], "{field}");
            }
            for field in ["amountAwarded", "amountDisbursed"] {
                assert_eq!(from_csv[field].as_f64(), from_json[field].as_f64(), "{field}");
            }
            assert_eq!(from_csv["recipientOrganization"][0]["id"], from_json["recipientOrganization"][0]["id"]);
            assert_eq!(from_csv["fundingOrganization"][0]["id"], from_json["fundingOrganization"][0]["id"]);
            assert_eq!(from_csv["fundingType"][0]["code"], from_json["fundingType"][0]["code"]);
            assert_eq!(from_csv["plannedDates"][0]["endDate"], from_json["plannedDates"][0]["endDate"]);
        }
        for (what, text) in [("the fund's JSON", package.to_string()), ("the platform's JSON", all.to_string()), ("the CSV", csv.text.clone())] {
            s.assert_names_no_one(what, &text).await;
        }
    }
}

/// Runs the binary's `transparency` command with `args`; (exit code, standard output).
async fn transparency(dir: &std::path::Path, args: Vec<String>) -> (i32, String) {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut command = binary::command(&dir);
        command.arg("transparency").args(&args);
        let output = binary::run(command, "");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code().unwrap_or(-1), text)
    })
    .await
    .unwrap()
}

both_backends! {
    async fn the_transparency_log_verifies_is_witnessed_and_catches_tampering(backend) {
        let fresh = TestApp::spawn(backend).await;
        fresh.get("/api/v1/transparency/checkpoint", None).await.expect(404);
        fresh.get("/api/v1/open-data/360giving.json", None).await.expect(404);
        let s = scene(backend).await;
        let export = s.settled_export().await;
        let log_key = community_shares::transparency::keys::load_log_key(&s.app.settings.transparency).unwrap();
        assert_eq!(export["log_key"], log_key.vkey());
        let parsed: community_shares::transparency::verify::Export = serde_json::from_value(export.clone()).unwrap();
        let pinned = community_shares::transparency::verify::Trust { log_key: Some(log_key.vkey().into()), ..Default::default() };
        let report = community_shares::transparency::verify::verify(&parsed, &pinned).expect("the log verifies");
        // Every public transfer is an entry: 2 budgets, 3 commitments, 7 matches reserved (3
        // investors by 2 funds, and Dafydd's), 6 posted at allocation, 1 voided at failure, 3
        // releases (2 remainders at allocation, 1 at failure), 1 allocation of the match to capital.
        assert_eq!(report.entries, 23, "{:#?}", parsed.entries);
        s.assert_names_no_one("the transparency export", &export.to_string()).await;

        // The checkpoint (C2SP text) and proofs anyone can check.
        let checkpoint = s.app.get("/api/v1/transparency/checkpoint", None).await;
        checkpoint.expect(200);
        assert!(checkpoint.text.starts_with(&format!("{}\n23\n", s.app.settings.transparency.origin)), "{}", checkpoint.text);
        let root = tlog_tiles::Hash::parse_hash(checkpoint.text.lines().nth(2).unwrap()).unwrap();
        for index in 0..23 {
            let proof = s.app.get(&format!("/api/v1/transparency/entries/{index}/inclusion"), None).await.body;
            let path: Vec<tlog_tiles::Hash> = proof["proof"].as_array().unwrap().iter()
                .map(|h| tlog_tiles::Hash::parse_hash(h.as_str().unwrap()).unwrap()).collect();
            let leaf = tlog_tiles::record_hash(parsed.entries[index as usize].as_bytes());
            tlog_tiles::check_record(&path, 23, root, index, leaf).expect("inclusion proof checks");
        }
        let consistency = s.app.get("/api/v1/transparency/consistency?from=5", None).await.body;
        let path: Vec<tlog_tiles::Hash> = consistency["proof"].as_array().unwrap().iter()
            .map(|h| tlog_tiles::Hash::parse_hash(h.as_str().unwrap()).unwrap()).collect();
        let old = tlog_tiles::Hash::parse_hash(consistency["from_root"].as_str().unwrap()).unwrap();
        tlog_tiles::check_tree(&path, 23, root, 5, old).expect("consistency proof checks");
        for bad in ["/api/v1/transparency/entries/23/inclusion", "/api/v1/transparency/entries/0/inclusion?tree_size=24",
                    "/api/v1/transparency/consistency?from=24", "/api/v1/transparency/consistency?from=0"] {
            s.app.get(bad, None).await.expect(422);
        }
        let page = s.app.get("/api/v1/transparency/entries?start=21", None).await.body;
        assert_eq!(page["entries"].as_array().unwrap().len(), 2);

        // A funder's witness: its key registered, the CLI checks the log and cosigns.
        let dir = tempfile::tempdir().unwrap();
        let (code, vkey) = transparency(dir.path(), vec!["witness-key".into(), "--name".into(), "stroud.example/witness".into(),
            "--key-file".into(), dir.path().join("witness.key").display().to_string()]).await;
        assert_eq!(code, 0, "{vkey}");
        s.app.put(&format!("/api/v1/funders/{}/witness", s.funder_a), Some(&s.funder_admin_a.access_token),
            &json!({"key": "not a key"})).await.expect(422);
        s.app.put(&format!("/api/v1/funders/{}/witness", s.funder_a), Some(&s.funder_admin_a.access_token),
            &json!({"key": vkey.trim()})).await.expect(204);
        let cosign = |state: &str| vec!["cosign".into(), "--from".into(), s.app.address.clone(), "--key-file".into(),
            dir.path().join("witness.key").display().to_string(), "--state".into(), dir.path().join(state).display().to_string(),
            "--log-key".into(), log_key.vkey().to_owned()];
        let (code, out) = transparency(dir.path(), cosign("witness.state")).await;
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("cosigned the checkpoint of size 23"), "{out}");
        let checkpoint = s.app.get("/api/v1/transparency/checkpoint", None).await.text;
        assert_eq!(checkpoint.matches('\u{2014}').count(), 2, "the log's signature and the witness's: {checkpoint}");

        // Anyone verifies from the URL, against the pinned key; the latest checkpoint is saved.
        let url = s.app.address.clone();
        let verify = |from: String, extra: Vec<String>| {
            let mut args = vec!["verify".to_owned(), "--from".into(), from, "--log-key".into(), log_key.vkey().to_owned()];
            args.extend(extra);
            args
        };
        let saved = dir.path().join("kept.checkpoint").display().to_string();
        // Without the witness's key from the witness itself, a cosignature the export vouches for
        // is not counted as witnessed; with it, and required, the latest checkpoint is witnessed.
        let (code, out) = transparency(dir.path(), verify(url.clone(), vec![])).await;
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("0 witness cosignatures") && out.contains("1 cosignatures under witness keys read from the export itself"), "{out}");
        let (code, out) = transparency(dir.path(), verify(url.clone(), vec!["--witness".into(), vkey.trim().to_owned(),
            "--require-witness".into(), "--save".into(), saved.clone()])).await;
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("verified: 23 entries") && out.contains("1 witness cosignatures"), "{out}");
        assert!(out.contains("witnessed by stroud.example/witness: up to tree size 23"), "{out}");
        let keys = dir.path().join("witnesses.txt");
        std::fs::write(&keys, format!("# Stroud's witness, from Stroud\n{}\n", vkey.trim())).unwrap();
        let (code, out) = transparency(dir.path(), verify(url.clone(), vec!["--witness-file".into(), keys.display().to_string(),
            "--require-witness".into()])).await;
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("witnessed by stroud.example/witness: up to tree size 23"), "{out}");

        // Tampered exports fail with the first bad entry: a changed amount, a forged cosignature,
        // a history rewritten under the checkpoint kept.
        let bump = |export: &Value, index: usize| {
            let mut changed = export.clone();
            let entry = changed["entries"][index].as_str().unwrap().to_owned();
            let amount = serde_json::from_str::<Value>(&entry).unwrap()["amount_pence"].as_i64().unwrap();
            changed["entries"][index] = json!(entry.replace(&format!("\"amount_pence\":{amount}"), &format!("\"amount_pence\":{}", amount + 100)));
            changed
        };
        // A matched pledge's reserved amount changed: its post no longer agrees with it.
        let file = dir.path().join("changed.json");
        std::fs::write(&file, bump(&export, 7).to_string()).unwrap();
        let (code, out) = transparency(dir.path(), verify(file.display().to_string(), vec![])).await;
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("NOT VERIFIED at entry 7: entry 1") && out.contains("resolves entry 7"), "{out}");
        // A fund's budget changed: only the signed root shows it.
        let changed = bump(&export, 1);
        std::fs::write(&file, changed.to_string()).unwrap();
        let (code, out) = transparency(dir.path(), verify(file.display().to_string(), vec![])).await;
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("NOT VERIFIED at entry 0") && out.contains("changed, removed or reordered"), "{out}");
        let earlier = dir.path().join("earlier.json");
        std::fs::write(&earlier, export.to_string()).unwrap();
        let (code, out) = transparency(dir.path(), verify(file.display().to_string(), vec!["--kept".into(), earlier.display().to_string()])).await;
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("NOT VERIFIED at entry 1: entry 1 differs from the copy you kept"), "{out}");
        let now = s.app.get("/api/v1/transparency/export", None).await.body;
        let mut forged = now.clone();
        let note = forged["checkpoints"][0].as_str().unwrap().to_owned();
        let (head, witness_line) = note.trim_end().rsplit_once('\n').unwrap();
        let (name, signature) = witness_line.rsplit_once(' ').unwrap();
        let mut bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, signature).unwrap();
        bytes[20] ^= 1;
        forged["checkpoints"][0] = json!(format!("{head}\n{name} {}\n", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)));
        std::fs::write(&file, forged.to_string()).unwrap();
        let (code, out) = transparency(dir.path(), verify(file.display().to_string(), vec![])).await;
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("the signature by stroud.example/witness does not verify"), "{out}");
        let (code, out) = transparency(dir.path(), verify(file.display().to_string(), vec!["--kept".into(), saved.clone()])).await;
        assert_eq!(code, 1, "{out}");
        // The platform refuses a forged cosignature, and one for a checkpoint it never signed.
        let refused = s.app.post("/api/v1/transparency/cosignatures", None, &json!({"checkpoint": forged["checkpoints"][0]})).await;
        refused.expect(422);
        let unsigned = note.replacen("\n23\n", "\n99\n", 1);
        s.app.post("/api/v1/transparency/cosignatures", None, &json!({"checkpoint": unsigned})).await.expect(404);

        // `ledger verify` checks the log against the ledger: an entry changed in the database is found.
        assert_eq!(s.app.verify_ledger(&s.platform).await["balanced"], true);
        s.app.with_db(|conn| {
            use diesel::prelude::*;
            diesel::sql_query("UPDATE transparency_entries SET body = REPLACE(body, '\"amount_pence\":', '\"amount_pence\":1') WHERE leaf_index = 3")
                .execute(conn)?;
            Ok(())
        }).await;
        let verdict = s.app.verify_ledger(&s.platform).await;
        assert_eq!(verdict["balanced"], false);
        let problems = verdict["problems"].to_string();
        assert!(problems.contains("transparency log: entry 3") && problems.contains("root of the checkpoint"), "{problems}");
    }
}
