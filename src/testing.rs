//! Generators shared by the unit tests' property tests.

use proptest::prelude::*;
use serde_json::Value;

/// Any JSON value, nested a few levels, with the keys and values the API's parsers look for
/// (`id`, `amount`, `currency`, `gbp`, ...) mixed in among arbitrary ones.
pub fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        Just(Value::from("gbp")),
        Just(Value::from("\u{0}")),
        Just(serde_json::json!({"id": "pi_1"})),
    ];
    let key = prop_oneof![
        Just("id".to_owned()),
        Just("amount".to_owned()),
        Just("amount_pence".to_owned()),
        Just("currency".to_owned()),
        Just("payment_intent".to_owned()),
        Just("amount_refunded".to_owned()),
        Just("metadata".to_owned()),
        "[a-z_]{1,10}",
    ];
    leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::hash_map(key.clone(), inner, 0..5)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}
