//! KPIs on a small hand-made chain whose every figure is worked out by hand below, through
//! the commands a CRM analyst runs: import, `unico import surveys`, `unico kpi`, goals.

mod common;
use common::{ok, unico};
use std::path::Path;
use std::process::Command;

const STORES: &str = "store_id,name,region,format\nS1,Centro,Nord,super\nS2,Stazione,Nord,express\n";
// A costs 1.00, B 2.00, C has no cost (left out of margins).
const PRODUCTS: &str = "sku,name,category,unit_cost,list_price\nA,Pasta,grocery,1.00,3.00\nB,Coffee,grocery,2.00,5.00\nC,Flowers,garden,,6.00\n";
const RECEIPTS: &str = "receipt_id,line_no,ts,store_id,customer_id,sku,quantity,unit_price,discount,net_amount,channel
R0,1,2025-02-25T10:00:00,S1,111,A,1,3.00,0,3.00,store
R1,1,2025-03-03T09:00:00,S1,111,A,2,3.00,0,6.00,store
R1,2,2025-03-03T09:00:00,S1,111,B,1,5.00,1.00,4.00,store
R2,1,2025-03-04T18:00:00,S2,222,C,1,5.00,0,5.00,store
R3,1,2025-03-05T12:00:00,S1,,A,1,3.00,0,3.00,store
R3,2,2025-03-05T12:00:00,S1,,B,1,5.00,0,5.00,store
R4,1,2025-03-10T09:30:00,S1,111,B,2,4.00,0,8.00,store
R5,1,2025-03-11T17:00:00,S2,,C,3,2.00,0,6.00,store
R6,1,2025-03-12T08:00:00,S2,,A,1,2.00,0,2.00,store
R7,1,2025-03-13T19:00:00,S1,333,A,1,3.00,0,3.00,ecommerce
";
// Week of 10 March: CSAT 5 and 3, NPS 10, 6 and 8; two bad rows.
const SURVEYS: &str = "answer_id,answered_at,question,score,customer_id,store_id,channel,comment
s1,2025-03-10T10:00:00,csat,5,111,S1,app,quick checkout
s2,2025-03-11T10:00:00,csat,3,,S2,email,
s3,2025-03-11T11:00:00,nps,10,111,S1,app,
s4,2025-03-12T11:00:00,nps,6,,S2,email,
s5,2025-03-12T12:00:00,nps,8,,S1,app,
s6,2025-03-12T12:00:00,csat,7,,S1,app,out of range
,2025-03-12T12:00:00,nps,9,,S1,app,no id
";

fn chain(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("d");
    ok(unico(&data, &["init"]));
    for (what, text) in [("stores", STORES), ("products", PRODUCTS), ("receipts", RECEIPTS)] {
        let f = dir.join(format!("{what}.csv"));
        std::fs::write(&f, text).unwrap();
        ok(unico(&data, &["import", what, f.to_str().unwrap()]));
    }
    data
}

