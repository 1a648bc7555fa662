//! Payment methods behind one trait (DESIGN §4): card through Stripe, and bank transfer to the
//! society's own account. A provider only talks to the outside world; what its answers mean for
//! pledges and the ledger is decided in `services::payments`, in database transactions that
//! never wait on a provider.

pub mod bank;
pub mod statement;
pub mod stripe;
pub mod webhook;

use futures_util::future::BoxFuture;

use crate::config::StripeSettings;
use crate::domain::money::Pence;
use crate::error::AppError;
use crate::services::pledges::PaymentMethod;

/// A payment to start for a pledge.
#[derive(Debug, Clone)]
pub struct PaymentRequest<'a> {
    pub pledge_id: &'a str,
    pub amount: Pence,
    pub description: &'a str,
}

/// How the investor goes on to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentStart {
    /// By bank transfer with the pledge's reference; a receipt settles it.
    BankTransfer,
    /// By card, through Stripe's payment element with this intent's client secret.
    Card(CardPayment),
}

/// A Stripe PaymentIntent as far as this platform needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardPayment {
    pub intent_id: String,
    pub client_secret: Option<String>,
    pub state: PaymentState,
}

/// Where a payment is, as its provider tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentState {
    /// The money is taken (the amount the provider reports).
    Succeeded { amount: Pence },
    /// Waiting for the payer (or a failed attempt they may retry; the reason says why).
    AwaitingPayer { status: String, failure: Option<String> },
    /// The provider is still working on it.
    Processing { status: String },
    /// The payment was cancelled at the provider; it will never succeed.
    Canceled,
    /// Bank transfer: only a receipt recorded by the society tells.
    AwaitingTransfer,
}

/// A refund to make.
#[derive(Debug, Clone)]
pub struct RefundRequest<'a> {
    pub refund_id: &'a str,
    pub pledge_id: &'a str,
    /// The refund of the pledge's whole payment (when the pledge ended), of which a pledge
    /// has at most one; otherwise one of its other refunds (the rest of a payment after part
    /// of it was refunded outside the platform). Decides the provider's idempotency key.
    pub whole_payment: bool,
    pub amount: Pence,
    /// The provider's payment (a PaymentIntent id); none for bank transfer.
    pub payment_id: Option<&'a str>,
}

/// Where a refund is, as its provider tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundState {
    Succeeded {
        provider_id: String,
    },
    Pending {
        provider_id: String,
        status: String,
    },
    Failed {
        provider_id: String,
        reason: String,
    },
    /// Bank transfer: the society's treasurer pays it back and an admin marks it done.
    AwaitingTreasurer,
}

/// Why a provider call did not give an answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// Not reachable, timed out, or failing on its side: try again later.
    #[error("the payment provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request; repeating it will not help.
    #[error("the payment provider refused the request: {0}")]
    Refused(String),
}

/// One payment method. Implementations make no database calls and hold no locks: they are
/// called outside transactions, and every call is safe to repeat (Stripe calls carry an
/// idempotency key derived from the pledge).
pub trait PaymentProvider: Send + Sync {
    fn method(&self) -> PaymentMethod;
    /// Starts collecting a pledge's money.
    fn create_payment<'a>(
        &'a self,
        request: &'a PaymentRequest<'a>,
    ) -> BoxFuture<'a, Result<PaymentStart, ProviderError>>;
    /// The state of a payment started earlier (`payment_id` as `create_payment` gave it).
    fn payment_state<'a>(&'a self, payment_id: &'a str) -> BoxFuture<'a, Result<PaymentState, ProviderError>>;
    /// Returns a payment's money to the payer.
    fn refund<'a>(&'a self, request: &'a RefundRequest<'a>) -> BoxFuture<'a, Result<RefundState, ProviderError>>;
    /// The state of a refund made earlier.
    fn refund_state<'a>(&'a self, provider_refund_id: &'a str) -> BoxFuture<'a, Result<RefundState, ProviderError>>;
}

/// The payment methods this server offers.
pub struct Payments {
    bank: bank::BankTransfer,
    card: Option<stripe::StripeCard>,
}

impl Payments {
    pub fn new(settings: &StripeSettings) -> Self {
        Self {
            bank: bank::BankTransfer,
            card: stripe::StripeCard::from_settings(settings),
        }
    }

    pub fn card_enabled(&self) -> bool {
        self.card.is_some()
    }

    /// The provider of a method; card when Stripe is not configured is a 422 on `payment_method`.
    pub fn provider(&self, method: PaymentMethod) -> Result<&dyn PaymentProvider, AppError> {
        match method {
            PaymentMethod::BankTransfer => Ok(&self.bank),
            PaymentMethod::Card => match &self.card {
                Some(card) => Ok(card),
                None => Err(card_not_configured()),
            },
        }
    }
}

pub fn card_not_configured() -> AppError {
    AppError::field(
        "payment_method",
        "card payments are not configured on this server; pay by bank_transfer",
    )
}
