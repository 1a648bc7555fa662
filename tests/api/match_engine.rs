//! The stored match against its definition, on both databases: random sequences of pledges
//! (random investors, postcodes, amounts), payments, cancellations (refunds, for paid pledges in
//! their cooling-off), expiries and approvals of one to three funds with random rules, run
//! through the services (not HTTP). After every step each pledge's stored match of each fund,
//! each application's `match_pence` and the offer's `match_pence` equal
//! `domain::matching::offer::compute_offer` over the live pledges, and `ledger verify` finds the
//! ledger balanced.

use chrono::Duration;
use community_shares::clock;
use community_shares::db::schema::{match_applications, offers, pledge_matches, pledges, users};
use community_shares::db::{write_transaction, DbConnection};
use community_shares::domain::matching::offer::{compute_offer, ApprovedFund};
use community_shares::domain::matching::{MatchPledge, OfferFacts};
use community_shares::domain::money::Pence;
use community_shares::error::AppError;
use community_shares::services::funding::{self, ApplicationRow};
use community_shares::services::offers as offer_service;
use community_shares::services::pledges::{self as pledge_service, NewPledge, PaymentMethod, PledgePolicy};
use community_shares::services::receipts::{self, Receipt};
use diesel::prelude::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::{TestApp, TestUser};

/// Investors: even ones in Bristol (BS1), odd ones in Stroud (GL5).
const INVESTORS: usize = 6;

#[derive(Debug, Clone)]
enum Step {
    Pledge {
        investor: usize,
        pounds: i64,
    },
    /// The `nth` pending pledge (modulo how many there are) is paid.
    Pay {
        nth: usize,
    },
    /// The `nth` pending or paid pledge is cancelled (a paid one is refunded).
    Cancel {
        nth: usize,
    },
    /// The `nth` pending pledge passes its payment deadline and expires.
    Expire {
        nth: usize,
    },
    /// The `nth` fund's application is approved (if it is still pending).
    Approve {
        fund: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..INVESTORS, 1i64..=300).prop_map(|(investor, pounds)| Step::Pledge { investor, pounds }),
        1 => any::<usize>().prop_map(|nth| Step::Pay { nth }),
        1 => any::<usize>().prop_map(|nth| Step::Cancel { nth }),
        1 => any::<usize>().prop_map(|nth| Step::Expire { nth }),
        1 => (0usize..3).prop_map(|fund| Step::Approve { fund }),
    ]
}

/// A fund's rule as the API takes it, and the commitment to approve (whole pounds).
fn fund() -> impl Strategy<Value = (Value, i64)> {
    (
        any::<bool>(),
        (1i64..=3, 1i64..=3),
        prop::option::of(1i64..=200),
        100i64..=2_000,
        prop_oneof![3 => Just("none"), 1 => Just("amount"), 1 => Just("min_target")],
        (1i64..=1_500, prop::option::weighted(0.3, 1i64..=4)),
        any::<bool>(),
        (0u8..5, 20i64..=1_500),
    )
        .prop_map(
            |(lump, (num, den), cap, offer_cap, trigger, (value, min_investors), local, (timing, commitment))| {
                let mut trigger = json!({"kind": trigger, "min_investors": min_investors});
                if trigger["kind"] == "amount" {
                    trigger["value"] = json!(value * 100);
                }
                let rule = json!({
                    "kind": if lump { "lump_sum" } else { "per_pledge" },
                    "ratio_num": num, "ratio_den": den,
                    "lump_sum_pence": (offer_cap / 2 + 1) * 100,
                    "per_pledge_cap_pence": cap.map(|c| c * 100),
                    "per_offer_cap_pence": offer_cap * 100,
                    "trigger": trigger,
                    "eligibility": {"postcode_prefixes": if local { vec!["BS1"] } else { vec![] }},
                    "timing": if timing == 0 { "at_close" } else { "live" },
                });
                (rule, commitment.min(offer_cap))
            },
        )
}

/// One case: its funds and its steps.
type Case = (Vec<(Value, i64)>, Vec<Step>);

fn cases(n: usize) -> Vec<Case> {
    let config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[11; 32]));
    let strategy = (
        prop::collection::vec(fund(), 1..=3),
        prop::collection::vec(step(), 20..60),
    );
    (0..n)
        .map(|_| {
            let (funds, mut steps) = strategy.new_tree(&mut runner).expect("a case").current();
            // The first fund is approved before the first pledge, so that most pledges meet a
            // live match; the others when their step comes.
            steps.insert(0, Step::Approve { fund: 0 });
            (funds, steps)
        })
        .collect()
}

