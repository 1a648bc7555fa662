//! A local Stripe for the tests: `localstripe` (PyPI) in the project-local virtualenv that
//! `scripts/test` makes (`CS_TEST_PYTHON`), on 127.0.0.1. Its state is pickled to a file of the
//! test's own (not the shared /tmp/localstripe.pickle), so parallel tests share nothing and a
//! fake stopped and resumed (Stripe down for a while) keeps its payments.
//! The tests act as the investor's browser through it (attach a test card and confirm) and sign
//! webhook events themselves with the test secret.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const SECRET_KEY: &str = "sk_test_community_shares";
pub const WEBHOOK_SECRET: &str = "whsec_community_shares_test";

const LAUNCHER: &str = r#"
import os, pickle, sys
import localstripe.resources as resources
state = sys.argv[2]
def dump(self):
    with open(state + ".tmp", "wb") as f:
        pickle.dump(dict(self), f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(state + ".tmp", state)
resources.Store.dump_to_disk = dump
if os.path.exists(state):
    with open(state, "rb") as f:
        dict.update(resources.store, pickle.load(f))
from localstripe.server import app
from aiohttp import web
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"#;

pub struct StripeFake {
    pub port: u16,
    child: Option<Child>,
    client: reqwest::Client,
    state: tempfile::TempDir,
}

fn python() -> String {
    std::env::var("CS_TEST_PYTHON").expect(
        "CS_TEST_PYTHON is not set: run the suite with ./scripts/test, which installs localstripe in a virtualenv",
    )
}

/// Turns card payments on in `settings`, over the Stripe at `url` (a fake's [`StripeFake::url`]).
pub fn card_payments(settings: &mut community_shares::config::Settings, url: String) {
    settings.stripe.secret_key = Some(secrecy::SecretString::from(SECRET_KEY));
    settings.stripe.webhook_secret = Some(secrecy::SecretString::from(WEBHOOK_SECRET));
    settings.stripe.api_base = url;
    settings.stripe.timeout_secs = 5;
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl StripeFake {
    pub fn start() -> Self {
        let mut fake = Self::on_port(free_port());
        fake.resume();
        fake
    }

    /// A fake for this port, not started yet (Stripe "unreachable" until `resume`).
    pub fn on_port(port: u16) -> Self {
        StripeFake {
            port,
            child: None,
            client: reqwest::Client::new(),
            state: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn resume(&mut self) {
        let child = Command::new(python())
            .args(["-c", LAUNCHER, &self.port.to_string()])
            .arg(self.state.path().join("store.pickle"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("localstripe starts");
        self.child = Some(child);
        let deadline = crate::support::patience::deadline();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "localstripe did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, form: &[(&str, &str)]) -> Value {
        let response = self
            .client
            .request(method, format!("http://127.0.0.1:{}{path}", self.port))
            .bearer_auth(SECRET_KEY)
            .form(form)
            .send()
            .await
            .expect("localstripe answers");
        let status = response.status();
        let body: Value = response.json().await.expect("JSON from localstripe");
        assert!(status.is_success(), "localstripe {path}: {status} {body}");
        body
    }

    pub async fn intent(&self, intent_id: &str) -> Value {
        self.call(reqwest::Method::GET, &format!("/v1/payment_intents/{intent_id}"), &[])
            .await
    }

    /// Pays an intent as the investor's browser would: a test card attached and confirmed.
    pub async fn pay(&self, intent_id: &str) -> Value {
        let card = self
            .call(
                reqwest::Method::POST,
                "/v1/payment_methods",
                &[
                    ("type", "card"),
                    ("card[number]", "4242424242424242"),
                    ("card[exp_month]", "12"),
                    ("card[exp_year]", "2034"),
                    ("card[cvc]", "123"),
                ],
            )
            .await;
        let card_id = card["id"].as_str().expect("payment method id");
        self.call(
            reqwest::Method::POST,
            &format!("/v1/payment_intents/{intent_id}"),
            &[("payment_method", card_id)],
        )
        .await;
        let paid = self
            .call(
                reqwest::Method::POST,
                &format!("/v1/payment_intents/{intent_id}/confirm"),
                &[],
            )
            .await;
        assert_eq!(paid["status"], "succeeded", "{paid}");
        paid
    }

    /// A refund made in Stripe by someone other than the platform (as in the Dashboard).
    pub async fn refund_outside(&self, intent_id: &str, amount: i64) -> Value {
        let amount = amount.to_string();
        self.call(
            reqwest::Method::POST,
            "/v1/refunds",
            &[("payment_intent", intent_id), ("amount", &amount)],
        )
        .await
    }

    /// The refunds Stripe holds for an intent.
    pub async fn refunds_of(&self, intent_id: &str) -> Vec<Value> {
        let list = self
            .call(
                reqwest::Method::GET,
                &format!("/v1/refunds?payment_intent={intent_id}"),
                &[],
            )
            .await;
        list["data"].as_array().cloned().unwrap_or_default()
    }
}

impl StripeFake {
    /// Stops the fake (Stripe unreachable); `resume` brings it back with its state.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for StripeFake {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Stripe event around `object`, with the `Stripe-Signature` header for it signed `age_secs`
/// ago with `secret`.
pub fn signed_event(id: &str, kind: &str, object: &Value, secret: &str, age_secs: i64) -> (String, String) {
    let now = chrono::Utc::now().timestamp();
    let body =
        json!({"id": id, "object": "event", "type": kind, "created": now, "data": {"object": object}}).to_string();
    let header = community_shares::payments::webhook::signature_header(secret, now - age_secs, body.as_bytes());
    (header, body)
}

/// Stripe's side of an idempotent call, which localstripe does not keep: a proxy in front of
/// the fake that answers a POST whose `Idempotency-Key` it has seen with the first answer (as
/// Stripe does for 24 hours), and that can hold its answers (while `hold` exists as a file):
/// the call has happened at Stripe, the caller has not heard back. It logs each POST as
/// `forwarded <path> <key>` or `replayed <path> <key>`.
const PROXY: &str = r#"
import asyncio, os, sys
from aiohttp import ClientSession, web
port, upstream, hold, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
answers = {}
def note(line):
    with open(log, "a") as f:
        f.write(line + "\n")
async def forward(request):
    body = await request.read()
    key = request.headers.get("Idempotency-Key")
    post = request.method == "POST"
    if post and key and key in answers:
        note(f"replayed {request.path} {key}")
        status, payload = answers[key]
        return web.Response(status=status, body=payload, content_type="application/json")
    headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type", "stripe-version")}
    async with ClientSession() as session:
        async with session.request(request.method, upstream + request.path_qs, data=body, headers=headers) as answer:
            status, payload = answer.status, await answer.read()
    if post:
        note(f"forwarded {request.path} {key}")
        if key and status < 500:
            answers[key] = (status, payload)
        while os.path.exists(hold):
            await asyncio.sleep(0.05)
    return web.Response(status=status, body=payload, content_type="application/json")
app = web.Application()
app.router.add_route("*", "/{tail:.*}", forward)
web.run_app(app, host="127.0.0.1", port=port, print=None)
"#;

/// The idempotency-keeping, answer-holding proxy in front of a [`StripeFake`].
pub struct StripeProxy {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl StripeProxy {
    pub fn start(upstream: &StripeFake) -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let child = Command::new(python())
            .args([
                "-c",
                PROXY,
                &port.to_string(),
                &format!("http://127.0.0.1:{}", upstream.port),
            ])
            .arg(dir.path().join("hold"))
            .arg(dir.path().join("log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the proxy starts");
        let deadline = crate::support::patience::deadline();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the Stripe proxy did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        StripeProxy { port, child, dir }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// From now on, answers to POSTs are held (Stripe has acted; the caller waits).
    pub fn hold(&self) {
        std::fs::write(self.dir.path().join("hold"), b"").expect("hold");
    }

    pub fn release(&self) {
        let _ = std::fs::remove_file(self.dir.path().join("hold"));
    }

    /// The POSTs so far, as `(forwarded or replayed, path)`.
    pub fn calls(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.dir.path().join("log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let mut parts = line.split(' ');
                Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
            })
            .collect()
    }
}

impl Drop for StripeProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The app on a fresh `backend` database with card payments over `stripe_url`; the
/// reconciliation job looks at an unsettled card payment (or refund) after
/// `reconcile_after_secs`.
pub async fn app_with_cards(backend: super::Backend, stripe_url: String, reconcile_after_secs: u64) -> super::TestApp {
    let database = super::TestDatabase::new(backend).await;
    super::TestApp::spawn_with(backend, database, move |settings| {
        card_payments(settings, stripe_url);
        settings.stripe.reconcile_after_secs = reconcile_after_secs;
    })
    .await
}

/// Delivers a Stripe event about `object` to the app's webhook, signed as Stripe signs it.
pub async fn deliver(app: &super::TestApp, id: &str, kind: &str, object: &Value) -> super::Answer {
    let (signature, body) = signed_event(id, kind, object, WEBHOOK_SECRET, 0);
    let response = app
        .client
        .post(format!("{}/api/v1/webhooks/stripe", app.address))
        .header("Stripe-Signature", signature)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request sent");
    super::Answer::read(response).await
}

/// A card pledge of `amount` to `offer`, paid in `stripe` as the investor's browser would and
/// its success delivered: (pledge id, PaymentIntent id).
pub async fn paid_card_pledge(
    app: &super::TestApp,
    stripe: &StripeFake,
    offer: &str,
    investor: &super::TestUser,
    amount: i64,
) -> (String, String) {
    let response = app
        .client
        .post(format!("{}/api/v1/offers/{offer}/pledges", app.address))
        .bearer_auth(&investor.access_token)
        .header("Idempotency-Key", format!("card-{}", investor.id))
        .json(&json!({"amount_pence": amount, "payment_method": "card", "accept_terms": true}))
        .send()
        .await
        .expect("request sent");
    let pledge = super::Answer::read(response).await;
    pledge.expect(201);
    let secret = pledge.body["payment"]["client_secret"].as_str().expect("client secret");
    let intent_id = secret.split("_secret_").next().unwrap_or_default().to_owned();
    let paid = stripe.pay(&intent_id).await;
    deliver(app, &format!("evt_paid_{intent_id}"), "payment_intent.succeeded", &paid)
        .await
        .expect(200);
    (pledge.body["id"].as_str().unwrap_or_default().to_owned(), intent_id)
}
