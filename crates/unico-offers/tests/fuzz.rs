//! No policy reaches a panic: the example policy with every number replaced by a random
//! one (zero, negative, i64 extremes), and random TOML-shaped text, parse to a policy or to
//! errors with their lines. Bounded (256 cases each) so it runs in every `cargo test`.

use proptest::prelude::*;
use unico_offers::{Policy, Product};

const EXAMPLE: &str = include_str!("../../../docs/examples/policy-offer-types.toml");

fn products() -> Vec<Product> {
    let p = |sku: &str, category: &str, brand: &str| Product {
        sku: sku.into(),
        name: sku.into(),
        category: category.into(),
        department: String::new(),
        brand: brand.into(),
        supplier: "S".into(),
        list_price_cents: Some(500),
        unit_cost_cents: Some(300),
    };
    vec![p("100001", "Coffee", "B1"), p("100002", "Pasta", "B2"), p("100003", "Tobacco", "B3")]
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        Just("-1".to_string()),
        Just(i64::MAX.to_string()),
        Just(i64::MIN.to_string()),
        Just("7304485".to_string()),
        Just("1e300".to_string()),
        Just("nan".to_string()),
        (-100_000i64..100_000).prop_map(|n| n.to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn numbers_anywhere_never_panic(numbers in prop::collection::vec(number(), 64)) {
        let mut i = 0;
        let mut out = String::new();
        let mut in_number = false;
        for c in EXAMPLE.chars() {
            let digit = c.is_ascii_digit();
            if digit && !in_number {
                out.push_str(&numbers[i % numbers.len()]);
                i += 1;
            }
            if !digit {
                out.push(c);
            }
            in_number = digit;
        }
        let _ = Policy::parse(&out, &products());
    }

    #[test]
    fn toml_shaped_text_never_panics(text in "(\\[campaign\\]|\\[budget\\]|\\[offers\\]|\\[customers\\]|\\[\\[trial\\]\\]|name|valid_from|valid_to|total_cents|percent_off|cooldown_days|sku| = |\"2026-01-05\"|\"x\"|[0-9]{1,20}|\\[|\\]|,|\n){0,50}") {
        let _ = Policy::parse(&text, &products());
    }
}
