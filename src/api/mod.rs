//! HTTP: thin handlers (extract, authorise, call a service, map to JSON), the route table, and
//! the OpenAPI document generated from the handlers' annotations.

pub mod access;
pub mod accounts;
pub mod closeout;
pub mod contract;
pub mod email;
pub mod extract;
pub mod funding;
pub mod health;
pub mod idempotent;
pub mod invitations;
pub mod offers;
pub mod organisations;
pub mod payments;
pub mod pledges;
pub mod problem;
pub mod public;
pub mod request_context;
pub mod rules;
pub mod throttle;
pub mod transparency;
pub mod web_page;

use actix_web::middleware::from_fn;
use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::AppError;

/// The route table. Each path is one resource, so a known path with another method is 405.
/// Access rules are the extractors the handlers take (see `access`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").get(web_page::index))
        .service(web::resource("/assets/{version}/{file}").get(web_page::asset))
        .service(web::resource("/health").get(health::health))
        .service(web::resource("/ready").get(health::ready))
        .service(
            web::scope("/api/v1")
                .configure(account_routes)
                .configure(offer_routes)
                .configure(money_routes)
                .configure(funding_routes)
                .configure(public_routes),
        );
}

/// The contract's own document, accounts and sessions, societies and funders.
fn account_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/openapi.json").get(openapi_json))
        // The anonymous writes (`contract::ANONYMOUS_WRITES`), throttled per address.
        .service(
            web::resource("/auth/register")
                .wrap(from_fn(throttle::anonymous_writes))
                .post(accounts::register),
        )
        .service(web::resource("/auth/login").post(accounts::login))
        .service(web::resource("/auth/refresh").post(accounts::refresh))
        .service(web::resource("/auth/logout").post(accounts::logout))
        .service(web::resource("/me").get(accounts::me))
        .service(
            web::resource("/me/profile")
                .get(accounts::get_profile)
                .put(accounts::put_profile),
        )
        .service(web::resource("/societies").post(organisations::create_society))
        .service(web::resource("/societies/{id}").get(organisations::get_society))
        .service(web::resource("/societies/{id}/admins").post(organisations::add_society_admin))
        .service(web::resource("/societies/{id}/bank-details").put(organisations::put_bank_details))
        .service(
            web::resource("/me/email-preferences")
                .get(email::get_preferences)
                .put(email::put_preferences),
        )
        .service(
            web::resource("/funders")
                .get(organisations::list_funders)
                .post(organisations::create_funder),
        )
        .service(
            web::resource("/funders/{id}/admins")
                .get(organisations::funder_admins)
                .post(organisations::add_funder_admin),
        )
        .service(web::resource("/funders/{id}/audit").get(organisations::funder_audit))
        .service(web::resource("/me/invitations").get(invitations::mine))
        .service(web::resource("/me/invitations/{id}/accept").post(invitations::accept))
        .service(web::resource("/me/invitations/{id}/decline").post(invitations::decline));
}

/// Offers, their lifecycle and their pledges (and receipts recorded against them).
fn offer_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/societies/{id}/offers")
            .get(offers::list_society_offers)
            .post(offers::create_offer),
    )
    .service(web::resource("/offers").get(offers::list_offers))
    .service(
        web::resource("/offers/{id}")
            .get(offers::get_offer)
            .patch(offers::patch_offer),
    )
    .service(web::resource("/offers/{id}/submit").post(offers::submit_offer))
    .service(web::resource("/offers/{id}/approve").post(offers::approve_offer))
    .service(web::resource("/offers/{id}/close").post(offers::close_offer))
    .service(web::resource("/offers/{id}/cancel").post(offers::cancel_offer))
    .service(web::resource("/offers/{id}/eligibility").post(offers::set_eligibility))
    .service(web::resource("/offers/{id}/audit").get(offers::offer_audit))
    .service(
        web::resource("/offers/{id}/pledges")
            .get(pledges::offer_pledges)
            .post(pledges::create_pledge),
    )
    .service(web::resource("/offers/{id}/bank-receipts").post(pledges::record_receipt))
    .service(web::resource("/offers/{id}/bank-receipts/import").post(pledges::import_receipts))
    .service(web::resource("/offers/{id}/bank-receipts/{receipt_id}/confirm").post(pledges::confirm_receipt))
    .service(web::resource("/offers/{id}/bank-receipts/{receipt_id}/withdraw").post(pledges::withdraw_receipt))
    .service(web::resource("/pledges/{id}").get(pledges::get_pledge))
    .service(web::resource("/pledges/{id}/cancel").post(pledges::cancel_pledge))
    .service(web::resource("/admin/offers").get(offers::admin_offers))
    .service(web::resource("/me/pledges").get(pledges::my_pledges));
}

/// Payments, refunds, close-out and the share register, the ledger check and the email outbox.
fn money_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/offers/{id}/ledger").get(pledges::offer_ledger))
        .service(web::resource("/webhooks/stripe").post(payments::stripe_webhook))
        .service(web::resource("/payment-methods").get(payments::payment_methods))
        .service(web::resource("/offers/{id}/register").get(closeout::register))
        .service(web::resource("/offers/{id}/closeout").get(closeout::closeout_state))
        .service(web::resource("/me/holdings").get(closeout::holdings))
        .service(web::resource("/offers/{id}/refunds").get(payments::offer_refunds))
        .service(web::resource("/offers/{id}/refunds/{refund_id}/complete").post(payments::complete_refund))
        .service(web::resource("/admin/ledger/verify").get(pledges::verify_ledger))
        .service(web::resource("/admin/outbox").get(email::list_outbox))
        .service(web::resource("/admin/outbox/{id}/retry").post(email::retry_email));
}