/// Everything a case needs, made over HTTP: investors, an open offer (£1 shares, £1,000
/// minimum, £2,000 target, £3,000 maximum, holdings £1 to £1,000), funds and their
/// applications.
struct Scene {
    investors: Vec<TestUser>,
    offer: String,
    funds: Vec<(String, String, i64)>,
    funder_admin: TestUser,
}

async fn scene(app: &TestApp, funds: &[(Value, i64)]) -> Scene {
    let (admin, platform) = (app.user("society-admin").await, app.platform_admin().await);
    let society = app.society(&admin).await;
    app.bank_details(&admin, &society).await;
    let mut body = crate::support::offer_body();
    for (field, pounds) in [
        ("min_target_pence", 1_000),
        ("target_pence", 2_000),
        ("max_target_pence", 3_000),
        ("min_holding_pence", 1),
        ("max_holding_pence", 1_000),
    ] {
        body[field] = json!(pounds * 100);
    }
    let offer = app.approved_offer(&admin, &platform, &society, &body).await;
    app.wait_for_status(&offer, Some(&admin.access_token), "open").await;
    let funder_admin = app.user("funder-admin").await;
    let funder = app.funder(&platform, &funder_admin).await;
    let mut made = Vec::new();
    for (rule, commitment) in funds {
        let fund = app.fund(&funder_admin, &funder, 100_000_000, rule.clone()).await;
        let application = app.apply(&admin, &offer, &fund).await;
        made.push((fund, application, commitment * 100));
    }
    let mut investors = Vec::new();
    for i in 0..INVESTORS {
        let investor = app.investor(&format!("investor-{i}")).await;
        if i % 2 == 1 {
            let profile = json!({"full_name": "Stroud Investor", "address_line1": "1 High Street",
                "town": "Stroud", "postcode": "GL5 1AA", "date_of_birth": "1980-05-01"});
            app.put("/api/v1/me/profile", Some(&investor.access_token), &profile)
                .await
                .expect(200);
        }
        investors.push(investor);
    }
    Scene {
        investors,
        offer,
        funds: made,
        funder_admin,
    }
}

/// The offer's pledges in `statuses`, oldest first.
fn pledges_in(conn: &mut DbConnection, offer: &str, statuses: &[&str]) -> Result<Vec<(String, String)>, AppError> {
    Ok(pledges::table
        .filter(pledges::offer_id.eq(offer))
        .filter(pledges::status.eq_any(statuses))
        .order((pledges::offer_seq, pledges::id))
        .select((pledges::id, pledges::investor_id))
        .load(conn)?)
}

fn nth<T: Clone>(items: &[T], n: usize) -> Option<T> {
    (!items.is_empty()).then(|| items[n % items.len()].clone())
}

