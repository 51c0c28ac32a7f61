//! Learning from redemptions moves the discount depth the plan chooses in the direction the
//! planted response calls for.

use rand::{Rng, SeedableRng};
use unico_offers::assign::Kind;
use unico_offers::plan::{CandidateInput, CustomerInput, Inputs, plan};
use unico_offers::policy::{Policy, Product};
use unico_offers::response::{Arm, Observation, RHO, ResponseModel, band};

const POLICY: &str = r#"
[campaign]
name = "learn"
valid_from = "2026-03-02"
valid_to = "2026-03-15"
holdout_share = 0.0
offers_per_customer = 2

[budget]
total_cents = 100000000

[offers]
percent_off = [10, 20, 30]
"#;

fn setup() -> (Policy, Vec<Product>, Vec<CustomerInput>) {
    let products: Vec<Product> = (0..20)
        .map(|i| Product {
            sku: format!("P{i}"),
            name: format!("product {i}"),
            category: "Food".into(),
            department: String::new(),
            list_price_cents: Some(500),
            unit_cost_cents: Some(250),
            ..Default::default()
        })
        .collect();
    let policy = Policy::parse(POLICY, &products).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let customers = (0..2000)
        .map(|i| CustomerInput {
            key: format!("k{i}"),
            segment: "loyal".into(),
            clv_cents: 10_000,
            p_alive: 0.9,
            sensitivity: 0.5,
            marketing: true,
            profiling: true,
            candidates: (0..5)
                .map(|_| CandidateInput {
                    product: rng.random_range(0..20),
                    kind: Kind::CrossSell,
                    p0: rng.random::<f64>() * 0.2,
                    affinity: 0.3 + 0.7 * rng.random::<f64>(),
                    reason: "because".into(),
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    (policy, products, customers)
}

fn mean_depth(policy: &Policy, products: &[Product], customers: &[CustomerInput], model: &ResponseModel) -> f64 {
    let response = model.response(&policy.percent_off, None);
    let p = plan(&Inputs {
        policy,
        products,
        customers: &customers,
        generic: &[],
        categories: &[],
        margin_rate: 0.3,
        response: &response,
        secret: b"s",
        explain: None,
    });
    assert!(p.offers.len() > 1000);
    p.offers.iter().map(|o| f64::from(o.percent)).sum::<f64>() / p.offers.len() as f64
}

/// Past offers at random depths, redeemed as the planted `g` says.
fn observations(customers: &[CustomerInput], g: impl Fn(u32) -> f64) -> Vec<Observation> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let mut out = Vec::new();
    for _ in 0..3 {
        for c in customers {
            for cand in &c.candidates {
                let depth = [10, 20, 30][rng.random_range(0..3)];
                let p = cand.p0 * RHO + (1.0 - cand.p0) * cand.affinity * g(depth);
                out.push(Observation {
                    band: band(c.sensitivity),
                    arm: Arm::Percent,
                    depth_percent: depth,
                    p0: cand.p0,
                    affinity: cand.affinity,
                    redeemed: rng.random::<f64>() < p,
                });
            }
        }
    }
    out
}

#[test]
fn learning_moves_depth_the_right_way() {
    let (policy, products, customers) = setup();
    let prior = ResponseModel::default();
    let before = mean_depth(&policy, &products, &customers, &prior);

    // Planted: any discount moves 35 % of those with affinity; deeper does not help.
    let mut flat = ResponseModel::default();
    flat.learn(&observations(&customers, |_| 0.35));
    let after_flat = mean_depth(&policy, &products, &customers, &flat);
    assert!(after_flat < before - 3.0, "flat response: depth {before:.1} -> {after_flat:.1}");
    assert!((flat.mean(2, 10) - 0.35).abs() < 0.05, "{}", flat.mean(2, 10));

    // Planted: only deep discounts move anyone.
    let mut steep = ResponseModel::default();
    steep.learn(&observations(&customers, |d| match d {
        10 => 0.01,
        20 => 0.05,
        _ => 0.7,
    }));
    let after_steep = mean_depth(&policy, &products, &customers, &steep);
    assert!(after_steep > before + 3.0, "steep response: depth {before:.1} -> {after_steep:.1}");
    eprintln!(
        "mean depth: prior {before:.1} %, after a flat response {after_flat:.1} %, after a steep one {after_steep:.1} %"
    );
}
