//! Property tests of the plan: with random products, customers and policies, every
//! budget, margin rule, exclusion, consent and cap holds, and the holdout gets nothing.

use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use unico_offers::assign::Kind;
use unico_offers::plan::{CandidateInput, CustomerInput, Inputs, Status, plan};
use unico_offers::policy::{Basis, Policy, Product};
use unico_offers::response::ResponseModel;

fn products(prices: &[(i64, i64)]) -> Vec<Product> {
    prices
        .iter()
        .enumerate()
        .map(|(i, (price, cost_pct))| Product {
            sku: format!("P{i}"),
            name: format!("product {i}"),
            category: format!("Cat{}", i % 4),
            brand: format!("B{}", i % 3),
            supplier: format!("S{}", i % 2),
            list_price_cents: Some(*price),
            unit_cost_cents: Some(price * cost_pct / 100),
        })
        .collect()
}

/// segment, marketing, profiling, CLV, sensitivity, candidates (product, p0, affinity),
/// offers from other campaigns within the frequency cap's window
type CustomerCase = (u8, bool, bool, i64, f64, Vec<(u32, f64, f64)>, u32);

#[derive(Debug, Clone)]
struct Case {
    prices: Vec<(i64, i64)>,
    customers: Vec<CustomerCase>,
    total: i64,
    expected_basis: bool,
    limit_cents: i64,
    funded: bool,
    min_margin: f64,
    k: usize,
    holdout: f64,
    exclude_cat: bool,
    /// The frequency cap over offers_per_customer, if any.
    cap_over_k: Option<usize>,
}

fn case() -> impl Strategy<Value = Case> {
    let prices = prop::collection::vec((50i64..3000, 30i64..95), 4..24);
    let customer = (
        0u8..10,
        prop::bool::weighted(0.9),
        prop::bool::weighted(0.8),
        -1000i64..200_000,
        0.0f64..1.0,
        prop::collection::vec((0u32..24, 0.0f64..1.0, 0.0f64..1.0), 0..12),
        0u32..7,
    );
    (
        prices,
        prop::collection::vec(customer, 1..60),
        1i64..20_000,
        any::<bool>(),
        0i64..5_000,
        any::<bool>(),
        0.0f64..0.3,
        1usize..5,
        0.0f64..0.5,
        any::<bool>(),
        prop::option::of(0usize..4),
    )
        .prop_map(
            |(
                prices,
                customers,
                total,
                expected_basis,
                limit_cents,
                funded,
                min_margin,
                k,
                holdout,
                exclude_cat,
                cap_over_k,
            )| {
                Case {
                    prices,
                    customers,
                    total,
                    expected_basis,
                    limit_cents,
                    funded,
                    min_margin,
                    k,
                    holdout,
                    exclude_cat,
                    cap_over_k,
                }
            },
        )
}

use unico_offers::policy::SEGMENTS;

