//! `unico recommend` end to end on a simulated chain: card ids and skus (never lake keys),
//! k ranked products per customer with a reason, and `--exclude-purchased` honoured against
//! what each customer really bought. Recommendation quality against popularity, own-top and
//! `implicit` ALS is measured by `bench/recommend_quality.py` (docs/benchmarks.md).

use std::collections::{HashMap, HashSet};
use std::process::Command;

fn unico(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_unico")).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn read(path: &std::path::Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    assert_eq!(r.headers().unwrap().iter().collect::<Vec<_>>(), ["customer_id", "rank", "sku", "score", "reason"]);
    r.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect()
}

#[test]
fn recommendations_name_cards_and_products_and_honour_exclusions() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let src = tmp.path().join("chain");
    let d = data.to_str().unwrap();
    unico(&["generate", "--customers", "600", "--days", "240", "--seed", "3", "--out", src.to_str().unwrap()]);
    unico(&["--data", d, "init"]);
    for (what, file) in [
        ("stores", "stores.csv"),
        ("products", "products.csv"),
        ("receipts", "receipts.csv"),
        ("customers", "customers.csv"),
    ] {
        unico(&["--data", d, "import", what, src.join(file).to_str().unwrap()]);
    }
    // What each card bought up to the as-of date, from the source receipts.
    let as_of = "2025-07-31";
    let mut bought: HashMap<String, HashSet<String>> = HashMap::new();
    let mut r = csv::Reader::from_path(src.join("receipts.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let at = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (card_i, sku_i, ts_i) = (at("customer_id"), at("sku"), at("ts"));
    for row in r.records() {
        let row = row.unwrap();
        if !row[card_i].is_empty() && &row[ts_i][..10] <= as_of {
            bought.entry(row[card_i].to_string()).or_default().insert(row[sku_i].to_string());
        }
    }
    let products: HashSet<String> = {
        let mut r = csv::Reader::from_path(src.join("products.csv")).unwrap();
        r.records().map(|x| x.unwrap()[0].to_string()).collect()
    };

    let out = tmp.path().join("recs.csv");
    let o = out.to_str().unwrap();
    unico(&["--data", d, "recommend", "--as-of", as_of, "--k", "5", "--out", o]);
    let rows = read(&out);
    let mut per: HashMap<&str, Vec<&Vec<String>>> = HashMap::new();
    for row in &rows {
        per.entry(row[0].as_str()).or_default().push(row);
    }
    assert!(per.len() > 300, "{} customers", per.len());
    let mut own = 0;
    for (card, list) in &per {
        assert!(bought.contains_key(*card), "{card} is a card that bought before the as-of date");
        assert_eq!(list.len(), 5);
        let skus: HashSet<&str> = list.iter().map(|r| r[2].as_str()).collect();
        assert_eq!(skus.len(), list.len(), "{card}: a product is recommended once");
        let ranks: Vec<&str> = list.iter().map(|r| r[1].as_str()).collect();
        assert_eq!(ranks, ["1", "2", "3", "4", "5"]);
        let scores: Vec<f64> = list.iter().map(|r| r[3].parse().unwrap()).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]) && scores.iter().all(|s| (0.0..=1.0).contains(s)));
        for r in list {
            assert!(products.contains(&r[2]), "{} is a sku of the catalogue", r[2]);
            assert!(!r[4].is_empty());
            own += usize::from(bought[*card].contains(&r[2]));
        }
    }
    // Without the exclusion most top products are the customer's own due repurchases.
    assert!(own * 2 > rows.len(), "{own} of {} recommended products were bought before", rows.len());
    assert!(rows.iter().any(|r| r[4].contains("about every")), "due repurchases say their cycle");

    unico(&["--data", d, "recommend", "--as-of", as_of, "--k", "5", "--exclude-purchased", "--out", o]);
    let rows = read(&out);
    assert!(rows.len() > 1500);
    let pairs: HashSet<(&str, &str)> = rows.iter().map(|r| (r[0].as_str(), r[2].as_str())).collect();
    assert_eq!(pairs.len(), rows.len(), "a product is recommended once to each customer");
    for r in &rows {
        assert!(!bought[&r[0]].contains(&r[2]), "{} already bought {}", r[0], r[2]);
        assert!(!r[4].contains("about every"));
    }

    // The model build publishes each cardholder's profile and due products to the
    // operational store, where the single customer view reads them.
    let built = Command::new(env!("CARGO_BIN_EXE_unico"))
        .args(["--data", d, "model", "build", "--as-of", as_of])
        .output()
        .unwrap();
    assert!(built.status.success());
    let log = String::from_utf8_lossy(&built.stderr);
    assert!(log.contains("published") && log.contains("profiles"), "{log}");
    let busiest = per.keys().max_by_key(|c| (bought[**c].len(), **c)).unwrap();
    let view: serde_json::Value =
        serde_json::from_str(&unico(&["--data", d, "customers", "show", busiest, "--json"])).unwrap();
    let profiles = view["profiles"].as_array().unwrap();
    assert!(!profiles.is_empty(), "{view}");
    assert_eq!(profiles[0]["as_of"], as_of);
    assert!(profiles[0]["p_alive"].as_f64().unwrap() > 0.0);
    assert!(!view["due_items"].as_array().unwrap().is_empty(), "the busiest cardholder has due products");
    let text = unico(&["--data", d, "customers", "show", busiest]);
    assert!(text.contains("behaviour (model as of 2025-07-31)") && text.contains("about every"), "{text}");

    // --by-key writes pseudonymous keys, never card ids.
    unico(&["--data", d, "recommend", "--as-of", as_of, "--k", "2", "--by-key", "--out", o]);
    let rows = read(&out);
    assert!(rows.iter().all(|r| r[0].len() == 32 && !bought.contains_key(&r[0])));
}
