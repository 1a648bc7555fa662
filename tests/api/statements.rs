//! Money as it really arrives by bank transfer, over HTTP on both backends: each UK bank's own
//! statement export imported unchanged (tests/fixtures/statements: made-up payers and amounts
//! in the banks' real layouts, encodings and line endings), dry runs, re-imports, part
//! payments, over-payments and money for pledges that have ended, and the ledger verified
//! after each.

use serde_json::{json, Value};

use crate::both_backends;
use crate::support::{Answer, TestApp, TestUser};

/// The references the fixtures pay: in full (£250), in part (£100), too much (£300, £50 owed
/// back); the fourth only ever appears beside the first (ambiguous).
const REFERENCES: [&str; 4] = ["CSK7M29QXT2", "CSHJ4RW8NBM", "CST3VQ6ZPDE", "CSM8XC2LKAR"];
const PLEDGE: i64 = 25_000;

struct Fixture {
    file: &'static str,
    content_type: &'static str,
    layout: &'static str,
    encoding: &'static str,
    /// Lines of the file that are credits but not receipts: the ambiguous line, and a credit
    /// with no reference.
    unmatched: [u64; 2],
    skipped: usize,
}

const FIXTURES: &[Fixture] = &[
    Fixture {
        file: "starling.csv",
        content_type: "text/csv",
        layout: "Starling",
        encoding: "UTF-8",
        unmatched: [5, 6],
        skipped: 1,
    },
    Fixture {
        file: "monzo.csv",
        content_type: "text/csv; charset=utf-8",
        layout: "Monzo",
        encoding: "UTF-8",
        unmatched: [5, 6],
        skipped: 1,
    },
    Fixture {
        file: "barclays.csv",
        content_type: "application/vnd.ms-excel",
        layout: "Barclays",
        encoding: "UTF-8",
        unmatched: [5, 6],
        skipped: 1,
    },
    Fixture {
        file: "lloyds.csv",
        content_type: "application/octet-stream",
        layout: "Lloyds, Halifax or Bank of Scotland",
        encoding: "UTF-8",
        unmatched: [3, 4],
        skipped: 1,
    },
    Fixture {
        file: "natwest.csv",
        content_type: "text/plain",
        layout: "NatWest or RBS",
        encoding: "UTF-8",
        unmatched: [5, 6],
        skipped: 1,
    },
    Fixture {
        file: "hsbc.csv",
        content_type: "application/csv",
        layout: "HSBC (no header: date, description, amount)",
        encoding: "UTF-8",
        unmatched: [4, 5],
        skipped: 1,
    },
    Fixture {
        file: "nationwide.csv",
        content_type: "text/csv",
        layout: "Nationwide",
        encoding: "windows-1252",
        unmatched: [9, 10],
        skipped: 1,
    },
    Fixture {
        file: "coop.csv",
        content_type: "text/csv",
        layout: "Co-operative Bank or smile",
        encoding: "UTF-8",
        unmatched: [3, 4],
        skipped: 1,
    },
    Fixture {
        file: "metro.csv",
        content_type: "text/csv",
        layout: "Metro Bank",
        encoding: "UTF-8",
        unmatched: [5, 6],
        skipped: 1,
    },
    Fixture {
        file: "excel.csv",
        content_type: "application/vnd.ms-excel",
        layout: "date, reference, amount",
        encoding: "windows-1252",
        unmatched: [5, 6],
        skipped: 2,
    },
    Fixture {
        file: "statement.ofx",
        content_type: "application/x-ofx",
        layout: "OFX",
        encoding: "windows-1252",
        unmatched: [63, 71],
        skipped: 1,
    },
];

