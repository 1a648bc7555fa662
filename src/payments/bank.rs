//! Bank transfer: the investor pays the society's own account quoting the pledge's reference,
//! and the society records the receipt (or imports its statement). Nothing is called outside:
//! a refund is an instruction for the society's treasurer, marked done by an admin.

use futures_util::future::{self, BoxFuture};

use super::{PaymentProvider, PaymentRequest, PaymentStart, PaymentState, ProviderError, RefundRequest, RefundState};
use crate::services::pledges::PaymentMethod;

pub struct BankTransfer;

impl PaymentProvider for BankTransfer {
    fn method(&self) -> PaymentMethod {
        PaymentMethod::BankTransfer
    }

    fn create_payment<'a>(&'a self, _: &'a PaymentRequest<'a>) -> BoxFuture<'a, Result<PaymentStart, ProviderError>> {
        Box::pin(future::ready(Ok(PaymentStart::BankTransfer)))
    }

    fn payment_state<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<PaymentState, ProviderError>> {
        Box::pin(future::ready(Ok(PaymentState::AwaitingTransfer)))
    }

    fn refund<'a>(&'a self, _: &'a RefundRequest<'a>) -> BoxFuture<'a, Result<RefundState, ProviderError>> {
        Box::pin(future::ready(Ok(RefundState::AwaitingTreasurer)))
    }

    fn refund_state<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<RefundState, ProviderError>> {
        Box::pin(future::ready(Ok(RefundState::AwaitingTreasurer)))
    }
}