/// Funds, match applications and decisions, simulation and the consoles' reads.
fn funding_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/funders/{id}/funds").post(funding::create_fund))
        .service(web::resource("/funds/{id}").get(funding::get_fund))
        .service(
            web::resource("/offers/{id}/match-applications")
                .post(funding::apply)
                .get(funding::offer_applications),
        )
        .service(web::resource("/offers/{id}/match-applications/{app_id}/withdraw").post(funding::withdraw_application))
        .service(web::resource("/offers/{id}/progress").get(pledges::offer_progress))
        .service(web::resource("/funds").get(funding::list_funds))
        .service(web::resource("/offers/{id}/match-funders").get(funding::match_funders))
        .service(web::resource("/funds/{id}/applications").get(funding::applications))
        .service(web::resource("/funds/{id}/applications/{app_id}/approve").post(funding::approve))
        .service(web::resource("/funds/{id}/applications/{app_id}/reject").post(funding::reject))
        .service(web::resource("/funds/{id}/applications/{app_id}/confirm").post(funding::confirm))
        .service(web::resource("/funds/{id}/applications/{app_id}/decline").post(funding::decline))
        .service(web::resource("/funds/{id}/second-approval").put(funding::put_second_approval))
        .service(web::resource("/funds/{id}/simulate").post(funding::simulate));
}

/// Public accountability: public fund pages, impact, 360Giving open data, the transparency log.
fn public_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/funds/{id}/public").get(public::public_fund))
        .service(web::resource("/funds/{id}/impact").get(public::fund_impact))
        .service(web::resource("/funds/{id}/360giving.json").get(public::fund_json))
        .service(web::resource("/funds/{id}/360giving.csv").get(public::fund_csv))
        .service(web::resource("/open-data/360giving.json").get(public::all_json))
        .service(web::resource("/open-data/360giving.csv").get(public::all_csv))
        .service(web::resource("/funders/{id}/impact").get(public::funder_impact))
        .service(web::resource("/funders/{id}/open-data").put(public::put_funder_open_data))
        .service(web::resource("/funders/{id}/witness").put(transparency::put_witness))
        .service(web::resource("/transparency/checkpoint").get(transparency::checkpoint))
        .service(web::resource("/transparency/entries").get(transparency::entries))
        .service(web::resource("/transparency/entries/{index}/inclusion").get(transparency::inclusion))
        .service(web::resource("/transparency/consistency").get(transparency::consistency))
        .service(web::resource("/transparency/export").get(transparency::export))
        .service(web::resource("/transparency/cosignatures").post(transparency::cosign));
}

/// Any path not in the route table.
pub async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound("route"))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "community-shares",
        description = "Community share offers with match funding. Errors are RFC 9457 problems (application/problem+json).",
        license(name = "AGPL-3.0-or-later"),
    ),
    paths(
        health::health,
        health::ready,
        accounts::register,
        accounts::login,
        accounts::refresh,
        accounts::logout,
        accounts::me,
        accounts::get_profile,
        accounts::put_profile,
        organisations::create_society,
        organisations::get_society,
        organisations::add_society_admin,
        organisations::put_bank_details,
        organisations::list_funders,
        organisations::create_funder,
        organisations::add_funder_admin,
        organisations::funder_admins,
        organisations::funder_audit,
        invitations::mine,
        invitations::accept,
        invitations::decline,
        offers::create_offer,
        offers::list_society_offers,
        offers::patch_offer,
        offers::submit_offer,
        offers::approve_offer,
        offers::close_offer,
        offers::cancel_offer,
        offers::list_offers,
        offers::get_offer,
        offers::set_eligibility,
        offers::offer_audit,
        pledges::create_pledge,
        pledges::get_pledge,
        pledges::my_pledges,
        pledges::cancel_pledge,
        pledges::offer_pledges,
        pledges::record_receipt,
        pledges::confirm_receipt,
        pledges::withdraw_receipt,
        pledges::import_receipts,
        pledges::offer_ledger,
        offers::admin_offers,
        pledges::verify_ledger,
        payments::stripe_webhook,
        payments::payment_methods,
        payments::offer_refunds,
        payments::complete_refund,
        closeout::register,
        closeout::closeout_state,
        closeout::holdings,
        funding::create_fund,
        funding::list_funds,
        funding::offer_applications,
        pledges::offer_progress,
        funding::get_fund,
        funding::match_funders,
        funding::apply,
        funding::withdraw_application,
        funding::applications,
        funding::approve,
        funding::reject,
        funding::confirm,
        funding::decline,
        funding::put_second_approval,
        funding::simulate,
        email::list_outbox,
        email::retry_email,
        email::get_preferences,
        email::put_preferences,
        public::public_fund,
        public::fund_impact,
        public::funder_impact,
        public::fund_json,
        public::fund_csv,
        public::all_json,
        public::all_csv,
        public::put_funder_open_data,
        transparency::checkpoint,
        transparency::entries,
        transparency::inclusion,
        transparency::consistency,
        transparency::export,
        transparency::cosign,
        transparency::put_witness,
    ),
    components(schemas(problem::Problem, crate::error::FieldError, crate::domain::money::Pence)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(contract::document_text())
}