/// Runs one step in its own transaction. Refusals (a holding limit, a full offer, a decided
/// application) are answers, not failures; anything else fails the test.
fn take_step(conn: &mut DbConnection, scene: &Scene, step: &Step) -> Result<(), AppError> {
    let offer = scene.offer.as_str();
    let outcome = write_transaction(conn, |conn| {
        let now = clock::now();
        match step {
            Step::Pledge { investor, pounds } => {
                let new = NewPledge {
                    amount: Pence::from_pounds(*pounds),
                    payment_method: PaymentMethod::BankTransfer,
                    accept_terms: true,
                };
                let policy = PledgePolicy {
                    payment_deadline_days: 7,
                    card_check_after: None,
                };
                pledge_service::create(conn, &scene.investors[*investor].id, offer, &new, policy)?;
            }
            Step::Pay { nth: n } => {
                if let Some((id, _)) = nth(&pledges_in(conn, offer, &["pending"])?, *n) {
                    // The bank statement shows the transfer (a receipt typed by hand would wait
                    // for a second person: the offer holds match money).
                    let row = pledge_service::get(conn, &id)?;
                    let receipt = Receipt {
                        reference: row.bank_reference.clone().unwrap_or_default(),
                        amount: Pence::new(row.amount_pence - row.received_pence),
                        received_at: now,
                    };
                    let row = receipts::typed_pledge(conn, offer, &receipt, now)?;
                    let fingerprint = format!("engine:{}:{}", row.id, row.received_pence);
                    let source = receipts::Source::Statement {
                        fingerprint: &fingerprint,
                    };
                    receipts::record_locked(conn, &row, &receipt, &scene.funder_admin.id, source, now)?;
                }
            }
            Step::Cancel { nth: n } => {
                if let Some((id, investor)) = nth(&pledges_in(conn, offer, &["pending", "paid"])?, *n) {
                    pledge_service::cancel(conn, &id, &investor)?;
                }
            }
            Step::Expire { nth: n } => {
                if let Some((id, _)) = nth(&pledges_in(conn, offer, &["pending"])?, *n) {
                    diesel::update(pledges::table.find(&id))
                        .set(pledges::payment_due_at.eq(now - Duration::minutes(1)))
                        .execute(conn)?;
                }
            }
            Step::Approve { fund } => {
                if let Some((fund, application, commitment)) = scene.funds.get(*fund) {
                    let commitment = Pence::new(*commitment);
                    let by = funding::Decider {
                        actor: community_shares::services::audit::Actor {
                            user_id: &scene.funder_admin.id,
                            request_id: None,
                        },
                        cooling_off: Duration::days(7),
                    };
                    funding::approve(conn, fund, application, commitment, &by)?;
                }
            }
        }
        Ok(())
    });
    match outcome {
        Ok(()) | Err(AppError::Validation(_) | AppError::Conflict(_)) => {}
        Err(e) => return Err(e),
    }
    if matches!(step, Step::Expire { .. }) {
        // The scheduler's own step, in its own transactions.
        pledge_service::expire_unpaid(conn, clock::now())?;
    }
    Ok(())
}

/// What is stored, against the definition over the live pledges.
fn check(conn: &mut DbConnection, offer_id: &str) -> Result<Result<(), String>, AppError> {
    let offer = offer_service::get(conn, offer_id)?;
    let facts = OfferFacts {
        share_price: Pence::new(offer.share_price_pence),
        min_target: Pence::new(offer.min_target_pence),
        target: Pence::new(offer.target_pence),
        max_target: Pence::new(offer.max_target_pence),
    };
    let live: Vec<(String, String, i64, Option<String>)> = pledges::table
        .inner_join(users::table)
        .filter(pledges::offer_id.eq(offer_id))
        .filter(pledges::status.eq_any(["pending", "paid", "allocated"]))
        .order((pledges::offer_seq, pledges::id))
        .select((
            pledges::id,
            pledges::investor_id,
            pledges::amount_pence,
            users::postcode,
        ))
        .load(conn)?;
    let engine: Vec<MatchPledge> = live
        .iter()
        .map(|(_, investor, amount, postcode)| MatchPledge {
            investor_id: investor.clone(),
            amount: Pence::new(*amount),
            postcode: postcode.clone().unwrap_or_default().to_ascii_uppercase(),
        })
        .collect();
    let applications: Vec<ApplicationRow> = match_applications::table
        .filter(match_applications::offer_id.eq(offer_id))
        .filter(match_applications::status.eq("approved"))
        .order((match_applications::decided_at, match_applications::id))
        .select(ApplicationRow::as_select())
        .load(conn)?;
    let mut funds = Vec::new();
    for application in &applications {
        funds.push(ApprovedFund {
            rule: funding::get_fund(conn, &application.fund_id)?.rule()?,
            commitment: Pence::new(application.commitment_pence),
            held: Pence::new(application.match_pence),
        });
    }
    let answers = compute_offer(&funds, &facts, &engine, false);
    let mut offer_total = 0;
    for (application, answer) in applications.iter().zip(&answers) {
        let stored: Vec<(String, i64)> = pledge_matches::table
            .filter(pledge_matches::application_id.eq(&application.id))
            .select((pledge_matches::pledge_id, pledge_matches::amount_pence))
            .load(conn)?;
        let stored_of = |pledge: &str| stored.iter().find(|(p, _)| p == pledge).map_or(0, |s| s.1);
        let wanted: Vec<i64> = match answer {
            Some(amounts) => amounts.iter().map(|a| a.get()).collect(),
            None => vec![0; live.len()],
        };
        let got: Vec<i64> = live.iter().map(|(id, ..)| stored_of(id)).collect();
        if got != wanted {
            return Ok(Err(format!(
                "application {}: stored {got:?}, engine {wanted:?}",
                application.id
            )));
        }
        let ended: i64 = stored
            .iter()
            .filter(|(p, _)| !live.iter().any(|(id, ..)| id == p))
            .map(|s| s.1)
            .sum();
        let total: i64 = wanted.iter().sum();
        if ended != 0 || application.match_pence != total {
            return Ok(Err(format!(
                "application {}: match_pence {} for {total} matched, {ended} on ended pledges",
                application.id, application.match_pence
            )));
        }
        offer_total += total;
    }
    let stored_offer: i64 = offers::table.find(offer_id).select(offers::match_pence).first(conn)?;
    if stored_offer != offer_total {
        return Ok(Err(format!("offer match_pence {stored_offer}, engine {offer_total}")));
    }
    let verdict = community_shares::ledger::verify::verify(conn)?;
    if !verdict.balanced {
        return Ok(Err(format!("ledger verify: {:?}", verdict.problems)));
    }
    Ok(Ok(()))
}

