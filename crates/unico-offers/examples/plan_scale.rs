//! Planning at scale: N customers × C candidates on synthetic inputs, timed.
//!
//! usage: cargo run --release -p unico-offers --example plan_scale -- [customers] [candidates]

use rand::{Rng, SeedableRng};
use std::time::Instant;
use unico_offers::assign::Kind;
use unico_offers::plan::{CandidateInput, CustomerInput, Inputs, Status, plan};
use unico_offers::policy::{Policy, Product};
use unico_offers::response::ResponseModel;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map_or(1_000_000, |v| v.parse().expect("customers"));
    let per: usize = args.get(2).map_or(50, |v| v.parse().expect("candidates"));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let products: Vec<Product> = (0..5000)
        .map(|i| {
            let price = rng.random_range(80..2000);
            Product {
                sku: format!("P{i}"),
                name: format!("product {i}"),
                category: format!("Cat{}", i % 30),
                department: String::new(),
                brand: format!("Brand{}", i % 200),
                supplier: format!("Supplier{}", i % 12),
                list_price_cents: Some(price),
                unit_cost_cents: Some(price * rng.random_range(50..80) / 100),
            }
        })
        .collect();
    let policy = Policy::parse(
        &format!(
            r#"
[campaign]
name = "scale"
valid_from = "2026-03-02"
valid_to = "2026-03-15"
holdout_share = 0.1
offers_per_customer = 3
[budget]
total_cents = {}
basis = "expected"
worst_case_cents = {}
[[budget.limit]]
category = "Cat1"
cents = {}
[[budget.limit]]
supplier = "Supplier3"
cents = {}
supplier_funded = true
[offers]
percent_off = [10, 20, 30]
[margin]
min_margin_after_discount = 0.05
"#,
            n as i64 * 40,
            n as i64 * 200,
            n as i64,
            n as i64 * 2
        ),
        &products,
    )
    .expect("policy");
    let t = Instant::now();
    let customers: Vec<CustomerInput> = (0..n)
        .map(|i| CustomerInput {
            key: format!("{i:032x}"),
            segment: ["champions", "loyal", "new", "at_risk"][i % 4].into(),
            store: Some(format!("S{}", i % 40)),
            clv_cents: rng.random_range(0..50_000),
            p_alive: rng.random(),
            sensitivity: rng.random(),
            marketing: true,
            profiling: true,
            candidates: (0..per)
                .map(|_| CandidateInput {
                    product: rng.random_range(0..5000),
                    kind: Kind::CrossSell,
                    p0: rng.random::<f64>().powi(3),
                    affinity: rng.random::<f64>() * 0.6,
                    reason: String::new(),
                })
                .collect(),
            blocked: Vec::new(),
            recent_offers: 0,
            categories: Vec::new(),
            spend: Vec::new(),
        })
        .collect();
    let made = t.elapsed().as_secs_f64();
    let response = ResponseModel::default().response(&policy.percent_off, None);
    let t = Instant::now();
    let p = plan(&Inputs {
        policy: &policy,
        products: &products,
        categories: &[],
        margin_rate: 0.3,
        customers: &customers,
        generic: &[],
        response: &response,
        secret: b"s",
        explain: None,
    });
    let planned = t.elapsed().as_secs_f64();
    let with = p.status.iter().filter(|s| **s == Status::Personal).count();
    println!(
        "{n} customers x {per} candidates (inputs made in {made:.1} s): planned in {planned:.1} s; {} offers to {with} customers; objective {:.0} cents ({:.2} % of the upper bound); expected cost {:.0} of {} cents; multipliers {:?}",
        p.offers.len(),
        p.value,
        100.0 * p.value / p.upper_bound,
        p.expected_cost,
        policy.total_cents,
        p.multipliers
    );
}
