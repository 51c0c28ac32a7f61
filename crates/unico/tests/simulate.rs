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
    }
    // Unico's plan adds true margin, more than the flyer; the oracle knows best.
    assert!(get(0, "incremental_margin_cents") > 0);
    assert!(get(0, "incremental_margin_cents") > get(1, "incremental_margin_cents"), "{r}");
    assert!(get(3, "incremental_margin_cents") >= get(0, "incremental_margin_cents"), "{r}");
    // One is one: at least 95 % of the customers with personal offers have a set of their own.
    assert!(r["distinct_offer_sets_share"].as_f64().unwrap() >= 0.95, "{}", r["distinct_offer_sets_share"]);
    // The chain was simulated in --work and imported: the campaign's history is there.
    assert!(tmp.path().join("w/data/model/profiles.parquet").exists());
}
