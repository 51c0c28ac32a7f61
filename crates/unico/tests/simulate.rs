//! `unico simulate-campaign` end to end: the four plans are replayed on the same audience,
//! each with its true incremental margin and cost, and Unico's plan adds more than a mass
//! flyer of the chain's best sellers on the same chain. The ratios against the oracle and
//! the flyer at larger scale are measured in docs/benchmarks.md.

use std::process::Command;

const POLICY: &str = r#"
[campaign]
name = "Small test"
valid_from = "2025-09-01"
valid_to = "2025-09-14"
holdout_share = 0.1
offers_per_customer = 3
seed = 3

[budget]
total_cents = 30000
basis = "expected"
worst_case_cents = 120000

[offers]
percent_off = [10, 20, 30]

[margin]
min_margin_after_discount = 0.05
"#;

#[test]
fn unico_plan_beats_the_flyer_in_the_simulator() {
    let tmp = tempfile::tempdir().unwrap();
    let policy = tmp.path().join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_unico"))
        .args(["simulate-campaign", "--policy", policy.to_str().unwrap(), "--customers", "1000"])
        .args(["--history-days", "200", "--work", tmp.path().join("w").to_str().unwrap()])
        .args(["--out", tmp.path().join("result.json").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("of the oracle's"), "{printed}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(tmp.path().join("result.json")).unwrap()).unwrap();
    let plans = r["plans"].as_array().unwrap();
    let names: Vec<&str> = plans.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names[0], "Unico plan");
    assert!(names[1].contains("flyer") && names[2].contains("segment") && names[3].contains("oracle"));
    assert!(names[4].contains("no foresight"), "{names:?}");
    let get = |i: usize, k: &str| plans[i][k].as_i64().unwrap();
    let audience = r["audience"].as_i64().unwrap();
    for (i, plan) in plans.iter().enumerate() {
        assert!(get(i, "customers") <= audience, "every plan reaches the same audience at most");
        assert!(get(i, "redeemed") > 0 && get(i, "cost_cents") > 0, "{plan}");
        // Planned within the policy's expected budget.
        assert!(get(i, "planned_cost_cents") <= 30000, "{plan}");
        // Also counted over the 91 days after the window.
        assert!(plan["incremental_margin_after_cents"].is_i64(), "{plan}");
    }
    // The 91 days after the window are really replayed: what the offers did then (pantry
    // loading, customers kept) moves the longer figure away from the window's.
    assert!(
        plans.iter().any(|p| p["incremental_margin_after_cents"] != p["incremental_margin_cents"]),
        "the figure over the window and the 91 days after equals the window's for every plan: {r}"
    );
    // Unico's plan adds true margin, more than the flyer; the oracle knows best.
    assert!(get(0, "incremental_margin_cents") > 0);
    assert!(get(0, "incremental_margin_cents") > get(1, "incremental_margin_cents"), "{r}");
    assert!(get(3, "incremental_margin_cents") >= get(0, "incremental_margin_cents"), "{r}");
    // Ad savings: the smallest budget with which Unico's plan matches the flyer's true margin,
    // planned and replayed, is a share of the flyer's budget.
    let a = &r["ad_savings"];
    assert!(a["unico_margin_cents"].as_i64() >= a["flyer_margin_cents"].as_i64(), "{a}");
    assert_eq!(a["flyer_margin_cents"].as_i64(), Some(get(1, "incremental_margin_cents")));
    let share = a["share_of_flyer_budget"].as_f64().unwrap();
    assert!(share > 0.0 && share < 1.0, "Unico beats the flyer on the same budget, so it needs less: {a}");
    assert!(printed.contains("Ad savings: Unico's plan matches the mass flyer's"), "{printed}");
    // One is one: at least 95 % of the customers with personal offers have a set of their own.
    assert!(r["distinct_offer_sets_share"].as_f64().unwrap() >= 0.95, "{}", r["distinct_offer_sets_share"]);
    // The chain was simulated in --work and imported: the campaign's history is there.
    assert!(tmp.path().join("w/data/model/current/profiles.parquet").exists());
}

/// A policy with every offer type: the simulator replays multi-buys, category offers and
/// spend rewards (each redeemed on its own terms), and the plan is compared with the same
/// plan restricted to one-unit product offers on the same budget.
#[test]
fn every_offer_type_is_replayed_and_compared_with_unit_offers_only() {
    let tmp = tempfile::tempdir().unwrap();
    let policy = tmp.path().join("policy.toml");
    let text = POLICY.replace(
        "percent_off = [10, 20, 30]",
        "percent_off = [10, 20, 30]\nmulti_buy = [{ buy = 4, pay = 3 }]\ncategory_percent_off = [10, 20]\nspend_reward = [{ min_spend_cents = 6000, reward_cents = 300 }, { min_spend_cents = 10000, reward_cents = 500 }]",
    );
    std::fs::write(&policy, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_unico"))
        .args(["simulate-campaign", "--policy", policy.to_str().unwrap(), "--customers", "1500"])
        .args(["--history-days", "200", "--work", tmp.path().join("w").to_str().unwrap()])
        .args(["--out", tmp.path().join("result.json").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(tmp.path().join("result.json")).unwrap()).unwrap();
    let plans = r["plans"].as_array().unwrap();
    assert_eq!(plans[5]["name"], "Unico, one-unit product offers only", "{r}");
    assert!(plans[5]["planned_cost_cents"].as_i64().unwrap() <= 30000);
    let types: std::collections::HashMap<&str, &serde_json::Value> =
        r["unico_by_offer_type"].as_array().unwrap().iter().map(|t| (t["type"].as_str().unwrap(), t)).collect();
    eprintln!("{}", r["unico_by_offer_type"]);
    assert!(types.contains_key("product unit") && types.contains_key("category unit"), "{types:?}");
    assert!(types.contains_key("basket spend_reward"), "{types:?}");
    // The replay redeems them: the new types together are redeemed and give discounts.
    let (mut redeemed, mut discount) = (0, 0);
    for (k, t) in &types {
        if *k != "product unit" {
            redeemed += t["redeemed"].as_i64().unwrap();
            discount += t["discount_cents"].as_i64().unwrap();
        }
    }
    assert!(redeemed > 0 && discount > 0, "{types:?}");
}