both_backends! {
    async fn the_stored_match_is_always_the_engines(backend) {
        let app = TestApp::spawn(backend).await;
        // The cases are not idle: pledges are made and matched.
        let (mut pledged, mut matched) = (0, 0);
        for (case, (funds, steps)) in cases(8).into_iter().enumerate() {
            let scene = scene(&app, &funds).await;
            let offer = scene.offer.clone();
            let (failure, made, most) = app
                .with_db(move |conn| {
                    let mut most = 0;
                    for (i, step) in steps.iter().enumerate() {
                        if let Err(e) = take_step(conn, &scene, step) {
                            let problem = format!("step {i} ({step:?}) of {steps:?} failed: {e:?}");
                            return Ok((Some(problem), 0, 0));
                        }
                        if let Err(problem) = check(conn, &offer)? {
                            let problem = format!("after step {i} ({step:?}) of {steps:?}: {problem}");
                            return Ok((Some(problem), 0, 0));
                        }
                        let now: i64 = offers::table.find(&offer).select(offers::match_pence).first(conn)?;
                        most = most.max(now);
                    }
                    let made: i64 = pledges::table.filter(pledges::offer_id.eq(&offer)).count().get_result(conn)?;
                    Ok((None, made, most))
                })
                .await;
            assert!(failure.is_none(), "case {case} with funds {funds:?}: {}", failure.unwrap_or_default());
            pledged += made;
            matched += i64::from(most > 0);
        }
        assert!(pledged >= 60 && matched >= 2, "{pledged} pledges made, {matched} cases matched");
    }
}

both_backends! {
    async fn pledge_order_is_the_order_of_reservation_whatever_the_clocks_say(backend) {
        // £1 for £1 up to £100 in all. Another instance's clock ran an hour ahead when it took
        // the first pledge: pledge order still puts it first (it reserved first), so it keeps
        // its £80 of match and the second pledge, matched from the running totals, gets £20.
        let app = TestApp::spawn(backend).await;
        let rule = json!({"kind": "per_pledge", "ratio_num": 1, "ratio_den": 1, "per_offer_cap_pence": 10_000,
            "trigger": {"kind": "none"}, "timing": "live"});
        let scene = scene(&app, &[(rule, 100)]).await;
        let offer = scene.offer.clone();
        let answer = app
            .with_db(move |conn| {
                take_step(conn, &scene, &Step::Approve { fund: 0 })?;
                take_step(conn, &scene, &Step::Pledge { investor: 0, pounds: 80 })?;
                diesel::update(pledges::table.filter(pledges::offer_id.eq(&offer)))
                    .set(pledges::created_at.eq(clock::now() + Duration::hours(1)))
                    .execute(conn)?;
                take_step(conn, &scene, &Step::Pledge { investor: 2, pounds: 50 })?;
                let matches: Vec<(i64, i64, i64)> = pledges::table
                    .filter(pledges::offer_id.eq(&offer))
                    .order(pledges::offer_seq)
                    .select((pledges::offer_seq, pledges::amount_pence, pledges::match_pence))
                    .load(conn)?;
                Ok((check(conn, &offer)?.err(), matches))
            })
            .await;
        assert_eq!(answer.0, None);
        assert_eq!(answer.1, vec![(1, 8_000, 8_000), (2, 5_000, 2_000)]);
    }
}
