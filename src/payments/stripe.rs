//! Card payments through Stripe with `async-stripe`: typed request parameters, and replies read
//! into the few fields used here (so the same code reads the real service and a local fake).
//! Every call that creates something carries an idempotency key derived from the pledge, so a
//! retry after a crash or a timeout never charges or refunds twice.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::BoxFuture;
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use stripe::{Client, CreatePaymentIntent, CreateRefund, Currency, RequestStrategy, StripeError};

use super::{
    CardPayment, PaymentProvider, PaymentRequest, PaymentStart, PaymentState, ProviderError, RefundRequest, RefundState,
};
use crate::config::StripeSettings;
use crate::domain::money::Pence;
use crate::services::pledges::PaymentMethod;

pub struct StripeCard {
    client: Client,
    timeout: Duration,
}

/// Stripe's idempotency key for a pledge's PaymentIntent.
pub fn intent_key(pledge_id: &str) -> String {
    format!("cs-pledge-{pledge_id}-intent")
}

/// Stripe's idempotency key for a refund: the pledge's for the refund of its whole payment (a
/// pledge's whole payment is refunded at most once), the refund's own for any other.
pub fn refund_key(request: &RefundRequest<'_>) -> String {
    if request.whole_payment {
        format!("cs-pledge-{}-refund", request.pledge_id)
    } else {
        format!("cs-refund-{}", request.refund_id)
    }
}

#[derive(Debug, Deserialize)]
struct Intent {
    id: String,
    status: String,
    amount: i64,
    currency: String,
    client_secret: Option<String>,
    #[serde(default)]
    last_payment_error: Option<LastError>,
}

#[derive(Debug, Deserialize)]
struct LastError {
    message: Option<String>,
    code: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Refund {
    id: String,
    status: String,
    failure_reason: Option<String>,
}

impl Intent {
    fn state(&self) -> Result<PaymentState, ProviderError> {
        if !self.currency.eq_ignore_ascii_case("gbp") {
            return Err(ProviderError::Refused(format!(
                "payment intent {} is in {}, not gbp",
                self.id, self.currency
            )));
        }
        let status = self.status.clone();
        Ok(match self.status.as_str() {
            "succeeded" => PaymentState::Succeeded {
                amount: Pence::new(self.amount),
            },
            "canceled" => PaymentState::Canceled,
            "processing" | "requires_capture" => PaymentState::Processing { status },
            _ => PaymentState::AwaitingPayer {
                status,
                failure: self
                    .last_payment_error
                    .as_ref()
                    .and_then(|e| e.message.clone().or_else(|| e.code.clone())),
            },
        })
    }
}

impl Refund {
    fn state(self) -> RefundState {
        match self.status.as_str() {
            "succeeded" => RefundState::Succeeded { provider_id: self.id },
            "failed" | "canceled" => RefundState::Failed {
                reason: self.failure_reason.unwrap_or_else(|| self.status.clone()),
                provider_id: self.id,
            },
            _ => RefundState::Pending {
                provider_id: self.id,
                status: self.status,
            },
        }
    }
}

fn classify(error: StripeError) -> ProviderError {
    match error {
        StripeError::Stripe(e) if e.http_status >= 500 || e.http_status == 429 || e.http_status == 409 => {
            ProviderError::Unavailable(format!("Stripe answered {}", e.http_status))
        }
        StripeError::Stripe(e) => ProviderError::Refused(format!(
            "Stripe answered {}: {}",
            e.http_status,
            e.message.unwrap_or_else(|| e.error_type.to_string())
        )),
        StripeError::Timeout => ProviderError::Unavailable("Stripe did not answer in time".into()),
        StripeError::ClientError(e) => ProviderError::Unavailable(format!("Stripe could not be reached: {e}")),
        other => ProviderError::Unavailable(format!("Stripe's answer could not be read: {other}")),
    }
}

impl StripeCard {
    /// The card provider, when a secret key is configured.
    pub fn from_settings(settings: &StripeSettings) -> Option<Self> {
        if !settings.card_enabled() {
            return None;
        }
        let secret = settings.secret_key.as_ref()?.expose_secret().trim().to_owned();
        Some(Self {
            client: Client::from_url(settings.api_base.as_str(), secret),
            timeout: Duration::from_secs(settings.timeout_secs),
        })
    }

    async fn call<T: DeserializeOwned + Send + 'static>(
        &self,
        response: stripe::Response<T>,
    ) -> Result<T, ProviderError> {
        match tokio::time::timeout(self.timeout, response).await {
            Ok(result) => result.map_err(classify),
            Err(_) => Err(ProviderError::Unavailable("Stripe did not answer in time".into())),
        }
    }

