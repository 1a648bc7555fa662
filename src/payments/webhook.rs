//! Stripe webhooks, the pure part: checking the `Stripe-Signature` header (HMAC-SHA256 over
//! `"{t}.{raw body}"` with the endpoint's signing secret, compared in constant time, within a
//! tolerance) and reading an event into what it means here.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::domain::money::Pence;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header is malformed")]
    Malformed,
    #[error("the signature's timestamp is outside the accepted tolerance")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Checks a `Stripe-Signature` header (`t=<unix time>,v1=<hex>[,v1=...]`) against the raw body.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secret: &str,
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part.trim().split_once('=').ok_or(SignatureError::Malformed)?;
        match key {
            "t" => timestamp = Some(value.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            "v1" => signatures.push(hex_decode(value).ok_or(SignatureError::Malformed)?),
            _ => {} // other schemes (v0) are ignored, as Stripe's libraries do
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - timestamp).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret, timestamp, body);
    if signatures.iter().any(|s| expected.clone().verify_slice(s).is_ok()) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The header Stripe would send for this body at this time (for tests and local tools).
pub fn signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let bytes = mac(secret, timestamp, body).finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// A Stripe event as delivered (only the fields read here; Stripe's others are ignored).
/// Source: Stripe API reference, "The Event object".
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = StripeEvent)]
pub struct Event {
    /// Stripe's event id (`evt_...`): each is handled once.
    pub id: String,
    /// e.g. `payment_intent.succeeded`.
    #[serde(rename = "type")]
    pub kind: String,
    pub data: EventData,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = StripeEventData)]
pub struct EventData {
    /// The object the event is about (a PaymentIntent, a Charge, a Dispute, ...).
    #[schema(value_type = Object)]
    pub object: serde_json::Value,
}

/// What an event means for this platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happening {
    PaymentSucceeded {
        intent_id: String,
        pledge_id: Option<String>,
        amount: Pence,
        currency: String,
    },
    PaymentFailed {
        intent_id: String,
        pledge_id: Option<String>,
        reason: Option<String>,
    },
    /// A charge was refunded (in whole or part: `amount_refunded` so far, by the platform or
    /// anyone else).
    ChargeRefunded { intent_id: String, amount_refunded: Pence },
    /// The card holder disputed the charge (`charge.dispute.created`): `amount` is at stake.
    DisputeOpened {
        intent_id: String,
        dispute_id: String,
        amount: Pence,
        reason: String,
    },
    /// A dispute ended (`charge.dispute.closed`): `won` (or `warning_closed`, an inquiry that
    /// ended) keeps the money; `lost` means `amount` went back to the card holder.
    DisputeClosed {
        intent_id: String,
        dispute_id: String,
        amount: Pence,
        lost: bool,
    },
    /// An authentic event of a kind acted on that cannot be tied to a pledge (a charge without
    /// a PaymentIntent, say): acknowledged (so that Stripe does not retry it for days),
    /// recorded and logged.
    Untied { reason: String },
    /// An event this platform does not act on (acknowledged and recorded).
    Other,
}

fn text(object: &serde_json::Value, key: &str) -> Option<String> {
    object.get(key).and_then(|v| v.as_str()).map(str::to_owned)
}

/// An amount in pence (Stripe's integer amounts in the currency's smallest unit).
fn pence(object: &serde_json::Value, key: &str) -> Option<Pence> {
    object.get(key).and_then(|v| v.as_i64()).map(Pence::new)
}

/// A field that may be an id or an expanded object with an `id`.
fn id_of(object: &serde_json::Value, key: &str) -> Option<String> {
    match object.get(key)? {
        serde_json::Value::String(id) => Some(id.clone()),
        serde_json::Value::Object(inner) => inner.get("id").and_then(|v| v.as_str()).map(str::to_owned),
        _ => None,
    }
}

