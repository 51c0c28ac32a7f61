//! The data directory survives `kill -9` at any moment: an import, a model build and a plan
//! are killed at spread-out moments of their run (seeded, so a failure can be replayed), and
//! after each kill the invariants a retailer relies on hold: the lake holds the old lines or
//! the new ones, never part of a file; the published model is a whole build; a campaign's
//! files exist exactly when the store holds the campaign; an erasure is either not done or
//! done in the store and finished in the files by the next import; and the next run completes.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cmd(data: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_unico"));
    c.arg("--data").arg(data).args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

fn run(data: &Path, args: &[&str]) -> Output {
    cmd(data, args).output().unwrap()
}

/// Starts the command, kills it after `after` (if it is still running), and says whether
/// it was killed.
fn kill_after(mut c: Command, after: Duration) -> bool {
    let mut child: Child = c.spawn().unwrap();
    let started = Instant::now();
    while started.elapsed() < after {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    true
}

/// Fractions of a run's length to kill at, spread over it and shuffled by a fixed seed.
fn moments(n: usize, seed: u64) -> Vec<f64> {
    let mut x = seed;
    (0..n)
        .map(|i| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (i as f64 + (x >> 11) as f64 / (1u64 << 53) as f64) / n as f64
        })
        .collect()
}

fn timed(data: &Path, args: &[&str]) -> Duration {
    let t = Instant::now();
    ok(run(data, args));
    t.elapsed()
}

fn lake_lines(data: &Path) -> u64 {
    let q: serde_json::Value = serde_json::from_str(&ok(run(data, &["quality", "--format", "json"]))).unwrap();
    q["months"].as_array().unwrap().iter().map(|m| m["lines"].as_u64().unwrap()).sum()
}

#[test]
fn killed_imports_model_builds_and_plans_leave_a_whole_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let src = tmp.path().join("chain");
    ok(Command::new(env!("CARGO_BIN_EXE_unico"))
        .args(["generate", "--customers", "600", "--days", "365", "--out", src.to_str().unwrap()])
        .output()
        .unwrap());
    ok(run(&data, &["init"]));
    for what in ["stores", "products", "customers"] {
        ok(run(&data, &["import", what, src.join(format!("{what}.csv")).to_str().unwrap()]));
    }
    // Receipts in two halves: the first imported whole, the second killed and retried.
    let text = std::fs::read_to_string(src.join("receipts.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let body: Vec<&str> = lines.collect();
    let (first, second) = body.split_at(body.len() / 2);
    // Split on a receipt boundary: the second half starts a receipt of its own.
    let receipt = |l: &str| l.split(',').next().unwrap().to_string();
    let cut = second.iter().position(|l| receipt(l) != receipt(first.last().unwrap())).unwrap();
    let (first, second) = body.split_at(first.len() + cut);
    let a = tmp.path().join("a.csv");
    let b = tmp.path().join("b.csv");
    std::fs::write(&a, format!("{header}\n{}\n", first.join("\n"))).unwrap();
    std::fs::write(&b, format!("{header}\n{}\n", second.join("\n"))).unwrap();
    ok(run(&data, &["import", "receipts", a.to_str().unwrap()]));
    let old = lake_lines(&data);

    // Imports.
    let probe = tempfile::tempdir().unwrap();
    let probe_data = probe.path().join("d");
    ok(run(&probe_data, &["init"]));
    let import_b = ["import", "receipts", b.to_str().unwrap()];
    let length = timed(&probe_data, &import_b);
    let mut killed = 0;
    for f in moments(6, 11) {
        killed += usize::from(kill_after(cmd(&data, &import_b), length.mul_f64(f)));
        let n = lake_lines(&data);
        assert!(n == old || n == old + second.len() as u64, "after a killed import: {n} lines, not {old} or more");
        if n != old {
            break;
        }
    }
    eprintln!("imports killed mid-run: {killed}");
    assert!(killed > 0, "no import was killed mid-run");
    let imported = run(&data, &import_b);
    ok(imported);
    assert_eq!(lake_lines(&data), old + second.len() as u64, "re-running adds the rest, nothing twice");

    // Model builds: the published model is always one whole build.
    let d = data.to_str().unwrap();
    ok(run(&data, &["model", "build", "--as-of", "2025-11-30"]));
    let length = timed(&data, &["model", "build", "--as-of", "2025-11-30"]);
    let mut killed = 0;
    for f in moments(6, 23) {
        killed += usize::from(kill_after(cmd(&data, &["model", "build"]), length.mul_f64(f)));
        let params: serde_json::Value = serde_json::from_str(&ok(run(&data, &["model", "params", "--json"]))).unwrap();
        let as_of = params["as_of"].as_str().unwrap();
        assert!(as_of == "2025-11-30" || as_of == "2025-12-31", "{as_of}");
        // The profiles are the same build's: as many as model.json counts.
        let model = data.join("model/current");
        let profiles = parquet::file::reader::SerializedFileReader::new(
            std::fs::File::open(model.join("profiles.parquet")).unwrap(),
        )
        .unwrap();
        use parquet::file::reader::FileReader;
        assert_eq!(profiles.metadata().file_metadata().num_rows() as u64, params["customers"].as_u64().unwrap(), "{d}");
    }
    eprintln!("model builds killed mid-run: {killed} of 6");
    assert!(killed > 0, "no build was killed mid-run");
    ok(run(&data, &["model", "build"]));

    // Plans: a campaign's files exist exactly when the store holds it.
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/examples/policy.toml")).unwrap();
    let name = text.lines().find(|l| l.starts_with("name")).unwrap().to_string();
    let policy_named = |i: usize| {
        let p = tmp.path().join(format!("policy-{i}.toml"));
        std::fs::write(&p, text.replace(&name, &format!("name = \"Kill test {i}\""))).unwrap();
        p
    };
    let probe_policy = policy_named(99);
    let probe_out = tmp.path().join("probe");
    let length = timed(
        &data,
        &["plan", "--policy", probe_policy.to_str().unwrap(), "--out", probe_out.to_str().unwrap(), "--dry-run"],
    );
    let stored = |i: usize| {
        let id = format!("Kill test {i} 2026-01-05");
        run(&data, &["measure", "--campaign", &id, "--as-of", "2026-01-20", "--format", "json"]).status.success()
    };
    let mut killed = 0;
    for (i, f) in moments(5, 37).into_iter().enumerate() {
        let policy = policy_named(i);
        let out = tmp.path().join(format!("campaign-{i}"));
        let plan = ["plan", "--policy", policy.to_str().unwrap(), "--out", out.to_str().unwrap()];
        killed += usize::from(kill_after(cmd(&data, &plan), length.mul_f64(f)));
        // Right after the kill: files in place only for a stored campaign.
        assert!(!out.join("campaign.json").exists() || stored(i), "files of a campaign the store does not hold");
        // The next plan finishes or clears what the killed one left.
        let next = run(&data, &plan);
        let done = next.status.success() || next.status.code() == Some(5);
        assert!(done, "{}", String::from_utf8_lossy(&next.stderr));
        assert!(out.join("campaign.json").exists() && stored(i), "files and store agree after the next plan");
        let left = std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".staging"))
            .count();
        assert_eq!(left, 0, "no staging directory left");
    }
    eprintln!("plans killed mid-run: {killed} of 5");
    assert!(killed > 0, "no plan was killed mid-run");

    // Erasures: the person is whole, or erased in the store at once and out of every
    // lake file once the next import has run.
    let cards: Vec<(String, String)> = ok(run(&data, &["customers", "cards"]))
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1].to_string(), f[2].to_string())
        })
        .collect();
    let length = timed(&data, &["customers", "erase", &cards[0].0, "--yes"]);
    let mut killed = 0;
    for (i, f) in moments(5, 41).into_iter().enumerate() {
        let (card, key) = &cards[1 + i * 7];
        let before =
            common::keys_below(&data.join("lake/receipt_lines/")).get(&Some(key.clone())).copied().unwrap_or(0);
        killed += usize::from(kill_after(cmd(&data, &["customers", "erase", card, "--yes"]), length.mul_f64(f)));
        let erased = run(&data, &["customers", "show", card]).status.code() == Some(4);
        let later = tmp.path().join(format!("later-{i}.csv"));
        std::fs::write(
            &later,
            format!("receipt_id,ts,store_id,customer_id,sku,quantity,unit_price,net_amount\nK-{i},2026-03-02 10:00,S001,{card},P00001,1,1.00,1.00\n"),
        )
        .unwrap();
        ok(run(&data, &["import", "receipts", later.to_str().unwrap()]));
        let lines = |dir: &str| common::keys_below(&data.join(dir)).get(&Some(key.clone())).copied().unwrap_or(0);
        if erased {
            // Every version folder, not just the published one.
            assert_eq!(lines("lake"), 1, "erased in the store: only the receipt after the erasure has the key");
        } else {
            let lines = lines("lake/receipt_lines/");
            assert_eq!(lines, before + 1, "not erased: the history is whole");
            ok(run(&data, &["customers", "erase", card, "--yes"]));
        }
    }
    eprintln!("erasures killed mid-run: {killed} of 5");
}