    fn with_key(&self, key: String) -> Client {
        self.client.clone().with_strategy(RequestStrategy::Idempotent(key))
    }
}

impl PaymentProvider for StripeCard {
    fn method(&self) -> PaymentMethod {
        PaymentMethod::Card
    }

    fn create_payment<'a>(
        &'a self,
        request: &'a PaymentRequest<'a>,
    ) -> BoxFuture<'a, Result<PaymentStart, ProviderError>> {
        Box::pin(async move {
            let mut params = CreatePaymentIntent::new(request.amount.get(), Currency::GBP);
            params.payment_method_types = Some(vec!["card".into()]);
            // What the payment is for goes in metadata: localstripe refuses `description`.
            params.metadata = Some(HashMap::from([
                ("pledge_id".to_owned(), request.pledge_id.to_owned()),
                ("purpose".to_owned(), request.description.to_owned()),
            ]));
            let client = self.with_key(intent_key(request.pledge_id));
            let intent: Intent = self.call(client.post_form("/payment_intents", &params)).await?;
            let state = intent.state()?;
            Ok(PaymentStart::Card(CardPayment {
                intent_id: intent.id,
                client_secret: intent.client_secret,
                state,
            }))
        })
    }

    fn payment_state<'a>(&'a self, payment_id: &'a str) -> BoxFuture<'a, Result<PaymentState, ProviderError>> {
        Box::pin(async move {
            let intent: Intent = self
                .call(self.client.get(&format!("/payment_intents/{payment_id}")))
                .await?;
            intent.state()
        })
    }

    fn refund<'a>(&'a self, request: &'a RefundRequest<'a>) -> BoxFuture<'a, Result<RefundState, ProviderError>> {
        Box::pin(async move {
            let intent = request
                .payment_id
                .ok_or_else(|| ProviderError::Refused("a card refund needs the payment intent".into()))?;
            let mut params = CreateRefund::new();
            params.payment_intent = Some(
                intent
                    .parse()
                    .map_err(|_| ProviderError::Refused(format!("{intent} is not a payment intent id")))?,
            );
            params.amount = Some(request.amount.get());
            params.metadata = Some(HashMap::from([
                ("pledge_id".to_owned(), request.pledge_id.to_owned()),
                ("refund_id".to_owned(), request.refund_id.to_owned()),
            ]));
            let client = self.with_key(refund_key(request));
            let refund: Refund = self.call(client.post_form("/refunds", &params)).await?;
            Ok(refund.state())
        })
    }

    fn refund_state<'a>(&'a self, provider_refund_id: &'a str) -> BoxFuture<'a, Result<RefundState, ProviderError>> {
        Box::pin(async move {
            let refund: Refund = self
                .call(self.client.get(&format!("/refunds/{provider_refund_id}")))
                .await?;
            Ok(refund.state())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_stable_per_pledge_and_distinct_per_call() {
        assert_eq!(intent_key("p1"), intent_key("p1"));
        assert_ne!(intent_key("p1"), intent_key("p2"));
        let refund = |refund_id, whole_payment| RefundRequest {
            refund_id,
            pledge_id: "p1",
            whole_payment,
            amount: Pence::new(100),
            payment_id: None,
        };
        assert_eq!(refund_key(&refund("r1", true)), refund_key(&refund("r2", true)));
        assert_ne!(refund_key(&refund("r1", false)), refund_key(&refund("r2", false)));
        assert_ne!(intent_key("p1"), refund_key(&refund("r1", true)));
    }

    #[test]
    fn intent_states() {
        let intent = |status: &str, currency: &str| Intent {
            id: "pi_1".into(),
            status: status.into(),
            amount: 500,
            currency: currency.into(),
            client_secret: None,
            last_payment_error: Some(LastError {
                message: Some("Your card was declined.".into()),
                code: None,
            }),
        };
        assert_eq!(
            intent("succeeded", "gbp").state().unwrap(),
            PaymentState::Succeeded {
                amount: Pence::new(500)
            }
        );
        assert_eq!(
            intent("requires_payment_method", "gbp").state().unwrap(),
            PaymentState::AwaitingPayer {
                status: "requires_payment_method".into(),
                failure: Some("Your card was declined.".into())
            }
        );
        assert_eq!(intent("canceled", "gbp").state().unwrap(), PaymentState::Canceled);
        assert!(matches!(
            intent("succeeded", "usd").state(),
            Err(ProviderError::Refused(_))
        ));
    }
}
