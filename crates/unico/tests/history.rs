//! The promotion history end to end on a simulated chain that ran its own campaigns:
//! imported, learned (`unico learn --history`), evaluated honestly on the latest campaign
//! against the planted truth and two baselines, predicted for a chosen campaign, and used by
//! `unico plan` in place of the priors.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_unico")).args(args).output().unwrap()
}

fn unico(args: &[&str]) -> String {
    let out = run(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    r.records().map(|rec| h.iter().cloned().zip(rec.unwrap().iter().map(str::to_string)).collect()).collect()
}

fn auc(scores: &[f64], labels: &[bool]) -> f64 {
    let (mut right, mut pairs) = (0.0, 0.0);
    for (i, &si) in scores.iter().enumerate() {
        for (j, &sj) in scores.iter().enumerate() {
            if labels[i] && !labels[j] {
                pairs += 1.0;
                right += if si > sj {
                    1.0
                } else if si == sj {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    right / pairs
}

const POLICY: &str = r#"
[campaign]
name = "After the history"
valid_from = "2026-01-05"
valid_to = "2026-01-18"
holdout_share = 0.1
offers_per_customer = 3
seed = 5

[budget]
total_cents = 50000

[offers]
percent_off = [10, 20, 30]
"#;

#[test]
fn the_history_is_learned_evaluated_predicted_and_planned_with() {
    let tmp = tempfile::tempdir().unwrap();
    let (chain, data) = (tmp.path().join("chain"), tmp.path().join("data"));
    let (chain_s, data_s) = (chain.to_str().unwrap(), data.to_str().unwrap());
    unico(&["generate", "--customers", "3000", "--days", "365", "--seed", "7", "--history", "--out", chain_s]);
    unico(&["init", "--data", data_s]);
    // Before any history: learning from it says what is missing, and plans use the priors.
    let out = run(&["--data", data_s, "learn", "--history"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no promotion history"), "{out:?}");
    for (dataset, file) in [
        ("stores", "stores.csv"),
        ("products", "products.csv"),
        ("receipts", "receipts.csv"),
        ("campaigns", "campaigns.csv"),
        ("coupons", "coupons.csv"),
        ("coupon-products", "coupon_products.csv"),
        ("campaign-members", "campaign_members.csv"),
        ("redemptions", "redemptions.csv"),
    ] {
        unico(&["--data", data_s, "import", dataset, chain.join(file).to_str().unwrap()]);
    }
    unico(&["--data", data_s, "import", "customers", chain.join("customers.csv").to_str().unwrap()]);
    unico(&["--data", data_s, "model", "build", "--as-of", "2025-12-31"]);
    let policy = tmp.path().join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let plan = |out: &str| -> serde_json::Value {
        let dir = tmp.path().join(out);
        unico(&[
            "--data",
            data_s,
            "plan",
            "--dry-run",
            "--policy",
            policy.to_str().unwrap(),
            "--out",
            dir.to_str().unwrap(),
        ]);
        serde_json::from_slice(&std::fs::read(dir.join("campaign.json")).unwrap()).unwrap()
    };
    assert_eq!(plan("before")["response_learned_from"], serde_json::json!([]), "no history: the priors");

    // The honest evaluation: fitted on the campaigns over before the latest started.
    let e: serde_json::Value =
        serde_json::from_str(&unico(&["--data", data_s, "learn", "--history", "--evaluate", "--json"])).unwrap();
    assert_eq!(e["test_campaigns"], serde_json::json!(["H007"]));
    assert_eq!(e["train_campaigns"].as_array().unwrap().len(), 6);
    let score = |name: &str| {
        e["scores"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap()["auc"].as_f64().unwrap()
    };
    let (model, past, rfm) = (score("redemption model"), score("past redemption rate"), score("RFM rank"));
    assert!(model > past + 0.03 && model > rfm + 0.03, "model {model}, past rate {past}, RFM {rfm}");
    let calibration = e["calibration_error"].as_f64().unwrap();
    assert!(calibration < 0.06, "calibration error {calibration}");

    // Predictions for the latest campaign, from what was known before it started.
    let out = tmp.path().join("p.csv");
    unico(&["--data", data_s, "learn", "--history", "--predict", "H007", "--out", out.to_str().unwrap()]);
    let predicted = rows(&out);
    let truth: Vec<HashMap<String, String>> =
        rows(&chain.join("truth/history_response.csv")).into_iter().filter(|r| r["campaign_id"] == "H007").collect();
    assert_eq!(predicted.len(), truth.len(), "one row per member");
    let cards: std::collections::HashSet<&str> = truth.iter().map(|r| r["customer_id"].as_str()).collect();
    assert!(
        predicted.iter().all(|r| r["customer_id"].len() == 32 && !cards.contains(r["customer_id"].as_str())),
        "pseudonymous keys, not card ids"
    );
    let p: Vec<f64> = predicted.iter().map(|r| r["p_redeem"].parse().unwrap()).collect();
    let mean_p = p.iter().sum::<f64>() / p.len() as f64;
    let observed = truth.iter().filter(|r| r["redeemed"] == "1").count() as f64 / truth.len() as f64;
    assert!((mean_p - observed).abs() < 0.05, "mean predicted {mean_p} vs observed {observed}");
    // The planted probability (which knows the window's visits) bounds what a model can do.
    let planted: Vec<f64> = truth.iter().map(|r| r["p_redeem"].parse().unwrap()).collect();
    let labels: Vec<bool> = truth.iter().map(|r| r["redeemed"] == "1").collect();
    let best = auc(&planted, &labels);
    assert!(best > model, "planted {best} vs model {model}");
    let missing = run(&["--data", data_s, "learn", "--history", "--predict", "H999", "--out", "x.csv"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("\"H999\" is not in the promotion history"));
    assert!(!Path::new("x.csv").exists());

    // Fitting on every campaign teaches the offers' response model each campaign once.
    let fitted = unico(&["--data", data_s, "learn", "--history"]);
    assert!(fitted.contains("fitted the redemption model on 7 campaigns"), "{fitted}");
    let again = unico(&["--data", data_s, "learn", "--history"]);
    assert!(again.contains("learned from 0 past coupons of 0 campaigns"), "{again}");
    let learned = plan("after")["response_learned_from"].clone();
    let names: Vec<&str> = learned.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "history:H001",
            "history:H002",
            "history:H003",
            "history:H004",
            "history:H005",
            "history:H006",
            "history:H007"
        ]
    );
}
