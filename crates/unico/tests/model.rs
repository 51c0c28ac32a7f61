//! The model against the truth the simulator planted: a chain is simulated for a year, the
//! model is built as of the end of September, and its forecasts are checked against what
//! the same simulated people then did and against who had really stopped shopping.

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::Path;
use std::process::Command;

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn unico(args: &[&str]) -> String {
    ok(Command::new(env!("CARGO_BIN_EXE_unico")).args(args).output().unwrap())
}

fn batches(path: &Path) -> Vec<arrow_array::RecordBatch> {
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

fn day(d: &str) -> i32 {
    let d: jiff::civil::Date = d.parse().unwrap();
    d.since(jiff::civil::date(1970, 1, 1)).unwrap().get_days()
}

/// Area under the ROC curve of `score` separating `positive` from `negative` customers.
fn auc(positive: &[f64], negative: &[f64]) -> f64 {
    let mut wins = 0.0;
    for p in positive {
        for n in negative {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (positive.len() * negative.len()) as f64
}

#[test]
fn forecasts_match_what_the_simulated_customers_then_did() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let src = tmp.path().join("chain");
    let d = data.to_str().unwrap();
    unico(&["generate", "--customers", "3000", "--days", "365", "--seed", "11", "--out", src.to_str().unwrap()]);
    unico(&["--data", d, "init"]);
    for (what, file) in [("stores", "stores.csv"), ("products", "products.csv"), ("receipts", "receipts.csv")] {
        unico(&["--data", d, "import", what, src.join(file).to_str().unwrap()]);
    }
    let as_of = "2025-09-30";
    let params: serde_json::Value =
        serde_json::from_str(&unico(&["--data", d, "model", "build", "--as-of", as_of, "--json"])).unwrap();
    assert_eq!(params["unit"], "days");
    assert_eq!(params["as_of"], as_of);
    // `model params` prints what the build wrote.
    let again: serde_json::Value = serde_json::from_str(&unico(&["--data", d, "model", "params", "--json"])).unwrap();
    assert_eq!(again["bgnbd"], params["bgnbd"]);
    // The same lake gives the same profiles, byte for byte, in every process (ties such as
    // a customer's most used store do not follow a hash map's per-process order).
    let first = std::fs::read(data.join("model/current/profiles.parquet")).unwrap();
    for _ in 0..3 {
        unico(&["--data", d, "model", "build", "--as-of", as_of]);
        assert!(
            std::fs::read(data.join("model/current/profiles.parquet")).unwrap() == first,
            "profiles differ between builds"
        );
    }

    // Profiles: key -> (expected purchases next 90 days, P(alive)).
    let mut profile: HashMap<String, (f64, f64)> = HashMap::new();
    for b in batches(&data.join("model/current/profiles.parquet")) {
        let schema = b.schema();
        let col = |n: &str| b.column(schema.index_of(n).unwrap()).clone();
        let key = col("customer_key");
        let key = key.as_string::<i32>();
        let expected = col("expected_purchases_90_days");
        let expected = expected.as_primitive::<Float64Type>();
        let alive = col("p_alive");
        let alive = alive.as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            profile.insert(key.value(i).to_string(), (expected.value(i), alive.value(i)));
        }
    }
    assert_eq!(profile.len() as u64, params["customers"].as_u64().unwrap());

    // What the customers really did in the 90 days after as_of: purchase days per key.
    let (from, to) = (day(as_of), day(as_of) + 90);
    let mut days_after: HashMap<String, HashSet<i32>> = HashMap::new();
    for month in std::fs::read_dir(data.join("lake/receipt_lines")).unwrap() {
        for f in std::fs::read_dir(month.unwrap().path()).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_none_or(|e| e != "parquet") {
                continue;
            }
            for b in batches(&f) {
                let schema = b.schema();
                let key = b.column(schema.index_of("customer_key").unwrap()).as_string::<i32>().clone();
                let date = b.column(schema.index_of("local_date").unwrap()).as_primitive::<Date32Type>().clone();
                for i in 0..b.num_rows() {
                    let dd = date.value(i);
                    if key.is_valid(i) && dd > from && dd <= to && profile.contains_key(key.value(i)) {
                        days_after.entry(key.value(i).to_string()).or_default().insert(dd);
                    }
                }
            }
        }
    }
    let predicted: f64 = profile.values().map(|p| p.0).sum();
    let actual: f64 = days_after.values().map(|d| d.len() as f64).sum();
    let error = (predicted - actual) / actual;
    eprintln!("90-day forecast {predicted:.0} purchase days, real {actual} ({:+.1}%)", error * 100.0);
    assert!(
        error.abs() < 0.12,
        "90-day forecast {predicted:.0} purchase days vs {actual} real ({:+.1}%)",
        error * 100.0
    );

    // P(alive) against the planted truth: people who had dropped out before as_of score lower
    // than people who still shopped after it.
    let secret = std::fs::read_to_string(data.join("secrets/pseudonym.key")).unwrap();
    let mut bytes = [0u8; unico_core::SECRET_LEN];
    hex::decode_to_slice(secret.trim(), &mut bytes).unwrap();
    let pseudo = unico_core::Pseudonymiser::new(&bytes);
    let mut reader = csv::Reader::from_path(src.join("truth/people.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let at = |n: &str| headers.iter().position(|h| h == n).unwrap();
    let as_of_sim_day = 272.0; // days since the simulation's start (2025-01-01) at the end of 2025-09-30
    let (mut alive, mut dead) = (Vec::new(), Vec::new());
    for r in reader.records() {
        let r = r.unwrap();
        let last: f64 = r[at("last_visit_day")].parse().unwrap();
        let dropped = &r[at("dropped_out")] == "true";
        for card in r[at("cards")].split([';', '|', ' ']).filter(|c| !c.is_empty()) {
            let Some(p) = profile.get(&pseudo.key(card).to_hex()) else { continue };
            if last > as_of_sim_day + 1.0 {
                alive.push(p.1);
            } else if dropped {
                dead.push(p.1);
            }
        }
    }
    assert!(alive.len() > 500 && dead.len() > 100, "alive {} dead {}", alive.len(), dead.len());
    let a = auc(&alive, &dead);
    eprintln!("P(alive) AUC {a:.3} ({} still shopping, {} gone)", alive.len(), dead.len());
    assert!(a > 0.80, "P(alive) separates the living from those who left with AUC {a:.3}");
}

#[test]
fn bad_model_input_gets_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let d = data.to_str().unwrap();
    unico(&["--data", d, "init"]);
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_unico")).args(args).output().unwrap();

    let out = run(&["--data", d, "model", "build"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no receipts"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!data.join("model/current").exists(), "nothing is published when there is nothing to model");
    let versions = data.join("model/versions");
    assert!(!versions.exists() || versions.read_dir().unwrap().next().is_none(), "no half-built version is left");

    let out = run(&["--data", d, "model", "params"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("run `unico model build` first"));

    let out = run(&["--data", d, "model", "build", "--as-of", "2025-13-01"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--as-of"));

    // Recommendations: a clear error, and no output file, when there is nothing to learn from.
    let recs = tmp.path().join("recs.csv");
    let out = run(&["--data", d, "recommend", "--by-key", "--out", recs.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no receipts"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!recs.exists());
    let out = run(&["--data", d, "recommend", "--k", "0", "--as-of", "2025-01-31", "--out", recs.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--k must be at least 1"));
    assert!(!recs.exists());

    // A summary file with a bad value names the file and line.
    let csv = tmp.path().join("summary.csv");
    std::fs::write(&csv, "customer_id,frequency,recency,T,monetary_value\n1,2,10,30,5.5\n2,x,10,30,5\n").unwrap();
    let out = run(&["model", "fit-summary", csv.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3") && err.contains("\"x\""), "{err}");

    // A file large enough to be parsed in pieces: a bad value deep in it is still reported
    // on its own line, and a good file is scored in file order with its ids.
    let mut body = String::from("customer_id,frequency,recency,T,monetary_value\n");
    for i in 0..80_000u32 {
        let x = i % 5;
        let recency = if x == 0 { 0 } else { 10 + i % 50 };
        body.push_str(&format!("c{i},{x},{recency},{},{}\n", 70 + i % 300, if x == 0 { 0.0 } else { 12.5 }));
    }
    std::fs::write(&csv, &body).unwrap();
    let scores = tmp.path().join("scores.csv");
    let out = run(&["model", "fit-summary", csv.to_str().unwrap(), "--out", scores.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written = std::fs::read_to_string(&scores).unwrap();
    let ids: Vec<&str> = written.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(ids.len(), 80_000);
    assert!(ids.iter().enumerate().all(|(i, id)| *id == format!("c{i}")), "scores keep the file's order");
    assert_eq!(written.lines().next(), Some("customer_id,p_alive,expected_purchases,expected_spend,clv"));
    assert_eq!(written.matches("customer_id").count(), 1, "one header");
    let bad = body.replacen("c70000,0,", "c70000,-1,", 1);
    std::fs::write(&csv, bad).unwrap();
    let out = run(&["model", "fit-summary", csv.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("line 70002") && err.contains("whole number"), "{err}");
}

/// A build killed before it is published leaves the previous model whole: its parameters,
/// profiles and habits together, and the next build publishes and cleans up.
#[test]
fn a_killed_build_leaves_the_previous_model_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let d = data.to_str().unwrap();
    unico(&["--data", d, "demo", "--no-serve", "--customers", "300", "--days", "120"]);
    let params = |d: &str| -> serde_json::Value {
        serde_json::from_str(&unico(&["--data", d, "model", "params", "--json"])).unwrap()
    };
    let before = params(d);
    let profiles = std::fs::read(data.join("model/current/profiles.parquet")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_unico"))
        .args(["--data", d, "model", "build", "--as-of", "2025-03-31"])
        .env("UNICO_TEST_CRASH_AT", "publishing")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), None, "killed by a signal before publishing");
    assert_eq!(params(d)["as_of"], before["as_of"], "the previous model is still the published one");
    assert_eq!(std::fs::read(data.join("model/current/profiles.parquet")).unwrap(), profiles);
    unico(&["--data", d, "model", "build", "--as-of", "2025-03-31"]);
    assert_eq!(params(d)["as_of"], "2025-03-31");
    let versions = std::fs::read_dir(data.join("model/versions")).unwrap().count();
    assert!(versions <= 2, "the killed build's version was collected: {versions} left");
}
