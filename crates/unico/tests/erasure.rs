//! Erasure as a person relies on it: after `customers erase`, no file of the data
//! directory nor of a campaign directory links their card to what they bought, the sales
//! stay whole, and a later receipt with the same card starts a new history.

use std::process::Command;

mod common;
use common::{files_below, keys_below, ok, unico};

#[test]
fn an_erased_customer_leaves_no_history_and_their_card_starts_anew() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    ok(unico(&data, &["demo", "--no-serve", "--customers", "300", "--days", "90"]));
    let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/examples/policy.toml");
    let campaign = tmp.path().join("campaign");
    ok(unico(&data, &["plan", "--policy", policy, "--out", campaign.to_str().unwrap()]));

    // Someone with offers, hence with a history in the lake and the model.
    let mut r = csv::Reader::from_path(campaign.join("offers.csv")).unwrap();
    let first = r.records().next().unwrap().unwrap();
    let (card, key) = (first[1].to_string(), first[2].to_string());
    assert!(!card.is_empty() && key.len() == 32);
    let lake_before = keys_below(&data.join("lake/receipt_lines/"));
    let theirs = lake_before[&Some(key.clone())];
    assert!(theirs > 0);
    assert!(keys_below(&data.join("model")).contains_key(&Some(key.clone())), "the model knows them");
    let total: u64 = lake_before.values().sum();
    let without_card = lake_before.get(&None).copied().unwrap_or(0);

    // A file written for download in the data directory (as the server's recommendations are).
    std::fs::create_dir_all(data.join("exports")).unwrap();
    let recommended = data.join("exports/recommendations.csv");
    ok(unico(&data, &["recommend", "--k", "3", "--out", recommended.to_str().unwrap()]));
    assert!(std::fs::read_to_string(&recommended).unwrap().contains(&card));

    let said = ok(unico(&data, &["customers", "erase", &card, "--yes"]));
    assert!(said.contains(&format!("{theirs} receipt lines kept without a card")), "{said}");

    // The lake: every version folder, not just the published one.
    let lake_after = keys_below(&data.join("lake"));
    assert!(!lake_after.contains_key(&Some(key.clone())), "no receipt line keeps their key");
    assert_eq!(lake_after.values().sum::<u64>(), total, "the sales stay whole");
    assert_eq!(lake_after.get(&None).copied().unwrap_or(0), without_card + theirs, "as purchases without a card");
    // The model's files, every version.
    assert!(!keys_below(&data.join("model")).contains_key(&Some(key.clone())), "no model file keeps them");
    // The campaign directory: no file names the card or the key.
    let mut files = Vec::new();
    files_below(&campaign, &mut files);
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(!text.contains(&card) && !text.contains(&key), "{} still names them", f.display());
    }
    let left = std::fs::read_to_string(&recommended).unwrap();
    assert!(!left.contains(&card) && left.lines().count() > 10, "their recommendations are gone, the others' stay");
    let offers = csv::Reader::from_path(campaign.join("offers.csv")).unwrap().records().count();
    assert!(offers > 0, "the others' offers stay");
    // A lookup of the card says it was erased.
    let out = unico(&data, &["customers", "show", &card]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("was erased on"), "{}", String::from_utf8_lossy(&out.stderr));

    // A receipt with the same card later: a new history of one receipt line.
    let later = tmp.path().join("later.csv");
    std::fs::write(
        &later,
        format!(
            "receipt_id,ts,store_id,customer_id,sku,quantity,unit_price,net_amount\nLATER-1,2030-01-02 10:00,S001,{card},P00001,1,1.00,1.00\n"
        ),
    )
    .unwrap();
    ok(unico(&data, &["import", "receipts", later.to_str().unwrap()]));
    let lake_later = keys_below(&data.join("lake/receipt_lines/"));
    assert_eq!(lake_later.get(&Some(key.clone())).copied(), Some(1), "the old history does not come back");
    ok(unico(&data, &["model", "build"]));
    assert!(!keys_below(&data.join("model")).is_empty());
}

/// An erasure killed once the store has forgotten the person and before the files are
/// rewritten: the card is erased at once, and the next import finishes the files before
/// its own receipts arrive, so the old history never joins the new.
#[test]
fn an_erasure_killed_midway_is_finished_by_the_next_import() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    ok(unico(&data, &["demo", "--no-serve", "--customers", "200", "--days", "60"]));
    let cards = ok(unico(&data, &["customers", "cards"]));
    let line = cards.lines().nth(1).unwrap();
    let fields: Vec<&str> = line.split(',').collect();
    let (card, key) = (fields[1].to_string(), fields[2].to_string());
    let theirs = keys_below(&data.join("lake/receipt_lines/")).get(&Some(key.clone())).copied().unwrap_or(0);
    assert!(theirs > 0, "{line}");

    let killed = Command::new(env!("CARGO_BIN_EXE_unico"))
        .arg("--data")
        .arg(&data)
        .args(["customers", "erase", &card, "--yes"])
        .env("UNICO_TEST_CRASH_AT", "erasing")
        .output()
        .unwrap();
    assert!(!killed.status.success(), "the hook killed it");
    assert_eq!(unico(&data, &["customers", "show", &card]).status.code(), Some(4), "erased in the store at once");
    assert_eq!(keys_below(&data.join("lake/receipt_lines/")).get(&Some(key.clone())).copied(), Some(theirs));

    let later = tmp.path().join("later.csv");
    std::fs::write(
        &later,
        format!("receipt_id,ts,store_id,customer_id,sku,quantity,unit_price,net_amount\nL-1,2030-01-02 10:00,S001,{card},P00001,1,1.00,1.00\n"),
    )
    .unwrap();
    ok(unico(&data, &["import", "receipts", later.to_str().unwrap()]));
    assert_eq!(keys_below(&data.join("lake")).get(&Some(key.clone())).copied(), Some(1), "only the new receipt");
    assert!(!keys_below(&data.join("model")).contains_key(&Some(key.clone())));
}