fn fixture_bytes(file: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/statements/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

struct Scene {
    app: TestApp,
    admin: TestUser,
    platform: TestUser,
    society: String,
    investors: Vec<TestUser>,
}

async fn scene(backend: crate::support::Backend) -> Scene {
    let app = TestApp::spawn(backend).await;
    let admin = app.user("society-admin").await;
    let platform = app.platform_admin().await;
    let society = app.society(&admin).await;
    app.bank_details(&admin, &society).await;
    let mut investors = Vec::new();
    for name in ["ann", "bob", "cat", "dan"] {
        investors.push(app.investor(name).await);
    }
    Scene {
        app,
        admin,
        platform,
        society,
        investors,
    }
}

/// A new open offer with a £250 pledge from each investor, paying the fixtures' references
/// (taken from any earlier offer's pledges first). Answers the offer and its pledges' ids.
async fn pledges_with_fixture_references(s: &Scene) -> (String, Vec<String>) {
    use community_shares::db::schema::pledges;
    use diesel::prelude::*;
    let offer = s.app.open_offer(&s.admin, &s.platform, &s.society).await;
    let mut ids = Vec::new();
    for investor in &s.investors {
        let pledge = s.app.pledge(investor, &offer, PLEDGE).await;
        pledge.expect(201);
        ids.push(pledge.body["id"].as_str().unwrap().to_owned());
    }
    let given = ids.clone();
    s.app
        .with_db(move |conn| {
            diesel::update(pledges::table.filter(pledges::bank_reference.eq_any(REFERENCES)))
                .set(pledges::bank_reference.eq(pledges::id.nullable()))
                .execute(conn)?;
            for (id, reference) in given.iter().zip(REFERENCES) {
                diesel::update(pledges::table.find(id))
                    .set(pledges::bank_reference.eq(reference))
                    .execute(conn)?;
            }
            Ok(())
        })
        .await;
    (offer, ids)
}

async fn import(s: &Scene, offer: &str, query: &str, content_type: &str, body: Vec<u8>) -> Answer {
    let response = s
        .app
        .client
        .post(format!(
            "{}/api/v1/offers/{offer}/bank-receipts/import{query}",
            s.app.address
        ))
        .bearer_auth(&s.admin.access_token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    Answer::read(response).await
}

async fn pledge(s: &Scene, id: &str) -> Value {
    let answer = s
        .app
        .get(&format!("/api/v1/pledges/{id}"), Some(&s.platform.access_token))
        .await;
    answer.expect(200);
    answer.body
}

async fn paid_total(s: &Scene, offer: &str) -> Value {
    s.app.get(&format!("/api/v1/offers/{offer}"), None).await.body["community_paid_pence"].clone()
}

async fn assert_balanced(s: &Scene) {
    let verdict = s.app.verify_ledger(&s.platform).await;
    assert_eq!(verdict["balanced"], true, "{verdict}");
}

fn outcomes(answer: &Answer) -> Vec<(String, String, i64)> {
    answer.body["receipts"]
        .as_array()
        .unwrap_or_else(|| panic!("no receipts: {}", answer.text))
        .iter()
        .map(|r| {
            (
                r["reference"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
                r["owed_back_pence"].as_i64().unwrap(),
            )
        })
        .collect()
}

both_backends! {
    async fn every_banks_own_statement_imports_unchanged(backend) {
        let s = scene(backend).await;
        let mut expected = vec![
            (REFERENCES[0].to_owned(), "paid".to_owned(), 0),
            (REFERENCES[1].to_owned(), "part_payment".to_owned(), 0),
            (REFERENCES[2].to_owned(), "over_payment".to_owned(), 5_000),
        ];
        expected.sort();
        for fixture in FIXTURES {
            let (offer, ids) = pledges_with_fixture_references(&s).await;
            let bytes = fixture_bytes(fixture.file);
            let what = fixture.file;

            // A dry run says what the import will do, and keeps nothing.
            let dry = import(&s, &offer, "?dry_run=true", fixture.content_type, bytes.clone()).await;
            dry.expect(200);
            assert_eq!(dry.body["dry_run"], true, "{what}");
            assert_eq!(dry.body["layout"], fixture.layout, "{what}: {}", dry.text);
            assert_eq!(dry.body["encoding"], fixture.encoding, "{what}");
            let mut seen = outcomes(&dry);
            seen.sort();
            assert_eq!(seen, expected, "{what}: {}", dry.text);
            assert_eq!(paid_total(&s, &offer).await, 0, "{what}: a dry run keeps nothing");
            assert_eq!(pledge(&s, &ids[1]).await["received_pence"], 0, "{what}");

            let real = import(&s, &offer, "", fixture.content_type, bytes.clone()).await;
            real.expect(200);
            assert_eq!(real.body["dry_run"], false);
            for key in ["matched", "receipts", "unmatched", "skipped", "layout"] {
                assert_eq!(real.body[key], dry.body[key], "{what}: {key} as the dry run said");
            }
            assert_eq!(real.body["matched"], 3, "{what}");
            let unmatched: Vec<u64> =
                real.body["unmatched"].as_array().unwrap().iter().map(|u| u["line"].as_u64().unwrap()).collect();
            assert_eq!(unmatched, fixture.unmatched, "{what}: {}", real.text);
            let ambiguous = real.body["unmatched"].as_array().unwrap().iter()
                .find(|u| u["reason"].as_str().unwrap().starts_with("ambiguous"))
                .unwrap_or_else(|| panic!("{what}: no ambiguous line: {}", real.text));
            assert_eq!(ambiguous["amount_pence"], 5_000, "{what}");
            assert_eq!(real.body["skipped"].as_array().unwrap().len(), fixture.skipped, "{what}: {}", real.text);

            let paid = pledge(&s, &ids[0]).await;
            assert_eq!((paid["status"].as_str(), paid["received_pence"].as_i64()), (Some("paid"), Some(PLEDGE)), "{what}");
            let part = pledge(&s, &ids[1]).await;
            assert_eq!((part["status"].as_str(), part["received_pence"].as_i64()), (Some("pending"), Some(10_000)), "{what}");
            let over = pledge(&s, &ids[2]).await;
            assert_eq!(over["status"], "paid", "{what}");
            assert_eq!(over["refund"]["reason"], "over_payment", "{what}");
            assert_eq!(over["refund"]["amount_pence"], 5_000, "{what}");
            assert_eq!(over["refund"]["method"], "bank_transfer", "{what}");
            assert_eq!(pledge(&s, &ids[3]).await["received_pence"], 0, "{what}: ambiguous lines pay nothing");
            assert_eq!(paid_total(&s, &offer).await, 2 * PLEDGE, "{what}");

            // The same statement again applies nothing twice.
            let again = import(&s, &offer, "", fixture.content_type, bytes).await;
            again.expect(200);
            assert_eq!((again.body["matched"].as_u64(), again.body["already_imported"].as_u64()), (Some(0), Some(3)), "{what}");
            assert_eq!(paid_total(&s, &offer).await, 2 * PLEDGE, "{what}");
            assert_eq!(pledge(&s, &ids[1]).await["received_pence"], 10_000, "{what}");
            assert_balanced(&s).await;
        }
    }

    async fn part_payments_add_up_and_what_is_not_owed_goes_back(backend) {
        let s = scene(backend).await;
        let (offer, ids) = pledges_with_fixture_references(&s).await;
        let receipt = |reference: &'static str, amount: i64| {
            let (s, offer) = (&s, offer.clone());
            async move {
                s.app.post(&format!("/api/v1/offers/{offer}/bank-receipts"), Some(&s.admin.access_token),
                    &json!({"reference": reference, "amount_pence": amount, "received_at": "2026-11-27T10:00:00Z"})).await
            }
        };
        // By hand: two parts make the whole.
        let first = receipt(REFERENCES[0], 10_000).await;
        first.expect(201);
        assert_eq!((first.body["status"].as_str(), first.body["received_pence"].as_i64()), (Some("pending"), Some(10_000)));
        assert_eq!(paid_total(&s, &offer).await, 0);
        assert_balanced(&s).await;
        let second = receipt(REFERENCES[0], 15_000).await;
        second.expect(201);
        assert_eq!((second.body["status"].as_str(), second.body["received_pence"].as_i64()), (Some("paid"), Some(PLEDGE)));
        assert_eq!(paid_total(&s, &offer).await, PLEDGE);
        // Typed again for a paid pledge: most likely typed twice.
        receipt(REFERENCES[0], 1_000).await.expect(409);
        // Too much at once: paid, and the rest owed back.
        let over = receipt(REFERENCES[1], 30_000).await;
        over.expect(201);
        assert_eq!(over.body["status"], "paid");
        assert_eq!((over.body["refund"]["reason"].as_str(), over.body["refund"]["amount_pence"].as_i64()), (Some("over_payment"), Some(5_000)));
        assert_balanced(&s).await;

        // A part-paid pledge that expires gives back what came.
        let part = receipt(REFERENCES[2], 5_000).await;
        part.expect(201);
        expire(&s, &ids[2]).await;
        let expired = s.app.wait_for_pledge(&ids[2], &s.platform.access_token, "expiry", |p| p["status"] == "expired").await;
        assert_eq!((expired["refund"]["reason"].as_str(), expired["refund"]["amount_pence"].as_i64()), (Some("expired"), Some(5_000)));
        assert_balanced(&s).await;
        // By hand, money for an ended pledge is refused (return it to the payer) ...
        let ended = receipt(REFERENCES[2], 20_000).await;
        ended.expect(422);
        assert_eq!(ended.error_fields(), vec!["reference"]);
        // ... and from a statement, which says it arrived, it is owed back.
        let statement = format!("date,reference,amount\n28/11/2026,{},200.00\n", REFERENCES[2]);
        let late = import(&s, &offer, "", "text/csv", statement.into_bytes()).await;
        late.expect(200);
        assert_eq!(outcomes(&late), vec![(REFERENCES[2].to_owned(), "owed_back".to_owned(), 20_000)], "{}", late.text);
        let refunds = s.app.get(&format!("/api/v1/offers/{offer}/refunds"), Some(&s.admin.access_token)).await;
        let mut owed: Vec<(String, i64)> = refunds.body["items"].as_array().unwrap().iter()
            .map(|r| (r["reason"].as_str().unwrap().to_owned(), r["amount_pence"].as_i64().unwrap())).collect();
        owed.sort();
        assert_eq!(owed, vec![("expired".into(), 5_000), ("late_payment".into(), 20_000), ("over_payment".into(), 5_000)]);
        // The treasurer pays each back; the ledger holds throughout.
        for refund in refunds.body["items"].as_array().unwrap() {
            s.app.post(&format!("/api/v1/offers/{offer}/refunds/{}/complete", refund["id"].as_str().unwrap()),
                Some(&s.admin.access_token), &json!({})).await.expect(200);
        }
        assert_balanced(&s).await;
    }

    async fn several_lines_for_one_pledge_in_one_statement_add_up_in_order(backend) {
        let s = scene(backend).await;
        let (offer, ids) = pledges_with_fixture_references(&s).await;
        let [r1, r2, r3, _] = REFERENCES;
        // Parts that make the whole; a part and then too much; the whole and then more.
        let statement = format!(
            "Date,Counter Party,Reference,Type,Amount (GBP),Balance (GBP)\n\
             27/11/2026,Ann,{r1},FASTER PAYMENT,50.00,50.00\n\
             27/11/2026,Bob,{r2},FASTER PAYMENT,100.00,150.00\n\
             27/11/2026,Cat,{r3},FASTER PAYMENT,250.00,400.00\n\
             28/11/2026,Ann,{r1},FASTER PAYMENT,100.00,500.00\n\
             28/11/2026,Bob,{r2},FASTER PAYMENT,200.00,700.00\n\
             29/11/2026,Ann,{r1},FASTER PAYMENT,100.00,800.00\n\
             29/11/2026,Cat,{r3},FASTER PAYMENT,10.00,810.00\n"
        );
        let dry = import(&s, &offer, "?dry_run=true", "text/csv", statement.clone().into_bytes()).await;
        dry.expect(200);
        let real = import(&s, &offer, "", "text/csv", statement.into_bytes()).await;
        real.expect(200);
        assert_eq!(real.body["receipts"], dry.body["receipts"], "the dry run said what the import did");
        let seen: Vec<(u64, String, i64)> = real.body["receipts"].as_array().unwrap().iter()
            .map(|r| (r["line"].as_u64().unwrap(), r["outcome"].as_str().unwrap().to_owned(), r["owed_back_pence"].as_i64().unwrap()))
            .collect();
        let mut seen = seen;
        seen.sort();
        assert_eq!(seen, vec![
            (2, "part_payment".into(), 0), (3, "part_payment".into(), 0), (4, "paid".into(), 0),
            (5, "part_payment".into(), 0), (6, "over_payment".into(), 5_000), (7, "paid".into(), 0),
            (8, "owed_back".into(), 1_000),
        ], "{}", real.text);
        for id in &ids[..3] {
            let now = pledge(&s, id).await;
            assert_eq!((now["status"].as_str(), now["received_pence"].as_i64()), (Some("paid"), Some(PLEDGE)), "{now}");
        }
        assert_eq!(paid_total(&s, &offer).await, 3 * PLEDGE);
        assert_balanced(&s).await;
        let again = import(&s, &offer, "", "text/csv", format!(
            "Date,Counter Party,Reference,Type,Amount (GBP),Balance (GBP)\n27/11/2026,Ann,{r1},FASTER PAYMENT,50.00,50.00\n"
        ).into_bytes()).await;
        assert_eq!(again.body["already_imported"], 1, "{}", again.text);
    }

    async fn a_statement_is_refused_only_when_it_cannot_be_read(backend) {
        let s = scene(backend).await;
        let (offer, _) = pledges_with_fixture_references(&s).await;
        let unknown = import(&s, &offer, "", "text/csv", b"When,What,How much\n27/11/2026,CSK7M29QXT2,250.00\n".to_vec()).await;
        unknown.expect(422);
        assert_eq!(unknown.error_fields(), vec!["body"]);
        assert!(unknown.text.contains("When,What,How much"), "{}", unknown.text);
        // Named by the admin, the same file reads.
        let named = import(&s, &offer, "?date=when&amount=How%20much&text=What&dry_run=true", "text/csv",
            b"When,What,How much\n27/11/2026,CSK7M29QXT2,250.00\n".to_vec()).await;
        named.expect(200);
        assert_eq!((named.body["layout"].as_str(), named.body["matched"].as_u64()), (Some("named by the admin"), Some(1)));
        let wrong = import(&s, &offer, "?date=Posted", "text/csv", b"When,What,How much\n".to_vec()).await;
        wrong.expect(422);
        assert_eq!(wrong.error_fields(), vec!["date"]);
        let broken_ofx = import(&s, &offer, "", "application/x-ofx", b"OFXHEADER:100\nDATA:OFXSGML\n".to_vec()).await;
        broken_ofx.expect(400);
        let json = import(&s, &offer, "", "application/json", b"{}".to_vec()).await;
        json.expect(415);
        // Lines that make no sense are that line's error; nothing else is refused.
        let odd = import(&s, &offer, "", "text/csv",
            b"date,reference,amount\n30/11/0026,CSK7M29QXT2,250.00\n11/30/2026,CSK7M29QXT2,250.00\n30/11/2026,CSK7M29QXT2,lots\n".to_vec()).await;
        odd.expect(200);
        let reasons: Vec<&str> = odd.body["unmatched"].as_array().unwrap().iter().map(|u| u["reason"].as_str().unwrap()).collect();
        assert_eq!(reasons.len(), 3, "{}", odd.text);
        assert!(reasons[0].contains("not one a statement holds") && reasons[1].contains("cannot be read") && reasons[2].contains("cannot be read as pounds"), "{reasons:?}");
        assert_eq!(odd.body["matched"], 0);
        assert_balanced(&s).await;
    }
}

/// The refunds of the offer, as (reason, amount), sorted.
async fn refunds_owed(s: &Scene, offer: &str) -> Vec<(String, i64)> {
    let refunds = s
        .app
        .get(&format!("/api/v1/offers/{offer}/refunds"), Some(&s.admin.access_token))
        .await;
    refunds.expect(200);
    let mut owed: Vec<(String, i64)> = refunds.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["reason"].as_str().unwrap().to_owned(),
                r["amount_pence"].as_i64().unwrap(),
            )
        })
        .collect();
    owed.sort();
    owed
}