fn policy_text(c: &Case) -> String {
    let basis = if c.expected_basis {
        format!("basis = \"expected\"\nworst_case_cents = {}", c.total * 3)
    } else {
        "basis = \"worst_case\"".to_string()
    };
    let limit_cents = if c.funded { c.limit_cents } else { c.limit_cents.min(c.total) };
    let cap = match c.cap_over_k {
        Some(x) => format!("frequency_cap_offers = {}\nfrequency_cap_days = 30", c.k + x),
        None => String::new(),
    };
    let exclude = if c.exclude_cat { "categories = [\"Cat3\"]\nbrands = [\"B2\"]\nproducts = [\"P0\"]" } else { "" };
    format!(
        r#"[campaign]
name = "prop"
valid_from = "2026-03-02"
valid_to = "2026-03-15"
holdout_share = {holdout}
offers_per_customer = {k}
seed = 5

[budget]
total_cents = {total}
{basis}
[[budget.limit]]
category = "Cat1"
cents = {limit_cents}
supplier_funded = {funded}

[offers]
percent_off = [10, 20, 30]
amount_off_cents = [50, 150]

[margin]
min_margin_after_discount = {min_margin}
max_discount_by_category = {{ Cat2 = 15 }}

[exclude]
{exclude}

[customers]
segments = ["champions", "loyal", "at_risk", "new", "promising", "need_attention", "hibernating", "cannot_lose", "potential_loyalists"]
min_clv_cents = 0
{cap}
"#,
        holdout = c.holdout,
        k = c.k,
        total = c.total,
        funded = c.funded,
        min_margin = c.min_margin,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_rule_holds(c in case()) {
        let products = products(&c.prices);
        let policy = Policy::parse(&policy_text(&c), &products).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let customers: Vec<CustomerInput> = c
            .customers
            .iter()
            .enumerate()
            .map(|(i, (seg, marketing, profiling, clv, sens, cands, recent))| CustomerInput {
                key: format!("k{i}"),
                segment: SEGMENTS[*seg as usize].to_string(),
                store: Some(format!("s{}", i % 3)),
                clv_cents: *clv,
                p_alive: 0.5,
                sensitivity: *sens,
                marketing: *marketing,
                profiling: *profiling,
                candidates: cands
                    .iter()
                    .filter(|(p, _, _)| (*p as usize) < products.len())
                    .map(|(p, p0, a)| CandidateInput { product: *p, kind: Kind::CrossSell, p0: *p0, affinity: *a, reason: "because".into() })
                    .collect(),
                blocked: Vec::new(),
                recent_offers: *recent,
            })
            .collect();
        let generic: Vec<CandidateInput> = (0..products.len().min(3))
            .map(|p| CandidateInput { product: p as u32, kind: Kind::Trial, p0: 0.05, affinity: 0.3, reason: String::new() })
            .collect();
        let response = ResponseModel::default().response(&policy.percent_off, None);
        let p = plan(&Inputs { policy: &policy, products: &products, customers: &customers, generic: &generic, response: &response, secret: b"s" });

        // Budgets, recounted from the offers.
        let funded = |pr: &Product| c.funded && pr.category == "Cat1";
        let (mut expected, mut worst, mut limit) = (0.0, 0.0, 0.0);
        for o in &p.offers {
            let pr = &products[o.product as usize];
            let basis = if policy.basis == Basis::Expected { o.expected_cost } else { o.worst_cost as f64 };
            if !funded(pr) {
                expected += o.expected_cost;
                worst += o.worst_cost as f64;
            }
            if pr.category == "Cat1" {
                limit += basis;
            }
        }
        let tol = 1e-6;
        if policy.basis == Basis::Expected {
            prop_assert!(expected <= policy.total_cents as f64 + tol, "expected {expected} > {}", policy.total_cents);
            prop_assert!(worst <= policy.worst_case_cents.unwrap() as f64 + tol);
        } else {
            prop_assert!(worst <= policy.total_cents as f64 + tol, "worst {worst} > {}", policy.total_cents);
        }
        prop_assert!(limit <= policy.limits[0].cents as f64 + tol, "limit {limit} > {}", policy.limits[0].cents);

        // Per offer: margin, depth caps, exclusions, reason; per customer: cap, no repeat.
        let mut per: HashMap<u32, HashSet<u32>> = HashMap::new();
        let mut codes = HashSet::new();
        for o in &p.offers {
            let pr = &products[o.product as usize];
            prop_assert!(policy.discount_allowed(pr, o.discount_cents), "{o:?} on {pr:?}");
            let paid = pr.list_price_cents.unwrap() - o.discount_cents;
            prop_assert!((paid - pr.unit_cost_cents.unwrap()) as f64 >= policy.min_margin_after_discount * paid as f64);
            prop_assert!(policy.allows(pr));
            prop_assert!(!o.reason.is_empty());
            prop_assert!(per.entry(o.customer).or_default().insert(o.product), "one offer per product");
            prop_assert!(codes.insert(o.code.clone()));
            let cust = &customers[o.customer as usize];
            prop_assert!(cust.marketing);
            prop_assert_eq!(o.personal, cust.profiling);
            if !cust.profiling {
                prop_assert!(generic.iter().any(|g| g.product == o.product), "non-personal offers come from the generic list");
            } else {
                prop_assert!(cust.candidates.iter().any(|g| g.product == o.product));
            }
            prop_assert!(matches!(p.status[o.customer as usize], Status::Personal | Status::Generic));
        }
        for (cust, set) in &per {
            prop_assert!(set.len() <= policy.offers_per_customer, "{cust}: {}", set.len());
            // The frequency cap counts what other campaigns gave within its window.
            if let Some(cap) = policy.frequency_cap_offers {
                let left = cap.saturating_sub(customers[*cust as usize].recent_offers) as usize;
                prop_assert!(set.len() <= left, "customer {cust}: {} offers, {left} left under the cap", set.len());
            }
        }
        for (i, s) in p.status.iter().enumerate() {
            if matches!(s, Status::Holdout | Status::NoConsent | Status::Excluded) {
                prop_assert!(!per.contains_key(&(i as u32)), "{s:?} customer {i} got offers");
            }
            if !customers[i].marketing {
                prop_assert_eq!(*s, Status::NoConsent);
            }
        }
    }
}