/// Who is one customer: the sets of cards held together.
fn customers_by_cards(data: &Path) -> std::collections::BTreeSet<Vec<String>> {
    let mut by: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for l in ok(run(data, &["customers", "cards"])).lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        by.entry(f[0].to_string()).or_default().push(f[1].to_string());
    }
    by.into_values()
        .map(|mut v| {
            v.sort();
            v
        })
        .collect()
}

#[test]
fn a_customer_import_killed_at_any_moment_and_run_again_leaves_the_master_of_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("chain");
    ok(Command::new(env!("CARGO_BIN_EXE_unico"))
        .args(["generate", "--customers", "5000", "--days", "1", "--out", src.to_str().unwrap()])
        .output()
        .unwrap());
    let file = src.join("customers.csv");
    let import = ["import", "customers", file.to_str().unwrap()];
    let one = tmp.path().join("one");
    ok(run(&one, &["init"]));
    let length = timed(&one, &import);
    let want = customers_by_cards(&one);
    let registrations: usize = want.iter().map(Vec::len).sum();
    assert!(want.len() < registrations, "the file has people registered twice, merged in one run");
    let mut killed = 0;
    for (i, f) in moments(6, 53).into_iter().enumerate() {
        let data = tmp.path().join(format!("d{i}"));
        ok(run(&data, &["init"]));
        killed += usize::from(kill_after(cmd(&data, &import), length.mul_f64(f)));
        // Killed: no registration, or all of them (the import committed; the merge may not have).
        let after: usize = customers_by_cards(&data).iter().map(Vec::len).sum();
        assert!(after == 0 || after == registrations, "a killed import left {after} of {registrations} cards");
        ok(run(&data, &import));
        assert_eq!(customers_by_cards(&data), want, "run again after a kill at {f:.2} of the run");
    }
    eprintln!("customer imports killed mid-run: {killed} of 6");
    assert!(killed > 0, "no import was killed mid-run");
}