/// (line, outcome, reason) of each receipt line of an import's answer.
fn lines_said(answer: &Answer) -> Vec<(u64, String, String)> {
    answer.body["receipts"]
        .as_array()
        .unwrap_or_else(|| panic!("no receipts: {}", answer.text))
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["outcome"].as_str().unwrap().to_owned(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

both_backends! {
    // A treasurer logs transfers as they arrive and imports the month's statement later: each
    // statement line that is money already recorded by hand is that receipt, never a second
    // payment, and never owed back (not for a paid pledge, nor for one cancelled since).
    async fn money_recorded_by_hand_is_recognised_on_the_statement_not_counted_twice(backend) {
        let s = scene(backend).await;
        let (offer, ids) = pledges_with_fixture_references(&s).await;
        let [whole, parts, cancelled, unlogged] = REFERENCES;
        let by_hand = |reference: &'static str, amount: i64, at: &'static str| {
            let (s, offer) = (&s, offer.clone());
            async move {
                let answer = s.app.post(&format!("/api/v1/offers/{offer}/bank-receipts"), Some(&s.admin.access_token),
                    &json!({"reference": reference, "amount_pence": amount, "received_at": at})).await;
                answer.expect(201);
            }
        };
        // Logged as they arrived: a whole £250 on Friday 27 November; £100 and £100 on the 26th
        // and the 30th; a £250 whose investor then cancelled in cooling-off (one refund).
        by_hand(whole, PLEDGE, "2026-11-27T10:00:00Z").await;
        by_hand(parts, 10_000, "2026-11-26T09:00:00Z").await;
        by_hand(parts, 10_000, "2026-11-30T09:00:00Z").await;
        by_hand(cancelled, PLEDGE, "2026-11-27T11:00:00Z").await;
        s.app.post(&format!("/api/v1/pledges/{}/cancel", ids[2]), Some(&s.investors[2].access_token), &json!({})).await.expect(200);
        let before = refunds_owed(&s, &offer).await;
        assert_eq!(before.len(), 1, "{before:?}");
        // The month's statement: each transfer booked a working day or so later (the parts in the
        // other order), and one transfer nobody logged.
        let statement = format!(
            "date,reference,amount\n30/11/2026,{whole},250.00\n01/12/2026,{parts},100.00\n27/11/2026,{parts},100.00\n\
             30/11/2026,{cancelled},250.00\n30/11/2026,{unlogged},250.00\n"
        );
        let expected = vec![
            (2, "recorded_by_hand".to_owned(), "already recorded by hand on 27 November 2026: the same money, nothing more done".to_owned()),
            (3, "recorded_by_hand".to_owned(), "already recorded by hand on 30 November 2026: the same money, nothing more done".to_owned()),
            (4, "recorded_by_hand".to_owned(), "already recorded by hand on 26 November 2026: the same money, nothing more done".to_owned()),
            (5, "recorded_by_hand".to_owned(), "already recorded by hand on 27 November 2026: the same money, nothing more done".to_owned()),
            (6, "paid".to_owned(), "the pledge is paid".to_owned()),
        ];
        // The preview says so first, and keeps nothing.
        let preview = import(&s, &offer, "?dry_run=true", "text/csv", statement.clone().into_bytes()).await;
        preview.expect(200);
        assert_eq!(lines_said(&preview), expected, "{}", preview.text);
        assert_eq!((preview.body["matched"].as_u64(), preview.body["already_recorded_by_hand"].as_u64()), (Some(1), Some(4)));
        assert_eq!(paid_total(&s, &offer).await, PLEDGE);
        // Applied: only the unlogged transfer pays; no refund is made of money received once.
        let applied = import(&s, &offer, "", "text/csv", statement.clone().into_bytes()).await;
        applied.expect(200);
        assert_eq!(lines_said(&applied), expected, "{}", applied.text);
        assert_eq!(refunds_owed(&s, &offer).await, before);
        assert_eq!(paid_total(&s, &offer).await, 2 * PLEDGE);
        assert_eq!(pledge(&s, &ids[1]).await["received_pence"], 20_000);
        assert_eq!(pledge(&s, &ids[2]).await["status"], "refunded");
        assert_balanced(&s).await;
        // Imported again: the same lines, still nothing twice.
        let again = import(&s, &offer, "", "text/csv", statement.into_bytes()).await;
        again.expect(200);
        let outcomes: Vec<String> = lines_said(&again).into_iter().map(|(_, outcome, _)| outcome).collect();
        assert_eq!(outcomes, ["recorded_by_hand", "recorded_by_hand", "recorded_by_hand", "recorded_by_hand", "already_imported"]);
        assert_eq!((again.body["matched"].as_u64(), again.body["already_recorded_by_hand"].as_u64()), (Some(0), Some(4)));
        assert_eq!(refunds_owed(&s, &offer).await, before);
        assert_eq!(paid_total(&s, &offer).await, 2 * PLEDGE);
        assert_balanced(&s).await;

        // The other order: a £10 part imported from a statement, then typed by hand as well.
        // An earlier £10 six UK days before stands first in the database; it is another payment
        // and must not hide the one within the window.
        let part = format!("date,reference,amount\n27/11/2026,{parts},10.00\n02/12/2026,{parts},10.00\n");
        import(&s, &offer, "", "text/csv", part.into_bytes()).await.expect(200);
        let typed = |at: &'static str| {
            let (s, offer) = (&s, offer.clone());
            async move {
                s.app.post(&format!("/api/v1/offers/{offer}/bank-receipts"), Some(&s.admin.access_token),
                    &json!({"reference": parts, "amount_pence": 1_000, "received_at": at})).await
            }
        };
        let twice = typed("2026-12-03T09:00:00Z").await;
        twice.expect(409);
        assert!(twice.text.contains("already recorded from a bank statement (a line dated 2 December 2026)"), "{}", twice.text);
        assert_eq!(pledge(&s, &ids[1]).await["received_pence"], 22_000);
        // Weeks apart, it is another payment.
        typed("2026-11-10T09:00:00Z").await.expect(201);
        assert_eq!(pledge(&s, &ids[1]).await["received_pence"], 23_000);
        assert_balanced(&s).await;
    }

    // The same amount for the same pledge eleven days from the hand receipt is other money: the
    // preview says it would be owed back, and the treasurer leaves that line out.
    async fn a_line_the_treasurer_leaves_out_does_nothing(backend) {
        let s = scene(backend).await;
        let (offer, _) = pledges_with_fixture_references(&s).await;
        let [whole, ..] = REFERENCES;
        s.app.post(&format!("/api/v1/offers/{offer}/bank-receipts"), Some(&s.admin.access_token),
            &json!({"reference": whole, "amount_pence": PLEDGE, "received_at": "2026-11-16T10:00:00Z"})).await.expect(201);
        let statement = format!("date,reference,amount\n27/11/2026,{whole},250.00\n").into_bytes();
        let preview = import(&s, &offer, "?dry_run=true", "text/csv", statement.clone()).await;
        preview.expect(200);
        assert_eq!(outcomes(&preview), vec![(whole.to_owned(), "owed_back".to_owned(), PLEDGE)], "{}", preview.text);
        let left_out = import(&s, &offer, "?leave_out=2", "text/csv", statement.clone()).await;
        left_out.expect(200);
        assert_eq!(left_out.body["receipts"], json!([]), "{}", left_out.text);
        assert_eq!(left_out.body["skipped"][0]["line"], 2);
        assert_eq!(left_out.body["skipped"][0]["reason"], "left out of this import by the admin");
        assert_eq!(refunds_owed(&s, &offer).await, Vec::<(String, i64)>::new());
        assert_balanced(&s).await;
        // Only lines of the statement, as numbers.
        for wrong in ["?leave_out=9", "?leave_out=2,x"] {
            let refused = import(&s, &offer, wrong, "text/csv", statement.clone()).await;
            refused.expect(422);
            assert_eq!(refused.error_fields(), vec!["leave_out"], "{wrong}: {}", refused.text);
        }
    }
}

/// Moves the pledge's payment deadline into the past, for the scheduler to expire it.
async fn expire(s: &Scene, id: &str) {
    use community_shares::db::schema::pledges;
    use diesel::prelude::*;
    let id = id.to_owned();
    s.app
        .with_db(move |conn| {
            diesel::update(pledges::table.find(&id))
                .set(pledges::payment_due_at.eq(community_shares::clock::now() - chrono::Duration::seconds(1)))
                .execute(conn)?;
            Ok(())
        })
        .await;
}