fn close(a: &serde_json::Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn weekly_kpis_match_the_hand_computed_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let data = chain(tmp.path());
    let surveys = tmp.path().join("surveys.csv");
    std::fs::write(&surveys, SURVEYS).unwrap();
    let text = ok(unico(&data, &["import", "surveys", surveys.to_str().unwrap(), "--json"]));
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(summary["rows_imported"], 5, "{summary}");
    let rejects = std::fs::read_to_string(summary["rejects_file"].as_str().unwrap()).unwrap();
    assert!(rejects.contains("7,score,7,out_of_range"), "{rejects}");
    assert!(rejects.contains("8,answer_id,,missing_value"), "{rejects}");
    // Importing the same file again adds nothing.
    let again: serde_json::Value =
        serde_json::from_str(&ok(unico(&data, &["import", "surveys", surveys.to_str().unwrap(), "--json"]))).unwrap();
    assert_eq!((again["rows_imported"].as_u64(), again["rows_already_in_lake"].as_u64()), (Some(0), Some(5)));

    let json =
        ok(unico(&data, &["kpi", "--by", "week", "--from", "2025-03-03", "--to", "2025-03-16", "--format", "json"]));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{json}");
    let (w1, w2) = (&rows[0], &rows[1]);
    assert_eq!((w1["period"].as_str(), w2["period"].as_str()), (Some("2025-W10"), Some("2025-W11")));

    // Week of 3 March. With card: R1 (6.00 + 4.00) and R2 (5.00); without: R3 (3.00 + 5.00).
    assert_eq!(w1["receipts_card"], 2);
    assert_eq!(w1["revenue_card_cents"], 1500);
    assert_eq!(w1["average_receipt_card_cents"], 750);
    assert_eq!(w1["average_receipt_no_card_cents"], 800);
    assert_eq!(w1["average_receipt_gap_cents"], -50);
    assert!(close(&w1["loyalty_share"], 1500.0 / 2300.0));
    // Margins: R1 A 6.00 − 2 × 1.00 and B 4.00 − 2.00 (R2's C has no cost); R3 2.00 + 3.00.
    assert_eq!(w1["margin_card_cents"], 600);
    assert!(close(&w1["margin_rate_card"], 0.6));
    assert!(close(&w1["margin_rate_no_card"], 500.0 / 800.0));
    assert_eq!(w1["discount_cents"], 100);
    // 111 (bought in February too) and 222 (first purchase ever): one new, one returning;
    // 111 was the only one active the week before and is active again.
    assert_eq!((w1["active_customers"].as_i64(), w1["new_customers"].as_i64()), (Some(2), Some(1)));
    assert_eq!(w1["returning_customers"], 1);
    assert!(close(&w1["retention_rate"], 1.0));
    assert!(close(&w1["purchase_frequency"], 1.0));

    // Week of 10 March. With card: R4 8.00 and R7 3.00; without: R5 6.00 and R6 2.00.
    assert_eq!(w2["average_receipt_card_cents"], 550);
    assert_eq!(w2["average_receipt_no_card_cents"], 400);
    assert_eq!(w2["average_receipt_gap_cents"], 150);
    assert_eq!(w2["average_receipt_gap_change_cents"], 200);
    assert!(close(&w2["loyalty_share_change_points"], (1100.0 / 1900.0 - 1500.0 / 2300.0) * 100.0));
    assert_eq!(w2["margin_card_cents"], 600); // B 8.00 − 4.00, A 3.00 − 1.00
    assert!(close(&w2["margin_rate_no_card"], 0.5)); // only R6 is costed: 2.00 − 1.00
    // 111 again and 333 new; of the two active the week before, one came back.
    assert_eq!((w2["active_customers"].as_i64(), w2["new_customers"].as_i64()), (Some(2), Some(1)));
    assert!(close(&w2["retention_rate"], 0.5));
    assert!(close(&w2["churn_rate"], 0.5));
    // Surveys: CSAT 5 and 3 → one satisfied of two; NPS 10, 6, 8 → one promoter, one
    // detractor of three.
    assert!(close(&w2["csat"], 0.5));
    assert!(close(&w2["nps"], 0.0));
    assert_eq!(w2["survey_answers"], 5);
    assert!(w1["csat"].is_null(), "no answers, no CSAT");
    assert!(w2["incremental_revenue_cents"].is_null(), "no campaign measured");

    // By store, week of 10 March: S1 only cardholders (8.00 + 3.00), S2 only without (6.00 + 2.00).
    let json = ok(unico(
        &data,
        &["kpi", "--by", "week", "--from", "2025-03-10", "--to", "2025-03-16", "--by-store", "--format", "json"],
    ));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let store = |id: &str| report["rows"].as_array().unwrap().iter().find(|r| r["store"] == id).unwrap().clone();
    assert!(close(&store("S1")["loyalty_share"], 1.0));
    assert_eq!(store("S1")["revenue_card_cents"], 1100);
    assert_eq!(store("S2")["average_receipt_no_card_cents"], 400);
    assert!(close(&store("S1")["csat"], 1.0), "the CSAT 5 was about S1");

    // By channel: R7 was online.
    let csv = ok(unico(
        &data,
        &["kpi", "--by", "week", "--from", "2025-03-10", "--to", "2025-03-16", "--by-channel", "--format", "csv"],
    ));
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let online: Vec<csv::StringRecord> =
        r.records().map(|x| x.unwrap()).filter(|x| &x[col("channel")] == "ecommerce").collect();
    assert_eq!(&online[0][col("revenue_card_cents")], "300");

    // By day: days cover only the range asked.
    let json =
        ok(unico(&data, &["kpi", "--by", "month", "--from", "2025-03-03", "--to", "2025-03-16", "--format", "json"]));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["rows"][0]["days"], 14);
    assert_eq!(report["rows"][0]["revenue_cents"], 1500 + 800 + 1100 + 800);
}