impl Event {
    /// Reads the event's object (Stripe API reference: "The PaymentIntent object", "The Charge
    /// object", "The Dispute object"). An event of a kind acted on that cannot be tied to a
    /// pledge is an error (the reason): the webhook acknowledges it all the same, since Stripe
    /// would retry it for days unchanged, and logs it.
    pub fn happening(&self) -> Result<Happening, String> {
        let object = &self.data.object;
        let missing = |what: &str| format!("{} event without {what}", self.kind);
        let pledge_id = || object.get("metadata").and_then(|m| text(m, "pledge_id"));
        Ok(match self.kind.as_str() {
            "payment_intent.succeeded" => Happening::PaymentSucceeded {
                intent_id: text(object, "id").ok_or_else(|| missing("data.object.id"))?,
                pledge_id: pledge_id(),
                amount: pence(object, "amount_received")
                    .or_else(|| pence(object, "amount"))
                    .ok_or_else(|| missing("an amount"))?,
                currency: text(object, "currency").ok_or_else(|| missing("a currency"))?,
            },
            "payment_intent.payment_failed" => Happening::PaymentFailed {
                intent_id: text(object, "id").ok_or_else(|| missing("data.object.id"))?,
                pledge_id: pledge_id(),
                reason: object
                    .get("last_payment_error")
                    .and_then(|e| text(e, "message").or_else(|| text(e, "code"))),
            },
            "charge.refunded" => Happening::ChargeRefunded {
                intent_id: id_of(object, "payment_intent").ok_or_else(|| missing("a payment_intent"))?,
                amount_refunded: pence(object, "amount_refunded").ok_or_else(|| missing("amount_refunded"))?,
            },
            "charge.dispute.created" => Happening::DisputeOpened {
                intent_id: id_of(object, "payment_intent").ok_or_else(|| missing("a payment_intent"))?,
                dispute_id: text(object, "id").ok_or_else(|| missing("data.object.id"))?,
                amount: pence(object, "amount").ok_or_else(|| missing("an amount"))?,
                reason: text(object, "reason").unwrap_or_else(|| "unknown".into()),
            },
            "charge.dispute.closed" => Happening::DisputeClosed {
                intent_id: id_of(object, "payment_intent").ok_or_else(|| missing("a payment_intent"))?,
                dispute_id: text(object, "id").ok_or_else(|| missing("data.object.id"))?,
                amount: pence(object, "amount").ok_or_else(|| missing("an amount"))?,
                lost: text(object, "status").ok_or_else(|| missing("a status"))? == "lost",
            },
            _ => Happening::Other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::any_json;
    use proptest::prelude::*;

    const SECRET: &str = "whsec_test";

    #[test]
    fn a_signed_body_verifies_and_any_change_does_not() {
        let body = br#"{"id":"evt_1"}"#;
        let header = signature_header(SECRET, 1_000, body);
        assert_eq!(verify(Some(&header), body, SECRET, 1_100, 300), Ok(()));
        assert_eq!(
            verify(Some(&header), br#"{"id":"evt_2"}"#, SECRET, 1_100, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&header), body, "whsec_other", 1_100, 300),
            Err(SignatureError::Mismatch)
        );
        // The timestamp is signed too: changing it breaks the signature.
        let moved = header.replace("t=1000", "t=1001");
        assert_eq!(
            verify(Some(&moved), body, SECRET, 1_100, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn stale_missing_and_malformed_headers_are_refused() {
        let body = b"{}";
        let header = signature_header(SECRET, 1_000, body);
        assert_eq!(
            verify(Some(&header), body, SECRET, 1_301, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(Some(&header), body, SECRET, 699, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(verify(None, body, SECRET, 1_000, 300), Err(SignatureError::Missing));
        for bad in ["", "t=1000", "v1=abcd", "t=x,v1=abcd", "t=1000,v1=zz", "garbage"] {
            assert_eq!(
                verify(Some(bad), body, SECRET, 1_000, 300),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn one_matching_signature_among_several_is_enough() {
        let body = b"{}";
        let good = signature_header(SECRET, 1_000, body);
        let v1 = good.split_once(",v1=").unwrap().1;
        let header = format!("t=1000,v1={},v1={v1},v0=ignored", "00".repeat(32));
        assert_eq!(verify(Some(&header), body, SECRET, 1_000, 300), Ok(()));
    }

    #[test]
    fn events_are_read_into_what_they_mean() {
        let event: Event = serde_json::from_value(serde_json::json!({
            "id": "evt_1", "type": "payment_intent.succeeded",
            "data": {"object": {"id": "pi_1", "amount": 500, "currency": "gbp", "metadata": {"pledge_id": "p1"}}}
        }))
        .unwrap();
        assert_eq!(
            event.happening().unwrap(),
            Happening::PaymentSucceeded {
                intent_id: "pi_1".into(),
                pledge_id: Some("p1".into()),
                amount: Pence::new(500),
                currency: "gbp".into()
            }
        );
        let refunded: Event = serde_json::from_value(serde_json::json!({
            "id": "evt_2", "type": "charge.refunded",
            "data": {"object": {"id": "ch_1", "payment_intent": {"id": "pi_1"}, "amount_refunded": 500}}
        }))
        .unwrap();
        assert_eq!(
            refunded.happening().unwrap(),
            Happening::ChargeRefunded {
                intent_id: "pi_1".into(),
                amount_refunded: Pence::new(500)
            }
        );
        let broken: Event = serde_json::from_value(serde_json::json!({
            "id": "evt_3", "type": "charge.refunded", "data": {"object": {"id": "ch_1"}}
        }))
        .unwrap();
        assert!(broken.happening().is_err());
        let other: Event = serde_json::from_value(serde_json::json!({
            "id": "evt_4", "type": "customer.created", "data": {"object": {}}
        }))
        .unwrap();
        assert_eq!(other.happening().unwrap(), Happening::Other);
        let lost: Event = serde_json::from_value(serde_json::json!({
            "id": "evt_5", "type": "charge.dispute.closed",
            "data": {"object": {"id": "dp_1", "object": "dispute", "amount": 500, "charge": "ch_1",
                                "payment_intent": "pi_1", "reason": "fraudulent", "status": "lost"}}
        }))
        .unwrap();
        assert_eq!(
            lost.happening().unwrap(),
            Happening::DisputeClosed {
                intent_id: "pi_1".into(),
                dispute_id: "dp_1".into(),
                amount: Pence::new(500),
                lost: true
            }
        );
        let without_intent: Event = serde_json::from_value(serde_json::json!({
            "id": "evt_6", "type": "charge.dispute.created",
            "data": {"object": {"id": "dp_2", "amount": 500, "charge": "ch_2", "payment_intent": null}}
        }))
        .unwrap();
        assert!(without_intent.happening().is_err());
    }

    /// Header text as a sender might garble it: parts in any order, spaces, other schemes.
    fn header_text() -> impl Strategy<Value = String> {
        let part = prop_oneof![
            "t=-?[0-9]{0,12}",
            "v1=[0-9a-f]{0,70}",
            "v0=[0-9a-zA-Z]{0,10}",
            "[a-z0-9]{0,3}=?[^,]{0,8}",
            "\\PC{0,6}",
        ];
        proptest::collection::vec(part, 0..6).prop_map(|parts| parts.join(","))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn no_header_or_body_a_sender_can_make_without_the_secret_verifies(
            header in prop_oneof![header_text(), "\\PC{0,80}"],
            body in proptest::collection::vec(any::<u8>(), 0..256),
            now in 0_i64..4_000_000_000,
        ) {
            prop_assert!(verify(Some(&header), &body, SECRET, now, 300).is_err());
        }

        #[test]
        fn a_signed_body_verifies_and_any_change_to_it_or_its_header_does_not(
            body in proptest::collection::vec(any::<u8>(), 1..256),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
            skew in -300_i64..=300,
            late in 301_i64..1_000_000,
        ) {
            let header = signature_header(SECRET, 1_000_000, &body);
            prop_assert_eq!(verify(Some(&header), &body, SECRET, 1_000_000 + skew, 300), Ok(()));
            prop_assert_eq!(verify(Some(&header), &body, SECRET, 1_000_000 + late, 300), Err(SignatureError::Stale));
            let mut changed = body.clone();
            changed[at.index(body.len())] ^= flip;
            prop_assert!(verify(Some(&header), &changed, SECRET, 1_000_000, 300).is_err());
            let hex_start = header.find("v1=").unwrap() + 3;
            let mut bytes = header.clone().into_bytes();
            let i = hex_start + at.index(bytes.len() - hex_start);
            bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
            prop_assert!(verify(Some(&String::from_utf8(bytes).unwrap()), &body, SECRET, 1_000_000, 300).is_err());
        }

        #[test]
        fn any_event_json_is_read_or_refused_without_panicking(object in any_json(), kind in prop_oneof![
            Just("payment_intent.succeeded".to_owned()), Just("payment_intent.payment_failed".to_owned()),
            Just("charge.refunded".to_owned()), Just("charge.dispute.created".to_owned()),
            Just("charge.dispute.closed".to_owned()), "[a-z._]{0,20}",
        ]) {
            let event = serde_json::json!({"id": "evt_1", "type": kind, "data": {"object": object}});
            if let Ok(event) = serde_json::from_value::<Event>(event) {
                let _ = event.happening();
            }
        }
    }
}
