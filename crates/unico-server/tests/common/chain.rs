//! Reading a simulated chain and a planned campaign as a till or an app test needs them:
//! shared by the server's tests and, through `#[path]`, the browser test of the `unico` crate.
#![allow(dead_code)]

use std::path::Path;

/// The list price of a product of the simulated chain, cents.
pub fn list_price(chain_dir: &Path, sku: &str) -> i64 {
    let mut r = csv::Reader::from_path(chain_dir.join("products.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let (s, p) = (h.iter().position(|x| x == "sku").unwrap(), h.iter().position(|x| x == "list_price").unwrap());
    let euros: f64 = r.records().map(|r| r.unwrap()).find(|r| &r[s] == sku).map(|r| r[p].parse().unwrap()).unwrap();
    (euros * 100.0).round() as i64
}

/// A cardholder's percent-off offer on one product (a personal one when `personal`):
/// (card, sku, code).
pub fn percent_offer(campaign_dir: &Path, personal: bool) -> (String, String, String) {
    percent_offers(campaign_dir, personal).into_iter().next().expect("a percent-off offer planned")
}

/// Every cardholder's percent-off offer on one product (personal ones when `personal`), in
/// the plan's order: (card, sku, code).
pub fn percent_offers(campaign_dir: &Path, personal: bool) -> Vec<(String, String, String)> {
    let mut r = csv::Reader::from_path(campaign_dir.join("offers.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap_or_else(|| panic!("no column {n}"));
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.unwrap();
        if &rec[col("target")] == "product"
            && &rec[col("mechanic")] == "unit"
            && &rec[col("percent_off")] != "0"
            && (!personal || &rec[col("personal")] == "yes")
        {
            out.push((rec[col("customer_id")].into(), rec[col("sku")].into(), rec[col("code")].into()));
        }
    }
    out
}

/// The example policy (docs/examples/policy.toml) for the two weeks from `from`, its offers
/// needing activation in the app.
pub fn policy_from(from: jiff::civil::Date) -> String {
    let to = from.checked_add(jiff::Span::new().days(13)).unwrap();
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/examples/policy.toml")).unwrap();
    let text = example
        .replace("valid_from = \"2026-01-05\"", &format!("valid_from = \"{from}\""))
        .replace("valid_to = \"2026-01-18\"", &format!("valid_to = \"{to}\"\nactivation_required = true"));
    assert!(text.contains("activation_required = true"), "the example policy's dates changed");
    text
}