#[test]
fn goals_are_refused_when_they_cannot_be_measured_and_alert_once_on_a_change() {
    let tmp = tempfile::tempdir().unwrap();
    let data = chain(tmp.path());
    let out = unico(&data, &["goals", "add", "--kpi", "active_customers", "--target", "10", "--by", "2025-06-30"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("distinct customers"));
    let out = unico(&data, &["goals", "add", "--kpi", "loyalty_share", "--target", "65", "--by", "2025-06-30"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("share between 0 and 1"));
    ok(unico(
        &data,
        &[
            "goals",
            "add",
            "--kpi",
            "loyalty_share",
            "--target",
            "0.65",
            "--by",
            "2025-06-30",
            "--notify",
            "mailto:crm@example.it",
        ],
    ));
    // Two weeks of data are not enough for a trajectory.
    let status: serde_json::Value =
        serde_json::from_str(&ok(unico(&data, &["goals", "status", "--as-of", "2025-03-16", "--format", "json"])))
            .unwrap();
    let g = &status["goals"][0];
    assert_eq!(g["status"]["state"], "not_enough_data");
    assert!(close(&g["status"]["current"], 1100.0 / 1900.0), "{g}");
    assert_eq!(g["changed"], true);
    let outbox = ok(unico(&data, &["outbox"]));
    assert_eq!(outbox.lines().count(), 1, "{outbox}");
    assert!(outbox.contains("crm@example.it") && outbox.contains("not enough data"));
    // The same state the next day announces nothing new.
    ok(unico(&data, &["goals", "status", "--as-of", "2025-03-17"]));
    assert_eq!(ok(unico(&data, &["outbox"])).lines().count(), 1);
    // With --body, each message's text follows it, indented.
    let with_body = ok(unico(&data, &["outbox", "--body"]));
    assert!(
        with_body.lines().count() > 1 && with_body.lines().skip(1).all(|l| l.starts_with("       ")),
        "{with_body}"
    );
}

const POLICY: &str = r#"
[campaign]
name = "KPI fortnight"
valid_from = "2025-08-04"
valid_to = "2025-08-17"
holdout_share = 0.2
channels = ["app", "email"]
offers_per_customer = 2
seed = 3

[budget]
total_cents = 15000
basis = "expected"
worst_case_cents = 60000

[offers]
percent_off = [10, 20]
"#;

#[test]
fn a_planned_campaign_is_counted_measured_against_its_holdout_and_goals_get_a_trajectory() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let src = tmp.path().join("chain");
    ok(Command::new(env!("CARGO_BIN_EXE_unico"))
        .args(["generate", "--customers", "1500", "--days", "240", "--seed", "5", "--out", src.to_str().unwrap()])
        .output()
        .unwrap());
    // A fixed pseudonymisation key: the holdout is drawn from the keys, so a random key
    // would make this a test that fails one run in twenty (a 95 % interval misses zero
    // that often when there is no effect).
    std::fs::create_dir_all(data.join("secrets")).unwrap();
    std::fs::write(data.join("secrets/pseudonym.key"), "5eed".repeat(16)).unwrap();
    ok(unico(&data, &["init"]));
    for what in ["stores", "products", "receipts", "customers"] {
        ok(unico(&data, &["import", what, src.join(format!("{what}.csv")).to_str().unwrap()]));
    }
    ok(unico(&data, &["model", "build", "--as-of", "2025-07-31"]));
    let policy = tmp.path().join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let campaign = tmp.path().join("c");
    ok(unico(&data, &["plan", "--policy", policy.to_str().unwrap(), "--out", campaign.to_str().unwrap()]));
    let mut r = csv::Reader::from_path(campaign.join("offers.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let code = h.iter().position(|x| x == "code").unwrap();
    let codes: Vec<String> = r.records().map(|x| x.unwrap()[code].to_string()).collect();
    assert!(codes.len() > 40, "{} offers", codes.len());
    // 30 redemptions on 6 and 12 August, 25 cents each; one code twice (refused).
    let mut redemptions = String::from("code,redeemed_at,discount_cents\n");
    for (i, c) in codes.iter().take(30).enumerate() {
        redemptions.push_str(&format!("{c},2025-08-{:02}T10:00:00Z,25\n", if i < 20 { 6 } else { 12 }));
    }
    redemptions.push_str(&format!("{},2025-08-13T10:00:00Z,25\n", codes[0]));
    let file = tmp.path().join("redeemed.csv");
    std::fs::write(&file, redemptions).unwrap();
    let printed =
        ok(unico(&data, &["learn", "--campaign", campaign.to_str().unwrap(), "--redemptions", file.to_str().unwrap()]));
    assert!(printed.contains("30 recorded in the store"), "{printed}");

    let report: serde_json::Value = serde_json::from_str(&ok(unico(
        &data,
        &["kpi", "--by", "week", "--from", "2025-08-04", "--to", "2025-08-17", "--format", "json"],
    )))
    .unwrap();
    let rows = report["rows"].as_array().unwrap();
    let (w1, w2) = (&rows[0], &rows[1]);
    assert_eq!(w1["offers_issued"].as_u64(), Some(codes.len() as u64));
    assert_eq!((w1["offers_redeemed"].as_u64(), w2["offers_redeemed"].as_u64()), (Some(20), Some(10)));
    assert!(close(&w1["redemption_rate"], 30.0 / codes.len() as f64));
    assert_eq!((w1["offer_discount_cents"].as_i64(), w2["offer_discount_cents"].as_i64()), (Some(500), Some(250)));
    assert!(w1["incremental_revenue_cents"].is_number() && w2["incremental_margin_cents"].is_number(), "{w1}");
    assert!(w2["offers_issued"] == 0);

    let measured: serde_json::Value =
        serde_json::from_str(&ok(unico(&data, &["measure", "--format", "json"]))).unwrap();
    let c = &measured[0];
    assert_eq!(c["redeemed_offers"], 30);
    assert_eq!(c["discount_cents"], 750);
    let all = &c["by_offer_type"][0]["measurement"];
    assert!(all["holdout"].as_u64().unwrap() > 50, "{all}");
    assert_eq!(all["days"], 14);
    let e = &all["revenue_uplift_cuped"];
    assert!(e["low"].as_f64() <= e["effect"].as_f64() && e["effect"].as_f64() <= e["high"].as_f64());
    // The simulated receipts were drawn without the offers: no true effect, and the
    // always-valid test does not claim one.
    assert!(all["sequential"]["p_value"].as_f64().unwrap() > 0.05, "{all}");
    assert!(e["low"].as_f64().unwrap() < 0.0 && e["high"].as_f64().unwrap() > 0.0, "{e}");

    // The results-based bill of August: the campaign ended then, its figures are measure's.
    let bill_with = |month: &str, basis: &str| -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_unico"))
            .arg("--data")
            .arg(&data)
            .args([
                "billing",
                "--month",
                month,
                "--format",
                "json",
                "--out",
                tmp.path().join("bills").to_str().unwrap(),
            ])
            .envs([
                ("UNICO_BILLING_TARIFF", "fee_plus_share"),
                ("UNICO_BILLING_MONTHLY_FEE_CENTS", "50000"),
                ("UNICO_BILLING_REVENUE_SHARE", "0.1"),
                ("UNICO_BILLING_BASIS", basis),
            ])
            .output()
            .unwrap();
        serde_json::from_str(&ok(out)).unwrap()
    };
    let billed = bill_with("2025-08", "estimate");
    let b = &billed["bill"];
    assert_eq!(b["campaigns"].as_array().unwrap().len(), 1, "{b}");
    let bc = &b["campaigns"][0];
    assert_eq!(bc["campaign"], c["campaign"]);
    assert_eq!((bc["treated"].clone(), bc["holdout"].clone()), (all["treated"].clone(), all["holdout"].clone()));
    assert_eq!((bc["redeemed_offers"].as_i64(), bc["discount_cents"].as_i64()), (Some(30), Some(750)));
    for (bill_key, measure_key) in
        [("incremental_revenue", "incremental_revenue"), ("incremental_margin", "incremental_margin")]
    {
        let (x, y) = (&bc[bill_key], &all[measure_key]);
        assert_eq!(x["estimate_cents"], y["effect"], "{bill_key}: the bill says what unico measure says");
        assert_eq!((x["low_cents"].clone(), x["high_cents"].clone()), (y["low"].clone(), y["high"].clone()));
        let t = &b[bill_key];
        assert!((t["estimate_cents"].as_f64().unwrap() - y["effect"].as_f64().unwrap()).abs() < 1e-6);
        assert!(
            (t["low_cents"].as_f64().unwrap() - y["low"].as_f64().unwrap()).abs() < 1e-6,
            "one campaign: its interval"
        );
    }
    let effect = all["incremental_revenue"]["effect"].as_f64().unwrap();
    let billable = effect.max(0.0).round() as i64;
    assert_eq!(b["billable_revenue_cents"].as_i64(), Some(billable));
    let share = (0.1 * billable as f64).round() as i64;
    assert_eq!((b["share_cents"].as_i64(), b["fee_cents"].as_i64()), (Some(share), Some(50_000 + share)));
    // On the interval's low end (below zero here: no true effect), only the fee is due.
    let cautious = bill_with("2025-08", "lower_bound");
    assert_eq!(
        (cautious["bill"]["billable_revenue_cents"].as_i64(), cautious["bill"]["fee_cents"].as_i64()),
        (Some(0), Some(50_000))
    );
    let july = bill_with("2025-07", "estimate");
    assert!(july["bill"]["campaigns"].as_array().unwrap().is_empty());
    let page = std::fs::read_to_string(tmp.path().join("bills/bill-2025-08.html")).unwrap();
    assert!(page.contains("Results-based bill, 2025-08") && page.contains(c["campaign"].as_str().unwrap()));
    let csv_text = std::fs::read_to_string(tmp.path().join("bills/bill-2025-08.csv")).unwrap();
    assert!(csv_text.lines().any(|l| l.starts_with("total,")) && csv_text.lines().any(|l| l.starts_with("fee,")));

    // Goals on the whole history: a target far below today's level is on track, one far
    // above is off track; both say which stores moved the KPI.
    let base: serde_json::Value = serde_json::from_str(&ok(unico(
        &data,
        &["kpi", "--by", "week", "--from", "2025-08-18", "--to", "2025-08-24", "--format", "json"],
    )))
    .unwrap();
    let weekly = base["rows"][0]["revenue_cents"].as_f64().unwrap();
    for target in [weekly * 0.5, weekly * 2.0] {
        ok(unico(
            &data,
            &["goals", "add", "--kpi", "revenue_cents", "--target", &format!("{target:.0}"), "--by", "2025-10-31"],
        ));
    }
    let status: serde_json::Value =
        serde_json::from_str(&ok(unico(&data, &["goals", "status", "--as-of", "2025-08-24", "--format", "json"])))
            .unwrap();
    let goals = status["goals"].as_array().unwrap();
    assert_eq!(goals[0]["status"]["state"], "on_track", "{}", goals[0]);
    assert_eq!(goals[1]["status"]["state"], "off_track", "{}", goals[1]);
    assert!(close(&goals[0]["status"]["current"], weekly), "the last seven days are the week of 18 August");
    assert!(goals[0]["status"]["projected"].as_f64().unwrap() > 0.0);
    assert!(!goals[0]["status"]["movers"].as_array().unwrap().is_empty());
}
